// Direct fp32 convolution for groups of few input channels: depthwise convs (ConvNeXt's 7x7,
// MobileNet/EfficientNet's 3x3 and 5x5, position convs) and narrow grouped ones, where im2col
// plus one small product per group spends its time on the im2col copy and the tiny products.
#pragma once

#include "cpu/conv_geometry.h"

namespace vitrt {

// Whether conv_direct takes `g`: more than one group, few input channels per group, and at
// most 2 spatial axes that matter (1-D and 2-D convs; a 3-D one whose depth axis is trivial).
bool conv_direct_applies(const ConvGeometry& g);

// y = conv(x, w) + bias in NCHW fp32 (bias may be null), for a `g` that conv_direct_applies
// to. Parallel over (image, group); exact in the sense of one float sum per output in the
// order bias, channel, kernel row, kernel column.
void conv_direct(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                 float* y);

}  // namespace vitrt
