// A fast float exp for Softmax-like kernels: AVX2 for eight lanes at a time, scalar for tails.
//
// exp(x) = 2^n * exp(r) with n = round(x / ln 2) and |r| <= ln(2) / 2; exp(r) is the degree-6
// polynomial of Cephes' expf (relative error about 1 ulp over the reduced range, checked against
// double exp in tests/cpu/normalization_test.cc). Inputs below the smallest normal result give
// exactly 0, so masked (-inf) logits vanish as with std::exp; inputs above 127.5 * ln 2 (88.3762)
// give +inf, slightly early (exp overflows float at 88.72): Softmax feeds it x - max <= 0.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace vitrt {

inline constexpr float kExpLog2e = 1.44269504088896341f;
inline constexpr float kExpLn2Hi = 0.693359375f;  // ln 2 split so n * kExpLn2Hi is exact
inline constexpr float kExpLn2Lo = -2.12194440e-4f;
inline constexpr float kExpMaxInput = 88.3762f;    // keeps n <= 127
inline constexpr float kExpMinInput = -87.33654f;  // exp(kExpMinInput) is the smallest normal
inline constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                      4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

inline float exp_approx(float x) {
  if (x < kExpMinInput) return 0.0f;
  if (x > kExpMaxInput) return __builtin_inff();
  if (x != x) return x;
  const float n = __builtin_floorf(x * kExpLog2e + 0.5f);
  const float r = (x - n * kExpLn2Hi) - n * kExpLn2Lo;
  float p = kExpPoly[0];
  for (int i = 1; i < 6; ++i) p = p * r + kExpPoly[i];
  p = p * r * r + r + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float two_n;
  std::memcpy(&two_n, &bits, sizeof(bits));
  return p * two_n;
}

#if defined(__AVX2__) && defined(__FMA__)
// Eight lanes of exp_approx. (GCC does not vectorise the scalar version under its default
// -ftrapping-math, so the hot loop is written with intrinsics.)
inline __m256 exp_approx8(__m256 x) {
  // max/min return their second operand when one is NaN: x second keeps a NaN flowing to p.
  const __m256 xc =
      _mm256_min_ps(_mm256_set1_ps(kExpMaxInput), _mm256_max_ps(_mm256_set1_ps(kExpMinInput), x));
  const __m256 n =
      _mm256_floor_ps(_mm256_fmadd_ps(xc, _mm256_set1_ps(kExpLog2e), _mm256_set1_ps(0.5f)));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Hi), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kExpLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpPoly[0]);
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpPoly[i]));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(),
                       _mm256_cmp_ps(x, _mm256_set1_ps(kExpMinInput), _CMP_LT_OQ));
  return _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()),
                          _mm256_cmp_ps(x, _mm256_set1_ps(kExpMaxInput), _CMP_GT_OQ));
}
#endif

// y[i] = exp_approx(y[i]) for i < n.
inline void exp_approx_inplace(float* y, int64_t n) {
  int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp_approx8(_mm256_loadu_ps(y + i)));
#endif
  for (; i < n; ++i) y[i] = exp_approx(y[i]);
}

}  // namespace vitrt
