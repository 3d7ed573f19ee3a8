// ClipModel: the two tower plans of a CLIP model folder, its tokenizer and image preprocessing.
//
// The towers run on whatever device their plans were built for (Engine::load_plan decides);
// this file only batches, pads, and normalises.
#include "vitrt/clip.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <utility>

#include "clip/clip_config.h"
#include "core/parallel.h"
#include "text/clip_tokenizer.h"
#include "vision/exif_orientation.h"
#include "vision/image_decode.h"
#include "vision/image_preprocess.h"
#include "vision/preprocessor_config.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

// One tower: its engine and a pool of execution contexts. A context is used by one thread at
// a time; the pool lets concurrent calls each take one without creating a context per call.
class Tower {
 public:
  Tower(std::string name, std::shared_ptr<Engine> engine, clip::ClipTowerConfig config,
        DType input_dtype)
      : name_(std::move(name)),
        engine_(std::move(engine)),
        config_(std::move(config)),
        input_dtype_(input_dtype) {}

  DType input_dtype() const { return input_dtype_; }
  std::string device() const { return engine_->device(); }

  // Runs one batch and writes its rows, L2-normalised, to `out` (rows x embed_dim floats).
  Status run_normalised(const Tensor& input, int64_t embed_dim, float* out) const {
    std::unique_ptr<ExecutionContext> context = acquire();
    Result<std::vector<NamedTensor>> outputs = context->run({{config_.input, input}});
    release(std::move(context));
    if (!outputs.ok()) return outputs.status().with_context(name_ + " tower");
    for (const NamedTensor& output : *outputs) {
      if (output.name != config_.output) continue;
      const Tensor& t = output.tensor;
      if (t.dtype() != DType::kFloat32 || t.rank() != 2 || t.dim(0) != input.dim(0) ||
          t.dim(1) != embed_dim) {
        return invalid_model(name_, " tower: output '", config_.output, "' is ", t.describe(),
                             ", expected float32[", input.dim(0), ", ", embed_dim,
                             "] (embed_dim from clip.json)");
      }
      const float* rows = t.data<float>();
      for (int64_t r = 0; r < t.dim(0); ++r) {
        const float* row = rows + r * embed_dim;
        double sum = 0;
        for (int64_t k = 0; k < embed_dim; ++k) sum += static_cast<double>(row[k]) * row[k];
        // A zero embedding stays zero (its cosine with anything is 0), rather than NaN.
        const double inv = sum > 0 ? 1.0 / std::sqrt(sum) : 0.0;
        for (int64_t k = 0; k < embed_dim; ++k) {
          out[r * embed_dim + k] = static_cast<float>(row[k] * inv);
        }
      }
      return Status::ok_status();
    }
    return internal_error(name_, " tower: the engine did not return output '", config_.output, "'");
  }

 private:
  std::unique_ptr<ExecutionContext> acquire() const {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!idle_.empty()) {
        std::unique_ptr<ExecutionContext> context = std::move(idle_.back());
        idle_.pop_back();
        return context;
      }
    }
    return engine_->create_context();
  }
  void release(std::unique_ptr<ExecutionContext> context) const {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(context));
  }

  std::string name_;
  std::shared_ptr<Engine> engine_;
  clip::ClipTowerConfig config_;
  DType input_dtype_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<ExecutionContext>> idle_;
};

