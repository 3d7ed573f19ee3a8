// The whole HF pipeline against transformers' CLIPImageProcessor (PIL backend) on every
// reference image and two configs, plus the resize/crop geometry and the batch loader.
#include "vision/image_preprocess.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "testing/compare.h"
#include "vision_test_data.h"

namespace vitrt::vision {
namespace {

using testing::vision_data_path;

PreprocessorConfig config_named(const std::string& name) {
  auto config = read_preprocessor_config(vision_data_path(name + ".json"));
  EXPECT_TRUE(config.ok()) << config.status().to_string();
  return config.ok() ? *config : PreprocessorConfig{};
}

TEST(VisionPreprocess, MatchesHfClipImageProcessorOnEveryImage) {
  const auto manifest = testing::vision_manifest();
  for (const auto& [config_name, file] : manifest["configs"].items()) {
    const PreprocessorConfig config = config_named(config_name);
    for (const auto& entry : manifest["images"]) {
      const std::string image_file = entry["file"];
      SCOPED_TRACE(image_file + " with " + config_name);
      auto pixels = preprocess_image_files({vision_data_path(image_file)}, config);
      ASSERT_TRUE(pixels.ok()) << pixels.status().to_string();
      auto expected = read_npy(vision_data_path(entry["hf"][config_name]));
      ASSERT_TRUE(expected.ok()) << expected.status().to_string();
      // Same uint8 pixels and the same float arithmetic: equal up to float rounding noise.
      EXPECT_TRUE(vitrt::testing::tensors_close(*pixels, *expected, {0.0, 1e-6}));
    }
  }
}

// Configs in the shapes the Hub has them (python/make_hf_processor_references.py), read as the
// image processor class they name reads them: an integer size as a square (ViT, DeiT, BEiT) or
// a shortest edge (CLIP, ConvNeXt, MobileNet), crop_pct, LeViT's 256/224, MobileViT's BGR, the
// fields a file leaves out from the class's defaults. Landscape and portrait photos, against
// transformers' PIL image processor of each class.
// timm's config.json (or its pretrained_cfg alone) and open_clip's open_clip_config.json, read
// as timm's and open_clip's eval transforms read them (python/
// make_torchvision_preprocess_references.py): crop_pct, every crop_mode and resize_mode,
// non-square sizes (ResizeKeepRatio), torchvision's crop rounding and padding, PIL's
// convert("RGB"). Against those transforms' own outputs on photos of several shapes and modes.
TEST(VisionPreprocess, MatchesTimmAndOpenClipTransforms) {
  std::ifstream file(vision_data_path("torchvision/manifest.json"));
  std::ostringstream text;
  text << file.rdbuf();
  const nlohmann::json manifest = nlohmann::json::parse(text.str());
  int checked = 0;
  for (const auto& entry : manifest["cases"]) {
    const std::string config_file = entry["config"];
    const std::string image_file = entry["image"];
    SCOPED_TRACE(image_file + " with " + config_file);
    auto config = read_preprocessor_config(vision_data_path("torchvision/" + config_file));
    ASSERT_TRUE(config.ok()) << config.status().to_string();
    EXPECT_TRUE(config->torchvision);
    EXPECT_STREQ(config->source_kind, config_file.rfind("timm", 0) == 0 ? "timm" : "open_clip");
    auto pixels = preprocess_image_files({vision_data_path(image_file)}, *config);
    ASSERT_TRUE(pixels.ok()) << pixels.status().to_string();
    auto expected = read_npy(vision_data_path("torchvision/" + entry["ref"].get<std::string>()));
    ASSERT_TRUE(expected.ok()) << expected.status().to_string();
    EXPECT_TRUE(vitrt::testing::tensors_close(*pixels, *expected, {0.0, 1e-6}));
    ++checked;
  }
  EXPECT_EQ(checked, 46);
}

TEST(VisionPreprocess, MatchesEachHfImageProcessorClass) {
  std::ifstream file(vision_data_path("hf_processors/manifest.json"));
  std::ostringstream text;
  text << file.rdbuf();
  const nlohmann::json manifest = nlohmann::json::parse(text.str());
  int checked = 0;
  for (const auto& [name, entry] : manifest["configs"].items()) {
    auto config = read_preprocessor_config(
        vision_data_path("hf_processors/" + entry["config"].get<std::string>()));
    ASSERT_TRUE(config.ok()) << name << ": " << config.status().to_string();
    for (const auto& [image_file, npy] : entry["pixel_values"].items()) {
      SCOPED_TRACE(image_file + " with " + name);
      auto pixels = preprocess_image_files({vision_data_path(image_file)}, *config);
      ASSERT_TRUE(pixels.ok()) << pixels.status().to_string();
      auto expected = read_npy(vision_data_path("hf_processors/" + npy.get<std::string>()));
      ASSERT_TRUE(expected.ok()) << expected.status().to_string();
      EXPECT_TRUE(vitrt::testing::tensors_close(*pixels, *expected, {0.0, 1e-6}));
      ++checked;
    }
  }
  EXPECT_GE(checked, 28);
}

TEST(VisionPreprocess, BatchKeepsOrderAcrossThreads) {
  const PreprocessorConfig config = config_named("clip_small");
  const auto manifest = testing::vision_manifest();
  std::vector<std::string> paths;
  std::vector<Tensor> expected;
  for (const auto& entry : manifest["images"]) {
    paths.push_back(vision_data_path(entry["file"]));
    expected.push_back(*read_npy(vision_data_path(entry["hf"]["clip_small"])));
  }
  auto batch = preprocess_image_files(paths, config);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  ASSERT_EQ(batch->shape(), (std::vector<int64_t>{static_cast<int64_t>(paths.size()), 3, 32, 32}));
  const size_t per_image = 3 * 32 * 32;
  for (size_t i = 0; i < paths.size(); ++i) {
    auto one = Tensor::copy_from(DType::kFloat32, {1, 3, 32, 32},
                                 batch->data<float>() + i * per_image, per_image * sizeof(float));
    ASSERT_TRUE(one.ok());
    EXPECT_TRUE(vitrt::testing::tensors_close(*one, expected[i], {0.0, 1e-6})) << paths[i];
  }
  auto u8 = preprocess_image_files_uint8(paths, config);
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ(u8->dtype(), DType::kUInt8);
  EXPECT_EQ(u8->shape(), batch->shape());
}

TEST(VisionPreprocess, BatchErrorsNameTheFile) {
  const PreprocessorConfig config = config_named("clip_small");
  auto bad = preprocess_image_files(
      {vision_data_path("face.png"), vision_data_path("bad_truncated.png")}, config);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad_truncated.png"), std::string::npos);
  // Without a crop, differently shaped images cannot share a batch.
  PreprocessorConfig no_crop = config;
  no_crop.do_center_crop = false;
  auto mixed = preprocess_image_files(
      {vision_data_path("face.png"), vision_data_path("cup_q60_420.jpg")}, no_crop);
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("one size"), std::string::npos)
      << mixed.status().message();
}

TEST(VisionPreprocess, ResizeSizeTruncatesTheLongSideLikeHf) {
  PreprocessorConfig config;
  config.shortest_edge = 224;
  EXPECT_EQ(resize_output_size(480, 640, config), (std::pair<int, int>{224, 298}));  // 298.67
  EXPECT_EQ(resize_output_size(640, 480, config), (std::pair<int, int>{298, 224}));
  EXPECT_EQ(resize_output_size(100, 100, config), (std::pair<int, int>{224, 224}));
  EXPECT_EQ(resize_output_size(3, 1000, config), (std::pair<int, int>{224, 74666}));
  config.resize_height = 30;
  config.resize_width = 45;
  EXPECT_EQ(resize_output_size(480, 640, config), (std::pair<int, int>{30, 45}));
}

TEST(VisionPreprocess, CenterCropOffsetsAndZeroPadding) {
  // 5 wide, 2 high: values 1..10. A 3x4 crop takes columns 1..3 (floor(2/2)) and pads rows:
  // the image sits at row offset ceil((4-2)/2) = 1.
  Image image = Image::allocate(5, 2, PixelMode::kGray);
  image.pixels = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  const Image out = center_crop(image, 4, 3);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{0, 0, 0, 2, 3, 4, 7, 8, 9, 0, 0, 0}));
  // 3 rows into 2: odd difference rounds the offset down (row 0 kept).
  Image tall = Image::allocate(1, 3, PixelMode::kGray);
  tall.pixels = {1, 2, 3};
  EXPECT_EQ(center_crop(tall, 2, 1).pixels, (std::vector<uint8_t>{1, 2}));
  // 1 column into 4: offset floor(-3/2) = -2, so two zero columns on the left, one right
  // (and 3 rows into 1 keeps row floor(2/2) = 1).
  EXPECT_EQ(center_crop(tall, 1, 4).pixels, (std::vector<uint8_t>{0, 0, 2, 0}));
}

TEST(VisionPreprocess, NonRgbWithoutConversionIsAnError) {
  PreprocessorConfig config;
  config.do_convert_rgb = false;
  Image gray = Image::allocate(4, 4, PixelMode::kGray);
  auto out = preprocess_to_uint8(gray, config);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("do_convert_rgb"), std::string::npos);
}

}  // namespace
}  // namespace vitrt::vision
