// MaxPool/AveragePool geometry attributes, parsed and checked once, and the output-size
// arithmetic (ceil_mode included) that shape inference and the CPU kernels share.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/ops/conv_attributes.h"

namespace vitrt {

struct PoolAttributes {
  ConvAttributes geometry;  // auto_pad, kernel_shape (required), strides, dilations, pads
  bool ceil_mode = false;
  bool count_include_pad = false;  // AveragePool only
  int64_t storage_order = 0;       // MaxPool only (affects the Indices output alone)

  // Reads the attributes of a MaxPool or AveragePool node with `spatial_rank` spatial axes;
  // errors name the node and attribute.
  static Result<PoolAttributes> parse(const Node& node, int spatial_rank);

  // Output size and padding of spatial axis `i` for input size `in`. With ceil_mode the last
  // window may reach past the end padding, but never starts inside it.
  Result<ConvAttributes::Axis> axis(const Node& node, int i, int64_t in) const;
};

}  // namespace vitrt
