// fuse_attention: fires on the attention variants exports write (checked against the unfused
// graph's numbers on random inputs with a symbolic batch) and declines look-alikes with a reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"
#include "testing/attention_fusion.h"
#include "testing/attention_pattern.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::attention_node;
using testing::AttentionPattern;
using testing::check_fusion;
using testing::feeds_for;
using testing::PassRun;
using testing::run_fuse;
using testing::TestGraph;

AttentionPattern base_pattern() {
  AttentionPattern p;
  p.batch = Dim::symbol("batch");
  p.q_len = 7;
  p.k_len = 7;
  p.heads = 3;
  p.head_dim = 8;
  p.value_dim = 8;
  return p;
}

TEST(FuseAttention, HfEagerScaleOnScores) {
  for (auto style : {AttentionPattern::Scale::kScoresMul, AttentionPattern::Scale::kScoresDiv}) {
    TestGraph g;
    AttentionPattern p = base_pattern();
    p.scale_style = style;
    build_attention_pattern(g, p);
    check_fusion(g, 1);
    const Node* a = attention_node(g.graph());
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->num_inputs(), 3);
    EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 3);
    EXPECT_NEAR(*a->attrs.get_float("scale", 0), 1 / std::sqrt(8.0), 1e-6);
    EXPECT_EQ(*a->attrs.get_int("causal", 0), 0);
  }
}

// Older CLIP scales the q projection before splitting heads.
TEST(FuseAttention, ScaleOnTheQProjection) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.scale_style = AttentionPattern::Scale::kOnQProjection;
  build_attention_pattern(g, p);
  check_fusion(g, 1);
  EXPECT_EQ(testing::count_ops(g.graph(), "Mul"), 0);
  EXPECT_NEAR(*attention_node(g.graph())->attrs.get_float("scale", 0), 1 / std::sqrt(8.0), 1e-6);
}

TEST(FuseAttention, SdpaSqrtScaleOnQAndK) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.scale_style = AttentionPattern::Scale::kSqrtOnQAndK;
  p.head_dim = 24;  // Dh = 24, one head
  p.heads = 1;
  p.value_dim = 24;
  build_attention_pattern(g, p);
  check_fusion(g, 1);
  EXPECT_NEAR(*attention_node(g.graph())->attrs.get_float("scale", 0), 1 / std::sqrt(24.0), 1e-6);
}

TEST(FuseAttention, KTransposedTwiceOrThroughRank3) {
  for (auto kt : {AttentionPattern::KTranspose::kTwoTransposes,
                  AttentionPattern::KTranspose::kThroughRank3}) {
    TestGraph g;
    AttentionPattern p = base_pattern();
    p.k_transpose = kt;
    p.heads = 7;
    build_attention_pattern(g, p);
    check_fusion(g, 1);
  }
}

TEST(FuseAttention, CrossAttentionAndRawInputs) {
  {
    TestGraph g;
    AttentionPattern p = base_pattern();
    p.separate_kv_input = true;
    p.k_len = 11;
    p.value_dim = 5;
    build_attention_pattern(g, p);
    check_fusion(g, 1);
  }
  {
    TestGraph g;
    AttentionPattern p = base_pattern();
    p.projections = false;
    p.k_len = 4;
    build_attention_pattern(g, p);
    check_fusion(g, 1);
  }
}

TEST(FuseAttention, TimmPackedQkvReadsTheProjectionDirectly) {
  for (bool split_first : {false, true}) {
    TestGraph g;
    AttentionPattern p = base_pattern();
    p.packed_qkv = true;
    p.packed_split_first = split_first;
    build_attention_pattern(g, p);
    check_fusion(g, 1);
    const Node* a = attention_node(g.graph());
    ASSERT_NE(a, nullptr);
    EXPECT_FALSE(a->has_input(1));
    EXPECT_FALSE(a->has_input(2));
    EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[0]].shape), "[batch, 7, 72]");
  }
}

Tensor causal_mask(int64_t sq, int64_t sk, float masked) {
  Tensor m = Tensor::zeros(DType::kFloat32, {sq, sk});
  for (int64_t i = 0; i < sq; ++i) {
    for (int64_t j = std::max<int64_t>(0, i + sk - sq + 1); j < sk; ++j) {
      m.data<float>()[i * sk + j] = masked;
    }
  }
  return m;
}

