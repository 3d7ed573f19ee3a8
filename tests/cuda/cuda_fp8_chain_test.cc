// FP8 activations that stay FP8 on CUDA (pass fuse_quant_producers): vitrt.QuantLinear reading
// E4M3 codes and writing them (output_scale), vitrt.AddLayerNorm writing them, and a LayerNorm
// -> fc1 -> fc2 chain, each against the CPU kernels (the op contracts' reference) on the same
// graph.
//
// Inputs, weights' float parts and biases are rounded to bf16, so the plan's conversion to fp16
// / bf16 is exact and both sides start from the same numbers. Codes written by the GPU may then
// differ from the CPU's only where the fp32 value lies within sum-order noise of a rounding
// boundary: such a code is the neighbouring one, and few are. Outputs in float are held to the
// FP8 tolerance of cuda_quant_test.cc (1e-2 of the output's scale, cosine 0.9999); the chain,
// whose fc2 input codes may flip (fc1's output rounds to the activation type before fc2
// quantizes it), to 3e-2 and 0.999.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/float8.h"
#include "core/half.h"
#include "cuda/cuda_kernel.h"
#include "cuda_test_util.h"
#include "vitrt/engine.h"

namespace vitrt::testing {
namespace {

class CudaFp8Chain : public ::testing::Test {
 protected:
  void SetUp() override { VITRT_REQUIRE_GPU(); }
};

// Random E4M3 codes whose values lie within +-range (as a tensor of that amax quantizes).
Tensor random_codes(std::vector<int64_t> shape, uint64_t seed, float range = 448.0f) {
  Tensor f = bf16_random(shape, seed, -range, range);
  Tensor c = Tensor::empty(DType::kUInt8, shape);
  for (int64_t i = 0; i < f.numel(); ++i) c.data<uint8_t>()[i] = float_to_e4m3(f.data<float>()[i]);
  return c;
}

struct Layer {
  int64_t k = 64, n = 48;
  std::string act = "none";
  float input_scale = 3.0f / 448;
  bool per_channel = true;
  int mode = -1;  // forced through a stored tactic (an invalid algorithm: the heuristic runs)
  bool fast_accum = false;  // the stored tactic's cuBLASLt fast accumulation
  int64_t rows = 0;
  uint64_t seed = 1;
  float output_scale = 0.0f;  // > 0: Y as E4M3 codes
};

// A QuantLinear node reading `x` as `l` says, weights from `l.seed`.
ValueId add_layer(TestGraph& g, ValueId x, const Layer& l, const std::string& name) {
  Tensor w = random_codes({l.k, l.n}, l.seed);
  Tensor ws = Tensor::empty(DType::kFloat32, {l.n});
  for (int64_t j = 0; j < l.n; ++j) {
    ws.data<float>()[j] =
        l.per_channel ? (0.5f + 0.01f * static_cast<float>(j % 7)) / 448 / 8 : 0.5f / 448 / 8;
  }
  Attributes a;
  a.set_string("format", "fp8");
  a.set_float("input_scale", l.input_scale);
  a.set_string("activation", l.act);
  if (l.output_scale > 0.0f) a.set_float("output_scale", l.output_scale);
  if (l.mode >= 0) {
    cuda::GemmTactic t;
    t.m = l.rows;
    t.mode = l.mode;
    t.fast_accum = l.fast_accum;
    for (size_t i = 0; i < 8; ++i) t.algo.data[i] = 0x0123456789abcdefull * (i + 1);
    a.set_ints(cuda::kGemmTacticsAttr, cuda::encode_gemm_tactics({t}));
  }
  return g.op("QuantLinear",
              {x, g.constant(name + ".w", w), g.constant(name + ".s", ws),
               g.constant(name + ".b", bf16_random({l.n}, l.seed + 1, -1.0f, 1.0f))},
              a, "vitrt", name);
}

// The graph on the GPU (eager and captured) against the CPU engine.
void check_graph(const Graph& graph, const std::vector<Tensor>& inputs,
                 const std::string& precision, double code_fraction, double rel,
                 double min_cosine) {
  Result<std::vector<Tensor>> want = run_graph(graph, inputs);
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  for (bool graphs : {false, true}) {
    SCOPED_TRACE(graphs ? "CUDA graph" : "eager");
    Result<std::vector<Tensor>> got = run_graph_cuda(graph, inputs, precision, graphs);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_EQ(got->size(), want->size());
    for (size_t i = 0; i < want->size(); ++i) {
      if ((*want)[i].dtype() == DType::kUInt8) {
        EXPECT_TRUE(codes_agree((*got)[i], (*want)[i], code_fraction)) << "output " << i;
      } else {
        EXPECT_TRUE(floats_agree((*got)[i], (*want)[i], rel, min_cosine)) << "output " << i;
      }
    }
  }
}

// ---- X as codes ------------------------------------------------------------------------------

TEST_F(CudaFp8Chain, QuantLinearReadsCodes) {
  // K = 64 lets the GEMM read X itself (modes 0 / 2); K = 48 needs the padded copy.
  for (int64_t k : {64, 48}) {
    for (int mode : {-1, 0, 1}) {
      for (const char* precision : {"fp16", "bf16", "fp32"}) {
        Layer l;
        l.k = k;
        l.n = 96;
        l.act = "gelu";
        l.rows = 3 * 41;
        l.mode = mode;
        l.seed = static_cast<uint64_t>(k + mode);
        SCOPED_TRACE(str_cat("k ", k, " mode ", mode, " ", precision));
        TestGraph g;
        ValueId x = g.input("x", DType::kUInt8, {3, 41, k});
        g.output(add_layer(g, x, l, "fc"));
        ASSERT_TRUE(g.infer().ok());
        check_graph(g.graph(), {random_codes({3, 41, k}, 5)}, precision, 0.0, 1e-2, 0.9999);
      }
    }
  }
}

// ---- QuantLinear writing codes ---------------------------------------------------------------

// One E4M3 step at |v| (v in code units): 2^(e - 3) for a normal value of exponent e, 2^-9 in
// the subnormal range.
float e4m3_step(float v) {
  const float a = std::fabs(v);
  if (a < 0.015625f) return std::ldexp(1.0f, -9);
  return std::ldexp(1.0f, static_cast<int>(std::floor(std::log2(a))) - 3);
}

// QuantLinear codes compared as the values they encode (decode * output_scale), not code for
// code, as the op's contract states: the GPU adds a bias rounded to its activation type
// (unit roundoff u; the epilogue may also round y itself to it), sums the FP8 products in
// another order (Hopper's FP8 accumulation: held to 1e-3 of the largest output, a tenth of
// what cuda_quant_test.cc allows float outputs), may run GELU in its tanh form (mode 2:
// `extra`) and multiplies by 1 / output_scale instead of dividing. So a value may land one
// E4M3 step away, and near zero the rounding alone spans several subnormal steps. Per element:
//   |a - e| <= step(max(|a|, |e|)) * scale + (|bias[j]| + |e|) * u + 1e-3 * max|e| + extra,
// and the cosine of the two decoded tensors is at least 0.9999.
::testing::AssertionResult codes_close(const Tensor& actual, const Tensor& expected, float scale,
                                       const Tensor& bias, float u, float extra) {
  if (actual.dtype() != DType::kUInt8 || actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure()
           << "got " << actual.describe() << ", expected " << expected.describe();
  }
  const int64_t n = bias.numel();
  float largest = 0.0f;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    largest = std::max(largest, std::fabs(e4m3_to_float(expected.data<uint8_t>()[i]) * scale));
  }
  int64_t differ = 0;
  double dot = 0, na = 0, ne = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const float ca = e4m3_to_float(actual.data<uint8_t>()[i]);
    const float ce = e4m3_to_float(expected.data<uint8_t>()[i]);
    const float a = ca * scale, e = ce * scale;
    dot += static_cast<double>(a) * e;
    na += static_cast<double>(a) * a;
    ne += static_cast<double>(e) * e;
    if (ca == ce) continue;
    ++differ;
    const float tol = e4m3_step(std::max(std::fabs(ca), std::fabs(ce))) * scale +
                      (std::fabs(bias.data<float>()[i % n]) + std::fabs(e)) * u + 1e-3f * largest +
                      extra;
    if (!(std::fabs(a - e) <= tol)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a << " vs " << e << " (codes " << ca << ", " << ce
             << "), tolerance " << tol;
    }
  }
  const double cosine = na > 0 && ne > 0 ? dot / std::sqrt(na * ne) : (na == ne ? 1.0 : 0.0);
  // Every element is within its bound above; the cosine guards against many of them sitting
  // at it. One row (512 codes) with a few codes one E4M3 step (up to 1/8 relative) off, as
  // the bf16 bias moves them, measured 0.99988 on the H200.
  if (cosine < 0.999) {
    return ::testing::AssertionFailure() << "cosine " << cosine << " (" << differ << " of "
                                         << expected.numel() << " codes differ)";
  }
  return ::testing::AssertionSuccess();
}

