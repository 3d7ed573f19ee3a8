// fuse_attention where q and k are transformed in head layout between the head split and the
// q k^T MatMul (rotary position embeddings as EVA02 / DINOv3 / timm's RoPE ViTs export them, a
// q/k LayerNorm) or arrive as head-layout graph inputs: the attention core fuses, the transform
// stays, and the outputs match the unfused graph's. Look-alikes decline with a reason.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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
using testing::PassRun;
using testing::TestGraph;

ValueId ints(TestGraph& g, const std::vector<int64_t>& v) {
  // Appended, not "i" + to_string(...): GCC 12 at -O3 warns (-Wrestrict, a false positive) on
  // that operator+ once this file inlines enough of it.
  std::string name = "i";
  name += std::to_string(g.graph().values.size());
  return g.constant(name, Tensor::from_int64(v));
}

Attributes int_attr(const char* name, int64_t v) {
  Attributes a;
  a.set_int(name, v);
  return a;
}

ValueId slice(TestGraph& g, ValueId x, int64_t axis, int64_t start, int64_t end, int64_t step = 1) {
  return g.op("Slice", {x, ints(g, {start}), ints(g, {end}), ints(g, {axis}), ints(g, {step})});
}

// EVA02 / DINOv3 RoPE on [B, H, S, Dh] heads: the first `prefix` tokens (cls, registers) pass
// unrotated, the others become x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1].
ValueId rope_half(TestGraph& g, ValueId x, int64_t seq, int64_t head_dim, int64_t prefix,
                  uint64_t seed) {
  const int64_t n = seq - prefix;
  ValueId cos = g.constant("cos" + std::to_string(seed),
                           testing::random_tensor(DType::kFloat32, {n, head_dim}, seed));
  ValueId sin = g.constant("sin" + std::to_string(seed),
                           testing::random_tensor(DType::kFloat32, {n, head_dim}, seed + 1));
  ValueId patches = prefix > 0 ? slice(g, x, 2, prefix, seq) : x;
  ValueId x1 = slice(g, patches, 3, 0, head_dim / 2);
  ValueId x2 = slice(g, patches, 3, head_dim / 2, head_dim);
  ValueId rotated = g.op("Concat", {g.op("Neg", {x2}), x1}, int_attr("axis", -1));
  ValueId out = g.op("Add", {g.op("Mul", {patches, cos}), g.op("Mul", {rotated, sin})});
  if (prefix == 0) return out;
  return g.op("Concat", {slice(g, x, 2, 0, prefix), out}, int_attr("axis", 2));
}

// Interleaved RoPE (pairs (x0, x1), (x2, x3), ...): rotate(x) stacks (-x_odd, x_even) on a new
// last axis and reshapes it back, as timm's rot() and apply_rot_embed export.
ValueId rope_interleaved(TestGraph& g, ValueId x, int64_t seq, int64_t head_dim, uint64_t seed) {
  ValueId cos = g.constant("cos" + std::to_string(seed),
                           testing::random_tensor(DType::kFloat32, {seq, head_dim}, seed));
  ValueId sin = g.constant("sin" + std::to_string(seed),
                           testing::random_tensor(DType::kFloat32, {seq, head_dim}, seed + 1));
  ValueId even = slice(g, x, 3, 0, head_dim, 2);
  ValueId odd = slice(g, x, 3, 1, head_dim, 2);
  ValueId stacked = g.op("Concat",
                         {g.op("Unsqueeze", {g.op("Neg", {odd}), ints(g, {-1})}),
                          g.op("Unsqueeze", {even, ints(g, {-1})})},
                         int_attr("axis", -1));
  ValueId rotated = g.op("Reshape", {stacked, ints(g, {0, 0, 0, head_dim})});
  return g.op("Add", {g.op("Mul", {x, cos}), g.op("Mul", {rotated, sin})});
}

