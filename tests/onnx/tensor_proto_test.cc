// TensorProto decoding: every dtype in its typed field and in raw_data against the fixture's
// formulas, the conformance suite's .pb files against values onnx.numpy_helper read, and the
// encodings onnx does not write (unpacked fields, negative int32 varints).
#include "onnx/tensor_proto.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/half.h"
#include "onnx/onnx_import.h"
#include "onnx/proto_writer.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::ProtoWriter;

const std::string kData = std::string(VITRT_SOURCE_DIR) + "/tests/data/onnx/";

// The formulas of TYPED in python/make_onnx_test_models.py, in exact integer / float64 math.
double typed_value(const std::string& dtype, int64_t i) {
  if (dtype == "float32") return i * 0.75 - 2.0;
  if (dtype == "float64") return i * 0.1 - 1.0;
  if (dtype == "float16") return i * 0.5 - 1.5;
  if (dtype == "bfloat16") return i * 0.25 - 1.0;
  if (dtype == "int8") return static_cast<double>(i * 37 % 256 - 128);
  if (dtype == "uint8") return static_cast<double>(i * 53 % 256);
  if (dtype == "int16") return static_cast<double>(i * 4099 % 65536 - 32768);
  if (dtype == "uint16") return static_cast<double>(i * 4099 % 65536);
  if (dtype == "bool") return i % 3 == 1 ? 1.0 : 0.0;
  return NAN;
}

uint64_t typed_u64(const std::string& dtype, uint64_t i) {
  if (dtype == "int32") return (i * 123456789u) % (1ull << 32) - (1ull << 31);
  if (dtype == "uint32") return (i * 123456789u) % (1ull << 32);
  if (dtype == "int64") return (i * 1234567890123ull) % (1ull << 63) - (1ull << 62);
  return i * 1234567890123456789ull;  // uint64, modulo 2^64 by wrap-around
}

TEST(TensorProto, TypedFieldsAndRawDataOfEveryDtype) {
  auto result = import_onnx_file(kData + "typed_tensors.onnx");
  ASSERT_TRUE(result.ok()) << result.status().to_string();
  const Graph& g = *result;
  const std::vector<std::string> dtypes = {"float32", "float64", "float16", "bfloat16", "int8",
                                           "uint8",   "int16",   "uint16",  "int32",    "uint32",
                                           "int64",   "uint64",  "bool"};
  for (const std::string& dtype : dtypes) {
    for (const char* suffix : {"_typed", "_raw"}) {
      const std::string name = dtype + suffix;
      auto id = g.find_value(name);
      ASSERT_TRUE(id.has_value()) << name;
      const Tensor& t = g.values[*id].constant;
      ASSERT_TRUE(t.defined()) << name;
      EXPECT_EQ(dtype_name(t.dtype()), dtype) << name;
      EXPECT_EQ(t.shape(), (std::vector<int64_t>{3, 5})) << name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << name;
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (dtype == "int32" || dtype == "uint32" || dtype == "int64" || dtype == "uint64") {
          const uint64_t expected = typed_u64(dtype, static_cast<uint64_t>(i));
          uint64_t got = 0;
          if (dtype == "int32") got = static_cast<uint64_t>(int64_t{t.data<int32_t>()[i]});
          if (dtype == "uint32") got = t.data<uint32_t>()[i];
          if (dtype == "int64") got = static_cast<uint64_t>(t.data<int64_t>()[i]);
          if (dtype == "uint64") got = t.data<uint64_t>()[i];
          ASSERT_EQ(got, expected) << name << "[" << i << "]";
        } else {
          ASSERT_EQ(t.element_as_double(i), typed_value(dtype, i)) << name << "[" << i << "]";
        }
      }
    }
  }
}

