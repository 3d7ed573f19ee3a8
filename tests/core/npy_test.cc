// .npy reading against files written by NumPy (tests/data/npy/make_npy.py), writing checked
// byte-for-byte against NumPy's own output, and the errors for inputs vitrt refuses.
#include "core/npy.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace vitrt {
namespace {

std::string fixture(const std::string& name) {
  return std::string(VITRT_SOURCE_DIR) + "/tests/data/npy/" + name;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

TEST(NpyTest, ReadsFloat32Matrix) {
  Result<Tensor> t = read_npy_file(fixture("f4_2x3.npy"));
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_EQ(t->shape(), (std::vector<int64_t>{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t->data<float>()[i], i * 0.5f - 1.0f) << i;
}

TEST(NpyTest, ReadsEveryDtype) {
  struct Case {
    const char* file;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<double> values;
  };
  const std::vector<Case> cases = {
      {"f8_5.npy", DType::kFloat64, {5}, {0, 1.0 / 3, 2.0 / 3, 1, 4.0 / 3}},
      {"f2_3x1.npy", DType::kFloat16, {3, 1}, {-1.5, -0.5, 0.5}},
      {"i8_scalar.npy", DType::kInt64, {}, {-7}},
      {"i4_2x2x3.npy", DType::kInt32, {2, 2, 3}, {-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5}},
      {"i2_4.npy", DType::kInt16, {4}, {-32768, -1, 0, 32767}},
      {"i1_3.npy", DType::kInt8, {3}, {-128, 0, 127}},
      {"u1_3.npy", DType::kUInt8, {3}, {0, 128, 255}},
      {"u2_2.npy", DType::kUInt16, {2}, {0, 65535}},
      {"u4_2.npy", DType::kUInt32, {2}, {1, 4294967295.0}},
      {"b1_5.npy", DType::kBool, {5}, {1, 0, 1, 1, 0}},
      {"f4_empty_0x3.npy", DType::kFloat32, {0, 3}, {}},
      {"f4_v2_7.npy", DType::kFloat32, {7}, {0, 1, 2, 3, 4, 5, 6}},
      {"f4_v3_7.npy", DType::kFloat32, {7}, {0, 1, 2, 3, 4, 5, 6}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    Result<Tensor> t = read_npy_file(fixture(c.file));
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(t->dtype(), c.dtype);
    EXPECT_EQ(t->shape(), c.shape);
    ASSERT_EQ(t->numel(), static_cast<int64_t>(c.values.size()));
    for (size_t i = 0; i < c.values.size(); ++i) {
      EXPECT_NEAR(t->element_as_double(static_cast<int64_t>(i)), c.values[i], 1e-12) << i;
    }
  }
  // uint64's largest value does not survive a trip through double: compare the bits.
  Result<Tensor> u8 = read_npy_file(fixture("u8_2.npy"));
  ASSERT_TRUE(u8.ok()) << u8.status().to_string();
  EXPECT_EQ(u8->data<uint64_t>()[0], 1u);
  EXPECT_EQ(u8->data<uint64_t>()[1], 18446744073709551615ull);
}

TEST(NpyTest, WriterMatchesNumpyBytes) {
  for (const char* name : {"f4_2x3.npy", "i8_scalar.npy", "b1_5.npy", "f2_3x1.npy",
                           "f4_empty_0x3.npy", "u1_3.npy", "i1_3.npy"}) {
    SCOPED_TRACE(name);
    const std::vector<uint8_t> expected = file_bytes(fixture(name));
    Result<Tensor> t = parse_npy(expected.data(), expected.size(), name);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    Result<std::vector<uint8_t>> written = npy_bytes(*t);
    ASSERT_TRUE(written.ok()) << written.status().to_string();
    EXPECT_EQ(*written, expected);
  }
}

TEST(NpyTest, FileRoundTrip) {
  Tensor t = Tensor::empty(DType::kInt32, {3, 5, 7});
  for (int i = 0; i < 105; ++i) t.data<int32_t>()[i] = i * 37 - 1000;
  const std::string path = ::testing::TempDir() + "/npy_round_trip.npy";
  ASSERT_TRUE(write_npy_file(path, t).ok());
  Result<Tensor> back = read_npy_file(path);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->shape(), t.shape());
  for (int i = 0; i < 105; ++i) EXPECT_EQ(back->data<int32_t>()[i], i * 37 - 1000);
  std::remove(path.c_str());
}

TEST(NpyTest, Bfloat16CannotBeWritten) {
  Result<std::vector<uint8_t>> r = npy_bytes(Tensor::zeros(DType::kBFloat16, {2}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("bfloat16"), std::string::npos);
}

void expect_error(const std::string& file, const std::string& needle) {
  SCOPED_TRACE(file);
  Result<Tensor> t = read_npy_file(fixture(file));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(file), std::string::npos) << t.status().message();
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().message();
}

TEST(NpyTest, RejectsWhatNumpyCanWriteButVitrtCannotRead) {
  expect_error("f4_fortran_2x3.npy", "fortran_order");
  expect_error("f4_bigendian_3.npy", "big-endian");
  expect_error("object_2.npy", "'|O'");
  expect_error("structured_2.npy", "structured");
}

TEST(NpyTest, MissingFileIsNotFound) {
  Result<Tensor> t = read_npy_file("/nonexistent/x.npy");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("/nonexistent/x.npy"), std::string::npos);
}

TEST(NpyTest, EveryTruncationIsAnError) {
  const std::vector<uint8_t> bytes = file_bytes(fixture("f4_2x3.npy"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<Tensor> t = parse_npy(bytes.data(), n, "cut.npy");
    EXPECT_FALSE(t.ok()) << "accepted a file cut at " << n << " bytes";
    if (!t.ok()) {
      EXPECT_NE(t.status().message().find("cut.npy"), std::string::npos);
    }
  }
  // Trailing garbage is an error too: the shape and the data disagree.
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(parse_npy(longer.data(), longer.size(), "long.npy").ok());
}

std::vector<uint8_t> npy_with_header(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.push_back(static_cast<uint8_t>(header.size() & 0xFF));
  out.push_back(static_cast<uint8_t>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

TEST(NpyTest, BadHeadersNameTheField) {
  struct Case {
    std::string header;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"{'descr': '<f4', 'shape': (2,), }\n", "missing field 'fortran_order'"},
      {"{'fortran_order': False, 'shape': (2,), }\n", "missing field 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, }\n", "missing field 'shape'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }\n", "'shape'"},
      {"{'descr': '<f4', 'fortran_order': maybe, 'shape': (2,), }\n", "'fortran_order'"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", "'<c8'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n",
       "overflows"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }\n",
       "'shape'"},
      {"['descr']\n", "'{'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}\n", "'extra'"},
      {"{'descr': '<f4' 'fortran_order': False}\n", "expected ',' or '}'"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    const std::vector<uint8_t> bytes = npy_with_header(c.header, 8);
    Result<Tensor> t = parse_npy(bytes.data(), bytes.size(), "bad.npy");
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("bad.npy"), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(c.needle), std::string::npos) << t.status().message();
  }
}

TEST(NpyTest, RejectsUnknownVersionAndBadBool) {
  std::vector<uint8_t> bytes = file_bytes(fixture("f4_2x3.npy"));
  bytes[6] = 4;
  Result<Tensor> t = parse_npy(bytes.data(), bytes.size(), "v4.npy");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("version 4.0"), std::string::npos);

  std::vector<uint8_t> b = file_bytes(fixture("b1_5.npy"));
  b.back() = 7;
  t = parse_npy(b.data(), b.size(), "bool.npy");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("bool element 4"), std::string::npos);
}

}  // namespace
}  // namespace vitrt
