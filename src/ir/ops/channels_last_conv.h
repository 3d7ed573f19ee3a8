// vitrt.ChannelsLastConv: a 2-D depthwise convolution of a channels-last tensor, so a trunk that
// ConvNeXt-style blocks read as [N, H, W, C] (their LayerNorm and MLP work on the last axis)
// stays in that layout instead of being transposed around each convolution. Made by the pass
// cancel_layout_transposes.
//
//   inputs   X [N, H, W, C], W [D, 1, KH, KW] (ONNX Conv's weight layout), optional B [D]
//   attrs    ONNX Conv's: group (must be C), kernel_shape, strides, pads, dilations, auto_pad
//   output   Y [N, OH, OW, D], D a multiple of C (channel multiplier m = D / C):
//            Y[n, oy, ox, o] = B[o] + sum over (i, j) of
//                X[n, oy*sh - ph + i*dh, ox*sw - pw + j*dw, o / m] * W[o, 0, i, j]
//            with X zero outside the image: the ONNX Conv of the NCHW tensor, in NHWC.
// Only the depthwise form exists: a dense or grouped convolution is a GEMM and keeps ONNX Conv.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "ir/ops/conv_attributes.h"
#include "vitrt/status.h"

namespace vitrt {

// One call's geometry, as the CPU and CUDA kernels use it.
struct ChannelsLastConvGeometry {
  int64_t batch = 0, height = 0, width = 0, channels = 0, out_channels = 0;
  int64_t out_h = 0, out_w = 0, kh = 1, kw = 1;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;  // pads taken off the begin
  int64_t multiplier() const { return out_channels / channels; }
  std::vector<int64_t> out_shape() const { return {batch, out_h, out_w, out_channels}; }
};

// Reads a ChannelsLastConv node's attributes (ONNX Conv's, 2 spatial axes); errors name the
// node and attribute.
Result<ConvAttributes> parse_channels_last_conv(const Node& node);

// The geometry for concrete X and W shapes (and B's, when given); an error naming the input
// and the expected shape when they do not fit, and saying so when the convolution is not
// depthwise.
Result<ChannelsLastConvGeometry> channels_last_conv_geometry(const Node& node,
                                                             const ConvAttributes& attrs,
                                                             const std::vector<int64_t>& x,
                                                             const std::vector<int64_t>& w,
                                                             const std::vector<int64_t>* bias);

// Adds the schema (called by OpRegistry::global(), beside the families op_schema.h lists).
class OpRegistry;
void register_channels_last_conv_schemas(OpRegistry& registry);

}  // namespace vitrt
