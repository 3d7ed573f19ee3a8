// fold_constants: constant subgraphs, static shape values and symbolic Reshape targets; large
// generated tensors and unresolvable targets stay computed.
#include "cpu/cpu_kernel.h"
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

ValueId ints(TestGraph& g, const std::string& name, std::vector<int64_t> v, bool scalar = false) {
  return g.constant(g.graph().unique_value_name(name), Tensor::from_int64(v, scalar));
}

// Shape(x)[index] as a 1-element int64 tensor, the way TorchScript exports x.size(index).
ValueId dim_of(TestGraph& g, ValueId x, int64_t index) {
  ValueId shape = g.op("Shape", {x});
  ValueId d = g.op("Gather", {shape, ints(g, "i" + std::to_string(index), {index}, true)});
  return g.op("Unsqueeze", {d, ints(g, "axes0", {0})});
}

// The constant Reshape target of the graph's only Reshape, or nullopt when it is computed.
std::optional<std::vector<int64_t>> reshape_target(const Graph& graph) {
  for (const Node& n : graph.nodes) {
    if (!n.dead && n.op_type == "Reshape") return int_constant(graph, n.inputs[1]);
  }
  return std::nullopt;
}

TEST(FoldConstants, RunsNodesWhoseInputsAreConstants) {
  // A weight stored transposed, as some exports do: W^T is computed once at build time.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 4});
  Attributes perm;
  perm.set_ints("perm", {1, 0});
  ValueId w = g.op("Transpose", {g.constant("w", random_tensor(DType::kFloat32, {6, 4}, 1))}, perm);
  ValueId two = g.constant("two", Tensor::from_float({2.0f}, true));
  g.output(g.op("MatMul", {x, g.op("Mul", {w, two})}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 2);
  EXPECT_EQ(count_ops(g.graph(), "Transpose"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Mul"), 0);
  const Node* mm = producer_of(g.graph(), g.graph().outputs[0]);
  ASSERT_NE(mm, nullptr);
  EXPECT_TRUE(g.graph().values[mm->inputs[1]].is_constant());
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {3, 4}, 2)});
}

TEST(FoldConstants, TurnsStaticShapeValuesIntoConstants) {
  // Reshape(x, [-1] ++ Shape(x)[1:]) with the trailing dims static: the target is constant.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 6, 4});
  ValueId tail = g.op("Slice", {g.op("Shape", {x}), ints(g, "starts", {1}), ints(g, "ends", {3})});
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target = g.op("Concat", {ints(g, "minus1", {-1}), tail}, axis0);
  g.output(g.op("Reshape", {x, target}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(reshape_target(g.graph()), (std::vector<int64_t>{-1, 6, 4}));
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Shape"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Slice"), 0);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 6, 4}, 3)});
}

// x [batch, 12, 8] reshaped to [batch, 12, 2, 4] through the exporters' shape chain.
TestGraph split_heads_graph(int64_t allowzero) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 12, 8});
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target = g.op(
      "Concat", {dim_of(g, x, 0), dim_of(g, x, 1), ints(g, "h", {2}), ints(g, "d", {4})}, axis0);
  Attributes a;
  a.set_int("allowzero", allowzero);
  g.output(g.op("Relu", {g.op("Reshape", {x, target}, a)}));
  return g;
}

TEST(FoldConstants, GivesSymbolicReshapeTargetsACopyDim) {
  TestGraph g = split_heads_graph(0);
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  // The batch dim is copied from the input (0); 12 comes from a static dim of the shape.
  EXPECT_EQ(reshape_target(g.graph()), (std::vector<int64_t>{0, 12, 2, 4}));
  EXPECT_TRUE(r.logged("[batch, 12, 2, 4]"));
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Shape"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Concat"), 0);
  for (int64_t batch : {1, 3}) {
    expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {batch, 12, 8}, 4)});
  }
}

