// Routing, model loading and the KServe v2 endpoints (inference_server.h).
#include "serve/inference_server.h"

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility> (C++20).
#include <utility>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>

#include "runtime/version.h"
#include "serve/devices.h"
#include "serve/kserve.h"

namespace vitrt::serve {
namespace {

using Clock = std::chrono::steady_clock;

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

HttpResponse json_response(const nlohmann::json& doc) {
  HttpResponse r;
  r.body = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse retry_later(int status, const std::string& message, int64_t retry_after_s) {
  HttpResponse r = error_response(status, message);
  r.headers.push_back({"Retry-After", std::to_string(retry_after_s)});
  return r;
}

// A model set up without device labels (tests' fakes) names its contexts by number.
std::string context_label(const ServedModel& model, int instance) {
  const auto i = static_cast<size_t>(instance);
  return i < model.context_devices.size() ? model.context_devices[i]
                                          : "context " + std::to_string(instance);
}

int visible_devices(const InferenceServerOptions& options) {
  return options.device_count ? options.device_count() : Engine::cuda_device_count();
}

// The GPUs a model's contexts go to: its config's "gpus", else --devices, else GPU 0; checked
// against the host so that a missing GPU is named at load time.
Result<std::vector<int>> model_gpus(const ModelConfig& config,
                                    const InferenceServerOptions& options) {
  std::vector<int> gpus = !config.gpus.empty()       ? config.gpus
                          : !options.devices.empty() ? options.devices
                                                     : std::vector<int>{0};
  const std::string where = !config.gpus.empty() ? "model '" + config.name + "' instance_group"
                            : !options.devices.empty() ? "--devices"
                                                       : "model '" + config.name + "'";
  VITRT_RETURN_IF_ERROR(check_devices(gpus, visible_devices(options), where));
  return gpus;
}

Result<std::shared_ptr<Engine>> load_engine(const ModelConfig& config,
                                            const InferenceServerOptions& options, int device) {
  if (ends_with(config.plan_path, ".onnx")) return Engine::from_onnx(config.plan_path);
  return options.plan_loader ? options.plan_loader(config.plan_path, device)
                             : Engine::load_plan(config.plan_path, device);
}

Result<std::unique_ptr<ServedModel>> load_plan_model(const ModelConfig& config,
                                                     const InferenceServerOptions& options) {
  auto model = std::make_unique<ServedModel>();
  model->config = config;
  const int first_device = config.gpus.empty()
                               ? (options.devices.empty() ? 0 : options.devices.front())
                               : config.gpus.front();
  Result<std::shared_ptr<Engine>> loaded = load_engine(config, options, first_device);
  if (!loaded.ok()) return loaded.status().with_context("model '" + config.name + "'");
  // One engine per GPU (the weights live on each); a CPU plan has one engine for all contexts.
  std::vector<std::shared_ptr<Engine>> engines = {*loaded};
  std::vector<int> context_engine;
  if ((*loaded)->device() == "cuda") {
    VITRT_ASSIGN_OR_RETURN(model->gpus, model_gpus(config, options));
    for (size_t i = 1; i < model->gpus.size(); ++i) {
      Result<std::shared_ptr<Engine>> more = load_engine(config, options, model->gpus[i]);
      if (!more.ok()) {
        return more.status().with_context("model '" + config.name + "' on GPU " +
                                          std::to_string(model->gpus[i]));
      }
      engines.push_back(*more);
    }
    for (int device : context_devices(model->gpus, config.instance_count)) {
      const auto at = std::find(model->gpus.begin(), model->gpus.end(), device);
      context_engine.push_back(static_cast<int>(at - model->gpus.begin()));
      model->context_devices.push_back(device_label("cuda", device));
    }
  } else {
    if (!config.gpus.empty()) {
      return invalid_argument("model '", config.name,
                              "': config.json lists 'gpus' but its plan runs on the ",
                              (*loaded)->device());
    }
    for (int i = 0; i < config.instance_count; ++i) {
      context_engine.push_back(0);
      model->context_devices.push_back((*loaded)->device());
    }
  }
  std::shared_ptr<Engine> engine = *loaded;
  model->inputs = engine->inputs();
  if (!config.input_names.empty()) {
    std::set<std::string> declared(config.input_names.begin(), config.input_names.end());
    std::set<std::string> actual;
    for (const auto& in : model->inputs) actual.insert(in.name);
    if (declared != actual) {
      return invalid_argument("model '", config.name,
                              "': config.json 'inputs' does not list the plan's inputs");
    }
  }
  for (const auto& out : engine->outputs()) {
    if (config.output_names.empty() ||
        std::find(config.output_names.begin(), config.output_names.end(), out.name) !=
            config.output_names.end()) {
      model->outputs.push_back(out);
    }
  }
  if (!config.output_names.empty() && model->outputs.size() != config.output_names.size()) {
    return invalid_argument("model '", config.name,
                            "': config.json 'outputs' names an output the plan does not have");
  }
  // One execution context per instance, on its GPU's engine; the batcher gives each worker
  // thread its own, and whichever worker is free takes the next batch.
  auto contexts = std::make_shared<std::vector<std::unique_ptr<ExecutionContext>>>();
  for (int e : context_engine)
    contexts->push_back(engines[static_cast<size_t>(e)]->create_context());
  std::set<std::string> kept;
  for (const auto& out : model->outputs) kept.insert(out.name);
  BatcherOptions batching{config.max_batch_size, config.preferred_batch_sizes,
                          config.max_queue_delay_us, static_cast<int>(contexts->size()),
                          config.max_queue_size};
  model->batcher = std::make_unique<DynamicBatcher>(
      batching,
      [engines, contexts, kept](int instance, const std::vector<NamedTensor>& inputs)
          -> Result<std::vector<NamedTensor>> {
        VITRT_ASSIGN_OR_RETURN(std::vector<NamedTensor> outputs,
                               (*contexts)[instance]->run(inputs));
        std::vector<NamedTensor> selected;
        for (auto& out : outputs) {
          if (kept.count(out.name)) selected.push_back(std::move(out));
        }
        return selected;
      });
  return model;
}

// A CLIP model: on the CPU one ClipModel for every context; on CUDA one per GPU, the contexts
// spread over them as for plans.
Result<std::unique_ptr<ServedModel>> load_clip_model(const ModelConfig& config,
                                                     const InferenceServerOptions& options) {
  ClipOptions clip_options;
  clip_options.vocab_path = config.clip.vocab_path;
  clip_options.max_batch = static_cast<int>(std::max<int64_t>(1, config.max_batch_size));
  clip_options.device = config.gpus.empty()
                            ? (options.devices.empty() ? 0 : options.devices.front())
                            : config.gpus.front();
  auto first = options.clip_loader(config.clip.model_dir, clip_options);
  if (!first.ok()) return first.status().with_context("model '" + config.name + "'");
  auto model = std::make_unique<ServedModel>();
  model->config = config;
  std::vector<std::shared_ptr<const ClipModel>> models = {*first};
  std::vector<int> context_model;
  if ((*first)->device() == "cuda") {
    VITRT_ASSIGN_OR_RETURN(model->gpus, model_gpus(config, options));
    for (size_t i = 1; i < model->gpus.size(); ++i) {
      clip_options.device = model->gpus[i];
      auto more = options.clip_loader(config.clip.model_dir, clip_options);
      if (!more.ok()) {
        return more.status().with_context("model '" + config.name + "' on GPU " +
                                          std::to_string(model->gpus[i]));
      }
      models.push_back(*more);
    }
    for (int device : context_devices(model->gpus, config.instance_count)) {
      const auto at = std::find(model->gpus.begin(), model->gpus.end(), device);
      context_model.push_back(static_cast<int>(at - model->gpus.begin()));
      model->context_devices.push_back(device_label("cuda", device));
    }
  } else {
    if (!config.gpus.empty()) {
      return invalid_argument("model '", config.name,
                              "': config.json lists 'gpus' but its plans run on the ",
                              (*first)->device());
    }
    context_model.assign(static_cast<size_t>(config.instance_count), 0);
    model->context_devices.assign(static_cast<size_t>(config.instance_count), (*first)->device());
  }
  model->clip = std::make_unique<ClipService>(std::move(models), std::move(context_model),
                                              model->context_devices, config);
  return model;
}

// The model's configuration as Triton reports it (GET /v2/models/{name}/config), which
// tritonclient's get_model_config and perf tools read: dims without the batch dim when the
// model batches, -1 for variable ones.
nlohmann::json triton_model_config(const ServedModel& model) {
  const ModelConfig& c = model.config;
  auto tensors = [&c](const std::vector<TensorInfo>& infos) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& info : infos) {
      nlohmann::json dims = nlohmann::json::array();
      for (size_t i = c.max_batch_size > 0 ? 1 : 0; i < info.dims.size(); ++i) {
        const std::string& d = info.dims[i];
        const bool numeric = !d.empty() && d.find_first_not_of("0123456789") == std::string::npos;
        dims.push_back(numeric ? std::stoll(d) : -1);
      }
      const char* type = kserve_datatype(info.dtype);
      list.push_back({{"name", info.name},
                      {"data_type", std::string("TYPE_") + (type ? type : "STRING")},
                      {"dims", dims}});
    }
    return list;
  };
  return {{"name", c.name},
          {"platform", model.clip ? "vitrt_clip" : "vitrt_plan"},
          {"max_batch_size", c.max_batch_size},
          {"input", tensors(model.inputs)},
          {"output", tensors(model.outputs)},
          {"dynamic_batching",
           {{"preferred_batch_size", c.preferred_batch_sizes},
            {"max_queue_delay_microseconds", c.max_queue_delay_us},
            {"default_queue_policy", {{"max_queue_size", c.max_queue_size}}}}},
          {"instance_group",
           {model.gpus.empty()
                ? nlohmann::json{{"count", c.instance_count}, {"kind", "KIND_CPU"}}
                : nlohmann::json{
                      {"count", c.instance_count}, {"kind", "KIND_GPU"}, {"gpus", model.gpus}}}}};
}

}  // namespace

