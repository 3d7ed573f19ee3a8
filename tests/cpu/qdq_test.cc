// QuantizeLinear / DequantizeLinear CPU kernels: ONNX's rounding and saturation by hand, and
// whole models quantized by ONNX Runtime's quantize_static (QDQ format) against ONNX Runtime's
// own output for them (tests/data/qdq, made by python/make_qdq_fixtures.py). The 8-bit float
// types against the float64 model of E4M3 / E5M2 in tests/quant/e4m3_model.h.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/npy.h"
#include "cpu/single_node.h"
#include "quant/e4m3_model.h"
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

// QuantizeLinear to float8e4m3fn / float8e5m2 (opset 19) with a per-axis scale: the code
// nearest to x / scale, ties to even; saturating (the default) at the largest finite value,
// else to NaN (E4M3) or inf (E5M2); NaN stays NaN. DequantizeLinear gives the code's value
// times the scale.
TEST(QdqKernels, Float8RoundsSaturatesOrOverflowsAndDequantizes) {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const std::vector<float> row = {1.0625f, 1.1875f, -3.3f,  0.0f,    -0.0f, 1e-7f, 0.001f,
                                  440.0f,  470.0f,  -5e3f,  6.0e4f,  7e4f,  kInf,  -kInf,
                                  kNaN,    2.5e-5f, 300.0f, 61440.f, 17.0f, 0.3f};
  const int64_t n = static_cast<int64_t>(row.size());
  std::vector<float> xs = row;
  for (float v : row) xs.push_back(v * 0.5f);  // row 1, scale 0.5: the same x / scale
  const Tensor x = testing::tensor_of<float>(DType::kFloat32, {2, n}, xs);
  const Tensor scale = Tensor::from_float({1.0f, 0.5f});
  for (const DType type : {DType::kFloat8E4M3FN, DType::kFloat8E5M2}) {
    for (const int saturate : {1, 0}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(type) << " saturate " << saturate);
      const bool e4m3 = type == DType::kFloat8E4M3FN;
      const Tensor zp = testing::tensor_of<uint8_t>(type, {2}, {0, 0});
      Attributes attrs;
      attrs.set_int("axis", 0);
      attrs.set_int("saturate", saturate);
      testing::NodeRun q = run_single_node(
          "QuantizeLinear", {runtime_input(x), constant_input(scale), constant_input(zp)}, attrs, 1,
          19);
      ASSERT_TRUE(q.status.ok()) << q.status.to_string();
      ASSERT_EQ(q.outputs[0].dtype(), type);
      const uint8_t* codes = q.outputs[0].data<uint8_t>();
      for (int64_t i = 0; i < 2 * n; ++i) {
        const float v = row[static_cast<size_t>(i % n)];
        const uint8_t c = codes[i];
        if (std::isnan(v)) {
          EXPECT_EQ(c & 0x7F, e4m3 ? 0x7F : 0x7E) << "x = " << v;
          continue;
        }
        // Beyond the last tie above the largest finite value: saturate, or NaN / inf.
        const bool overflows = e4m3 ? std::fabs(v) > 464.0f : std::fabs(v) >= 61440.0f;
        uint8_t want = e4m3 ? testing::e4m3_nearest_code(std::isinf(v) ? std::copysign(1e9, v) : v)
                            : testing::e5m2_nearest_code(std::isinf(v) ? std::copysign(1e9, v) : v);
        if (overflows && saturate == 0) want = (std::signbit(v) ? 0x80 : 0) | (e4m3 ? 0x7F : 0x7C);
        EXPECT_EQ(c, want) << "x = " << v << " row " << i / n;
      }
      testing::NodeRun dq = run_single_node(
          "DequantizeLinear",
          {runtime_input(q.outputs[0]), constant_input(scale), constant_input(zp)}, attrs, 1, 19);
      ASSERT_TRUE(dq.status.ok()) << dq.status.to_string();
      ASSERT_EQ(dq.outputs[0].dtype(), DType::kFloat32);
      for (int64_t i = 0; i < 2 * n; ++i) {
        const uint8_t c = codes[i];
        const float got = dq.outputs[0].data<float>()[i];
        const int magnitude = c & 0x7F;
        if (e4m3 ? magnitude == 0x7F : magnitude > 0x7C) {
          EXPECT_TRUE(std::isnan(got)) << i;
        } else if (!e4m3 && magnitude == 0x7C) {
          EXPECT_TRUE(std::isinf(got)) << i;
        } else {
          const double value = e4m3 ? testing::e4m3_value(c) : testing::e5m2_value(c);
          EXPECT_EQ(got, static_cast<float>(value * (i < n ? 1.0 : 0.5))) << i;
        }
      }
    }
  }
}

// Cast to and from the 8-bit floats: the same rounding, saturate as for QuantizeLinear.
TEST(QdqKernels, CastToAndFromFloat8) {
  const Tensor x =
      testing::tensor_of<float>(DType::kFloat32, {5}, {0.3f, -1e5f, 500.0f, 2.0f, 1e-6f});
  for (const int saturate : {1, 0}) {
    Attributes to;
    to.set_int("to", static_cast<int64_t>(DType::kFloat8E4M3FN));
    to.set_int("saturate", saturate);
    testing::NodeRun r = run_single_node("Cast", {runtime_input(x)}, to, 1, 19);
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    ASSERT_EQ(r.outputs[0].dtype(), DType::kFloat8E4M3FN);
    const uint8_t* c = r.outputs[0].data<uint8_t>();
    EXPECT_EQ(c[0], testing::e4m3_nearest_code(0.3f));
    EXPECT_EQ(c[1], saturate ? 0xFE : 0xFF);
    EXPECT_EQ(c[2], saturate ? 0x7E : 0x7F);
    EXPECT_EQ(c[3], testing::e4m3_nearest_code(2.0));
    EXPECT_EQ(c[4], 0);
    Attributes back;
    back.set_int("to", static_cast<int64_t>(DType::kFloat16));
    testing::NodeRun h = run_single_node("Cast", {runtime_input(r.outputs[0])}, back, 1, 19);
    ASSERT_TRUE(h.status.ok()) << h.status.to_string();
    EXPECT_EQ(h.outputs[0].dtype(), DType::kFloat16);
    EXPECT_EQ(h.outputs[0].element_as_double(0), testing::e4m3_value(c[0]));
    EXPECT_EQ(h.outputs[0].element_as_double(3), 2.0);
  }
  Attributes e5;
  e5.set_int("to", static_cast<int64_t>(DType::kFloat8E5M2));
  testing::NodeRun r = run_single_node("Cast", {runtime_input(x)}, e5, 1, 19);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.outputs[0].data<uint8_t>()[2], testing::e5m2_nearest_code(500.0));
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
