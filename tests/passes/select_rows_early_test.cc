// select_rows_early: a Gather of token rows moves before the row-wise ops that computed them
// (a class-token classifier's last block then runs on one token), the graph computing what it
// did before; it stops at ops that mix rows, at values something else reads in full and at
// graph outputs, and never moves past an op its indices depend on.
#include <cmath>
#include <cstdlib>

#include <gtest/gtest.h>

#include "passes/graph_rewrite.h"
#include "passes/run_fusion.h"
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_fusion;
using testing::TestGraph;

constexpr int64_t kT = 5, kD = 16, kH = 24, kClasses = 7;

enum class Index { kScalar, kNegative, kList, kRuntime };

struct Form {
  Index index = Index::kScalar;
  bool two_tokens = false;         // DeiT: class and distillation tokens, two Gathers
  bool norm_is_output = false;     // the block's inner LayerNorm is also a graph output
  bool indices_from_data = false;  // the indices are an ArgMax over the final LayerNorm
};

Tensor weights(std::vector<int64_t> shape, uint64_t seed) {
  return testing::random_tensor(DType::kFloat32, std::move(shape), seed, -0.5, 0.5);
}

ValueId linear(TestGraph& g, ValueId x, int64_t k, int64_t n, uint64_t seed,
               ValueId residual = kNoValue, const char* activation = "none") {
  Attributes a;
  a.set_string("activation", activation);
  std::vector<ValueId> in = {x, g.constant("w" + std::to_string(seed), weights({k, n}, seed)),
                             g.constant("b" + std::to_string(seed), weights({n}, seed + 1))};
  if (residual != kNoValue) in.push_back(residual);
  return g.op("Linear", in, a, "vitrt");
}

ValueId layer_norm(TestGraph& g, ValueId x, uint64_t seed) {
  Attributes a;
  a.set_int("axis", -1);
  return g.op("LayerNormalization",
              {x, g.constant("g" + std::to_string(seed), weights({kD}, seed)),
               g.constant("beta" + std::to_string(seed), weights({kD}, seed + 1))},
              a);
}

ValueId gather(TestGraph& g, ValueId data, ValueId indices, int64_t axis = 1) {
  Attributes a;
  a.set_int("axis", axis);
  return g.op("Gather", {data, indices}, a);
}

// A pre-norm transformer block's second half and the head, as the optimizer leaves them:
// attention output x, residual stream r -> proj (+ r) -> LayerNorm -> fc1 (GELU) -> fc2 (+ the
// proj output) -> final LayerNorm -> Gather(token) -> head.
TestGraph last_block(const Form& f) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {batch, kT, kD});
  const ValueId r = g.input("r", DType::kFloat32, {batch, kT, kD});
  const ValueId picked =
      f.index == Index::kRuntime ? g.input("token", DType::kInt64, {2}) : kNoValue;
  const ValueId proj = linear(g, x, kD, kD, 10, r);
  const ValueId norm = layer_norm(g, proj, 20);
  const ValueId fc1 = linear(g, norm, kD, kH, 30, kNoValue, "gelu");
  const ValueId fc2 = linear(g, fc1, kH, kD, 40, proj);
  const ValueId final_norm = layer_norm(g, fc2, 50);
  ValueId indices = picked;
  if (f.indices_from_data) {
    Attributes sum;
    sum.set_int("keepdims", 0);
    const ValueId rows =
        g.op("ReduceSum", {final_norm, g.constant("ax", Tensor::from_int64({2}))}, sum);
    Attributes am;
    am.set_int("axis", 1);
    am.set_int("keepdims", 0);
    indices = g.op("ArgMax", {rows}, am);  // [batch]
  } else if (f.index == Index::kScalar) {
    indices = g.constant("cls", Tensor::from_int64({0}, true));
  } else if (f.index == Index::kNegative) {
    indices = g.constant("last", Tensor::from_int64({-1}, true));
  } else if (f.index == Index::kList) {
    indices = g.constant("some", Tensor::from_int64({3, 0}));
  }
  g.output(linear(g, gather(g, final_norm, indices), kD, kClasses, 60));
  if (f.two_tokens) {
    g.output(linear(g, gather(g, final_norm, g.constant("dist", Tensor::from_int64({1}, true))), kD,
                    kClasses, 70));
  }
  if (f.norm_is_output) g.output(norm);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> block_inputs(const Form& f) {
  std::vector<Tensor> in = {testing::random_tensor(DType::kFloat32, {3, kT, kD}, 1, -2, 2),
                            testing::random_tensor(DType::kFloat32, {3, kT, kD}, 2, -2, 2)};
  if (f.index == Index::kRuntime) in.push_back(Tensor::from_int64({4, -5}));
  return in;
}

