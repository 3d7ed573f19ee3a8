// vitrt.QuantLinear on CUDA against the CPU reference (quant_linear_reference, the op's exact
// contract) on random inputs of many shapes, both formats, fp16 / bf16 / fp32 activations,
// per-channel and per-tensor weight scales, every activation, both execution modes (cuBLASLt
// epilogue and our dequantize kernel), the tactic tuner, plus two fixtures quantized by hand.
//
// Inputs and biases are rounded to bf16 first, so the plan's conversion to fp16 / bf16 is exact
// and GPU and reference quantize the same numbers. int8 sums are exact on both sides, so the
// outputs may differ only by the final rounding (and float-vs-double activation functions);
// FP8 sums in fp32 in another order (and cuBLASLt's epilogue adds an fp16 / bf16 copy of the
// bias), so FP8 is held to 1e-2 of the output's scale.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <random>

#include "core/float8.h"
#include "core/half.h"
#include "cpu/dynamic_quantize.h"
#include "cpu/quant_linear.h"
#include "cuda/cuda_kernel.h"
#include "cuda/launch.h"
#include "cuda_test_util.h"

namespace vitrt::testing {
namespace {

struct QuantCase {
  std::string format = "int8";
  std::vector<int64_t> lead = {7};  // X's leading dims (their product is M)
  int64_t k = 64, n = 48;
  std::string act = "none";
  bool per_channel = true;
  bool bias = true;
  std::string precision = "fp16";
  // int8 quantizer range; the zero point is only set when it differs from 0.
  int64_t zero_point = 0, qmin = -127, qmax = 127;
  // X's scale as a fraction of the one that just covers max |x| (< 1 saturates / clamps).
  float scale_fraction = 1.0f;
  // Forced execution mode through a stored tactic (-1: the kernel's own choice).
  int mode = -1;
  bool fast_accum = false;  // fp8: the stored tactic asks for cuBLASLt's fast accumulation
  uint64_t seed = 1;
  bool residual = false;  // input 4: Y = X.W + bias + residual
  bool dynamic = false;   // dynamic_input: X's scale and zero point per run (int8)
};

std::string describe(const QuantCase& c) {
  std::string lead;
  for (int64_t d : c.lead) lead += std::to_string(d) + "x";
  return str_cat(c.format, " ", c.precision, " ", lead, c.k, "x", c.n, " ", c.act,
                 c.per_channel ? " per-channel" : " per-tensor", c.bias ? " +bias" : "",
                 c.zero_point != 0 || c.qmin != -127
                     ? str_cat(" q[", c.qmin, ",", c.qmax, "] zp ", c.zero_point)
                     : "",
                 c.mode >= 0 ? str_cat(" mode ", c.mode) : "", c.fast_accum ? " fast-accum" : "",
                 c.residual ? " +residual" : "", c.dynamic ? " dynamic" : "");
}

struct QuantProblem {
  TestGraph g{17};
  Tensor x;  // fp32 [lead..., K]
  Tensor w_q, w_scale, bias;
  Tensor residual;  // fp32 [lead..., N] when the case has one
  Attributes attrs;
};

// Random X, weights quantized per channel (or per tensor) from random floats, and the node.
QuantProblem make_problem(const QuantCase& c) {
  QuantProblem p;
  std::mt19937 rng(static_cast<uint32_t>(c.seed));
  std::uniform_real_distribution<float> ux(-3.0f, 3.0f), uw(-0.5f, 0.5f), ub(-1.0f, 1.0f);
  std::vector<int64_t> x_shape = c.lead;
  x_shape.push_back(c.k);
  p.x = Tensor::empty(DType::kFloat32, x_shape);
  float* x = p.x.data<float>();
  float max_abs = 0.0f;
  for (int64_t i = 0; i < p.x.numel(); ++i) {
    float v = bf16_round(ux(rng));
    // Tiny values are fp16 subnormals that bf16 may hold more precisely: keep them out.
    if (std::fabs(v) < 1e-3f) v = 0.0f;
    x[i] = v;
    max_abs = std::max(max_abs, std::fabs(v));
  }
  const bool int8 = c.format == "int8";
  std::vector<float> w(static_cast<size_t>(c.k * c.n));
  for (float& v : w) v = uw(rng);
  p.w_scale = Tensor::empty(DType::kFloat32, {c.n});
  float* ws = p.w_scale.data<float>();
  const float q_max = int8 ? 127.0f : 448.0f;
  for (int64_t j = 0; j < c.n; ++j) {
    float col_max = 0.0f;
    for (int64_t kk = 0; kk < c.k; ++kk) {
      col_max = std::max(col_max, std::fabs(w[static_cast<size_t>(kk * c.n + j)]));
    }
    ws[j] = std::max(col_max, 1e-3f) / q_max;
  }
  if (!c.per_channel) {
    const float s = *std::max_element(ws, ws + c.n);
    std::fill(ws, ws + c.n, s);
  }
  p.w_q = Tensor::empty(int8 ? DType::kInt8 : DType::kUInt8, {c.k, c.n});
  for (int64_t kk = 0; kk < c.k; ++kk) {
    for (int64_t j = 0; j < c.n; ++j) {
      const float v = w[static_cast<size_t>(kk * c.n + j)] / ws[j];
      if (int8) {
        p.w_q.data<int8_t>()[kk * c.n + j] =
            static_cast<int8_t>(std::clamp(std::nearbyint(v), -127.0f, 127.0f));
      } else {
        p.w_q.data<uint8_t>()[kk * c.n + j] = float_to_e4m3(v);
      }
    }
  }
  p.bias = Tensor::empty(DType::kFloat32, {c.n});
  for (int64_t j = 0; j < c.n; ++j) p.bias.data<float>()[j] = bf16_round(ub(rng));

  p.attrs.set_string("format", c.format);
  if (c.dynamic) {
    p.attrs.set_int("dynamic_input", 1);
  } else {
    p.attrs.set_float("input_scale", std::max(max_abs, 1e-3f) / q_max * c.scale_fraction);
  }
  p.attrs.set_string("activation", c.act);
  if (int8 && !c.dynamic && (c.zero_point != 0 || c.qmin != -127 || c.qmax != 127)) {
    p.attrs.set_int("input_zero_point", c.zero_point);
    p.attrs.set_int("input_qmin", c.qmin);
    p.attrs.set_int("input_qmax", c.qmax);
  }
  SymShape xs(x_shape.begin(), x_shape.end());
  ValueId xi = p.g.input("x", DType::kFloat32, xs);
  std::vector<ValueId> ins = {xi, p.g.constant("w_q", p.w_q), p.g.constant("w_scale", p.w_scale)};
  if (c.bias) ins.push_back(p.g.constant("bias", p.bias));
  if (c.residual) {
    // bf16-rounded like X, so the plan's 16-bit copy is exact.
    std::vector<int64_t> y_shape = c.lead;
    y_shape.push_back(c.n);
    p.residual = Tensor::empty(DType::kFloat32, y_shape);
    for (int64_t i = 0; i < p.residual.numel(); ++i) {
      const float v = bf16_round(ux(rng));
      p.residual.data<float>()[i] = std::fabs(v) < 1e-3f ? 0.0f : v;
    }
    if (!c.bias) ins.push_back(kNoValue);
    ins.push_back(p.g.input("residual", DType::kFloat32, SymShape(y_shape.begin(), y_shape.end())));
  }
  Attributes node_attrs = p.attrs;
  if (c.mode >= 0) {
    // An algorithm that cannot be valid: the kernel runs the mode with cuBLASLt's heuristic.
    cuda::GemmTactic t;
    t.m = p.x.numel() / c.k;
    t.mode = c.mode;
    t.fast_accum = c.fast_accum;
    for (size_t w = 0; w < 8; ++w) t.algo.data[w] = 0x0123456789abcdefull * (w + 1);
    node_attrs.set_ints(cuda::kGemmTacticsAttr, cuda::encode_gemm_tactics({t}));
  }
  p.g.output(p.g.op("QuantLinear", ins, node_attrs, "vitrt", "quant"));
  return p;
}

Result<Tensor> reference(const QuantCase& c, const QuantProblem& p) {
  VITRT_ASSIGN_OR_RETURN(QuantLinearParams params, parse_quant_linear_params(p.attrs));
  if (c.dynamic) {
    // DynamicQuantizeLinear's GPU kernel keeps the scale in X's type (the plan's activation
    // type) and quantizes with that value; the zero point comes from the fp32 scale.
    VITRT_ASSIGN_OR_RETURN(DynamicQuantization q,
                           dynamic_quantization_of(p.x.data<float>(), p.x.numel()));
    params.input_scale = c.precision == "fp16"   ? half_to_float(float_to_half(q.scale))
                         : c.precision == "bf16" ? bf16_round(q.scale)
                                                 : q.scale;
    params.zero_point = q.zero_point;
  }
  std::vector<int64_t> shape = p.x.shape();
  shape.back() = c.n;
  Tensor y = Tensor::empty(DType::kFloat32, shape);
  quant_linear_reference(params, p.x.data<float>(), p.x.numel() / c.k, c.k, c.n, p.w_q.raw_data(),
                         p.w_scale.data<float>(), c.bias ? p.bias.data<float>() : nullptr,
                         y.data<float>(), c.residual ? p.residual.data<float>() : nullptr);
  return y;
}

// int8: every element within the final rounding of the output type (one unit in the last
// place, as the activation functions may round either way) plus 1e-5 of the output's scale for
// results near zero. FP8: 1e-2 of the scale, and cosine >= 0.9999.
::testing::AssertionResult matches_reference(const QuantCase& c, const Tensor& actual,
                                             const Tensor& expected) {
  if (actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_to_string(actual.shape())
                                         << " != " << shape_to_string(expected.shape());
  }
  double scale = 0.0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    scale = std::max(scale, std::fabs(expected.element_as_double(i)));
  }
  const double ulp = c.precision == "fp16"   ? std::ldexp(1.0, -10)
                     : c.precision == "bf16" ? std::ldexp(1.0, -7)
                                             : std::ldexp(1.0, -20);
  double worst = 0.0, dot = 0.0, na = 0.0, nb = 0.0;
  int64_t worst_i = 0, bad = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double a = actual.element_as_double(i), e = expected.element_as_double(i);
    dot += a * e;
    na += a * a;
    nb += e * e;
    const double err = std::fabs(a - e);
    double tol = c.format == "int8" ? ulp * std::fabs(e) + 1e-5 * scale : 1e-2 * scale;
    if (c.mode == 5 && c.act == "gelu") {
      // Mode 5 runs erf GELU as the tanh form (at most 4.7e-4 from erf) on tanh.approx (at most
      // 2^-11 of tanh, times |x| / 2: 2.5e-4 |y| for x > 0, at most 1e-3 where x < 0 and the
      // kernel does not round to 0, u >= -9).
      tol += 2.5e-4 * std::fabs(e) + 1.5e-3;
    }
    if (!(err <= tol)) ++bad;
    if (!(err <= worst) || std::isnan(err)) {
      worst = err;
      worst_i = i;
    }
  }
  const double cosine = (na == 0 && nb == 0) ? 1.0 : dot / std::sqrt(na * nb);
  if (bad == 0 && cosine >= 0.9999) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << describe(c) << ": " << bad << " of " << expected.numel()
         << " elements out of tolerance, cosine " << cosine << "; worst at " << worst_i << ": "
         << actual.element_as_double(worst_i) << " vs " << expected.element_as_double(worst_i)
         << " (output scale " << scale << ")";
}

