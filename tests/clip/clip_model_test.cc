// ClipModel on the tiny CLIP fixture (tests/data/clip_tiny, python/make_clip_fixture.py):
// embeddings and zero-shot probabilities against PyTorch, end-token truncation against the
// padded-to-77 run, and the errors for bad images, over-long texts and missing files.
#include "vitrt/clip.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "clip/clip_build.h"
#include "core/npy.h"
#include "testing/compare.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

const fs::path kFixture = fs::path(VITRT_SOURCE_DIR) / "tests/data/clip_tiny";
const fs::path kImages = fs::path(VITRT_SOURCE_DIR) / "tests/data/vision";
const std::string kVocab =
    std::string(VITRT_SOURCE_DIR) + "/third_party_data/clip/bpe_simple_vocab_16e6.txt.gz";
// The fixture's end-of-text token and context length (CLIP's).
constexpr int32_t kEot = 49407;
constexpr int kContext = 77;

std::vector<std::string> read_json_strings(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in).get<std::vector<std::string>>();
}

Tensor read_reference(const std::string& name) {
  Result<Tensor> t = read_npy((kFixture / name).string());
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? *t : Tensor();
}

// Rows scaled to unit length (the reference embeddings are PyTorch's unnormalised ones).
Tensor normalised(const Tensor& t) {
  Tensor out = t.clone();
  const int64_t d = t.dim(1);
  for (int64_t r = 0; r < t.dim(0); ++r) {
    float* row = out.data<float>() + r * d;
    double sum = 0;
    for (int64_t k = 0; k < d; ++k) sum += static_cast<double>(row[k]) * row[k];
    for (int64_t k = 0; k < d; ++k) row[k] = static_cast<float>(row[k] / std::sqrt(sum));
  }
  return out;
}

double min_row_cosine(const Tensor& a, const Tensor& b) {
  double worst = 1;
  const int64_t d = a.dim(1);
  for (int64_t r = 0; r < a.dim(0); ++r) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t k = 0; k < d; ++k) {
      const double x = a.data<float>()[r * d + k], y = b.data<float>()[r * d + k];
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    worst = std::min(worst, dot / std::sqrt(na * nb));
  }
  return worst;
}

class ClipModelTest : public ::testing::Test {
 protected:
  // The fixture's ONNX towers built once into a temporary model folder.
  static void SetUpTestSuite() {
    // One folder per process: ctest runs each test in a process of its own, in parallel.
    dir_ = new fs::path(fs::path(::testing::TempDir()) /
                        ("vitrt_clip_model_test_" + std::to_string(getpid())));
    fs::remove_all(*dir_);
    BuildOptions options;
    build_status_ = new Status(clip::build_clip_plans(kFixture.string(), dir_->string(), options));
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete build_status_;
  }

  void SetUp() override { ASSERT_TRUE(build_status_->ok()) << build_status_->to_string(); }

  static std::shared_ptr<ClipModel> load(ClipOptions options = {}) {
    options.vocab_path = kVocab;
    Result<std::shared_ptr<ClipModel>> model = ClipModel::load(dir_->string(), options);
    EXPECT_TRUE(model.ok()) << model.status().to_string();
    return model.ok() ? *model : nullptr;
  }

  static std::vector<std::string> image_paths() {
    std::vector<std::string> paths;
    for (const std::string& name : read_json_strings(kFixture / "images.json")) {
      paths.push_back((kImages / name).string());
    }
    return paths;
  }

  static fs::path* dir_;
  static Status* build_status_;
};

fs::path* ClipModelTest::dir_ = nullptr;
Status* ClipModelTest::build_status_ = nullptr;

TEST_F(ClipModelTest, ReadsTheModelFolder) {
  auto model = load();
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->embed_dim(), 16);
  EXPECT_EQ(model->context_length(), kContext);
  EXPECT_EQ(model->image_shape(), std::vector<int64_t>({3, 32, 32}));
  // CLIPModel's initial logit_scale: exp(log(1 / 0.07)).
  EXPECT_NEAR(model->logit_scale(), 1 / 0.07, 1e-3);
}

TEST_F(ClipModelTest, ImageEmbeddingsMatchPyTorch) {
  auto model = load();
  ASSERT_NE(model, nullptr);
  Result<Tensor> embeds = model->embed_image_files(image_paths());
  ASSERT_TRUE(embeds.ok()) << embeds.status().to_string();
  EXPECT_TRUE(testing::tensors_close_to_scale(
      *embeds, normalised(read_reference("image_embeds.npy")), 1e-4));
}

