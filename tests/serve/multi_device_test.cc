// Serving on several GPUs without GPUs: device lists, instance_group, a model's contexts spread
// over devices (CPU engines posing as GPUs, so the server takes its CUDA path), per-device
// metrics, several contexts on one device answering as several devices do, and the batcher
// feeding whichever context is free.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>

#include "serve/base64.h"
#include "serve/batcher.h"
#include "serve/clip_endpoints.h"
#include "serve/devices.h"
#include "serve/fake_clip.h"
#include "serve/inference_server.h"
#include "serve/model_config.h"

namespace vitrt::serve {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTinyMatmul = std::string(VITRT_SOURCE_DIR) + "/tests/data/cli/tiny_matmul.onnx";

// A CPU engine that says it runs on CUDA.
class GpuPosingEngine final : public Engine {
 public:
  explicit GpuPosingEngine(std::shared_ptr<Engine> inner) : inner_(std::move(inner)) {}
  const std::vector<TensorInfo>& inputs() const override { return inner_->inputs(); }
  const std::vector<TensorInfo>& outputs() const override { return inner_->outputs(); }
  std::unique_ptr<ExecutionContext> create_context() const override {
    return inner_->create_context();
  }
  std::string device() const override { return "cuda"; }

 private:
  std::shared_ptr<Engine> inner_;
};

// Loads tiny_matmul.onnx (x [batch, 5] -> y [batch, 3]) whatever the plan path, as a GPU engine
// on the requested device (or as the CPU engine it is), recording the devices asked for.
struct FakeLoader {
  std::mutex mutex;
  std::vector<int> devices;
  bool pose_as_gpu = true;

  PlanLoader fn() {
    return [this](const std::string&, int device) -> Result<std::shared_ptr<Engine>> {
      {
        std::lock_guard<std::mutex> lock(mutex);
        devices.push_back(device);
      }
      VITRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> cpu, Engine::from_onnx(kTinyMatmul));
      if (!pose_as_gpu) return cpu;
      return std::shared_ptr<Engine>(std::make_shared<GpuPosingEngine>(cpu));
    };
  }
};

// A repository with one plan model "m" whose config.json is `config`.
std::string repository(const std::string& name, const json& config) {
  const fs::path repo = fs::path(::testing::TempDir()) / ("multi_device_" + name);
  fs::remove_all(repo);
  fs::create_directories(repo / "m");
  std::ofstream(repo / "m" / "config.json") << config.dump();
  return repo.string();
}

HttpResponse call(InferenceServer& server, const std::string& method, const std::string& path,
                  const std::string& body = "") {
  std::promise<HttpResponse> answer;
  server.handle(HttpRequest{method, path, {}, body},
                [&answer](HttpResponse r) { answer.set_value(std::move(r)); });
  return answer.get_future().get();
}

// Sends `n` one-row requests at once; returns each answer's y row.
std::vector<std::vector<float>> infer_concurrently(InferenceServer& server, int n) {
  std::vector<std::future<HttpResponse>> answers;
  for (int i = 0; i < n; ++i) {
    answers.push_back(std::async(std::launch::async, [&server, i] {
      std::vector<float> x(5);
      for (int k = 0; k < 5; ++k) x[static_cast<size_t>(k)] = static_cast<float>(i + k);
      const json body = {
          {"inputs", {{{"name", "x"}, {"shape", {1, 5}}, {"datatype", "FP32"}, {"data", x}}}}};
      return call(server, "POST", "/v2/models/m/infer", body.dump());
    }));
  }
  std::vector<std::vector<float>> rows;
  for (auto& a : answers) {
    HttpResponse r = a.get();
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return {};
    rows.push_back(json::parse(r.body)["outputs"][0]["data"].get<std::vector<float>>());
  }
  return rows;
}

