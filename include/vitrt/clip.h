// CLIP end to end: images and texts in, embeddings, similarities and zero-shot labels out.
//
// A CLIP model folder is what python/export_clip.py writes plus the two plans `vitrt build`
// makes from it:
//   clip.json                 logit_scale, embed_dim, tower files, tokenizer settings
//   preprocessor_config.json  HF image-processor settings
//   vision.plan, text.plan    the two towers, built and run separately (each batched on its own)
// The BPE vocabulary is found as the tokenizer finds it (ClipOptions.vocab_path overrides).
//
// Every method is safe to call from several threads at once: each call takes an execution
// context of its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

struct ClipOptions {
  std::string vocab_path;                // empty: the tokenizer's default search
  int64_t max_image_pixels = 178956970;  // decompression-bomb limit (PIL's default)
  int max_batch = 64;                    // images or texts per tower run
  int device = 0;  // the CUDA device both towers load on (CPU plans ignore it)
  // Receives (done, total) after each tower batch, for progress bars (called on the thread
  // that called the embed method).
  std::function<void(int64_t, int64_t)> progress;
  // A text longer than context_length tokens is cut as open_clip cuts it; false makes it an
  // error naming the text and its token count instead.
  bool truncate_texts = true;
  // Pads every text batch to context_length, as open_clip and HF do. Only for comparisons and
  // benchmarks: the embeddings are the same, the work is not.
  bool pad_texts_to_context = false;
};

class ClipModel {
 public:
  virtual ~ClipModel() = default;

  // Loads a CLIP model folder (see above); errors name the missing or malformed file.
  static Result<std::shared_ptr<ClipModel>> load(const std::string& dir,
                                                 const ClipOptions& options = {});

  virtual int64_t embed_dim() const = 0;
  virtual float logit_scale() const = 0;  // exp() already applied
  virtual int context_length() const = 0;
  // Where the towers run: "cpu" or "cuda" (the device kind their plans were built for).
  virtual std::string device() const = 0;
  // The vision tower's input size [3, H, W].
  virtual std::vector<int64_t> image_shape() const = 0;

  // ---- stages, for callers that overlap preprocessing with inference (the server) ----------
  // Decodes one encoded image (JPEG/PNG/WebP/GIF/BMP/TIFF bytes; EXIF orientation applied) and
  // preprocesses it into float32 [3, H, W]. `what` names the image in errors.
  virtual Result<Tensor> preprocess_image(const std::string& encoded_bytes,
                                          const std::string& what) const = 0;
  // Token ids of one text: start, BPE ids, end, *no padding* (length <= context_length;
  // over-long texts truncated as open_clip truncates them).
  virtual Result<std::vector<int32_t>> tokenize(const std::string& text) const = 0;

  // ---- embeddings: float32 [N, embed_dim], L2-normalised ------------------------------------
  // Preprocessed images [N, 3, H, W].
  virtual Result<Tensor> embed_pixels(const Tensor& pixel_values) const = 0;
  // Token id sequences of possibly different lengths (as tokenize() returns them). The text
  // tower runs each batch only up to its longest end token, not padded to context_length:
  // the causal mask makes the padding irrelevant to the pooled token.
  virtual Result<Tensor> embed_token_ids(const std::vector<std::vector<int32_t>>& ids) const = 0;
  // Convenience: files or texts straight to embeddings (decode/tokenize in parallel).
  virtual Result<Tensor> embed_image_files(const std::vector<std::string>& paths) const = 0;
  virtual Result<Tensor> embed_texts(const std::vector<std::string>& texts) const = 0;

  // Zero-shot classification: softmax over labels of logit_scale * cos(image, label), as
  // float32 [N_images, N_labels], from normalised embeddings.
  virtual Result<Tensor> classify(const Tensor& image_embeds, const Tensor& label_embeds) const = 0;
};

// logit_scale * a b^T for L2-normalised a [N, D], b [M, D]: float32 [N, M].
Result<Tensor> clip_similarity(const Tensor& a, const Tensor& b, float logit_scale);

}  // namespace vitrt
