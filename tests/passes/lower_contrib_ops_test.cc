// lower_contrib_ops: models ONNX Runtime optimized and saved (tests/data/ort_contrib, made by
// python/make_ort_contrib_fixtures.py: its transformers optimizer, InferenceSession saves with
// ORT_ENABLE_EXTENDED, a quantize_dynamic model saved that way) hold com.microsoft ops;
// vitrt lowers them to standard ops at import and matches ONNX Runtime's outputs on each, with
// and without the optimizer. What the lowering cannot express is refused with the node's name.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>

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
  // ... and the attentions among them (ONNX Runtime's or the exporter's) become vitrt.Attention.
  EXPECT_EQ(built->ops_after.count("Softmax"), 0u);
  if (std::find(contrib.begin(), contrib.end(), "Attention") != contrib.end() ||
      std::find(contrib.begin(), contrib.end(), "QAttention") != contrib.end() ||
      std::find(contrib.begin(), contrib.end(), "MultiHeadAttention") != contrib.end()) {
    EXPECT_GE(built->ops_after.count("vitrt.Attention"), 1u);
  }
  fs::remove(plan);
}

INSTANTIATE_TEST_SUITE_P(OnnxRuntimeSaves, OrtOptimizedModels,
                         ::testing::Values("vit_transformers_optimizer", "hf_vit_session_extended",
                                           "hf_vit_dynamic_session", "clip_text_optimizer",
                                           "clip_vision_optimizer", "clip_vision_qattention"));

// One com.microsoft.Attention or MultiHeadAttention node a model, in each form ONNX Runtime
// defines (masks, attention_bias, unidirectional, scale, qkv_hidden_sizes, packed and
// heads-layout inputs). ONNX Runtime's CPU output is the reference; for the packed inputs, which
// its CPU kernel lacks, its output on the same tensors unpacked.
INSTANTIATE_TEST_SUITE_P(
    ContribAttention, OrtOptimizedModels,
    ::testing::Values("ms_attention_plain", "ms_attention_raw_mask", "ms_attention_end_positions",
                      "ms_attention_end_start_positions", "ms_attention_3d_mask_bias_causal",
                      "ms_attention_sizes_scale", "ms_mha_cross_bias_mask", "ms_mha_self_causal",
                      "ms_mha_packed_qkv", "ms_mha_packed_kv", "ms_mha_heads_layout_kv"));

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

