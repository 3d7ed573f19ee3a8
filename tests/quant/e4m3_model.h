// A float64 model of FP8 E4M3 and E5M2 for tests, written from the formats' definitions (not
// from src/core/float8.h): the value of each code, and the nearest code by exhaustive search.
#pragma once

#include <cmath>
#include <cstdint>

namespace vitrt::testing {

inline double e4m3_value(int code) {
  const int exponent = (code >> 3) & 0xF;
  const int mantissa = code & 7;
  const double v = exponent == 0 ? std::ldexp(mantissa / 8.0, -6)
                                 : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return (code & 0x80) ? -v : v;
}

// The finite code nearest to x (ties: the even code; beyond 448: saturate to +-448).
inline uint8_t e4m3_nearest_code(double x) {
  const int sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::fabs(x);
  int best = 0;
  double best_err = INFINITY;
  for (int c = 0; c <= 0x7E; ++c) {
    const double err = std::fabs(e4m3_value(c) - a);
    if (err < best_err || (err == best_err && c % 2 == 0)) {
      best = c;
      best_err = err;
    }
  }
  return static_cast<uint8_t>(sign | best);
}

// E5M2: exponent bias 15, 2 mantissa bits; codes 0x7C.. are inf / NaN (not modelled here).
inline double e5m2_value(int code) {
  const int exponent = (code >> 2) & 0x1F;
  const int mantissa = code & 3;
  const double v = exponent == 0 ? std::ldexp(mantissa / 4.0, -14)
                                 : std::ldexp(1.0 + mantissa / 4.0, exponent - 15);
  return (code & 0x80) ? -v : v;
}

// The finite E5M2 code nearest to x (ties: the even code; beyond 57344: saturate).
inline uint8_t e5m2_nearest_code(double x) {
  const int sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::fabs(x);
  int best = 0;
  double best_err = INFINITY;
  for (int c = 0; c <= 0x7B; ++c) {
    const double err = std::fabs(e5m2_value(c) - a);
    if (err < best_err || (err == best_err && c % 2 == 0)) {
      best = c;
      best_err = err;
    }
  }
  return static_cast<uint8_t>(sign | best);
}

}  // namespace vitrt::testing
