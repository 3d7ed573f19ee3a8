// fuse_scale_shift: Mul and Add of last-axis constants (and the activation after them) become
// one vitrt.ScaleShift; checked against the graph before the pass, whose Mul, Add and
// activation kernels are the reference, and against look-alikes that must stay.
#include "passes/linear_pass_testing.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::expect_outputs_close;
using testing::random_tensor;
using testing::TestGraph;

const Dim kBatch = Dim::symbol("batch");
constexpr int64_t kC = 12;

struct Chain {
  TestGraph g;
  ValueId x = kNoValue;
  ValueId sum = kNoValue;
};

// x [batch, 5, 4, kC] -> Mul(scale) -> Add(shift), scale and shift of the given shapes; x on the
// Mul's right when `swap` (as HGNetV2's lab.scale * x exports).
Chain affine(std::vector<int64_t> scale_shape, std::vector<int64_t> shift_shape,
             bool swap = false) {
  Chain c;
  c.x = c.g.input("x", DType::kFloat32, {kBatch, 5, 4, kC});
  ValueId s = c.g.constant("s", random_tensor(DType::kFloat32, std::move(scale_shape), 2));
  ValueId t = c.g.constant("t", random_tensor(DType::kFloat32, std::move(shift_shape), 3));
  ValueId m = swap ? c.g.op("Mul", {s, c.x}) : c.g.op("Mul", {c.x, s});
  c.sum = c.g.op("Add", {m, t});
  return c;
}

Tensor x_value() {
  return random_tensor(DType::kFloat32, {2, 5, 4, kC}, 7, -3.0, 3.0);
}

// DenseNet's BN -> ReLU ([C] constants), CoAtNet's BN -> SiLU ([1, 1, 1, C]), HGNetV2's
// scalar affine with no activation after it ([1] constants, x on the Mul's right), and the
// other activations a ChannelsLastConv epilogue has.
TEST(FuseScaleShift, MulAddAndTheActivationBecomeOneOp) {
  struct Case {
    std::vector<int64_t> scale, shift;
    const char* op;  // the activation node, or nullptr
    const char* domain;
    const char* expected;
    bool swap = false;
  };
  const std::vector<Case> cases = {
      {{kC}, {kC}, "Relu", "", "relu"},
      {{1, 1, 1, kC}, {1, 1, 1, kC}, "QuickGelu", "com.microsoft", "silu"},
      {{1}, {1}, nullptr, "", "none", true},
      {{}, {kC}, "HardSwish", "", "hard_swish"},
      {{kC}, {1, kC}, "Gelu", "", "gelu"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.expected);
    Chain c = affine(k.scale, k.shift, k.swap);
    ValueId y = c.sum;
    if (k.op != nullptr) {
      Attributes a;
      if (std::string(k.op) == "QuickGelu") a.set_float("alpha", 1.0f);
      y = c.g.op(k.op, {c.sum}, a, k.domain);
    }
    c.g.output(c.g.op("Sigmoid", {y}));
    ASSERT_TRUE(c.g.infer().ok());
    auto [fused, applied] = apply_pass(c.g.graph(), fuse_scale_shift);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(fused, "Mul"), 0);
    EXPECT_EQ(count_ops(fused, "Add"), 0);
    if (k.op != nullptr) {
      EXPECT_EQ(count_ops(fused, k.op), 0);
    }
    const Node* node = testing::find_op(fused, "ScaleShift");
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->attrs.get_string("activation", "none").value(), k.expected);
    // The product and the sum round as the Mul and Add did; the activations are the same
    // kernels' functions.
    expect_outputs_close(c.g.graph(), fused, {x_value()}, 1e-6);
  }
}

// A QuickGELU (1.702) or a Sigmoid after the sum stays its own node; the affine part still fuses.
TEST(FuseScaleShift, OtherActivationsStayAfterIt) {
  for (const float alpha : {1.702f, 0.0f}) {
    Chain c = affine({kC}, {kC});
    Attributes a;
    a.set_float("alpha", alpha);
    ValueId y = alpha > 0.0f ? c.g.op("QuickGelu", {c.sum}, a, "com.microsoft")
                             : c.g.op("Sigmoid", {c.sum});
    c.g.output(y);
    ASSERT_TRUE(c.g.infer().ok());
    auto [fused, applied] = apply_pass(c.g.graph(), fuse_scale_shift);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(fused, alpha > 0.0f ? "QuickGelu" : "Sigmoid"), 1);
    EXPECT_EQ(testing::find_op(fused, "ScaleShift")->attrs.get_string("activation", "").value(),
              "none");
    expect_outputs_close(c.g.graph(), fused, {x_value()}, 1e-6);
  }
}

TEST(FuseScaleShift, LookAlikesStay) {
  {  // the scale varies along another axis (an NCHW BatchNorm's [C, 1, 1] on this layout)
    Chain c = affine({5, 1, 1}, {kC});
    c.g.output(c.sum);
    ASSERT_TRUE(c.g.infer().ok());
    EXPECT_EQ(apply_pass(c.g.graph(), fuse_scale_shift).second, 0);
  }
  {  // the product is also read elsewhere
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {kBatch, kC});
    ValueId m = g.op("Mul", {x, g.constant("s", random_tensor(DType::kFloat32, {kC}, 2))});
    g.output(g.op("Add", {m, g.constant("t", random_tensor(DType::kFloat32, {kC}, 3))}));
    g.output(m);
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fuse_scale_shift).second, 0);
  }
  {  // a residual add (no constant), and a scale that is an input
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {kBatch, kC});
    ValueId s = g.input("s", DType::kFloat32, {kC});
    ValueId m = g.op("Mul", {x, g.constant("s2", random_tensor(DType::kFloat32, {kC}, 2))});
    g.output(g.op("Add", {m, x}));
    g.output(g.op("Add",
                  {g.op("Mul", {x, s}), g.constant("t", random_tensor(DType::kFloat32, {kC}, 3))}));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fuse_scale_shift).second, 0);
  }
  {  // a constant that would widen the output (rank 3 on a rank-2 x)
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {kBatch, kC});
    ValueId m = g.op("Mul", {x, g.constant("s", random_tensor(DType::kFloat32, {1, 1, kC}, 2))});
    g.output(g.op("Add", {m, g.constant("t", random_tensor(DType::kFloat32, {kC}, 3))}));
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(apply_pass(g.graph(), fuse_scale_shift).second, 0);
  }
}

TEST(FuseScaleShift, SchemaNamesWrongParameters) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, kC});
  Attributes a;
  a.set_string("activation", "relu");
  g.output(g.op("ScaleShift",
                {x, g.constant("s", random_tensor(DType::kFloat32, {kC + 1}, 2)),
                 g.constant("t", random_tensor(DType::kFloat32, {kC}, 3))},
                a, "vitrt", "bn"));
  Status s = g.infer();
  EXPECT_NE(s.message().find("scale must be [12]"), std::string::npos) << s.message();

  TestGraph h;
  Attributes bad;
  bad.set_string("activation", "swish");
  h.output(h.op("ScaleShift",
                {h.input("x", DType::kFloat32, {kBatch, kC}),
                 h.constant("s", random_tensor(DType::kFloat32, {kC}, 2)),
                 h.constant("t", random_tensor(DType::kFloat32, {kC}, 3))},
                bad, "vitrt", "bn"));
  s = h.infer();
  EXPECT_NE(s.message().find("'activation' is 'swish'"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vitrt
