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

// CUDA fp8 builds (no GPU needed: the optimizer and the calibration run on the CPU, the
// tactic timing is skipped without one): the qkv layers' E4M3 codes into the attention of a
// head-dim-64 model, each attention reported; with --no-fp8-attention nothing, though its
// calibration measures q, k, v all the same, so that its cache serves an fp8 build with them. A
// cache without q, k, v's ranges (an older vitrt's) still works alone and leaves them 16-bit,
// saying so; with --calib-data it is calibrated again and rewritten with them.
TEST_F(QuantCli, Fp8AttentionInCudaPlans) {
  const std::string model =
      (fs::path(VITRT_SOURCE_DIR) / "tests/data/vit_head64/model.onnx").string();
  const std::string plan = (dir_ / "h64.plan").string();
  const std::string data = "--calib-data '" + (dir_ / "images").string() + "' --calib-config '" +
                           (dir_ / "preprocessor_config.json").string() + "'";
  const std::string cache = " --calib-cache '" + (dir_ / "off.cache").string() + "'";
  auto build = [&](const std::string& extra) {
    return run_vitrt("build '" + model + "' -o '" + plan + "' --precision fp8 " + extra, dir_);
  };
  Output cpu = build("--verbose " + data);
  ASSERT_EQ(cpu.exit_code, 0) << cpu.text;
  EXPECT_FALSE(contains(cpu.text, "fuse_fp8_attention")) << cpu.text;  // CUDA plans only

  Output cuda = build("--device cuda --verbose " + data);
  if (contains(cuda.text, "built without the CUDA backend")) {
    GTEST_SKIP() << "this vitrt has no CUDA backend";
  }
  ASSERT_EQ(cuda.exit_code, 0) << cuda.text;
  EXPECT_TRUE(contains(cuda.text, "[fuse_fp8_attention] Attention '/blocks/blocks.0/attn/"))
      << cuda.text;
  EXPECT_TRUE(contains(cuda.text, "reads q, k, v as E4M3 codes")) << cuda.text;
  EXPECT_TRUE(contains(cuda.text, "2 attentions read E4M3 q, k, v")) << cuda.text;
  Output nodes = run_vitrt("inspect '" + plan + "' --nodes", dir_);
  EXPECT_TRUE(contains(nodes.text, "qkv/MatMul_output_0 uint8[")) << nodes.text;

  Output off = build("--device cuda --verbose --no-fp8-attention " + data + cache);
  ASSERT_EQ(off.exit_code, 0) << off.text;
  EXPECT_FALSE(contains(off.text, "fuse_fp8_attention")) << off.text;
  EXPECT_FALSE(contains(off.text, "attentions read E4M3")) << off.text;

  // The --no-fp8-attention build's cache holds q, k, v's ranges.
  Output reuse = build("--device cuda" + cache);
  ASSERT_EQ(reuse.exit_code, 0) << reuse.text;
  EXPECT_TRUE(contains(reuse.text, "calibration: reused")) << reuse.text;
  EXPECT_TRUE(contains(reuse.text, "2 attentions read E4M3 q, k, v")) << reuse.text;

  // An older vitrt's cache: the same without the packed q, k, v values' lines.
  const fs::path old_path = dir_ / "old.cache";
  int dropped = 0;
  {
    std::ifstream in(dir_ / "off.cache");
    std::ofstream out(old_path);
    for (std::string line; std::getline(in, line);) {
      if (contains(line, "/attn/qkv/MatMul_output_0 ")) {
        ++dropped;
      } else {
        out << line << "\n";
      }
    }
  }
  ASSERT_EQ(dropped, 2);
  const std::string old_cache_arg = " --calib-cache '" + old_path.string() + "'";
  Output old_cache = build("--device cuda --verbose" + old_cache_arg);
  ASSERT_EQ(old_cache.exit_code, 0) << old_cache.text;
  EXPECT_TRUE(contains(old_cache.text, "calibration: reused")) << old_cache.text;
  EXPECT_TRUE(contains(old_cache.text, "has no ranges for 2 values")) << old_cache.text;
  EXPECT_TRUE(contains(old_cache.text, "q, k, v stay float: no calibrated range"))
      << old_cache.text;
  EXPECT_TRUE(contains(old_cache.text, "2 of 2 attentions keep 16-bit q, k, v")) << old_cache.text;
  EXPECT_FALSE(contains(old_cache.text, "attentions read E4M3")) << old_cache.text;

  // With data, the old cache is calibrated again and rewritten with them (and its other values).
  Output updated = build("--device cuda " + data + old_cache_arg);
  ASSERT_EQ(updated.exit_code, 0) << updated.text;
  EXPECT_TRUE(contains(updated.text, "calibrating again")) << updated.text;
  EXPECT_TRUE(contains(updated.text, "2 attentions read E4M3 q, k, v")) << updated.text;
  std::ifstream rewritten(old_path);
  int lines = 0, qkv = 0;
  for (std::string line; std::getline(rewritten, line); ++lines) {
    qkv += contains(line, "/attn/qkv/MatMul_output_0 ") ? 1 : 0;
  }
  EXPECT_EQ(qkv, 2);
  std::ifstream original(dir_ / "off.cache");
  int original_lines = 0;
  for (std::string line; std::getline(original, line);) ++original_lines;
  EXPECT_EQ(lines, original_lines);
  EXPECT_FALSE(fs::exists(old_path.string() + ".partial"));
}

