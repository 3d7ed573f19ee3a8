// `vitrt perf --images` pieces: reading photos, the /v1/embeddings requests, the answer check,
// a load step over loopback against the server with a fake CLIP model, and the decode rate.
#include "serve/image_load.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "serve/base64.h"
#include "serve/fake_clip.h"
#include "serve/http_server.h"
#include "serve/inference_server.h"
#include "vision/image_preprocess.h"

namespace vitrt::serve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kImages = fs::path(VITRT_SOURCE_DIR) / "tests/data/vision";

std::vector<std::string> three_photos() {
  return {(kImages / "cat_q90_420.jpg").string(), (kImages / "cup_rgba.png").string(),
          (kImages / "launch_lossy.webp").string()};
}

std::string embeddings_body(const std::vector<std::vector<float>>& rows) {
  json data = json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    data.push_back(
        {{"index", i},
         {"embedding", base64_encode(std::string_view(reinterpret_cast<const char*>(rows[i].data()),
                                                      rows[i].size() * 4))}});
  }
  return json{{"object", "list"}, {"data", data}}.dump();
}

TEST(ServeImageLoad, ReadsFilesAndFoldersAsDataUris) {
  auto files = read_image_files(three_photos());
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  ASSERT_EQ(files->size(), 3u);
  EXPECT_EQ((*files)[0].data_uri.rfind("data:image/jpeg;base64,", 0), 0u);
  EXPECT_EQ((*files)[1].data_uri.rfind("data:image/png;base64,", 0), 0u);
  EXPECT_EQ((*files)[2].data_uri.rfind("data:image/webp;base64,", 0), 0u);
  const std::string& uri = (*files)[0].data_uri;
  EXPECT_EQ(base64_decode(std::string_view(uri).substr(uri.find(',') + 1)), (*files)[0].bytes);

  // A folder: its images sorted by name, other files (.npy, .json) left out.
  const fs::path dir = fs::path(::testing::TempDir()) / "image_load_folder";
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(kImages / "cup_rgba.png", dir / "b.png");
  fs::copy_file(kImages / "cat_q90_420.jpg", dir / "a.JPG");
  std::ofstream(dir / "notes.txt") << "not an image";
  auto folder = read_image_files({dir.string()});
  ASSERT_TRUE(folder.ok()) << folder.status().to_string();
  ASSERT_EQ(folder->size(), 2u);
  EXPECT_EQ(fs::path((*folder)[0].path).filename(), "a.JPG");
  EXPECT_EQ((*folder)[0].data_uri.rfind("data:image/jpeg;base64,", 0), 0u);

  auto missing = read_image_files({(dir / "none.jpg").string()});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none.jpg"), std::string::npos);
  auto not_image = read_image_files({(dir / "notes.txt").string()});
  ASSERT_FALSE(not_image.ok());
  EXPECT_NE(not_image.status().message().find("not an image file (expected .jpg .jpeg .png"),
            std::string::npos);
  fs::remove(dir / "a.JPG");
  fs::remove(dir / "b.png");
  auto empty = read_image_files({dir.string()});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("has no image file (.jpg"), std::string::npos);
}

TEST(ServeImageLoad, RequestsSendEveryFileEquallyOften) {
  auto files = read_image_files(three_photos());
  ASSERT_TRUE(files.ok());
  const std::vector<LoadRequest> requests = make_embedding_requests("clip", *files, 2);
  ASSERT_EQ(requests.size(), 3u);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i].path, "/v1/embeddings");
    const json body = json::parse(requests[i].body);
    EXPECT_EQ(body["model"], "clip");
    EXPECT_EQ(body["encoding_format"], "base64");
    ASSERT_EQ(body["input"].size(), 2u);
    EXPECT_EQ(body["input"][0]["image"], (*files)[i].data_uri);
    EXPECT_EQ(body["input"][1]["image"], (*files)[(i + 1) % 3].data_uri);
  }
}

TEST(ServeImageLoad, AnswerCheckCatchesWrongContent) {
  const std::vector<float> unit = {0.6f, 0.8f, 0.0f};
  auto ok = check_embeddings_reply(embeddings_body({unit, unit}), 2, 0);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(*ok, 3);
  EXPECT_TRUE(check_embeddings_reply(embeddings_body({unit, unit}), 2, 3).ok());

  auto expect_error = [](const Result<int64_t>& r, const std::string& part) {
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
  };
  expect_error(check_embeddings_reply(embeddings_body({unit}), 2, 0), "1 embeddings for 2");
  expect_error(check_embeddings_reply(embeddings_body({unit, unit}), 2, 4), "expected 4");
  expect_error(check_embeddings_reply(embeddings_body({unit, {1.0f, 0.0f}}), 2, 0),
               "embedding 1 has 2 values, expected 3");
  expect_error(check_embeddings_reply(embeddings_body({{0.5f, 0.5f, 0.0f}}), 1, 0), "length");
  expect_error(check_embeddings_reply(embeddings_body({{NAN, 1.0f, 0.0f}}), 1, 0), "non-finite");
  expect_error(check_embeddings_reply("{\"error\": \"x\"}", 1, 0), "'data' list");
  expect_error(check_embeddings_reply("not json", 1, 0), "'data' list");
  expect_error(check_embeddings_reply(R"({"data": [{"index": 0, "embedding": "@@"}]})", 1, 0),
               "not base64");
  expect_error(check_embeddings_reply(R"({"data": [{"index": 1, "embedding": "AAAA"}]})", 1, 0),
               "expected {\"index\": 0");
}

