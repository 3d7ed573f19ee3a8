// The GEMM candidates that build-time tactic timing tries beyond cuBLASLt's heuristic
// (tactic_candidates in cublaslt_matmul.h): at ViT's batch-1 shapes there are more of them than
// the heuristic's, split-K among them; at a large batch, variants of the heuristic's picks
// (cluster shapes, tiles); and every one, stored as a Linear node's tactic, computes what the
// CPU Linear computes.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <iterator>
#include <map>
#include <sstream>
#include <tuple>

#include "cuda/cublaslt_matmul.h"
#include "cuda_test_util.h"
#include "vitrt/builder.h"

namespace vitrt::testing {
namespace {

// The CUDA engine's cuBLASLt workspace (cuda_engine.cc): a candidate checked against it runs
// in an engine as the stored tactic instead of falling back to the heuristic.
constexpr size_t kEngineWorkspaceBytes = 32u << 20;

struct Shape {
  const char* name;
  int64_t m, k, n;
  const char* act;
};

// ViT-B/16 at batch 1 (197 tokens): qkv, attention output, fc1 with GELU (the tanh form in
// cuBLASLt's epilogue, the case where split-K meets a non-linear epilogue), fc2; and an odd
// shape: CLIP text's 77 tokens, widths of no power of two, the erf GELU in a pass after.
const Shape kShapes[] = {{"vit_qkv", 197, 768, 2304, "none"},
                         {"vit_proj", 197, 768, 768, "none"},
                         {"vit_fc1", 197, 768, 3072, "gelu_tanh"},
                         {"vit_fc2", 197, 3072, 768, "none"},
                         {"odd", 77, 200, 330, "gelu"},
                         // Many waves of large tiles (ViT at batch 20): the enumeration leaves
                         // it alone, the variants of the heuristic's picks do not.
                         {"large_m", 3940, 768, 768, "none"}};

// cuBLASLt, a workspace and a bias buffer on the current GPU, freed on every path out.
class BlasContext {
 public:
  ~BlasContext() {
    if (bias_ != nullptr) cudaFree(bias_);
    if (ctx.workspace != nullptr) cudaFree(ctx.workspace);
    if (ctx.blas != nullptr) cublasLtDestroy(ctx.blas);
  }
  ::testing::AssertionResult init(int64_t max_n) {
    if (cublasLtCreate(&ctx.blas) != CUBLAS_STATUS_SUCCESS) {
      return ::testing::AssertionFailure() << "cublasLtCreate failed";
    }
    if (cudaMalloc(&ctx.workspace, kEngineWorkspaceBytes) != cudaSuccess ||
        cudaMalloc(&bias_, static_cast<size_t>(max_n) * sizeof(float)) != cudaSuccess) {
      return ::testing::AssertionFailure() << "cudaMalloc failed";
    }
    ctx.launch = true;
    ctx.workspace_bytes = kEngineWorkspaceBytes;
    return ::testing::AssertionSuccess();
  }
  const void* bias() const { return bias_; }
  cuda::LaunchContext ctx;