// Linear nodes whose input has rank 2 (after a scalar Gather: the class token only).
int linears_on_one_token(const Graph& graph) {
  int n = 0;
  for (const Node& node : graph.nodes) {
    if (node.dead || node.op_type != "Linear") continue;
    n += graph.values[node.inputs[0]].shape.size() == 2;
  }
  return n;
}

// Linear nodes whose input has `rows` static rows on axis 1 (rank 3).
int linears_on_rows(const Graph& graph, int64_t rows) {
  int n = 0;
  for (const Node& node : graph.nodes) {
    if (node.dead || node.op_type != "Linear") continue;
    const SymShape& s = graph.values[node.inputs[0]].shape;
    n += s.size() == 3 && s[1].is_static() && s[1].value() == rows;
  }
  return n;
}

// Runs the pass on `f`'s block, expects `moves` rewrites and the same outputs as before
// (tight: the kept rows go through the same arithmetic); returns the graph after it.
Graph moved(const Form& f, int moves) {
  TestGraph g = last_block(f);
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, moves);
  testing::expect_outputs_close(before, g.graph(), block_inputs(f), 1e-6);
  return g.graph();
}

TEST(SelectRowsEarly, ClassTokenRunsTheWholeBlockAlone) {
  // Final LayerNorm, fc2, fc1, the inner LayerNorm, proj: the attention output and the
  // residual stream (graph inputs here) are where it stops.
  const Graph g = moved({}, 5);
  EXPECT_EQ(linears_on_one_token(g), 4);  // proj, fc1, fc2 and the head
  EXPECT_EQ(count_ops(g, "Gather"), 2);   // on x and on r
  for (const Node& n : g.nodes) {
    if (n.dead || n.op_type != "Gather") continue;
    EXPECT_TRUE(g.values[n.inputs[0]].producer < 0) << n.name;
  }
}

TEST(SelectRowsEarly, NegativeListAndRuntimeIndices) {
  for (Index index : {Index::kNegative, Index::kList, Index::kRuntime}) {
    SCOPED_TRACE(static_cast<int>(index));
    Form f;
    f.index = index;
    const Graph g = moved(f, 5);
    if (index == Index::kNegative) {
      EXPECT_EQ(linears_on_one_token(g), 4);
    } else {
      EXPECT_EQ(linears_on_rows(g, 2), 4);  // the head reads [batch, 2, D] too
    }
  }
}

TEST(SelectRowsEarly, TwoTokensShareOneSelection) {
  Form f;
  f.two_tokens = true;
  // The union {0, 1}, then the same five moves.
  const Graph g = moved(f, 6);
  EXPECT_EQ(linears_on_rows(g, 2), 3);
  EXPECT_EQ(linears_on_one_token(g), 2);  // the two heads
}

TEST(SelectRowsEarly, StopsAtAValueReadInFull) {
  Form f;
  f.norm_is_output = true;
  // Final LayerNorm, fc2 (its residual, proj's output, is read by the inner LayerNorm too),
  // fc1; the inner LayerNorm's output is a graph output.
  const Graph g = moved(f, 3);
  EXPECT_EQ(linears_on_one_token(g), 3);  // fc1, fc2, head
}

TEST(SelectRowsEarly, NotPastTheOpItsIndicesComeFrom) {
  Form f;
  f.indices_from_data = true;
  TestGraph g = last_block(f);
  EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 0);
}

