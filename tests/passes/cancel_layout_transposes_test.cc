// cancel_layout_transposes: ConvNeXt-style blocks lose their layout Transposes (the trunk goes
// NHWC, the depthwise Conv becomes vitrt.ChannelsLastConv), elementwise ops between inverse
// Transposes let them cancel, a ResNet trunk goes NHWC (1x1 Convs as Linear layers), and a
// region is left alone where storing it permuted would not lower the Transpose count (a graph
// output, a grouped Conv, a lone dense Conv). Every rewritten graph is run on the CPU against
// the graph before the pass.
#include <filesystem>

#include "passes/cancel_layout_transposes.h"
#include "passes/linear_pass_testing.h"
#include "runtime/build_pipeline.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::random_tensor;
using testing::TestGraph;

constexpr int64_t kC = 12;

Attributes perm(std::vector<int64_t> p) {
  Attributes a;
  a.set_ints("perm", std::move(p));
  return a;
}

// A depthwise kh x kw Conv of c channels padded to keep the size: weights from `seed`, the bias
// (when asked) from seed + 1.
ValueId depthwise_conv(TestGraph& g, ValueId x, int64_t c, int64_t kh, int64_t kw, uint64_t seed,
                       bool bias) {
  Attributes a;
  a.set_int("group", c);
  a.set_ints("kernel_shape", {kh, kw});
  a.set_ints("pads", {kh / 2, kw / 2, kh / 2, kw / 2});
  std::vector<ValueId> in = {
      x, g.constant("dw_w", random_tensor(DType::kFloat32, {c, 1, kh, kw}, seed))};
  if (bias) in.push_back(g.constant("dw_b", random_tensor(DType::kFloat32, {c}, seed + 1)));
  return g.op("Conv", in, a);
}

// One timm ConvNeXt block on the NCHW trunk t:
//   Conv(depthwise 7x7) -> Transpose(0,2,3,1) -> LayerNorm -> Linear(GELU) -> Linear
//   -> Transpose(0,3,1,2) -> Mul(gamma [1,C,1,1]) -> Add(t)
ValueId convnext_block(TestGraph& g, ValueId t, uint64_t seed) {
  ValueId c = depthwise_conv(g, t, kC, 7, 7, seed, true);
  ValueId nhwc = g.op("Transpose", {c}, perm({0, 2, 3, 1}));
  Attributes ln;
  ln.set_int("axis", -1);
  ValueId norm = g.op("LayerNormalization",
                      {nhwc, g.constant("ln_s", random_tensor(DType::kFloat32, {kC}, seed + 2)),
                       g.constant("ln_b", random_tensor(DType::kFloat32, {kC}, seed + 3))},
                      ln);
  Attributes gelu;
  gelu.set_string("activation", "gelu");
  ValueId fc1 =
      g.op("Linear",
           {norm, g.constant("fc1_w", random_tensor(DType::kFloat32, {kC, 2 * kC}, seed + 4)),
            g.constant("fc1_b", random_tensor(DType::kFloat32, {2 * kC}, seed + 5))},
           gelu, "vitrt");
  ValueId fc2 =
      g.op("Linear",
           {fc1, g.constant("fc2_w", random_tensor(DType::kFloat32, {2 * kC, kC}, seed + 6)),
            g.constant("fc2_b", random_tensor(DType::kFloat32, {kC}, seed + 7))},
           {}, "vitrt");
  ValueId nchw = g.op("Transpose", {fc2}, perm({0, 3, 1, 2}));
  ValueId scaled = g.op(
      "Mul", {nchw, g.constant("gamma", random_tensor(DType::kFloat32, {1, kC, 1, 1}, seed + 8))});
  return g.op("Add", {scaled, t});
}

TestGraph convnext_stage(int blocks) {
  TestGraph g;
  ValueId t = g.input("x", DType::kFloat32,
                      {Dim::symbol("batch"), kC, Dim::symbol("height"), Dim::symbol("width")});
  for (int b = 0; b < blocks; ++b) t = convnext_block(g, t, 10 * (b + 1));
  g.output(t);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

TEST(CancelLayoutTransposes, ConvNeXtTrunkGoesChannelsLast) {
  TestGraph g = convnext_stage(3);
  ASSERT_EQ(count_ops(g.graph(), "Transpose"), 6);
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_EQ(applied, 1);
  // One Transpose brings the NCHW input into the region, one takes the output back.
  EXPECT_EQ(count_ops(after, "Transpose"), 2);
  EXPECT_EQ(count_ops(after, "Conv"), 0);
  EXPECT_EQ(count_ops(after, "ChannelsLastConv"), 3);
  // The output keeps its name and NCHW shape.
  const Value& out = after.values[after.outputs[0]];
  EXPECT_EQ(out.name, g.graph().values[g.graph().outputs[0]].name);
  EXPECT_EQ(sym_shape_to_string(out.shape), "[batch, 12, height, width]");
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, kC, 9, 11}, std::vector<int64_t>{1, kC, 4, 3}}) {
    testing::expect_outputs_close(g.graph(), after, {random_tensor(DType::kFloat32, shape, 1)},
                                  1e-5);
  }
}

TEST(CancelLayoutTransposes, PooledHeadJoinsTheRegion) {
  // One block, then timm's head: GlobalAveragePool -> LayerNorm2d (Transpose, LayerNorm,
  // Transpose) -> Flatten. Pooling NHWC (a ReduceMean over axes 1 and 2) lets the head's first
  // Transpose cancel too; without it this region would only break even.
  TestGraph g;
  ValueId t = convnext_block(
      g,
      g.input("x", DType::kFloat32,
              {Dim::symbol("batch"), kC, Dim::symbol("height"), Dim::symbol("width")}),
      10);
  ValueId pooled = g.op("Transpose", {g.op("GlobalAveragePool", {t})}, perm({0, 2, 3, 1}));
  Attributes ln;
  ln.set_int("axis", -1);
  pooled = g.op("LayerNormalization",
                {pooled, g.constant("head_s", random_tensor(DType::kFloat32, {kC}, 3)),
                 g.constant("head_b", random_tensor(DType::kFloat32, {kC}, 4))},
                ln);
  g.output(g.op("Flatten", {g.op("Transpose", {pooled}, perm({0, 3, 1, 2}))}));
  ASSERT_TRUE(g.infer().ok());
  ASSERT_EQ(count_ops(g.graph(), "Transpose"), 4);
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "Transpose"), 2);  // into the region, and before Flatten
  EXPECT_EQ(count_ops(after, "GlobalAveragePool"), 0);
  EXPECT_EQ(count_ops(after, "ReduceMean"), 1);
  testing::expect_outputs_close(g.graph(), after,
                                {random_tensor(DType::kFloat32, {2, kC, 7, 5}, 1)}, 1e-5);
}

