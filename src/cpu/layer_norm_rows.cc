// LayerNorm rows in float32 with AVX2/FMA; see layer_norm_rows.h.
#include "cpu/layer_norm_rows.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"

namespace vitrt {
namespace {

inline float horizontal_sum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Writes the row (a, or a + b) to `out` (when not nullptr) and returns its sum.
inline float form_row(const float* a, const float* b, float* out, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  if (b != nullptr) {
    for (; i + 16 <= n; i += 16) {
      const __m256 v0 = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
      const __m256 v1 = _mm256_add_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
      _mm256_storeu_ps(out + i, v0);
      _mm256_storeu_ps(out + i + 8, v1);
      acc0 = _mm256_add_ps(acc0, v0);
      acc1 = _mm256_add_ps(acc1, v1);
    }
  } else if (out != nullptr) {
    for (; i + 16 <= n; i += 16) {
      const __m256 v0 = _mm256_loadu_ps(a + i);
      const __m256 v1 = _mm256_loadu_ps(a + i + 8);
      _mm256_storeu_ps(out + i, v0);
      _mm256_storeu_ps(out + i + 8, v1);
      acc0 = _mm256_add_ps(acc0, v0);
      acc1 = _mm256_add_ps(acc1, v1);
    }
  } else {
    for (; i + 16 <= n; i += 16) {
      acc0 = _mm256_add_ps(acc0, _mm256_loadu_ps(a + i));
      acc1 = _mm256_add_ps(acc1, _mm256_loadu_ps(a + i + 8));
    }
  }
  float s = horizontal_sum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) {
    const float v = b != nullptr ? a[i] + b[i] : a[i];
    if (out != nullptr) out[i] = v;
    s += v;
  }
  return s;
}

// Sum of (x - mean)^2 over the row.
inline float squared_deviations(const float* x, float mean, int64_t n) {
  const __m256 m = _mm256_set1_ps(mean);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), m);
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m);
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  float s = horizontal_sum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) {
    const float d = x[i] - mean;
    s += d * d;
  }
  return s;
}

// y = (x - mean) * inv * gamma + beta.
inline void normalize_row(const float* x, float mean, float inv, const float* gamma,
                          const float* beta, float* y, int64_t n) {
  const __m256 m = _mm256_set1_ps(mean);
  const __m256 s = _mm256_set1_ps(inv);
  int64_t i = 0;
  if (beta != nullptr) {
    for (; i + 8 <= n; i += 8) {
      const __m256 xn = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m), s);
      _mm256_storeu_ps(y + i,
                       _mm256_fmadd_ps(xn, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      const __m256 xn = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), m), s);
      _mm256_storeu_ps(y + i, _mm256_mul_ps(xn, _mm256_loadu_ps(gamma + i)));
    }
  }
  for (; i < n; ++i) {
    y[i] = (x[i] - mean) * inv * gamma[i] + (beta != nullptr ? beta[i] : 0.0f);
  }
}

}  // namespace

void layer_norm_rows(const LayerNormRowsArgs& p) {
  const int64_t n = p.n;
  if (p.rows <= 0 || n <= 0) return;
  // About 32 KiB of row data per chunk: enough work to amortise a thread's start.
  const int64_t grain = std::max<int64_t>(1, 8192 / n);
  parallel_for(p.rows, grain, [&](int64_t begin, int64_t end) {
    // Without y (codes out): one row of scratch per thread.
    thread_local std::vector<float> scratch;
    if (p.y == nullptr && scratch.size() < static_cast<size_t>(n)) scratch.resize(n);
    for (int64_t r = begin; r < end; ++r) {
      const float* a = p.a + r * n;
      const float* b = p.b != nullptr ? p.b + (r % p.b_rows) * n : nullptr;
      float* y = p.y != nullptr ? p.y + r * n : scratch.data();
      // The row as normalised: the sum output when asked for, else y (overwritten below),
      // else, for a plain LayerNorm, the input itself.
      float* row = p.sum != nullptr ? p.sum + r * n : (b != nullptr ? y : nullptr);
      const float total = form_row(a, b, row, n);
      const float* x = row != nullptr ? row : a;
      const float mean = total / static_cast<float>(n);
      const float var = squared_deviations(x, mean, n) / static_cast<float>(n);
      const float inv = 1.0f / std::sqrt(var + p.epsilon);
      normalize_row(x, mean, inv, p.gamma, p.beta, y, n);
      if (p.encode) p.encode(y, n, r);
      if (p.mean != nullptr) p.mean[r] = mean;
      if (p.inv_std != nullptr) p.inv_std[r] = inv;
    }
  });
}

}  // namespace vitrt
