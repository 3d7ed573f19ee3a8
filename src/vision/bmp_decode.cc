// Windows and OS/2 bitmaps, read the way PIL's BmpImagePlugin reads them: 1/4/8-bit palettes,
// 16-bit 5-5-5 and 5-6-5, 24-bit, 32-bit (its fourth byte ignored unless BITFIELDS masks name
// an alpha band), bottom-up and top-down rows, RLE8 and RLE4. Palettes expand to RGB; an index
// past the palette's end is black, as in PIL. Whatever PIL refuses (2-bit pixels, embedded
// JPEG/PNG, masks outside its table) is refused here with the reason.
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "vision/image_decoders.h"

namespace vitrt::vision {
namespace {

uint32_t u16(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8;
}
uint32_t u32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

constexpr uint32_t kRaw = 0, kRle8 = 1, kRle4 = 2, kBitfields = 3;

// How the bytes of one pixel map to channels, for the 16/24/32-bit layouts PIL accepts.
enum class Packing { kPalette, kBgr15, kBgr16, kBytes };

struct Layout {
  Packing packing = Packing::kPalette;
  // kBytes: for each byte of the pixel, the output channel (0 R, 1 G, 2 B, 3 A) or -1 to skip.
  std::array<int, 4> channel_of_byte = {-1, -1, -1, -1};
  bool alpha = false;
};

// A PIL raw mode such as "BGRX" or "ABGR": letter i names byte i of the pixel.
Layout bytes_layout(const char* rawmode) {
  Layout layout;
  layout.packing = Packing::kBytes;
  for (int i = 0; rawmode[i] != '\0'; ++i) {
    const char c = rawmode[i];
    layout.channel_of_byte[i] = c == 'R' ? 0 : c == 'G' ? 1 : c == 'B' ? 2 : c == 'A' ? 3 : -1;
    if (c == 'A') layout.alpha = true;
  }
  return layout;
}

// The BITFIELDS masks PIL's table lists (BmpImagePlugin's SUPPORTED / MASK_MODES); others fail.
Result<Layout> bitfields_layout(uint32_t bits, const std::array<uint32_t, 4>& m,
                                const std::string& source) {
  struct Known {
    uint32_t bits;
    std::array<uint32_t, 4> masks;
    const char* rawmode;
  };
  static constexpr Known kKnown[] = {
      {32, {0xFF0000, 0xFF00, 0xFF, 0x0}, "BGRX"},
      {32, {0xFF000000, 0xFF0000, 0xFF00, 0x0}, "XBGR"},
      {32, {0xFF000000, 0xFF00, 0xFF, 0x0}, "BGXR"},
      {32, {0xFF000000, 0xFF0000, 0xFF00, 0xFF}, "ABGR"},
      {32, {0xFF, 0xFF00, 0xFF0000, 0xFF000000}, "RGBA"},
      {32, {0xFF0000, 0xFF00, 0xFF, 0xFF000000}, "BGRA"},
      {32, {0xFF000000, 0xFF00, 0xFF, 0xFF0000}, "BGAR"},
      {32, {0x0, 0x0, 0x0, 0x0}, "BGRA"},
  };
  if (bits == 32) {
    for (const Known& k : kKnown) {
      if (k.masks == m) return bytes_layout(k.rawmode);
    }
  } else if (bits == 24 && m[0] == 0xFF0000 && m[1] == 0xFF00 && m[2] == 0xFF) {
    return bytes_layout("BGR");
  } else if (bits == 16 && m[0] == 0xF800 && m[1] == 0x7E0 && m[2] == 0x1F) {
    return Layout{Packing::kBgr16, {}, false};
  } else if (bits == 16 && m[0] == 0x7C00 && m[1] == 0x3E0 && m[2] == 0x1F) {
    return Layout{Packing::kBgr15, {}, false};
  }
  return unsupported(source, ": BMP bitfields layout (", bits, "-bit, masks R ", m[0], " G ", m[1],
                     " B ", m[2], " A ", m[3],
                     ") is not supported (expected 8-bit channels, 5-5-5 or 5-6-5)");
}

// PIL's BmpRleDecoder, step for step (including its handling of runs past a row's end and its
// word alignment by file position): palette indices for width * height pixels in file row
// order, or an error when the data ends first (PIL: "not enough image data").
Result<std::vector<uint8_t>> decode_rle(const uint8_t* file, size_t file_size, size_t offset,
                                        bool rle4, size_t width, size_t height,
                                        const std::string& source) {
  const size_t total = width * height;
  std::vector<uint8_t> out;
  out.reserve(total);
  size_t pos = offset;
  size_t x = 0;
  auto read = [&](size_t n) {
    const size_t got = pos < file_size ? std::min(n, file_size - pos) : 0;
    const uint8_t* p = file + pos;
    pos += got;
    return std::pair<const uint8_t*, size_t>(p, got);
  };
  while (out.size() < total) {
    const auto [head, got] = read(2);
    if (got < 2) break;
    const size_t count = head[0];
    const uint8_t value = head[1];
    if (count != 0) {  // a run
      const size_t n = x + count > width ? (width > x ? width - x : 0) : count;
      for (size_t i = 0; i < n; ++i) {
        out.push_back(rle4 ? (i % 2 == 0 ? value >> 4 : value & 0x0F) : value);
      }
      x += n;
    } else if (value == 0) {  // end of line
      while (out.size() % width != 0) out.push_back(0);
      x = 0;
    } else if (value == 1) {  // end of bitmap
      break;
    } else if (value == 2) {  // delta
      const auto [delta, dgot] = read(2);
      if (dgot < 2) break;
      const size_t skip = std::min(total - out.size(), size_t{delta[0]} + size_t{delta[1]} * width);
      out.insert(out.end(), skip, 0);
      x = out.size() % width;
    } else {  // absolute: `value` literal pixels
      const size_t n = std::min(total - out.size(), size_t{value});
      const size_t byte_count = rle4 ? (n + 1) / 2 : n;
      const auto [literal, lgot] = read(byte_count);
      for (size_t i = 0; i < lgot; ++i) {
        if (rle4) {
          out.push_back(literal[i] >> 4);
          if (i * 2 + 1 < n) out.push_back(literal[i] & 0x0F);
        } else {
          out.push_back(literal[i]);
        }
      }
      if (lgot < byte_count || out.size() >= total) break;
      x += value;
      if (pos % 2 != 0) ++pos;
    }
  }
  if (out.size() < total) {
    return invalid_argument(source, ": truncated or corrupt BMP (its RLE data gives ", out.size(),
                            " of ", total, " pixels)");
  }
  out.resize(total);
  return out;
}

}  // namespace

bool is_bmp(const uint8_t* data, size_t size) {
  return size >= 2 && data[0] == 'B' && data[1] == 'M';
}

Result<DecodedImage> decode_bmp(const uint8_t* data, size_t size, const std::string& source,
                                const DecodeOptions& options) {
  if (size < 18) return invalid_argument(source, ": truncated BMP (the file ends in its header)");
  uint64_t offset = u32(data + 10);
  const uint32_t header_size = u32(data + 14);
  static constexpr uint32_t kHeaderSizes[] = {12, 40, 52, 56, 64, 108, 124};
  if (std::find(std::begin(kHeaderSizes), std::end(kHeaderSizes), header_size) ==
      std::end(kHeaderSizes)) {
    return unsupported(source, ": BMP header of ", header_size,
                       " bytes is not supported (expected 12, 40, 52, 56, 64, 108 or 124)");
  }
  if (size < 14 + uint64_t{header_size}) {
    return invalid_argument(source, ": truncated BMP (the file ends in its ", header_size,
                            "-byte header)");
  }
  const uint8_t* h = data + 18;  // the header after its size field
  uint64_t width = 0, height = 0, colors = 0;
  uint32_t bits = 0, compression = kRaw, palette_entry = 4;
  bool top_down = false;
  if (header_size == 12) {  // OS/2 1.x / BITMAPCOREHEADER
    width = u16(h);
    height = u16(h + 2);
    bits = u16(h + 6);
    palette_entry = 3;
  } else {
    top_down = h[7] == 0xFF;  // a negative height
    width = u32(h);
    height = top_down ? (uint64_t{1} << 32) - u32(h + 4) : u32(h + 4);
    bits = u16(h + 10);
    compression = u32(h + 12);
    colors = u32(h + 28);
  }
  // Checked before the masks and the palette are read: a bomb fails from its header alone.
  VITRT_RETURN_IF_ERROR(
      check_image_size(static_cast<int64_t>(width), static_cast<int64_t>(height), source, options));
  size_t palette_at = 14 + header_size;

  Layout layout;
  switch (bits) {
    case 1:
    case 4:
    case 8:
      layout.packing = Packing::kPalette;
      break;
    case 16:
      layout.packing = Packing::kBgr15;
      break;
    case 24:
      layout = bytes_layout("BGR");
      break;
    case 32:
      layout = bytes_layout("BGRX");
      break;
    default:
      return unsupported(source, ": BMP pixel depth of ", bits,
                         " bits is not supported (expected 1, 4, 8, 16, 24 or 32)");
  }
  if (compression == kBitfields) {
    std::array<uint32_t, 4> masks = {0, 0, 0, 0};
    if (header_size >= 52) {
      for (int i = 0; i < (header_size >= 56 ? 4 : 3); ++i) masks[i] = u32(h + 36 + 4 * i);
    } else {  // a 40-byte header: three masks follow it
      if (size < palette_at + 12) {
        return invalid_argument(source, ": truncated BMP (the file ends in its bitfield masks)");
      }
      for (int i = 0; i < 3; ++i) masks[i] = u32(data + palette_at + 4 * i);
      palette_at += 12;
    }
    VITRT_ASSIGN_OR_RETURN(layout, bitfields_layout(bits, masks, source));
  } else if (compression == kRle8 || compression == kRle4) {
    const uint32_t expected_bits = compression == kRle8 ? 8 : 4;
    if (bits != expected_bits) {
      return invalid_argument(source, ": corrupt BMP (", compression == kRle8 ? "RLE8" : "RLE4",
                              " compression with ", bits, "-bit pixels; expected ", expected_bits,
                              ")");
    }
  } else if (compression != kRaw) {
    return unsupported(source, ": BMP compression ", compression,
                       compression == 4   ? " (an embedded JPEG)"
                       : compression == 5 ? " (an embedded PNG)"
                                          : "",
                       " is not supported (expected uncompressed, RLE8, RLE4 or BITFIELDS)");
  }

  // The palette, as BGR(X) entries right after the header (and any masks). A grey ramp makes
  // PIL read the indices as grey levels ("L"; "1" for black and white): the same pixels, one
  // channel.
  std::vector<std::array<uint8_t, 3>> palette;
  bool grey = false;
  if (layout.packing == Packing::kPalette) {
    if (colors == 0) colors = uint64_t{1} << bits;
    if (colors > 65536) {
      return invalid_argument(source, ": corrupt BMP (a palette of ", colors,
                              " colours; expected at most 65536)");
    }
    // PIL's rule for writers that leave the palette out of the data offset.
    if (offset == 14 + uint64_t{header_size}) offset += palette_entry * colors;
    const size_t available = palette_at < size ? size - palette_at : 0;
    const size_t entries = std::min<size_t>(colors, available / palette_entry);
    palette.resize(entries);
    for (size_t i = 0; i < entries; ++i) {
      const uint8_t* e = data + palette_at + i * palette_entry;
      palette[i] = {e[2], e[1], e[0]};
    }
    grey = entries == colors;
    for (size_t i = 0; grey && i < entries; ++i) {
      const uint8_t level = colors == 2 ? (i == 0 ? 0 : 255) : static_cast<uint8_t>(i);
      grey = palette[i] == std::array<uint8_t, 3>{level, level, level};
    }
  }

  const bool rle = compression == kRle8 || compression == kRle4;
  const uint64_t stride = ((width * bits + 31) >> 3) & ~uint64_t{3};
  if (!rle && (offset > size || (size - offset) / stride < height)) {
    return invalid_argument(source, ": truncated BMP (", height, " rows of ", stride,
                            " bytes from offset ", offset, " need ", offset + stride * height,
                            " bytes; the file has ", size, ")");
  }

  DecodedImage result;
  result.image = Image::allocate(static_cast<int>(width), static_cast<int>(height),
                                 grey           ? PixelMode::kGray
                                 : layout.alpha ? PixelMode::kRgba
                                                : PixelMode::kRgb);
  Image& image = result.image;
  const int channels = image.channels();
  auto out_row = [&](size_t file_row) {
    return image.row(static_cast<int>(top_down ? file_row : height - 1 - file_row));
  };
  auto put_index = [&](uint8_t* px, uint32_t index) {
    if (grey) {
      *px = colors == 2 ? (index != 0 ? 255 : 0) : static_cast<uint8_t>(index);
      return;
    }
    static constexpr std::array<uint8_t, 3> kBlack = {0, 0, 0};
    const auto& rgb = index < palette.size() ? palette[index] : kBlack;
    std::memcpy(px, rgb.data(), 3);
  };

  if (rle) {
    VITRT_ASSIGN_OR_RETURN(
        std::vector<uint8_t> indices,
        decode_rle(data, size, offset, compression == kRle4, width, height, source));
    for (size_t r = 0; r < height; ++r) {
      uint8_t* row = out_row(r);
      for (size_t x = 0; x < width; ++x) {
        put_index(row + static_cast<size_t>(channels) * x, indices[r * width + x]);
      }
    }
    return result;
  }

  for (size_t r = 0; r < height; ++r) {
    const uint8_t* in = data + offset + r * stride;
    uint8_t* row = out_row(r);
    for (size_t x = 0; x < width; ++x) {
      uint8_t* px = row + static_cast<size_t>(channels) * x;
      switch (layout.packing) {
        case Packing::kPalette: {
          const size_t bit = x * bits;
          const uint32_t byte = in[bit / 8];
          const uint32_t index =
              bits == 8 ? byte : (byte >> (8 - bits - bit % 8)) & ((1u << bits) - 1);
          put_index(px, index);
          break;
        }
        case Packing::kBgr15:
        case Packing::kBgr16: {
          const uint32_t p = u16(in + 2 * x);
          const bool six = layout.packing == Packing::kBgr16;
          px[2] = static_cast<uint8_t>((p & 31) * 255 / 31);
          px[1] =
              static_cast<uint8_t>(six ? ((p >> 5) & 63) * 255 / 63 : ((p >> 5) & 31) * 255 / 31);
          px[0] = static_cast<uint8_t>(((p >> (six ? 11 : 10)) & 31) * 255 / 31);
          break;
        }
        case Packing::kBytes: {
          const int bytes = static_cast<int>(bits / 8);
          for (int b = 0; b < bytes; ++b) {
            const int c = layout.channel_of_byte[b];
            if (c >= 0) px[c] = in[x * bytes + b];
          }
          break;
        }
      }
    }
  }
  return result;
}

}  // namespace vitrt::vision