TEST(CancelLayoutTransposes, LayerScaleAndResidualReachFc2) {
  // After the pass the layer scale is a [1,1,1,C] Mul of fc2's output and the residual an Add of
  // NHWC tensors: fold_scale_into_weights and fuse_residual_into_linear take both.
  TestGraph g = convnext_stage(2);
  auto [nhwc, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  ASSERT_EQ(applied, 1);
  auto [scaled, folded] = apply_pass(nhwc, fold_scale_into_weights);
  EXPECT_EQ(folded, 2);
  EXPECT_EQ(count_ops(scaled, "Mul"), 0);
  auto [fused, residuals] = apply_pass(scaled, fuse_residual_into_linear);
  EXPECT_EQ(residuals, 2);
  EXPECT_EQ(count_ops(fused, "Add"), 0);
  testing::expect_outputs_close(g.graph(), fused,
                                {random_tensor(DType::kFloat32, {2, kC, 8, 7}, 1)}, 1e-5);
}

TEST(CancelLayoutTransposes, InversePairAroundElementwiseOpsCancels) {
  // Transpose(0,3,1,2) -> Mul([C,1,1]) -> Sub(scalar) -> Div([1,C,1,1]) -> Transpose(0,2,3,1).
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 5, 6, kC});
  ValueId t = g.op("Transpose", {x}, perm({0, 3, 1, 2}));
  t = g.op("Mul", {t, g.constant("a", random_tensor(DType::kFloat32, {kC, 1, 1}, 2))});
  t = g.op("Sub", {g.constant("s", Tensor::from_float({0.5f}, true)), t});
  t = g.op("Div", {t, g.constant("d", random_tensor(DType::kFloat32, {1, kC, 1, 1}, 3, 0.5, 2.0))});
  g.output(g.op("Transpose", {t}, perm({0, 2, 3, 1})));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "Transpose"), 0);
  testing::expect_same_outputs(g.graph(), after,
                               {random_tensor(DType::kFloat32, {3, 5, 6, kC}, 1)});
}

TEST(CancelLayoutTransposes, BinaryOpOfTwoTransposesTakesOne) {
  // Add(T(a), T(b)) -> T(Add(a, b)): two Transposes become the one the output needs.
  TestGraph g;
  const SymShape shape = {2, 3, 4, 5};
  ValueId a = g.op("Transpose", {g.input("a", DType::kFloat32, shape)}, perm({0, 3, 1, 2}));
  ValueId b = g.op("Transpose", {g.input("b", DType::kFloat32, shape)}, perm({0, 3, 1, 2}));
  g.output(g.op("Add", {a, b}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "Transpose"), 1);
  testing::expect_same_outputs(g.graph(), after,
                               {random_tensor(DType::kFloat32, {2, 3, 4, 5}, 1),
                                random_tensor(DType::kFloat32, {2, 3, 4, 5}, 2)});
}

TEST(CancelLayoutTransposes, TokensToChannelsLastImageIsOneReshape) {
  // The image shape must be known for the rewrite: a constant [B, D, H, W] target here.
  for (bool inner_read_elsewhere : {false, true}) {
    TestGraph g;
    ValueId tokens = g.input("tokens", DType::kFloat32, {Dim::symbol("batch"), 35, kC});
    ValueId channels_first = g.op("Transpose", {tokens}, perm({0, 2, 1}));
    ValueId image =
        g.op("Reshape", {channels_first, g.constant("shape", Tensor::from_int64({0, kC, 5, 7}))});
    g.output(g.op("Transpose", {image}, perm({0, 2, 3, 1})));
    if (inner_read_elsewhere) g.output(g.op("Relu", {channels_first}));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
    EXPECT_EQ(applied, 1);
    // The inner Transpose stays only for its other reader.
    EXPECT_EQ(count_ops(after, "Transpose"), inner_read_elsewhere ? 1 : 0);
    testing::expect_same_outputs(g.graph(), after,
                                 {random_tensor(DType::kFloat32, {2, 35, kC}, 1)});
  }
}

// PVTv2's and SegFormer's MLP: tokens go back to an image for a depthwise 3x3 Conv and are
// flattened back (Linear -> Transpose(0,2,1) -> Reshape [B, C, H, W] -> Conv -> Reshape
// [B, C, H*W] -> Transpose(0,2,1) -> GELU -> Linear). Stored channels-last, the Conv's input is
// one Reshape of the tokens and its output one Reshape back: the pricing counts both Transpose
// pairs as collapsing (the Reshape merging H and W back is the mirror of the one splitting
// them), and no Transpose is left. With the flattened image read elsewhere too, the way out
// needs its Transpose and the region is left as it is.
TEST(CancelLayoutTransposes, TokenMlpDepthwiseConvRunsOnReshapedTokens) {
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(variant == 0 ? "plain" : "flattened image read elsewhere");
    TestGraph g;
    constexpr int64_t h = 5, w = 7, c = 2 * kC;
    ValueId tokens = g.input("tokens", DType::kFloat32, {2, h * w, kC});
    ValueId fc1 = g.op("Linear",
                       {tokens, g.constant("fc1_w", random_tensor(DType::kFloat32, {kC, c}, 1)),
                        g.constant("fc1_b", random_tensor(DType::kFloat32, {c}, 2))},
                       {}, "vitrt");
    ValueId image = g.op("Reshape", {g.op("Transpose", {fc1}, perm({0, 2, 1})),
                                     g.constant("to_image", Tensor::from_int64({2, c, h, w}))});
    ValueId conv = depthwise_conv(g, image, c, 3, 3, 3, true);
    ValueId flat =
        g.op("Reshape", {conv, g.constant("to_tokens", Tensor::from_int64({2, c, h * w}))});
    ValueId act = g.op("Gelu", {g.op("Transpose", {flat}, perm({0, 2, 1}))});
    g.output(g.op("Linear",
                  {act, g.constant("fc2_w", random_tensor(DType::kFloat32, {c, kC}, 5)),
                   g.constant("fc2_b", random_tensor(DType::kFloat32, {kC}, 6))},
                  {}, "vitrt"));
    if (variant == 1) g.output(g.op("Relu", {flat}));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
    if (variant == 0) {
      EXPECT_EQ(count_ops(after, "Conv"), 0);
      EXPECT_EQ(count_ops(after, "ChannelsLastConv"), 1);
      EXPECT_EQ(count_ops(after, "Transpose"), 0);
    } else {
      // The flattened image's other reader needs the way back: one Transpose saved on the way
      // in, one added on the way out, so the region is not worth storing permuted.
      EXPECT_EQ(applied, 0);
      EXPECT_EQ(count_ops(after, "Transpose"), 2);
    }
    testing::expect_outputs_close(g.graph(), after,
                                  {random_tensor(DType::kFloat32, {2, h * w, kC}, 7)}, 1e-5);
  }
}

