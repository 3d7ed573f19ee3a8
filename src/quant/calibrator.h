// Calibration: runs the FP32 graph on the CPU over calibration inputs and records an
// AbsHistogram for each requested value (the inputs of the layers to quantize). A calibration
// cache file skips the runs when it was made for the same model.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/histogram.h"

namespace vitrt::quant {

struct CalibrationOptions {
  // A folder of images (.jpg .png .webp .gif .bmp .tif ...: decoded and preprocessed with
  // src/vision, for a model with one image input), of .npy files (one input tensor each, for a
  // model with one input), or of sub-folders holding NAME.npy for each input NAME (one run per
  // sub-folder). One kind per folder, as `vitrt eval --data` (vision::data_layout); names starting
  // with '.' are skipped.
  std::string data_dir;
  // The images' preprocessing config (HF preprocessor_config.json, timm config.json or
  // open_clip_config.json); empty: HF ViT's (resize to 224x224 bilinear, no crop, rescale
  // 1/255, mean = std = 0.5).
  std::string preprocessor_config;
  int max_batches = 0;  // 0: all the data
  int batch_size = 8;   // images per run
  // Read when it exists and matches the model (else an error), written after calibrating.
  std::string cache_path;
  // Values measured beside the required ones, which a cache may lack (made by an older vitrt):
  // the q, k, v of attention for fp8 builds.
  std::vector<std::string> optional_values;
  std::function<void(int done, int total)> progress;
  std::function<void(const std::string&)> log;
};

using Histograms = std::map<std::string, AbsHistogram>;

// The identity of a graph for the cache: a hash of every value's name, dtype and shape.
uint64_t graph_fingerprint(const Graph& graph);

// Histograms of the values named `required` (and options.optional_values) of the
// (shape-inferred, fp32) graph; a cache must hold every required one.
Result<Histograms> calibrate(const Graph& graph, const std::vector<std::string>& required,
                             const CalibrationOptions& options);

// The cache file: text, one histogram per line. Exposed for tests.
Status write_calibration_cache(const std::string& path, uint64_t fingerprint,
                               const Histograms& histograms);
Result<Histograms> read_calibration_cache(const std::string& path, uint64_t fingerprint);

}  // namespace vitrt::quant
