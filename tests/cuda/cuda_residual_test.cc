// vitrt.Linear with a residual input on CUDA (cuBLASLt's C = the residual, beta = 1) against the
// CPU kernel, in fp32, fp16 and bf16, on odd shapes and the ViT-B shapes (K 3072 -> N 768),
// with and without bias, eagerly and captured in CUDA graphs; and the tactic tuner, which must
// time the residual problem apart from the same GEMM without C. The quantized layers' residual
// is tested in cuda_quant_test.cc; whole fp16 plans (the optimizer fuses the residuals of every
// golden model) in cuda_golden_test.cc and cuda_tactics_test.cc.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/npy.h"
#include "cuda/cuda_kernel.h"
#include "cuda_test_util.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt::testing {
namespace {

struct ResidualCase {
  int64_t m = 7, k = 64, n = 48;
  bool bias = true;
  bool relu = false;  // Y = relu(X.W + bias + residual): the ReLU follows the add
};

struct ResidualProblem {
  TestGraph g{17};
  std::vector<Tensor> inputs;  // x [m, k], residual [m, n]
};

ResidualProblem make_problem(const ResidualCase& c, uint64_t seed) {
  ResidualProblem p;
  const ValueId x = p.g.input("x", DType::kFloat32, {c.m, c.k});
  const ValueId r = p.g.input("residual", DType::kFloat32, {c.m, c.n});
  std::vector<ValueId> in = {
      x, p.g.constant("w", random_tensor(DType::kFloat32, {c.k, c.n}, seed, -0.1, 0.1))};
  in.push_back(c.bias ? p.g.constant("b", random_tensor(DType::kFloat32, {c.n}, seed + 1))
                      : kNoValue);
  in.push_back(r);
  Attributes attrs;
  if (c.relu) attrs.set_string("activation", "relu");
  p.g.output(p.g.op("Linear", in, attrs, "vitrt", "proj"));
  p.inputs = {random_tensor(DType::kFloat32, {c.m, c.k}, seed + 2),
              random_tensor(DType::kFloat32, {c.m, c.n}, seed + 3, -4.0, 4.0)};
  return p;
}

class CudaLinearResidual : public ::testing::Test {
 protected:
  void SetUp() override { VITRT_REQUIRE_GPU(); }
};

TEST_F(CudaLinearResidual, MatchesTheCpuKernel) {
  const ResidualCase cases[] = {
      {1, 33, 19, true},
      {1, 64, 48, false},
      {197, 96, 40, true},
      {5, 48, 33, false},
      {197, 768, 768, true},
      {2, 3072, 768, true},
      {64, 3072, 768, false},
      // ResNet-50's last 1x1 conv of a bottleneck, and odd shapes, with the ReLU after the add.
      {49, 512, 2048, true, true},
      {7, 33, 19, true, true},
      {5, 48, 33, false, true},
  };
  uint64_t seed = 100;
  for (const ResidualCase& c : cases) {
    for (const char* precision : {"fp32", "fp16", "bf16"}) {
      SCOPED_TRACE(str_cat(c.m, "x", c.k, "x", c.n, c.bias ? " +bias " : " ", c.relu ? "relu " : "",
                           precision));
      ResidualProblem p = make_problem(c, seed);
      ASSERT_TRUE(p.g.infer().ok());
      Result<std::vector<Tensor>> want = run_graph(p.g.graph(), p.inputs);
      ASSERT_TRUE(want.ok()) << want.status().to_string();
      expect_cuda_output_agrees(p.g.graph(), p.inputs, (*want)[0], precision);
    }
    seed += 10;
  }
}

// Timing the same GEMM with and without the residual gives two problems (the key says
// +residual), and the tuned tactic of each reproduces the CPU kernel's output.
TEST_F(CudaLinearResidual, TunerTimesTheResidualProblemApart) {
  cuda::TacticTuner tuner;
  tuner.device_key = "test";
  for (bool residual : {false, true}) {
    SCOPED_TRACE(residual ? "residual" : "plain");
    ResidualCase c{300, 128, 64, true};
    ResidualProblem p = make_problem(c, 7);
    Graph graph = p.g.graph();
    std::vector<Tensor> inputs = p.inputs;
    if (!residual) {
      // The same Linear without its residual input (the graph input stays, unread).
      for (Node& n : graph.nodes) {
        if (n.name == "proj") n.inputs.pop_back();
      }
      graph.inputs.pop_back();
      inputs.pop_back();
    }
    ASSERT_TRUE(infer_shapes(graph).ok());
    Result<std::vector<Tensor>> want = run_graph(graph, inputs);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    cuda::CudaEngineOptions options;
    options.precision = "fp16";
    options.cuda_graphs = false;
    options.tuner = &tuner;
    tuner.by_node.clear();
    Result<std::shared_ptr<Engine>> engine = cuda::create_cuda_engine(graph, options);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    std::vector<NamedTensor> named = {{"x", inputs[0]}};
    if (residual) named.push_back({"residual", inputs[1]});
    Result<std::vector<NamedTensor>> tuned = (*engine)->create_context()->run(named);
    ASSERT_TRUE(tuned.ok()) << tuned.status().message();
    EXPECT_TRUE(outputs_agree((*tuned)[0].tensor, (*want)[0], "fp16"));
    ASSERT_EQ(tuner.by_node.size(), 1u);
    Graph with = graph;
    with.nodes[tuner.by_node.begin()->first].attrs.set_ints(
        cuda::kGemmTacticsAttr, cuda::encode_gemm_tactics(tuner.by_node.begin()->second));
    Result<std::vector<Tensor>> got = run_graph_cuda(with, inputs, "fp16");
    ASSERT_TRUE(got.ok()) << got.status().message();
    EXPECT_TRUE(outputs_agree((*got)[0], (*want)[0], "fp16"));
  }
  ASSERT_EQ(tuner.by_problem.size(), 2u);
  int with_residual = 0;
  for (const auto& [key, t] : tuner.by_problem) {
    with_residual += key.find("+residual") != std::string::npos;
  }
  EXPECT_EQ(with_residual, 1);
}

// A residual whose shape differs from the output's (a graph edited by hand after shape
// inference) is refused with a message naming the residual, by the engine's shape checks or
// the kernel's own.
TEST_F(CudaLinearResidual, WrongResidualShapeIsAnError) {
  TestGraph g{17};
  const ValueId x = g.input("x", DType::kFloat32, {4, 8});
  const ValueId r = g.input("residual", DType::kFloat32, {4, 6});
  g.output(g.op("Linear",
                {x, g.constant("w", random_tensor(DType::kFloat32, {8, 6}, 1)), kNoValue, r}, {},
                "vitrt", "proj"));
  ASSERT_TRUE(g.infer().ok());
  Graph bad = g.graph();
  bad.values[r].shape = {4, 1};
  Result<std::vector<Tensor>> got = run_graph_cuda(
      bad, {random_tensor(DType::kFloat32, {4, 8}, 2), random_tensor(DType::kFloat32, {4, 1}, 3)},
      "fp16");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("residual"), std::string::npos) << got.status().message();
}

