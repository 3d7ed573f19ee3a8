// vitrt.QuantLinear: the CPU kernel against a float64 computation of the op's contract, the
// schema's checks, and a plan round trip of int8 and uint8 (E4M3) weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <numbers>
#include <random>
#include <tuple>

#include "core/half.h"
#include "cpu/quant_linear.h"
#include "plan/plan_format.h"
#include "quant/e4m3_model.h"
#include "testing/compare.h"
#include "testing/test_graph.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

using testing::TestGraph;

double round_half_even(double v);

struct Case {
  std::string format = "int8";
  std::vector<int64_t> x_shape = {2, 7, 33};
  int64_t n = 19;
  std::string activation = "none";
  bool bias = true;
  // A power of two, so x / input_scale is exact in fp32 and float64 alike and the expected
  // rounding (ties included) is unambiguous.
  float input_scale = 0.0625f;
  int64_t zero_point = 0, qmin = -127, qmax = 127;
  bool residual = false;  // input 4, Y's shape: added after the bias
  // dynamic_input: X quantized per run as DynamicQuantizeLinear does (input_scale, zero_point,
  // qmin and qmax unused).
  bool dynamic = false;
};

// DynamicQuantizeLinear's scale and zero point of x, by ONNX's definition in float32 steps
// (the reference implementation's arithmetic), written out here apart from the kernels' code.
std::pair<float, int64_t> dynamic_scale_and_zero_point(const Tensor& x) {
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    lo = std::min(lo, x.data<float>()[i]);
    hi = std::max(hi, x.data<float>()[i]);
  }
  const float scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
  const float zp = std::clamp(-lo / scale, 0.0f, 255.0f);
  return {scale, static_cast<int64_t>(round_half_even(zp))};
}

double round_half_even(double v) {
  const double r = std::floor(v);
  const double diff = v - r;
  if (diff > 0.5 || (diff == 0.5 && std::fmod(r, 2.0) != 0.0)) return r + 1.0;
  return r;
}

double activation_of(const std::string& act, double x) {
  if (act == "gelu") return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2));
  if (act == "gelu_tanh") {
    return 0.5 * x *
           (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
  }
  if (act == "quick_gelu") return x / (1.0 + std::exp(-1.702 * x));
  if (act == "relu") return x > 0 ? x : 0.0;
  if (act == "silu") return x / (1.0 + std::exp(-x));
  if (act == "hard_swish") return x * std::min(1.0, std::max(0.0, x / 6.0 + 0.5));
  if (act == "relu6") return std::min(6.0, std::max(0.0, x));
  return x;
}

struct Operands {
  Tensor x, w_q, w_scale, bias, residual;
};

Operands make_operands(const Case& c, uint64_t seed) {
  const int64_t k = c.x_shape.back();
  Operands o;
  std::mt19937 rng(static_cast<uint32_t>(seed));
  o.x = Tensor::empty(DType::kFloat32, c.x_shape);
  // Beyond the quantized range (clamped), on exact ties of the grid, and in between.
  const double range = c.format == "int8" ? 160 * c.input_scale : 600 * c.input_scale;
  std::uniform_real_distribution<double> any(-range, range);
  for (int64_t i = 0; i < o.x.numel(); ++i) {
    double v = any(rng);
    if (i % 5 == 0) v = (std::floor(v / c.input_scale) + 0.5) * c.input_scale;
    o.x.data<float>()[i] = static_cast<float>(v);
  }
  if (c.format == "int8") {
    o.w_q = Tensor::empty(DType::kInt8, {k, c.n});
    std::uniform_int_distribution<int> w(-127, 127);
    for (int64_t i = 0; i < o.w_q.numel(); ++i)
      o.w_q.data<int8_t>()[i] = static_cast<int8_t>(w(rng));
  } else {
    o.w_q = Tensor::empty(DType::kUInt8, {k, c.n});
    std::uniform_int_distribution<int> w(0, 255);
    for (int64_t i = 0; i < o.w_q.numel(); ++i) {
      int code = w(rng);
      if ((code & 0x7F) == 0x7F) code ^= 1;  // not NaN
      o.w_q.data<uint8_t>()[i] = static_cast<uint8_t>(code);
    }
  }
  o.w_scale = testing::random_tensor(DType::kFloat32, {c.n}, seed + 1, 0.001, 0.02);
  o.bias = testing::random_tensor(DType::kFloat32, {c.n}, seed + 2, -2.0, 2.0);
  std::vector<int64_t> y_shape = c.x_shape;
  y_shape.back() = c.n;
  o.residual = testing::random_tensor(DType::kFloat32, y_shape, seed + 3, -3.0, 3.0);
  return o;
}

