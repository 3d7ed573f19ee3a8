// pack_qkv: three Linear projections of one X feeding an Attention become one packed Linear
// (numbers checked against the unpacked graph); cross-attention, activations, shared outputs and
// value widths other than the query's are declined with a reason.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "passes/pass.h"
#include "testing/attention_op.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

struct Options {
  bool with_bias[3] = {true, false, true};
  bool with_mask = false;
  bool cross = false;          // k and v read a second input
  bool k_activation = false;   // k projection has a GELU epilogue
  bool q_also_output = false;  // q projection is also a graph output
  bool v_narrow = false;       // v projects to half the width (head_dim != value_dim)
};

constexpr int64_t kSeq = 6, kWidth = 12, kHeads = 3;

// Returns the graph-input feeds in order.
std::vector<Tensor> build(TestGraph& g, const Options& o) {
  std::vector<Tensor> feeds;
  const SymShape xs = {Dim::symbol("batch"), kSeq, kWidth};
  ValueId x = g.input("x", DType::kFloat32, xs);
  feeds.push_back(testing::random_tensor(DType::kFloat32, {2, kSeq, kWidth}, 1));
  ValueId y = x;
  if (o.cross) {
    y = g.input("y", DType::kFloat32, xs);
    feeds.push_back(testing::random_tensor(DType::kFloat32, {2, kSeq, kWidth}, 2));
  }
  std::vector<ValueId> qkv;
  for (int p = 0; p < 3; ++p) {
    const int64_t n = p == 2 && o.v_narrow ? kWidth / 2 : kWidth;
    ValueId wv = g.constant("w" + std::to_string(p),
                            testing::random_tensor(DType::kFloat32, {kWidth, n}, 10 + p));
    std::vector<ValueId> in = {p == 0 ? x : y, wv};
    if (o.with_bias[p]) {
      in.push_back(g.constant("b" + std::to_string(p),
                              testing::random_tensor(DType::kFloat32, {n}, 20 + p)));
    }
    Attributes a;
    a.set_string("activation", p == 1 && o.k_activation ? "gelu" : "none");
    qkv.push_back(g.op("Linear", in, a, "vitrt"));
  }
  if (o.q_also_output) g.output(qkv[0]);
  const ValueId mask =
      o.with_mask ? g.constant("mask", testing::random_tensor(DType::kFloat32, {kSeq, kSeq}, 30))
                  : kNoValue;
  g.output(
      testing::add_attention(g, {.heads = kHeads, .causal = true}, qkv[0], qkv[1], qkv[2], mask));
  return feeds;
}

struct Outcome {
  int applied = 0;
  std::string log;
};

Outcome run_pack(TestGraph& g, const std::vector<Tensor>& feeds) {
  const Status inferred = g.infer();
  EXPECT_TRUE(inferred.ok()) << inferred.to_string();
  auto before = testing::run_graph(g.graph(), feeds);
  EXPECT_TRUE(before.ok()) << before.status().to_string();
  Outcome out;
  PassContext ctx(true, [&](const std::string& line) { out.log += line + "\n"; });
  EXPECT_TRUE(pack_qkv(g.graph(), ctx).ok());
  auto it = ctx.applied_counts().find("pack_qkv");
  out.applied = it == ctx.applied_counts().end() ? 0 : it->second;
  EXPECT_TRUE(infer_shapes(g.graph()).ok());
  g.graph().compact();
  EXPECT_TRUE(g.graph().validate().ok());
  auto after = testing::run_graph(g.graph(), feeds);
  EXPECT_TRUE(after.ok()) << after.status().to_string();
  if (before.ok() && after.ok()) {
    for (size_t i = 0; i < before->size(); ++i) {
      EXPECT_TRUE(testing::tensors_close((*after)[i], (*before)[i], {1e-5, 1e-6}));
    }
  }
  return out;
}

TEST(PackQkv, PacksSelfAttentionProjections) {
  for (bool mask : {false, true}) {
    TestGraph g;
    Options o;
    o.with_mask = mask;
    const std::vector<Tensor> feeds = build(g, o);
    Outcome out = run_pack(g, feeds);
    EXPECT_EQ(out.applied, 1);
    EXPECT_EQ(testing::count_ops(g.graph(), "Linear"), 1);
    for (const Node& n : g.graph().nodes) {
      if (n.op_type != "Attention") continue;
      EXPECT_FALSE(n.has_input(1));
      EXPECT_FALSE(n.has_input(2));
      EXPECT_EQ(n.has_input(3), mask);
      EXPECT_EQ(sym_shape_to_string(g.graph().values[n.inputs[0]].shape), "[batch, 6, 36]");
    }
  }
}

TEST(PackQkv, DeclinesLookAlikes) {
  struct Case {
    Options options;
    const char* reason;
  };
  std::vector<Case> cases(4);
  cases[0].options.cross = true;
  cases[0].reason = "read different inputs";
  cases[1].options.k_activation = true;
  cases[1].reason = "k projection has an activation";
  cases[2].options.q_also_output = true;
  cases[2].reason = "q projection is also used elsewhere";
  cases[3].options.v_narrow = true;
  cases[3].reason = "q, k, v weights differ in shape";
  for (const Case& c : cases) {
    TestGraph g;
    const std::vector<Tensor> feeds = build(g, c.options);
    Outcome out = run_pack(g, feeds);
    EXPECT_EQ(out.applied, 0) << c.reason;
    EXPECT_NE(out.log.find(c.reason), std::string::npos) << out.log;
    EXPECT_EQ(testing::count_ops(g.graph(), "Linear"), 3);
  }
}

}  // namespace
}  // namespace vitrt
