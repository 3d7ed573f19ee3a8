// `vitrt build CLIP_DIR` and `vitrt clip embed|classify|rank`, driven as a user would, on the
// tiny CLIP fixture: outputs against the PyTorch references, exit codes and messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/npy.h"
#include "testing/compare.h"
#include "testing/vitrt_cli.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliOutput;
using testing::run_vitrt;

const fs::path kFixture = fs::path(VITRT_SOURCE_DIR) / "tests/data/clip_tiny";
const fs::path kImages = fs::path(VITRT_SOURCE_DIR) / "tests/data/vision";

// The checkout's vocabulary, for every command.
const testing::EnvVar kVocab{
    "VITRT_CLIP_VOCAB",
    std::string(VITRT_SOURCE_DIR) + "/third_party_data/clip/bpe_simple_vocab_16e6.txt.gz"};

Tensor reference(const std::string& name) {
  Result<Tensor> t = read_npy((kFixture / name).string());
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? *t : Tensor();
}

std::vector<float> unit(const float* row, int64_t d) {
  double sum = 0;
  for (int64_t k = 0; k < d; ++k) sum += static_cast<double>(row[k]) * row[k];
  std::vector<float> out(row, row + d);
  for (float& v : out) v = static_cast<float>(v / std::sqrt(sum));
  return out;
}

std::vector<std::string> fixture_images() {
  std::ifstream in(kFixture / "images.json");
  std::vector<std::string> paths;
  for (const std::string& name : json::parse(in).get<std::vector<std::string>>()) {
    paths.push_back((kImages / name).string());
  }
  return paths;
}

std::string quoted(const std::vector<std::string>& words) {
  std::string s;
  for (const std::string& w : words) s += " '" + w + "'";
  return s;
}

class ClipModelCommandTest : public ::testing::Test {
 protected:
  // A copy of the fixture, built once with `vitrt build DIR` (the plans land beside it).
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::path(::testing::TempDir()) /
                         ("vitrt_clip_commands_" + std::to_string(getpid())));
    fs::remove_all(*root_);
    fs::create_directories(*root_);
    fs::copy(kFixture, *root_ / "model");
    build_ = new CliOutput(run("build '" + (*root_ / "model").string() + "'"));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
    delete build_;
  }
  void SetUp() override { ASSERT_EQ(build_->exit_code, 0) << build_->out << build_->err; }

  // Runs `vitrt ARGS` with the checkout's vocabulary.
  static CliOutput run(const std::string& args) { return run_vitrt(args, *root_, {kVocab}); }
  static std::string model() { return (*root_ / "model").string(); }
  static std::string path(const std::string& name) { return (*root_ / name).string(); }

  static fs::path* root_;
  static CliOutput* build_;
};

fs::path* ClipModelCommandTest::root_ = nullptr;
CliOutput* ClipModelCommandTest::build_ = nullptr;

TEST_F(ClipModelCommandTest, BuildWritesBothPlans) {
  EXPECT_TRUE(fs::exists(*root_ / "model" / "vision.plan"));
  EXPECT_TRUE(fs::exists(*root_ / "model" / "text.plan"));
  // -o names another folder, which becomes a model folder of its own.
  const CliOutput r = run("build '" + model() + "' -o '" + path("built") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"vision.plan", "text.plan", "clip.json", "preprocessor_config.json"}) {
    EXPECT_TRUE(fs::exists(*root_ / "built" / name)) << name;
  }
  const CliOutput embed = run("clip embed -m '" + path("built") + "' --images '" +
                              fixture_images()[0] + "' -o '" + path("one.npy") + "'");
  EXPECT_EQ(embed.exit_code, 0) << embed.err;
}

TEST_F(ClipModelCommandTest, BuildRefusesAFolderWithoutClipJson) {
  fs::create_directories(*root_ / "empty");
  const CliOutput r = run("build '" + path("empty") + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("without clip.json"), std::string::npos) << r.err;
}

TEST_F(ClipModelCommandTest, EmbedsImagesAsJson) {
  const std::vector<std::string> images = fixture_images();
  const CliOutput r = run("clip embed -m '" + model() + "' --images" + quoted(images));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  ASSERT_EQ(out["embed_dim"], 16);
  ASSERT_EQ(out["items"].size(), images.size());
  const Tensor want = reference("image_embeds.npy");
  for (size_t i = 0; i < images.size(); ++i) {
    EXPECT_EQ(out["items"][i]["image"], images[i]);
    const std::vector<float> got = out["items"][i]["embedding"].get<std::vector<float>>();
    const std::vector<float> expected = unit(want.data<float>() + i * 16, 16);
    for (int k = 0; k < 16; ++k) EXPECT_NEAR(got[k], expected[k], 1e-4) << i << "," << k;
  }
}

