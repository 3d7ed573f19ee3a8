// Conversions to RGB with PIL's integer arithmetic.
#pragma once

#include "vision/image.h"

namespace vitrt::vision {

// PIL's image.convert('RGB'): L/LA replicate the grey, alpha is dropped (no compositing),
// CMYK uses PIL's formula (255 - k) - c * (255 - k) / 255 per channel.
Image convert_to_rgb(const Image& image);

// HF's do_convert_rgb (transformers' image_transforms.convert_to_rgb for PIL images): images
// with transparency are composited onto opaque white with PIL's Image.alpha_composite
// arithmetic before dropping alpha; the rest is convert('RGB').
Image convert_to_rgb_on_white(const Image& image);

}  // namespace vitrt::vision
