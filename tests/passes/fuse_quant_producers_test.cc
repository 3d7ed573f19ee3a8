// Pass fuse_quant_producers: which producer -> QuantLinear edges stay FP8 or INT8, which
// look-alikes stay float, and that the rewritten graph computes exactly what the graph before it
// did (the producer's codes are the ones the consumer's quantize step made from the fp32
// tensor).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <tuple>

#include "core/float8.h"
#include "core/npy.h"
#include "onnx/onnx_import.h"
#include "passes/quantize_linear.h"
#include "passes/run_pass.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// Random E4M3 weight codes [k, n] (from uniform floats in +-448 / 4).
Tensor fp8_weights(int64_t k, int64_t n, uint64_t seed) {
  Tensor f = testing::random_tensor(DType::kFloat32, {k, n}, seed, -112.0, 112.0);
  Tensor w = Tensor::empty(DType::kUInt8, {k, n});
  for (int64_t i = 0; i < k * n; ++i) w.data<uint8_t>()[i] = float_to_e4m3(f.data<float>()[i]);
  return w;
}

Tensor int8_weights(int64_t k, int64_t n, uint64_t seed) {
  Tensor f = testing::random_tensor(DType::kFloat32, {k, n}, seed, -127.0, 127.0);
  Tensor w = Tensor::empty(DType::kInt8, {k, n});
  for (int64_t i = 0; i < k * n; ++i) {
    w.data<int8_t>()[i] = static_cast<int8_t>(std::nearbyint(f.data<float>()[i]));
  }
  return w;
}

Tensor filled(std::vector<int64_t> shape, float v) {
  Tensor t = Tensor::empty(DType::kFloat32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
  return t;
}

// A QuantLinear [k -> n] named `name` reading `x`.
ValueId quant_linear(TestGraph& g, ValueId x, int64_t k, int64_t n, const std::string& name,
                     const std::string& format, float input_scale, const std::string& act,
                     uint64_t seed) {
  Attributes a;
  a.set_string("format", format);
  a.set_float("input_scale", input_scale);
  a.set_string("activation", act);
  const bool fp8 = format == "fp8";
  return g.op(
      "QuantLinear",
      {x, g.constant(name + ".w_q", fp8 ? fp8_weights(k, n, seed) : int8_weights(k, n, seed)),
       g.constant(name + ".w_scale", filled({n}, fp8 ? 1.0f / 1024 : 1.0f / 256)),
       g.constant(name + ".b", testing::random_tensor(DType::kFloat32, {n}, seed + 1))},
      a, "vitrt", name);
}

// x [batch, 6, 16] + pos -> AddLayerNorm (y, sum) -> fc1 (gelu) -> fc2 -> + sum ->
// LayerNormalization -> head: the three edges into QuantLinear layers are the ones of a ViT
// block (LN -> fc1, fc1 -> fc2) and of a final norm feeding a quantized layer.
struct Block {
  TestGraph g;
  Tensor x;
  ValueId ln_y = kNoValue, fc1 = kNoValue, fc2 = kNoValue, sum = kNoValue, ln2 = kNoValue;
};

void build_block(Block& b, const std::string& fc2_format = "fp8",
                 const std::string& head_format = "fp8") {
  TestGraph& g = b.g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, 16});
  std::vector<ValueId> ln =
      g.op_multi("AddLayerNorm",
                 {x, g.constant("pos", testing::random_tensor(DType::kFloat32, {6, 16}, 3)),
                  g.constant("ln.g", testing::random_tensor(DType::kFloat32, {16}, 4, 0.5, 1.5)),
                  g.constant("ln.b", testing::random_tensor(DType::kFloat32, {16}, 5))},
                 2, {}, "vitrt", "blocks.0/norm1");
  b.ln_y = ln[0];
  b.sum = ln[1];
  b.fc1 = quant_linear(g, b.ln_y, 16, 32, "blocks.0/mlp/fc1", "fp8", 3.0f / 448, "gelu", 10);
  b.fc2 = quant_linear(g, b.fc1, 32, 16, "blocks.0/mlp/fc2", fc2_format,
                       fc2_format == "fp8" ? 2.0f / 448 : 2.0f / 127, "none", 20);
  ValueId res = g.op("Add", {b.fc2, b.sum});
  Attributes ln_attrs;
  ln_attrs.set_int("axis", -1);
  ln_attrs.set_float("epsilon", 1e-6f);
  b.ln2 =
      g.op("LayerNormalization",
           {res, g.constant("norm.g", testing::random_tensor(DType::kFloat32, {16}, 6, 0.5, 1.5)),
            g.constant("norm.b", testing::random_tensor(DType::kFloat32, {16}, 7))},
           ln_attrs, "", "norm");
  g.output(quant_linear(g, b.ln2, 16, 8, "head", head_format,
                        head_format == "fp8" ? 4.0f / 448 : 4.0f / 127, "none", 30));
  ASSERT_TRUE(g.infer().ok());
  b.x = testing::random_tensor(DType::kFloat32, {3, 6, 16}, 9, -2.0, 2.0);
}

float output_scale_of(const Graph& g, const std::string& name) {
  const Node* n = testing::node_named(g, name);
  if (n == nullptr) return -1.0f;
  Result<float> s = n->attrs.get_float("output_scale", 0.0f);
  return s.ok() ? *s : -1.0f;
}

TEST(FuseQuantProducers, KeepsLayerNormOutputsInFp8) {
  Block b;
  build_block(b);
  Graph before = b.g.graph();
  Graph after = before;
  testing::PassResult r = testing::run_pass(fuse_quant_producers, after);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 3);
  EXPECT_FLOAT_EQ(output_scale_of(after, "blocks.0/norm1"), 3.0f / 448);
  EXPECT_FLOAT_EQ(output_scale_of(after, "blocks.0/mlp/fc1"), 2.0f / 448);
  EXPECT_EQ(output_scale_of(after, "blocks.0/mlp/fc2"), 0.0f);  // its reader is an Add
  // The plain LayerNormalization became an AddLayerNorm with a zero addend.
  const Node* norm = testing::node_named(after, "norm");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->op_type, "AddLayerNorm");
  EXPECT_EQ(norm->domain, "vitrt");
  EXPECT_FLOAT_EQ(*norm->attrs.get_float("epsilon", 0.0f), 1e-6f);
  EXPECT_FLOAT_EQ(output_scale_of(after, "norm"), 4.0f / 448);
  EXPECT_EQ(after.values[b.ln_y].dtype, DType::kUInt8);
  EXPECT_EQ(after.values[b.ln2].dtype, DType::kUInt8);
  EXPECT_EQ(after.values[b.fc1].dtype, DType::kUInt8);
  EXPECT_EQ(after.values[b.fc2].dtype, DType::kFloat32);
  EXPECT_EQ(after.values[b.sum].dtype, DType::kFloat32);  // the residual stream stays float
  EXPECT_TRUE(r.logged("stays FP8: AddLayerNorm 'blocks.0/norm1' writes E4M3 codes"));
  EXPECT_TRUE(r.logged("that 'blocks.0/mlp/fc1' read without quantizing"));
  EXPECT_TRUE(r.logged("stays FP8: LayerNormalization 'norm' writes E4M3 codes"));
  EXPECT_TRUE(
      r.logged("stays FP8: QuantLinear 'blocks.0/mlp/fc1' writes E4M3 codes (scale "
               "0.00446429) that 'blocks.0/mlp/fc2' read without quantizing"));
  // The codes are the consumer's own quantize step: the same numbers, bit for bit.
  testing::expect_same_outputs(before, after, {b.x});
  // A second run finds the codes edges done (their tensors are uint8 now).
  Graph again = after;
  testing::PassResult second = testing::run_pass(fuse_quant_producers, again);
  ASSERT_TRUE(second.status.ok()) << second.status.to_string();
  EXPECT_EQ(second.applied, 0);
}

