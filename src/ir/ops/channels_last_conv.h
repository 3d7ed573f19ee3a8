// vitrt.ChannelsLastConv: a 2-D convolution of a channels-last tensor, so a trunk stays in
// [N, H, W, C] instead of being transposed around each convolution: ConvNeXt-style blocks (whose
// LayerNorm and MLP work on the last axis) and plain CNN trunks (ResNet, a hybrid ViT's stem),
// where a channels-last dense convolution is an implicit GEMM with no layout copy. Made by the
// pass cancel_layout_transposes.
//
//   inputs   X [N, H, W, C], W [D, KH, KW, C/group] (output channel, kernel row, kernel column,
//            input channel: ONNX Conv's weight with the input channels moved last), optional
//            B [D]
//   attrs    ONNX Conv's: group (dividing C and D), kernel_shape, strides, pads, dilations,
//            auto_pad; activation: "none" (default) | "relu" | "silu" (x * sigmoid(x)) |
//            "hard_swish" (x * min(1, max(0, x / 6 + 1 / 2))) | "relu6" (min(max(x, 0), 6)) |
//            "gelu" (x * Phi(x), the erf form) | "gelu_tanh" (its tanh approximation), applied
//            after the bias
//   output   Y [N, OH, OW, D]; with Cg = C / group and Dg = D / group, output channel o reads
//            the input channels of its group g = o / Dg:
//            Y[n, oy, ox, o] = act(B[o] + sum over (i, j, k < Cg) of
//                X[n, oy*sh - ph + i*dh, ox*sw - pw + j*dw, g*Cg + k] * W[o, i, j, k])
//            with X zero outside the image: the ONNX Conv of the NCHW tensor, in NHWC. A
//            depthwise convolution (group = C, Cg = 1, D a multiple of C) has W [D, KH, KW, 1],
//            the same bytes as ONNX's [D, 1, KH, KW].
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "ir/ops/conv_attributes.h"
#include "vitrt/status.h"

namespace vitrt {

// The activation fused after the bias (the node's attribute `activation`).
enum class ConvActivation : uint8_t {
  kNone,
  kRelu,
  kSilu,       // x * sigmoid(x)
  kHardSwish,  // x * min(1, max(0, x / 6 + 1 / 2))
  kRelu6,      // min(max(x, 0), 6)
  kGelu,       // x * Phi(x), erf form (PVTv2's token MLP: depthwise conv -> GELU)
  kGeluTanh,   // the tanh approximation
};

// One call's geometry, as the CPU and CUDA kernels use it.
struct ChannelsLastConvGeometry {
  int64_t batch = 0, height = 0, width = 0, channels = 0, out_channels = 0, group = 1;
  int64_t out_h = 0, out_w = 0, kh = 1, kw = 1;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;  // pads taken off the begin
  int64_t ph_end = 0, pw_end = 0;
  ConvActivation activation = ConvActivation::kNone;
  // Depthwise: every input channel its own group (output channels multiplier() per channel).
  bool depthwise() const { return group == channels; }
  int64_t multiplier() const { return out_channels / channels; }
  int64_t in_per_group() const { return channels / group; }
  int64_t out_per_group() const { return out_channels / group; }
  // A 1x1 convolution with unit strides and no padding: a product over the channel axis.
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && ph_end == 0 &&
           pw_end == 0;
  }
  std::vector<int64_t> out_shape() const { return {batch, out_h, out_w, out_channels}; }
};

// A ChannelsLastConv node's attributes: ONNX Conv's (2 spatial axes) and the activation.
struct ChannelsLastConvAttributes {
  ConvAttributes conv;
  ConvActivation activation = ConvActivation::kNone;
};

// Reads a ChannelsLastConv node's attributes; errors name the node and attribute.
Result<ChannelsLastConvAttributes> parse_channels_last_conv(const Node& node);
// The node's attribute `activation` (default "none"), as ChannelsLastConv and vitrt.ScaleShift
// name them; an error naming the node and the names it takes otherwise.
Result<ConvActivation> parse_conv_activation(const Node& node);

// The geometry for concrete X and W shapes (and B's, when given); an error naming the input
// and the expected shape when they do not fit.
Result<ChannelsLastConvGeometry> channels_last_conv_geometry(
    const Node& node, const ChannelsLastConvAttributes& attrs, const std::vector<int64_t>& x,
    const std::vector<int64_t>& w, const std::vector<int64_t>* bias);

// Adds the schema (called by OpRegistry::global(), beside the families op_schema.h lists).
class OpRegistry;
void register_channels_last_conv_schemas(OpRegistry& registry);

}  // namespace vitrt
