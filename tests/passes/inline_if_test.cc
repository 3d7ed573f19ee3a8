// If sub-graphs: import (captures bound as the node's extra inputs) and inline_constant_ifs
// (the branch a build-time condition picks replaces the If), on the fixtures of
// python/make_if_fixtures.py (tests/data/conformance_if, outputs from ONNX Runtime), with the
// optimizer on and off; refusals for data-dependent and dynamic-dim conditions and malformed
// branches.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "ir/graph.h"
#include "onnx/onnx_import.h"
#include "passes/pass.h"
#include "runtime/build_pipeline.h"
#include "testing/compare.h"
#include "testing/node_test_data.h"
#include "testing/test_graph.h"
#include "vitrt/builder.h"
#include "vitrt/engine.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(VITRT_SOURCE_DIR) / "tests/data/conformance_if";

const Node* find_node(const Graph& g, const std::string& op_type) {
  for (const Node& n : g.nodes) {
    if (!n.dead && n.op_type == op_type) return &n;
  }
  return nullptr;
}

Graph import_case(const std::string& name) {
  Result<Graph> g = import_onnx_file((kData / name / "model.onnx").string());
  EXPECT_TRUE(g.ok()) << g.status().to_string();
  return g.ok() ? std::move(g).value() : Graph();
}

// Imports `name` and inlines its Ifs; the pass's applied count goes to `applied`.
Graph inlined_case(const std::string& name, int* applied) {
  Graph g = import_case(name);
  PassContext ctx(false, nullptr);
  Status s = inline_constant_ifs(g, ctx);
  EXPECT_TRUE(s.ok()) << s.to_string();
  auto it = ctx.applied_counts().find("inline_if");
  *applied = it == ctx.applied_counts().end() ? 0 : it->second;
  EXPECT_TRUE(g.validate().ok());
  return g;
}

TEST(IfImport, BranchesReadOuterValuesThroughTheNodesExtraInputs) {
  const Graph g = import_case("test_if_const_outer_refs");
  const Node* node = find_node(g, "If");
  ASSERT_NE(node, nullptr);
  // cond, then the union of what the branches read from outside: x, w (then) and b (else).
  std::vector<std::string> inputs;
  for (ValueId v : node->inputs) inputs.push_back(g.values[v].name);
  ASSERT_EQ(inputs.size(), 4u);
  EXPECT_EQ(inputs[0], "cond");
  std::vector<std::string> captures(inputs.begin() + 1, inputs.end());
  std::sort(captures.begin(), captures.end());
  EXPECT_EQ(captures, (std::vector<std::string>{"b", "w", "x"}));
  for (const char* branch : {"then_branch", "else_branch"}) {
    const Attribute* a = node->attrs.find(branch);
    ASSERT_NE(a, nullptr) << branch;
    ASSERT_EQ(a->kind, Attribute::Kind::kGraph);
    ASSERT_NE(a->g, nullptr);
    const Graph& sub = *a->g;
    ASSERT_EQ(sub.inputs.size(), 3u) << branch;
    for (size_t k = 0; k < sub.inputs.size(); ++k) {
      EXPECT_EQ(sub.values[sub.inputs[k]].name, inputs[k + 1]) << branch << " capture " << k;
    }
    EXPECT_EQ(sub.outputs.size(), 1u);
    EXPECT_TRUE(sub.validate().ok());
  }
  // The else branch's own initializer stays in the branch.
  const Graph& else_branch = *node->attrs.find("else_branch")->g;
  std::optional<ValueId> scale = else_branch.find_value("else_scale");
  ASSERT_TRUE(scale.has_value());
  EXPECT_TRUE(else_branch.values[*scale].is_constant());
}

TEST(IfImport, NestedIfCapturesFromTwoScopesUp) {
  const Graph g = import_case("test_if_const_nested");
  const Node* outer = find_node(g, "If");
  ASSERT_NE(outer, nullptr);
  const Graph& then_branch = *outer->attrs.find("then_branch")->g;
  const Node* inner = find_node(then_branch, "If");
  ASSERT_NE(inner, nullptr);
  // The inner branches read x, which the outer branch does not define: the outer branch
  // captures it to pass it on.
  bool inner_reads_x = false;
  for (ValueId v : inner->inputs) inner_reads_x |= then_branch.values[v].name == "x";
  EXPECT_TRUE(inner_reads_x);
  bool outer_passes_x = false;
  for (ValueId v : outer->inputs) outer_passes_x |= g.values[v].name == "x";
  EXPECT_TRUE(outer_passes_x);
}

