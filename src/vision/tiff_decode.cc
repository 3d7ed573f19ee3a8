// TIFF through libtiff, first page, the pixels PIL's TiffImagePlugin gives (it decodes through
// libtiff too):
//   - greyscale 1/2/4/8-bit scaled to 8 bits, MinIsWhite inverted, 16-bit clipped to 255 (PIL's
//     "I;16" -> "L"), with an alpha band when an extra sample is one;
//   - RGB and CMYK at 8 bits, RGB at 16 bits reduced to its high byte (PIL's "RGB;16N"), a fourth
//     RGB sample as alpha (straight, or premultiplied and divided back out) or ignored;
//   - palettes of 1-8 bits, each 16-bit colour map entry divided by 256;
//   - JPEG-compressed YCbCr converted to RGB by libjpeg, as PIL asks libtiff to.
// Other layouts (planes stored separately, uncompressed YCbCr, LogLuv, ...) go through libtiff's
// RGBA reader, as PIL's fallback does. The Orientation tag is applied here, because PIL's TIFF
// plugin applies it while loading (ImageOps.exif_transpose in load_end) and drops it. Floating
// point and signed samples are refused: PIL's conversion of them to RGB clips what a vision
// model would want scaled.
#include <tiffio.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "vision/exif_orientation.h"
#include "vision/image_decoders.h"