// A whole fp16 ViT plan with tactics timed: the build log shows the four residual adds joining
// their Linears and the residual GEMMs timed under their own key, and the loaded plan matches
// PyTorch as cuda_golden_test.cc requires of fp16 plans.
TEST_F(CudaLinearResidual, TunedFp16VitPlanMatchesPyTorch) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("VITRT_GOLDEN_DIR");
  const fs::path fixture =
      (env != nullptr ? fs::path(env) : fs::path(VITRT_SOURCE_DIR) / "tests" / "golden") /
      "hf_vit_eager_ts17";
  const fs::path plan = fs::temp_directory_path() / "vitrt_cuda_residual_vit.plan";
  BuildOptions options;
  options.device = "cuda";
  options.precision = "fp16";
  options.verbose = true;
  std::vector<std::string> log;
  options.log = [&log](const std::string& line) { log.push_back(line); };
  Result<BuildSummary> built =
      build_plan((fixture / "model.onnx").string(), plan.string(), options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  int fused = 0, timed_residual = 0;
  for (const std::string& line : log) {
    fused += line.find("[fuse_residual_into_linear] Linear") != std::string::npos;
    timed_residual +=
        line.find("tactics: ") != std::string::npos && line.find("+residual") != std::string::npos;
  }
  EXPECT_EQ(fused, 4);
  EXPECT_GE(timed_residual, 1);
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan.string());
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (const char* c : {"case0", "case1"}) {
    SCOPED_TRACE(c);
    Result<Tensor> x = read_npy((fixture / c / "input.pixel_values.npy").string());
    Result<Tensor> want = read_npy((fixture / c / "output.0.logits.npy").string());
    ASSERT_TRUE(x.ok() && want.ok());
    Result<std::vector<NamedTensor>> got = (*engine)->create_context()->run({{"pixel_values", *x}});
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    EXPECT_TRUE(outputs_agree((*got)[0].tensor, *want, "fp16", 1e-4, 0.9999, 0.05));
  }
  std::error_code ec;
  fs::remove(plan, ec);
}

}  // namespace
}  // namespace vitrt::testing
