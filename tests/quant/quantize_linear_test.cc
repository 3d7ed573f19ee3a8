// Pass quantize_linear and the precision rules: which linear layers it quantizes (defaults,
// --layer-precision rules, preconditions), and that the quantized graph computes what the fp32
// graph does up to quantization error.
#include "passes/quantize_linear.h"
#include "quant/quantize_build.h"

#include <gtest/gtest.h>

#include <cmath>

#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// x [batch, 6, 16] -> fc1 (gelu) -> fc2 -> (ReduceMean over tokens) -> head; a second input
// feeds a layer whose weights are not constant.
struct Model {
  TestGraph g;
  Tensor x;
  ValueId head_out = kNoValue;
};

void build(Model& m) {
  TestGraph& g = m.g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, 16});
  auto linear = [&](ValueId in, int64_t k, int64_t n, const std::string& name,
                    const std::string& act, uint64_t seed) {
    Attributes a;
    a.set_string("activation", act);
    return g.op("Linear",
                {in, g.constant(name + ".w", testing::random_tensor(DType::kFloat32, {k, n}, seed)),
                 g.constant(name + ".b", testing::random_tensor(DType::kFloat32, {n}, seed + 1))},
                a, "vitrt", name);
  };
  ValueId h = linear(x, 16, 32, "blocks.0/mlp/fc1", "gelu", 1);
  h = linear(h, 32, 16, "blocks.0/mlp/fc2", "none", 3);
  Attributes mean;
  mean.set_ints("axes", {1});
  mean.set_int("keepdims", 0);
  ValueId pooled = g.op("ReduceMean", {h}, mean);
  m.head_out = linear(pooled, 16, 5, "classifier_layer", "none", 5);
  g.output(m.head_out);
  ASSERT_TRUE(g.infer().ok());
  m.x = testing::random_tensor(DType::kFloat32, {3, 6, 16}, 9, -2.0, 2.0);
}

// Thresholds = the exact amax of each layer input on m.x (what minmax calibration gives).
QuantizeLinearOptions options_for(const Graph& graph, const Tensor& x, const std::string& format) {
  QuantizeLinearOptions o;
  o.format = format;
  o.float_precision = "fp32";
  o.int8_method = "minmax";
  o.fp8_method = "minmax";
  Graph probe = graph;
  probe.outputs.clear();
  std::vector<std::string> names;
  for (const Node& n : graph.nodes) {
    if (n.op_type == "Linear") {
      probe.outputs.push_back(n.inputs[0]);
      names.push_back(graph.values[n.inputs[0]].name);
    }
  }
  auto outs = testing::run_graph(probe, {x});
  EXPECT_TRUE(outs.ok());
  for (size_t i = 0; i < names.size(); ++i) {
    float amax = 0;
    const Tensor& t = (*outs)[i];
    for (int64_t j = 0; j < t.numel(); ++j) amax = std::max(amax, std::fabs(t.data<float>()[j]));
    o.int8_threshold[names[i]] = amax;
    o.fp8_threshold[names[i]] = amax;
  }
  return o;
}

