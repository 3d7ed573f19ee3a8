// fuse_attention on attention kept in its head layout (match_folded): scores with leading dims
// other than [batch, heads] (SAM's heads folded into the batch, Hiera's and Twins' windows),
// outputs used before any heads merge (MViTv2's residual pooling), v P^T (EfficientViT-MSRA),
// run-time biases computed from q. Each fused graph is compared with the unfused one on random
// inputs at batch 3; look-alikes decline with a reason.
#include <gtest/gtest.h>

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

ValueId ints(TestGraph& g, const std::vector<int64_t>& v) {
  std::string name = "i";
  name += std::to_string(g.graph().values.size());
  return g.constant(name, Tensor::from_int64(v));
}

ValueId floats(TestGraph& g, const std::vector<int64_t>& shape, uint64_t seed) {
  std::string name = "f";
  name += std::to_string(g.graph().values.size());
  return g.constant(name, testing::random_tensor(DType::kFloat32, shape, seed));
}

ValueId scalar(TestGraph& g, float x) {
  std::string name = "s";
  name += std::to_string(g.graph().values.size());
  return g.constant(name, Tensor::from_float({x}, /*as_scalar=*/true));
}

Attributes perm_attr(const std::vector<int64_t>& perm) {
  Attributes a;
  a.set_ints("perm", perm);
  return a;
}

ValueId softmax(TestGraph& g, ValueId x) {
  Attributes a;
  a.set_int("axis", -1);
  return g.op("Softmax", {x}, a);
}

const Node* mask_input_of(const Graph& g) {
  const Node* a = attention_node(g);
  return a != nullptr && a->num_inputs() > 3 ? a : nullptr;
}

// SAM's image encoder: q, k, v [B*H, S, Dh] (heads folded into the batch), sqrt(scale) on q and
// on k^T, and a bias computed from q at run time ([B*H, S, S], here q R with R a constant) added
// to the scores; the output is unfolded to [B, H, S, Dv] and merged.
TEST(FuseAttentionHeadLayout, HeadsFoldedIntoTheBatchWithABiasFromQ) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  const int64_t heads = 3, seq = 7, dh = 4;
  ValueId q4 = g.input("q", DType::kFloat32, {b, heads, seq, dh});
  ValueId k4 = g.input("k", DType::kFloat32, {b, heads, seq, dh});
  ValueId v4 = g.input("v", DType::kFloat32, {b, heads, seq, dh});
  const ValueId fold = ints(g, {-1, seq, dh});
  ValueId q = g.op("Reshape", {q4, fold});
  ValueId k = g.op("Reshape", {k4, fold});
  ValueId v = g.op("Reshape", {v4, fold});
  ValueId bias = g.op("MatMul", {q, floats(g, {dh, seq}, 5)});
  ValueId qs = g.op("Mul", {q, scalar(g, 0.7071f)});
  ValueId kt = g.op("Mul", {g.op("Transpose", {k}, perm_attr({0, 2, 1})), scalar(g, 0.7071f)});
  ValueId p = softmax(g, g.op("Add", {g.op("MatMul", {qs, kt}), bias}));
  ValueId o = g.op("Reshape", {g.op("MatMul", {p, v}), ints(g, {-1, heads, seq, dh})});
  g.output(g.op("Reshape",
                {g.op("Transpose", {o}, perm_attr({0, 2, 1, 3})), ints(g, {0, seq, heads * dh})}));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = mask_input_of(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 1);
  EXPECT_NEAR(*a->attrs.get_float("scale", 0), 0.5, 1e-4);
  EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[3]].shape), "[3*batch, 1, 7, 7]");
  // The bias still reads q: only the scores' nodes went.
  EXPECT_EQ(testing::count_ops(g.graph(), "MatMul"), 1);
}

