// Build-time tactic selection on the GPU: a plan whose Linear nodes carry timed cuBLASLt
// algorithms gives the PyTorch outputs and the heuristic path's outputs; a timing cache makes
// the rebuild skip the timing; a stored algorithm that does not fit falls back to the heuristic.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/npy.h"
#include "cuda/cuda_kernel.h"
#include "cuda/cudnn_attention.h"
#include "cuda/cudnn_conv.h"
#include "cuda_test_util.h"
#include "plan/plan_format.h"
#include "runtime/device_backends.h"
#include "testing/test_graph.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt::testing {
namespace {

namespace fs = std::filesystem;

fs::path golden_root() {
  const char* env = std::getenv("VITRT_GOLDEN_DIR");
  return env != nullptr ? fs::path(env) : fs::path(VITRT_SOURCE_DIR) / "tests" / "golden";
}

struct Built {
  std::string plan;
  std::string log;
};

Result<Built> build(const std::string& fixture, const std::string& tag,
                    const std::vector<std::string>& profiles, const std::string& cache,
                    bool exact_gelu = false) {
  Built b;
  b.plan =
      (fs::temp_directory_path() / ("vitrt_tactics_" + fixture + "_" + tag + ".plan")).string();
  BuildOptions options;
  options.device = "cuda";
  options.precision = "fp16";
  options.profiles = profiles;
  options.timing_cache = cache;
  options.exact_gelu = exact_gelu;
  options.log = [&](const std::string& line) { b.log += line + "\n"; };
  VITRT_RETURN_IF_ERROR(
      build_plan((golden_root() / fixture / "model.onnx").string(), b.plan, options).status());
  return b;
}

Result<std::vector<Tensor>> run_engine(const Engine& engine, const std::vector<NamedTensor>& in) {
  std::unique_ptr<ExecutionContext> ctx = engine.create_context();
  VITRT_ASSIGN_OR_RETURN(std::vector<NamedTensor> out, ctx->run(in));
  std::vector<Tensor> t;
  for (NamedTensor& o : out) t.push_back(std::move(o.tensor));
  return t;
}

std::vector<NamedTensor> case_inputs(const std::string& fixture, const std::string& input) {
  Result<Tensor> t =
      read_npy((golden_root() / fixture / "case0" / ("input." + input + ".npy")).string());
  if (!t.ok()) return {};
  return {{input, *t}};
}

// The plan's graph with every stored tactic replaced by `tactics` (none: heuristic).
Result<std::shared_ptr<Engine>> engine_with_tactics(const std::string& plan_path,
                                                    const std::vector<int64_t>* tactics) {
  VITRT_ASSIGN_OR_RETURN(LoadedPlan plan, read_plan_file(plan_path));
  for (Node& n : plan.graph.nodes) {
    if (!n.attrs.has(cuda::kGemmTacticsAttr)) continue;
    if (tactics == nullptr) {
      n.attrs.erase(cuda::kGemmTacticsAttr);
    } else {
      n.attrs.set_ints(cuda::kGemmTacticsAttr, *tactics);
    }
  }
  cuda::CudaEngineOptions options;
  options.precision = "fp16";
  return cuda::create_cuda_engine(std::move(plan.graph), options);
}

// The plan's graph with the attribute `attr` of every `op_type` node replaced by `ints` (none:
// the attribute removed, i.e. the kernel's choice without a timed tactic).
Result<std::shared_ptr<Engine>> engine_with_node_attr(const std::string& plan_path,
                                                      const std::string& op_type, const char* attr,
                                                      const std::vector<int64_t>* ints) {
  VITRT_ASSIGN_OR_RETURN(LoadedPlan plan, read_plan_file(plan_path));
  for (Node& n : plan.graph.nodes) {
    if (n.op_type != op_type) continue;
    if (ints == nullptr) {
      n.attrs.erase(attr);
    } else {
      n.attrs.set_ints(attr, *ints);
    }
  }
  cuda::CudaEngineOptions options;
  options.precision = "fp16";
  return cuda::create_cuda_engine(std::move(plan.graph), options);
}

// Every Attention node's stored implementation choice replaced (none: vitrt's kernel).
Result<std::shared_ptr<Engine>> engine_with_attention(const std::string& plan_path,
                                                      const std::vector<int64_t>* ints) {
  return engine_with_node_attr(plan_path, "Attention", cuda::kAttentionTacticsAttr, ints);
}

int attention_nodes_with_tactics(const std::string& plan_path) {
  Result<LoadedPlan> plan = read_plan_file(plan_path);
  int n = 0;
  if (!plan.ok()) return -1;
  for (const Node& node : plan->graph.nodes) {
    n += node.op_type == "Attention" && node.attrs.has(cuda::kAttentionTacticsAttr) ? 1 : 0;
  }
  return n;
}

int nodes_with_tactics(const std::string& plan_path) {
  Result<LoadedPlan> plan = read_plan_file(plan_path);
  int n = 0;
  if (!plan.ok()) return -1;
  for (const Node& node : plan->graph.nodes) n += node.attrs.has(cuda::kGemmTacticsAttr) ? 1 : 0;
  return n;
}

// Needs no GPU: the plan attribute that carries tactics.
TEST(CudaTacticsAttr, EncodeDecodeRoundTripAndRejectsDamage) {
  std::vector<cuda::GemmTactic> tactics(2);
  tactics[0].m = 197;
  tactics[0].mode = 1;
  tactics[1].m = 50432;
  tactics[1].fast_accum = true;  // bit 3 of the stored mode
  for (int w = 0; w < 8; ++w) {
    tactics[0].algo.data[w] = 0x0123456789abcdefull * static_cast<uint64_t>(w + 1);
    tactics[1].algo.data[w] = ~0ull - static_cast<uint64_t>(w);  // negative as int64
  }
  const std::vector<int64_t> ints = cuda::encode_gemm_tactics(tactics);
  ASSERT_EQ(ints.size(), 20u);
  Result<std::vector<cuda::GemmTactic>> back = cuda::decode_gemm_tactics(ints);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*back)[i].m, tactics[i].m);
    EXPECT_EQ((*back)[i].mode, tactics[i].mode);
    EXPECT_EQ((*back)[i].fast_accum, tactics[i].fast_accum);
    for (int w = 0; w < 8; ++w) EXPECT_EQ((*back)[i].algo.data[w], tactics[i].algo.data[w]);
  }
  std::vector<int64_t> cut(ints.begin(), ints.end() - 1);
  EXPECT_FALSE(cuda::decode_gemm_tactics(cut).ok());
  std::vector<int64_t> bad_mode = ints;
  bad_mode[1] = 3;
  EXPECT_FALSE(cuda::decode_gemm_tactics(bad_mode).ok());
  // Mode 3 is QuantLinear's (16-bit D, then the E4M3 pass): it decodes only when allowed.
  EXPECT_TRUE(cuda::decode_gemm_tactics(bad_mode, 3).ok());
  bad_mode[1] = 4;
  EXPECT_FALSE(cuda::decode_gemm_tactics(bad_mode, 3).ok());
  // Fast accumulation (8) over mode 3 decodes as mode 3; a bit above it, or a negative mode,
  // does not.
  EXPECT_EQ(ints[11], 8);
  bad_mode[1] = 8 + 3;
  ASSERT_TRUE(cuda::decode_gemm_tactics(bad_mode, 3).ok());
  EXPECT_EQ(cuda::decode_gemm_tactics(bad_mode, 3)->front().mode, 3);
  EXPECT_TRUE(cuda::decode_gemm_tactics(bad_mode, 3)->front().fast_accum);
  for (int64_t bad : {16 + 3, -1}) {
    bad_mode[1] = bad;
    EXPECT_FALSE(cuda::decode_gemm_tactics(bad_mode, 3).ok()) << bad;
  }
  std::vector<int64_t> bad_m = ints;
  bad_m[10] = 0;
  EXPECT_FALSE(cuda::decode_gemm_tactics(bad_m).ok());
}

