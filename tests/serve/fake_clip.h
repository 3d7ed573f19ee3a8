// FakeClip: a ClipModel whose embeddings a test can predict, for the /v1 endpoint tests
// (clip_endpoints_test.cc, and fake_clip_server.cc for the openai client end to end).
#pragma once

#include <atomic>
#include <cmath>
#include <mutex>
#include <vector>

#include "vitrt/clip.h"

namespace vitrt::serve::testing {

// Embeddings a test can predict: a text of k bytes embeds to e_(k mod 4); an image whose first
// byte is b embeds to e_(b mod 4). Images "decode" to [3, 2, 2] filled with their first byte;
// an image starting with 'X' is undecodable.
class FakeClip final : public ClipModel {
 public:
  int64_t embed_dim() const override { return 4; }
  float logit_scale() const override { return 100.0f; }
  int context_length() const override { return 8; }
  std::string device() const override { return device_kind; }
  std::vector<int64_t> image_shape() const override { return {3, 2, 2}; }
  Result<Tensor> preprocess_image(const std::string& bytes,
                                  const std::string& what) const override {
    if (bytes.empty() || bytes[0] == 'X') return invalid_argument(what, ": not an image");
    Tensor t = Tensor::empty(DType::kFloat32, {3, 2, 2});
    for (int i = 0; i < 12; ++i) t.data<float>()[i] = static_cast<unsigned char>(bytes[0]);
    return t;
  }
  Result<std::vector<int32_t>> tokenize(const std::string& text) const override {
    return std::vector<int32_t>(text.begin(), text.end());
  }
  Result<Tensor> embed_pixels(const Tensor& pixels) const override {
    ++tower_runs;
    {
      std::lock_guard<std::mutex> lock(mutex);
      pixel_batches.push_back(pixels.dim(0));
    }
    Tensor out = Tensor::zeros(DType::kFloat32, {pixels.dim(0), 4});
    for (int64_t i = 0; i < pixels.dim(0); ++i) {
      out.data<float>()[i * 4 + static_cast<int64_t>(pixels.data<float>()[i * 12]) % 4] = 1;
    }
    return out;
  }
  Result<Tensor> embed_token_ids(const std::vector<std::vector<int32_t>>& ids) const override {
    ++tower_runs;
    Tensor out = Tensor::zeros(DType::kFloat32, {static_cast<int64_t>(ids.size()), 4});
    for (size_t i = 0; i < ids.size(); ++i) out.data<float>()[i * 4 + ids[i].size() % 4] = 1;
    return out;
  }
  Result<Tensor> embed_image_files(const std::vector<std::string>&) const override {
    return unsupported("not in the fake");
  }
  Result<Tensor> embed_texts(const std::vector<std::string>&) const override {
    return unsupported("not in the fake");
  }
  // Softmax over labels of 10 * cos (kept small: exp must not overflow): the match gets > 0.99.
  Result<Tensor> classify(const Tensor& images, const Tensor& labels) const override {
    Tensor out = Tensor::empty(DType::kFloat32, {images.dim(0), labels.dim(0)});
    for (int64_t i = 0; i < images.dim(0); ++i) {
      double total = 0;
      for (int64_t j = 0; j < labels.dim(0); ++j) {
        float dot = 0;
        for (int k = 0; k < 4; ++k)
          dot += images.data<float>()[i * 4 + k] * labels.data<float>()[j * 4 + k];
        out.data<float>()[i * labels.dim(0) + j] = std::exp(10.0f * dot);
        total += out.data<float>()[i * labels.dim(0) + j];
      }
      for (int64_t j = 0; j < labels.dim(0); ++j) {
        out.data<float>()[i * labels.dim(0) + j] =
            static_cast<float>(out.data<float>()[i * labels.dim(0) + j] / total);
      }
    }
    return out;
  }
  mutable std::atomic<int> tower_runs{0};
  mutable std::mutex mutex;
  mutable std::vector<int64_t> pixel_batches;  // rows of each embed_pixels call
  std::string device_kind = "cpu";  // "cuda": the server spreads it over GPUs as a real one
  int device_index = 0;             // the ClipOptions.device it was loaded with
};

}  // namespace vitrt::serve::testing