// Hiera's mask units and Twins' local windows: scores [B, H, nW, S, S], no mask.
TEST(FuseAttentionHeadLayout, Rank5Windows) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 3, 5, 4});
  ValueId k = g.input("k", DType::kFloat32, {b, 2, 3, 5, 4});
  ValueId v = g.input("v", DType::kFloat32, {b, 2, 3, 5, 6});
  ValueId kt = g.op("Transpose", {k}, perm_attr({0, 1, 2, 4, 3}));
  ValueId p = softmax(g, g.op("MatMul", {g.op("Mul", {q, scalar(g, 0.5f)}), kt}));
  ValueId o = g.op("Transpose", {g.op("MatMul", {p, v})}, perm_attr({0, 3, 2, 1, 4}));
  g.output(g.op("Reshape", {o, ints(g, {0, 15, 12})}));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = attention_node(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->num_inputs(), 3);
  EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 1);
  EXPECT_NEAR(*a->attrs.get_float("scale", 0), 0.5, 1e-6);
  EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[0]].shape), "[6*batch, 5, 4]");
  // k is read before its transpose: only the head layout's Transpose of the output is left.
  EXPECT_EQ(testing::count_ops(g.graph(), "Transpose"), 1);
}

// EfficientViT-MSRA: a learned bias per head ([H, S, S], constant) and v' P^T with v' = v^T
// [B, H, Dv, S] (the output [B, H, Dv, S]); k^T is a graph input. The bias varies along the
// heads only: the fused op takes them as its head axis.
TEST(FuseAttentionHeadLayout, PerHeadBiasAndVTimesPTransposed) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 6, 4});
  ValueId kt = g.input("kt", DType::kFloat32, {b, 2, 4, 6});
  ValueId vt = g.input("vt", DType::kFloat32, {b, 2, 5, 6});
  ValueId scores = g.op("Mul", {g.op("MatMul", {q, kt}), scalar(g, 0.5f)});
  ValueId p = softmax(g, g.op("Add", {scores, floats(g, {2, 6, 6}, 9)}));
  g.output(g.op("MatMul", {vt, g.op("Transpose", {p}, perm_attr({0, 1, 3, 2}))}));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = mask_input_of(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 2);
  EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[3]].shape), "[1, 2, 6, 6]");
  EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[2]].shape), "[batch, 6, 10]");
}

// MViTv2's residual pooling: o + q before the heads merge.
TEST(FuseAttentionHeadLayout, ResidualBeforeTheHeadsMerge) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 6, 4});
  ValueId k = g.input("k", DType::kFloat32, {b, 2, 3, 4});
  ValueId v = g.input("v", DType::kFloat32, {b, 2, 3, 4});
  ValueId kt = g.op("Transpose", {k}, perm_attr({0, 1, 3, 2}));
  ValueId p = softmax(g, g.op("MatMul", {g.op("Mul", {q, scalar(g, 0.5f)}), kt}));
  ValueId o = g.op("Add", {g.op("MatMul", {p, v}), q});
  g.output(g.op("Reshape", {g.op("Transpose", {o}, perm_attr({0, 2, 1, 3})), ints(g, {0, 6, 8})}));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = attention_node(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 1);
  EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[1]].shape), "[2*batch, 3, 4]");
}