// Needs no GPU: the plan attribute that carries Attention nodes' implementation choices.
TEST(CudaTacticsAttr, AttentionChoicesRoundTripAndRejectDamage) {
  const std::vector<cuda::AttentionTactic> tactics = {{1, cuda::kAttentionOwn},
                                                      {256, cuda::kAttentionCudnn}};
  const std::vector<int64_t> ints = cuda::encode_attention_tactics(tactics);
  ASSERT_EQ(ints, (std::vector<int64_t>{1, 0, 256, 1}));
  Result<std::vector<cuda::AttentionTactic>> back = cuda::decode_attention_tactics(ints);
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].batch, 256);
  EXPECT_EQ((*back)[1].impl, cuda::kAttentionCudnn);
  EXPECT_FALSE(cuda::decode_attention_tactics({1, 0, 256}).ok());
  EXPECT_FALSE(cuda::decode_attention_tactics({1, 2}).ok());
  EXPECT_FALSE(cuda::decode_attention_tactics({0, 1}).ok());
}

class CudaTactics : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaTactics, TunedPlanMatchesTheHeuristicPathAndPyTorch) {
  VITRT_REQUIRE_GPU();
  const std::string fixture = GetParam();
  const std::vector<NamedTensor> inputs = case_inputs(fixture, "pixel_values");
  ASSERT_FALSE(inputs.empty());
  const int64_t batch = inputs[0].tensor.shape()[0];
  const std::string dims = [&] {
    std::string s;
    for (size_t d = 1; d < inputs[0].tensor.shape().size(); ++d) {
      s += "x" + std::to_string(inputs[0].tensor.shape()[d]);
    }
    return s;
  }();
  // Two profiles: batch 1..2 (opt 1) and 3..16 (opt 8).
  Result<Built> b = build(fixture, "tuned",
                          {"pixel_values:min=1" + dims + ",opt=1" + dims + ",max=2" + dims,
                           "pixel_values:min=3" + dims + ",opt=8" + dims + ",max=16" + dims},
                          "");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_NE(b->log.find("GEMM problems timed"), std::string::npos) << b->log;
  EXPECT_GT(nodes_with_tactics(b->plan), 0) << b->log;

