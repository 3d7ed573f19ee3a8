// ValueEvaluator: values computed from constants and shapes, with symbolic dims bound to
// concrete lengths (how fuse_attention checks a causal mask built from a dynamic sequence axis).
#include "passes/value_evaluator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// x [batch, seq] -> seq = Shape(x)[1] -> Range(0, seq) -> causal condition j <= i, [seq, seq].
struct CausalFromShape {
  TestGraph g;
  ValueId x = kNoValue;
  ValueId range = kNoValue;
  ValueId cond = kNoValue;
  ValueId mask = kNoValue;

  CausalFromShape() {
    x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim::symbol("seq")});
    auto scalar = [&](const char* name, int64_t v) {
      return g.constant(name, Tensor::from_int64({v}, /*as_scalar=*/true));
    };
    Attributes axis0;
    axis0.set_int("axis", 0);
    ValueId seq = g.op("Gather", {g.op("Shape", {x}), scalar("one", 1)}, axis0);
    range = g.op("Range", {scalar("start", 0), seq, scalar("delta", 1)});
    cond = g.op("LessOrEqual",
                {g.op("Unsqueeze", {range, g.constant("axis0", Tensor::from_int64({0}))}),
                 g.op("Unsqueeze", {range, g.constant("axis1", Tensor::from_int64({1}))})});
    mask = g.op(
        "Where",
        {cond, g.constant("zero", Tensor::from_float({0.0f}, true)),
         g.constant("ninf", Tensor::from_float({-std::numeric_limits<float>::infinity()}, true))});
    g.output(mask);
    EXPECT_TRUE(g.infer().ok());
  }
};

TEST(ValueEvaluator, RangeOfASymbolicLengthHasThatLength) {
  CausalFromShape c;
  EXPECT_EQ(sym_shape_to_string(c.g.graph().values[c.range].shape), "[seq]");
  EXPECT_EQ(sym_shape_to_string(c.g.graph().values[c.mask].shape), "[seq, seq]");
}

TEST(ValueEvaluator, ShapeComputationEvaluatesUnderBindings) {
  CausalFromShape c;
  // Unbound, the length is an input's: not evaluable.
  ValueEvaluator unbound(c.g.graph());
  EXPECT_FALSE(unbound.exact(c.mask).has_value());
  for (int64_t n : {1, 3, 6}) {
    ValueEvaluator bound(c.g.graph(), {{"seq", n}});
    std::optional<Tensor> m = bound.exact(c.mask);
    ASSERT_TRUE(m.has_value()) << n;
    ASSERT_EQ(m->shape(), (std::vector<int64_t>{n, n}));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const float v = m->data<float>()[i * n + j];
        if (j <= i) {
          EXPECT_EQ(v, 0.0f);
        } else {
          EXPECT_TRUE(std::isinf(v) && v < 0);
        }
      }
    }
  }
}

TEST(ValueEvaluator, BindingsDoNotMakeInputDataEvaluable) {
  CausalFromShape c;
  // The same mask plus the input's data: depends on more than shapes.
  ValueId with_data = c.g.op(
      "Add", {c.mask, c.g.op("Unsqueeze", {c.x, c.g.constant("ax", Tensor::from_int64({0}))})});
  ASSERT_TRUE(c.g.infer().ok());
  ValueEvaluator bound(c.g.graph(), {{"seq", 4}, {"batch", 1}});
  EXPECT_TRUE(bound.exact(c.mask).has_value());
  EXPECT_FALSE(bound.exact(with_data).has_value());
  EXPECT_FALSE(bound.up_to_broadcast(with_data).has_value());
}

TEST(ValueEvaluator, UnboundSymbolsStayUnevaluable) {
  CausalFromShape c;
  ValueEvaluator other(c.g.graph(), {{"batch", 2}});
  EXPECT_FALSE(other.exact(c.mask).has_value());
}

}  // namespace
}  // namespace vitrt
