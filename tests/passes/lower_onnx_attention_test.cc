// ONNX Attention (opset 23) lowered at import (lower_onnx_attention): every fixture of
// python/make_attention_fixtures.py (tests/data/conformance_attention, outputs from ONNX
// Runtime) through the engine with the optimizer on and off; with the optimizer on the lowered
// chain fuses into one vitrt.Attention (grouped heads too, their key/value heads repeated); what
// vitrt cannot run (a key/value cache, causal between dynamic unequal lengths) is refused naming
// the node.
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "testing/compare.h"
#include "testing/node_test_data.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(VITRT_SOURCE_DIR) / "tests/data/conformance_attention";

class OnnxAttentionAgainstOrt : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(OnnxAttentionAgainstOrt, OutputsMatch) {
  const auto& [name, optimize] = GetParam();
  BuildOptions options;
  options.optimize = optimize;
  std::string log;
  options.log = [&](const std::string& line) { log += line + "\n"; };
  Result<std::shared_ptr<Engine>> engine =
      Engine::from_onnx((kData / name / "model.onnx").string(), options);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  EXPECT_NE(log.find("lowered 1 ONNX Attention node(s)"), std::string::npos) << log;
  Result<testing::NodeTestData> data =
      testing::read_node_test_data(kData / name / "test_data_set_0");
  ASSERT_TRUE(data.ok()) << data.status().to_string();
  Result<std::vector<NamedTensor>> out = (*engine)->create_context()->run(data->inputs);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(data->outputs.size(), 1u);
  ASSERT_EQ(out->size(), 1u);
  EXPECT_TRUE(testing::tensors_close((*out)[0].tensor, data->outputs[0], {1e-5, 1e-6}));
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, OnnxAttentionAgainstOrt,
    ::testing::Combine(::testing::Values("test_attention_4d", "test_attention_4d_scale_cross",
                                         "test_attention_4d_float_mask",
                                         "test_attention_4d_bool_mask", "test_attention_4d_causal",
                                         "test_attention_4d_causal_cross",
                                         "test_attention_4d_merged",
                                         "test_attention_4d_merged_causal", "test_attention_4d_gqa",
                                         "test_attention_4d_softcap", "test_attention_3d",
                                         "test_attention_3d_causal", "test_attention_3d_gqa"),
                       ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<std::string, bool>>& info) {
      return std::get<0>(info.param) + (std::get<1>(info.param) ? "_optimized" : "_unoptimized");
    });

// With the optimizer, the MatMul/Softmax/MatMul chain the lowering writes fuses into one
// vitrt.Attention where the heads are merged after it, as exporters write it (a model whose
// output is the head layout itself keeps the chain: fuse_attention fuses merged outputs only).
TEST(OnnxAttention, OptimizedPlansHoldOneFusedAttention) {
  for (const char* name :
       {"test_attention_4d_merged", "test_attention_4d_merged_causal", "test_attention_3d",
        "test_attention_3d_causal", "test_attention_3d_gqa"}) {
    SCOPED_TRACE(name);
    BuildOptions options;
    std::string log;
    options.verbose = true;
    options.log = [&](const std::string& line) { log += line + "\n"; };
    const std::string plan_path =
        (fs::temp_directory_path() / (std::string("vitrt_") + name + ".plan")).string();
    Result<BuildSummary> built =
        build_plan((kData / name / "model.onnx").string(), plan_path, options);
    ASSERT_TRUE(built.ok()) << built.status().to_string();
    fs::remove(plan_path);
    const size_t at = log.find("plan graph:");
    ASSERT_NE(at, std::string::npos) << log;
    const std::string plan = log.substr(at, log.find('\n', at) - at);
    EXPECT_NE(plan.find("vitrt.Attention x1"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("Softmax"), std::string::npos) << plan;
    EXPECT_EQ(plan.find("MatMul"), std::string::npos) << plan;
  }
}

TEST(OnnxAttention, RefusesWhatVitrtCannotRunNamingTheNode) {
  const std::pair<const char*, const char*> cases[] = {
      {"refuse_past_key.onnx",
       "node 'cached' (Attention): ONNX Attention with past_key / past_value"},
      {"refuse_causal_dynamic_cross.onnx",
       "node 'cross' (Attention): ONNX Attention with is_causal over dynamic lengths and "
       "different query and key lengths"},
  };
  for (const auto& [file, message] : cases) {
    SCOPED_TRACE(file);
    const Status s = Engine::from_onnx((kData / file).string()).status();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kUnsupported);
    EXPECT_NE(s.message().find(message), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace vitrt
