// InferenceServer: the models of a repository behind the HTTP endpoints.
//
// KServe v2 (as Triton speaks it): /v2/health/live, /v2/health/ready, /v2, /v2/models/{name},
// /v2/models/{name}/ready, POST /v2/models/{name}/infer (JSON tensors and the binary tensor
// data extension). /v1/embeddings, /v1/classify, /v1/rank for CLIP models (clip_endpoints.h).
// /metrics in Prometheus text format. Request bodies are parsed on a worker
// pool, so parsing overlaps the batches the models' contexts are running.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "serve/batcher.h"
#include "serve/clip_endpoints.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/model_config.h"
#include "vitrt/engine.h"

namespace vitrt::serve {

struct ServedModel {
  ModelConfig config;
  std::vector<TensorInfo> inputs;  // the model's inputs, as clients must send them
  std::vector<TensorInfo> outputs;
  std::unique_ptr<DynamicBatcher> batcher;  // backend "plan"
  std::unique_ptr<ClipService> clip;        // backend "clip"
  // Where each execution context runs ("cuda:1", "cpu"), in batcher instance order.
  std::vector<std::string> context_devices;
  std::vector<int> gpus;  // the GPUs holding an engine of the model; empty on the CPU
};

using ClipLoader =
    std::function<Result<std::shared_ptr<ClipModel>>(const std::string&, const ClipOptions&)>;
// Loads a plan on one CUDA device (CPU plans ignore it).
using PlanLoader =
    std::function<Result<std::shared_ptr<Engine>>(const std::string& path, int device)>;

struct InferenceServerOptions {
  int worker_threads = 2;     // request parsing and response encoding
  int64_t retry_after_s = 1;  // the Retry-After of 429 and 503 answers
  // Loads "clip" backend models (ClipModel::load); without it such models are refused.
  ClipLoader clip_loader;
  // The GPUs (--devices) of models whose config.json names none; empty: GPU 0.
  std::vector<int> devices;
  // Engine::load_plan(path, device) by default; tests load CPU engines posing as GPUs.
  PlanLoader plan_loader;
  // Engine::cuda_device_count by default.
  std::function<int()> device_count;
};

class InferenceServer {
 public:
  // Loads every model of the repository (plans through Engine::load_plan, .onnx files through
  // Engine::from_onnx) and starts their batchers.
  static Result<std::unique_ptr<InferenceServer>> load(const std::string& repository,
                                                       const InferenceServerOptions& options);
  // Serves models already set up (tests use fake run functions).
  InferenceServer(std::vector<std::unique_ptr<ServedModel>> models,
                  const InferenceServerOptions& options);
  ~InferenceServer();

  // The HTTP entry point (HttpServer's handler).
  void handle(HttpRequest&& request, Responder respond);
  // Stops the batchers after finishing what they hold (after the HTTP server drained).
  void stop();
  const std::vector<std::unique_ptr<ServedModel>>& models() const { return models_; }
  Metrics& metrics() { return metrics_; }

 private:
  struct Impl;
  void infer(ServedModel& model, HttpRequest&& request, Responder respond);
  // /v1/embeddings, /v1/classify, /v1/rank.
  void openai(const std::string& endpoint, HttpRequest&& request, Responder respond);
  ServedModel* find(const std::string& name);

  std::vector<std::unique_ptr<ServedModel>> models_;
  InferenceServerOptions options_;
  Metrics metrics_;
  std::unique_ptr<Impl> impl_;
};

// HTTP status for a Status: invalid argument/unsupported 400, not found 404, others 500.
int http_status_for(const Status& status);

}  // namespace vitrt::serve
