// Image resizing that reproduces PIL's Image.resize for 8-bit images bit for bit.
//
// PIL's algorithm (ImagingResample): two separable convolution passes, horizontal first, each
// output sample taking the filter centred on its source position; when shrinking, the filter's
// support widens by the scale factor (antialiasing). The weights are computed in double,
// normalised to sum to one, then rounded to 22-bit fixed point; sums are rounded and clipped
// to 8 bits after each pass.
#pragma once

#include <string>

#include "vision/image.h"
#include "vitrt/status.h"

namespace vitrt::vision {

// PIL's filter numbers (Image.Resampling), as HF's "resample" field holds them.
enum class ResampleFilter {
  kNearest = 0,
  kLanczos = 1,
  kBilinear = 2,
  kBicubic = 3,
  kBox = 4,
  kHamming = 5,
};

Result<ResampleFilter> resample_filter_from_pil(int value);
const char* resample_filter_name(ResampleFilter filter);

// Resizes an L, RGB or CMYK image to width x height, with PIL's arithmetic for every filter
// (kNearest through PIL's affine-scaling path). Images with alpha are refused (PIL premultiplies
// them first; convert to RGB before resizing).
Result<Image> resize_image(const Image& image, int width, int height, ResampleFilter filter);

}  // namespace vitrt::vision