// The whole `vitrt perf --images` path over loopback: the real HTTP server and /v1/embeddings
// over FakeClip (4-dim unit embeddings), every answer checked.
TEST(ServeImageLoad, LoadStepOverLoopbackChecksEveryAnswer) {
  ModelConfig config;
  config.name = "clip";
  config.backend = "clip";
  config.max_batch_size = 8;
  config.max_queue_delay_us = 500;
  config.clip.max_image_bytes = 1 << 20;
  auto model = std::make_unique<ServedModel>();
  model->config = config;
  model->clip = std::make_unique<ClipService>(std::make_shared<testing::FakeClip>(), config);
  std::vector<std::unique_ptr<ServedModel>> models;
  models.push_back(std::move(model));
  InferenceServer inference(std::move(models), InferenceServerOptions{});
  HttpServerOptions http;
  http.host = "127.0.0.1";
  http.port = 0;
  auto server = HttpServer::listen(http, [&inference](HttpRequest&& r, Responder respond) {
    inference.handle(std::move(r), std::move(respond));
  });
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  std::thread io([&server] { (*server)->run(); });
  const HttpTarget target{"127.0.0.1", (*server)->port()};

  auto files = read_image_files(three_photos());
  ASSERT_TRUE(files.ok());
  const std::vector<LoadRequest> requests = make_embedding_requests("clip", *files, 2);
  auto first = http_post(target, requests[0]);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_EQ(first->status, 200) << first->body;
  auto dim = check_embeddings_reply(first->body, 2, 0);
  ASSERT_TRUE(dim.ok()) << dim.status().to_string();
  EXPECT_EQ(*dim, 4);

  auto checked = [](int64_t expected_dim) -> ReplyCheck {
    return [expected_dim](const std::string& body) {
      auto r = check_embeddings_reply(body, 2, expected_dim);
      return r.ok() ? std::string() : r.status().message();
    };
  };
  auto good = run_load_step(target, requests, 4, 0, 0.2, checked(4));
  ASSERT_TRUE(good.ok()) << good.status().to_string();
  EXPECT_GT(good->completed, 0);
  EXPECT_EQ(good->failed, 0) << good->first_error;

  // Answers of the wrong size are counted as failures, not as throughput.
  auto wrong = run_load_step(target, requests, 2, 0, 0.1, checked(5));
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->completed, 0);
  EXPECT_GT(wrong->failed, 0);
  EXPECT_NE(wrong->first_error.find("200 with wrong content: embedding 0 has 4 values"),
            std::string::npos)
      << wrong->first_error;

  // An unknown model: failures with the server's answer, nothing completed.
  auto unknown =
      run_load_step(target, make_embedding_requests("nope", *files, 1), 1, 0, 0.05, checked(4));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->completed, 0);
  EXPECT_EQ(unknown->first_error.rfind("404", 0), 0u) << unknown->first_error;

  EXPECT_FALSE(run_load_step(target, {}, 1, 0, 0.05).ok());
  (*server)->stop();
  io.join();
  inference.stop();
}

TEST(ServeImageLoad, DecodeMatchesTheFilePathAndRateCountsImages) {
  auto files = read_image_files(three_photos());
  ASSERT_TRUE(files.ok());
  const vision::PreprocessorConfig config;  // CLIP's: 224 shortest edge, 224 crop
  // Independent reference: the file path `vitrt clip preprocess` takes.
  auto reference = vision::preprocess_image_files(three_photos(), config);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  const size_t per_image = 3 * 224 * 224;
  for (size_t i = 0; i < files->size(); ++i) {
    std::vector<float> pixels;
    ASSERT_TRUE(decode_and_preprocess((*files)[i].data_uri, config, pixels).ok());
    ASSERT_EQ(pixels.size(), per_image);
    EXPECT_EQ(std::memcmp(pixels.data(), reference->data<float>() + i * per_image,
                          per_image * sizeof(float)),
              0)
        << (*files)[i].path;
  }
  auto rate = measure_decode_rate(*files, config, 2, 0.05);
  ASSERT_TRUE(rate.ok()) << rate.status().to_string();
  EXPECT_EQ(rate->threads, 2);
  EXPECT_GT(rate->images, 0);

  auto bad = read_image_files({(kImages / "bad_truncated.jpg").string()});
  ASSERT_TRUE(bad.ok());
  auto failed = measure_decode_rate(*bad, config, 2, 0.05);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("bad_truncated.jpg"), std::string::npos)
      << failed.status().message();
}

}  // namespace
}  // namespace vitrt::serve
