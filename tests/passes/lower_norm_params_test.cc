// lower_norm_params: LayerNormalization / RMSNormalization with Scale or B over X's leading dims
// (ONNX's unidirectional broadcasting) computes what a float64 loop computes once the wide
// parameters move into a Mul / Add; per-feature parameters are left alone.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "run_pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// x [rows, n] normalized per row (LayerNorm: mean removed; RMSNorm: not), then times
// scale[r, j] plus bias[r, j] (each already broadcast to [rows, n]).
Tensor reference(const Tensor& x, const std::vector<double>& scale, const std::vector<double>& bias,
                 bool rms, double eps) {
  const int64_t n = x.dim(x.rank() - 1), rows = x.numel() / n;
  Tensor y = Tensor::empty(DType::kFloat32, x.shape());
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data<float>() + r * n;
    double mean = 0, sq = 0;
    for (int64_t j = 0; j < n; ++j) mean += xr[j];
    mean = rms ? 0.0 : mean / n;
    for (int64_t j = 0; j < n; ++j) sq += (xr[j] - mean) * (xr[j] - mean);
    const double inv = 1.0 / std::sqrt(sq / n + eps);
    for (int64_t j = 0; j < n; ++j) {
      const size_t e = static_cast<size_t>(r * n + j);
      y.data<float>()[e] =
          static_cast<float>((xr[j] - mean) * inv * scale[e] + (bias.empty() ? 0.0 : bias[e]));
    }
  }
  return y;
}

TEST(LowerNormParams, RmsNormScaleOverTheBatchAsDynamoWritesIt) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {b, 6});
  const ValueId s = g.input("scale", DType::kFloat32, {b, 6});
  Attributes a;
  a.set_float("epsilon", 1e-6f);
  g.output(g.op("RMSNormalization", {x, s}, a, "", "/head/rms_norm"));
  const std::string output_name = g.graph().values[g.graph().outputs[0]].name;
  testing::PassResult r = testing::run_pass(lower_norm_params, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(testing::count_ops(g.graph(), "Mul"), 1);
  EXPECT_EQ(g.graph().values[g.graph().outputs[0]].name, output_name) << "the output's name stays";
  const Tensor xf = testing::random_tensor(DType::kFloat32, {3, 6}, 1);
  const Tensor sf = testing::random_tensor(DType::kFloat32, {3, 6}, 2);
  auto outs = testing::run_graph(g.graph(), {xf, sf});
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  std::vector<double> scale(sf.data<float>(), sf.data<float>() + sf.numel());
  EXPECT_TRUE(
      testing::tensors_close((*outs)[0], reference(xf, scale, {}, true, 1e-6), {1e-5, 1e-5}));
}

TEST(LowerNormParams, ScalePerTokenAndBiasOverTheBatch) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim(2), Dim(3), Dim(5)});
  const Tensor st = testing::random_tensor(DType::kFloat32, {3, 5}, 3);
  const Tensor bt = testing::random_tensor(DType::kFloat32, {2, 1, 5}, 4);
  Attributes a;
  a.set_float("epsilon", 1e-5f);
  g.output(g.op("LayerNormalization", {x, g.constant("scale", st), g.constant("bias", bt)}, a, "",
                "/norm/LayerNormalization"));
  testing::PassResult r = testing::run_pass(lower_norm_params, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  const Tensor xf = testing::random_tensor(DType::kFloat32, {2, 3, 5}, 5);
  auto outs = testing::run_graph(g.graph(), {xf});
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  std::vector<double> scale(30), bias(30);
  for (int64_t bb = 0; bb < 2; ++bb) {
    for (int64_t t = 0; t < 3; ++t) {
      for (int64_t j = 0; j < 5; ++j) {
        scale[(bb * 3 + t) * 5 + j] = st.data<float>()[t * 5 + j];
        bias[(bb * 3 + t) * 5 + j] = bt.data<float>()[bb * 5 + j];
      }
    }
  }
  EXPECT_TRUE(
      testing::tensors_close((*outs)[0], reference(xf, scale, bias, false, 1e-5), {1e-5, 1e-5}));
}

// A wide Scale with a B of leading unit dims: B is squeezed, then moved after the Mul.
TEST(LowerNormParams, WideScaleWithUnitDimBias) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(3), Dim(5)});
  const Tensor st = testing::random_tensor(DType::kFloat32, {3, 5}, 9);
  const Tensor bt = testing::random_tensor(DType::kFloat32, {1, 1, 5}, 10);
  g.output(g.op("LayerNormalization", {x, g.constant("scale", st), g.constant("bias", bt)}));
  testing::PassResult r = testing::run_pass(lower_norm_params, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 2);
  const Tensor xf = testing::random_tensor(DType::kFloat32, {2, 3, 5}, 11);
  auto outs = testing::run_graph(g.graph(), {xf});
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  std::vector<double> scale(30), bias(30);
  for (int64_t e = 0; e < 30; ++e) {
    scale[e] = st.data<float>()[e % 15];
    bias[e] = bt.data<float>()[e % 5];
  }
  EXPECT_TRUE(
      testing::tensors_close((*outs)[0], reference(xf, scale, bias, false, 1e-5), {1e-5, 1e-5}));
}

// Per-feature parameters stay; leading unit dims ([1, 8]) are squeezed off, still one op.
TEST(LowerNormParams, PerFeatureParametersStay) {
  for (bool unit_dim : {false, true}) {
    SCOPED_TRACE(unit_dim);
    TestGraph g;
    const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(4), Dim(8)});
    const std::vector<int64_t> scale_shape =
        unit_dim ? std::vector<int64_t>{1, 8} : std::vector<int64_t>{8};
    const Tensor st = testing::random_tensor(DType::kFloat32, scale_shape, 6);
    const Tensor bt = testing::random_tensor(DType::kFloat32, {8}, 7);
    g.output(g.op("LayerNormalization", {x, g.constant("scale", st), g.constant("bias", bt)}));
    testing::PassResult r = testing::run_pass(lower_norm_params, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, unit_dim ? 1 : 0);
    EXPECT_EQ(testing::count_ops(g.graph(), "Mul"), 0);
    EXPECT_EQ(testing::count_ops(g.graph(), "Add"), 0);
    const Tensor xf = testing::random_tensor(DType::kFloat32, {2, 4, 8}, 8);
    auto outs = testing::run_graph(g.graph(), {xf});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    std::vector<double> scale(64), bias(64);
    for (int64_t e = 0; e < 64; ++e) {
      scale[e] = st.data<float>()[e % 8];
      bias[e] = bt.data<float>()[e % 8];
    }
    EXPECT_TRUE(
        testing::tensors_close((*outs)[0], reference(xf, scale, bias, false, 1e-5), {1e-5, 1e-5}));
  }
}

}  // namespace
}  // namespace vitrt
