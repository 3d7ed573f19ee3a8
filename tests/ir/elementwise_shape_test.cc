// Shape inference of the elementwise family: output dtypes, symbolic broadcasting, errors that
// name the node, and sym_value arithmetic on shape values (Shape -> Gather -> Mul/Div/Add ->
// Concat -> Reshape chains in exported graphs).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ir/op_schema.h"

namespace vitrt {
namespace {

const Dim kBatch = Dim::symbol("batch");
const Dim kSeq = Dim::symbol("seq");

// Builds a graph node by node; values are graph inputs unless produced by a node.
class GraphBuilder {
 public:
  GraphBuilder() { graph.opset_imports[""] = 17; }

  ValueId input(DType dtype, SymShape shape, std::optional<std::vector<Dim>> sym = {}) {
    Value v;
    v.name = str_cat("in", graph.values.size());
    v.dtype = dtype;
    v.has_shape = true;
    v.shape = std::move(shape);
    v.sym_value = std::move(sym);
    const ValueId id = graph.add_value(v);
    graph.inputs.push_back(id);
    return id;
  }
  ValueId input_unknown_rank(DType dtype) {
    Value v;
    v.name = str_cat("in", graph.values.size());
    v.dtype = dtype;
    const ValueId id = graph.add_value(v);
    graph.inputs.push_back(id);
    return id;
  }
  ValueId constant_int64(const std::vector<int64_t>& values) {
    Tensor t = Tensor::from_int64(values);
    Value v;
    v.name = str_cat("c", graph.values.size());
    v.dtype = DType::kInt64;
    v.has_shape = true;
    v.shape = sym_shape_from_static(t.shape());
    v.constant = t;
    return graph.add_value(v);
  }
  ValueId node(const std::string& op, std::vector<ValueId> inputs, Attributes attrs = {},
               const std::string& domain = "") {
    Node n;
    n.name = str_cat(op, "_", graph.nodes.size());
    n.op_type = op;
    n.domain = domain;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    Value out;
    out.name = n.name + "_out";
    n.outputs.push_back(graph.add_value(out));
    graph.add_node(n);
    return n.outputs[0];
  }
  const Value& value(ValueId id) const { return graph.values[id]; }

