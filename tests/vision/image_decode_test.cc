// Decoding against PIL: every reference image (JPEG, PNG, WebP, GIF, BMP, TIFF in all their
// modes) gives
// PIL's pixels, and malformed files fail with a message that says what is wrong.
#include "vision/image_decode.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "vision/color_convert.h"
#include "vision/exif_orientation.h"
#include "vision_test_data.h"

namespace vitrt::vision {
namespace {

using testing::image_equals_npy;
using testing::vision_data_path;
using testing::vision_manifest;

std::vector<uint8_t> read_bytes(const std::string& name) {
  std::ifstream file(vision_data_path(name), std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

// The mode our decoder must choose for a PIL mode (P and RGB with a tRNS key gain alpha).
bool mode_matches(PixelMode mode, const std::string& pil_mode, bool transparent) {
  if (pil_mode == "L" || pil_mode == "1" || pil_mode == "I;16" || pil_mode == "I;16B") {
    return mode == (transparent ? PixelMode::kGrayAlpha : PixelMode::kGray);
  }
  if (pil_mode == "RGB" || pil_mode == "P") {
    return mode == (transparent ? PixelMode::kRgba : PixelMode::kRgb);
  }
  if (pil_mode == "LA") return mode == PixelMode::kGrayAlpha;
  if (pil_mode == "RGBA") return mode == PixelMode::kRgba;
  if (pil_mode == "CMYK") return mode == PixelMode::kCmyk;
  return false;
}

TEST(VisionDecode, EveryReferenceImageMatchesPilConvertRgb) {
  const auto manifest = vision_manifest();
  ASSERT_GE(manifest["images"].size(), 70u);
  for (const auto& entry : manifest["images"]) {
    const std::string file = entry["file"];
    SCOPED_TRACE(file);
    auto decoded = decode_image_file(vision_data_path(file));
    ASSERT_TRUE(decoded.ok()) << decoded.status().to_string();
    EXPECT_EQ(decoded->exif_orientation, entry["orientation"].get<int>());
    const bool transparent = file.find("trns") != std::string::npos;
    EXPECT_TRUE(mode_matches(decoded->image.mode, entry["pil_mode"], transparent))
        << "decoded as " << pixel_mode_name(decoded->image.mode) << ", PIL opens it as "
        << entry["pil_mode"];
    const Image upright =
        apply_exif_orientation(std::move(decoded->image), decoded->exif_orientation);
    EXPECT_EQ(upright.width, entry["width"].get<int>());
    EXPECT_EQ(upright.height, entry["height"].get<int>());
    EXPECT_TRUE(image_equals_npy(convert_to_rgb(upright), entry["rgb"]));
  }
}

TEST(VisionDecode, LoadUprightAppliesEveryExifOrientation) {
  // The same picture stored in orientations 1..8 comes out identical once upright (up to
  // JPEG's re-encoding, so compare each with PIL's upright reference instead of each other).
  for (int o = 1; o <= 8; ++o) {
    const std::string base = "launch_orient" + std::to_string(o);
    auto upright = load_upright_image(vision_data_path(base + ".jpg"));
    ASSERT_TRUE(upright.ok()) << upright.status().to_string();
    EXPECT_TRUE(image_equals_npy(*upright, base + ".rgb.npy")) << "orientation " << o;
  }
}

TEST(VisionDecode, MalformedFilesFailWithClearMessages) {
  // The manifest must outlive the loop: a range-for over a member of a temporary dangles.
  const auto manifest = vision_manifest();
  for (const auto& entry : manifest["bad"]) {
    const std::string file = entry["file"];
    auto decoded = decode_image_file(vision_data_path(file));
    ASSERT_FALSE(decoded.ok()) << file << " decoded";
    const std::string message = decoded.status().message();
    EXPECT_NE(message.find(entry["message"].get<std::string>()), std::string::npos)
        << file << ": " << message;
    EXPECT_NE(message.find(file), std::string::npos) << "the message names the file: " << message;
  }
}

TEST(VisionDecode, EveryTruncationOfEveryFormatIsAnError) {
  for (const char* name :
       {"face_q75_420.jpg", "cat_q85_422_progressive.jpg", "face.png", "launch_lossy.webp",
        "cup_rgba_lossless.webp", "cat_palette.gif", "cup_offset_trns.gif", "face.bmp",
        "cat_rle8.bmp", "face_rle4.bmp", "cup_bgra_v5.bmp", "face.tif", "face_lzw.tif",
        "face_jpeg.tif", "cat_tiled.tif", "launch_planar.tif", "face.avif"}) {
    const std::vector<uint8_t> bytes = read_bytes(name);
    ASSERT_FALSE(bytes.empty()) << name;
    ASSERT_TRUE(decode_image(bytes.data(), bytes.size(), name).ok()) << name;
    // A GIF's first frame is whole without the file's last byte (the trailer after it), an RLE
    // bitmap without its last two (the end-of-bitmap code after the last row's end of line).
    const std::string n = name;
    const size_t whole = bytes.size() - (n.ends_with(".gif")                   ? 1
                                         : n.find("_rle") != std::string::npos ? 2
                                                                               : 0);
    for (size_t cut = 0; cut < whole; cut += 1 + bytes.size() / 97) {
      auto decoded = decode_image(bytes.data(), cut, name);
      EXPECT_FALSE(decoded.ok()) << name << " cut to " << cut << " of " << bytes.size()
                                 << " bytes decoded";
    }
  }
}

TEST(VisionDecode, PixelLimitRejectsBeforeDecoding) {
  DecodeOptions tight;
  tight.max_pixels = 60 * 80 - 1;
  for (const char* name : {"face_q75_420.jpg", "face.png", "face.bmp", "face.tif"}) {
    auto decoded = decode_image_file(vision_data_path(name), tight);
    ASSERT_FALSE(decoded.ok()) << name;
    EXPECT_NE(decoded.status().message().find("60x80"), std::string::npos)
        << decoded.status().message();
  }
  // A GIF is as large as its logical screen, around its first frame.
  auto gif = decode_image_file(vision_data_path("face_offset.gif"), tight);
  ASSERT_FALSE(gif.ok());
  EXPECT_NE(gif.status().message().find("69x86"), std::string::npos) << gif.status().message();
  auto webp = decode_image_file(vision_data_path("launch_lossy.webp"), tight);
  EXPECT_TRUE(webp.ok()) << "34x61 is under the limit";
  tight.max_pixels = 34 * 61 - 1;
  EXPECT_FALSE(decode_image_file(vision_data_path("launch_lossy.webp"), tight).ok());
}

TEST(VisionDecode, MissingFileIsNotFound) {
  auto decoded = decode_image_file(vision_data_path("no_such_image.jpg"));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kNotFound);
}

// How folders of images are listed (calibration, eval, `vitrt clip embed DIR`).
TEST(VisionDecode, ImageExtensionsAreTheDecodersOnes) {
  for (const char* name : {"a.jpg", "b.JPEG", "dir.x/c.png", "d.WebP", "/tmp/e.jpeg", "f.GIF",
                           "g.bmp", "h.tif", "i.TIFF", "j.avif"}) {
    EXPECT_TRUE(has_image_extension(name)) << name;
  }
  for (const char* name : {"a.npy", "jpg", "photo.jpg/readme", "x.heic", "a.jpg.txt", ""}) {
    EXPECT_FALSE(has_image_extension(name)) << name;
  }
}

}  // namespace
}  // namespace vitrt::vision
