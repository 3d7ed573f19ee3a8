// widen_half_floats: a float16 / bfloat16 graph computes in float32 with its inputs and outputs
// keeping their types; the result equals a float64 computation on the half values, rounded to
// the output type once; and a half export of a real model fuses exactly as its float32 export.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>

#include <filesystem>
#include <map>

#include "core/half.h"
#include "passes/pass.h"
#include "run_pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"
#include "vitrt/builder.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_pass;
using testing::TestGraph;

// Random values already on the half grid of `dtype`.
Tensor half_random(DType dtype, std::vector<int64_t> shape, uint64_t seed) {
  Tensor f = testing::random_tensor(DType::kFloat32, shape, seed, -2.0, 2.0);
  Tensor h = Tensor::empty(dtype, shape);
  for (int64_t i = 0; i < f.numel(); ++i) {
    const float v = f.data<float>()[i];
    h.data<uint16_t>()[i] = dtype == DType::kBFloat16 ? float_to_bf16(v) : float_to_half(v);
  }
  return h;
}

class WidenHalfFloats : public ::testing::TestWithParam<DType> {};

// y = Cast<half>(Gelu-free MLP): MatMul with a half weight, Add of a half constant, a
// ConstantOfShape of half zeros added, and an internal Cast to the half type (autocast style).
TEST_P(WidenHalfFloats, ComputesInFloat32AndKeepsTheInterface) {
  const DType half = GetParam();
  const int64_t onnx_half = half == DType::kBFloat16 ? 16 : 10;
  TestGraph g;
  const ValueId x = g.input("x", half, {Dim::symbol("batch"), Dim(8)});
  const Tensor w = half_random(half, {8, 5}, 1);
  const Tensor b = half_random(half, {5}, 2);
  const ValueId mm = g.op("MatMul", {x, g.constant("w", w)});
  const ValueId biased = g.op("Add", {mm, g.constant("b", b)});
  Attributes cast;
  cast.set_int("to", onnx_half);
  const ValueId recast = g.op("Cast", {biased}, cast);
  Tensor zero = Tensor::zeros(half, {1});
  Attributes cos;
  cos.set_tensor("value", zero);
  Tensor shape = Tensor::empty(DType::kInt64, {1});
  shape.data<int64_t>()[0] = 5;
  const ValueId zeros = g.op("ConstantOfShape", {g.constant("shape", shape)}, cos);
  const ValueId y = g.op("Add", {recast, zeros});
  g.output(y);
  ASSERT_TRUE(g.infer().ok());

  testing::PassResult r = run_pass(widen_half_floats, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_GE(r.applied, 1);
  const Graph& out = g.graph();
  // The interface keeps its types and names; inside, every float is float32.
  EXPECT_EQ(out.values[out.inputs[0]].dtype, half);
  EXPECT_EQ(out.values[out.outputs[0]].dtype, half);
  EXPECT_EQ(out.values[out.outputs[0]].name, g.graph().values[out.outputs[0]].name);
  for (const Node& n : out.nodes) {
    if (n.dead) continue;
    for (ValueId v : n.outputs) {
      if (v == out.outputs[0]) continue;
      EXPECT_EQ(out.values[v].dtype, DType::kFloat32) << n.describe();
    }
  }
  EXPECT_EQ(count_ops(out, "Cast"), 3);  // the input's, the retyped one, the output's

  // Runs on the CPU (which has no half kernels) and equals float64 on the half values.
  const Tensor xin = half_random(half, {3, 8}, 3);
  auto got = testing::run_graph(out, {xin});
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ((*got)[0].dtype(), half);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      double acc = b.element_as_double(j);
      for (int64_t k = 0; k < 8; ++k) {
        acc += xin.element_as_double(i * 8 + k) * w.element_as_double(k * 5 + j);
      }
      const float want = static_cast<float>(acc);
      const double rounded = half == DType::kBFloat16 ? bf16_to_float(float_to_bf16(want))
                                                      : half_to_float(float_to_half(want));
      // float32 accumulation may land on the neighbouring half code.
      const double ulp = std::fabs(rounded) * (half == DType::kBFloat16 ? 1.0 / 128 : 1.0 / 1024);
      EXPECT_NEAR((*got)[0].element_as_double(i * 5 + j), rounded, ulp + 1e-6)
          << "at " << i << "," << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(halves, WidenHalfFloats,
                         ::testing::Values(DType::kFloat16, DType::kBFloat16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(WidenHalfFloats, LeavesFloat32GraphsAlone) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim(2), Dim(4)});
  g.output(g.op("Relu", {x}));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = run_pass(widen_half_floats, g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Cast"), 0);
}

// The golden fixture exported after model.half() builds to the plan its float32 export builds
// to, plus the two interface Casts: every fusion (attention, GELU, LayerNorm, Linear) applies.
TEST(WidenHalfFloats, HalfExportFusesLikeTheFloat32Export) {
  namespace fs = std::filesystem;
  const fs::path golden = fs::path(VITRT_SOURCE_DIR) / "tests" / "golden";
  const std::string plan =
      (fs::temp_directory_path() / ("vitrt_widen_" + std::to_string(::getpid()) + ".plan"))
          .string();
  BuildOptions options;
  Result<BuildSummary> half =
      build_plan((golden / "timm_vit_tiny_fp16_ts17" / "model.onnx").string(), plan, options);
  ASSERT_TRUE(half.ok()) << half.status().to_string();
  Result<BuildSummary> full =
      build_plan((golden / "timm_vit_tiny_ts17" / "model.onnx").string(), plan, options);
  ASSERT_TRUE(full.ok()) << full.status().to_string();
  std::error_code ec;
  fs::remove(plan, ec);
  std::map<std::string, int> expected = full->ops_after;
  expected["Cast"] += 2;
  EXPECT_EQ(half->ops_after, expected);
  EXPECT_EQ(half->ops_after.count("Softmax"), 0u);
  EXPECT_EQ(half->ops_after.count("Erf"), 0u);
}

}  // namespace
}  // namespace vitrt
