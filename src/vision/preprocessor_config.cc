// preprocessor_config.json parsing with nlohmann::json, every field type-checked.
#include "vision/preprocessor_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace vitrt::vision {
namespace {

using nlohmann::json;

Status read_bool(const json& root, const char* key, bool* out, const std::string& source) {
  if (!root.contains(key) || root[key].is_null()) return Status::ok_status();
  if (!root[key].is_boolean()) {
    return invalid_argument(source, ": '", key, "' must be true or false, got ", root[key].dump());
  }
  *out = root[key].get<bool>();
  return Status::ok_status();
}

Result<int> positive_int(const json& value, const std::string& field, const std::string& source) {
  if (!value.is_number_integer() || value.get<int64_t>() <= 0 ||
      value.get<int64_t>() > (int64_t{1} << 20)) {
    return invalid_argument(source, ": '", field, "' must be a positive integer, got ",
                            value.dump());
  }
  return static_cast<int>(value.get<int64_t>());
}

// "size": {"shortest_edge": N} | {"height": H, "width": W} | N (old files: a square or the
// shortest edge, by the class's default_to_square).
Status read_size(const json& root, PreprocessorConfig* config, const std::string& source,
                 bool int_size_square) {
  if (!root.contains("size") || root["size"].is_null()) return Status::ok_status();
  const json& size = root["size"];
  if (size.is_number()) {
    VITRT_ASSIGN_OR_RETURN(const int n, positive_int(size, "size", source));
    config->shortest_edge = n;
    config->resize_height = config->resize_width = int_size_square ? n : 0;
    return Status::ok_status();
  }
  if (size.is_object() && size.contains("longest_edge")) {
    return unsupported(source,
                       ": 'size.longest_edge' is not supported (expected shortest_edge, "
                       "or height and width)");
  }
  if (size.is_object() && size.contains("shortest_edge")) {
    VITRT_ASSIGN_OR_RETURN(config->shortest_edge,
                           positive_int(size["shortest_edge"], "size.shortest_edge", source));
    config->resize_height = config->resize_width = 0;
    return Status::ok_status();
  }
  if (size.is_object() && size.contains("height") && size.contains("width")) {
    VITRT_ASSIGN_OR_RETURN(config->resize_height,
                           positive_int(size["height"], "size.height", source));
    VITRT_ASSIGN_OR_RETURN(config->resize_width, positive_int(size["width"], "size.width", source));
    return Status::ok_status();
  }
  return invalid_argument(source,
                          ": 'size' must be an integer or an object with shortest_edge, "
                          "or height and width; got ",
                          size.dump());
}

// "crop_size": {"height": H, "width": W} | N (a square).
Status read_crop_size(const json& root, PreprocessorConfig* config, const std::string& source) {
  if (!root.contains("crop_size") || root["crop_size"].is_null()) return Status::ok_status();
  const json& crop = root["crop_size"];
  if (crop.is_number()) {
    VITRT_ASSIGN_OR_RETURN(config->crop_height, positive_int(crop, "crop_size", source));
    config->crop_width = config->crop_height;
    return Status::ok_status();
  }
  if (crop.is_object() && crop.contains("height") && crop.contains("width")) {
    VITRT_ASSIGN_OR_RETURN(config->crop_height,
                           positive_int(crop["height"], "crop_size.height", source));
    VITRT_ASSIGN_OR_RETURN(config->crop_width,
                           positive_int(crop["width"], "crop_size.width", source));
    return Status::ok_status();
  }
  return invalid_argument(source,
                          ": 'crop_size' must be an integer or an object with height "
                          "and width; got ",
                          crop.dump());
}

// image_mean / image_std: three numbers, or one for every channel.
Status read_channel_values(const json& root, const char* key, std::array<float, 3>* out,
                           bool must_be_nonzero, const std::string& source) {
  if (!root.contains(key) || root[key].is_null()) return Status::ok_status();
  const json& v = root[key];
  std::array<double, 3> values{};
  if (v.is_number()) {
    values.fill(v.get<double>());
  } else if (v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() &&
             v[2].is_number()) {
    for (int i = 0; i < 3; ++i) values[i] = v[i].get<double>();
  } else {
    return invalid_argument(source, ": '", key, "' must be a number or a list of 3 numbers, got ",
                            v.dump());
  }
  for (int i = 0; i < 3; ++i) {
    if (must_be_nonzero && values[i] == 0.0) {
      return invalid_argument(source, ": '", key, "' must not contain 0, got ", v.dump());
    }
    // HF normalizes in float32: the values are rounded to float as numpy's astype does.
    (*out)[i] = static_cast<float>(values[i]);
  }
  return Status::ok_status();
}

// How a transformers image processor class reads its fields, and its defaults (transformers
// 4.5x/5.x, the PIL backends).
enum class ResizeRule {
  kPlain,       // resize, then the optional centre crop
  kConvNext,    // below 384: shortest edge / crop_pct, then a crop to the shortest edge
  kPoolFormer,  // the resize size divided by crop_pct, then the crop
  kLevit,       // the shortest edge times 256 / 224, then the crop
};

struct ProcessorClass {
  const char* name;
  bool int_size_square;  // an integer "size" is height = width (else the shortest edge)
  int shortest_edge;     // default size: a shortest edge, or (when 0) height x width below
  int height, width;
  int resample;  // PIL filter number
  bool do_center_crop;
  int crop;  // square
  std::array<float, 3> mean, std;
  bool do_normalize;
  ResizeRule rule;
  double crop_pct;
  bool flip_channel_order;
  bool include_top = false;  // EfficientNet's default; only that class reads the field
};

constexpr std::array<float, 3> kHalf = {0.5f, 0.5f, 0.5f};
constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};
constexpr std::array<float, 3> kImageNetMean = {0.485f, 0.456f, 0.406f};
constexpr std::array<float, 3> kImageNetStd = {0.229f, 0.224f, 0.225f};