  Result<std::shared_ptr<Engine>> tuned = Engine::load_plan(b->plan);
  ASSERT_TRUE(tuned.ok()) << tuned.status().to_string();
  Result<std::shared_ptr<Engine>> heuristic = engine_with_tactics(b->plan, nullptr);
  ASSERT_TRUE(heuristic.ok()) << heuristic.status().to_string();
  Result<std::vector<Tensor>> a = run_engine(**tuned, inputs);
  Result<std::vector<Tensor>> h = run_engine(**heuristic, inputs);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  Result<Tensor> torch_out =
      read_npy((golden_root() / fixture / "case0" / "output.0.logits.npy").string());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_TRUE(outputs_agree((*a)[i], (*h)[i], "fp16", 1e-4, 0.9999, 0.05)) << "output " << i;
  }
  if (torch_out.ok()) {
    EXPECT_TRUE(outputs_agree((*a)[0], *torch_out, "fp16", 1e-4, 0.9999, 0.05));
  }
  // Attention: every node carries its timed choice (vitrt's kernel or cuDNN's); forcing either
  // for both batch sizes gives the same outputs as the tuned plan and PyTorch (cuDNN forced
  // where it cannot load runs vitrt's kernel: the same function).
  EXPECT_GT(attention_nodes_with_tactics(b->plan), 0) << b->log;
  EXPECT_NE(b->log.find("Attention nodes carry tactics"), std::string::npos) << b->log;
  const std::vector<int64_t> all_cudnn = {1, cuda::kAttentionCudnn, 8, cuda::kAttentionCudnn};
  for (const std::vector<int64_t>* forced :
       {&all_cudnn, static_cast<const std::vector<int64_t>*>(nullptr)}) {
    Result<std::shared_ptr<Engine>> e = engine_with_attention(b->plan, forced);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    Result<std::vector<Tensor>> r = run_engine(**e, inputs);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    for (size_t i = 0; i < r->size(); ++i) {
      EXPECT_TRUE(outputs_agree((*r)[i], (*a)[i], "fp16", 1e-4, 0.9999, 0.05))
          << (forced != nullptr ? "cuDNN" : "vitrt") << " attention, output " << i;
    }
    if (torch_out.ok()) {
      EXPECT_TRUE(outputs_agree((*r)[0], *torch_out, "fp16", 1e-4, 0.9999, 0.05));
    }
  }
  // Outside both profiles: refused, naming the input.
  if (batch <= 16) {
    Tensor big = Tensor::zeros(DType::kFloat32, [&] {
      std::vector<int64_t> s = inputs[0].tensor.shape();
      s[0] = 17;
      return s;
    }());
    std::unique_ptr<ExecutionContext> ctx = (*tuned)->create_context();
    Result<std::vector<NamedTensor>> out = ctx->run({{"pixel_values", big}});
    ASSERT_FALSE(out.ok());
    EXPECT_NE(out.status().message().find("'pixel_values'"), std::string::npos)
        << out.status().message();
  }
  // A stored algorithm that is not valid (zeroed opaque data) falls back to the heuristic.
  std::vector<int64_t> zeroed(10, 0);
  zeroed[0] = 197;
  Result<std::shared_ptr<Engine>> bad = engine_with_tactics(b->plan, &zeroed);
  ASSERT_TRUE(bad.ok()) << bad.status().to_string();
  Result<std::vector<Tensor>> z = run_engine(**bad, inputs);
  ASSERT_TRUE(z.ok()) << z.status().to_string();
  for (size_t i = 0; i < z->size(); ++i) {
    EXPECT_TRUE(outputs_agree((*z)[i], (*h)[i], "fp16", 1e-4, 0.9999, 0.05)) << "output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(golden, CudaTactics,
                         ::testing::Values("timm_vit_tiny_ts17", "hf_clip_vision_sdpa_ts17",
                                           "hf_deit_distilled_sdpa_ts17"));

