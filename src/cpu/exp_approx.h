// Vectorised float transcendentals for the CPU kernels: exp, erf, tanh, sigmoid and the GELU
// family, eight lanes at a time with AVX2+FMA (the library's baseline, -march=x86-64-v3).
//
// Accuracy (tests/cpu/exp_approx_test.cc asserts the max ulp error against double-precision
// std:: functions over wide ranges, +-inf, NaN, denormals; measured worst in brackets): exp
// <= 1 ulp over its whole range, denormal results included (0.83); erf <= 1.5 (0.98); tanh
// <= 2 (1.20); sigmoid <= 2 (1.74). NaN propagates, +-inf map to the limits of each function.
//
// Methods:
//  exp(x) = 2^n exp(r), n = round(x / ln 2), |r| <= ln(2)/2, exp(r) by the degree-7 polynomial of
//    Cephes' expf; 2^n is applied as two factors 2^(n/2) 2^(n - n/2) so that results in the
//    denormal range round once, correctly, instead of flushing to zero.
//  erf(x) = x + x Q(x^2) for |x| < 0.921875 (Q: least-squares fit of erf(x)/x - 1; adding x last
//    keeps the rounding of the leading term exact), 1 - exp(L(|x|)) up to 3.9192, where erf
//    rounds to 1 (L: fit of log(erfc(x)), the scheme of ONNX Runtime's MLAS), 1 beyond; odd.
//  tanh(x) = x + x z P(z), z = x^2, for |x| < 0.625 (Cephes' tanhf), else 1 - 2 / (exp(2|x|) + 1).
//  sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, e = exp(-|x|): no overflow, and
//    the tiny results of large negative x keep their relative accuracy.
//
// Tails shorter than eight lanes go through the same vector code with masked loads and stores,
// so an element's result never depends on its position in the array.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VITRT_HAVE_AVX2_MATH 1
#endif

namespace vitrt {

#if VITRT_HAVE_AVX2_MATH

namespace vmath_detail {

inline __m256 poly(__m256 x, const float* c, int n) {  // c[0] + c[1] x + ... + c[n-1] x^(n-1)
  __m256 p = _mm256_set1_ps(c[n - 1]);
  for (int i = n - 2; i >= 0; --i) p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(c[i]));
  return p;
}

inline __m256 abs8(__m256 x) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
}

// |magnitude| with the sign bit of `sign`.
inline __m256 copysign8(__m256 magnitude, __m256 sign) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  return _mm256_or_ps(_mm256_andnot_ps(sign_bit, magnitude), _mm256_and_ps(sign_bit, sign));
}

inline __m256 is_nan8(__m256 x) {
  return _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
}

// Lane mask selecting the first `n` (0..8) lanes, for masked loads and stores.
inline __m256i tail_mask(int64_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), lanes);
}

// exp(r) = 1 + r + r^2 (kExpPoly[0] + kExpPoly[1] r + ...), Cephes' expf.
inline constexpr float kExpPoly[6] = {5.0000001201e-1f, 1.6666665459e-1f, 4.1665795894e-2f,
                                      8.3334519073e-3f, 1.3981999507e-3f, 1.9875691500e-4f};
inline constexpr float kErfSmall[7] = {1.283791661e-01f,  -3.761263490e-01f, 1.128370836e-01f,
                                       -2.685995772e-02f, 5.202176981e-03f,  -8.153790841e-04f,
                                       8.411063754e-05f};
inline constexpr float kErfLogErfc[11] = {2.040768304e-04f,  -1.129624844e+00f, -6.332277656e-01f,
                                          -1.082142219e-01f, 2.483221702e-02f,  -3.855329705e-03f,
                                          2.484670840e-04f,  4.366537178e-05f,  -1.316205453e-05f,
                                          1.412800543e-06f,  -5.933981484e-08f};
inline constexpr float kErfSmallLimit = 0.921875f;
inline constexpr float kErfOneFrom = 3.919206f;  // erf rounds to 1 from here on
inline constexpr float kTanhPoly[5] = {-3.33332819422e-1f, 1.33314422036e-1f, -5.37397155531e-2f,
                                       2.06390887954e-2f, -5.70498872745e-3f};

}  // namespace vmath_detail