// MViTv2's decomposed relative positions as dynamo writes them: the scores reshaped to
// [B, H, qh, qw, kh, kw], rel_h [.., kh, 1] and rel_w [.., 1, kw] (computed from q at run time)
// added there, reshaped back; then the residual o + q before the heads merge.
TEST(FuseAttentionHeadLayout, RunTimeBiasBetweenReshapesOfTheScores) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 16, 8});  // 4x4 queries
  ValueId k = g.input("k", DType::kFloat32, {b, 2, 4, 8});   // 2x2 keys
  ValueId v = g.input("v", DType::kFloat32, {b, 2, 4, 8});
  ValueId q5 = g.op("Reshape", {q, ints(g, {-1, 2, 4, 4, 8})});
  ValueId rel_h =
      g.op("Reshape", {g.op("MatMul", {q5, floats(g, {8, 2}, 11)}), ints(g, {-1, 2, 4, 4, 2, 1})});
  ValueId rel_w =
      g.op("Reshape", {g.op("MatMul", {q5, floats(g, {8, 2}, 12)}), ints(g, {-1, 2, 4, 4, 1, 2})});
  ValueId kt = g.op("Transpose", {k}, perm_attr({0, 1, 3, 2}));
  ValueId s = g.op("MatMul", {g.op("Mul", {q, scalar(g, 0.35f)}), kt});
  ValueId s6 = g.op("Reshape", {s, ints(g, {-1, 2, 4, 4, 2, 2})});
  ValueId biased = g.op("Add", {g.op("Add", {s6, rel_h}), rel_w});
  ValueId p = softmax(g, g.op("Reshape", {biased, ints(g, {-1, 2, 16, 4})}));
  ValueId o = g.op("Add", {g.op("MatMul", {p, v}), q});
  g.output(
      g.op("Reshape", {g.op("Transpose", {o}, perm_attr({0, 2, 1, 3})), ints(g, {0, 16, 16})}));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = mask_input_of(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 1);
  EXPECT_EQ(sym_shape_to_string(g.graph().values[a->inputs[3]].shape), "[2*batch, 1, 16, 4]");
}

// The identity index grid of a ScatterND over `shape`, with elements `swap_a` and `swap_b`
// (flat positions) exchanged when they differ.
Tensor index_grid(const std::vector<int64_t>& shape, int64_t swap_a = 0, int64_t swap_b = 0) {
  const int64_t r = static_cast<int64_t>(shape.size());
  std::vector<int64_t> idx_shape = shape;
  idx_shape.push_back(r);
  Tensor t = Tensor::zeros(DType::kInt64, idx_shape);
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  std::vector<int64_t> at(r, 0);
  for (int64_t e = 0; e < count; ++e) {
    const int64_t dst = e == swap_a ? swap_b : e == swap_b ? swap_a : e;
    for (int64_t a = 0; a < r; ++a) t.data<int64_t>()[dst * r + a] = at[a];
    for (int64_t a = r - 1; a >= 0 && ++at[a] == shape[a]; --a) at[a] = 0;
  }
  return t;
}

// TorchScript's attn[:, :, 0:, 0:] = attn + bias (MViTv2): a ScatterND whose updates, computed
// from the scores, overwrite every element of them; the bias is a run-time input.
TEST(FuseAttentionHeadLayout, ScatterNdOverwritingAllOfTheScores) {
  for (bool identity : {true, false}) {
    TestGraph g;
    ValueId q = g.input("q", DType::kFloat32, {3, 2, 4, 5});
    ValueId kt = g.input("kt", DType::kFloat32, {3, 2, 5, 6});
    ValueId v = g.input("v", DType::kFloat32, {3, 2, 6, 5});
    ValueId bias = g.input("bias", DType::kFloat32, {3, 2, 4, 6});
    ValueId s = g.op("MatMul", {q, kt});
    ValueId idx = g.constant("idx", index_grid({3, 2, 4, 6}, 0, identity ? 0 : 7));
    ValueId scattered = g.op("ScatterND", {s, idx, g.op("Add", {s, bias})});
    g.output(g.op("MatMul", {softmax(g, scattered), v}));
    testing::PassRun r = check_fusion(g, identity ? 1 : 0, /*transposes_allowed=*/true);
    if (identity) {
      ASSERT_NE(mask_input_of(g.graph()), nullptr);
      EXPECT_EQ(testing::count_ops(g.graph(), "ScatterND"), 0);
    } else {
      EXPECT_TRUE(r.logged("scores come from node")) << ::testing::PrintToString(r.log);
    }
  }
}

