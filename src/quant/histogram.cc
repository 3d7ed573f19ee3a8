// The |x| histogram and the threshold selection methods (TensorRT's entropy calibration:
// S. Migacz, "8-bit Inference with TensorRT", GTC 2017).
#include "quant/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vitrt::quant {

void AbsHistogram::add(const float* x, int64_t n) {
  // NaNs are skipped; infinities set amax (so minmax gives an infinite threshold, which keeps
  // the layer in float) but stay out of the bins, which hold the finite values only.
  float batch_amax = 0.0f;
  bool infinite = false;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    min_ = std::min(min_, x[i]);
    max_ = std::max(max_, x[i]);
    if (std::isinf(x[i])) {
      infinite = true;
      continue;
    }
    batch_amax = std::max(batch_amax, std::fabs(x[i]));
  }
  amax_ = std::max(amax_, infinite ? std::numeric_limits<float>::infinity() : batch_amax);
  if (batch_amax > 0.0f && bin_width_ == 0.0) {
    // Values equal to the first batch's amax land in the last bin.
    bin_width_ = static_cast<double>(batch_amax) / kBins;
  }
  while (bin_width_ > 0.0 && batch_amax >= bin_width_ * kBins * (1.0 + 1e-9)) {
    for (int b = 0; b < kBins / 2; ++b) counts_[b] = counts_[2 * b] + counts_[2 * b + 1];
    std::fill(counts_.begin() + kBins / 2, counts_.end(), 0);
    bin_width_ *= 2.0;
  }
  const double inv_width = bin_width_ > 0.0 ? 1.0 / bin_width_ : 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    const double bin = std::fabs(static_cast<double>(x[i])) * inv_width;
    counts_[bin >= kBins ? kBins - 1 : static_cast<int>(bin)] += 1;
    ++total_;
  }
}

Result<AbsHistogram> AbsHistogram::restore(double bin_width, std::vector<uint64_t> counts,
                                           float min, float max, float amax) {
  if (counts.size() != kBins || !(bin_width >= 0.0) || !(amax >= 0.0f)) {
    return invalid_argument("histogram: expected ", kBins, " counts and a width >= 0");
  }
  AbsHistogram h;
  h.bin_width_ = bin_width;
  h.counts_ = std::move(counts);
  for (uint64_t c : h.counts_) h.total_ += c;
  h.min_ = min;
  h.max_ = max;
  h.amax_ = amax;
  return h;
}

Result<CalibMethod> parse_calib_method(const std::string& name) {
  if (name == "entropy") return CalibMethod::kEntropy;
  if (name == "mse") return CalibMethod::kMse;
  if (name == "percentile") return CalibMethod::kPercentile;
  if (name == "minmax" || name == "max") return CalibMethod::kMinMax;
  return invalid_argument("calibration method '", name,
                          "' is not one of entropy, mse, percentile, minmax");
}

const char* calib_method_name(CalibMethod method) {
  switch (method) {
    case CalibMethod::kEntropy:
      return "entropy";
    case CalibMethod::kMse:
      return "mse";
    case CalibMethod::kPercentile:
      return "percentile";
    case CalibMethod::kMinMax:
      break;
  }
  return "minmax";
}

namespace {

constexpr int kFirstCandidate = 128;  // thresholds below amax / 16 are not considered
constexpr int kInt8Levels = 128;

// TensorRT's entropy calibration for every threshold at bin edge `end` (128..2048): P is the
// histogram cut there with the clipped tail added to its last bin; Q merges the cut histogram
// *without* the tail into 128 levels and spreads each level's mass evenly over its non-zero
// bins. The tail mass that P holds and Q lacks is what makes clipping cost something; a last
// bin that is empty while the tail is not makes KL(P || Q) infinite (never chosen).
//
// Q is constant over a level's non-zero bins, so with prefix sums of n, n log n and of the
// non-zero count, one threshold costs O(levels) instead of O(bins):
//   KL = (1/Pt) [sum P log P - Pt log Pt - sum_levels P_L log(mass_L / nz_L) + Pt log Qt]
// where Pt = all counts, Qt = the counts below `end`, P_L the level's share of P.
class EntropySearch {
 public:
  explicit EntropySearch(const std::vector<uint64_t>& counts) : counts_(counts) {
    const size_t n = counts.size();
    sum_.assign(n + 1, 0.0);
    nlogn_.assign(n + 1, 0.0);
    nonzero_.assign(n + 1, 0);
    for (size_t b = 0; b < n; ++b) {
      const double c = static_cast<double>(counts[b]);
      sum_[b + 1] = sum_[b] + c;
      nlogn_[b + 1] = nlogn_[b] + (c > 0 ? c * std::log(c) : 0.0);
      nonzero_[b + 1] = nonzero_[b] + (c > 0);
    }
  }

