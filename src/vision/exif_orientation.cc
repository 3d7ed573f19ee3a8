// The bounds-checked EXIF Orientation reader and the eight pixel permutations.
#include "vision/exif_orientation.h"

#include <cstring>
#include <utility>

namespace vitrt::vision {
namespace {

constexpr uint16_t kOrientationTag = 0x0112;
constexpr uint16_t kTypeShort = 3;
constexpr uint16_t kTypeLong = 4;

struct TiffReader {
  const uint8_t* data;
  size_t size;
  bool little_endian;

  bool u16(size_t offset, uint16_t* out) const {
    if (offset > size || size - offset < 2) return false;
    const uint8_t* p = data + offset;
    *out = little_endian ? static_cast<uint16_t>(p[0] | (p[1] << 8))
                         : static_cast<uint16_t>((p[0] << 8) | p[1]);
    return true;
  }
  bool u32(size_t offset, uint32_t* out) const {
    if (offset > size || size - offset < 4) return false;
    const uint8_t* p = data + offset;
    *out =
        little_endian
            ? (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24)
            : (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]});
    return true;
  }
};

}  // namespace

int exif_orientation(const uint8_t* data, size_t size) {
  if (size >= 6 && std::memcmp(data, "Exif\0\0", 6) == 0) {
    data += 6;
    size -= 6;
  }
  if (size < 8) return 1;
  TiffReader tiff{data, size, false};
  if (data[0] == 'I' && data[1] == 'I') {
    tiff.little_endian = true;
  } else if (!(data[0] == 'M' && data[1] == 'M')) {
    return 1;
  }
  uint16_t magic = 0;
  uint32_t ifd0 = 0;
  if (!tiff.u16(2, &magic) || magic != 42 || !tiff.u32(4, &ifd0)) return 1;
  uint16_t entries = 0;
  if (!tiff.u16(ifd0, &entries)) return 1;
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t entry = size_t{ifd0} + 2 + size_t{i} * 12;
    uint16_t tag = 0, type = 0;
    uint32_t count = 0;
    if (!tiff.u16(entry, &tag) || !tiff.u16(entry + 2, &type) || !tiff.u32(entry + 4, &count)) {
      return 1;
    }
    if (tag != kOrientationTag) continue;
    if (count < 1) return 1;
    // A single SHORT or LONG sits in the entry's value field itself.
    uint32_t value = 0;
    if (type == kTypeShort) {
      uint16_t v = 0;
      if (!tiff.u16(entry + 8, &v)) return 1;
      value = v;
    } else if (type == kTypeLong) {
      if (!tiff.u32(entry + 8, &value)) return 1;
    } else {
      return 1;
    }
    return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
  }
  return 1;
}

Image apply_exif_orientation(Image image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int w = image.width, h = image.height, c = image.channels();
  const bool swaps_axes = orientation >= 5;
  Image out = Image::allocate(swaps_axes ? h : w, swaps_axes ? w : h, image.mode);
  for (int y = 0; y < out.height; ++y) {
    uint8_t* dst = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      // (sx, sy): the source pixel that lands on (x, y).
      int sx = x, sy = y;
      switch (orientation) {
        case 2:
          sx = w - 1 - x;
          break;
        case 3:
          sx = w - 1 - x;
          sy = h - 1 - y;
          break;
        case 4:
          sy = h - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = h - 1 - x;
          break;
        case 7:
          sx = w - 1 - y;
          sy = h - 1 - x;
          break;
        case 8:
          sx = w - 1 - y;
          sy = x;
          break;
        default:
          break;
      }
      std::memcpy(dst + static_cast<size_t>(x) * c, image.row(sy) + static_cast<size_t>(sx) * c, c);
    }
  }
  return out;
}

}  // namespace vitrt::vision