struct PassRun {
  Status status;
  std::vector<std::string> log;
  bool logged(const std::string& text) const {
    for (const std::string& l : log) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

PassRun run_quantize(Graph& graph, const QuantizeLinearOptions& o) {
  PassRun r;
  PassContext ctx(true, [&r](const std::string& line) { r.log.push_back(line); });
  r.status = quantize_linear(graph, ctx, o);
  if (r.status.ok()) r.status = infer_shapes(graph);
  if (r.status.ok()) r.status = graph.validate();
  return r;
}

std::string op_of(const Graph& g, const std::string& name) {
  for (const Node& n : g.nodes) {
    if (!n.dead && n.name == name) return n.op_type;
  }
  return "(none)";
}

TEST(QuantizeLinear, QuantizesEncoderLayersAndKeepsTheHeadFloat) {
  for (const char* format : {"int8", "fp8"}) {
    Model m;
    build(m);
    Graph before = m.g.graph();
    QuantizeLinearOptions o = options_for(before, m.x, format);
    Graph after = before;
    PassRun r = run_quantize(after, o);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    EXPECT_EQ(op_of(after, "blocks.0/mlp/fc1"), "QuantLinear") << format;
    EXPECT_EQ(op_of(after, "blocks.0/mlp/fc2"), "QuantLinear") << format;
    EXPECT_EQ(op_of(after, "classifier_layer"), "Linear") << format;
    EXPECT_TRUE(r.logged("-> " + std::string(format) + " (encoder layer)"));
    EXPECT_TRUE(r.logged("stays fp32: head or projection"));
    for (const Node& n : after.nodes) {
      if (n.op_type != "QuantLinear") continue;
      EXPECT_EQ(*n.attrs.get_string("format", ""), format);
      EXPECT_EQ(after.values[n.inputs[1]].dtype,
                std::string(format) == "int8" ? DType::kInt8 : DType::kUInt8);
    }
    EXPECT_EQ(*after.nodes[0].attrs.get_string("activation", ""), "gelu");
    auto want = testing::run_graph(before, {m.x});
    auto got = testing::run_graph(after, {m.x});
    ASSERT_TRUE(want.ok() && got.ok());
    // Two 8-bit layers with exact calibration: int8 measured 0.9999+, fp8 0.999+.
    EXPECT_TRUE(testing::cosine_at_least((*got)[0], (*want)[0], 0.999)) << format;
  }
}

// A Linear's residual (input 3) becomes the QuantLinear's input 4, after the bias or an omitted
// one, and the quantized layer still adds it.
TEST(QuantizeLinear, KeepsTheResidual) {
  for (bool bias : {true, false}) {
    for (const char* format : {"int8", "fp8"}) {
      SCOPED_TRACE(str_cat(format, bias ? " bias" : " no bias"));
      TestGraph g;
      const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, 16});
      const ValueId r = g.input("r", DType::kFloat32, {Dim::symbol("batch"), 6, 8});
      const ValueId b =
          bias ? g.constant("b", testing::random_tensor(DType::kFloat32, {8}, 2)) : kNoValue;
      g.output(g.op("Linear",
                    {x, g.constant("w", testing::random_tensor(DType::kFloat32, {16, 8}, 1)), b, r},
                    {}, "vitrt", "blocks.0/attn/proj"));
      ASSERT_TRUE(g.infer().ok());
      const Tensor xv = testing::random_tensor(DType::kFloat32, {3, 6, 16}, 9, -2.0, 2.0);
      const Tensor rv = testing::random_tensor(DType::kFloat32, {3, 6, 8}, 10, -2.0, 2.0);
      QuantizeLinearOptions o;
      o.format = format;
      o.float_precision = "fp32";
      o.int8_threshold["x"] = o.fp8_threshold["x"] = 2.0f;
      Graph after = g.graph();
      PassRun run = run_quantize(after, o);
      ASSERT_TRUE(run.status.ok()) << run.status.message();
      const Node& q = after.nodes[0];
      ASSERT_EQ(q.op_type, "QuantLinear");
      ASSERT_EQ(q.num_inputs(), 5);
      EXPECT_EQ(q.has_input(3), bias);
      EXPECT_EQ(q.inputs[4], r);
      auto want = testing::run_graph(g.graph(), {xv, rv});
      auto got = testing::run_graph(after, {xv, rv});
      ASSERT_TRUE(want.ok() && got.ok());
      EXPECT_TRUE(testing::cosine_at_least((*got)[0], (*want)[0], 0.999));
    }
  }
}

TEST(QuantizeLinear, LayerRulesOverrideDefaultsLastMatchWins) {
  Model m;
  build(m);
  QuantizeLinearOptions o = options_for(m.g.graph(), m.x, "int8");
  o.rules = {{"blocks.*", "fp32"}, {"*/fc2", "fp8"}, {"classifier*", "int8"}};
  EXPECT_EQ(linear_inputs_to_calibrate(m.g.graph(), o).size(), 2u);  // fc2's and the head's
  Graph g = m.g.graph();
  PassRun r = run_quantize(g, o);
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(op_of(g, "blocks.0/mlp/fc1"), "Linear");
  EXPECT_TRUE(r.logged("stays fp32: --layer-precision 'blocks.*=fp32'"));
  EXPECT_EQ(op_of(g, "blocks.0/mlp/fc2"), "QuantLinear");
  EXPECT_TRUE(r.logged("'blocks.0/mlp/fc2' -> fp8"));
  EXPECT_EQ(op_of(g, "classifier_layer"), "QuantLinear");
}

