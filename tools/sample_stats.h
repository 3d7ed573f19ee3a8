// Latency statistics of `vitrt bench` (one context, or several devices and contexts).
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace vitrt::cli {

// Nearest-rank percentile of sorted, non-empty samples.
inline double percentile(const std::vector<double>& sorted, double p) {
  const size_t rank =
      static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// The median of the samples (the mean of the middle two for an even count); 0 when empty.
inline double median_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace vitrt::cli
