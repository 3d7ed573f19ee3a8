// ONNX's integer ops (DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul,
// QLinearConv): hand-computed cases of the rules ONNX specifies, and whole models quantized by
// ONNX Runtime (quantize_dynamic with int8 and uint8 weights, quantize_static in QOperator
// format) against ONNX Runtime's own output (tests/data/integer_ops, made by
// python/make_integer_op_fixtures.py). ONNX's conformance cases for the five ops run in
// ctest onnx_conformance.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/npy.h"
#include "cpu/single_node.h"
#include "onnx/onnx_import.h"
#include "testing/compare.h"
#include "testing/model_runs.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

using testing::constant_input;
using testing::omitted_input;
using testing::run_single_node;
using testing::runtime_input;

TEST(IntegerOps, DynamicQuantizeLinearRangeAlwaysHoldsZero) {
  // All positive: the range is [0, 5.1], scale 0.02, zero point 0; 2.55 / 0.02 = 127.5 rounds
  // to even (128).
  const Tensor x = Tensor::from_float({1.0f, 2.55f, 5.1f, 0.0f});
  testing::NodeRun r = run_single_node("DynamicQuantizeLinear", {runtime_input(x)}, {}, 3);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_FLOAT_EQ(r.outputs[1].data<float>()[0], 5.1f / 255.0f);
  EXPECT_EQ(r.outputs[2].data<uint8_t>()[0], 0);
  const std::vector<uint8_t> want = {50, 128, 255, 0};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.outputs[0].data<uint8_t>()[i], want[i]) << i;
  // A NaN has no range: an error, not garbage.
  const Tensor nan = Tensor::from_float({1.0f, std::nanf("")});
  EXPECT_FALSE(run_single_node("DynamicQuantizeLinear", {runtime_input(nan)}, {}, 3).status.ok());
}

TEST(IntegerOps, MatMulIntegerSubtractsPerRowAndPerColumnZeroPoints) {
  // A uint8 [2, 3] with a per-row zero point, B int8 [3, 2] with a per-column one, at the ends
  // of both ranges.
  const Tensor a = testing::tensor_of<uint8_t>(DType::kUInt8, {2, 3}, {10, 20, 30, 255, 0, 128});
  const Tensor b = testing::tensor_of<int8_t>(DType::kInt8, {3, 2}, {1, -2, 3, 4, -128, 127});
  const Tensor a_zp = testing::tensor_of<uint8_t>(DType::kUInt8, {2}, {10, 128});
  const Tensor b_zp = testing::tensor_of<int8_t>(DType::kInt8, {2}, {1, -1});
  testing::NodeRun r = run_single_node(
      "MatMulInteger",
      {runtime_input(a), constant_input(b), constant_input(a_zp), constant_input(b_zp)}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_EQ(r.outputs[0].dtype(), DType::kInt32);
  // (A - azp) = [[0,10,20],[127,-128,0]], (B - bzp) = [[0,-1],[2,5],[-129,128]].
  const std::vector<int32_t> want = {0 + 20 - 2580, 0 + 50 + 2560, -256, -127 - 640};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.outputs[0].data<int32_t>()[i], want[i]) << i;
}

