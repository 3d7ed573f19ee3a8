// Serves FakeClip (fake_clip.h) as model "clip" on a free port, printing
// "listening on 127.0.0.1:PORT": serve_e2e_test.py points the openai client at it, so the
// /v1/embeddings protocol is tested with the real client before a real CLIP model is at hand.
#include <cstdio>

#include "serve/fake_clip.h"
#include "serve/http_server.h"
#include "serve/inference_server.h"

int main() {
  using namespace vitrt::serve;
  ModelConfig config;
  config.name = "clip";
  config.backend = "clip";
  config.max_batch_size = 8;
  config.max_queue_delay_us = 1000;
  auto model = std::make_unique<ServedModel>();
  model->config = config;
  model->clip = std::make_unique<ClipService>(std::make_shared<testing::FakeClip>(), config);
  std::vector<std::unique_ptr<ServedModel>> models;
  models.push_back(std::move(model));
  InferenceServer server(std::move(models), InferenceServerOptions{});
  HttpServerOptions http;
  http.host = "127.0.0.1";
  http.port = 0;
  auto listener = HttpServer::listen(http, [&server](HttpRequest&& request, Responder respond) {
    server.handle(std::move(request), std::move(respond));
  });
  if (!listener.ok()) {
    std::fprintf(stderr, "fake_clip_server: %s\n", listener.status().to_string().c_str());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%d\n", (*listener)->port());
  std::fflush(stdout);
  (*listener)->run();
  server.stop();
  return 0;
}
