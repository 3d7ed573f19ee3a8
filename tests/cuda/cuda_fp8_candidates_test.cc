// FP8 GEMMs get enumerated tactic candidates too (tactic_candidates in cublaslt_matmul.h): an
// fp8 vitrt.QuantLinear at ViT-B/16's batch-1 shape (197 x 768 by 768 x 768) times more than
// cuBLASLt's heuristic list, the tuned layer computes what the CPU kernel computes, and so does
// every candidate stored as the layer's tactic. When none is enumerated, the failure says what
// cuBLASLt lists for the FP8 types (each algorithm's tile and stage ids) beside the verbose
// tactics log (the heuristic's configurations), which is what the enumeration has to match.
#include <gtest/gtest.h>

#include <cublasLt.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

#include "core/float8.h"
#include "core/half.h"
#include "cuda/cublaslt_matmul.h"
#include "cuda/cuda_engine.h"
#include "cuda/cuda_kernel.h"
#include "cuda_test_util.h"

namespace vitrt::testing {
namespace {

// cuBLASLt's algorithm ids for FP8 A/B with C/D of `c` (fp32 compute and scale), each with its
// listed tile and stage ids.
std::string fp8_listing(cudaDataType_t c) {
  cublasLtHandle_t h = nullptr;
  if (cublasLtCreate(&h) != CUBLAS_STATUS_SUCCESS) return "cublasLtCreate failed\n";
  std::ostringstream out;
  int ids[256];
  int count = 0;
  if (cublasLtMatmulAlgoGetIds(h, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_8F_E4M3, CUDA_R_8F_E4M3, c,
                               c, 256, ids, &count) != CUBLAS_STATUS_SUCCESS) {
    out << "cublasLtMatmulAlgoGetIds failed\n";
    count = 0;
  }
  out << count << " algorithm ids for C/D type " << static_cast<int>(c) << "\n";
  for (int i = 0; i < count; ++i) {
    cublasLtMatmulAlgo_t algo{};
    if (cublasLtMatmulAlgoInit(h, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_8F_E4M3, CUDA_R_8F_E4M3, c,
                               c, ids[i], &algo) != CUBLAS_STATUS_SUCCESS) {
      out << "  id " << ids[i] << ": init failed\n";
      continue;
    }
    out << "  id " << ids[i];
    for (auto [attr, name] : {std::pair{CUBLASLT_ALGO_CAP_TILE_IDS, "tiles"},
                              std::pair{CUBLASLT_ALGO_CAP_STAGES_IDS, "stages"}}) {
      uint32_t v[256];
      size_t bytes = 0;
      out << " " << name << ":";
      if (cublasLtMatmulAlgoCapGetAttribute(&algo, attr, v, sizeof(v), &bytes) !=
          CUBLAS_STATUS_SUCCESS) {
        out << " ?";
        continue;
      }
      for (size_t j = 0; j < bytes / sizeof(uint32_t); ++j) out << " " << v[j];
    }
    out << "\n";
  }
  cublasLtDestroy(h);
  return out.str();
}

constexpr int64_t kRows = 197, kK = 768, kN = 768;

// One fp8 QuantLinear [768 -> 768] with a per-channel weight scale and a bias, its weights and
// an input [1, 197, 768] from fixed seeds.
struct Problem {
  Tensor w, ws, bias, x;
  Problem() {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    w = Tensor::empty(DType::kUInt8, {kK, kN});
    for (int64_t i = 0; i < w.numel(); ++i) w.data<uint8_t>()[i] = float_to_e4m3(224.0f * u(rng));
    ws = Tensor::empty(DType::kFloat32, {kN});
    bias = Tensor::empty(DType::kFloat32, {kN});
    for (int64_t j = 0; j < kN; ++j) {
      ws.data<float>()[j] = (0.5f + 0.01f * static_cast<float>(j % 7)) / 448 / 16;
      bias.data<float>()[j] = 0.25f * u(rng);
    }
    x = Tensor::empty(DType::kFloat32, {1, kRows, kK});
    // bf16 values (none in fp16's subnormal range): an fp16 or bf16 plan reads X exactly, so
    // its quantized X is the CPU's.
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float v = bf16_to_float(float_to_bf16(3.0f * u(rng)));
      x.data<float>()[i] = std::fabs(v) < 1e-3f ? 0.0f : v;
    }
  }
  // The graph's input X and the layer's constants.
  struct Values {
    ValueId x, w, ws, bias;
  };
  Values values(TestGraph& g) const {
    return {g.input("x", DType::kFloat32, {1, kRows, kK}), g.constant("w", w), g.constant("s", ws),
            g.constant("b", bias)};
  }
  // Adds a layer on `v` to `g` (tactic: a stored GEMM tactic, or null); returns its output.
  static ValueId add(TestGraph& g, const Values& v, const std::vector<int64_t>* tactic) {
    Attributes a;
    a.set_string("format", "fp8");
    a.set_float("input_scale", 3.0f / 448);
    if (tactic != nullptr) a.set_ints(cuda::kGemmTacticsAttr, *tactic);
    return g.op("QuantLinear", {v.x, v.w, v.ws, v.bias}, a, "vitrt");
  }
};

TEST(CudaFp8Candidates, QuantLinearTimesEnumeratedCandidates) {
  VITRT_REQUIRE_GPU();
  const Problem pr;
  const Tensor& x = pr.x;
  for (const char* precision : {"fp16", "bf16"}) {
    SCOPED_TRACE(precision);
    TestGraph g;
    g.output(Problem::add(g, pr.values(g), nullptr));
    ASSERT_TRUE(g.infer().ok());
    Result<std::vector<Tensor>> want = run_graph(g.graph(), {x});
    ASSERT_TRUE(want.ok()) << want.status().to_string();

    cuda::TacticTuner tuner;
    tuner.device_key = "test";
    tuner.verbose = true;
    std::string log;
    tuner.log = [&log](const std::string& line) { log += line + "\n"; };
    cuda::CudaEngineOptions options;
    options.precision = precision;
    options.cuda_graphs = false;
    options.tuner = &tuner;
    Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(g.graph(), options);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    Result<std::vector<NamedTensor>> got = (*engine)->create_context()->run({{"x", x}});
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(outputs_agree((*got)[0].tensor, (*want)[0], precision, 0.0, 0.9999, 2e-2));

    const std::string shape = "tactics: fp8 197x768x768 none+bias: ";
    const size_t at = log.find(shape);
    ASSERT_NE(at, std::string::npos) << log;
    int timed = 0, heuristic = 0, enumerated = 0;
    ASSERT_EQ(std::sscanf(log.c_str() + at + shape.size(),
                          "%d candidates timed (%d from cuBLASLt's heuristic, %d enumerated)",
                          &timed, &heuristic, &enumerated),
              3)
        << log;
    EXPECT_GT(heuristic, 0);
    EXPECT_GT(enumerated, 0) << log << "\ncuBLASLt's FP8 algorithms:\n"
                             << fp8_listing(CUDA_R_16F) << fp8_listing(CUDA_R_32F);
  }
}

// The CUDA engine's cuBLASLt workspace (cuda_engine.cc): a candidate checked against it runs
// in an engine as the stored tactic instead of falling back to the heuristic.
constexpr size_t kEngineWorkspaceBytes = 32u << 20;

// Every mode-0 candidate (heuristic and enumerated), stored as the tactic of its own copy of
// the layer, computes what the CPU kernel computes: one engine runs them all on the same X.
TEST(CudaFp8Candidates, EveryCandidateMatchesTheCpu) {
  VITRT_REQUIRE_GPU();
  const Problem pr;
  TestGraph ref;
  ref.output(Problem::add(ref, pr.values(ref), nullptr));
  ASSERT_TRUE(ref.infer().ok());
  Result<std::vector<Tensor>> want = run_graph(ref.graph(), {pr.x});
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  const NodeId node = static_cast<NodeId>(ref.graph().nodes.size() - 1);

  cuda::LaunchContext ctx;
  ctx.launch = true;
  ctx.float_type = DType::kFloat16;
  ctx.workspace_bytes = kEngineWorkspaceBytes;
  void* bias16 = nullptr;
  ASSERT_EQ(cublasLtCreate(&ctx.blas), CUBLAS_STATUS_SUCCESS);
  ASSERT_EQ(cudaMalloc(&ctx.workspace, kEngineWorkspaceBytes), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&bias16, kN * sizeof(uint16_t)), cudaSuccess);
  Result<cuda::TacticCandidates> c =
      cuda::quant_linear_tactic_candidates(ctx, ref.graph(), node, DType::kFloat16, kRows, bias16);
  cudaFree(bias16);
  cudaFree(ctx.workspace);
  cublasLtDestroy(ctx.blas);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_FALSE(c->algos.empty());
  EXPECT_GT(c->algos.size(), c->heuristic) << "no enumerated candidate";

  TestGraph g;
  const Problem::Values v = pr.values(g);
  for (const cublasLtMatmulAlgo_t& algo : c->algos) {
    cuda::GemmTactic t;
    t.m = kRows;
    t.mode = 0;
    t.algo = algo;
    const std::vector<int64_t> ints = cuda::encode_gemm_tactics({t});
    g.output(Problem::add(g, v, &ints));
  }
  ASSERT_TRUE(g.infer().ok());
  Result<std::vector<Tensor>> got = run_graph_cuda(g.graph(), {pr.x}, "fp16");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), c->algos.size());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_TRUE(outputs_agree((*got)[i], (*want)[0], "fp16"))
        << "candidate " << i << (i < c->heuristic ? " (heuristic): " : " (enumerated): ")
        << cuda::algo_config_text(cuda::algo_config(c->algos[i]));
  }
}

}  // namespace
}  // namespace vitrt::testing
