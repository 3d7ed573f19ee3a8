// Symbolic shape inference of the reduce family.
#include <gtest/gtest.h>

#include "ir/op_schema.h"

namespace vitrt {
namespace {

struct OneNodeGraph {
  Graph g;
  NodeId node = -1;
};

// x: float32 [batch, seq, 768]; extra inputs are constants (or runtime int64 when undefined).
OneNodeGraph make_graph(const std::string& op, std::vector<Tensor> extra, Attributes attrs,
                        int num_outputs = 1, int64_t opset = 18) {
  OneNodeGraph out;
  Graph& g = out.g;
  g.opset_imports[""] = opset;
  Value x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  x.has_shape = true;
  x.shape = {Dim::symbol("batch"), Dim::symbol("seq"), Dim(768)};
  Node n;
  n.name = "n";
  n.op_type = op;
  n.attrs = std::move(attrs);
  n.inputs.push_back(g.add_value(x));
  g.inputs.push_back(n.inputs[0]);
  for (size_t i = 0; i < extra.size(); ++i) {
    if (extra[i].defined()) {
      n.inputs.push_back(g.add_constant("c" + std::to_string(i), extra[i]));
    } else {
      Value v;
      v.name = "r" + std::to_string(i);
      v.dtype = DType::kInt64;
      v.has_shape = true;
      v.shape = {Dim(1)};
      n.inputs.push_back(g.add_value(v));
      g.inputs.push_back(n.inputs.back());
    }
  }
  for (int i = 0; i < num_outputs; ++i) {
    Value v;
    v.name = "y" + std::to_string(i);
    n.outputs.push_back(g.add_value(v));
  }
  out.node = g.add_node(n);
  return out;
}

std::string out_shape(const OneNodeGraph& t, int i = 0) {
  const Value& v = t.g.values[t.g.nodes[t.node].outputs[i]];
  return v.has_shape ? sym_shape_to_string(v.shape) : "unknown";
}

DType out_dtype(const OneNodeGraph& t, int i = 0) {
  return t.g.values[t.g.nodes[t.node].outputs[i]].dtype;
}

TEST(ReduceShapes, AxesInputKeepdimsAndNegativeAxes) {
  auto keep = make_graph("ReduceMean", {Tensor::from_int64({-1})}, {});
  ASSERT_TRUE(infer_shapes(keep.g).ok());
  EXPECT_EQ(out_shape(keep), sym_shape_to_string({Dim::symbol("batch"), Dim::symbol("seq"), 1}));

  Attributes drop;
  drop.set_int("keepdims", 0);
  auto dropped = make_graph("ReduceSum", {Tensor::from_int64({1, -1})}, drop);
  ASSERT_TRUE(infer_shapes(dropped.g).ok());
  EXPECT_EQ(out_shape(dropped), sym_shape_to_string({Dim::symbol("batch")}));
  EXPECT_EQ(out_dtype(dropped), DType::kFloat32);
}

TEST(ReduceShapes, AxesAttributeAndEmptyAxes) {
  Attributes attrs;
  attrs.set_ints("axes", {0});
  auto t = make_graph("ReduceMax", {}, attrs, 1, 13);
  ASSERT_TRUE(infer_shapes(t.g).ok());
  EXPECT_EQ(out_shape(t), sym_shape_to_string({1, Dim::symbol("seq"), 768}));

  auto all = make_graph("ReduceL2", {}, {}, 1, 18);
  ASSERT_TRUE(infer_shapes(all.g).ok());
  EXPECT_EQ(out_shape(all), "[1, 1, 1]");

  Attributes noop;
  noop.set_int("noop_with_empty_axes", 1);
  auto same = make_graph("ReduceL2", {Tensor::from_int64({})}, noop, 1, 18);
  ASSERT_TRUE(infer_shapes(same.g).ok());
  EXPECT_EQ(out_shape(same), sym_shape_to_string({Dim::symbol("batch"), Dim::symbol("seq"), 768}));
}

TEST(ReduceShapes, RuntimeAxesKeepOnlyTheRank) {
  auto keep = make_graph("ReduceSum", {Tensor()}, {});
  ASSERT_TRUE(infer_shapes(keep.g).ok());
  EXPECT_EQ(out_shape(keep), "[?, ?, ?]");
  Attributes drop;
  drop.set_int("keepdims", 0);
  auto dropped = make_graph("ReduceSum", {Tensor()}, drop);
  ASSERT_TRUE(infer_shapes(dropped.g).ok());
  EXPECT_EQ(out_shape(dropped), "unknown");
}

TEST(ReduceShapes, BadAxesAreErrorsNamingNode) {
  auto bad = make_graph("ReduceSum", {Tensor::from_int64({3})}, {});
  Status s = infer_shapes(bad.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node 'n' (ReduceSum)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("axes value 3"), std::string::npos) << s.message();
}

TEST(ReduceShapes, ArgMaxTopKCumSum) {
  Attributes attrs;
  attrs.set_int("axis", -1);
  attrs.set_int("keepdims", 0);
  auto arg = make_graph("ArgMax", {}, attrs, 1, 13);
  ASSERT_TRUE(infer_shapes(arg.g).ok());
  EXPECT_EQ(out_shape(arg), sym_shape_to_string({Dim::symbol("batch"), Dim::symbol("seq")}));
  EXPECT_EQ(out_dtype(arg), DType::kInt64);

  auto topk = make_graph("TopK", {Tensor::from_int64({5})}, {}, 2, 11);
  ASSERT_TRUE(infer_shapes(topk.g).ok());
  EXPECT_EQ(out_shape(topk, 0), sym_shape_to_string({Dim::symbol("batch"), Dim::symbol("seq"), 5}));
  EXPECT_EQ(out_dtype(topk, 1), DType::kInt64);

  auto too_many = make_graph("TopK", {Tensor::from_int64({769})}, {}, 2, 11);
  EXPECT_FALSE(infer_shapes(too_many.g).ok());

  auto cumsum = make_graph("CumSum", {Tensor::from_int64({1}, true)}, {}, 1, 14);
  ASSERT_TRUE(infer_shapes(cumsum.g).ok());
  EXPECT_EQ(out_shape(cumsum),
            sym_shape_to_string({Dim::symbol("batch"), Dim::symbol("seq"), 768}));
}

}  // namespace
}  // namespace vitrt