int http_status_for(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    default:
      return 500;
  }
}

struct InferenceServer::Impl {
  explicit Impl(int threads) : pool(static_cast<size_t>(std::max(1, threads))) {}
  boost::asio::thread_pool pool;
};

Result<std::unique_ptr<InferenceServer>> InferenceServer::load(
    const std::string& repository, const InferenceServerOptions& options) {
  VITRT_ASSIGN_OR_RETURN(std::vector<ModelConfig> configs, scan_model_repository(repository));
  if (configs.empty()) {
    return not_found("model repository '", repository, "' has no folder with a config.json");
  }
  std::vector<std::unique_ptr<ServedModel>> models;
  for (const auto& config : configs) {
    if (config.backend == "clip") {
      if (!options.clip_loader) {
        return unsupported("model '", config.name, "': this build cannot load CLIP models");
      }
      VITRT_ASSIGN_OR_RETURN(std::unique_ptr<ServedModel> model, load_clip_model(config, options));
      models.push_back(std::move(model));
      continue;
    }
    VITRT_ASSIGN_OR_RETURN(std::unique_ptr<ServedModel> model, load_plan_model(config, options));
    models.push_back(std::move(model));
  }
  return std::make_unique<InferenceServer>(std::move(models), options);
}

InferenceServer::InferenceServer(std::vector<std::unique_ptr<ServedModel>> models,
                                 const InferenceServerOptions& options)
    : models_(std::move(models)),
      options_(options),
      impl_(std::make_unique<Impl>(options.worker_threads)) {
  for (auto& m : models_) {
    if (m->clip) m->clip->set_metrics(&metrics_);
  }
}

