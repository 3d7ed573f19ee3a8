// fuse_layer_norm: the decomposed LayerNorm exporters write becomes LayerNormalization, in the
// operand orders and forms exporters produce, and look-alikes are left alone.
#include <gtest/gtest.h>

#include "passes/run_fusion.h"
#include "runtime/build_pipeline.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_fusion;
using testing::TestGraph;

struct LnForm {
  int64_t opset = 13;
  bool square_by_mul = false;  // Mul(D, D) instead of Pow(D, 2)
  bool reciprocal = false;     // Mul(D, Reciprocal(std)) instead of Div(D, std)
  bool gamma_first = false;    // Mul(gamma, n) and Add(beta, .) operand order
  bool with_gamma = true;
  bool with_beta = true;
  bool scalar_gamma = false;
  int64_t second_axis = -1;  // axis of the variance's ReduceMean
  float pow_exponent = 2.0f;
  bool eps_after_sqrt = false;  // Add(Sqrt(var), eps): another formula
  bool mean_read_elsewhere = false;
  bool eps_as_input = false;  // epsilon is a graph input, not a constant
};

constexpr int64_t kC = 33;

// x [batch, 5, C] -> decomposed LayerNorm; returns the graph (shape-inferred).
TestGraph decomposed(const LnForm& f) {
  TestGraph g(f.opset);
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 5, kC});
  auto reduce = [&](ValueId in, int64_t axis) {
    Attributes a;
    if (f.opset >= 18) {
      return g.op("ReduceMean",
                  {in, g.constant("axes" + std::to_string(in), Tensor::from_int64({axis}))});
    }
    a.set_ints("axes", {axis});
    return g.op("ReduceMean", {in}, a);
  };
  const ValueId mean = reduce(x, -1);
  const ValueId d = g.op("Sub", {x, mean});
  const ValueId sq =
      f.square_by_mul
          ? g.op("Mul", {d, d})
          : g.op("Pow", {d, g.constant("two", Tensor::from_float({f.pow_exponent}, true))});
  const ValueId var = reduce(sq, f.second_axis);
  const ValueId eps = f.eps_as_input ? g.input("eps", DType::kFloat32, {})
                                     : g.constant("eps", Tensor::from_float({1e-5f}, true));
  ValueId std_dev;
  if (f.eps_after_sqrt) {
    std_dev = g.op("Add", {g.op("Sqrt", {var}), eps});
  } else {
    std_dev = g.op("Sqrt", {g.op("Add", {var, eps})});
  }
  ValueId n =
      f.reciprocal ? g.op("Mul", {d, g.op("Reciprocal", {std_dev})}) : g.op("Div", {d, std_dev});
  if (f.with_gamma) {
    const ValueId gamma =
        f.scalar_gamma ? g.constant("gamma", Tensor::from_float({1.5f}, true))
                       : g.constant("gamma", testing::random_tensor(DType::kFloat32, {kC}, 2));
    n = f.gamma_first ? g.op("Mul", {gamma, n}) : g.op("Mul", {n, gamma});
  }
  if (f.with_beta) {
    const ValueId beta = g.constant("beta", testing::random_tensor(DType::kFloat32, {kC}, 3));
    n = f.gamma_first ? g.op("Add", {beta, n}) : g.op("Add", {n, beta});
  }
  g.output(n);
  if (f.mean_read_elsewhere) g.output(mean);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> inputs_for(const LnForm& f) {
  // A large mean: the fused kernel must not lose precision where the decomposition does not.
  std::vector<Tensor> in = {testing::random_tensor(DType::kFloat32, {3, 5, kC}, 1, 2.0, 6.0)};
  if (f.eps_as_input) in.push_back(Tensor::from_float({1e-5f}, true));
  return in;
}

void expect_fused(const LnForm& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = decomposed(f);
  const Graph before = g.graph();
  const testing::FusionRun run = run_fusion(g.graph(), fuse_layer_norm);
  EXPECT_EQ(run.applied, 1);
  EXPECT_EQ(count_ops(g.graph(), "LayerNormalization"), 1);
  EXPECT_EQ(count_ops(g.graph(), "ReduceMean"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Mul"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Add"), 0);
  testing::expect_outputs_close(before, g.graph(), inputs_for(f));
}

