// Malformed input never crashes the importer: every truncation prefix of the fixtures and a few
// thousand random byte mutations (fixed seed) give either an error or a graph that validates.
// Run under the ASan/UBSan build (-DVITRT_SANITIZE=ON) to catch what does not crash outright.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "onnx/onnx_import.h"

namespace vitrt {
namespace {

const std::string kData = std::string(VITRT_SOURCE_DIR) + "/tests/data/onnx/";

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::vector<uint8_t> bytes;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return bytes;
  uint8_t buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;)
    bytes.insert(bytes.end(), buf, buf + n);
  std::fclose(f);
  return bytes;
}

// An import result is acceptable when it is an error with a message or a valid graph.
::testing::AssertionResult acceptable(const Result<Graph>& r) {
  if (!r.ok()) {
    if (r.status().message().empty()) return ::testing::AssertionFailure() << "empty message";
    if (r.status().code() == StatusCode::kInternal) {
      return ::testing::AssertionFailure() << r.status().to_string();
    }
    return ::testing::AssertionSuccess();
  }
  Status st = r->validate();
  if (!st.ok()) return ::testing::AssertionFailure() << "invalid graph: " << st.to_string();
  return ::testing::AssertionSuccess();
}

struct Fixture {
  std::string file;
  std::string base_dir;
};

const std::vector<Fixture> kFixtures = {
    {"attributes.onnx", ""},
    {"constants.onnx", ""},
    {"typed_tensors.onnx", ""},
    {"initializer_as_input.onnx", ""},
    {"external/model.onnx", kData + "external"},
};

TEST(OnnxImportRobustness, EveryTruncationPrefixFailsCleanly) {
  for (const Fixture& fx : kFixtures) {
    const std::vector<uint8_t> bytes = read_bytes(kData + fx.file);
    ASSERT_FALSE(bytes.empty()) << fx.file;
    ASSERT_TRUE(import_onnx_bytes(bytes.data(), bytes.size(), fx.base_dir).ok()) << fx.file;
    int ok_prefixes = 0;
    for (size_t n = 0; n < bytes.size(); ++n) {
      // A copy of exactly n bytes, so that ASan sees any read past the prefix.
      std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<long>(n));
      auto r = import_onnx_bytes(prefix.data(), prefix.size(), fx.base_dir);
      ASSERT_TRUE(acceptable(r)) << fx.file << " prefix " << n;
      ok_prefixes += r.ok() ? 1 : 0;
    }
    // A prefix that ends between top-level fields may still be a model (no graph: an error);
    // most prefixes must fail.
    EXPECT_LT(ok_prefixes, 4) << fx.file;
  }
}

TEST(OnnxImportRobustness, TruncatedModelErrorSaysWhatWasRead) {
  const std::vector<uint8_t> bytes = read_bytes(kData + "typed_tensors.onnx");
  auto r = import_onnx_bytes(bytes.data(), bytes.size() / 2, "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(r.status().message().find("truncated ModelProto"), std::string::npos)
      << r.status().to_string();
  EXPECT_NE(r.status().message().find("exceeds remaining"), std::string::npos)
      << r.status().to_string();
}

TEST(OnnxImportRobustness, RandomByteMutations) {
  std::mt19937_64 rng(20261125);
  int total = 0, imported = 0;
  for (const Fixture& fx : kFixtures) {
    const std::vector<uint8_t> bytes = read_bytes(kData + fx.file);
    ASSERT_FALSE(bytes.empty()) << fx.file;
    for (int trial = 0; trial < 800; ++trial) {
      std::vector<uint8_t> m = bytes;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        const size_t at = rng() % m.size();
        switch (rng() % 4) {
          case 0:  // one bit
            m[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
          case 1:  // a random byte
            m[at] = static_cast<uint8_t>(rng());
            break;
          case 2:  // a large varint byte, as a hostile length would start
            m[at] = 0xff;
            break;
          default:  // a small value, as a shortened length would be
            m[at] = static_cast<uint8_t>(rng() % 4);
            break;
        }
      }
      auto r = import_onnx_bytes(m.data(), m.size(), fx.base_dir);
      ASSERT_TRUE(acceptable(r)) << fx.file << " trial " << trial;
      imported += r.ok() ? 1 : 0;
      ++total;
    }
  }
  // Both outcomes occur: the mutations reach past the first parse error.
  EXPECT_GT(imported, 0);
  EXPECT_LT(imported, total);
}

TEST(OnnxImportRobustness, TensorProtoPrefixesAndMutations) {
  const std::string pb =
      "/usr/share/libonnx-testdata/data/node/test_gather_0/test_data_set_0/input_0.pb";
  const std::vector<uint8_t> bytes = read_bytes(pb);
  if (bytes.empty()) GTEST_SKIP() << "no conformance data";
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<long>(n));
    auto t = parse_tensor_proto(prefix.data(), prefix.size(), "");
    if (t.ok()) {
      EXPECT_LE(t->nbytes(), n);
    }
  }
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 1000; ++trial) {
    std::vector<uint8_t> m = bytes;
    m[rng() % m.size()] = static_cast<uint8_t>(rng());
    auto t = parse_tensor_proto(m.data(), m.size(), "");
    if (t.ok()) {
      EXPECT_LE(t->nbytes(), 8 * m.size());
    }
  }
}

}  // namespace
}  // namespace vitrt