// The op's contract evaluated in float64.
Tensor expected_output(const Case& c, const Operands& o) {
  const int64_t k = c.x_shape.back();
  const int64_t m = o.x.numel() / k;
  std::vector<int64_t> shape = c.x_shape;
  shape.back() = c.n;
  Tensor y = Tensor::empty(DType::kFloat32, shape);
  std::vector<double> xq(static_cast<size_t>(k));
  float input_scale = c.input_scale;
  int64_t zero_point = c.zero_point, qmin = c.qmin, qmax = c.qmax;
  if (c.dynamic) {
    std::tie(input_scale, zero_point) = dynamic_scale_and_zero_point(o.x);
    qmin = 0;
    qmax = 255;
  }
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t l = 0; l < k; ++l) {
      // The quotient in fp32, as DynamicQuantizeLinear and QuantizeLinear compute it.
      const double q = c.dynamic ? static_cast<double>(o.x.data<float>()[i * k + l] / input_scale)
                                 : static_cast<double>(o.x.data<float>()[i * k + l]) / input_scale;
      if (c.format == "int8") {
        const double v = round_half_even(q) + static_cast<double>(zero_point);
        xq[l] = std::clamp(v, static_cast<double>(qmin), static_cast<double>(qmax)) -
                static_cast<double>(zero_point);
      } else {
        xq[l] = testing::e4m3_value(testing::e4m3_nearest_code(q));
      }
    }
    for (int64_t j = 0; j < c.n; ++j) {
      double acc = 0;
      for (int64_t l = 0; l < k; ++l) {
        const double w = c.format == "int8"
                             ? o.w_q.data<int8_t>()[l * c.n + j]
                             : testing::e4m3_value(o.w_q.data<uint8_t>()[l * c.n + j]);
        acc += xq[l] * w;
      }
      // The scales' product in fp32 (the contract's s_n), as the quantize_dynamic graph's Mul.
      double v = c.dynamic ? acc * static_cast<double>(input_scale * o.w_scale.data<float>()[j])
                           : acc * c.input_scale * o.w_scale.data<float>()[j];
      if (c.bias) v += o.bias.data<float>()[j];
      if (c.residual) v += o.residual.data<float>()[i * c.n + j];
      y.data<float>()[i * c.n + j] = static_cast<float>(activation_of(c.activation, v));
    }
  }
  return y;
}

Attributes attrs_of(const Case& c) {
  Attributes a;
  a.set_string("format", c.format);
  a.set_string("activation", c.activation);
  if (c.dynamic) {
    a.set_int("dynamic_input", 1);
    return a;
  }
  a.set_float("input_scale", c.input_scale);
  if (c.format == "int8") {
    a.set_int("input_zero_point", c.zero_point);
    a.set_int("input_qmin", c.qmin);
    a.set_int("input_qmax", c.qmax);
  }
  return a;
}

Graph quant_linear_graph(const Case& c, const Operands& o, DType x_dtype = DType::kFloat32) {
  TestGraph g;
  ValueId x = g.input("x", x_dtype, sym_shape_from_static(c.x_shape));
  std::vector<ValueId> in = {x, g.constant("w_q", o.w_q), g.constant("w_scale", o.w_scale)};
  if (c.bias) in.push_back(g.constant("bias", o.bias));
  if (c.residual) {
    if (!c.bias) in.push_back(kNoValue);
    std::vector<int64_t> y_shape = c.x_shape;
    y_shape.back() = c.n;
    in.push_back(g.input("residual", x_dtype, sym_shape_from_static(y_shape)));
  }
  g.output(g.op("QuantLinear", in, attrs_of(c), "vitrt", "ql"));
  EXPECT_TRUE(g.infer().ok());
  return g.graph();
}

