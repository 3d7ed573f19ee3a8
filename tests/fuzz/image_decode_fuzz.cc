// libFuzzer entry point for the image decoders (JPEG, PNG, WebP, GIF, BMP, TIFF): any byte string
// must give an error with a message or an image whose pixel buffer matches its size, never a
// crash, a sanitizer report or an allocation past the pixel limit.
//
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
//     -DVITRT_FUZZ=ON -DVITRT_TESTS=OFF -DVITRT_CUDA=OFF && ninja -C build-fuzz image_decode_fuzz
//   build-fuzz/image_decode_fuzz -max_total_time=60 -rss_limit_mb=2048 corpus/ tests/data/vision
#include <cstdint>
#include <cstdlib>

#include "vision/exif_orientation.h"
#include "vision/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vitrt::vision::DecodeOptions options;
  options.max_pixels = 4096 * 4096;  // keeps each run small; the limit itself is under test
  auto decoded = vitrt::vision::decode_image(data, size, "fuzz", options);
  if (!decoded.ok()) {
    if (decoded.status().message().empty()) std::abort();
    return 0;
  }
  const vitrt::vision::Image& image = decoded->image;
  if (image.width <= 0 || image.height <= 0 ||
      int64_t{image.width} * image.height > options.max_pixels ||
      image.pixels.size() != image.row_bytes() * static_cast<size_t>(image.height) ||
      decoded->exif_orientation < 1 || decoded->exif_orientation > 8) {
    std::abort();
  }
  vitrt::vision::Image upright =
      vitrt::vision::apply_exif_orientation(std::move(decoded->image), decoded->exif_orientation);
  if (upright.pixels.size() != upright.row_bytes() * static_cast<size_t>(upright.height)) {
    std::abort();
  }
  return 0;
}
