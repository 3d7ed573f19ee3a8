// build_plan: the summary, the log, the plan it writes, and its errors. Uses the MatMul +
// Transpose fixture of tests/data/cli (made by make_cli_fixture.py with onnxruntime outputs).
#include "vitrt/builder.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "core/npy.h"
#include "cpu/cpu_kernel.h"
#include "ir/op_schema.h"
#include "plan/plan_format.h"
#include "testing/compare.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

std::string fixture(const std::string& name) {
  return std::string(VITRT_SOURCE_DIR) + "/tests/data/cli/" + name;
}

bool have_ops() {
  for (const char* op : {"MatMul", "Transpose"}) {
    if (OpRegistry::global().find("", op) == nullptr ||
        CpuKernelRegistry::global().find("", op) == nullptr) {
      return false;
    }
  }
  return true;
}

TEST(BuilderTest, WritesAPlanThatRunsLikeOnnxRuntime) {
  if (!have_ops()) GTEST_SKIP() << "MatMul/Transpose not registered yet";
  const std::string plan_path = ::testing::TempDir() + "/builder_tiny_matmul.plan";
  std::vector<std::string> log;
  BuildOptions options;
  options.log = [&](const std::string& line) { log.push_back(line); };
  Result<BuildSummary> summary = build_plan(fixture("tiny_matmul.onnx"), plan_path, options);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->ops_before, (std::map<std::string, int>{{"MatMul", 1}, {"Transpose", 1}}));
  // fuse_linear turns the product with constant weights into vitrt.Linear.
  EXPECT_EQ(summary->ops_after.count("MatMul"), 0u);
  EXPECT_EQ(summary->ops_after.count("vitrt.Linear"), 1u);
  EXPECT_EQ(summary->parameter_count, 15);
  EXPECT_EQ(summary->parameter_bytes, 60);
  EXPECT_EQ(summary->plan_bytes, static_cast<int64_t>(std::filesystem::file_size(plan_path)));
  std::string all;
  for (const std::string& line : log) all += line + "\n";
  EXPECT_NE(all.find("MatMul x1"), std::string::npos) << all;
  EXPECT_NE(all.find("input  'x' float32[batch, 5]"), std::string::npos) << all;
  EXPECT_NE(all.find("output 'yt' float32[3, batch]"), std::string::npos) << all;
  EXPECT_NE(all.find("parameters: 15 (60 bytes)"), std::string::npos) << all;
  EXPECT_NE(all.find(std::to_string(summary->plan_bytes) + " bytes"), std::string::npos) << all;

  Result<LoadedPlan> plan = read_plan_file(plan_path);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->metadata.device, "cpu");
  EXPECT_EQ(plan->metadata.precision, "fp32");
  EXPECT_EQ(plan->graph.producer_name, "make_cli_fixture");
  EXPECT_EQ(plan->graph.onnx_opset(), 17);

  Result<Tensor> x = read_npy(fixture("x.npy"));
  ASSERT_TRUE(x.ok());
  for (bool from_plan : {true, false}) {
    SCOPED_TRACE(from_plan ? "plan" : "onnx");
    Result<std::shared_ptr<Engine>> engine =
        from_plan ? Engine::load_plan(plan_path) : Engine::from_onnx(fixture("tiny_matmul.onnx"));
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    Result<std::vector<NamedTensor>> out = (*engine)->create_context()->run({{"x", *x}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    ASSERT_EQ(out->size(), 2u);
    EXPECT_EQ(out->at(0).name, "out/y:0");
    EXPECT_TRUE(testing::tensors_close(out->at(0).tensor,
                                       *read_npy(fixture("expected_out_y_0.npy")), {1e-5, 1e-6}));
    EXPECT_TRUE(testing::tensors_close(out->at(1).tensor, *read_npy(fixture("expected_yt.npy")),
                                       {1e-5, 1e-6}));
  }
  std::remove(plan_path.c_str());
}

TEST(BuilderTest, ErrorsNameTheProblem) {
  BuildOptions options;
  Result<BuildSummary> r = build_plan("/nonexistent/model.onnx", "/tmp/never.plan", options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/model.onnx"), std::string::npos);

  options.precision = "int4";
  r = build_plan(fixture("tiny_matmul.onnx"), "/tmp/never.plan", options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("precision 'int4'"), std::string::npos);

  // Not an ONNX file at all: the importer's error, and no plan left behind.
  const std::string plan_path = ::testing::TempDir() + "/builder_never.plan";
  r = build_plan(fixture("x.npy"), plan_path, BuildOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(std::filesystem::exists(plan_path));
}

}  // namespace
}  // namespace vitrt