namespace vitrt::vision {
namespace {

struct TiffSource {
  const uint8_t* data;
  size_t size;
  uint64_t offset;
  std::string error;  // libtiff's first error message
};

tmsize_t tiff_read(thandle_t handle, void* out, tmsize_t count) {
  auto* s = static_cast<TiffSource*>(handle);
  if (count <= 0 || s->offset >= s->size) return 0;
  const size_t n = std::min(static_cast<size_t>(count), s->size - static_cast<size_t>(s->offset));
  std::memcpy(out, s->data + s->offset, n);
  s->offset += n;
  return static_cast<tmsize_t>(n);
}
tmsize_t tiff_write(thandle_t, void*, tmsize_t) {
  return 0;
}
toff_t tiff_seek(thandle_t handle, toff_t offset, int whence) {
  auto* s = static_cast<TiffSource*>(handle);
  const uint64_t base = whence == SEEK_CUR ? s->offset : whence == SEEK_END ? s->size : 0;
  s->offset = base + offset;
  return s->offset;
}
int tiff_close(thandle_t) {
  return 0;
}
toff_t tiff_size(thandle_t handle) {
  return static_cast<TiffSource*>(handle)->size;
}
int tiff_map(thandle_t, void**, toff_t*) {
  return 0;
}
void tiff_unmap(thandle_t, void*, toff_t) {}

int on_tiff_error(TIFF*, void* user, const char* module, const char* format, va_list args) {
  auto* s = static_cast<TiffSource*>(user);
  if (s->error.empty()) {
    char message[512];
    std::vsnprintf(message, sizeof(message), format, args);
    s->error = module != nullptr ? std::string(module) + ": " + message : message;
  }
  return 1;
}
int on_tiff_warning(TIFF*, void*, const char*, const char*, va_list) {
  return 1;
}

struct TiffCloser {
  void operator()(TIFF* tif) const { TIFFClose(tif); }
};

Status tiff_failure(const std::string& source, const TiffSource& s, const char* what) {
  return invalid_argument(source, ": corrupt or truncated TIFF: ", what,
                          s.error.empty() ? "" : " (libtiff: ", s.error,
                          s.error.empty() ? "" : ")");
}

// Reads every row of the first page as stored, samples interleaved (contiguous planes), into
// `rows` of `row_bytes` each, from strips or tiles.
Status read_stored_rows(TIFF* tif, uint32_t width, uint32_t height, size_t row_bytes,
                        std::vector<uint8_t>& rows, const std::string& source,
                        const TiffSource& s) {
  rows.assign(row_bytes * height, 0);
  if (!TIFFIsTiled(tif)) {
    if (static_cast<size_t>(TIFFScanlineSize64(tif)) != row_bytes) {
      return unsupported(source, ": TIFF scanline of ", TIFFScanlineSize64(tif), " bytes where ",
                         row_bytes, " were expected");
    }
    for (uint32_t y = 0; y < height; ++y) {
      if (TIFFReadScanline(tif, rows.data() + size_t{y} * row_bytes, y, 0) < 0) {
        return tiff_failure(source, s, "a row could not be read");
      }
    }
    return Status::ok_status();
  }
  uint32_t tile_w = 0, tile_h = 0;
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tile_w);
  TIFFGetField(tif, TIFFTAG_TILELENGTH, &tile_h);
  const size_t tile_row_bytes = static_cast<size_t>(TIFFTileRowSize64(tif));
  if (tile_w == 0 || tile_h == 0 || tile_row_bytes == 0 ||
      tile_row_bytes * width != row_bytes * tile_w) {
    return unsupported(source, ": TIFF tile layout (", tile_w, "x", tile_h,
                       ") with packed samples is not supported");
  }
  // The tile buffer is sized by the header's tile dims, which the pixel limit on the image does
  // not bound: a 27 KB file declared 1.6 GB tiles for a 100x71 image. Tiles may overhang the
  // image (writers use 256x256 for small ones), but by no more than the image's area rounded up
  // to whole tiles of 1024x1024.
  const auto round_up = [](uint64_t x, uint64_t to) { return (x + to - 1) / to * to; };
  const uint64_t tile_pixels = uint64_t{tile_w} * tile_h;
  if (tile_pixels > std::max<uint64_t>(round_up(width, 1024) * round_up(height, 1024), 1)) {
    return invalid_argument(source, ": TIFF tiles of ", tile_w, "x", tile_h, " for a ", width, "x",
                            height, " image are larger than the image can need");
  }
  std::vector<uint8_t> tile(static_cast<size_t>(TIFFTileSize64(tif)));
  const size_t bytes_per_px = row_bytes / width;
  for (uint32_t ty = 0; ty < height; ty += tile_h) {
    for (uint32_t tx = 0; tx < width; tx += tile_w) {
      if (TIFFReadTile(tif, tile.data(), tx, ty, 0, 0) < 0) {
        return tiff_failure(source, s, "a tile could not be read");
      }
      const uint32_t h = std::min(tile_h, height - ty);
      const uint32_t w = std::min(tile_w, width - tx);
      for (uint32_t y = 0; y < h; ++y) {
        std::memcpy(rows.data() + size_t{ty + y} * row_bytes + size_t{tx} * bytes_per_px,
                    tile.data() + size_t{y} * tile_row_bytes, size_t{w} * bytes_per_px);
      }
    }
  }
  return Status::ok_status();
}

// libtiff's RGBA reader, rows in stored order (requesting the file's own orientation makes it
// flip nothing), for the layouts the direct path does not read.
Result<DecodedImage> read_through_rgba(TIFF* tif, uint32_t width, uint32_t height,
                                       uint16_t orientation, const std::string& source,
                                       TiffSource& s) {
  char message[1024] = "";
  if (TIFFRGBAImageOK(tif, message) == 0) {
    return unsupported(source, ": TIFF layout is not supported (libtiff: ", message, ")");
  }
  TIFFRGBAImage img;
  if (TIFFRGBAImageBegin(&img, tif, 0, message) == 0) {
    return unsupported(source, ": TIFF layout is not supported (libtiff: ", message, ")");
  }
  img.req_orientation = orientation;
  std::vector<uint32_t> raster(size_t{width} * height);
  const int ok = TIFFRGBAImageGet(&img, raster.data(), width, height);
  const bool alpha = img.alpha != 0;
  TIFFRGBAImageEnd(&img);
  if (ok == 0) return tiff_failure(source, s, "its pixels could not be read");
  DecodedImage result;
  result.image = Image::allocate(static_cast<int>(width), static_cast<int>(height),
                                 alpha ? PixelMode::kRgba : PixelMode::kRgb);
  uint8_t* out = result.image.pixels.data();
  for (const uint32_t px : raster) {
    *out++ = static_cast<uint8_t>(TIFFGetR(px));
    *out++ = static_cast<uint8_t>(TIFFGetG(px));
    *out++ = static_cast<uint8_t>(TIFFGetB(px));
    if (alpha) *out++ = static_cast<uint8_t>(TIFFGetA(px));
  }
  result.image = apply_exif_orientation(std::move(result.image), orientation);
  return result;
}

}  // namespace

bool is_tiff(const uint8_t* data, size_t size) {
  return size >= 4 &&
         ((data[0] == 'I' && data[1] == 'I' && (data[2] == 42 || data[2] == 43) && data[3] == 0) ||
          (data[0] == 'M' && data[1] == 'M' && data[2] == 0 && (data[3] == 42 || data[3] == 43)));
}

