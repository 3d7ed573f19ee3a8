// preprocessor_config.json parsing: current and old field spellings, CLIP defaults, and
// errors that name the field.
#include "vision/preprocessor_config.h"

#include <gtest/gtest.h>

namespace vitrt::vision {
namespace {

TEST(VisionConfig, ReadsAHubClipConfig) {
  const char* text = R"({
    "crop_size": {"height": 336, "width": 336}, "do_center_crop": true,
    "do_convert_rgb": true, "do_normalize": true, "do_rescale": true, "do_resize": true,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "CLIPImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3,
    "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 336}})";
  auto config = parse_preprocessor_config(text, "cfg");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->shortest_edge, 336);
  EXPECT_EQ(config->crop_height, 336);
  EXPECT_EQ(config->resample, ResampleFilter::kBicubic);
  EXPECT_EQ(config->rescale_factor, 1.0 / 255.0);
  EXPECT_EQ(config->image_std[2], 0.27577711f);
}

TEST(VisionConfig, OldIntegerSizesAndDefaults) {
  auto config = parse_preprocessor_config(
      R"({"size": 256, "crop_size": 240, "resample": 2, "image_mean": 0.5, "image_std": 0.5})",
      "cfg");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_EQ(config->shortest_edge, 256);
  EXPECT_EQ(config->crop_width, 240);
  EXPECT_EQ(config->resample, ResampleFilter::kBilinear);
  EXPECT_EQ(config->image_mean[1], 0.5f);
  EXPECT_TRUE(config->do_convert_rgb);  // CLIP's default when the field is absent
  auto exact = parse_preprocessor_config(R"({"size": {"height": 384, "width": 512}})", "cfg");
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->resize_height, 384);
  EXPECT_EQ(exact->resize_width, 512);
}

// A file that names only its class gets that class's defaults (transformers' values).
TEST(VisionConfig, FieldsLeftOutTakeTheNamedClassDefaults) {
  auto vit = parse_preprocessor_config(R"({"image_processor_type": "ViTImageProcessor"})", "cfg");
  ASSERT_TRUE(vit.ok()) << vit.status().to_string();
  EXPECT_EQ(vit->resize_height, 224);
  EXPECT_EQ(vit->resize_width, 224);
  EXPECT_FALSE(vit->do_center_crop);
  EXPECT_EQ(vit->resample, ResampleFilter::kBilinear);
  EXPECT_EQ(vit->image_mean[0], 0.5f);

  auto deit =
      parse_preprocessor_config(R"({"feature_extractor_type": "DeiTFeatureExtractor"})", "cfg");
  ASSERT_TRUE(deit.ok()) << deit.status().to_string();
  EXPECT_EQ(deit->resize_height, 256);
  EXPECT_TRUE(deit->do_center_crop);
  EXPECT_EQ(deit->crop_height, 224);
  EXPECT_EQ(deit->resample, ResampleFilter::kBicubic);

  // ConvNeXt at 384 and above: a square resize, no crop; below, size / crop_pct then a crop.
  auto big =
      parse_preprocessor_config(R"({"image_processor_type": "ConvNextImageProcessorFast"})", "cfg");
  ASSERT_TRUE(big.ok()) << big.status().to_string();
  EXPECT_EQ(big->resize_height, 384);
  EXPECT_FALSE(big->do_center_crop);
  auto small = parse_preprocessor_config(
      R"({"image_processor_type": "ConvNextImageProcessor", "size": {"shortest_edge": 224}})",
      "cfg");
  ASSERT_TRUE(small.ok()) << small.status().to_string();
  EXPECT_EQ(small->resize_height, 0);
  EXPECT_EQ(small->shortest_edge, 256);
  EXPECT_TRUE(small->do_center_crop);
  EXPECT_EQ(small->crop_height, 224);

  // MobileViT: BGR out, no normalization; the mean and std follow the flipped pixels.
  auto mvit = parse_preprocessor_config(
      R"({"image_processor_type": "MobileViTImageProcessor", "do_normalize": true,
          "image_mean": [0.1, 0.2, 0.3], "image_std": [0.4, 0.5, 0.6]})",
      "cfg");
  ASSERT_TRUE(mvit.ok()) << mvit.status().to_string();
  EXPECT_TRUE(mvit->flip_channel_order);
  EXPECT_EQ(mvit->image_mean[0], 0.3f);
  EXPECT_EQ(mvit->image_std[2], 0.4f);

  // No class, or one vitrt does not know: CLIPImageProcessor's defaults, as before.
  for (const char* text :
       {R"({"size": 224})", R"({"image_processor_type": "OwlViTImageProcessor", "size": 224})"}) {
    auto other = parse_preprocessor_config(text, "cfg");
    ASSERT_TRUE(other.ok()) << other.status().to_string();
    EXPECT_EQ(other->shortest_edge, 224);
    EXPECT_EQ(other->resize_height, 0);
    EXPECT_TRUE(other->do_center_crop);
  }
}

