// PIL's Convert.c and AlphaComposite.c arithmetic, reproduced from their documented
// behaviour and checked against Pillow on every input pair (python/make_image_references.py).
#include "vision/color_convert.h"

namespace vitrt::vision {
namespace {

// a * b / 255 rounded, the way PIL computes it without a division.
inline int mul_div_255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

inline uint8_t clip8(int v) {
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One colour channel of `value` with straight alpha `alpha` over opaque white. PIL works in
// 7 fractional bits: coef = alpha * 2^7 when the background is opaque.
inline uint8_t over_white(int value, int alpha) {
  if (alpha == 0) return 255;
  constexpr int kBits = 7;
  const unsigned coef_fg = static_cast<unsigned>(alpha) << kBits;
  const unsigned coef_bg = (255u << kBits) - coef_fg;
  const unsigned t = static_cast<unsigned>(value) * coef_fg + 255u * coef_bg + (0x80u << kBits);
  return static_cast<uint8_t>((((t >> 8) + t) >> 8) >> kBits);
}

}  // namespace

Image convert_to_rgb(const Image& image) {
  if (image.mode == PixelMode::kRgb) return image;
  Image out = Image::allocate(image.width, image.height, PixelMode::kRgb);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  const uint8_t* in = image.pixels.data();
  uint8_t* o = out.pixels.data();
  const int c = image.channels();
  for (size_t i = 0; i < n; ++i, in += c, o += 3) {
    switch (image.mode) {
      case PixelMode::kGray:
      case PixelMode::kGrayAlpha:
        o[0] = o[1] = o[2] = in[0];
        break;
      case PixelMode::kRgba:
        o[0] = in[0];
        o[1] = in[1];
        o[2] = in[2];
        break;
      case PixelMode::kCmyk: {
        const int not_k = 255 - in[3];
        for (int ch = 0; ch < 3; ++ch) o[ch] = clip8(not_k - mul_div_255(in[ch], not_k));
        break;
      }
      case PixelMode::kRgb:
        break;
    }
  }
  return out;
}

Image convert_to_rgb_on_white(const Image& image) {
  if (image.mode != PixelMode::kRgba && image.mode != PixelMode::kGrayAlpha) {
    return convert_to_rgb(image);
  }
  Image out = Image::allocate(image.width, image.height, PixelMode::kRgb);
  const size_t n = static_cast<size_t>(image.width) * image.height;
  const uint8_t* in = image.pixels.data();
  uint8_t* o = out.pixels.data();
  for (size_t i = 0; i < n; ++i, o += 3) {
    if (image.mode == PixelMode::kRgba) {
      for (int ch = 0; ch < 3; ++ch) o[ch] = over_white(in[ch], in[3]);
      in += 4;
    } else {
      o[0] = o[1] = o[2] = over_white(in[0], in[1]);
      in += 2;
    }
  }
  return out;
}

}  // namespace vitrt::vision
