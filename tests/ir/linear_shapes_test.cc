// Symbolic shape inference of MatMul, Gemm, Conv and ConvTranspose, and the messages of their
// shape errors.
#include <gtest/gtest.h>

#include "ir/op_schema.h"

namespace vitrt {
namespace {

const Dim kBatch = Dim::symbol("batch");

struct Operand {
  SymShape shape;
  bool has_shape = true;
};

// A one-node graph whose inputs are float32 graph inputs of the given symbolic shapes.
Graph graph_with(const std::string& op, const std::string& name, const std::vector<Operand>& ins,
                 Attributes attrs = {}) {
  Graph g;
  g.opset_imports[""] = 17;
  Node n;
  n.name = name;
  n.op_type = op;
  n.attrs = std::move(attrs);
  for (size_t i = 0; i < ins.size(); ++i) {
    Value v;
    v.name = "in" + std::to_string(i);
    v.dtype = DType::kFloat32;
    v.has_shape = ins[i].has_shape;
    v.shape = ins[i].shape;
    n.inputs.push_back(g.add_value(std::move(v)));
    g.inputs.push_back(n.inputs.back());
  }
  Value out;
  out.name = "out";
  n.outputs.push_back(g.add_value(std::move(out)));
  g.outputs.push_back(n.outputs.back());
  g.add_node(std::move(n));
  return g;
}

std::string inferred(Graph& g) {
  const Status s = infer_shapes(g);
  if (!s.ok()) return "error: " + s.message();
  const Value& v = g.values[g.nodes[0].outputs[0]];
  return v.has_shape ? sym_shape_to_string(v.shape) : "unknown rank";
}

TEST(LinearShapes, MatMulSymbolicBatch) {
  Graph g = graph_with("MatMul", "qkv", {{{kBatch, 197, 768}}, {{768, 2304}}});
  EXPECT_EQ(inferred(g), sym_shape_to_string({kBatch, 197, 2304}));
}

TEST(LinearShapes, MatMulBroadcastAndVectors) {
  Graph g1 = graph_with("MatMul", "m", {{{2, 1, 4, 5}}, {{3, 5, 6}}});
  EXPECT_EQ(inferred(g1), "[2, 3, 4, 6]");
  Graph g2 = graph_with("MatMul", "m", {{{7}}, {{kBatch, 7, 4}}});
  EXPECT_EQ(inferred(g2), sym_shape_to_string({kBatch, 4}));
  Graph g3 = graph_with("MatMul", "m", {{{kBatch, 12, 197, 64}}, {{kBatch, 12, 64, 197}}});
  EXPECT_EQ(inferred(g3), sym_shape_to_string({kBatch, 12, 197, 197}));
  Graph g4 = graph_with("MatMul", "m", {{{7}}, {{7}}});
  EXPECT_EQ(inferred(g4), "[]");
  Graph g5 = graph_with("MatMul", "m", {{{}, false}, {{7, 3}}});
  EXPECT_EQ(inferred(g5), "unknown rank");
}

TEST(LinearShapes, MatMulInnerDimErrorNamesNodeAndShapes) {
  Graph g = graph_with("MatMul", "fc1", {{{Dim::unknown(), 197, 768}}, {{512, 10}}});
  EXPECT_EQ(inferred(g),
            "error: node 'fc1' (MatMul): inner dims differ: A is [?, 197, 768], B is [512, 10]");
}

TEST(LinearShapes, MatMulBatchErrorNamesShapes) {
  Graph g = graph_with("MatMul", "bmm", {{{2, 4, 5}}, {{3, 5, 6}}});
  EXPECT_EQ(inferred(g),
            "error: node 'bmm' (MatMul): batch dims do not broadcast: A is [2, 4, 5], B is [3, "
            "5, 6]");
}

TEST(LinearShapes, GemmTransposesAndC) {
  Attributes attrs;
  attrs.set_int("transB", 1);
  Graph g = graph_with("Gemm", "head", {{{kBatch, 768}}, {{1000, 768}}, {{1000}}}, attrs);
  EXPECT_EQ(inferred(g), sym_shape_to_string({kBatch, 1000}));

  Graph bad = graph_with("Gemm", "head", {{{4, 768}}, {{1000, 768}}, {{1000}}});
  EXPECT_EQ(inferred(bad),
            "error: node 'head' (Gemm): inner dims differ: A is [4, 768], B is [1000, 768]");

  Graph bad_c = graph_with("Gemm", "g", {{{4, 8}}, {{8, 6}}, {{3, 6}}});
  EXPECT_EQ(inferred(bad_c),
            "error: node 'g' (Gemm): C [3, 6] does not broadcast to the output "
            "[4, 6]");
}

TEST(LinearShapes, ConvPatchEmbeddingWithSymbolicBatch) {
  Attributes attrs;
  attrs.set_ints("strides", {16, 16});
  Graph g =
      graph_with("Conv", "patch", {{{kBatch, 3, 224, 224}}, {{768, 3, 16, 16}}, {{768}}}, attrs);
  EXPECT_EQ(inferred(g), sym_shape_to_string({kBatch, 768, 14, 14}));
}

TEST(LinearShapes, ConvPadsDilationsAndAutoPad) {
  Attributes explicit_pads;
  explicit_pads.set_ints("strides", {2, 1});
  explicit_pads.set_ints("dilations", {1, 2});
  explicit_pads.set_ints("pads", {1, 0, 2, 1});
  Graph g1 = graph_with("Conv", "c", {{{2, 3, 9, 11}}, {{4, 3, 3, 3}}}, explicit_pads);
  EXPECT_EQ(inferred(g1), "[2, 4, 5, 8]");

  Attributes same;
  same.set_string("auto_pad", "SAME_LOWER");
  same.set_ints("strides", {2, 2});
  Graph g2 = graph_with("Conv", "c", {{{1, 3, 9, 8}}, {{2, 3, 4, 3}}}, same);
  EXPECT_EQ(inferred(g2), "[1, 2, 5, 4]");

  Attributes same1;
  same1.set_string("auto_pad", "SAME_UPPER");
  const Dim h = Dim::symbol("height");
  Graph g3 = graph_with("Conv", "c", {{{1, 3, h, 8}}, {{2, 3, 3, 3}}}, same1);
  EXPECT_EQ(inferred(g3), sym_shape_to_string({1, 2, h, 8}));

  Attributes strided;
  strided.set_ints("strides", {2, 2});
  Graph g4 = graph_with("Conv", "c", {{{1, 3, h, 8}}, {{2, 3, 3, 3}}}, strided);
  // (height - 3) // 2 + 1, with the exact part pulled out of the floor division.
  EXPECT_EQ(inferred(g4), "[1, 2, ((height+1)//2)-1, 3]");
  Attributes patch;
  patch.set_ints("strides", {16, 8});
  Graph g6 = graph_with("Conv", "c", {{{1, 3, h, 8}}, {{2, 3, 16, 8}}}, patch);
  EXPECT_EQ(inferred(g6), "[1, 2, (height//16), 1]");  // a patch embedding's grid
}

TEST(LinearShapes, ConvErrorsNameNodeAndAttribute) {
  Attributes bad_strides;
  bad_strides.set_ints("strides", {2});
  Graph g1 = graph_with("Conv", "stem", {{{1, 3, 9, 9}}, {{4, 3, 3, 3}}}, bad_strides);
  EXPECT_EQ(inferred(g1),
            "error: node 'stem' (Conv): attribute 'strides' has 1 values, expected "
            "2 for 2 spatial axes");

  Attributes groups;
  groups.set_int("group", 2);
  Graph g2 = graph_with("Conv", "stem", {{{1, 6, 9, 9}}, {{4, 2, 3, 3}}}, groups);
  EXPECT_EQ(inferred(g2),
            "error: node 'stem' (Conv): X has 6 channels but W [4, 2, 3, 3] expects 4 (2 x group "
            "2)");

  Attributes pad;
  pad.set_string("auto_pad", "SAME");
  Graph g3 = graph_with("Conv", "stem", {{{1, 3, 9, 9}}, {{4, 3, 3, 3}}}, pad);
  EXPECT_EQ(inferred(g3),
            "error: node 'stem' (Conv): attribute 'auto_pad' is 'SAME', expected "
            "NOTSET, SAME_UPPER, SAME_LOWER or VALID");
}

TEST(LinearShapes, ConvTransposeUpsamplingKeepsSymbolicSizes) {
  // DPT's reassemble stage: kernel = stride, no padding: out = stride * in, symbolic or not.
  const Dim h = Dim::symbol("height");
  Attributes up;
  up.set_ints("strides", {4, 4});
  Graph g1 = graph_with("ConvTranspose", "up", {{{kBatch, 6, h, 7}}, {{6, 4, 4, 4}}, {{4}}}, up);
  EXPECT_EQ(inferred(g1), sym_shape_to_string({kBatch, 4, h * Dim(4), 28}));

  // Groups multiply W's output channels; pads, dilations and output_padding on static sizes.
  Attributes full;
  full.set_int("group", 2);
  full.set_ints("strides", {2, 3});
  full.set_ints("dilations", {2, 1});
  full.set_ints("pads", {1, 0, 2, 1});
  full.set_ints("output_padding", {1, 2});
  Graph g2 = graph_with("ConvTranspose", "up", {{{2, 4, 5, 6}}, {{4, 3, 3, 2}}}, full);
  // 2*(5-1) + 1 + 2*2 + 1 - 1 - 2 = 11; 3*(6-1) + 2 + 1 + 1 - 0 - 1 = 18.
  EXPECT_EQ(inferred(g2), "[2, 6, 11, 18]");

  // output_shape wins (and may name the batch and channels too).
  Attributes shaped;
  shaped.set_ints("strides", {2, 2});
  shaped.set_ints("output_shape", {1, 3, 9, 12});
  Graph g3 = graph_with("ConvTranspose", "up", {{{1, 2, 4, 5}}, {{2, 3, 3, 3}}}, shaped);
  EXPECT_EQ(inferred(g3), "[1, 3, 9, 12]");
}

TEST(LinearShapes, ConvTransposeErrorsNameNodeAndOperand) {
  Graph g1 = graph_with("ConvTranspose", "up", {{{1, 6, 5, 5}}, {{4, 2, 2, 2}}});
  EXPECT_EQ(inferred(g1),
            "error: node 'up' (ConvTranspose): X has 6 channels but W [4, 2, 2, 2] expects 4 (W "
            "is [C, M/group, kernel...])");

  Attributes shaped;
  shaped.set_ints("output_shape", {9});
  Graph g2 = graph_with("ConvTranspose", "up", {{{1, 2, 4, 5}}, {{2, 3, 3, 3}}}, shaped);
  EXPECT_EQ(inferred(g2),
            "error: node 'up' (ConvTranspose): attribute 'output_shape' has 1 values, expected 2 "
            "for 2 spatial axes");
}

// Col2Im with constant image and block shapes (or, `constant` false, graph inputs).
Graph col2im_graph(SymShape x, std::vector<int64_t> image, std::vector<int64_t> block,
                   Attributes attrs, bool constant = true) {
  Graph g = graph_with("Col2Im", "fold", {{std::move(x)}}, std::move(attrs));
  for (const std::vector<int64_t>& v : {image, block}) {
    Tensor t = Tensor::empty(DType::kInt64, {static_cast<int64_t>(v.size())});
    for (size_t i = 0; i < v.size(); ++i) t.data<int64_t>()[i] = v[i];
    ValueId id;
    if (constant) {
      id = g.add_constant(v == image ? "image_shape" : "block_shape", t);
    } else {
      Value in;
      in.name = v == image ? "image_shape" : "block_shape";
      in.dtype = DType::kInt64;
      in.has_shape = true;
      in.shape = {Dim(static_cast<int64_t>(v.size()))};
      id = g.add_value(std::move(in));
      g.inputs.push_back(id);
    }
    g.nodes[0].inputs.push_back(id);
  }
  return g;
}

TEST(LinearShapes, Col2ImImageFromConstantShapes) {
  // VOLO: 3x3 blocks, stride 2, pad 1 on 8x8: 4x4 = 16 block positions.
  Attributes volo;
  volo.set_ints("strides", {2, 2});
  volo.set_ints("pads", {1, 1, 1, 1});
  Graph g1 = col2im_graph({kBatch, 54, 16}, {8, 8}, {3, 3}, volo);
  EXPECT_EQ(inferred(g1), sym_shape_to_string({kBatch, 6, 8, 8}));
  Graph g2 = col2im_graph({2, 20, 4}, {11}, {4}, [] {
    Attributes a;
    a.set_ints("strides", {3});
    a.set_ints("pads", {2, 1});
    return a;
  }());
  EXPECT_EQ(inferred(g2), "[2, 5, 11]");
}

TEST(LinearShapes, Col2ImErrorsNameNodeAndWhatIsWrong) {
  Attributes volo;
  volo.set_ints("strides", {2, 2});
  volo.set_ints("pads", {1, 1, 1, 1});
  Graph g1 = col2im_graph({1, 54, 15}, {8, 8}, {3, 3}, volo);
  EXPECT_EQ(inferred(g1),
            "error: node 'fold' (Col2Im): input has 15 columns (L) but image_shape [8, 8] with "
            "block_shape [3, 3], strides, pads and dilations make 16 block positions");
  Graph g2 = col2im_graph({1, 50, 16}, {8, 8}, {3, 3}, volo);
  EXPECT_EQ(inferred(g2),
            "error: node 'fold' (Col2Im): input has 50 channels, not a multiple of "
            "prod(block_shape) 9");
  Graph g3 = col2im_graph({1, 54, 16}, {8, 8}, {3, 3}, volo, /*constant=*/false);
  EXPECT_EQ(inferred(g3),
            "error: node 'fold' (Col2Im): image_shape must be known when the plan is built (a "
            "constant), got a value computed at run time");
  Graph g4 = col2im_graph({1, 54, 16}, {8, 8}, {3}, volo);
  EXPECT_EQ(inferred(g4),
            "error: node 'fold' (Col2Im): image_shape [8, 8] and block_shape [3] must have one "
            "entry per spatial dim, and the same count");
}

}  // namespace
}  // namespace vitrt
