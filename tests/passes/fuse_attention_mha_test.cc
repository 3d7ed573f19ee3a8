// fuse_attention on open_clip's nn.MultiheadAttention blocks (hand-built as torch exports them):
// fires with the batch-first transposes folded into the projections, checked against the unfused
// graph's numbers; declines look-alikes with a reason.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "testing/attention_fusion.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::attention_node;
using testing::check_fusion;
using testing::PassRun;
using testing::TestGraph;

// open_clip's nn.MultiheadAttention(batch_first=True) block as torch exports it with SDPA: the
// input transposed to [S, B, D], one packed in_proj, Reshape [S, B, 3, D] -> Unsqueeze ->
// Transpose -> Squeeze -> Gather of q, k, v, heads folded into the batch axis ([S, B*H, Dh] ->
// [B*H, S, Dh] -> [B, H, S, Dh]), rank-4 scores, heads merged sequence-first (2, 0, 1, 3) into
// the out_proj's rows, and the result transposed back to [B, S, D].
struct MhaBlock {
  bool causal_mask = false;  // + a constant causal [S, S] mask
  std::vector<int64_t> merge_perm = {2, 0, 1, 3};
  int64_t unfold_heads = 2;                // heads the [B*H, S, Dh] -> [B, H, S, Dh] unfolds
  std::vector<int64_t> parts = {0, 1, 2};  // the packed parts read as q, k, v
  bool packed_is_graph_output = false;     // the [3, S, B, D] split also a graph output
};

void build_mha_block(TestGraph& g, const MhaBlock& c) {
  constexpr int64_t kS = 5, kHeads = 2, kDh = 8, kD = kHeads * kDh;
  auto ints = [&](std::vector<int64_t> v) {
    return g.constant(str_cat("c", g.graph().values.size()), Tensor::from_int64(v));
  };
  auto perm = [](std::vector<int64_t> p) {
    Attributes a;
    a.set_ints("perm", std::move(p));
    return a;
  };
  auto linear = [&](ValueId x, int64_t n, uint64_t seed) {
    ValueId w = g.constant(str_cat("w", seed),
                           testing::random_tensor(DType::kFloat32, {kD, n}, seed, -0.5, 0.5));
    ValueId b = g.constant(str_cat("b", seed),
                           testing::random_tensor(DType::kFloat32, {n}, seed + 9, -0.5, 0.5));
    return g.op("Linear", {x, w, b}, {}, "vitrt");
  };
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), kS, kD});
  ValueId packed = linear(g.op("Transpose", {x}, perm({1, 0, 2})), 3 * kD, 1);  // [S, B, 3D]
  ValueId split =
      g.op("Squeeze",
           {g.op("Transpose",
                 {g.op("Unsqueeze", {g.op("Reshape", {packed, ints({kS, -1, 3, kD})}), ints({0})})},
                 perm({3, 1, 2, 0, 4})),
            ints({-2})});  // [3, S, B, D]
  if (c.packed_is_graph_output) g.output(split);
  Attributes axis0;
  axis0.set_int("axis", 0);
  auto part = [&](int64_t i) {
    return g.op("Gather",
                {split, g.constant(str_cat("part", g.graph().values.size()),
                                   Tensor::from_int64({i}, true))},
                axis0);
  };
  auto heads = [&](ValueId p, std::vector<int64_t> to_batch_heads, std::vector<int64_t> unfold) {
    return g.op("Reshape", {g.op("Transpose", {g.op("Reshape", {p, ints({kS, -1, kDh})})},
                                 perm(std::move(to_batch_heads))),
                            ints(std::move(unfold))});
  };
  ValueId scale = g.constant("scale", Tensor::from_float({0.59460356f}, true));  // 8^-1/4
  ValueId q =
      g.op("Mul", {heads(part(c.parts[0]), {1, 0, 2}, {-1, c.unfold_heads, kS, kDh}), scale});
  ValueId kt =
      g.op("Mul", {heads(part(c.parts[1]), {1, 2, 0}, {-1, c.unfold_heads, kDh, kS}), scale});
  ValueId v = heads(part(c.parts[2]), {1, 0, 2}, {-1, c.unfold_heads, kS, kDh});
  ValueId scores = g.op("MatMul", {q, kt});
  if (c.causal_mask) {
    std::vector<float> m(kS * kS, 0.0f);
    for (int64_t i = 0; i < kS; ++i) {
      for (int64_t j = i + 1; j < kS; ++j) m[i * kS + j] = -std::numeric_limits<float>::infinity();
    }
    scores = g.op("Add", {scores, g.constant("mask", *Tensor::from_float(m).reshaped({kS, kS}))});
  }
  Attributes last;
  last.set_int("axis", -1);
  ValueId o = g.op("MatMul", {g.op("Softmax", {scores}, last), v});  // [B, H, S, Dh]
  ValueId rows = g.op("Reshape", {g.op("Transpose", {o}, perm(c.merge_perm)), ints({-1, kD})});
  ValueId out = g.op("Reshape", {linear(rows, kD, 2), ints({kS, -1, kD})});  // [S, B, D]
  g.output(g.op("Transpose", {out}, perm({1, 0, 2})));
}

