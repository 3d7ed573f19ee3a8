// clip.json parsing: the fields export_clip.py writes, and errors that name the field.
#include "clip/clip_config.h"

#include <gtest/gtest.h>

#include <string>

namespace vitrt::clip {
namespace {

// The shape of what python/export_clip.py writes (fields vitrt does not read left out).
std::string config_text(const std::string& text_section = R"({"onnx": "text.onnx",
    "input": "input_ids", "output": "text_embeds", "context_length": 77})",
                        const std::string& tokenizer_type = "clip_bpe") {
  return R"({"format": "vitrt-clip/1", "logit_scale": 100.0, "embed_dim": 512,
    "vision": {"onnx": "vision.onnx", "input": "pixel_values", "output": "image_embeds",
               "image_size": 224, "preprocessor_config": "preprocessor_config.json"},
    "text": )" +
         text_section + R"(,
    "tokenizer": {"type": ")" +
         tokenizer_type + R"(", "vocab": "bpe_simple_vocab_16e6.txt.gz", "context_length": 77,
                  "sot_token_id": 49406, "eot_token_id": 49407, "pad_token_id": 0}})";
}

TEST(ClipConfigTest, ReadsExportClipFields) {
  Result<ClipConfig> config = parse_clip_config(config_text(), "m/clip.json");
  ASSERT_TRUE(config.ok()) << config.status().to_string();
  EXPECT_FLOAT_EQ(config->logit_scale, 100.0f);
  EXPECT_EQ(config->embed_dim, 512);
  EXPECT_EQ(config->vision.onnx, "vision.onnx");
  EXPECT_EQ(config->vision.input, "pixel_values");
  EXPECT_EQ(config->text.output, "text_embeds");
  EXPECT_EQ(config->preprocessor_config, "preprocessor_config.json");
  EXPECT_EQ(config->context_length, 77);
  EXPECT_EQ(config->sot_token_id, 49406);
  EXPECT_EQ(config->eot_token_id, 49407);
  EXPECT_EQ(config->pad_token_id, 0);
}

TEST(ClipConfigTest, ErrorsNameTheField) {
  Result<ClipConfig> missing = parse_clip_config(
      config_text(R"({"onnx": "text.onnx", "input": "input_ids"})"), "m/clip.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "m/clip.json: text.output: missing");

  Result<ClipConfig> wrong_type = parse_clip_config(
      config_text(R"({"onnx": 3, "input": "input_ids", "output": "text_embeds"})"), "m/clip.json");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.status().message(), "m/clip.json: text.onnx: expected a non-empty string");

  Result<ClipConfig> tokenizer = parse_clip_config(
      config_text(R"({"onnx": "text.onnx", "input": "input_ids", "output": "text_embeds"})",
                  "sentencepiece"),
      "m/clip.json");
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.status().message().find("tokenizer.type 'sentencepiece'"), std::string::npos);

  Result<ClipConfig> not_json = parse_clip_config("{\"format\": ", "m/clip.json");
  ASSERT_FALSE(not_json.ok());
  EXPECT_NE(not_json.status().message().find("not a JSON object"), std::string::npos);

  Result<ClipConfig> format = parse_clip_config(R"({"format": "vitrt-clip/2"})", "m/clip.json");
  ASSERT_FALSE(format.ok());
  EXPECT_EQ(format.status().message(),
            "m/clip.json: format: expected 'vitrt-clip/1', got 'vitrt-clip/2'");
}

}  // namespace
}  // namespace vitrt::clip
