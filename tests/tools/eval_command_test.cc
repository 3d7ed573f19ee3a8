// `vitrt eval` driven as a user would, on the trained digits ViT (tests/data/digits_vit, made by
// python/train_digits_vit.py): its metrics, its JSON line, images vs .npy data, and the errors
// for data that does not fit the model.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "testing/vitrt_cli.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

using testing::CliOutput;
using testing::contains;
using testing::last_line_json;
using testing::run_vitrt;

class EvalCommandTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::path(::testing::TempDir()) / ("vitrt_eval_" + std::to_string(getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  static CliOutput vitrt(const std::string& args) { return run_vitrt(args, *dir_); }
  static std::string fixture(const std::string& name) {
    return (fs::path(VITRT_SOURCE_DIR) / "tests" / "data" / "digits_vit" / name).string();
  }
  static std::string scratch(const std::string& name) { return (*dir_ / name).string(); }

  // Builds the digits plan at `precision` once per test suite run.
  static std::string plan(const std::string& precision) {
    const std::string path = scratch("digits_" + precision + ".plan");
    if (!fs::exists(path)) {
      CliOutput r =
          vitrt("build '" + fixture("model.onnx") + "' -o '" + path + "' --precision " + precision);
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
    return path;
  }
  static std::string eval_images(const std::string& plan_path, const std::string& extra = "") {
    return "eval '" + plan_path + "' --reference '" + fixture("model.onnx") + "' --data '" +
           fixture("images") + "' --config '" + fixture("preprocessor_config.json") + "' " + extra;
  }

  static fs::path* dir_;
};

fs::path* EvalCommandTest::dir_ = nullptr;

// The fp32 plan is the model: same predictions, and the accuracy PyTorch measured when
// training (manifest.json), which also shows vitrt's image pipeline matches HF's.
TEST_F(EvalCommandTest, Fp32PlanMatchesTheReferenceAndTheTrainedAccuracy) {
  CliOutput r = vitrt(
      eval_images(plan("fp32"), "--labels '" + fixture("labels.npy") + "' --batch 100 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "vitrt CPU engine, fp32, unoptimized")) << r.out;
  EXPECT_TRUE(contains(r.out, "top-1 accuracy of 'logits' on 360 labelled items")) << r.out;
  const nlohmann::json j = last_line_json(r.out);
  EXPECT_EQ(j["items"], 360);
  EXPECT_EQ(j["batch"], 100);
  const nlohmann::json& o = j["outputs"][0];
  EXPECT_EQ(o["name"], "logits");
  EXPECT_GT(o["cosine_min"].get<double>(), 0.999999);
  EXPECT_LT(o["max_abs_error_relative"].get<double>(), 1e-5);
  EXPECT_EQ(o["top1_agreement"].get<double>(), 1.0);
  const nlohmann::json manifest =
      nlohmann::json::parse(testing::read_file_text(fixture("manifest.json")));
  const double trained = manifest["held_out_top1"]["pytorch"].get<double>();
  EXPECT_NEAR(o["top1_accuracy"].get<double>(), trained, 0.5 / 360);
  EXPECT_NEAR(o["reference_top1_accuracy"].get<double>(), trained, 0.5 / 360);
  EXPECT_GT(trained, 0.95);
}

// bf16 rounds weights and activations of every Linear: close, not equal.
TEST_F(EvalCommandTest, Bf16PlanKeepsTheAccuracy) {
  CliOutput r = vitrt(eval_images(plan("bf16"), "--labels '" + fixture("labels.npy") + "' --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json o = last_line_json(r.out)["outputs"][0];
  EXPECT_GT(o["cosine_mean"].get<double>(), 0.999);
  EXPECT_GT(o["top1_agreement"].get<double>(), 0.98);
  EXPECT_NEAR(o["top1_accuracy"].get<double>(), o["reference_top1_accuracy"].get<double>(), 0.02);
}

// The same items as .npy (made by `vitrt clip preprocess` from the PNGs) give the same figures.
TEST_F(EvalCommandTest, NpyDataGivesTheSameFigures) {
  const std::string data = scratch("npy_data");
  fs::create_directories(data);
  CliOutput r = vitrt("clip preprocess '" + fixture("images") + "'/*.png --config '" +
                      fixture("preprocessor_config.json") + "' -o '" + data + "/pixel_values.npy'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = vitrt("eval '" + plan("fp32") + "' --reference '" + fixture("model.onnx") + "' --data '" +
            data + "' --labels '" + fixture("labels.npy") + "' --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "360 items from .npy")) << r.out;
  const nlohmann::json from_npy = last_line_json(r.out)["outputs"][0];
  r = vitrt(eval_images(plan("fp32"), "--labels '" + fixture("labels.npy") + "' --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json from_images = last_line_json(r.out)["outputs"][0];
  EXPECT_EQ(from_npy["top1_accuracy"], from_images["top1_accuracy"]);
  EXPECT_NEAR(from_npy["cosine_mean"].get<double>(), from_images["cosine_mean"].get<double>(),
              1e-9);
}

// vitrt build --calib-data's layouts: .npy batches of any names, and sub-folders of NAME.npy.
TEST_F(EvalCommandTest, CalibrationFolderLayouts) {
  const std::string batches = scratch("batches"), folders = scratch("folders");
  fs::create_directories(batches);
  fs::create_directories(folders + "/a");
  fs::create_directories(folders + "/b");
  CliOutput r = vitrt("clip preprocess '" + fixture("images") + "'/*.png --config '" +
                      fixture("preprocessor_config.json") + "' -o '" + batches + "/x0.npy'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::copy_file(batches + "/x0.npy", batches + "/x1.npy");
  fs::copy_file(batches + "/x0.npy", folders + "/a/pixel_values.npy");
  fs::copy_file(batches + "/x0.npy", folders + "/b/pixel_values.npy");
  for (const std::string& data : {batches, folders}) {
    r = vitrt("eval '" + plan("fp32") + "' --reference '" + fixture("model.onnx") + "' --data '" +
              data + "' --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(last_line_json(r.out)["items"], 720) << data;
  }
  // A batch of another item shape is named.
  fs::copy_file(fixture("labels.npy"), batches + "/x2.npy");
  r = vitrt("eval '" + plan("fp32") + "' --reference '" + fixture("model.onnx") + "' --data '" +
            batches + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "x2.npy' (input 'pixel_values') holds int64[360]")) << r.err;
}

// The layout rule that --calib-data shares (vision::data_layout): one kind per folder, and a
// sample folder without .npy files is named, not read as zero items.
TEST_F(EvalCommandTest, MixedKindsAndEmptySampleFolders) {
  const std::string data = scratch("mixed");
  fs::create_directories(data + "/s0");
  fs::copy_file(fixture("labels.npy"), data + "/pixel_values.npy");
  CliOutput r = vitrt("eval '" + plan("fp32") + "' --reference '" + fixture("model.onnx") +
                      "' --data '" + data + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "holds both .npy files ('pixel_values.npy') and sub-folders ('s0')"))
      << r.err;
  fs::remove(data + "/pixel_values.npy");
  r = vitrt("eval '" + plan("fp32") + "' --reference '" + fixture("model.onnx") + "' --data '" +
            data + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "sample folder '" + data + "/s0' holds no .npy files")) << r.err;
}

TEST_F(EvalCommandTest, TextLabelsFile) {
  std::ofstream(scratch("three.txt")) << "1 2\n3\n";
  CliOutput r = vitrt(eval_images(plan("fp32"), "--labels '" + scratch("three.txt") + "'"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "has 3 labels for 360 items")) << r.err;
  std::ofstream(scratch("bad.txt")) << "1 two 3\n";
  r = vitrt(eval_images(plan("fp32"), "--labels '" + scratch("bad.txt") + "'"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "'two' (label 1) is not an integer")) << r.err;
}

TEST_F(EvalCommandTest, UsageAndDataErrors) {
  CliOutput r = vitrt("eval --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.out, "--reference")) << r.out;
  r = vitrt("eval '" + plan("fp32") + "' --data '" + fixture("images") + "'");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--reference")) << r.err;
  // Images without the model's --config are preprocessed to 224x224: named before running.
  r = vitrt("eval '" + plan("fp32") + "' --reference '" + fixture("model.onnx") + "' --data '" +
            fixture("images") + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "takes 32x32 images but the preprocessing makes 224x224")) << r.err;
  // A .npy whose name is no input, next to one that is.
  const std::string data = scratch("wrong_names");
  fs::create_directories(data);
  fs::copy_file(fixture("labels.npy"), data + "/pixel_values.npy",
                fs::copy_options::overwrite_existing);
  fs::copy_file(fixture("labels.npy"), data + "/extra.npy", fs::copy_options::overwrite_existing);
  r = vitrt("eval '" + plan("fp32") + "' --reference '" + fixture("model.onnx") + "' --data '" +
            data + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "extra.npy', which names no model input")) << r.err;
  // The right name but integer data for a float input.
  fs::remove(data + "/extra.npy");
  r = vitrt("eval '" + plan("fp32") + "' --reference '" + fixture("model.onnx") + "' --data '" +
            data + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "has shape [360] but the input has 4 dims")) << r.err;
  r = vitrt(eval_images(plan("fp32"), "--device cuda"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "runs on device 'cpu'")) << r.err;
}

}  // namespace
}  // namespace vitrt