  double kl(int end) const {
    const double total = sum_.back();
    const double kept = sum_[end];
    const double tail = total - kept;
    const double last = static_cast<double>(counts_[end - 1]);
    if (last == 0 && tail > 0) return INFINITY;
    const double p_last = last + tail;
    double p_log_p = nlogn_[end - 1] + (p_last > 0 ? p_last * std::log(p_last) : 0.0);
    double p_log_q = 0;
    for (int level = 0; level < kInt8Levels; ++level) {
      const int lo = static_cast<int>(static_cast<int64_t>(level) * end / kInt8Levels);
      const int hi = static_cast<int>(static_cast<int64_t>(level + 1) * end / kInt8Levels);
      const double mass = sum_[hi] - sum_[lo];
      const int nonzero = nonzero_[hi] - nonzero_[lo];
      if (nonzero == 0) continue;
      const double p_mass = mass + (hi == end ? tail : 0.0);
      p_log_q += p_mass * std::log(mass / nonzero);
    }
    return (p_log_p - total * std::log(total) - p_log_q + total * std::log(kept)) / total;
  }

 private:
  const std::vector<uint64_t>& counts_;
  std::vector<double> sum_, nlogn_;
  std::vector<int> nonzero_;
};

// Rounding noise variance of one value v (in units of the quantized grid) on the grid.
double fp8_noise(double v) {
  const double step = v < 0.015625 ? std::ldexp(1.0, -9) : std::ldexp(1.0, std::ilogb(v) - 3);
  return step * step / 12.0;
}

}  // namespace

Result<float> select_threshold(const AbsHistogram& h, CalibMethod method, QuantGrid grid,
                               double percentile) {
  if (h.amax() == 0.0f || h.bin_width() == 0.0) return 0.0f;
  const std::vector<uint64_t>& counts = h.counts();
  const double width = h.bin_width();
  const int bins = AbsHistogram::kBins;
  // Bin b covers [b, b + 1) * width; the last one also holds amax.
  auto edge = [&](int end) { return std::min(static_cast<float>(end * width), h.amax()); };
  switch (method) {
    case CalibMethod::kMinMax:
      return h.amax();
    case CalibMethod::kPercentile: {
      if (!(percentile > 0.0 && percentile <= 100.0)) {
        return invalid_argument("percentile ", percentile, " must be in (0, 100]");
      }
      const double target = percentile / 100.0 * static_cast<double>(h.total());
      double cumulative = 0;
      for (int b = 0; b < bins; ++b) {
        cumulative += static_cast<double>(counts[b]);
        if (cumulative >= target) return edge(b + 1);
      }
      return h.amax();
    }
    case CalibMethod::kEntropy: {
      if (grid != QuantGrid::kInt8) {
        return invalid_argument(
            "entropy calibration models int8's 128 uniform levels; fp8 takes minmax, "
            "percentile or mse");
      }
      const EntropySearch search(counts);
      double best = INFINITY;
      int best_end = bins;
      for (int end = kFirstCandidate; end <= bins; ++end) {
        const double kl = search.kl(end);
        if (kl < best) {
          best = kl;
          best_end = end;
        }
      }
      return edge(best_end);
    }
    case CalibMethod::kMse: {
      // Suffix sums of n, n c and n c^2 over bin centres c make the clipping error of each
      // threshold O(1); int8's rounding noise is the same for every value in range.
      std::vector<double> tail_n(bins + 1, 0.0), tail_c(bins + 1, 0.0), tail_c2(bins + 1, 0.0);
      for (int b = bins - 1; b >= 0; --b) {
        const double n = static_cast<double>(counts[b]);
        const double c = (b + 0.5) * width;
        tail_n[b] = tail_n[b + 1] + n;
        tail_c[b] = tail_c[b + 1] + n * c;
        tail_c2[b] = tail_c2[b + 1] + n * c * c;
      }
      const double total = tail_n[0];
      double best = INFINITY;
      int best_end = bins;
      for (int end = kFirstCandidate; end <= bins; ++end) {
        const double t = end * width;
        const double clip = tail_c2[end] - 2 * t * tail_c[end] + t * t * tail_n[end];
        double noise = 0;
        if (grid == QuantGrid::kInt8) {
          const double scale = t / 127.0;
          noise = (total - tail_n[end]) * scale * scale / 12.0;
        } else {
          // FP8's step grows with the value: sum each in-range bin's own noise.
          const double scale = t / 448.0;
          for (int b = 0; b < end; ++b) {
            if (counts[b] != 0) {
              noise += static_cast<double>(counts[b]) * fp8_noise((b + 0.5) * width / scale) *
                       scale * scale;
            }
          }
        }
        if (clip + noise < best) {
          best = clip + noise;
          best_end = end;
        }
      }
      return edge(best_end);
    }
  }
  return h.amax();
}

}  // namespace vitrt::quant