Result<DecodedImage> decode_tiff(const uint8_t* data, size_t size, const std::string& source,
                                 const DecodeOptions& options) {
  TiffSource s{data, size, 0, {}};
  std::unique_ptr<TIFFOpenOptions, void (*)(TIFFOpenOptions*)> open_options(TIFFOpenOptionsAlloc(),
                                                                            TIFFOpenOptionsFree);
  TIFFOpenOptionsSetErrorHandlerExtR(open_options.get(), on_tiff_error, &s);
  TIFFOpenOptionsSetWarningHandlerExtR(open_options.get(), on_tiff_warning, &s);
  // No single allocation beyond what the pixel limit allows (RGBA at 8 bits a sample).
  TIFFOpenOptionsSetMaxSingleMemAlloc(open_options.get(),
                                      static_cast<tmsize_t>(options.max_pixels) * 8 + (1 << 20));
  std::unique_ptr<TIFF, TiffCloser> tif(
      TIFFClientOpenExt(source.c_str(), "rm", &s, tiff_read, tiff_write, tiff_seek, tiff_close,
                        tiff_size, tiff_map, tiff_unmap, open_options.get()));
  if (tif == nullptr) return tiff_failure(source, s, "its header could not be read");

  uint32_t width = 0, height = 0;
  uint16_t bits = 1, spp = 1, photometric = PHOTOMETRIC_MINISWHITE, planar = PLANARCONFIG_CONTIG;
  uint16_t format = SAMPLEFORMAT_UINT, orientation = ORIENTATION_TOPLEFT, compression = 1;
  TIFFGetField(tif.get(), TIFFTAG_IMAGEWIDTH, &width);
  TIFFGetField(tif.get(), TIFFTAG_IMAGELENGTH, &height);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetField(tif.get(), TIFFTAG_PHOTOMETRIC, &photometric);  // PIL's default: MinIsWhite
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_SAMPLEFORMAT, &format);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_ORIENTATION, &orientation);
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_COMPRESSION, &compression);
  if (orientation < 1 || orientation > 8) orientation = 1;
  VITRT_RETURN_IF_ERROR(check_image_size(width, height, source, options));
  if (format == SAMPLEFORMAT_IEEEFP || format == SAMPLEFORMAT_INT) {
    return unsupported(source, ": TIFF with ",
                       format == SAMPLEFORMAT_IEEEFP ? "floating-point" : "signed integer",
                       " samples is not supported (expected unsigned 1-16 bit samples)");
  }
  uint16_t extra_count = 0;
  uint16_t* extra_types = nullptr;
  TIFFGetFieldDefaulted(tif.get(), TIFFTAG_EXTRASAMPLES, &extra_count, &extra_types);
  const int extra = extra_count > 0 && extra_types != nullptr ? extra_types[0] : -1;

  if (photometric == PHOTOMETRIC_YCBCR && compression == COMPRESSION_JPEG) {
    TIFFSetField(tif.get(), TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    photometric = PHOTOMETRIC_RGB;
  }
  const bool grey = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
  const bool direct =
      planar == PLANARCONFIG_CONTIG &&
      ((grey && (spp == 1 || spp == 2) &&
        (bits == 1 || bits == 2 || bits == 4 || bits == 8 ||
         (bits == 16 && photometric == PHOTOMETRIC_MINISBLACK))) ||
       (photometric == PHOTOMETRIC_RGB && (spp == 3 || spp == 4) && (bits == 8 || bits == 16)) ||
       (photometric == PHOTOMETRIC_PALETTE && spp == 1 && bits <= 8) ||
       (photometric == PHOTOMETRIC_SEPARATED && spp == 4 && bits == 8));
  if (!direct) {
    return read_through_rgba(tif.get(), width, height, orientation, source, s);
  }
  if (grey && spp == 2 && bits != 8) {
    return unsupported(source, ": TIFF greyscale with an extra sample at ", bits,
                       " bits is not supported (expected 8)");
  }

  const size_t row_bytes = (size_t{width} * spp * bits + 7) / 8;
  std::vector<uint8_t> stored;
  VITRT_RETURN_IF_ERROR(read_stored_rows(tif.get(), width, height, row_bytes, stored, source, s));

  // Alpha from a second (grey) or fourth (RGB) sample: 1 associated, 2 unassociated; 0 ignored.
  const bool has_extra = (grey && spp == 2) || (photometric == PHOTOMETRIC_RGB && spp == 4);
  const bool alpha =
      has_extra && (extra == EXTRASAMPLE_ASSOCALPHA || extra == EXTRASAMPLE_UNASSALPHA);
  PixelMode mode = PixelMode::kRgb;
  if (grey) mode = alpha ? PixelMode::kGrayAlpha : PixelMode::kGray;
  if (photometric == PHOTOMETRIC_RGB && alpha) mode = PixelMode::kRgba;
  if (photometric == PHOTOMETRIC_SEPARATED) mode = PixelMode::kCmyk;

  std::vector<uint8_t> palette(256 * 3, 0);
  if (photometric == PHOTOMETRIC_PALETTE) {
    uint16_t *r = nullptr, *g = nullptr, *b = nullptr;
    if (TIFFGetField(tif.get(), TIFFTAG_COLORMAP, &r, &g, &b) == 0 || r == nullptr) {
      return invalid_argument(source, ": corrupt TIFF (a palette image without a ColorMap tag)");
    }
    for (size_t i = 0; i < (size_t{1} << bits); ++i) {
      palette[3 * i] = static_cast<uint8_t>(r[i] / 256);
      palette[3 * i + 1] = static_cast<uint8_t>(g[i] / 256);
      palette[3 * i + 2] = static_cast<uint8_t>(b[i] / 256);
    }
  }

  DecodedImage result;
  result.image = Image::allocate(static_cast<int>(width), static_cast<int>(height), mode);
  const bool invert = photometric == PHOTOMETRIC_MINISWHITE;
  for (uint32_t y = 0; y < height; ++y) {
    const uint8_t* in = stored.data() + size_t{y} * row_bytes;
    const auto* in16 = reinterpret_cast<const uint16_t*>(in);
    uint8_t* out = result.image.row(static_cast<int>(y));
    for (uint32_t x = 0; x < width; ++x) {
      if (grey) {
        uint32_t v = 0;
        if (bits == 16) {
          uint16_t sample = 0;
          std::memcpy(&sample, in16 + x, 2);
          v = std::min<uint32_t>(sample, 255);
        } else if (bits == 8) {
          v = in[size_t{x} * spp];
        } else {
          const size_t bit = size_t{x} * bits;
          const uint32_t raw = (in[bit / 8] >> (8 - bits - bit % 8)) & ((1u << bits) - 1);
          v = raw * 255 / ((1u << bits) - 1);
        }
        *out++ = static_cast<uint8_t>(invert ? 255 - v : v);
        if (alpha) *out++ = in[size_t{x} * 2 + 1];
      } else if (photometric == PHOTOMETRIC_PALETTE) {
        const size_t bit = size_t{x} * bits;
        const uint32_t index =
            bits == 8 ? in[x] : (in[bit / 8] >> (8 - bits - bit % 8)) & ((1u << bits) - 1);
        std::memcpy(out, &palette[3 * index], 3);
        out += 3;
      } else if (photometric == PHOTOMETRIC_SEPARATED) {
        std::memcpy(out, in + size_t{x} * 4, 4);
        out += 4;
      } else {  // RGB(A), 8 or 16 bits
        uint8_t px[4];
        for (int c = 0; c < spp; ++c) {
          if (bits == 16) {
            uint16_t sample = 0;
            std::memcpy(&sample, in16 + size_t{x} * spp + c, 2);
            px[c] = static_cast<uint8_t>(sample >> 8);
          } else {
            px[c] = in[size_t{x} * spp + c];
          }
        }
        if (alpha && extra == EXTRASAMPLE_ASSOCALPHA && px[3] != 255) {
          // PIL's "RGBa" unpacking: straight = premultiplied * 255 / alpha, 0 where alpha is 0.
          for (int c = 0; c < 3; ++c) {
            px[c] = px[3] == 0 ? 0 : static_cast<uint8_t>(std::min(255, px[c] * 255 / px[3]));
          }
        }
        std::memcpy(out, px, alpha ? 4 : 3);
        out += alpha ? 4 : 3;
      }
    }
  }
  result.image = apply_exif_orientation(std::move(result.image), orientation);
  return result;
}

}  // namespace vitrt::vision