// Constant int8/uint8 weights take oneDNN's int8 path (on VNNI CPUs), runtime ones the general
// loops: both exact, so equal, for uint8 and int8 activations with zero points, several shapes.
TEST(IntegerOps, MatMulIntegerWeightPathEqualsGeneralPath) {
  std::mt19937 rng(7);
  for (const auto& [m, k, n] : {std::array<int64_t, 3>{1, 16, 8}, {197, 64, 96}, {5, 300, 33}}) {
    for (DType a_type : {DType::kUInt8, DType::kInt8}) {
      for (DType b_type : {DType::kInt8, DType::kUInt8}) {
        Tensor a = Tensor::empty(a_type, {2, m, k});
        Tensor b = Tensor::empty(b_type, {k, n});
        for (int64_t i = 0; i < a.numel(); ++i) a.data<uint8_t>()[i] = rng() & 0xFF;
        // uint8 weights around their zero point 128 (as quantize_dynamic writes them), so the
        // corrected values fit int8; int8 weights with a per-column zero point of 0 or 1.
        for (int64_t i = 0; i < b.numel(); ++i) b.data<uint8_t>()[i] = rng() & 0xFF;
        Tensor b_zp = Tensor::empty(b_type, {n});
        for (int64_t j = 0; j < n; ++j) {
          b_zp.data<uint8_t>()[j] = b_type == DType::kUInt8 ? 128 : 0;
        }
        if (b_type == DType::kInt8) {
          for (int64_t i = 0; i < b.numel(); ++i) {
            b.data<int8_t>()[i] = static_cast<int8_t>(std::max<int>(-127, b.data<int8_t>()[i]));
          }
        } else {
          for (int64_t i = 0; i < b.numel(); ++i) {
            b.data<uint8_t>()[i] = static_cast<uint8_t>(std::max<int>(1, b.data<uint8_t>()[i]));
          }
        }
        Tensor a_zp = Tensor::empty(a_type, {});
        a_zp.data<uint8_t>()[0] = a_type == DType::kUInt8 ? 131 : 0xF9;  // 131, or -7
        testing::NodeRun fast = run_single_node(
            "MatMulInteger",
            {runtime_input(a), constant_input(b), runtime_input(a_zp), constant_input(b_zp)}, {});
        testing::NodeRun general = run_single_node(
            "MatMulInteger",
            {runtime_input(a), runtime_input(b), runtime_input(a_zp), runtime_input(b_zp)}, {});
        ASSERT_TRUE(fast.status.ok() && general.status.ok()) << fast.status.to_string();
        ASSERT_EQ(fast.outputs[0].shape(), (std::vector<int64_t>{2, m, n}));
        EXPECT_EQ(std::memcmp(fast.outputs[0].raw_data(), general.outputs[0].raw_data(),
                              fast.outputs[0].nbytes()),
                  0)
            << m << "x" << k << "x" << n << " " << dtype_name(a_type) << " x "
            << dtype_name(b_type);
      }
    }
  }
}

// The same for ConvInteger: constant weights take oneDNN's int8 path (patches as rows, padding
// holding x's zero point), runtime ones the general im2col loops. Padding, stride, dilation,
// a patch embedding, per-channel weight zero points, uint8 and int8 inputs.
TEST(IntegerOps, ConvIntegerWeightPathEqualsGeneralPath) {
  std::mt19937 rng(11);
  struct Case {
    std::vector<int64_t> x, w, pads, strides, dilations;
  };
  const Case cases[] = {{{2, 3, 9, 11}, {5, 3, 3, 3}, {1, 1, 1, 1}, {1, 1}, {1, 1}},
                        {{1, 4, 16, 16}, {8, 4, 4, 4}, {0, 0, 0, 0}, {4, 4}, {1, 1}},
                        {{1, 2, 10, 9}, {3, 2, 3, 2}, {2, 0, 1, 1}, {2, 1}, {2, 2}}};
  for (const Case& c : cases) {
    for (DType x_type : {DType::kUInt8, DType::kInt8}) {
      Tensor x = Tensor::empty(x_type, c.x);
      Tensor w = Tensor::empty(DType::kInt8, c.w);
      for (int64_t i = 0; i < x.numel(); ++i) x.data<uint8_t>()[i] = rng() & 0xFF;
      for (int64_t i = 0; i < w.numel(); ++i) {
        w.data<int8_t>()[i] = static_cast<int8_t>(static_cast<int>(rng() % 200) - 100);
      }
      Tensor x_zp = Tensor::empty(x_type, {});
      x_zp.data<uint8_t>()[0] = x_type == DType::kUInt8 ? 117 : 0xFD;  // 117, or -3
      Tensor w_zp = Tensor::empty(DType::kInt8, {c.w[0]});
      for (int64_t j = 0; j < c.w[0]; ++j) w_zp.data<int8_t>()[j] = static_cast<int8_t>(j % 3 - 1);
      Attributes attrs;
      attrs.set_ints("pads", c.pads);
      attrs.set_ints("strides", c.strides);
      attrs.set_ints("dilations", c.dilations);
      testing::NodeRun fast = run_single_node(
          "ConvInteger",
          {runtime_input(x), constant_input(w), runtime_input(x_zp), constant_input(w_zp)}, attrs);
      testing::NodeRun general = run_single_node(
          "ConvInteger",
          {runtime_input(x), runtime_input(w), runtime_input(x_zp), runtime_input(w_zp)}, attrs);
      ASSERT_TRUE(fast.status.ok()) << fast.status.to_string();
      ASSERT_TRUE(general.status.ok()) << general.status.to_string();
      ASSERT_EQ(fast.outputs[0].shape(), general.outputs[0].shape());
      EXPECT_EQ(std::memcmp(fast.outputs[0].raw_data(), general.outputs[0].raw_data(),
                            fast.outputs[0].nbytes()),
                0)
          << shape_to_string(c.x) << " " << dtype_name(x_type);
    }
  }
}

