// The EXIF Orientation reader on hand-built blocks (both byte orders, SHORT and LONG, hostile
// offsets) and the eight transposes on a tiny image with hand-derived expectations.
#include "vision/exif_orientation.h"

#include <gtest/gtest.h>

#include <vector>

namespace vitrt::vision {
namespace {

// A TIFF block whose IFD0 holds `tag` with `type` and `value` (little or big endian).
std::vector<uint8_t> tiff_block(bool little, uint16_t tag, uint16_t type, uint32_t value,
                                bool with_exif_prefix = false) {
  std::vector<uint8_t> b;
  auto u16 = [&](uint16_t v) {
    if (little) {
      b.push_back(v & 0xFF), b.push_back(v >> 8);
    } else {
      b.push_back(v >> 8), b.push_back(v & 0xFF);
    }
  };
  auto u32 = [&](uint32_t v) {
    if (little) {
      u16(v & 0xFFFF), u16(v >> 16);
    } else {
      u16(v >> 16), u16(v & 0xFFFF);
    }
  };
  if (with_exif_prefix) {
    for (uint8_t c : {'E', 'x', 'i', 'f', '\0', '\0'}) b.push_back(c);
  }
  b.push_back(little ? 'I' : 'M');
  b.push_back(little ? 'I' : 'M');
  u16(42);
  u32(8);
  u16(2);  // two entries: an unrelated tag first
  u16(0x010F), u16(2), u32(1), u32(0);
  u16(tag), u16(type), u32(1);
  if (type == 3) {
    u16(static_cast<uint16_t>(value)), u16(0);
  } else {
    u32(value);
  }
  u32(0);
  return b;
}

TEST(VisionExif, ReadsOrientationInBothByteOrdersAndTypes) {
  for (bool little : {true, false}) {
    for (uint32_t o = 1; o <= 8; ++o) {
      auto s = tiff_block(little, 0x0112, 3, o);
      EXPECT_EQ(exif_orientation(s.data(), s.size()), static_cast<int>(o));
      auto l = tiff_block(little, 0x0112, 4, o, true);
      EXPECT_EQ(exif_orientation(l.data(), l.size()), static_cast<int>(o));
    }
  }
}

TEST(VisionExif, MalformedOrMissingMeansUpright) {
  auto no_tag = tiff_block(true, 0x0110, 3, 6);
  EXPECT_EQ(exif_orientation(no_tag.data(), no_tag.size()), 1);
  auto out_of_range = tiff_block(false, 0x0112, 3, 9);
  EXPECT_EQ(exif_orientation(out_of_range.data(), out_of_range.size()), 1);
  auto wrong_type = tiff_block(true, 0x0112, 2, 6);
  EXPECT_EQ(exif_orientation(wrong_type.data(), wrong_type.size()), 1);
  // Every truncation: the value ends at byte 32 (8 header + 2 count + 2 entries of 12, the
  // value in the second entry's last 4 bytes, of which a SHORT uses 2), so shorter cuts lose
  // it and longer ones (only the next-IFD pointer missing) still hold it.
  auto good = tiff_block(true, 0x0112, 3, 6);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(exif_orientation(good.data(), n), n >= 32 ? 6 : 1) << "cut to " << n << " bytes";
  }
  // An IFD offset pointing far outside the block.
  auto far = good;
  far[4] = 0xF0, far[5] = 0xFF, far[6] = 0xFF, far[7] = 0xFF;
  EXPECT_EQ(exif_orientation(far.data(), far.size()), 1);
  const uint8_t junk[] = {'X', 'X', 0, 42, 0, 0, 0, 8};
  EXPECT_EQ(exif_orientation(junk, sizeof(junk)), 1);
}

TEST(VisionExif, TransposesMatchTheirDefinitions) {
  // 3 wide, 2 high, one channel:  a b c / d e f
  Image image = Image::allocate(3, 2, PixelMode::kGray);
  image.pixels = {'a', 'b', 'c', 'd', 'e', 'f'};
  const struct {
    int orientation;
    int width;
    const char* pixels;
  } cases[] = {
      {1, 3, "abcdef"},  // as stored
      {2, 3, "cbafed"},  // mirrored left-right
      {3, 3, "fedcba"},  // rotated 180
      {4, 3, "defabc"},  // flipped top-bottom
      {5, 2, "adbecf"},  // transposed (main diagonal)
      {6, 2, "daebfc"},  // rotated 90 clockwise
      {7, 2, "fcebda"},  // transversed (anti-diagonal)
      {8, 2, "cfbead"},  // rotated 90 counter-clockwise
  };
  for (const auto& c : cases) {
    const Image out = apply_exif_orientation(image, c.orientation);
    EXPECT_EQ(out.width, c.width) << c.orientation;
    EXPECT_EQ(std::string(out.pixels.begin(), out.pixels.end()), c.pixels)
        << "orientation " << c.orientation;
  }
}

}  // namespace
}  // namespace vitrt::vision
