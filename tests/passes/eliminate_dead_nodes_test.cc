// eliminate_dead_nodes: nodes whose results reach no graph output go; everything else stays.
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;
using testing::run_pass;
using testing::TestGraph;

TEST(EliminateDeadNodes, RemovesUnreadChainsInOnePass) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 4});
  g.op("Exp", {g.op("Sigmoid", {g.op("Relu", {x})})});  // read by nothing
  g.output(g.op("Tanh", {x}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(eliminate_dead_nodes, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 3);
  EXPECT_EQ(
      count_ops(g.graph(), "Relu") + count_ops(g.graph(), "Sigmoid") + count_ops(g.graph(), "Exp"),
      0);
  EXPECT_EQ(count_ops(g.graph(), "Tanh"), 1);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 4}, 1)});
}

TEST(EliminateDeadNodes, KeepsNodesWithOneReadOutputAndGraphOutputs) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {6, 4});
  Attributes axis0;
  axis0.set_int("axis", 0);
  auto halves = g.op_multi("Split", {x, g.constant("split", Tensor::from_int64({3, 3}))}, 2, axis0);
  ValueId relu = g.op("Relu", {halves[1]});  // only the second half is read
  g.output(relu);
  g.output(g.op("Neg", {relu}));  // relu is both a graph output and read by a node
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(eliminate_dead_nodes, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Split"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Relu"), 1);
}

}  // namespace
}  // namespace vitrt