// timm's qk_norm / HF query and key norms: LayerNorm over head_dim.
ValueId head_norm(TestGraph& g, ValueId x, int64_t head_dim, uint64_t seed) {
  ValueId gamma = g.constant("gamma" + std::to_string(seed),
                             testing::random_tensor(DType::kFloat32, {head_dim}, seed));
  ValueId beta = g.constant("beta" + std::to_string(seed),
                            testing::random_tensor(DType::kFloat32, {head_dim}, seed + 1));
  return g.op("LayerNormalization", {x, gamma, beta}, int_attr("axis", -1));
}

AttentionPattern rope_pattern(int64_t prefix) {
  AttentionPattern p;
  p.batch = Dim::symbol("batch");
  p.q_len = 7;
  p.k_len = 7;
  p.heads = 3;
  p.head_dim = 8;
  p.value_dim = 8;
  p.transform_q = [=](TestGraph& g, ValueId x) { return rope_half(g, x, 7, 8, prefix, 11); };
  p.transform_k = [=](TestGraph& g, ValueId x) { return rope_half(g, x, 7, 8, prefix, 13); };
  return p;
}

// The scale on q after the rotation (timm eager), on the scores (HF eager), or its square root
// on q and on k^T (SDPA exports): all fold into the fused op's scale; the rotation stays.
TEST(FuseAttentionRope, RotatedPatchTokensEveryScaleForm) {
  for (auto style : {AttentionPattern::Scale::kOnQHeads, AttentionPattern::Scale::kScoresMul,
                     AttentionPattern::Scale::kScoresDiv, AttentionPattern::Scale::kSqrtOnQAndK}) {
    for (int64_t prefix : {0, 1, 3}) {
      SCOPED_TRACE(::testing::Message()
                   << "scale style " << static_cast<int>(style) << ", prefix " << prefix);
      TestGraph g;
      AttentionPattern p = rope_pattern(prefix);
      p.scale_style = style;
      build_attention_pattern(g, p);
      check_fusion(g, 1, /*transposes_allowed=*/true);
      const Node* a = attention_node(g.graph());
      ASSERT_NE(a, nullptr);
      EXPECT_EQ(a->num_inputs(), 3);
      EXPECT_NEAR(*a->attrs.get_float("scale", 0), 1 / std::sqrt(8.0), 1e-6);
      EXPECT_EQ(testing::count_ops(g.graph(), "Neg"), 2);  // the rotations stay
    }
  }
}

// A scale on the q projection, before the split and the rotation, stays where it is.
TEST(FuseAttentionRope, ScaleBeforeTheRotationStays) {
  TestGraph g;
  AttentionPattern p = rope_pattern(1);
  p.scale_style = AttentionPattern::Scale::kOnQProjection;
  build_attention_pattern(g, p);
  check_fusion(g, 1, /*transposes_allowed=*/true);
  EXPECT_NEAR(*attention_node(g.graph())->attrs.get_float("scale", 0), 1.0, 1e-6);
}

TEST(FuseAttentionRope, InterleavedRotationAndKTransposedThroughRank3) {
  for (auto kt :
       {AttentionPattern::KTranspose::kOnePerm, AttentionPattern::KTranspose::kTwoTransposes,
        AttentionPattern::KTranspose::kThroughRank3}) {
    TestGraph g;
    AttentionPattern p = rope_pattern(0);
    p.k_transpose = kt;
    p.transform_q = [](TestGraph& g, ValueId x) { return rope_interleaved(g, x, 7, 8, 21); };
    p.transform_k = [](TestGraph& g, ValueId x) { return rope_interleaved(g, x, 7, 8, 23); };
    build_attention_pattern(g, p);
    check_fusion(g, 1, /*transposes_allowed=*/true);
  }
}

TEST(FuseAttentionRope, QkLayerNorm) {
  TestGraph g;
  AttentionPattern p = rope_pattern(0);
  p.transform_q = [](TestGraph& g, ValueId x) { return head_norm(g, x, 8, 31); };
  p.transform_k = [](TestGraph& g, ValueId x) { return head_norm(g, x, 8, 33); };
  p.scale_style = AttentionPattern::Scale::kOnQHeads;
  build_attention_pattern(g, p);
  check_fusion(g, 1, /*transposes_allowed=*/true);
}

