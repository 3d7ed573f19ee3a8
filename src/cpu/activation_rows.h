// The activations of vitrt.ChannelsLastConv and vitrt.ScaleShift (ir/ops/channels_last_conv.h's
// ConvActivation) applied in place to a run of values that is still in cache: float through the
// AVX2 approximations of cpu/exp_approx.h where the build has them, float64 (the tests'
// reference kernels) through <cmath>.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cpu/exp_approx.h"
#include "ir/ops/channels_last_conv.h"

namespace vitrt {

// x * sigmoid(x) in place over n values (the activation "silu").
inline void silu_inplace(float* y, int64_t n) {
#if VITRT_HAVE_AVX2_MATH
  map8(y, y, n, [](__m256 v) { return quick_gelu8(v, 1.0f); });
#else
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] / (1.0f + std::exp(-y[i]));
#endif
}
inline void silu_inplace(double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] / (1.0 + std::exp(-y[i]));
}

// x * min(1, max(0, x / 6 + 1 / 2)) in place (the activation "hard_swish").
template <typename T>
void hard_swish_inplace(T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= std::min(T(1), std::max(T(0), y[i] / T(6) + T(0.5)));
}

// GELU in place: the erf form, or its tanh approximation when `tanh_form`.
inline void gelu_inplace(float* y, int64_t n, bool tanh_form) {
#if VITRT_HAVE_AVX2_MATH
  if (tanh_form) {
    map8(y, y, n, [](__m256 v) { return gelu_tanh8(v); });
  } else {
    map8(y, y, n, [](__m256 v) { return gelu_erf8(v); });
  }
#else
  for (int64_t i = 0; i < n; ++i) {
    const float x = y[i];
    y[i] = tanh_form ? 0.5f * x * (1.0f + std::tanh(0.7978845608f * (x + 0.044715f * x * x * x)))
                     : 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
  }
#endif
}
inline void gelu_inplace(double* y, int64_t n, bool tanh_form) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = y[i];
    y[i] = tanh_form ? 0.5 * x * (1.0 + std::tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)))
                     : 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752));
  }
}

// `act` over y[0, n) in place.
template <typename T>
void activate_inplace(ConvActivation act, T* y, int64_t n) {
  switch (act) {
    case ConvActivation::kRelu:
      for (int64_t k = 0; k < n; ++k) y[k] = std::max(y[k], T(0));
      break;
    case ConvActivation::kSilu:
      silu_inplace(y, n);
      break;
    case ConvActivation::kHardSwish:
      hard_swish_inplace(y, n);
      break;
    case ConvActivation::kRelu6:
      for (int64_t k = 0; k < n; ++k) y[k] = std::min(std::max(y[k], T(0)), T(6));
      break;
    case ConvActivation::kGelu:
    case ConvActivation::kGeluTanh:
      gelu_inplace(y, n, act == ConvActivation::kGeluTanh);
      break;
    case ConvActivation::kNone:
      break;
  }
}

}  // namespace vitrt
