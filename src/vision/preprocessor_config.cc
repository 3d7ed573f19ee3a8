// preprocessor_config.json parsing with nlohmann::json, every field type-checked.
#include "vision/preprocessor_config.h"

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

// "size": {"shortest_edge": N} | {"height": H, "width": W} | N (old files: shortest edge, as
// CLIPImageProcessor's default_to_square=False reads it).
Status read_size(const json& root, PreprocessorConfig* config, const std::string& source) {
  if (!root.contains("size") || root["size"].is_null()) return Status::ok_status();
  const json& size = root["size"];
  if (size.is_number()) {
    VITRT_ASSIGN_OR_RETURN(config->shortest_edge, positive_int(size, "size", source));
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
  // Every field has a default, so an unrelated JSON file (a model's config.json, say) would
  // otherwise pass silently as CLIP's settings.
  bool has_any_field = false;
  for (const char* key :
       {"do_convert_rgb", "do_resize", "size", "resample", "do_center_crop", "crop_size",
        "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std"}) {
    has_any_field = has_any_field || root.contains(key);
  }
  if (!has_any_field) {
    return invalid_argument(source,
                            ": no image preprocessing fields (size, crop_size, "
                            "image_mean, ...); is this a preprocessor_config.json?");
  }
  PreprocessorConfig config;
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_convert_rgb", &config.do_convert_rgb, source));
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_resize", &config.do_resize, source));
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_center_crop", &config.do_center_crop, source));
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_rescale", &config.do_rescale, source));
  VITRT_RETURN_IF_ERROR(read_bool(root, "do_normalize", &config.do_normalize, source));
  VITRT_RETURN_IF_ERROR(read_size(root, &config, source));
  VITRT_RETURN_IF_ERROR(read_crop_size(root, &config, source));
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