// Sum of a per-device counter over devices, and the devices it names.
double device_total(const std::string& metrics, const std::string& name,
                    std::set<std::string>* devices) {
  const std::regex line(name + R"re(\{model="m",device="([^"]+)"\} ([0-9.e+-]+))re");
  double total = 0;
  for (std::sregex_iterator it(metrics.begin(), metrics.end(), line), end; it != end; ++it) {
    devices->insert((*it)[1]);
    total += std::stod((*it)[2]);
  }
  return total;
}

TEST(ServeDevices, ParsesDeviceListsAndNamesTheBadEntry) {
  EXPECT_EQ(*parse_device_list("0,1", 2), (std::vector<int>{0, 1}));
  EXPECT_EQ(*parse_device_list("1", 2), (std::vector<int>{1}));
  EXPECT_EQ(*parse_device_list("1,0", 2), (std::vector<int>{1, 0}));
  EXPECT_EQ(*parse_device_list("all", 3), (std::vector<int>{0, 1, 2}));
  const std::pair<std::string, std::string> bad[] = {
      {"", "expected device indices"},
      {"0,", "expected device indices"},
      {"0,,1", "'' is not a device index"},
      {"x", "'x' is not a device index"},
      {"-1", "'-1' is not a device index"},
      {"0,0", "device 0 is listed twice"},
      {"2", "device 2 does not exist: this host has 2 CUDA device(s), 0 to 1"},
  };
  for (const auto& [text, message] : bad) {
    Result<std::vector<int>> r = parse_device_list(text, 2);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find("--devices"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
  }
  Result<std::vector<int>> none = parse_device_list("all", 0);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no CUDA device"), std::string::npos);
  Result<std::vector<int>> zero = parse_device_list("0", 0);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("this host has no CUDA device"), std::string::npos);

  EXPECT_EQ(context_devices({0, 1}, 2), (std::vector<int>{0, 1, 0, 1}));
  EXPECT_EQ(context_devices({}, 3), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(context_devices({1}, 1), (std::vector<int>{1}));
  EXPECT_EQ(device_label("cuda", 1), "cuda:1");
  EXPECT_EQ(device_label("cpu", 0), "cpu");
}

TEST(ServeDevices, InstanceGroupSpreadsCountOverItsGpus) {
  Result<ModelConfig> c = parse_model_config(
      R"({"instance_group": [{"count": 2, "kind": "KIND_GPU", "gpus": [1, 0]}]})", "/r/m");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->instance_count, 2);
  EXPECT_EQ(c->gpus, (std::vector<int>{1, 0}));
  Result<ModelConfig> plain = parse_model_config(R"({"instance_group": [{"count": 3}]})", "/r/m");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->instance_count, 3);
  EXPECT_TRUE(plain->gpus.empty());

  const std::pair<std::string, std::string> bad[] = {
      {R"({"instance_count": 2, "instance_group": [{"count": 2}]})", "not both"},
      {R"({"instance_group": {"count": 2}})", "a list of one group"},
      {R"({"instance_group": [{"count": 1}, {"count": 1}]})", "a list of one group"},
      {R"({"instance_group": [{"count": 0}]})", "'count' must be an integer >= 1"},
      {R"({"instance_group": [{"gpus": []}]})", "non-empty list"},
      {R"({"instance_group": [{"gpus": [0, 0]}]})", "GPU 0 is listed twice"},
      {R"({"instance_group": [{"gpus": ["0"]}]})", "entry \"0\" is not a GPU index"},
      {R"({"instance_group": [{"gpus": [-1]}]})", "entry -1 is not a GPU index"},
      {R"({"instance_group": [{"kind": "KIND_CPU", "gpus": [0]}]})", "KIND_CPU takes no"},
      {R"({"instance_group": [{"kind": "KIND_TPU"}]})", "'kind' is 'KIND_TPU'"},
      {R"({"instance_group": [{"count": 1, "gpu": [0]}]})", "unknown key 'gpu'"},
  };
  for (const auto& [text, message] : bad) {
    Result<ModelConfig> r = parse_model_config(text, "/r/m");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find("/r/m/config.json"), std::string::npos);
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
  }
}