TEST(CancelLayoutTransposes, TokensToImageWithAnotherPermutationKeepsOneTranspose) {
  // Transpose(0,3,2,1) after the split: the permutations compose into one Transpose after the
  // Reshape, taken only while the inner Transpose dies (else the count would not fall).
  for (bool inner_read_elsewhere : {false, true}) {
    TestGraph g;
    ValueId tokens = g.input("tokens", DType::kFloat32, {2, 35, kC});
    ValueId channels_first = g.op("Transpose", {tokens}, perm({0, 2, 1}));
    ValueId image =
        g.op("Reshape", {channels_first, g.constant("shape", Tensor::from_int64({2, kC, 5, 7}))});
    g.output(g.op("Transpose", {image}, perm({0, 3, 2, 1})));
    if (inner_read_elsewhere) g.output(g.op("Relu", {channels_first}));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
    EXPECT_EQ(applied, inner_read_elsewhere ? 0 : 1);
    EXPECT_EQ(count_ops(after, "Transpose"), inner_read_elsewhere ? 2 : 1);
    testing::expect_same_outputs(g.graph(), after,
                                 {random_tensor(DType::kFloat32, {2, 35, kC}, 1)});
  }
}

TEST(CancelLayoutTransposes, OtherTransposesAtTheBorderArePermutedAnew) {
  // Add(Transpose(0,3,1,2)(a), Transpose(0,3,2,1)(b)) -> Transpose(0,2,3,1) -> output. Stored
  // channels-last, a's Transpose and the output's cancel; b's composes into (0,2,1,3), in place
  // or (when b's Transpose is read elsewhere too) as a new one beside it.
  for (bool b_read_elsewhere : {false, true}) {
    TestGraph g;
    ValueId a =
        g.op("Transpose", {g.input("a", DType::kFloat32, {2, 5, 5, kC})}, perm({0, 3, 1, 2}));
    ValueId b =
        g.op("Transpose", {g.input("b", DType::kFloat32, {2, 5, 5, kC})}, perm({0, 3, 2, 1}));
    g.output(g.op("Transpose", {g.op("Add", {a, b})}, perm({0, 2, 3, 1})));
    if (b_read_elsewhere) g.output(g.op("Relu", {b}));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(after, "Transpose"), b_read_elsewhere ? 2 : 1);
    testing::expect_same_outputs(g.graph(), after,
                                 {random_tensor(DType::kFloat32, {2, 5, 5, kC}, 1),
                                  random_tensor(DType::kFloat32, {2, 5, 5, kC}, 2)});
  }
}

