// fuse_rotary: the rotate_half and interleaved RoPE forms (with the prefix tokens and partial
// rotary around them) become one vitrt.RotaryEmbedding whose outputs equal the unfused graph's;
// look-alikes (sign on the wrong half, halves swapped, another X, another axis, tables that do
// not broadcast as the op needs, intermediates read elsewhere) decline with a reason. Last, the
// DINOv3 and EVA02 golden fixtures: every q and k rotation fuses, attention still fuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"
#include "passes/run_pass.h"
#include "runtime/build_pipeline.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::random_tensor;
using testing::run_pass;
using testing::TestGraph;

constexpr int64_t kToEnd = 9223372036854775807;  // torch's x[..., a:]

ValueId ints(TestGraph& g, const std::vector<int64_t>& v) {
  return g.constant("i" + std::to_string(g.graph().values.size()), Tensor::from_int64(v));
}

Attributes axis_attr(int64_t axis) {
  Attributes a;
  a.set_int("axis", axis);
  return a;
}

ValueId slice(TestGraph& g, ValueId x, int64_t axis, int64_t start, int64_t end, int64_t step = 1) {
  return g.op("Slice", {x, ints(g, {start}), ints(g, {end}), ints(g, {axis}), ints(g, {step})});
}

// How the hand-built rotation is written; every field off is the HF form.
struct Form {
  bool interleaved = false;
  bool split = false;          // the halves from one Split instead of two Slices
  bool swap_products = false;  // Add(rot * sin, X * cos), Mul(cos, X), Mul(sin, rot)
  bool sign_on_second = false;
  bool halves_swapped = false;  // Concat(Neg(lower), upper)
  bool other_x_for_cos = false;
  bool neg_read_elsewhere = false;
  int64_t prefix = 0;                // Concat(X[:, :, :p], rope(X[:, :, p:]))
  bool prefix_split = false;         // the prefix cut by one Split (dynamo), not two Slices
  int64_t rotary_dim = 0;            // < head_dim: Concat(rope(X[..., :D']), X[..., D':])
  std::vector<int64_t> table_shape;  // default [S - prefix, D']
  bool runtime_tables = false;       // cos and sin are graph inputs
  bool symbolic_tokens = false;      // q [batch, H, tokens, D], cos and sin [tokens, D] inputs
};

struct Built {
  TestGraph g;
  std::vector<Tensor> inputs;
};

constexpr int64_t kHeads = 3, kSeq = 7, kHeadDim = 8;

// rotate_half(x) = Concat(-x[..., h:], x[..., :h]), or EVA's stack(-x[..., 1::2], x[..., ::2]).
ValueId rotate(TestGraph& g, ValueId x, int64_t d, const Form& f, std::vector<ValueId>* extra) {
  const int64_t h = d / 2;
  if (f.interleaved) {
    ValueId odd = slice(g, x, 3, 1, kToEnd, 2);
    ValueId even = slice(g, x, 3, 0, kToEnd, 2);
    ValueId neg = g.op("Neg", {f.sign_on_second ? even : odd});
    ValueId a = g.op("Unsqueeze", {f.sign_on_second ? odd : neg, ints(g, {-1})});
    ValueId b = g.op("Unsqueeze", {f.sign_on_second ? neg : even, ints(g, {-1})});
    ValueId stacked = g.op("Concat", {a, b}, axis_attr(-1));
    return g.op("Reshape", {stacked, ints(g, {0, 0, 0, d})});
  }
  ValueId lower, upper;
  if (f.split) {
    std::vector<ValueId> parts = g.op_multi("Split", {x, ints(g, {h, h})}, 2, axis_attr(-1));
    lower = parts[0];
    upper = parts[1];
  } else {
    lower = slice(g, x, 3, 0, h);
    upper = slice(g, x, 3, h, kToEnd);
  }
  if (f.halves_swapped) std::swap(lower, upper);
  if (f.sign_on_second) {
    return g.op("Concat", {upper, g.op("Neg", {lower})}, axis_attr(-1));
  }
  ValueId neg = g.op("Neg", {upper});
  if (f.neg_read_elsewhere) extra->push_back(neg);
  return g.op("Concat", {neg, lower}, axis_attr(-1));
}

