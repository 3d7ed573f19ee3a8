// vitrt.Attention writing E4M3 codes (output_scale, pass fuse_quant_producers) on CUDA: every
// kernel form converts in its final store, checked against the CPU kernel (the op contract's
// reference) and against the same GPU kernel's float output. Then int8 codes (output_format
// int8) through every form the same way.
//
// Inputs are rounded to bf16, so the plan's conversion to fp16 / bf16 is exact. Two checks per
// case, both "every code equal or the neighbouring one, few neighbours":
//  - GPU codes vs e4m3(GPU float output / scale), on the host: the codes are the same
//    computation's fp32 result encoded. fp32 plans (scalar kernel): equal, every code (the fp32
//    output is that very value). fp16 / bf16: the float output was rounded to the activation
//    type first and the codes were not, so a code flips where that rounding crossed an E4M3
//    rounding boundary: at most 1% (fp16) / 5% (bf16) of them (expected ~0.2% / ~1.6%: the
//    type's rounding error over E4M3's step).
//  - GPU codes vs CPU codes: the GPU rounds P to the activation type before P V and sums in
//    another order, so codes near a boundary may land on either side: at most 1% (fp32),
//    5% (fp16), 15% (bf16) neighbours.
//
// Which form runs is chosen from the grid (launch_tc in src/cuda/attention.cu): the cases'
// comments name the one an H200 (132 multiprocessors) runs for fp16 / bf16; fp32 always runs
// the scalar kernel. The 1-warp streaming form runs only when forced: run this suite also with
// VITRT_ATTENTION=stream, =whole and =sub to take every case through the forced forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>

#include "core/float8.h"
#include "cuda_test_util.h"
#include "passes/pass.h"
#include "passes/quantize_linear.h"
#include "testing/attention_op.h"