// Two GPUs with two contexts each, and one GPU with four contexts: one engine per GPU, contexts
// interleaved over the GPUs, every request answered right, each batch counted on its device.
TEST(ServeDevices, ContextsSpreadOverGpusAndAnswerAsOneDeviceDoes) {
  std::vector<std::vector<float>> reference;
  for (const auto& [name, gpus, count] :
       {std::tuple<std::string, std::vector<int>, int>{"two", {0, 1}, 2}, {"one", {0}, 4}}) {
    FakeLoader loader;
    InferenceServerOptions options;
    options.plan_loader = loader.fn();
    options.device_count = [] { return 2; };
    const json config = {
        {"max_batch_size", 4},
        {"outputs", {"out/y:0"}},
        {"dynamic_batching", {{"max_queue_delay_microseconds", 300}}},
        {"instance_group", {{{"count", count}, {"kind", "KIND_GPU"}, {"gpus", gpus}}}}};
    auto server = InferenceServer::load(repository(name, config), options);
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    const ServedModel& model = *(*server)->models()[0];
    EXPECT_EQ(loader.devices, gpus) << name;  // one engine per GPU
    EXPECT_EQ(model.gpus, gpus);
    const std::vector<std::string> expected_contexts =
        name == "two" ? std::vector<std::string>{"cuda:0", "cuda:1", "cuda:0", "cuda:1"}
                      : std::vector<std::string>(4, "cuda:0");
    EXPECT_EQ(model.context_devices, expected_contexts);
    const json triton = json::parse(call(**server, "GET", "/v2/models/m/config").body);
    EXPECT_EQ(triton["instance_group"],
              json::parse(R"([{"count": )" + std::to_string(count) +
                          R"(, "kind": "KIND_GPU", "gpus": )" + json(gpus).dump() + "}]"));

    const std::vector<std::vector<float>> rows = infer_concurrently(**server, 24);
    ASSERT_EQ(rows.size(), 24u);
    if (reference.empty()) {
      reference = rows;
    } else {
      EXPECT_EQ(rows, reference) << "several contexts on one GPU answer as several GPUs do";
    }
    const std::string metrics = call(**server, "GET", "/metrics").body;
    std::set<std::string> devices;
    EXPECT_EQ(device_total(metrics, "vitrt_device_rows_total", &devices), 24) << metrics;
    for (const std::string& d : devices) {
      EXPECT_TRUE(std::find(expected_contexts.begin(), expected_contexts.end(), d) !=
                  expected_contexts.end())
          << d;
    }
    std::set<std::string> batched;
    EXPECT_GE(device_total(metrics, "vitrt_device_batches_total", &batched), 6);  // <= 4 rows
    // Which contexts take the batches is up to timing; busy time is counted where they ran.
    std::set<std::string> busy;
    EXPECT_GT(device_total(metrics, "vitrt_device_busy_seconds_total", &busy), 0);
    EXPECT_EQ(busy, devices);
  }
  // The unbatched reference: x @ W on the CPU engine directly.
  auto cpu = Engine::from_onnx(kTinyMatmul);
  ASSERT_TRUE(cpu.ok());
  auto ctx = (*cpu)->create_context();
  for (int i = 0; i < 24; ++i) {
    Tensor x = Tensor::empty(DType::kFloat32, {1, 5});
    for (int k = 0; k < 5; ++k) x.data<float>()[k] = static_cast<float>(i + k);
    auto out = ctx->run({{"x", x}});
    ASSERT_TRUE(out.ok());
    const float* y = (*out)[0].tensor.data<float>();
    EXPECT_EQ(reference[static_cast<size_t>(i)], std::vector<float>(y, y + 3)) << i;
  }
}

TEST(ServeDevices, DevicesFlagIsTheDefaultAndMissingGpusAreNamed) {
  FakeLoader loader;
  InferenceServerOptions options;
  options.plan_loader = loader.fn();
  options.device_count = [] { return 2; };
  options.devices = {1};
  auto server = InferenceServer::load(
      repository("flag", {{"max_batch_size", 4}, {"outputs", {"out/y:0"}}, {"instance_count", 2}}),
      options);
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  EXPECT_EQ(loader.devices, (std::vector<int>{1}));
  EXPECT_EQ((*server)->models()[0]->context_devices,
            (std::vector<std::string>{"cuda:1", "cuda:1"}));
  (*server)->stop();

  // config.json's gpus win over --devices, and are checked against the host.
  options.devices = {0, 1};
  auto missing = InferenceServer::load(
      repository("missing", {{"instance_group", {{{"count", 1}, {"gpus", {0, 2}}}}}}), options);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(
                "model 'm' instance_group: device 2 does not exist: this host has 2 CUDA "
                "device(s), 0 to 1"),
            std::string::npos)
      << missing.status().message();

  // A CPU plan cannot honour a GPU list; --devices alone does not concern it.
  FakeLoader cpu_loader;
  cpu_loader.pose_as_gpu = false;
  options.plan_loader = cpu_loader.fn();
  auto cpu_gpus = InferenceServer::load(
      repository("cpu_gpus", {{"instance_group", {{{"count", 1}, {"gpus", {0}}}}}}), options);
  ASSERT_FALSE(cpu_gpus.ok());
  EXPECT_NE(cpu_gpus.status().message().find("lists 'gpus' but its plan runs on the cpu"),
            std::string::npos)
      << cpu_gpus.status().message();
  auto cpu_flag = InferenceServer::load(repository("cpu_flag", {{"instance_count", 3}}), options);
  ASSERT_TRUE(cpu_flag.ok()) << cpu_flag.status().to_string();
  EXPECT_EQ((*cpu_flag)->models()[0]->context_devices, (std::vector<std::string>(3, "cpu")));
}

