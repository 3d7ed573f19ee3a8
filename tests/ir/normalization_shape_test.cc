// Symbolic shape inference of the normalization family.
#include <gtest/gtest.h>

#include "ir/one_node_graph.h"

namespace vitrt {
namespace {

using testing::make_one_node_graph;

const SymShape kTokens = {Dim::symbol("batch"), Dim(197), Dim(768)};

TEST(NormalizationShapes, LayerNormStatsHaveTheReducedShape) {
  Attributes attrs;
  attrs.set_int("axis", -1);
  auto t = make_one_node_graph(
      "LayerNormalization", kTokens,
      {Tensor::zeros(DType::kFloat32, {768}), Tensor::zeros(DType::kFloat32, {768})}, attrs, 3, 17);
  ASSERT_TRUE(infer_shapes(t.g).ok());
  EXPECT_EQ(t.out_shape(0), sym_shape_to_string(kTokens));
  EXPECT_EQ(t.out_shape(1), sym_shape_to_string({Dim::symbol("batch"), 197, 1}));
  EXPECT_EQ(t.out_dtype(2), DType::kFloat32);

  attrs.set_int("axis", 1);
  auto early = make_one_node_graph("LayerNormalization", kTokens,
                                   {Tensor::zeros(DType::kFloat32, {768})}, attrs, 2, 17);
  ASSERT_TRUE(infer_shapes(early.g).ok());
  EXPECT_EQ(early.out_shape(1), sym_shape_to_string({Dim::symbol("batch"), 1, 1}));
}

TEST(NormalizationShapes, LayerNormRejectsScaleThatDoesNotBroadcast) {
  auto t = make_one_node_graph("LayerNormalization", kTokens,
                               {Tensor::zeros(DType::kFloat32, {512})}, {}, 1, 17);
  Status s = infer_shapes(t.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node 'n' (LayerNormalization)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Scale"), std::string::npos) << s.message();
}

TEST(NormalizationShapes, SoftmaxAxisCheckedAgainstRank) {
  auto ok = make_one_node_graph("Softmax", kTokens, {}, {}, 1, 13);
  ASSERT_TRUE(infer_shapes(ok.g).ok());
  EXPECT_EQ(ok.out_shape(), sym_shape_to_string(kTokens));
  Attributes bad;
  bad.set_int("axis", 3);
  auto t = make_one_node_graph("LogSoftmax", kTokens, {}, bad, 1, 13);
  Status s = infer_shapes(t.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("attribute 'axis' 3"), std::string::npos) << s.message();
}

TEST(NormalizationShapes, ChannelNormsKeepShapeAndCheckGroups) {
  const SymShape nchw = {Dim::symbol("batch"), Dim(6), Dim::symbol("h"), Dim::symbol("w")};
  const Tensor p = Tensor::zeros(DType::kFloat32, {6});
  auto bn = make_one_node_graph("BatchNormalization", nchw, {p, p, p, p}, {}, 1, 15);
  ASSERT_TRUE(infer_shapes(bn.g).ok());
  EXPECT_EQ(bn.out_shape(), sym_shape_to_string(nchw));
  Attributes groups;
  groups.set_int("num_groups", 4);
  auto gn = make_one_node_graph("GroupNormalization", nchw, {p, p}, groups, 1, 21);
  Status s = infer_shapes(gn.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("num_groups"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vitrt