// clang-format off
constexpr ProcessorClass kClasses[] = {
  // name                     square  edge  h    w   rs  crop   size mean           std           norm  rule                   crop_pct   flip
  {"ViTImageProcessor",        true,   0,  224, 224, 2, false, 224, kHalf,         kHalf,         true, ResizeRule::kPlain,      0.0,       false},
  {"DeiTImageProcessor",       true,   0,  256, 256, 3, true,  224, kHalf,         kHalf,         true, ResizeRule::kPlain,      0.0,       false},
  {"BeitImageProcessor",       true,   0,  224, 224, 3, false, 224, kHalf,         kHalf,         true, ResizeRule::kPlain,      0.0,       false},
  {"SegformerImageProcessor",  true,   0,  512, 512, 2, false, 224, kImageNetMean, kImageNetStd,  true, ResizeRule::kPlain,      0.0,       false},
  {"DPTImageProcessor",        true,   0,  384, 384, 3, false, 224, kHalf,         kHalf,         true, ResizeRule::kPlain,      0.0,       false},
  {"EfficientNetImageProcessor", true, 0,  346, 346, 3, false, 289, kHalf,         kHalf,         true, ResizeRule::kPlain,      0.0,       false, true},
  {"CLIPImageProcessor",       false, 224,   0,   0, 3, true,  224, kClipMean,     kClipStd,      true, ResizeRule::kPlain,      0.0,       false},
  {"ChineseCLIPImageProcessor", false, 224,  0,   0, 3, true,  224, kClipMean,     kClipStd,      true, ResizeRule::kPlain,      0.0,       false},
  {"BitImageProcessor",        false, 224,   0,   0, 3, true,  224, kClipMean,     kClipStd,      true, ResizeRule::kPlain,      0.0,       false},
  {"SiglipImageProcessor",     false,   0, 224, 224, 3, false, 224, kHalf,         kHalf,         true, ResizeRule::kPlain,      0.0,       false},
  {"MobileNetV1ImageProcessor", false, 256,  0,   0, 2, true,  224, kHalf,         kHalf,         true, ResizeRule::kPlain,      0.0,       false},
  {"MobileNetV2ImageProcessor", false, 256,  0,   0, 2, true,  224, kHalf,         kHalf,         true, ResizeRule::kPlain,      0.0,       false},
  {"MobileViTImageProcessor",  false, 224,   0,   0, 3, true,  256, kHalf,         kHalf,         false, ResizeRule::kPlain,     0.0,       true},
  {"ConvNextImageProcessor",   false, 384,   0,   0, 3, false, 224, kHalf,         kHalf,         true, ResizeRule::kConvNext,   224.0 / 256.0, false},
  {"PoolFormerImageProcessor", false, 224,   0,   0, 3, true,  224, kImageNetMean, kImageNetStd,  true, ResizeRule::kPoolFormer, 0.9,       false},
  {"LevitImageProcessor",      false, 224,   0,   0, 3, true,  224, kImageNetMean, kImageNetStd,  true, ResizeRule::kLevit,      0.0,       false},
};
// clang-format on

