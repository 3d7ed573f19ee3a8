// PIL-compatible separable resampling (see resample.h for the algorithm).
#include "vision/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace vitrt::vision {
namespace {

// Fixed-point precision of the weights: 32 bits minus 8 for the sample minus 2 headroom, so
// that a sum of 8-bit samples times weights fits an int32 (the value PIL uses).
constexpr int kPrecisionBits = 32 - 8 - 2;

struct FilterShape {
  double support;
  double (*weight)(double);
};

double box_weight(double x) {
  return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

double bilinear_weight(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_weight(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  return std::sin(x) / x * (0.54 + 0.46 * std::cos(x));
}

// Keys' cubic with a = -0.5 (PIL's choice; OpenCV and PyTorch use -0.75).
double bicubic_weight(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_weight(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

FilterShape filter_shape(ResampleFilter filter) {
  switch (filter) {
    case ResampleFilter::kBox:
      return {0.5, box_weight};
    case ResampleFilter::kBilinear:
      return {1.0, bilinear_weight};
    case ResampleFilter::kHamming:
      return {1.0, hamming_weight};
    case ResampleFilter::kBicubic:
      return {2.0, bicubic_weight};
    case ResampleFilter::kLanczos:
      return {3.0, lanczos_weight};
    case ResampleFilter::kNearest:
      break;
  }
  return {0.0, nullptr};
}

// For each output sample: the first source index, the number of taps and their fixed-point
// weights (`taps_per_output` slots each).
struct Coefficients {
  int taps_per_output = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

Coefficients compute_coefficients(int in_size, int out_size, const FilterShape& shape) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = scale < 1.0 ? 1.0 : scale;
  const double support = shape.support * filter_scale;
  Coefficients c;
  c.taps_per_output = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.taps_per_output, 0);
  std::vector<double> w(c.taps_per_output);
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const double inv_scale = 1.0 / filter_scale;
    // Truncation toward zero, then clamping, is PIL's rounding of the tap window.
    int lo = static_cast<int>(center - support + 0.5);
    if (lo < 0) lo = 0;
    int hi = static_cast<int>(center + support + 0.5);
    if (hi > in_size) hi = in_size;
    const int n = hi - lo;
    double total = 0.0;
    for (int k = 0; k < n; ++k) {
      w[k] = shape.weight((k + lo - center + 0.5) * inv_scale);
      total += w[k];
    }
    int32_t* fixed = &c.weights[static_cast<size_t>(o) * c.taps_per_output];
    for (int k = 0; k < n; ++k) {
      const double normalised = total != 0.0 ? w[k] / total : w[k];
      fixed[k] = static_cast<int32_t>(normalised < 0 ? -0.5 + normalised * (1 << kPrecisionBits)
                                                     : 0.5 + normalised * (1 << kPrecisionBits));
    }
    c.first[o] = lo;
    c.count[o] = n;
  }
  return c;
}

inline uint8_t round_clip(int32_t sum) {
  const int32_t v = sum >> kPrecisionBits;  // arithmetic shift: floor, as PIL
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One output row of the horizontal pass with the channel count fixed at compile time: the
// channel sums of a pixel accumulate in one pass over its taps (the generic loop below walks
// the taps once per channel with a runtime stride, which kept the compiler from unrolling it).
// Integer sums: the order of the additions does not change the result.
template <int kCh>
void horizontal_row(const uint8_t* src, uint8_t* dst, int out_width, const Coefficients& c) {
  for (int x = 0; x < out_width; ++x) {
    const int32_t* k = &c.weights[static_cast<size_t>(x) * c.taps_per_output];
    const uint8_t* s = src + static_cast<size_t>(c.first[x]) * kCh;
    int32_t sum[kCh];
    for (int p = 0; p < kCh; ++p) sum[p] = 1 << (kPrecisionBits - 1);
    const int n = c.count[x];
    for (int t = 0; t < n; ++t) {
      for (int p = 0; p < kCh; ++p) sum[p] += s[t * kCh + p] * k[t];
    }
    for (int p = 0; p < kCh; ++p) dst[x * kCh + p] = round_clip(sum[p]);
  }
}

Image resample_horizontal(const Image& in, int out_width, const Coefficients& c) {
  Image out = Image::allocate(out_width, in.height, in.mode);
  const int ch = in.channels();
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* src = in.row(y);
    uint8_t* dst = out.row(y);
    if (ch == 3) {
      horizontal_row<3>(src, dst, out_width, c);
    } else if (ch == 1) {
      horizontal_row<1>(src, dst, out_width, c);
    } else if (ch == 4) {
      horizontal_row<4>(src, dst, out_width, c);
    } else {
      for (int x = 0; x < out_width; ++x) {
        const int32_t* k = &c.weights[static_cast<size_t>(x) * c.taps_per_output];
        const uint8_t* s = src + static_cast<size_t>(c.first[x]) * ch;
        for (int p = 0; p < ch; ++p) {
          int32_t sum = 1 << (kPrecisionBits - 1);
          for (int t = 0; t < c.count[x]; ++t) sum += s[t * ch + p] * k[t];
          dst[x * ch + p] = round_clip(sum);
        }
      }
    }
  }
  return out;
}

// Taps outer, bytes inner: each tap adds one source row, scaled, into a row of int32 sums,
// a loop the compiler vectorizes (the bytes-outer form walked the taps down a column).
Image resample_vertical(const Image& in, int out_height, const Coefficients& c) {
  Image out = Image::allocate(in.width, out_height, in.mode);
  const size_t row_bytes = in.row_bytes();
  std::vector<int32_t> sum(row_bytes);
  for (int y = 0; y < out_height; ++y) {
    const int32_t* k = &c.weights[static_cast<size_t>(y) * c.taps_per_output];
    const uint8_t* src = in.row(c.first[y]);
    uint8_t* dst = out.row(y);
    std::fill(sum.begin(), sum.end(), int32_t{1} << (kPrecisionBits - 1));
    int32_t* acc = sum.data();
    for (int t = 0; t < c.count[y]; ++t) {
      const uint8_t* row = src + static_cast<size_t>(t) * row_bytes;
      const int32_t w = k[t];
      for (size_t i = 0; i < row_bytes; ++i) acc[i] += row[i] * w;
    }
    for (size_t i = 0; i < row_bytes; ++i) dst[i] = round_clip(acc[i]);
  }
  return out;
}

}  // namespace

Result<ResampleFilter> resample_filter_from_pil(int value) {
  if (value < 0 || value > 5) {
    return invalid_argument("resample ", value,
                            " is not a PIL filter (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, "
                            "4 box, 5 hamming)");
  }
  return static_cast<ResampleFilter>(value);
}

const char* resample_filter_name(ResampleFilter filter) {
  switch (filter) {
    case ResampleFilter::kNearest:
      return "nearest";
    case ResampleFilter::kLanczos:
      return "lanczos";
    case ResampleFilter::kBilinear:
      return "bilinear";
    case ResampleFilter::kBicubic:
      return "bicubic";
    case ResampleFilter::kBox:
      return "box";
    case ResampleFilter::kHamming:
      return "hamming";
  }
  return "?";
}

namespace {

// PIL's NEAREST resize is an affine scaling (ImagingScaleAffine), not a convolution: the source
// coordinate of output column x is the integer part of a running sum that starts at half a step
// and adds the step (source size / output size) per column, the same down the rows. The running
// sum, not (x + 0.5) * step, is what PIL computes; they differ in the last bit for some sizes
// (on 607 of 3,000 random size pairs for the rows), and so in the pixel picked.
Image resize_nearest(const Image& image, int width, int height) {
  if (width == image.width && height == image.height) return image;
  auto source_index = [](int in_size, int out_size) {
    std::vector<int> index(static_cast<size_t>(out_size));
    const double step = static_cast<double>(in_size) / out_size;
    double pos = step * 0.5;
    for (int i = 0; i < out_size; ++i) {
      index[i] = std::clamp(pos < 0.0 ? 0 : static_cast<int>(pos), 0, in_size - 1);
      pos += step;
    }
    return index;
  };
  const std::vector<int> xs = source_index(image.width, width);
  const std::vector<int> ys = source_index(image.height, height);
  Image out = Image::allocate(width, height, image.mode);
  const int c = image.channels();
  for (int y = 0; y < height; ++y) {
    const uint8_t* in = image.row(ys[y]);
    uint8_t* o = out.row(y);
    for (int x = 0; x < width; ++x) {
      std::memcpy(o + static_cast<size_t>(x) * c, in + static_cast<size_t>(xs[x]) * c,
                  static_cast<size_t>(c));
    }
  }
  return out;
}

}  // namespace

Result<Image> resize_image(const Image& image, int width, int height, ResampleFilter filter) {
  if (width <= 0 || height <= 0) {
    return invalid_argument("resize: target size ", width, "x", height, " must be positive");
  }
  if (image.width <= 0 || image.height <= 0) {
    return invalid_argument("resize: the image is empty (", image.width, "x", image.height, ")");
  }
  if (image.mode == PixelMode::kRgba || image.mode == PixelMode::kGrayAlpha) {
    return unsupported("resize: ", pixel_mode_name(image.mode),
                       " images are not resized directly (PIL premultiplies alpha); convert "
                       "to RGB first");
  }
  if (filter == ResampleFilter::kNearest) return resize_nearest(image, width, height);
  const FilterShape shape = filter_shape(filter);
  if (shape.weight == nullptr) {
    return unsupported("resize: the '", resample_filter_name(filter),
                       "' filter is not supported (use bilinear, bicubic, box, hamming or "
                       "lanczos)");
  }
  // PIL copies the image when its size does not change and resizes one axis when only one
  // does; both follow from skipping the pass whose size is unchanged. The order of the passes
  // changes the 8-bit rounding in between. Pillow 13 runs the vertical pass first exactly when
  // the height shrinks by more than twice as many pixels as the width does (a rule inferred
  // from Pillow's output: it held on all of 1,100 random size pairs, every filter, and on a
  // full 40x50 -> w x h map; python/make_image_references.py pins cases on both sides).
  const bool vertical_first =
      height < image.height && (image.height - height) > 2 * (image.width - width);
  Image out = image;
  if (vertical_first) {
    out = resample_vertical(out, height, compute_coefficients(image.height, height, shape));
    return resample_horizontal(out, width, compute_coefficients(image.width, width, shape));
  }
  if (width != image.width) {
    out = resample_horizontal(out, width, compute_coefficients(image.width, width, shape));
  }
  if (height != image.height) {
    out = resample_vertical(out, height, compute_coefficients(image.height, height, shape));
  }
  return out;
}

}  // namespace vitrt::vision
