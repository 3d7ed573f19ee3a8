// Decoding JPEG, PNG, WebP, GIF (first frame), BMP, TIFF (first page) and AVIF files into Images
// the way PIL's Image.open(...).load() does.
//
// The format is recognised by its signature, never by the file name. Every failure is a Status
// naming the source: non-images, truncated or corrupt data, and images whose declared size
// exceeds the pixel limit (a decompression bomb: rejected from the header, before any pixel
// memory is allocated).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vision/image.h"
#include "vitrt/status.h"

namespace vitrt::vision {

// PIL raises DecompressionBombError above twice Image.MAX_IMAGE_PIXELS (89478485); the same
// default keeps every image PIL accepts.
inline constexpr int64_t kDefaultMaxImagePixels = 2 * int64_t{89478485};

struct DecodeOptions {
  int64_t max_pixels = kDefaultMaxImagePixels;
};

struct DecodedImage {
  Image image;               // as stored in the file, before the EXIF orientation
  int exif_orientation = 1;  // 1..8; 1 when the file has none
};

Result<DecodedImage> decode_image(const uint8_t* data, size_t size, const std::string& source,
                                  const DecodeOptions& options = {});
Result<DecodedImage> decode_image_file(const std::string& path, const DecodeOptions& options = {});

// Reads, decodes and turns upright (EXIF orientation applied, as PIL's exif_transpose).
Result<Image> load_upright_image(const std::string& path, const DecodeOptions& options = {});

inline constexpr const char* kImageExtensions[] = {".jpg", ".jpeg", ".png",  ".webp", ".gif",
                                                   ".bmp", ".tif",  ".tiff", ".avif"};
// For messages: the formats, and the extensions folders are listed by.
inline constexpr const char* kImageFormatsText = "JPEG, PNG, WebP, GIF, BMP, TIFF or AVIF";
inline constexpr const char* kImageExtensionsText =
    ".jpg .jpeg .png .webp .gif .bmp .tif .tiff .avif";

// Whether a file name ends in one of kImageExtensions (any case): how folders of images are
// listed.
bool has_image_extension(const std::string& path);

}  // namespace vitrt::vision
