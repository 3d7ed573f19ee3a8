// Tensor comparison with a report of the worst element.
#include "testing/compare.h"

#include <cmath>
#include <random>

#include "core/half.h"

namespace vitrt::testing {

namespace {

std::string index_string(const std::vector<int64_t>& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (shape[d] == 0) break;
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return shape_to_string(idx);
}

::testing::AssertionResult check_meta(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype()) {
    return ::testing::AssertionFailure() << "dtype " << dtype_name(actual.dtype())
                                         << " != expected " << dtype_name(expected.dtype());
  }
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape())
                                         << " != expected " << shape_to_string(expected.shape());
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult tensors_close(const Tensor& actual, const Tensor& expected,
                                         Tolerance tol) {
  auto meta = check_meta(actual, expected);
  if (!meta) return meta;
  const int64_t n = expected.numel();
  int64_t worst = -1;
  double worst_excess = 0.0;
  int64_t failures = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = actual.element_as_double(i);
    const double e = expected.element_as_double(i);
    if (std::isnan(a) && std::isnan(e)) continue;
    if (std::isinf(e) || std::isinf(a)) {
      if (a == e) continue;
      ++failures;
      if (worst < 0 || worst_excess < INFINITY) {
        worst = i;
        worst_excess = INFINITY;
      }
      continue;
    }
    const double err = std::fabs(a - e);
    const double allowed = tol.atol + tol.rtol * std::fabs(e);
    if (!(err <= allowed)) {
      ++failures;
      const double excess = std::isnan(err) ? INFINITY : err - allowed;
      if (worst < 0 || excess > worst_excess) {
        worst = i;
        worst_excess = excess;
      }
    }
  }
  if (failures == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << failures << " of " << n << " elements differ (rtol " << tol.rtol << ", atol "
         << tol.atol << "); worst at " << index_string(expected.shape(), worst) << ": actual "
         << actual.element_as_double(worst) << ", expected " << expected.element_as_double(worst);
}

::testing::AssertionResult tensors_close_to_scale(const Tensor& actual, const Tensor& expected,
                                                  double rel) {
  auto meta = check_meta(actual, expected);
  if (!meta) return meta;
  double scale = 0.0;
  const int64_t n = expected.numel();
  for (int64_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(expected.element_as_double(i)));
  double worst_err = 0.0;
  int64_t worst = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(actual.element_as_double(i) - expected.element_as_double(i));
    if (std::isnan(err) || err > worst_err) {
      worst_err = std::isnan(err) ? INFINITY : err;
      worst = i;
    }
  }
  if (worst < 0 || worst_err <= rel * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "max error " << worst_err << " exceeds " << rel << " x scale " << scale << "; worst at "
         << index_string(expected.shape(), worst) << ": actual " << actual.element_as_double(worst)
         << ", expected " << expected.element_as_double(worst);
}

Tensor random_tensor(DType dtype, std::vector<int64_t> shape, uint64_t seed, double lo, double hi) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double v = dist(rng);
    switch (dtype) {
      case DType::kFloat32:
        t.data<float>()[i] = static_cast<float>(v);
        break;
      case DType::kFloat64:
        t.data<double>()[i] = v;
        break;
      case DType::kFloat16:
        t.data<uint16_t>()[i] = float_to_half(static_cast<float>(v));
        break;
      case DType::kBFloat16:
        t.data<uint16_t>()[i] = float_to_bf16(static_cast<float>(v));
        break;
      case DType::kInt64:
        t.data<int64_t>()[i] = static_cast<int64_t>(std::floor(v));
        break;
      case DType::kInt32:
        t.data<int32_t>()[i] = static_cast<int32_t>(std::floor(v));
        break;
      case DType::kBool:
        t.data<uint8_t>()[i] = v > (lo + hi) / 2 ? 1 : 0;
        break;
      default:
        break;
    }
  }
  return t;
}

::testing::AssertionResult cosine_at_least(const Tensor& actual, const Tensor& expected,
                                           double min_cosine) {
  auto meta = check_meta(actual, expected);
  if (!meta) return meta;
  double dot = 0.0, aa = 0.0, ee = 0.0;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double a = actual.element_as_double(i);
    const double e = expected.element_as_double(i);
    dot += a * e;
    aa += a * a;
    ee += e * e;
  }
  const double cosine = aa == 0.0 && ee == 0.0 ? 1.0 : dot / std::sqrt(aa * ee);
  if (cosine >= min_cosine) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "cosine similarity " << cosine << " < " << min_cosine
                                       << " over " << actual.numel() << " elements";
}

}  // namespace vitrt::testing