TEST(InlineIf, TakesTheThenBranchWhenAStaticDimMatches) {
  int applied = 0;
  const Graph g = inlined_case("test_if_const_outer_refs", &applied);
  EXPECT_EQ(applied, 1);
  const std::map<std::string, int> ops = g.op_counts();
  EXPECT_EQ(ops.count("If"), 0u);
  EXPECT_EQ(ops.count("MatMul"), 1u);  // then: MatMul + Relu
  EXPECT_EQ(ops.count("Mul"), 0u);     // else: Add + Mul
  // The If's output keeps its value (and name); the branch's Relu writes it.
  std::optional<ValueId> y = g.find_value("if_y");
  ASSERT_TRUE(y.has_value());
  ASSERT_GE(g.values[*y].producer, 0);
  EXPECT_EQ(g.nodes[g.values[*y].producer].op_type, "Relu");
}

TEST(InlineIf, TakesTheElseBranchWithItsOwnInitializer) {
  int applied = 0;
  const Graph g = inlined_case("test_if_const_else_initializer", &applied);
  EXPECT_EQ(applied, 1);
  const std::map<std::string, int> ops = g.op_counts();
  EXPECT_EQ(ops.count("If"), 0u);
  EXPECT_EQ(ops.count("MatMul"), 0u);
  EXPECT_EQ(ops.count("Mul"), 1u);
  std::optional<ValueId> scale = g.find_value("else_scale");
  ASSERT_TRUE(scale.has_value());
  EXPECT_TRUE(g.values[*scale].is_constant());
}

TEST(InlineIf, ResolvesANestedIfAndCopiesConstantOutputs) {
  int applied = 0;
  const Graph g = inlined_case("test_if_const_nested", &applied);
  EXPECT_EQ(applied, 2);  // the outer If, then the inner one its branch brought
  EXPECT_EQ(g.op_counts().count("If"), 0u);
  // The graph output z is the inner else branch's constant, passed through a copy.
  std::optional<ValueId> z = g.find_value("z");
  ASSERT_TRUE(z.has_value());
  ASSERT_GE(g.values[*z].producer, 0);
  EXPECT_EQ(g.nodes[g.values[*z].producer].op_type, "Identity");
}

TEST(InlineIf, ResolvesAnIfWhoseConditionReadsAnotherIfsOutput) {
  int applied = 0;
  const Graph g = inlined_case("test_if_const_chained", &applied);
  EXPECT_EQ(applied, 2);
  const std::map<std::string, int> ops = g.op_counts();
  EXPECT_EQ(ops.count("If"), 0u);
  EXPECT_EQ(ops.count("Concat"), 1u);  // first: else (flag false)
  EXPECT_EQ(ops.count("Tanh"), 1u);    // second: then (the width is 8 after the Concat)
  EXPECT_EQ(ops.count("Neg"), 0u);
}

// Every constant-condition fixture, through the engine with the optimizer on and off, against
// ONNX Runtime's outputs.
class IfAgainstOrt : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(IfAgainstOrt, OutputsMatch) {
  const auto& [name, optimize] = GetParam();
  BuildOptions options;
  options.optimize = optimize;
  Result<std::shared_ptr<Engine>> engine =
      Engine::from_onnx((kData / name / "model.onnx").string(), options);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  Result<testing::NodeTestData> data =
      testing::read_node_test_data(kData / name / "test_data_set_0");
  ASSERT_TRUE(data.ok()) << data.status().to_string();
  Result<std::vector<NamedTensor>> out = (*engine)->create_context()->run(data->inputs);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), data->outputs.size());
  for (size_t k = 0; k < out->size(); ++k) {
    EXPECT_TRUE(testing::tensors_close((*out)[k].tensor, data->outputs[k], {1e-5, 1e-6}))
        << "output " << k;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, IfAgainstOrt,
                         ::testing::Combine(::testing::Values("test_if_const_outer_refs",
                                                              "test_if_const_else_initializer",
                                                              "test_if_const_nested",
                                                              "test_if_const_chained"),
                                            ::testing::Bool()));