// A dim of TensorInfo::dims that is a number rather than a symbol.
bool is_static_dim(const std::string& dim) {
  return !dim.empty() &&
         std::all_of(dim.begin(), dim.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Loads DIR/<plan> and checks that it has the input and output clip.json names, with the
// expected dtype and rank. `dims` lists the input's expected sizes after the batch dim (-1:
// any); a plan that fixes a dim to another size is refused here rather than at the first run.
Result<std::shared_ptr<Engine>> load_tower_plan(const fs::path& dir, const char* plan_name,
                                                const clip::ClipTowerConfig& config,
                                                const std::vector<DType>& input_dtypes,
                                                const std::vector<int64_t>& dims, int device,
                                                DType* input_dtype) {
  const fs::path path = dir / plan_name;
  if (!fs::exists(path)) {
    return not_found(path.string(), ": no plan; build the model folder first with 'vitrt build ",
                     dir.string(), "'");
  }
  VITRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, Engine::load_plan(path.string(), device));
  const auto& inputs = engine->inputs();
  if (inputs.size() != 1 || inputs[0].name != config.input) {
    return invalid_model(path.string(), ": expected one input '", config.input,
                         "' (clip.json), the plan has ", inputs.size(), " inputs, the first '",
                         inputs.empty() ? "" : inputs[0].name, "'");
  }
  const TensorInfo& input = inputs[0];
  if (std::find(input_dtypes.begin(), input_dtypes.end(), input.dtype) == input_dtypes.end()) {
    return invalid_model(path.string(), ": input '", input.name, "' has dtype ",
                         dtype_name(input.dtype), ", expected ", dtype_name(input_dtypes[0]));
  }
  if (input.dims.size() != dims.size() + 1) {
    return invalid_model(path.string(), ": input '", input.name, "' has rank ", input.dims.size(),
                         ", expected ", dims.size() + 1);
  }
  for (size_t i = 0; i < dims.size(); ++i) {
    const std::string& dim = input.dims[i + 1];
    if (dims[i] >= 0 && is_static_dim(dim) && std::stoll(dim) != dims[i]) {
      return invalid_model(path.string(), ": input '", input.name, "' dim ", i + 1, " is ", dim,
                           ", expected ", dims[i], " (from clip.json or the preprocessor config)");
    }
  }
  const auto& outputs = engine->outputs();
  if (std::none_of(outputs.begin(), outputs.end(),
                   [&](const TensorInfo& o) { return o.name == config.output; })) {
    return invalid_model(path.string(), ": no output '", config.output, "' (clip.json)");
  }
  *input_dtype = input.dtype;
  return engine;
}

// A text for messages: its index and its start, cut at a character boundary.
std::string describe_text(size_t index, const std::string& text) {
  constexpr size_t kShown = 40;
  if (text.size() <= kShown) return str_cat("text ", index, " \"", text, "\"");
  size_t cut = kShown;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return str_cat("text ", index, " \"", text.substr(0, cut), "...\"");
}

class ClipModelImpl final : public ClipModel {
 public:
  ClipModelImpl(clip::ClipConfig config, vision::PreprocessorConfig preprocess,
                text::ClipTokenizer tokenizer, ClipOptions options, std::unique_ptr<Tower> vision,
                std::unique_ptr<Tower> text, bool fixed_text_length)
      : config_(std::move(config)),
        preprocess_(preprocess),
        tokenizer_(std::move(tokenizer)),
        options_(std::move(options)),
        vision_(std::move(vision)),
        text_(std::move(text)),
        fixed_text_length_(fixed_text_length) {
    decode_.max_pixels = options_.max_image_pixels;
  }

  int64_t embed_dim() const override { return config_.embed_dim; }
  float logit_scale() const override { return config_.logit_scale; }
  int context_length() const override { return config_.context_length; }
  std::string device() const override { return vision_->device(); }
  std::vector<int64_t> image_shape() const override {
    return {3, preprocess_.crop_height, preprocess_.crop_width};
  }

  Result<Tensor> preprocess_image(const std::string& encoded_bytes,
                                  const std::string& what) const override {
    VITRT_ASSIGN_OR_RETURN(
        vision::DecodedImage decoded,
        vision::decode_image(reinterpret_cast<const uint8_t*>(encoded_bytes.data()),
                             encoded_bytes.size(), what, decode_));
    const vision::Image upright =
        vision::apply_exif_orientation(std::move(decoded.image), decoded.exif_orientation);
    Result<vision::Image> rgb = vision::preprocess_to_uint8(upright, preprocess_);
    if (!rgb.ok()) return rgb.status().with_context(what);
    const std::vector<int64_t> shape = image_shape();
    if (rgb->height != shape[1] || rgb->width != shape[2]) {
      return invalid_argument(what, ": preprocessed to ", rgb->height, "x", rgb->width,
                              ", but the vision tower takes ", shape[1], "x", shape[2],
                              " (the preprocessor config has no centre crop to that size)");
    }
    Tensor out = Tensor::empty(DType::kFloat32, shape);
    vision::write_pixel_values(*rgb, preprocess_, out.data<float>());
    return out;
  }

  Result<std::vector<int32_t>> tokenize(const std::string& text) const override {
    const int context = config_.context_length;
    // One id more than fits tells an over-long text apart without encoding all of it.
    const size_t fits = static_cast<size_t>(context) - 2;
    VITRT_ASSIGN_OR_RETURN(std::vector<int32_t> bpe, tokenizer_.encode(text, fits + 1));
    if (bpe.size() > fits) {
      if (!options_.truncate_texts) {
        VITRT_ASSIGN_OR_RETURN(std::vector<int32_t> all, tokenizer_.encode(text));
        return invalid_argument("too long: ", all.size() + 2,
                                " tokens with the start and end tokens, more than the context "
                                "length ",
                                context,
                                " (shorten it, or have it cut as open_clip does: --truncate on "
                                "the command line, ClipOptions.truncate_texts in the API)");
      }
      bpe.resize(fits);
    }
    std::vector<int32_t> ids;
    ids.reserve(bpe.size() + 2);
    ids.push_back(config_.sot_token_id);
    ids.insert(ids.end(), bpe.begin(), bpe.end());
    ids.push_back(config_.eot_token_id);
    return ids;
  }

  Result<Tensor> embed_pixels(const Tensor& pixel_values) const override {
    const std::vector<int64_t> shape = image_shape();
    if (pixel_values.dtype() != DType::kFloat32 || pixel_values.rank() != 4 ||
        pixel_values.dim(1) != shape[0] || pixel_values.dim(2) != shape[1] ||
        pixel_values.dim(3) != shape[2]) {
      return invalid_argument("pixel values are ", pixel_values.describe(),
                              ", expected float32[N, ", shape[0], ", ", shape[1], ", ", shape[2],
                              "]");
    }
    const int64_t n = pixel_values.dim(0);
    Tensor out = Tensor::empty(DType::kFloat32, {n, config_.embed_dim});
    const int64_t image_floats = shape_numel(shape);
    // The batches borrow the caller's pixels; the shared copy keeps them alive meanwhile.
    auto owner = std::make_shared<Tensor>(pixel_values);
    for (int64_t begin = 0; begin < n; begin += max_batch()) {
      const int64_t count = std::min(max_batch(), n - begin);
      const Tensor batch = Tensor::borrow(DType::kFloat32, {count, shape[0], shape[1], shape[2]},
                                          owner, pixel_values.data<float>() + begin * image_floats);
      VITRT_RETURN_IF_ERROR(vision_->run_normalised(batch, config_.embed_dim,
                                                    out.data<float>() + begin * config_.embed_dim));
      report(begin + count, n);
    }
    return out;
  }

  Result<Tensor> embed_token_ids(const std::vector<std::vector<int32_t>>& ids) const override {
    const int64_t n = static_cast<int64_t>(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) VITRT_RETURN_IF_ERROR(check_token_ids(i, ids[i]));
    // Batches of similar lengths waste the least padding: sort by length, run, scatter back.
    std::vector<size_t> order(ids.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
    Tensor out = Tensor::empty(DType::kFloat32, {n, config_.embed_dim});
    const int64_t dim = config_.embed_dim;
    std::vector<float> rows;
    for (int64_t begin = 0; begin < n; begin += max_batch()) {
      const int64_t count = std::min(max_batch(), n - begin);
      // The causal mask lets no token see the ones after it, so the pooled end token's output
      // does not depend on what follows it: padding to the batch's longest sequence gives the
      // same embeddings as padding to the context length.
      int64_t seq = ids[order[begin + count - 1]].size();
      if (options_.pad_texts_to_context || fixed_text_length_) seq = config_.context_length;
      Tensor batch = text_ids_tensor(ids, order, begin, count, seq);
      rows.resize(static_cast<size_t>(count * dim));
      VITRT_RETURN_IF_ERROR(text_->run_normalised(batch, dim, rows.data()));
      for (int64_t r = 0; r < count; ++r) {
        std::copy_n(rows.data() + r * dim, dim, out.data<float>() + order[begin + r] * dim);
      }
      report(begin + count, n);
    }
    return out;
  }

  Result<Tensor> embed_image_files(const std::vector<std::string>& paths) const override {
    const int64_t n = static_cast<int64_t>(paths.size());
    Tensor out = Tensor::empty(DType::kFloat32, {n, config_.embed_dim});
    // Decoded a batch at a time, so that memory stays bounded however many files there are.
    for (int64_t begin = 0; begin < n; begin += max_batch()) {
      const int64_t count = std::min(max_batch(), n - begin);
      const std::vector<std::string> chunk(paths.begin() + begin, paths.begin() + begin + count);
      VITRT_ASSIGN_OR_RETURN(Tensor pixels,
                             vision::preprocess_image_files(chunk, preprocess_, decode_));
      if (pixels.dim(2) != image_shape()[1] || pixels.dim(3) != image_shape()[2]) {
        return invalid_argument(chunk[0], ": preprocessed to ", pixels.dim(2), "x", pixels.dim(3),
                                ", but the vision tower takes ", image_shape()[1], "x",
                                image_shape()[2]);
      }
      VITRT_RETURN_IF_ERROR(vision_->run_normalised(pixels, config_.embed_dim,
                                                    out.data<float>() + begin * config_.embed_dim));
      report(begin + count, n);
    }
    return out;
  }

  Result<Tensor> embed_texts(const std::vector<std::string>& texts) const override {
    std::vector<std::vector<int32_t>> ids(texts.size());
    std::vector<Status> errors(texts.size());
    parallel_for(static_cast<int64_t>(texts.size()), 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        Result<std::vector<int32_t>> tokens = tokenize(texts[i]);
        if (tokens.ok()) {
          ids[i] = std::move(*tokens);
        } else {
          errors[i] = tokens.status();
        }
      }
    });
    for (size_t i = 0; i < texts.size(); ++i) {
      if (!errors[i].ok()) return errors[i].with_context(describe_text(i, texts[i]));
    }
    return embed_token_ids(ids);
  }

  Result<Tensor> classify(const Tensor& image_embeds, const Tensor& label_embeds) const override {
    VITRT_ASSIGN_OR_RETURN(Tensor logits,
                           clip_similarity(image_embeds, label_embeds, config_.logit_scale));
    const int64_t rows = logits.dim(0), cols = logits.dim(1);
    float* p = logits.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      float* row = p + r * cols;
      const float top = *std::max_element(row, row + cols);
      double sum = 0;
      for (int64_t c = 0; c < cols; ++c) sum += std::exp(static_cast<double>(row[c]) - top);
      for (int64_t c = 0; c < cols; ++c) {
        row[c] = static_cast<float>(std::exp(static_cast<double>(row[c]) - top) / sum);
      }
    }
    return logits;
  }

 private:
  int64_t max_batch() const { return std::max(options_.max_batch, 1); }

  void report(int64_t done, int64_t total) const {
    if (options_.progress) options_.progress(done, total);
  }

  Status check_token_ids(size_t index, const std::vector<int32_t>& ids) const {
    const auto where = [&] { return str_cat("token sequence ", index, ": "); };
    if (ids.empty() || static_cast<int64_t>(ids.size()) > config_.context_length) {
      return invalid_argument(where(), ids.size(), " ids, expected 1 to ", config_.context_length,
                              " (the context length)");
    }
    // The pooled output is read at the end token; a sequence cut before it would be pooled
    // elsewhere, differently from open_clip.
    if (ids.back() != config_.eot_token_id) {
      return invalid_argument(where(), "does not end with the end token ", config_.eot_token_id,
                              " (as tokenize() returns sequences)");
    }
    for (size_t k = 0; k < ids.size(); ++k) {
      if (ids[k] < 0 || ids[k] >= tokenizer_.vocab_size()) {
        return invalid_argument(where(), "id ", ids[k], " at position ", k,
                                " is outside the vocabulary [0, ", tokenizer_.vocab_size(), ")");
      }
    }
    return Status::ok_status();
  }

  // Rows order[begin .. begin + count) of `ids`, padded with the pad token to `seq`.
  Tensor text_ids_tensor(const std::vector<std::vector<int32_t>>& ids,
                         const std::vector<size_t>& order, int64_t begin, int64_t count,
                         int64_t seq) const {
    Tensor batch = Tensor::empty(text_->input_dtype(), {count, seq});
    for (int64_t r = 0; r < count; ++r) {
      const std::vector<int32_t>& row = ids[order[begin + r]];
      for (int64_t k = 0; k < seq; ++k) {
        const int32_t id = k < static_cast<int64_t>(row.size()) ? row[k] : config_.pad_token_id;
        if (text_->input_dtype() == DType::kInt64) {
          batch.data<int64_t>()[r * seq + k] = id;
        } else {
          batch.data<int32_t>()[r * seq + k] = id;
        }
      }
    }
    return batch;
  }

  clip::ClipConfig config_;
  vision::PreprocessorConfig preprocess_;
  text::ClipTokenizer tokenizer_;
  ClipOptions options_;
  vision::DecodeOptions decode_;
  std::unique_ptr<Tower> vision_;
  std::unique_ptr<Tower> text_;
  // The text plan was exported with a fixed sequence length (the context length): every batch
  // is padded to it.
  bool fixed_text_length_ = false;
};

}  // namespace