inline __m256 exp8(__m256 x) {
  using namespace vmath_detail;
  // Beyond these bounds exp over- or underflows anyway; clamping keeps n in [-150, 128]. A NaN
  // becomes a bound here (max/min return their second operand) and is put back at the end.
  const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(88.8f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // ln 2 in two parts: n * 0.693359375 is exact for |n| <= 2^9.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  // 1 + r (1 + r (1/2 + r/6 + ...)): Horner to the end, each step one fused rounding.
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 p = _mm256_fmadd_ps(_mm256_fmadd_ps(poly(r, kExpPoly, 6), r, one), r, one);
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  const __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
  return _mm256_blendv_ps(y, x, is_nan8(x));
}

inline __m256 erf8(__m256 x) {
  using namespace vmath_detail;
  const __m256 ax = abs8(x);
  const __m256 small = _mm256_fmadd_ps(ax, poly(_mm256_mul_ps(ax, ax), kErfSmall, 7), ax);
  const __m256 al = _mm256_min_ps(ax, _mm256_set1_ps(kErfOneFrom));
  __m256 large = _mm256_sub_ps(_mm256_set1_ps(1.0f), exp8(poly(al, kErfLogErfc, 11)));
  large = _mm256_blendv_ps(large, _mm256_set1_ps(1.0f),
                           _mm256_cmp_ps(ax, _mm256_set1_ps(kErfOneFrom), _CMP_GE_OQ));
  __m256 y =
      _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(kErfSmallLimit), _CMP_LT_OQ));
  y = _mm256_blendv_ps(y, x, is_nan8(x));
  return copysign8(y, x);
}

inline __m256 tanh8(__m256 x) {
  using namespace vmath_detail;
  const __m256 ax = abs8(x);
  const __m256 z = _mm256_mul_ps(x, x);
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(x, z), poly(z, kTanhPoly, 5), x);
  const __m256 e = exp8(_mm256_add_ps(ax, ax));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 large =
      copysign8(_mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one))), x);
  const __m256 y =
      _mm256_blendv_ps(large, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
  return _mm256_blendv_ps(y, x, is_nan8(x));
}

inline __m256 sigmoid8(__m256 x) {
  using namespace vmath_detail;
  const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), abs8(x)));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 num = _mm256_blendv_ps(one, e, _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
  // 1 + e rounds; its exact error (Fast2Sum, as 1 >= e) corrects the quotient to first order:
  // num / (s + err) ~ q (1 - err / s). Without it the error reaches 2 ulp; the reciprocal
  // estimate is precise enough for a correction that small.
  const __m256 s = _mm256_add_ps(one, e);
  const __m256 err = _mm256_add_ps(_mm256_sub_ps(one, s), e);
  const __m256 q = _mm256_div_ps(num, s);
  return _mm256_fnmadd_ps(_mm256_mul_ps(q, err), _mm256_rcp_ps(s), q);
}

// 0.5 x (1 + erf(x / sqrt 2)): GELU as PyTorch's default and ONNX Gelu(approximate="none").
inline __m256 gelu_erf8(__m256 x) {
  const __m256 half_x = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
  const __m256 e = erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
  return _mm256_fmadd_ps(half_x, e, half_x);
}

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): GELU(approximate="tanh").
inline __m256 gelu_tanh8(__m256 x) {
  const __m256 half_x = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
  const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
  const __m256 inner = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                                     _mm256_fmadd_ps(x3, _mm256_set1_ps(0.044715f), x));
  return _mm256_fmadd_ps(half_x, tanh8(inner), half_x);
}

// x sigmoid(alpha x): QuickGELU (alpha 1.702, CLIP) and SiLU (alpha 1).
inline __m256 quick_gelu8(__m256 x, float alpha) {
  return _mm256_mul_ps(x, sigmoid8(_mm256_mul_ps(x, _mm256_set1_ps(alpha))));
}

// y[i] = f(x[i]) for i < n, eight lanes at a time (x and y may be the same array).
template <typename F>
inline void map8(const float* x, float* y, int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i mask = vmath_detail::tail_mask(n - i);
    _mm256_maskstore_ps(y + i, mask, f(_mm256_maskload_ps(x + i, mask)));
  }
}

#endif  // VITRT_HAVE_AVX2_MATH

// One exp through the vector code, for scalar loops that must agree with the vector ones.
inline float exp_approx(float x) {
#if VITRT_HAVE_AVX2_MATH
  return _mm256_cvtss_f32(exp8(_mm256_set1_ps(x)));
#else
  return std::exp(x);
#endif
}

// y[i] = exp(y[i]) for i < n (Softmax's inner loop).
inline void exp_approx_inplace(float* y, int64_t n) {
#if VITRT_HAVE_AVX2_MATH
  map8(y, y, n, [](__m256 v) { return exp8(v); });
#else
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(y[i]);
#endif
}

}  // namespace vitrt