// The class a file names: "ViTFeatureExtractor" and "ViTImageProcessorFast" both mean
// ViTImageProcessor. Null when it names none or one not in the table.
const ProcessorClass* processor_class(const json& root) {
  std::string name;
  for (const char* key : {"image_processor_type", "feature_extractor_type"}) {
    if (name.empty() && root.contains(key) && root[key].is_string()) {
      name = root[key].get<std::string>();
    }
  }
  const auto replace_suffix = [&](const std::string& from, const std::string& to) {
    if (name.size() >= from.size() &&
        name.compare(name.size() - from.size(), from.size(), from) == 0) {
      name = name.substr(0, name.size() - from.size()) + to;
    }
  };
  replace_suffix("Fast", "");
  replace_suffix("FeatureExtractor", "ImageProcessor");
  for (const ProcessorClass& c : kClasses) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

PreprocessorConfig defaults_of(const ProcessorClass& c) {
  PreprocessorConfig config;
  config.shortest_edge = c.shortest_edge > 0 ? c.shortest_edge : 224;
  config.resize_height = c.shortest_edge > 0 ? 0 : c.height;
  config.resize_width = c.shortest_edge > 0 ? 0 : c.width;
  auto filter = resample_filter_from_pil(c.resample);
  if (filter.ok()) config.resample = *filter;
  config.do_center_crop = c.do_center_crop;
  config.crop_height = config.crop_width = c.crop;
  config.image_mean = c.mean;
  config.image_std = c.std;
  config.do_normalize = c.do_normalize;
  config.flip_channel_order = c.flip_channel_order;
  config.include_top = c.include_top;
  return config;
}

// Folds a class's own resize rule into the plain resize-then-crop fields.
Status apply_resize_rule(const ProcessorClass& c, const json& root, PreprocessorConfig* config,
                         const std::string& source) {
  double crop_pct = c.crop_pct;
  if (root.contains("crop_pct")) {
    if (root["crop_pct"].is_null()) {
      crop_pct = 0.0;
    } else if (!root["crop_pct"].is_number() || !(root["crop_pct"].get<double>() > 0.0)) {
      return invalid_argument(source, ": 'crop_pct' must be a number > 0, got ",
                              root["crop_pct"].dump());
    } else {
      crop_pct = root["crop_pct"].get<double>();
    }
  }
  switch (c.rule) {
    case ResizeRule::kPlain:
      break;
    case ResizeRule::kConvNext: {
      if (config->resize_height > 0) {
        return invalid_argument(source, ": ", c.name, " takes 'size' as a shortest edge");
      }
      if (!(crop_pct > 0.0)) {
        return invalid_argument(source, ": ", c.name, " needs 'crop_pct'");
      }
      const int s = config->shortest_edge;
      if (s < 384) {
        config->shortest_edge = static_cast<int>(s / crop_pct);
        config->do_center_crop = true;
        config->crop_height = config->crop_width = s;
      } else {
        config->resize_height = config->resize_width = s;
        config->do_center_crop = false;
      }
      break;
    }
    case ResizeRule::kPoolFormer:
      if (crop_pct > 0.0) {
        if (config->resize_height == 0) {
          config->shortest_edge = static_cast<int>(config->shortest_edge / crop_pct);
        } else if (config->resize_height == config->resize_width) {
          config->shortest_edge = static_cast<int>(config->resize_height / crop_pct);
          config->resize_height = config->resize_width = 0;
        } else {
          config->resize_height = static_cast<int>(config->resize_height / crop_pct);
          config->resize_width = static_cast<int>(config->resize_width / crop_pct);
        }
      }
      break;
    case ResizeRule::kLevit:
      if (config->resize_height == 0) {
        config->shortest_edge = static_cast<int>((256.0 / 224.0) * config->shortest_edge);
      }
      break;
  }
  return Status::ok_status();
}

// ---- timm and open_clip ---------------------------------------------------------------------

// A field that resolve_data_config / PreprocessCfg takes only when truthy (Python's `if
// cfg.get(key)`): absent, null, 0, "", [] all mean the default.
bool truthy(const json& root, const char* key) {
  if (!root.contains(key)) return false;
  const json& v = root[key];
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0.0;
  if (v.is_string() || v.is_array() || v.is_object()) return !v.empty();
  return true;
}

// An image size: an integer (a square) or [H, W] (timm's input_size is [C, H, W]).
Result<std::pair<int, int>> read_hw(const json& v, const std::string& field, bool with_channels,
                                    const std::string& source) {
  if (v.is_number_integer()) {
    VITRT_ASSIGN_OR_RETURN(const int n, positive_int(v, field, source));
    return std::pair<int, int>{n, n};
  }
  const size_t n = with_channels ? 3 : 2;
  if (!v.is_array() || v.size() != n) {
    return invalid_argument(
        source, ": '", field, "' must be ",
        with_channels ? "[channels, height, width]" : "an integer or [height, width]", ", got ",
        v.dump());
  }
  if (with_channels) {
    VITRT_ASSIGN_OR_RETURN(const int channels, positive_int(v[0], field + "[0]", source));
    if (channels != 3) {
      return unsupported(source, ": '", field, "' has ", channels,
                         " channels; image preprocessing gives 3 (RGB)");
    }
  }
  VITRT_ASSIGN_OR_RETURN(const int h, positive_int(v[n - 2], field, source));
  VITRT_ASSIGN_OR_RETURN(const int w, positive_int(v[n - 1], field, source));
  return std::pair<int, int>{h, w};
}

// timm's interpolation names (str_to_interp_mode); open_clip accepts bicubic and bilinear.
Result<ResampleFilter> read_interpolation(const json& root, const char* key,
                                          const char* default_name, bool open_clip,
                                          const std::string& source) {
  std::string name = default_name;
  if (truthy(root, key)) {
    if (!root[key].is_string()) {
      return invalid_argument(source, ": '", key, "' must be a string, got ", root[key].dump());
    }
    name = root[key].get<std::string>();
  }
  // open_clip: "random" is a training option; at inference it is bicubic.
  if (open_clip && name == "random") return ResampleFilter::kBicubic;
  static const std::pair<const char*, ResampleFilter> kNames[] = {
      {"bicubic", ResampleFilter::kBicubic},
      {"bilinear", ResampleFilter::kBilinear},
      {"lanczos", ResampleFilter::kLanczos},
      {"box", ResampleFilter::kBox},
      {"hamming", ResampleFilter::kHamming}};
  for (const auto& [known, filter] : kNames) {
    if (name == known &&
        (!open_clip || filter == ResampleFilter::kBicubic || filter == ResampleFilter::kBilinear)) {
      return filter;
    }
  }
  return unsupported(
      source, ": interpolation '", name, "' is not supported (expected ",
      open_clip ? "bicubic, bilinear or random" : "bicubic, bilinear, lanczos, box or hamming",
      ")");
}

PreprocessorConfig torchvision_base(const char* kind) {
  PreprocessorConfig config;
  config.torchvision = true;
  config.source_kind = kind;
  config.do_convert_rgb = true;  // PIL convert("RGB")
  config.do_resize = true;
  config.do_center_crop = true;
  config.do_rescale = true;  // ToTensor
  config.rescale_factor = 1.0 / 255.0;
  config.do_normalize = true;
  return config;
}

// timm's eval transform (transforms_imagenet_eval) for the data config resolve_data_config
// makes of `cfg` (a pretrained_cfg): input_size (3, 224, 224), bicubic, ImageNet mean/std,
// crop_pct 0.875 and crop_mode "center" unless the config says otherwise.
Result<PreprocessorConfig> parse_timm(const json& cfg, const std::string& source) {
  PreprocessorConfig config = torchvision_base("timm");
  std::pair<int, int> size{224, 224};
  if (cfg.contains("input_size") && !cfg["input_size"].is_null()) {
    VITRT_ASSIGN_OR_RETURN(size, read_hw(cfg["input_size"], "input_size", true, source));
  }
  VITRT_ASSIGN_OR_RETURN(config.resample,
                         read_interpolation(cfg, "interpolation", "bicubic", false, source));
  config.image_mean = kImageNetMean;
  config.image_std = kImageNetStd;
  if (truthy(cfg, "mean")) {
    VITRT_RETURN_IF_ERROR(read_channel_values(cfg, "mean", &config.image_mean, false, source));
  }
  if (truthy(cfg, "std")) {
    VITRT_RETURN_IF_ERROR(read_channel_values(cfg, "std", &config.image_std, true, source));
  }
  double crop_pct = 0.875;
  if (truthy(cfg, "crop_pct")) {
    if (!cfg["crop_pct"].is_number() || !(cfg["crop_pct"].get<double>() > 0.0)) {
      return invalid_argument(source, ": 'crop_pct' must be a number > 0, got ",
                              cfg["crop_pct"].dump());
    }
    crop_pct = cfg["crop_pct"].get<double>();
  }
  std::string crop_mode = "center";
  if (truthy(cfg, "crop_mode")) {
    if (!cfg["crop_mode"].is_string()) {
      return invalid_argument(source, ": 'crop_mode' must be a string, got ",
                              cfg["crop_mode"].dump());
    }
    crop_mode = cfg["crop_mode"].get<std::string>();
  }
  // math.floor(x / crop_pct) in float64.
  const int scale_h = static_cast<int>(std::floor(size.first / crop_pct));
  const int scale_w = static_cast<int>(std::floor(size.second / crop_pct));
  if (scale_h <= 0 || scale_w <= 0 || scale_h > (1 << 20) || scale_w > (1 << 20)) {
    return invalid_argument(source, ": input_size / crop_pct gives a resize of ", scale_h, "x",
                            scale_w);
  }
  config.crop_height = size.first;
  config.crop_width = size.second;
  if (crop_mode == "center") {
    if (scale_h == scale_w) {
      config.shortest_edge = scale_h;  // torchvision Resize(int)
    } else {
      config.keep_ratio_height = scale_h;
      config.keep_ratio_width = scale_w;
    }
  } else if (crop_mode == "squash") {
    config.resize_height = scale_h;
    config.resize_width = scale_w;
  } else if (crop_mode == "border") {
    config.keep_ratio_height = scale_h;
    config.keep_ratio_width = scale_w;
    config.keep_ratio_longest = true;
    for (int c = 0; c < 3; ++c) {  // fill = [round(255 * v) for v in mean]
      config.pad_fill[c] = static_cast<uint8_t>(std::clamp(
          std::nearbyint(255.0 * static_cast<double>(config.image_mean[c])), 0.0, 255.0));
    }
  } else {
    return unsupported(source, ": crop_mode '", crop_mode,
                       "' is not supported (expected center, squash or border)");
  }
  return config;
}

// open_clip's image_transform(is_train=False) for open_clip_config.json: the size is the vision
// tower's image_size (model_cfg.vision_cfg), the rest from preprocess_cfg over PreprocessCfg's
// defaults (OpenAI mean/std, bicubic, resize_mode "shortest", fill_color 0).
Result<PreprocessorConfig> parse_open_clip(const json& root, const std::string& source) {
  PreprocessorConfig config = torchvision_base("open_clip");
  const json empty = json::object();
  const json& pp = root.contains("preprocess_cfg") && root["preprocess_cfg"].is_object()
                       ? root["preprocess_cfg"]
                       : empty;
  std::pair<int, int> size{224, 224};
  const json* image_size = nullptr;
  if (root.contains("model_cfg") && root["model_cfg"].is_object() &&
      root["model_cfg"].contains("vision_cfg") && root["model_cfg"]["vision_cfg"].is_object() &&
      root["model_cfg"]["vision_cfg"].contains("image_size")) {
    image_size = &root["model_cfg"]["vision_cfg"]["image_size"];
  } else if (pp.contains("size")) {
    image_size = &pp["size"];
  }
  if (image_size != nullptr) {
    VITRT_ASSIGN_OR_RETURN(size, read_hw(*image_size, "image_size", false, source));
  }
  VITRT_ASSIGN_OR_RETURN(config.resample,
                         read_interpolation(pp, "interpolation", "bicubic", true, source));
  if (truthy(pp, "mean")) {
    VITRT_RETURN_IF_ERROR(read_channel_values(pp, "mean", &config.image_mean, false, source));
  }
  if (truthy(pp, "std")) {
    VITRT_RETURN_IF_ERROR(read_channel_values(pp, "std", &config.image_std, true, source));
  }
  std::string mode = "shortest";
  if (truthy(pp, "resize_mode")) {
    if (!pp["resize_mode"].is_string()) {
      return invalid_argument(source, ": 'resize_mode' must be a string, got ",
                              pp["resize_mode"].dump());
    }
    mode = pp["resize_mode"].get<std::string>();
  }
  if (pp.contains("mode") && !pp["mode"].is_null() && pp["mode"] != "RGB") {
    return unsupported(source, ": preprocess_cfg.mode ", pp["mode"].dump(),
                       " is not supported (expected \"RGB\")");
  }
  config.crop_height = size.first;
  config.crop_width = size.second;
  if (mode == "shortest") {
    if (size.first == size.second) {
      config.shortest_edge = size.first;
    } else {  // ResizeKeepRatio(image_size): its own default, bicubic
      config.keep_ratio_height = size.first;
      config.keep_ratio_width = size.second;
      config.resample = ResampleFilter::kBicubic;
    }
  } else if (mode == "squash") {
    config.resize_height = size.first;
    config.resize_width = size.second;
    config.do_center_crop = false;
  } else if (mode == "longest") {
    config.keep_ratio_height = size.first;
    config.keep_ratio_width = size.second;
    config.keep_ratio_longest = true;
    if (pp.contains("fill_color") && !pp["fill_color"].is_null()) {
      if (!pp["fill_color"].is_number_integer() || pp["fill_color"].get<int64_t>() < 0 ||
          pp["fill_color"].get<int64_t>() > 255) {
        return invalid_argument(source, ": 'fill_color' must be an integer 0-255, got ",
                                pp["fill_color"].dump());
      }
      config.pad_fill.fill(static_cast<uint8_t>(pp["fill_color"].get<int>()));
    }
  } else {
    return unsupported(source, ": resize_mode '", mode,
                       "' is not supported (expected shortest, longest or squash)");
  }
  return config;
}

}  // namespace