// q [batch, H, S, D] -> RoPE as `f` writes it; outputs the result (and any extra values).
Built build(const Form& f) {
  Built b;
  TestGraph& g = b.g;
  const Dim batch = Dim::symbol("batch");
  const Dim tokens = f.symbolic_tokens ? Dim::symbol("tokens") : Dim(kSeq);
  ValueId q = g.input("q", DType::kFloat32, {batch, kHeads, tokens, kHeadDim});
  b.inputs.push_back(random_tensor(DType::kFloat32, {2, kHeads, kSeq, kHeadDim}, 1));
  ValueId other = kNoValue;
  if (f.other_x_for_cos) {
    other = g.input("other", DType::kFloat32, {batch, kHeads, kSeq, kHeadDim});
    b.inputs.push_back(random_tensor(DType::kFloat32, {2, kHeads, kSeq, kHeadDim}, 2));
  }
  const int64_t d = f.rotary_dim > 0 ? f.rotary_dim : kHeadDim;
  std::vector<int64_t> table = f.table_shape;
  if (table.empty()) table = {kSeq - f.prefix, d};
  ValueId cos, sin;
  if (f.runtime_tables || f.symbolic_tokens) {
    SymShape shape(table.begin(), table.end());
    if (f.symbolic_tokens) shape[shape.size() - 2] = f.prefix > 0 ? Dim::symbol("rows") : tokens;
    cos = g.input("cos", DType::kFloat32, shape);
    sin = g.input("sin", DType::kFloat32, shape);
    b.inputs.push_back(random_tensor(DType::kFloat32, table, 3));
    b.inputs.push_back(random_tensor(DType::kFloat32, table, 4));
  } else {
    cos = g.constant("cos", random_tensor(DType::kFloat32, table, 3));
    sin = g.constant("sin", random_tensor(DType::kFloat32, table, 4));
  }
  ValueId x = q, head = kNoValue;
  if (f.prefix_split) {
    std::vector<ValueId> parts =
        g.op_multi("Split", {q, ints(g, {f.prefix, kSeq - f.prefix})}, 2, axis_attr(2));
    head = parts[0];
    x = parts[1];
  } else if (f.prefix > 0) {
    head = slice(g, q, 2, 0, f.prefix);
    x = slice(g, q, 2, f.prefix, kToEnd);
  }
  ValueId x_rot = f.rotary_dim > 0 ? slice(g, x, 3, 0, f.rotary_dim) : x;
  std::vector<ValueId> extra;
  ValueId rot = rotate(g, x_rot, d, f, &extra);
  ValueId cos_x = f.other_x_for_cos ? other : x_rot;
  ValueId a = f.swap_products ? g.op("Mul", {cos, cos_x}) : g.op("Mul", {cos_x, cos});
  ValueId r = f.swap_products ? g.op("Mul", {sin, rot}) : g.op("Mul", {rot, sin});
  ValueId out = f.swap_products ? g.op("Add", {r, a}) : g.op("Add", {a, r});
  if (f.rotary_dim > 0) {
    out = g.op("Concat", {out, slice(g, x, 3, f.rotary_dim, kToEnd)}, axis_attr(-1));
  }
  if (f.prefix > 0) out = g.op("Concat", {head, out}, axis_attr(2));
  g.output(out);
  for (ValueId e : extra) g.output(e);
  EXPECT_TRUE(g.infer().ok());
  return b;
}

const Node* rotary_node(const Graph& graph) {
  for (const Node& n : graph.nodes) {
    if (!n.dead && n.op_type == "RotaryEmbedding") return &n;
  }
  return nullptr;
}