TEST(FuseAttention, ConstantMasks) {
  const float lowest = std::numeric_limits<float>::lowest();
  struct Case {
    Tensor mask;
    bool causal;
    bool kept;
  };
  const Case cases[] = {
      {causal_mask(7, 7, -INFINITY), true, false},
      {causal_mask(7, 7, lowest), true, false},
      {Tensor::zeros(DType::kFloat32, {1, 1, 7, 7}), false, false},
      {testing::random_tensor(DType::kFloat32, {3, 7, 7}, 9), false, true},
      {causal_mask(7, 7, -100.0f), false, true},  // not masked enough to be the causal flag
  };
  for (const Case& c : cases) {
    TestGraph g;
    AttentionPattern p = base_pattern();
    p.mask = AttentionPattern::Mask::kConstant;
    p.mask_value = c.mask;
    build_attention_pattern(g, p);
    check_fusion(g, 1);
    const Node* a = attention_node(g.graph());
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(*a->attrs.get_int("causal", 0), c.causal ? 1 : 0);
    EXPECT_EQ(a->has_input(3), c.kept);
  }
}

// Swin's shifted-window mask between two Reshapes of the scores, alone or beside a relative
// position bias [H, S, S], scaled after or not, with a static batch of 2 images x 3 windows and
// a symbolic one (3 * batch): the fused op reads the mask repeated over the batch rows.
TEST(FuseAttention, SwinWindowMaskRepeatedOverTheBatch) {
  struct Case {
    Dim batch;
    bool bias;
    bool scale_after;
    std::vector<int64_t> window_shape;
  };
  const Case cases[] = {
      {Dim(6), false, false, {3, 1, 7, 7}},
      {Dim(6), true, false, {1, 3, 1, 7, 7}},
      // As exports write it: the windows' batch is the images' times the window count.
      {Dim::symbol("batch") * Dim(3), true, true, {3, 3, 7, 7}},
      {Dim(6), false, false, {1, 1, 7, 7}},
  };
  for (const Case& c : cases) {
    TestGraph g;
    AttentionPattern p = base_pattern();
    p.batch = c.batch;
    if (c.bias) {
      p.mask = AttentionPattern::Mask::kConstant;
      p.mask_value = testing::random_tensor(DType::kFloat32, {3, 7, 7}, 5);
    }
    p.windows = 3;
    Tensor w = Tensor::zeros(DType::kFloat32, c.window_shape);
    for (int64_t e = 0; e < w.numel(); ++e) {
      w.data<float>()[e] = (e * 7919 % 13) < 4 ? -100.0f : 0.0f;  // a different mask per window
    }
    p.window_mask = w;
    p.scale_after_mask = c.scale_after;
    build_attention_pattern(g, p);
    check_fusion(g, 1);
    const Node* a = attention_node(g.graph());
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(a->has_input(3));
  }
}

// MaxViT's block and grid attention merge the heads into channels-last windows [B, h, w, C]:
// fused, with a Reshape of the fused [B, h*w, C] after it.
TEST(FuseAttention, ChannelsLastMergeIsReshapedAfterTheFusedOp) {
  for (const std::vector<int64_t>& spatial : {std::vector<int64_t>{7, 1}, {1, 7, 1}}) {
    TestGraph g;
    AttentionPattern p = base_pattern();
    p.spatial = spatial;
    build_attention_pattern(g, p);
    check_fusion(g, 1);
    EXPECT_EQ(g.graph().values[g.graph().outputs[0]].shape.size(), spatial.size() + 2);
  }
}

// A constant that differs per image (not only per window) cannot repeat over the batch.
TEST(FuseAttention, DeclinesWindowMaskVaryingOverImages) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.batch = 6;
  p.windows = 3;
  p.window_mask = testing::random_tensor(DType::kFloat32, {2, 3, 1, 7, 7}, 3);
  build_attention_pattern(g, p);
  PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(std::any_of(r.log.begin(), r.log.end(), [](const std::string& l) {
    return l.find("does not repeat over the batch") != std::string::npos;
  })) << ::testing::PrintToString(r.log);
}

