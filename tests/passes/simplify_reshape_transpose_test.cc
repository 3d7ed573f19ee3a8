// simplify_reshape_transpose: no-op views go, view chains and transpose chains collapse; the
// intermediate stays when something else reads it.
#include "passes/graph_rewrite.h"
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;
using testing::run_pass;
using testing::TestGraph;

const Dim kBatch = Dim::symbol("batch");

ValueId ints(TestGraph& g, std::vector<int64_t> v) {
  return g.constant(g.graph().unique_value_name("c"), Tensor::from_int64(v));
}

ValueId transpose(TestGraph& g, ValueId x, std::vector<int64_t> perm) {
  Attributes a;
  a.set_ints("perm", std::move(perm));
  return g.op("Transpose", {x}, a);
}

TEST(SimplifyReshapeTranspose, CollapsesReshapeChainUnderSymbolicBatch) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 6, 4});
  ValueId flat = g.op("Reshape", {x, ints(g, {0, 24})});
  g.output(g.op("Reshape", {flat, ints(g, {0, 3, 8})}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(simplify_reshape_transpose, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  const Node* last = producer_of(g.graph(), g.graph().outputs[0]);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->inputs[0], x);
  EXPECT_EQ(int_constant(g.graph(), last->inputs[1]), (std::vector<int64_t>{0, 3, 8}));
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Reshape"), 1);
  for (int64_t batch : {1, 4}) {
    expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {batch, 6, 4}, 1)});
  }
}

TEST(SimplifyReshapeTranspose, RemovesCancellingUnsqueezeSqueezeAndNoOpReshape) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 5});
  ValueId u = g.op("Unsqueeze", {x, ints(g, {1})});
  ValueId s = g.op("Squeeze", {u, ints(g, {1})});
  g.output(g.op("Reshape", {g.op("Relu", {s}), ints(g, {-1, 5})}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(simplify_reshape_transpose, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Unsqueeze") + count_ops(g.graph(), "Squeeze") +
                count_ops(g.graph(), "Reshape"),
            0);
  EXPECT_EQ(g.graph().values[g.graph().outputs[0]].name, before.values[before.outputs[0]].name);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {3, 5}, 2)});
}

TEST(SimplifyReshapeTranspose, ComposesTransposesAndDropsIdentityPerms) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 3, 4, 5});
  // A head split and its inverse cancel; two rotations compose into one.
  ValueId back = transpose(g, transpose(g, x, {0, 2, 1, 3}), {0, 2, 1, 3});
  ValueId rotated = transpose(g, transpose(g, back, {1, 2, 3, 0}), {3, 0, 2, 1});
  g.output(rotated);
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(simplify_reshape_transpose, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Transpose"), 1);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 3, 4, 5}, 3)});
}

TEST(SimplifyReshapeTranspose, KeepsIntermediateThatIsAGraphOutputOrReadElsewhere) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 6, 4});
  ValueId flat = g.op("Reshape", {x, ints(g, {0, 24})});
  ValueId t1 = transpose(g, x, {0, 2, 1});
  g.output(flat);  // the intermediate is a graph output
  g.output(g.op("Reshape", {flat, ints(g, {0, 2, 12})}));
  g.output(g.op("Relu", {t1}));  // the inner Transpose has another reader
  g.output(transpose(g, t1, {1, 0, 2}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(simplify_reshape_transpose, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  // Both inner nodes survive for their other readers; the outer ones read x directly.
  EXPECT_EQ(count_ops(g.graph(), "Reshape"), 2);
  EXPECT_EQ(count_ops(g.graph(), "Transpose"), 2);
  for (ValueId out : {g.graph().outputs[1], g.graph().outputs[3]}) {
    const Node* outer = producer_of(g.graph(), out);
    ASSERT_NE(outer, nullptr);
    EXPECT_EQ(outer->inputs[0], x) << outer->describe();
  }
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 6, 4}, 4)});
}

TEST(SimplifyReshapeTranspose, KeepsChainWhoseShapeNeedsTwoInferredDims) {
  // [b, s, 8] -> [b*s, 8] -> [s, b, 8]: from x, both symbolic dims move, and a target may infer
  // only one.
  TestGraph g;
  const Dim b = Dim::symbol("b");
  const Dim s = Dim::symbol("s");
  ValueId x = g.input("x", DType::kFloat32, {b, s, 8});
  ValueId flat = g.op("Reshape", {x, ints(g, {-1, 8})});
  ValueId shape = g.op("Shape", {x});
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target = g.op("Concat",
                        {g.op("Slice", {shape, ints(g, {1}), ints(g, {2})}),
                         g.op("Slice", {shape, ints(g, {0}), ints(g, {1})}), ints(g, {8})},
                        axis0);
  g.output(g.op("Reshape", {flat, target}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(simplify_reshape_transpose, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("not merged"));
  const Node* last = producer_of(g.graph(), g.graph().outputs[0]);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->inputs[0], flat);
}

}  // namespace
}  // namespace vitrt
