// int8 and fp8 builds of golden fixtures end to end: calibration on the fixture's inputs
// (.npy), build, plan load, and every output compared with PyTorch's fp32 output.
//
// Threshold: cosine >= 0.99 per output. The fixtures are small random-weight models whose
// encoder layers all run in 8 bits; measured cosines are 0.998-0.99999. A wrong scale
// (a factor of 2 in one layer), a transposed weight or a broken calibration method gives
// 0.6-0.95 (a KL bug that picked the smallest threshold gave 0.65), so 0.99 separates
// quantization error from a bug while leaving room for calibrating on only four samples.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/npy.h"
#include "testing/compare.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {
namespace fs = std::filesystem;

fs::path golden(const std::string& name) {
  return fs::path(VITRT_SOURCE_DIR) / "tests" / "golden" / name;
}

// One calibration sample folder per fixture case, holding NAME.npy per input; `tag` keeps the
// folders of tests that ctest runs in parallel apart.
std::string calibration_dir(const std::string& fixture, const std::string& tag) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("calib_" + fixture + "_" + tag);
  fs::remove_all(dir);
  for (const char* c : {"case0", "case1"}) {
    fs::create_directories(dir / c);
    for (const fs::directory_entry& e : fs::directory_iterator(golden(fixture) / c)) {
      const std::string file = e.path().filename().string();
      if (file.rfind("input.", 0) == 0) fs::copy_file(e.path(), dir / c / file.substr(6));
    }
  }
  return dir.string();
}

void check_quantized_build(const std::string& fixture, const std::string& precision,
                           const std::string& method) {
  SCOPED_TRACE(fixture + " " + precision + " " + method);
  BuildOptions options;
  options.precision = precision;
  options.calib_data = calibration_dir(fixture, precision);
  options.calib_method = method;
  std::vector<std::string> log;
  options.log = [&log](const std::string& line) { log.push_back(line); };
  const std::string plan = ::testing::TempDir() + "/" + fixture + "_" + precision + ".plan";
  Result<BuildSummary> built = build_plan((golden(fixture) / "model.onnx").string(), plan, options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  EXPECT_GT(built->ops_after.count("vitrt.QuantLinear"), 0u);
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
  for (const char* c : {"case0", "case1"}) {
    std::vector<NamedTensor> inputs;
    std::map<std::string, Tensor> expected;
    for (const fs::directory_entry& e : fs::directory_iterator(golden(fixture) / c)) {
      const std::string file = e.path().stem().string();  // input.NAME / output.I.NAME
      Result<Tensor> t = read_npy(e.path().string());
      ASSERT_TRUE(t.ok());
      if (file.rfind("input.", 0) == 0) inputs.push_back({file.substr(6), *t});
      if (file.rfind("output.", 0) == 0) expected[file.substr(file.find('.', 7) + 1)] = *t;
    }
    Result<std::vector<NamedTensor>> got = ctx->run(inputs);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    for (const NamedTensor& out : *got) {
      ASSERT_TRUE(expected.count(out.name)) << out.name;
      EXPECT_TRUE(testing::cosine_at_least(out.tensor, expected[out.name], 0.99))
          << c << " " << out.name;
    }
  }
  fs::remove(plan);
}

TEST(QuantizedBuild, Int8TimmVitEntropy) {
  check_quantized_build("timm_vit_tiny_ts17", "int8", "entropy");
}

TEST(QuantizedBuild, Int8HfVitDynamoPercentile) {
  check_quantized_build("hf_vit_sdpa_dynamo", "int8", "percentile");
}

TEST(QuantizedBuild, Int8ClipTextMse) {
  check_quantized_build("hf_clip_text_sdpa_ts17", "int8", "mse");
}

TEST(QuantizedBuild, Fp8TimmVitMax) {
  check_quantized_build("timm_vit_tiny_ts17", "fp8", "");
}

TEST(QuantizedBuild, Fp8Dinov2Mse) {
  check_quantized_build("hf_dinov2_sdpa_dynamo", "fp8", "mse");
}

TEST(QuantizedBuild, MissingCalibrationDataIsAClearError) {
  BuildOptions options;
  options.precision = "int8";
  Result<BuildSummary> built = build_plan((golden("timm_vit_tiny_ts17") / "model.onnx").string(),
                                          ::testing::TempDir() + "/never.plan", options);
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.status().message().find("needs --calib-data"), std::string::npos)
      << built.status().message();
}

}  // namespace
}  // namespace vitrt
