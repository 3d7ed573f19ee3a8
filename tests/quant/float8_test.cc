// FP8 E4M3 and E5M2 conversion (src/core/float8.h) against a float64 model of the formats:
// every one of the 256 codes decoded, and encoding checked against a brute-force nearest-code
// search with ties to the even code, saturating and not.
#include "core/float8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "quant/e4m3_model.h"

namespace vitrt {
namespace {

using testing::e4m3_nearest_code;
using testing::e4m3_value;
using testing::e5m2_nearest_code;
using testing::e5m2_value;

TEST(Float8, DecodesEveryCode) {
  for (int c = 0; c < 256; ++c) {
    const float got = e4m3_to_float(static_cast<uint8_t>(c));
    if ((c & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(got)) << c;
      continue;
    }
    EXPECT_EQ(static_cast<double>(got), e4m3_value(c)) << "code " << c;
    EXPECT_EQ(e4m3_decode_table()[c], got) << c;
  }
  EXPECT_EQ(e4m3_to_float(0x7E), 448.0f);
  EXPECT_EQ(e4m3_to_float(0x01), std::ldexp(1.0f, -9));
}

TEST(Float8, EncodesEveryCodeBackToItself) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(float_to_e4m3(e4m3_to_float(static_cast<uint8_t>(c))), c) << "code " << c;
  }
}

TEST(Float8, RoundsToNearestEvenAndSaturates) {
  std::vector<float> probes;
  // Every midpoint between neighbouring codes (exact in float), and the floats beside it.
  for (int c = 0; c < 0x7E; ++c) {
    const float mid = static_cast<float>((e4m3_value(c) + e4m3_value(c + 1)) / 2);
    probes.push_back(mid);
    probes.push_back(std::nextafter(mid, 0.0f));
    probes.push_back(std::nextafter(mid, INFINITY));
  }
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> log_mag(-12.0, 9.5);
  for (int i = 0; i < 4000; ++i) probes.push_back(static_cast<float>(std::exp2(log_mag(rng))));
  for (float v : {0.0f, 447.0f, 448.0f, 449.0f, 464.0f, 465.0f, 1e6f, INFINITY, 1e-30f}) {
    probes.push_back(v);
  }
  for (float p : probes) {
    for (float x : {p, -p}) {
      EXPECT_EQ(float_to_e4m3(x), e4m3_nearest_code(x)) << "x = " << x;
    }
  }
  // A tie between the two codes 1.0 (0x38, even) and 1.125 (0x39) goes to the even one; the
  // next tie, 1.1875, goes up to 1.25 (0x3A).
  EXPECT_EQ(float_to_e4m3(1.0625f), 0x38);
  EXPECT_EQ(float_to_e4m3(1.1875f), 0x3A);
  EXPECT_EQ(float_to_e4m3(-INFINITY), 0xFE);
  EXPECT_EQ(float_to_e4m3(NAN) & 0x7F, 0x7F);
}

// ONNX's saturate=0: what rounds beyond 448 is NaN (E4M3 has no infinity); 464, the tie
// between 448 and the first value past it, goes to 448's even code.
TEST(Float8, E4M3WithoutSaturationOverflowsToNaN) {
  EXPECT_EQ(float_to_e4m3(448.0f, false), 0x7E);
  EXPECT_EQ(float_to_e4m3(464.0f, false), 0x7E);
  EXPECT_EQ(float_to_e4m3(std::nextafter(464.0f, INFINITY), false), 0x7F);
  EXPECT_EQ(float_to_e4m3(-1e6f, false), 0xFF);
  EXPECT_EQ(float_to_e4m3(INFINITY, false), 0x7F);
  EXPECT_EQ(float_to_e4m3(100.0f, false), float_to_e4m3(100.0f));
}

std::vector<float> e5m2_probes() {
  std::vector<float> probes;
  for (int c = 0; c < 0x7B; ++c) {
    const float mid = static_cast<float>((e5m2_value(c) + e5m2_value(c + 1)) / 2);
    probes.push_back(mid);
    probes.push_back(std::nextafter(mid, 0.0f));
    probes.push_back(std::nextafter(mid, INFINITY));
  }
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> log_mag(-20.0, 16.5);
  for (int i = 0; i < 4000; ++i) probes.push_back(static_cast<float>(std::exp2(log_mag(rng))));
  for (float v : {0.0f, 57344.0f, 60000.0f, 61439.0f, 1e9f, 1e-30f}) probes.push_back(v);
  return probes;
}

TEST(Float8, E5M2DecodesEveryCode) {
  for (int c = 0; c < 256; ++c) {
    const float got = e5m2_to_float(static_cast<uint8_t>(c));
    const int magnitude = c & 0x7F;
    if (magnitude == 0x7C) {
      EXPECT_EQ(got, (c & 0x80) ? -INFINITY : INFINITY) << c;
    } else if (magnitude > 0x7C) {
      EXPECT_TRUE(std::isnan(got)) << c;
    } else {
      EXPECT_EQ(static_cast<double>(got), e5m2_value(c)) << "code " << c;
      EXPECT_EQ(float_to_e5m2(got), c) << "code " << c;
    }
  }
  EXPECT_EQ(e5m2_to_float(0x7B), 57344.0f);
  EXPECT_EQ(e5m2_to_float(0x01), std::ldexp(1.0f, -16));
}

TEST(Float8, E5M2RoundsToNearestEvenAndSaturates) {
  for (float p : e5m2_probes()) {
    for (float x : {p, -p}) {
      EXPECT_EQ(float_to_e5m2(x), e5m2_nearest_code(x)) << "x = " << x;
    }
  }
  EXPECT_EQ(float_to_e5m2(INFINITY), 0x7B);
  EXPECT_EQ(float_to_e5m2(-INFINITY), 0xFB);
  EXPECT_EQ(float_to_e5m2(NAN) & 0x7F, 0x7E);
}

// Without saturation E5M2 keeps its infinities: values from the tie 61440 up round to inf.
TEST(Float8, E5M2WithoutSaturationOverflowsToInfinity) {
  for (float p : e5m2_probes()) {
    const uint8_t expected = p >= 61440.0f ? 0x7C : e5m2_nearest_code(p);
    EXPECT_EQ(float_to_e5m2(p, false), expected) << "x = " << p;
    EXPECT_EQ(float_to_e5m2(-p, false), expected | 0x80) << "x = " << -p;
  }
  EXPECT_EQ(float_to_e5m2(61439.0f, false), 0x7B);
  EXPECT_EQ(float_to_e5m2(INFINITY, false), 0x7C);
  EXPECT_EQ(float_to_e5m2(-INFINITY, false), 0xFC);
}

}  // namespace
}  // namespace vitrt