// What mode 6 (CUTLASS's FP8 GEMM, cuda/cutlass_fp8.h) adds to an element's tolerance with a
// GELU, in output units: the tanh form's distance from erf (4.7e-4), and its fp16 arithmetic,
// about 2^-10 |z| / 2 where the tanh nears -1 (|z| <= 4 in these layers) and 2^-10 |y| (below
// one E4M3 step).
constexpr float kMode6GeluExtra = 5e-4f + 2.5e-3f;

// fc1 as a plan runs it with output_scale: every mode (default, the dequantize kernel, the FP8
// D forced through a stored tactic, the staged 16-bit D; mode 0 again with cuBLASLt's fast
// accumulation: 10 below; CUTLASS's FP8 GEMM, mode 6, where it is built and the GPU is an sm_90,
// else the mode a launch falls back to) and activation, M = 1 / 197 / 1000, fp16 and bf16 plans
// (fp32 plans: the staged mode), float X with a per-channel w_scale and codes X with a
// per-tensor one, eager and captured.
TEST_F(CudaFp8Chain, QuantLinearWritesCodes) {
  for (const char* precision : {"fp16", "bf16", "fp32"}) {
    for (const char* act : {"none", "gelu", "gelu_tanh"}) {
      for (int mode_case : {-1, 0, 1, 2, 3, 6, 10}) {
        const int mode = mode_case == 10 ? 0 : mode_case;
        if (mode_case == 10 && std::string(precision) == "fp32") continue;
        if (mode == 2 && std::string(act) != "gelu") continue;
        // fp32 plans have no FP8 D (cuBLASLt's takes a 16-bit C): they run modes 3 and 1.
        if (std::string(precision) == "fp32" && (mode == 0 || mode == 2)) continue;
        for (int64_t m : {1, 197, 1000}) {
          for (bool codes_in : {false, true}) {
            Layer l;
            l.k = 128;
            l.n = 512;
            l.act = act;
            l.mode = mode;
            l.fast_accum = mode_case == 10;
            l.rows = m;
            l.seed = static_cast<uint64_t>(m + mode);
            l.input_scale = codes_in ? 3.0f / 448 : 2.0f / 448;
            // Both ways cuBLASLt applies w_scale: alpha (per tensor) and an outer vector.
            l.per_channel = !codes_in;
            l.output_scale = 1.5f / 448;
            SCOPED_TRACE(str_cat(precision, " ", act, " mode ", mode,
                                 l.fast_accum ? " fast-accum" : "", " M ", m,
                                 codes_in ? " codes in" : " float in"));
            TestGraph g;
            ValueId x = g.input("x", codes_in ? DType::kUInt8 : DType::kFloat32, {m, l.k});
            g.output(add_layer(g, x, l, "fc1"));
            ASSERT_TRUE(g.infer().ok());
            const Tensor in =
                codes_in ? random_codes({m, l.k}, 5) : bf16_random({m, l.k}, 5, -2.0f, 2.0f);
            Result<std::vector<Tensor>> want = run_graph(g.graph(), {in});
            ASSERT_TRUE(want.ok()) << want.status().to_string();
            ASSERT_EQ((*want)[0].dtype(), DType::kUInt8);
            const Tensor bias = bf16_random({l.n}, l.seed + 1, -1.0f, 1.0f);  // add_layer's
            const std::string p = precision;
            const float u = p == "bf16" ? 0x1p-8f : (p == "fp16" ? 0x1p-11f : 0x1p-23f);
            // The tanh form of GELU is within 4.7e-4 of erf's (mode 2; mode -1 never picks it).
            float extra = mode == 2 && p != "fp32" ? 5e-4f : 0.0f;
            if (mode == 6 && std::string(act) != "none") extra = kMode6GeluExtra;
            for (bool graphs : {false, true}) {
              SCOPED_TRACE(graphs ? "CUDA graph" : "eager");
              // run_graph_cuda builds without tactics: the stored one (or mode_for) decides.
              Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), {in}, precision, graphs);
              ASSERT_TRUE(got.ok()) << got.status().to_string();
              EXPECT_TRUE(codes_close((*got)[0], (*want)[0], l.output_scale, bias, u, extra));
            }
          }
        }
      }
    }
  }
}

