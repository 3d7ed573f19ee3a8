// clip.json, the description of a CLIP model folder that python/export_clip.py writes: which
// files hold the two towers, their input and output names, logit_scale and the tokenizer's
// settings. `vitrt build` and ClipModel::load both read it.
#pragma once

#include <cstdint>
#include <string>

#include "vitrt/status.h"

namespace vitrt::clip {

inline constexpr const char* kClipConfigFileName = "clip.json";
// The plans `vitrt build DIR` writes into the model folder and ClipModel::load reads.
inline constexpr const char* kVisionPlanFileName = "vision.plan";
inline constexpr const char* kTextPlanFileName = "text.plan";

struct ClipTowerConfig {
  std::string onnx;    // file name, relative to the model folder
  std::string input;   // graph input name
  std::string output;  // graph output name (the projected, unnormalised embedding)
};

struct ClipConfig {
  float logit_scale = 0;  // exp() already applied, as CLIPModel.logit_scale.exp()
  int64_t embed_dim = 0;
  ClipTowerConfig vision;
  std::string preprocessor_config;  // file name, relative to the model folder
  ClipTowerConfig text;
  int context_length = 0;
  int32_t sot_token_id = 0;
  int32_t eot_token_id = 0;
  int32_t pad_token_id = 0;
  std::string vocab;  // the vocabulary's file name (looked up as the tokenizer looks it up)
};

// `source` names the text in messages. Every field is checked for presence, type and range;
// errors name the field ("clip.json: text.context_length: expected a positive integer").
Result<ClipConfig> parse_clip_config(const std::string& json_text, const std::string& source);
// Reads DIR/clip.json.
Result<ClipConfig> read_clip_config(const std::string& model_dir);

}  // namespace vitrt::clip