// x -> LayerNormalization -> q, k (fp8, one input scale).
ValueId layer_norm_into(TestGraph& g, ValueId x, const std::string& name) {
  Attributes a;
  a.set_int("axis", -1);
  return g.op(
      "LayerNormalization",
      {x, g.constant(name + ".g", testing::random_tensor(DType::kFloat32, {16}, 1, 0.5, 1.5)),
       g.constant(name + ".b", testing::random_tensor(DType::kFloat32, {16}, 2))},
      a, "", name);
}

TEST(FuseQuantProducers, SeveralReadersWithOneScale) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 5, 16});
  ValueId h = layer_norm_into(g, x, "ln");
  g.output(quant_linear(g, h, 16, 8, "q", "fp8", 1.0f / 448, "none", 2));
  g.output(quant_linear(g, h, 16, 8, "k", "fp8", 1.0f / 448, "none", 3));
  ASSERT_TRUE(g.infer().ok());
  Graph before = g.graph();
  testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_FLOAT_EQ(output_scale_of(g.graph(), "ln"), 1.0f / 448);
  EXPECT_TRUE(r.logged("that 'q', 'k' read without quantizing"));
  testing::expect_same_outputs(before, g.graph(),
                               {testing::random_tensor(DType::kFloat32, {2, 5, 16}, 4, -3, 3)});
}

// A QuantLinear feeding several fp8 readers with one scale writes their codes itself (fc1 ->
// fc2, or any fp8 layer feeding fp8 layers), whatever its activation and whether its own X is
// codes: bit for bit the numbers of the graph before.
TEST(FuseQuantProducers, QuantLinearProducersWriteCodes) {
  for (const char* act : {"none", "relu", "gelu", "gelu_tanh", "quick_gelu"}) {
    SCOPED_TRACE(act);
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, 5, 16});
    ValueId h = quant_linear(g, x, 16, 16, "fc0", "fp8", 2.0f / 448, act, 1);
    g.output(quant_linear(g, h, 16, 8, "q", "fp8", 1.0f / 448, "none", 2));
    g.output(quant_linear(g, h, 16, 8, "k", "fp8", 1.0f / 448, "none", 3));
    ASSERT_TRUE(g.infer().ok());
    Graph before = g.graph();
    testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 1);
    EXPECT_FLOAT_EQ(output_scale_of(g.graph(), "fc0"), 1.0f / 448);
    EXPECT_TRUE(r.logged("stays FP8: QuantLinear 'fc0' writes E4M3 codes"));
    EXPECT_TRUE(r.logged("that 'q', 'k' read without quantizing"));
    EXPECT_EQ(g.graph().values[h].dtype, DType::kUInt8);
    testing::expect_same_outputs(before, g.graph(),
                                 {testing::random_tensor(DType::kFloat32, {2, 5, 16}, 4, -3, 3)});
  }
}

// QuantLinear producers that must stay float, each with the reason in the log: another op
// reads the tensor too, the readers' scales differ, it is a graph output, it adds a residual.
TEST(FuseQuantProducers, QuantLinearProducerLookAlikesStayFloat) {
  for (int variant = 0; variant < 4; ++variant) {
    SCOPED_TRACE(variant);
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, 16});
    ValueId h =
        quant_linear(g, x, 16, 16, "fc1", "fp8", 2.0f / 448, variant == 3 ? "none" : "gelu", 1);
    if (variant == 3) {
      // fuse_residual_into_linear's form: fc1 adds x (input 4).
      for (Node& n : g.graph().nodes) {
        if (n.name == "fc1") n.inputs.push_back(x);
      }
    }
    g.output(quant_linear(g, h, 16, 8, "fc2", "fp8", 1.0f / 448, "none", 2));
    if (variant == 0) g.output(g.op("Add", {h, h}, {}, "", "residual"));
    if (variant == 1) g.output(quant_linear(g, h, 16, 8, "fc3", "fp8", 1.5f / 448, "none", 3));
    if (variant == 2) g.output(h);
    ASSERT_TRUE(g.infer().ok());
    testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 0);
    EXPECT_EQ(output_scale_of(g.graph(), "fc1"), 0.0f);
    EXPECT_EQ(g.graph().values[h].dtype, DType::kFloat32);
    const char* reason[] = {
        "stays float: also read by 'residual' (Add)", "quantize it with different input scales",
        "stays float: it is a graph output", "stays float: its producer adds a residual"};
    EXPECT_TRUE(r.logged(reason[variant])) << reason[variant];
  }
}

// ---- vitrt.Attention -> proj ------------------------------------------------------------------

// qkv [batch, 7, 3 * 32] -> vitrt.Attention (2 heads) named "attn": its output [batch, 7, 32],
// the attention output of a block before its proj.
ValueId attention_of(TestGraph& g, bool causal = false) {
  ValueId qkv = g.input("qkv", DType::kFloat32, {Dim::symbol("batch"), 7, 96});
  Attributes a;
  a.set_int("num_heads", 2);
  if (causal) a.set_int("causal", 1);
  return g.op("Attention", {qkv}, a, "vitrt", "attn");
}

Tensor qkv_input() {
  return testing::random_tensor(DType::kFloat32, {3, 7, 96}, 12, -3.0, 3.0);
}

// Attention values lie in v's range (+-1): a proj input scale of 1/448 spans it.
constexpr float kProjScale = 1.0f / 448;

TEST(FuseQuantProducers, AttentionOutputStaysFp8) {
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "not causal");
    TestGraph g;
    ValueId attn = attention_of(g, causal);
    g.output(quant_linear(g, attn, 32, 32, "proj", "fp8", kProjScale, "none", 2));
    ASSERT_TRUE(g.infer().ok());
    Graph before = g.graph();
    testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 1);
    EXPECT_EQ(r.near_misses, 0);
    EXPECT_FLOAT_EQ(output_scale_of(g.graph(), "attn"), kProjScale);
    EXPECT_EQ(g.graph().values[attn].dtype, DType::kUInt8);
    EXPECT_TRUE(r.logged("stays FP8: Attention 'attn' writes E4M3 codes"));
    EXPECT_TRUE(r.logged("that 'proj' read without quantizing"));
    // Bit for bit: the kernel encodes its fp32 rows as proj's quantize step did.
    testing::expect_same_outputs(before, g.graph(), {qkv_input()});
    testing::PassResult second = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(second.status.ok());
    EXPECT_EQ(second.applied, 0);
  }
}