TEST(CancelLayoutTransposes, TransposeOfAGraphOutputStays) {
  // x -> Mul(c) -> Transpose -> output: storing the Mul permuted would drop the Transpose but
  // need one for x, so nothing changes.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, kC, 4, 5});
  ValueId m = g.op("Mul", {x, g.constant("c", random_tensor(DType::kFloat32, {kC, 1, 1}, 2))});
  g.output(g.op("Transpose", {m}, perm({0, 2, 3, 1})));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = testing::run_pass(cancel_layout_transposes, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Transpose"), 1);
  EXPECT_TRUE(r.logged("would change the Transpose count by +0")) << r.log.size();
}

TEST(CancelLayoutTransposes, GroupedConvGoesChannelsLast) {
  // A grouped Conv (2 groups of 6 channels, ResNeXt/RegNet-style) between the layout Transposes
  // becomes a ChannelsLastConv of the region: both Transposes go, and the residual Add's x needs
  // one in and one out (x is a graph input and the sum a graph output): 2 left of 2, plus the
  // conv's own layout copy saved.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), kC, 6, 6});
  Attributes conv;
  conv.set_ints("pads", {1, 1, 1, 1});
  conv.set_int("group", 2);
  ValueId c = g.op("Conv",
                   {x, g.constant("w", random_tensor(DType::kFloat32, {kC, kC / 2, 3, 3}, 2)),
                    g.constant("cb", random_tensor(DType::kFloat32, {kC}, 5))},
                   conv, "", "grouped");
  ValueId t = g.op("Transpose", {c}, perm({0, 2, 3, 1}));
  Attributes ln;
  ln.set_int("axis", -1);
  t = g.op("LayerNormalization",
           {t, g.constant("s", random_tensor(DType::kFloat32, {kC}, 3)),
            g.constant("b", random_tensor(DType::kFloat32, {kC}, 4))},
           ln);
  t = g.op("Transpose", {t}, perm({0, 3, 1, 2}));
  g.output(g.op("Add", {t, x}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_GE(applied, 1);
  EXPECT_EQ(count_ops(after, "Conv"), 0);
  EXPECT_EQ(count_ops(after, "ChannelsLastConv"), 1);
  EXPECT_LE(count_ops(after, "Transpose"), 2);
  testing::expect_outputs_close(g.graph(), after,
                                {random_tensor(DType::kFloat32, {3, kC, 6, 6}, 1)}, 1e-5);
}

// A k x k Conv of `ci` to `co` channels with "same" padding, stride s, random weights and bias.
ValueId conv_kxk(TestGraph& g, ValueId x, int64_t ci, int64_t co, int64_t k, int64_t s,
                 uint64_t seed) {
  Attributes a;
  a.set_ints("kernel_shape", {k, k});
  a.set_ints("strides", {s, s});
  a.set_ints("pads", {k / 2, k / 2, k / 2, k / 2});
  return g.op(
      "Conv",
      {x, g.constant("w", random_tensor(DType::kFloat32, {co, ci, k, k}, seed, -0.3f, 0.3f)),
       g.constant("b", random_tensor(DType::kFloat32, {co}, seed + 1))},
      a);
}

// A ResNet bottleneck on the NCHW trunk t (BatchNorm folded):
//   Conv 1x1 -> Relu -> Conv 3x3 (stride `stride`) -> Relu -> Conv 1x1 -> Add(shortcut) -> Relu
// with the shortcut a strided 1x1 Conv where the shape changes.
ValueId bottleneck(TestGraph& g, ValueId t, int64_t in, int64_t mid, int64_t out, int64_t stride,
                   uint64_t seed) {
  const auto conv = [&](ValueId x, int64_t ci, int64_t co, int64_t k, int64_t s, uint64_t sd) {
    return conv_kxk(g, x, ci, co, k, s, sd);
  };
  ValueId y = g.op("Relu", {conv(t, in, mid, 1, 1, seed)});
  y = g.op("Relu", {conv(y, mid, mid, 3, stride, seed + 2)});
  y = conv(y, mid, out, 1, 1, seed + 4);
  const ValueId shortcut = in == out && stride == 1 ? t : conv(t, in, out, 1, stride, seed + 6);
  return g.op("Relu", {g.op("Add", {y, shortcut})});
}

TEST(CancelLayoutTransposes, ResNetTrunkGoesChannelsLast) {
  // No Transpose at all: the dense convolutions make channels-last worth it. The 1x1 ones become
  // Linear layers of the channel axis, the 3x3 and the strided 1x1 ones ChannelsLastConv; the
  // pooled head joins the region, so one Transpose goes in and one comes out (before Flatten).
  TestGraph g;
  ValueId t = g.input("x", DType::kFloat32,
                      {Dim::symbol("batch"), 8, Dim::symbol("height"), Dim::symbol("width")});
  t = bottleneck(g, t, 8, 4, 16, 1, 10);
  t = bottleneck(g, t, 16, 4, 16, 1, 20);
  t = bottleneck(g, t, 16, 8, 24, 2, 30);
  g.output(g.op("Flatten", {g.op("GlobalAveragePool", {t})}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "Conv"), 0);
  // Two 1x1 per block and the first block's shortcut; three 3x3 and the strided shortcut.
  EXPECT_EQ(count_ops(after, "Linear"), 7);
  EXPECT_EQ(count_ops(after, "ChannelsLastConv"), 4);
  EXPECT_EQ(count_ops(after, "Transpose"), 2);
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 8, 9, 11}, std::vector<int64_t>{1, 8, 4, 3}}) {
    testing::expect_outputs_close(g.graph(), after, {random_tensor(DType::kFloat32, shape, 1)},
                                  1e-4);
  }
}

// A squeeze-and-excitation block (EfficientNet, MobileNetV3, RegNetY) after a 3x3 conv: the
// spatial mean is a ReduceMean with keepdims (axes an attribute before opset 18, an input from
// 18), its two 1x1 convs, the Sigmoid gate and the product all stay in the trunk's region.
TEST(CancelLayoutTransposes, SqueezeExcitationStaysInTheRegion) {
  for (const int64_t opset : {int64_t{17}, int64_t{18}}) {
    SCOPED_TRACE(opset);
    TestGraph g(opset);
    ValueId t = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 8, 7, 6});
    const auto conv = [&](ValueId x, int64_t ci, int64_t co, int64_t k, uint64_t seed) {
      return conv_kxk(g, x, ci, co, k, 1, seed);
    };
    t = g.op("Relu", {conv(t, 8, 12, 3, 10)});
    Attributes mean;
    mean.set_int("keepdims", 1);
    ValueId pooled;
    if (opset >= 18) {
      pooled = g.op("ReduceMean", {t, g.constant("axes", Tensor::from_int64({2, 3}))}, mean);
    } else {
      mean.set_ints("axes", {-2, -1});
      pooled = g.op("ReduceMean", {t}, mean);
    }
    ValueId gate = g.op("Relu", {conv(pooled, 12, 4, 1, 20)});
    gate = g.op("Sigmoid", {conv(gate, 4, 12, 1, 30)});
    t = g.op("Mul", {t, gate});
    g.output(g.op("Relu", {conv(t, 12, 8, 3, 40)}));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(after, "Conv"), 0);
    EXPECT_EQ(count_ops(after, "ReduceMean"), 1);
    EXPECT_EQ(count_ops(after, "Transpose"), 2);  // into the region and out to the output
    testing::expect_outputs_close(g.graph(), after,
                                  {random_tensor(DType::kFloat32, {2, 8, 7, 6}, 1)}, 1e-4);
  }
}

