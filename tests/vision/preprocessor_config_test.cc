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
