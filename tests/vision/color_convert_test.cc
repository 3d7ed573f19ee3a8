// RGB conversion against values Pillow 13 gives (convert('RGB') and alpha_composite onto
// white); the reference images cover the same paths on real photos.
#include "vision/color_convert.h"

#include <gtest/gtest.h>

#include <vector>

namespace vitrt::vision {
namespace {

Image one_row(PixelMode mode, std::vector<uint8_t> pixels) {
  Image image =
      Image::allocate(static_cast<int>(pixels.size()) / pixel_mode_channels(mode), 1, mode);
  image.pixels = std::move(pixels);
  return image;
}

TEST(VisionColor, CmykUsesPilFormula) {
  const Image cmyk = one_row(PixelMode::kCmyk,
                             {100, 30, 250, 50, 0, 0, 0, 0, 255, 255, 255, 255, 10, 200, 90, 128});
  const std::vector<uint8_t> pil = {125, 181, 4, 255, 255, 255, 0, 0, 0, 122, 27, 82};
  EXPECT_EQ(convert_to_rgb(cmyk).pixels, pil);
}

TEST(VisionColor, ConvertDropsAlphaButHfCompositesOnWhite) {
  const Image rgba =
      one_row(PixelMode::kRgba, {100, 30, 250, 128, 7, 8, 9, 0, 200, 100, 50, 255, 0, 255, 10, 1});
  const std::vector<uint8_t> dropped = {100, 30, 250, 7, 8, 9, 200, 100, 50, 0, 255, 10};
  const std::vector<uint8_t> on_white = {177, 142, 252, 255, 255, 255, 200, 100, 50, 254, 255, 254};
  EXPECT_EQ(convert_to_rgb(rgba).pixels, dropped);
  EXPECT_EQ(convert_to_rgb_on_white(rgba).pixels, on_white);
  const Image la = one_row(PixelMode::kGrayAlpha, {100, 128, 7, 0});
  EXPECT_EQ(convert_to_rgb(la).pixels, (std::vector<uint8_t>{100, 100, 100, 7, 7, 7}));
  EXPECT_EQ(convert_to_rgb_on_white(la).pixels,
            (std::vector<uint8_t>{177, 177, 177, 255, 255, 255}));
}

TEST(VisionColor, GrayReplicates) {
  const Image gray = one_row(PixelMode::kGray, {0, 17, 255});
  EXPECT_EQ(convert_to_rgb_on_white(gray).pixels,
            (std::vector<uint8_t>{0, 0, 0, 17, 17, 17, 255, 255, 255}));
}

}  // namespace
}  // namespace vitrt::vision