// TorchScript's indices for it: one arange per axis, shaped along its axis, expanded to the
// scores' shape, unsqueezed and concatenated (checked part by part, never expanded). With the
// key axis's arange reversed the scatter permutes the keys: declined.
TEST(FuseAttentionHeadLayout, ScatterNdWithIndicesConcatenatedPerAxis) {
  for (bool identity : {true, false}) {
    TestGraph g;
    const std::vector<int64_t> shape = {3, 2, 4, 6};
    ValueId q = g.input("q", DType::kFloat32, {3, 2, 4, 5});
    ValueId kt = g.input("kt", DType::kFloat32, {3, 2, 5, 6});
    ValueId v = g.input("v", DType::kFloat32, {3, 2, 6, 5});
    ValueId bias = g.input("bias", DType::kFloat32, {3, 2, 4, 6});
    ValueId s = g.op("MatMul", {q, kt});
    std::vector<ValueId> parts;
    for (int64_t j = 0; j < 4; ++j) {
      std::vector<int64_t> along(4, 1);
      along[j] = shape[j];
      Tensor range = Tensor::zeros(DType::kInt64, along);
      for (int64_t e = 0; e < shape[j]; ++e) {
        range.data<int64_t>()[e] = identity || j != 3 ? e : shape[j] - 1 - e;
      }
      ValueId expanded =
          g.op("Expand", {g.constant("range" + std::to_string(j), range), ints(g, shape)});
      parts.push_back(g.op("Unsqueeze", {expanded, ints(g, {-1})}));
    }
    Attributes last;
    last.set_int("axis", -1);
    ValueId idx = g.op("Concat", parts, last);
    ValueId scattered = g.op("ScatterND", {s, idx, g.op("Add", {s, bias})});
    g.output(g.op("MatMul", {softmax(g, scattered), v}));
    check_fusion(g, identity ? 1 : 0, /*transposes_allowed=*/true);
    EXPECT_EQ(testing::count_ops(g.graph(), "ScatterND"), identity ? 0 : 1);
  }
}

// A mask that varies along a leading dim other than the last ([H, 1, S, S] over [B, H, nW, S, S])
// is neither one block, one per leading index, nor one per head of the fused op: declined.
TEST(FuseAttentionHeadLayout, DeclinesAMaskAlongAnInnerLeadingDim) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 3, 5, 4});
  ValueId k = g.input("k", DType::kFloat32, {b, 2, 3, 5, 4});
  ValueId v = g.input("v", DType::kFloat32, {b, 2, 3, 5, 4});
  ValueId kt = g.op("Transpose", {k}, perm_attr({0, 1, 2, 4, 3}));
  ValueId s = g.op("Add", {g.op("MatMul", {q, kt}), floats(g, {2, 1, 5, 5}, 3)});
  g.output(g.op("MatMul", {softmax(g, s), v}));
  EXPECT_TRUE(check_fusion(g, 0).logged(
      "mask [1, 2, 1, 5, 5] does not broadcast to the scores [batch, 2, 3, 5, 5] as one block, one "
      "per leading index, or one per head"));
}

// Multi-query attention (MobileNetV5's, Gemma 3n's vision encoder): q [B, H, Sq, Dh] against one
// key/value head [B, 1, Sk, D] that the MatMuls broadcast over the heads, the heads then merged.
// q's heads fold into its rows: one problem per image, H * Sq rows against Sk keys.
TEST(FuseAttentionHeadLayout, MultiQueryKeysBroadcastOverTheHeads) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  const int64_t heads = 4, sq = 5, sk = 3, dh = 8;
  ValueId q = g.input("q", DType::kFloat32, {b, heads, sq, dh});
  ValueId k = g.input("k", DType::kFloat32, {b, 1, sk, dh});
  ValueId v = g.input("v", DType::kFloat32, {b, 1, sk, dh});
  ValueId qs = g.op("Mul", {q, scalar(g, 0.5946f)});
  ValueId kt = g.op("Mul", {g.op("Transpose", {k}, perm_attr({0, 1, 3, 2})), scalar(g, 0.5946f)});
  ValueId o = g.op("MatMul", {softmax(g, g.op("MatMul", {qs, kt})), v});
  g.output(g.op("Reshape",
                {g.op("Transpose", {o}, perm_attr({0, 2, 1, 3})), ints(g, {0, sq, heads * dh})}));
  PassRun r = check_fusion(g, 1, /*transposes_allowed=*/true);
  EXPECT_TRUE(r.logged("q, k, v head splits differ (4x8, 1x8, 1x8)"));
  const Node* a = attention_node(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(*a->attrs.get_int("num_heads", 0), 1);
  EXPECT_NEAR(*a->attrs.get_float("scale", 0), 0.5946 * 0.5946, 1e-6);
  const Value& fused_q = g.graph().values[a->inputs[0]];
  ASSERT_EQ(fused_q.shape.size(), 3u);
  EXPECT_EQ(fused_q.shape[1].value(), heads * sq);
}