TEST(FuseAttention, CausalWithFewerQueriesThanKeys) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.projections = false;
  p.q_len = 4;
  p.k_len = 9;
  p.mask = AttentionPattern::Mask::kConstant;
  p.mask_value = causal_mask(4, 9, -INFINITY);
  build_attention_pattern(g, p);
  check_fusion(g, 1);
  EXPECT_EQ(*attention_node(g.graph())->attrs.get_int("causal", 0), 1);
}

// With more queries than keys the first rows are fully masked: a finite mask value gives them a
// uniform softmax, which the causal flag (NaN there) would not, so the mask stays.
TEST(FuseAttention, CausalLookingMaskWithMoreQueriesThanKeysIsKept) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.projections = false;
  p.q_len = 9;
  p.k_len = 4;
  p.mask = AttentionPattern::Mask::kConstant;
  p.mask_value = causal_mask(9, 4, std::numeric_limits<float>::lowest());
  build_attention_pattern(g, p);
  check_fusion(g, 1);
  const Node* a = attention_node(g.graph());
  EXPECT_EQ(*a->attrs.get_int("causal", 0), 0);
  EXPECT_TRUE(a->has_input(3));
}

TEST(FuseAttention, RuntimeMaskIsKept) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.mask = AttentionPattern::Mask::kInput;
  p.mask_shape = {1, 1, 1, 7};
  build_attention_pattern(g, p);
  check_fusion(g, 1);
  EXPECT_TRUE(attention_node(g.graph())->has_input(3));
}

// HF's mask as the TorchScript export computes it: Range/LessOrEqual over the sequence, And-ed
// with a padding mask from a graph input, Expand to [batch, 1, S, S], Where(0, lowest).
ValueId hf_causal_mask(TestGraph& g, int64_t s, bool with_padding, ValueId* padding_input) {
  auto i64 = [&](std::vector<int64_t> v) {
    return g.constant("c" + std::to_string(g.graph().values.size()), Tensor::from_int64(v));
  };
  auto s64 = [&](int64_t v) {
    return g.constant("s" + std::to_string(g.graph().values.size()),
                      Tensor::from_int64({v}, /*as_scalar=*/true));
  };
  ValueId range = g.op("Range", {s64(0), s64(s), s64(1)});
  ValueId row = g.op("Unsqueeze", {range, i64({0})});  // [1, S]: key index j
  ValueId col = g.op("Unsqueeze", {range, i64({1})});  // [S, 1]: query index i
  ValueId cond = g.op("LessOrEqual", {row, col});      // j <= i
  // The leading dim of the Expand target: the batch (from the padding input's shape) or 1.
  ValueId lead = i64({1});
  if (with_padding) {
    *padding_input = g.input("padding", DType::kBool, {Dim::symbol("batch"), s});
    ValueId pad4 = g.op("Reshape", {*padding_input, i64({0, 1, 1, s})});
    cond = g.op("And", {cond, pad4});
    lead = g.op("Slice", {g.op("Shape", {*padding_input}), i64({0}), i64({1})});
  }
  Attributes axis0;
  axis0.set_int("axis", 0);
  ValueId target = g.op("Concat", {lead, i64({1, s, s})}, axis0);
  ValueId expanded = g.op("Expand", {cond, target});
  return g.op(
      "Where",
      {expanded, g.constant("zero", Tensor::from_float({0.0f}, true)),
       g.constant("lowest", Tensor::from_float({std::numeric_limits<float>::lowest()}, true))});
}

TEST(FuseAttention, CausalMaskBuiltFromShapeOps) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.mask = AttentionPattern::Mask::kValue;
  p.mask_id = hf_causal_mask(g, 7, false, nullptr);
  build_attention_pattern(g, p);
  check_fusion(g, 1);
  const Node* a = attention_node(g.graph());
  EXPECT_EQ(*a->attrs.get_int("causal", 0), 1);
  EXPECT_FALSE(a->has_input(3));
  // The mask computation went with the fused nodes.
  EXPECT_EQ(testing::count_ops(g.graph(), "Where"), 0);
  EXPECT_EQ(testing::count_ops(g.graph(), "Range"), 0);
}

