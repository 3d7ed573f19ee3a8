// DynamicQuantizeLinear's arithmetic (see dynamic_quantize.h).
#include "cpu/dynamic_quantize.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/parallel.h"

namespace vitrt {

Result<DynamicQuantization> dynamic_quantization_of(const float* x, int64_t n) {
  // The range in parallel chunks (branch-free loops the compiler vectorizes); it always
  // includes 0.
  constexpr int64_t kChunks = 64;
  std::array<float, kChunks> chunk_lo{}, chunk_hi{};
  std::array<int, kChunks> chunk_nan{};
  parallel_for(kChunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      // Locals, not the lambda's captures, so the loop vectorizes.
      const float* __restrict src = x;
      const int64_t first = n * c / kChunks, last = n * (c + 1) / kChunks;
      float lo = 0.0f, hi = 0.0f;
      int nan = 0;
      // min/max of a float set are the same in any order once NaN is ruled out (it is, below).
#pragma omp simd reduction(min : lo) reduction(max : hi) reduction(| : nan)
      for (int64_t i = first; i < last; ++i) {
        const float v = src[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        nan |= v != v;
      }
      chunk_lo[c] = lo;
      chunk_hi[c] = hi;
      chunk_nan[c] = nan;
    }
  });
  float lo = 0.0f, hi = 0.0f;
  for (int64_t c = 0; c < kChunks; ++c) {
    if (chunk_nan[c] != 0) return invalid_argument("x holds NaN: no quantization range");
    lo = std::min(lo, chunk_lo[c]);
    hi = std::max(hi, chunk_hi[c]);
  }
  // ONNX's reference, in float32: scale = (max - min) / 255 (1 / 255 when max == min).
  DynamicQuantization q;
  q.scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
  q.zero_point =
      static_cast<uint8_t>(std::nearbyint(std::clamp(0.0f - lo / q.scale, 0.0f, 255.0f)));
  return q;
}

namespace {

template <typename Q>
void quantize_per_tensor_typed(const float* x, int64_t n, float scale, int32_t zero_point, Q* y) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  parallel_for(n, 1 << 14, [&](int64_t begin, int64_t end) {
    const float* __restrict src = x;
    Q* __restrict dst = y;
    const float s = scale, z = static_cast<float>(zero_point);
    // Subnormal x becomes 0 before the division, which x86 does in microcode for them (~20x
    // slower; GELU outputs are full of them): exact for scales above 2^-125, where
    // |x / scale| < 0.5 rounds to 0 anyway.
    const float tiny = s > 0x1p-125f ? std::numeric_limits<float>::min() : 0.0f;
    for (int64_t i = begin; i < end; ++i) {
      const float xv = std::fabs(src[i]) < tiny ? 0.0f : src[i];
      // rint, not nearbyint: the same rounding (half to even in the default mode), and the
      // compiler turns rint into a vector instruction where nearbyint stays a library call.
      float v = std::rint(xv / s) + z;
      v = v < lo ? lo : v;
      v = v > hi ? hi : v;
      v = v == v ? v : z;  // NaN
      dst[i] = static_cast<Q>(static_cast<int32_t>(v));
    }
  });
}

}  // namespace

void quantize_per_tensor(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y) {
  quantize_per_tensor_typed(x, n, scale, zero_point, y);
}

void quantize_per_tensor(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* y) {
  quantize_per_tensor_typed(x, n, scale, zero_point, y);
}

void quantize_dynamic_uint8(const float* x, int64_t n, const DynamicQuantization& q, uint8_t* y) {
  quantize_per_tensor(x, n, q.scale, q.zero_point, y);
}

}  // namespace vitrt
