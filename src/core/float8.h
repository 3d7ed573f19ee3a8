// FP8 E4M3 ("e4m3fn" in the OCP 8-bit floating point spec, NVIDIA's __nv_fp8_e4m3) <-> float.
//
// Layout: 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits. There is no infinity; the
// codes 0x7F and 0xFF are NaN, so the largest finite magnitude is 0x7E = 1.75 * 2^8 = 448.
// Exponent field 0 holds the subnormals m/8 * 2^-6 (smallest 2^-9).
//
// The encoder rounds to the nearest representable value, ties to the even code, and saturates:
// a finite value beyond 448 (and +-inf) becomes +-448, as vitrt.QuantLinear and cuBLASLt's
// saturating conversion (__NV_SATFINITE) define it. NaN stays NaN.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace vitrt {

constexpr float kE4M3Max = 448.0f;

inline float e4m3_to_float(uint8_t code) {
  const int exponent = (code >> 3) & 0xF;
  const int mantissa = code & 0x7;
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  if (exponent == 0xF && mantissa == 0x7) return std::nanf("");
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -9);
  return sign * std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
}

// The 256 decoded codes, for kernels that decode a whole weight matrix.
inline const std::array<float, 256>& e4m3_decode_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = e4m3_to_float(static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

namespace detail {
// Rounds a non-negative float holding at most 24 significant bits to the nearest integer, ties
// to even, independent of the floating-point environment's rounding mode.
inline float round_half_even_nonneg(float v) {
  const float r = std::floor(v);
  const float diff = v - r;  // exact: v and r share the exponent range
  if (diff > 0.5f || (diff == 0.5f && std::fmod(r, 2.0f) != 0.0f)) return r + 1.0f;
  return r;
}
}  // namespace detail

inline uint8_t float_to_e4m3(float x) {
  if (std::isnan(x)) return 0x7F;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fabs(x);
  if (a >= kE4M3Max) return sign | 0x7E;
  if (a < 0.015625f) {  // below 2^-6: the subnormal grid of step 2^-9 (a * 2^9 is exact)
    // 8 steps round up to 2^-6, code 0x08, the smallest normal: the sum carries naturally.
    return sign | static_cast<uint8_t>(detail::round_half_even_nonneg(a * 512.0f));
  }
  int e = 0;
  const float fraction = std::frexp(a, &e);  // a = fraction * 2^e, fraction in [0.5, 1)
  // Mantissa steps of 1/8 on [1, 2): (2 * fraction - 1) * 8 is exact.
  const float steps = detail::round_half_even_nonneg((2.0f * fraction - 1.0f) * 8.0f);
  int exponent = e - 1 + 7;
  int mantissa = static_cast<int>(steps);
  if (mantissa == 8) {  // rounded up to the next power of two
    mantissa = 0;
    ++exponent;
  }
  // a < 448 here, so it rounds to at most 448 = exponent 15, mantissa 6 (never the NaN code).
  return sign | static_cast<uint8_t>((exponent << 3) | mantissa);
}

}  // namespace vitrt
