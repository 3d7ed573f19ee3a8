// Activation statistics for calibration: a histogram of |x| (2048 bins, grown as larger values
// arrive) with the min and max of x, and the ways to pick a clipping threshold (amax) from it.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::quant {

class AbsHistogram {
 public:
  static constexpr int kBins = 2048;

  // Adds n values; NaNs are skipped. When a value lies beyond the last bin, bins are merged
  // in pairs (the width doubles) until it fits, so one pass over the data suffices.
  void add(const float* x, int64_t n);

  double bin_width() const { return bin_width_; }  // 0 while every value seen was 0
  const std::vector<uint64_t>& counts() const { return counts_; }
  uint64_t total() const { return total_; }
  float amax() const { return amax_; }
  float min() const { return min_; }
  float max() const { return max_; }

  // For the calibration cache: the state as saved, checked for consistency.
  static Result<AbsHistogram> restore(double bin_width, std::vector<uint64_t> counts, float min,
                                      float max, float amax);

 private:
  double bin_width_ = 0.0;
  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kBins, 0);
  uint64_t total_ = 0;
  float amax_ = 0.0f;
  float min_ = std::numeric_limits<float>::infinity();
  float max_ = -std::numeric_limits<float>::infinity();
};

enum class CalibMethod { kEntropy, kMse, kPercentile, kMinMax };

// "entropy", "mse", "percentile", "minmax" (or "max").
Result<CalibMethod> parse_calib_method(const std::string& name);
const char* calib_method_name(CalibMethod method);

// The quantization grid a threshold is chosen for: symmetric int8 (127 levels each side) or
// FP8 E4M3 (largest value 448).
enum class QuantGrid { kInt8, kFp8 };

// The clipping threshold (the |x| mapped to the largest quantized value):
//   minmax      amax, the largest |x| seen
//   percentile  the upper edge of the bin where the cumulative count reaches `percentile`%
//   entropy     TensorRT's: the threshold (128..2048 bins) whose 128-level quantized
//               distribution has the least KL divergence from the clipped one (int8 only)
//   mse         the threshold minimising the expected squared error: clipping error of the
//               values beyond it plus rounding noise (step^2 / 12) of those within
// 0 when every value was 0.
Result<float> select_threshold(const AbsHistogram& histogram, CalibMethod method, QuantGrid grid,
                               double percentile = 99.99);

}  // namespace vitrt::quant