// Learned keys and values shared by every image and head ([1, 1, Sk, D]): the batch folds into
// the rows too (its size known only at run time); a key padding mask per image would not fit,
// but a constant mask row over the keys does. The output stays in the head layout.
TEST(FuseAttentionHeadLayout, KeysSharedOverTheBatchAndHeadsWithAKeyMask) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 5, 4});
  ValueId kt = floats(g, {1, 1, 4, 6}, 21);
  ValueId v = floats(g, {1, 1, 6, 3}, 22);
  Tensor row = Tensor::empty(DType::kFloat32, {1, 6});
  for (int64_t j = 0; j < 6; ++j) row.data<float>()[j] = j == 2 ? -1e30f : 0.25f * j;
  ValueId s = g.op("Add", {g.op("MatMul", {q, kt}), g.constant("key_mask", row)});
  g.output(g.op("MatMul", {softmax(g, s), v}));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  const Node* a = mask_input_of(g.graph());
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(g.graph().values[a->inputs[0]].shape[0].value(), 1);
}

// A per-image key padding mask [B, 1, 1, Sk] with multi-query keys: one mask row per problem.
TEST(FuseAttentionHeadLayout, MultiQueryWithARuntimeKeyPaddingMask) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 3, 4, 4});
  ValueId kt = g.input("kt", DType::kFloat32, {b, 1, 4, 5});
  ValueId v = g.input("v", DType::kFloat32, {b, 1, 5, 4});
  ValueId m = g.input("mask", DType::kFloat32, {b, 1, 1, 5});
  ValueId s = g.op("Add", {g.op("MatMul", {q, kt}), m});
  g.output(g.op("MatMul", {softmax(g, s), v}));
  check_fusion(g, 1, /*transposes_allowed=*/true);
  EXPECT_NE(mask_input_of(g.graph()), nullptr);
}

// A mask with a row per query cannot follow the query rows that the heads fold into: declined.
TEST(FuseAttentionHeadLayout, DeclinesMultiQueryWithAMaskPerQueryRow) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 3, 4, 4});
  ValueId kt = g.input("kt", DType::kFloat32, {b, 1, 4, 5});
  ValueId v = g.input("v", DType::kFloat32, {b, 1, 5, 4});
  ValueId s = g.op("Add", {g.op("MatMul", {q, kt}), floats(g, {4, 5}, 9)});
  g.output(g.op("MatMul", {softmax(g, s), v}));
  EXPECT_TRUE(check_fusion(g, 0).logged(
      "mask [1, 1, 4, 5] of attention whose k and v broadcast over the scores [batch, 3, 4, 5] "
      "is not one row of keys per index of the dims before the broadcast"));
}

// Head dims above the CUDA kernel's 128 (XCiT's channel attention at 224 px attends over 196
// "head dims"): declined so that the plan runs on either device.
TEST(FuseAttentionHeadLayout, DeclinesHeadDimsAbove128) {
  TestGraph g;
  const Dim b = Dim::symbol("batch");
  ValueId q = g.input("q", DType::kFloat32, {b, 2, 4, 130});
  ValueId kt = g.input("kt", DType::kFloat32, {b, 2, 130, 4});
  ValueId v = g.input("v", DType::kFloat32, {b, 2, 4, 130});
  g.output(g.op("MatMul", {softmax(g, g.op("MatMul", {q, kt})), v}));
  EXPECT_TRUE(check_fusion(g, 0).logged("exceed 128"));
}

}  // namespace
}  // namespace vitrt
