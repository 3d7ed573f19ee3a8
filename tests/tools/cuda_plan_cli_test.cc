// `vitrt build --device cuda` and loading such a plan, on any machine: with the CUDA backend
// compiled in, the plan records device and GPU architecture and needs no GPU to build; loading
// it without a GPU (CI) fails with a message that says so. Without the backend both steps say
// the backend is missing. Nothing here needs a GPU (tests/cuda/ has the GPU tests).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "testing/vitrt_cli.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

using testing::contains;
using testing::run_vitrt;
using Output = testing::CliOutput;

TEST(CudaPlanCli, BuildRecordsDeviceOrSaysBackendIsMissing) {
  const fs::path dir = fs::path(::testing::TempDir()) / "vitrt_cuda_plan_cli";
  fs::create_directories(dir);
  const std::string model =
      (fs::path(VITRT_SOURCE_DIR) / "tests/golden/timm_vit_tiny_ts17/model.onnx").string();
  const std::string plan = (dir / "m.plan").string();
  Output built = run_vitrt(
      "build '" + model + "' -o '" + plan + "' --device cuda --precision fp16 --tf32", dir);
  if (built.exit_code != 0) {
    EXPECT_EQ(built.exit_code, 1) << built.text;
    EXPECT_TRUE(contains(built.text, "without the CUDA backend")) << built.text;
    fs::remove_all(dir);
    return;
  }
  Output inspected = run_vitrt("inspect '" + plan + "'", dir);
  ASSERT_EQ(inspected.exit_code, 0) << inspected.text;
  EXPECT_TRUE(contains(inspected.text, "device: cuda")) << inspected.text;
  EXPECT_TRUE(contains(inspected.text, "precision: fp16")) << inspected.text;
  EXPECT_TRUE(contains(inspected.text, "build option arch: sm_")) << inspected.text;
  EXPECT_TRUE(contains(inspected.text, "build option tf32: true")) << inspected.text;
  // Loading: runs on a GPU machine of the plan's architecture, else a clear refusal.
  Output bench = run_vitrt("bench '" + plan + "' --device cuda --iterations 2 --warmup 0", dir);
  if (bench.exit_code != 0) {
    EXPECT_EQ(bench.exit_code, 1) << bench.text;
    EXPECT_TRUE(contains(bench.text, "no CUDA device") || contains(bench.text, "sm_"))
        << bench.text;
  }
  // A cuda plan is not a cpu plan.
  Output wrong = run_vitrt("bench '" + plan + "' --device cpu --iterations 1", dir);
  EXPECT_EQ(wrong.exit_code, 1) << wrong.text;
  fs::remove_all(dir);
}

TEST(CudaPlanCli, ReducedPrecisionNeedsCuda) {
  const fs::path dir = fs::path(::testing::TempDir()) / "vitrt_cuda_plan_cli_cpu";
  fs::create_directories(dir);
  const std::string model =
      (fs::path(VITRT_SOURCE_DIR) / "tests/golden/timm_vit_tiny_ts17/model.onnx").string();
  Output o = run_vitrt(
      "build '" + model + "' -o '" + (dir / "m.plan").string() + "' --device cpu --precision fp16",
      dir);
  EXPECT_EQ(o.exit_code, 1) << o.text;
  EXPECT_TRUE(contains(o.text, "not supported yet for device 'cpu'")) << o.text;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vitrt
