// QuantizeLinear / DequantizeLinear CPU kernels: ONNX's rounding and saturation by hand, and
// whole models quantized by ONNX Runtime's quantize_static (QDQ format) against ONNX Runtime's
// own output for them (tests/data/qdq, made by python/make_qdq_fixtures.py).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/npy.h"
#include "cpu/single_node.h"
#include "testing/compare.h"
#include "testing/model_runs.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

using testing::constant_input;
using testing::omitted_input;
using testing::run_single_node;
using testing::runtime_input;

TEST(QdqKernels, QuantizeRoundsHalfToEvenAndSaturates) {
  const Tensor x = testing::tensor_of<float>(
      DType::kFloat32, {8}, {0.5f, 1.5f, 2.5f, -2.5f, -0.5f, 1000.f, -1000.f, 3.f});
  const Tensor scale = Tensor::from_float({1.0f}, true);
  testing::NodeRun s8 =
      run_single_node("QuantizeLinear",
                      {runtime_input(x), constant_input(scale),
                       constant_input(testing::tensor_of<int8_t>(DType::kInt8, {}, {0}))},
                      {});
  ASSERT_TRUE(s8.status.ok()) << s8.status.to_string();
  const std::vector<int8_t> want_s8 = {0, 2, 2, -2, 0, 127, -128, 3};
  ASSERT_EQ(s8.outputs[0].dtype(), DType::kInt8);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(s8.outputs[0].data<int8_t>()[i], want_s8[i]) << i;

  // uint8 with a zero point: round first, then add the zero point, then saturate to [0, 255].
  testing::NodeRun u8 =
      run_single_node("QuantizeLinear",
                      {runtime_input(x), constant_input(scale),
                       constant_input(testing::tensor_of<uint8_t>(DType::kUInt8, {}, {128}))},
                      {});
  ASSERT_TRUE(u8.status.ok()) << u8.status.to_string();
  const std::vector<uint8_t> want_u8 = {128, 130, 130, 126, 128, 255, 0, 131};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(u8.outputs[0].data<uint8_t>()[i], want_u8[i]) << i;

  // No zero point: uint8 output (ONNX's default).
  testing::NodeRun none = run_single_node(
      "QuantizeLinear", {runtime_input(x), constant_input(scale), omitted_input()}, {});
  ASSERT_TRUE(none.status.ok()) << none.status.to_string();
  EXPECT_EQ(none.outputs[0].dtype(), DType::kUInt8);
}

TEST(QdqKernels, PerAxisDequantizeOfInt8Weights) {
  // W [2, 3] dequantized per output column (axis 1), as quantize_static writes MatMul weights.
  const Tensor w = testing::tensor_of<int8_t>(DType::kInt8, {2, 3}, {1, -2, 127, -128, 5, 0});
  const Tensor scale = Tensor::from_float({0.5f, 0.25f, 2.0f});
  const Tensor zp = testing::tensor_of<int8_t>(DType::kInt8, {3}, {0, 0, 0});
  Attributes attrs;
  attrs.set_int("axis", 1);
  testing::NodeRun r = run_single_node(
      "DequantizeLinear", {constant_input(w), constant_input(scale), constant_input(zp)}, attrs);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  const Tensor want = Tensor::from_float({0.5f, -0.5f, 254.f, -64.f, 1.25f, 0.f});
  EXPECT_TRUE(testing::tensors_close(*r.outputs[0].reshaped({6}), want, {0, 0}));

  // A scale whose length is not the axis size names the mismatch.
  attrs.set_int("axis", 0);
  testing::NodeRun bad = run_single_node(
      "DequantizeLinear", {runtime_input(w), constant_input(scale), constant_input(zp)}, attrs);
  EXPECT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.to_string().find("axis"), std::string::npos) << bad.status.to_string();
}

// ONNX Runtime's quantize_static writes a LayerNormalization bias as a 1-D tensor dequantized
// with a [1] scale, a scalar zero point and the default axis 1: one value each, so a per-tensor
// parameter whose axis does not matter (ONNX ignores it then), not a shape mismatch.
TEST(QdqKernels, ScalarBesideOneElementParametersArePerTensor) {
  const Tensor q = testing::tensor_of<uint8_t>(DType::kUInt8, {4}, {0, 10, 128, 255});
  testing::NodeRun r =
      run_single_node("DequantizeLinear",
                      {runtime_input(q), constant_input(Tensor::from_float({0.5f})),
                       constant_input(testing::tensor_of<uint8_t>(DType::kUInt8, {}, {10}))},
                      {});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_TRUE(
      testing::tensors_close(r.outputs[0], Tensor::from_float({-5.f, 0.f, 59.f, 122.5f}), {0, 0}));
  // Two values against one are still a mismatch, named.
  testing::NodeRun bad =
      run_single_node("DequantizeLinear",
                      {runtime_input(q), constant_input(Tensor::from_float({0.5f})),
                       constant_input(testing::tensor_of<uint8_t>(DType::kUInt8, {2}, {10, 10}))},
                      {});
  EXPECT_FALSE(bad.status.ok());
  EXPECT_NE(bad.status.to_string().find("zero point"), std::string::npos) << bad.status.to_string();
}

TEST(QdqKernels, BlockedQuantizationIsUnsupported) {
  Attributes attrs;
  attrs.set_int("block_size", 2);
  testing::NodeRun r = run_single_node(
      "DequantizeLinear",
      {runtime_input(testing::tensor_of<int8_t>(DType::kInt8, {2, 2}, {1, 2, 3, 4})),
       constant_input(Tensor::from_float({1.f, 1.f}))},
      attrs, 1, 21);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.to_string().find("block"), std::string::npos) << r.status.to_string();
}

// Models quantized by ONNX Runtime (uint8 asymmetric and int8 symmetric activations, int8
// per-channel weights; MatMul + Add and Gemm). ONNX Runtime ran them with graph optimizations
// off, so every Q/DQ is computed in float as ONNX specifies: vitrt must agree to float rounding,
// with and without its optimizer.
class QdqModels : public ::testing::TestWithParam<const char*> {};

TEST_P(QdqModels, MatchOnnxRuntime) {
  const std::filesystem::path dir =
      std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "qdq" / GetParam();
  Result<Tensor> x = read_npy((dir / "input.npy").string());
  Result<Tensor> expected = read_npy((dir / "expected.npy").string());
  ASSERT_TRUE(x.ok() && expected.ok());
  testing::expect_model_output_both_ways((dir / "model.onnx").string(), {{"x", *x}}, *expected,
                                         1e-5);
}

INSTANTIATE_TEST_SUITE_P(OnnxRuntimeQuantizeStatic, QdqModels,
                         ::testing::Values("matmul_uint8", "matmul_int8", "gemm_uint8",
                                           "gemm_int8"));

}  // namespace
}  // namespace vitrt
