// The data set `vitrt eval` runs a model over: a folder of .npy inputs or of images, and
// optional integer labels.
//
// Calibration (src/quant/calibrator.cc) walks --calib-data folders itself, run by run and
// lazily (calibration sets may be large); this reader accepts the same layouts (plus stacked
// NAME.npy) and loads them at once. Both list images and default to HF ViT's preprocessing
// through src/vision; the folder walks are still two and should become one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vision/preprocessor_config.h"
#include "vitrt/engine.h"
#include "vitrt/status.h"

namespace vitrt::cli {

struct EvalData {
  // One tensor per model input, in the model's input order, each [items, ...].
  std::vector<NamedTensor> inputs;
  int64_t items = 0;
  // What was read, for the report ("360 .npy items", "360 images").
  std::string description;
};

// Reads `dir` for a model with `inputs`:
//  - NAME.npy for every model input NAME (each [items, ...], the same number of items in all;
//    a model with a single input also takes .npy files of any names, joined in name order), or
//  - sub-folders (name order) each holding NAME.npy for every input, joined along the items,
//    as `vitrt build --calib-data` reads them, or
//  - image files (.jpg .jpeg .png .webp .gif .bmp .tif .tiff, sorted by name) for a model with
//    one float input of rank 4, preprocessed with `config` into [items, 3, H, W].
// .npy float data is converted to the input's float type and integer data to its integer type.
// Errors name the folder, the file or the input that does not fit.
Result<EvalData> read_eval_data(const std::string& dir, const std::vector<TensorInfo>& inputs,
                                const vision::PreprocessorConfig& config);

// Labels: a .npy of integers ([items] or [items, 1]) or a text file of whitespace-separated
// integers.
Result<std::vector<int64_t>> read_labels(const std::string& path);

// Items [begin, end) of `t` along axis 0 (a copy).
Tensor slice_items(const Tensor& t, int64_t begin, int64_t end);

}  // namespace vitrt::cli
