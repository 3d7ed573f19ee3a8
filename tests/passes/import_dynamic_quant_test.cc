// import_dynamic_quant: ONNX Runtime's quantize_dynamic chain (DynamicQuantizeLinear,
// MatMulInteger, Cast, Mul by the scales, Add of the bias) -> vitrt.QuantLinear with
// dynamic_input. The fused layer computes the chain's own arithmetic (exact integer sums, then
// float(sum) * fp32(xs * w_s) + bias), so its outputs equal the chain's, run op by op by the
// integer kernels (which match ONNX's conformance data), bit for bit. Look-alikes it cannot
// reproduce stay as they are, with a reason in the build log.
#include <gtest/gtest.h>

#include "passes/linear_pass_testing.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::expect_same_outputs;
using testing::find_op;
using testing::random_tensor;
using testing::TestGraph;

struct ChainSpec {
  bool per_column = false;       // w_scale and the weights' zero point one per column
  bool bias = true;              // Add(constant [5]) after the scaling Mul
  bool uint8_weights = false;    // weights 0..255 with zero point 0: they leave int8
  bool constant_weights = true;  // false: B is a graph input
  bool scale_from_dql = true;    // false: the sums are scaled by a constant alone
  bool second_reader = false;    // the int32 sums also feed a graph output
};

// x [batch, 3, 8] -> DynamicQuantizeLinear -> MatMulInteger(W_q [8, 5]) -> Cast -> Mul -> Add.
TestGraph chain(const ChainSpec& spec) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(3), Dim(8)});
  const std::vector<ValueId> q = g.op_multi("DynamicQuantizeLinear", {x}, 3);
  std::vector<int8_t> w(40);
  std::vector<uint8_t> wu(40);
  for (size_t i = 0; i < w.size(); ++i) {
    w[i] = static_cast<int8_t>((i * 37 + 11) % 241 - 120);
    wu[i] = static_cast<uint8_t>((i * 53 + 7) % 256);
  }
  ValueId b;
  if (!spec.constant_weights) {
    b = g.input("w", DType::kInt8, {Dim(8), Dim(5)});
  } else if (spec.uint8_weights) {
    b = g.constant("w_q", testing::tensor_of<uint8_t>(DType::kUInt8, {8, 5}, wu));
  } else {
    b = g.constant("w_q", testing::tensor_of<int8_t>(DType::kInt8, {8, 5}, w));
  }
  const ValueId w_zp =
      spec.uint8_weights
          ? g.constant("w_zp", testing::tensor_of<uint8_t>(DType::kUInt8, {}, {0}))
          : (spec.per_column
                 ? g.constant("w_zp",
                              testing::tensor_of<int8_t>(DType::kInt8, {5}, {-2, -1, 0, 1, 2}))
                 : g.constant("w_zp", testing::tensor_of<int8_t>(DType::kInt8, {}, {0})));
  const ValueId sums = g.op("MatMulInteger", {q[0], b, q[2], w_zp});
  Attributes to_float;
  to_float.set_int("to", 1);
  const ValueId f = g.op("Cast", {sums}, to_float);
  const Tensor w_scale = spec.per_column
                             ? Tensor::from_float({0.011f, 0.007f, 0.013f, 0.002f, 0.009f})
                             : Tensor::from_float({0.0125f}, true);
  const ValueId s = spec.scale_from_dql ? g.op("Mul", {q[1], g.constant("w_s", w_scale)})
                                        : g.constant("w_s", w_scale);
  ValueId y = g.op("Mul", {f, s});
  if (spec.bias) {
    y = g.op("Add", {g.constant("bias", Tensor::from_float({0.5f, -0.25f, 0.f, 1.f, -2.f})), y});
  }
  g.output(y);
  if (spec.second_reader) g.output(sums);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> inputs(bool with_weights = false) {
  std::vector<Tensor> in = {random_tensor(DType::kFloat32, {2, 3, 8}, 5, -1.5, 3.0)};
  if (with_weights) {
    std::vector<int8_t> w(40);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(i % 7 - 3);
    in.push_back(testing::tensor_of<int8_t>(DType::kInt8, {8, 5}, w));
  }
  return in;
}

