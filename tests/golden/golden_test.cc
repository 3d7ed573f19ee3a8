// Golden-model tests: every fixture under tests/golden/ (tiny HF / timm exports made by
// python/make_fixtures.py) run through the engine, directly from ONNX and through a plan file,
// and compared with the PyTorch fp32 outputs committed beside it; and the optimized graph
// compared with the graph as imported.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/npy.h"
#include "testing/compare.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

// Outputs must match PyTorch to 1e-4 of each output's largest magnitude, or to the fixture's
// tolerance.txt where it has one (half-precision exports: float16 outputs).
constexpr double kRelativeTolerance = 1e-4;

double fixture_tolerance(const fs::path& fixture) {
  std::ifstream in(fixture / "tolerance.txt");
  double tol = 0.0;
  return in >> tol && tol > 0.0 ? tol : kRelativeTolerance;
}

fs::path golden_root() {
  return fs::path(VITRT_SOURCE_DIR) / "tests" / "golden";
}

// Fixture folders (those holding a model.onnx), sorted so test order is stable.
std::vector<std::string> find_fixtures() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(golden_root(), ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "model.onnx")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The fixture files name tensors with '/' replaced by '_'.
std::string sanitize(std::string name) {
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

struct GoldenCase {
  std::string dir;
  std::map<std::string, fs::path> inputs;   // sanitized input name -> file
  std::map<int, fs::path> outputs;          // output index -> file
  std::map<int, std::string> output_names;  // output index -> sanitized name
};

std::vector<GoldenCase> find_cases(const fs::path& fixture) {
  std::vector<GoldenCase> cases;
  for (const auto& entry : fs::directory_iterator(fixture)) {
    if (!entry.is_directory() || !starts_with(entry.path().filename().string(), "case")) {
      continue;
    }
    GoldenCase c;
    c.dir = entry.path().string();
    for (const auto& file : fs::directory_iterator(entry.path())) {
      const std::string fname = file.path().filename().string();
      if (file.path().extension() != ".npy") continue;
      const std::string stem = fname.substr(0, fname.size() - 4);
      if (starts_with(stem, "input.")) {
        c.inputs[stem.substr(6)] = file.path();
      } else if (starts_with(stem, "output.")) {
        // output.<index>.<name>
        const std::string rest = stem.substr(7);
        const size_t dot = rest.find('.');
        if (dot == std::string::npos) continue;
        const int index = std::stoi(rest.substr(0, dot));
        c.outputs[index] = file.path();
        c.output_names[index] = rest.substr(dot + 1);
      }
    }
    cases.push_back(std::move(c));
  }
  std::sort(cases.begin(), cases.end(),
            [](const GoldenCase& a, const GoldenCase& b) { return a.dir < b.dir; });
  return cases;
}

// The case's input files, one per engine input, in the engine's input order.
void read_inputs(const Engine& engine, const GoldenCase& c, std::vector<NamedTensor>* inputs) {
  for (const TensorInfo& info : engine.inputs()) {
    auto it = c.inputs.find(sanitize(info.name));
    ASSERT_NE(it, c.inputs.end()) << "no input." << sanitize(info.name) << ".npy";
    Result<Tensor> t = read_npy(it->second.string());
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    inputs->push_back({info.name, std::move(t).value()});
  }
}

// Runs every case of the fixture on `engine` with one context (so batch sizes change between
// runs of the same context) and compares every output.
void check_engine(const Engine& engine, const fs::path& fixture) {
  // The exporters mark the batch dim as the symbol "batch"; it must survive import.
  for (const TensorInfo& info : engine.inputs()) {
    ASSERT_FALSE(info.dims.empty()) << "input '" << info.name << "' has unknown rank";
    EXPECT_EQ(info.dims[0], "batch") << "input '" << info.name << "' lost its symbolic batch dim";
  }
  const std::vector<GoldenCase> cases = find_cases(fixture);
  ASSERT_FALSE(cases.empty()) << "no case folders in " << fixture;
  std::unique_ptr<ExecutionContext> context = engine.create_context();
  ASSERT_NE(context, nullptr);
  for (const GoldenCase& c : cases) {
    SCOPED_TRACE(c.dir);
    std::vector<NamedTensor> inputs;
    ASSERT_NO_FATAL_FAILURE(read_inputs(engine, c, &inputs));
    ASSERT_EQ(inputs.size(), c.inputs.size()) << "the case has inputs the engine does not take";

    Result<std::vector<NamedTensor>> outputs = context->run(inputs);
    ASSERT_TRUE(outputs.ok()) << outputs.status().to_string();
    ASSERT_EQ(outputs->size(), engine.outputs().size());
    ASSERT_EQ(outputs->size(), c.outputs.size());
    for (size_t i = 0; i < outputs->size(); ++i) {
      const NamedTensor& actual = (*outputs)[i];
      SCOPED_TRACE("output " + std::to_string(i) + " '" + actual.name + "'");
      auto file = c.outputs.find(static_cast<int>(i));
      ASSERT_NE(file, c.outputs.end());
      EXPECT_EQ(sanitize(actual.name), c.output_names.at(static_cast<int>(i)));
      Result<Tensor> expected = read_npy(file->second.string());
      ASSERT_TRUE(expected.ok()) << expected.status().to_string();
      EXPECT_TRUE(
          testing::tensors_close_to_scale(actual.tensor, *expected, fixture_tolerance(fixture)));
    }
  }
}

class GoldenModel : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path fixture() const { return golden_root() / GetParam(); }
  fs::path model() const { return fixture() / "model.onnx"; }
};

