// INT8 activations that stay INT8 on CUDA (pass fuse_quant_producers): vitrt.QuantLinear reading
// int8 codes and writing them (output_scale, output_qmin: the requantizing epilogue of fc1 for
// fc2), vitrt.AddLayerNorm writing them, each against the CPU kernels (the op contracts'
// reference) on the same graph, and an int8 ViT plan built on both devices.
//
// Inputs and biases are rounded to bf16, so the plan's conversion to fp16 / bf16 is exact and both
// sides start from the same numbers. The int8 sums are exact on both; the GPU's epilogue may
// contract acc * scale + bias into one FMA (CUTLASS's modes 4 / 5) and mode 5 runs GELU in its
// tanh form, so a code may land on the neighbouring integer where the fp32 value lies next to a
// rounding boundary: codes are held to one step, and only a few may differ.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>

#include "cuda/cuda_kernel.h"
#include "cuda_test_util.h"

namespace vitrt::testing {
namespace {

class CudaInt8Chain : public ::testing::Test {
 protected:
  void SetUp() override { VITRT_REQUIRE_GPU(); }
};

// Random int8 values in [lo, 127].
Tensor random_int8(std::vector<int64_t> shape, uint64_t seed, int lo = -127) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_int_distribution<int> u(lo, 127);
  Tensor t = Tensor::empty(DType::kInt8, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<int8_t>()[i] = static_cast<int8_t>(u(rng));
  return t;
}

struct Layer {
  int64_t k = 64, n = 48;
  std::string act = "none";
  float input_scale = 2.0f / 127;
  int64_t input_qmin = -127;
  int mode = -1;  // forced through a stored tactic (an invalid algorithm: modes 4 / 5 ignore it)
  int64_t rows = 0;
  uint64_t seed = 1;
  float output_scale = 0.0f;  // > 0: Y as int8 codes
  int64_t output_qmin = -127;
};

ValueId add_layer(TestGraph& g, ValueId x, const Layer& l, const std::string& name) {
  Tensor ws = Tensor::empty(DType::kFloat32, {l.n});
  for (int64_t j = 0; j < l.n; ++j) {
    ws.data<float>()[j] = (0.5f + 0.01f * static_cast<float>(j % 7)) / 127 / 8;
  }
  Attributes a;
  a.set_string("format", "int8");
  a.set_float("input_scale", l.input_scale);
  a.set_int("input_qmin", l.input_qmin);
  a.set_string("activation", l.act);
  if (l.output_scale > 0.0f) {
    a.set_float("output_scale", l.output_scale);
    a.set_int("output_qmin", l.output_qmin);
  }
  if (l.mode >= 0) {
    cuda::GemmTactic t;
    t.m = l.rows;
    t.mode = l.mode;
    for (size_t i = 0; i < 8; ++i) t.algo.data[i] = 0x0123456789abcdefull * (i + 1);
    a.set_ints(cuda::kGemmTacticsAttr, cuda::encode_gemm_tactics({t}));
  }
  return g.op(
      "QuantLinear",
      {x, g.constant(name + ".w", random_int8({l.k, l.n}, l.seed)), g.constant(name + ".s", ws),
       g.constant(name + ".b", bf16_random({l.n}, l.seed + 1, -1.0f, 1.0f))},
      a, "vitrt", name);
}

// X as int8 codes: the default mode, the dequantize kernel (1) and CUTLASS (4, fp16 plans on
// sm_90), K a multiple of 32 (the GEMM reads X) or not (the padded copy).
TEST_F(CudaInt8Chain, QuantLinearReadsCodes) {
  for (int64_t k : {64, 48}) {
    for (int mode : {-1, 1, 4}) {
      for (const char* precision : {"fp16", "bf16", "fp32"}) {
        if (mode == 4 && std::string(precision) != "fp16") continue;
        Layer l;
        l.k = k;
        l.n = 96;
        l.act = "gelu";
        l.rows = 3 * 41;
        l.mode = mode;
        l.seed = static_cast<uint64_t>(k + mode + 10);
        SCOPED_TRACE(str_cat("k ", k, " mode ", mode, " ", precision));
        TestGraph g;
        ValueId x = g.input("x", DType::kInt8, {3, 41, k});
        g.output(add_layer(g, x, l, "fc"));
        ASSERT_TRUE(g.infer().ok());
        const Tensor in = random_int8({3, 41, k}, 5);
        Result<std::vector<Tensor>> want = run_graph(g.graph(), {in});
        ASSERT_TRUE(want.ok()) << want.status().to_string();
        for (bool graphs : {false, true}) {
          SCOPED_TRACE(graphs ? "CUDA graph" : "eager");
          Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), {in}, precision, graphs);
          ASSERT_TRUE(got.ok()) << got.status().to_string();
          EXPECT_TRUE(floats_agree((*got)[0], (*want)[0], 1e-2, 0.9999));
        }
      }
    }
  }
}