std::vector<Tensor> inputs_of(const QuantCase& c, const QuantProblem& p) {
  if (c.residual) return {p.x, p.residual};
  return {p.x};
}

void check(const QuantCase& c) {
  SCOPED_TRACE(describe(c));
  QuantProblem p = make_problem(c);
  ASSERT_TRUE(p.g.infer().ok());
  Result<Tensor> expected = reference(c, p);
  ASSERT_TRUE(expected.ok()) << expected.status().message();
  // Eager and graph-captured runs both (the capture replays the launches recorded once).
  for (bool graphs : {false, true}) {
    Result<std::vector<Tensor>> got =
        run_graph_cuda(p.g.graph(), inputs_of(c, p), c.precision, graphs);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_TRUE(matches_reference(c, (*got)[0], *expected)) << (graphs ? " (CUDA graph)" : "");
  }
}

class CudaQuantLinear : public ::testing::Test {
 protected:
  void SetUp() override { VITRT_REQUIRE_GPU(); }
};

// ---- int8 ------------------------------------------------------------------------------------

// dynamic_input (ONNX Runtime's quantize_dynamic chains, import_dynamic_quant): the scale and
// zero point of each run's X, every precision, activations, residual, odd shapes.
TEST_F(CudaQuantLinear, Int8DynamicInput) {
  for (const char* precision : {"fp32", "fp16", "bf16"}) {
    for (const char* act : {"none", "gelu"}) {
      QuantCase c;
      c.dynamic = true;
      c.precision = precision;
      c.act = act;
      c.lead = {3, 67};
      c.k = 72;
      c.n = 41;
      check(c);
    }
    QuantCase r;
    r.dynamic = true;
    r.precision = precision;
    r.residual = true;
    r.per_channel = false;
    check(r);
  }
}