void check_case(const Case& c, uint64_t seed) {
  SCOPED_TRACE(c.format + " " + c.activation + " " + shape_to_string(c.x_shape) + " zp " +
               std::to_string(c.zero_point));
  const Operands o = make_operands(c, seed);
  std::vector<Tensor> inputs = {o.x};
  if (c.residual) inputs.push_back(o.residual);
  auto got = testing::run_graph(quant_linear_graph(c, o), inputs);
  ASSERT_TRUE(got.ok()) << got.status().message();
  // Only fp32 rounding separates the kernel from float64 (the final scaling, and for fp8 the
  // fp32 sums of exact products).
  EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], expected_output(c, o), 2e-6));
}

TEST(QuantLinear, Int8MatchesFloat64) {
  for (const char* act :
       {"none", "gelu", "gelu_tanh", "quick_gelu", "relu", "silu", "hard_swish", "relu6"}) {
    Case c;
    c.activation = act;
    check_case(c, 1);
  }
  Case no_bias;
  no_bias.x_shape = {5, 16};
  no_bias.n = 3;
  no_bias.bias = false;
  check_case(no_bias, 2);
}

TEST(QuantLinear, Int8ZeroPointAndRange) {
  Case uint8_activations;  // uint8 QDQ with an offset zero point: xq - zp in [-128, 127]
  uint8_activations.zero_point = 128;
  uint8_activations.qmin = 0;
  uint8_activations.qmax = 255;
  check_case(uint8_activations, 3);
  Case unsigned_range;  // uint8 with zero point 0: negative inputs clamp to 0
  unsigned_range.zero_point = 0;
  unsigned_range.qmin = 0;
  unsigned_range.qmax = 255;
  check_case(unsigned_range, 4);
  Case full_int8;
  full_int8.zero_point = -3;
  full_int8.qmin = -128;
  full_int8.qmax = 127;
  check_case(full_int8, 5);
}

TEST(QuantLinear, Fp8MatchesFloat64) {
  for (const char* act : {"none", "gelu", "relu", "hard_swish", "relu6"}) {
    Case c;
    c.format = "fp8";
    c.activation = act;
    c.input_scale = 0.125f;
    check_case(c, 6);
  }
  Case wide;
  wide.format = "fp8";
  wide.x_shape = {3, 70};
  wide.n = 5;
  wide.bias = false;
  check_case(wide, 7);
}

// Y = X.W + bias + residual: the residual joins the bias in the same epilogue (oneDNN's post-op
// for int8, the blocked fp8 GEMM's output loop, the reference's), checked against float64 on
// odd shapes: one row, 197 tokens, K 3072 -> N 768 (fc2), with and without bias.
TEST(QuantLinear, ResidualMatchesFloat64) {
  struct Shape {
    std::vector<int64_t> x;
    int64_t n;
  };
  for (const char* format : {"int8", "fp8"}) {
    for (const Shape& shape :
         {Shape{{1, 33}, 19}, Shape{{1, 197, 24}, 40}, Shape{{2, 3072}, 768}}) {
      for (bool bias : {true, false}) {
        Case c;
        c.format = format;
        c.x_shape = shape.x;
        c.n = shape.n;
        c.bias = bias;
        c.residual = true;
        c.input_scale = c.format == "fp8" ? 0.125f : 0.0625f;
        check_case(c, 21);
      }
    }
  }
}

// A 16-bit residual is added to the fp32 result before the one rounding to Y's type: the
// same as the fp32 kernel's output plus the residual, rounded once.
TEST(QuantLinear, Float16ResidualRoundsOnceAtTheEnd) {
  for (const char* format : {"int8", "fp8"}) {
    for (DType t : {DType::kFloat16, DType::kBFloat16}) {
      SCOPED_TRACE(str_cat(format, " ", dtype_name(t)));
      Case c;
      c.format = format;
      c.residual = true;
      const Operands o = make_operands(c, 9);
      const bool half = t == DType::kFloat16;
      auto to16 = [half](float v) { return half ? float_to_half(v) : float_to_bf16(v); };
      auto from16 = [half](uint16_t v) { return half ? half_to_float(v) : bf16_to_float(v); };
      Tensor x16 = Tensor::empty(t, o.x.shape());
      Tensor x_rounded = Tensor::empty(DType::kFloat32, o.x.shape());
      for (int64_t i = 0; i < o.x.numel(); ++i) {
        x16.data<uint16_t>()[i] = to16(o.x.data<float>()[i]);
        x_rounded.data<float>()[i] = from16(x16.data<uint16_t>()[i]);
      }
      Tensor r16 = Tensor::empty(t, o.residual.shape());
      for (int64_t i = 0; i < r16.numel(); ++i) {
        r16.data<uint16_t>()[i] = to16(o.residual.data<float>()[i]);
      }
      auto got = testing::run_graph(quant_linear_graph(c, o, t), {x16, r16});
      ASSERT_TRUE(got.ok()) << got.status().message();
      ASSERT_EQ((*got)[0].dtype(), t);
      Case plain = c;
      plain.residual = false;
      auto want = testing::run_graph(quant_linear_graph(plain, o), {x_rounded});
      ASSERT_TRUE(want.ok());
      const Tensor& y16 = (*got)[0];
      for (int64_t i = 0; i < y16.numel(); ++i) {
        const float sum = (*want)[0].data<float>()[i] + from16(r16.data<uint16_t>()[i]);
        ASSERT_EQ(y16.data<uint16_t>()[i], to16(sum)) << i;
      }
    }
  }
}

