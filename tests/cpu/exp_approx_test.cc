// The vectorised transcendentals of cpu/exp_approx.h against double-precision std:: functions:
// max ulp error over a sweep of every 4099th float bit pattern (all magnitudes, denormals
// included) plus the special values and the branch points of each function.
#include "cpu/exp_approx.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace vitrt {
namespace {

#if VITRT_HAVE_AVX2_MATH

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> test_inputs(std::vector<float> extra) {
  std::vector<float> xs;
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 4099) {
    xs.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  }
  const float specials[] = {0.0f,
                            -0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            -std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::min(),
                            -std::numeric_limits<float>::min(),
                            std::numeric_limits<float>::max(),
                            -std::numeric_limits<float>::max(),
                            kInf,
                            -kInf,
                            std::numeric_limits<float>::quiet_NaN(),
                            -std::numeric_limits<float>::quiet_NaN(),
                            1.0f,
                            -1.0f,
                            1e-20f,
                            -1e-20f};
  xs.insert(xs.end(), std::begin(specials), std::end(specials));
  // Dense around each branch point.
  for (float p : extra) {
    float x = p;
    for (int i = 0; i < 200; ++i) x = std::nextafter(x, -kInf);
    for (int i = 0; i < 400; ++i, x = std::nextafter(x, kInf)) xs.push_back(x);
  }
  return xs;
}

// The distance of `y` from `ref` in units of the last place of the float nearest to `ref`.
double ulp_error(float y, double ref) {
  const float nearest = static_cast<float>(ref);
  if (std::isnan(ref)) return std::isnan(y) ? 0.0 : INFINITY;
  if (std::isinf(nearest)) return y == nearest ? 0.0 : INFINITY;
  if (std::isnan(y) || std::isinf(y)) return INFINITY;
  const float mag = std::fabs(nearest);
  const double ulp = static_cast<double>(std::nextafter(mag, kInf)) - mag;
  return std::fabs(static_cast<double>(y) - ref) / ulp;
}

struct Worst {
  double ulp = 0;
  float x = 0;
  float y = 0;
  double ref = 0;
};

template <typename VecFn, typename RefFn>
Worst worst_error(const std::vector<float>& xs, VecFn vec, RefFn ref) {
  std::vector<float> ys(xs.size());
  map8(xs.data(), ys.data(), static_cast<int64_t>(xs.size()), vec);
  Worst w;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double r = ref(static_cast<double>(xs[i]));
    const double e = ulp_error(ys[i], r);
    if (e > w.ulp || std::isnan(e)) w = {e, xs[i], ys[i], r};
  }
  return w;
}

#define EXPECT_MAX_ULP(worst, bound)                                                    \
  EXPECT_LE((worst).ulp, bound) << "worst input " << (worst).x << " gave " << (worst).y \
                                << ", expected " << (worst).ref

TEST(VectorMath, ExpWithinOneUlpIncludingDenormalResults) {
  const auto xs = test_inputs({88.72283f, -87.33654f, -103.97f, -104.0f, 0.34657359f, 0.0f});
  const Worst w = worst_error(
      xs, [](__m256 v) { return exp8(v); }, [](double x) { return std::exp(x); });
  EXPECT_MAX_ULP(w, 1.0);
  EXPECT_EQ(exp_approx(-kInf), 0.0f);
  EXPECT_EQ(exp_approx(kInf), kInf);
  EXPECT_EQ(exp_approx(88.72284f), kInf);
  EXPECT_GT(exp_approx(-100.0f), 0.0f);  // a denormal, not flushed to zero
  EXPECT_EQ(exp_approx(-105.0f), 0.0f);
  EXPECT_TRUE(std::isnan(exp_approx(std::nanf(""))));
  EXPECT_EQ(exp_approx(0.0f), 1.0f);
}

TEST(VectorMath, ErfWithinOneAndAHalfUlp) {
  const auto xs = test_inputs({0.921875f, -0.921875f, 3.919206f, -3.919206f});
  const Worst w = worst_error(
      xs, [](__m256 v) { return erf8(v); }, [](double x) { return std::erf(x); });
  EXPECT_MAX_ULP(w, 1.5);
}

TEST(VectorMath, TanhWithinTwoUlp) {
  const auto xs = test_inputs({0.625f, -0.625f, 9.0f, -9.0f});
  const Worst w = worst_error(
      xs, [](__m256 v) { return tanh8(v); }, [](double x) { return std::tanh(x); });
  EXPECT_MAX_ULP(w, 2.0);
}

TEST(VectorMath, SigmoidWithinTwoUlp) {
  const auto xs = test_inputs({0.0f, -87.3f, 87.3f, -103.9f, 16.6f});
  const Worst w = worst_error(
      xs, [](__m256 v) { return sigmoid8(v); },
      [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
  EXPECT_MAX_ULP(w, 2.0);
}

// GELU inherits erf's and tanh's accuracy; where 1 + erf cancels (x < -3) only the absolute
// error is small, as with any float formula of this form.
TEST(VectorMath, GeluFamilyCloseToDouble) {
  std::vector<float> xs;
  for (float x = -12.0f; x <= 12.0f; x += 0.00731f) xs.push_back(x);
  std::vector<float> ys(xs.size());
  const int64_t n = static_cast<int64_t>(xs.size());
  auto check = [&](const char* what, auto ref) {
    for (size_t i = 0; i < xs.size(); ++i) {
      const double r = ref(static_cast<double>(xs[i]));
      ASSERT_NEAR(ys[i], r, 3e-7 * std::max(1.0, std::fabs(r)) + 3e-7) << what << " at " << xs[i];
    }
  };
  map8(xs.data(), ys.data(), n, [](__m256 v) { return gelu_erf8(v); });
  check("gelu_erf", [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); });
  map8(xs.data(), ys.data(), n, [](__m256 v) { return gelu_tanh8(v); });
  check("gelu_tanh", [](double x) {
    return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
  });
  map8(xs.data(), ys.data(), n, [](__m256 v) { return quick_gelu8(v, 1.702f); });
  check("quick_gelu", [](double x) { return x / (1 + std::exp(-1.702 * x)); });
}

// Tails go through masked vector code: the result of an element does not depend on where it sits.
TEST(VectorMath, TailsAgreeWithFullVectors) {
  const float xs[11] = {-3.5f, -1.0f, -0.3f, 0.0f, 0.2f, 0.7f, 1.3f, 2.9f, 5.0f, -7.0f, 0.9f};
  float full[11];
  map8(xs, full, 11, [](__m256 v) { return erf8(v); });
  for (int64_t n = 1; n <= 11; ++n) {
    for (int64_t start = 0; start + n <= 11; ++start) {
      float out[11] = {};
      map8(xs + start, out, n, [](__m256 v) { return erf8(v); });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], full[start + i]) << n << " " << start;
    }
  }
}

#endif  // VITRT_HAVE_AVX2_MATH

}  // namespace
}  // namespace vitrt