// SwinV2's cosine attention: normalized q and k (a LayerNorm stands in for F.normalize), q k^T
// times a learned factor per head, no other scale, the shifted-window mask added once (timm) or
// twice (HF): the per-head factor moves onto q, the masks' sum repeats over the batch.
TEST(FuseAttentionRope, SwinV2CosineAttentionWithPerHeadScale) {
  for (int adds : {1, 2}) {
    TestGraph g;
    AttentionPattern p = rope_pattern(0);
    p.batch = 6;
    p.transform_q = [](TestGraph& g, ValueId x) { return head_norm(g, x, 8, 31); };
    p.transform_k = [](TestGraph& g, ValueId x) { return head_norm(g, x, 8, 33); };
    p.scale_style = AttentionPattern::Scale::kNone;
    p.head_scale = {4.0f, 0.5f, 12.0f};
    p.mask = AttentionPattern::Mask::kConstant;
    p.mask_value = testing::random_tensor(DType::kFloat32, {3, 7, 7}, 5);
    p.windows = 3;
    p.window_mask = testing::random_tensor(DType::kFloat32, {3, 1, 7, 7}, 6, -4.0, 0.0);
    p.window_mask_adds = adds;
    build_attention_pattern(g, p);
    check_fusion(g, 1, /*transposes_allowed=*/true);
  }
}

// A per-head factor on scores whose q is not a head tensor cannot move onto q: declined.
TEST(FuseAttentionRope, DeclinesPerHeadScaleOnASplitQ) {
  TestGraph g;
  AttentionPattern p = rope_pattern(0);
  p.transform_q = nullptr;
  p.transform_k = nullptr;
  p.scale_style = AttentionPattern::Scale::kNone;
  p.head_scale = {4.0f, 0.5f, 12.0f};
  build_attention_pattern(g, p);
  testing::PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(std::any_of(r.log.begin(), r.log.end(), [](const std::string& l) {
    return l.find("per-head scale") != std::string::npos;
  }));
}

// EVA02: q and k are rotated after timm's packed split, v is part 2: v becomes a Slice of the
// packed projection and the split stays for q and k.
TEST(FuseAttentionRope, PackedQkvWithRotatedQAndK) {
  for (bool split_first : {false, true}) {
    TestGraph g;
    AttentionPattern p = rope_pattern(1);
    p.packed_qkv = true;
    p.packed_split_first = split_first;
    p.scale_style = AttentionPattern::Scale::kOnQHeads;
    build_attention_pattern(g, p);
    check_fusion(g, 1, /*transposes_allowed=*/true);
    const Node* a = attention_node(g.graph());
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(a->has_input(1));
    const Node* v = producer_of(g.graph(), a->inputs[2]);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->op_type, "Slice");
    EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[2]].shape), "[batch, 7, 24]");
  }
}

// Only k is normalized: q and v are parts 0 and 2 of the packed projection.
TEST(FuseAttentionRope, PackedQkvWithOnlyKTransformed) {
  TestGraph g;
  AttentionPattern p = rope_pattern(0);
  p.packed_qkv = true;
  p.transform_q = nullptr;
  p.transform_k = [](TestGraph& g, ValueId x) { return head_norm(g, x, 8, 41); };
  build_attention_pattern(g, p);
  check_fusion(g, 1, /*transposes_allowed=*/true);
  EXPECT_EQ(testing::count_ops(g.graph(), "Slice"), 2);
}

