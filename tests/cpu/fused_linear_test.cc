// vitrt.Linear against the unfused MatMul + Add (+ activation) on the CPU backend.
#include <gtest/gtest.h>

#include "core/half.h"
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
    } else if (activation == "silu") {
      y = plain.op("Mul", {y, plain.op("Sigmoid", {y})});
    } else if (activation == "hard_swish") {
      y = plain.op("HardSwish", {y});
    } else if (activation == "relu6") {
      y = plain.op("Clip", {y, plain.constant("lo", Tensor::from_float({0.0f}, true)),
                            plain.constant("hi", Tensor::from_float({6.0f}, true))});
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
  for (const char* act :
       {"none", "gelu", "gelu_tanh", "quick_gelu", "relu", "silu", "hard_swish", "relu6"}) {
    check_linear({2, 7, 33}, 19, act, true);
    check_linear({5, 16}, 3, act, false);
  }
}

// No rows or no output columns (a degenerate or malformed model's empty dims: a packed weight
// sliced to nothing): an empty output, as the unfused MatMul + Add give, not a fault inside
// oneDNN.
TEST(FusedLinear, EmptyRowsOrColumnsGiveAnEmptyOutput) {
  check_linear({0, 16}, 5, "gelu", true);
  check_linear({3, 0, 8}, 4, "none", false);
  check_linear({2, 32}, 0, "none", true);
  check_linear({2, 3, 8}, 0, "relu", false);
}

// Y = X.W + bias + residual against float64 loops (X and W rounded to bfloat16 first for
// compute_precision bf16), on odd shapes: one row, 197 tokens, and fc2's K 3072 -> N 768.
void check_residual(const std::vector<int64_t>& x_shape, int64_t n, bool with_bias, bool bf16) {
  SCOPED_TRACE(
      str_cat(shape_to_string(x_shape), " N ", n, with_bias ? " bias" : "", bf16 ? " bf16" : ""));
  const int64_t k = x_shape.back();
  std::vector<int64_t> y_shape = x_shape;
  y_shape.back() = n;
  Tensor w = testing::random_tensor(DType::kFloat32, {k, n}, 21);
  Tensor b = testing::random_tensor(DType::kFloat32, {n}, 22);
  Tensor x = testing::random_tensor(DType::kFloat32, x_shape, 23);
  Tensor r = testing::random_tensor(DType::kFloat32, y_shape, 24, -4.0, 4.0);
  TestGraph g;
  ValueId xi = g.input("x", DType::kFloat32, sym_shape_from_static(x_shape));
  ValueId ri = g.input("r", DType::kFloat32, sym_shape_from_static(y_shape));
  Attributes attrs;
  if (bf16) attrs.set_string("compute_precision", "bf16");
  g.output(g.op("Linear", {xi, g.constant("w", w), with_bias ? g.constant("b", b) : kNoValue, ri},
                attrs, "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  auto got = testing::run_graph(g.graph(), {x, r});
  ASSERT_TRUE(got.ok()) << got.status().message();

  auto operand = [bf16](float v) {
    return static_cast<double>(bf16 ? bf16_to_float(float_to_bf16(v)) : v);
  };
  const int64_t m = x.numel() / k;
  Tensor want = Tensor::empty(DType::kFloat32, y_shape);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t l = 0; l < k; ++l) {
        acc += operand(x.data<float>()[i * k + l]) * operand(w.data<float>()[l * n + j]);
      }
      if (with_bias) acc += b.data<float>()[j];
      acc += r.data<float>()[i * n + j];
      want.data<float>()[i * n + j] = static_cast<float>(acc);
    }
  }
  // fp32 accumulation over K terms of products of magnitude <= 1.
  EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], want, k >= 1024 ? 1e-5 : 2e-6));
}

TEST(FusedLinear, ResidualMatchesFloat64) {
  for (bool bf16 : {false, true}) {
    for (bool bias : {true, false}) {
      check_residual({1, 33}, 19, bias, bf16);
      check_residual({1, 197, 40}, 24, bias, bf16);
    }
    check_residual({3, 3072}, 768, true, bf16);
  }
}

TEST(FusedLinear, SchemaRejectsBrokenResiduals) {
  struct Broken {
    std::string what;
    std::string activation;
    DType dtype;
    SymShape shape;
  };
  const Broken cases[] = {
      {"needs activation 'none' or 'relu', got 'gelu'",
       "gelu",
       DType::kFloat32,
       {Dim::symbol("batch"), 3}},
      {"residual must have the output's shape [batch, 3] (no broadcasting), got [3]",
       "none",
       DType::kFloat32,
       {3}},
      {"residual must have the output's shape", "none", DType::kFloat32, {Dim::symbol("other"), 3}},
      {"residual must be float32 like the output, got bfloat16",
       "none",
       DType::kBFloat16,
       {Dim::symbol("batch"), 3}},
  };
  for (const Broken& b : cases) {
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 4});
    ValueId r = g.input("r", b.dtype, b.shape);
    Attributes attrs;
    attrs.set_string("activation", b.activation);
    g.output(g.op("Linear",
                  {x, g.constant("w", Tensor::zeros(DType::kFloat32, {4, 3})), kNoValue, r}, attrs,
                  "vitrt", "broken"));
    Status s = g.infer();
    ASSERT_FALSE(s.ok()) << b.what;
    EXPECT_NE(s.message().find(b.what), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("'broken'"), std::string::npos) << s.message();
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
