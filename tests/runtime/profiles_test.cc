// Optimization profiles: parsing, grouping, checks against the model, storage in the plan and
// the run-time range check (CPU plans; CUDA plans share the same wrapper).
#include "runtime/profiles.h"

#include <gtest/gtest.h>

#include "core/npy.h"
#include "plan/plan_format.h"
#include "runtime/build_pipeline.h"
#include "testing/compare.h"
#include "testing/test_graph.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

std::string fixture(const std::string& name) {
  return std::string(VITRT_SOURCE_DIR) + "/tests/data/cli/" + name;
}

TEST(ProfilesTest, ParsesARange) {
  Result<InputRange> r =
      parse_input_range("pixel_values:min=1x3x224x224,opt=32x3x224x224,max=256x3x224x224");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->input, "pixel_values");
  EXPECT_EQ(r->min, (std::vector<int64_t>{1, 3, 224, 224}));
  EXPECT_EQ(r->opt, (std::vector<int64_t>{32, 3, 224, 224}));
  EXPECT_EQ(r->max, (std::vector<int64_t>{256, 3, 224, 224}));
  // Keys in any order; names with ':' keep all but the last.
  Result<InputRange> odd = parse_input_range("a:b:max=4x5,min=1x5,opt=2x5");
  ASSERT_TRUE(odd.ok()) << odd.status().to_string();
  EXPECT_EQ(odd->input, "a:b");
  EXPECT_EQ(odd->opt, (std::vector<int64_t>{2, 5}));
}

TEST(ProfilesTest, RejectsBadRangesWithTheInputsName) {
  const char* bad[] = {
      "x",                                  // no ranges
      "x:min=1x5,opt=2x5",                  // max missing
      "x:min=1x5,opt=2x5,max=4x5,min=1x5",  // min twice
      "x:min=1x5,opt=2x5,max=4",            // ranks differ
      "x:min=3x5,opt=2x5,max=4x5",          // min > opt
      "x:min=1x5,opt=2xq,max=4x5",          // not a number
      "x:min=1x5,opt=-2x5,max=4x5",         // negative
      "x:low=1x5,opt=2x5,max=4x5",          // unknown key
  };
  for (const char* spec : bad) {
    Result<InputRange> r = parse_input_range(spec);
    EXPECT_FALSE(r.ok()) << spec;
    if (std::string(spec) != "x") {
      EXPECT_NE(r.status().message().find("'x'"), std::string::npos) << r.status().message();
    }
  }
}

TEST(ProfilesTest, TheKthRangeOfEachInputFormsProfileK) {
  std::vector<InputRange> ranges;
  for (const char* spec : {"a:min=1x5,opt=1x5,max=8x5", "b:min=1,opt=1,max=1",
                           "a:min=9x5,opt=32x5,max=64x5", "b:min=2,opt=2,max=2"}) {
    ranges.push_back(*parse_input_range(spec));
  }
  Result<std::vector<OptimizationProfile>> p = group_profiles(ranges);
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[1].inputs[0].opt, (std::vector<int64_t>{32, 5}));
  EXPECT_EQ((*p)[1].inputs[1].opt, (std::vector<int64_t>{2}));
  ranges.pop_back();
  EXPECT_FALSE(group_profiles(ranges).ok());
}

TEST(ProfilesTest, FormatAndParseRoundTrip) {
  std::vector<InputRange> ranges;
  for (const char* spec : {"a:min=1x5,opt=1x5,max=8x5", "b:min=1,opt=1,max=1",
                           "a:min=9x5,opt=32x5,max=64x5", "b:min=2,opt=2,max=3"}) {
    ranges.push_back(*parse_input_range(spec));
  }
  const std::vector<OptimizationProfile> p = *group_profiles(ranges);
  const std::string text = format_profiles(p);
  Result<std::vector<OptimizationProfile>> back = parse_profiles(text);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(format_profiles(*back), text);
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].inputs[1].max, (std::vector<int64_t>{3}));
}