TEST(FuseAttention, CausalAndPaddingMaskSplit) {
  TestGraph g;
  ValueId padding = kNoValue;
  AttentionPattern p = base_pattern();
  p.mask = AttentionPattern::Mask::kValue;
  p.mask_id = hf_causal_mask(g, 7, true, &padding);
  build_attention_pattern(g, p);
  check_fusion(g, 1);
  const Node* a = attention_node(g.graph());
  EXPECT_EQ(*a->attrs.get_int("causal", 0), 1);
  ASSERT_TRUE(a->has_input(3));
  EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[3]].shape), "[batch, 1, 1, 7]");
}

// After fuse_linear the projections are vitrt.Linear; pack_qkv then merges them into one.
TEST(FuseAttention, LinearProjectionsThenPackQkv) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.linear_projections = true;
  p.scale_style = AttentionPattern::Scale::kSqrtOnQAndK;
  build_attention_pattern(g, p);
  ASSERT_TRUE(g.infer().ok());
  const std::vector<Tensor> feeds = feeds_for(g.graph());
  auto before = testing::run_graph(g.graph(), feeds);
  ASSERT_TRUE(before.ok()) << before.status().to_string();
  EXPECT_EQ(run_fuse(g.graph()).applied, 1);
  PassContext ctx(false, nullptr);
  ASSERT_TRUE(pack_qkv(g.graph(), ctx).ok());
  ASSERT_TRUE(infer_shapes(g.graph()).ok());
  g.graph().compact();
  EXPECT_EQ(testing::count_ops(g.graph(), "Linear"), 1);
  const Node* a = attention_node(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(a->has_input(1));
  auto after = testing::run_graph(g.graph(), feeds);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_TRUE(testing::tensors_close((*after)[0], (*before)[0], {1e-4, 1e-5}));
}

// SDPA through dynamo guards the softmax against fully masked rows; without a mask that can
// mask a whole row the guard changes nothing and is absorbed.
TEST(FuseAttention, SoftmaxNanGuardWithoutRuntimeMask) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.nan_guard = true;
  p.mask = AttentionPattern::Mask::kConstant;
  p.mask_value = causal_mask(7, 7, -INFINITY);
  build_attention_pattern(g, p);
  check_fusion(g, 1);
  EXPECT_EQ(testing::count_ops(g.graph(), "IsNaN"), 0);
}

