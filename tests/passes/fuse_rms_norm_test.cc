// fuse_rms_norm: the decomposed RMSNorm exporters write becomes RMSNormalization, in the forms
// torch's exporters and hand-written norms (LLaMA-style, x * rsqrt(mean(x^2) + eps)) produce;
// look-alikes are left alone. The fused graph must compute what the decomposition did.
#include <gtest/gtest.h>

#include "passes/run_fusion.h"
#include "runtime/build_pipeline.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_fusion;
using testing::TestGraph;

enum class Inverse {
  kDivBySqrt,       // Div(X, Sqrt(ms + eps))
  kReciprocalSqrt,  // Mul(X, Reciprocal(Sqrt(ms + eps)))  (dynamo's rsqrt)
  kOneOverSqrt,     // Mul(X, Div(1, Sqrt(ms + eps)))      (TorchScript's rsqrt)
  kPowMinusHalf,    // Mul(X, Pow(ms + eps, -0.5))
};

struct RmsForm {
  int64_t opset = 17;
  bool square_by_mul = false;  // Mul(X, X) instead of Pow(X, 2)
  Inverse inverse = Inverse::kReciprocalSqrt;
  bool with_gamma = true;
  bool gamma_first = false;
  bool x_read_elsewhere = true;  // the residual stream: X has another reader
  int64_t axis = -1;             // of the ReduceMean
  float pow_exponent = 2.0f;
  bool square_read_elsewhere = false;
};

constexpr int64_t kC = 40;

TestGraph decomposed(const RmsForm& f) {
  TestGraph g(f.opset);
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, kC});
  const ValueId sq =
      f.square_by_mul
          ? g.op("Mul", {x, x})
          : g.op("Pow", {x, g.constant("two", Tensor::from_float({f.pow_exponent}, true))});
  Attributes a;
  ValueId ms;
  if (f.opset >= 18) {
    ms = g.op("ReduceMean", {sq, g.constant("axes", Tensor::from_int64({f.axis}))});
  } else {
    a.set_ints("axes", {f.axis});
    ms = g.op("ReduceMean", {sq}, a);
  }
  const ValueId var = g.op("Add", {ms, g.constant("eps", Tensor::from_float({1e-6f}, true))});
  ValueId y;
  switch (f.inverse) {
    case Inverse::kDivBySqrt:
      y = g.op("Div", {x, g.op("Sqrt", {var})});
      break;
    case Inverse::kReciprocalSqrt:
      y = g.op("Mul", {x, g.op("Reciprocal", {g.op("Sqrt", {var})})});
      break;
    case Inverse::kOneOverSqrt:
      y = g.op(
          "Mul",
          {g.op("Div", {g.constant("one", Tensor::from_float({1.0f}, true)), g.op("Sqrt", {var})}),
           x});
      break;
    case Inverse::kPowMinusHalf:
      y = g.op("Mul",
               {x, g.op("Pow", {var, g.constant("mhalf", Tensor::from_float({-0.5f}, true))})});
      break;
  }
  if (f.with_gamma) {
    const ValueId gamma =
        g.constant("gamma", testing::random_tensor(DType::kFloat32, {kC}, 2, 0.5, 1.5));
    y = f.gamma_first ? g.op("Mul", {gamma, y}) : g.op("Mul", {y, gamma});
  }
  if (f.x_read_elsewhere) y = g.op("Add", {y, x});
  g.output(y);
  if (f.square_read_elsewhere) g.output(sq);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> inputs() {
  // Offset inputs: a kernel that took a mean off would be far from the decomposition.
  return {testing::random_tensor(DType::kFloat32, {3, 6, kC}, 1, -1.0, 4.0)};
}

void expect_fused(const RmsForm& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = decomposed(f);
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), fuse_rms_norm).applied, 1);
  EXPECT_EQ(count_ops(g.graph(), "RMSNormalization"), 1);
  EXPECT_EQ(count_ops(g.graph(), "ReduceMean"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Sqrt") + count_ops(g.graph(), "Pow"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Mul"), 0);
  testing::expect_outputs_close(before, g.graph(), inputs());
}

void expect_not_fused(const RmsForm& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = decomposed(f);
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), fuse_rms_norm).applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "RMSNormalization"), 0);
  testing::expect_outputs_close(before, g.graph(), inputs());
}