// com.microsoft Attention and MultiHeadAttention forms vitrt.Attention cannot express (a
// decoder's cache, rotary embeddings, Megatron masks, ...) and masks whose form the file leaves
// open: an error naming the node and what was found, never a guess.
TEST(LowerContribOps, RefusesAttentionFormsItCannotExpress) {
  struct Case {
    const char* op;
    const char* what;  // expected in the message
    std::function<std::vector<ValueId>(TestGraph&, ValueId x)> extra_inputs;
    Attributes attrs;
    int outputs = 1;
  };
  auto attrs = [](std::initializer_list<std::pair<const char*, int64_t>> ints) {
    Attributes a;
    a.set_int("num_heads", 2);
    for (const auto& [k, v] : ints) a.set_int(k, v);
    return a;
  };
  auto weights = [](TestGraph& g) {
    return g.constant(
        "w", Tensor::from_float(std::vector<float>(8 * 24, 0.1f)).reshaped({8, 24}).value());
  };
  const std::vector<Case> cases = {
      {"Attention", "past",
       [&](TestGraph& g, ValueId) {
         const ValueId past =
             g.input("past", DType::kFloat32, {Dim(2), Dim(2), Dim(2), Dim(3), Dim(4)});
         return std::vector<ValueId>{weights(g), kNoValue, kNoValue, past};
       },
       attrs({})},
      {"Attention", "do_rotary",
       [&](TestGraph& g, ValueId) { return std::vector<ValueId>{weights(g)}; },
       attrs({{"do_rotary", 1}})},
      {"Attention", "present output",
       [&](TestGraph& g, ValueId) { return std::vector<ValueId>{weights(g)}; }, attrs({}), 2},
      {"Attention", "4-D (Megatron)",
       [&](TestGraph& g, ValueId) {
         const ValueId m = g.input("m", DType::kInt32, {Dim(2), Dim(1), Dim(3), Dim(3)});
         return std::vector<ValueId>{weights(g), kNoValue, m};
       },
       attrs({})},
      {"Attention", "mask_index rank the file does not say",
       [&](TestGraph& g, ValueId x) {
         // A mask computed inside the graph, whose rank is known only after shape inference.
         const ValueId m = g.op("Shape", {x});
         return std::vector<ValueId>{weights(g), kNoValue, g.op("Abs", {m})};
       },
       attrs({})},
      {"Attention", "qkv_hidden_sizes",
       [&](TestGraph& g, ValueId) { return std::vector<ValueId>{weights(g)}; },
       [&] {
         Attributes a = attrs({});
         a.set_ints("qkv_hidden_sizes", {8, 4, 12});
         return a;
       }()},
      {"QAttention", "past",
       [&](TestGraph& g, ValueId) {
         const ValueId past =
             g.input("past", DType::kFloat32, {Dim(2), Dim(2), Dim(2), Dim(3), Dim(4)});
         const ValueId one = g.constant("one", Tensor::from_float({1.0f}, true));
         const ValueId bias =
             g.constant("qkv_bias", Tensor::from_float(std::vector<float>(24, 0.0f)));
         return std::vector<ValueId>{weights(g), bias,     one,      one,
                                     kNoValue,   kNoValue, kNoValue, past};
       },
       attrs({})},
      {"MultiHeadAttention", "key_padding_mask of rank 1",
       [&](TestGraph& g, ValueId x) {
         const ValueId m = g.input("m", DType::kInt32, {Dim(2)});
         return std::vector<ValueId>{x, x, kNoValue, m};
       },
       attrs({})},
      {"MultiHeadAttention", "bias and a packed query",
       [&](TestGraph& g, ValueId) {
         const ValueId b = g.constant("b", Tensor::from_float(std::vector<float>(24, 0.0f)));
         return std::vector<ValueId>{kNoValue, kNoValue, b};
       },
       attrs({})},
      {"MultiHeadAttention", "cache",
       [&](TestGraph& g, ValueId x) {
         const ValueId pk = g.input("pk", DType::kFloat32, {Dim(2), Dim(2), Dim(3), Dim(4)});
         return std::vector<ValueId>{x, x, kNoValue, kNoValue, kNoValue, pk, pk};
       },
       attrs({})},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.op) + ": " + c.what);
    TestGraph g;
    const ValueId x = g.input("x", DType::kFloat32, {Dim(2), Dim(3), Dim(8)});
    std::vector<ValueId> in = {x};
    for (ValueId v : c.extra_inputs(g, x)) in.push_back(v);
    const std::vector<ValueId> out =
        g.op_multi(c.op, in, c.outputs, c.attrs, "com.microsoft", "attn_node");
    for (ValueId o : out) g.output(o);
    testing::PassResult r = testing::run_pass(lower_contrib_ops, g.graph());
    ASSERT_FALSE(r.status.ok());
    EXPECT_NE(r.status.message().find("'attn_node'"), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find(c.what), std::string::npos) << r.status.message();
  }
}

// com.microsoft QLinear ops (quantize_static's QOperator format) in forms the QDQ lowering
// cannot express: an error naming the node. (The forms taken run in
// tests/cpu/integer_ops_test.cc against ONNX Runtime.)
TEST(LowerContribOps, RefusesQLinearFormsItCannotExpress) {
  struct Case {
    const char* op;
    Attributes attrs;
    const char* what;
    bool output_zero_point = true;
  };
  Attributes nhwc;
  nhwc.set_int("channels_last", 1);
  Attributes old_softmax;
  old_softmax.set_int("opset", 11);
  old_softmax.set_int("axis", 1);
  const std::vector<Case> cases = {
      {"QLinearGlobalAveragePool", nhwc, "channels_last"},
      {"QLinearSoftmax", old_softmax, "opset 11 over axis 1"},
      {"QLinearSigmoid", {}, "output zero point is omitted", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    TestGraph g;
    // x's 8-bit type is unknown here: it comes out of an op, not from the file.
    const ValueId raw = g.input("raw", DType::kUInt8, {Dim(1), Dim(4), Dim(2), Dim(2)});
    const ValueId x = g.op("Identity", {raw});
    g.graph().values[x].dtype = DType::kUndefined;
    const ValueId scale = g.constant("scale", Tensor::from_float({0.5f}, true));
    std::vector<ValueId> in = {x, scale, kNoValue, scale};
    if (c.output_zero_point) in.push_back(g.constant("zp", Tensor::zeros(DType::kUInt8, {})));
    g.output(g.op(c.op, in, c.attrs, "com.microsoft", "qnode"));
    testing::PassResult r = testing::run_pass(lower_contrib_ops, g.graph());
    ASSERT_FALSE(r.status.ok());
    EXPECT_NE(r.status.message().find("'qnode'"), std::string::npos) << r.status.message();
    EXPECT_NE(r.status.message().find(c.what), std::string::npos) << r.status.message();
  }
}

}  // namespace
}  // namespace vitrt
