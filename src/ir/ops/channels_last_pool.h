// vitrt.ChannelsLastPool: ONNX MaxPool / AveragePool over a channels-last tensor, so that a CNN
// trunk kept in [N, H, W, C] by cancel_layout_transposes (ResNet's stem: Conv 7x7 s2 -> Relu ->
// MaxPool 3x3 s2 p1) needs no transpose around its pooling.
//
//   inputs   X [N, H, W, C] (two spatial axes)
//   attrs    mode: "max" | "average" (required); ONNX MaxPool / AveragePool's kernel_shape
//            (required), strides, pads, auto_pad, ceil_mode, dilations (mode "max" only),
//            count_include_pad (mode "average" only); storage_order is accepted and ignored
//            (it shapes MaxPool's Indices output, which this op does not have)
//   output   Y [N, OH, OW, C]: the ONNX pool of the NCHW tensor, in NHWC. Geometry (ceil_mode
//            included) is PoolAttributes', the same arithmetic as the NCHW ops. A window that
//            covers no input element (all padding) gives what the NCHW kernels give: -inf for
//            max, 0 for average.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "ir/ops/pooling_attributes.h"
#include "vitrt/status.h"

namespace vitrt {

// A ChannelsLastPool node's attributes.
struct ChannelsLastPoolAttributes {
  PoolAttributes pool;
  bool average = false;  // mode "average" (else "max")
};

// Reads a ChannelsLastPool node's attributes; errors name the node and attribute.
Result<ChannelsLastPoolAttributes> parse_channels_last_pool(const Node& node);

// One call's geometry, as the CPU and CUDA kernels use it.
struct ChannelsLastPoolGeometry {
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  int64_t out_h = 0, out_w = 0, kh = 1, kw = 1;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t ph = 0, pw = 0, ph_end = 0, pw_end = 0;  // pads at the begin and the end
  bool average = false, count_include_pad = false;
  std::vector<int64_t> out_shape() const { return {batch, out_h, out_w, channels}; }
};

// The geometry for a concrete X shape; an error naming X and the expected shape when it does
// not fit.
Result<ChannelsLastPoolGeometry> channels_last_pool_geometry(
    const Node& node, const ChannelsLastPoolAttributes& attrs, const std::vector<int64_t>& x);

// Adds the schema (called by OpRegistry::global()).
class OpRegistry;
void register_channels_last_pool_schemas(OpRegistry& registry);

}  // namespace vitrt