InferenceServer::~InferenceServer() {
  stop();
}

void InferenceServer::stop() {
  for (auto& m : models_) {
    if (m->batcher) m->batcher->stop();
    if (m->clip) m->clip->stop();
  }
  impl_->pool.join();
}

ServedModel* InferenceServer::find(const std::string& name) {
  for (auto& m : models_) {
    if (m->config.name == name) return m.get();
  }
  return nullptr;
}

void InferenceServer::handle(HttpRequest&& request, Responder respond) {
  const std::string& path = request.target;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (path == "/v2/health/live" || path == "/v2/health/ready") {
    respond(HttpResponse{200, "text/plain", "", {}});
    return;
  }
  if (path == "/metrics") {
    respond(HttpResponse{200, "text/plain; version=0.0.4", metrics_.render(), {}});
    return;
  }
  if (path == "/v2") {
    respond(json_response(
        {{"name", "vitrt"}, {"version", kVitrtVersion}, {"extensions", {"binary_tensor_data"}}}));
    return;
  }
  for (const char* endpoint : {"embeddings", "classify", "rank"}) {
    if (path == std::string("/v1/") + endpoint) {
      if (request.method != "POST") {
        respond(error_response(405, path + " takes POST"));
        return;
      }
      openai(endpoint, std::move(request), std::move(respond));
      return;
    }
  }
  const std::string prefix = "/v2/models/";
  if (path.rfind(prefix, 0) != 0) {
    respond(error_response(404, "no endpoint " + request.method + " " + path));
    return;
  }
  // /v2/models/{name}[/versions/{v}][/ready|/infer]
  std::string rest = path.substr(prefix.size());
  std::string action;
  for (const char* suffix : {"/ready", "/infer", "/config"}) {
    if (ends_with(rest, suffix)) {
      action = suffix + 1;
      rest.resize(rest.size() - std::string(suffix).size());
    }
  }
  const size_t versions = rest.find("/versions/");
  if (versions != std::string::npos) rest.resize(versions);
  ServedModel* model = find(rest);
  if (!model) {
    // Counted under one label: a label per unknown name would let clients grow /metrics.
    metrics_.record_request("(unknown)", action.empty() ? "metadata" : action, false);
    respond(error_response(404, "unknown model '" + rest + "'"));
    return;
  }
  if (action == "infer") {
    if (model->clip) {
      respond(error_response(400, "model '" + model->config.name +
                                      "' is a CLIP model: use /v1/embeddings, /v1/classify or "
                                      "/v1/rank"));
      return;
    }
    if (request.method != "POST") {
      respond(error_response(405, "infer takes POST"));
      return;
    }
    infer(*model, std::move(request), std::move(respond));
    return;
  }
  if (!get) {
    respond(error_response(405, path + " takes GET"));
    return;
  }
  if (action == "ready") {
    respond(HttpResponse{200, "text/plain", "", {}});
    return;
  }
  if (action == "config") {
    respond(json_response(triton_model_config(*model)));
    return;
  }
  if (model->clip) {
    respond(json_response({{"name", model->config.name},
                           {"versions", {"1"}},
                           {"platform", "vitrt_clip"},
                           {"inputs", nlohmann::json::array()},
                           {"outputs", nlohmann::json::array()}}));
    return;
  }
  HttpResponse r;
  r.body = model_metadata_json(model->config.name, model->inputs, model->outputs,
                               model->config.max_batch_size);
  respond(std::move(r));
}