// Elementwise ops with operands that broadcast along the token axis, or do not reach it.
TEST(SelectRowsEarly, BroadcastOperands) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {batch, kT, kD});
  const ValueId m = g.input("m", DType::kFloat32, {batch, 1, kD});  // broadcasts along tokens
  const ValueId pos = g.constant("pos", weights({kT, kD}, 5));      // one row per token
  const ValueId s = g.constant("s", weights({kD}, 6));              // does not reach tokens
  const ValueId y = g.op("Gelu", {g.op("Add", {g.op("Mul", {g.op("Mul", {x, m}), s}), pos})});
  g.output(gather(g, y, g.constant("cls", Tensor::from_int64({2}, true))));
  g.output(gather(g, y, g.constant("two", Tensor::from_int64({1, 3}))));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();
  // The two readers of y differ: their union {1, 2, 3} moves before Gelu, Add, Mul, Mul.
  EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 5);
  testing::expect_outputs_close(before, g.graph(),
                                {testing::random_tensor(DType::kFloat32, {2, kT, kD}, 1, -2, 2),
                                 testing::random_tensor(DType::kFloat32, {2, 1, kD}, 2, -2, 2)},
                                1e-6);
  // The last Mul now reads x with 3 rows and m with its single row.
  bool found = false;
  for (const Node& n : g.graph().nodes) {
    if (n.dead || n.op_type != "Mul") continue;
    if (n.inputs[1] != *g.graph().find_value("m")) continue;
    found = true;
    const SymShape& in = g.graph().values[n.inputs[0]].shape;
    ASSERT_EQ(in.size(), 3u);
    EXPECT_EQ(in[1].value(), 3);
  }
  EXPECT_TRUE(found);
}

// A scalar index on an operand that broadcasts along the axis: that operand loses the axis
// (its one row picked) so the ranks still line up.
TEST(SelectRowsEarly, ScalarIndexOnABroadcastOperand) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {batch, kT, kD});
  const ValueId m = g.input("m", DType::kFloat32, {batch, 1, kD});
  g.output(gather(g, g.op("Sub", {x, m}), g.constant("cls", Tensor::from_int64({4}, true))));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 1);
  testing::expect_outputs_close(before, g.graph(),
                                {testing::random_tensor(DType::kFloat32, {2, kT, kD}, 1, -2, 2),
                                 testing::random_tensor(DType::kFloat32, {2, 1, kD}, 2, -2, 2)},
                                0.0);
}

TEST(SelectRowsEarly, NotAcrossOpsThatMixTheSelectedAxis) {
  for (const char* op : {"softmax_tokens", "causal_attention", "dynamic_quant"}) {
    SCOPED_TRACE(op);
    TestGraph g;
    const Dim batch = Dim::symbol("batch");
    const ValueId x = g.input("x", DType::kFloat32, {batch, kT, kD});
    ValueId y;
    if (std::string(op) == "softmax_tokens") {
      Attributes a;
      a.set_int("axis", 1);
      y = g.op("Softmax", {x}, a);
    } else if (std::string(op) == "causal_attention") {
      // Which keys a query row sees depends on its position.
      const ValueId q = g.input("q", DType::kFloat32, {batch, kT, kD});
      Attributes a;
      a.set_int("num_heads", 2);
      a.set_int("causal", 1);
      y = g.op("Attention", {q, x, x}, a, "vitrt");
    } else {
      Attributes a;
      a.set_string("format", "int8");
      a.set_int("dynamic_input", 1);
      Tensor w_q = Tensor::zeros(DType::kInt8, {kD, kD});
      y = g.op(
          "QuantLinear",
          {x, g.constant("w_q", w_q),
           g.constant("w_scale", testing::random_tensor(DType::kFloat32, {kD}, 4, 0.01, 0.02))},
          a, "vitrt");
    }
    g.output(gather(g, y, g.constant("cls", Tensor::from_int64({0}, true))));
    ASSERT_TRUE(g.infer().ok()) << g.infer().message();
    EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 0);
  }
}

// Softmax over the features (its last axis) works on each row alone: the Gather moves.
TEST(SelectRowsEarly, SoftmaxOverFeaturesMoves) {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), kT, kD});
  Attributes a;
  a.set_int("axis", -1);
  g.output(gather(g, g.op("Softmax", {x}, a), g.constant("cls", Tensor::from_int64({0}, true))));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 1);
  testing::expect_outputs_close(before, g.graph(),
                                {testing::random_tensor(DType::kFloat32, {2, kT, kD}, 1)}, 0.0);
}

}  // namespace
}  // namespace vitrt