// Norms written over an NCHW tensor's channel axis between dense convolutions: MobileNetV5's
// RmsNorm2d (x / sqrt(mean(x^2, 1) + eps) * w, its Pow an elementwise op of the region) and SAM's
// LayerNorm2d. The region goes channels-last, the means then average the last axis, and
// fuse_rms_norm / fuse_layer_norm (run again after this pass) take each chain into one node.
TEST(CancelLayoutTransposes, ChannelNormsGoChannelsLastAndFuse) {
  TestGraph g;
  ValueId t = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 8, 7, 6});
  Attributes mean;
  mean.set_int("keepdims", 1);
  mean.set_ints("axes", {1});
  const auto scalar = [&](const char* name, float v) {
    return g.constant(name, Tensor::from_float({v}, true));
  };
  const auto per_channel = [&](const char* name, int64_t c, uint64_t seed) {
    return g.constant(name, random_tensor(DType::kFloat32, {c, 1, 1}, seed));
  };
  t = conv_kxk(g, t, 8, 12, 3, 1, 10);
  // RmsNorm2d
  ValueId ms = g.op("ReduceMean", {g.op("Pow", {t, scalar("two", 2.0f)})}, mean);
  ValueId rms = g.op("Sqrt", {g.op("Add", {ms, scalar("eps", 1e-6f)})});
  t = g.op("Mul", {g.op("Div", {t, rms}), per_channel("rms_w", 12, 20)});
  t = g.op("Relu", {conv_kxk(g, t, 12, 12, 3, 1, 30)});
  // LayerNorm2d
  ValueId mu = g.op("ReduceMean", {t}, mean);
  ValueId d = g.op("Sub", {t, mu});
  ValueId var = g.op("ReduceMean", {g.op("Pow", {d, scalar("two_b", 2.0f)})}, mean);
  ValueId sd = g.op("Sqrt", {g.op("Add", {var, scalar("eps_b", 1e-6f)})});
  t = g.op("Add", {g.op("Mul", {g.op("Div", {d, sd}), per_channel("ln_w", 12, 40)}),
                   per_channel("ln_b", 12, 50)});
  g.output(conv_kxk(g, t, 12, 4, 1, 1, 60));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "Conv"), 0);
  EXPECT_EQ(count_ops(after, "Pow"), 2);
  EXPECT_EQ(count_ops(after, "Transpose"), 2);  // into the region and out to the output
  // In the optimizer's order: a LayerNorm's variance alone would look like an RMSNorm of x - mean.
  auto [ln_fused, ln_applied] = apply_pass(after, fuse_layer_norm);
  EXPECT_EQ(ln_applied, 1);
  auto [fused, rms_applied] = apply_pass(ln_fused, fuse_rms_norm);
  EXPECT_EQ(rms_applied, 1);
  EXPECT_EQ(count_ops(fused, "RMSNormalization"), 1);
  EXPECT_EQ(count_ops(fused, "LayerNormalization"), 1);
  EXPECT_EQ(count_ops(fused, "Pow"), 0);
  EXPECT_EQ(count_ops(fused, "ReduceMean"), 0);
  for (const Graph* graph : {&after, &fused}) {
    testing::expect_outputs_close(g.graph(), *graph,
                                  {random_tensor(DType::kFloat32, {2, 8, 7, 6}, 1)}, 1e-4);
  }
}

// PoolFormer's blocks: F.group_norm(x, 1) as TorchScript writes it (Reshape [N, 1, -1] ->
// InstanceNormalization -> Reshape back), its per-channel affine, a 3x3 AveragePool token mixer
// and a 1x1-conv MLP. fuse_group_norm makes each norm one GroupNormalization, which (one group,
// uniform scale and bias) joins the channels-last region: the 1x1 convs become Linear layers,
// the pools vitrt.ChannelsLastPool. A two-group norm (not layout-free) fuses but keeps its region
// out, and the Reshapes' other reader or a per-channel scale in the InstanceNorm declines the
// fusion. Each graph is run against the one before the passes.
ValueId pool_former_norm(TestGraph& g, ValueId t, int64_t c, int64_t h, int64_t w, int64_t groups,
                         uint64_t seed) {
  ValueId r = g.op("Reshape", {t, g.constant("gn_shape", Tensor::from_int64({2, groups, -1}))});
  Attributes eps;
  eps.set_float("epsilon", 1e-5f);
  ValueId n = g.op("InstanceNormalization",
                   {r, g.constant("gn_s", random_tensor(DType::kFloat32, {groups}, seed)),
                    g.constant("gn_b", random_tensor(DType::kFloat32, {groups}, seed + 1))},
                   eps);
  ValueId back = g.op("Reshape", {n, g.constant("gn_back", Tensor::from_int64({2, c, h, w}))});
  ValueId scaled = g.op(
      "Mul", {back, g.constant("gn_gamma", random_tensor(DType::kFloat32, {c, 1, 1}, seed + 2))});
  return g.op("Add",
              {scaled, g.constant("gn_beta", random_tensor(DType::kFloat32, {c, 1, 1}, seed + 3))});
}

TestGraph pool_former(int64_t groups) {
  TestGraph g;
  constexpr int64_t c = 8, h = 7, w = 6;
  ValueId t = g.input("x", DType::kFloat32, {2, 3, h, w});
  t = conv_kxk(g, t, 3, c, 3, 1, 10);
  for (int b = 0; b < 2; ++b) {
    const uint64_t seed = 100 * (b + 1);
    ValueId n1 = pool_former_norm(g, t, c, h, w, groups, seed);
    Attributes pool;
    pool.set_ints("kernel_shape", {3, 3});
    pool.set_ints("pads", {1, 1, 1, 1});
    pool.set_int("count_include_pad", 0);
    ValueId mixed = g.op("Sub", {g.op("AveragePool", {n1}, pool), n1});
    t = g.op("Add", {t, mixed});
    ValueId n2 = pool_former_norm(g, t, c, h, w, groups, seed + 10);
    ValueId fc1 = g.op("Gelu", {conv_kxk(g, n2, c, 2 * c, 1, 1, seed + 20)});
    t = g.op("Add", {t, conv_kxk(g, fc1, 2 * c, c, 1, 1, seed + 30)});
  }
  g.output(g.op("GlobalAveragePool", {t}));
  EXPECT_TRUE(g.infer().ok());
  return g;
}

TEST(CancelLayoutTransposes, PoolFormerGroupNormJoinsTheRegion) {
  for (int64_t groups : {1, 2}) {
    SCOPED_TRACE(str_cat(groups, " groups"));
    TestGraph g = pool_former(groups);
    auto [fused, fused_count] = apply_pass(g.graph(), fuse_group_norm);
    EXPECT_EQ(fused_count, 4);
    EXPECT_EQ(count_ops(fused, "GroupNormalization"), 4);
    EXPECT_EQ(count_ops(fused, "InstanceNormalization"), 0);
    EXPECT_EQ(count_ops(fused, "Reshape"), 0);
    auto [after, applied] = apply_pass(fused, cancel_layout_transposes);
    if (groups == 1) {
      EXPECT_EQ(applied, 1);
      EXPECT_EQ(count_ops(after, "Conv"), 0);
      EXPECT_EQ(count_ops(after, "AveragePool"), 0);
      EXPECT_EQ(count_ops(after, "ChannelsLastPool"), 2);
      EXPECT_EQ(count_ops(after, "Linear"), 4);
    } else {
      EXPECT_EQ(count_ops(after, "GroupNormalization"), 4);
      EXPECT_GE(count_ops(after, "Conv") + count_ops(after, "ChannelsLastConv"), 1);
    }
    const std::vector<Tensor> inputs = {random_tensor(DType::kFloat32, {2, 3, 7, 6}, 1)};
    for (const Graph* graph : {&fused, &after}) {
      testing::expect_outputs_close(g.graph(), *graph, inputs, 1e-4);
    }
  }
}

