// Image: 8-bit interleaved pixels in one of the modes a decoder can produce.
//
// The modes mirror the PIL modes that matter for model preprocessing, so that the conversion
// to RGB (color_convert.h) can reproduce PIL's convert('RGB') and HF's do_convert_rgb exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace vitrt::vision {

enum class PixelMode {
  kGray,       // PIL "L" (also 1-, 2-, 4-bit and clipped 16-bit grayscale)
  kGrayAlpha,  // PIL "LA"
  kRgb,        // PIL "RGB"
  kRgba,       // PIL "RGBA" (straight alpha); also P/RGB PNGs with a tRNS chunk, which
               // HF treats as transparent
  kCmyk,       // PIL "CMYK" as PIL holds it: 0 = no ink
};

int pixel_mode_channels(PixelMode mode);
const char* pixel_mode_name(PixelMode mode);

struct Image {
  int width = 0;
  int height = 0;
  PixelMode mode = PixelMode::kRgb;
  std::vector<uint8_t> pixels;  // row-major, height * width * channels bytes

  int channels() const { return pixel_mode_channels(mode); }
  size_t row_bytes() const { return static_cast<size_t>(width) * channels(); }
  uint8_t* row(int y) { return pixels.data() + static_cast<size_t>(y) * row_bytes(); }
  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * row_bytes(); }

  static Image allocate(int width, int height, PixelMode mode);
};

}  // namespace vitrt::vision
