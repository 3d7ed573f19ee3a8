// lower_contrib_ops: models ONNX Runtime optimized and saved (tests/data/ort_contrib, made by
// python/make_ort_contrib_fixtures.py: its transformers optimizer, InferenceSession saves with
// ORT_ENABLE_EXTENDED, a quantize_dynamic model saved that way) hold com.microsoft ops;
// vitrt lowers them to standard ops at import and matches ONNX Runtime's outputs on each, with
// and without the optimizer. What the lowering cannot express is refused with the node's name.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/npy.h"
#include "passes/run_pass.h"
#include "testing/model_runs.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;
using testing::TestGraph;

class OrtOptimizedModels : public ::testing::TestWithParam<const char*> {};

TEST_P(OrtOptimizedModels, MatchOnnxRuntime) {
  const fs::path dir = fs::path(VITRT_SOURCE_DIR) / "tests" / "data" / "ort_contrib" / GetParam();
  // The fixture holds the com.microsoft ops it was made for (ops.txt).
  std::ifstream ops_file(dir / "ops.txt");
  std::vector<std::string> contrib;
  for (std::string op; std::getline(ops_file, op);) contrib.push_back(op);
  ASSERT_FALSE(contrib.empty());
  // One file per case: ctest runs the cases as parallel processes.
  const std::string plan = ::testing::TempDir() + "/ort_contrib_" + GetParam() + ".plan";
  Result<BuildSummary> built = build_plan((dir / "model.onnx").string(), plan, BuildOptions());
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  for (const std::string& op : contrib) {
    EXPECT_EQ(built->ops_before.count("com.microsoft." + op), 1u) << op;
  }
  std::vector<NamedTensor> feeds;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string stem = entry.path().stem().string();
    if (entry.path().extension() != ".npy" || stem == "expected") continue;
    Result<Tensor> t = read_npy(entry.path().string());
    ASSERT_TRUE(t.ok()) << entry.path();
    feeds.push_back({stem, *t});
  }
  Result<Tensor> expected = read_npy((dir / "expected.npy").string());
  ASSERT_TRUE(expected.ok());
  testing::expect_model_output_both_ways((dir / "model.onnx").string(), feeds, *expected, 1e-5);
  // With the optimizer the ops ONNX Runtime had fused are fused again by vitrt's passes.
  EXPECT_EQ(built->ops_after.count("Gelu") + built->ops_after.count("MatMulInteger") +
                built->ops_after.count("MatMul"),
            0u);
  fs::remove(plan);
}

INSTANTIATE_TEST_SUITE_P(OnnxRuntimeSaves, OrtOptimizedModels,
                         ::testing::Values("vit_transformers_optimizer", "hf_vit_session_extended",
                                           "hf_vit_dynamic_session", "clip_text_optimizer"));

// What the lowering cannot express: training statistics of SkipLayerNormalization and
// FusedMatMul's batch transposes. The error names the node.
TEST(LowerContribOps, RefusesWhatItCannotExpress) {
  {
    TestGraph g;
    const ValueId x = g.input("x", DType::kFloat32, {Dim(2), Dim(8)});
    const ValueId skip = g.input("skip", DType::kFloat32, {Dim(2), Dim(8)});
    const std::vector<ValueId> out =
        g.op_multi("SkipLayerNormalization",
                   {x, skip, g.constant("gamma", Tensor::from_float(std::vector<float>(8, 1.0f)))},
                   2, {}, "com.microsoft", "skip_ln");
    g.output(out[0]);
    g.output(out[1]);
    testing::PassResult r = testing::run_pass(lower_contrib_ops, g.graph());
    ASSERT_FALSE(r.status.ok());
    EXPECT_NE(r.status.message().find("'skip_ln'"), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find("training statistics"), std::string::npos);
  }
  {
    TestGraph g;
    const ValueId a = g.input("a", DType::kFloat32, {Dim(2), Dim(3), Dim(4)});
    const ValueId b = g.input("b", DType::kFloat32, {Dim(2), Dim(4), Dim(5)});
    Attributes attrs;
    attrs.set_int("transBatchA", 1);
    g.output(g.op("FusedMatMul", {a, b}, attrs, "com.microsoft", "fused"));
    testing::PassResult r = testing::run_pass(lower_contrib_ops, g.graph());
    ASSERT_FALSE(r.status.ok());
    EXPECT_NE(r.status.message().find("'fused'"), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find("transBatchA"), std::string::npos);
  }
  {
    // A malformed node: an error naming it, never an out-of-range read.
    TestGraph g;
    const ValueId a = g.input("a", DType::kFloat32, {Dim(2), Dim(4)});
    g.output(g.op("FusedMatMul", {a}, {}, "com.microsoft", "one_input"));
    testing::PassResult r = testing::run_pass(lower_contrib_ops, g.graph());
    ASSERT_FALSE(r.status.ok());
    EXPECT_NE(r.status.message().find("'one_input'"), std::string::npos) << r.status.message();
  }
}

}  // namespace
}  // namespace vitrt