TEST(CancelLayoutTransposes, GroupNormFusionDeclines) {
  // The grouped value read elsewhere too, and a Reshape back to another shape.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 4, 3, 3});
  ValueId r = g.op("Reshape", {x, g.constant("shape", Tensor::from_int64({2, 1, -1}))});
  ValueId n =
      g.op("InstanceNormalization", {r, g.constant("s", random_tensor(DType::kFloat32, {1}, 1)),
                                     g.constant("b", random_tensor(DType::kFloat32, {1}, 2))});
  g.output(g.op("Reshape", {n, g.constant("back", Tensor::from_int64({2, 4, 3, 3}))}));
  g.output(r);
  ValueId r2 = g.op("Reshape", {x, g.constant("shape2", Tensor::from_int64({2, 2, -1}))});
  ValueId n2 =
      g.op("InstanceNormalization", {r2, g.constant("s2", random_tensor(DType::kFloat32, {2}, 3)),
                                     g.constant("b2", random_tensor(DType::kFloat32, {2}, 4))});
  g.output(g.op("Reshape", {n2, g.constant("other", Tensor::from_int64({2, 2, 6, 3}))}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), fuse_group_norm);
  EXPECT_EQ(applied, 0);
  EXPECT_EQ(count_ops(after, "InstanceNormalization"), 2);
}

// Multi-scale features fused as MobileNetV5's adapter and an FPN do: a coarse map upsampled by
// Resize (scales, sizes, or opset 18's axes attribute with their scales), concatenated with a
// fine one along the channels, then a 1x1 conv. Resize and Concat join the region (their
// constant scales / sizes / roi and axes follow the permutation), so the whole graph is one
// channels-last region with a Transpose in and one out.
TEST(CancelLayoutTransposes, ResizeAndConcatJoinTheRegion) {
  enum Form { kScales, kSizes, kAxes, kRoi };
  for (const Form form : {kScales, kSizes, kAxes, kRoi}) {
    SCOPED_TRACE(form);
    TestGraph g(form == kAxes ? 18 : 17);
    ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, 8, 10});
    ValueId fine = g.op("Relu", {conv_kxk(g, x, 6, 8, 3, 1, 10)});
    ValueId coarse = g.op("Relu", {conv_kxk(g, fine, 8, 4, 3, 2, 20)});  // [N, 4, 4, 5]
    Attributes resize;
    resize.set_string("mode", form == kRoi ? "linear" : "nearest");
    const ValueId none = g.constant("none", Tensor::from_float({}));
    std::vector<ValueId> in;
    switch (form) {
      case kScales:
        in = {coarse, none, g.constant("scales", Tensor::from_float({1, 1, 2, 2}))};
        break;
      case kSizes:
        in = {coarse, none, none, g.constant("sizes", Tensor::from_int64({1, 4, 8, 10}))};
        // A batch of 1 only: sizes fix every axis.
        break;
      case kAxes:
        resize.set_ints("axes", {2, 3});
        in = {coarse, none, g.constant("scales", Tensor::from_float({2, 2}))};
        break;
      case kRoi:
        resize.set_string("coordinate_transformation_mode", "tf_crop_and_resize");
        in = {coarse, g.constant("roi", Tensor::from_float({0, 0, 0.1f, 0.2f, 1, 1, 0.9f, 0.7f})),
              g.constant("scales", Tensor::from_float({1, 1, 2, 2}))};
        break;
    }
    ValueId up = g.op("Resize", in, resize);
    Attributes cat;
    cat.set_int("axis", 1);
    ValueId merged = g.op("Concat", {fine, up}, cat);
    g.output(conv_kxk(g, merged, 12, 5, 1, 1, 30));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(after, "Conv"), 0);
    EXPECT_EQ(count_ops(after, "Resize"), 1);
    EXPECT_EQ(count_ops(after, "Transpose"), 2);
    const int64_t batch = form == kSizes ? 1 : 2;
    testing::expect_outputs_close(g.graph(), after,
                                  {random_tensor(DType::kFloat32, {batch, 6, 8, 10}, 1)}, 1e-4);
  }
}

// HGNetV2's stem: conv -> ReLU -> F.pad(x, (0, 1, 0, 1)) read by a 2x2 conv and a max pool
// (ceil mode), both on the padded map. The Pad (its pads an input from opset 11, an attribute
// before; reflect mode too) joins the channels-last region with its pads permuted: one Transpose
// in, one out, and the stem's first conv channels-last too.
TEST(CancelLayoutTransposes, PadJoinsTheRegionWithItsPadsPermuted) {
  for (const int opset : {17, 10}) {
    for (const char* mode : {"constant", "reflect"}) {
      SCOPED_TRACE(std::string(mode) + " opset " + std::to_string(opset));
      TestGraph g(opset);
      ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 3, 12, 10});
      ValueId stem = g.op("Relu", {conv_kxk(g, x, 3, 8, 3, 2, 10)});  // [N, 8, 6, 5]
      const std::vector<int64_t> pads = {0, 0, 0, 0, 0, 0, 1, 1};     // bottom and right
      Attributes pad_attrs;
      pad_attrs.set_string("mode", mode);
      std::vector<ValueId> pad_in = {stem};
      if (opset >= 11) {
        pad_in.push_back(g.constant("pads", Tensor::from_int64(pads)));
      } else {
        pad_attrs.set_ints("pads", pads);
      }
      ValueId padded = g.op("Pad", pad_in, pad_attrs);  // [N, 8, 7, 6]
      Attributes two;
      two.set_ints("kernel_shape", {2, 2});
      ValueId a = g.op(
          "Conv",
          {padded, g.constant("w2", random_tensor(DType::kFloat32, {8, 8, 2, 2}, 20, -0.3f, 0.3f))},
          two);
      Attributes pool = two;
      pool.set_ints("strides", {1, 1});
      pool.set_int("ceil_mode", 1);
      ValueId b = g.op("MaxPool", {padded}, pool);
      Attributes cat;
      cat.set_int("axis", 1);
      g.output(conv_kxk(g, g.op("Concat", {a, b}, cat), 16, 4, 3, 2, 30));
      ASSERT_TRUE(g.infer().ok());
      auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
      EXPECT_EQ(applied, 1);
      EXPECT_EQ(count_ops(after, "Conv"), 0);
      EXPECT_EQ(count_ops(after, "Pad"), 1);
      EXPECT_EQ(count_ops(after, "Transpose"), 2);
      testing::expect_outputs_close(g.graph(), after,
                                    {random_tensor(DType::kFloat32, {2, 3, 12, 10}, 1)}, 1e-4);
    }
  }
}