TEST(FoldConstants, CopiesDimsUnderAllowzeroWhenTheTargetHasNoZero) {
  // allowzero=1 changes only what a 0 in the target means; this target has none, so the folded
  // one copies batch with 0 and the node drops allowzero.
  TestGraph g = split_heads_graph(1);
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(reshape_target(g.graph()), (std::vector<int64_t>{0, 12, 2, 4}));
  for (const Node& n : g.graph().nodes) {
    if (!n.dead && n.op_type == "Reshape") {
      EXPECT_FALSE(n.attrs.has("allowzero"));
    }
  }
  for (int64_t batch : {1, 2}) {
    expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {batch, 12, 8}, 5)});
  }
}

TEST(FoldConstants, FoldsTwoSymbolicDimsUnderAllowzero) {
  // The dynamo exporter's view (allowzero=1) of x [b, s, 8] to [b, s, 2, 4], with the token count
  // symbolic too (dynamic image size or sequence length): both are copied.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("b"), Dim::symbol("s"), 8});
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target = g.op(
      "Concat", {dim_of(g, x, 0), dim_of(g, x, 1), ints(g, "h", {2}), ints(g, "d", {4})}, axis0);
  Attributes a;
  a.set_int("allowzero", 1);
  g.output(g.op("Reshape", {x, target}, a));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(reshape_target(g.graph()), (std::vector<int64_t>{0, 0, 2, 4}));
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{1, 5, 8}, {3, 2, 8}}) {
    expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, shape, 6)});
  }
}

TEST(FoldConstants, KeepsAllowzeroTargetWithAZeroSizedDim) {
  // x [b, 0, 8] -> [b, 0, 8] with allowzero=1: the 0 is a size, so the target cannot copy b with
  // a 0, and -1 is not allowed beside a 0 under allowzero.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("b"), 0, 8});
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target =
      g.op("Concat", {dim_of(g, x, 0), ints(g, "zero", {0}), ints(g, "c", {8})}, axis0);
  Attributes a;
  a.set_int("allowzero", 1);
  g.output(g.op("Reshape", {x, target}, a));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(reshape_target(g.graph()), std::nullopt);
  EXPECT_TRUE(r.logged("zero-sized dim"));
}

TEST(FoldConstants, UsesInferredStaticDimsToFreeTheInferredEntry) {
  // x [6*batch, 8] -> Reshape(x, [x.size(0) / 6, -1, 4, 2]): batch is not x's dim 0, so it
  // needs the -1, and the target's own -1 is the 6 that shape inference worked out.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim(6) * kBatch, 8});
  ValueId rows = g.op("Gather", {g.op("Shape", {x}), ints(g, "i", {0}, true)});
  ValueId batch = g.op("Div", {rows, ints(g, "six", {6}, true)});
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target = g.op("Concat",
                        {g.op("Unsqueeze", {batch, ints(g, "axes", {0})}), ints(g, "m", {-1}),
                         ints(g, "four", {4}), ints(g, "two", {2})},
                        axis0);
  g.output(g.op("Reshape", {x, target}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(reshape_target(g.graph()), (std::vector<int64_t>{-1, 6, 4, 2}));
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {12, 8}, 8)});
}