// The kernel (oneDNN's VNNI/AMX int8 product where the CPU has it) against the plain-loop
// reference: the integer sums are exact in both and the scaling runs in the same fp32 order,
// so they differ only in the final rounding (measured: 1 ulp where they differ at all);
// oneDNN's GELU is a polynomial, within a few fp32 ulps of the double-precision one.
TEST(QuantLinear, KernelMatchesTheReferenceLoops) {
  struct Shape {
    std::vector<int64_t> x;
    int64_t n;
  };
  for (const Shape& shape : {Shape{{37, 768}, 300}, Shape{{2, 5, 64}, 17}, Shape{{1, 3}, 1}}) {
    for (const char* act : {"none", "relu", "gelu"}) {
      // Symmetric int8; uint8 with a zero point; int8 with one (ONNX Runtime's asymmetric
      // int8 activations): the last two through oneDNN with the zero point given per run.
      for (int64_t zp : {0, 128, -3}) {
        Case c;
        c.x_shape = shape.x;
        c.n = shape.n;
        c.activation = act;
        c.input_scale = 0.013f;  // not a power of two: the fp32 quotient decides
        if (zp != 0) {
          c.zero_point = zp;
          c.qmin = zp > 0 ? 0 : -128;
          c.qmax = zp > 0 ? 255 : 127;
        }
        SCOPED_TRACE(str_cat(act, " zp ", zp, " ", shape_to_string(shape.x)));
        const Operands o = make_operands(c, 12);
        auto got = testing::run_graph(quant_linear_graph(c, o), {o.x});
        ASSERT_TRUE(got.ok()) << got.status().message();
        Result<QuantLinearParams> p = parse_quant_linear_params(attrs_of(c));
        ASSERT_TRUE(p.ok());
        Tensor want = Tensor::empty(DType::kFloat32, (*got)[0].shape());
        const int64_t k = shape.x.back();
        quant_linear_reference(*p, o.x.data<float>(), o.x.numel() / k, k, c.n, o.w_q.raw_data(),
                               o.w_scale.data<float>(), o.bias.data<float>(), want.data<float>());
        // 2^-22: two fp32 ulps of the output's scale (the last rounding of acc * s + bias,
        // which oneDNN may fuse into one FMA).
        const double tol = std::string(act) == "gelu" ? 1e-6 : 2.4e-7;
        EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], want, tol));
      }
    }
  }
}

// dynamic_input: DynamicQuantizeLinear's scale and zero point of the whole X, then the int8
// arithmetic with them, against float64 (fp32 where ONNX's definition says fp32). X ranges:
// both signs (a zero point inside), positive only (zero point 0), negative only (255), all
// zero (the empty range).
TEST(QuantLinear, DynamicInputMatchesFloat64) {
  struct Range {
    double lo, hi;
  };
  for (const Range r : {Range{-3.0, 7.5}, Range{0.25, 4.0}, Range{-6.0, -0.5}, Range{0.0, 0.0}}) {
    for (const char* act : {"none", "gelu"}) {
      for (bool residual : {false, true}) {
        if (residual && std::string(act) != "none") continue;
        Case c;
        c.dynamic = true;
        c.activation = act;
        c.residual = residual;
        c.x_shape = {3, 5, 48};
        c.n = 37;
        SCOPED_TRACE(str_cat("x in [", r.lo, ", ", r.hi, "] ", act, residual ? " residual" : ""));
        Operands o = make_operands(c, 21);
        o.x = testing::random_tensor(DType::kFloat32, c.x_shape, 22, r.lo, r.hi);
        std::vector<Tensor> inputs = {o.x};
        if (residual) inputs.push_back(o.residual);
        auto got = testing::run_graph(quant_linear_graph(c, o), inputs);
        ASSERT_TRUE(got.ok()) << got.status().message();
        EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], expected_output(c, o), 2e-6));
      }
    }
  }
}

