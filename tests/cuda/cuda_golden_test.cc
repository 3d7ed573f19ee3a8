// The golden fixtures through the CUDA path: built into a plan for device 'cuda' (fp32, fp16,
// bf16), loaded, run with one context across batch sizes, compared with the PyTorch outputs.
// Also: several contexts of one engine running at once on their own threads and streams.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "core/npy.h"
#include "cuda_test_util.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt::testing {
namespace {

namespace fs = std::filesystem;

// The fixtures live in the source tree; VITRT_GOLDEN_DIR points elsewhere (the GPU machine
// runs this binary away from the tree it was built in).
fs::path golden_root() {
  const char* env = std::getenv("VITRT_GOLDEN_DIR");
  return env != nullptr ? fs::path(env) : fs::path(VITRT_SOURCE_DIR) / "tests" / "golden";
}

std::vector<std::string> find_fixtures() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(golden_root(), ec)) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) {
      names.push_back(e.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The fixture's tolerance.txt (half-precision exports), else 1e-4 of scale.
double fixture_tolerance(const fs::path& fixture) {
  std::ifstream in(fixture / "tolerance.txt");
  double tol = 0.0;
  return in >> tol && tol > 0.0 ? tol : 1e-4;
}

std::string sanitize(std::string name) {
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

struct GoldenCase {
  std::vector<NamedTensor> inputs;
  std::vector<Tensor> outputs;
};

// case<k>/input.<name>.npy and output.<index>.<name>.npy
std::vector<GoldenCase> load_cases(const fs::path& fixture, const Engine& engine) {
  std::vector<GoldenCase> cases;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(fixture)) {
    if (e.is_directory() && e.path().filename().string().rfind("case", 0) == 0) {
      dirs.push_back(e.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& dir : dirs) {
    GoldenCase c;
    for (const TensorInfo& info : engine.inputs()) {
      Result<Tensor> t = read_npy((dir / ("input." + sanitize(info.name) + ".npy")).string());
      if (!t.ok()) return {};
      c.inputs.push_back({info.name, *t});
    }
    for (size_t i = 0; i < engine.outputs().size(); ++i) {
      const std::string prefix = "output." + std::to_string(i) + ".";
      for (const auto& f : fs::directory_iterator(dir)) {
        if (f.path().filename().string().rfind(prefix, 0) == 0) {
          Result<Tensor> t = read_npy(f.path().string());
          if (t.ok()) c.outputs.push_back(*t);
        }
      }
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

class CudaGolden : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(CudaGolden, ThroughPlan) {
  VITRT_REQUIRE_GPU();
  const auto& [name, precision] = GetParam();
  const fs::path fixture = golden_root() / name;
  const fs::path plan =
      fs::temp_directory_path() / ("vitrt_cuda_" + name + "_" + precision + ".plan");
  BuildOptions options;
  options.device = "cuda";
  options.precision = precision;
  options.select_tactics = false;  // tactics have their own test (cuda_tactics_test.cc)
  Result<BuildSummary> built =
      build_plan((fixture / "model.onnx").string(), plan.string(), options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan.string());
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  EXPECT_EQ((*engine)->device(), "cuda");
  const std::vector<GoldenCase> cases = load_cases(fixture, **engine);
  ASSERT_FALSE(cases.empty());
  std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
  // Each case twice: the second run replays the captured graph (and follows a batch change).
  for (int round = 0; round < 2; ++round) {
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      SCOPED_TRACE("case " + std::to_string(ci) + " round " + std::to_string(round));
      Result<std::vector<NamedTensor>> out = ctx->run(cases[ci].inputs);
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      ASSERT_EQ(out->size(), cases[ci].outputs.size());
      for (size_t i = 0; i < out->size(); ++i) {
        EXPECT_TRUE(outputs_agree((*out)[i].tensor, cases[ci].outputs[i], precision,
                                  fixture_tolerance(fixture), precision == "bf16" ? 0.999 : 0.9999,
                                  precision == "bf16" ? 0.1 : 0.05))
            << "output " << i << " '" << (*out)[i].name << "'";
      }
    }
  }
  std::error_code ec;
  fs::remove(plan, ec);
}

std::vector<std::tuple<std::string, std::string>> golden_params() {
  std::vector<std::tuple<std::string, std::string>> p;
  for (const std::string& f : find_fixtures()) {
    for (const char* prec : {"fp32", "fp16", "bf16"}) p.emplace_back(f, prec);
  }
  return p;
}

INSTANTIATE_TEST_SUITE_P(golden, CudaGolden, ::testing::ValuesIn(golden_params()),
                         [](const auto& info) {
                           std::string n = std::get<0>(info.param) + "_" + std::get<1>(info.param);
                           for (char& ch : n) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

TEST(CudaGoldenFixtures, ArePresent) {
  EXPECT_GE(find_fixtures().size(), 10u) << "fixtures expected under " << golden_root();
}

// Four contexts of one engine, each on its own thread and stream, agree with a lone run.
TEST(CudaEngineConcurrency, ContextsRunTogether) {
  VITRT_REQUIRE_GPU();
  const fs::path fixture = golden_root() / "timm_vit_tiny_ts17";
  BuildOptions options;
  options.device = "cuda";
  options.precision = "fp16";
  const fs::path plan = fs::temp_directory_path() / "vitrt_cuda_concurrency.plan";
  ASSERT_TRUE(build_plan((fixture / "model.onnx").string(), plan.string(), options).ok());
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan.string());
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const std::vector<GoldenCase> cases = load_cases(fixture, **engine);
  ASSERT_FALSE(cases.empty());
  std::unique_ptr<ExecutionContext> lone = (*engine)->create_context();
  Result<std::vector<NamedTensor>> reference = lone->run(cases.back().inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();
  constexpr int kThreads = 4;
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
      for (int i = 0; i < 20; ++i) {
        Result<std::vector<NamedTensor>> out = ctx->run(cases.back().inputs);
        if (!out.ok()) {
          errors[t] = out.status().to_string();
          return;
        }
        const Tensor& a = (*out)[0].tensor;
        const Tensor& b = (*reference)[0].tensor;
        for (int64_t k = 0; k < a.numel(); ++k) {
          if (a.data<float>()[k] != b.data<float>()[k]) {
            errors[t] = "context output differs from the lone run";
            return;
          }
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  std::error_code ec;
  fs::remove(plan, ec);
}

}  // namespace
}  // namespace vitrt::testing
