// FP8 E4M3 ("e4m3fn" in the OCP 8-bit floating point spec, NVIDIA's __nv_fp8_e4m3) and E5M2
// (ONNX's float8e5m2, __nv_fp8_e5m2) <-> float.
//
// E4M3:
// Layout: 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits. There is no infinity; the
// codes 0x7F and 0xFF are NaN, so the largest finite magnitude is 0x7E = 1.75 * 2^8 = 448.
// Exponent field 0 holds the subnormals m/8 * 2^-6 (smallest 2^-9).
//
// The encoder rounds to the nearest representable value, ties to the even code, and saturates:
// a finite value beyond 448 (and +-inf) becomes +-448, as vitrt.QuantLinear and cuBLASLt's
// saturating conversion (__NV_SATFINITE) define it. NaN stays NaN. With saturate = false
// (ONNX's Cast / QuantizeLinear saturate=0) a value that rounds beyond 448, and +-inf, become
// NaN: E4M3 has no infinity.
//
// E5M2: 1 sign bit, 5 exponent bits (bias 15), 2 mantissa bits: the upper byte of an IEEE
// half. Exponent field 31 holds +-inf (mantissa 0) and NaN; the largest finite magnitude is
// 1.75 * 2^15 = 57344, the subnormals m/4 * 2^-14 (smallest 2^-16). Saturating, a finite value
// beyond 57344 and +-inf become +-57344; without, values rounding beyond it become +-inf.
// NaN encodes as 0x7E (ml_dtypes' and ONNX's reference code) with x's sign.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

#include "vitrt/tensor.h"

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

// The bits of a float: the encoder rounds on them, independent of the floating-point
// environment's rounding mode, and without frexp / floor (17 ns a value with them, 2.4 ns
// without: LayerNorm and Attention encode every output they write as codes).
inline uint8_t float_to_e4m3(float x, bool saturate = true) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t a = bits & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return 0x7F;                      // NaN
  if (!saturate && a > 0x43E80000u) return sign | 0x7F;  // rounds beyond 448 (464 ties to 448)
  if (a >= 0x43E00000u) return sign | 0x7E;              // |x| >= 448, and inf
  if (a >= 0x3C800000u) {                                // |x| >= 2^-6: a normal code
    // Keep 3 of the 23 mantissa bits, rounding to nearest even on the bits; a carry into the
    // exponent is the round-up to the next power of two (|x| < 448 rounds to at most 448, code
    // 0x7E, never the NaN code). What is left is the float's exponent (bias 127) and 3 bits:
    // rebias to 7.
    const uint32_t r = (a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;
    return sign | static_cast<uint8_t>(r - ((127u - 7u) << 3));
  }
  // Below 2^-6: the subnormal grid of step 2^-9. a * 2^9 < 8 is exact, and so is its fraction
  // after truncation; 8 steps round up to 2^-6, code 0x08, the smallest normal.
  const float steps = std::bit_cast<float>(a) * 512.0f;
  uint32_t n = static_cast<uint32_t>(steps);
  const float fraction = steps - static_cast<float>(n);
  if (fraction > 0.5f || (fraction == 0.5f && (n & 1u) != 0)) ++n;
  return sign | static_cast<uint8_t>(n);
}

inline float e5m2_to_float(uint8_t code) {
  const int exponent = (code >> 2) & 0x1F;
  const int mantissa = code & 0x3;
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  if (exponent == 0x1F) return mantissa == 0 ? sign * INFINITY : std::nanf("");
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -16);
  return sign * std::ldexp(static_cast<float>(4 + mantissa), exponent - 17);
}

inline uint8_t float_to_e5m2(float x, bool saturate = true) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t a = bits & 0x7FFFFFFFu;
  const uint8_t overflow = saturate ? 0x7B : 0x7C;  // 57344 or inf
  if (a > 0x7F800000u) return sign | 0x7E;          // NaN
  if (a >= 0x47800000u) return sign | overflow;     // |x| >= 2^16, and inf
  if (a >= 0x38800000u) {                           // |x| >= 2^-14: a normal code
    // As E4M3's normals with 2 mantissa bits kept and the exponent rebiased to 15; 61440 and
    // above round up to 2^16, the infinity code 0x7C.
    const uint32_t r = (a + 0xFFFFFu + ((a >> 21) & 1u)) >> 21;
    const uint32_t code = r - ((127u - 15u) << 2);
    return sign | (code >= 0x7Cu ? overflow : static_cast<uint8_t>(code));
  }
  // The subnormal grid of step 2^-16; 4 steps round up to 2^-14, code 0x04.
  const float steps = std::bit_cast<float>(a) * 65536.0f;
  uint32_t n = static_cast<uint32_t>(steps);
  const float fraction = steps - static_cast<float>(n);
  if (fraction > 0.5f || (fraction == 0.5f && (n & 1u) != 0)) ++n;
  return sign | static_cast<uint8_t>(n);
}

// A code of `type` (kFloat8E4M3FN or kFloat8E5M2) <-> float.
inline float float8_to_float(DType type, uint8_t code) {
  return type == DType::kFloat8E4M3FN ? e4m3_to_float(code) : e5m2_to_float(code);
}
inline uint8_t float_to_float8(DType type, float x, bool saturate) {
  return type == DType::kFloat8E4M3FN ? float_to_e4m3(x, saturate) : float_to_e5m2(x, saturate);
}

}  // namespace vitrt