void expect_not_fused(const LnForm& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = decomposed(f);
  const Graph before = g.graph();
  const testing::FusionRun run = run_fusion(g.graph(), fuse_layer_norm);
  EXPECT_EQ(run.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "LayerNormalization"), 0);
  testing::expect_outputs_close(before, g.graph(), inputs_for(f));
}

TEST(FuseLayerNorm, FiresOnExporterForms) {
  expect_fused({}, "opset 13, Pow, Div");
  expect_fused({.opset = 18}, "opset 18: axes as an input");
  expect_fused({.square_by_mul = true}, "Mul(D, D)");
  expect_fused({.reciprocal = true}, "Reciprocal + Mul");
  expect_fused({.gamma_first = true}, "gamma and beta first");
  expect_fused({.scalar_gamma = true}, "scalar gamma");
  expect_fused({.with_beta = false}, "no beta");
  expect_fused({.with_gamma = false}, "beta only");
  expect_fused({.second_axis = 2}, "variance over axis 2 == -1");
}

TEST(FuseLayerNorm, StopsBeforeAnAddThatIsNotBeta) {
  // Without gamma and beta the LayerNorm ends at the Div; a residual Add after it stays.
  TestGraph g(13);
  LnForm f;
  f.with_gamma = f.with_beta = false;
  g = decomposed(f);
  const ValueId out = g.graph().outputs[0];
  const ValueId residual = g.op("Add", {out, g.graph().inputs[0]});
  g.graph().outputs = {residual};
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), fuse_layer_norm).applied, 1);
  EXPECT_EQ(count_ops(g.graph(), "LayerNormalization"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Add"), 1);
  testing::expect_outputs_close(before, g.graph(), inputs_for(f));
}

TEST(FuseLayerNorm, DeclinesLookAlikes) {
  expect_not_fused({.second_axis = 1}, "variance over another axis");
  expect_not_fused({.pow_exponent = 4.0f}, "Pow 4");
  expect_not_fused({.eps_after_sqrt = true}, "epsilon added after Sqrt");
  expect_not_fused({.mean_read_elsewhere = true}, "mean read elsewhere");
  expect_not_fused({.eps_as_input = true}, "epsilon not constant");
}

TEST(FuseLayerNorm, ReportsNearMissWithReason) {
  struct Case {
    LnForm form;
    const char* reason;
  };
  for (const Case& c :
       {Case{{.eps_after_sqrt = true}, "Add(epsilon)"}, Case{{.second_axis = 1}, "last axis"},
        Case{{.mean_read_elsewhere = true}, "mean is also read"},
        Case{{.eps_as_input = true}, "epsilon"}}) {
    TestGraph g = decomposed(c.form);
    std::vector<std::string> lines;
    PassContext ctx(true, [&](const std::string& l) { lines.push_back(l); });
    ASSERT_TRUE(fuse_layer_norm(g.graph(), ctx).ok());
    ASSERT_EQ(lines.size(), 1u) << c.reason;
    EXPECT_NE(lines[0].find(c.reason), std::string::npos) << lines[0];
  }
}

// The TorchScript opset-13 exports write every LayerNorm decomposed.
TEST(FuseLayerNorm, FusesEveryLayerNormOfOpset13Exports) {
  for (const char* name :
       {"timm_vit_tiny_unfused_ts13", "hf_vit_eager_ts13", "hf_clip_text_eager_ts13"}) {
    SCOPED_TRACE(name);
    const std::string path =
        std::string(VITRT_SOURCE_DIR) + "/tests/golden/" + name + "/model.onnx";
    auto graph = import_and_prepare(path, BuildOptions{}, nullptr);
    ASSERT_TRUE(graph.ok()) << graph.status().message();
    EXPECT_EQ(count_ops(*graph, "ReduceMean"), 0);
    EXPECT_EQ(count_ops(*graph, "Sqrt") + count_ops(*graph, "Pow"), 0);
    EXPECT_EQ(count_ops(*graph, "LayerNormalization") + count_ops(*graph, "AddLayerNorm"), 5);
  }
}

}  // namespace
}  // namespace vitrt