// Fuses `f` and checks the node's attributes and the outputs against the graph before.
void expect_fused(const Form& f, int64_t start, bool interleaved) {
  Built b = build(f);
  const Graph before = b.g.graph();
  testing::PassResult r = run_pass(fuse_rotary, b.g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  const Node* n = rotary_node(b.g.graph());
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(*n->attrs.get_int("start", -1), start);
  EXPECT_EQ(*n->attrs.get_int("interleaved", -1), interleaved ? 1 : 0);
  EXPECT_EQ(n->inputs[0], b.g.graph().inputs[0]);  // reads q itself
  Graph after = b.g.graph();
  PassContext quiet(false, nullptr);
  ASSERT_TRUE(eliminate_dead_nodes(after, quiet).ok());
  after.compact();
  EXPECT_EQ(count_ops(after, "Neg"), 0);
  EXPECT_EQ(count_ops(after, "Mul"), 0);
  EXPECT_EQ(count_ops(after, "Concat"), 0);
  EXPECT_EQ(count_ops(after, "Slice"), 0);
  EXPECT_EQ(count_ops(after, "Split"), 0);
  // The kernel rounds as the Mul, Mul and Add it replaces: bit for bit the same.
  testing::expect_same_outputs(before, after, b.inputs);
}

// Expects no rewrite and, when `reason` is given, a near miss saying it.
void expect_declined(const Form& f, const std::string& reason) {
  Built b = build(f);
  const Graph before = b.g.graph();
  testing::PassResult r = run_pass(fuse_rotary, b.g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(rotary_node(b.g.graph()), nullptr);
  if (!reason.empty()) {
    EXPECT_TRUE(r.logged(reason)) << "no near miss saying: " << reason;
  }
  testing::expect_same_outputs(before, b.g.graph(), b.inputs);
}

TEST(FuseRotary, RotateHalfEveryOperandOrderAndSplit) {
  for (bool swap : {false, true}) {
    for (bool split : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "swapped products " << swap << ", split " << split);
      Form f;
      f.swap_products = swap;
      f.split = split;
      expect_fused(f, 0, false);
    }
  }
}

TEST(FuseRotary, Interleaved) {
  for (bool swap : {false, true}) {
    Form f;
    f.interleaved = true;
    f.swap_products = swap;
    expect_fused(f, 0, true);
  }
}

// The cls / register tokens sliced off and concatenated back: start = the prefix length.
TEST(FuseRotary, PrefixTokens) {
  for (bool interleaved : {false, true}) {
    for (int64_t prefix : {1, 5}) {
      SCOPED_TRACE(::testing::Message() << "interleaved " << interleaved << ", prefix " << prefix);
      Form f;
      f.interleaved = interleaved;
      f.prefix = prefix;
      expect_fused(f, prefix, interleaved);
    }
  }
}

// dynamo cuts the prefix with one Split on the token axis.
TEST(FuseRotary, PrefixTokensFromOneSplit) {
  for (bool interleaved : {false, true}) {
    Form f;
    f.interleaved = interleaved;
    f.prefix = 3;
    f.prefix_split = true;
    expect_fused(f, 3, interleaved);
  }
}

TEST(FuseRotary, PartialRotaryWithAndWithoutPrefix) {
  for (int64_t prefix : {0, 1}) {
    for (bool interleaved : {false, true}) {
      Form f;
      f.rotary_dim = 4;
      f.prefix = prefix;
      f.interleaved = interleaved;
      expect_fused(f, prefix, interleaved);
      Built b = build(f);
      ASSERT_TRUE(run_pass(fuse_rotary, b.g.graph()).status.ok());
      const Node* n = rotary_node(b.g.graph());
      ASSERT_NE(n, nullptr);
      EXPECT_EQ(b.g.graph().values[n->inputs[1]].shape.back().value(), 4);
    }
  }
}

// Tables with leading 1s, one row for all tokens, and tables computed at run time.
TEST(FuseRotary, TableShapesAndRuntimeTables) {
  // Per-head tables are timm's mixed-mode RoPE.
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{1, 1, kSeq, kHeadDim}, std::vector<int64_t>{1, kHeadDim},
        std::vector<int64_t>{kHeads, kSeq, kHeadDim},
        std::vector<int64_t>{1, kHeads, 1, kHeadDim}}) {
    Form f;
    f.table_shape = shape;
    expect_fused(f, 0, false);
  }
  Form f;
  f.runtime_tables = true;
  f.prefix = 2;
  expect_fused(f, 2, false);
  // Dynamic height and width: the token count is a symbol, the tables are computed from it.
  Form dynamic;
  dynamic.symbolic_tokens = true;
  expect_fused(dynamic, 0, false);
  // ... with the cls token cut off by constant bounds (x[:, :, :1], x[:, :, 1:]).
  dynamic.prefix = 1;
  expect_fused(dynamic, 1, false);
}

