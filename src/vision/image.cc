// Image mode names and allocation.
#include "vision/image.h"

namespace vitrt::vision {

int pixel_mode_channels(PixelMode mode) {
  switch (mode) {
    case PixelMode::kGray:
      return 1;
    case PixelMode::kGrayAlpha:
      return 2;
    case PixelMode::kRgb:
      return 3;
    case PixelMode::kRgba:
    case PixelMode::kCmyk:
      return 4;
  }
  return 0;
}

const char* pixel_mode_name(PixelMode mode) {
  switch (mode) {
    case PixelMode::kGray:
      return "L";
    case PixelMode::kGrayAlpha:
      return "LA";
    case PixelMode::kRgb:
      return "RGB";
    case PixelMode::kRgba:
      return "RGBA";
    case PixelMode::kCmyk:
      return "CMYK";
  }
  return "?";
}

Image Image::allocate(int width, int height, PixelMode mode) {
  Image image;
  image.width = width;
  image.height = height;
  image.mode = mode;
  image.pixels.resize(static_cast<size_t>(width) * height * pixel_mode_channels(mode));
  return image;
}

}  // namespace vitrt::vision