TEST_F(CudaQuantLinear, Int8EveryActivationFp16) {
  for (const char* act :
       {"none", "relu", "gelu", "gelu_tanh", "quick_gelu", "silu", "hard_swish", "relu6"}) {
    QuantCase c;
    c.act = act;
    c.lead = {2, 37};
    c.k = 96;
    c.n = 80;
    check(c);
  }
}

TEST_F(CudaQuantLinear, Int8Bf16AndFp32PerTensor) {
  for (const char* precision : {"bf16", "fp32"}) {
    QuantCase c;
    c.precision = precision;
    c.per_channel = false;
    c.act = "gelu";
    c.lead = {197};
    c.k = 128;
    c.n = 64;
    check(c);
  }
}

TEST_F(CudaQuantLinear, Int8Shapes) {
  // M from 1 to a few thousand; K and N multiples of 16 and odd (padded to 16 inside).
  const std::vector<std::array<int64_t, 3>> shapes = {
      {1, 16, 16},    {1, 768, 48},   {5, 48, 33},    {64, 37, 64},
      {257, 100, 24}, {1031, 64, 17}, {3000, 32, 48}, {2048, 128, 128}};
  uint64_t seed = 10;
  for (const auto& [m, k, n] : shapes) {
    QuantCase c;
    c.lead = {m};
    c.k = k;
    c.n = n;
    c.act = "gelu_tanh";
    c.bias = seed % 2 == 0;
    c.seed = seed++;
    check(c);
  }
}

// M x K x N of the fused-epilogue tests: M from 1 up, K padded to 32 inside, N a multiple of 8.
const std::vector<std::array<int64_t, 3>> kFusedShapes = {
    {1, 16, 16}, {1, 768, 48}, {64, 37, 64}, {257, 100, 24}, {3000, 32, 48}, {197, 768, 2304}};

// `base` on each of kFusedShapes with each of `acts`, the bias and per-channel scales varying with
// the seed (taken from and advanced in `seed`).
void check_fused_shapes(const QuantCase& base, std::initializer_list<const char*> acts,
                        uint64_t& seed) {
  for (const auto& [m, k, n] : kFusedShapes) {
    for (const char* act : acts) {
      QuantCase c = base;
      c.lead = {m};
      c.k = k;
      c.n = n;
      c.act = act;
      c.bias = seed % 3 != 0;
      c.per_channel = seed % 4 != 1;
      c.seed = seed++;
      check(c);
    }
  }
}

// The shapes again with no activation and with erf GELU: in fp16 plans on an sm_90 GPU these
// run CUTLASS's int8 GEMM with the dequantization, bias and GELU in its epilogue (mode 4, when
// built with CUTLASS); bf16 keeps the int32 accumulators and the dequantize kernel (mode 1), as
// does a stored mode-1 tactic in fp16: each against the same reference.
TEST_F(CudaQuantLinear, Int8FusedEpilogueShapes) {
  uint64_t seed = 40;
  for (const auto& [precision, mode] :
       std::vector<std::pair<const char*, int>>{{"fp16", -1}, {"fp16", 1}, {"bf16", -1}}) {
    QuantCase base;
    base.precision = precision;
    base.mode = mode;
    check_fused_shapes(base, {"none", "gelu"}, seed);
  }
}