// A prefix whose length only the run time knows (Split sizes computed from the image size):
// the rotation fuses on the split-off tokens, the Split and Concat stay, with a near miss.
TEST(FuseRotary, PrefixOfUnknownLengthStays) {
  TestGraph g;
  ValueId q = g.input("q", DType::kFloat32, {1, kHeads, kSeq, kHeadDim});
  ValueId sizes = g.input("sizes", DType::kInt64, {2});
  const Dim rows = Dim::symbol("rows");
  ValueId cos = g.input("cos", DType::kFloat32, {rows, kHeadDim});
  ValueId sin = g.input("sin", DType::kFloat32, {rows, kHeadDim});
  std::vector<ValueId> parts = g.op_multi("Split", {q, sizes}, 2, axis_attr(2));
  const ValueId x = parts[1];
  ValueId rot = g.op("Concat", {g.op("Neg", {slice(g, x, 3, 4, kToEnd)}), slice(g, x, 3, 0, 4)},
                     axis_attr(-1));
  ValueId out = g.op("Add", {g.op("Mul", {x, cos}), g.op("Mul", {rot, sin})});
  g.output(g.op("Concat", {parts[0], out}, axis_attr(2)));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();
  testing::PassResult r = run_pass(fuse_rotary, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_TRUE(r.logged("their count is not known at build time"));
  const Node* n = rotary_node(g.graph());
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(*n->attrs.get_int("start", -1), 0);
  EXPECT_EQ(n->inputs[0], x);
  testing::expect_same_outputs(
      before, g.graph(),
      {random_tensor(DType::kFloat32, {1, kHeads, kSeq, kHeadDim}, 1),
       Tensor::from_int64({2, kSeq - 2}), random_tensor(DType::kFloat32, {kSeq - 2, kHeadDim}, 2),
       random_tensor(DType::kFloat32, {kSeq - 2, kHeadDim}, 3)});
}

TEST(FuseRotary, DeclinesSignOnTheWrongHalf) {
  Form f;
  f.sign_on_second = true;
  expect_declined(f, "sign on its second half");
  f.interleaved = true;
  expect_declined(f, "sign on the second of each pair");
}

TEST(FuseRotary, DeclinesSwappedHalves) {
  Form f;
  f.halves_swapped = true;
  expect_declined(f, "does not read Neg(X[..., D/2:]) then X[..., :D/2]");
}

TEST(FuseRotary, DeclinesADifferentXInTheProducts) {
  Form f;
  f.other_x_for_cos = true;
  expect_declined(f, "does not multiply the tensor");
}

TEST(FuseRotary, DeclinesTablesThatDoNotBroadcastAsTheOpNeeds) {
  // A table per batch item broadcasts in ONNX but is not the op's form.
  Form per_batch;
  per_batch.table_shape = {2, 1, kSeq, kHeadDim};
  expect_declined(per_batch, "does not keep the shape");
  Form per_dim;
  per_dim.table_shape = {kSeq, 1};
  expect_declined(per_dim, "does not broadcast as [7 or 1, 8]");
}

// With a static batch the product keeps X's shape; the table still varies over the batch.
TEST(FuseRotary, DeclinesTablesPerBatchItem) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, kHeads, kSeq, kHeadDim});
  const std::vector<int64_t> table = {2, 1, kSeq, kHeadDim};
  ValueId cos = g.constant("cos", random_tensor(DType::kFloat32, table, 3));
  ValueId sin = g.constant("sin", random_tensor(DType::kFloat32, table, 4));
  ValueId rot = g.op("Concat", {g.op("Neg", {slice(g, x, 3, 4, kToEnd)}), slice(g, x, 3, 0, 4)},
                     axis_attr(-1));
  g.output(g.op("Add", {g.op("Mul", {x, cos}), g.op("Mul", {rot, sin})}));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = run_pass(fuse_rotary, g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("varies over the batch"));
}

