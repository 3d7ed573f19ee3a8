// The fast fp8 QuantLinear path (src/cpu/quant_linear_fp8.cc) against the plain-loop
// reference: its quantizer against quantize_fp8 + the decode table over a sweep of float bit
// patterns, and its sums (same terms, same order) against the reference's on odd shapes that
// cross its tile, panel and row-block edges. The kernel itself is checked against float64 in
// quant_linear_test.cc (QuantLinear.Fp8MatchesFloat64).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "cpu/quant_linear.h"

namespace vitrt {
namespace {

QuantLinearParams fp8_params(float input_scale, MatmulActivation act = MatmulActivation::kNone) {
  QuantLinearParams p;
  p.format = QuantFormat::kFp8;
  p.input_scale = input_scale;
  p.activation = act;
  return p;
}

bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) ||
         std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

TEST(QuantLinearFp8, ValueQuantizerMatchesTheCodeOne) {
  const std::array<float, 256>& decode = e4m3_decode_table();
  // Power-of-two scales divide exactly; 0.013 makes the fp32 quotient decide; 2^-120 is below
  // the subnormal flush's bound (nothing is flushed).
  for (float scale : {1.0f, 0.013f, 3.0f, 0x1p-120f}) {
    const QuantLinearParams p = fp8_params(scale);
    const float tiny = fp8_flush_below(p);
    int mismatches = 0;
    auto check = [&](float x) {
      const float want = decode[quantize_fp8(x, p)];
      const float got = quantize_fp8_value(x, p, tiny);
      // The flush may turn -tiny/scale into +0 where the code path gives -0: equal values.
      if (!same_float(got, want) && !(got == 0.0f && want == 0.0f) && mismatches++ < 5) {
        ADD_FAILURE() << "scale " << scale << " x " << x << " (bits 0x" << std::hex
                      << std::bit_cast<uint32_t>(x) << std::dec << "): " << got << " vs " << want;
      }
    };
    // Every 4099th bit pattern: all exponents, both signs, NaNs and infinities.
    for (uint64_t bits = 0; bits <= 0xFFFFFFFFull; bits += 4099) {
      check(std::bit_cast<float>(static_cast<uint32_t>(bits)));
    }
    // Ties and their neighbours on the E4M3 grid (normal and subnormal), the saturation edge.
    for (int code = 0; code < 0x7E; ++code) {
      const float mid = 0.5f * (decode[code] + decode[code + 1]) * scale;
      for (float v : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e30f)}) {
        check(v);
        check(-v);
      }
    }
    for (float v : {448.0f, 463.9f, 464.0f, 464.1f, 1e30f}) check(v * scale);
    check(std::numeric_limits<float>::infinity());
    check(-std::numeric_limits<float>::infinity());
    check(std::numeric_limits<float>::quiet_NaN());
    EXPECT_EQ(mismatches, 0) << "scale " << scale;
  }
}

// The fast rows against quant_linear_reference: the sums are the same fp32 operations in the
// same order, so without bias the outputs are equal bit for bit.
TEST(QuantLinearFp8, RowsMatchTheReferenceLoops) {
  struct Shape {
    int64_t m, k, n;
  };
  // m: one row, a partial tile, past one row block (96); n: under, at and past a panel (16).
  const std::vector<Shape> shapes = {
      {1, 1, 1}, {5, 3, 16}, {7, 70, 17}, {97, 64, 33}, {200, 33, 300}};
  for (const MatmulActivation act :
       {MatmulActivation::kNone, MatmulActivation::kGelu, MatmulActivation::kRelu}) {
    for (const Shape& s : shapes) {
      SCOPED_TRACE(testing::Message() << "m " << s.m << " k " << s.k << " n " << s.n << " act "
                                      << static_cast<int>(act));
      std::mt19937 rng(static_cast<uint32_t>(s.m * 131 + s.k * 7 + s.n));
      const QuantLinearParams p = fp8_params(0.013f, act);
      std::vector<float> x(static_cast<size_t>(s.m * s.k));
      std::uniform_real_distribution<float> xs(-8.0f, 8.0f);
      for (float& v : x) v = xs(rng);
      x[0] = 1e-40f;  // subnormal: flushed before the division
      std::vector<uint8_t> w(static_cast<size_t>(s.k * s.n));
      std::uniform_int_distribution<int> codes(0, 255);
      for (uint8_t& c : w) {
        c = static_cast<uint8_t>(codes(rng));
        if ((c & 0x7F) == 0x7F) c ^= 1;  // not NaN
      }
      std::vector<float> w_scale(static_cast<size_t>(s.n)), bias(static_cast<size_t>(s.n));
      std::uniform_real_distribution<float> ws(0.001f, 0.02f), bs(-2.0f, 2.0f);
      for (float& v : w_scale) v = ws(rng);
      for (float& v : bias) v = bs(rng);
      for (const bool with_bias : {true, false}) {
        const float* b = with_bias ? bias.data() : nullptr;
        std::vector<float> want(static_cast<size_t>(s.m * s.n)), got(want.size(), NAN);
        quant_linear_reference(p, x.data(), s.m, s.k, s.n, w.data(), w_scale.data(), b,
                               want.data());
        quant_linear_fp8_rows(p, x.data(), s.m, s.k, s.n, w.data(), w_scale.data(), b, got.data());
        int bad = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          // Without bias y = acc * s rounds once in both: equal bits. With bias, a fused
          // acc * s + bias skips the product's rounding: an ulp of |acc * s| or |bias|, two
          // after GELU.
          const float b_j = with_bias ? bias[i % s.n] : 0.0f;
          const double tol =
              with_bias ? 0x1p-22 * (std::fabs(want[i]) + 2.0 * std::fabs(b_j)) : 0.0;
          const bool ok =
              with_bias ? std::fabs(got[i] - want[i]) <= tol : same_float(got[i], want[i]);
          if (!ok && bad++ < 5) {
            ADD_FAILURE() << "element " << i << ": " << got[i] << " vs reference " << want[i];
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace vitrt