TEST_P(GoldenModel, FromOnnx) {
  Result<std::shared_ptr<Engine>> engine = Engine::from_onnx(model().string());
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  check_engine(**engine, fixture());
}

TEST_P(GoldenModel, ThroughPlan) {
  const fs::path dir =
      fs::temp_directory_path() / ("vitrt_golden_" + std::to_string(::getpid()) + "_" + GetParam());
  fs::create_directories(dir);
  const std::string plan = (dir / "model.plan").string();
  {
    Result<BuildSummary> summary = build_plan(model().string(), plan, BuildOptions{});
    ASSERT_TRUE(summary.ok()) << summary.status().to_string();
    Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    check_engine(**engine, fixture());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The optimizer must not change what the model computes: every output of the optimized graph
// agrees with the graph as imported (the unoptimized CPU path is the reference) to 1e-5 of the
// output's scale, on every case. Stricter than the PyTorch comparison, so a rewrite that
// loses precision shows here even when it stays inside the PyTorch tolerance.
constexpr double kOptimizedTolerance = 1e-5;

TEST_P(GoldenModel, OptimizedMatchesUnoptimized) {
  BuildOptions plain_options;
  plain_options.optimize = false;
  Result<std::shared_ptr<Engine>> plain = Engine::from_onnx(model().string(), plain_options);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  Result<std::shared_ptr<Engine>> optimized = Engine::from_onnx(model().string(), BuildOptions{});
  ASSERT_TRUE(optimized.ok()) << optimized.status().to_string();
  ASSERT_EQ((*optimized)->outputs().size(), (*plain)->outputs().size());

  std::unique_ptr<ExecutionContext> plain_context = (*plain)->create_context();
  std::unique_ptr<ExecutionContext> optimized_context = (*optimized)->create_context();
  const std::vector<GoldenCase> cases = find_cases(fixture());
  ASSERT_FALSE(cases.empty()) << "no case folders in " << fixture();
  for (const GoldenCase& c : cases) {
    SCOPED_TRACE(c.dir);
    std::vector<NamedTensor> inputs;
    ASSERT_NO_FATAL_FAILURE(read_inputs(**plain, c, &inputs));
    Result<std::vector<NamedTensor>> want = plain_context->run(inputs);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    Result<std::vector<NamedTensor>> got = optimized_context->run(inputs);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_EQ(got->size(), want->size());
    for (size_t i = 0; i < got->size(); ++i) {
      SCOPED_TRACE("output " + std::to_string(i) + " '" + (*want)[i].name + "'");
      EXPECT_EQ((*got)[i].name, (*want)[i].name);
      // float16 outputs (half fixtures) may round to neighbouring codes: half their bound.
      EXPECT_TRUE(testing::tensors_close_to_scale(
          (*got)[i].tensor, (*want)[i].tensor,
          std::max(kOptimizedTolerance, fixture_tolerance(fixture()) / 2)));
    }
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

// Test names are golden/GoldenModel.<FromOnnx|ThroughPlan|OptimizedMatchesUnoptimized>/<fixture>
// (scripts/test.sh filters on 'golden').
INSTANTIATE_TEST_SUITE_P(golden, GoldenModel, ::testing::ValuesIn(find_fixtures()), test_name);

// Guards against the suite silently running nothing (a moved folder, a wrong source dir).
TEST(GoldenFixtures, ArePresent) {
  EXPECT_GE(find_fixtures().size(), 10u) << "fixtures expected under " << golden_root();
}

}  // namespace
}  // namespace vitrt