namespace vitrt::testing {
namespace {

struct Fp8AttnCase {
  const char* form;  // on an H200, fp16 / bf16
  int64_t batch, seq, heads, head_dim;
  bool causal, packed, mask;
};

// Large grids: (seq / 64 rounded up) * heads * batch >= 2 * 132 blocks of 64 rows; small ones
// below. The sequence lengths are the towers' (50 CLIP vision, 77 CLIP text, 197 ViT-B/16, 257
// ViT-L/14) and a single token.
const Fp8AttnCase kCases[] = {
    {"1-warp whole (small grid, keys in one chunk)", 1, 1, 2, 64, false, true, false},
    {"1-warp whole, head dim 128", 2, 20, 2, 128, true, false, false},
    {"split (small grid)", 1, 50, 3, 64, true, false, false},
    {"split, masked", 1, 77, 2, 64, false, false, true},
    {"split", 1, 197, 2, 64, false, true, false},
    {"split, head dim 80", 2, 257, 2, 80, true, true, false},
    {"sub (large grid, <= 128 keys)", 32, 50, 12, 64, false, true, false},
    {"sub, causal", 32, 77, 8, 64, true, false, false},
    {"8-warp whole (large grid, > 128 keys)", 12, 197, 12, 64, false, true, false},
    {"8-warp whole, causal and masked", 8, 257, 12, 64, true, false, true},
    {"4-warp stream (head dim 80)", 8, 257, 12, 80, false, true, false},
    {"4-warp stream (K and V do not fit shared memory)", 2, 600, 16, 64, false, true, false},
    {"scalar (head dim 36: not whole 16-byte chunks)", 2, 77, 2, 36, true, false, false},
};

// One graph over case c's inputs: the attention's float output, then, where coded.output_scale
// > 0, the same attention writing the codes `coded` asks for (output_scale, output_int8,
// output_qmin). The mask (c.mask) is a constant of seed mask_seed.
TestGraph attention_codes_graph(const Fp8AttnCase& c, uint64_t mask_seed, AttentionOp coded) {
  const int64_t d = c.heads * c.head_dim;
  TestGraph g(17);
  ValueId q, k = kNoValue, v = kNoValue, mask = kNoValue;
  if (c.packed) {
    q = g.input("qkv", DType::kFloat32, {c.batch, c.seq, 3 * d});
  } else {
    q = g.input("q", DType::kFloat32, {c.batch, c.seq, d});
    k = g.input("k", DType::kFloat32, {c.batch, c.seq, d});
    v = g.input("v", DType::kFloat32, {c.batch, c.seq, d});
  }
  if (c.mask) {
    mask =
        g.constant("mask", bf16_random({c.batch, c.heads, c.seq, c.seq}, mask_seed, -3.0f, 0.0f));
  }
  coded.heads = c.heads;
  coded.causal = c.causal;
  g.output(add_attention(g, {.heads = c.heads, .causal = c.causal}, q, k, v, mask));
  if (coded.output_scale > 0.0f) g.output(add_attention(g, coded, q, k, v, mask));
  return g;
}

// The largest |value| of the CPU kernel's float output for case c (the codes' scale is taken
// from it), or NaN where the graph does not run.
float largest_output(const Fp8AttnCase& c, uint64_t mask_seed, const std::vector<Tensor>& inputs) {
  TestGraph float_only = attention_codes_graph(c, mask_seed, {});
  if (!float_only.infer().ok()) return NAN;
  Result<std::vector<Tensor>> plain = run_graph(float_only.graph(), inputs);
  if (!plain.ok()) return NAN;
  float amax = 0.0f;
  for (int64_t i = 0; i < (*plain)[0].numel(); ++i) {
    amax = std::max(amax, std::fabs((*plain)[0].data<float>()[i]));
  }
  return amax;
}

// The attention output's codes at a scale from its range (0.8 of the amax: the largest values
// saturate at 448), on the CPU and the GPU.
class CudaFp8Attention : public ::testing::TestWithParam<int> {};

TEST_P(CudaFp8Attention, CodesMatchTheCpuKernel) {
  VITRT_REQUIRE_GPU();
  const Fp8AttnCase c = kCases[GetParam()];
  SCOPED_TRACE(str_cat(c.form, ": batch ", c.batch, ", ", c.seq, " tokens, ", c.heads, " heads of ",
                       c.head_dim, c.causal ? ", causal" : "", c.mask ? ", masked" : ""));
  const int64_t d = c.heads * c.head_dim;
  std::vector<Tensor> inputs;
  if (c.packed) {
    Tensor qk = bf16_random({c.batch, c.seq, 2 * d}, 41, -2.0f, 2.0f);
    Tensor v = bf16_random({c.batch, c.seq, d}, 42, -1.0f, 1.0f);
    Tensor qkv = Tensor::empty(DType::kFloat32, {c.batch, c.seq, 3 * d});
    for (int64_t r = 0; r < c.batch * c.seq; ++r) {
      std::copy_n(qk.data<float>() + r * 2 * d, 2 * d, qkv.data<float>() + r * 3 * d);
      std::copy_n(v.data<float>() + r * d, d, qkv.data<float>() + r * 3 * d + 2 * d);
    }
    inputs = {qkv};
  } else {
    inputs = {bf16_random({c.batch, c.seq, d}, 43, -2.0f, 2.0f),
              bf16_random({c.batch, c.seq, d}, 44, -2.0f, 2.0f),
              bf16_random({c.batch, c.seq, d}, 45, -1.0f, 1.0f)};
  }
  const float amax = largest_output(c, 46, inputs);
  ASSERT_TRUE(std::isfinite(amax));
  const float output_scale = 0.8f * amax / kE4M3Max;
  TestGraph g = attention_codes_graph(c, 46, {.output_scale = output_scale});
  ASSERT_TRUE(g.infer().ok());
  Result<std::vector<Tensor>> cpu = run_graph(g.graph(), inputs);
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  for (const char* precision : {"fp32", "fp16", "bf16"}) {
    SCOPED_TRACE(precision);
    const std::string p = precision;
    Result<std::vector<Tensor>> gpu = run_graph_cuda(g.graph(), inputs, p);
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    const Tensor& gpu_float = (*gpu)[0];
    const Tensor& gpu_codes = (*gpu)[1];
    Tensor encoded = Tensor::empty(DType::kUInt8, gpu_float.shape());
    for (int64_t i = 0; i < gpu_float.numel(); ++i) {
      encoded.data<uint8_t>()[i] =
          float_to_e4m3(static_cast<float>(gpu_float.element_as_double(i)) / output_scale);
    }
    EXPECT_TRUE(codes_agree(gpu_codes, encoded,
                            p == "fp32"   ? 0.0
                            : p == "fp16" ? 0.01
                                          : 0.05))
        << "against the GPU's float output, encoded";
    // Against the CPU kernel (fp32 inputs): the GPU's 16-bit inputs and P move outputs by up
    // to ~1e-3 (fp16) / ~1e-2 (bf16) of the largest one, which near zero spans many E4M3
    // steps, so this compares decoded values to one step plus that noise (in code units, the
    // largest output is 0.8 * 448).
    const double noise = p == "fp32" ? 1e-5 : p == "fp16" ? 2e-3 : 2e-2;
    EXPECT_TRUE(codes_near(gpu_codes, (*cpu)[1], noise * 0.8 * kE4M3Max))
        << "against the CPU kernel's codes";
  }
}

INSTANTIATE_TEST_SUITE_P(cuda, CudaFp8Attention,
                         ::testing::Range(0, static_cast<int>(std::size(kCases))));

// output_format int8 (an int8 plan's attention -> proj): the wgmma form writes the codes itself
// (head dim 64, fp16 / bf16, on an H100 or H200), every other form writes its 16-bit or fp32
// output to scratch and one pass encodes it. Against the same plan's float output quantized on
// the host (fp32: equal; the 16-bit forms encode the fp32 result, not its rounding to fp16 /
// bf16, and multiply by 1 / scale: neighbours where that rounding crossed a midpoint) and
// against the CPU kernel's codes (the GPU's 16-bit inputs and P: ~1e-3 / ~1e-2 of the largest
// output, a quarter of a step / two and a half steps at this scale). Both clamps.
class CudaInt8Attention : public ::testing::TestWithParam<int> {};

TEST_P(CudaInt8Attention, CodesMatchTheCpuKernel) {
  VITRT_REQUIRE_GPU();
  const Fp8AttnCase c = kCases[GetParam()];
  SCOPED_TRACE(str_cat(c.form, ": batch ", c.batch, ", ", c.seq, " tokens, ", c.heads, " heads of ",
                       c.head_dim, c.causal ? ", causal" : "", c.mask ? ", masked" : ""));
  const int64_t d = c.heads * c.head_dim;
  const int64_t qmin = GetParam() % 2 == 0 ? -127 : -128;
  const std::vector<Tensor> inputs =
      c.packed ? std::vector<Tensor>{bf16_random({c.batch, c.seq, 3 * d}, 51, -2.0f, 2.0f)}
               : std::vector<Tensor>{bf16_random({c.batch, c.seq, d}, 52, -2.0f, 2.0f),
                                     bf16_random({c.batch, c.seq, d}, 53, -2.0f, 2.0f),
                                     bf16_random({c.batch, c.seq, d}, 54, -1.0f, 1.0f)};
  const float amax = largest_output(c, 56, inputs);
  ASSERT_TRUE(std::isfinite(amax));
  const float output_scale = 0.8f * amax / 127.0f;  // the largest outputs clamp
  TestGraph g = attention_codes_graph(
      c, 56, {.output_scale = output_scale, .output_int8 = true, .output_qmin = qmin});
  ASSERT_TRUE(g.infer().ok());
  Result<std::vector<Tensor>> cpu = run_graph(g.graph(), inputs);
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  for (const char* precision : {"fp32", "fp16", "bf16"}) {
    SCOPED_TRACE(precision);
    const std::string p = precision;
    Result<std::vector<Tensor>> gpu = run_graph_cuda(g.graph(), inputs, p);
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    const Tensor& gpu_float = (*gpu)[0];
    Tensor encoded = Tensor::empty(DType::kInt8, gpu_float.shape());
    for (int64_t i = 0; i < gpu_float.numel(); ++i) {
      encoded.data<int8_t>()[i] =
          static_cast<int8_t>(int8_code_of(static_cast<float>(gpu_float.element_as_double(i)),
                                           output_scale, static_cast<int>(qmin)));
    }
    EXPECT_TRUE(int8_codes_agree((*gpu)[1], encoded,
                                 p == "fp32"   ? 0.0
                                 : p == "fp16" ? 0.05
                                               : 0.3,
                                 static_cast<int>(qmin), p == "fp32" ? 0 : 1))
        << "against the GPU's float output, encoded";
    EXPECT_TRUE(int8_codes_agree((*gpu)[1], (*cpu)[1],
                                 p == "fp32"   ? 0.01
                                 : p == "fp16" ? 0.3
                                               : 0.7,
                                 static_cast<int>(qmin), p == "bf16" ? 3 : 1))
        << "against the CPU kernel's codes";
  }
}

INSTANTIATE_TEST_SUITE_P(cuda, CudaInt8Attention,
                         ::testing::Range(0, static_cast<int>(std::size(kCases))));

// The cuDNN tactic of an Attention writing codes: cuDNN's 16-bit output into scratch, then one
// encoding pass. Forced through the node's stored choice at the ViT shape; against the CPU
// kernel's codes as above (where cuDNN cannot load, vitrt's kernel runs: the same contract).
TEST(CudaFp8AttentionCudnn, CudnnThenEncodeMatchesTheCpuKernel) {
  VITRT_REQUIRE_GPU();
  const int64_t batch = 4, seq = 197, heads = 4, dh = 64, d = heads * dh;
  const std::vector<Tensor> inputs = {bf16_random({batch, seq, 3 * d}, 47, -2.0f, 2.0f)};
  auto graph = [&](float output_scale) {
    TestGraph g(17);
    const ValueId qkv = g.input("qkv", DType::kFloat32, {batch, seq, 3 * d});
    AttentionOp op{.heads = heads};
    op.output_scale = output_scale;
    g.output(add_attention(g, op, qkv, kNoValue, kNoValue));
    g.graph().nodes.back().attrs.set_ints("cuda_attention_tactics", {batch, 1});
    return g;
  };
  TestGraph plain = graph(0.0f);
  ASSERT_TRUE(plain.infer().ok());
  Result<std::vector<Tensor>> ref = run_graph(plain.graph(), inputs);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  float amax = 0.0f;
  for (int64_t i = 0; i < (*ref)[0].numel(); ++i) {
    amax = std::max(amax, std::fabs((*ref)[0].data<float>()[i]));
  }
  const float output_scale = 0.8f * amax / kE4M3Max;
  TestGraph g = graph(output_scale);
  ASSERT_TRUE(g.infer().ok());
  Result<std::vector<Tensor>> cpu = run_graph(g.graph(), inputs);
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  for (const char* precision : {"fp16", "bf16"}) {
    SCOPED_TRACE(precision);
    Result<std::vector<Tensor>> gpu = run_graph_cuda(g.graph(), inputs, precision);
    ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
    const double noise = std::string(precision) == "fp16" ? 2e-3 : 2e-2;
    EXPECT_TRUE(codes_near((*gpu)[0], (*cpu)[0], noise * 0.8 * kE4M3Max));
  }
}

// Attention -> proj as fuse_quant_producers leaves a block (proj reads the codes) against the
// graph before the pass (proj quantizes the float output itself), both on the GPU, and the
// CPU's run of the graph before: the FP8 tolerance of cuda_fp8_chain_test.cc (codes may flip
// to a neighbour in either plan).
TEST(CudaFp8AttentionProj, ProjReadsTheCodes) {
  VITRT_REQUIRE_GPU();
  // A small grid (split form) and a large one (8-warp whole form) on an H200.
  for (const int64_t batch : {1, 12}) {
    SCOPED_TRACE(str_cat("batch ", batch));
    const int64_t seq = 197, heads = 12, d = 768;
    TestGraph g(17);
    ValueId qkv = g.input("qkv", DType::kFloat32, {batch, seq, 3 * d});
    ValueId attn = add_attention(g, {.heads = heads}, qkv, kNoValue, kNoValue);
    Tensor w = bf16_random({d, d}, 51, -300.0f, 300.0f);
    Tensor w_q = Tensor::empty(DType::kUInt8, {d, d});
    for (int64_t i = 0; i < w.numel(); ++i)
      w_q.data<uint8_t>()[i] = float_to_e4m3(w.data<float>()[i]);
    Tensor w_scale = Tensor::empty(DType::kFloat32, {d});
    for (int64_t j = 0; j < d; ++j) w_scale.data<float>()[j] = 1.0f / 448 / 32;
    Attributes a;
    a.set_string("format", "fp8");
    a.set_float("input_scale", 0.6f / 448);
    a.set_string("activation", "none");
    g.output(g.op("QuantLinear",
                  {attn, g.constant("proj.w", w_q), g.constant("proj.s", w_scale),
                   g.constant("proj.b", bf16_random({d}, 52, -1.0f, 1.0f))},
                  a, "vitrt", "proj"));
    ASSERT_TRUE(g.infer().ok());
    Graph before = g.graph();
    Graph after = g.graph();
    PassContext quiet(false, nullptr);
    ASSERT_TRUE(fuse_quant_producers(after, quiet).ok());
    ASSERT_TRUE(infer_shapes(after).ok());
    ASSERT_EQ(after.values[attn].dtype, DType::kUInt8);
    const std::vector<Tensor> inputs = {bf16_random({batch, seq, 3 * d}, 53, -1.5f, 1.5f)};
    Result<std::vector<Tensor>> want = run_graph(before, inputs);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    for (const char* precision : {"fp16", "bf16"}) {
      for (const Graph* graph : {&before, &after}) {
        SCOPED_TRACE(str_cat(precision, graph == &after ? ", codes" : ", float"));
        Result<std::vector<Tensor>> got = run_graph_cuda(*graph, inputs, precision);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        const Agreement agree = agreement((*got)[0], (*want)[0]);
        EXPECT_LE(agree.max_rel, 3e-2);
        EXPECT_GE(agree.cosine, 0.999);
      }
    }
  }
}

// E4M3 q, k, v into the attention (pass fuse_fp8_attention: the qkv QuantLinear writes the
// codes, Attention's input_scale reads them). Against the CPU kernels on the same graph, which
// decode the codes exactly: the wgmma kernel's shapes (head dim 64, up to 256 tokens, packed
// and, as select_rows_early leaves the last block, one query row), and shapes it does not take
// (head dim 32, 300 tokens), where the op widens the codes into scratch first (the pass does not
// make those; the attributes are set here to reach the fallback).
TEST(CudaFp8AttentionInputs, MatchesTheCpuKernels) {
  VITRT_REQUIRE_GPU();
  struct Case {
    int64_t batch, seq, heads, head_dim;
    bool by_pass;  // through fuse_fp8_attention, else attributes set by hand
  };
  const Case cases[] = {
      {4, 197, 12, 64, true}, {3, 50, 3, 64, true},   {2, 77, 2, 64, true},
      {2, 256, 2, 64, true},  {2, 197, 4, 32, false}, {1, 300, 2, 64, false},
  };
  for (const Case& c : cases) {
    for (const char* precision : {"fp16", "bf16"}) {
      SCOPED_TRACE(str_cat("batch ", c.batch, ", ", c.seq, " tokens, ", c.heads, " heads of ",
                           c.head_dim, ", ", precision));
      const int64_t d = c.heads * c.head_dim;
      TestGraph g(17);
      ValueId x = g.input("x", DType::kFloat32, {c.batch, c.seq, d});
      Tensor w = bf16_random({d, 3 * d}, 61, -300.0f, 300.0f);
      Tensor w_q = Tensor::empty(DType::kUInt8, {d, 3 * d});
      for (int64_t i = 0; i < w.numel(); ++i)
        w_q.data<uint8_t>()[i] = float_to_e4m3(w.data<float>()[i]);
      Tensor w_scale = Tensor::empty(DType::kFloat32, {3 * d});
      for (int64_t j = 0; j < 3 * d; ++j) w_scale.data<float>()[j] = 1.0f / 448 / 64;
      Attributes a;
      a.set_string("format", "fp8");
      a.set_float("input_scale", 2.0f / 448);
      a.set_string("activation", "none");
      ValueId qkv = g.op("QuantLinear",
                         {x, g.constant("qkv.w", w_q), g.constant("qkv.s", w_scale),
                          g.constant("qkv.b", bf16_random({3 * d}, 62, -0.5f, 0.5f))},
                         a, "vitrt", "qkv");
      ValueId attn = add_attention(g, {.heads = c.heads}, qkv, kNoValue, kNoValue);
      g.output(attn);
      ASSERT_TRUE(g.infer().ok());
      const std::vector<Tensor> inputs = {bf16_random({c.batch, c.seq, d}, 63, -2.0f, 2.0f)};
      // The qkv output's range, as calibration measures it.
      Graph probe = g.graph();
      probe.outputs = {qkv};
      Result<std::vector<Tensor>> y = run_graph(probe, inputs);
      ASSERT_TRUE(y.ok()) << y.status().to_string();
      float amax = 0.0f;
      for (int64_t i = 0; i < (*y)[0].numel(); ++i) {
        amax = std::max(amax, std::fabs((*y)[0].data<float>()[i]));
      }
      Graph after = g.graph();
      if (c.by_pass) {
        PassContext quiet(false, nullptr);
        std::string attn_name;
        for (const Node& n : after.nodes) {
          if (n.op_type == "Attention") attn_name = n.name;
        }
        ASSERT_TRUE(fuse_fp8_attention(after, quiet, {{attn_name, amax}}, {}).ok());
      } else {
        for (Node& n : after.nodes) {
          if (n.name == "qkv") n.attrs.set_float("output_scale", amax / 448);
          if (n.op_type == "Attention") n.attrs.set_float("input_scale", amax / 448);
        }
      }
      ASSERT_TRUE(infer_shapes(after).ok());
      ASSERT_EQ(after.values[qkv].dtype, DType::kUInt8);
      Result<std::vector<Tensor>> cpu = run_graph(after, inputs);
      ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
      Result<std::vector<Tensor>> float_cpu = run_graph(g.graph(), inputs);
      ASSERT_TRUE(float_cpu.ok());
      Result<std::vector<Tensor>> gpu = run_graph_cuda(after, inputs, precision);
      ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
      // The GPU's qkv codes may sit one E4M3 step from the CPU's where the GEMM's sum lands
      // next to a rounding boundary, and P is rounded to 16 bits.
      const Agreement agree = agreement((*gpu)[0], (*cpu)[0]);
      EXPECT_LE(agree.max_rel, 3e-2);
      EXPECT_GE(agree.cosine, 0.9995);
      // And what E4M3 q, k, v cost against the float graph.
      EXPECT_GE(agreement((*gpu)[0], (*float_cpu)[0]).cosine, 0.995);
    }
  }
}

}  // namespace
}  // namespace vitrt::testing