namespace vitrt {
namespace {

using testing::run_fusion;
using testing::TestGraph;

// CLIP's text tower picks each sequence's end-of-text token after the final LayerNorm, from
// all leading axes at once: TorchScript flattens [batch, T, D] to [batch * T, D] and gathers
// b * T + argmax (T read by Shape of that same LayerNorm's output), dynamo gathers (b, t)
// pairs with GatherND.
TestGraph end_token(bool gather_nd, bool broadcast_add) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {batch, kT, kD});
  const ValueId ids = g.input("ids", DType::kInt64, {batch, kT});
  ValueId y = layer_norm(g, linear(g, x, kD, kD, 10, x), 20);
  if (broadcast_add) y = g.op("Add", {y, g.constant("pos", weights({1, kT, kD}, 5))});
  const ValueId final_norm = layer_norm(g, y, 30);
  Attributes am;
  am.set_int("axis", 1);
  am.set_int("keepdims", 0);
  const ValueId eot = g.op("ArgMax", {ids}, am);  // [batch]
  Attributes a0;
  a0.set_int("axis", 0);
  if (gather_nd) {
    // (b, eot[b]) pairs: [batch, 2].
    Attributes a1;
    a1.set_int("axis", 1);
    const ValueId shape = g.op("Shape", {ids});
    const ValueId n =
        g.op("Gather", {shape, g.constant("zero", Tensor::from_int64({0}, true))}, a0);
    const ValueId b = g.op("Range", {g.constant("r0", Tensor::from_int64({0}, true)), n,
                                     g.constant("r1", Tensor::from_int64({1}, true))});
    const ValueId axes = g.constant("axes", Tensor::from_int64({1}));
    const ValueId pairs =
        g.op("Concat", {g.op("Unsqueeze", {b, axes}), g.op("Unsqueeze", {eot, axes})}, a1);
    g.output(linear(g, g.op("GatherND", {final_norm, pairs}), kD, kClasses, 60));
  } else {
    const ValueId shape = g.op("Shape", {final_norm});
    const ValueId n =
        g.op("Gather", {shape, g.constant("zero", Tensor::from_int64({0}, true))}, a0);
    const ValueId t = g.op("Gather", {shape, g.constant("one", Tensor::from_int64({1}))}, a0);
    const ValueId b = g.op("Range", {g.constant("r0", Tensor::from_int64({0}, true)), n,
                                     g.constant("r1", Tensor::from_int64({1}, true))});
    Attributes flat;
    flat.set_int("axis", 2);
    const ValueId rows = g.op("Flatten", {final_norm}, flat);
    const ValueId picked = g.op("Add", {eot, g.op("Mul", {b, t})});
    g.output(linear(g, gather(g, rows, picked, 0), kD, kClasses, 60));
  }
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> end_token_inputs() {
  Tensor ids = Tensor::empty(DType::kInt64, {3, kT});
  for (int64_t i = 0; i < ids.numel(); ++i) ids.data<int64_t>()[i] = (i * 7 + 3) % 11;
  return {testing::random_tensor(DType::kFloat32, {3, kT, kD}, 1, -2, 2), ids};
}

TEST(SelectRowsEarly, EndOfTextTokenFromAllLeadingAxes) {
  for (bool gather_nd : {false, true}) {
    SCOPED_TRACE(gather_nd ? "GatherND" : "Flatten + Gather");
    TestGraph g = end_token(gather_nd, false);
    const Graph before = g.graph();
    // Final LayerNorm, LayerNorm, Linear (its X and residual both x, a graph input).
    EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 3);
    EXPECT_EQ(linears_on_one_token(g.graph()), 2);  // the Linear and the head
    testing::expect_outputs_close(before, g.graph(), end_token_inputs(), 1e-6);
  }
}

TEST(SelectRowsEarly, AllLeadingAxesNotPastABroadcastOperand) {
  for (bool gather_nd : {false, true}) {
    SCOPED_TRACE(gather_nd ? "GatherND" : "Flatten + Gather");
    TestGraph g = end_token(gather_nd, true);
    const Graph before = g.graph();
    // The final LayerNorm only: the Add's position embedding [1, T, D] repeats over the batch.
    EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 1);
    testing::expect_outputs_close(before, g.graph(), end_token_inputs(), 1e-6);
  }
}

}  // namespace
}  // namespace vitrt

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_fusion;
using testing::TestGraph;

constexpr int64_t kTokens = 7, kWidth = 16, kHeads = 2;

enum class Mask { kNone, kPerQuery, kKeysOnly };
enum class Pick { kScalar, kList, kRuntimeScalar };

