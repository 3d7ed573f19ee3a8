// Calibration statistics: the |x| histogram and each threshold method on distributions whose
// answer is known; the calibration cache file.
#include "quant/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "quant/calibrator.h"

namespace vitrt::quant {
namespace {

std::vector<float> gaussian(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

float threshold(const AbsHistogram& h, CalibMethod m, QuantGrid g = QuantGrid::kInt8,
                double percentile = 99.99) {
  Result<float> t = select_threshold(h, m, g, percentile);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? *t : -1.0f;
}

TEST(CalibrationHistogram, MinMaxIsTheLargestMagnitude) {
  AbsHistogram h;
  const std::vector<float> a = {0.5f, -3.25f, 1.0f};
  const std::vector<float> b = {2.0f, NAN, -0.125f};
  h.add(a.data(), 3);
  h.add(b.data(), 3);
  EXPECT_EQ(threshold(h, CalibMethod::kMinMax), 3.25f);
  EXPECT_EQ(h.min(), -3.25f);
  EXPECT_EQ(h.max(), 2.0f);
  EXPECT_EQ(h.total(), 5u);  // the NaN is skipped
}

// Infinities (a model that overflows on a calibration input) make amax infinite, so minmax
// gives an infinite threshold (quantize_linear then keeps the layer in float), while the bins
// hold the finite values alone and percentile stays finite. An infinite first batch is no
// special case. (UBSan once caught a NaN bin index here.)
TEST(CalibrationHistogram, InfinitiesSetAmaxAndStayOutOfTheBins) {
  for (bool inf_first : {false, true}) {
    SCOPED_TRACE(inf_first);
    AbsHistogram h;
    const std::vector<float> inf = {INFINITY, -INFINITY, 1.0f};
    const std::vector<float> finite = gaussian(10000, 3);
    if (inf_first) h.add(inf.data(), 3);
    h.add(finite.data(), static_cast<int64_t>(finite.size()));
    if (!inf_first) h.add(inf.data(), 3);
    EXPECT_TRUE(std::isinf(h.amax()));
    EXPECT_EQ(h.total(), 10001u);
    EXPECT_TRUE(std::isfinite(h.bin_width()) && h.bin_width() > 0.0);
    EXPECT_TRUE(std::isinf(threshold(h, CalibMethod::kMinMax)));
    const float p = threshold(h, CalibMethod::kPercentile, QuantGrid::kInt8, 99.9);
    EXPECT_TRUE(std::isfinite(p) && p > 2.0f && p < 6.0f) << p;
    for (CalibMethod m : {CalibMethod::kEntropy, CalibMethod::kMse}) {
      const float t = threshold(h, m);
      EXPECT_TRUE(std::isfinite(t) && t > 1.0f && t < 6.0f) << calib_method_name(m) << " " << t;
    }
  }
}

// A later batch with a larger range merges bins instead of losing the earlier counts.
TEST(CalibrationHistogram, GrowsByMergingBins) {
  AbsHistogram h;
  std::vector<float> small(1000), large(1000);
  for (int i = 0; i < 1000; ++i) {
    small[i] = i / 1000.0f;
    large[i] = 10.0f * i / 999.0f;
  }
  h.add(small.data(), 1000);
  h.add(large.data(), 1000);
  EXPECT_EQ(h.amax(), 10.0f);
  EXPECT_GE(h.bin_width() * AbsHistogram::kBins, 10.0);
  EXPECT_EQ(h.total(), 2000u);
  uint64_t below_one = 0;
  for (int b = 0; b * h.bin_width() < 1.0 - 1e-9; ++b) below_one += h.counts()[b];
  EXPECT_NEAR(static_cast<double>(below_one), 1000 + 100, 2);
}

TEST(CalibrationHistogram, PercentileOfAUniformSample) {
  AbsHistogram h;
  std::vector<float> v(200000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) / v.size();
  h.add(v.data(), static_cast<int64_t>(v.size()));
  const double width = h.bin_width();
  EXPECT_NEAR(threshold(h, CalibMethod::kPercentile, QuantGrid::kInt8, 99.0), 0.99, 2 * width);
  EXPECT_NEAR(threshold(h, CalibMethod::kPercentile, QuantGrid::kInt8, 50.0), 0.5, 2 * width);
  EXPECT_FALSE(select_threshold(h, CalibMethod::kPercentile, QuantGrid::kInt8, 0.0).ok());
}

// A Gaussian with a few far outliers: entropy clips them (keeping them would leave the bulk
// of the data a few quantization steps), minmax keeps them.
TEST(CalibrationHistogram, EntropyClipsTheOutliersOfAHeavyTail) {
  std::vector<float> v = gaussian(200000, 3);
  for (int i = 0; i < 20; ++i) v[i * 997] = (i % 2 ? 50.0f : -50.0f);
  AbsHistogram h;
  h.add(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_EQ(threshold(h, CalibMethod::kMinMax), 50.0f);
  const float entropy = threshold(h, CalibMethod::kEntropy);
  EXPECT_GT(entropy, 2.5f);
  EXPECT_LT(entropy, 10.0f);
}

// mse weighs squared errors: with threshold t, the N values get rounding noise
// (t / 127)^2 / 12 each and an outlier at A costs (A - t)^2, so the optimum is
// t = A / (1 + N / (12 * 127^2)): 16.30 for one outlier at 50 among 400000 values (the
// Gaussian's own clipping beyond 16 is nil). Twenty outliers in 200000 are kept.
TEST(CalibrationHistogram, MseFindsTheAnalyticOptimum) {
  std::vector<float> rare = gaussian(400000, 3);
  rare[1234] = 50.0f;
  AbsHistogram h;
  h.add(rare.data(), static_cast<int64_t>(rare.size()));
  const double expected = 50.0 / (1.0 + 400000.0 / (12.0 * 127 * 127));
  EXPECT_NEAR(threshold(h, CalibMethod::kMse), expected, 2 * h.bin_width());
  std::vector<float> frequent = gaussian(200000, 3);
  for (int i = 0; i < 20; ++i) frequent[i * 997] = 50.0f;
  AbsHistogram f;
  f.add(frequent.data(), static_cast<int64_t>(frequent.size()));
  EXPECT_GT(threshold(f, CalibMethod::kMse), 45.0f);
  // FP8's error is relative: large values cost little rounding noise, so it keeps the range.
  EXPECT_GT(threshold(f, CalibMethod::kMse, QuantGrid::kFp8), 45.0f);
}

// Without outliers there is nothing worth clipping.
TEST(CalibrationHistogram, UniformDataKeepsNearlyItsWholeRange) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-4.0f, 4.0f);
  std::vector<float> v(100000);
  for (float& x : v) x = d(rng);
  AbsHistogram h;
  h.add(v.data(), static_cast<int64_t>(v.size()));
  EXPECT_GT(threshold(h, CalibMethod::kEntropy), 0.9f * h.amax());
  EXPECT_GT(threshold(h, CalibMethod::kMse), 0.9f * h.amax());
}

TEST(CalibrationHistogram, EntropyIsForInt8AndAllZerosGiveZero) {
  std::vector<float> v = gaussian(1000, 4);
  AbsHistogram h;
  h.add(v.data(), 1000);
  Result<float> t = select_threshold(h, CalibMethod::kEntropy, QuantGrid::kFp8);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("fp8"), std::string::npos);
  AbsHistogram zeros;
  const std::vector<float> z(10, 0.0f);
  zeros.add(z.data(), 10);
  EXPECT_EQ(threshold(zeros, CalibMethod::kEntropy), 0.0f);
  EXPECT_FALSE(parse_calib_method("kl").ok());
}

TEST(CalibrationCache, RoundTripsAndRefusesAnotherModel) {
  Histograms hs;
  std::vector<float> v = gaussian(5000, 6);
  hs["layer.0/x"].add(v.data(), 5000);
  hs["name with space"].add(v.data(), 100);
  const std::string path = ::testing::TempDir() + "/calib_cache.txt";
  ASSERT_TRUE(write_calibration_cache(path, 0x1234abcd, hs).ok());
  Result<Histograms> back = read_calibration_cache(path, 0x1234abcd);
  ASSERT_TRUE(back.ok()) << back.status().message();
  ASSERT_EQ(back->size(), 2u);
  for (const auto& [name, h] : hs) {
    const AbsHistogram& r = back->at(name);
    EXPECT_EQ(r.counts(), h.counts()) << name;
    EXPECT_EQ(r.bin_width(), h.bin_width());
    EXPECT_EQ(r.amax(), h.amax());
    EXPECT_EQ(r.min(), h.min());
  }
  Result<Histograms> other = read_calibration_cache(path, 0x99);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("another model"), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vitrt::quant
