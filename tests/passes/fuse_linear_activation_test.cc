// fuse_linear_activation: the activation that is a Linear's only reader becomes its epilogue;
// checked against the graph before the pass (the activation's own kernel).
#include "passes/linear_pass_testing.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::expect_outputs_close;
using testing::random_tensor;
using testing::TestGraph;

constexpr int64_t kK = 24, kN = 13;

Tensor x_value() {
  return random_tensor(DType::kFloat32, {2, 7, kK}, 1, -2.0, 2.0);
}

struct LinearThen {
  TestGraph g;
  ValueId linear_out = kNoValue;
};

LinearThen linear_then(const std::string& op, const std::string& domain, Attributes attrs) {
  LinearThen s;
  ValueId x = s.g.input("x", DType::kFloat32, {Dim::symbol("batch"), 7, kK});
  s.linear_out = s.g.op("Linear",
                        {x, s.g.constant("w", random_tensor(DType::kFloat32, {kK, kN}, 2)),
                         s.g.constant("b", random_tensor(DType::kFloat32, {kN}, 3))},
                        {}, "vitrt");
  s.g.output(s.g.op(op, {s.linear_out}, std::move(attrs), domain));
  EXPECT_TRUE(s.g.infer().ok());
  return s;
}

TEST(FuseLinearActivation, EachActivationBecomesTheEpilogue) {
  struct Case {
    const char* op;
    const char* domain;
    const char* approximate;  // Gelu only
    const char* expected;
    float alpha = 1.702f;  // QuickGelu only
  };
  for (const Case& c :
       {Case{"Gelu", "", "none", "gelu"}, Case{"Gelu", "", "tanh", "gelu_tanh"},
        Case{"Gelu", "com.microsoft", nullptr, "gelu"},
        Case{"QuickGelu", "com.microsoft", nullptr, "quick_gelu"},
        Case{"QuickGelu", "com.microsoft", nullptr, "silu", 1.0f},
        Case{"Relu", "", nullptr, "relu"}, Case{"HardSwish", "", nullptr, "hard_swish"}}) {
    SCOPED_TRACE(c.expected);
    Attributes attrs;
    if (c.approximate != nullptr) attrs.set_string("approximate", c.approximate);
    if (std::string(c.op) == "QuickGelu") attrs.set_float("alpha", c.alpha);
    LinearThen s = linear_then(c.op, c.domain, attrs);
    auto [fused, applied] = apply_pass(s.g.graph(), fuse_linear_activation);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(fused, c.op), 0);
    const Node* linear = testing::find_op(fused, "Linear");
    ASSERT_NE(linear, nullptr);
    EXPECT_EQ(linear->attrs.get_string("activation", "none").value(), c.expected);
    expect_outputs_close(s.g.graph(), fused, {x_value()}, 1e-5);
  }
}