struct AttentionForm {
  Mask mask = Mask::kNone;
  Pick pick = Pick::kScalar;
  bool quantized_qkv = false;  // the packed projection an int8 vitrt.QuantLinear
  bool causal = false;
  int64_t axis = 1;  // the Gather's axis
};

// A ViT's last block up to its class token, as the optimizer leaves it: LayerNorm -> packed q, k, v
// projection -> Attention (optional mask) -> proj (+ the residual x) -> LayerNorm -> Gather.
TestGraph attention_block(const AttentionForm& f) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {batch, kTokens, kWidth});
  Attributes ln;
  ln.set_int("axis", -1);
  const ValueId norm = g.op(
      "LayerNormalization",
      {x, g.constant("gamma", weights({kWidth}, 3)), g.constant("beta", weights({kWidth}, 4))}, ln);
  Attributes lin;
  lin.set_string("activation", "none");
  ValueId qkv;
  if (f.quantized_qkv) {
    Tensor w_q = Tensor::empty(DType::kInt8, {kWidth, 3 * kWidth});
    const Tensor r = testing::random_tensor(DType::kFloat32, {kWidth, 3 * kWidth}, 5, -127, 127);
    for (int64_t i = 0; i < w_q.numel(); ++i) {
      w_q.data<int8_t>()[i] = static_cast<int8_t>(std::lround(r.data<float>()[i]));
    }
    Attributes a = lin;
    a.set_string("format", "int8");
    a.set_float("input_scale", 0.02f);
    qkv = g.op("QuantLinear",
               {norm, g.constant("w_q", w_q),
                g.constant("w_scale",
                           testing::random_tensor(DType::kFloat32, {3 * kWidth}, 6, 0.002, 0.004)),
                g.constant("qkv_b", weights({3 * kWidth}, 7))},
               a, "vitrt");
  } else {
    qkv = g.op("Linear",
               {norm, g.constant("qkv_w", weights({kWidth, 3 * kWidth}, 5)),
                g.constant("qkv_b", weights({3 * kWidth}, 7))},
               lin, "vitrt");
  }
  std::vector<ValueId> att_in = {qkv};
  if (f.mask != Mask::kNone) {
    const std::vector<int64_t> shape = f.mask == Mask::kPerQuery
                                           ? std::vector<int64_t>{kTokens, kTokens}
                                           : std::vector<int64_t>{1, 1, 1, kTokens};
    att_in = {qkv, kNoValue, kNoValue,
              g.constant("mask", testing::random_tensor(DType::kFloat32, shape, 8, -3, 0))};
  }
  Attributes a;
  a.set_int("num_heads", kHeads);
  if (f.causal) a.set_int("causal", 1);
  const ValueId att = g.op("Attention", att_in, a, "vitrt");
  const ValueId proj = g.op("Linear",
                            {att, g.constant("proj_w", weights({kWidth, kWidth}, 9)),
                             g.constant("proj_b", weights({kWidth}, 10)), x},
                            lin, "vitrt");
  const ValueId final_norm = g.op("LayerNormalization",
                                  {proj, g.constant("gamma2", weights({kWidth}, 11)),
                                   g.constant("beta2", weights({kWidth}, 12))},
                                  ln);
  ValueId idx;
  if (f.pick == Pick::kRuntimeScalar) {
    idx = g.input("token", DType::kInt64, {});
  } else if (f.pick == Pick::kList) {
    idx = g.constant("rows", Tensor::from_int64({5, 0}));
  } else {
    idx = g.constant("cls", Tensor::from_int64({0}, true));
  }
  Attributes ga;
  ga.set_int("axis", f.axis);
  g.output(g.op("Gather", {final_norm, idx}, ga));
  EXPECT_TRUE(g.infer().ok()) << g.infer().message();
  return g;
}

std::vector<Tensor> attention_inputs(const AttentionForm& f) {
  std::vector<Tensor> in = {
      testing::random_tensor(DType::kFloat32, {3, kTokens, kWidth}, 1, -2, 2)};
  if (f.pick == Pick::kRuntimeScalar) in.push_back(Tensor::from_int64({-3}, true));
  return in;
}

const Node* find_attention(const Graph& g) {
  for (const Node& n : g.nodes) {
    if (!n.dead && n.op_type == "Attention") return &n;
  }
  return nullptr;
}