// A batch that cuDNN's attention takes runs as power-of-two chunks, each with its own plan
// (7 = 4 + 2 + 1): odd batch sizes give vitrt's kernel's outputs, and batches 3, 5, 6 and 7
// share those three plans per attention form instead of building one per size (about half a
// second each).
TEST(CudaTactics, CudnnAttentionRunsOddBatchesAsSharedPowerOfTwoPlans) {
  VITRT_REQUIRE_GPU();
  const std::string fixture = "timm_vit_tiny_ts17";
  const std::vector<NamedTensor> inputs = case_inputs(fixture, "pixel_values");
  ASSERT_FALSE(inputs.empty());
  std::vector<int64_t> shape = inputs[0].tensor.shape();
  std::string dims;
  for (size_t d = 1; d < shape.size(); ++d) dims += "x" + std::to_string(shape[d]);
  Result<Built> b = build(fixture, "chunks",
                          {"pixel_values:min=1" + dims + ",opt=8" + dims + ",max=8" + dims}, "");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  const std::vector<int64_t> cudnn_everywhere = {8, cuda::kAttentionCudnn};
  Result<std::shared_ptr<Engine>> forced = engine_with_attention(b->plan, &cudnn_everywhere);
  Result<std::shared_ptr<Engine>> own = engine_with_attention(b->plan, nullptr);
  ASSERT_TRUE(forced.ok()) << forced.status().to_string();
  ASSERT_TRUE(own.ok()) << own.status().to_string();
  std::unique_ptr<ExecutionContext> fctx = (*forced)->create_context();
  std::unique_ptr<ExecutionContext> octx = (*own)->create_context();
  const size_t plans_before = cuda::cudnn_attention_plans_built();
  for (int64_t batch : {7, 5, 6, 3}) {
    shape[0] = batch;
    const std::vector<NamedTensor> in = {
        {"pixel_values", random_tensor(DType::kFloat32, shape, static_cast<uint64_t>(batch))}};
    Result<std::vector<NamedTensor>> f = fctx->run(in);
    Result<std::vector<NamedTensor>> o = octx->run(in);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    ASSERT_TRUE(o.ok()) << o.status().to_string();
    for (size_t i = 0; i < f->size(); ++i) {
      EXPECT_TRUE(outputs_agree((*f)[i].tensor, (*o)[i].tensor, "fp16", 1e-4, 0.9999, 0.05))
          << "batch " << batch << ", output " << i;
    }
  }
  // Without cuDNN on the machine the forced choice runs vitrt's kernel and builds nothing.
  // Three plans per attention form: the full one, and the last layer's, which select_query_rows
  // gives the class token's query row alone (its keys and values whole).
  const size_t forms = 2;
  const size_t expected = cuda::cudnn_attention_unavailable().empty() ? 3u * forms : 0u;
  EXPECT_EQ(cuda::cudnn_attention_plans_built() - plans_before, expected);
}

