// Shared by the tests/vision tests: the reference images and PIL/HF outputs that
// python/make_image_references.py wrote to tests/data/vision (listed in manifest.json).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/npy.h"
#include "vision/image.h"

namespace vitrt::vision::testing {

inline std::string vision_data_path(const std::string& name) {
  return std::string(VITRT_SOURCE_DIR) + "/tests/data/vision/" + name;
}

inline nlohmann::json vision_manifest() {
  std::ifstream file(vision_data_path("manifest.json"));
  std::ostringstream text;
  text << file.rdbuf();
  return nlohmann::json::parse(text.str());
}

// An Image from a uint8 .npy of shape [H, W] (L) or [H, W, 3] (RGB).
inline Image image_from_npy(const std::string& name) {
  Result<Tensor> t = read_npy(vision_data_path(name));
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  if (!t.ok()) return Image{};
  const PixelMode mode = t->rank() == 2 ? PixelMode::kGray : PixelMode::kRgb;
  Image image = Image::allocate(static_cast<int>(t->dim(1)), static_cast<int>(t->dim(0)), mode);
  const uint8_t* data = t->data<uint8_t>();
  image.pixels.assign(data, data + t->numel());
  return image;
}

// Exact equality with a uint8 reference; on failure, names the first differing sample.
inline ::testing::AssertionResult image_equals_npy(const Image& actual, const std::string& name) {
  const Image expected = image_from_npy(name);
  if (actual.width != expected.width || actual.height != expected.height ||
      actual.channels() != expected.channels()) {
    return ::testing::AssertionFailure()
           << name << ": size " << actual.width << "x" << actual.height << "x" << actual.channels()
           << ", expected " << expected.width << "x" << expected.height << "x"
           << expected.channels();
  }
  size_t mismatches = 0, first = 0;
  for (size_t i = 0; i < actual.pixels.size(); ++i) {
    if (actual.pixels[i] != expected.pixels[i] && mismatches++ == 0) first = i;
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  const size_t pixel = first / actual.channels();
  return ::testing::AssertionFailure()
         << name << ": " << mismatches << " of " << actual.pixels.size()
         << " samples differ; first at x=" << pixel % actual.width << " y=" << pixel / actual.width
         << " channel " << first % actual.channels() << ": " << int{actual.pixels[first]} << " vs "
         << int{expected.pixels[first]};
}

}  // namespace vitrt::vision::testing