TEST(FuseAttention, OpenClipMultiheadAttentionBlock) {
  for (bool causal : {false, true}) {
    TestGraph g;
    MhaBlock c;
    c.causal_mask = causal;
    build_mha_block(g, c);
    // No Transpose left: the in_proj and out_proj Linears read and write batch-first.
    PassRun r = check_fusion(g, 1);
    EXPECT_TRUE(r.logged("packed qkv")) << causal;
    const Node* a = attention_node(g.graph());
    ASSERT_NE(a, nullptr);
    EXPECT_FALSE(a->has_input(1));  // packed qkv
    EXPECT_FALSE(a->has_input(3));  // the causal mask became the flag
    EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 2);
    EXPECT_EQ(*a->attrs.get_int("causal", 0), causal ? 1 : 0);
    EXPECT_NEAR(*a->attrs.get_float("scale", 0), 1.0 / std::sqrt(8.0), 1e-6);
    EXPECT_EQ(testing::count_ops(g.graph(), "Linear"), 2);
  }
}

// Merges the packed form cannot take fuse in the head layout: the scores, softmax and P v
// become one Attention over [B*H, S, Dh] (one head), the merge stays as it is.
TEST(FuseAttention, OpenClipBlockMergingHeadsInAnotherOrderFusesInTheHeadLayout) {
  TestGraph g;
  MhaBlock c;
  c.merge_perm = {2, 1, 0, 3};  // [S, H, B, Dh]: heads-major rows, not [S, B, H*Dh]
  build_mha_block(g, c);
  PassRun r = check_fusion(g, 1, /*transposes_allowed=*/true);
  EXPECT_TRUE(r.logged("head layout")) << ::testing::PrintToString(r.log);
  EXPECT_EQ(*attention_node(g.graph())->attrs.get_int("num_heads", 0), 1);
}

TEST(FuseAttention, OpenClipBlockUnfoldingOtherHeadsFusesInTheHeadLayout) {
  TestGraph g;
  MhaBlock c;
  // [B*H, S, Dh] -> [B*H, 1, S, Dh]: the batch axis keeps the heads, so the merged rows
  // ([S, B*H, 1*Dh]) are not [S*B, H*Dh].
  c.unfold_heads = 1;
  build_mha_block(g, c);
  PassRun r = check_fusion(g, 1, /*transposes_allowed=*/true);
  EXPECT_TRUE(r.logged("head layout")) << ::testing::PrintToString(r.log);
  EXPECT_EQ(*attention_node(g.graph())->attrs.get_int("num_heads", 0), 1);
}

TEST(FuseAttention, DeclinesOpenClipBlockWithSwappedParts) {
  TestGraph g;
  MhaBlock c;
  c.parts = {1, 0, 2};  // q reads the k columns
  build_mha_block(g, c);
  PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(r.logged("q, k, v are not parts 0, 1, 2 of one packed projection"))
      << ::testing::PrintToString(r.log);
}

TEST(FuseAttention, DeclinesOpenClipBlockWhosePackedSplitIsUsedElsewhere) {
  TestGraph g;
  MhaBlock c;
  c.packed_is_graph_output = true;
  build_mha_block(g, c);
  PassRun r = check_fusion(g, 0);
  EXPECT_TRUE(r.logged("an intermediate of the attention is used outside it"))
      << ::testing::PrintToString(r.log);
}

}  // namespace
}  // namespace vitrt