// The dynamic kernel's fast path (oneDNN with the run's zero point and scales) against the
// reference loops given the same scale and zero point.
TEST(QuantLinear, DynamicInputKernelMatchesTheReferenceLoops) {
  Case c;
  c.dynamic = true;
  c.x_shape = {37, 768};
  c.n = 300;
  Operands o = make_operands(c, 31);
  o.x = testing::random_tensor(DType::kFloat32, c.x_shape, 32, -2.0, 5.0);
  auto got = testing::run_graph(quant_linear_graph(c, o), {o.x});
  ASSERT_TRUE(got.ok()) << got.status().message();
  Result<QuantLinearParams> p = parse_quant_linear_params(attrs_of(c));
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_TRUE(p->dynamic_input);
  const auto [scale, zp] = dynamic_scale_and_zero_point(o.x);
  p->input_scale = scale;
  p->zero_point = static_cast<int32_t>(zp);
  Tensor want = Tensor::empty(DType::kFloat32, (*got)[0].shape());
  quant_linear_reference(*p, o.x.data<float>(), 37, 768, c.n, o.w_q.raw_data(),
                         o.w_scale.data<float>(), o.bias.data<float>(), want.data<float>());
  EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], want, 2.4e-7));
}

// NaN leaves DynamicQuantizeLinear without a range: the run fails and says so, as the
// DynamicQuantizeLinear kernel does.
TEST(QuantLinear, DynamicInputRefusesNaN) {
  Case c;
  c.dynamic = true;
  Operands o = make_operands(c, 41);
  o.x.data<float>()[17] = NAN;
  auto got = testing::run_graph(quant_linear_graph(c, o), {o.x});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("NaN"), std::string::npos) << got.status().message();
  EXPECT_NE(got.status().message().find("dynamic_input"), std::string::npos)
      << got.status().message();
}

// The vectorized row quantizer of the fast path against the scalar one of the reference,
// on ties, clamping, infinities and NaN, for signed and unsigned storage.
TEST(QuantLinear, RowQuantizerMatchesTheScalarOne) {
  std::vector<float> x = {0.0f,     -0.0f,     0.5f,   1.5f,     2.5f,   -0.5f,
                          -1.5f,    126.5f,    127.5f, -127.5f,  1e9f,   -1e9f,
                          INFINITY, -INFINITY, NAN,    3.49999f, 200.0f, -200.0f};
  for (int i = 0; i < 100; ++i) x.push_back(static_cast<float>(i) * 2.7f - 130.0f);
  for (auto [zp, qmin, qmax] : {std::tuple{0, -127, 127}, std::tuple{-3, -128, 127},
                                std::tuple{128, 0, 255}, std::tuple{0, 0, 255}}) {
    QuantLinearParams p;
    p.input_scale = 1.0f;
    p.zero_point = zp;
    p.qmin = qmin;
    p.qmax = qmax;
    std::vector<int8_t> s8(x.size());
    std::vector<uint8_t> u8(x.size());
    quantize_int8_rows(x.data(), static_cast<int64_t>(x.size()), p, s8.data());
    quantize_int8_rows(x.data(), static_cast<int64_t>(x.size()), p, u8.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const int32_t want = quantize_int8(x[i], p);
      if (want >= -128 && want <= 127) {
        EXPECT_EQ(s8[i], want) << x[i] << " zp " << zp;
      }
      if (want >= 0 && want <= 255) {
        EXPECT_EQ(u8[i], want) << x[i] << " zp " << zp;
      }
    }
  }
}

