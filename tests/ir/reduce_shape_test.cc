// Symbolic shape inference of the reduce family.
#include <gtest/gtest.h>

#include "ir/one_node_graph.h"

namespace vitrt {
namespace {

using testing::OneNodeGraph;

// x: float32 [batch, seq, 768]; extra inputs are constants (or runtime int64 when undefined).
OneNodeGraph make_graph(const std::string& op, std::vector<Tensor> extra, Attributes attrs,
                        int num_outputs = 1, int64_t opset = 18) {
  return testing::make_one_node_graph(op, {Dim::symbol("batch"), Dim::symbol("seq"), Dim(768)},
                                      std::move(extra), std::move(attrs), num_outputs, opset);
}

std::string out_shape(const OneNodeGraph& t, int i = 0) {
  return t.out_shape(i);
}
DType out_dtype(const OneNodeGraph& t, int i = 0) {
  return t.out_dtype(i);
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