// ReLU6 as exporters write it, Clip with constant bounds (inputs from opset 11, attributes
// before), after a Linear and a ChannelsLastConv (MobileNetV2); the inputs reach both bounds.
// Other bounds stay a Clip of their own.
TEST(FuseLinearActivation, Relu6IsAClipFromZeroToSix) {
  for (const bool conv : {false, true}) {
    for (const int opset : {13, 9}) {
      for (const float hi : {6.0f, 5.0f}) {
        SCOPED_TRACE(str_cat(conv ? "ChannelsLastConv" : "Linear", " opset ", opset, " max ", hi));
        TestGraph g(opset);
        ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, 7, 8});
        ValueId y;
        if (conv) {
          Attributes a;
          a.set_int("group", 8);
          a.set_ints("pads", {1, 1, 1, 1});
          y = g.op("ChannelsLastConv",
                   {x, g.constant("w", random_tensor(DType::kFloat32, {8, 3, 3, 1}, 2)),
                    g.constant("b", random_tensor(DType::kFloat32, {8}, 3))},
                   a, "vitrt");
        } else {
          y = g.op("Linear",
                   {x, g.constant("w", random_tensor(DType::kFloat32, {8, 5}, 2)),
                    g.constant("b", random_tensor(DType::kFloat32, {5}, 3))},
                   {}, "vitrt");
        }
        if (opset >= 11) {
          g.output(g.op("Clip", {y, g.constant("lo", Tensor::from_float({0.0f}, true)),
                                 g.constant("hi", Tensor::from_float({hi}, true))}));
        } else {
          Attributes a;
          a.set_float("min", 0.0f);
          a.set_float("max", hi);
          g.output(g.op("Clip", {y}, a));
        }
        ASSERT_TRUE(g.infer().ok());
        auto [fused, applied] = apply_pass(g.graph(), fuse_linear_activation);
        const Node* node = testing::find_op(fused, conv ? "ChannelsLastConv" : "Linear");
        ASSERT_NE(node, nullptr);
        if (hi != 6.0f) {
          EXPECT_EQ(applied, 0);
          EXPECT_EQ(count_ops(fused, "Clip"), 1);
          continue;
        }
        EXPECT_EQ(applied, 1);
        EXPECT_EQ(count_ops(fused, "Clip"), 0);
        EXPECT_EQ(node->attrs.get_string("activation", "none").value(), "relu6");
        expect_outputs_close(g.graph(), fused,
                             {random_tensor(DType::kFloat32, {2, 6, 7, 8}, 4, -12.0, 12.0)}, 1e-5);
      }
    }
  }
}

// A depthwise 3x3 ChannelsLastConv with bias over x [batch, 6, 7, 8] (an input of `g`).
ValueId depthwise_conv(TestGraph& g) {
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, 7, 8});
  Attributes conv;
  conv.set_int("group", 8);
  conv.set_ints("pads", {1, 1, 1, 1});
  return g.op("ChannelsLastConv",
              {x, g.constant("w", random_tensor(DType::kFloat32, {8, 3, 3, 1}, 2)),
               g.constant("b", random_tensor(DType::kFloat32, {8}, 3))},
              conv, "vitrt");
}

// A ChannelsLastConv (EfficientNet's depthwise conv, a ResNet's 3x3) takes ReLU, SiLU,
// HardSwish (MobileNetV3) and GELU (PVTv2's token MLP, in both of Gelu's forms); a QuickGELU
// after it stays a node of its own.
TEST(FuseLinearActivation, ChannelsLastConvTakesReluSiluHardSwishAndGelu) {
  struct Case {
    const char* op;
    float alpha;
    const char* expected;               // "" when it must stay
    const char* approximate = nullptr;  // Gelu's attribute
  };
  for (const Case& c :
       {Case{"Relu", 0.0f, "relu"}, Case{"QuickGelu", 1.0f, "silu"},
        Case{"HardSwish", 0.0f, "hard_swish"}, Case{"QuickGelu", 1.702f, ""},
        Case{"Gelu", 0.0f, "gelu", "none"}, Case{"Gelu", 0.0f, "gelu_tanh", "tanh"}}) {
    SCOPED_TRACE(std::string(c.op) + " " + std::to_string(c.alpha));
    TestGraph g;
    ValueId y = depthwise_conv(g);
    Attributes act;
    const bool quick = std::string(c.op) == "QuickGelu";
    if (quick) act.set_float("alpha", c.alpha);
    if (c.approximate != nullptr) act.set_string("approximate", c.approximate);
    g.output(g.op(c.op, {y}, act, quick ? "com.microsoft" : ""));
    ASSERT_TRUE(g.infer().ok());
    auto [fused, applied] = apply_pass(g.graph(), fuse_linear_activation);
    const Node* node = testing::find_op(fused, "ChannelsLastConv");
    ASSERT_NE(node, nullptr);
    if (*c.expected == '\0') {
      EXPECT_EQ(applied, 0);
      EXPECT_EQ(node->attrs.get_string("activation", "none").value(), "none");
      continue;
    }
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(fused, c.op), 0);
    EXPECT_EQ(node->attrs.get_string("activation", "none").value(), c.expected);
    expect_outputs_close(g.graph(), fused,
                         {random_tensor(DType::kFloat32, {2, 6, 7, 8}, 4, -2.0, 2.0)}, 1e-5);
  }
}