// A float16 X is quantized from its fp32 value and Y is rounded to float16.
TEST(QuantLinear, Float16ActivationsRoundOnceAtTheEnd) {
  Case c;
  const Operands o = make_operands(c, 8);
  Tensor x16 = Tensor::empty(DType::kFloat16, c.x_shape);
  Tensor x_rounded = Tensor::empty(DType::kFloat32, c.x_shape);
  for (int64_t i = 0; i < o.x.numel(); ++i) {
    x16.data<uint16_t>()[i] = float_to_half(o.x.data<float>()[i]);
    x_rounded.data<float>()[i] = half_to_float(x16.data<uint16_t>()[i]);
  }
  auto got = testing::run_graph(quant_linear_graph(c, o, DType::kFloat16), {x16});
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ((*got)[0].dtype(), DType::kFloat16);
  auto want = testing::run_graph(quant_linear_graph(c, o), {x_rounded});
  ASSERT_TRUE(want.ok());
  const Tensor& y16 = (*got)[0];
  for (int64_t i = 0; i < y16.numel(); ++i) {
    ASSERT_EQ(y16.data<uint16_t>()[i], float_to_half((*want)[0].data<float>()[i])) << i;
  }
}

// Each entry breaks one rule of the schema; the error names what is wrong.
// int8 codes in (X already quantized, zero point 0) give what the float X they encode gives,
// and int8 codes out (output_scale, output_qmin) are clamp(round_half_even(y / output_scale),
// output_qmin, 127) of the fp32 y the same layer writes without output_scale.
TEST(QuantLinear, Int8CodesInAndOut) {
  for (const char* act : {"none", "gelu"}) {
    for (int64_t qmin : {-127, -128}) {
      for (float out_scale : {0.125f, 0.01f, 0.0005f}) {
        for (bool codes_in : {false, true}) {
          SCOPED_TRACE(::testing::Message() << act << " qmin " << qmin << " out_scale " << out_scale
                                            << (codes_in ? " codes in" : " float in"));
          Case c;
          c.activation = act;
          c.qmin = qmin;
          c.n = 40;
          Operands o = make_operands(c, 11);
          // X's int8 codes, and the floats they stand for (input_scale is a power of two: exact).
          Tensor codes = Tensor::empty(DType::kInt8, c.x_shape);
          Tensor floats = Tensor::empty(DType::kFloat32, c.x_shape);
          std::mt19937 rng(5);
          std::uniform_int_distribution<int> u(static_cast<int>(qmin), 127);
          for (int64_t i = 0; i < codes.numel(); ++i) {
            codes.data<int8_t>()[i] = static_cast<int8_t>(u(rng));
            floats.data<float>()[i] = codes.data<int8_t>()[i] * c.input_scale;
          }
          auto run = [&](bool with_codes_out, DType x_dtype, const Tensor& x) {
            TestGraph g;
            ValueId xv = g.input("x", x_dtype, sym_shape_from_static(c.x_shape));
            Attributes a = attrs_of(c);
            if (with_codes_out) {
              a.set_float("output_scale", out_scale);
              a.set_int("output_qmin", qmin);
            }
            g.output(g.op("QuantLinear",
                          {xv, g.constant("w_q", o.w_q), g.constant("w_scale", o.w_scale),
                           g.constant("bias", o.bias)},
                          a, "vitrt", "ql"));
            EXPECT_TRUE(g.infer().ok());
            auto r = testing::run_graph(g.graph(), {x});
            EXPECT_TRUE(r.ok()) << r.status().message();
            return r.ok() ? (*r)[0] : Tensor();
          };
          const Tensor y_float = run(false, DType::kFloat32, floats);
          const Tensor y = codes_in ? run(false, DType::kInt8, codes) : y_float;
          ASSERT_EQ(y.dtype(), DType::kFloat32);
          EXPECT_TRUE(testing::tensors_close(y, y_float, {0.0, 0.0}));
          const Tensor q =
              codes_in ? run(true, DType::kInt8, codes) : run(true, DType::kFloat32, floats);
          ASSERT_EQ(q.dtype(), DType::kInt8);
          ASSERT_EQ(q.shape(), y.shape());
          int clamped = 0;
          for (int64_t i = 0; i < q.numel(); ++i) {
            const double v = round_half_even(static_cast<double>(y.data<float>()[i] / out_scale));
            const double want = std::clamp(v, static_cast<double>(qmin), 127.0);
            clamped += v != want;
            ASSERT_EQ(q.data<int8_t>()[i], static_cast<int8_t>(want)) << "element " << i;
          }
          if (out_scale < 0.001f) {
            EXPECT_GT(clamped, 0);
          }
        }
      }
    }
  }
}

