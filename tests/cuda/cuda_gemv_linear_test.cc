// vitrt.Linear's few-rows kernel (mode 7, cuda/gemv_linear.cu) and its LayerNorm prologue
// (fuse_norm_into_linear) on CUDA against the CPU kernel: every variant in fp16 and bf16 with and
// without the prologue, a residual, each activation, one to several block rows and odd shapes,
// eagerly and captured in CUDA graphs; the prologue's LayerNorm-then-cuBLASLt form (modes 0-2,
// every precision); mode-7 tactics a run cannot take (an fp32 plan, more rows than the kernel is
// for), which fall back to cuBLASLt, and ones a plan cannot hold; and the tactic search, which
// times mode 7 for a few rows under its own key and whose choice reproduces the CPU output.
#include <gtest/gtest.h>

#include "cuda/cuda_kernel.h"
#include "cuda/launch.h"
#include "cuda_test_util.h"

namespace vitrt::testing {
namespace {

struct Case {
  int64_t m = 7, k = 64, n = 48;
  const char* act = "gelu";
  bool bias = true;
  bool norm = true;  // the LayerNorm prologue (inputs 4, 5)
  bool beta = true;  // norm_bias, with the prologue
  bool residual = false;
};

struct Problem {
  TestGraph g{17};
  std::vector<Tensor> inputs;  // x [m, k] (residual [m, n])
};

// x (rows with a mean far from zero, as a residual stream) -> Linear; `tactic` (optional) is
// stored on the node as a plan's tactic.
Problem make_problem(const Case& c, uint64_t seed, const cuda::GemmTactic* tactic) {
  Problem p;
  const ValueId x = p.g.input("x", DType::kFloat32, {c.m, c.k});
  std::vector<ValueId> in = {
      x, p.g.constant("w", random_tensor(DType::kFloat32, {c.k, c.n}, seed, -0.1, 0.1))};
  in.push_back(c.bias ? p.g.constant("b", random_tensor(DType::kFloat32, {c.n}, seed + 1))
                      : kNoValue);
  in.push_back(c.residual ? p.g.input("r", DType::kFloat32, {c.m, c.n}) : kNoValue);
  if (c.norm) {
    in.push_back(p.g.constant("gamma", random_tensor(DType::kFloat32, {c.k}, seed + 2, 0.5, 1.5)));
    if (c.beta) in.push_back(p.g.constant("beta", random_tensor(DType::kFloat32, {c.k}, seed + 3)));
  }
  while (!in.empty() && in.back() == kNoValue) in.pop_back();
  Attributes attrs;
  attrs.set_string("activation", c.act);
  if (c.norm) attrs.set_float("norm_epsilon", 1e-6f);
  if (tactic != nullptr) {
    attrs.set_ints(cuda::kGemmTacticsAttr, cuda::encode_gemm_tactics({*tactic}));
  }
  p.g.output(p.g.op("Linear", in, attrs, "vitrt", "fc1"));
  p.inputs = {random_tensor(DType::kFloat32, {c.m, c.k}, seed + 4, c.norm ? 2.0 : -1.0, 6.0)};
  if (c.residual) p.inputs.push_back(random_tensor(DType::kFloat32, {c.m, c.n}, seed + 5));
  return p;
}

cuda::GemmTactic gemv_tactic(int64_t m, int variant) {
  cuda::GemmTactic t;
  t.m = m;
  t.mode = 7;
  t.algo.data[0] = static_cast<uint64_t>(variant);
  return t;
}

std::string case_text(const Case& c) {
  return str_cat(c.m, "x", c.k, "x", c.n, " ", c.act, c.bias ? "" : " no bias",
                 c.norm ? (c.beta ? " +norm" : " +norm no beta") : "",
                 c.residual ? " +residual" : "");
}

class CudaGemvLinear : public ::testing::Test {
 protected:
  void SetUp() override { VITRT_REQUIRE_GPU(); }
};

const Case kCases[] = {
    {1, 64, 8, "none", false, true, false},
    {1, 768, 2304, "none", true, false},               // a ViT-B class token's q | k | v
    {1, 768, 3072, "gelu", true, true},                // the pooled fc1 with norm2
    {1, 3072, 768, "none", true, false, false, true},  // the pooled fc2 with its residual
    {1, 768, 1000, "none", true, true},                // the head with the final norm
    {2, 768, 768, "none", true, false, false, true},   // proj, two images
    {3, 1024, 200, "gelu_tanh", true, true},
    {5, 128, 200, "quick_gelu", false, true, false},
    {8, 520, 24, "relu", true, false, false, true},  // ReLU after the residual
    {13, 64, 72, "gelu", true, true},                // two block rows
    {32, 40, 16, "none", true, false},               // the most rows a run takes mode 7 for
    {1, 4096, 8, "none", true, false},               // long K, one column group
};

// Mode 7, each variant, fp16 and bf16, eagerly and replayed.
TEST_F(CudaGemvLinear, EveryVariantMatchesTheCpuKernel) {
  uint64_t seed = 500;
  for (const Case& c : kCases) {
    for (int v = 0; v < cuda::gemv_linear_variants(); ++v) {
      const cuda::GemmTactic t = gemv_tactic(c.m, v);
      Problem p = make_problem(c, seed, &t);
      ASSERT_TRUE(p.g.infer().ok());
      Result<std::vector<Tensor>> want = run_graph(p.g.graph(), p.inputs);
      ASSERT_TRUE(want.ok()) << want.status().to_string();
      for (const char* precision : {"fp16", "bf16"}) {
        SCOPED_TRACE(
            str_cat(case_text(c), " ", precision, " variant ", cuda::gemv_linear_variant_name(v)));
        expect_cuda_output_agrees(p.g.graph(), p.inputs, (*want)[0], precision);
      }
    }
    seed += 10;
  }
}

// A Linear whose output another node reads stores it in the plan's type (a graph output of fp32
// that nothing else reads leaves the few-rows kernel in fp32, as every case above does).
TEST_F(CudaGemvLinear, OutputReadByAnotherNodeStaysInThePlansType) {
  for (const Case& c : {Case{1, 768, 1000, "none", true, true}, Case{3, 64, 200, "gelu", false}}) {
    for (int v = 0; v < cuda::gemv_linear_variants(); ++v) {
      const cuda::GemmTactic t = gemv_tactic(c.m, v);
      Problem p = make_problem(c, 70, &t);
      Graph& graph = p.g.graph();
      const ValueId y = graph.outputs[0];
      graph.outputs.clear();
      p.g.output(p.g.op("Neg", {y}, Attributes(), "", "neg"));
      ASSERT_TRUE(p.g.infer().ok());
      Result<std::vector<Tensor>> want = run_graph(p.g.graph(), p.inputs);
      ASSERT_TRUE(want.ok()) << want.status().to_string();
      for (const char* precision : {"fp16", "bf16"}) {
        SCOPED_TRACE(str_cat(case_text(c), " ", precision, " variant ", v));
        Result<std::vector<Tensor>> got = run_graph_cuda(p.g.graph(), p.inputs, precision, true);
        ASSERT_TRUE(got.ok()) << got.status().to_string();
        EXPECT_TRUE(outputs_agree((*got)[0], (*want)[0], precision));
      }
    }
  }
}

// The prologue without mode 7: the LayerNorm kernel writes the rows to scratch, then cuBLASLt (no
// tactic stored: mode 0 with the heuristic's algorithm), every precision.
TEST_F(CudaGemvLinear, LayerNormThenGemmMatchesTheCpuKernel) {
  const Case cases[] = {{1, 64, 8, "none", false},
                        {5, 128, 200, "gelu"},
                        {197, 768, 2304, "none"},
                        {197, 768, 3072, "gelu"},
                        {130, 192, 64, "quick_gelu"},
                        {3, 1536, 40, "gelu"},
                        {4, 33, 19, "none", true, true, true}};  // odd K and N
  uint64_t seed = 300;
  for (const Case& c : cases) {
    for (const char* precision : {"fp32", "fp16", "bf16"}) {
      SCOPED_TRACE(str_cat(case_text(c), " ", precision));
      Problem p = make_problem(c, seed, nullptr);
      ASSERT_TRUE(p.g.infer().ok());
      Result<std::vector<Tensor>> want = run_graph(p.g.graph(), p.inputs);
      ASSERT_TRUE(want.ok()) << want.status().to_string();
      expect_cuda_output_agrees(p.g.graph(), p.inputs, (*want)[0], precision);
    }
    seed += 10;
  }
}

// A mode-7 tactic that a run cannot take runs cuBLASLt's heuristic instead, with the right
// answer: an fp32 plan, K or N not multiples of 8, and more rows than the kernel is for (a
// profile's larger batch using a small opt shape's choice).
TEST_F(CudaGemvLinear, TacticARunCannotTakeFallsBackToCublasLt) {
  struct Fallback {
    Case c;
    const char* precision;
  };
  const Fallback cases[] = {{{5, 64, 48}, "fp32"},
                            {{5, 40, 44, "none", true, false}, "fp16"},
                            {{5, 36, 48, "gelu"}, "bf16"},
                            {{200, 64, 48, "gelu"}, "fp16"},
                            {{33, 64, 48, "none", true, false, false, true}, "fp16"}};
  for (const Fallback& f : cases) {
    SCOPED_TRACE(str_cat(case_text(f.c), " ", f.precision));
    const cuda::GemmTactic t = gemv_tactic(1, 0);
    Problem p = make_problem(f.c, 1, &t);
    ASSERT_TRUE(p.g.infer().ok());
    Result<std::vector<Tensor>> want = run_graph(p.g.graph(), p.inputs);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    expect_cuda_output_agrees(p.g.graph(), p.inputs, (*want)[0], f.precision);
  }
}

// A variant past the list, or a mode past 7, is refused when the plan loads.
TEST_F(CudaGemvLinear, PlanWithAnUnknownVariantIsRefused) {
  for (int variant : {cuda::gemv_linear_variants(), -1}) {
    const cuda::GemmTactic t = gemv_tactic(7, variant);
    Problem p = make_problem(Case{}, 1, &t);
    ASSERT_TRUE(p.g.infer().ok());
    Result<std::vector<Tensor>> got = run_graph_cuda(p.g.graph(), p.inputs, "fp16", false);
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.status().message().find("mode 7"), std::string::npos) << got.status().message();
  }
}

// The launcher refuses what the kernel does not take: types, shapes, misaligned pointers.
TEST_F(CudaGemvLinear, LauncherRefusesWhatTheKernelDoesNotTake) {
  EXPECT_FALSE(cuda::gemv_linear_supports(cuda::Elt::kF32, 0, 1, 64, 64));
  EXPECT_FALSE(cuda::gemv_linear_supports(cuda::Elt::kF16, 0, 1, 60, 64));
  EXPECT_FALSE(cuda::gemv_linear_supports(cuda::Elt::kF16, 0, 1, 64, 60));
  EXPECT_FALSE(
      cuda::gemv_linear_supports(cuda::Elt::kF16, cuda::gemv_linear_variants(), 1, 64, 64));
  EXPECT_FALSE(cuda::gemv_linear_supports(cuda::Elt::kF16, 0, 8, 64, 1 << 20));  // shared memory
  EXPECT_TRUE(cuda::gemv_linear_supports(cuda::Elt::kBF16, 0, 1, 64, 64));
  void* buf = nullptr;
  ASSERT_EQ(cudaMalloc(&buf, 1 << 16), cudaSuccess);
  cuda::GemvLinearArgs a;
  a.x = static_cast<char*>(buf) + 2;  // not 16-byte aligned
  a.w = buf;
  a.y = buf;
  a.m = 1;
  a.n = 64;
  a.k = 64;
  EXPECT_EQ(cuda::launch_gemv_linear(cuda::Elt::kF16, 0, a, nullptr), cudaErrorMisalignedAddress);
  a.x = buf;
  a.beta = buf;  // beta without gamma
  EXPECT_EQ(cuda::launch_gemv_linear(cuda::Elt::kF16, 0, a, nullptr), cudaErrorInvalidValue);
  cudaFree(buf);
}

// The tuner times the few-rows problems under their own key with mode 7's variants among the
// candidates, and the tactic it stores reproduces the CPU output when loaded as a plan's.
TEST_F(CudaGemvLinear, TunerTimesTheFewRowsKernel) {
  for (const Case& c :
       {Case{1, 768, 3072, "gelu"}, Case{1, 3072, 768, "none", true, false, false, true},
        Case{197, 768, 2304, "none"}}) {
    SCOPED_TRACE(case_text(c));
    cuda::TacticTuner tuner;
    tuner.device_key = "test";
    tuner.tanh_gelu = true;
    std::vector<std::string> log;
    tuner.log = [&log](const std::string& line) { log.push_back(line); };
    Problem p = make_problem(c, 9, nullptr);
    ASSERT_TRUE(p.g.infer().ok());
    Result<std::vector<Tensor>> want = run_graph(p.g.graph(), p.inputs);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    cuda::CudaEngineOptions options;
    options.precision = "fp16";
    options.cuda_graphs = false;
    options.tuner = &tuner;
    Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(p.g.graph(), options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    std::vector<NamedTensor> feeds = {{"x", p.inputs[0]}};
    if (c.residual) feeds.push_back({"r", p.inputs[1]});
    Result<std::vector<NamedTensor>> tuned = (*engine)->create_context()->run(feeds);
    ASSERT_TRUE(tuned.ok()) << tuned.status().message();
    EXPECT_TRUE(outputs_agree((*tuned)[0].tensor, (*want)[0], "fp16"));
    ASSERT_EQ(tuner.by_problem.size(), 1u);
    const bool few = c.m <= 8;
    EXPECT_EQ(tuner.by_problem.begin()->first.find("+gemv") != std::string::npos, few);
    int timed = 0;
    for (const std::string& line : log) {
      if (line.find("tactics: ") == std::string::npos) continue;
      ++timed;
      EXPECT_EQ(line.find("few-rows variants") != std::string::npos, few) << line;
      EXPECT_EQ(line.find("LayerNorm+") != std::string::npos, c.norm) << line;
    }
    EXPECT_EQ(timed, 1);
    ASSERT_EQ(tuner.by_node.size(), 1u);
    Graph with = p.g.graph();
    with.nodes[tuner.by_node.begin()->first].attrs.set_ints(
        cuda::kGemmTacticsAttr, cuda::encode_gemm_tactics(tuner.by_node.begin()->second));
    expect_cuda_output_agrees(with, p.inputs, (*want)[0], "fp16");
  }
}

}  // namespace
}  // namespace vitrt::testing
