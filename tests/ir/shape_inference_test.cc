// Symbolic shape inference of the shape-op and indexing families, on the graphs exports emit:
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains must resolve to symbolic shapes.
#include <gtest/gtest.h>

#include <limits>

#include "ir/op_schema.h"

namespace vitrt {
namespace {

// Builds a graph node by node, in the style of an exporter.
class GraphBuilder {
 public:
  explicit GraphBuilder(int64_t opset = 17) { graph_.opset_imports[""] = opset; }

  ValueId input(const std::string& name, DType dtype, SymShape shape) {
    Value v;
    v.name = name;
    v.dtype = dtype;
    v.has_shape = true;
    v.shape = std::move(shape);
    const ValueId id = graph_.add_value(std::move(v));
    graph_.inputs.push_back(id);
    return id;
  }
  ValueId ints(const std::vector<int64_t>& v, bool scalar = false) {
    return graph_.add_constant(str_cat("c", graph_.values.size()), Tensor::from_int64(v, scalar));
  }
  // Adds a node; returns its outputs.
  std::vector<ValueId> node(const std::string& op, std::vector<ValueId> inputs,
                            Attributes attrs = {}, int outputs = 1) {
    Node n;
    n.name = str_cat("/", op, "_", graph_.nodes.size());
    n.op_type = op;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    std::vector<ValueId> outs;
    for (int i = 0; i < outputs; ++i) {
      Value v;
      v.name = str_cat(n.name, "_out", i);
      outs.push_back(graph_.add_value(std::move(v)));
    }
    n.outputs = outs;
    graph_.add_node(std::move(n));
    return outs;
  }
  ValueId op(const std::string& op, std::vector<ValueId> inputs, Attributes attrs = {}) {
    return node(op, std::move(inputs), std::move(attrs))[0];
  }

  Status infer() { return infer_shapes(graph_); }
  const Value& value(ValueId id) const { return graph_.values[id]; }
  std::string shape(ValueId id) const {
    const Value& v = graph_.values[id];
    return v.has_shape ? sym_shape_to_string(v.shape) : "rank ?";
  }
  std::string sym_value(ValueId id) const {
    const Value& v = graph_.values[id];
    return v.sym_value ? sym_shape_to_string(*v.sym_value) : "none";
  }