// The class token's query row alone goes through the last attention: the packed projection is
// split, q is computed for the picked rows only, k and v for every token; the outputs are what
// they were.
TEST(SelectRowsEarlyAttention, OnlyThePickedQueryRowsAttend) {
  for (Mask mask : {Mask::kNone, Mask::kPerQuery, Mask::kKeysOnly}) {
    for (Pick pick : {Pick::kScalar, Pick::kList, Pick::kRuntimeScalar}) {
      for (bool quantized : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "mask " << static_cast<int>(mask) << " pick "
                                          << static_cast<int>(pick) << " int8 " << quantized);
        AttentionForm f;
        f.mask = mask;
        f.pick = pick;
        f.quantized_qkv = quantized;
        TestGraph g = attention_block(f);
        const Graph before = g.graph();
        // Final LayerNorm, proj, the split, the Attention, the q projection; a scalar index
        // first becomes a one-row Gather (not counted as a rewrite).
        EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 5);
        testing::expect_outputs_close(before, g.graph(), attention_inputs(f), 1e-6);
        const Graph& after = g.graph();
        const int64_t rows = pick == Pick::kList ? 2 : 1;
        const Node* att = find_attention(after);
        ASSERT_NE(att, nullptr);
        ASSERT_TRUE(att->has_input(1));  // q, k, v separately
        EXPECT_EQ(after.values[att->inputs[0]].shape[1].value(), rows);
        EXPECT_EQ(after.values[att->inputs[1]].shape[1].value(), kTokens);
        EXPECT_EQ(after.values[att->inputs[2]].shape[1].value(), kTokens);
        if (mask == Mask::kPerQuery) {
          EXPECT_EQ(after.values[att->inputs[3]].shape[0].value(), rows);
        } else if (mask == Mask::kKeysOnly) {
          EXPECT_EQ(after.values[att->inputs[3]].shape[2].value(), 1);
        }
        EXPECT_EQ(count_ops(after, quantized ? "QuantLinear" : "Linear"), quantized ? 3 : 4);
        // The q projection reads the picked rows of the LayerNorm.
        const Node* q = producer_of(after, att->inputs[0]);
        ASSERT_NE(q, nullptr);
        EXPECT_EQ(q->op_type, quantized ? "QuantLinear" : "Linear");
        EXPECT_EQ(after.values[q->inputs[0]].shape[1].value(), rows);
      }
    }
  }
}

// Not into causal attention, not for a Gather of images (axis 0: keys and values would have to
// be picked too), not when the packed q, k, v are read elsewhere.
TEST(SelectRowsEarlyAttention, RefusedWhereTheKeysWouldChange) {
  {
    AttentionForm f;
    f.causal = true;
    TestGraph g = attention_block(f);
    EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 2);  // final LayerNorm, proj
    EXPECT_FALSE(find_attention(g.graph())->has_input(1));
  }
  {
    AttentionForm f;
    f.axis = 0;
    f.pick = Pick::kList;
    TestGraph g = attention_block(f);
    const Graph before = g.graph();
    run_fusion(g.graph(), select_rows_early);
    EXPECT_FALSE(find_attention(g.graph())->has_input(1));
    std::vector<Tensor> in = {
        testing::random_tensor(DType::kFloat32, {6, kTokens, kWidth}, 1, -2, 2)};
    testing::expect_outputs_close(before, g.graph(), in, 1e-6);
  }
  {
    AttentionForm f;
    TestGraph g = attention_block(f);
    const Node* att = find_attention(g.graph());
    g.output(att->inputs[0]);  // the packed q, k, v also a graph output
    ASSERT_TRUE(g.infer().ok());
    EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 2);
    EXPECT_FALSE(find_attention(g.graph())->has_input(1));
  }
}

// VITRT_DISABLE_FUSIONS=select_query_rows keeps the moves into attention out (to measure
// them), the rest of the pass still runs.
TEST(SelectRowsEarlyAttention, SwitchedOffByName) {
  struct EnvGuard {
    ~EnvGuard() { unsetenv("VITRT_DISABLE_FUSIONS"); }
  } guard;
  ASSERT_EQ(setenv("VITRT_DISABLE_FUSIONS", "select_query_rows", 1), 0);
  TestGraph g = attention_block({});
  EXPECT_EQ(run_fusion(g.graph(), select_rows_early).applied, 2);  // final LayerNorm, proj
  EXPECT_FALSE(find_attention(g.graph())->has_input(1));
}

}  // namespace
}  // namespace vitrt
