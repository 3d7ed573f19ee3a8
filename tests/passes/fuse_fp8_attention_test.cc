// Pass fuse_fp8_attention: which attentions read E4M3 q, k, v from their fp8 qkv layer, which
// look-alikes stay float (each with its reason), what vitrt.Attention's input_scale means on the
// CPU (the op contract's reference), and its shape-inference checks.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/float8.h"
#include "passes/quantize_linear.h"
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::TestGraph;

constexpr int64_t kTokens = 9;

float attr_of(const Graph& g, const std::string& node, const char* attr) {
  const Node* n = testing::node_named(g, node);
  if (n == nullptr || !n->attrs.has(attr)) return -1.0f;
  Result<float> s = n->attrs.get_float(attr, 0.0f);
  return s.ok() ? *s : -1.0f;
}

// Random E4M3 weight codes [k, n].
Tensor fp8_weights(int64_t k, int64_t n, uint64_t seed) {
  Tensor f = testing::random_tensor(DType::kFloat32, {k, n}, seed, -112.0, 112.0);
  Tensor w = Tensor::empty(DType::kUInt8, {k, n});
  for (int64_t i = 0; i < k * n; ++i) w.data<uint8_t>()[i] = float_to_e4m3(f.data<float>()[i]);
  return w;
}

// An fp8 QuantLinear [k -> n] named `name` reading x (with a residual `res` when given).
ValueId quant_linear(TestGraph& g, ValueId x, int64_t k, int64_t n, const std::string& name,
                     ValueId res = kNoValue, const std::string& format = "fp8") {
  Attributes a;
  a.set_string("format", format);
  a.set_float("input_scale", 2.0f / (format == "fp8" ? 448 : 127));
  a.set_string("activation", "none");
  Tensor w_scale = Tensor::empty(DType::kFloat32, {n});
  for (int64_t i = 0; i < n; ++i) w_scale.data<float>()[i] = 1.0f / 2048;
  Tensor w = fp8_weights(k, n, 3);
  if (format == "int8") {
    w = Tensor::empty(DType::kInt8, {k, n});
    for (int64_t i = 0; i < k * n; ++i) w.data<int8_t>()[i] = static_cast<int8_t>(i % 200 - 100);
  }
  std::vector<ValueId> in = {
      x, g.constant(name + ".w_q", w), g.constant(name + ".w_scale", w_scale),
      g.constant(name + ".b", testing::random_tensor(DType::kFloat32, {n}, 4))};
  if (res != kNoValue) in.push_back(res);
  return g.op("QuantLinear", in, a, "vitrt", name);
}

struct GraphSetup {
  int64_t heads = 2, head_dim = 64;
  bool residual = false;       // qkv adds a residual (cannot write codes)
  bool second_reader = false;  // qkv's output is also a graph output
  bool from_input = false;     // the attention reads a graph input
  std::string format = "fp8";
};

// x [2, 9, width] -> qkv (fp8 QuantLinear) -> Attention 'attn' -> output.
TestGraph make_graph(const GraphSetup& s, ValueId* qkv_out = nullptr) {
  TestGraph g;
  const int64_t width = s.heads * s.head_dim;
  ValueId x = g.input("x", DType::kFloat32, {2, kTokens, width});
  ValueId qkv;
  if (s.from_input) {
    qkv = g.input("qkv_in", DType::kFloat32, {2, kTokens, 3 * width});
  } else {
    ValueId res = kNoValue;
    if (s.residual) res = g.input("res", DType::kFloat32, {2, kTokens, 3 * width});
    qkv = quant_linear(g, x, width, 3 * width, "qkv", res, s.format);
  }
  Attributes a;
  a.set_int("num_heads", s.heads);
  g.output(g.op("Attention", {qkv}, a, "vitrt", "attn"));
  if (s.second_reader) g.output(qkv);
  if (qkv_out != nullptr) *qkv_out = qkv;
  EXPECT_TRUE(g.infer().ok());
  return g;
}

testing::PassResult run(Graph& graph, const std::map<std::string, float>& thresholds,
                        const std::vector<quant::PrecisionRule>& rules = {}) {
  testing::PassResult r;
  PassContext ctx(true, [&r](const std::string& line) { r.log.push_back(line); });
  r.status = fuse_fp8_attention(graph, ctx, thresholds, rules);
  for (const auto& [name, n] : ctx.applied_counts()) r.applied += n;
  r.near_misses = ctx.near_miss_count();
  if (r.status.ok()) r.status = infer_shapes(graph);
  if (r.status.ok()) r.status = graph.validate();
  return r;
}

