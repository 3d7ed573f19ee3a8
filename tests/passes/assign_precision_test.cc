// assign_precision and the bf16 Linear path: which nodes are marked, that a bf16 Linear
// computes exactly "inputs rounded to bf16, products accumulated in fp32", that plans record
// their precision, and that every golden fixture built in bf16 stays within cosine 0.9999 of
// its fp32 build.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/npy.h"
#include "passes/linear_pass_testing.h"
#include "plan/plan_format.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;
using testing::apply_pass;
using testing::random_tensor;
using testing::TestGraph;

constexpr int64_t kK = 40, kN = 24;

// A Linear and a LayerNormalization reading its output.
TestGraph linear_then_norm() {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, kK});
  ValueId y = g.op("Linear",
                   {x, g.constant("w", random_tensor(DType::kFloat32, {kK, kN}, 2)),
                    g.constant("b", random_tensor(DType::kFloat32, {kN}, 3))},
                   {}, "vitrt");
  g.output(g.op("LayerNormalization",
                {y, g.constant("gamma", random_tensor(DType::kFloat32, {kN}, 4))}));
  EXPECT_TRUE(g.infer().ok());
  return g;
}

TEST(AssignPrecision, Bf16MarksLinearNodesOnly) {
  TestGraph g = linear_then_norm();
  auto [bf16, applied] = apply_pass(g.graph(), assign_precision, "bf16");
  EXPECT_EQ(applied, 1);
  for (const Node& n : bf16.nodes) {
    EXPECT_EQ(n.attrs.get_string("compute_precision", "fp32").value(),
              n.op_type == "Linear" ? "bf16" : "fp32")
        << n.describe();
  }
  EXPECT_EQ(apply_pass(g.graph(), assign_precision, "fp32").second, 0);
  // Running again changes nothing.
  EXPECT_EQ(apply_pass(bf16, assign_precision, "bf16").second, 0);
}

TEST(AssignPrecision, UnknownPrecisionIsAnError) {
  TestGraph g = linear_then_norm();
  PassContext ctx(false, nullptr);
  ctx.set_precision("fp7");
  Status s = assign_precision(g.graph(), ctx);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("fp7"), std::string::npos) << s.message();
}

float round_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even (inputs are finite)
  bits &= 0xffff0000u;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

TEST(AssignPrecision, Bf16LinearRoundsInputsAndAccumulatesInFp32) {
  for (const char* activation : {"none", "gelu"}) {
    SCOPED_TRACE(activation);
    TestGraph g;
    const Tensor w = random_tensor(DType::kFloat32, {kK, kN}, 2);
    const Tensor b = random_tensor(DType::kFloat32, {kN}, 3);
    const Tensor x = random_tensor(DType::kFloat32, {3, 6, kK}, 5);
    Attributes attrs;
    attrs.set_string("activation", activation);
    attrs.set_string("compute_precision", "bf16");
    ValueId xi = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, kK});
    g.output(g.op("Linear", {xi, g.constant("w", w), g.constant("b", b)}, attrs, "vitrt"));
    ASSERT_TRUE(g.infer().ok());
    auto got = testing::run_graph(g.graph(), {x});
    ASSERT_TRUE(got.ok()) << got.status().to_string();

    // float64 reference on the bf16-rounded operands.
    const int64_t m = x.numel() / kK;
    Tensor want = Tensor::empty(DType::kFloat32, {3, 6, kN});
    Tensor fp32 = Tensor::empty(DType::kFloat32, {3, 6, kN});
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < kN; ++j) {
        double acc = b.data<float>()[j], exact = acc;
        for (int64_t k = 0; k < kK; ++k) {
          acc += static_cast<double>(round_to_bf16(x.data<float>()[i * kK + k])) *
                 round_to_bf16(w.data<float>()[k * kN + j]);
          exact += static_cast<double>(x.data<float>()[i * kK + k]) * w.data<float>()[k * kN + j];
        }
        auto act = [&](double v) {
          return std::string(activation) == "gelu" ? 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)))
                                                   : v;
        };
        want.data<float>()[i * kN + j] = static_cast<float>(act(acc));
        fp32.data<float>()[i * kN + j] = static_cast<float>(act(exact));
      }
    }
    EXPECT_TRUE(testing::tensors_close_to_scale((*got)[0], want, 1e-5));
    // ... and it is not the fp32 result: bf16 rounding moves outputs by ~1e-3 of scale.
    EXPECT_FALSE(testing::tensors_close_to_scale((*got)[0], fp32, 1e-5));
  }
}