Result<PreprocessorConfig> parse_preprocessor_config(const std::string& json_text,
                                                     const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return invalid_argument(source, ": not valid JSON: ", e.what());
  }
  if (!root.is_object()) return invalid_argument(source, ": expected a JSON object");
  // timm: a model's config.json (architecture, num_classes, pretrained_cfg), or the
  // pretrained_cfg dictionary itself.
  if (root.contains("pretrained_cfg")) {
    if (!root["pretrained_cfg"].is_object()) {
      return invalid_argument(source, ": 'pretrained_cfg' must be an object, got ",
                              root["pretrained_cfg"].dump());
    }
    return parse_timm(root["pretrained_cfg"], source);
  }
  const bool hf_keys = root.contains("image_processor_type") ||
                       root.contains("feature_extractor_type") || root.contains("size") ||
                       root.contains("crop_size") || root.contains("image_mean");
  if (!hf_keys && root.contains("input_size") &&
      (root.contains("crop_pct") || root.contains("interpolation") || root.contains("mean"))) {
    return parse_timm(root, source);
  }
  // open_clip: open_clip_config.json.
  if (root.contains("preprocess_cfg") || root.contains("model_cfg")) {
    return parse_open_clip(root, source);
  }
  // Every field has a default, so an unrelated JSON file (a model's config.json, say) would
  // otherwise pass silently as CLIP's settings.
  bool has_any_field = false;
  for (const char* key : {"do_convert_rgb", "do_resize", "size", "resample", "do_center_crop",
                          "crop_size", "do_rescale", "rescale_factor", "do_normalize", "image_mean",
                          "image_std", "image_processor_type", "feature_extractor_type"}) {
    has_any_field = has_any_field || root.contains(key);
  }
  if (!has_any_field) {
    return invalid_argument(source,
                            ": no image preprocessing fields (size, crop_size, image_mean, ...; "
                            "timm's pretrained_cfg; open_clip's preprocess_cfg); is this a "
                            "preprocessor_config.json, a timm config.json or an "
                            "open_clip_config.json?");
  }
  const ProcessorClass* cls = processor_class(root);
  PreprocessorConfig config = cls != nullptr ? defaults_of(*cls) : PreprocessorConfig{};
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_convert_rgb", &config.do_convert_rgb, source));
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_resize", &config.do_resize, source));
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_center_crop", &config.do_center_crop, source));
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_rescale", &config.do_rescale, source));
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_normalize", &config.do_normalize, source));
  VITRT_RETURN_IF_ERROR(
      read_bool(root, "do_flip_channel_order", &config.flip_channel_order, source));
  if (cls != nullptr && std::string(cls->name) == "EfficientNetImageProcessor") {
    VITRT_RETURN_IF_ERROR(read_bool(root, "rescale_offset", &config.rescale_offset, source));
    VITRT_RETURN_IF_ERROR(read_bool(root, "include_top", &config.include_top, source));
  }
  VITRT_RETURN_IF_ERROR(read_size(root, &config, source, cls != nullptr && cls->int_size_square));
  VITRT_RETURN_IF_ERROR(read_crop_size(root, &config, source));
  if (cls != nullptr) VITRT_RETURN_IF_ERROR(apply_resize_rule(*cls, root, &config, source));
  if (root.contains("resample") && !root["resample"].is_null()) {
    if (!root["resample"].is_number_integer()) {
      return invalid_argument(source, ": 'resample' must be a PIL filter number, got ",
                              root["resample"].dump());
    }
    auto filter = resample_filter_from_pil(root["resample"].get<int>());
    if (!filter.ok()) return filter.status().with_context(source);
    config.resample = *filter;
  }
  if (root.contains("rescale_factor") && !root["rescale_factor"].is_null()) {
    if (!root["rescale_factor"].is_number()) {
      return invalid_argument(source, ": 'rescale_factor' must be a number, got ",
                              root["rescale_factor"].dump());
    }
    config.rescale_factor = root["rescale_factor"].get<double>();
  }
  VITRT_RETURN_IF_ERROR(read_channel_values(root, "image_mean", &config.image_mean, false, source));
  VITRT_RETURN_IF_ERROR(read_channel_values(root, "image_std", &config.image_std, true, source));
  // The pixels are flipped before the normalization (image_preprocess.cc): the mean and std
  // follow them, so the result is HF's normalize-then-flip.
  if (config.flip_channel_order) {
    std::swap(config.image_mean[0], config.image_mean[2]);
    std::swap(config.image_std[0], config.image_std[2]);
  }
  return config;
}

Result<PreprocessorConfig> read_preprocessor_config(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return not_found(path, ": cannot open the preprocessor config");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return io_error(path, ": read error");
  return parse_preprocessor_config(text.str(), path);
}

PreprocessorConfig vit_default_preprocessor_config() {
  PreprocessorConfig c;
  c.resize_height = 224;
  c.resize_width = 224;
  c.resample = ResampleFilter::kBilinear;
  c.do_center_crop = false;
  c.image_mean = {0.5f, 0.5f, 0.5f};
  c.image_std = {0.5f, 0.5f, 0.5f};
  return c;
}

}  // namespace vitrt::vision