TEST(CudaTacticsCache, RebuildTakesEveryChoiceFromTheCache) {
  VITRT_REQUIRE_GPU();
  const std::string cache = (fs::temp_directory_path() / "vitrt_tactics_test.cache").string();
  std::error_code ec;
  fs::remove(cache, ec);
  Result<Built> first = build("timm_vit_tiny_ts17", "cache1", {}, cache);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  EXPECT_NE(first->log.find(" 0 from the timing cache"), std::string::npos) << first->log;
  EXPECT_TRUE(fs::exists(cache));
  Result<Built> second = build("timm_vit_tiny_ts17", "cache2", {}, cache);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  EXPECT_NE(second->log.find(": 0 GEMM problems timed"), std::string::npos) << second->log;
  EXPECT_EQ(nodes_with_tactics(first->plan), nodes_with_tactics(second->plan));
  // A damaged cache is ignored with a warning, and the build still times and succeeds.
  { std::ofstream(cache, std::ios::trunc) << "garbage"; }
  Result<Built> third = build("timm_vit_tiny_ts17", "cache3", {}, cache);
  ASSERT_TRUE(third.ok()) << third.status().to_string();
  EXPECT_NE(third->log.find("ignored"), std::string::npos) << third->log;
  EXPECT_EQ(third->log.find(": 0 GEMM problems timed"), std::string::npos) << third->log;
}

// Needs no GPU: the plan attribute that carries ChannelsLastConv nodes' choices.
TEST(CudaTacticsAttr, ConvChoicesRoundTripAndRejectDamage) {
  const std::vector<cuda::ConvTactic> tactics = {{1, cuda::kConvOwn, -1, 0},
                                                 {256, cuda::kConvCudnn, 42, 3}};
  Result<std::vector<cuda::ConvTactic>> back =
      cuda::decode_conv_tactics(cuda::encode_conv_tactics(tactics));
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].impl, cuda::kConvOwn);
  EXPECT_EQ((*back)[1].batch, 256);
  EXPECT_EQ((*back)[1].engine, 42);
  EXPECT_EQ((*back)[1].ordinal, 3);
  EXPECT_FALSE(cuda::decode_conv_tactics({1, 1, -1}).ok());     // not quadruples
  EXPECT_FALSE(cuda::decode_conv_tactics({0, 1, -1, 0}).ok());  // batch 0
  EXPECT_FALSE(cuda::decode_conv_tactics({1, 2, -1, 0}).ok());  // no such implementation
  EXPECT_FALSE(cuda::decode_conv_tactics({1, 1, -2, 0}).ok());  // engine below -1
  EXPECT_FALSE(cuda::decode_conv_tactics({1, 1, 5, -1}).ok());  // ordinal below 0
}

// Every ChannelsLastConv node's stored choice replaced (none: cuDNN's heuristic first where
// cuDNN takes the problem).
Result<std::shared_ptr<Engine>> engine_with_conv(const std::string& plan_path,
                                                 const std::vector<int64_t>* ints) {
  return engine_with_node_attr(plan_path, "ChannelsLastConv", cuda::kConvTacticsAttr, ints);
}

