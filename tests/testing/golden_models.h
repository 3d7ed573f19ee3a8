// The golden fixtures' ONNX models (tests/golden/<name>/model.onnx), for tests that check a
// property on every one of them.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace vitrt::testing {

// (fixture name, model path) of every fixture folder that holds a model.onnx, by name.
inline std::vector<std::pair<std::string, std::filesystem::path>> golden_models() {
  const std::filesystem::path root = std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "golden";
  std::vector<std::pair<std::string, std::filesystem::path>> models;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const std::filesystem::path model = entry.path() / "model.onnx";
    if (std::filesystem::exists(model))
      models.emplace_back(entry.path().filename().string(), model);
  }
  std::sort(models.begin(), models.end());
  return models;
}

}  // namespace vitrt::testing
