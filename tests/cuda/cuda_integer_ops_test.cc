// The models ONNX Runtime's quantizers write (tests/data/integer_ops: a tiny ViT through
// quantize_dynamic with int8 and uint8 weights; a CNN, a ViT and a squeeze-and-excite CNN through
// QOperator quantize_static, com.microsoft's QLinear ops and QGemm among them) built
// into fp32 CUDA plans, with the build's tactic run, against ONNX Runtime's outputs: the integer
// products are exact on the GPU as on the CPU, so the two agree to float rounding.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "core/npy.h"
#include "cuda_test_util.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt::testing {
namespace {

namespace fs = std::filesystem;

// Beside the golden fixtures; VITRT_GOLDEN_DIR points there on the GPU machine.
fs::path integer_ops_root() {
  const char* env = std::getenv("VITRT_GOLDEN_DIR");
  const fs::path golden =
      env != nullptr ? fs::path(env) : fs::path(VITRT_SOURCE_DIR) / "tests" / "golden";
  return golden.parent_path() / "data" / "integer_ops";
}

class CudaIntegerOpModels : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaIntegerOpModels, MatchOnnxRuntimeInFp32Plans) {
  VITRT_REQUIRE_GPU();
  const fs::path dir = integer_ops_root() / GetParam();
  Result<Tensor> x = read_npy((dir / "input.npy").string());
  Result<Tensor> expected = read_npy((dir / "expected.npy").string());
  ASSERT_TRUE(x.ok() && expected.ok()) << dir;
  const fs::path plan =
      fs::temp_directory_path() / (std::string("vitrt_int_") + GetParam() + ".plan");
  BuildOptions options;
  options.device = "cuda";
  options.precision = "fp32";
  Result<BuildSummary> built = build_plan((dir / "model.onnx").string(), plan.string(), options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan.string());
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
  for (int round = 0; round < 2; ++round) {  // the second run replays the captured graph
    Result<std::vector<NamedTensor>> out = ctx->run({{"x", *x}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    EXPECT_TRUE(tensors_close_to_scale((*out)[0].tensor, *expected, 1e-5)) << "round " << round;
  }
  std::error_code ec;
  fs::remove(plan, ec);
}

// quantize_dynamic with int8 weights in 16-bit plans: import_dynamic_quant turns each MatMul
// chain into a QuantLinear whose int32 sums never pass through a 16-bit tensor. A bf16 plan
// runs; its X is bf16, so some roundings of the per-run quantization flip against ONNX
// Runtime's fp32 ones: held to cosine and a loose bound. An fp16 plan is still refused, by
// name, for the patch embedding's ConvInteger, whose sums the chain casts to fp16.
TEST(CudaIntegerOpModels, DynamicChainsInHalfPlans) {
  VITRT_REQUIRE_GPU();
  const fs::path dir = integer_ops_root() / "vit_dynamic_s8";
  Result<Tensor> x = read_npy((dir / "input.npy").string());
  Result<Tensor> expected = read_npy((dir / "expected.npy").string());
  ASSERT_TRUE(x.ok() && expected.ok()) << dir;
  const fs::path plan = fs::temp_directory_path() / "vitrt_int_half.plan";
  BuildOptions options;
  options.device = "cuda";
  options.precision = "fp16";
  Result<BuildSummary> refused = build_plan((dir / "model.onnx").string(), plan.string(), options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("(ConvInteger)"), std::string::npos)
      << refused.status().message();
  options.precision = "bf16";
  Result<BuildSummary> built = build_plan((dir / "model.onnx").string(), plan.string(), options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  EXPECT_EQ(built->ops_after.count("MatMulInteger"), 0u);
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan.string());
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  Result<std::vector<NamedTensor>> out = (*engine)->create_context()->run({{"x", *x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(cosine_at_least((*out)[0].tensor, *expected, 0.99));
  EXPECT_TRUE(tensors_close_to_scale((*out)[0].tensor, *expected, 0.1));
  std::error_code ec;
  fs::remove(plan, ec);
}

// Quantized ViTs in QDQ form (tests/data/qdq/vit_*: ModelOpt's INT8 and FP8, ONNX Runtime's
// quantize_static defaults and its FP8; dinov2_modelopt_fp8: ModelOpt's FP8 of HF DINOv2 with
// LayerScale, dynamo export, whose residual pairs end in AddLayerNorm) in fp32, fp16 and bf16
// plans: the projections run as int8 or fp8 QuantLinear, the attentions fused with their
// fake-quantized probabilities (and scores), against ONNX Runtime's float evaluation of the Q/DQ
// graph. Held to cosine: the GPU's exp and 16-bit activations move values across quantization steps
// that ONNX Runtime's float32 does not.
TEST(CudaQuantizedVit, QdqModelsInEveryPrecision) {
  VITRT_REQUIRE_GPU();
  for (const char* name : {"vit_modelopt_int8", "vit_ort_uint8", "vit_modelopt_fp8", "vit_ort_fp8",
                           "dinov2_modelopt_fp8"})
    for (const char* precision : {"fp32", "fp16", "bf16"}) {
      SCOPED_TRACE(::testing::Message() << name << " " << precision);
      const fs::path dir = integer_ops_root().parent_path() / "qdq" / name;
      Result<Tensor> x = read_npy((dir / "input.npy").string());
      Result<Tensor> expected = read_npy((dir / "expected.npy").string());
      ASSERT_TRUE(x.ok() && expected.ok()) << dir;
      const fs::path plan = fs::temp_directory_path() / "vitrt_qdq_vit.plan";
      BuildOptions options;
      options.device = "cuda";
      options.precision = precision;
      Result<BuildSummary> built =
          build_plan((dir / "model.onnx").string(), plan.string(), options);
      ASSERT_TRUE(built.ok()) << built.status().to_string();
      EXPECT_EQ(built->ops_after.count("Softmax"), 0u);
      Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan.string());
      ASSERT_TRUE(engine.ok()) << engine.status().to_string();
      std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
      for (int round = 0; round < 2; ++round) {
        Result<std::vector<NamedTensor>> out = ctx->run({{"pixel_values", *x}});
        ASSERT_TRUE(out.ok()) << out.status().to_string();
        EXPECT_TRUE(cosine_at_least((*out)[0].tensor, *expected,
                                    std::string(precision) == "fp32" ? 0.998 : 0.98))
            << "round " << round;
      }
      std::error_code ec;
      fs::remove(plan, ec);
    }
}

INSTANTIATE_TEST_SUITE_P(OnnxRuntimeQuantizers, CudaIntegerOpModels,
                         ::testing::Values("vit_dynamic_s8", "vit_dynamic_u8", "cnn_qoperator",
                                           "vit_qoperator", "cnn_qoperator_contrib"));

}  // namespace
}  // namespace vitrt::testing