// A view between attention and proj (no fused export has one; an unfused head merge or a
// flattening before a 2-D layer would): the codes pass through it.
TEST(FuseQuantProducers, AttentionCodesPassThroughViews) {
  for (const char* view : {"Reshape", "Flatten"}) {
    SCOPED_TRACE(view);
    TestGraph g;
    ValueId attn = attention_of(g);
    ValueId merged;
    if (std::string(view) == "Reshape") {
      Tensor shape = Tensor::empty(DType::kInt64, {2});
      shape.data<int64_t>()[0] = -1;
      shape.data<int64_t>()[1] = 32;
      merged = g.op("Reshape", {attn, g.constant("shape", shape)}, {}, "", "merge");
    } else {
      Attributes a;
      a.set_int("axis", 2);
      merged = g.op("Flatten", {attn}, a, "", "merge");
    }
    g.output(quant_linear(g, merged, 32, 16, "proj", "fp8", kProjScale, "gelu", 2));
    ASSERT_TRUE(g.infer().ok());
    Graph before = g.graph();
    testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 1);
    EXPECT_TRUE(
        r.logged(str_cat("that 'proj' read without quantizing (through ", view, " 'merge')")));
    EXPECT_EQ(g.graph().values[attn].dtype, DType::kUInt8);
    EXPECT_EQ(g.graph().values[merged].dtype, DType::kUInt8);
    testing::expect_same_outputs(before, g.graph(), {qkv_input()});
  }
}

// Several fp8 readers with one scale (directly and through a view): one set of codes.
TEST(FuseQuantProducers, AttentionIntoSeveralReadersWithOneScale) {
  TestGraph g;
  ValueId attn = attention_of(g);
  g.output(quant_linear(g, attn, 32, 8, "proj_a", "fp8", kProjScale, "none", 2));
  Tensor axes = Tensor::empty(DType::kInt64, {1});
  axes.data<int64_t>()[0] = 0;
  ValueId view = g.op("Unsqueeze", {attn, g.constant("axes", axes)}, {}, "", "lift");
  g.output(quant_linear(g, view, 32, 8, "proj_b", "fp8", kProjScale, "none", 3));
  ASSERT_TRUE(g.infer().ok());
  Graph before = g.graph();
  testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_TRUE(r.logged("that 'proj_a', 'proj_b' read without quantizing (through Unsqueeze"));
  testing::expect_same_outputs(before, g.graph(), {qkv_input()});
}

TEST(FuseQuantProducers, AttentionNotWhenAnotherOpReadsIt) {
  // 0: a float op reads the attention output; 1: an int8 layer does; 2: a float op reads the
  // view proj reads.
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    TestGraph g;
    ValueId attn = attention_of(g);
    ValueId x = attn;
    if (variant == 2) {
      Attributes a;
      a.set_int("axis", 2);
      x = g.op("Flatten", {attn}, a, "", "merge");
    }
    g.output(quant_linear(g, x, 32, 32, "proj", "fp8", kProjScale, "none", 2));
    if (variant == 1) {
      g.output(quant_linear(g, attn, 32, 8, "side", "int8", 1.0f / 127, "none", 3));
    } else {
      Attributes mean;
      mean.set_ints("axes", {-1});
      g.output(g.op("ReduceMean", {x}, mean, "", "probe"));
    }
    ASSERT_TRUE(g.infer().ok());
    testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(r.status.ok());
    EXPECT_EQ(r.applied, 0);
    EXPECT_EQ(output_scale_of(g.graph(), "attn"), 0.0f);
    EXPECT_EQ(g.graph().values[attn].dtype, DType::kFloat32);
    EXPECT_TRUE(r.logged(variant == 1 ? "stays float: its quantized readers differ in format"
                                      : "stays float: also read by 'probe' (ReduceMean)"));
  }
}

// Into an int8 layer: the attention writes int8 codes (output_format int8) clamped at the
// reader's input_qmin, -128 as well as -127, with a scale coarse enough for few codes and one
// fine enough that many clamp; the plan's outputs stay the same.
TEST(FuseQuantProducers, AttentionWritesInt8Codes) {
  for (int64_t qmin : {-127, -128}) {
    for (float scale : {1.0f / 127, 1.0f / 4096}) {
      SCOPED_TRACE(::testing::Message() << "qmin " << qmin << " scale " << scale);
      TestGraph g;
      ValueId attn = attention_of(g);
      g.output(quant_linear(g, attn, 32, 32, "proj", "int8", scale, "none", 2));
      for (Node& n : g.graph().nodes) {
        if (n.name == "proj") n.attrs.set_int("input_qmin", qmin);
      }
      ASSERT_TRUE(g.infer().ok());
      Graph before = g.graph();
      testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
      ASSERT_TRUE(r.status.ok()) << r.status.to_string();
      EXPECT_EQ(r.applied, 1);
      EXPECT_TRUE(r.logged("stays INT8: Attention 'attn' writes int8 codes"));
      EXPECT_EQ(g.graph().values[attn].dtype, DType::kInt8);
      const Node* node = testing::node_named(g.graph(), "attn");
      ASSERT_NE(node, nullptr);
      EXPECT_EQ(*node->attrs.get_string("output_format", ""), "int8");
      EXPECT_EQ(*node->attrs.get_int("output_qmin", 0), qmin);
      testing::expect_same_outputs(before, g.graph(), {qkv_input()});
    }
  }
}

TEST(FuseQuantProducers, AttentionNotWhenReadersScalesDiffer) {
  TestGraph g;
  ValueId attn = attention_of(g);
  g.output(quant_linear(g, attn, 32, 8, "proj_a", "fp8", kProjScale, "none", 2));
  g.output(quant_linear(g, attn, 32, 8, "proj_b", "fp8", 2 * kProjScale, "none", 3));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("different input scales"));
  EXPECT_EQ(output_scale_of(g.graph(), "attn"), 0.0f);
}

TEST(FuseQuantProducers, AttentionNotForAGraphOutput) {
  // 0: the attention output is a graph output; 1: the view proj reads is.
  for (int variant = 0; variant < 2; ++variant) {
    SCOPED_TRACE(variant);
    TestGraph g;
    ValueId attn = attention_of(g);
    Attributes a;
    a.set_int("axis", 2);
    ValueId x = variant == 0 ? attn : g.op("Flatten", {attn}, a, "", "merge");
    g.output(quant_linear(g, x, 32, 32, "proj", "fp8", kProjScale, "none", 2));
    g.output(x);
    ASSERT_TRUE(g.infer().ok());
    testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(r.status.ok());
    EXPECT_EQ(r.applied, 0);
    EXPECT_TRUE(r.logged("stays float: it is a graph output"));
    EXPECT_EQ(output_scale_of(g.graph(), "attn"), 0.0f);
  }
}