void InferenceServer::infer(ServedModel& model, HttpRequest&& request, Responder respond) {
  const Clock::time_point start = Clock::now();
  const std::string name = model.config.name;
  // Every answer goes through here so that metrics count each request once.
  auto finish = [this, name, start, respond = std::move(respond)](HttpResponse r) {
    metrics_.record_request(name, "infer", r.status == 200);
    metrics_.record_latency(name, Stage::kTotal, micros_since(start));
    respond(std::move(r));
  };
  auto shared_request = std::make_shared<HttpRequest>(std::move(request));
  boost::asio::post(impl_->pool, [this, &model, shared_request, start, finish]() {
    std::optional<size_t> header_length;
    auto it = shared_request->headers.find("inference-header-content-length");
    if (it != shared_request->headers.end()) {
      try {
        header_length = std::stoull(it->second);
      } catch (const std::exception&) {
        finish(error_response(
            400, "Inference-Header-Content-Length '" + it->second + "' is not a number"));
        return;
      }
    }
    Result<InferRequest> parsed = parse_infer_request(shared_request->body, header_length,
                                                      model.inputs, model.config.max_batch_size);
    shared_request->body.clear();
    if (!parsed.ok()) {
      finish(error_response(http_status_for(parsed.status()), parsed.status().message()));
      return;
    }
    const Status rows = model.batcher->check_rows(parsed->inputs);
    if (!rows.ok()) {
      finish(error_response(400, rows.message()));
      return;
    }
    metrics_.record_latency(model.config.name, Stage::kPreprocess, micros_since(start));
    auto infer_request = std::make_shared<InferRequest>(std::move(*parsed));
    std::vector<NamedTensor> inputs = std::move(infer_request->inputs);
    const SubmitResult submitted = model.batcher->submit(
        std::move(inputs), [this, &model, infer_request, finish](
                               Result<std::vector<NamedTensor>> outputs, const BatchTiming& t) {
          metrics_.record_latency(model.config.name, Stage::kQueue, t.queue_us);
          metrics_.record_latency(model.config.name, Stage::kInfer, t.infer_us);
          if (t.first_in_batch) {
            metrics_.record_batch(model.config.name, t.batch_rows);
            metrics_.record_device_batch(model.config.name, context_label(model, t.instance),
                                         t.batch_rows, t.infer_us);
          }
          // Encoding goes back to the worker pool: the context's thread takes the next batch.
          boost::asio::post(impl_->pool, [&model, infer_request, finish,
                                          outputs = std::move(outputs)]() {
            if (!outputs.ok()) {
              finish(error_response(http_status_for(outputs.status()), outputs.status().message()));
              return;
            }
            Result<InferResponseBody> body =
                encode_infer_response(model.config.name, *infer_request, *outputs);
            if (!body.ok()) {
              finish(error_response(http_status_for(body.status()), body.status().message()));
              return;
            }
            HttpResponse r;
            r.body = std::move(body->body);
            if (body->header_length) {
              r.content_type = "application/octet-stream";
              r.headers.push_back(
                  {"Inference-Header-Content-Length", std::to_string(*body->header_length)});
            }
            finish(std::move(r));
          });
        });
    if (submitted == SubmitResult::kQueueFull) {
      finish(retry_later(429,
                         "model '" + model.config.name + "' queue is full (" +
                             std::to_string(model.config.max_queue_size) + " requests)",
                         options_.retry_after_s));
    } else if (submitted == SubmitResult::kStopped) {
      finish(retry_later(503, "server is shutting down", options_.retry_after_s));
    }
  });
}

