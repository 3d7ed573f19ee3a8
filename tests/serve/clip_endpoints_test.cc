// /v1/embeddings, /v1/classify and /v1/rank through InferenceServer::handle, over a fake
// ClipModel (the real one lives in the clip branch; these tests pin the protocol and batching).
#include "serve/clip_endpoints.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <future>

#include "serve/base64.h"
#include "serve/fake_clip.h"
#include "serve/inference_server.h"

namespace vitrt::serve {
namespace {

using nlohmann::json;

using testing::FakeClip;

std::string image_uri(char first_byte) {
  return "data:image/png;base64," + base64_encode(std::string(1, first_byte) + "rest");
}

class ServeClipEndpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelConfig config;
    config.name = "clip";
    config.backend = "clip";
    config.max_batch_size = 4;
    config.max_queue_delay_us = 1000;
    config.clip.max_texts = 6;
    config.clip.max_images = 3;
    config.clip.max_image_bytes = 64;
    auto model = std::make_unique<ServedModel>();
    model->config = config;
    model->clip = std::make_unique<ClipService>(fake_, config);
    std::vector<std::unique_ptr<ServedModel>> models;
    models.push_back(std::move(model));
    server_ = std::make_unique<InferenceServer>(std::move(models), InferenceServerOptions{});
  }

  HttpResponse post(const std::string& path, const json& body) {
    std::promise<HttpResponse> answer;
    HttpRequest request{"POST", path, {}, body.dump()};
    server_->handle(std::move(request), [&answer](HttpResponse r) { answer.set_value(r); });
    return answer.get_future().get();
  }

  std::shared_ptr<FakeClip> fake_ = std::make_shared<FakeClip>();
  std::unique_ptr<InferenceServer> server_;
};