// A Transpose between attention and proj is a copy, not a view: reported, not rewritten.
TEST(FuseQuantProducers, AttentionNotThroughATranspose) {
  TestGraph g;
  ValueId attn = attention_of(g);
  Attributes perm;
  perm.set_ints("perm", {1, 0, 2});
  ValueId t = g.op("Transpose", {attn}, perm, "", "swap");
  g.output(quant_linear(g, t, 32, 32, "proj", "fp8", kProjScale, "none", 2));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(r.near_misses, 1);
  EXPECT_TRUE(r.logged("(Attention 'attn' -> Transpose 'swap')"));
  EXPECT_TRUE(r.logged("stays float: it is transposed before the quantized QuantLinear reads it"));
  EXPECT_EQ(output_scale_of(g.graph(), "attn"), 0.0f);
}

TEST(FuseQuantProducers, AttentionNotInReducedPrecision) {
  TestGraph g;
  ValueId attn = attention_of(g);
  g.output(quant_linear(g, attn, 32, 32, "proj", "fp8", kProjScale, "none", 2));
  ASSERT_TRUE(g.infer().ok());
  for (Node& n : g.graph().nodes) {
    if (n.name == "attn") n.attrs.set_string("compute_precision", "bf16");
  }
  testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("computes in reduced precision"));
}

// ---- the ops' contracts -------------------------------------------------------------------

// Shape inference: codes into QuantLinear only for fp8, AddLayerNorm's output_scale > 0; the
// dtypes the pass relies on.
TEST(FuseQuantProducers, CodesContractOfTheOps) {
  auto infer_one = [](const std::string& format, DType x_type) {
    TestGraph g;
    ValueId x = g.input("x", x_type, {2, 16});
    Attributes a;
    a.set_string("format", format);
    a.set_float("input_scale", 0.01f);
    const bool fp8 = format == "fp8";
    ValueId y = g.op("QuantLinear",
                     {x, g.constant("w", fp8 ? fp8_weights(16, 8, 1) : int8_weights(16, 8, 1)),
                      g.constant("s", filled({8}, 0.1f))},
                     a, "vitrt", "q");
    g.output(y);
    Status s = g.infer();
    return std::make_pair(s, s.ok() ? g.graph().values[y].dtype : DType::kUndefined);
  };
  EXPECT_EQ(infer_one("fp8", DType::kUInt8).second, DType::kFloat32);
  // output_scale: codes out, fp8 only, > 0 and finite.
  auto infer_out = [](const std::string& format, float output_scale) {
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat16, {2, 16});
    Attributes a;
    a.set_string("format", format);
    a.set_float("input_scale", 0.01f);
    a.set_float("output_scale", output_scale);
    const bool fp8 = format == "fp8";
    ValueId y = g.op("QuantLinear",
                     {x, g.constant("w", fp8 ? fp8_weights(16, 8, 1) : int8_weights(16, 8, 1)),
                      g.constant("s", filled({8}, 0.1f))},
                     a, "vitrt", "q");
    g.output(y);
    Status s = g.infer();
    return std::make_pair(s, s.ok() ? g.graph().values[y].dtype : DType::kUndefined);
  };
  EXPECT_EQ(infer_out("fp8", 0.5f).second, DType::kUInt8);
  EXPECT_EQ(infer_out("int8", 0.5f).second, DType::kInt8);  // int8 codes out
  for (float bad : {0.0f, -1.0f, INFINITY}) {
    Status s = infer_out("fp8", bad).first;
    EXPECT_NE(s.message().find("output_scale must be a finite float > 0"), std::string::npos)
        << bad << s.to_string();
  }
  EXPECT_EQ(infer_one("fp8", DType::kFloat16).second, DType::kFloat16);
  EXPECT_NE(infer_one("int8", DType::kUInt8).first.message().find("needs format fp8"),
            std::string::npos);

  auto infer_ln = [](float output_scale) {
    TestGraph g;
    ValueId a = g.input("a", DType::kFloat32, {2, 16});
    Attributes attrs;
    attrs.set_float("output_scale", output_scale);
    std::vector<ValueId> out = g.op_multi(
        "AddLayerNorm", {a, a, g.constant("g", filled({16}, 1.0f))}, 2, attrs, "vitrt", "ln");
    Status s = g.infer();
    return std::make_tuple(s, s.ok() ? g.graph().values[out[0]].dtype : DType::kUndefined,
                           s.ok() ? g.graph().values[out[1]].dtype : DType::kUndefined);
  };
  EXPECT_EQ(std::get<1>(infer_ln(0.5f)), DType::kUInt8);
  EXPECT_EQ(std::get<2>(infer_ln(0.5f)), DType::kFloat32);  // the sum stays float
  for (float bad : {0.0f, -1.0f, INFINITY}) {
    Status s = std::get<0>(infer_ln(bad));
    EXPECT_NE(s.message().find("output_scale"), std::string::npos) << bad << s.to_string();
  }
  // output_format int8 (with output_qmin) gives int8 codes; the other combinations are errors
  // that name the attribute and the node.
  auto infer_ln_codes = [](const std::function<void(Attributes&)>& set) {
    TestGraph g;
    ValueId a = g.input("a", DType::kFloat32, {2, 16});
    Attributes attrs;
    set(attrs);
    std::vector<ValueId> out = g.op_multi(
        "AddLayerNorm", {a, a, g.constant("g", filled({16}, 1.0f))}, 2, attrs, "vitrt", "ln");
    Status s = g.infer();
    return std::make_pair(s, s.ok() ? g.graph().values[out[0]].dtype : DType::kUndefined);
  };
  EXPECT_EQ(infer_ln_codes([](Attributes& a) {
              a.set_float("output_scale", 0.5f);
              a.set_string("output_format", "int8");
              a.set_int("output_qmin", -128);
            }).second,
            DType::kInt8);
  const std::vector<std::pair<std::function<void(Attributes&)>, std::string>> broken = {
      {[](Attributes& a) { a.set_string("output_format", "int8"); },
       "attribute 'output_format' needs output_scale"},
      {[](Attributes& a) {
         a.set_float("output_scale", 0.5f);
         a.set_string("output_format", "int4");
       },
       "attribute 'output_format' is 'int4', expected fp8 or int8"},
      {[](Attributes& a) {
         a.set_float("output_scale", 0.5f);
         a.set_int("output_qmin", -127);
       },
       "applies to output_format int8"},
      {[](Attributes& a) {
         a.set_float("output_scale", 0.5f);
         a.set_string("output_format", "int8");
         a.set_int("output_qmin", -129);
       },
       "must lie in [-128, 0]"},
  };
  for (const auto& [set, message] : broken) {
    Status s = infer_ln_codes(set).first;
    ASSERT_FALSE(s.ok()) << message;
    EXPECT_NE(s.message().find(message), std::string::npos) << s.to_string();
    EXPECT_NE(s.message().find("'ln'"), std::string::npos) << s.to_string();
  }
}