// ConvNeXt-V2's global response norm between 1x1 convolutions on an NCHW trunk:
//   y = x * gamma * n + beta + x,  n = L2(x over H, W) / (mean of that over C + eps)
// with the L2 a ReduceL2 (axes an attribute before opset 18, an input from 18) and the mean a
// ReduceSum times 1/C (axes an input from opset 13). Both reductions stay in the channels-last
// region: one Transpose in, one out (with them outside, the three convs would not pay for the
// Transposes around the norm).
TEST(CancelLayoutTransposes, ConvNeXtV2ResponseNormStaysInTheRegion) {
  for (const int64_t opset : {int64_t{17}, int64_t{18}}) {
    SCOPED_TRACE(opset);
    TestGraph g(opset);
    ValueId t = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 8, 7, 6});
    t = g.op("Relu", {conv_kxk(g, conv_kxk(g, t, 8, 8, 3, 1, 5), 8, 16, 1, 1, 10)});
    Attributes keep;
    keep.set_int("keepdims", 1);
    Attributes l2 = keep;
    std::vector<ValueId> l2_in = {t};
    if (opset >= 18) {
      l2_in.push_back(g.constant("l2_axes", Tensor::from_int64({2, 3})));
    } else {
      l2.set_ints("axes", {2, 3});
    }
    ValueId gx = g.op("ReduceL2", l2_in, l2);
    ValueId total = g.op("ReduceSum", {gx, g.constant("c_axis", Tensor::from_int64({1}))}, keep);
    ValueId mean = g.op("Mul", {total, g.constant("inv_c", Tensor::from_float({1.0f / 16}, true))});
    ValueId nx = g.op(
        "Div", {gx, g.op("Add", {mean, g.constant("eps", Tensor::from_float({1e-6f}, true))})});
    ValueId y =
        g.op("Mul", {g.op("Mul", {t, nx}),
                     g.constant("gamma", random_tensor(DType::kFloat32, {1, 16, 1, 1}, 20))});
    y = g.op(
        "Add",
        {g.op("Add", {y, g.constant("beta", random_tensor(DType::kFloat32, {1, 16, 1, 1}, 21))}),
         t});
    g.output(conv_kxk(g, y, 16, 8, 3, 1, 30));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(after, "Conv"), 0);
    EXPECT_EQ(count_ops(after, "ReduceL2"), 1);
    EXPECT_EQ(count_ops(after, "Transpose"), 2);
    testing::expect_outputs_close(g.graph(), after,
                                  {random_tensor(DType::kFloat32, {2, 8, 7, 6}, 1)}, 1e-5);
  }
}

// InceptionNeXt's token mixer (channels split four ways: an identity part and three depthwise
// convolutions, 3x3, 1x11 and 11x1, concatenated again) and a GhostNet module (a 1x1 conv and a
// cheap depthwise one concatenated, then sliced to the output width): Split, Concat and Slice
// stay in the channels-last region with their axes moved, the Slice's axes made explicit
// where they were left out (opset 17 and 18 alike).
TEST(CancelLayoutTransposes, SplitConcatAndSliceJoinTheRegion) {
  for (const bool implicit_axes : {false, true}) {
    SCOPED_TRACE(implicit_axes);
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 8, 9, 10});
    ValueId t = g.op("Relu", {conv_kxk(g, x, 8, 16, 3, 1, 10)});
    Attributes split;
    split.set_int("axis", 1);
    const std::vector<ValueId> parts =
        g.op_multi("Split", {t, g.constant("sizes", Tensor::from_int64({4, 4, 4, 4}))}, 4, split);
    Attributes cat;
    cat.set_int("axis", 1);
    t = g.op("Concat",
             {parts[0], depthwise_conv(g, parts[1], 4, 3, 3, 20, false),
              depthwise_conv(g, parts[2], 4, 1, 5, 21, false),
              depthwise_conv(g, parts[3], 4, 5, 1, 22, false)},
             cat);
    // Ghost module: 1x1 to 6 channels, a depthwise 3x3 of those, concatenated (12) and sliced
    // to the 10 output channels.
    ValueId primary = conv_kxk(g, t, 16, 6, 1, 1, 30);
    ValueId ghost = depthwise_conv(g, g.op("Relu", {primary}), 6, 3, 3, 31, false);
    t = g.op("Concat", {primary, ghost}, cat);
    std::vector<ValueId> slice = {t, g.constant("starts", Tensor::from_int64({0, 0})),
                                  g.constant("ends", Tensor::from_int64({INT64_MAX, 10}))};
    if (!implicit_axes) slice.push_back(g.constant("axes", Tensor::from_int64({0, 1})));
    t = g.op("Slice", slice);
    g.output(g.op("Relu", {conv_kxk(g, t, 10, 8, 3, 1, 40)}));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(after, "Conv"), 0);
    EXPECT_EQ(count_ops(after, "Transpose"), 2);
    EXPECT_EQ(count_ops(after, "Split"), 1);
    EXPECT_EQ(count_ops(after, "Slice"), 1);
    testing::expect_outputs_close(g.graph(), after,
                                  {random_tensor(DType::kFloat32, {2, 8, 9, 10}, 1)}, 1e-4);
  }
}