TEST_F(ServeClipEndpoints, EmbeddingsOfTextsAndImagesInInputOrder) {
  // Texts of 1, 2 and 7 bytes; images with first bytes 'A' (65 % 4 = 1) and 'C' (67 % 4 = 3).
  // Six items over max_batch_size 4: the text chunk and the image chunk are separate runs.
  const json input = {
      "a",   {{"image", image_uri('A')}}, "bb", {{"text", "ccccccc"}}, {{"image", image_uri('C')}},
      "dddd"};
  HttpResponse r = post("/v1/embeddings", {{"model", "clip"}, {"input", input}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json doc = json::parse(r.body);
  const int hot[] = {1, 1, 2, 3, 3, 0};
  ASSERT_EQ(doc["data"].size(), 6u);
  for (int i = 0; i < 6; ++i) {
    std::vector<float> expected(4, 0.0f);
    expected[hot[i]] = 1;
    EXPECT_EQ(doc["data"][i]["index"], i);
    EXPECT_EQ(doc["data"][i]["embedding"].get<std::vector<float>>(), expected) << i;
  }
  EXPECT_EQ(doc["object"], "list");
  EXPECT_EQ(doc["model"], "clip");
  // One text run of 4 rows and one image run of 2, each counted once.
  const std::string metrics = server_->metrics().render();
  EXPECT_NE(metrics.find("vitrt_batch_size_sum{model=\"clip\"} 6"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("vitrt_batch_size_count{model=\"clip\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("vitrt_requests_total{model=\"clip\",endpoint=\"embeddings\"} 1"),
            std::string::npos);
}

TEST_F(ServeClipEndpoints, Base64EncodingIsLittleEndianFloat32) {
  HttpResponse r =
      post("/v1/embeddings", {{"model", "clip"}, {"input", "xy"}, {"encoding_format", "base64"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto bytes = base64_decode(json::parse(r.body)["data"][0]["embedding"].get<std::string>());
  ASSERT_TRUE(bytes && bytes->size() == 16);
  float v[4];
  std::memcpy(v, bytes->data(), 16);
  EXPECT_EQ(v[2], 1.0f);
  EXPECT_EQ(v[0] + v[1] + v[3], 0.0f);
}

TEST_F(ServeClipEndpoints, ClassifyPicksTheMatchingLabel) {
  HttpResponse r = post("/v1/classify", {{"model", "clip"},
                                         {"images", {image_uri('B'), image_uri('A')}},
                                         {"labels", {"zero", "a", "bb", "ccc"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json doc = json::parse(r.body);
  EXPECT_EQ(doc["data"][0]["label"], "bb");  // 'B' = 66 -> e_2, "bb" -> e_2
  EXPECT_EQ(doc["data"][1]["label"], "a");
  EXPECT_GT(doc["data"][0]["scores"][2].get<float>(), 0.99f);
}

TEST_F(ServeClipEndpoints, RankOrdersDocumentsBySimilarity) {
  HttpResponse r = post("/v1/rank", {{"model", "clip"},
                                     {"query", "qq"},
                                     {"documents", {"x", {{"image", image_uri('B')}}, "yyy"}},
                                     {"top_n", 2}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json doc = json::parse(r.body);
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_EQ(doc["results"][0]["index"], 1);
  EXPECT_FLOAT_EQ(doc["results"][0]["score"].get<float>(), 1.0f);
}

TEST_F(ServeClipEndpoints, BadInputGetsAClearError) {
  struct Case {
    json body;
    int status;
    std::string message;
  };
  const Case cases[] = {
      {{{"model", "nope"}, {"input", "a"}}, 404, "'model' must name a served CLIP model"},
      {{{"model", "clip"}, {"input", json::array()}}, 400, "must be a string or a non-empty list"},
      {{{"model", "clip"}, {"input", {"1", "2", "3", "4", "5", "6", "7"}}},
       400,
       "'input' has 7 items, the limit is 6"},
      {{{"model", "clip"}, {"input", {{{"image", "http://x/y.png"}}}}},
       400,
       "input 0: 'image' must be a base64 data URI"},
      {{{"model", "clip"}, {"input", {{{"image", "data:image/png;base64,@@@@"}}}}},
       400,
       "base64 data is malformed"},
      {{{"model", "clip"}, {"input", {{{"image", image_uri('X')}}}}}, 400, "not an image"},
      {{{"model", "clip"},
        {"input", {{{"image", "data:image/png;base64," + base64_encode(std::string(100, 'A'))}}}}},
       413,
       "image of 100 bytes exceeds the limit of 64"},
      {{{"model", "clip"}, {"input", std::string(5000, 'a')}}, 413, "exceeds the limit of 4096"},
      {{{"model", "clip"}, {"input", "a"}, {"encoding_format", "hex"}}, 400, "'encoding_format'"},
      {{{"model", "clip"}, {"input", "a"}, {"encoding_format", 3}}, 400, "malformed request"},
      {{{"model", "clip"}, {"images", {image_uri('A')}}}, 400, "non-empty 'images' and 'labels'"},
  };
  for (const auto& c : cases) {
    const std::string path = c.body.contains("images") ? "/v1/classify" : "/v1/embeddings";
    HttpResponse r = post(path, c.body);
    EXPECT_EQ(r.status, c.status) << c.body.dump() << " -> " << r.body;
    EXPECT_NE(r.body.find(c.message), std::string::npos) << r.body;
  }
}

TEST(ServeBase64, RoundTripsEveryLength) {
  std::string bytes;
  for (int n = 0; n < 10; ++n) {
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes) << n;
    bytes += static_cast<char>(n * 37 + 200);
  }
  EXPECT_EQ(base64_encode("Man"), "TWFu");
  EXPECT_EQ(base64_encode("Ma"), "TWE=");
  EXPECT_FALSE(base64_decode("TWE").has_value());
  EXPECT_FALSE(base64_decode("TW!=").has_value());
}

}  // namespace
}  // namespace vitrt::serve