// A hand-built graph: If nodes on a constant condition, one of whose output nothing reads and one
// whose condition is a graph input (refused only if something needed it). The then branch
// passes an outer value on (a copy) and adds an initializer of its own.
Graph hand_built_if(bool second_if_used) {
  testing::TestGraph t;
  const ValueId x = t.input("x", DType::kFloat32, {Dim::symbol("batch"), 3});
  const ValueId data_cond = t.input("c", DType::kBool, {});
  const ValueId flag = t.constant("flag", Tensor::from_int64({1}, /*as_scalar=*/true));

  Graph then_branch;
  Value outer;
  outer.name = "x";
  const ValueId bx = then_branch.add_value(outer);
  then_branch.inputs = {bx};
  const ValueId two = then_branch.add_constant("two", Tensor::from_float({2.0f}));
  Node mul;
  mul.name = "mul";
  mul.op_type = "Mul";
  mul.inputs = {bx, two};
  Value product;
  product.name = "product";
  mul.outputs = {then_branch.add_value(product)};
  then_branch.add_node(mul);
  then_branch.outputs = {mul.outputs[0], bx};
  Graph else_branch = then_branch;  // the same body: only the choice is under test

  Attributes attrs;
  Attribute a;
  a.kind = Attribute::Kind::kGraph;
  a.g = std::make_shared<const Graph>(then_branch);
  attrs.set("then_branch", a);
  a.g = std::make_shared<const Graph>(else_branch);
  attrs.set("else_branch", a);
  const std::vector<ValueId> first = t.op_multi("If", {flag, x}, 2, attrs, "", "first_if");
  const std::vector<ValueId> second = t.op_multi("If", {data_cond, x}, 2, attrs, "", "second_if");
  t.output(t.op("Add", {first[0], first[1]}));
  if (second_if_used) t.output(second[0]);
  return t.graph();
}

TEST(InlineIf, DropsAnUnusedIfAndInlinesTheUsedOne) {
  Graph g = hand_built_if(/*second_if_used=*/false);
  PassContext ctx(false, nullptr);
  ASSERT_TRUE(inline_constant_ifs(g, ctx).ok());
  EXPECT_EQ(ctx.applied_counts().at("inline_if"), 2);  // one inlined, one dropped
  ASSERT_TRUE(infer_shapes(g).ok());
  ASSERT_TRUE(g.validate().ok());
  EXPECT_EQ(g.op_counts().count("If"), 0u);
  // y = x * 2 + x, against a float64 reference.
  const Tensor x = testing::random_tensor(DType::kFloat32, {4, 3}, 5);
  Tensor c = Tensor::empty(DType::kBool, {});
  c.data<uint8_t>()[0] = 0;
  Result<std::vector<Tensor>> out = testing::run_graph(g, {x, c});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  Tensor expected = Tensor::empty(DType::kFloat32, {4, 3});
  for (int64_t i = 0; i < 12; ++i) {
    expected.data<float>()[i] = static_cast<float>(static_cast<double>(x.data<float>()[i]) * 3.0);
  }
  EXPECT_TRUE(testing::tensors_close((*out)[0], expected));
}

TEST(InlineIf, RefusesAUsedIfOnData) {
  Graph g = hand_built_if(/*second_if_used=*/true);
  PassContext ctx(false, nullptr);
  const Status s = inline_constant_ifs(g, ctx);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("If 'second_if' condition 'c' depends on the data of graph input"),
            std::string::npos)
      << s.message();
}

Status build_status(const std::string& file) {
  return Engine::from_onnx((kData / file).string()).status();
}

TEST(InlineIf, RefusesAConditionOnData) {
  const Status s = build_status("refuse_data_condition.onnx");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("If '/data/If' condition 'c' depends on the data of graph input 'c'"),
            std::string::npos)
      << s.message();
}

TEST(InlineIf, RefusesAConditionOnADynamicDim) {
  const Status s = build_status("refuse_dynamic_dim.onnx");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("If '/dyn/If' condition 'cond' depends on the dynamic dim 'height'"),
            std::string::npos)
      << s.message();
}