TEST(TensorProto, UnpackedFieldsAndNegativeInt32Varints) {
  // int8 values in int32_data, one varint per field, negatives sign-extended to 10 bytes.
  ProtoWriter t;
  t.varint(1, 3).varint(2, 3 /*INT8*/);
  for (int64_t v : {-128, -1, 127}) t.varint(5, static_cast<uint64_t>(v));
  auto int8 = parse_tensor_proto(t.data(), t.size(), "");
  ASSERT_TRUE(int8.ok()) << int8.status().to_string();
  EXPECT_EQ(int8->to_int64_vector(), (std::vector<int64_t>{-128, -1, 127}));

  // float16 bit patterns in int32_data, packed.
  ProtoWriter h;
  h.varint(1, 2).varint(2, 10).packed_varints(5, {float_to_half(1.5f), float_to_half(-0.25f)});
  auto f16 = parse_tensor_proto(h.data(), h.size(), "");
  ASSERT_TRUE(f16.ok()) << f16.status().to_string();
  EXPECT_EQ(f16->element_as_double(0), 1.5);
  EXPECT_EQ(f16->element_as_double(1), -0.25);

  // Unpacked floats and doubles; dims packed; a scalar.
  ProtoWriter f;
  f.packed_varints(1, {2}).varint(2, 1).float32(4, 2.5f).float32(4, -4.0f);
  auto f32 = parse_tensor_proto(f.data(), f.size(), "");
  ASSERT_TRUE(f32.ok()) << f32.status().to_string();
  EXPECT_TRUE(testing::tensors_close(*f32, Tensor::from_float({2.5f, -4.0f})));
  ProtoWriter d;
  double dv = -0.1;
  uint64_t bits;
  std::memcpy(&bits, &dv, 8);
  d.varint(2, 11).fixed64(10, bits);
  auto f64 = parse_tensor_proto(d.data(), d.size(), "");
  ASSERT_TRUE(f64.ok()) << f64.status().to_string();
  EXPECT_EQ(f64->rank(), 0);
  EXPECT_EQ(f64->data<double>()[0], -0.1);

  // An empty tensor needs no data.
  ProtoWriter e;
  e.varint(1, 0).varint(1, 5).varint(2, 1);
  auto empty = parse_tensor_proto(e.data(), e.size(), "");
  ASSERT_TRUE(empty.ok()) << empty.status().to_string();
  EXPECT_EQ(empty->numel(), 0);
}

// FP8 QDQ models store float8e4m3fn / float8e5m2 codes (zero points, weights) as raw bytes or
// one code per int32_data entry.
TEST(TensorProto, Float8CodesFromRawDataAndInt32Data) {
  ProtoWriter w = ProtoWriter().varint(1, 2).varint(2, 17).bytes(8, "w").bytes(9, "\x38\xb8");
  auto t = parse_tensor_proto(w.data(), w.size(), "");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->dtype(), DType::kFloat8E4M3FN);
  EXPECT_EQ(t->element_as_double(0), 1.0);
  EXPECT_EQ(t->element_as_double(1), -1.0);
  ProtoWriter z = ProtoWriter().varint(1, 1).varint(2, 19).bytes(8, "z").varint(5, 0x3C);
  auto e5 = parse_tensor_proto(z.data(), z.size(), "");
  ASSERT_TRUE(e5.ok()) << e5.status().to_string();
  EXPECT_EQ(e5->dtype(), DType::kFloat8E5M2);
  EXPECT_EQ(e5->element_as_double(0), 1.0);  // 0x3C: exponent 15, mantissa 0
}

// An empty tensor whose other dims are huge (the fuzzer's find: [8, 134151, 10955, 0] of bool):
// it holds nothing, so it decodes, without asking for 2^46 bytes.
TEST(TensorProto, EmptyTensorWithHugeOtherDims) {
  const ProtoWriter p =
      ProtoWriter().varint(1, 8).varint(1, 134151).varint(1, 10955).varint(1, 0).varint(2, 9).bytes(
          8, "empty");
  auto t = parse_tensor_proto(p.data(), p.size(), "");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->numel(), 0);
  EXPECT_EQ(t->shape(), (std::vector<int64_t>{8, 134151, 10955, 0}));
}