TEST(FuseRmsNorm, FiresOnExporterForms) {
  expect_fused({}, "Pow, Sqrt, Reciprocal, Mul (dynamo)");
  expect_fused({.opset = 18}, "opset 18: axes as an input");
  expect_fused({.square_by_mul = true}, "Mul(X, X)");
  expect_fused({.inverse = Inverse::kDivBySqrt}, "Div(X, Sqrt)");
  expect_fused({.inverse = Inverse::kOneOverSqrt}, "Div(1, Sqrt), then Mul");
  expect_fused({.inverse = Inverse::kPowMinusHalf}, "Pow(-0.5)");
  expect_fused({.gamma_first = true}, "Mul(gamma, y)");
  expect_fused({.x_read_elsewhere = false}, "X read only by the norm");
  expect_fused({.axis = 2}, "axis 2 == -1");
}

TEST(FuseRmsNorm, WithoutGammaTheScaleIsOnes) {
  TestGraph g = decomposed({.with_gamma = false});
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), fuse_rms_norm).applied, 1);
  EXPECT_EQ(count_ops(g.graph(), "RMSNormalization"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Add"), 1);  // the residual add stays
  testing::expect_outputs_close(before, g.graph(), inputs());
}

TEST(FuseRmsNorm, DeclinesLookAlikes) {
  expect_not_fused({.axis = 1}, "mean over another axis");
  expect_not_fused({.pow_exponent = 3.0f}, "Pow 3");
  expect_not_fused({.square_read_elsewhere = true}, "X^2 read elsewhere");
}

TEST(FuseRmsNorm, ReportsNearMissWithReason) {
  TestGraph g = decomposed({.axis = 1});
  std::vector<std::string> lines;
  PassContext ctx(true, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(fuse_rms_norm(g.graph(), ctx).ok());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("last axis"), std::string::npos) << lines[0];
}

// A LayerNorm whose variance is over another axis than its mean (a near miss of
// fuse_layer_norm) is reported once, by that pass, not again as an RMSNorm.
TEST(FuseRmsNorm, LeavesLayerNormNearMissesToTheirPass) {
  TestGraph g(17);
  const ValueId x = g.input("x", DType::kFloat32, {2, 6, kC});
  Attributes last;
  last.set_ints("axes", {-1});
  Attributes mid;
  mid.set_ints("axes", {1});
  const ValueId d = g.op("Sub", {x, g.op("ReduceMean", {x}, last)});
  const ValueId var = g.op(
      "ReduceMean", {g.op("Pow", {d, g.constant("two", Tensor::from_float({2.0f}, true))})}, mid);
  g.output(g.op(
      "Div",
      {d,
       g.op("Sqrt", {g.op("Add", {var, g.constant("eps", Tensor::from_float({1e-5f}, true))})})}));
  ASSERT_TRUE(g.infer().ok());
  std::vector<std::string> lines;
  PassContext ctx(true, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_TRUE(fuse_rms_norm(g.graph(), ctx).ok());
  EXPECT_TRUE(lines.empty()) << lines[0];
  EXPECT_EQ(count_ops(g.graph(), "RMSNormalization"), 0);
}

// The whole pipeline on torch's exports of a ViT with RMSNorm: dynamo's default opset writes
// each norm decomposed, opset 23 as RMSNormalization; both end with the same 5 norms.
TEST(FuseRmsNorm, FusesEveryNormOfTheRmsNormViTExports) {
  for (const char* name : {"timm_vit_rmsnorm_dynamo", "timm_vit_rmsnorm_dynamo_o23"}) {
    SCOPED_TRACE(name);
    const std::string path =
        std::string(VITRT_SOURCE_DIR) + "/tests/golden/" + name + "/model.onnx";
    auto graph = import_and_prepare(path, BuildOptions{}, nullptr);
    ASSERT_TRUE(graph.ok()) << graph.status().message();
    EXPECT_EQ(count_ops(*graph, "ReduceMean"), 0);
    EXPECT_EQ(count_ops(*graph, "Sqrt") + count_ops(*graph, "Pow"), 0);
    EXPECT_EQ(count_ops(*graph, "RMSNormalization"), 5);
  }
}

}  // namespace
}  // namespace vitrt