// The CPU kernels: AddLayerNorm's codes are e4m3(y / output_scale) of its float output, and a
// QuantLinear reading codes computes what it computes from the float tensor they encode.
TEST(FuseQuantProducers, CpuKernelsOnCodes) {
  TestGraph g;
  ValueId a = g.input("a", DType::kFloat32, {3, 16});
  ValueId b = g.input("b", DType::kFloat32, {3, 16});
  ValueId gamma = g.constant("g", testing::random_tensor(DType::kFloat32, {16}, 1, 0.5, 1.5));
  ValueId beta = g.constant("beta", testing::random_tensor(DType::kFloat32, {16}, 2));
  ValueId y_float = g.op_multi("AddLayerNorm", {a, b, gamma, beta}, 1, {}, "vitrt", "ln_f")[0];
  Attributes codes;
  codes.set_float("output_scale", 3.0f / 448);
  ValueId y_codes = g.op_multi("AddLayerNorm", {a, b, gamma, beta}, 1, codes, "vitrt", "ln_c")[0];
  g.output(y_float);
  g.output(y_codes);
  g.output(quant_linear(g, y_float, 16, 8, "fc_f", "fp8", 3.0f / 448, "gelu", 5));
  g.output(quant_linear(g, y_codes, 16, 8, "fc_c", "fp8", 3.0f / 448, "gelu", 5));
  ASSERT_TRUE(g.infer().ok());
  Result<std::vector<Tensor>> out =
      testing::run_graph(g.graph(), {testing::random_tensor(DType::kFloat32, {3, 16}, 3, -2, 2),
                                     testing::random_tensor(DType::kFloat32, {3, 16}, 4, -2, 2)});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const std::vector<Tensor>& o = *out;
  ASSERT_EQ(o[1].dtype(), DType::kUInt8);
  for (int64_t i = 0; i < o[0].numel(); ++i) {
    ASSERT_EQ(o[1].data<uint8_t>()[i], float_to_e4m3(o[0].data<float>()[i] / (3.0f / 448))) << i;
  }
  ASSERT_EQ(o[3].dtype(), DType::kFloat32);
  for (int64_t i = 0; i < o[2].numel(); ++i) {
    ASSERT_EQ(o[2].data<float>()[i], o[3].data<float>()[i]) << i;
  }
}

// The CPU kernel with output_scale: each code is e4m3(y / output_scale) of the fp32 output the
// same layer computes without it (saturating at +-448), for every activation, float X and
// codes X, output scales that round and that saturate.
TEST(FuseQuantProducers, CpuQuantLinearWritesCodes) {
  for (const char* act : {"none", "relu", "gelu", "gelu_tanh", "quick_gelu"}) {
    for (bool codes_in : {false, true}) {
      for (float output_scale : {1.0f / 448, 0.02f / 448}) {
        SCOPED_TRACE(str_cat(act, codes_in ? " codes in " : " float in ", output_scale));
        TestGraph g;
        ValueId x = g.input("x", codes_in ? DType::kUInt8 : DType::kFloat32, {3, 7, 16});
        g.output(quant_linear(g, x, 16, 24, "fc_f", "fp8", 2.0f / 448, act, 7));
        ValueId c = quant_linear(g, x, 16, 24, "fc_c", "fp8", 2.0f / 448, act, 7);
        for (Node& n : g.graph().nodes) {
          if (n.name == "fc_c") n.attrs.set_float("output_scale", output_scale);
        }
        g.output(c);
        ASSERT_TRUE(g.infer().ok());
        Tensor in = testing::random_tensor(DType::kFloat32, {3, 7, 16}, 8, -2.0, 2.0);
        if (codes_in) {
          Tensor codes = Tensor::empty(DType::kUInt8, {3, 7, 16});
          for (int64_t i = 0; i < in.numel(); ++i) {
            codes.data<uint8_t>()[i] = float_to_e4m3(in.data<float>()[i] * 100);
          }
          in = codes;
        }
        Result<std::vector<Tensor>> out = testing::run_graph(g.graph(), {in});
        ASSERT_TRUE(out.ok()) << out.status().to_string();
        const Tensor& y = (*out)[0];
        const Tensor& codes = (*out)[1];
        ASSERT_EQ(y.dtype(), DType::kFloat32);
        ASSERT_EQ(codes.dtype(), DType::kUInt8);
        ASSERT_EQ(codes.shape(), y.shape());
        int saturated = 0;
        for (int64_t i = 0; i < y.numel(); ++i) {
          ASSERT_EQ(codes.data<uint8_t>()[i], float_to_e4m3(y.data<float>()[i] / output_scale))
              << i;
          saturated += std::fabs(e4m3_to_float(codes.data<uint8_t>()[i])) == 448.0f;
        }
        if (output_scale < 1e-3f && std::string(act) == "none") {
          EXPECT_GT(saturated, 0);
        }
      }
    }
  }
}

// ---- look-alikes that must stay float ------------------------------------------------------

// fp8 LN -> fc1, an fp8 fc1 feeding an int8 fc2 (no int8 codes from an FP8 GEMM), and the final
// LayerNorm writing the int8 head's codes; the rewritten graph computes what the one before did.
TEST(FuseQuantProducers, MixedFp8AndInt8Layers) {
  Block b;
  build_block(b, "int8", "int8");
  Graph before = b.g.graph();
  Graph after = before;
  testing::PassResult r = testing::run_pass(fuse_quant_producers, after);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 2);  // LN -> fc1 (fp8), norm -> head (int8)
  EXPECT_TRUE(
      r.logged("stays float: its producer is an fp8 QuantLinear (int8 codes come from "
               "int8 layers)"));
  EXPECT_TRUE(r.logged("stays INT8: LayerNormalization 'norm' writes int8 codes"));
  EXPECT_FLOAT_EQ(output_scale_of(after, "blocks.0/norm1"), 3.0f / 448);
  EXPECT_EQ(output_scale_of(after, "blocks.0/mlp/fc1"), 0.0f);
  const Node* norm = testing::node_named(after, "norm");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->op_type, "AddLayerNorm");
  EXPECT_FLOAT_EQ(output_scale_of(after, "norm"), 4.0f / 127);
  EXPECT_EQ(*norm->attrs.get_string("output_format", ""), "int8");
  EXPECT_EQ(*norm->attrs.get_int("output_qmin", 0), -127);
  EXPECT_EQ(after.values[b.ln2].dtype, DType::kInt8);
  testing::expect_same_outputs(before, after, {b.x});
}