TEST(ProfilesTest, SelectsTheFirstProfileThatFitsAndNamesTheInputOtherwise) {
  std::vector<InputRange> ranges = {*parse_input_range("x:min=1x5,opt=1x5,max=8x5"),
                                    *parse_input_range("x:min=9x5,opt=32x5,max=64x5")};
  const std::vector<OptimizationProfile> p = *group_profiles(ranges);
  auto run = [&](int64_t batch) {
    return select_profile(p, {{"x", Tensor::zeros(DType::kFloat32, {batch, 5})}});
  };
  EXPECT_EQ(*run(1), 0);
  EXPECT_EQ(*run(8), 0);
  EXPECT_EQ(*run(9), 1);
  EXPECT_EQ(*run(64), 1);
  Result<int> out = run(65);
  ASSERT_FALSE(out.ok());
  const std::string msg = out.status().message();
  EXPECT_NE(msg.find("input 'x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[65, 5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("profile 0: min 1x5, max 8x5; profile 1: min 9x5, max 64x5"),
            std::string::npos)
      << msg;
}

TEST(ProfilesTest, CpuPlanStoresProfilesAndRefusesInputsOutsideThem) {
  const std::string plan_path = ::testing::TempDir() + "/profiles_tiny_matmul.plan";
  BuildOptions options;
  options.profiles = {"x:min=1x5,opt=2x5,max=4x5", "x:min=16x5,opt=16x5,max=32x5"};
  Result<BuildSummary> built = build_plan(fixture("tiny_matmul.onnx"), plan_path, options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  Result<LoadedPlan> plan = read_plan_file(plan_path);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->metadata.build_options.at(kProfilesMetadataKey),
            "x:min=1x5,opt=2x5,max=4x5|x:min=16x5,opt=16x5,max=32x5");

  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan_path);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
  for (int64_t batch : {1, 4, 16, 32}) {
    Result<std::vector<NamedTensor>> out =
        ctx->run({{"x", Tensor::zeros(DType::kFloat32, {batch, 5})}});
    EXPECT_TRUE(out.ok()) << batch << ": " << out.status().to_string();
  }
  for (int64_t batch : {5, 33}) {
    Result<std::vector<NamedTensor>> out =
        ctx->run({{"x", Tensor::zeros(DType::kFloat32, {batch, 5})}});
    ASSERT_FALSE(out.ok()) << batch;
    EXPECT_NE(out.status().message().find("outside every optimization profile"), std::string::npos)
        << out.status().message();
  }
}

TEST(ProfilesTest, BuildRefusesProfilesThatDoNotMatchTheModel) {
  const std::string plan_path = ::testing::TempDir() + "/profiles_bad.plan";
  struct Case {
    const char* spec;
    const char* expect;
  };
  for (const Case& c : {Case{"y:min=1x5,opt=2x5,max=4x5", "does not have (inputs: x)"},
                        Case{"x:min=1,opt=2,max=4", "rank 1"},
                        Case{"x:min=1x4,opt=2x4,max=4x4", "fixes it at 5"}}) {
    BuildOptions options;
    options.profiles = {c.spec};
    Result<BuildSummary> built = build_plan(fixture("tiny_matmul.onnx"), plan_path, options);
    ASSERT_FALSE(built.ok()) << c.spec;
    EXPECT_NE(built.status().message().find(c.expect), std::string::npos)
        << built.status().message();
  }
}