TEST_F(ClipModelTest, EncodedImageStageMatchesFiles) {
  auto model = load();
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> paths = image_paths();
  Tensor pixels = Tensor::empty(DType::kFloat32, {static_cast<int64_t>(paths.size()), 3, 32, 32});
  for (size_t i = 0; i < paths.size(); ++i) {
    std::ifstream in(paths[i], std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result<Tensor> one = model->preprocess_image(bytes, paths[i]);
    ASSERT_TRUE(one.ok()) << one.status().to_string();
    std::copy_n(one->data<float>(), one->numel(), pixels.data<float>() + i * one->numel());
  }
  Result<Tensor> embeds = model->embed_pixels(pixels);
  ASSERT_TRUE(embeds.ok()) << embeds.status().to_string();
  EXPECT_TRUE(testing::tensors_close_to_scale(
      *embeds, normalised(read_reference("image_embeds.npy")), 1e-4));
}

TEST_F(ClipModelTest, TokenizeGivesOpenClipIdsUnpadded) {
  auto model = load();
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = read_json_strings(kFixture / "texts.json");
  const Tensor ids = read_reference("text_ids.npy");
  for (size_t i = 0; i < texts.size(); ++i) {
    Result<std::vector<int32_t>> got = model->tokenize(texts[i]);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    const int32_t* row = ids.data<int32_t>() + i * kContext;
    const int length = static_cast<int>(std::find(row, row + kContext, kEot) - row) + 1;
    EXPECT_EQ(*got, std::vector<int32_t>(row, row + length)) << "text " << i;
  }
}

TEST_F(ClipModelTest, TextEmbeddingsMatchPyTorch) {
  ClipOptions options;
  options.max_batch = 6;  // several batches of different lengths, sorted and put back in order
  auto model = load(options);
  ASSERT_NE(model, nullptr);
  Result<Tensor> embeds = model->embed_texts(read_json_strings(kFixture / "texts.json"));
  ASSERT_TRUE(embeds.ok()) << embeds.status().to_string();
  EXPECT_TRUE(testing::tensors_close_to_scale(*embeds,
                                              normalised(read_reference("text_embeds.npy")), 1e-4));
}

// The tower run only up to each batch's longest end token against the plan run on the ids
// padded to 77 (an independent path: the engine itself, no ClipModel batching).
TEST_F(ClipModelTest, EndTokenTruncationMatchesPaddedRun) {
  auto model = load();
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = read_json_strings(kFixture / "texts.json");
  Result<Tensor> truncated = model->embed_texts(texts);
  ASSERT_TRUE(truncated.ok()) << truncated.status().to_string();

  const Tensor ids32 = read_reference("text_ids.npy");
  Tensor ids64 = Tensor::empty(DType::kInt64, ids32.shape());
  for (int64_t i = 0; i < ids32.numel(); ++i) ids64.data<int64_t>()[i] = ids32.data<int32_t>()[i];
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan((*dir_ / "text.plan").string());
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  Result<std::vector<NamedTensor>> padded =
      (*engine)->create_context()->run({{"input_ids", ids64}});
  ASSERT_TRUE(padded.ok()) << padded.status().to_string();
  EXPECT_GE(min_row_cosine(*truncated, padded->at(0).tensor), 0.99999);

  ClipOptions options;
  options.pad_texts_to_context = true;
  auto padded_model = load(options);
  ASSERT_NE(padded_model, nullptr);
  Result<Tensor> padded77 = padded_model->embed_texts(texts);
  ASSERT_TRUE(padded77.ok()) << padded77.status().to_string();
  EXPECT_GE(min_row_cosine(*truncated, *padded77), 0.99999);
}

TEST_F(ClipModelTest, ZeroShotProbabilitiesMatchPyTorch) {
  auto model = load();
  ASSERT_NE(model, nullptr);
  Result<Tensor> probs = model->classify(normalised(read_reference("image_embeds.npy")),
                                         normalised(read_reference("text_embeds.npy")));
  ASSERT_TRUE(probs.ok()) << probs.status().to_string();
  EXPECT_TRUE(testing::tensors_close(*probs, read_reference("probs.npy"), {1e-4, 1e-6}));

  // End to end from the files and texts.
  Result<Tensor> images = model->embed_image_files(image_paths());
  Result<Tensor> texts = model->embed_texts(read_json_strings(kFixture / "texts.json"));
  ASSERT_TRUE(images.ok() && texts.ok());
  Result<Tensor> end_to_end = model->classify(*images, *texts);
  ASSERT_TRUE(end_to_end.ok()) << end_to_end.status().to_string();
  EXPECT_TRUE(testing::tensors_close(*end_to_end, read_reference("probs.npy"), {1e-3, 1e-5}));
}

TEST_F(ClipModelTest, SimilarityChecksShapes) {
  const Tensor a = testing::random_tensor(DType::kFloat32, {2, 4}, 1);
  const Tensor b = testing::random_tensor(DType::kFloat32, {3, 4}, 2);
  Result<Tensor> s = clip_similarity(a, b, 2.0f);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->shape(), std::vector<int64_t>({2, 3}));
  double dot = 0;
  for (int k = 0; k < 4; ++k) dot += a.data<float>()[4 + k] * b.data<float>()[2 * 4 + k];
  EXPECT_NEAR(s->data<float>()[1 * 3 + 2], 2 * dot, 1e-5);

  Result<Tensor> bad = clip_similarity(a, testing::random_tensor(DType::kFloat32, {3, 5}, 3), 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("embedding sizes differ"), std::string::npos);
  Result<Tensor> rank1 = clip_similarity(a, testing::random_tensor(DType::kFloat32, {4}, 3), 1);
  ASSERT_FALSE(rank1.ok());
  EXPECT_NE(rank1.status().message().find("second embeddings"), std::string::npos);
}

