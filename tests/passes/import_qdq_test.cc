// import_qdq: QDQ-quantized MatMul/Gemm -> vitrt.QuantLinear. Fires on what ONNX Runtime's
// quantize_static writes (tests/data/qdq: uint8 asymmetric and int8 symmetric activations,
// MatMul and Gemm) with outputs matching ONNX Runtime's; declines look-alikes whose numbers
// QuantLinear cannot reproduce, leaving the float QDQ graph as it was.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/npy.h"
#include "onnx/onnx_import.h"
#include "passes/linear_pass_testing.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::expect_same_outputs;
using testing::find_op;
using testing::random_tensor;
using testing::TestGraph;

Tensor scalar(float v) {
  return Tensor::from_float({v}, true);
}
Tensor int8_scalar(int8_t v) {
  return testing::tensor_of<int8_t>(DType::kInt8, {}, {v});
}

// Deterministic int8 weights [rows, cols].
Tensor int8_weights(int64_t rows, int64_t cols, int seed) {
  std::vector<int8_t> w(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<int8_t>((i * 37 + seed * 11) % 255 - 127);
  return testing::tensor_of<int8_t>(DType::kInt8, {rows, cols}, w);
}

struct QdqMatmulSpec {
  float dq_scale = 0.02f;           // the activation DequantizeLinear's scale (Q uses 0.02)
  int8_t weight_zero_point = 0;     // the weights' zero point
  int64_t weight_axis = 1;          // the axis of the per-channel weight scale
  bool quantize_activation = true;  // false: weight-only quantization
  bool float_bias = true;           // MatMul + Add(constant)
};

// x [batch, 3, 8] -> Q/DQ (int8, scale 0.02) -> MatMul(DQ(W_q [8, 5] per channel)) -> Add(b).
TestGraph qdq_matmul(const QdqMatmulSpec& spec) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(3), Dim(8)});
  ValueId a = x;
  if (spec.quantize_activation) {
    const ValueId q = g.op("QuantizeLinear",
                           {x, g.constant("s", scalar(0.02f)), g.constant("zp", int8_scalar(0))});
    a = g.op("DequantizeLinear",
             {q, g.constant("s_dq", scalar(spec.dq_scale)), g.constant("zp_dq", int8_scalar(0))});
  }
  const int64_t channels = spec.weight_axis == 1 ? 5 : 8;
  std::vector<float> scales(static_cast<size_t>(channels));
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = 0.001f * static_cast<float>(i + 1);
  Attributes axis;
  axis.set_int("axis", spec.weight_axis);
  const ValueId w =
      g.op("DequantizeLinear",
           {g.constant("w_q", int8_weights(8, 5, 1)), g.constant("w_s", Tensor::from_float(scales)),
            g.constant("w_zp", testing::tensor_of<int8_t>(
                                   DType::kInt8, {channels},
                                   std::vector<int8_t>(scales.size(), spec.weight_zero_point)))},
           axis);
  ValueId y = g.op("MatMul", {a, w});
  if (spec.float_bias) {
    y = g.op("Add", {y, g.constant("b", Tensor::from_float({0.1f, -0.2f, 0.3f, 0.f, 1.f}))});
  }
  g.output(y);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> inputs() {
  return {random_tensor(DType::kFloat32, {2, 3, 8}, 7, -2, 2)};
}

TEST(ImportQdq, FoldsMatMulWithBiasIntoQuantLinear) {
  TestGraph g = qdq_matmul({});
  auto [after, applied] = apply_pass(g.graph(), import_qdq);
  EXPECT_EQ(applied, 1);
  const Node* ql = find_op(after, "QuantLinear");
  ASSERT_NE(ql, nullptr);
  EXPECT_EQ(ql->domain, "vitrt");
  EXPECT_EQ(ql->num_inputs(), 4);  // x, W_q, w_scale, bias
  EXPECT_EQ(count_ops(after, "Add"), 0);
  EXPECT_EQ(*ql->attrs.get_int("input_qmin", 0), -128);
  EXPECT_EQ(*ql->attrs.get_float("input_scale", 0), 0.02f);
  // The same integers, one float rounding apart.
  testing::expect_outputs_close(g.graph(), after, inputs(), 1e-5);
}

// A deduplicated bias behind an Identity (TorchScript exports with equal biases; ModelOpt keeps
// it): not a constant when the product is imported, so the bias joins the QuantLinear in the
// clean-up's next round, after remove_identity.
TEST(ImportQdq, TakesABiasThatBecomesConstantLater) {
  TestGraph g = qdq_matmul({.float_bias = false});
  Graph& graph = g.graph();
  const ValueId product = graph.outputs[0];
  const ValueId bias =
      g.op("Identity", {g.constant("b", Tensor::from_float({0.1f, -0.2f, 0.3f, 0.f, 1.f}))});
  graph.outputs[0] = g.op("Add", {bias, product});
  ASSERT_TRUE(g.infer().ok());
  Graph after = graph;
  PassContext ctx(false, nullptr);
  ASSERT_TRUE(optimize_graph(after, ctx).ok());
  const Node* ql = find_op(after, "QuantLinear");
  ASSERT_NE(ql, nullptr);
  EXPECT_EQ(ql->num_inputs(), 4);
  EXPECT_EQ(count_ops(after, "Add"), 0);
  testing::expect_outputs_close(graph, after, inputs(), 1e-5);
}