// The int8 CUTLASS kernels forced through stored tactics: mode 4 (the layer's activation in the
// epilogue) and mode 5 (erf GELU as the hardware-tanh form), with and without bias, a residual,
// per-channel and per-tensor scales. Where a GPU or build lacks them (not sm_90, no CUTLASS
// headers) the kernel runs another mode: the same reference holds. A stored mode 4 in an fp8
// layer (no such mode) runs cuBLASLt; a stored mode 6 (CUTLASS's FP8 GEMM, which writes codes
// only: cuda_fp8_chain_test.cc) in a layer writing floats, int8 or fp8, runs another mode too.
TEST_F(CudaQuantLinear, CutlassModesShapes) {
  uint64_t seed = 70;
  for (const char* format : {"int8", "fp8"}) {
    for (int mode : {4, 5, 6}) {
      if (std::string(format) == "fp8" && mode == 5) continue;
      QuantCase base;
      base.format = format;
      base.mode = mode;
      if (mode == 5) {
        check_fused_shapes(base, {"gelu"}, seed);
      } else {
        check_fused_shapes(base, {"none", "gelu"}, seed);
      }
    }
    QuantCase r;
    r.format = format;
    r.mode = 4;
    r.residual = true;
    r.lead = {2, 150};
    r.k = 96;
    r.n = 72;
    check(r);
  }
}

TEST_F(CudaQuantLinear, Int8ClampsAndZeroPoints) {
  QuantCase c;
  c.lead = {33};
  c.k = 80;
  c.n = 32;
  c.scale_fraction = 0.25f;  // most of X clamps at qmin / qmax
  check(c);
  // A zero point inside the int8 range: the GEMM shifts by it directly.
  c.scale_fraction = 1.0f;
  c.qmin = -128;
  c.qmax = 127;
  c.zero_point = 0;
  check(c);
  // uint8 activations (as QDQ exports write them): the GEMM shifts by qmax - 127 and the
  // accumulators get the zero point back through W's column sums.
  c.qmin = 0;
  c.qmax = 255;
  c.zero_point = 131;
  c.scale_fraction = 0.5f;
  check(c);
  c.zero_point = 3;
  c.qmin = -128;
  c.qmax = 127;
  check(c);
}

TEST_F(CudaQuantLinear, Int8QuantizerRangeWiderThan255IsAnError) {
  QuantCase c;
  c.qmin = -128;
  c.qmax = 255;
  c.zero_point = 0;
  QuantProblem p = make_problem(c);
  ASSERT_TRUE(p.g.infer().ok());
  Result<std::vector<Tensor>> got = run_graph_cuda(p.g.graph(), {p.x}, "fp16");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("input_qmax - input_qmin <= 255"), std::string::npos)
      << got.status().message();
}

// ---- FP8 -------------------------------------------------------------------------------------

// (mode_case 10: mode 0 with cuBLASLt's fast accumulation.)
TEST_F(CudaQuantLinear, Fp8EveryActivationBothModes) {
  for (int mode_case : {-1, 0, 1, 10}) {
    const int mode = mode_case == 10 ? 0 : mode_case;
    for (const char* act :
         {"none", "relu", "gelu", "gelu_tanh", "quick_gelu", "silu", "hard_swish", "relu6"}) {
      for (bool per_channel : {false, true}) {
        QuantCase c;
        c.format = "fp8";
        c.act = act;
        c.per_channel = per_channel;
        c.lead = {3, 41};
        c.k = 128;
        c.n = 96;
        // Mode 0 with per-channel scales runs where cuBLASLt takes outer-vector scales, else
        // the kernel falls back to mode 1: right numbers either way.
        c.mode = mode;
        c.fast_accum = mode_case == 10;
        check(c);
      }
    }
  }
}

TEST_F(CudaQuantLinear, Fp8PrecisionsAndShapes) {
  const std::vector<std::array<int64_t, 3>> shapes = {
      {1, 16, 16},    {1, 768, 64},   {7, 48, 33},    {64, 37, 64},
      {197, 100, 24}, {1031, 64, 32}, {3000, 32, 48}, {2048, 128, 128}};
  uint64_t seed = 40;
  for (const char* precision : {"fp16", "bf16", "fp32"}) {
    for (const auto& [m, k, n] : shapes) {
      QuantCase c;
      c.format = "fp8";
      c.precision = precision;
      c.lead = {m};
      c.k = k;
      c.n = n;
      c.act = seed % 3 == 0 ? "gelu" : "relu";
      c.bias = seed % 2 == 0;
      c.per_channel = seed % 4 != 1;
      c.seed = seed++;
      check(c);
    }
  }
}

TEST_F(CudaQuantLinear, Fp8Saturates) {
  QuantCase c;
  c.format = "fp8";
  c.scale_fraction = 0.1f;  // |x / input_scale| up to 4480: saturates at 448
  c.lead = {20};
  c.k = 64;
  c.n = 32;
  check(c);
}

// ---- the quantizer alone: every fp16 and bf16 value ---------------------------------------------

