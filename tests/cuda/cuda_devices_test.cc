// One engine per GPU (Engine::load_plan(path, device)), as `vitrt serve --devices` and `vitrt
// bench --devices` use it: every visible GPU gives the lone run's outputs, a thread may drive
// engines of several GPUs in turn, a GPU that does not exist is named, and two engines on one
// GPU behave as two GPUs do. On a one-GPU machine the loops run once; on two GPUs they cover
// the cross-device cases. Also the server over a real CUDA plan with its contexts spread by an
// instance_group.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/npy.h"
#include "cuda_test_util.h"
#include "serve/inference_server.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt::testing {
namespace {

namespace fs = std::filesystem;

fs::path fixture_dir() {
  const char* env = std::getenv("VITRT_GOLDEN_DIR");
  return (env != nullptr ? fs::path(env) : fs::path(VITRT_SOURCE_DIR) / "tests" / "golden") /
         "timm_vit_tiny_ts17";
}

// The fixture's plan (fp16, batch symbolic) and its first case's input.
struct Fixture {
  fs::path plan;
  std::vector<NamedTensor> inputs;
};

Result<Fixture> build_fixture(const std::string& name) {
  Fixture f;
  f.plan = fs::temp_directory_path() / ("vitrt_cuda_devices_" + name + ".plan");
  BuildOptions options;
  options.device = "cuda";
  options.precision = "fp16";
  options.select_tactics = false;
  VITRT_RETURN_IF_ERROR(
      build_plan((fixture_dir() / "model.onnx").string(), f.plan.string(), options).status());
  VITRT_ASSIGN_OR_RETURN(Tensor x,
                         read_npy((fixture_dir() / "case0" / "input.pixel_values.npy").string()));
  f.inputs.push_back({"pixel_values", x});
  return f;
}

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::equal(a.data<float>(), a.data<float>() + a.numel(), b.data<float>());
}

TEST(CudaDevices, EveryGpuGivesTheLoneRunsOutputsAndMissingOnesAreNamed) {
  VITRT_REQUIRE_GPU();
  const int count = Engine::cuda_device_count();
  EXPECT_EQ(count, cuda::device_count());
  Result<Fixture> f = build_fixture("every");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  Result<std::shared_ptr<Engine>> lone = Engine::load_plan(f->plan.string());
  ASSERT_TRUE(lone.ok()) << lone.status().to_string();
  Result<std::vector<NamedTensor>> reference = (*lone)->create_context()->run(f->inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();

  std::vector<std::shared_ptr<Engine>> engines;
  for (int d = 0; d < count; ++d) {
    Result<std::shared_ptr<Engine>> e = Engine::load_plan(f->plan.string(), d);
    ASSERT_TRUE(e.ok()) << "GPU " << d << ": " << e.status().to_string();
    engines.push_back(*e);
  }
  // One thread, each GPU's context in turn, twice (the second replays captured graphs): each
  // run must select its own GPU whatever the thread ran last.
  std::vector<std::unique_ptr<ExecutionContext>> contexts;
  for (auto& e : engines) contexts.push_back(e->create_context());
  for (int round = 0; round < 2; ++round) {
    for (int d = 0; d < count; ++d) {
      Result<std::vector<NamedTensor>> out = contexts[static_cast<size_t>(d)]->run(f->inputs);
      ASSERT_TRUE(out.ok()) << "GPU " << d << ": " << out.status().to_string();
      EXPECT_TRUE(same((*out)[0].tensor, (*reference)[0].tensor)) << "GPU " << d;
    }
  }

  Result<std::shared_ptr<Engine>> missing = Engine::load_plan(f->plan.string(), count);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("CUDA device " + std::to_string(count) +
                                            " does not exist: this process sees " +
                                            std::to_string(count)),
            std::string::npos)
      << missing.status().message();
  EXPECT_FALSE(Engine::load_plan(f->plan.string(), -1).ok());
  std::error_code ec;
  fs::remove(f->plan, ec);
}

