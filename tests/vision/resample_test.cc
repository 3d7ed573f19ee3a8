// The resampler against PIL's Image.resize: every filter (nearest included), down and up, odd
// sizes, one axis only, down to 1x1, on an RGB and an L crop of real photos; bit-exact.
#include "vision/resample.h"

#include <gtest/gtest.h>

#include "vision_test_data.h"

namespace vitrt::vision {
namespace {

using testing::image_equals_npy;
using testing::image_from_npy;

ResampleFilter filter_named(const std::string& name) {
  for (int v = 0; v <= 5; ++v) {
    const auto f = static_cast<ResampleFilter>(v);
    if (name == resample_filter_name(f)) return f;
  }
  ADD_FAILURE() << "unknown filter " << name;
  return ResampleFilter::kNearest;
}

TEST(VisionResample, MatchesPilExactly) {
  const auto manifest = testing::vision_manifest();
  ASSERT_GE(manifest["resize"].size(), 40u);
  for (const auto& c : manifest["resize"]) {
    const Image src = image_from_npy(c["src"]);
    const std::string ref = c["ref"];
    auto out = resize_image(src, c["width"], c["height"], filter_named(c["filter"]));
    ASSERT_TRUE(out.ok()) << ref << ": " << out.status().to_string();
    EXPECT_TRUE(image_equals_npy(*out, ref));
  }
}

TEST(VisionResample, SameSizeIsACopy) {
  const Image src = image_from_npy("resize_src_RGB.npy");
  auto out = resize_image(src, src.width, src.height, ResampleFilter::kBicubic);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->pixels, src.pixels);
}

TEST(VisionResample, RefusesWhatItCannotMatch) {
  Image rgba = Image::allocate(4, 4, PixelMode::kRgba);
  EXPECT_EQ(resize_image(rgba, 2, 2, ResampleFilter::kBicubic).status().code(),
            StatusCode::kUnsupported);
  Image rgb = Image::allocate(4, 4, PixelMode::kRgb);
  EXPECT_EQ(resize_image(rgb, 0, 2, ResampleFilter::kBilinear).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(resample_filter_from_pil(6).ok());
}

}  // namespace
}  // namespace vitrt::vision