// The tactic search on an output_scale layer: it times cuBLASLt's FP8 D (mode 0 for a tanh
// GELU, mode 2 for an erf GELU; the H200's cuBLASLt 13.1 has algorithms for a per-tensor
// weight scale, the form quantize_linear gives fp8 layers) next to the staged mode 3 and the
// dequantize kernel, records the mode that won, and the result agrees with the CPU. With a
// per-channel w_scale (outer-vector scales) the FP8 D may have no algorithm: then only the
// result is checked, and the output says which modes were timed. With fast accumulation
// allowed, mode 0 / 3's candidates come twice (with cuBLASLt's flag, logged "fast-accum");
// without, once.
TEST_F(CudaFp8Chain, TunedQuantLinearWritingCodes) {
  for (bool fast_accum : {true, false}) {
    for (bool per_channel : {false, true}) {
      for (const char* act : {"gelu_tanh", "gelu"}) {
        for (const char* precision : {"fp16", "bf16"}) {
          SCOPED_TRACE(str_cat(act, " ", precision, per_channel ? " per channel" : " per tensor",
                               fast_accum ? " fast accumulation allowed" : ""));
          Layer l;
          l.k = 256;
          l.n = 1024;
          l.act = act;
          l.per_channel = per_channel;
          l.output_scale = 1.5f / 448;
          TestGraph g;
          ValueId x = g.input("x", DType::kFloat32, {1000, l.k});
          g.output(add_layer(g, x, l, "fc1"));
          ASSERT_TRUE(g.infer().ok());
          const Tensor in = bf16_random({1000, l.k}, 5, -2.0f, 2.0f);
          Result<std::vector<Tensor>> want = run_graph(g.graph(), {in});
          ASSERT_TRUE(want.ok()) << want.status().to_string();
          cuda::TacticTuner tuner;
          tuner.device_key = "test";
          tuner.tanh_gelu = true;  // an erf GELU may then time mode 2 (FP8 D, tanh-form epilogue)
          tuner.fp8_fast_accum = fast_accum;
          tuner.verbose = true;
          std::string log;
          tuner.log = [&log](const std::string& line) { log += line + "\n"; };
          cuda::CudaEngineOptions options;
          options.precision = precision;
          options.cuda_graphs = false;
          options.tuner = &tuner;
          Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(g.graph(), options);
          ASSERT_TRUE(engine.ok()) << engine.status().to_string();
          Result<std::vector<NamedTensor>> got = (*engine)->create_context()->run({{"x", in}});
          ASSERT_TRUE(got.ok()) << got.status().to_string();
          const bool erf = std::string(act) == "gelu";
          // Mode 6 (CUTLASS's FP8 GEMM) is timed with fast accumulation allowed; its GELU runs
          // in fp16.
          const bool mode6 = log.find("chose mode 6") != std::string::npos;
          EXPECT_TRUE(!mode6 || fast_accum) << log;
          EXPECT_TRUE(codes_close((*got)[0].tensor, (*want)[0], l.output_scale,
                                  bf16_random({l.n}, l.seed + 1, -1.0f, 1.0f),
                                  std::string(precision) == "bf16" ? 0x1p-8f : 0x1p-11f,
                                  mode6 ? kMode6GeluExtra : (erf ? 5e-4f : 0.0f)));
          // The FP8 D was a candidate (mode 0, or 2 for the erf GELU), and so was mode 3.
          const std::string fp8_mode = erf ? " mode 2 (heuristic" : " mode 0 (heuristic";
          if (!per_channel) {
            EXPECT_NE(log.find(fp8_mode), std::string::npos) << log;
          }
          EXPECT_NE(log.find(" mode 3 (heuristic"), std::string::npos) << log;
          if (fast_accum) {
            EXPECT_NE(log.find(" mode 3 fast-accum (heuristic"), std::string::npos) << log;
          } else {
            EXPECT_EQ(log.find("fast-accum"), std::string::npos) << log;
          }
          EXPECT_EQ(tuner.by_node.size(), 1u);
          std::printf("%s %s %s: FP8 D %s; %s", act, precision,
                      per_channel ? "per channel" : "per tensor",
                      log.find(fp8_mode) != std::string::npos ? "timed" : "had no algorithm",
                      log.substr(0, log.find('\n') + 1).c_str());
        }
      }
    }
  }
}