TEST(QuantLinear, SchemaRejectsBrokenNodes) {
  struct Broken {
    std::string what;
    std::function<void(Case&, Operands&, Attributes&)> change;
  };
  const std::vector<Broken> cases = {
      {"format 'int4'", [](Case&, Operands&, Attributes& a) { a.set_string("format", "int4"); }},
      {"input_scale", [](Case&, Operands&, Attributes& a) { a.set_float("input_scale", 0.0f); }},
      {"input_scale", [](Case&, Operands&, Attributes& a) { a.set_float("input_scale", NAN); }},
      {"input_zero_point 200",
       [](Case&, Operands&, Attributes& a) { a.set_int("input_zero_point", 200); }},
      {"input_qmin", [](Case&, Operands&, Attributes& a) { a.set_int("input_qmin", -129); }},
      {"applies to format int8 only",
       [](Case&, Operands& o, Attributes& a) {
         a.set_string("format", "fp8");
         o.w_q = Tensor::zeros(DType::kUInt8, o.w_q.shape());
       }},
      {"W_q of format fp8 must be uint8",
       [](Case&, Operands&, Attributes& a) {
         a = Attributes();
         a.set_string("format", "fp8");
         a.set_float("input_scale", 1.0f);
       }},
      {"w_scale[2]", [](Case&, Operands& o, Attributes&) { o.w_scale.data<float>()[2] = -1.0f; }},
      {"w_scale must be",
       [](Case&, Operands& o, Attributes&) {
         o.w_scale = Tensor::from_float({1.0f, 2.0f});
       }},
      {"bias must be",
       [](Case&, Operands& o, Attributes&) { o.bias = Tensor::zeros(DType::kFloat32, {4}); }},
      {"inner dims differ",
       [](Case& c, Operands&, Attributes&) {
         c.x_shape = {2, 34};
       }},
      {"activation 'swish'",
       [](Case&, Operands&, Attributes& a) { a.set_string("activation", "swish"); }},
      {"input_scale does not go with dynamic_input",
       [](Case&, Operands&, Attributes& a) { a.set_int("dynamic_input", 1); }},
      {"dynamic_input must be 0 or 1",
       [](Case&, Operands&, Attributes& a) { a.set_int("dynamic_input", 2); }},
      {"output_qmin applies to format int8 with output_scale only",
       [](Case&, Operands&, Attributes& a) { a.set_int("output_qmin", -128); }},
      {"output_qmin must lie in [-128, 0]",
       [](Case&, Operands&, Attributes& a) {
         a.set_float("output_scale", 0.5f);
         a.set_int("output_qmin", -129);
       }},
      {"dynamic_input applies to format int8 only",
       [](Case&, Operands& o, Attributes& a) {
         a = Attributes();
         a.set_string("format", "fp8");
         a.set_int("dynamic_input", 1);
         o.w_q = Tensor::zeros(DType::kUInt8, o.w_q.shape());
       }},
  };
  for (const Broken& b : cases) {
    Case c;
    Operands o = make_operands(c, 9);
    Attributes attrs = attrs_of(c);
    b.change(c, o, attrs);
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, sym_shape_from_static(c.x_shape));
    g.output(g.op(
        "QuantLinear",
        {x, g.constant("w_q", o.w_q), g.constant("w_scale", o.w_scale), g.constant("bias", o.bias)},
        attrs, "vitrt", "broken"));
    Status s = g.infer();
    ASSERT_FALSE(s.ok()) << b.what;
    EXPECT_NE(s.message().find(b.what), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("'broken'"), std::string::npos) << s.message();
  }
}

