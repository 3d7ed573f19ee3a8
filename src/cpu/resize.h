// Resize's attributes and per-axis plan, shared by the CPU kernel (src/cpu/resize.cc, the
// reference) and the CUDA kernel (src/cuda/ops_resize.cc), so both accept the same modes and
// work out the same output lengths and scales from the same inputs.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt::resize {

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfCropAndResize,
  kTfHalfPixelForNn,
};
// kSimple: what opset < 11 (and Upsample) do: floor when upsampling, ceil when downsampling.
enum class NearestMode { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };
enum class AspectPolicy { kStretch, kNotLarger, kNotSmaller };

struct ResizeParams {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  bool antialias = false;
  std::vector<int64_t> axes;  // empty: all
  AspectPolicy policy = AspectPolicy::kStretch;
  int roi_input = -1;  // input indices; -1 when the op version has no such input
  int scales_input = -1;
  int sizes_input = -1;
  std::vector<float> attr_scales;  // Upsample-7
};
struct AxisPlan {
  int64_t in_len = 0;
  int64_t out_len = 0;
  double scale = 1.0;
  double output_width = 0.0;  // scale * in_len, or out_len when sizes were given
  double roi_start = 0.0;
  double roi_end = 1.0;
};
// Resize (opset 10+) or Upsample (upsample = true) attributes of `node`; unsupported values
// are refused with the attribute named.
Result<ResizeParams> parse_resize_params(const Node& node, int64_t opset, bool upsample);

// Per-axis lengths, scales and roi of an input of `shape` from the node's inputs (entries may
// be nullptr; an empty tensor counts as not given).
Result<std::vector<AxisPlan>> make_resize_plan(const ResizeParams& p,
                                               const std::vector<int64_t>& shape,
                                               const std::vector<const Tensor*>& inputs);

// Whether resizing along this axis leaves it unchanged (the kernels skip such axes).
bool axis_is_identity(const ResizeParams& p, const AxisPlan& a);

}  // namespace vitrt::resize
