// vitrt.Linear against the unfused MatMul + Add (+ activation) on the CPU backend.
#include <gtest/gtest.h>

#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// Y = act(X W + b) through vitrt.Linear and through MatMul, Add and the activation's ONNX ops.
void check_linear(const std::vector<int64_t>& x_shape, int64_t n, const std::string& activation,
                  bool with_bias) {
  const int64_t k = x_shape.back();
  Tensor w = testing::random_tensor(DType::kFloat32, {k, n}, 11);
  Tensor b = testing::random_tensor(DType::kFloat32, {n}, 12);
  Tensor x = testing::random_tensor(DType::kFloat32, x_shape, 13);
  SymShape sym = sym_shape_from_static(x_shape);

  TestGraph fused;
  {
    ValueId xi = fused.input("x", DType::kFloat32, sym);
    std::vector<ValueId> in = {xi, fused.constant("w", w)};
    if (with_bias) in.push_back(fused.constant("b", b));
    Attributes attrs;
    attrs.set_string("activation", activation);
    fused.output(fused.op("Linear", in, attrs, "vitrt"));
    ASSERT_TRUE(fused.infer().ok());
  }
  TestGraph plain(20);
  {
    ValueId xi = plain.input("x", DType::kFloat32, sym);
    ValueId y = plain.op("MatMul", {xi, plain.constant("w", w)});
    if (with_bias) y = plain.op("Add", {y, plain.constant("b", b)});
    if (activation == "gelu" || activation == "gelu_tanh") {
      Attributes a;
      a.set_string("approximate", activation == "gelu" ? "none" : "tanh");
      y = plain.op("Gelu", {y}, a);
    } else if (activation == "quick_gelu") {
      Attributes a;
      a.set_float("alpha", 1.702f);
      y = plain.op("QuickGelu", {y}, a, "com.microsoft");
    } else if (activation == "relu") {
      y = plain.op("Relu", {y});
    }
    plain.output(y);
    ASSERT_TRUE(plain.infer().ok());
  }
  auto got = testing::run_graph(fused.graph(), {x});
  ASSERT_TRUE(got.ok()) << got.status().message();
  auto want = testing::run_graph(plain.graph(), {x});
  ASSERT_TRUE(want.ok()) << want.status().message();
  EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], (*want)[0], 1e-5))
      << activation << " x " << shape_to_string(x_shape);
}

TEST(FusedLinear, MatchesMatMulAddAndActivation) {
  for (const char* act : {"none", "gelu", "gelu_tanh", "quick_gelu", "relu"}) {
    check_linear({2, 7, 33}, 19, act, true);
    check_linear({5, 16}, 3, act, false);
  }
}

TEST(FusedLinear, RejectsUnknownActivation) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 4});
  Attributes attrs;
  attrs.set_string("activation", "swishy");
  g.output(
      g.op("Linear", {x, g.constant("w", Tensor::zeros(DType::kFloat32, {4, 3}))}, attrs, "vitrt"));
  Status s = g.infer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("swishy"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vitrt