// Two engines on GPU 0 (what two GPUs are to the server), contexts of both on their own
// threads at once: every output is the lone run's. With two GPUs, the same across GPUs 0 and 1.
TEST(CudaDevices, EnginesOnOneOrSeveralGpusRunTogether) {
  VITRT_REQUIRE_GPU();
  Result<Fixture> f = build_fixture("together");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  const int count = Engine::cuda_device_count();
  std::vector<std::vector<int>> layouts = {{0, 0}};
  if (count >= 2) layouts.push_back({0, 1});
  Result<std::shared_ptr<Engine>> lone = Engine::load_plan(f->plan.string(), 0);
  ASSERT_TRUE(lone.ok());
  Result<std::vector<NamedTensor>> reference = (*lone)->create_context()->run(f->inputs);
  ASSERT_TRUE(reference.ok());
  for (const std::vector<int>& layout : layouts) {
    std::vector<std::shared_ptr<Engine>> engines;
    for (int d : layout) {
      Result<std::shared_ptr<Engine>> e = Engine::load_plan(f->plan.string(), d);
      ASSERT_TRUE(e.ok()) << e.status().to_string();
      engines.push_back(*e);
    }
    std::vector<std::string> errors(engines.size() * 2);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < errors.size(); ++t) {
      threads.emplace_back([&, t] {
        std::unique_ptr<ExecutionContext> ctx = engines[t % engines.size()]->create_context();
        for (int i = 0; i < 10; ++i) {
          Result<std::vector<NamedTensor>> out = ctx->run(f->inputs);
          if (!out.ok()) {
            errors[t] = out.status().to_string();
            return;
          }
          if (!same((*out)[0].tensor, (*reference)[0].tensor)) {
            errors[t] = "output differs from the lone run";
            return;
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    for (size_t t = 0; t < errors.size(); ++t) {
      EXPECT_EQ(errors[t], "") << "GPUs " << layout[0] << "," << layout[1] << " thread " << t;
    }
  }
  std::error_code ec;
  fs::remove(f->plan, ec);
}

// The server over the real CUDA plan: an instance_group on every visible GPU, two contexts on
// each, requests answered with the lone run's rows.
TEST(CudaDevices, ServerSpreadsContextsOverTheGpus) {
  VITRT_REQUIRE_GPU();
  Result<Fixture> f = build_fixture("serve");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  const int count = Engine::cuda_device_count();
  const fs::path repo = fs::temp_directory_path() / "vitrt_cuda_devices_repo";
  fs::remove_all(repo);
  fs::create_directories(repo / "vit");
  nlohmann::json gpus = nlohmann::json::array();
  for (int d = 0; d < count; ++d) gpus.push_back(d);
  std::ofstream(repo / "vit" / "config.json")
      << nlohmann::json{{"plan", f->plan.string()},
                        {"max_batch_size", 8},
                        {"dynamic_batching", {{"max_queue_delay_microseconds", 500}}},
                        {"instance_group", {{{"count", 2}, {"kind", "KIND_GPU"}, {"gpus", gpus}}}}}
             .dump();
  auto server = serve::InferenceServer::load(repo.string(), serve::InferenceServerOptions{});
  ASSERT_TRUE(server.ok()) << server.status().to_string();
  EXPECT_EQ((*server)->models()[0]->context_devices.size(), static_cast<size_t>(2 * count));

  Result<std::shared_ptr<Engine>> lone = Engine::load_plan(f->plan.string());
  ASSERT_TRUE(lone.ok());
  Result<std::vector<NamedTensor>> reference = (*lone)->create_context()->run(f->inputs);
  ASSERT_TRUE(reference.ok());
  const Tensor& x = f->inputs[0].tensor;
  nlohmann::json request = {
      {"inputs",
       {{{"name", "pixel_values"},
         {"shape", x.shape()},
         {"datatype", "FP32"},
         {"data", std::vector<float>(x.data<float>(), x.data<float>() + x.numel())}}}}};
  std::vector<std::future<serve::HttpResponse>> answers;
  for (int i = 0; i < 8; ++i) {
    answers.push_back(std::async(std::launch::async, [&] {
      std::promise<serve::HttpResponse> answer;
      (*server)->handle(serve::HttpRequest{"POST", "/v2/models/vit/infer", {}, request.dump()},
                        [&answer](serve::HttpResponse r) { answer.set_value(std::move(r)); });
      return answer.get_future().get();
    }));
  }
  const Tensor& ref = (*reference)[0].tensor;
  for (auto& a : answers) {
    serve::HttpResponse r = a.get();
    ASSERT_EQ(r.status, 200) << r.body;
    const auto got = nlohmann::json::parse(r.body)["outputs"][0]["data"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), static_cast<size_t>(ref.numel()));
    // Batched with other requests, the rows may take another GEMM path: compare closely, not
    // bit for bit.
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_NEAR(got[k], ref.data<float>()[k], 2e-2 + 2e-2 * std::fabs(ref.data<float>()[k])) << k;
    }
  }
  (*server)->stop();
  std::error_code ec;
  fs::remove_all(repo, ec);
  fs::remove(f->plan, ec);
}

}  // namespace
}  // namespace vitrt::testing
