// Format dispatch by signature, file reading, and the shared size check.
#include "vision/image_decode.h"

#include <cctype>

#include <cstdio>
#include <vector>

#include "vision/exif_orientation.h"
#include "vision/image_decoders.h"

namespace vitrt::vision {

Status check_image_size(int64_t width, int64_t height, const std::string& source,
                        const DecodeOptions& options) {
  if (width <= 0 || height <= 0) {
    return invalid_argument(source, ": image has no pixels (", width, "x", height, ")");
  }
  // Each side first: the product of two 32-bit sides could overflow.
  if (width > options.max_pixels || height > options.max_pixels ||
      width * height > options.max_pixels) {
    const double pixels = static_cast<double>(width) * static_cast<double>(height);
    return invalid_argument(source, ": image size ", width, "x", height, " (", pixels,
                            " pixels) exceeds the limit of ", options.max_pixels,
                            " pixels; it could be a decompression bomb");
  }
  return Status::ok_status();
}

Result<DecodedImage> decode_image(const uint8_t* data, size_t size, const std::string& source,
                                  const DecodeOptions& options) {
  if (size == 0) return invalid_argument(source, ": file is empty, not an image");
  if (is_jpeg(data, size)) return decode_jpeg(data, size, source, options);
  if (is_png(data, size)) return decode_png(data, size, source, options);
  if (is_webp(data, size)) return decode_webp(data, size, source, options);
  if (is_gif(data, size)) return decode_gif(data, size, source, options);
  if (is_tiff(data, size)) return decode_tiff(data, size, source, options);
  if (is_avif(data, size)) return decode_avif(data, size, source, options);
  if (is_bmp(data, size)) return decode_bmp(data, size, source, options);
  return unsupported(source, ": not a ", kImageFormatsText, " image (unrecognised file signature)");
}

Result<DecodedImage> decode_image_file(const std::string& path, const DecodeOptions& options) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return not_found(path, ": cannot open image file");
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return io_error(path, ": read error");
  return decode_image(bytes.data(), bytes.size(), path, options);
}

Result<Image> load_upright_image(const std::string& path, const DecodeOptions& options) {
  VITRT_ASSIGN_OR_RETURN(DecodedImage decoded, decode_image_file(path, options));
  return apply_exif_orientation(std::move(decoded.image), decoded.exif_orientation);
}

bool has_image_extension(const std::string& path) {
  const size_t dot = path.find_last_of("./");
  if (dot == std::string::npos || path[dot] != '.') return false;
  std::string ext = path.substr(dot);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* known : kImageExtensions) {
    if (ext == known) return true;
  }
  return false;
}

}  // namespace vitrt::vision