TEST(FuseRotary, DeclinesAnIntermediateReadElsewhere) {
  Form f;
  f.neg_read_elsewhere = true;
  expect_declined(f, "is also read elsewhere");
}

// The halves cut on the token axis and joined there: no rotation of the head dim.
TEST(FuseRotary, DeclinesAnotherAxis) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, kHeads, 8, kHeadDim});
  ValueId cos = g.constant("cos", random_tensor(DType::kFloat32, {8, kHeadDim}, 3));
  ValueId sin = g.constant("sin", random_tensor(DType::kFloat32, {8, kHeadDim}, 4));
  ValueId rot =
      g.op("Concat", {g.op("Neg", {slice(g, x, 2, 4, 8)}), slice(g, x, 2, 0, 4)}, axis_attr(2));
  g.output(g.op("Add", {g.op("Mul", {x, cos}), g.op("Mul", {rot, sin})}));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = run_pass(fuse_rotary, g.graph());
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("does not join the halves on the last axis"));
}

// A plain X * a + Y * b is no rotation: no rewrite and no near miss.
TEST(FuseRotary, IgnoresPlainProductSums) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 8});
  ValueId y = g.input("y", DType::kFloat32, {2, 8});
  g.output(g.op("Add", {g.op("Mul", {x, y}), g.op("Mul", {y, y})}));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = run_pass(fuse_rotary, g.graph());
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(r.near_misses, 0);
}

// ---- the golden fixtures -------------------------------------------------------------------

// Every rotation of q and k in the fixture's 2 blocks fuses (no Neg left), attention still
// fuses, and the optimized graph computes what the imported one does.
// `slices_elsewhere`: the model slices for other reasons too (EVA02's packed qkv).
void check_fixture(const std::string& name, int64_t start, bool interleaved,
                   bool slices_elsewhere) {
  SCOPED_TRACE(name);
  const std::string path =
      (std::filesystem::path(VITRT_SOURCE_DIR) / "tests/golden" / name / "model.onnx").string();
  BuildOptions options;
  options.optimize = false;
  Result<Graph> imported = import_and_prepare(path, options, nullptr);
  ASSERT_TRUE(imported.ok()) << imported.status().to_string();
  Graph optimized = *imported;
  PassContext ctx(false, nullptr);
  ASSERT_TRUE(optimize_graph(optimized, ctx).ok());
  EXPECT_EQ(count_ops(optimized, "RotaryEmbedding"), 4);
  EXPECT_EQ(count_ops(optimized, "Neg"), 0);
  EXPECT_EQ(count_ops(optimized, "Attention"), 2);
  if (!slices_elsewhere) {  // the prefix Slices (or dynamo's Split) went with the rotations
    EXPECT_EQ(count_ops(optimized, "Slice"), 0);
    EXPECT_EQ(count_ops(optimized, "Split"), 0);
  }
  for (const Node& n : optimized.nodes) {
    if (n.op_type != "RotaryEmbedding") continue;
    EXPECT_EQ(*n.attrs.get_int("start", -1), start) << n.name;
    EXPECT_EQ(*n.attrs.get_int("interleaved", -1), interleaved ? 1 : 0) << n.name;
  }
  const std::vector<Tensor> images = {random_tensor(DType::kFloat32, {2, 3, 32, 32}, 7, -2, 2)};
  testing::expect_outputs_close(*imported, optimized, images, 1e-6);
}

TEST(FuseRotary, DinoV3Fixtures) {
  // 1 cls + 2 register tokens pass unrotated.
  check_fixture("hf_dinov3_sdpa_ts17", 3, false, false);
  check_fixture("hf_dinov3_sdpa_dynamo", 3, false, false);
}

TEST(FuseRotary, Eva02Fixture) {
  check_fixture("timm_eva02_tiny_ts17", 1, true, true);
}

}  // namespace
}  // namespace vitrt