TEST(ImportDynamicQuant, FoldsTheChainIntoOneQuantLinear) {
  for (bool per_column : {false, true}) {
    for (bool bias : {true, false}) {
      SCOPED_TRACE(::testing::Message() << "per_column " << per_column << " bias " << bias);
      TestGraph g = chain({.per_column = per_column, .bias = bias});
      auto [after, applied] = apply_pass(g.graph(), import_dynamic_quant);
      EXPECT_EQ(applied, 1);
      const Node* ql = find_op(after, "QuantLinear");
      ASSERT_NE(ql, nullptr);
      EXPECT_EQ(*ql->attrs.get_int("dynamic_input", 0), 1);
      EXPECT_FALSE(ql->attrs.has("input_scale"));
      EXPECT_EQ(ql->num_inputs(), bias ? 4 : 3);
      // The DynamicQuantizeLinear is left unread, for eliminate_dead_nodes.
      const Graph cleaned = apply_pass(after, eliminate_dead_nodes).first;
      EXPECT_EQ(count_ops(cleaned, "MatMulInteger") + count_ops(cleaned, "Cast") +
                    count_ops(cleaned, "Add") + count_ops(cleaned, "DynamicQuantizeLinear"),
                0);
      // The chain's arithmetic exactly: the same integers, the same float steps.
      expect_same_outputs(g.graph(), after, inputs());
    }
  }
}

TEST(ImportDynamicQuant, DeclinesWhatItCannotReproduce) {
  struct Case {
    const char* what;
    ChainSpec spec;
    const char* reason;
  };
  const Case cases[] = {
      {"uint8 weights leaving int8", {.uint8_weights = true}, "outside int8"},
      {"weights computed", {.constant_weights = false}, "B is not a constant"},
      {"scale not the input's", {.scale_from_dql = false}, "DynamicQuantizeLinear's scale"},
      {"sums read twice", {.second_reader = true}, "not read by one Cast"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TestGraph g = chain(c.spec);
    Graph after = g.graph();
    testing::PassResult r = testing::run_pass(import_dynamic_quant, after);
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 0);
    EXPECT_EQ(count_ops(after, "QuantLinear"), 0);
    EXPECT_TRUE(r.logged(c.reason)) << c.reason;
    expect_same_outputs(g.graph(), after, inputs(!c.spec.constant_weights));
  }
}

// q, k and v projections reading one DynamicQuantizeLinear (HF's separate q/k/v Linears): each
// becomes a QuantLinear quantizing x itself, and the shared DynamicQuantizeLinear goes.
TEST(ImportDynamicQuant, SharedQuantizationFeedsEveryLayer) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim(4), Dim(8)});
  const std::vector<ValueId> q = g.op_multi("DynamicQuantizeLinear", {x}, 3);
  for (int layer = 0; layer < 3; ++layer) {
    std::vector<int8_t> w(16);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>((i * 29 + layer) % 200 - 99);
    const ValueId sums =
        g.op("MatMulInteger", {q[0],
                               g.constant("w" + std::to_string(layer),
                                          testing::tensor_of<int8_t>(DType::kInt8, {8, 2}, w)),
                               q[2]});
    Attributes to_float;
    to_float.set_int("to", 1);
    const ValueId s =
        g.op("Mul", {q[1], g.constant("s" + std::to_string(layer),
                                      Tensor::from_float({0.01f * (layer + 1)}, true))});
    g.output(g.op("Mul", {s, g.op("Cast", {sums}, to_float)}));
  }
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), import_dynamic_quant);
  EXPECT_EQ(applied, 3);
  EXPECT_EQ(count_ops(after, "QuantLinear"), 3);
  EXPECT_EQ(count_ops(apply_pass(after, eliminate_dead_nodes).first, "DynamicQuantizeLinear"), 0);
  expect_same_outputs(g.graph(), after, {random_tensor(DType::kFloat32, {4, 8}, 9, -1.0, 1.0)});
}

}  // namespace
}  // namespace vitrt
