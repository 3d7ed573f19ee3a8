// A float64 model of FP8 E4M3 and E5M2 for tests, written from the formats' definitions (not
// from src/core/float8.h): the value of each code, and the nearest code by exhaustive search.
#pragma once

#include <cmath>
#include <cstdint>

namespace vitrt::testing {

// An 8-bit float: 1 sign bit, the exponent bits (bias), the mantissa bits, and the largest
// finite magnitude's code.
struct Fp8Format {
  int mantissa_bits;
  int bias;
  int max_code;
};
inline constexpr Fp8Format kE4M3{3, 7, 0x7E};   // 0x7F: NaN, no infinity
inline constexpr Fp8Format kE5M2{2, 15, 0x7B};  // 0x7C..: inf and NaN (not modelled here)

inline double fp8_value(int code, Fp8Format f) {
  const int steps = 1 << f.mantissa_bits;
  const int exponent = (code & 0x7F) >> f.mantissa_bits;
  const int mantissa = code & (steps - 1);
  const double v = exponent == 0
                       ? std::ldexp(static_cast<double>(mantissa) / steps, 1 - f.bias)
                       : std::ldexp(1.0 + static_cast<double>(mantissa) / steps, exponent - f.bias);
  return (code & 0x80) ? -v : v;
}

// The finite code nearest to x (ties: the even code; beyond the largest finite value:
// saturate to it).
inline uint8_t fp8_nearest_code(double x, Fp8Format f) {
  const int sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::fabs(x);
  int best = 0;
  double best_err = INFINITY;
  for (int c = 0; c <= f.max_code; ++c) {
    const double err = std::fabs(fp8_value(c, f) - a);
    if (err < best_err || (err == best_err && c % 2 == 0)) {
      best = c;
      best_err = err;
    }
  }
  return static_cast<uint8_t>(sign | best);
}

inline double e4m3_value(int code) {
  return fp8_value(code, kE4M3);
}
inline uint8_t e4m3_nearest_code(double x) {
  return fp8_nearest_code(x, kE4M3);
}
inline double e5m2_value(int code) {
  return fp8_value(code, kE5M2);
}
inline uint8_t e5m2_nearest_code(double x) {
  return fp8_nearest_code(x, kE5M2);
}

}  // namespace vitrt::testing