// CUDA calibration measures q, k, v only for attentions the E4M3 kernel can take: the tiny
// ViT's head dim is 16, so its cache holds the layer inputs alone, and an fp8 build that reuses
// it misses no value (its attentions stay 16-bit for their shape, said as such).
TEST_F(QuantCli, CudaCalibrationSkipsAttentionsTheE4M3KernelCannotTake) {
  const std::string cache = (dir_ / "tiny.cache").string();
  Output int8 = run_vitrt(
      build_args("--device cuda --precision int8 --calib-data '" + (dir_ / "images").string() +
                 "' --calib-config '" + (dir_ / "preprocessor_config.json").string() +
                 "' --calib-cache '" + cache + "'"),
      dir_);
  if (contains(int8.text, "built without the CUDA backend")) {
    GTEST_SKIP() << "this vitrt has no CUDA backend";
  }
  ASSERT_EQ(int8.exit_code, 0) << int8.text;
  std::ifstream in(cache);
  int values = 0, qkv = 0;
  for (std::string line; std::getline(in, line);) {
    values += line.rfind("value ", 0) == 0 ? 1 : 0;
    qkv += contains(line, "/attn/qkv/MatMul_output_0 ") ? 1 : 0;
  }
  EXPECT_EQ(values, 8);  // the 8 encoder layers' inputs
  EXPECT_EQ(qkv, 0);
  Output fp8 = run_vitrt(
      build_args("--device cuda --precision fp8 --verbose --calib-cache '" + cache + "'"), dir_);
  ASSERT_EQ(fp8.exit_code, 0) << fp8.text;
  EXPECT_TRUE(contains(fp8.text, "calibration: reused")) << fp8.text;
  EXPECT_FALSE(contains(fp8.text, "has no ranges")) << fp8.text;
  EXPECT_FALSE(contains(fp8.text, "keep 16-bit q, k, v")) << fp8.text;
  EXPECT_TRUE(contains(fp8.text,
                       "q, k, v stay float: head dim 16 (the E4M3 attention kernel "
                       "takes 64)"))
      << fp8.text;
}

// VITRT_CPU_FP8_ATTENTION=1: a CPU fp8 build reads E4M3 q, k, v as a CUDA one does (the CPU
// kernels decode the codes), so a CPU can measure what they cost; its plan's outputs differ
// from the plain CPU fp8 plan's by that rounding, and both stay near the FP32 model's.
TEST_F(QuantCli, CpuFp8AttentionForAccuracyStudies) {
  const std::string model =
      (fs::path(VITRT_SOURCE_DIR) / "tests/data/vit_head64/model.onnx").string();
  const std::string data = "--calib-data '" + (dir_ / "images").string() + "' --calib-config '" +
                           (dir_ / "preprocessor_config.json").string() + "'";
  auto build = [&](const std::string& plan, const std::vector<testing::EnvVar>& env) {
    return run_vitrt("build '" + model + "' -o '" + (dir_ / plan).string() +
                         "' --precision fp8 --calib-batch-size 3 " + data,
                     dir_, env);
  };
  Output plain = build("plain.plan", {});
  ASSERT_EQ(plain.exit_code, 0) << plain.text;
  EXPECT_FALSE(contains(plain.text, "attentions read E4M3")) << plain.text;
  Output codes = build("codes.plan", {{"VITRT_CPU_FP8_ATTENTION", "1"}});
  ASSERT_EQ(codes.exit_code, 0) << codes.text;
  EXPECT_TRUE(contains(codes.text, "2 attentions read E4M3 q, k, v")) << codes.text;

  auto eval = [&](const std::string& plan) {
    return run_vitrt("eval '" + (dir_ / plan).string() + "' --reference '" + model + "' --data '" +
                         (dir_ / "images").string() + "' --config '" +
                         (dir_ / "preprocessor_config.json").string() + "' --json",
                     dir_);
  };
  Output plain_eval = eval("plain.plan");
  Output codes_eval = eval("codes.plan");
  ASSERT_EQ(plain_eval.exit_code, 0) << plain_eval.text;
  ASSERT_EQ(codes_eval.exit_code, 0) << codes_eval.text;
  auto cosine = [](const Output& o) {
    return testing::last_line_json(o.out)["outputs"][0]["cosine_mean"].get<double>();
  };
  const double c_plain = cosine(plain_eval), c_codes = cosine(codes_eval);
  EXPECT_GE(c_plain, 0.99) << plain_eval.text;
  EXPECT_GE(c_codes, 0.99) << codes_eval.text;
  EXPECT_NE(c_plain, c_codes);  // the codes path ran
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