// nn.MultiheadAttention as exported (SigLIP's pooling head): sequence-first projections, heads
// folded into the batch axis ([S, B*H, Dh]), rank-3 scores.
// Unmasked, with a padding mask over the folded [B*H, 1, Sk] scores (SigLIP2's pooling head:
// a [B, Sk] mask repeated per head), and with one shared constant [1, 1, Sk] mask.
TEST(FuseAttention, NnMultiheadAttentionSequenceFirst) {
  constexpr int64_t kQ = 3, kK = 9, kHeads = 2, kDh = 8, kD = kHeads * kDh;
  for (int mask_kind : {0, 1, 2}) {
    SCOPED_TRACE(mask_kind);
    TestGraph g;
    auto ints = [&](std::vector<int64_t> v) {
      return g.constant(str_cat("c", g.graph().values.size()), Tensor::from_int64(v));
    };
    auto perm = [](std::vector<int64_t> p) {
      Attributes a;
      a.set_ints("perm", std::move(p));
      return a;
    };
    auto proj = [&](ValueId x, uint64_t seed) {
      ValueId w = g.constant(str_cat("w", seed),
                             testing::random_tensor(DType::kFloat32, {kD, kD}, seed, -0.5, 0.5));
      ValueId b = g.constant(str_cat("b", seed),
                             testing::random_tensor(DType::kFloat32, {kD}, seed + 9, -0.5, 0.5));
      return g.op("Add", {g.op("MatMul", {x, w}), b});
    };
    const Dim batch = Dim::symbol("batch");
    ValueId query = g.input("query", DType::kFloat32, {batch, kQ, kD});
    ValueId memory = g.input("memory", DType::kFloat32, {batch, kK, kD});
    ValueId qs = g.op("Transpose", {query}, perm({1, 0, 2}));   // [Sq, B, D]
    ValueId ms = g.op("Transpose", {memory}, perm({1, 0, 2}));  // [Sk, B, D]
    auto heads = [&](ValueId x, int64_t s) {                    // [S, B*H, Dh] -> [B*H, S, Dh]
      return g.op("Transpose", {g.op("Reshape", {x, ints({s, -1, kDh})})}, perm({1, 0, 2}));
    };
    ValueId q = g.op("Mul", {heads(proj(qs, 1), kQ),
                             g.constant("scale", Tensor::from_float({0.35355339f}, true))});
    ValueId kt = g.op("Transpose", {heads(proj(ms, 2), kK)}, perm({0, 2, 1}));
    ValueId v = heads(proj(ms, 3), kK);
    ValueId scores = g.op("MatMul", {q, kt});
    if (mask_kind == 1) {
      // [B, Sk] -> [B, 1, 1, Sk] -> [B, H, 1, Sk] -> [B*H, 1, Sk]
      ValueId m = g.input("key_mask", DType::kFloat32, {batch, kK});
      m = g.op("Reshape", {m, ints({-1, 1, 1, kK})});
      m = g.op("Expand", {m, ints({1, kHeads, 1, 1})});
      scores = g.op("Add", {scores, g.op("Reshape", {m, ints({-1, 1, kK})})});
    } else if (mask_kind == 2) {
      Tensor m = testing::random_tensor(DType::kFloat32, {1, 1, kK}, 77);
      scores = g.op("Add", {scores, g.constant("shared_mask", m)});
    }
    Attributes last;
    last.set_int("axis", -1);
    ValueId o = g.op("MatMul", {g.op("Softmax", {scores}, last), v});
    ValueId merged = g.op("Reshape", {g.op("Transpose", {o}, perm({1, 0, 2})), ints({kQ, -1, kD})});
    g.output(g.op("Transpose", {merged}, perm({1, 0, 2})));
    check_fusion(g, 1, /*transposes_allowed=*/true);
    const Node* a = attention_node(g.graph());
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(*a->attrs.get_int("num_heads", 0), kHeads);
    EXPECT_NEAR(*a->attrs.get_float("scale", 0), 0.35355339, 1e-6);
    EXPECT_EQ(a->has_input(3), mask_kind != 0);
  }
}

// Batch-first heads merged sequence-first (MLCD permutes the [B, Sq, H, Dv] output to
// [Sq, B, H, Dv] for its out_proj and back after it): the fused op reads q, k, v as they are and
// its [B, Sq, H*Dv] result goes sequence-first.
TEST(FuseAttention, BatchFirstHeadsMergedSequenceFirst) {
  constexpr int64_t kS = 5, kHeads = 2, kDh = 4, kD = kHeads * kDh;
  TestGraph g;
  auto ints = [&](std::vector<int64_t> v) {
    return g.constant(str_cat("c", g.graph().values.size()), Tensor::from_int64(v));
  };
  auto perm = [](std::vector<int64_t> p) {
    Attributes a;
    a.set_ints("perm", std::move(p));
    return a;
  };
  const Dim batch = Dim::symbol("batch");
  auto heads = [&](const char* name, std::vector<int64_t> p) {
    ValueId x = g.input(name, DType::kFloat32, {batch, kS, kD});
    return g.op("Transpose", {g.op("Reshape", {x, ints({0, 0, kHeads, kDh})})}, perm(std::move(p)));
  };
  ValueId q = heads("q", {0, 2, 1, 3});
  ValueId kt = heads("k", {0, 2, 3, 1});
  ValueId v = heads("v", {0, 2, 1, 3});
  Attributes last;
  last.set_int("axis", -1);
  ValueId s =
      g.op("Mul", {g.op("MatMul", {q, kt}), g.constant("scale", Tensor::from_float({0.5f}, true))});
  ValueId o = g.op("MatMul", {g.op("Softmax", {s}, last), v});  // [B, H, S, Dh]
  ValueId merged =
      g.op("Reshape", {g.op("Transpose", {o}, perm({2, 0, 1, 3})), ints({kS, -1, kD})});
  g.output(g.op("Transpose", {merged}, perm({1, 0, 2})));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = attention_node(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a->attrs.get_int("num_heads", 0), kHeads);
  EXPECT_EQ(g.graph().values[a->inputs[0]].name, "q");  // read batch-first, as it is
}