// Look-alikes QuantLinear cannot reproduce: the pass declines with a reason and the graph is
// unchanged (same numbers, bit for bit).
TEST(ImportQdq, DeclinesLookAlikes) {
  struct Case {
    const char* what;
    QdqMatmulSpec spec;
    const char* reason;
  };
  const Case cases[] = {
      {"asymmetric weights", {.weight_zero_point = 3}, "zero point is not 0"},
      {"per-row weight scale", {.weight_axis = 0}, "not per output channel"},
      {"Q and DQ scales differ", {.dq_scale = 0.03f}, "different scales"},
      {"weight-only quantization", {.quantize_activation = false}, "is not quantized"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TestGraph g = qdq_matmul(c.spec);
    Graph after = g.graph();
    testing::PassResult r = testing::run_pass(import_qdq, after);
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 0);
    EXPECT_EQ(count_ops(after, "QuantLinear"), 0);
    EXPECT_TRUE(r.logged(c.reason)) << c.reason;
    expect_same_outputs(g.graph(), after, inputs());
  }
}

// An Add whose other operand is computed is no bias: QuantLinear without bias, the Add stays.
TEST(ImportQdq, KeepsAnAddThatIsNoBias) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim(2), Dim(8)});
  const ValueId r = g.input("r", DType::kFloat32, {Dim(2), Dim(5)});
  const ValueId q = g.op("QuantizeLinear",
                         {x, g.constant("s", scalar(0.05f)),
                          g.constant("zp", testing::tensor_of<uint8_t>(DType::kUInt8, {}, {120}))});
  const ValueId a =
      g.op("DequantizeLinear",
           {q, g.constant("s2", scalar(0.05f)),
            g.constant("zp2", testing::tensor_of<uint8_t>(DType::kUInt8, {}, {120}))});
  const ValueId w = g.op("DequantizeLinear", {g.constant("w_q", int8_weights(8, 5, 2)),
                                              g.constant("w_s", scalar(0.01f))});
  g.output(g.op("Add", {g.op("MatMul", {a, w}), r}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), import_qdq);
  EXPECT_EQ(applied, 1);
  const Node* ql = find_op(after, "QuantLinear");
  ASSERT_NE(ql, nullptr);
  EXPECT_EQ(ql->num_inputs(), 3);
  EXPECT_EQ(*ql->attrs.get_int("input_zero_point", 0), 120);
  EXPECT_EQ(*ql->attrs.get_int("input_qmax", 0), 255);
  EXPECT_EQ(count_ops(after, "Add"), 1);
  testing::expect_outputs_close(
      g.graph(), after,
      {random_tensor(DType::kFloat32, {2, 8}, 3, -3, 3), random_tensor(DType::kFloat32, {2, 5}, 4)},
      1e-5);
}

// Fake-quant exports (ModelOpt) quantize float weights in the graph: DQ(Q(W)). The pass computes
// the int8 weights as QuantizeLinear would, so the numbers stay those of the QDQ graph.
TEST(ImportQdq, QuantizesFloatWeightsLikeQuantizeLinear) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(8)});
  const ValueId q =
      g.op("QuantizeLinear", {x, g.constant("s", scalar(0.02f)), g.constant("zp", int8_scalar(0))});
  const ValueId a = g.op("DequantizeLinear",
                         {q, g.constant("s2", scalar(0.02f)), g.constant("zp2", int8_scalar(0))});
  const Tensor w_scale = Tensor::from_float({0.004f, 0.003f, 0.002f, 0.005f, 0.001f});
  const Tensor zero = testing::tensor_of<int8_t>(DType::kInt8, {5}, std::vector<int8_t>(5, 0));
  const ValueId w_float = g.constant("w", random_tensor(DType::kFloat32, {8, 5}, 9, -0.3, 0.3));
  const ValueId wq =
      g.op("QuantizeLinear", {w_float, g.constant("ws", w_scale), g.constant("wzp", zero)});
  const ValueId w =
      g.op("DequantizeLinear", {wq, g.constant("ws2", w_scale), g.constant("wzp2", zero)});
  g.output(g.op("MatMul", {a, w}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), import_qdq);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "QuantLinear"), 1);
  testing::expect_outputs_close(g.graph(), after,
                                {random_tensor(DType::kFloat32, {3, 8}, 5, -2, 2)}, 1e-5);
}

// ONNX Runtime's quantize_static output, through the whole optimizer: every MatMul/Gemm
// becomes QuantLinear and the outputs match ONNX Runtime's (graph optimizations off, so its
// Q/DQ are the float math QuantLinear's integers reproduce).
class ImportQdqOnnxRuntime : public ::testing::TestWithParam<const char*> {};

TEST_P(ImportQdqOnnxRuntime, EveryProductBecomesQuantLinear) {
  const std::filesystem::path dir =
      std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "qdq" / GetParam();
  Result<Graph> graph = import_onnx_file((dir / "model.onnx").string());
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  ASSERT_TRUE(infer_shapes(*graph).ok());
  PassContext ctx(false, nullptr);
  ASSERT_TRUE(optimize_graph(*graph, ctx).ok());
  EXPECT_EQ(count_ops(*graph, "QuantLinear"), 2);
  EXPECT_EQ(count_ops(*graph, "MatMul") + count_ops(*graph, "Gemm") + count_ops(*graph, "Linear"),
            0);
  Result<std::vector<Tensor>> out =
      testing::run_graph(*graph, {*read_npy((dir / "input.npy").string())});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(
      testing::tensors_close_to_scale((*out)[0], *read_npy((dir / "expected.npy").string()), 1e-5));
}

INSTANTIATE_TEST_SUITE_P(QuantizeStatic, ImportQdqOnnxRuntime,
                         ::testing::Values("matmul_uint8", "matmul_int8", "gemm_uint8",
                                           "gemm_int8"));

}  // namespace
}  // namespace vitrt