TEST(FoldConstants, KeepsTargetWithTwoDimsItCannotExpress) {
  // [b, s, 8] -> [s, b, 8]: neither symbolic dim is the input's dim at its position, and only
  // one may be -1.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("b"), Dim::symbol("s"), 8});
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target = g.op("Concat", {dim_of(g, x, 1), dim_of(g, x, 0), ints(g, "c", {8})}, axis0);
  g.output(g.op("Reshape", {x, target}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(reshape_target(g.graph()), std::nullopt);
  EXPECT_TRUE(r.logged("stays computed"));
  EXPECT_EQ(count_ops(g.graph(), "Concat"), 1);
}

TEST(FoldConstants, DoesNotMaterialiseLargeGeneratedTensors) {
  // ConstantOfShape([512, 512]) would put a 1 MiB constant in the plan for 16 bytes of input.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {512, 512});
  Attributes fill;
  fill.set_tensor("value", Tensor::from_float({1.0f}));
  ValueId ones = g.op("ConstantOfShape", {ints(g, "shape", {512, 512})}, fill);
  g.output(g.op("Add", {x, ones}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "ConstantOfShape"), 1);
  EXPECT_TRUE(r.logged("262144 elements"));
}

TEST(FoldConstants, FoldsLargeOutputsNoLargerThanTheirInputs) {
  // Transposing a 512x256 weight grows nothing, so it folds despite its size.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 512});
  Attributes perm;
  perm.set_ints("perm", {1, 0});
  ValueId w =
      g.op("Transpose", {g.constant("w", random_tensor(DType::kFloat32, {256, 512}, 6))}, perm);
  g.output(g.op("MatMul", {x, w}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(fold_constants, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(count_ops(g.graph(), "Transpose"), 0);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 512}, 7)});
}

// A Conv weight stored as int8 codes behind DequantizeLinear (ONNX Runtime's quantize_static,
// ModelOpt): ViT-B/16's patch embedding is 768x3x16x16 codes, 4x the bytes once dequantized, and
// folds anyway (the CUDA backend and fuse_patch_embedding need a constant weight). The same
// DequantizeLinear feeding an Add stays computed.
TEST(FoldConstants, DequantizesLargeConvWeightsButNotOtherTensors) {
  for (const bool conv : {true, false}) {
    SCOPED_TRACE(conv ? "Conv weight" : "Add operand");
    TestGraph g;
    const std::vector<int64_t> wshape =
        conv ? std::vector<int64_t>{96, 3, 16, 16} : std::vector<int64_t>{1, 96, 3, 256};
    Tensor codes = Tensor::empty(DType::kInt8, wshape);
    for (int64_t i = 0; i < codes.numel(); ++i) {
      codes.data<int8_t>()[i] = static_cast<int8_t>((i * 37) % 255 - 127);
    }
    ValueId w = g.op("DequantizeLinear", {g.constant("w_q", codes),
                                          g.constant("w_s", Tensor::from_float({0.02f}, true))});
    ValueId x = g.input("x", DType::kFloat32,
                        conv ? std::vector<Dim>{1, 3, 32, 32} : std::vector<Dim>{1, 96, 3, 256});
    Attributes strides;
    strides.set_ints("strides", {16, 16});
    g.output(conv ? g.op("Conv", {x, w}, strides) : g.op("Add", {x, w}));
    ASSERT_TRUE(g.infer().ok());
    const Graph before = g.graph();

    auto r = run_pass(fold_constants, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(count_ops(g.graph(), "DequantizeLinear"), conv ? 0 : 1);
    if (!conv) {
      EXPECT_TRUE(r.logged("73728 elements"));
    }
    expect_same_outputs(
        before, g.graph(),
        {random_tensor(
            DType::kFloat32,
            conv ? std::vector<int64_t>{1, 3, 32, 32} : std::vector<int64_t>{1, 96, 3, 256}, 8)});
  }
}

// run_cpu_node, the one build-time evaluation folding and ValueEvaluator share: Add's sum
// against hand-computed values; an op without a CPU kernel fails kNotFound, naming the node.
TEST(RunCpuNode, RunsTheKernelOrSaysThereIsNone) {
  TestGraph g;
  ValueId a = g.constant("a", Tensor::from_float({1.5f, -2.0f, 4.0f}));
  ValueId b = g.constant("b", Tensor::from_float({0.25f, 3.0f, -4.0f}));
  g.output(g.op("Add", {a, b}));
  const Graph& graph = g.graph();
  const Node& add = graph.nodes[0];
  Result<std::vector<Tensor>> sum = run_cpu_node(
      graph, add, {&graph.values[add.inputs[0]].constant, &graph.values[add.inputs[1]].constant});
  ASSERT_TRUE(sum.ok()) << sum.status().to_string();
  ASSERT_EQ(sum->size(), 1u);
  const float* y = (*sum)[0].data<float>();
  EXPECT_EQ(y[0], 1.75f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], 0.0f);

  Node unknown = add;
  unknown.op_type = "NoSuchOp";
  unknown.name = "mystery";
  Result<std::vector<Tensor>> none = run_cpu_node(graph, unknown, {nullptr, nullptr});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("mystery"), std::string::npos) << none.status().message();
}

}  // namespace
}  // namespace vitrt