// A LayerNorm writing int8 codes clamps at the readers' input_qmin: -128 as well as -127, and
// scales fine enough that many codes clamp.
TEST(FuseQuantProducers, LayerNormWritesInt8Codes) {
  for (int64_t qmin : {-127, -128}) {
    for (float scale : {4.0f / 127, 1.0f / 2048}) {
      SCOPED_TRACE(::testing::Message() << "qmin " << qmin << " scale " << scale);
      TestGraph g;
      ValueId x = g.input("x", DType::kFloat32, {2, 5, 16});
      ValueId h = layer_norm_into(g, x, "ln");
      ValueId y = quant_linear(g, h, 16, 8, "q", "int8", scale, "none", 2);
      for (Node& n : g.graph().nodes) {
        if (n.name == "q") n.attrs.set_int("input_qmin", qmin);
      }
      g.output(y);
      ASSERT_TRUE(g.infer().ok());
      Graph before = g.graph();
      Graph after = before;
      testing::PassResult r = testing::run_pass(fuse_quant_producers, after);
      ASSERT_TRUE(r.status.ok()) << r.status.to_string();
      EXPECT_EQ(r.applied, 1);
      EXPECT_EQ(after.values[h].dtype, DType::kInt8);
      EXPECT_EQ(*testing::node_named(after, "ln")->attrs.get_int("output_qmin", 0), qmin);
      const Tensor in = testing::random_tensor(DType::kFloat32, {2, 5, 16}, 3, -4.0, 4.0);
      testing::expect_same_outputs(before, after, {in});
    }
  }
}

// ---- int8 -> int8: the requantizing epilogue ------------------------------------------------

// x -> fc0 (int8, act) -> fc1 (int8, zero point 0, input_qmin qmin): fc0 writes fc1's codes.
struct Int8Chain {
  TestGraph g;
  ValueId h = kNoValue;
};

void build_int8_chain(Int8Chain& c, const std::string& act, int64_t qmin, float fc1_scale,
                      int64_t zero_point = 0, int64_t qmax = 127) {
  ValueId x = c.g.input("x", DType::kFloat32, {Dim::symbol("batch"), 5, 16});
  c.h = quant_linear(c.g, x, 16, 24, "fc0", "int8", 2.0f / 127, act, 1);
  ValueId y = quant_linear(c.g, c.h, 24, 8, "fc1", "int8", fc1_scale, "none", 2);
  for (Node& n : c.g.graph().nodes) {
    if (n.name != "fc1") continue;
    n.attrs.set_int("input_qmin", qmin);
    n.attrs.set_int("input_qmax", qmax);
    n.attrs.set_int("input_zero_point", zero_point);
  }
  c.g.output(y);
}

TEST(FuseQuantProducers, Int8LayerWritesItsReadersCodes) {
  // Scales from coarse to so fine that most codes clamp at qmin / 127.
  for (const char* act : {"gelu", "none"}) {
    for (int64_t qmin : {-127, -128}) {
      for (float scale : {8.0f / 127, 1.0f / 127, 1.0f / 4096}) {
        SCOPED_TRACE(::testing::Message() << act << " qmin " << qmin << " scale " << scale);
        Int8Chain c;
        build_int8_chain(c, act, qmin, scale);
        ASSERT_TRUE(c.g.infer().ok());
        Graph before = c.g.graph();
        Graph after = before;
        testing::PassResult r = testing::run_pass(fuse_quant_producers, after);
        ASSERT_TRUE(r.status.ok()) << r.status.to_string();
        EXPECT_EQ(r.applied, 1);
        EXPECT_FLOAT_EQ(output_scale_of(after, "fc0"), scale);
        EXPECT_EQ(*testing::node_named(after, "fc0")->attrs.get_int("output_qmin", 0), qmin);
        EXPECT_EQ(after.values[c.h].dtype, DType::kInt8);
        EXPECT_TRUE(r.logged("stays INT8: QuantLinear 'fc0' writes int8 codes"));
        EXPECT_TRUE(r.logged(str_cat("range [", qmin, ", 127]) that 'fc1' read")));
        // The codes are fc1's own quantize step of fc0's fp32 output: the same numbers.
        const Tensor x = testing::random_tensor(DType::kFloat32, {3, 5, 16}, 7, -3.0, 3.0);
        testing::expect_same_outputs(before, after, {x});
      }
    }
  }
}

// A CPU plan keeps the edge float (oneDNN writes fp32 rows: the codes would be one more pass),
// and says why; an fp8 edge of a CPU plan still stays FP8.
TEST(FuseQuantProducers, Int8EdgeNotForCpuPlans) {
  Int8Chain c;
  build_int8_chain(c, "gelu", -127, 1.0f / 127);
  ASSERT_TRUE(c.g.infer().ok());
  Graph g = c.g.graph();
  PassContext ctx(true, nullptr);
  ctx.set_device("cpu");
  ASSERT_TRUE(fuse_quant_producers(g, ctx).ok());
  EXPECT_EQ(output_scale_of(g, "fc0"), 0.0f);
  EXPECT_EQ(ctx.near_miss_count(), 1);
  Block b;
  build_block(b);
  PassContext fp8_ctx(true, nullptr);
  fp8_ctx.set_device("cpu");
  ASSERT_TRUE(fuse_quant_producers(b.g.graph(), fp8_ctx).ok());
  EXPECT_EQ(fp8_ctx.applied_counts().at("fuse_quant_producers"), 3);
}

TEST(FuseQuantProducers, Int8NotIntoAsymmetricOrDynamicReaders) {
  // A zero point, a range short of 127, or dynamic quantization: the reader keeps its step.
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    Int8Chain c;
    build_int8_chain(c, "gelu", variant == 0 ? 0 : -127, 1.0f / 127, variant == 0 ? 3 : 0,
                     variant == 1 ? 100 : 127);
    if (variant == 2) {
      for (Node& n : c.g.graph().nodes) {
        if (n.name != "fc1") continue;
        for (const char* a : {"input_scale", "input_zero_point", "input_qmin", "input_qmax"}) {
          n.attrs.erase(a);
        }
        n.attrs.set_int("dynamic_input", 1);
      }
    }
    ASSERT_TRUE(c.g.infer().ok());
    testing::PassResult r = testing::run_pass(fuse_quant_producers, c.g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 0);
    EXPECT_EQ(output_scale_of(c.g.graph(), "fc0"), 0.0f);
    EXPECT_EQ(c.g.graph().values[c.h].dtype, DType::kFloat32);
  }
}

TEST(FuseQuantProducers, Int8NotWhenReadersRangesDiffer) {
  Int8Chain c;
  build_int8_chain(c, "gelu", -127, 1.0f / 127);
  ValueId side = quant_linear(c.g, c.h, 24, 8, "side", "int8", 1.0f / 127, "none", 3);
  for (Node& n : c.g.graph().nodes) {
    if (n.name == "side") n.attrs.set_int("input_qmin", -128);
  }
  c.g.output(side);
  ASSERT_TRUE(c.g.infer().ok());
  testing::PassResult r = testing::run_pass(fuse_quant_producers, c.g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("stays float: its int8 readers clamp at different input_qmin"));
}