TEST_F(ClipModelCommandTest, EmbedsTextsAsNpy) {
  const CliOutput r =
      run("clip embed -m '" + model() + "' --texts '" + (kFixture / "texts.json").string() +
          "' --truncate --batch 7 -o '" + path("texts.npy") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Result<Tensor> got = read_npy(path("texts.npy"));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const Tensor want = reference("text_embeds.npy");
  Tensor want_unit = want.clone();
  for (int64_t i = 0; i < want.dim(0); ++i) {
    const std::vector<float> row = unit(want.data<float>() + i * 16, 16);
    std::copy(row.begin(), row.end(), want_unit.data<float>() + i * 16);
  }
  EXPECT_TRUE(testing::tensors_close_to_scale(*got, want_unit, 1e-4));
}

TEST_F(ClipModelCommandTest, OverLongTextNeedsTruncate) {
  // texts.json holds one text longer than the context (index 18).
  const CliOutput r =
      run("clip embed -m '" + model() + "' --texts '" + (kFixture / "texts.json").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("text 18 \"a very long prompt"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("more than the context length 77"), std::string::npos) << r.err;
}

// Softmax over a subset of labels is the full softmax renormalised over that subset, so the
// fixture's PyTorch probabilities over all 20 texts give the expected values for any 4.
TEST_F(ClipModelCommandTest, ClassifyMatchesPyTorchSoftmax) {
  const std::vector<std::string> images = fixture_images();
  const std::vector<int> picked = {0, 1, 17, 4};  // cat, dog, mountains, a rocket launch
  // Labels are trimmed and put into the template.
  const CliOutput r = run("clip classify -m '" + model() + "'" + quoted(images) +
                          " --labels 'cat, dog ,mountains' --template 'a photo of a {}'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const CliOutput plain = run(
      "clip classify -m '" + model() + "'" + quoted(images) +
      " --labels 'a photo of a cat,a photo of a dog,mountains,a rocket launch' --template '{}'");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const json out = json::parse(plain.out);
  EXPECT_EQ(out["prompts"][2], "mountains");
  const Tensor probs = reference("probs.npy");
  const int64_t n_texts = probs.dim(1);
  for (size_t i = 0; i < images.size(); ++i) {
    double sum = 0;
    for (int t : picked) sum += probs.data<float>()[i * n_texts + t];
    const json& result = out["results"][i];
    EXPECT_EQ(result["image"], images[i]);
    for (size_t k = 0; k < picked.size(); ++k) {
      const double want = probs.data<float>()[i * n_texts + picked[k]] / sum;
      EXPECT_NEAR(result["probabilities"][k].get<double>(), want, 1e-4) << i << "," << k;
    }
  }
  const json templated = json::parse(r.out);
  EXPECT_EQ(templated["prompts"][1], "a photo of a dog");
  EXPECT_EQ(templated["labels"][1], "dog");
}

TEST_F(ClipModelCommandTest, ClassifyUsageErrors) {
  const std::string image = fixture_images()[0];
  CliOutput r = run("clip classify -m '" + model() + "' '" + image + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing --labels"), std::string::npos) << r.err;
  r = run("clip classify -m '" + model() + "' '" + image + "' --labels 'a,,b'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("empty label"), std::string::npos) << r.err;
  r = run("clip classify -m '" + model() + "' '" + image + "' --labels a,b --template 'x'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--template must contain {}"), std::string::npos) << r.err;
  r = run("clip classify '" + image + "' --labels a,b");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing --model"), std::string::npos) << r.err;
}

TEST_F(ClipModelCommandTest, RankOrdersByCosine) {
  const std::vector<std::string> images = fixture_images();
  const CliOutput r =
      run("clip rank -m '" + model() + "' --query 'a photo of a cat' --top 3" + quoted(images));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  ASSERT_EQ(out["results"].size(), 3u);
  // Expected order from the PyTorch embeddings: text 0 is "a photo of a cat".
  const Tensor img = reference("image_embeds.npy"), txt = reference("text_embeds.npy");
  const std::vector<float> query = unit(txt.data<float>(), 16);
  std::vector<std::pair<double, size_t>> cos;
  for (size_t i = 0; i < images.size(); ++i) {
    const std::vector<float> e = unit(img.data<float>() + i * 16, 16);
    double dot = 0;
    for (int k = 0; k < 16; ++k) dot += e[k] * query[k];
    cos.emplace_back(-dot, i);
  }
  std::sort(cos.begin(), cos.end());
  for (size_t r_i = 0; r_i < 3; ++r_i) {
    EXPECT_EQ(out["results"][r_i]["rank"], r_i + 1);
    EXPECT_EQ(out["results"][r_i]["image"], images[cos[r_i].second]);
    EXPECT_NEAR(out["results"][r_i]["cosine"].get<double>(), -cos[r_i].first, 1e-4);
  }
}

TEST_F(ClipModelCommandTest, FolderArgumentsAndBadImages) {
  // A folder stands for its images, sorted; a broken one fails naming the file.
  fs::create_directories(*root_ / "photos");
  fs::copy_file(kImages / "face.png", *root_ / "photos" / "b.png");
  fs::copy_file(kImages / "cat_q90_420.jpg", *root_ / "photos" / "a.JPG");
  std::ofstream(*root_ / "photos" / "notes.txt") << "not an image";
  CliOutput r = run("clip embed -m '" + model() + "' --images '" + path("photos") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json out = json::parse(r.out);
  ASSERT_EQ(out["items"].size(), 2u);
  EXPECT_EQ(out["items"][0]["image"], (*root_ / "photos" / "a.JPG").string());

  const std::string bad = (kImages / "bad_truncated.png").string();
  r = run("clip embed -m '" + model() + "' --images '" + bad + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;

  r = run("clip rank -m '" + model() + "' --query cat '" + path("nothing_here") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no such file or folder"), std::string::npos) << r.err;
}

TEST_F(ClipModelCommandTest, UnbuiltModelSaysHowToBuild) {
  const CliOutput r =
      run("clip embed -m '" + kFixture.string() + "' --images '" + fixture_images()[0] + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("vitrt build"), std::string::npos) << r.err;
}

TEST_F(ClipModelCommandTest, ProgressBarOnRequest) {
  const CliOutput r = run("clip embed -m '" + model() + "' --progress --batch 2 --images" +
                          quoted(fixture_images()) + " -o '" + path("p.npy") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("2/5 images"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("5/5 images"), std::string::npos) << r.err;
}

TEST_F(ClipModelCommandTest, HelpListsOptions) {
  for (const char* sub : {"embed", "classify", "rank"}) {
    const CliOutput r = run(std::string("clip ") + sub + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("--model DIR"), std::string::npos) << sub;
  }
}

}  // namespace
}  // namespace vitrt