// int8 codes as X need the layer's quantize step to be a plain clamp of round(x / s): zero point
// 0, qmax at most 127, a static scale, format int8.
TEST(QuantLinear, SchemaRejectsInt8CodesItCannotTake) {
  for (int variant = 0; variant < 3; ++variant) {
    Case c;
    if (variant == 0) c.zero_point = 3;
    if (variant == 1) {
      c.qmin = 0;
      c.qmax = 255;
      c.zero_point = 0;
    }
    if (variant == 2) c.dynamic = true;
    Operands o = make_operands(c, 9);
    TestGraph g;
    ValueId x = g.input("x", DType::kInt8, sym_shape_from_static(c.x_shape));
    g.output(g.op(
        "QuantLinear",
        {x, g.constant("w_q", o.w_q), g.constant("w_scale", o.w_scale), g.constant("bias", o.bias)},
        attrs_of(c), "vitrt", "broken"));
    Status s = g.infer();
    ASSERT_FALSE(s.ok()) << variant;
    EXPECT_NE(s.message().find("X of int8 (codes) needs format int8 with input_zero_point 0"),
              std::string::npos)
        << s.message();
  }
}

// A residual must be exactly Y (shape and dtype) and comes only without activation.
TEST(QuantLinear, SchemaRejectsBrokenResiduals) {
  struct Broken {
    std::string what;
    std::string activation;
    DType dtype;
    SymShape shape;
  };
  const Broken cases[] = {
      {"needs activation 'none', got 'gelu'", "gelu", DType::kFloat32, {2, 7, 19}},
      {"residual must have the output's shape [2, 7, 19] (no broadcasting), got [19]",
       "none",
       DType::kFloat32,
       {19}},
      {"residual must have the output's shape", "none", DType::kFloat32, {1, 7, 19}},
      {"residual must be float32 like the output, got float16",
       "none",
       DType::kFloat16,
       {2, 7, 19}},
  };
  for (const Broken& b : cases) {
    Case c;
    c.activation = b.activation;
    const Operands o = make_operands(c, 9);
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, sym_shape_from_static(c.x_shape));
    ValueId r = g.input("r", b.dtype, b.shape);
    g.output(g.op("QuantLinear",
                  {x, g.constant("w_q", o.w_q), g.constant("w_scale", o.w_scale), kNoValue, r},
                  attrs_of(c), "vitrt", "broken"));
    Status s = g.infer();
    ASSERT_FALSE(s.ok()) << b.what;
    EXPECT_NE(s.message().find(b.what), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("'broken'"), std::string::npos) << s.message();
  }
}

// int8 and E4M3 weights survive plan serialization, and the loaded plan computes the same.
TEST(QuantLinear, PlanRoundTripKeepsQuantizedWeights) {
  Case c8;
  Case cf;
  cf.format = "fp8";
  cf.x_shape = {2, 7, 19};
  cf.n = 11;
  cf.input_scale = 0.25f;
  const Operands o8 = make_operands(c8, 10);
  const Operands of = make_operands(cf, 11);
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 7, 33});
  ValueId h =
      g.op("QuantLinear",
           {x, g.constant("w8", o8.w_q), g.constant("s8", o8.w_scale), g.constant("b8", o8.bias)},
           attrs_of(c8), "vitrt", "int8_layer");
  g.output(g.op("QuantLinear", {h, g.constant("wf", of.w_q), g.constant("sf", of.w_scale)},
                attrs_of(cf), "vitrt", "fp8_layer"));
  ASSERT_TRUE(g.infer().ok());
  const std::string path = ::testing::TempDir() + "/quant_linear.plan";
  PlanMetadata metadata;
  ASSERT_TRUE(write_plan_file(path, g.graph(), metadata).ok());
  Result<LoadedPlan> plan = read_plan_file(path);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  int quant_nodes = 0;
  for (const Node& node : plan->graph.nodes) {
    if (node.op_type != "QuantLinear") continue;
    ++quant_nodes;
    const Tensor& w = plan->graph.values[node.inputs[1]].constant;
    const Tensor& want = node.name == "int8_layer" ? o8.w_q : of.w_q;
    ASSERT_EQ(w.dtype(), want.dtype());
    ASSERT_EQ(w.nbytes(), want.nbytes());
    EXPECT_EQ(std::memcmp(w.raw_data(), want.raw_data(), w.nbytes()), 0) << node.name;
  }
  EXPECT_EQ(quant_nodes, 2);

  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(path);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
  Result<std::vector<NamedTensor>> got = ctx->run({{"x", o8.x}});
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  auto want = testing::run_graph(g.graph(), {o8.x});
  ASSERT_TRUE(want.ok());
  EXPECT_TRUE(testing::tensors_close((*got)[0].tensor, (*want)[0], {0.0, 0.0}));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace vitrt