// What a timm config.json and an open_clip_config.json become (their pixels are checked against
// timm's and open_clip's own transforms in image_preprocess_test.cc).
TEST(VisionConfig, ReadsTimmAndOpenClipConfigs) {
  auto timm = parse_preprocessor_config(
      R"({"architecture": "vit_base_patch16_224", "num_classes": 1000, "pretrained_cfg":
          {"input_size": [3, 224, 224], "interpolation": "bicubic", "crop_pct": 0.9,
           "crop_mode": "center", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}})",
      "config.json");
  ASSERT_TRUE(timm.ok()) << timm.status().to_string();
  EXPECT_STREQ(timm->source_kind, "timm");
  EXPECT_TRUE(timm->torchvision);
  EXPECT_EQ(timm->shortest_edge, 248);  // floor(224 / 0.9)
  EXPECT_EQ(timm->resize_height, 0);
  EXPECT_EQ(timm->crop_height, 224);
  EXPECT_EQ(timm->resample, ResampleFilter::kBicubic);
  EXPECT_EQ(timm->image_mean[0], 0.5f);

  // Defaults: timm's (bicubic, crop_pct 0.875, ImageNet statistics).
  auto bare = parse_preprocessor_config(R"({"pretrained_cfg": {}})", "config.json");
  ASSERT_TRUE(bare.ok()) << bare.status().to_string();
  EXPECT_EQ(bare->shortest_edge, 256);
  EXPECT_EQ(bare->crop_width, 224);
  EXPECT_EQ(bare->image_mean[0], 0.485f);

  auto clip = parse_preprocessor_config(
      R"({"model_cfg": {"embed_dim": 768, "vision_cfg": {"image_size": 336}},
          "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                             "interpolation": "bilinear", "resize_mode": "squash"}})",
      "open_clip_config.json");
  ASSERT_TRUE(clip.ok()) << clip.status().to_string();
  EXPECT_STREQ(clip->source_kind, "open_clip");
  EXPECT_EQ(clip->resize_height, 336);
  EXPECT_EQ(clip->resize_width, 336);
  EXPECT_FALSE(clip->do_center_crop);
  EXPECT_EQ(clip->resample, ResampleFilter::kBilinear);

  // An HF file keeps HF's arithmetic.
  auto hf = parse_preprocessor_config(R"({"image_processor_type": "ViTImageProcessor"})", "x");
  ASSERT_TRUE(hf.ok());
  EXPECT_FALSE(hf->torchvision);
}

TEST(VisionConfig, ErrorsNameTheField) {
  const struct {
    const char* json;
    const char* expect;
  } cases[] = {
      {"{not json", "not valid JSON"},
      {"[1, 2]", "expected a JSON object"},
      {R"({"architectures": ["CLIPModel"], "projection_dim": 512})", "no image preprocessing"},
      {R"({"do_resize": "yes"})", "'do_resize'"},
      {R"({"size": {"shortest_edge": -3}})", "'size.shortest_edge'"},
      {R"({"size": {"shortest_edge": 224, "longest_edge": 448}})", "longest_edge"},
      {R"({"crop_size": {"height": 224}})", "'crop_size'"},
      {R"({"resample": 9})", "not a PIL filter"},
      {R"({"image_std": [0.5, 0, 0.5]})", "'image_std' must not contain 0"},
      {R"({"image_mean": [0.5, 0.5]})", "'image_mean'"},
      {R"({"rescale_factor": "1/255"})", "'rescale_factor'"},
      // timm
      {R"({"architecture": "vit", "pretrained_cfg": [1]})", "'pretrained_cfg' must be an object"},
      {R"({"pretrained_cfg": {"input_size": [1, 224, 224]}})", "1 channels"},
      {R"({"pretrained_cfg": {"input_size": [224, 224]}})", "[channels, height, width]"},
      {R"({"pretrained_cfg": {"crop_mode": "random"}})", "crop_mode 'random'"},
      {R"({"pretrained_cfg": {"interpolation": "nearest"}})", "interpolation 'nearest'"},
      {R"({"pretrained_cfg": {"crop_pct": -1}})", "'crop_pct'"},
      {R"({"pretrained_cfg": {"std": [0.5, 0, 0.5]}})", "'std' must not contain 0"},
      {R"({"input_size": [3, 224, 224], "crop_pct": "0.9"})", "'crop_pct'"},
      // open_clip
      {R"({"model_cfg": {"vision_cfg": {"image_size": "big"}}})", "'image_size'"},
      {R"({"preprocess_cfg": {"resize_mode": "fit"}})", "resize_mode 'fit'"},
      {R"({"preprocess_cfg": {"interpolation": "lanczos"}})", "interpolation 'lanczos'"},
      {R"({"preprocess_cfg": {"resize_mode": "longest", "fill_color": 300}})", "'fill_color'"},
  };
  for (const auto& c : cases) {
    auto config = parse_preprocessor_config(c.json, "my_config.json");
    ASSERT_FALSE(config.ok()) << c.json;
    EXPECT_NE(config.status().message().find(c.expect), std::string::npos)
        << c.json << " -> " << config.status().message();
    EXPECT_NE(config.status().message().find("my_config.json"), std::string::npos);
  }
  EXPECT_EQ(read_preprocessor_config("/nonexistent/preprocessor_config.json").status().code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace vitrt::vision