// ResNet's dense convolutions (the RGB stem padded to 8 channels for cuDNN, 3x3 and strided
// 1x1 ones) carry a timed choice between cuDNN's fastest engine and vitrt's im2col + cuBLASLt
// path; the tuned plan, each path forced, and a stored engine this cuDNN does not offer (the
// heuristic's first runs instead) all give PyTorch's outputs; a rebuild takes every choice from
// the timing cache.
TEST(CudaTacticsConv, DenseConvolutionsCarryTimedChoices) {
  VITRT_REQUIRE_GPU();
  const std::string fixture = "timm_resnet_ts17";
  const std::vector<NamedTensor> inputs = case_inputs(fixture, "pixel_values");
  ASSERT_FALSE(inputs.empty());
  const std::string cache = (fs::temp_directory_path() / "vitrt_tactics_conv.cache").string();
  std::error_code ec;
  fs::remove(cache, ec);
  Result<Built> b = build(fixture, "conv", {}, cache);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  Result<LoadedPlan> plan = read_plan_file(b->plan);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  int dense = 0, with_tactics = 0;
  for (const Node& n : plan->graph.nodes) {
    if (n.op_type != "ChannelsLastConv") continue;
    ++dense;
    with_tactics += n.attrs.has(cuda::kConvTacticsAttr) ? 1 : 0;
  }
  ASSERT_GT(dense, 0) << "the fixture has no channels-last convolution";
  if (!cuda::cudnn_conv_unavailable().empty()) {
    EXPECT_EQ(with_tactics, 0) << "without cuDNN there is no choice to time";
  } else {
    EXPECT_EQ(with_tactics, dense) << b->log;
    EXPECT_NE(b->log.find("ChannelsLastConv nodes carry tactics"), std::string::npos) << b->log;
  }
  Result<Tensor> torch_out =
      read_npy((golden_root() / fixture / "case0" / "output.0.logits.npy").string());
  ASSERT_TRUE(torch_out.ok()) << torch_out.status().to_string();
  Result<std::shared_ptr<Engine>> tuned = Engine::load_plan(b->plan);
  ASSERT_TRUE(tuned.ok()) << tuned.status().to_string();
  Result<std::vector<Tensor>> a = run_engine(**tuned, inputs);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE(outputs_agree((*a)[0], *torch_out, "fp16", 1e-4, 0.9999, 0.05));
  const std::vector<int64_t> own = {1, cuda::kConvOwn, -1, 0};
  const std::vector<int64_t> heuristic = {1, cuda::kConvCudnn, -1, 0};
  // An engine the build chose, in a configuration the heuristic does not list: its first runs.
  std::vector<int64_t> unknown_ordinal = {1, cuda::kConvCudnn, -1, 1000};
  for (const Node& n : plan->graph.nodes) {
    const Attribute* a = n.attrs.find(cuda::kConvTacticsAttr);
    if (a == nullptr) continue;
    Result<std::vector<cuda::ConvTactic>> t = cuda::decode_conv_tactics(a->ints);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    for (const cuda::ConvTactic& c : *t) {
      if (c.impl == cuda::kConvCudnn) unknown_ordinal[2] = c.engine;
    }
  }
  const std::vector<int64_t> unknown_engine = {1, cuda::kConvCudnn, 1000000, 0};
  const std::vector<int64_t>& ordinal_case = unknown_ordinal;
  for (const std::vector<int64_t>* forced : {&own, &heuristic, &unknown_engine, &ordinal_case,
                                             static_cast<const std::vector<int64_t>*>(nullptr)}) {
    Result<std::shared_ptr<Engine>> e = engine_with_conv(b->plan, forced);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    Result<std::vector<Tensor>> r = run_engine(**e, inputs);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_TRUE(outputs_agree((*r)[0], *torch_out, "fp16", 1e-4, 0.9999, 0.05))
        << (forced == nullptr
                ? "no tactics"
                : "forced " + std::to_string((*forced)[1]) + "/" + std::to_string((*forced)[2]));
  }
  if (!cuda::cudnn_conv_unavailable().empty()) return;
  Result<Built> again = build(fixture, "conv2", {}, cache);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_NE(again->log.find("ChannelsLastConv nodes carry tactics (0 timed"), std::string::npos)
      << again->log;
}