// PVTv2's token MLP: fc1 -> Reshape to [B, H, W, C] -> depthwise ChannelsLastConv -> Reshape
// back to tokens -> GELU. The GELU moves into the conv and the Reshape stays, now passing the
// activated values; likewise a Linear -> Flatten -> Relu. A view whose output is also read
// elsewhere keeps its activation.
TEST(FuseLinearActivation, ActivationAfterAViewJoinsTheProducer) {
  {
    TestGraph g;
    ValueId y = depthwise_conv(g);
    ValueId tokens = g.op("Reshape", {y, g.constant("s", Tensor::from_int64({0, 42, 8}))});
    g.output(g.op("Gelu", {tokens}));
    ASSERT_TRUE(g.infer().ok());
    auto [fused, applied] = apply_pass(g.graph(), fuse_linear_activation);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(fused, "Gelu"), 0);
    EXPECT_EQ(count_ops(fused, "Reshape"), 1);
    const Node* node = testing::find_op(fused, "ChannelsLastConv");
    ASSERT_NE(node, nullptr);
    EXPECT_EQ(node->attrs.get_string("activation", "none").value(), "gelu");
    expect_outputs_close(g.graph(), fused,
                         {random_tensor(DType::kFloat32, {2, 6, 7, 8}, 4, -2.0, 2.0)}, 1e-5);
  }
  for (const bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "view read twice" : "view read once");
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 7, kK});
    ValueId y = g.op("Linear",
                     {x, g.constant("w", random_tensor(DType::kFloat32, {kK, kN}, 2)),
                      g.constant("b", random_tensor(DType::kFloat32, {kN}, 3))},
                     {}, "vitrt");
    ValueId flat = g.op("Flatten", {y});
    g.output(g.op("Relu", {flat}));
    if (shared) g.output(flat);
    ASSERT_TRUE(g.infer().ok());
    auto [fused, applied] = apply_pass(g.graph(), fuse_linear_activation);
    EXPECT_EQ(applied, shared ? 0 : 1);
    EXPECT_EQ(count_ops(fused, "Relu"), shared ? 1 : 0);
    expect_outputs_close(g.graph(), fused, {x_value()}, 1e-5);
  }
}

TEST(FuseLinearActivation, LookAlikesStay) {
  Attributes other_alpha;
  other_alpha.set_float("alpha", 1.5f);  // neither CLIP's 1.702 nor SiLU's 1
  EXPECT_EQ(apply_pass(linear_then("QuickGelu", "com.microsoft", other_alpha).g.graph(),
                       fuse_linear_activation)
                .second,
            0);
  EXPECT_EQ(apply_pass(linear_then("Sigmoid", "", {}).g.graph(), fuse_linear_activation).second, 0);
  {  // the pre-activation value is also read elsewhere
    LinearThen s = linear_then("Relu", "", {});
    s.g.output(s.linear_out);
    EXPECT_EQ(apply_pass(s.g.graph(), fuse_linear_activation).second, 0);
  }
  {  // a Linear that already has an activation takes no second one
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, 7, kK});
    Attributes gelu;
    gelu.set_string("activation", "gelu");
    ValueId y = g.op("Linear", {x, g.constant("w", random_tensor(DType::kFloat32, {kK, kN}, 2))},
                     gelu, "vitrt");
    g.output(g.op("Relu", {y}));
    ASSERT_TRUE(g.infer().ok());
    auto [fused, applied] = apply_pass(g.graph(), fuse_linear_activation);
    EXPECT_EQ(applied, 0);
    EXPECT_EQ(count_ops(fused, "Relu"), 1);
  }
}

}  // namespace
}  // namespace vitrt
