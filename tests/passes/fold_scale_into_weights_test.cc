// fold_scale_into_weights: Linear followed by Mul/Div by a constant scalar or per-channel
// vector folds into the weights; checked against the graph before the pass.
#include "passes/linear_pass_testing.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::expect_outputs_close;
using testing::random_tensor;
using testing::TestGraph;

constexpr int64_t kK = 16, kN = 9;

Tensor x_value() {
  return random_tensor(DType::kFloat32, {2, 5, kK}, 1);
}

struct ScaledLinear {
  TestGraph g;
  ValueId linear_out = kNoValue;
};

// Linear(x, W, b) -> op(y, scale) (or op(scale, y) when `scale_first`).
ScaledLinear scaled_linear(const std::string& op, const Tensor& scale, bool scale_first = false,
                           const std::string& activation = "none") {
  ScaledLinear s;
  TestGraph& g = s.g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 5, kK});
  Attributes attrs;
  attrs.set_string("activation", activation);
  s.linear_out = g.op("Linear",
                      {x, g.constant("w", random_tensor(DType::kFloat32, {kK, kN}, 2)),
                       g.constant("b", random_tensor(DType::kFloat32, {kN}, 3))},
                      attrs, "vitrt");
  ValueId c = g.constant("scale", scale);
  g.output(g.op(op, scale_first ? std::vector<ValueId>{c, s.linear_out}
                                : std::vector<ValueId>{s.linear_out, c}));
  EXPECT_TRUE(g.infer().ok());
  return s;
}

TEST(FoldScaleIntoWeights, PowerOfTwoScalarIsExact) {
  for (const char* op : {"Mul", "Div"}) {
    ScaledLinear s = scaled_linear(op, Tensor::from_float({0.125f}, true));
    auto [fused, applied] = apply_pass(s.g.graph(), fold_scale_into_weights);
    EXPECT_EQ(applied, 1) << op;
    EXPECT_EQ(count_ops(fused, op), 0);
    auto want = testing::run_graph(s.g.graph(), {x_value()});
    auto got = testing::run_graph(fused, {x_value()});
    ASSERT_TRUE(want.ok() && got.ok());
    EXPECT_TRUE(testing::tensors_close((*got)[0], (*want)[0], {0.0, 0.0})) << op;
  }
}

TEST(FoldScaleIntoWeights, OtherFactorsMatchWithinOneUlpOfScale) {
  // DINOv2's layer scale: a per-channel vector; and a scalar division by a non-power of two.
  const Tensor layer_scale = random_tensor(DType::kFloat32, {kN}, 4, 0.05, 2.0);
  for (bool scale_first : {false, true}) {
    ScaledLinear s = scaled_linear("Mul", layer_scale, scale_first);
    auto [fused, applied] = apply_pass(s.g.graph(), fold_scale_into_weights);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(fused, "Mul"), 0);
    expect_outputs_close(s.g.graph(), fused, {x_value()}, 1e-5);
  }
  Tensor rank3 = layer_scale.reshaped({1, 1, kN}).value();
  ScaledLinear s3 = scaled_linear("Mul", rank3);
  EXPECT_EQ(apply_pass(s3.g.graph(), fold_scale_into_weights).second, 1);
  ScaledLinear d = scaled_linear("Div", Tensor::from_float({3.0f}, true));
  auto [fused, applied] = apply_pass(d.g.graph(), fold_scale_into_weights);
  EXPECT_EQ(applied, 1);
  expect_outputs_close(d.g.graph(), fused, {x_value()}, 1e-5);
}

TEST(FoldScaleIntoWeights, SharedWeightsAreNotChangedForTheOtherReader) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 5, kK});
  ValueId w = g.constant("w", random_tensor(DType::kFloat32, {kK, kN}, 2));
  ValueId y1 = g.op("Linear", {x, w}, {}, "vitrt");
  ValueId y2 = g.op("Linear", {x, w}, {}, "vitrt");
  g.output(g.op("Mul", {y1, g.constant("s", Tensor::from_float({0.5f}, true))}));
  g.output(y2);
  ASSERT_TRUE(g.infer().ok());
  auto [fused, applied] = apply_pass(g.graph(), fold_scale_into_weights);
  EXPECT_EQ(applied, 1);
  expect_outputs_close(g.graph(), fused, {x_value()}, 0.0);
}

TEST(FoldScaleIntoWeights, LookAlikesStay) {
  // Div(s, y) is a reciprocal; a zero factor; a per-row [5, 1] constant; a Linear with an
  // activation (the scale would apply before it).
  EXPECT_EQ(apply_pass(scaled_linear("Div", Tensor::from_float({2.0f}, true), true).g.graph(),
                       fold_scale_into_weights)
                .second,
            0);
  EXPECT_EQ(apply_pass(scaled_linear("Mul", Tensor::from_float({0.0f}, true)).g.graph(),
                       fold_scale_into_weights)
                .second,
            0);
  EXPECT_EQ(apply_pass(scaled_linear("Mul", random_tensor(DType::kFloat32, {5, 1}, 6)).g.graph(),
                       fold_scale_into_weights)
                .second,
            0);
  EXPECT_EQ(
      apply_pass(scaled_linear("Mul", Tensor::from_float({0.5f}, true), false, "gelu").g.graph(),
                 fold_scale_into_weights)
          .second,
      0);
  {  // the Linear output has another reader
    ScaledLinear s = scaled_linear("Mul", Tensor::from_float({0.5f}, true));
    s.g.output(s.linear_out);
    EXPECT_EQ(apply_pass(s.g.graph(), fold_scale_into_weights).second, 0);
  }
  {  // a computed scale
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, 5, kK});
    ValueId s = g.input("s", DType::kFloat32, {kN});
    ValueId y = g.op("Linear", {x, g.constant("w", random_tensor(DType::kFloat32, {kK, kN}, 2))},
                     {}, "vitrt");
    g.output(g.op("Mul", {y, s}));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fold_scale_into_weights).second, 0);
  }
}

}  // namespace
}  // namespace vitrt