TEST(AssignPrecision, PlanRecordsBf16AndRejectsOtherPrecisions) {
  const fs::path model = fs::path(VITRT_SOURCE_DIR) / "tests/golden/timm_vit_tiny_ts17/model.onnx";
  const fs::path plan =
      fs::temp_directory_path() / ("vitrt_bf16_" + std::to_string(::getpid()) + ".plan");
  BuildOptions options;
  options.precision = "bf16";
  Result<BuildSummary> summary = build_plan(model.string(), plan.string(), options);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_GT(summary->rewrites["assign_precision"], 0);
  Result<LoadedPlan> loaded = read_plan_file(plan.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->metadata.precision, "bf16");
  int marked = 0;
  for (const Node& n : loaded->graph.nodes) {
    marked += n.attrs.get_string("compute_precision", "fp32").value() == "bf16";
  }
  EXPECT_EQ(marked, summary->rewrites["assign_precision"]);
  std::error_code ec;
  fs::remove(plan, ec);

  options.precision = "fp16";
  Result<BuildSummary> rejected = build_plan(model.string(), plan.string(), options);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.status().message().find("fp16"), std::string::npos);
}

fs::path golden_root() {
  return fs::path(VITRT_SOURCE_DIR) / "tests" / "golden";
}

std::vector<std::string> golden_fixtures() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(golden_root(), ec)) {
    if (fs::exists(entry.path() / "model.onnx")) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class Bf16Golden : public ::testing::TestWithParam<std::string> {};

// The fixture's bf16 build against its fp32 build, on each case's inputs.
TEST_P(Bf16Golden, StaysWithinCosine09999OfFp32) {
  const fs::path fixture = golden_root() / GetParam();
  const std::string model = (fixture / "model.onnx").string();
  BuildOptions bf16_options;
  bf16_options.precision = "bf16";
  auto fp32 = Engine::from_onnx(model);
  auto bf16 = Engine::from_onnx(model, bf16_options);
  ASSERT_TRUE(fp32.ok()) << fp32.status().to_string();
  ASSERT_TRUE(bf16.ok()) << bf16.status().to_string();
  auto fp32_ctx = (*fp32)->create_context();
  auto bf16_ctx = (*bf16)->create_context();
  int cases = 0;
  for (const auto& c : fs::directory_iterator(fixture)) {
    if (!c.is_directory() || c.path().filename().string().rfind("case", 0) != 0) continue;
    ++cases;
    std::vector<NamedTensor> inputs;
    for (const TensorInfo& info : (*fp32)->inputs()) {
      std::string file = info.name;
      std::replace(file.begin(), file.end(), '/', '_');
      Result<Tensor> t = read_npy((c.path() / ("input." + file + ".npy")).string());
      ASSERT_TRUE(t.ok()) << t.status().to_string();
      inputs.push_back({info.name, *t});
    }
    auto want = fp32_ctx->run(inputs);
    auto got = bf16_ctx->run(inputs);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    ASSERT_EQ(got->size(), want->size());
    for (size_t i = 0; i < got->size(); ++i) {
      EXPECT_TRUE(testing::cosine_at_least((*got)[i].tensor, (*want)[i].tensor, 0.9999))
          << c.path().filename() << " output '" << (*got)[i].name << "'";
    }
  }
  EXPECT_GT(cases, 0);
}

std::string fixture_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(golden, Bf16Golden, ::testing::ValuesIn(golden_fixtures()),
                         fixture_test_name);

TEST(AssignPrecision, GoldenFixturesArePresent) {
  EXPECT_GE(golden_fixtures().size(), 10u);
}

}  // namespace
}  // namespace vitrt
