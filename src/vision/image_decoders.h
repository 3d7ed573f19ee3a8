// The per-format decoders behind decode_image (image_decode.h); each checks the pixel limit
// from the header before allocating pixels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vision/image_decode.h"

namespace vitrt::vision {

bool is_jpeg(const uint8_t* data, size_t size);
bool is_png(const uint8_t* data, size_t size);
bool is_webp(const uint8_t* data, size_t size);
bool is_bmp(const uint8_t* data, size_t size);
bool is_gif(const uint8_t* data, size_t size);
bool is_tiff(const uint8_t* data, size_t size);
bool is_avif(const uint8_t* data, size_t size);

Result<DecodedImage> decode_jpeg(const uint8_t* data, size_t size, const std::string& source,
                                 const DecodeOptions& options);
Result<DecodedImage> decode_png(const uint8_t* data, size_t size, const std::string& source,
                                const DecodeOptions& options);
Result<DecodedImage> decode_webp(const uint8_t* data, size_t size, const std::string& source,
                                 const DecodeOptions& options);
Result<DecodedImage> decode_bmp(const uint8_t* data, size_t size, const std::string& source,
                                const DecodeOptions& options);
Result<DecodedImage> decode_gif(const uint8_t* data, size_t size, const std::string& source,
                                const DecodeOptions& options);
Result<DecodedImage> decode_tiff(const uint8_t* data, size_t size, const std::string& source,
                                 const DecodeOptions& options);
Result<DecodedImage> decode_avif(const uint8_t* data, size_t size, const std::string& source,
                                 const DecodeOptions& options);

// The error for a header whose width * height exceeds options.max_pixels (or is empty).
Status check_image_size(int64_t width, int64_t height, const std::string& source,
                        const DecodeOptions& options);

}  // namespace vitrt::vision
