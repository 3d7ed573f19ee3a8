// `vitrt clip tokenize`, driven as a user would: the .npy it writes for .json and line files,
// and exit codes and messages for bad input (CLI.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/npy.h"
#include "testing/vitrt_cli.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

using testing::CliOutput;
using testing::run_vitrt;

// The checkout's vocabulary, for every command.
const testing::EnvVar kVocab{
    "VITRT_CLIP_VOCAB",
    std::string(VITRT_SOURCE_DIR) + "/third_party_data/clip/bpe_simple_vocab_16e6.txt.gz"};

class ClipCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("vitrt_clip_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `vitrt clip ARGS` with the checkout's vocabulary.
  CliOutput clip(const std::string& args) { return run_vitrt("clip " + args, dir_, {kVocab}); }
  std::string write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(ClipCommandTest, TokenizesJsonArray) {
  const std::string texts =
      write("texts.json", R"(["a photo of a cat.", "", "A PHOTO\nOF A CAT."])");
  const CliOutput r = clip("tokenize --texts '" + texts + "' -o '" + path("ids.npy") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Result<Tensor> ids = read_npy(path("ids.npy"));
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  ASSERT_EQ(ids->dtype(), DType::kInt32);
  ASSERT_EQ(ids->shape(), std::vector<int64_t>({3, 77}));
  const int32_t* d = ids->data<int32_t>();
  const std::vector<int32_t> cat = {49406, 320, 1125, 539, 320, 2368, 269, 49407, 0};
  EXPECT_EQ(std::vector<int32_t>(d, d + 9), cat);
  EXPECT_EQ(std::vector<int32_t>(d + 77, d + 80), std::vector<int32_t>({49406, 49407, 0}));
  EXPECT_EQ(std::vector<int32_t>(d + 154, d + 163), cat);
  EXPECT_EQ(d[76], 0);
}

TEST_F(ClipCommandTest, TokenizesLinesWithContextLength) {
  const std::string texts =
      write("texts.txt", "a photo of a cat.\r\ncat cat cat cat cat cat cat cat\n");
  const CliOutput r = clip("tokenize --texts '" + texts + "' -o '" + path("ids.npy") +
                           "' --context-length 8 --print");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Result<Tensor> ids = read_npy(path("ids.npy"));
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->shape(), std::vector<int64_t>({2, 8}));
  const int32_t* d = ids->data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(d, d + 8),
            std::vector<int32_t>({49406, 320, 1125, 539, 320, 2368, 269, 49407}));
  // Eight ids do not fit in 8: six are kept and the end token takes the last place.
  EXPECT_EQ(std::vector<int32_t>(d + 8, d + 16),
            std::vector<int32_t>({49406, 2368, 2368, 2368, 2368, 2368, 2368, 49407}));
  EXPECT_NE(r.out.find("1: 49406 2368"), std::string::npos) << r.out;
}

TEST_F(ClipCommandTest, HelpAndUsageErrors) {
  EXPECT_EQ(clip("--help").exit_code, 0);
  const CliOutput help = clip("tokenize --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--context-length"), std::string::npos);
  EXPECT_EQ(clip("").exit_code, 2);
  const CliOutput unknown = clip("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("frobnicate"), std::string::npos);
  EXPECT_EQ(clip("tokenize -o x.npy").exit_code, 2);
  const std::string texts = write("t.txt", "cat\n");
  EXPECT_EQ(clip("tokenize --texts '" + texts + "'").exit_code, 2);
  const CliOutput zero =
      clip("tokenize --texts '" + texts + "' -o '" + path("o.npy") + "' --context-length 0");
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_NE(zero.err.find("--context-length"), std::string::npos) << zero.err;
}

TEST_F(ClipCommandTest, BadInputFailsNamingTheFile) {
  const CliOutput missing =
      clip("tokenize --texts '" + path("nope.json") + "' -o '" + path("o.npy") + "'");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.json"), std::string::npos) << missing.err;

  const std::string bad_json = write("bad.json", R"(["a", 3])");
  const CliOutput not_strings =
      clip("tokenize --texts '" + bad_json + "' -o '" + path("o.npy") + "'");
  EXPECT_EQ(not_strings.exit_code, 1);
  EXPECT_NE(not_strings.err.find("bad.json"), std::string::npos) << not_strings.err;
  EXPECT_NE(not_strings.err.find("element 1"), std::string::npos) << not_strings.err;

  const std::string texts = write("t.txt", "cat\n");
  const CliOutput no_vocab = clip("tokenize --texts '" + texts + "' -o '" + path("o.npy") +
                                  "' --vocab '" + path("missing.txt.gz") + "'");
  EXPECT_EQ(no_vocab.exit_code, 1);
  EXPECT_NE(no_vocab.err.find("missing.txt.gz"), std::string::npos) << no_vocab.err;
  EXPECT_FALSE(fs::exists(path("o.npy")));
}

}  // namespace
}  // namespace vitrt