// fc1 as an int8 plan runs it with output_scale: the default mode, the dequantize kernel (1),
// CUTLASS's requantizing epilogue with erf GELU (4) and the tanh form (5), M = 1 / 197 / 1000,
// float and codes X, both lower clamps, a coarse scale and one so fine that many codes clamp.
TEST_F(CudaInt8Chain, QuantLinearWritesCodes) {
  for (const char* precision : {"fp16", "bf16"}) {
    for (const char* act : {"gelu", "none"}) {
      for (int mode : {-1, 1, 4, 5}) {
        const bool cutlass = mode == 4 || mode == 5;
        if (cutlass && (std::string(precision) != "fp16" || std::string(act) != "gelu")) continue;
        for (int64_t m : {1, 197, 1000}) {
          for (bool codes_in : {false, true}) {
            for (float output_scale : {4.0f / 127, 0.25f / 127}) {
              Layer l;
              l.k = 128;
              l.n = 512;
              l.act = act;
              l.mode = mode;
              l.rows = m;
              l.seed = static_cast<uint64_t>(m + mode + 20);
              l.output_scale = output_scale;
              l.output_qmin = codes_in ? -128 : -127;
              SCOPED_TRACE(str_cat(precision, " ", act, " mode ", mode, " M ", m,
                                   codes_in ? " codes in" : " float in", " scale ", output_scale));
              TestGraph g;
              ValueId x = g.input("x", codes_in ? DType::kInt8 : DType::kFloat32, {m, l.k});
              g.output(add_layer(g, x, l, "fc1"));
              ASSERT_TRUE(g.infer().ok());
              const Tensor in =
                  codes_in ? random_int8({m, l.k}, 5) : bf16_random({m, l.k}, 5, -2.0f, 2.0f);
              Result<std::vector<Tensor>> want = run_graph(g.graph(), {in});
              ASSERT_TRUE(want.ok()) << want.status().to_string();
              ASSERT_EQ((*want)[0].dtype(), DType::kInt8);
              // The tanh form moves GELU by up to 4.7e-4 plus the hardware tanh's 2.5e-4 |x|:
              // more codes cross a boundary at the fine scale.
              const double fraction = mode == 5 ? 0.05 : 0.01;
              for (bool graphs : {false, true}) {
                SCOPED_TRACE(graphs ? "CUDA graph" : "eager");
                Result<std::vector<Tensor>> got =
                    run_graph_cuda(g.graph(), {in}, precision, graphs);
                ASSERT_TRUE(got.ok()) << got.status().to_string();
                EXPECT_TRUE(int8_codes_agree((*got)[0], (*want)[0], fraction,
                                             static_cast<int>(l.output_qmin)));
              }
            }
          }
        }
      }
    }
  }
}

