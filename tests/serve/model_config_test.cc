// config.json parsing: defaults, every setting, and errors that name the bad key.
#include "serve/model_config.h"

#include <gtest/gtest.h>

namespace vitrt::serve {
namespace {

TEST(ServeModelConfig, DefaultsComeFromTheFolder) {
  Result<ModelConfig> c = parse_model_config("{}", "/repo/vit");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->name, "vit");
  EXPECT_EQ(c->backend, "plan");
  EXPECT_EQ(c->plan_path, "/repo/vit/model.plan");
  EXPECT_EQ(c->max_batch_size, 0);
  EXPECT_EQ(c->instance_count, 1);
}

TEST(ServeModelConfig, ReadsEverySetting) {
  Result<ModelConfig> c = parse_model_config(R"({"name": "v", "plan": "/abs/m.onnx",
      "max_batch_size": 8, "instance_count": 3, "inputs": ["x"], "outputs": ["y"],
      "dynamic_batching": {"preferred_batch_size": [4, 8], "max_queue_delay_microseconds": 500,
                           "max_queue_size": 10}})",
                                             "/repo/vit");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->name, "v");
  EXPECT_EQ(c->plan_path, "/abs/m.onnx");
  EXPECT_EQ(c->preferred_batch_sizes, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(c->max_queue_delay_us, 500);
  EXPECT_EQ(c->max_queue_size, 10);
  EXPECT_EQ(c->instance_count, 3);
  EXPECT_EQ(c->input_names, (std::vector<std::string>{"x"}));
}

TEST(ServeModelConfig, ErrorsNameTheKey) {
  auto error = [](const std::string& text) {
    Result<ModelConfig> c = parse_model_config(text, "/repo/m");
    return c.ok() ? std::string() : c.status().message();
  };
  EXPECT_EQ(error("[1]"), "/repo/m/config.json: not a JSON object");
  EXPECT_EQ(error(R"({"max_batch": 4})"), "/repo/m/config.json: unknown key 'max_batch'");
  EXPECT_EQ(error(R"({"max_batch_size": -1})"),
            "/repo/m/config.json: 'max_batch_size' must be an integer >= 0");
  EXPECT_EQ(error(R"({"backend": "tf"})"),
            "/repo/m/config.json: 'backend' is 'tf', expected \"plan\" or \"clip\"");
  EXPECT_NE(error(R"({"max_batch_size": 4, "dynamic_batching": {"preferred_batch_size": [8]}})")
                .find("preferred_batch_size 8 is not in [1, max_batch_size=4]"),
            std::string::npos);
}

}  // namespace
}  // namespace vitrt::serve
