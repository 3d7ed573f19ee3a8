// vitrt.AddLayerNorm against Add + LayerNormalization, and the float32 LayerNormalization
// kernel against the float64 one, on odd row lengths (vector tails) and broadcast addends.
#include <gtest/gtest.h>

#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

void check_add_layer_norm(const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape,
                          bool with_beta, bool with_sum) {
  SCOPED_TRACE(shape_to_string(a_shape) + " + " + shape_to_string(b_shape));
  const int64_t c = a_shape.back();
  Tensor a = testing::random_tensor(DType::kFloat32, a_shape, 21, -2, 6);
  Tensor b = testing::random_tensor(DType::kFloat32, b_shape, 22);
  Tensor gamma = testing::random_tensor(DType::kFloat32, {c}, 23);
  Tensor beta = testing::random_tensor(DType::kFloat32, {c}, 24);
  Attributes attrs;
  attrs.set_float("epsilon", 1e-5f);

  TestGraph fused;
  {
    std::vector<ValueId> in = {fused.input("a", DType::kFloat32, sym_shape_from_static(a_shape)),
                               fused.input("b", DType::kFloat32, sym_shape_from_static(b_shape)),
                               fused.constant("gamma", gamma)};
    if (with_beta) in.push_back(fused.constant("beta", beta));
    auto outs = fused.op_multi("AddLayerNorm", in, with_sum ? 2 : 1, attrs, "vitrt");
    for (ValueId o : outs) fused.output(o);
    ASSERT_TRUE(fused.infer().ok());
  }
  TestGraph plain;
  {
    ValueId av = plain.input("a", DType::kFloat32, sym_shape_from_static(a_shape));
    ValueId bv = plain.input("b", DType::kFloat32, sym_shape_from_static(b_shape));
    ValueId sum = plain.op("Add", {av, bv});
    std::vector<ValueId> in = {sum, plain.constant("gamma", gamma)};
    if (with_beta) in.push_back(plain.constant("beta", beta));
    plain.output(plain.op("LayerNormalization", in, attrs));
    if (with_sum) plain.output(sum);
    ASSERT_TRUE(plain.infer().ok());
  }
  auto got = testing::run_graph(fused.graph(), {a, b});
  ASSERT_TRUE(got.ok()) << got.status().message();
  auto want = testing::run_graph(plain.graph(), {a, b});
  ASSERT_TRUE(want.ok()) << want.status().message();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_TRUE(testing::tensors_close_to_scale((*got)[i], (*want)[i], 1e-5)) << "output " << i;
  }
}

TEST(AddLayerNorm, MatchesAddThenLayerNorm) {
  for (int64_t c : {1, 7, 16, 33, 100}) {
    check_add_layer_norm({3, 5, c}, {3, 5, c}, true, true);
  }
  check_add_layer_norm({2, 9, 19}, {2, 9, 19}, false, false);
  check_add_layer_norm({4, 6, 17}, {6, 17}, true, true);     // position embedding
  check_add_layer_norm({4, 6, 17}, {17}, true, false);       // a bias vector
  check_add_layer_norm({4, 6, 17}, {4, 1, 17}, true, true);  // materialised broadcast
}

TEST(AddLayerNorm, RejectsBThatWidensA) {
  TestGraph g;
  ValueId a = g.input("a", DType::kFloat32, {6, 17});
  ValueId b = g.input("b", DType::kFloat32, {4, 6, 17});
  g.output(g.op("AddLayerNorm", {a, b, g.constant("gamma", Tensor::zeros(DType::kFloat32, {17}))},
                {}, "vitrt"));
  Status s = g.infer();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not broadcast"), std::string::npos) << s.message();
}

// The float32 LayerNormalization kernel (AVX2 rows) against the float64 kernel, with the mean
// and inverse-std outputs, on rows whose means are large next to their spread.
TEST(LayerNormFloat32, MatchesFloat64) {
  for (int64_t c : {1, 5, 8, 15, 16, 17, 31, 771}) {
    SCOPED_TRACE(c);
    auto run = [&](DType dtype) {
      TestGraph g;
      const ValueId x = g.input("x", dtype, {4, 3, c});
      const std::vector<ValueId> outs =
          g.op_multi("LayerNormalization",
                     {x, g.constant("s", testing::random_tensor(dtype, {c}, 2)),
                      g.constant("b", testing::random_tensor(dtype, {c}, 3))},
                     3);
      for (ValueId o : outs) g.output(o);
      EXPECT_TRUE(g.infer().ok());
      return testing::run_graph(g.graph(),
                                {testing::random_tensor(dtype, {4, 3, c}, 1, 90.0, 110.0)});
    };
    auto f32 = run(DType::kFloat32);
    auto f64 = run(DType::kFloat64);
    ASSERT_TRUE(f32.ok() && f64.ok());
    for (size_t i = 0; i < 3; ++i) {
      Tensor want = Tensor::empty(DType::kFloat32, (*f64)[i].shape());
      for (int64_t k = 0; k < want.numel(); ++k) {
        want.data<float>()[k] = static_cast<float>((*f64)[i].element_as_double(k));
      }
      EXPECT_TRUE(testing::tensors_close_to_scale((*f32)[i], want, 1e-5)) << "output " << i;
    }
  }
}

}  // namespace
}  // namespace vitrt