TEST(FuseQuantProducers, NotFromAnInt8Producer) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 16});
  ValueId h = quant_linear(g, x, 16, 16, "fc0", "int8", 2.0f / 127, "none", 1);
  g.output(quant_linear(g, h, 16, 8, "fc1", "fp8", 1.0f / 448, "none", 2));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(output_scale_of(g.graph(), "fc0"), 0.0f);
  EXPECT_TRUE(r.logged("stays float: its producer is an int8 QuantLinear"));
}

TEST(FuseQuantProducers, NotWhenAnotherOpReadsTheTensor) {
  Block b;
  build_block(b);
  // norm1's output also feeds a ReduceMean output: it must stay float for it.
  Attributes mean;
  mean.set_ints("axes", {2});
  b.g.output(b.g.op("ReduceMean", {b.ln_y}, mean, "", "probe"));
  ASSERT_TRUE(b.g.infer().ok());
  testing::PassResult r = testing::run_pass(fuse_quant_producers, b.g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(output_scale_of(b.g.graph(), "blocks.0/norm1"), 0.0f);
  EXPECT_TRUE(r.logged("stays float: also read by 'probe' (ReduceMean)"));
  EXPECT_EQ(r.applied, 2);  // fc1 -> fc2 and the final norm still do
}

TEST(FuseQuantProducers, NotForAGraphOutput) {
  Block b;
  build_block(b);
  b.g.output(b.ln_y);
  ASSERT_TRUE(b.g.infer().ok());
  testing::PassResult r = testing::run_pass(fuse_quant_producers, b.g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(output_scale_of(b.g.graph(), "blocks.0/norm1"), 0.0f);
  EXPECT_TRUE(r.logged("stays float: it is a graph output"));
}

TEST(FuseQuantProducers, NotWhenReadersScalesDiffer) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 16});
  ValueId h = layer_norm_into(g, x, "ln");
  g.output(quant_linear(g, h, 16, 8, "q", "fp8", 1.0f / 448, "none", 2));
  g.output(quant_linear(g, h, 16, 8, "k", "fp8", 1.5f / 448, "none", 3));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("different input scales"));
  EXPECT_EQ(testing::node_named(g.graph(), "ln")->op_type, "LayerNormalization");
}

// A LayerNormalization whose scale is a graph input, or whose stash_type is not float32: an
// AddLayerNorm could not take its place.
TEST(FuseQuantProducers, NotForALayerNormWithInputScaleOrOtherStash) {
  for (int variant = 0; variant < 2; ++variant) {
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, 16});
    Attributes a;
    a.set_int("axis", -1);
    if (variant == 1) a.set_int("stash_type", 10);
    ValueId gamma = variant == 0 ? g.input("gamma", DType::kFloat32, {16})
                                 : g.constant("gamma", filled({16}, 1.0f));
    ValueId y = g.op("LayerNormalization", {x, gamma}, a, "", "ln");
    g.output(quant_linear(g, y, 16, 8, "fc", "fp8", 1.0f / 448, "none", 2));
    ASSERT_TRUE(g.infer().ok());
    testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(r.status.ok());
    EXPECT_EQ(r.applied, 0) << variant;
    EXPECT_TRUE(r.logged(variant == 0 ? "scale / bias are not float32 constants"
                                      : "stash_type is not float32"))
        << variant;
    EXPECT_EQ(testing::node_named(g.graph(), "ln")->op_type, "LayerNormalization");
  }
}

TEST(FuseQuantProducers, NotForALayerNormOverAnotherAxisOrWithStatistics) {
  for (int variant = 0; variant < 2; ++variant) {
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, 16, 16});
    Attributes a;
    a.set_int("axis", variant == 0 ? 1 : -1);
    std::vector<ValueId> ln = g.op_multi(
        "LayerNormalization",
        {x, g.constant(
                "g", filled(variant == 0 ? std::vector<int64_t>{16, 16} : std::vector<int64_t>{16},
                            1.0f))},
        variant == 0 ? 1 : 2, a, "", "ln");
    g.output(quant_linear(g, ln[0], 16, 8, "fc", "fp8", 1.0f / 448, "none", 2));
    if (variant == 1) g.output(ln[1]);  // the Mean output is used
    ASSERT_TRUE(g.infer().ok());
    testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
    ASSERT_TRUE(r.status.ok());
    EXPECT_EQ(r.applied, 0) << variant;
    EXPECT_TRUE(r.logged(variant == 0 ? "does not normalize the last axis"
                                      : "mean / inv_std outputs are used"))
        << variant;
    EXPECT_EQ(testing::node_named(g.graph(), "ln")->op_type, "LayerNormalization");
  }
}

// Statistics outputs nobody reads do not hold the rewrite back (they are dropped with the op).
TEST(FuseQuantProducers, LayerNormWithUnusedStatisticsOutputs) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 7, 16});
  Attributes a;
  a.set_int("axis", 2);
  std::vector<ValueId> ln =
      g.op_multi("LayerNormalization",
                 {x, g.constant("g", testing::random_tensor(DType::kFloat32, {16}, 1, 0.5, 1.5))},
                 3, a, "", "ln");
  g.output(quant_linear(g, ln[0], 16, 8, "fc", "fp8", 3.0f / 448, "none", 2));
  ASSERT_TRUE(g.infer().ok());
  Graph before = g.graph();
  testing::PassResult r = testing::run_pass(fuse_quant_producers, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(testing::node_named(g.graph(), "ln")->op_type, "AddLayerNorm");
  testing::expect_same_outputs(before, g.graph(),
                               {testing::random_tensor(DType::kFloat32, {2, 7, 16}, 3, -2, 2)});
}

