// A model repository: one folder per model, each with a config.json and its plan(s).
//
//   repo/vit/config.json   {"backend": "plan", "plan": "model.plan", "max_batch_size": 8,
//                           "dynamic_batching": {"preferred_batch_size": [4, 8],
//                                                "max_queue_delay_microseconds": 2000,
//                                                "max_queue_size": 64},
//                           "instance_count": 2, "inputs": ["pixel_values"],
//                           "outputs": ["logits"]}
//   or, to spread the contexts over GPUs as Triton's instance groups do (2 on each GPU):
//                          "instance_group": [{"count": 2, "kind": "KIND_GPU", "gpus": [0, 1]}]
//   repo/clip/config.json  {"backend": "clip", "max_batch_size": 32, ..., "clip":
//                           {"model_dir": ".", "vocab_path": "", "max_texts": 64,
//                            "max_text_bytes": 4096, "max_images": 16}}
//
// Every field but "backend" has a default (README.md, "Serving", lists them). Unknown keys are
// errors, so a misspelt setting does not silently keep its default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::serve {

struct ClipSettings {
  std::string model_dir;   // the CLIP model folder (clip.h), relative to the model's folder
  std::string vocab_path;  // empty: the tokenizer's default search
  int64_t max_texts = 64;  // texts per request
  int64_t max_text_bytes = 4096;
  int64_t max_images = 16;             // images per request
  int64_t max_image_bytes = 16 << 20;  // one encoded image; larger ones get 413
};

struct ModelConfig {
  std::string name;            // the folder's name unless "name" says otherwise
  std::string directory;       // the model's folder
  std::string backend;         // "plan" or "clip"
  std::string plan_path;       // absolute or relative to `directory`; a .plan or an .onnx
  int64_t max_batch_size = 0;  // 0: the model has no batch dim; requests run as given
  std::vector<int64_t> preferred_batch_sizes;
  int64_t max_queue_delay_us = 0;
  int64_t max_queue_size = 64;  // queued requests before answering 429
  int instance_count = 1;       // execution contexts run side by side (on each GPU of `gpus`)
  // The GPUs the contexts are spread over, one engine on each (instance_group "gpus"); empty:
  // the server's --devices, else GPU 0. Plans for the CPU take none.
  std::vector<int> gpus;
  std::vector<std::string> input_names;   // empty: all of the plan's
  std::vector<std::string> output_names;  // empty: all of the plan's
  ClipSettings clip;
};

// Parses one config.json text; `folder` is the model's folder (its name is the default name).
Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& folder);
// Reads every DIR/*/config.json, sorted by model name; folders without one are skipped.
Result<std::vector<ModelConfig>> scan_model_repository(const std::string& dir);

}  // namespace vitrt::serve
