// `vitrt build --precision int8|fp8` on the command line: calibration from image files through
// --calib-config, the progress lines, the calibration cache, and the usage errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing/vitrt_cli.h"

namespace vitrt {
namespace {
namespace fs = std::filesystem;

using testing::contains;
using testing::run_vitrt;
using Output = testing::CliOutput;

class QuantCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per test: ctest runs the tests of this fixture in parallel.
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("vitrt_quant_cli_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "images");
    const fs::path vision = fs::path(VITRT_SOURCE_DIR) / "tests/data/vision";
    for (const char* image : {"cat_q90_420.jpg", "cup_rgba.png", "launch_lossy.webp"}) {
      fs::copy_file(vision / image, dir_ / "images" / image);
    }
    // The fixture takes 32x32 pixels: HF ViT's processor settings at that size.
    std::ofstream(dir_ / "preprocessor_config.json")
        << R"({"do_resize": true, "size": {"height": 32, "width": 32}, "resample": 2,
               "do_center_crop": false, "do_rescale": true, "rescale_factor": 0.00392156862745098,
               "do_normalize": true, "image_mean": [0.5, 0.5, 0.5],
               "image_std": [0.5, 0.5, 0.5]})";
    model_ = (fs::path(VITRT_SOURCE_DIR) / "tests/golden/timm_vit_tiny_ts17/model.onnx").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string build_args(const std::string& extra) const {
    return "build '" + model_ + "' -o '" + (dir_ / "m.plan").string() + "' " + extra;
  }

  fs::path dir_;
  std::string model_;
};

TEST_F(QuantCli, CalibratesOnImagesAndReusesTheCache) {
  const std::string calib = "--calib-data '" + (dir_ / "images").string() + "' --calib-config '" +
                            (dir_ / "preprocessor_config.json").string() + "' --calib-cache '" +
                            (dir_ / "calib.cache").string() + "'";
  Output o =
      run_vitrt(build_args("--precision int8 --calib-batch-size 2 --verbose " + calib), dir_);
  ASSERT_EQ(o.exit_code, 0) << o.text;
  // Not a terminal: one progress line per run (3 images in runs of 2).
  EXPECT_TRUE(contains(o.text, "calibration batch 1/2")) << o.text;
  EXPECT_TRUE(contains(o.text, "calibration batch 2/2")) << o.text;
  EXPECT_TRUE(contains(o.text, "-> int8 (encoder layer): input amax")) << o.text;
  EXPECT_TRUE(contains(o.text, "by percentile 99.99")) << o.text;  // int8's default method
  EXPECT_TRUE(contains(o.text, "stays fp32: patch embedding")) << o.text;
  EXPECT_TRUE(contains(o.text, "quantization: 8 linear layers in int8, 2 in fp32")) << o.text;
  ASSERT_TRUE(fs::exists(dir_ / "calib.cache"));

  Output again = run_vitrt(build_args("--precision int8 --calib-method mse --calib-cache '" +
                                      (dir_ / "calib.cache").string() + "'"),
                           dir_);
  ASSERT_EQ(again.exit_code, 0) << again.text;
  EXPECT_TRUE(contains(again.text, "calibration: reused")) << again.text;
  EXPECT_FALSE(contains(again.text, "calibration batch")) << again.text;

  Output inspected = run_vitrt("inspect '" + (dir_ / "m.plan").string() + "'", dir_);
  EXPECT_TRUE(contains(inspected.text, "build option quantization: int8")) << inspected.text;
}

TEST_F(QuantCli, UsageErrors) {
  Output missing = run_vitrt(build_args("--precision int8"), dir_);
  EXPECT_EQ(missing.exit_code, 1) << missing.text;
  EXPECT_TRUE(contains(missing.text, "needs --calib-data")) << missing.text;

  Output fp32 = run_vitrt(build_args("--calib-data '" + dir_.string() + "'"), dir_);
  EXPECT_EQ(fp32.exit_code, 2) << fp32.text;
  EXPECT_TRUE(contains(fp32.text, "apply to --precision int8 or fp8")) << fp32.text;

  Output batches = run_vitrt(build_args("--precision int8 --calib-batches 0"), dir_);
  EXPECT_EQ(batches.exit_code, 2) << batches.text;

  Output rule = run_vitrt(build_args("--precision fp8 --calib-data '" + (dir_ / "images").string() +
                                     "' --layer-precision fc2"),
                          dir_);
  EXPECT_EQ(rule.exit_code, 1) << rule.text;
  EXPECT_TRUE(contains(rule.text, "GLOB=PRECISION")) << rule.text;

  Output images_wrong_size = run_vitrt(
      build_args("--precision int8 --calib-data '" + (dir_ / "images").string() + "'"), dir_);
  EXPECT_EQ(images_wrong_size.exit_code, 1) << images_wrong_size.text;
  EXPECT_TRUE(contains(images_wrong_size.text, "calibration batch 1")) << images_wrong_size.text;
}

}  // namespace
}  // namespace vitrt