// ---- look-alikes ----------------------------------------------------------------------------

TEST(FuseAttention, DeclinesSoftmaxOverAnotherAxis) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.softmax_axis = 2;
  build_attention_pattern(g, p);
  PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(r.logged("softmax axis is not the last"));
}

TEST(FuseAttention, DeclinesProbabilitiesThatAreAGraphOutput) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.softmax_output_also_graph_output = true;
  build_attention_pattern(g, p);
  PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(r.logged("attention probabilities are a graph output"));
}

TEST(FuseAttention, DeclinesUntransposedK) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.k_transpose = AttentionPattern::KTranspose::kNone;  // q k, not q k^T (head_dim == k_len)
  p.head_dim = 7;
  p.value_dim = 7;
  build_attention_pattern(g, p);
  PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(r.logged("k is not transposed over the last two axes"));
}

TEST(FuseAttention, DeclinesRank1Mask) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.scale_style = AttentionPattern::Scale::kNone;
  p.mask = AttentionPattern::Mask::kInput;
  p.mask_shape = {1};  // rank 1: the fused op takes masks of rank 2 to 4
  build_attention_pattern(g, p);
  PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(r.logged("mask has rank 1"));
}

// With a runtime mask any row may be fully masked (SigLIP2's padded patches): the guard's 0 for
// such rows becomes the fused op's zero_masked_rows (check_fusion compares a partly masked run;
// here every key is masked, so every row).
TEST(FuseAttention, NanGuardWithRuntimeMaskFusesAndZeroesMaskedRows) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.nan_guard = true;
  p.mask = AttentionPattern::Mask::kInput;
  p.mask_shape = {1, 1, 1, 7};
  build_attention_pattern(g, p);
  ASSERT_TRUE(g.infer().ok());
  const Graph unfused = g.graph();
  check_fusion(g, 1);
  const Node* a = attention_node(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->attrs.get_int("zero_masked_rows", 0).value(), 1);
  std::vector<Tensor> feeds = feeds_for(unfused);
  bool found = false;
  for (size_t i = 0; i < unfused.inputs.size(); ++i) {
    Tensor& t = feeds[i];
    if (t.shape() != std::vector<int64_t>{1, 1, 1, 7}) continue;
    for (int64_t j = 0; j < t.numel(); ++j) t.data<float>()[j] = -INFINITY;
    found = true;
  }
  ASSERT_TRUE(found);
  auto want = testing::run_graph(unfused, feeds);
  auto got = testing::run_graph(g.graph(), feeds);
  ASSERT_TRUE(want.ok() && got.ok());
  bool zeros = true;
  for (int64_t i = 0; i < (*want)[0].numel(); ++i) zeros &= (*want)[0].data<float>()[i] == 0.0f;
  EXPECT_TRUE(zeros) << "the guard gives masked rows 0";
  EXPECT_TRUE(testing::tensors_close((*got)[0], (*want)[0], {1e-4, 1e-5}));
}

TEST(FuseAttention, DeclinesScaleAfterRuntimeMask) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.scale_after_mask = true;
  p.mask = AttentionPattern::Mask::kInput;
  p.mask_shape = {1, 1, 7, 7};
  build_attention_pattern(g, p);
  PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(r.logged("the scores are scaled after a runtime mask is added"));
}

// A scale after a constant mask is folded into the mask.
TEST(FuseAttention, ScaleAfterConstantMask) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  p.scale_after_mask = true;
  p.mask = AttentionPattern::Mask::kConstant;
  p.mask_value = testing::random_tensor(DType::kFloat32, {7, 7}, 5);
  build_attention_pattern(g, p);
  check_fusion(g, 1);
}

