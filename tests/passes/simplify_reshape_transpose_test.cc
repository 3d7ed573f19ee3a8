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

// k [batch, 3, 7, 4] -> Reshape [3*batch, 7, 4] -> Transpose(perm) -> Reshape `split`: the
// way dynamo exports k.transpose(-2, -1) on attention heads.
TestGraph merged_transpose_graph(std::vector<int64_t> perm, std::vector<int64_t> split) {
  TestGraph g;
  ValueId k = g.input("k", DType::kFloat32, {kBatch, 3, 7, 4});
  ValueId merged = g.op("Reshape", {k, ints(g, {-1, 7, 4})});
  g.output(g.op("Reshape", {transpose(g, merged, std::move(perm)), ints(g, std::move(split))}));
  return g;
}

TEST(SimplifyReshapeTranspose, TurnsReshapeTransposeReshapeIntoOneTranspose) {
  TestGraph g = merged_transpose_graph({0, 2, 1}, {-1, 3, 4, 7});
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(simplify_reshape_transpose, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Reshape"), 0);
  const Node* t = producer_of(g.graph(), g.graph().outputs[0]);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->op_type, "Transpose");
  EXPECT_EQ(t->attrs.get_ints("perm", {}).value(), (std::vector<int64_t>{0, 1, 3, 2}));
  for (int64_t batch : {1, 2}) {
    expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {batch, 3, 7, 4}, 8)});
  }
}

TEST(SimplifyReshapeTranspose, KeepsReshapeWhenTheMergedDimSplitsDifferently) {
  // Split back as [3, batch, ...]: a Transpose of k and a Reshape.
  TestGraph g = merged_transpose_graph({0, 2, 1}, {3, -1, 4, 7});
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(simplify_reshape_transpose, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Reshape"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Transpose"), 1);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 3, 7, 4}, 9)});
}

TEST(SimplifyReshapeTranspose, KeepsTransposeThatMovesTheMergedDim) {
  TestGraph g = merged_transpose_graph({1, 0, 2}, {7, -1, 3, 4});
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(simplify_reshape_transpose, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Reshape"), 2);
}

// scores [batch, 2, 5, 5] + Where(Expand(keep [1, 1, 5, 1], [batch, 1, 5, 5]), 0, -1e9): the
// attention mask the dynamo exporter writes for HF eager attention.
TestGraph expanded_mask_graph(bool scores_from_expand) {
  TestGraph g;
  ValueId scores = g.input("scores", DType::kFloat32, {kBatch, 2, 5, 5});
  Tensor keep = Tensor::zeros(DType::kBool, {1, 1, 5, 1});
  for (int i = 0; i < 5; ++i) keep.data<bool>()[i] = i != 3;
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target = g.op("Concat",
                        {g.op("Shape", {scores},
                              [] {
                                Attributes a;
                                a.set_int("end", 1);
                                return a;
                              }()),
                         ints(g, {1, 5, 5})},
                        axis0);
  ValueId mask = g.op("Expand", {g.constant("keep", keep), target});
  ValueId additive = g.op("Where", {mask, g.constant("zero", Tensor::from_float({0.0f}, true)),
                                    g.constant("neg", Tensor::from_float({-1e9f}, true))});
  if (scores_from_expand) {
    // Look-alikes: an Expand that makes the batch dim of a sum, and a mask read by an op that
    // does not broadcast.
    ValueId row = g.input("row", DType::kFloat32, {1, 1, 5, 5});
    g.output(g.op("Add",
                  {g.op("Expand", {row, target}), g.constant("bias", Tensor::from_float({0.5f}))}));
    g.output(g.op("Sigmoid", {additive}));
  } else {
    g.output(g.op("Add", {scores, additive}));
  }
  return g;
}

TEST(SimplifyReshapeTranspose, MovesExpandOfConstantMaskIntoTheBroadcast) {
  TestGraph g = expanded_mask_graph(false);
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  // As in the pipeline: the Where moves before the Expand, folds, and the Add broadcasts it.
  for (PassFn pass : {simplify_reshape_transpose, fold_constants, simplify_reshape_transpose,
                      eliminate_dead_nodes}) {
    auto r = run_pass(pass, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  }
  EXPECT_EQ(count_ops(g.graph(), "Expand"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Where"), 0);
  const Node* add = producer_of(g.graph(), g.graph().outputs[0]);
  ASSERT_NE(add, nullptr);
  EXPECT_TRUE(g.graph().values[add->inputs[1]].is_constant());
  for (int64_t batch : {1, 3}) {
    expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {batch, 2, 5, 5}, 5)});
  }
}

TEST(SimplifyReshapeTranspose, KeepsExpandThatMakesTheOutputShape) {
  TestGraph g = expanded_mask_graph(true);
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  for (PassFn pass : {simplify_reshape_transpose, fold_constants, simplify_reshape_transpose,
                      eliminate_dead_nodes}) {
    auto r = run_pass(pass, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  }
  // The Expand of the graph input stays; the mask's Expand is pushed through Where but not
  // through Sigmoid (not a broadcasting op), so it stays as well.
  EXPECT_EQ(count_ops(g.graph(), "Expand"), 2);
  expect_same_outputs(before, g.graph(),
                      {random_tensor(DType::kFloat32, {2, 2, 5, 5}, 6),
                       random_tensor(DType::kFloat32, {1, 1, 5, 5}, 7)});
}

}  // namespace
}  // namespace vitrt