void InferenceServer::openai(const std::string& endpoint, HttpRequest&& request,
                             Responder respond) {
  const Clock::time_point start = Clock::now();
  auto shared_request = std::make_shared<HttpRequest>(std::move(request));
  boost::asio::post(impl_->pool, [this, endpoint, shared_request, start, respond]() {
    const nlohmann::json body = nlohmann::json::parse(shared_request->body, nullptr, false);
    shared_request->body.clear();
    std::string name;
    if (!body.is_discarded() && body.is_object() && body.contains("model") &&
        body["model"].is_string()) {
      name = body["model"].get<std::string>();
    }
    ServedModel* model = find(name);
    const std::string label = model ? name : "(unknown)";
    auto finish = [this, label, endpoint, start, respond](HttpResponse r) {
      metrics_.record_request(label, endpoint, r.status == 200);
      if (r.status != 200) {
        // OpenAI's error shape, which its clients read the message from.
        const auto error = nlohmann::json::parse(r.body, nullptr, false);
        if (error.is_object() && error.contains("error") && error["error"].is_string()) {
          r.body =
              nlohmann::json({{"error",
                               {{"message", error["error"]},
                                {"type", r.status < 500 ? "invalid_request_error" : "server_error"},
                                {"code", r.status}}}})
                  .dump();
        }
      }
      metrics_.record_latency(label, Stage::kTotal, micros_since(start));
      respond(std::move(r));
    };
    if (body.is_discarded() || !body.is_object()) {
      return finish(error_response(400, "request body is not a JSON object"));
    }
    if (!model || !model->clip) {
      return finish(
          error_response(404, "'model' must name a served CLIP model, got '" + name + "'"));
    }
    // nlohmann::json throws on a value of the wrong type; that is the client's malformed body.
    try {
      if (endpoint == "embeddings") model->clip->embeddings(body, finish);
      if (endpoint == "classify") model->clip->classify(body, finish);
      if (endpoint == "rank") model->clip->rank(body, finish);
    } catch (const nlohmann::json::exception& e) {
      finish(error_response(400, std::string("malformed request: ") + e.what()));
    }
  });
}

}  // namespace vitrt::serve
