// GridSample's attributes, parsed and checked once for shape inference and both backends.
#pragma once

#include "ir/graph.h"
#include "ir/ops/grid_sample_math.h"
#include "vitrt/status.h"

namespace vitrt {

struct GridSampleAttributes {
  int mode = grid_sample::kLinear;
  int padding = grid_sample::kZeros;
  bool align_corners = false;

  // mode (opset 16: bilinear / nearest / bicubic; 20: linear / nearest / cubic), padding_mode,
  // align_corners. Cubic is refused as unsupported, naming the node.
  static Result<GridSampleAttributes> parse(const Node& node);
};

}  // namespace vitrt