// EfficientViT's cascaded group attention splits the channels into heads and flattens each to
// tokens at once. A Split whose parts are read by ops that stay in the old layout (Reshape)
// stays out of the region: it would charge a Transpose per part. The convolutions before it
// still go channels-last, with one Transpose back before the Split.
TEST(CancelLayoutTransposes, SplitReadByReshapesStaysOutside) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 8, 6, 6});
  ValueId t = g.op("Relu", {conv_kxk(g, x, 8, 8, 3, 1, 10)});
  t = g.op("Relu", {conv_kxk(g, t, 8, 8, 3, 1, 20)});
  t = g.op("Relu", {conv_kxk(g, t, 8, 8, 3, 1, 30)});
  Attributes split;
  split.set_int("axis", 1);
  const std::vector<ValueId> heads =
      g.op_multi("Split", {t, g.constant("sizes", Tensor::from_int64({4, 4}))}, 2, split);
  for (ValueId h : heads) {
    g.output(g.op("Reshape", {h, g.constant("tokens", Tensor::from_int64({2, 4, 36}))}));
  }
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "Conv"), 0);
  EXPECT_EQ(count_ops(after, "Transpose"), 2);  // in, and back before the Split
  for (const Node& node : after.nodes) {
    if (!node.dead && node.op_type == "Split") {
      EXPECT_EQ(*node.attrs.get_int("axis", 0), 1);
    }
  }
  testing::expect_outputs_close(g.graph(), after, {random_tensor(DType::kFloat32, {2, 8, 6, 6}, 1)},
                                1e-4);
}

TEST(CancelLayoutTransposes, ResNetStemAndPoolJoinTheTrunk) {
  // ResNet's stem: a 7x7 stride-2 Conv over the 3 image channels, Relu, MaxPool 3x3 stride 2,
  // then a bottleneck and an AveragePool (ResNet-D's shortcut pool): the pools become
  // ChannelsLastPool, so a single Transpose goes in (the image) and one comes out.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32,
                      {Dim::symbol("batch"), 3, Dim::symbol("height"), Dim::symbol("width")});
  Attributes stem;
  stem.set_ints("kernel_shape", {7, 7});
  stem.set_ints("strides", {2, 2});
  stem.set_ints("pads", {3, 3, 3, 3});
  ValueId t = g.op(
      "Relu",
      {g.op("Conv",
            {x, g.constant("stem_w", random_tensor(DType::kFloat32, {8, 3, 7, 7}, 5, -0.3, 0.3)),
             g.constant("stem_b", random_tensor(DType::kFloat32, {8}, 6))},
            stem)});
  Attributes pool;
  pool.set_ints("kernel_shape", {3, 3});
  pool.set_ints("strides", {2, 2});
  pool.set_ints("pads", {1, 1, 1, 1});
  t = g.op("MaxPool", {t}, pool);
  t = bottleneck(g, t, 8, 4, 16, 1, 10);
  Attributes avg;
  avg.set_ints("kernel_shape", {2, 2});
  avg.set_ints("strides", {2, 2});
  avg.set_int("ceil_mode", 1);
  t = g.op("AveragePool", {t}, avg);
  g.output(g.op("Flatten", {g.op("GlobalAveragePool", {t})}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), cancel_layout_transposes);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "Conv"), 0);
  EXPECT_EQ(count_ops(after, "MaxPool"), 0);
  EXPECT_EQ(count_ops(after, "AveragePool"), 0);
  EXPECT_EQ(count_ops(after, "ChannelsLastPool"), 2);
  EXPECT_EQ(count_ops(after, "Transpose"), 2);
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 3, 33, 29}, std::vector<int64_t>{1, 3, 16, 16}}) {
    testing::expect_outputs_close(g.graph(), after, {random_tensor(DType::kFloat32, shape, 1)},
                                  1e-4);
  }
}

TEST(CancelLayoutTransposes, GoldenResNetRunsChannelsLast) {
  // tests/golden/timm_resnet_{ts17,dynamo}: every Conv channels-last (the 1x1 ones as Linear
  // layers with the shortcut and the ReLU in their epilogue), the stem's MaxPool NHWC; one
  // Transpose brings the image in, one takes the pooled features to the head's Flatten.
  for (const char* name : {"timm_resnet_ts17", "timm_resnet_dynamo"}) {
    const std::filesystem::path model =
        std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "golden" / name / "model.onnx";
    Result<Graph> g = import_and_prepare(model.string(), BuildOptions{}, nullptr);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    EXPECT_EQ(count_ops(*g, "Conv"), 0) << name;
    // The stem, 5 3x3 convs and the 3 strided 1x1 shortcuts of layers 2-4.
    EXPECT_EQ(count_ops(*g, "ChannelsLastConv"), 9) << name;
    EXPECT_EQ(count_ops(*g, "ChannelsLastPool"), 1) << name;
    EXPECT_EQ(count_ops(*g, "Relu"), 0) << name;
    EXPECT_EQ(count_ops(*g, "Add"), 0) << name;
    EXPECT_EQ(count_ops(*g, "Transpose"), 2) << name;
  }
}

TEST(CancelLayoutTransposes, LoneDenseConvStaysNchw) {
  // One 3x3 Conv and its Relu: going channels-last needs a Transpose in and one out, and saves
  // only the Conv's own layout copy.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), kC, 6, 6});
  Attributes conv;
  conv.set_ints("pads", {1, 1, 1, 1});
  ValueId c =
      g.op("Conv", {x, g.constant("w", random_tensor(DType::kFloat32, {kC, kC, 3, 3}, 2))}, conv);
  g.output(g.op("Relu", {c}));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = testing::run_pass(cancel_layout_transposes, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Conv"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Transpose"), 0);
}

TEST(CancelLayoutTransposes, GoldenConvNeXtKeepsItsTrunkChannelsLast) {
  // tests/golden/timm_convnext_ts17 (depths 1, 1, 2, 1): 24 Transposes as imported and fused
  // (two per block, two per LayerNorm2d, one per patch convolution), 1 after: every block runs
  // ChannelsLastConv with the layer scale and the residual in fc2, the pooling is NHWC, the
  // stem's tokens become an NHWC image by a Reshape, the three downsamplers (2x2 stride 2) are
  // dense ChannelsLastConvs; left is the Transpose before the head's Flatten.
  const std::filesystem::path model = std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "golden" /
                                      "timm_convnext_ts17" / "model.onnx";
  Result<Graph> g = import_and_prepare(model.string(), BuildOptions{}, nullptr);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(count_ops(*g, "ChannelsLastConv"), 8);
  EXPECT_EQ(count_ops(*g, "Conv"), 0);
  EXPECT_EQ(count_ops(*g, "Mul"), 0);
  EXPECT_EQ(count_ops(*g, "Add"), 0);
  EXPECT_EQ(count_ops(*g, "Transpose"), 1);
}

}  // namespace
}  // namespace vitrt