TEST_F(ClipModelTest, BadImagesNameTheFile) {
  auto model = load();
  ASSERT_NE(model, nullptr);
  std::vector<std::string> paths = image_paths();
  const std::string bad = (kImages / "bad_truncated.jpg").string();
  paths.insert(paths.begin() + 1, bad);
  Result<Tensor> embeds = model->embed_image_files(paths);
  ASSERT_FALSE(embeds.ok());
  EXPECT_NE(embeds.status().message().find(bad), std::string::npos) << embeds.status().message();

  Result<Tensor> text = model->preprocess_image("not an image at all", "upload 'x.jpg'");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("upload 'x.jpg'"), std::string::npos);

  const std::string missing = (kImages / "no_such_image.jpg").string();
  Result<Tensor> none = model->embed_image_files({missing});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find(missing), std::string::npos);

  Result<Tensor> wrong = model->embed_pixels(Tensor::zeros(DType::kFloat32, {1, 3, 16, 16}));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("expected float32[N, 3, 32, 32]"), std::string::npos);
}

TEST_F(ClipModelTest, OverLongTextIsAnErrorWithoutTruncation) {
  ClipOptions options;
  options.truncate_texts = false;
  auto model = load(options);
  ASSERT_NE(model, nullptr);
  std::string long_text;
  for (int i = 0; i < 80; ++i) long_text += "cat ";
  Result<Tensor> embeds = model->embed_texts({"a dog", long_text});
  ASSERT_FALSE(embeds.ok());
  const std::string& message = embeds.status().message();
  EXPECT_NE(message.find("text 1 \"cat cat"), std::string::npos) << message;
  EXPECT_NE(message.find("82 tokens"), std::string::npos) << message;  // 80 + start + end
  EXPECT_NE(message.find("context length 77"), std::string::npos) << message;
  // 75 words fit exactly: no error.
  std::string fits;
  for (int i = 0; i < 75; ++i) fits += "cat ";
  EXPECT_TRUE(model->embed_texts({fits}).ok());
}

TEST_F(ClipModelTest, BadTokenIdsAreRejected) {
  auto model = load();
  ASSERT_NE(model, nullptr);
  Result<Tensor> no_end = model->embed_token_ids({{49406, 320, 2368, kEot}, {49406, 320}});
  ASSERT_FALSE(no_end.ok());
  EXPECT_NE(no_end.status().message().find("token sequence 1: does not end with the end token"),
            std::string::npos)
      << no_end.status().message();
  Result<Tensor> too_long = model->embed_token_ids({std::vector<int32_t>(78, kEot)});
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("78 ids"), std::string::npos);
  Result<Tensor> outside = model->embed_token_ids({{49406, 60000, kEot}});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("id 60000 at position 1"), std::string::npos);
}

TEST_F(ClipModelTest, MissingFilesAreNamed) {
  Result<std::shared_ptr<ClipModel>> none = ClipModel::load("/nonexistent/clip_model");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("/nonexistent/clip_model/clip.json"), std::string::npos)
      << none.status().message();

  // The fixture folder itself has the ONNX towers but no plans.
  ClipOptions options;
  options.vocab_path = kVocab;
  Result<std::shared_ptr<ClipModel>> unbuilt = ClipModel::load(kFixture.string(), options);
  ASSERT_FALSE(unbuilt.ok());
  EXPECT_NE(unbuilt.status().message().find("vitrt build"), std::string::npos)
      << unbuilt.status().message();

  options.vocab_path = "/nonexistent/vocab.txt.gz";
  Result<std::shared_ptr<ClipModel>> no_vocab = ClipModel::load(dir_->string(), options);
  ASSERT_FALSE(no_vocab.ok());
  EXPECT_NE(no_vocab.status().message().find("/nonexistent/vocab.txt.gz"), std::string::npos);
}

TEST_F(ClipModelTest, ConcurrentCallsAgree) {
  ClipOptions options;
  options.max_batch = 4;
  auto model = load(options);
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = read_json_strings(kFixture / "texts.json");
  Result<Tensor> serial = model->embed_texts(texts);
  ASSERT_TRUE(serial.ok());
  std::vector<Result<Tensor>> results(4, Result<Tensor>(internal_error("not run")));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] { results[t] = model->embed_texts(texts); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Result<Tensor>& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_TRUE(testing::tensors_close(*r, *serial, {0, 0}));
  }
}

TEST_F(ClipModelTest, ReportsProgressPerBatch) {
  std::vector<std::pair<int64_t, int64_t>> calls;
  ClipOptions options;
  options.max_batch = 2;
  options.progress = [&](int64_t done, int64_t total) { calls.emplace_back(done, total); };
  auto model = load(options);
  ASSERT_NE(model, nullptr);
  ASSERT_TRUE(model->embed_image_files(image_paths()).ok());
  EXPECT_EQ(calls, (std::vector<std::pair<int64_t, int64_t>>{{2, 5}, {4, 5}, {5, 5}}));
}

}  // namespace
}  // namespace vitrt
