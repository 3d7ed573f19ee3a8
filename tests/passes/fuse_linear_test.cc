// fuse_linear: MatMul (+ bias Add) and Gemm with constant weights -> vitrt.Linear, checked
// against the graph before the pass; look-alikes must stay as they are.
#include <filesystem>

#include "passes/linear_pass_testing.h"
#include "runtime/build_pipeline.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::expect_outputs_close;
using testing::random_tensor;
using testing::TestGraph;

constexpr int64_t kK = 12, kN = 7;

SymShape x_shape() {
  return {Dim::symbol("batch"), 5, kK};
}
Tensor x_value() {
  return random_tensor(DType::kFloat32, {3, 5, kK}, 1);
}
Tensor weights() {
  return random_tensor(DType::kFloat32, {kK, kN}, 2);
}

// MatMul(x, W) followed by Add with `bias` (operand order per `bias_first`).
TestGraph matmul_add(const Tensor& bias, bool bias_first) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, x_shape());
  ValueId y = g.op("MatMul", {x, g.constant("w", weights())});
  ValueId b = g.constant("b", bias);
  g.output(g.op("Add", bias_first ? std::vector<ValueId>{b, y} : std::vector<ValueId>{y, b}));
  EXPECT_TRUE(g.infer().ok());
  return g;
}

TEST(FuseLinear, MatMulAndBiasAddBecomeOneLinear) {
  for (bool bias_first : {false, true}) {
    for (std::vector<int64_t> bias_shape : {std::vector<int64_t>{kN}, {1, 1, kN}, {1, kN}}) {
      SCOPED_TRACE(shape_to_string(bias_shape));
      TestGraph g = matmul_add(random_tensor(DType::kFloat32, bias_shape, 3), bias_first);
      auto [fused, applied] = apply_pass(g.graph(), fuse_linear);
      EXPECT_EQ(applied, 1);
      EXPECT_EQ(count_ops(fused, "Linear"), 1);
      EXPECT_EQ(count_ops(fused, "Add"), 0);
      EXPECT_EQ(count_ops(fused, "MatMul"), 0);
      const Node* linear = testing::find_op(fused, "Linear");
      ASSERT_NE(linear, nullptr);
      EXPECT_EQ(linear->num_inputs(), 3);
      // The model's output keeps its name.
      EXPECT_EQ(fused.values[fused.outputs[0]].name, g.graph().values[g.graph().outputs[0]].name);
      expect_outputs_close(g.graph(), fused, {x_value()}, 1e-6);
    }
  }
}

TEST(FuseLinear, MatMulWithoutBiasAndRank2Input) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("rows"), kK});
  g.output(g.op("Relu", {g.op("MatMul", {x, g.constant("w", weights())})}));
  ASSERT_TRUE(g.infer().ok());
  auto [fused, applied] = apply_pass(g.graph(), fuse_linear);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(fused, "Linear"), 1);
  EXPECT_EQ(testing::find_op(fused, "Linear")->num_inputs(), 2);
  expect_outputs_close(g.graph(), fused, {random_tensor(DType::kFloat32, {9, kK}, 4)}, 1e-6);
}

TEST(FuseLinear, BiasAddStaysWhenTheProductHasAnotherReader) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, x_shape());
  ValueId y = g.op("MatMul", {x, g.constant("w", weights())});
  g.output(g.op("Add", {y, g.constant("b", random_tensor(DType::kFloat32, {kN}, 3))}));
  g.output(g.op("Relu", {y}));
  ASSERT_TRUE(g.infer().ok());
  auto [fused, applied] = apply_pass(g.graph(), fuse_linear);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(fused, "Linear"), 1);
  EXPECT_EQ(count_ops(fused, "Add"), 1);
  EXPECT_EQ(testing::find_op(fused, "Linear")->num_inputs(), 2);
  expect_outputs_close(g.graph(), fused, {x_value()}, 1e-6);
}

TEST(FuseLinear, AddThatIsNotARowBiasStays) {
  // Per-row constants, a bias of higher rank than the product (it would broadcast the output
  // to rank 4), and a residual (non-constant) operand are not biases.
  for (std::vector<int64_t> shape : {std::vector<int64_t>{5, kN}, {1, 1, 1, kN}, {5, 1}}) {
    SCOPED_TRACE(shape_to_string(shape));
    TestGraph g = matmul_add(random_tensor(DType::kFloat32, shape, 3), false);
    auto [fused, applied] = apply_pass(g.graph(), fuse_linear);
    EXPECT_EQ(count_ops(fused, "Add"), 1);
    EXPECT_EQ(testing::find_op(fused, "Linear")->num_inputs(), 2);
    expect_outputs_close(g.graph(), fused, {x_value()}, 1e-6);
  }
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, x_shape());
  ValueId r = g.input("r", DType::kFloat32, {Dim::symbol("batch"), 5, kN});
  g.output(g.op("Add", {g.op("MatMul", {x, g.constant("w", weights())}), r}));
  ASSERT_TRUE(g.infer().ok());
  auto [fused, applied] = apply_pass(g.graph(), fuse_linear);
  EXPECT_EQ(count_ops(fused, "Add"), 1);
  EXPECT_EQ(testing::find_op(fused, "Linear")->num_inputs(), 2);
}