 private:
  void* bias_ = nullptr;
};

cuda::UnaryOp act_of(const std::string& act) {
  Attributes a;
  a.set_string("activation", act);
  Result<cuda::UnaryOp> op = cuda::linear_activation(a);
  return op.ok() ? *op : cuda::UnaryOp::kIdentity;
}

TEST(CudaGemmCandidates, MoreThanTheHeuristicAtBatch1WithSplitK) {
  VITRT_REQUIRE_GPU();
  BlasContext b;
  ASSERT_TRUE(b.init(4096));
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(s.name);
    for (DType type : {DType::kFloat16, DType::kFloat32}) {
      SCOPED_TRACE(dtype_name(type));
      Result<cuda::TacticCandidates> c =
          cuda::linear_tactic_candidates(b.ctx, type, s.m, s.n, s.k, b.bias(), act_of(s.act));
      ASSERT_TRUE(c.ok()) << c.status().to_string();
      EXPECT_GT(c->heuristic, 0u);
      if (s.m > 1024) {
        // Other cluster shapes and tiles of the heuristic's picks, each checked by cuBLASLt.
        EXPECT_GT(c->variants, 0u);
        continue;
      }
      // The point: the heuristic's handful is not all there is to time at M <= 197.
      EXPECT_GE(c->algos.size(), c->heuristic + 8) << c->heuristic << " from the heuristic";
      EXPECT_LE(c->algos.size(), c->heuristic + c->variants + 96u);
      std::map<
          std::tuple<int32_t, uint32_t, uint32_t, int32_t, uint32_t, uint32_t, uint32_t, uint16_t>,
          int>
          seen;
      int split = 0;
      for (size_t i = c->heuristic; i < c->algos.size(); ++i) {
        const cuda::AlgoConfig cfg = cuda::algo_config(c->algos[i]);
        split += cfg.split_k > 1 ? 1 : 0;
        const auto key = std::make_tuple(cfg.id, cfg.tile, cfg.stages, cfg.split_k, cfg.reduction,
                                         cfg.swizzle, cfg.custom, cfg.cluster);
        EXPECT_EQ(++seen[key], 1) << "enumerated twice: " << cuda::algo_config_text(cfg);
      }
      // 197 rows leave most of an H100/H200's 132 SMs idle with one split of K; fp16 is the
      // precision whose latency the enumeration is for (fp32 lists split-K where it has it).
      if (type == DType::kFloat16) {
        EXPECT_GT(split, 0) << "no split-K candidate";
      }
    }
  }
}

// The build log says, per timed problem, how many candidates were timed and how many of them
// were enumerated beyond the heuristic's list.
TEST(CudaGemmCandidates, BuildLogCountsTheEnumeratedCandidates) {
  VITRT_REQUIRE_GPU();
  namespace fs = std::filesystem;
  BuildOptions options;
  options.device = "cuda";
  options.precision = "fp16";
  std::string log;
  options.log = [&](const std::string& line) { log += line + "\n"; };
  const std::string plan = (fs::temp_directory_path() / "vitrt_gemm_candidates.plan").string();
  const Result<BuildSummary> built = build_plan(
      (fs::path(VITRT_SOURCE_DIR) / "tests" / "golden" / "timm_vit_tiny_ts17" / "model.onnx")
          .string(),
      plan, options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  int problems = 0, with_enumerated = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find(" candidates timed (");
    if (line.rfind("tactics: ", 0) != 0 || at == std::string::npos) continue;
    const size_t colon = line.rfind(": ", at);
    int timed = 0, heuristic = 0, variants = 0, enumerated = 0, few_rows = 0;
    ASSERT_GE(std::sscanf(line.c_str() + colon + 2,
                          "%d candidates timed (%d from cuBLASLt's heuristic, %d variants of its "
                          "picks, %d enumerated, %d few-rows variants)",
                          &timed, &heuristic, &variants, &enumerated, &few_rows),
              4)
        << line;
    // Vitrt's few-rows kernel (Linear mode 7) joins the race for a batch-1 class token's rows.
    EXPECT_EQ(timed, heuristic + variants + enumerated + few_rows) << line;
    ++problems;
    with_enumerated += enumerated > 0 ? 1 : 0;
  }
  EXPECT_GT(problems, 0) << log;
  // ViT-Tiny at batch 1 (197 x 192 by 192 x 576, ...) under-fills the GPU in every GEMM.
  EXPECT_EQ(with_enumerated, problems) << log;
}

using Param = std::tuple<int, std::string>;  // index into kShapes, precision

class CudaGemmCandidatesLinear : public ::testing::TestWithParam<Param> {};

// One graph with one Linear node per candidate, each carrying that candidate as its stored
// tactic (mode 0: cuBLASLt's epilogue), all on the same X, W and bias: one engine runs them all,
// and each output is compared with the CPU Linear.
TEST_P(CudaGemmCandidatesLinear, EveryCandidateMatchesTheCpuLinear) {
  VITRT_REQUIRE_GPU();
  const Shape& s = kShapes[std::get<0>(GetParam())];
  const std::string& precision = std::get<1>(GetParam());
  const DType type = precision == "fp16" ? DType::kFloat16 : DType::kFloat32;
  BlasContext b;
  ASSERT_TRUE(b.init(s.n));
  Result<cuda::TacticCandidates> c =
      cuda::linear_tactic_candidates(b.ctx, type, s.m, s.n, s.k, b.bias(), act_of(s.act));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_FALSE(c->algos.empty());

  const Tensor x = random_tensor(DType::kFloat32, {1, s.m, s.k}, 40, -1.0, 1.0);
  const Tensor w = random_tensor(DType::kFloat32, {s.k, s.n}, 41, -0.1, 0.1);
  const Tensor bias = random_tensor(DType::kFloat32, {s.n}, 42, -0.5, 0.5);
  auto linear = [&](TestGraph& g, ValueId xv, ValueId wv, ValueId bv,
                    const std::vector<int64_t>* tactic) {
    Attributes a;
    a.set_string("activation", s.act);
    if (tactic != nullptr) a.set_ints(cuda::kGemmTacticsAttr, *tactic);
    g.output(g.op("Linear", {xv, wv, bv}, a, "vitrt"));
  };
  TestGraph ref;
  linear(ref, ref.input("x", DType::kFloat32, {1, s.m, s.k}), ref.constant("w", w),
         ref.constant("b", bias), nullptr);
  ASSERT_TRUE(ref.infer().ok());
  Result<std::vector<Tensor>> expected = run_graph(ref.graph(), {x});
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();

  TestGraph g;
  const ValueId xv = g.input("x", DType::kFloat32, {1, s.m, s.k});
  const ValueId wv = g.constant("w", w), bv = g.constant("b", bias);
  for (const cublasLtMatmulAlgo_t& algo : c->algos) {
    cuda::GemmTactic t;
    t.m = s.m;
    t.mode = 0;
    t.algo = algo;
    const std::vector<int64_t> ints = cuda::encode_gemm_tactics({t});
    linear(g, xv, wv, bv, &ints);
  }
  ASSERT_TRUE(g.infer().ok());
  Result<std::vector<Tensor>> actual = run_graph_cuda(g.graph(), {x}, precision);
  ASSERT_TRUE(actual.ok()) << actual.status().to_string();
  ASSERT_EQ(actual->size(), c->algos.size());
  for (size_t i = 0; i < actual->size(); ++i) {
    EXPECT_TRUE(outputs_agree((*actual)[i], (*expected)[0], precision))
        << "candidate " << i << " (" << cuda::candidate_source(*c, i)
        << "): " << cuda::algo_config_text(cuda::algo_config(c->algos[i]));
  }
}

std::vector<Param> params() {
  std::vector<Param> p;
  for (int i = 0; i < static_cast<int>(std::size(kShapes)); ++i) {
    for (const char* prec : {"fp16", "fp32"}) p.emplace_back(i, prec);
  }
  return p;
}

INSTANTIATE_TEST_SUITE_P(shapes, CudaGemmCandidatesLinear, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::string(kShapes[std::get<0>(info.param)].name) + "_" +
                                  std::get<1>(info.param);
                         });

}  // namespace
}  // namespace vitrt::testing