// Mode 6 at the edges of its fp16 epilogue: sums up to about +-900, so z^2 overflows fp16
// (|z| > 256: u = +-inf, t = +-1), large outputs saturate at 448, and the GELU's negative tail
// gives 0; with no activation the sums saturate both ways. No NaN may appear (an inf - inf
// would give one). Codes X (per-tensor and per-channel weight scales), M = 197 and 1000.
TEST_F(CudaFp8Chain, CutlassFp8ModeSaturatesAndOverflows) {
  for (const char* act : {"gelu", "gelu_tanh", "none"}) {
    for (int64_t m : {197, 1000}) {
      for (bool per_channel : {true, false}) {
        Layer l;
        l.k = 256;
        l.n = 256;
        l.act = act;
        l.mode = 6;
        l.rows = m;
        l.seed = static_cast<uint64_t>(m) + (per_channel ? 1 : 2);
        l.per_channel = per_channel;
        l.input_scale = 2.0f;   // X up to +-896: sums of about +-300 (sd), up to about +-900
        l.output_scale = 1.0f;  // codes = y: above 448 they saturate
        SCOPED_TRACE(str_cat(act, " M ", m, per_channel ? " per channel" : " per tensor"));
        TestGraph g;
        ValueId x = g.input("x", DType::kUInt8, {m, l.k});
        g.output(add_layer(g, x, l, "fc1"));
        ASSERT_TRUE(g.infer().ok());
        const Tensor in = random_codes({m, l.k}, 7);
        Result<std::vector<Tensor>> want = run_graph(g.graph(), {in});
        ASSERT_TRUE(want.ok()) << want.status().to_string();
        int64_t saturated = 0, zero = 0;
        for (int64_t i = 0; i < (*want)[0].numel(); ++i) {
          const float v = e4m3_to_float((*want)[0].data<uint8_t>()[i]);
          saturated += std::fabs(v) == 448.0f;
          zero += v == 0.0f;
        }
        // The case reaches what it is for: saturated codes, and zeros from the GELU's tail.
        EXPECT_GT(saturated, 0);
        if (std::string(act) != "none") {
          EXPECT_GT(zero, 0);
        }
        Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), {in}, "fp16", true);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        EXPECT_TRUE(codes_close((*got)[0], (*want)[0], l.output_scale,
                                bf16_random({l.n}, l.seed + 1, -1.0f, 1.0f), 0x1p-11f,
                                std::string(act) == "none" ? 0.0f : kMode6GeluExtra));
      }
    }
  }
}