TEST(FuseLinear, ProductsWithoutConstantMatrixWeightsStay) {
  {  // both operands computed (attention scores)
    TestGraph g;
    ValueId a = g.input("a", DType::kFloat32, {2, 5, kK});
    ValueId b = g.input("b", DType::kFloat32, {2, kK, kN});
    g.output(g.op("MatMul", {a, b}));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fuse_linear).second, 0);
  }
  {  // batched constant weights [2, K, N]
    TestGraph g;
    ValueId a = g.input("a", DType::kFloat32, {2, 5, kK});
    g.output(g.op("MatMul", {a, g.constant("w", random_tensor(DType::kFloat32, {2, kK, kN}, 2))}));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fuse_linear).second, 0);
  }
  {  // a constant left operand
    TestGraph g;
    ValueId b = g.input("b", DType::kFloat32, {kK, kN});
    g.output(g.op("MatMul", {g.constant("a", random_tensor(DType::kFloat32, {5, kK}, 2)), b}));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fuse_linear).second, 0);
  }
}

TestGraph gemm(Attributes attrs, std::optional<Tensor> c, bool trans_b) {
  TestGraph g;
  ValueId a = g.input("a", DType::kFloat32, {Dim::symbol("rows"), kK});
  std::vector<ValueId> in = {
      a, g.constant(
             "b", random_tensor(
                      DType::kFloat32,
                      trans_b ? std::vector<int64_t>{kN, kK} : std::vector<int64_t>{kK, kN}, 5))};
  if (c) in.push_back(g.constant("c", *c));
  g.output(g.op("Gemm", in, attrs));
  EXPECT_TRUE(g.infer().ok());
  return g;
}

TEST(FuseLinear, GemmWithConstantBBecomesLinear) {
  struct Case {
    float alpha, beta;
    bool trans_b;
    std::vector<int64_t> c_shape;  // empty: no C
  };
  for (const Case& c : {Case{1.0f, 1.0f, true, {kN}}, Case{2.0f, 0.5f, false, {1, kN}},
                        Case{0.25f, 1.0f, true, {}}, Case{1.0f, 3.0f, false, {1}}}) {
    SCOPED_TRACE(c.alpha);
    Attributes attrs;
    attrs.set_float("alpha", c.alpha);
    attrs.set_float("beta", c.beta);
    attrs.set_int("transB", c.trans_b ? 1 : 0);
    std::optional<Tensor> bias;
    if (!c.c_shape.empty()) bias = random_tensor(DType::kFloat32, c.c_shape, 6);
    TestGraph g = gemm(attrs, bias, c.trans_b);
    auto [fused, applied] = apply_pass(g.graph(), fuse_linear);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(fused, "Gemm"), 0);
    EXPECT_EQ(count_ops(fused, "Linear"), 1);
    expect_outputs_close(g.graph(), fused, {random_tensor(DType::kFloat32, {6, kK}, 7)}, 1e-6);
  }
}

TEST(FuseLinear, GemmThatIsNotExactlyALinearStays) {
  Attributes odd_alpha;  // 0.3 * (A B) rounds differently from A (0.3 B)
  odd_alpha.set_float("alpha", 0.3f);
  Attributes trans_a;
  trans_a.set_int("transA", 1);
  {
    TestGraph g = gemm(odd_alpha, std::nullopt, false);
    std::string log;
    PassContext ctx(true, [&](const std::string& line) { log += line + "\n"; });
    ASSERT_TRUE(fuse_linear(g.graph(), ctx).ok());
    EXPECT_EQ(count_ops(g.graph(), "Linear"), 0);
    // The verbose log says which node was declined and why.
    EXPECT_NE(log.find("Gemm_"), std::string::npos) << log;
    EXPECT_NE(log.find("alpha=0.3 is not a power of two"), std::string::npos) << log;
  }
  {
    TestGraph g;
    ValueId a = g.input("a", DType::kFloat32, {kK, 4});
    g.output(g.op("Gemm", {a, g.constant("b", weights())}, trans_a));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fuse_linear).second, 0);
  }
  {  // C of [M, N] is not a bias
    TestGraph g;
    ValueId a = g.input("a", DType::kFloat32, {4, kK});
    g.output(g.op("Gemm", {a, g.constant("b", weights()),
                           g.constant("c", random_tensor(DType::kFloat32, {4, kN}, 3))}));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fuse_linear).second, 0);
  }
}

// On real exports (both exporters, HF and timm), after the whole optimizer no MatMul or Gemm
// with constant weights is left: each became a vitrt.Linear (the golden tests check the
// numbers against PyTorch).
TEST(FuseLinear, NoConstantWeightProductIsLeftInGoldenFixtures) {
  namespace fs = std::filesystem;
  for (const char* name : {"timm_vit_tiny_ts17", "timm_vit_tiny_dynamo", "hf_vit_eager_ts13",
                           "hf_clip_text_sdpa_dynamo"}) {
    SCOPED_TRACE(name);
    const fs::path model = fs::path(VITRT_SOURCE_DIR) / "tests/golden" / name / "model.onnx";
    BuildSummary summary;
    Result<Graph> graph = import_and_prepare(model.string(), BuildOptions{}, &summary);
    ASSERT_TRUE(graph.ok()) << graph.status().to_string();
    EXPECT_GE(count_ops(*graph, "Linear"), 4);
    for (const Node& n : graph->nodes) {
      if (n.dead || (n.op_type != "MatMul" && n.op_type != "Gemm")) continue;
      const Value& w = graph->values[n.inputs[1]];
      EXPECT_FALSE(w.is_constant() && w.constant.rank() == 2)
          << n.describe() << " kept weights " << w.constant.describe();
    }
  }
}

}  // namespace
}  // namespace vitrt