// Models quantized by ONNX Runtime: integer products are exact in both engines and the float
// steps are ONNX's, so vitrt agrees with ONNX Runtime to float rounding (far below the
// quantization's own effect, which the manifest line of make_integer_op_fixtures.py prints),
// with and without the optimizer, from the ONNX file and from a plan.
class IntegerOpModels : public ::testing::TestWithParam<const char*> {};

TEST_P(IntegerOpModels, MatchOnnxRuntime) {
  const std::filesystem::path dir =
      std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "integer_ops" / GetParam();
  Result<Tensor> x = read_npy((dir / "input.npy").string());
  Result<Tensor> expected = read_npy((dir / "expected.npy").string());
  Result<Tensor> float_expected = read_npy((dir / "float_expected.npy").string());
  ASSERT_TRUE(x.ok() && expected.ok() && float_expected.ok());
  // The fixture must exercise quantization: its output differs from the float model's.
  EXPECT_FALSE(testing::tensors_close_to_scale(*expected, *float_expected, 1e-3));
  testing::expect_model_output_both_ways((dir / "model.onnx").string(), {{"x", *x}}, *expected,
                                         1e-5);
}

// quantize_dynamic with int8 weights: every MatMulInteger chain becomes a QuantLinear with
// dynamic_input (import_dynamic_quant), and the plan still equals ONNX Runtime's outputs.
TEST(IntegerOpModels, DynamicChainsBecomeQuantLinearLayers) {
  const std::filesystem::path dir =
      std::filesystem::path(VITRT_SOURCE_DIR) / "tests" / "data" / "integer_ops" / "vit_dynamic_s8";
  const std::string plan = ::testing::TempDir() + "/vit_dynamic_s8.plan";
  BuildOptions options;
  Result<BuildSummary> built = build_plan((dir / "model.onnx").string(), plan, options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  const int chains = built->ops_before.at("MatMulInteger");
  EXPECT_GT(chains, 0);
  EXPECT_EQ(built->rewrites["import_dynamic_quant"], chains);
  EXPECT_EQ(built->ops_after.count("MatMulInteger"), 0u);
  EXPECT_EQ(built->ops_after.at("vitrt.QuantLinear"), chains);
  // GELU and the residual adds went into the layers' epilogues.
  EXPECT_EQ(built->ops_after.count("Gelu"), 0u);
  Result<Tensor> x = read_npy((dir / "input.npy").string());
  Result<Tensor> expected = read_npy((dir / "expected.npy").string());
  ASSERT_TRUE(x.ok() && expected.ok());
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  Result<std::vector<NamedTensor>> out = (*engine)->create_context()->run({{"x", *x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(testing::tensors_close_to_scale((*out)[0].tensor, *expected, 1e-5));
  std::filesystem::remove(plan);
}

INSTANTIATE_TEST_SUITE_P(OnnxRuntimeQuantizers, IntegerOpModels,
                         ::testing::Values("vit_dynamic_s8", "vit_dynamic_u8", "cnn_qoperator",
                                           "vit_qoperator", "cnn_qoperator_contrib"));

}  // namespace
}  // namespace vitrt