// ---- LayerNorm writing codes -----------------------------------------------------------------

TEST_F(CudaFp8Chain, AddLayerNormWritesCodes) {
  // 768 columns: the warp-per-row kernel; 100: the block-per-row one.
  for (int64_t c : {768, 100}) {
    for (const char* precision : {"fp16", "bf16", "fp32"}) {
      SCOPED_TRACE(str_cat(c, " ", precision));
      TestGraph g;
      ValueId a = g.input("a", DType::kFloat32, {2, 37, c});
      Attributes attrs;
      attrs.set_float("epsilon", 1e-6f);
      attrs.set_float("output_scale", 4.0f / 448);
      std::vector<ValueId> outs =
          g.op_multi("AddLayerNorm",
                     {a, g.constant("pos", bf16_random({37, c}, 2, -1.0f, 1.0f)),
                      g.constant("g", bf16_random({c}, 3, 0.5f, 1.5f)),
                      g.constant("b", bf16_random({c}, 4, -0.5f, 0.5f))},
                     2, attrs, "vitrt", "ln");
      g.output(outs[0]);
      g.output(outs[1]);
      ASSERT_TRUE(g.infer().ok());
      check_graph(g.graph(), {bf16_random({2, 37, c}, 9, -3.0f, 3.0f)}, precision, 0.01,
                  precision == std::string("fp32") ? 1e-6 : 1e-2, 0.9999);
    }
  }
}

// ---- the chain -------------------------------------------------------------------------------

