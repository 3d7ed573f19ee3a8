// Symbolic shape inference of Resize and Upsample.
#include <gtest/gtest.h>

#include "ir/one_node_graph.h"

namespace vitrt {
namespace {

using testing::make_one_node_graph;

const SymShape kImage = {Dim::symbol("batch"), Dim(768), Dim(14), Dim(14)};

TEST(ResizeShapes, ConstantSizes) {
  auto t = make_one_node_graph("Resize", kImage,
                               {Tensor(), Tensor(), Tensor::from_int64({1, 768, 16, 16})}, {}, 1,
                               13, {0, 1});
  ASSERT_TRUE(infer_shapes(t.g).ok());
  EXPECT_EQ(t.out_shape(), "[1, 768, 16, 16]");
}

TEST(ResizeShapes, ScalesKeepSymbolsUnderIntegerFactors) {
  const SymShape sym = {Dim::symbol("batch"), Dim(3), Dim::symbol("h"), Dim(15)};
  auto t = make_one_node_graph("Resize", sym, {Tensor(), Tensor::from_float({1, 1, 2, 0.5f})}, {},
                               1, 13, {0});
  ASSERT_TRUE(infer_shapes(t.g).ok());
  EXPECT_EQ(t.out_shape(),
            sym_shape_to_string({Dim::symbol("batch"), 3, Dim(2) * Dim::symbol("h"), 7}));
  auto odd = make_one_node_graph("Resize", sym, {Tensor(), Tensor::from_float({1, 1, 1.5f, 1})}, {},
                                 1, 13, {0});
  ASSERT_TRUE(infer_shapes(odd.g).ok());
  EXPECT_EQ(odd.out_shape(), sym_shape_to_string({Dim::symbol("batch"), 3, Dim::unknown(), 15}));
}

TEST(ResizeShapes, EmptySizesMeansScalesDecide) {
  auto t = make_one_node_graph("Resize", kImage,
                               {Tensor(), Tensor::from_float({1, 1, 2, 2}), Tensor::from_int64({})},
                               {}, 1, 13, {0});
  ASSERT_TRUE(infer_shapes(t.g).ok());
  EXPECT_EQ(t.out_shape(), sym_shape_to_string({Dim::symbol("batch"), 768, 28, 28}));
}

TEST(ResizeShapes, AxesAndAspectPolicy) {
  Attributes attrs;
  attrs.set_ints("axes", {-2, -1});
  attrs.set_string("keep_aspect_ratio_policy", "not_smaller");
  const SymShape x = {Dim(1), Dim(3), Dim(10), Dim(8)};
  auto t = make_one_node_graph("Resize", x, {Tensor(), Tensor(), Tensor::from_int64({7, 9})}, attrs,
                               1, 18, {0, 1});
  ASSERT_TRUE(infer_shapes(t.g).ok());
  // not_smaller: scale max(0.7, 1.125) = 1.125 -> [11.25 + 0.5, 9 + 0.5] rounded down.
  EXPECT_EQ(t.out_shape(), "[1, 3, 11, 9]");
}

TEST(ResizeShapes, Opset10AndUpsampleTakeScalesAsInputOne) {
  auto r10 = make_one_node_graph("Resize", kImage, {Tensor::from_float({1, 1, 2, 2})}, {}, 1, 10);
  ASSERT_TRUE(infer_shapes(r10.g).ok());
  EXPECT_EQ(r10.out_shape(), sym_shape_to_string({Dim::symbol("batch"), 768, 28, 28}));
  auto up = make_one_node_graph("Upsample", kImage, {Tensor::from_float({1, 1, 3, 1})}, {}, 1, 9);
  ASSERT_TRUE(infer_shapes(up.g).ok());
  EXPECT_EQ(up.out_shape(), sym_shape_to_string({Dim::symbol("batch"), 768, 42, 14}));
}

TEST(ResizeShapes, WrongScalesCountNamesTheNode) {
  auto t =
      make_one_node_graph("Resize", kImage, {Tensor(), Tensor::from_float({2, 2})}, {}, 1, 13, {0});
  Status s = infer_shapes(t.g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node 'n' (Resize)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("scales input has 2 elements, expected 4"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace vitrt