// q's split heads (the first Transpose) also read from outside: the fused op reads them as they
// are (transposed back and merged) and the Transpose stays for the other reader.
TEST(FuseAttention, HeadTensorUsedElsewhereIsReadAsItIs) {
  TestGraph g;
  AttentionPattern p = base_pattern();
  build_attention_pattern(g, p);
  for (const Node& n : g.graph().nodes) {
    if (n.op_type == "Transpose") {
      g.output(n.outputs[0]);
      break;
    }
  }
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = attention_node(g.graph());
  ASSERT_NE(a, nullptr);
  const Node* q = producer_of(g.graph(), a->inputs[0]);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->op_type, "Reshape");
}

// Attention over a symbolic number of tokens x [batch, tokens, 8] (2 heads) with an additive
// mask built from shapes alone: Where(Range(tokens) >= first_visible, 0, -1e9) as [1, tokens].
// first_visible 0 hides nothing at any length (DINOv2's dynamo mask); 1 hides the first key.
// With `compare` "Less" the mask is Where(Range(tokens) < first_visible, 0, -1e9) instead: a band
// hiding every key from that index on.
TestGraph shape_masked_attention(int64_t first_visible, const char* compare = "GreaterOrEqual") {
  TestGraph g;
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim::symbol("tokens"), 8});
  const auto i64 = [&](std::vector<int64_t> v, bool scalar = false) {
    return g.constant("c" + std::to_string(g.graph().values.size()), Tensor::from_int64(v, scalar));
  };
  const auto transpose = [&](ValueId v, std::vector<int64_t> perm) {
    Attributes a;
    a.set_ints("perm", std::move(perm));
    return g.op("Transpose", {v}, a);
  };
  const ValueId heads = g.op("Reshape", {x, i64({0, 0, 2, 4})});
  const ValueId q = transpose(heads, {0, 2, 1, 3});
  const ValueId kt = transpose(heads, {0, 2, 3, 1});
  const ValueId scores =
      g.op("Mul", {g.op("MatMul", {q, kt}), g.constant("scale", Tensor::from_float({0.5f}, true))});
  Attributes axis0;
  axis0.set_int("axis", 0);
  const ValueId tokens = g.op("Gather", {g.op("Shape", {x}), i64({1}, true)}, axis0);
  const ValueId range = g.op("Range", {i64({0}, true), tokens, i64({1}, true)});
  const ValueId visible =
      g.op(compare, {g.op("Unsqueeze", {range, i64({0})}), i64({first_visible}, true)});
  const ValueId mask = g.op("Where", {visible, g.constant("zero", Tensor::from_float({0.0f}, true)),
                                      g.constant("hidden", Tensor::from_float({-1e9f}, true))});
  Attributes last;
  last.set_int("axis", -1);
  const ValueId probs = g.op("Softmax", {g.op("Add", {scores, mask})}, last);
  const ValueId out = transpose(g.op("MatMul", {probs, q}), {0, 2, 1, 3});
  g.output(g.op("Reshape", {out, i64({0, 0, 8})}));
  return g;
}

// A shape-built mask over a symbolic length is evaluated at probe lengths: all zero at every
// one, it is dropped; hiding a key at any, it stays the fused op's mask input.
TEST(FuseAttention, ShapeBuiltMaskOverSymbolicTokens) {
  {
    TestGraph g = shape_masked_attention(0);
    check_fusion(g, 1, /*transposes_allowed=*/true);
    EXPECT_FALSE(attention_node(g.graph())->has_input(3));
    EXPECT_EQ(testing::count_ops(g.graph(), "Where"), 0);
  }
  {
    TestGraph g = shape_masked_attention(1);
    check_fusion(g, 1, /*transposes_allowed=*/true);
    EXPECT_TRUE(attention_node(g.graph())->has_input(3));
  }
  {
    // Zero up to 100 tokens, so at every causal probe length; the image-side probes (224, 448)
    // see the hidden keys, and the mask stays.
    TestGraph g = shape_masked_attention(100, "Less");
    check_fusion(g, 1, /*transposes_allowed=*/true);
    EXPECT_TRUE(attention_node(g.graph())->has_input(3));
  }
}

}  // namespace
}  // namespace vitrt