// AddLayerNorm -(codes)-> fc1 gelu -(codes)-> fc2 -> float, as fuse_quant_producers leaves a
// ViT MLP (and with fc1 writing float, as before fc1 -> fc2 stayed FP8); with and without the
// tactic tuner (which times the modes on codes in and out).
TEST_F(CudaFp8Chain, LayerNormFc1Fc2Chain) {
  for (bool fc1_codes : {true, false}) {
    for (bool tune : {false, true}) {
      for (const char* precision : {"fp16", "bf16"}) {
        SCOPED_TRACE(str_cat(fc1_codes ? "fc1 codes, " : "", tune ? "tuned " : "", precision));
        TestGraph g;
        ValueId a = g.input("a", DType::kFloat32, {2, 50, 64});
        Attributes attrs;
        attrs.set_float("output_scale", 4.0f / 448);
        ValueId y = g.op_multi("AddLayerNorm",
                               {a, g.constant("pos", bf16_random({50, 64}, 2, -1.0f, 1.0f)),
                                g.constant("g", bf16_random({64}, 3, 0.5f, 1.5f)),
                                g.constant("b", bf16_random({64}, 4, -0.5f, 0.5f))},
                               1, attrs, "vitrt", "ln")[0];
        Layer fc1;
        fc1.k = 64;
        fc1.n = 256;
        fc1.act = "gelu";
        fc1.input_scale = 4.0f / 448;
        fc1.seed = 11;
        Layer fc2;
        fc2.k = 256;
        fc2.n = 64;
        fc2.input_scale = 3.0f / 448;
        fc2.seed = 21;
        if (fc1_codes) fc1.output_scale = fc2.input_scale;
        g.output(add_layer(g, add_layer(g, y, fc1, "fc1"), fc2, "fc2"));
        ASSERT_TRUE(g.infer().ok());
        const Tensor x = bf16_random({2, 50, 64}, 9, -3.0f, 3.0f);
        Result<std::vector<Tensor>> want = run_graph(g.graph(), {x});
        ASSERT_TRUE(want.ok()) << want.status().to_string();
        cuda::TacticTuner tuner;
        tuner.device_key = "test";
        tuner.tanh_gelu = true;  // fc1 may then time mode 2 (cuBLASLt's GELU epilogue)
        cuda::CudaEngineOptions options;
        options.precision = precision;
        options.cuda_graphs = false;
        if (tune) options.tuner = &tuner;
        Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(g.graph(), options);
        ASSERT_TRUE(engine.ok()) << engine.status().to_string();
        std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
        Result<std::vector<NamedTensor>> got = ctx->run({{"a", x}});
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        EXPECT_TRUE(floats_agree((*got)[0].tensor, (*want)[0], 3e-2, 0.999));
        if (tune) {
          EXPECT_EQ(tuner.by_node.size(), 2u);
        }
      }
    }
  }
}