// launch_quantize_rows on all 65536 bit patterns of a 16-bit type (NaN, infinities, subnormals,
// ties included) against the reference's quantize_int8 / quantize_fp8: the bytes the GEMM
// multiplies must be the reference's exactly. Rows of 48 padded to 64 (the padding kernel, its
// zeros checked too) and of 64 (the 16-byte vector kernel).
void check_quantizer(cuda::Elt elt, const QuantLinearParams& p, int offset, int64_t k,
                     int64_t k_pad) {
  const int64_t rows = 65536 / k + 1;
  std::vector<uint16_t> x(static_cast<size_t>(rows * k), 0);
  for (size_t i = 0; i < 65536; ++i) x[i] = static_cast<uint16_t>(i);
  void* dx = nullptr;
  void* dq = nullptr;
  ASSERT_EQ(cudaMalloc(&dx, x.size() * 2), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&dq, static_cast<size_t>(rows * k_pad)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  cuda::QuantizeArgs a;
  a.format =
      p.format == QuantFormat::kInt8 ? cuda::QuantFormat::kInt8 : cuda::QuantFormat::kFp8E4M3;
  a.rows = rows;
  a.k = k;
  a.k_pad = k_pad;
  a.scale = p.input_scale;
  a.zero_point = p.zero_point;
  a.qmin = p.qmin;
  a.qmax = p.qmax;
  a.offset = offset;
  ASSERT_EQ(cuda::launch_quantize_rows(elt, a, dx, dq, nullptr), cudaSuccess);
  std::vector<uint8_t> q(static_cast<size_t>(rows * k_pad));
  ASSERT_EQ(cudaMemcpy(q.data(), dq, q.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(dx);
  cudaFree(dq);
  int bad = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < k_pad; ++j) {
      const uint8_t got = q[static_cast<size_t>(r * k_pad + j)];
      uint8_t want = 0;
      float v = 0.0f;
      if (j < k) {
        const uint16_t bits = x[static_cast<size_t>(r * k + j)];
        v = elt == cuda::Elt::kF16 ? half_to_float(bits) : bf16_to_float(bits);
        want = p.format == QuantFormat::kInt8 ? static_cast<uint8_t>(static_cast<int8_t>(
                                                    quantize_int8(v, p) + p.zero_point - offset))
                                              : quantize_fp8(v, p);
      }
      if (got != want && ++bad <= 5) {
        ADD_FAILURE() << "x = " << v << " at row " << r << " column " << j << ": got " << int(got)
                      << ", reference " << int(want);
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

TEST_F(CudaQuantLinear, QuantizerMatchesTheReferenceOnEvery16BitValue) {
  for (cuda::Elt elt : {cuda::Elt::kF16, cuda::Elt::kBF16}) {
    SCOPED_TRACE(elt == cuda::Elt::kF16 ? "fp16" : "bf16");
    QuantLinearParams p;
    for (int64_t k : {48, 64}) {
      p.format = QuantFormat::kFp8;
      p.input_scale = 0.37f;
      check_quantizer(elt, p, 0, k, 64);
      p.format = QuantFormat::kInt8;
      p.input_scale = 0.0123f;
      p.qmin = -127;
      p.qmax = 127;
      p.zero_point = 0;
      check_quantizer(elt, p, 0, k, 64);
      // uint8 with a zero point: the kernel shifts by qmax - 127 = 128 instead of 131.
      p.qmin = 0;
      p.qmax = 255;
      p.zero_point = 131;
      check_quantizer(elt, p, 128, k, 64);
    }
  }
}

// launch_quantize_rows on fp32 inputs next to every rounding tie, for scales across the range:
// x = RN(m * s) and its 4 neighbours on each side, for m each int8 half-integer (-128.5 ..
// 127.5) and each midpoint between neighbouring E4M3 values, plus random values of every
// magnitude. Where the quotient x / s lands within a unit in the last place of a tie, a
// division that rounds differently from the reference's (device_common's divide against the
// CPU's x / s) picks the other code.
TEST_F(CudaQuantLinear, QuantizerMatchesTheReferenceNextToTies) {
  std::mt19937 rng(7);
  std::vector<float> scales = {1.0f,          0.37f,   0.0123f, 1.0f / 448.0f,
                               1.0f / 127.0f, 3.0e-6f, 1.7e3f,  2.5e-4f};
  std::uniform_real_distribution<float> log_s(-14.0f, 8.0f);
  for (int i = 0; i < 56; ++i) scales.push_back(std::exp2(log_s(rng)));
  std::vector<float> fp8_mids;
  for (int c = 0; c < 0x7e; ++c) {
    fp8_mids.push_back(0.5f * (e4m3_to_float(static_cast<uint8_t>(c)) +
                               e4m3_to_float(static_cast<uint8_t>(c + 1))));
  }
  std::uniform_real_distribution<float> mant(1.0f, 2.0f);
  std::uniform_int_distribution<int> expo(-40, 40);
  for (const bool fp8 : {false, true}) {
    for (const float scale : scales) {
      std::vector<float> x;
      const auto near = [&](float m) {
        float v = m * scale;
        for (int k = 0; k < 4; ++k) v = std::nextafter(v, -INFINITY);
        for (int k = 0; k < 9; ++k, v = std::nextafter(v, INFINITY)) x.push_back(v);
      };
      if (fp8) {
        for (float m : fp8_mids) {
          near(m);
          near(-m);
        }
      } else {
        for (int k = -129; k <= 128; ++k) near(static_cast<float>(k) + 0.5f);
      }
      for (int i = 0; i < 4096; ++i) {
        x.push_back((i % 2 ? -1.0f : 1.0f) * std::ldexp(mant(rng), expo(rng)) * scale);
      }
      x.resize((x.size() + 15) / 16 * 16, 0.0f);  // whole 16-byte rows for the vector kernel
      QuantLinearParams p;
      p.format = fp8 ? QuantFormat::kFp8 : QuantFormat::kInt8;
      p.input_scale = scale;
      p.qmin = -128;
      p.qmax = 127;
      p.zero_point = 0;
      const int64_t k = 16, rows = static_cast<int64_t>(x.size()) / k;
      void* dx = nullptr;
      void* dq = nullptr;
      ASSERT_EQ(cudaMalloc(&dx, x.size() * sizeof(float)), cudaSuccess);
      ASSERT_EQ(cudaMalloc(&dq, x.size()), cudaSuccess);
      ASSERT_EQ(cudaMemcpy(dx, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice),
                cudaSuccess);
      cuda::QuantizeArgs a;
      a.format = fp8 ? cuda::QuantFormat::kFp8E4M3 : cuda::QuantFormat::kInt8;
      a.rows = rows;
      a.k = k;
      a.k_pad = k;
      a.scale = scale;
      a.qmin = -128;
      a.qmax = 127;
      ASSERT_EQ(cuda::launch_quantize_rows(cuda::Elt::kF32, a, dx, dq, nullptr), cudaSuccess);
      std::vector<uint8_t> q(x.size());
      ASSERT_EQ(cudaMemcpy(q.data(), dq, q.size(), cudaMemcpyDeviceToHost), cudaSuccess);
      cudaFree(dx);
      cudaFree(dq);
      int bad = 0;
      for (size_t i = 0; i < x.size(); ++i) {
        const uint8_t want =
            fp8 ? quantize_fp8(x[i], p)
                : static_cast<uint8_t>(static_cast<int8_t>(quantize_int8(x[i], p)));
        if (q[i] != want && ++bad <= 5) {
          ADD_FAILURE() << (fp8 ? "fp8" : "int8") << " scale " << scale << ": x = " << x[i]
                        << " (x / scale = " << x[i] / scale << "): got " << int(q[i])
                        << ", reference " << int(want);
        }
      }
      EXPECT_EQ(bad, 0) << (fp8 ? "fp8" : "int8") << " scale " << scale;
    }
  }
}

// ---- the tactic tuner --------------------------------------------------------------------------

TEST_F(CudaQuantLinear, TunerRecordsATacticThatReproducesTheOutput) {
  for (const char* format : {"int8", "fp8"}) {
    QuantCase c;
    c.format = format;
    c.lead = {300};
    c.k = 128;
    c.n = 64;
    c.act = "gelu";
    QuantProblem p = make_problem(c);
    ASSERT_TRUE(p.g.infer().ok());
    Result<Tensor> expected = reference(c, p);
    ASSERT_TRUE(expected.ok());
    cuda::TacticTuner tuner;
    tuner.device_key = "test";
    cuda::CudaEngineOptions options;
    options.precision = c.precision;
    options.cuda_graphs = false;
    options.tuner = &tuner;
    Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(p.g.graph(), options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
    Result<std::vector<NamedTensor>> tuned = ctx->run({{"x", p.x}});
    ASSERT_TRUE(tuned.ok()) << tuned.status().message();
    EXPECT_TRUE(matches_reference(c, (*tuned)[0].tensor, *expected));
    ASSERT_EQ(tuner.by_node.size(), 1u);
    const std::vector<cuda::GemmTactic>& chosen = tuner.by_node.begin()->second;
    ASSERT_EQ(chosen.size(), 1u);
    EXPECT_EQ(chosen[0].m, 300);
    if (c.format == "int8") {
      EXPECT_EQ(chosen[0].mode, 1);
    }
    // The plan with the chosen tactic gives the same numbers.
    Graph with = p.g.graph();
    with.nodes[tuner.by_node.begin()->first].attrs.set_ints(cuda::kGemmTacticsAttr,
                                                            cuda::encode_gemm_tactics(chosen));
    Result<std::vector<Tensor>> got = run_graph_cuda(with, {p.x}, c.precision);
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_TRUE(matches_reference(c, (*got)[0], *expected));
  }
}

// ---- residual --------------------------------------------------------------------------------

// Y = X.W + bias + residual: cuBLASLt's C (beta = 1) in the fused FP8 modes, the dequantize
// kernel's addend in mode 1 (int8 always), CUTLASS's FP8 GEMM with the residual in its epilogue
// in mode 6 (fp16 plans, N a multiple of 16, an sm_90 GPU and CUTLASS built; elsewhere the mode a
// launch falls back to), against the CPU reference on the shapes of a ViT's attention projection
// and fc2 (K 3072 -> N 768), one row, 197 tokens and odd N.
TEST_F(CudaQuantLinear, ResidualEveryFormatPrecisionAndMode) {
  const std::vector<std::array<int64_t, 3>> shapes = {
      {1, 64, 48}, {197, 96, 40}, {5, 48, 33}, {2, 3072, 768}, {197, 768, 768}};
  uint64_t seed = 70;
  for (const char* format : {"int8", "fp8"}) {
    for (const char* precision : {"fp16", "bf16", "fp32"}) {
      for (const auto& [m, k, n] : shapes) {
        for (int mode : {-1, 0, 1, 6}) {
          // int8 has mode 1 only
          if (std::string(format) == "int8" && (mode == 0 || mode == 6)) continue;
          QuantCase c;
          c.format = format;
          c.precision = precision;
          c.lead = {m};
          c.k = k;
          c.n = n;
          c.mode = mode;
          c.per_channel = seed % 2 == 0;
          c.bias = seed % 3 != 0;
          c.residual = true;
          c.seed = seed++;
          check(c);
        }
      }
    }
  }
}

// The tuner times the residual problem as its own (its key says +residual: beta = 1 runs other
// kernels than beta = 0), and the chosen tactic reproduces the output.
TEST_F(CudaQuantLinear, TunerTimesTheResidualProblemApart) {
  for (const char* format : {"int8", "fp8"}) {
    cuda::TacticTuner tuner;
    tuner.device_key = "test";
    for (bool residual : {false, true}) {
      QuantCase c;
      c.format = format;
      c.lead = {300};
      c.k = 128;
      c.n = 64;
      c.residual = residual;
      QuantProblem p = make_problem(c);
      ASSERT_TRUE(p.g.infer().ok());
      Result<Tensor> expected = reference(c, p);
      ASSERT_TRUE(expected.ok());
      cuda::CudaEngineOptions options;
      options.precision = c.precision;
      options.cuda_graphs = false;
      options.tuner = &tuner;
      tuner.by_node.clear();
      Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(p.g.graph(), options);
      ASSERT_TRUE(engine.ok()) << engine.status().message();
      std::vector<NamedTensor> named = {{"x", p.x}};
      if (residual) named.push_back({"residual", p.residual});
      Result<std::vector<NamedTensor>> tuned = (*engine)->create_context()->run(named);
      ASSERT_TRUE(tuned.ok()) << tuned.status().message();
      EXPECT_TRUE(matches_reference(c, (*tuned)[0].tensor, *expected));
      ASSERT_EQ(tuner.by_node.size(), 1u);
      Graph with = p.g.graph();
      with.nodes[tuner.by_node.begin()->first].attrs.set_ints(
          cuda::kGemmTacticsAttr, cuda::encode_gemm_tactics(tuner.by_node.begin()->second));
      Result<std::vector<Tensor>> got = run_graph_cuda(with, inputs_of(c, p), c.precision);
      ASSERT_TRUE(got.ok()) << got.status().message();
      EXPECT_TRUE(matches_reference(c, (*got)[0], *expected));
    }
    ASSERT_EQ(tuner.by_problem.size(), 2u) << format;
    int with_residual = 0;
    for (const auto& [key, t] : tuner.by_problem) {
      with_residual += key.find("+residual") != std::string::npos;
    }
    EXPECT_EQ(with_residual, 1) << format;
  }
}

// ---- engines, contexts and graphs ------------------------------------------------------------

TEST_F(CudaQuantLinear, ContextsOfOneEngineShareWeightsAndAgree) {
  for (const char* format : {"int8", "fp8"}) {
    QuantCase c;
    c.format = format;
    c.lead = {2, 50};
    c.k = 64;
    c.n = 48;
    QuantProblem p = make_problem(c);
    ASSERT_TRUE(p.g.infer().ok());
    Result<Tensor> expected = reference(c, p);
    ASSERT_TRUE(expected.ok());
    cuda::CudaEngineOptions options;
    options.precision = c.precision;
    Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(p.g.graph(), options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    std::unique_ptr<ExecutionContext> first = (*engine)->create_context();
    std::unique_ptr<ExecutionContext> second = (*engine)->create_context();
    Result<std::vector<NamedTensor>> a = first->run({{"x", p.x}});
    Result<std::vector<NamedTensor>> b = second->run({{"x", p.x}});
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(matches_reference(c, (*a)[0].tensor, *expected));
    EXPECT_TRUE(matches_reference(c, (*b)[0].tensor, *expected));
    // The context that made the shared weights goes first; the other still runs on them, and a
    // new one after both reuses or remakes them.
    first.reset();
    b = second->run({{"x", p.x}});
    ASSERT_TRUE(b.ok());
    EXPECT_TRUE(matches_reference(c, (*b)[0].tensor, *expected));
    second.reset();
    std::unique_ptr<ExecutionContext> third = (*engine)->create_context();
    Result<std::vector<NamedTensor>> t = third->run({{"x", p.x}});
    ASSERT_TRUE(t.ok());
    EXPECT_TRUE(matches_reference(c, (*t)[0].tensor, *expected));
  }
}

// FP8 then int8 layers in one fp32 plan, each with its own scratch in the arena, against the two
// references in a row (the int8 layer may quantize a value that lands on a rounding tie either
// way after the FP8 layer's sums, so this is held to the FP8 tolerance).
TEST_F(CudaQuantLinear, TwoLayersInOnePlan) {
  QuantCase a;
  a.format = "fp8";
  a.precision = "fp32";
  a.lead = {3, 70};
  a.k = 48;
  a.n = 64;
  a.act = "gelu";
  QuantCase b = a;
  b.format = "int8";
  b.k = 64;
  b.n = 40;
  b.act = "none";
  b.seed = 7;
  QuantProblem pa = make_problem(a), pb = make_problem(b);
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {3, 70, 48});
  ValueId h =
      g.op("QuantLinear",
           {x, g.constant("wa", pa.w_q), g.constant("sa", pa.w_scale), g.constant("ba", pa.bias)},
           pa.attrs, "vitrt");
  g.output(
      g.op("QuantLinear",
           {h, g.constant("wb", pb.w_q), g.constant("sb", pb.w_scale), g.constant("bb", pb.bias)},
           pb.attrs, "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  Result<Tensor> hidden = reference(a, pa);
  ASSERT_TRUE(hidden.ok());
  pb.x = *hidden;
  Result<Tensor> expected = reference(b, pb);
  ASSERT_TRUE(expected.ok());
  Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), {pa.x}, "fp32");
  ASSERT_TRUE(got.ok()) << got.status().message();
  QuantCase judged = b;
  judged.format = "fp8";  // the tolerance of a chain with FP8 in it
  EXPECT_TRUE(matches_reference(judged, (*got)[0], *expected));
}

// ---- fixtures quantized by hand ----------------------------------------------------------------

// Runs one QuantLinear node on X [2, 4] with W_q [4, 2] and returns Y [2, 2] as fp32.
Result<Tensor> run_fixture(const std::string& format, const std::vector<float>& x,
                           const Tensor& w_q, const std::vector<float>& w_scale,
                           const std::vector<float>& bias, float input_scale,
                           const std::string& precision) {
  TestGraph g;
  ValueId xi = g.input("x", DType::kFloat32, {2, 4});
  Attributes a;
  a.set_string("format", format);
  a.set_float("input_scale", input_scale);
  g.output(g.op("QuantLinear",
                {xi, g.constant("w_q", w_q), g.constant("w_scale", Tensor::from_float(w_scale)),
                 g.constant("bias", Tensor::from_float(bias))},
                a, "vitrt"));
  VITRT_RETURN_IF_ERROR(g.infer());
  VITRT_ASSIGN_OR_RETURN(Tensor xt, Tensor::from_float(x).reshaped({2, 4}));
  VITRT_ASSIGN_OR_RETURN(std::vector<Tensor> out, run_graph_cuda(g.graph(), {xt}, precision));
  return out[0];
}

TEST_F(CudaQuantLinear, Int8HandQuantizedFixture) {
  // input_scale 1/16: x / s = [8, -16, 4, 32] and [2.5 -> 2 (half to even), -200 -> -127
  // (clamp), 0, 1.5 -> 2].
  const std::vector<float> x = {0.5f, -1.0f, 0.25f, 2.0f, 0.15625f, -12.5f, 0.0f, 0.09375f};
  Tensor w = Tensor::empty(DType::kInt8, {4, 2});
  const int8_t wv[8] = {1, -2, 3, 0, -1, 5, 2, 127};  // rows k, columns n
  std::memcpy(w.raw_data(), wv, sizeof(wv));
  // Row 0: acc = [8*1 - 16*3 + 4*-1 + 32*2, 8*-2 + 0 + 4*5 + 32*127] = [20, 4068]
  //        y = acc * (1/16) * [0.5, 0.25] + [1, -1] = [1.625, 62.5625]
  // Row 1: xq = [2, -127, 0, 2]: acc = [2 - 381 + 0 + 4, -4 + 0 + 0 + 254] = [-375, 250]
  //        y = [-375 / 32 + 1, 250 / 64 - 1] = [-10.71875, 2.90625]
  const std::vector<float> expected = {1.625f, 62.5625f, -10.71875f, 2.90625f};
  for (const char* precision : {"fp16", "bf16", "fp32"}) {
    Result<Tensor> y = run_fixture("int8", x, w, {0.5f, 0.25f}, {1.0f, -1.0f}, 0.0625f, precision);
    ASSERT_TRUE(y.ok()) << y.status().message();
    for (int i = 0; i < 4; ++i) {
      // Every expected value is exact in bf16 except 62.5625 (rounds to 62.5) and -10.71875.
      const double tol = std::string(precision) == "bf16" ? 0.0625 : 0.0;
      EXPECT_NEAR(y->element_as_double(i), expected[static_cast<size_t>(i)], tol)
          << precision << " element " << i;
    }
  }
}

TEST_F(CudaQuantLinear, Fp8HandQuantizedFixture) {
  // input_scale 0.5: x / s = [2, -6, 1.5, 448] (all exact E4M3) and [600 -> 448 (saturates),
  // 0.25 -> 0.25, -1 -> -1, 3.25 -> 3.25 (E4M3 holds 3.25 = 1.625 * 2)].
  const std::vector<float> x = {1.0f, -3.0f, 0.75f, 224.0f, 300.0f, 0.125f, -0.5f, 1.625f};
  // E4M3 codes: 0x38 = 1, 0x40 = 2, 0xB8 = -1, 0x3C = 1.5, 0x30 = 0.5, 0x00 = 0.
  Tensor w = Tensor::empty(DType::kUInt8, {4, 2});
  const uint8_t wv[8] = {0x38, 0x40, 0xB8, 0x3C, 0x30, 0x00, 0x00, 0xB8};
  std::memcpy(w.raw_data(), wv, sizeof(wv));
  // W = [[1, 2], [-1, 1.5], [0.5, 0], [0, -1]]
  // Row 0: acc = [2 + 6 + 0.75 + 0, 4 - 9 + 0 - 448] = [8.75, -453]
  //        y = acc * 0.5 * [2, 0.25] + [0.5, 0] = [9.25, -56.625]
  // Row 1: xq = [448, 0.25, -1, 3.25]: acc = [448 - 0.25 - 0.5, 896 + 0.375 - 3.25]
  //        = [447.25, 893.125]; y = [447.75, 111.640625]
  const std::vector<float> expected = {9.25f, -56.625f, 447.75f, 111.640625f};
  for (const char* precision : {"fp16", "bf16", "fp32"}) {
    Result<Tensor> y = run_fixture("fp8", x, w, {2.0f, 0.25f}, {0.5f, 0.0f}, 0.5f, precision);
    ASSERT_TRUE(y.ok()) << y.status().message();
    for (int i = 0; i < 4; ++i) {
      // The output's rounding: fp16 holds 447.75 to 0.25, bf16 to 2 (and 111.64 to 0.5).
      const double e = expected[static_cast<size_t>(i)];
      const double tol = std::string(precision) == "bf16"   ? std::fabs(e) * std::ldexp(1.0, -8)
                         : std::string(precision) == "fp16" ? std::fabs(e) * std::ldexp(1.0, -11)
                                                            : 1e-4;
      EXPECT_NEAR(y->element_as_double(i), e, tol) << precision << " element " << i;
    }
  }
}

}  // namespace
}  // namespace vitrt::testing
