// Conv's geometry attributes (auto_pad, strides, pads, dilations, group, kernel_shape), parsed
// and checked once, and the output-size arithmetic that shape inference and the CPU kernel
// share.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct ConvAttributes {
  AutoPad auto_pad = AutoPad::kNotSet;
  int64_t group = 1;
  std::vector<int64_t> kernel_shape;  // empty when absent (then the weights' spatial dims)
  std::vector<int64_t> strides;       // one per spatial axis
  std::vector<int64_t> dilations;     // one per spatial axis
  std::vector<int64_t> pads;          // begins then ends (2 * spatial axes); NOTSET only

  // Reads the attributes of a Conv node with `spatial_rank` spatial axes; errors name the node
  // and attribute.
  static Result<ConvAttributes> parse(const Node& node, int spatial_rank);

  struct Axis {
    int64_t out = 0;
    int64_t pad_begin = 0;
    int64_t pad_end = 0;
  };
  // Output size and padding of spatial axis `i` for input size `in` and kernel size `kernel`;
  // an error naming the node when the (dilated) kernel does not fit the padded input.
  Result<Axis> axis(const Node& node, int i, int64_t in, int64_t kernel) const;
};

}  // namespace vitrt
