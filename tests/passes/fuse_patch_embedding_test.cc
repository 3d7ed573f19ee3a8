// fuse_patch_embedding: a stride == kernel Conv becomes Patchify + Linear; with the exporters'
// Reshape -> Transpose token chain the chain goes too, otherwise the image layout is restored.
#include <gtest/gtest.h>

#include "passes/run_fusion.h"
#include "runtime/build_pipeline.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_fusion;
using testing::TestGraph;

struct ConvForm {
  int64_t channels = 3, dim = 11, ph = 4, pw = 3, height = 12, width = 15;
  bool symbolic_size = false;  // the graph's image is [batch, C, height, width]; runs use the sizes
  std::vector<int64_t> strides = {4, 3};
  std::vector<int64_t> pads = {0, 0, 0, 0};
  bool bias = true;
  bool constant_weight = true;
  enum class Tail { kNone, kShapeReshapeTranspose, kConstReshapeTranspose } tail = Tail::kNone;
};

TestGraph conv_graph(const ConvForm& f) {
  TestGraph g;
  const ValueId x = g.input(
      "x", DType::kFloat32,
      {Dim::symbol("batch"), f.channels, f.symbolic_size ? Dim::symbol("height") : Dim(f.height),
       f.symbolic_size ? Dim::symbol("width") : Dim(f.width)});
  const std::vector<int64_t> wshape = {f.dim, f.channels, f.ph, f.pw};
  const ValueId w = f.constant_weight
                        ? g.constant("w", testing::random_tensor(DType::kFloat32, wshape, 3))
                        : g.input("w", DType::kFloat32, sym_shape_from_static(wshape));
  std::vector<ValueId> in = {x, w};
  if (f.bias) in.push_back(g.constant("b", testing::random_tensor(DType::kFloat32, {f.dim}, 4)));
  Attributes attrs;
  attrs.set_ints("kernel_shape", {f.ph, f.pw});
  attrs.set_ints("strides", f.strides);
  attrs.set_ints("pads", f.pads);
  ValueId y = g.op("Conv", in, attrs);
  if (f.tail == ConvForm::Tail::kShapeReshapeTranspose) {
    // TorchScript: Shape -> Slice [0:2] -> Concat with -1 -> Reshape.
    const ValueId shape = g.op("Shape", {y});
    const ValueId lead = g.op("Slice", {shape, g.constant("s0", Tensor::from_int64({0})),
                                        g.constant("s1", Tensor::from_int64({2}))});
    Attributes cat;
    cat.set_int("axis", 0);
    const ValueId target = g.op("Concat", {lead, g.constant("m1", Tensor::from_int64({-1}))}, cat);
    y = g.op("Reshape", {y, target});
  } else if (f.tail == ConvForm::Tail::kConstReshapeTranspose) {
    // dynamo: a constant target [-1, D, h*w].
    const int64_t n = (f.height / f.ph) * (f.width / f.pw);
    y = g.op("Reshape", {y, g.constant("t", Tensor::from_int64({-1, f.dim, n}))});
  }
  if (f.tail != ConvForm::Tail::kNone) {
    Attributes perm;
    perm.set_ints("perm", {0, 2, 1});
    y = g.op("Transpose", {y}, perm);
  }
  g.output(y);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> inputs(const ConvForm& f) {
  std::vector<Tensor> in = {
      testing::random_tensor(DType::kFloat32, {2, f.channels, f.height, f.width}, 1)};
  if (!f.constant_weight) {
    in.push_back(testing::random_tensor(DType::kFloat32, {f.dim, f.channels, f.ph, f.pw}, 3));
  }
  return in;
}

void expect_fused(const ConvForm& f, const char* what, int transposes_left, int shapes_left = 0) {
  SCOPED_TRACE(what);
  TestGraph g = conv_graph(f);
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), fuse_patch_embedding).applied, 1);
  EXPECT_EQ(count_ops(g.graph(), "Conv"), 0);
  EXPECT_EQ(count_ops(g.graph(), "Patchify"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Linear"), 1);
  EXPECT_EQ(count_ops(g.graph(), "Transpose"), transposes_left);
  EXPECT_EQ(count_ops(g.graph(), "Shape"), shapes_left);
  testing::expect_outputs_close(before, g.graph(), inputs(f));
}

void expect_not_fused(const ConvForm& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = conv_graph(f);
  EXPECT_EQ(run_fusion(g.graph(), fuse_patch_embedding).applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Conv"), 1);
}

TEST(FusePatchEmbedding, Fires) {
  using Tail = ConvForm::Tail;
  expect_fused({.tail = Tail::kShapeReshapeTranspose}, "TorchScript token chain", 0);
  expect_fused({.tail = Tail::kConstReshapeTranspose}, "dynamo token chain", 0);
  expect_fused({.bias = false, .tail = Tail::kShapeReshapeTranspose}, "no bias (CLIP)", 0);
  // A Conv read as an image keeps its [B, D, h, w] layout through Transpose + Reshape.
  expect_fused({}, "image-shaped reader", 1);
  // Sizes that are no multiple of the patch: Patchify cuts the rest, as the Conv does.
  expect_fused({.height = 14, .width = 17, .tail = Tail::kShapeReshapeTranspose},
               "height and width not multiples of the patch", 0);
}

TEST(FusePatchEmbedding, FiresOnSymbolicImageSizes) {
  using Tail = ConvForm::Tail;
  expect_fused({.symbolic_size = true, .tail = Tail::kShapeReshapeTranspose},
               "symbolic height and width", 0);
  expect_fused(
      {.height = 14, .width = 17, .symbolic_size = true, .tail = Tail::kShapeReshapeTranspose},
      "symbolic, run at sizes that are no multiple of the patch", 0);
  // The image-shaped reader gets [0, D, H//ph, W//pw] computed from the image's Shape.
  expect_fused({.height = 14, .width = 17, .symbolic_size = true}, "symbolic, image-shaped reader",
               1, 1);
  TestGraph g = conv_graph({.symbolic_size = true, .tail = Tail::kShapeReshapeTranspose});
  ASSERT_EQ(run_fusion(g.graph(), fuse_patch_embedding).applied, 1);
  const Value& tokens = g.graph().values[g.graph().outputs[0]];
  EXPECT_EQ(sym_shape_to_string(tokens.shape), "[batch, (height//4)*(width//3), 11]");
}

TEST(FusePatchEmbedding, DeclinesOtherConvs) {
  expect_not_fused({.strides = {2, 3}}, "stride != kernel");
  expect_not_fused({.pads = {1, 0, 1, 0}, .tail = ConvForm::Tail::kNone}, "padding");
  expect_not_fused({.constant_weight = false}, "weights not constant");
  expect_not_fused({.symbolic_size = true, .pads = {0, 0, 1, 0}}, "padding, symbolic size");
}

TEST(FusePatchEmbedding, FusesFixturePatchEmbeddings) {
  for (const char* name :
       {"hf_vit_eager_ts17", "hf_clip_vision_eager_ts17", "hf_dinov2_eager_ts17",
        "hf_siglip_vision_eager_ts17", "timm_vit_tiny_dynamo", "timm_vit_tiny_ts17"}) {
    SCOPED_TRACE(name);
    const std::string path =
        std::string(VITRT_SOURCE_DIR) + "/tests/golden/" + name + "/model.onnx";
    auto graph = import_and_prepare(path, BuildOptions{}, nullptr);
    ASSERT_TRUE(graph.ok()) << graph.status().message();
    EXPECT_EQ(count_ops(*graph, "Conv"), 0);
    EXPECT_EQ(count_ops(*graph, "Patchify"), 1);
  }
}

}  // namespace
}  // namespace vitrt