// Input dims that every profile fixes (min = max, one value) are built static: CLIP text
// exported with a dynamic sequence and built for 16 tokens has a static 16 there (fewer shape
// nodes), its outputs on 16 tokens equal PyTorch's, and another length is refused by the
// profile check; a range (min < max), or two profiles fixing different values, keep the symbol.
TEST(ProfilesTest, DimsEveryProfileFixesAreBuiltStatic) {
  const std::string golden = std::string(VITRT_SOURCE_DIR) + "/tests/golden/";
  const std::string model = golden + "hf_clip_text_dynseq_sdpa_dynamo/model.onnx";
  struct Case {
    std::vector<std::string> profiles;
    bool fixed;
  };
  for (const Case& c :
       {Case{{"input_ids:min=1x16,opt=2x16,max=4x16"}, true},
        Case{{"input_ids:min=1x16,opt=2x16,max=4x16", "input_ids:min=8x16,opt=8x16,max=8x16"},
             true},
        Case{{"input_ids:min=1x9,opt=2x16,max=4x16"}, false},
        Case{{"input_ids:min=1x16,opt=1x16,max=1x16", "input_ids:min=2x9,opt=2x9,max=2x9"},
             false}}) {
    SCOPED_TRACE(c.profiles[0] + (c.profiles.size() > 1 ? " | " + c.profiles[1] : ""));
    BuildOptions options;
    options.profiles = c.profiles;
    Result<Graph> g = import_and_prepare(model, options, nullptr);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    const Dim& seq = g->values[g->inputs[0]].shape[1];
    EXPECT_EQ(seq.is_static(), c.fixed) << seq.to_string();
    EXPECT_FALSE(g->values[g->inputs[0]].shape[0].is_static()) << "the batch stays symbolic";
  }
  const std::string plan_path = ::testing::TempDir() + "/profiles_fixed_seq.plan";
  BuildOptions options;
  options.profiles = {"input_ids:min=1x16,opt=2x16,max=4x16"};
  Result<BuildSummary> built = build_plan(model, plan_path, options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan_path);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const std::string case0 = golden + "hf_clip_text_dynseq_sdpa_dynamo/case0/";
  Result<Tensor> ids = read_npy(case0 + "input.input_ids.npy");
  Result<Tensor> want = read_npy(case0 + "output.0.text_embeds.npy");
  ASSERT_TRUE(ids.ok() && want.ok());
  ASSERT_EQ(ids->dim(1), 16);
  std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
  Result<std::vector<NamedTensor>> out = ctx->run({{"input_ids", *ids}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(testing::tensors_close((*out)[0].tensor, *want, {1e-4, 1e-5}));
  Result<std::vector<NamedTensor>> other =
      ctx->run({{"input_ids", Tensor::zeros(DType::kInt64, {1, 9})}});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("outside every optimization profile"), std::string::npos)
      << other.status().message();
}

// A range profile over height and width (one plan for many resolutions): DINOv2 and DINOv3
// exported with dynamic batch, height and width have (height//8)*(width//8) + 1 (+ 2 registers)
// tokens, which shape inference and the importer (reading dynamo's value_info) both keep as
// that polynomial, so the patch embedding, the attention and DINOv3's rope fuse as they do at a
// static size; the plan matches PyTorch at two resolutions, one of them no multiple of the
// patch (ONNX Runtime agrees with PyTorch on both: make_fixtures.py checks it).
TEST(ProfilesTest, RangeOverHeightAndWidthFusesTheSymbolicTokenCount) {
  struct Case {
    std::string fixture;
    std::string tokens;
    int rotary;
  };
  for (const Case& c : {Case{"hf_dinov2_dynhw_sdpa_dynamo", "(height//8)*(width//8)+1", 0},
                        Case{"hf_dinov3_dynhw_sdpa_dynamo", "(height//8)*(width//8)+3", 4}}) {
    SCOPED_TRACE(c.fixture);
    const std::string dir = std::string(VITRT_SOURCE_DIR) + "/tests/golden/" + c.fixture + "/";
    BuildOptions options;
    options.profiles = {"pixel_values:min=1x3x16x16,opt=2x3x48x48,max=4x3x72x72"};
    Result<Graph> g = import_and_prepare(dir + "model.onnx", options, nullptr);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    EXPECT_EQ(testing::count_ops(*g, "Softmax"), 0);
    EXPECT_EQ(testing::count_ops(*g, "MatMul"), 0);
    EXPECT_EQ(testing::count_ops(*g, "Conv"), 0);
    EXPECT_EQ(testing::count_ops(*g, "Attention"), 2);
    EXPECT_EQ(testing::count_ops(*g, "Patchify"), 1);
    EXPECT_EQ(testing::count_ops(*g, "RotaryEmbedding"), c.rotary);
    // DINOv2's all-visible mask, Where(arange(tokens) >= 0, 0, -inf), hides nothing at any
    // size: dropped, as it is when the size is static.
    EXPECT_EQ(testing::count_ops(*g, "Where"), 0);
    const Value& hidden = g->values[g->outputs[0]];
    EXPECT_EQ(sym_shape_to_string(hidden.shape), "[batch, " + c.tokens + ", 32]");

    const std::string plan_path = ::testing::TempDir() + "/profiles_dynamic_hw.plan";
    Result<BuildSummary> built = build_plan(dir + "model.onnx", plan_path, options);
    ASSERT_TRUE(built.ok()) << built.status().to_string();
    Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan_path);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    std::unique_ptr<ExecutionContext> ctx = (*engine)->create_context();
    for (const char* k : {"case0", "case1"}) {
      SCOPED_TRACE(k);
      const std::string case_dir = dir + k + "/";
      Result<Tensor> pixels = read_npy(case_dir + "input.pixel_values.npy");
      Result<Tensor> hidden_want = read_npy(case_dir + "output.0.last_hidden_state.npy");
      Result<Tensor> pooled_want = read_npy(case_dir + "output.1.pooler_output.npy");
      ASSERT_TRUE(pixels.ok() && hidden_want.ok() && pooled_want.ok());
      Result<std::vector<NamedTensor>> out = ctx->run({{"pixel_values", *pixels}});
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      ASSERT_EQ(out->size(), 2u);
      EXPECT_TRUE(testing::tensors_close_to_scale((*out)[0].tensor, *hidden_want, 1e-4));
      EXPECT_TRUE(testing::tensors_close_to_scale((*out)[1].tensor, *pooled_want, 1e-4));
    }
  }
}

}  // namespace
}  // namespace vitrt