// --exact-gelu: no GELU layer may carry mode 2 (cuBLASLt's tanh-form epilogue), and the
// choices of a build that allows it are not reused from the timing cache.
TEST(CudaTacticsExactGelu, NoTanhFormWhenExactIsAsked) {
  VITRT_REQUIRE_GPU();
  const std::string cache = (fs::temp_directory_path() / "vitrt_tactics_exact.cache").string();
  std::error_code ec;
  fs::remove(cache, ec);
  Result<Built> approx = build("timm_vit_tiny_ts17", "approx", {}, cache);
  ASSERT_TRUE(approx.ok()) << approx.status().to_string();
  Result<Built> exact = build("timm_vit_tiny_ts17", "exact", {}, cache, true);
  ASSERT_TRUE(exact.ok()) << exact.status().to_string();
  Result<LoadedPlan> plan = read_plan_file(exact->plan);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  int gelu_layers = 0;
  for (const Node& n : plan->graph.nodes) {
    if (!n.attrs.has(cuda::kGemmTacticsAttr)) continue;
    Result<std::string> act = n.attrs.get_string("activation", "none");
    if (act.ok() && *act == "gelu") ++gelu_layers;
    Result<std::vector<int64_t>> ints = n.attrs.require_ints(cuda::kGemmTacticsAttr);
    ASSERT_TRUE(ints.ok()) << ints.status().to_string();
    Result<std::vector<cuda::GemmTactic>> t = cuda::decode_gemm_tactics(*ints, 7);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    for (const cuda::GemmTactic& g : *t) EXPECT_NE(g.mode, 2) << n.name;
  }
  EXPECT_GT(gelu_layers, 0);
  // The GELU problems were timed again rather than taken from the approximate build's entries.
  EXPECT_EQ(exact->log.find(": 0 GEMM problems timed"), std::string::npos) << exact->log;
}

// A plan whose kernels cannot run on this GPU fails its build, naming the node, instead of
// failing at its first run: the tuning run is also the build's check. Here a rank-9 integer
// ReduceSum, which the CPU computes and the CUDA backend refuses (its strided reduction holds
// 8 axes).
TEST(CudaTacticsCheck, APlanThatCannotRunFailsItsBuild) {
  VITRT_REQUIRE_GPU();
  const CudaBackendHooks* hooks = cuda_backend();
  ASSERT_NE(hooks, nullptr);
  TestGraph g(17);
  const ValueId x = g.input("x", DType::kInt64, {2, 1, 2, 1, 2, 1, 2, 1, 2});
  Attributes keep;
  keep.set_int("keepdims", 0);
  g.output(g.op("ReduceSum", {x, g.constant("axes", Tensor::from_int64({0, 4}))}, keep, "",
                "rank9_sum"));
  ASSERT_TRUE(g.infer().ok());
  // The CPU reference runs it.
  Tensor in = Tensor::zeros(DType::kInt64, {2, 1, 2, 1, 2, 1, 2, 1, 2});
  ASSERT_TRUE(run_graph(g.graph(), {in}).ok());

  PlanMetadata m;
  m.device = "cuda";
  m.precision = "fp16";
  ASSERT_TRUE(hooks->check_graph(g.graph(), m).ok());  // every node has a kernel
  TacticOptions t;
  t.shape_sets.push_back({{"x", {2, 1, 2, 1, 2, 1, 2, 1, 2}}});
  std::string log;
  t.log = [&](const std::string& line) { log += line + "\n"; };
  const Status s = hooks->select_tactics(g.graph(), m, t);
  ASSERT_FALSE(s.ok()) << log;
  EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.to_string();
  EXPECT_NE(s.message().find("rank9_sum"), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("cannot run"), std::string::npos) << s.to_string();
}

}  // namespace
}  // namespace vitrt::testing