Result<std::shared_ptr<ClipModel>> ClipModel::load(const std::string& dir,
                                                   const ClipOptions& options) {
  VITRT_ASSIGN_OR_RETURN(clip::ClipConfig config, clip::read_clip_config(dir));
  const fs::path root(dir);
  VITRT_ASSIGN_OR_RETURN(
      vision::PreprocessorConfig preprocess,
      vision::read_preprocessor_config((root / config.preprocessor_config).string()));
  if (!preprocess.do_center_crop) {
    return unsupported((root / config.preprocessor_config).string(),
                       ": do_center_crop is false; the vision tower needs every image at one "
                       "size, which only the centre crop guarantees");
  }

  std::string vocab = options.vocab_path;
  if (vocab.empty()) {
    if (config.vocab != text::kClipVocabFileName) {
      return unsupported(dir, "/clip.json: tokenizer.vocab '", config.vocab,
                         "' is not CLIP's vocabulary (", text::kClipVocabFileName,
                         "); give its path in ClipOptions.vocab_path");
    }
    VITRT_ASSIGN_OR_RETURN(vocab, text::find_clip_vocab());
  }
  VITRT_ASSIGN_OR_RETURN(text::ClipTokenizer tokenizer, text::ClipTokenizer::load(vocab));
  if (tokenizer.start_token() != config.sot_token_id ||
      tokenizer.end_token() != config.eot_token_id) {
    return invalid_model(dir, "/clip.json: start/end tokens ", config.sot_token_id, "/",
                         config.eot_token_id, " differ from the vocabulary's ",
                         tokenizer.start_token(), "/", tokenizer.end_token(), " (", vocab, ")");
  }

  DType vision_dtype = DType::kUndefined, text_dtype = DType::kUndefined;
  VITRT_ASSIGN_OR_RETURN(
      std::shared_ptr<Engine> vision_engine,
      load_tower_plan(root, clip::kVisionPlanFileName, config.vision, {DType::kFloat32},
                      {3, preprocess.crop_height, preprocess.crop_width}, options.device,
                      &vision_dtype));
  // The sequence dim is dynamic in export_clip.py's exports; a plan that fixes it must fix it
  // to the context length, and then gets every text padded to it.
  VITRT_ASSIGN_OR_RETURN(
      std::shared_ptr<Engine> text_engine,
      load_tower_plan(root, clip::kTextPlanFileName, config.text, {DType::kInt64, DType::kInt32},
                      {config.context_length}, options.device, &text_dtype));
  const bool fixed_text_length = is_static_dim(text_engine->inputs()[0].dims[1]);
  auto vision =
      std::make_unique<Tower>("vision", std::move(vision_engine), config.vision, vision_dtype);
  auto text = std::make_unique<Tower>("text", std::move(text_engine), config.text, text_dtype);
  return std::shared_ptr<ClipModel>(
      std::make_shared<ClipModelImpl>(std::move(config), preprocess, std::move(tokenizer), options,
                                      std::move(vision), std::move(text), fixed_text_length));
}

Result<Tensor> clip_similarity(const Tensor& a, const Tensor& b, float logit_scale) {
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"first", &a},
                                std::pair<const char*, const Tensor*>{"second", &b}}) {
    if (t->dtype() != DType::kFloat32 || t->rank() != 2) {
      return invalid_argument("clip_similarity: the ", name, " embeddings are ", t->describe(),
                              ", expected float32[N, D]");
    }
  }
  if (a.dim(1) != b.dim(1)) {
    return invalid_argument("clip_similarity: embedding sizes differ: ", a.describe(), " and ",
                            b.describe());
  }
  const int64_t n = a.dim(0), m = b.dim(0), d = a.dim(1);
  Tensor out = Tensor::empty(DType::kFloat32, {n, m});
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  float* po = out.data<float>();
  parallel_for(n * m, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* x = pa + (i / m) * d;
      const float* y = pb + (i % m) * d;
      double dot = 0;
      for (int64_t k = 0; k < d; ++k) dot += static_cast<double>(x[k]) * y[k];
      po[i] = static_cast<float>(logit_scale * dot);
    }
  });
  return out;
}

}  // namespace vitrt
