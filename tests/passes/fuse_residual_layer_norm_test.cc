// fuse_residual_layer_norm: Add -> LayerNormalization becomes vitrt.AddLayerNorm, keeping the
// sum as a second output exactly when something else reads it.
#include <gtest/gtest.h>

#include "passes/run_fusion.h"
#include "runtime/build_pipeline.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_fusion;
using testing::TestGraph;

constexpr int64_t kC = 37;

struct Form {
  bool sum_read_elsewhere = true;
  bool b_broadcast = false;  // b is [5, C] against a [batch, 5, C]
  int64_t axis = -1;
  bool mean_output_used = false;
  bool with_bias = true;
};

// a, b -> Add -> LayerNormalization (-> and the sum into a Mul when read elsewhere).
TestGraph residual(const Form& f) {
  TestGraph g;
  const ValueId a = g.input("a", DType::kFloat32, {Dim::symbol("batch"), 5, kC});
  const ValueId b = f.b_broadcast ? g.input("b", DType::kFloat32, {5, kC})
                                  : g.input("b", DType::kFloat32, {Dim::symbol("batch"), 5, kC});
  const ValueId sum = g.op("Add", {b, a});  // the operand with the full shape second
  Attributes attrs;
  attrs.set_int("axis", f.axis);
  attrs.set_float("epsilon", 1e-6f);
  const std::vector<int64_t> pshape =
      f.axis == -1 ? std::vector<int64_t>{kC} : std::vector<int64_t>{5, kC};
  std::vector<ValueId> in = {
      sum, g.constant("gamma", testing::random_tensor(DType::kFloat32, pshape, 7))};
  if (f.with_bias) {
    in.push_back(g.constant("beta", testing::random_tensor(DType::kFloat32, pshape, 8)));
  }
  const std::vector<ValueId> ln =
      g.op_multi("LayerNormalization", in, f.mean_output_used ? 2 : 1, attrs);
  g.output(ln[0]);
  if (f.mean_output_used) g.output(ln[1]);
  if (f.sum_read_elsewhere) g.output(g.op("Mul", {sum, sum}));
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> inputs(const Form& f) {
  return {testing::random_tensor(DType::kFloat32, {3, 5, kC}, 1, -3, 5),
          f.b_broadcast ? testing::random_tensor(DType::kFloat32, {5, kC}, 2)
                        : testing::random_tensor(DType::kFloat32, {3, 5, kC}, 2)};
}

void expect_fused(const Form& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = residual(f);
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), fuse_residual_layer_norm).applied, 1);
  EXPECT_EQ(count_ops(g.graph(), "AddLayerNorm"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Add") + count_ops(g.graph(), "LayerNormalization"), 0);
  for (const Node& n : g.graph().nodes) {
    if (n.dead || n.op_type != "AddLayerNorm") continue;
    const bool has_sum = n.outputs.size() > 1 && n.outputs[1] != kNoValue;
    EXPECT_EQ(has_sum, f.sum_read_elsewhere);
  }
  testing::expect_outputs_close(before, g.graph(), inputs(f));
}

void expect_not_fused(const Form& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = residual(f);
  EXPECT_EQ(run_fusion(g.graph(), fuse_residual_layer_norm).applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "AddLayerNorm"), 0);
}

TEST(FuseResidualLayerNorm, Fires) {
  expect_fused({}, "sum read elsewhere: two outputs");
  expect_fused({.sum_read_elsewhere = false}, "sum read only by the norm: one output");
  expect_fused({.b_broadcast = true}, "b broadcast over batch (position embedding)");
  expect_fused({.with_bias = false}, "no B");
}

TEST(FuseResidualLayerNorm, DeclinesLookAlikes) {
  expect_not_fused({.axis = 1}, "norm over the last two axes");
  expect_not_fused({.mean_output_used = true}, "mean output used");
}

TEST(FuseResidualLayerNorm, FusesTheResidualNormsNoLinearFeeds) {
  // Pre-norm blocks: layernorm_before (after the embeddings or the previous block's MLP
  // residual), layernorm_after (after the attention residual), and the final norm. The four
  // residual adds after o_proj and fc2 join those Linears first (fuse_residual_into_linear), so
  // their norms stay plain; the embeddings' sum (position table added) becomes AddLayerNorm.
  const std::string path =
      std::string(VITRT_SOURCE_DIR) + "/tests/golden/hf_vit_eager_ts17/model.onnx";
  auto graph = import_and_prepare(path, BuildOptions{}, nullptr);
  ASSERT_TRUE(graph.ok()) << graph.status().message();
  EXPECT_EQ(count_ops(*graph, "AddLayerNorm"), 1);
  EXPECT_EQ(count_ops(*graph, "LayerNormalization"), 4);
  EXPECT_EQ(count_ops(*graph, "Add"), 0);
}

}  // namespace
}  // namespace vitrt