// Profiles that fix the dim (min = max in every profile) let the build specialise it: 'height'
// 8 takes the then branch (Neg), 9 the else branch (Abs); a profile that leaves it free, or two
// that fix it to different values, keep the refusal.
TEST(InlineIf, ProfilesThatFixTheDimResolveTheCondition) {
  const std::string path = (kData / "refuse_dynamic_dim.onnx").string();
  for (const auto& [height, negates] : {std::pair<int64_t, bool>{8, true}, {9, false}}) {
    SCOPED_TRACE(height);
    BuildOptions options;
    const std::string shape = str_cat("1x", height);
    options.profiles = {str_cat("x:min=", shape, ",opt=", shape, ",max=", shape)};
    std::vector<std::string> log;
    options.log = [&log](const std::string& line) { log.push_back(line); };
    Result<Graph> g = import_and_prepare(path, options, nullptr);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    EXPECT_EQ(testing::count_ops(*g, "If"), 0);
    bool logged = false;
    for (const std::string& line : log) {
      logged |= line.find(str_cat("every profile fixes it to ", height)) != std::string::npos;
    }
    EXPECT_TRUE(logged);
    Tensor x = testing::random_tensor(DType::kFloat32, {1, height}, 3);
    Result<std::vector<Tensor>> y = testing::run_graph(*g, {x});
    ASSERT_TRUE(y.ok()) << y.status().to_string();
    for (int64_t i = 0; i < height; ++i) {
      const float v = x.data<float>()[i];
      EXPECT_EQ((*y)[0].data<float>()[i], negates ? -v : std::fabs(v));
    }
  }
  for (const std::vector<std::string>& profiles :
       {std::vector<std::string>{"x:min=1x8,opt=1x8,max=1x16"},
        {"x:min=1x8,opt=1x8,max=1x8", "x:min=1x9,opt=1x9,max=1x9"}}) {
    BuildOptions options;
    options.profiles = profiles;
    Result<Graph> g = import_and_prepare(path, options, nullptr);
    ASSERT_FALSE(g.ok());
    EXPECT_NE(g.status().message().find("give --profile ranges that fix it"), std::string::npos)
        << g.status().message();
  }
}

TEST(IfImport, RejectsABranchNodeWithoutOpType) {
  Result<Graph> g = import_onnx_file((kData / "malformed_branch_no_op_type.onnx").string());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("attribute 'then_branch' of node '/bad/If' (If)"),
            std::string::npos)
      << g.status().message();
  EXPECT_NE(g.status().message().find("has no op_type"), std::string::npos) << g.status().message();
}

TEST(IfImport, RejectsABranchReadingAnUndefinedName) {
  Result<Graph> g = import_onnx_file((kData / "malformed_branch_undefined_name.onnx").string());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(
      g.status().message().find("node '/dangling/If' (If): a sub-graph reads 'nowhere', which no "
                                "enclosing graph defines"),
      std::string::npos)
      << g.status().message();
}

TEST(IfImport, RejectsABranchDefiningANameTheOtherReadsFromOutside) {
  Result<Graph> g = import_onnx_file((kData / "malformed_branch_shadows_outer_name.onnx").string());
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("node '/shadow/If' (If): sub-graph 'then_branch' defines "
                                      "'x2', which another sub-graph of the node reads"),
            std::string::npos)
      << g.status().message();
}

// Every prefix of a model with nested sub-graphs imports or fails with a message; the wire
// reader's bounds checks hold inside GraphProto attributes too.
TEST(IfImport, TruncatedNestedModelsFailWithAMessage) {
  std::ifstream file(kData / "test_if_const_nested" / "model.onnx", std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(file)),
                                   std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 100u);
  int failures = 0;
  for (size_t size = 1; size < bytes.size(); ++size) {
    Result<Graph> g = import_onnx_bytes(bytes.data(), size, "");
    if (g.ok()) continue;
    ++failures;
    EXPECT_FALSE(g.status().message().empty()) << "prefix of " << size << " bytes";
  }
  EXPECT_GT(failures, static_cast<int>(bytes.size()) / 2);
}

TEST(InlineIf, RejectsABranchWithTheWrongNumberOfOutputs) {
  const Status s = build_status("malformed_branch_output_count.onnx");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node '/arity/If' (If): then_branch has 2 outputs, the node 1"),
            std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace vitrt