// q [B, H, Sq, Dh], k^T [B, H, Dh, Sk] and v [B, H, Sk, Dv] as graph inputs (Sq != Sk): the
// fused op reads them transposed and merged, k from its [B, H, Dh, Sk] layout.
TEST(FuseAttentionRope, HeadLayoutGraphInputs) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 5, 4});
  ValueId kt = g.input("kt", DType::kFloat32, {b, 2, 4, 6});
  ValueId v = g.input("v", DType::kFloat32, {b, 2, 6, 3});
  ValueId scores =
      g.op("Mul", {g.op("MatMul", {q, kt}), g.constant("s", Tensor::from_float({0.5f}, true))});
  ValueId o = g.op("MatMul", {g.op("Softmax", {scores}, int_attr("axis", -1)), v});
  Attributes perm;
  perm.set_ints("perm", {0, 2, 1, 3});
  g.output(g.op("Reshape", {g.op("Transpose", {o}, perm), ints(g, {0, 5, 6})}));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = attention_node(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 2);
  EXPECT_NEAR(*a->attrs.get_float("scale", 0), 0.5, 1e-6);
  EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[1]].shape), "[batch, 6, 8]");
}

// ---- look-alikes ------------------------------------------------------------------------------

TEST(FuseAttentionRope, DeclinesSoftmaxOverAnotherAxis) {
  TestGraph g;
  AttentionPattern p = rope_pattern(1);
  p.softmax_axis = 2;
  build_attention_pattern(g, p);
  EXPECT_TRUE(check_fusion(g, 0).logged("softmax axis is not the last"));
}

TEST(FuseAttentionRope, DeclinesScoresUsedElsewhere) {
  TestGraph g;
  AttentionPattern p = rope_pattern(1);
  p.scale_style = AttentionPattern::Scale::kNone;
  build_attention_pattern(g, p);
  for (const Node& n : g.graph().nodes) {
    if (n.op_type == "Softmax") {
      g.output(n.inputs[0]);
      break;
    }
  }
  EXPECT_TRUE(check_fusion(g, 0).logged("scores are used outside the attention"));
}

TEST(FuseAttentionRope, DeclinesRank1RuntimeMask) {
  TestGraph g;
  AttentionPattern p = rope_pattern(1);
  p.scale_style = AttentionPattern::Scale::kNone;
  p.mask = AttentionPattern::Mask::kInput;
  p.mask_shape = {1};
  build_attention_pattern(g, p);
  EXPECT_TRUE(check_fusion(g, 0).logged("mask has rank 1"));
}

// The MatMul broadcasts a [1, H, Dh, Sk] key over the batch: not one key per batch row.
TEST(FuseAttentionRope, DeclinesKeysBroadcastOverTheBatch) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 5, 4});
  ValueId kt = g.input("kt", DType::kFloat32, {1, 2, 4, 6});
  ValueId v = g.input("v", DType::kFloat32, {b, 2, 6, 4});
  ValueId o = g.op("MatMul", {g.op("Softmax", {g.op("MatMul", {q, kt})}, int_attr("axis", -1)), v});
  Attributes perm;
  perm.set_ints("perm", {0, 2, 1, 3});
  g.output(g.op("Reshape", {g.op("Transpose", {o}, perm), ints(g, {0, 5, 8})}));
  EXPECT_TRUE(
      check_fusion(g, 0).logged("k ([1, 2, 4, 6]) does not have the batch, heads and "
                                "length of the scores [batch, 2, 5, 6]"));
}

// A rotated k read by heads of another count than q's: the splits differ.
TEST(FuseAttentionRope, DeclinesHeadsBroadcastOverK) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 5, 4});
  ValueId kt = g.input("kt", DType::kFloat32, {b, 1, 4, 5});
  ValueId v = g.input("v", DType::kFloat32, {b, 2, 5, 4});
  ValueId o = g.op("MatMul", {g.op("Softmax", {g.op("MatMul", {q, kt})}, int_attr("axis", -1)), v});
  Attributes perm;
  perm.set_ints("perm", {0, 2, 1, 3});
  g.output(g.op("Reshape", {g.op("Transpose", {o}, perm), ints(g, {0, 5, 8})}));
  EXPECT_TRUE(check_fusion(g, 0).logged("q, k, v head splits differ"));
}

}  // namespace
}  // namespace vitrt
