// clip.json parsing with nlohmann::json, every field type-checked.
#include "clip/clip_config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace vitrt::clip {
namespace {

using nlohmann::json;

// Walks a dotted path ("text.context_length") through nested objects; null when absent.
const json* find_field(const json& root, const std::string& path) {
  const json* node = &root;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!node->is_object()) return nullptr;
    auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

class FieldReader {
 public:
  FieldReader(const json& root, std::string source) : root_(root), source_(std::move(source)) {}

  Result<std::string> string(const std::string& path, const std::string& fallback = "") const {
    const json* field = find_field(root_, path);
    if (field == nullptr) {
      if (!fallback.empty()) return fallback;
      return error(path, "missing");
    }
    if (!field->is_string() || field->get_ref<const std::string&>().empty()) {
      return error(path, "expected a non-empty string");
    }
    return field->get<std::string>();
  }

  Result<int64_t> integer(const std::string& path, int64_t min_value, int64_t max_value) const {
    const json* field = find_field(root_, path);
    if (field == nullptr) return error(path, "missing");
    if (!field->is_number_integer()) return error(path, "expected an integer");
    const int64_t value = field->get<int64_t>();
    if (value < min_value || value > max_value) {
      return error(
          path, str_cat("expected an integer in [", min_value, ", ", max_value, "], got ", value));
    }
    return value;
  }

  Result<double> positive_number(const std::string& path) const {
    const json* field = find_field(root_, path);
    if (field == nullptr) return error(path, "missing");
    if (!field->is_number() || !(field->get<double>() > 0)) {
      return error(path, "expected a positive number");
    }
    return field->get<double>();
  }

  Status error(const std::string& path, const std::string& what) const {
    return invalid_model(source_, ": ", path, ": ", what);
  }

 private:
  const json& root_;
  std::string source_;
};

constexpr const char* kFormat = "vitrt-clip/1";

}  // namespace

Result<ClipConfig> parse_clip_config(const std::string& json_text, const std::string& source) {
  const json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return invalid_model(source,
                         ": not a JSON object (expected clip.json as written by "
                         "python/export_clip.py)");
  }
  const FieldReader reader(root, source);
  VITRT_ASSIGN_OR_RETURN(std::string format, reader.string("format"));
  if (format != kFormat) {
    return reader.error("format", str_cat("expected '", kFormat, "', got '", format, "'"));
  }
  ClipConfig config;
  VITRT_ASSIGN_OR_RETURN(double logit_scale, reader.positive_number("logit_scale"));
  config.logit_scale = static_cast<float>(logit_scale);
  VITRT_ASSIGN_OR_RETURN(config.embed_dim, reader.integer("embed_dim", 1, int64_t{1} << 20));
  VITRT_ASSIGN_OR_RETURN(config.vision.onnx, reader.string("vision.onnx"));
  VITRT_ASSIGN_OR_RETURN(config.vision.input, reader.string("vision.input"));
  VITRT_ASSIGN_OR_RETURN(config.vision.output, reader.string("vision.output"));
  VITRT_ASSIGN_OR_RETURN(config.preprocessor_config,
                         reader.string("vision.preprocessor_config", "preprocessor_config.json"));
  VITRT_ASSIGN_OR_RETURN(config.text.onnx, reader.string("text.onnx"));
  VITRT_ASSIGN_OR_RETURN(config.text.input, reader.string("text.input"));
  VITRT_ASSIGN_OR_RETURN(config.text.output, reader.string("text.output"));
  VITRT_ASSIGN_OR_RETURN(std::string tokenizer, reader.string("tokenizer.type", "clip_bpe"));
  if (tokenizer != "clip_bpe") {
    return unsupported(source, ": tokenizer.type '", tokenizer,
                       "': vitrt has CLIP's byte-level BPE tokenizer only ('clip_bpe')");
  }
  // Two tokens at least: the start and the end token.
  VITRT_ASSIGN_OR_RETURN(int64_t context_length,
                         reader.integer("tokenizer.context_length", 2, 1 << 20));
  config.context_length = static_cast<int>(context_length);
  constexpr int64_t kMaxId = (int64_t{1} << 31) - 1;
  VITRT_ASSIGN_OR_RETURN(int64_t sot, reader.integer("tokenizer.sot_token_id", 0, kMaxId));
  VITRT_ASSIGN_OR_RETURN(int64_t eot, reader.integer("tokenizer.eot_token_id", 0, kMaxId));
  VITRT_ASSIGN_OR_RETURN(int64_t pad, reader.integer("tokenizer.pad_token_id", 0, kMaxId));
  config.sot_token_id = static_cast<int32_t>(sot);
  config.eot_token_id = static_cast<int32_t>(eot);
  config.pad_token_id = static_cast<int32_t>(pad);
  VITRT_ASSIGN_OR_RETURN(config.vocab,
                         reader.string("tokenizer.vocab", "bpe_simple_vocab_16e6.txt.gz"));
  return config;
}

Result<ClipConfig> read_clip_config(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / kClipConfigFileName).string();
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return not_found(path,
                     ": cannot open (a CLIP model folder holds clip.json, written by "
                     "python/export_clip.py)");
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return io_error(path, ": read error");
  return parse_clip_config(text.str(), path);
}

}  // namespace vitrt::clip