TEST(FuseQuantProducers, NotForAReducedPrecisionProducer) {
  Block b;
  build_block(b);
  for (Node& n : b.g.graph().nodes) {
    if (n.name == "blocks.0/norm1") n.attrs.set_string("compute_precision", "bf16");
  }
  testing::PassResult r = testing::run_pass(fuse_quant_producers, b.g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(output_scale_of(b.g.graph(), "blocks.0/norm1"), 0.0f);
  EXPECT_TRUE(r.logged("computes in reduced precision"));
}

// ---- a real ViT export, quantized to fp8 the way the builder does ------------------------

// The fixture optimized as the builder does, then quantize_linear with thresholds = the exact
// amax of each layer input on `x` (what minmax calibration gives).
Result<Graph> quantized_fixture(const std::string& name, const std::vector<Tensor>& inputs) {
  const std::string path =
      (std::filesystem::path(VITRT_SOURCE_DIR) / "tests/golden" / name / "model.onnx").string();
  VITRT_ASSIGN_OR_RETURN(Graph graph, import_onnx_file(path));
  VITRT_RETURN_IF_ERROR(infer_shapes(graph));
  PassContext quiet(false, nullptr);
  quiet.set_quantized_build(true);  // as the builder's: no select_rows_early before quantizing
  VITRT_RETURN_IF_ERROR(optimize_graph(graph, quiet));
  QuantizeLinearOptions o;
  o.format = "fp8";
  o.float_precision = "fp32";
  o.fp8_method = o.int8_method = "minmax";
  const std::vector<std::string> names = linear_inputs_to_calibrate(graph, o);
  Graph probe = graph;
  probe.outputs.clear();
  for (const std::string& n : names) {
    for (ValueId v = 0; v < static_cast<ValueId>(probe.values.size()); ++v) {
      if (probe.values[v].name == n) probe.outputs.push_back(v);
    }
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<Tensor> seen, testing::run_graph(probe, inputs));
  for (size_t i = 0; i < names.size(); ++i) {
    float amax = 0.0f;
    for (int64_t j = 0; j < seen[i].numel(); ++j) {
      amax = std::max(amax, std::fabs(seen[i].data<float>()[j]));
    }
    o.fp8_threshold[names[i]] = amax;
  }
  VITRT_RETURN_IF_ERROR(quantize_linear(graph, quiet, o));
  VITRT_RETURN_IF_ERROR(infer_shapes(graph));
  return graph;
}

// Quantizes fixture `name` on `inputs`, runs the pass, and expects at least `min_edges` edges
// (of which `attention_edges` from an Attention) and bit-equal outputs.
void check_fixture(const std::string& name, const std::vector<Tensor>& inputs, int min_edges,
                   int attention_edges) {
  SCOPED_TRACE(name);
  Result<Graph> quantized = quantized_fixture(name, inputs);
  ASSERT_TRUE(quantized.ok()) << quantized.status().to_string();
  Graph after = *quantized;
  testing::PassResult r = testing::run_pass(fuse_quant_producers, after);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_GE(r.applied, min_edges);
  int codes_in = 0, attention_codes = 0;
  for (const Node& n : after.nodes) {
    codes_in +=
        !n.dead && n.op_type == "QuantLinear" && after.values[n.inputs[0]].dtype == DType::kUInt8;
    attention_codes += !n.dead && n.op_type == "Attention" && n.attrs.has("output_scale");
  }
  EXPECT_GE(codes_in, min_edges);
  EXPECT_EQ(attention_codes, attention_edges);
  testing::expect_same_outputs(*quantized, after, inputs);
}

std::vector<Tensor> images(int64_t size) {
  return {testing::random_tensor(DType::kFloat32, {2, 3, size, size}, 11, -2.0, 2.0)};
}

// timm ViT-tiny (2 blocks): LN -> qkv, attention -> proj, LN -> fc1 and fc1 -> fc2 in each
// block.
TEST(FuseQuantProducers, TimmVitBlocksStayFp8AndMatchBitForBit) {
  check_fixture("timm_vit_tiny_ts17", images(32), 8, 2);
}

// HF CLIP vision: its pre_layrnorm makes the first block's LN input a plain LayerNorm output.
TEST(FuseQuantProducers, HfClipVisionStaysFp8AndMatchesBitForBit) {
  check_fixture("hf_clip_vision_eager_ts17", images(32), 8, 2);
}

// HF CLIP text (causal attention, the dynamo exporter's graph): the fixture's own token ids.
TEST(FuseQuantProducers, HfClipTextCausalStaysFp8AndMatchesBitForBit) {
  const std::filesystem::path ids =
      std::filesystem::path(VITRT_SOURCE_DIR) /
      "tests/golden/hf_clip_text_sdpa_dynamo/case1/input.input_ids.npy";
  Result<Tensor> x = read_npy(ids.string());
  ASSERT_TRUE(x.ok()) << x.status().to_string();
  check_fixture("hf_clip_text_sdpa_dynamo", {*x}, 8, 2);
}

// fc1 -> fc2 across exporters and activations: SigLIP's tanh GELU from the dynamo exporter,
// HF ViT's erf GELU at opset 13, timm DeiT (distilled) from dynamo.
TEST(FuseQuantProducers, SiglipDynamoStaysFp8AndMatchesBitForBit) {
  check_fixture("hf_siglip_vision_sdpa_dynamo", images(32), 8, 2);
}

TEST(FuseQuantProducers, HfVitOpset13StaysFp8AndMatchesBitForBit) {
  check_fixture("hf_vit_eager_ts13", images(32), 8, 2);
}

TEST(FuseQuantProducers, TimmDeitDynamoStaysFp8AndMatchesBitForBit) {
  check_fixture("timm_deit_tiny_distilled_dynamo", images(32), 8, 2);
}

// `vitrt build --precision fp8 --verbose`: the log names each edge that stays FP8 and the
// summary counts them; the plan (saved, loaded) still matches PyTorch.
TEST(FuseQuantProducers, Fp8BuildReportsTheEdgesAndMatchesPyTorch) {
  namespace fs = std::filesystem;
  const fs::path fixture = fs::path(VITRT_SOURCE_DIR) / "tests/golden/timm_vit_tiny_ts17";
  const fs::path calib = fs::path(::testing::TempDir()) / "fp8_chain_calib";
  fs::remove_all(calib);
  fs::create_directories(calib / "case1");
  fs::copy_file(fixture / "case1/input.pixel_values.npy", calib / "case1/pixel_values.npy");
  BuildOptions options;
  options.precision = "fp8";
  options.calib_data = calib.string();
  options.verbose = true;
  std::vector<std::string> log;
  options.log = [&log](const std::string& line) { log.push_back(line); };
  const std::string plan = ::testing::TempDir() + "/fp8_chain.plan";
  Result<BuildSummary> built = build_plan((fixture / "model.onnx").string(), plan, options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  int edges = 0, attention = 0, fc1_fc2 = 0;
  bool summary = false;
  for (const std::string& line : log) {
    const bool pass = line.find("[fuse_quant_producers]") != std::string::npos;
    edges += pass && line.find("stays FP8") != std::string::npos;
    attention += pass && line.find("stays FP8: Attention '") != std::string::npos &&
                 line.find("/attn/proj/") != std::string::npos;
    fc1_fc2 += pass && line.find("stays FP8: QuantLinear") != std::string::npos;
    summary = summary || line.find("8 activations stay FP8 between layers") != std::string::npos;
  }
  EXPECT_EQ(edges, 8);      // per block: LN -> qkv, attention -> proj, LN -> fc1, fc1 -> fc2
  EXPECT_EQ(attention, 2);  // the log names the attention -> proj edges
  EXPECT_EQ(fc1_fc2, 2);    // per block: fc1 -> fc2
  EXPECT_TRUE(summary);
  Result<std::shared_ptr<Engine>> engine = Engine::load_plan(plan);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  Result<Tensor> x = read_npy((fixture / "case1/input.pixel_values.npy").string());
  Result<Tensor> want = read_npy((fixture / "case1/output.0.logits.npy").string());
  ASSERT_TRUE(x.ok() && want.ok());
  Result<std::vector<NamedTensor>> got = (*engine)->create_context()->run({{"pixel_values", *x}});
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  // quantized_build_test.cc's bound for 8-bit builds of these fixtures.
  EXPECT_TRUE(testing::cosine_at_least((*got)[0].tensor, *want, 0.99));
  fs::remove(plan);
}

}  // namespace
}  // namespace vitrt
