// eliminate_duplicate_nodes: equal constants and equal nodes merge; differing look-alikes stay.
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;
using testing::run_pass;
using testing::TestGraph;

const Dim kBatch = Dim::symbol("batch");

TEST(EliminateDuplicateNodes, MergesRepeatedShapeChainsAndConstants) {
  // Two layers each compute x.size(1) with their own copy of the index constant.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 6});
  ValueId y = x;
  for (int layer = 0; layer < 2; ++layer) {
    const std::string i = std::to_string(layer);
    ValueId index = g.constant("index" + i, Tensor::from_int64({1}, true));
    ValueId n = g.op("Gather", {g.op("Shape", {x}), index});
    ValueId axes = g.constant("axes" + i, Tensor::from_int64({0}));
    Attributes axis0;
    axis0.set_int("axis", 0);
    ValueId target =
        g.op("Concat",
             {g.constant("m" + i, Tensor::from_int64({-1})), g.op("Unsqueeze", {n, axes})}, axis0);
    y = g.op("Reshape", {g.op("Relu", {y}), target});
  }
  g.output(y);
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(eliminate_duplicate_nodes, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  // 3 constants and the Shape -> Gather -> Unsqueeze -> Concat chain of the second layer.
  EXPECT_EQ(r.applied, 7);
  EXPECT_EQ(count_ops(g.graph(), "Shape"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Concat"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Relu"), 2);  // different inputs: both stay
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {3, 6}, 1)});
}

TEST(EliminateDuplicateNodes, KeepsNodesWithDifferentAttributes) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 3, 4});
  Attributes a1, a2;
  a1.set_int("axis", 1);
  a2.set_int("axis", 2);
  g.output(g.op("Add", {g.op("Softmax", {x}, a1), g.op("Softmax", {x}, a2)}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(eliminate_duplicate_nodes, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Softmax"), 2);
}

TEST(EliminateDuplicateNodes, KeepsConstantsThatDifferInDtypeOrShape) {
  TestGraph g;
  ValueId x = g.input("x", DType::kInt64, {4});
  ValueId a = g.constant("a", Tensor::from_int64({1, 2, 3, 4}));
  Tensor b = Tensor::from_int64({1, 2, 3, 4}).reshaped({2, 2}).value();  // same bytes
  ValueId f = g.constant("f", Tensor::from_float({1.0f}));
  ValueId g1 = g.constant("g", Tensor::from_float({1.0f}, true));  // scalar, not [1]
  g.output(g.op("Add", {x, a}));
  g.output(g.op("Mul", {g.constant("b", b), g.constant("b2", Tensor::from_int64({1, 1}))}));
  g.output(g.op("Sub", {f, g1}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(eliminate_duplicate_nodes, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
}

TEST(EliminateDuplicateNodes, KeepsDuplicatesThatAreBothGraphOutputs) {
  // Merging would leave one value with two output names.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {3});
  g.output(g.op("Relu", {x}));
  g.output(g.op("Relu", {x}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(eliminate_duplicate_nodes, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(count_ops(g.graph(), "Relu"), 2);
}

}  // namespace
}  // namespace vitrt