  Graph graph;
};

std::string dims(const std::vector<Dim>& v) {
  return sym_shape_to_string(v);
}

TEST(ElementwiseShape, SymbolicBroadcastAndOutputDtypes) {
  GraphBuilder b;
  const ValueId x = b.input(DType::kFloat32, {kBatch, 197, 768});
  const ValueId bias = b.input(DType::kFloat32, {768});
  const ValueId col = b.input(DType::kFloat32, {kBatch, 1, 1});
  const ValueId add = b.node("Add", {x, bias});
  const ValueId mul = b.node("Mul", {add, col});
  const ValueId odd =
      b.node("Sub", {b.input(DType::kFloat32, {3, 1, 5}), b.input(DType::kFloat32, {7, 1})});
  const ValueId less = b.node("Less", {x, bias});
  const ValueId sum = b.node("Sum", {x, bias, col});
  Attributes to_f16;
  to_f16.set_int("to", static_cast<int64_t>(DType::kFloat16));
  const ValueId cast = b.node("Cast", {x}, to_f16);
  const ValueId like = b.node("CastLike", {x, b.input(DType::kInt64, {})});
  const ValueId nan = b.node("IsNaN", {x});
  const ValueId where = b.node("Where", {nan, x, b.input(DType::kFloat32, {})});
  const ValueId unknown = b.node("Add", {x, b.input_unknown_rank(DType::kFloat32)});
  const ValueId gelu = b.node("FastGelu", {x, bias}, {}, "com.microsoft");
  ASSERT_TRUE(infer_shapes(b.graph).ok());

  EXPECT_EQ(sym_shape_to_string(b.value(add).shape), "[batch, 197, 768]");
  EXPECT_EQ(sym_shape_to_string(b.value(mul).shape), "[batch, 197, 768]");
  EXPECT_EQ(sym_shape_to_string(b.value(odd).shape), "[3, 7, 5]");
  EXPECT_EQ(b.value(less).dtype, DType::kBool);
  EXPECT_EQ(sym_shape_to_string(b.value(sum).shape), "[batch, 197, 768]");
  EXPECT_EQ(b.value(cast).dtype, DType::kFloat16);
  EXPECT_EQ(b.value(like).dtype, DType::kInt64);
  EXPECT_EQ(sym_shape_to_string(b.value(like).shape), "[batch, 197, 768]");
  EXPECT_EQ(b.value(nan).dtype, DType::kBool);
  EXPECT_EQ(b.value(where).dtype, DType::kFloat32);
  EXPECT_EQ(sym_shape_to_string(b.value(where).shape), "[batch, 197, 768]");
  EXPECT_FALSE(b.value(unknown).has_shape);
  EXPECT_EQ(b.value(unknown).dtype, DType::kFloat32);
  EXPECT_EQ(sym_shape_to_string(b.value(gelu).shape), "[batch, 197, 768]");
}

// Infers a one-node graph and returns the error message ("" when it succeeded).
std::string infer_error(GraphBuilder& b) {
  const Status s = infer_shapes(b.graph);
  return s.ok() ? "" : s.message();
}

TEST(ElementwiseShape, ErrorsNameTheNode) {
  {
    GraphBuilder b;
    b.node("Add", {b.input(DType::kFloat32, {3, 4}), b.input(DType::kFloat32, {5})});
    const std::string e = infer_error(b);
    EXPECT_NE(e.find("node 'Add_0' (Add)"), std::string::npos) << e;
    EXPECT_NE(e.find("cannot be broadcast"), std::string::npos) << e;
  }
  {
    GraphBuilder b;
    b.node("Mul", {b.input(DType::kFloat32, {3}), b.input(DType::kInt64, {3})});
    const std::string e = infer_error(b);
    EXPECT_NE(e.find("node 'Mul_0'"), std::string::npos) << e;
    EXPECT_NE(e.find("int64"), std::string::npos) << e;
  }
  {
    GraphBuilder b;
    b.node("Sqrt", {b.input(DType::kInt32, {3})});
    const std::string e = infer_error(b);
    EXPECT_NE(e.find("node 'Sqrt_0'"), std::string::npos) << e;
    EXPECT_NE(e.find("int32"), std::string::npos) << e;
  }
  {
    GraphBuilder b;
    b.node("Mod", {b.input(DType::kFloat32, {3}), b.input(DType::kFloat32, {3})});
    EXPECT_NE(infer_error(b).find("fmod"), std::string::npos);
  }
  {
    GraphBuilder b;
    b.node("Where", {b.input(DType::kFloat32, {3}), b.input(DType::kFloat32, {3}),
                     b.input(DType::kFloat32, {3})});
    EXPECT_NE(infer_error(b).find("bool"), std::string::npos);
  }
  {
    GraphBuilder b;
    Attributes to;
    to.set_int("to", static_cast<int64_t>(DType::kString));
    b.node("Cast", {b.input(DType::kFloat32, {3})}, to);
    const Status s = infer_shapes(b.graph);
    EXPECT_EQ(s.code(), StatusCode::kUnsupported);
    EXPECT_NE(s.message().find("string"), std::string::npos) << s.message();
  }
  {
    GraphBuilder b;
    b.node("PRelu", {b.input(DType::kFloat32, {4}), b.input(DType::kFloat32, {3, 4})});
    EXPECT_NE(infer_error(b).find("slope"), std::string::npos);
  }
  {
    GraphBuilder b;
    b.node("Clip", {b.input(DType::kFloat32, {4}), b.input(DType::kFloat32, {2})});
    EXPECT_NE(infer_error(b).find("scalar"), std::string::npos);
  }
}

// The chain a ViT export computes a Reshape target with:
// [batch, seq, 768] -> [batch, seq, 12, 64] and back to [batch*seq, 768].
TEST(ElementwiseShape, SymValueArithmeticOnShapeValues) {
  GraphBuilder b;
  const ValueId batch = b.input(DType::kInt64, {1}, std::vector<Dim>{kBatch});
  const ValueId seq = b.input(DType::kInt64, {1}, std::vector<Dim>{kSeq});
  const ValueId flat = b.node("Mul", {batch, seq});
  const ValueId heads = b.node("Div", {b.constant_int64({768}), b.constant_int64({64})});
  const ValueId back = b.node("Div", {flat, seq});
  const ValueId inexact = b.node("Div", {batch, b.constant_int64({2})});
  const ValueId trunc = b.node("Div", {b.constant_int64({7, -7}), b.constant_int64({2})});
  const ValueId plus = b.node("Add", {seq, b.constant_int64({0})});
  const ValueId sum = b.node("Add", {seq, seq});
  const ValueId unlike = b.node("Add", {seq, b.constant_int64({1})});
  const ValueId diff = b.node("Sub", {b.constant_int64({224, 16}), b.constant_int64({16})});
  Attributes to_i32;
  to_i32.set_int("to", static_cast<int64_t>(DType::kInt32));
  const ValueId as_i32 = b.node("Cast", {flat}, to_i32);
  Attributes to_f32;
  to_f32.set_int("to", static_cast<int64_t>(DType::kFloat32));
  const ValueId as_f32 = b.node("Cast", {flat}, to_f32);
  const ValueId vec = b.input(DType::kInt64, {3}, std::vector<Dim>{kBatch, 197, 768});
  const ValueId scaled = b.node("Mul", {vec, b.constant_int64({2})});
  const ValueId maxed = b.node("Max", {b.constant_int64({3, 9}), b.constant_int64({5})});
  ASSERT_TRUE(infer_shapes(b.graph).ok());

  ASSERT_TRUE(b.value(flat).sym_value);
  EXPECT_EQ(dims(*b.value(flat).sym_value), "[batch*seq]");
  EXPECT_EQ(dims(*b.value(heads).sym_value), "[12]");
  EXPECT_EQ(dims(*b.value(back).sym_value), "[batch]");
  // A dim is never negative, so its truncating division is floor division.
  EXPECT_EQ(dims(*b.value(inexact).sym_value), "[(batch//2)]");
  EXPECT_EQ(dims(*b.value(trunc).sym_value), "[3, -3]");  // integer division truncates
  EXPECT_EQ(dims(*b.value(plus).sym_value), "[seq]");
  EXPECT_EQ(dims(*b.value(sum).sym_value), "[2*seq]");
  EXPECT_EQ(dims(*b.value(unlike).sym_value), "[seq+1]");
  EXPECT_EQ(dims(*b.value(diff).sym_value), "[208, 0]");
  ASSERT_TRUE(b.value(as_i32).sym_value);
  EXPECT_EQ(dims(*b.value(as_i32).sym_value), "[batch*seq]");
  EXPECT_FALSE(b.value(as_f32).sym_value);
  EXPECT_EQ(dims(*b.value(scaled).sym_value), "[2*batch, 394, 1536]");
  EXPECT_EQ(dims(*b.value(maxed).sym_value), "[5, 9]");
}

// Exporters replace -1 entries of a shape with Where(Equal(shape, -1), ones, shape).
TEST(ElementwiseShape, EqualAndWhereDecideFromStaticDims) {
  GraphBuilder b;
  const ValueId shape = b.input(DType::kInt64, {3}, std::vector<Dim>{kBatch, -1, 768});
  const ValueId eq = b.node("Equal", {shape, b.constant_int64({-1})});
  const ValueId where = b.node("Where", {eq, b.constant_int64({1}), shape});
  const ValueId same = b.node("Equal", {shape, shape});
  ASSERT_TRUE(infer_shapes(b.graph).ok());
  EXPECT_EQ(b.value(eq).dtype, DType::kBool);
  ASSERT_TRUE(b.value(eq).sym_value);
  // A dim is never negative, so batch == -1 is decided (false).
  EXPECT_EQ(dims(*b.value(eq).sym_value), "[0, 1, 0]");
  ASSERT_TRUE(b.value(where).sym_value);
  EXPECT_EQ(dims(*b.value(where).sym_value), "[batch, 1, 768]");
  EXPECT_EQ(dims(*b.value(same).sym_value), "[1, 1, 1]");

  // With the condition known everywhere, every entry is decided.
  GraphBuilder c;
  const ValueId s2 = c.input(DType::kInt64, {2}, std::vector<Dim>{-1, kSeq});
  const ValueId eq2 = c.node("Equal", {s2, c.constant_int64({-1})});
  const ValueId w2 = c.node("Where", {eq2, c.constant_int64({4}), s2});
  ASSERT_TRUE(infer_shapes(c.graph).ok());
  EXPECT_EQ(dims(*c.value(eq2).sym_value), "[1, 0]");
  EXPECT_EQ(dims(*c.value(w2).sym_value), "[4, seq]");

  // batch == 1 cannot be decided: batch may be 1.
  GraphBuilder d;
  const ValueId s3 = d.input(DType::kInt64, {2}, std::vector<Dim>{kBatch, 1});
  const ValueId eq3 = d.node("Equal", {s3, d.constant_int64({1})});
  ASSERT_TRUE(infer_shapes(d.graph).ok());
  EXPECT_EQ(dims(*d.value(eq3).sym_value), "[?, 1]");
}

}  // namespace
}  // namespace vitrt