// A CLIP model on two GPUs: one ClipModel loaded on each, contexts spread over them.
TEST(ServeDevices, ClipModelLoadsOncePerGpu) {
  std::mutex mutex;
  std::vector<int> loaded_on;
  InferenceServerOptions options;
  options.device_count = [] { return 2; };
  options.clip_loader = [&](const std::string&,
                            const ClipOptions& o) -> Result<std::shared_ptr<ClipModel>> {
    std::lock_guard<std::mutex> lock(mutex);
    loaded_on.push_back(o.device);
    auto fake = std::make_shared<testing::FakeClip>();
    fake->device_kind = "cuda";
    fake->device_index = o.device;
    return std::shared_ptr<ClipModel>(fake);
  };
  const std::string repo = repository(
      "clip", {{"backend", "clip"},
               {"max_batch_size", 4},
               {"instance_group", {{{"count", 1}, {"kind", "KIND_GPU"}, {"gpus", {0, 1}}}}}});
  auto server = InferenceServer::load(repo, options);
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  EXPECT_EQ(loaded_on, (std::vector<int>{0, 1}));
  EXPECT_EQ((*server)->models()[0]->context_devices,
            (std::vector<std::string>{"cuda:0", "cuda:1"}));
  const json body = {{"model", "m"}, {"input", {"ab", "abc"}}};
  HttpResponse r = call(**server, "POST", "/v1/embeddings", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["data"].size(), 2u);
  std::set<std::string> devices;
  EXPECT_EQ(
      device_total(call(**server, "GET", "/metrics").body, "vitrt_device_rows_total", &devices), 2);
}

TEST(ServeDevices, CudaImageBatchesArePaddedToAPowerOfTwo) {
  EXPECT_EQ(padded_batch_rows(1, 256), 1);
  EXPECT_EQ(padded_batch_rows(3, 256), 4);
  EXPECT_EQ(padded_batch_rows(129, 256), 256);
  EXPECT_EQ(padded_batch_rows(256, 256), 256);
  EXPECT_EQ(padded_batch_rows(5, 6), 6);  // capped at the max batch
  for (const char* kind : {"cuda", "cpu"}) {
    auto fake = std::make_shared<testing::FakeClip>();
    fake->device_kind = kind;
    ModelConfig config;
    config.name = "clip";
    config.backend = "clip";
    config.max_batch_size = 8;
    config.clip.max_images = 8;
    ClipService service(fake, config);
    // Three images whose first bytes embed them to e_1, e_2, e_3 (fake_clip.h).
    json input = json::array();
    for (char c : {'A', 'B', 'C'}) {
      input.push_back({{"image", "data:image/png;base64," + base64_encode(std::string(1, c))}});
    }
    std::promise<HttpResponse> answer;
    service.embeddings({{"model", "clip"}, {"input", input}},
                       [&answer](HttpResponse r) { answer.set_value(std::move(r)); });
    const HttpResponse r = answer.get_future().get();
    ASSERT_EQ(r.status, 200) << r.body;
    const json data = json::parse(r.body)["data"];
    ASSERT_EQ(data.size(), 3u) << kind;
    for (int i = 0; i < 3; ++i) {
      std::vector<float> expected(4, 0.0f);
      expected[static_cast<size_t>(('A' + i) % 4)] = 1.0f;
      EXPECT_EQ(data[static_cast<size_t>(i)]["embedding"].get<std::vector<float>>(), expected);
    }
    EXPECT_EQ(fake->pixel_batches, (std::vector<int64_t>{std::string(kind) == "cuda" ? 4 : 3}))
        << kind;
    service.stop();
  }
}

// With one context stuck on a long batch, every later request is run by the others: the queue
// feeds whichever context is free, as it feeds whichever GPU is free.
TEST(ServeDevices, BatcherFeedsWhicheverContextIsFree) {
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> stuck{-1};
  BatcherOptions options{/*max_batch_rows=*/4, /*preferred=*/{1}, /*delay=*/0, /*instances=*/3, 64};
  DynamicBatcher batcher(
      options,
      [&](int instance, const std::vector<NamedTensor>& in) -> Result<std::vector<NamedTensor>> {
        int none = -1;
        if (stuck.compare_exchange_strong(none, instance)) gate.wait();
        return in;
      });
  auto submit = [&batcher]() {
    auto done = std::make_shared<std::promise<BatchTiming>>();
    Tensor x = Tensor::zeros(DType::kFloat32, {1, 2});
    EXPECT_EQ(batcher.submit({{"x", x}},
                             [done](Result<std::vector<NamedTensor>> r, const BatchTiming& t) {
                               EXPECT_TRUE(r.ok());
                               done->set_value(t);
                             }),
              SubmitResult::kQueued);
    return done->get_future();
  };
  std::future<BatchTiming> first = submit();
  while (stuck.load() < 0) std::this_thread::yield();
  std::set<int> used;
  for (int i = 0; i < 8; ++i) {
    const BatchTiming t = submit().get();  // answered while the first is still held
    EXPECT_NE(t.instance, stuck.load());
    used.insert(t.instance);
  }
  EXPECT_EQ(first.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  release.set_value();
  EXPECT_EQ(first.get().instance, stuck.load());
  for (int i : used) EXPECT_TRUE(i >= 0 && i < 3);
}

}  // namespace
}  // namespace vitrt::serve
