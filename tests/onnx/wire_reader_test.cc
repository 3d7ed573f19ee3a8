// The protobuf wire reader: scalar kinds, packed and unpacked repeated fields, groups, unknown
// fields and every way a buffer can be cut short.
#include "onnx/wire_reader.h"

#include <gtest/gtest.h>

#include <set>

#include "onnx/proto_writer.h"

namespace vitrt {
namespace {

using testing::ProtoWriter;

std::vector<WireField> read_all(const ProtoWriter& w, Status* status) {
  WireReader r(w.data(), w.size(), "TestProto");
  std::vector<WireField> out;
  while (!r.done()) {
    WireField f;
    *status = r.next(&f);
    if (!status->ok()) break;
    out.push_back(f);
  }
  return out;
}

TEST(WireReader, ReadsEveryScalarKind) {
  ProtoWriter w;
  w.varint(1, 300).varint(2, static_cast<uint64_t>(-5)).float32(3, -1.25f);
  w.fixed64(4, 0x0123456789abcdefull).bytes(5, "abc");
  Status st;
  auto fields = read_all(w, &st);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(fields.size(), 5u);
  EXPECT_EQ(*wire_int64(fields[0], "a"), 300);
  EXPECT_EQ(*wire_int64(fields[1], "b"), -5);
  EXPECT_EQ(*wire_int32(fields[1], "b"), -5);
  EXPECT_EQ(*wire_float(fields[2], "c"), -1.25f);
  EXPECT_EQ(fields[3].type, WireType::kFixed64);
  EXPECT_EQ(fields[3].scalar, 0x0123456789abcdefull);
  EXPECT_EQ(*wire_string(fields[4], "e"), "abc");
  EXPECT_EQ(fields[4].number, 5u);
}

TEST(WireReader, WrongWireTypeNamesTheField) {
  ProtoWriter w;
  w.bytes(7, "x");
  Status st;
  auto fields = read_all(w, &st);
  ASSERT_TRUE(st.ok());
  auto v = wire_int64(fields[0], "TensorProto.dims");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(v.status().message().find("TensorProto.dims"), std::string::npos);
  EXPECT_NE(v.status().message().find("length-delimited"), std::string::npos);
}

TEST(WireReader, PackedAndUnpackedRepeatedFieldsAppend) {
  ProtoWriter w;
  w.varint(1, 4).packed_varints(1, {-1, 0, 1ll << 40}).varint(1, 9);
  ProtoWriter floats;
  float fv[3] = {0.5f, -2.0f, 3.25f};
  floats.raw(std::string_view(reinterpret_cast<const char*>(fv), sizeof(fv)));
  w.message(2, floats).float32(2, 7.0f);
  w.fixed64(3, 11).bytes(3, std::string(16, '\0'));
  Status st;
  auto fields = read_all(w, &st);
  ASSERT_TRUE(st.ok());
  std::vector<int64_t> ints;
  std::vector<float> fl;
  std::vector<uint64_t> u64;
  for (const WireField& f : fields) {
    Status st2;
    if (f.number == 1) st2 = append_varints(f, "ints", &ints);
    if (f.number == 2) st2 = append_floats(f, "floats", &fl);
    if (f.number == 3) st2 = append_fixed64(f, "u64", &u64);
    ASSERT_TRUE(st2.ok()) << st2.to_string();
  }
  EXPECT_EQ(ints, (std::vector<int64_t>{4, -1, 0, 1ll << 40, 9}));
  EXPECT_EQ(fl, (std::vector<float>{0.5f, -2.0f, 3.25f, 7.0f}));
  EXPECT_EQ(u64, (std::vector<uint64_t>{11, 0, 0}));
}

TEST(WireReader, PackedPayloadErrors) {
  ProtoWriter w;
  w.bytes(1, "\x80").bytes(2, "abc");  // a truncated varint; 3 bytes is not a float count
  Status st;
  auto fields = read_all(w, &st);
  ASSERT_TRUE(st.ok());
  std::vector<int64_t> ints;
  std::vector<float> fl;
  EXPECT_FALSE(append_varints(fields[0], "TensorProto.int64_data", &ints).ok());
  Status bad = append_floats(fields[1], "TensorProto.float_data", &fl);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("not a multiple of 4"), std::string::npos) << bad.message();
}

TEST(WireReader, SkipsGroupsIncludingNestedOnes) {
  ProtoWriter w;
  w.varint(1, 1).start_group(9).varint(2, 5).start_group(3).bytes(4, "zz").end_group(3);
  w.fixed32(5, 1).end_group(9).varint(6, 42);
  Status st;
  auto fields = read_all(w, &st);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[1].number, 9u);
  EXPECT_EQ(fields[1].type, WireType::kStartGroup);
  EXPECT_EQ(fields[2].number, 6u);
  EXPECT_EQ(fields[2].scalar, 42u);
  EXPECT_FALSE(wire_int64(fields[1], "group").ok());
}

TEST(WireReader, MalformedGroups) {
  for (const auto& [w, needle] : std::vector<std::pair<ProtoWriter, std::string>>{
           {ProtoWriter().start_group(3).varint(1, 1), "no end-group"},
           {ProtoWriter().start_group(3).end_group(4), "does not match"},
           {ProtoWriter().end_group(3), "without a start-group"},
       }) {
    Status st;
    read_all(w, &st);
    ASSERT_FALSE(st.ok()) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  }
  ProtoWriter deep;
  for (int i = 0; i < 1000; ++i) deep.start_group(1);
  Status st;
  read_all(deep, &st);
  EXPECT_FALSE(st.ok());
}

TEST(WireReader, TruncationsSayWhatAndWhere) {
  ProtoWriter w;
  w.varint(1, 1);
  w.tag(9, 2);
  w.raw_varint(4000);
  w.raw(std::string(12, 'x'));
  Status st;
  read_all(w, &st);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel);
  EXPECT_NE(st.message().find("truncated TestProto"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("field 9"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("length 4000 exceeds remaining 12 bytes"), std::string::npos)
      << st.message();

  // Every prefix of a message with each wire type fails cleanly or reads whole fields.
  ProtoWriter all;
  std::set<size_t> boundaries = {0};
  all.varint(1, 1ull << 62);
  boundaries.insert(all.size());
  all.fixed32(2, 7);
  boundaries.insert(all.size());
  all.fixed64(3, 9);
  boundaries.insert(all.size());
  all.bytes(4, "hello");
  boundaries.insert(all.size());
  all.start_group(5).varint(6, 3).end_group(5);
  for (size_t n = 0; n < all.size(); ++n) {
    WireReader r(all.data(), n, "Prefix");
    Status s;
    while (!r.done() && s.ok()) {
      WireField f;
      s = r.next(&f);
    }
    EXPECT_EQ(s.ok(), boundaries.count(n) == 1) << n << ": " << s.to_string();
  }
}

TEST(WireReader, RejectsOverlongVarintsAndBadTags) {
  ProtoWriter w;
  w.tag(1, 0);
  w.raw(std::string(11, '\xff'));
  Status st;
  read_all(w, &st);
  EXPECT_FALSE(st.ok());
  ProtoWriter zero;
  zero.raw(std::string("\x00\x01", 2));  // field number 0
  read_all(zero, &st);
  EXPECT_FALSE(st.ok());
  ProtoWriter bad_type;
  bad_type.tag(1, 7);
  read_all(bad_type, &st);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("invalid wire type 7"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace vitrt
