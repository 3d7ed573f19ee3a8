// WebP through libwebp (still images): RGB when the bitstream has no alpha, else RGBA, as
// PIL's WebPImagePlugin opens them. The EXIF chunk of an extended (VP8X) file supplies the
// orientation.
#include <webp/decode.h>

#include <algorithm>
#include <cstring>

#include "vision/exif_orientation.h"
#include "vision/image_decoders.h"

namespace vitrt::vision {
namespace {

uint32_t read_le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Walks the RIFF chunks (each: fourcc, little-endian size, payload padded to even length)
// looking for "EXIF"; 1 when there is none.
int webp_exif_orientation(const uint8_t* data, size_t size) {
  const size_t riff_end = std::min<size_t>(size, size_t{read_le32(data + 4)} + 8);
  size_t offset = 12;
  while (offset + 8 <= riff_end) {
    const uint32_t chunk_size = read_le32(data + offset + 4);
    const size_t payload = offset + 8;
    if (chunk_size > riff_end - payload) return 1;
    if (std::memcmp(data + offset, "EXIF", 4) == 0) {
      return exif_orientation(data + payload, chunk_size);
    }
    offset = payload + chunk_size + (chunk_size & 1);
  }
  return 1;
}

}  // namespace

bool is_webp(const uint8_t* data, size_t size) {
  return size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0;
}

Result<DecodedImage> decode_webp(const uint8_t* data, size_t size, const std::string& source,
                                 const DecodeOptions& options) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status == VP8_STATUS_NOT_ENOUGH_DATA) {
    return invalid_argument(source, ": truncated WebP (the file ends inside the header)");
  }
  if (status != VP8_STATUS_OK) {
    return invalid_argument(source, ": corrupt WebP header (libwebp status ", status, ")");
  }
  if (features.has_animation) {
    return unsupported(source, ": animated WebP is not supported (expected a still image)");
  }
  VITRT_RETURN_IF_ERROR(check_image_size(features.width, features.height, source, options));
  DecodedImage result;
  result.image = Image::allocate(features.width, features.height,
                                 features.has_alpha ? PixelMode::kRgba : PixelMode::kRgb);
  Image& image = result.image;
  const int stride = static_cast<int>(image.row_bytes());
  const uint8_t* decoded =
      features.has_alpha
          ? WebPDecodeRGBAInto(data, size, image.pixels.data(), image.pixels.size(), stride)
          : WebPDecodeRGBInto(data, size, image.pixels.data(), image.pixels.size(), stride);
  if (decoded == nullptr) {
    return invalid_argument(source, ": corrupt or truncated WebP (libwebp could not decode it)");
  }
  result.exif_orientation = webp_exif_orientation(data, size);
  return result;
}

}  // namespace vitrt::vision
