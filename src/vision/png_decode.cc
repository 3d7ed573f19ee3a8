// PNG through libpng, producing the pixels PIL's PngImagePlugin gives: 1/2/4-bit grayscale
// scaled to 8 bits (L), 16-bit samples reduced to their high byte (PIL's ";16B" raw modes),
// 16-bit grayscale (PIL "I;16") clipped to 255 as PIL's convert('RGB') does, palettes
// expanded, and a tRNS chunk turned into an alpha band. No gamma or colour management: PIL
// applies neither.
#include <png.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "vision/exif_orientation.h"
#include "vision/image_decoders.h"

namespace vitrt::vision {
namespace {

struct PngReadState {
  const uint8_t* data;
  size_t size;
  size_t offset;
  bool truncated;
};

void read_png_bytes(png_structp png, png_bytep out, png_size_t count) {
  auto* state = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (state->size - state->offset < count) {
    state->truncated = true;
    png_error(png, "unexpected end of file");
  }
  std::memcpy(out, state->data + state->offset, count);
  state->offset += count;
}

// libpng's default error handler prints to stderr; the message travels in the Status instead.
struct PngErrorState {
  char message[256];
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", message);
  png_longjmp(png, 1);
}

void on_png_warning(png_structp, png_const_charp) {}

}  // namespace

bool is_png(const uint8_t* data, size_t size) {
  return size >= 8 && png_sig_cmp(data, 0, 8) == 0;
}

Result<DecodedImage> decode_png(const uint8_t* data, size_t size, const std::string& source,
                                const DecodeOptions& options) {
  DecodedImage result;
  Status size_status;
  std::vector<png_bytep> rows;
  std::vector<uint8_t> wide;  // 16-bit grayscale samples before clipping
  PngReadState input{data, size, 0, false};
  PngErrorState err{};
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, on_png_error, on_png_warning);
  if (png == nullptr) return internal_error(source, ": cannot create a libpng reader");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return internal_error(source, ": cannot create a libpng info struct");
  }
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_read_struct(&png, &info, nullptr);
    if (input.truncated) return invalid_argument(source, ": truncated PNG (", err.message, ")");
    return invalid_argument(source, ": corrupt PNG: ", err.message);
  }
  png_set_read_fn(png, &input, read_png_bytes);
  // Our own pixel limit decides; libpng's default caps (1,000,000 per side) would reject
  // legitimate panoramas with a less helpful message.
  png_set_user_limits(png, PNG_USER_WIDTH_MAX, PNG_USER_HEIGHT_MAX);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  size_status = check_image_size(width, height, source, options);
  if (!size_status.ok()) {
    png_destroy_read_struct(&png, &info, nullptr);
    return size_status;
  }
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  const bool has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
  const bool gray16 = color_type == PNG_COLOR_TYPE_GRAY && bit_depth == 16 && !has_trns;

  PixelMode mode = PixelMode::kRgb;
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_palette_to_rgb(png);
    mode = has_trns ? PixelMode::kRgba : PixelMode::kRgb;
  } else if (color_type == PNG_COLOR_TYPE_GRAY) {
    if (bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    mode = has_trns ? PixelMode::kGrayAlpha : PixelMode::kGray;
  } else if (color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    mode = PixelMode::kGrayAlpha;
  } else if (color_type == PNG_COLOR_TYPE_RGB) {
    mode = has_trns ? PixelMode::kRgba : PixelMode::kRgb;
  } else {
    mode = PixelMode::kRgba;
  }
  if (has_trns) png_set_tRNS_to_alpha(png);
  if (bit_depth == 16 && !gray16) png_set_strip_16(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  result.image = Image::allocate(static_cast<int>(width), static_cast<int>(height), mode);
  const size_t row_bytes = png_get_rowbytes(png, info);
  const size_t expected = gray16 ? size_t{width} * 2 : result.image.row_bytes();
  if (row_bytes != expected) {
    png_destroy_read_struct(&png, &info, nullptr);
    return internal_error(source, ": libpng row size ", row_bytes, " != expected ", expected);
  }
  rows.resize(height);
  if (gray16) wide.resize(size_t{height} * row_bytes);
  for (png_uint_32 y = 0; y < height; ++y) {
    rows[y] = gray16 ? wide.data() + size_t{y} * row_bytes : result.image.row(static_cast<int>(y));
  }
  png_read_image(png, rows.data());
  // Chunks after the image data (an eXIf written late) are read too, as PIL's load() does.
  png_read_end(png, info);
  png_uint_32 exif_size = 0;
  png_bytep exif = nullptr;
  if (png_get_eXIf_1(png, info, &exif_size, &exif) != 0 && exif != nullptr) {
    result.exif_orientation = exif_orientation(exif, exif_size);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (gray16) {
    // Big-endian samples; PIL's I;16 -> RGB/L conversion clips rather than scales.
    for (size_t i = 0; i < result.image.pixels.size(); ++i) {
      const unsigned v = (unsigned{wide[2 * i]} << 8) | wide[2 * i + 1];
      result.image.pixels[i] = static_cast<uint8_t>(std::min(v, 255u));
    }
  }
  return result;
}

}  // namespace vitrt::vision
