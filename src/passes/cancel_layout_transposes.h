// The optimizer pass cancel_layout_transposes (src/passes/cancel_layout_transposes.cc), run by
// the pipeline after fuse_attention: regions of Add/Sub/Mul/Div and depthwise Conv are stored
// permuted where that cancels the layout Transposes around them (ConvNeXt's NCHW trunk goes
// NHWC, its depthwise Conv becoming vitrt.ChannelsLastConv), before fold_scale_into_weights and
// fuse_residual_into_linear, which then take the layer scale and the residual into fc2; and a
// Transpose -> split Reshape -> Transpose chain (a patch convolution's tokens going to an NHWC
// image) becomes one Reshape.
#pragma once

#include "ir/graph.h"
#include "passes/pass.h"

namespace vitrt {

Status cancel_layout_transposes(Graph& graph, PassContext& ctx);

}  // namespace vitrt