// A LayerNorm writing E4M3 codes in an fp16 plan (fp8 plans' LayerNorms before qkv and fc1):
// the kernel computes the codes on fp16 pairs where the host allows it (ln_half2_codes_ok) and
// a row's mean lies within two deviations of 0, in fp32 elsewhere (and everywhere with
// VITRT_LN_HALF2_CODES=0). Against float64 on the
// fp16-rounded x, gamma and beta: each code within one E4M3 step of the nearest code to a value
// within e of the exact y, e being fp16 arithmetic's share (2^-10 of |t| + 4 times |gamma|, of
// |beta| and of |y|: absolute near y = 0, where subnormal codes are finer than that), and 95%
// exactly the nearest. Rows: centred noise (the pair path), rows shifted by 3 and 40 deviations
// (the fp32 path), a row of zeros, a constant row, one spike (|t| = sqrt(cols - 1), the bound
// the host checks gamma against); gamma up to 1.5 (pairs allowed) and up to 2000 (refused by the
// host: fp32 everywhere).
TEST_F(CudaFp8Chain, LayerNormCodesOnHalfPairsMatchFloat64) {
  const int64_t rows = 64, cols = 768;
  for (const float gamma_max : {1.5f, 2000.0f}) {
    SCOPED_TRACE(::testing::Message() << "gamma up to " << gamma_max);
    const float scale = gamma_max * 30.0f / 440.0f;
    Tensor x = bf16_random({rows, cols}, 71, -4.0f, 4.0f);
    float* xv = x.data<float>();
    for (int64_t r = 0; r < rows; ++r) {
      float* row = xv + r * cols;
      if (r % 4 == 1) {
        for (int64_t j = 0; j < cols; ++j) row[j] += 7.0f;  // about 3 deviations off 0
      } else if (r % 4 == 2 && r < 16) {
        for (int64_t j = 0; j < cols; ++j) row[j] += 90.0f;  // about 40
      }
    }
    std::fill(xv + 3 * cols, xv + 4 * cols, 0.0f);
    std::fill(xv + 7 * cols, xv + 8 * cols, 1.5f);
    std::fill(xv + 11 * cols, xv + 12 * cols, 0.0f);
    xv[11 * cols + 100] = 200.0f;
    // What the fp16 plan reads (gamma and beta, bf16 values, are exact in fp16).
    for (int64_t i = 0; i < x.numel(); ++i) xv[i] = half_to_float(float_to_half(xv[i]));
    const Tensor gamma = bf16_random({cols}, 72, -gamma_max, gamma_max);
    const Tensor beta = bf16_random({cols}, 73, -1.0f, 1.0f);
    TestGraph g(17);
    ValueId a = g.input("a", DType::kFloat32, {rows, cols});
    Attributes at;
    at.set_float("epsilon", 1e-5f);
    at.set_float("output_scale", scale);
    g.output(g.op("AddLayerNorm",
                  {a, g.constant("z", Tensor::zeros(DType::kFloat32, {cols})),
                   g.constant("g", gamma), g.constant("b", beta)},
                  at, "vitrt"));
    Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), {x}, "fp16");
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_EQ((*got)[0].dtype(), DType::kUInt8);
    const auto step_at = [](double v) {
      const double m = std::fabs(v);
      return m < 0x1p-6 ? 0x1p-9 : std::exp2(std::floor(std::log2(m)) - 3);
    };
    int64_t exact = 0, far = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double mean = 0, var = 0;
      for (int64_t j = 0; j < cols; ++j) mean += xv[r * cols + j] / double(cols);
      for (int64_t j = 0; j < cols; ++j) {
        const double d = xv[r * cols + j] - mean;
        var += d * d / double(cols);
      }
      const double inv = 1.0 / std::sqrt(var + 1e-5);
      for (int64_t j = 0; j < cols; ++j) {
        const double t = (xv[r * cols + j] - mean) * inv;
        const double gj = gamma.data<float>()[j], bj = beta.data<float>()[j];
        const double y = t * gj + bj;
        const uint8_t have = (*got)[0].data<uint8_t>()[r * cols + j];
        if (have == float_to_e4m3(static_cast<float>(y / scale))) {
          ++exact;
          continue;
        }
        const double e =
            0x1p-10 * ((std::fabs(t) + 4) * std::fabs(gj) + std::fabs(bj) + std::fabs(y));
        const double lo = e4m3_to_float(float_to_e4m3(static_cast<float>((y - e) / scale)));
        const double hi = e4m3_to_float(float_to_e4m3(static_cast<float>((y + e) / scale)));
        const double vh = e4m3_to_float(have);
        if (!(vh >= lo - step_at(lo) * 1.0001 && vh <= hi + step_at(hi) * 1.0001)) {
          if (far < 5) {
            ADD_FAILURE() << "row " << r << " col " << j << ": code " << int(have) << " (" << vh
                          << ") for " << y / scale << " (nearest codes " << lo << " to " << hi
                          << ")";
          }
          ++far;
        }
      }
    }
    EXPECT_EQ(far, 0);
    EXPECT_GE(exact, rows * cols * 95 / 100);
  }
}

// ---- a plan ------------------------------------------------------------------------------------

// `vitrt build --device cuda --precision fp8` of a ViT export, tactics timed: the build log
// names the FP8 edges, and the plan agrees with the CPU fp8 plan of the same calibration (the
// same scales and codes up to the GPU's rounding) and with PyTorch.
TEST_F(CudaFp8Chain, VitPlanBuiltForFp8) {
  // Per block: LN -> qkv, attention -> proj, LN -> fc1, fc1 -> fc2.
  check_quantized_vit_plans("fp8", "stays FP8", 8, 8);
}

}  // namespace
}  // namespace vitrt::testing