TEST(QuantizeLinear, Bf16RuleOnTheCpuAndFp16RuleRefused) {
  Model m;
  build(m);
  QuantizeLinearOptions o = options_for(m.g.graph(), m.x, "int8");
  o.rules = {{"*fc1", "bf16"}};
  Graph g = m.g.graph();
  ASSERT_TRUE(run_quantize(g, o).status.ok());
  for (const Node& n : g.nodes) {
    if (n.name == "blocks.0/mlp/fc1") {
      EXPECT_EQ(n.op_type, "Linear");
      EXPECT_EQ(*n.attrs.get_string("compute_precision", ""), "bf16");
    }
  }
  o.rules = {{"*fc1", "fp16"}};
  Graph g2 = m.g.graph();
  PassRun r = run_quantize(g2, o);
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("fp16"), std::string::npos);
}

// Look-alikes the pass must leave alone: an input that was all zeros on the calibration data,
// weights that are not constant, a Linear already computing in bf16.
TEST(QuantizeLinear, DoesNotFireWithoutARangeOrConstantFp32Weights) {
  Model m;
  build(m);
  QuantizeLinearOptions o = options_for(m.g.graph(), m.x, "int8");
  Graph g = m.g.graph();
  o.int8_threshold[g.values[g.nodes[0].inputs[0]].name] = 0.0f;
  g.nodes[1].attrs.set_string("compute_precision", "bf16");
  PassRun r = run_quantize(g, o);
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(op_of(g, "blocks.0/mlp/fc1"), "Linear");
  EXPECT_TRUE(r.logged("was all zeros on the calibration data"));
  EXPECT_EQ(op_of(g, "blocks.0/mlp/fc2"), "Linear");
  EXPECT_TRUE(r.logged("already computes in reduced precision"));

  TestGraph dyn;
  ValueId x = dyn.input("x", DType::kFloat32, {2, 4, 8});
  ValueId w = dyn.input("w", DType::kFloat32, {8, 3});
  dyn.output(dyn.op("Linear", {x, w}, {}, "vitrt", "runtime_weights"));
  ASSERT_TRUE(dyn.infer().ok());
  QuantizeLinearOptions od;
  od.format = "int8";
  od.float_precision = "fp32";
  EXPECT_TRUE(linear_inputs_to_calibrate(dyn.graph(), od).empty());
  PassRun rd = run_quantize(dyn.graph(), od);
  ASSERT_TRUE(rd.status.ok());
  EXPECT_EQ(op_of(dyn.graph(), "runtime_weights"), "Linear");
  EXPECT_TRUE(rd.logged("not a constant float32 matrix"));
}

// The hook for QDQ models: a graph that already holds QuantLinear nodes (import_qdq) builds
// without calibration data, its other linear layers staying float; a float graph does not.
TEST(QuantizeLinear, AlreadyQuantizedGraphNeedsNoCalibration) {
  Model m;
  build(m);
  Graph g = m.g.graph();
  QuantizeLinearOptions o = options_for(g, m.x, "int8");
  o.rules = {{"*fc2", "fp32"}, {"classifier*", "fp32"}};
  ASSERT_TRUE(run_quantize(g, o).status.ok());  // fc1 quantized, as an importer would
  ASSERT_EQ(op_of(g, "blocks.0/mlp/fc1"), "QuantLinear");
  BuildOptions options;
  options.precision = "int8";
  std::vector<std::string> log;
  options.log = [&log](const std::string& line) { log.push_back(line); };
  Status s = quant::quantize_for_build(g, options);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(op_of(g, "blocks.0/mlp/fc2"), "Linear");
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log.back().find("already quantized"), std::string::npos) << log.back();

  Graph plain = m.g.graph();
  s = quant::quantize_for_build(plain, options);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("needs --calib-data"), std::string::npos) << s.message();
}

TEST(QuantizeLinear, PrecisionRuleSyntax) {
  EXPECT_TRUE(quant::parse_precision_rule("*/fc2=fp32").ok());
  EXPECT_FALSE(quant::parse_precision_rule("*/fc2").ok());
  EXPECT_FALSE(quant::parse_precision_rule("*/fc2=int4").ok());
  EXPECT_TRUE(quant::glob_matches("/blocks/*/attn/*", "/blocks/blocks.3/attn/qkv/MatMul"));
  EXPECT_FALSE(quant::glob_matches("*fc1", "/mlp/fc1/MatMul"));
}

}  // namespace
}  // namespace vitrt