 private:
  Graph graph_;
};

Attributes int_attr(const std::string& name, int64_t v) {
  Attributes a;
  a.set_int(name, v);
  return a;
}
Attributes ints_attr(const std::string& name, std::vector<int64_t> v) {
  Attributes a;
  a.set_ints(name, std::move(v));
  return a;
}

const Dim kBatch = Dim::symbol("batch");

// x [batch, 197, 768] -> Shape -> Gather(0) -> Unsqueeze -> Concat(tail) -> Reshape.
ValueId vit_head_split(GraphBuilder& g, ValueId x, const std::vector<int64_t>& tail) {
  const ValueId shape = g.op("Shape", {x});
  const ValueId batch = g.op("Gather", {shape, g.ints({0}, true)}, int_attr("axis", 0));
  const ValueId batch_1d = g.op("Unsqueeze", {batch, g.ints({0})});
  const ValueId target = g.op("Concat", {batch_1d, g.ints(tail)}, int_attr("axis", 0));
  return g.op("Reshape", {x, target});
}

TEST(SymbolicShapes, VitHeadSplitChainResolvesToBatchHeadsTokensDim) {
  GraphBuilder g;
  const ValueId x = g.input("x", DType::kFloat32, {kBatch, 197, 768});
  const ValueId reshaped = vit_head_split(g, x, {197, 12, 64});
  const ValueId heads = g.op("Transpose", {reshaped}, ints_attr("perm", {0, 2, 1, 3}));
  ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
  EXPECT_EQ(g.shape(reshaped), "[batch, 197, 12, 64]");
  EXPECT_EQ(g.shape(heads), "[batch, 12, 197, 64]");
  EXPECT_EQ(g.value(heads).dtype, DType::kFloat32);
}

TEST(SymbolicShapes, InferredMinusOneIsDividedSymbolically) {
  GraphBuilder g;
  const ValueId x = g.input("x", DType::kFloat32, {kBatch, 197, 768});
  const ValueId reshaped = vit_head_split(g, x, {-1, 12, 64});
  ASSERT_TRUE(g.infer().ok());
  EXPECT_EQ(g.shape(reshaped), "[batch, 197, 12, 64]");
}

TEST(SymbolicShapes, FlattenTokensIntoBatchAndBack) {
  GraphBuilder h;
  const ValueId y = h.input("y", DType::kFloat32, {kBatch, 197, 768});
  const ValueId y_flat = h.op("Reshape", {y, h.ints({-1, 768})});
  const ValueId shape = h.op("Shape", {y});
  const ValueId batch = h.op("Gather", {shape, h.ints({0})}, int_attr("axis", 0));  // 1-D
  const ValueId target = h.op("Concat", {batch, h.ints({-1, 768})}, int_attr("axis", 0));
  const ValueId y_back = h.op("Reshape", {y_flat, target});
  const ValueId zeros = h.op("Reshape", {y, h.ints({0, 0, 12, 64})});
  ASSERT_TRUE(h.infer().ok());
  EXPECT_EQ(h.shape(y_flat), "[197*batch, 768]");
  EXPECT_EQ(h.sym_value(target), "[batch, -1, 768]");
  EXPECT_EQ(h.shape(y_back), "[batch, 197, 768]");
  EXPECT_EQ(h.shape(zeros), "[batch, 197, 12, 64]");
}

TEST(SymbolicShapes, SliceOfShapeAndSqueezeKeepSymbols) {
  GraphBuilder g;
  const ValueId x = g.input("x", DType::kFloat32, {kBatch, 197, 768});
  const ValueId shape = g.op("Shape", {x});
  const ValueId lead = g.op("Slice", {shape, g.ints({0}), g.ints({-1})});
  const ValueId last =
      g.op("Slice", {shape, g.ints({-1}), g.ints({std::numeric_limits<int64_t>::min()}),
                     g.ints({0}), g.ints({-1})});
  const ValueId target = g.op("Concat", {lead, g.ints({12, 64})}, int_attr("axis", 0));
  const ValueId reshaped = g.op("Reshape", {x, target});
  const ValueId first =
      g.op("Squeeze", {g.op("Slice", {shape, g.ints({0}), g.ints({1})}), g.ints({0})});
  ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
  EXPECT_EQ(g.sym_value(lead), "[batch, 197]");
  EXPECT_EQ(g.sym_value(last), "[768, 197, batch]");
  EXPECT_EQ(g.shape(reshaped), "[batch, 197, 12, 64]");
  EXPECT_EQ(g.shape(first), "[]");
  EXPECT_EQ(g.sym_value(first), "[batch]");
}

TEST(SymbolicShapes, ExpandConstantOfShapeRangeAndTileUseSymValues) {
  GraphBuilder g;
  const ValueId x = g.input("x", DType::kFloat32, {kBatch, 197, 768});
  const ValueId cls = g.input("cls", DType::kFloat32, {1, 1, 768});
  const ValueId shape = g.op("Shape", {x});
  const ValueId batch = g.op("Gather", {shape, g.ints({0})}, int_attr("axis", 0));
  const ValueId target = g.op("Concat", {batch, g.ints({-1, -1})}, int_attr("axis", 0));
  // Exports write Expand(cls, [batch, -1, -1]) as Expand(cls, Where(...)); use [batch, 1, 1].
  const ValueId expand_target = g.op("Concat", {batch, g.ints({1, 1})}, int_attr("axis", 0));
  const ValueId tokens = g.op("Expand", {cls, expand_target});
  const ValueId mask = g.op("ConstantOfShape", {shape});
  const ValueId seq = g.op("Gather", {shape, g.ints({1}, true)}, int_attr("axis", 0));
  const ValueId positions = g.op("Range", {g.ints({0}, true), seq, g.ints({1}, true)});
  const ValueId batch_range =
      g.op("Range", {g.ints({0}, true), g.op("Squeeze", {batch, g.ints({0})}), g.ints({1}, true)});
  const ValueId tiled = g.op("Tile", {cls, expand_target});
  const ValueId cat = g.op("Concat", {tokens, x}, int_attr("axis", 1));
  ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
  EXPECT_EQ(g.sym_value(target), "[batch, -1, -1]");
  EXPECT_EQ(g.shape(tokens), "[batch, 1, 768]");
  EXPECT_EQ(g.shape(mask), "[batch, 197, 768]");
  EXPECT_EQ(g.value(mask).dtype, DType::kFloat32);
  EXPECT_EQ(g.shape(positions), "[197]");
  EXPECT_EQ(g.shape(batch_range), "[batch]");
  EXPECT_EQ(g.shape(tiled), "[batch, 1, 768]");
  EXPECT_EQ(g.shape(cat), "[batch, 198, 768]");
}

TEST(SymbolicShapes, InexactDivisionGivesAnUnknownDimNotAnError) {
  GraphBuilder g;
  const ValueId x = g.input("x", DType::kFloat32, {kBatch, 197, 768});
  const ValueId odd = g.op("Reshape", {x, g.ints({-1, 5})});
  const ValueId nz = g.op("NonZero", {x});
  const ValueId squeezed = g.op("Squeeze", {x});
  const ValueId flat = g.op("Flatten", {x}, int_attr("axis", 2));
  const std::vector<ValueId> halves = g.node(
      "Split", {x},
      [] {
        Attributes a;
        a.set_int("axis", 0);
        a.set_int("num_outputs", 2);
        return a;
      }(),
      2);
  ASSERT_TRUE(g.infer().ok());
  EXPECT_EQ(g.shape(odd), "[?, 5]");
  EXPECT_EQ(g.shape(nz), "[3, ?]");
  EXPECT_EQ(g.shape(squeezed), "rank ?");  // batch might be 1
  EXPECT_EQ(g.shape(flat), "[197*batch, 768]");
  EXPECT_EQ(g.shape(halves[0]), "[?, 197, 768]");
}

TEST(SymbolicShapes, ReshapeErrorsNameTheNode) {
  GraphBuilder g;
  const ValueId x = g.input("x", DType::kFloat32, {kBatch, 197, 768});
  g.op("Reshape", {x, g.ints({-1, 12, -1})});
  Status s = g.infer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/Reshape_0"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("2 dims equal to -1"), std::string::npos) << s.message();

  GraphBuilder h;
  const ValueId y = h.input("y", DType::kFloat32, {4, 6});
  h.op("Reshape", {y, h.ints({5, 5})});
  s = h.infer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("(Reshape)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("24 elements"), std::string::npos) << s.message();
}

TEST(SymbolicShapes, OpsetDependentForms) {
  GraphBuilder g(11);
  const ValueId x = g.input("x", DType::kFloat16, {kBatch, 3, 224, 224});
  const ValueId unsq = g.op("Unsqueeze", {x}, ints_attr("axes", {-1, 1}));
  const ValueId sq = g.op("Squeeze", {unsq}, ints_attr("axes", {1}));
  Attributes split;
  split.set_int("axis", 1);
  split.set_ints("split", {1, 2});
  const std::vector<ValueId> parts = g.node("Split", {x}, split, 2);
  Attributes pad;
  pad.set_string("mode", "reflect");
  const ValueId padded = g.op("Pad", {x, g.ints({0, 0, 1, 2, 0, 0, 3, 4})}, pad);
  ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
  EXPECT_EQ(g.shape(unsq), "[batch, 1, 3, 224, 224, 1]");
  EXPECT_EQ(g.shape(sq), "[batch, 3, 224, 224, 1]");
  EXPECT_EQ(g.shape(parts[1]), "[batch, 2, 224, 224]");
  EXPECT_EQ(g.shape(padded), "[batch, 3, 228, 230]");
}

TEST(SymbolicShapes, IndexingOpsOnSymbolicData) {
  GraphBuilder g;
  const ValueId x = g.input("x", DType::kFloat32, {kBatch, 197, 768});
  const ValueId ids = g.input("ids", DType::kInt64, {kBatch, 77});
  const ValueId cls = g.op("Gather", {x, g.ints({0}, true)}, int_attr("axis", 1));
  const ValueId rows = g.op("Gather", {x, ids}, int_attr("axis", 1));
  const ValueId patches =
      g.op("Slice", {x, g.ints({1}), g.ints({std::numeric_limits<int64_t>::max()}), g.ints({1})});
  const ValueId all =
      g.op("Slice", {x, g.ints({0}), g.ints({std::numeric_limits<int64_t>::max()}), g.ints({0})});
  const ValueId one_hot = g.op("OneHot", {ids, g.ints({10}, true), g.ints({0, 1})});
  ASSERT_TRUE(g.infer().ok()) << g.infer().to_string();
  EXPECT_EQ(g.shape(cls), "[batch, 768]");
  EXPECT_EQ(g.shape(rows), "[batch, batch, 77, 768]");
  EXPECT_EQ(g.shape(patches), "[batch, 196, 768]");
  EXPECT_EQ(g.shape(all), "[batch, 197, 768]");
  EXPECT_EQ(g.shape(one_hot), "[batch, 77, 10]");
  EXPECT_EQ(g.value(one_hot).dtype, DType::kInt64);
}

}  // namespace
}  // namespace vitrt