TEST(FuseFp8Attention, QkvWritesCodesTheAttentionReads) {
  TestGraph g = make_graph({});
  const float threshold = 6.0f;
  testing::PassResult r = run(g.graph(), {{"attn", threshold}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(r.near_misses, 0);
  EXPECT_FLOAT_EQ(attr_of(g.graph(), "qkv", "output_scale"), threshold / 448);
  EXPECT_FLOAT_EQ(attr_of(g.graph(), "attn", "input_scale"), threshold / 448);
  EXPECT_TRUE(r.logged("Attention 'attn' reads q, k, v as E4M3 codes"));
  EXPECT_TRUE(r.logged("that 'qkv' write"));
  const Node* qkv = testing::node_named(g.graph(), "qkv");
  ASSERT_NE(qkv, nullptr);
  EXPECT_EQ(g.graph().values[qkv->outputs[0]].dtype, DType::kUInt8);
  // Once is enough.
  testing::PassResult second = run(g.graph(), {{"attn", threshold}});
  ASSERT_TRUE(second.status.ok());
  EXPECT_EQ(second.applied, 0);
}

// What the rewritten graph computes: attention over the codes' values, exactly (the CPU
// kernel decodes them into float32 first), and close to the float graph's attention.
TEST(FuseFp8Attention, ComputesAttentionOfTheDecodedCodes) {
  ValueId qkv_value = kNoValue;
  TestGraph before = make_graph({}, &qkv_value);
  TestGraph after = make_graph({});
  const float threshold = 8.0f, scale = threshold / 448;
  ASSERT_TRUE(run(after.graph(), {{"attn", threshold}}).status.ok());
  const Tensor x = testing::random_tensor(DType::kFloat32, {2, kTokens, 128}, 11, -2.0, 2.0);

  // The float graph's qkv output, encoded and decoded on the host.
  TestGraph probe = make_graph({.second_reader = true});
  Result<std::vector<Tensor>> p = testing::run_graph(probe.graph(), {x});
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  const Tensor& y = (*p)[1];
  Tensor decoded = Tensor::empty(DType::kFloat32, y.shape());
  float amax = 0.0f;
  for (int64_t i = 0; i < y.numel(); ++i) {
    amax = std::max(amax, std::fabs(y.data<float>()[i]));
    decoded.data<float>()[i] = e4m3_to_float(float_to_e4m3(y.data<float>()[i] / scale)) * scale;
  }
  ASSERT_LT(amax, threshold);  // no saturation: the comparison is about rounding alone
  TestGraph plain;
  ValueId in = plain.input("qkv", DType::kFloat32, {2, kTokens, 384});
  Attributes a;
  a.set_int("num_heads", 2);
  plain.output(plain.op("Attention", {in}, a, "vitrt", "attn"));
  ASSERT_TRUE(plain.infer().ok());
  Result<std::vector<Tensor>> want = testing::run_graph(plain.graph(), {decoded});
  Result<std::vector<Tensor>> got = testing::run_graph(after.graph(), {x});
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_TRUE(testing::tensors_close((*got)[0], (*want)[0], {0.0, 0.0}));
  // And within E4M3's rounding of the float graph.
  Result<std::vector<Tensor>> exact = testing::run_graph(before.graph(), {x});
  ASSERT_TRUE(exact.ok());
  EXPECT_TRUE(testing::cosine_at_least((*got)[0], (*exact)[0], 0.995));
}

TEST(FuseFp8Attention, LookAlikesStayFloat) {
  struct Case {
    const char* what;
    GraphSetup setup;
    std::map<std::string, float> thresholds;
    std::vector<quant::PrecisionRule> rules;
    const char* reason;
  };
  const std::map<std::string, float> t = {{"attn", 4.0f}};
  const Case cases[] = {
      {"head dim 32", {.heads = 4, .head_dim = 32}, t, {}, "head dim 32"},
      {"residual", {.residual = true}, t, {}, "adds a residual"},
      {"second reader", {.second_reader = true}, t, {}, "is also read elsewhere"},
      {"graph input", {.from_input = true}, t, {}, "no producer"},
      {"int8 layer", {.format = "int8"}, t, {}, "is an int8 QuantLinear"},
      {"no range", {}, {}, {}, "no calibrated range"},
      {"zero range", {}, {{"attn", 0.0f}}, {}, "all zeros"},
      {"rule", {}, t, {{"at*", "fp16"}}, "--layer-precision gives it fp16"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    TestGraph g = make_graph(c.setup);
    Graph before = g.graph();
    testing::PassResult r = run(g.graph(), c.thresholds, c.rules);
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 0);
    EXPECT_EQ(r.near_misses, 1);
    EXPECT_TRUE(r.logged(c.reason)) << (r.log.empty() ? "" : r.log.back());
    EXPECT_EQ(attr_of(g.graph(), "attn", "input_scale"), -1.0f);
    EXPECT_EQ(attr_of(g.graph(), "qkv", "output_scale"), -1.0f);
  }
}

// vitrt.Attention's input_scale: uint8 inputs only, a finite scale > 0, not with quant_*.
TEST(FuseFp8Attention, InputScaleContract) {
  auto infer = [](DType in_type, float scale, bool quant_probs) {
    TestGraph g;
    ValueId qkv = g.input("qkv", in_type, {2, kTokens, 384});
    Attributes a;
    a.set_int("num_heads", 2);
    a.set_float("input_scale", scale);
    if (quant_probs) a.set_floats("quant_probs", {1.0f / 255, 0.0f, 0.0f, 255.0f});
    g.output(g.op("Attention", {qkv}, a, "vitrt", "attn"));
    return g.infer();
  };
  EXPECT_TRUE(infer(DType::kUInt8, 0.01f, false).ok());
  Status f = infer(DType::kFloat32, 0.01f, false);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.to_string().find("uint8 E4M3 codes"), std::string::npos) << f.to_string();
  for (float bad : {0.0f, -1.0f, INFINITY, NAN}) {
    Status s = infer(DType::kUInt8, bad, false);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.to_string().find("input_scale"), std::string::npos) << s.to_string();
  }
  Status q = infer(DType::kUInt8, 0.01f, true);
  EXPECT_FALSE(q.ok());
  EXPECT_NE(q.to_string().find("does not combine with 'quant_probs'"), std::string::npos)
      << q.to_string();
}

}  // namespace
}  // namespace vitrt