// vitrt.AddLayerNorm writing int8 codes (output_format int8) with the sum beside them, both
// clamps, 768 columns (the warp-per-row kernel) and 100 (the block-per-row one). The GPU's
// statistics differ from the CPU's in the last bits: codes within one step, few off.
TEST_F(CudaInt8Chain, AddLayerNormWritesCodes) {
  for (int64_t c : {768, 100}) {
    for (int64_t qmin : {-127, -128}) {
      for (const char* precision : {"fp16", "bf16", "fp32"}) {
        SCOPED_TRACE(str_cat(c, " qmin ", qmin, " ", precision));
        TestGraph g;
        ValueId a = g.input("a", DType::kFloat32, {2, 37, c});
        Attributes attrs;
        attrs.set_float("epsilon", 1e-6f);
        attrs.set_float("output_scale", 3.0f / 127);
        attrs.set_string("output_format", "int8");
        attrs.set_int("output_qmin", qmin);
        std::vector<ValueId> outs =
            g.op_multi("AddLayerNorm",
                       {a, g.constant("pos", bf16_random({37, c}, 2, -1.0f, 1.0f)),
                        g.constant("g", bf16_random({c}, 3, 0.5f, 1.5f)),
                        g.constant("b", bf16_random({c}, 4, -0.5f, 0.5f))},
                       2, attrs, "vitrt", "ln");
        g.output(outs[0]);
        g.output(outs[1]);
        ASSERT_TRUE(g.infer().ok());
        const Tensor in = bf16_random({2, 37, c}, 9, -3.0f, 3.0f);
        Result<std::vector<Tensor>> want = run_graph(g.graph(), {in});
        ASSERT_TRUE(want.ok()) << want.status().to_string();
        ASSERT_EQ((*want)[0].dtype(), DType::kInt8);
        for (bool graphs : {false, true}) {
          SCOPED_TRACE(graphs ? "CUDA graph" : "eager");
          Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), {in}, precision, graphs);
          ASSERT_TRUE(got.ok()) << got.status().to_string();
          EXPECT_TRUE(int8_codes_agree((*got)[0], (*want)[0], 0.01, static_cast<int>(qmin)));
          EXPECT_TRUE(floats_agree((*got)[1], (*want)[1],
                                   precision == std::string("fp32") ? 1e-6 : 1e-2, 0.9999));
        }
      }
    }
  }
}

// fc1 -> fc2 as the pass leaves them (fc1 writes fc2's codes), tuned as a build tunes them: the
// chain's float output against the CPU's, and the tactic search timed the requantizing CUTLASS
// kernel.
TEST_F(CudaInt8Chain, TunedFc1Fc2Chain) {
  Layer fc1;
  fc1.k = 256;
  fc1.n = 1024;
  fc1.act = "gelu";
  fc1.seed = 3;
  fc1.output_scale = 1.0f / 127;
  Layer fc2;
  fc2.k = 1024;
  fc2.n = 256;
  fc2.input_scale = fc1.output_scale;
  fc2.seed = 5;
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {1000, fc1.k});
  g.output(add_layer(g, add_layer(g, x, fc1, "fc1"), fc2, "fc2"));
  ASSERT_TRUE(g.infer().ok());
  const Tensor in = bf16_random({1000, fc1.k}, 7, -2.0f, 2.0f);
  Result<std::vector<Tensor>> want = run_graph(g.graph(), {in});
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  cuda::TacticTuner tuner;
  tuner.device_key = "test";
  tuner.tanh_gelu = true;
  tuner.verbose = true;
  std::string log;
  tuner.log = [&log](const std::string& line) { log += line + "\n"; };
  cuda::CudaEngineOptions options;
  options.precision = "fp16";
  options.cuda_graphs = false;
  options.tuner = &tuner;
  Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(g.graph(), options);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  Result<std::vector<NamedTensor>> got = (*engine)->create_context()->run({{"x", in}});
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  // A flipped fc1 code moves fc2's sums by one code's worth of one term.
  EXPECT_TRUE(floats_agree((*got)[0].tensor, (*want)[0], 2e-2, 0.999));
  // Where CUTLASS's kernels run (built with them, sm_90) fc1 timed their requantizing form.
  if (log.find("(CUTLASS int8 GEMM") != std::string::npos) {
    EXPECT_NE(log.find("tanh-form GELU, int8 codes out"), std::string::npos) << log;
  }
  std::printf("%s", log.substr(0, log.find('\n') + 1).c_str());
}

// An int8 ViT plan (vitrt's calibration) built for the CPU and the GPU: on the GPU fc1 writes
// fc2's codes in each block, and both devices agree with each other and with PyTorch.
TEST_F(CudaInt8Chain, VitPlanBuiltForInt8) {
  // Per block: LN -> qkv, LN -> fc1 and attention -> proj, and fc1 -> fc2 for CUDA plans (on
  // the CPU those codes would be a pass of their own).
  check_quantized_vit_plans("int8", "stays INT8", 6, 8);
}

}  // namespace
}  // namespace vitrt::testing
