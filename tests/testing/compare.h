// The one helper tests use to compare tensors: reports the worst element on failure.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "vitrt/tensor.h"

namespace vitrt::testing {

struct Tolerance {
  double rtol = 1e-5;
  double atol = 1e-6;
};

// Passes when shapes and dtypes match and every |actual - expected| <= atol + rtol * |expected|
// (NaN equals NaN, infinities must match exactly). On failure the message names the worst
// element by index, both values and the error.
::testing::AssertionResult tensors_close(const Tensor& actual, const Tensor& expected,
                                         Tolerance tol = {});

// Passes when max |actual - expected| <= rel * max |expected| (tolerance relative to the
// output's scale, as the golden model tests state it).
::testing::AssertionResult tensors_close_to_scale(const Tensor& actual, const Tensor& expected,
                                                  double rel);

// A tensor of `dtype` and `shape` holding `values` as they are (T the element's C++ type:
// int8_t, uint8_t, float, ...).
template <typename T>
Tensor tensor_of(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  return *Tensor::copy_from(dtype, std::move(shape), values.data(), values.size() * sizeof(T));
}

// The int8 code of value / scale as vitrt's int8 quantizers define it, computed here on its own:
// clamp(round_half_even(value / scale), qmin, 127), NaN giving 0.
inline int int8_code_of(float value, float scale, int qmin) {
  const float q = value / scale;
  return std::isnan(q) ? 0
                       : static_cast<int>(std::min(
                             std::max(std::nearbyint(q), static_cast<float>(qmin)), 127.0f));
}

// Deterministic pseudo-random fill (fixed seed) for tests.
Tensor random_tensor(DType dtype, std::vector<int64_t> shape, uint64_t seed, double lo = -1.0,
                     double hi = 1.0);

// Passes when shapes and dtypes match and the cosine similarity of the two tensors (as flat
// float vectors, computed in double) is at least `min_cosine`; reduced-precision outputs are
// judged by direction this way. Both all-zero counts as equal.
::testing::AssertionResult cosine_at_least(const Tensor& actual, const Tensor& expected,
                                           double min_cosine);

}  // namespace vitrt::testing