TEST(TensorProto, UnsupportedAndMalformed) {
  struct Case {
    ProtoWriter proto;
    StatusCode code;
    std::string needle;
  };
  std::vector<Case> cases;
  cases.push_back({ProtoWriter().varint(1, 1).varint(2, 8).bytes(6, "a").bytes(8, "s"),
                   StatusCode::kUnsupported, "TensorProto 's': string tensors"});
  cases.push_back({ProtoWriter().varint(1, 1).varint(2, 18).bytes(8, "f8").bytes(9, "a"),
                   StatusCode::kUnsupported, "float8e4m3fnuz"});
  cases.push_back({ProtoWriter().varint(1, 2).bytes(8, "n"), StatusCode::kInvalidModel,
                   "data_type is not set"});
  cases.push_back({ProtoWriter().varint(1, 2).varint(2, 1).bytes(8, "r").bytes(9, "abc"),
                   StatusCode::kInvalidModel, "needs 8 bytes but raw_data holds 3"});
  cases.push_back({ProtoWriter().varint(1, 2).varint(2, 7).bytes(8, "i"), StatusCode::kInvalidModel,
                   "int64_data holds 0 values"});
  cases.push_back({ProtoWriter().varint(2, 1).bytes(8, "seg").message(3, ProtoWriter()),
                   StatusCode::kUnsupported, "segmented"});
  for (const Case& c : cases) {
    auto t = parse_tensor_proto(c.proto.data(), c.proto.size(), "");
    ASSERT_FALSE(t.ok()) << c.needle;
    EXPECT_EQ(t.status().code(), c.code) << t.status().to_string();
    EXPECT_NE(t.status().message().find(c.needle), std::string::npos) << t.status().to_string();
  }
}

// Reads one reference written by conformance_references() in the fixture script.
struct Reference {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<std::string> values;
};

Reference read_reference(const std::string& path) {
  std::ifstream in(path);
  Reference r;
  std::string line;
  std::getline(in, r.name);
  std::getline(in, r.dtype);
  std::getline(in, line);
  std::istringstream shape(line);
  for (int64_t d; shape >> d;) r.shape.push_back(d);
  std::getline(in, line);
  std::istringstream values(line);
  for (std::string v; values >> v;) r.values.push_back(v);
  return r;
}

TEST(TensorProto, ConformanceDataMatchesNumpy) {
  const std::string root = "/usr/share/libonnx-testdata/data/node/";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << "no conformance data at " << root;
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kData + "conformance")) {
    // "<case>.<input_0>.txt" -> <root>/<case>/test_data_set_0/<input_0>.pb
    const std::string file = entry.path().filename().string();
    const size_t dot = file.find('.');
    const std::string pb = root + file.substr(0, dot) + "/test_data_set_0/" +
                           file.substr(dot + 1, file.size() - dot - 5) + ".pb";
    const Reference ref = read_reference(entry.path().string());
    std::string name;
    auto t = parse_tensor_proto_file(pb, &name);
    ASSERT_TRUE(t.ok()) << pb << ": " << t.status().to_string();
    EXPECT_EQ(name, ref.name) << pb;
    EXPECT_EQ(dtype_name(t->dtype()), ref.dtype) << pb;
    EXPECT_EQ(t->shape(), ref.shape) << pb;
    ASSERT_EQ(static_cast<size_t>(t->numel()), ref.values.size()) << pb;
    for (int64_t i = 0; i < t->numel(); ++i) {
      const std::string& v = ref.values[i];
      if (dtype_is_float(t->dtype())) {
        const double expected = std::stod(v);
        const double got = t->element_as_double(i);
        if (std::isnan(expected)) {
          ASSERT_TRUE(std::isnan(got)) << pb << "[" << i << "]";
        } else {
          ASSERT_EQ(got, expected) << pb << "[" << i << "]";
        }
      } else if (t->dtype() == DType::kUInt64) {
        ASSERT_EQ(t->data<uint64_t>()[i], std::stoull(v)) << pb << "[" << i << "]";
      } else {
        ASSERT_EQ(t->element_as_int64(i), std::stoll(v)) << pb << "[" << i << "]";
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 30);

  auto str =
      parse_tensor_proto_file(root + "test_cast_FLOAT_to_STRING/test_data_set_0/output_0.pb");
  ASSERT_FALSE(str.ok());
  EXPECT_EQ(str.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(str.status().message().find("TensorProto 'output'"), std::string::npos)
      << str.status().to_string();
  auto missing = parse_tensor_proto_file(root + "no_such_case/input_0.pb");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace vitrt
