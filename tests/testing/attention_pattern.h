// Builds the unfused multi-head attention subgraph as exporters write it (head split Reshape +
// Transpose, q k^T MatMul, scale, additive mask, Softmax, P v MatMul, merge-heads Transpose +
// Reshape), with knobs for the variants fuse_attention must handle and the look-alikes it must
// decline. Shared by the Attention kernel test and the fusion tests.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt::testing {

struct AttentionPattern {
  Dim batch = 2;
  int64_t q_len = 7;
  int64_t k_len = 7;  // != q_len only with separate_kv_input
  int64_t heads = 2;
  int64_t head_dim = 8;
  int64_t value_dim = 8;

  // Inputs: x [B, S, D] projected by MatMul + Add (weights constant), or q/k/v graph inputs.
  bool projections = true;
  bool linear_projections = false;  // vitrt.Linear instead of MatMul + Add (as after fuse_linear)
  bool packed_qkv = false;          // one [D, 3D] projection split timm-style (Reshape 5-D)
  // Packed, split on the "3" axis before transposing (as a transpose-pushing optimizer leaves
  // it) instead of Transpose(2,0,3,1,4) then Split on axis 0.
  bool packed_split_first = false;
  bool separate_kv_input = false;  // k and v projected from a second input y [B, k_len, D]
  // kOnQHeads: q's heads times the scale after transform_q (timm's eager attention).
  enum class Scale { kScoresMul, kScoresDiv, kSqrtOnQAndK, kOnQProjection, kOnQHeads, kNone };
  Scale scale_style = Scale::kScoresMul;
  // kNone multiplies by k untransposed (a look-alike: needs head_dim == k_len).
  enum class KTranspose { kOnePerm, kTwoTransposes, kThroughRank3, kNone };
  KTranspose k_transpose = KTranspose::kOnePerm;
  // Additive mask: none, a constant, a graph input "mask" of mask_shape, or a value the test
  // built in the graph beforehand.
  enum class Mask { kNone, kConstant, kInput, kValue };
  Mask mask = Mask::kNone;
  Tensor mask_value;                // kConstant
  std::vector<int64_t> mask_shape;  // kInput
  ValueId mask_id = kNoValue;       // kValue
  int64_t softmax_axis = -1;
  bool softmax_output_also_graph_output = false;
  bool scale_after_mask = false;  // Mul by 0.5 after the mask Add
  // Swin's shifted windows: with windows > 0 the scores [B, H, Sq, Sk] (B a multiple of windows)
  // are reshaped to [B / windows, windows, H, Sq, Sk], window_mask is added, and they are
  // reshaped back (after the other mask, before scale_after_mask).
  int64_t windows = 0;
  Tensor window_mask;
  int window_mask_adds = 1;  // HF's SwinV2 adds it twice
  // SwinV2's cosine attention: q k^T times a constant [H, 1, 1] (one factor per head) right
  // after the MatMul.
  std::vector<float> head_scale;
  // Channels-last windows (MaxViT): the merged heads reshaped to [B, spatial..., H * value_dim]
  // (the product of `spatial` is q_len) instead of [B, q_len, H * value_dim].
  std::vector<int64_t> spatial;
  bool nan_guard = false;  // Where(IsNaN(p), 0, p) after the Softmax, as SDPA via dynamo
  // Applied to q's / k's heads [B, H, S, Dh] between the head split and the MatMul (RoPE, a
  // q/k norm); returns the transformed heads.
  std::function<ValueId(TestGraph&, ValueId)> transform_q, transform_k;
  uint64_t seed = 1;

  float scale() const { return 1.0f / std::sqrt(static_cast<float>(head_dim)); }
  int64_t width() const { return heads * head_dim; }
};

namespace attention_pattern_detail {

inline ValueId shape_const(TestGraph& g, const std::vector<int64_t>& dims) {
  return g.constant("shape_" + std::to_string(g.graph().values.size()), Tensor::from_int64(dims));
}

inline Attributes perm(std::vector<int64_t> p) {
  Attributes a;
  a.set_ints("perm", std::move(p));
  return a;
}

inline ValueId scalar(TestGraph& g, float v) {
  return g.constant("scalar_" + std::to_string(g.graph().values.size()),
                    Tensor::from_float({v}, /*as_scalar=*/true));
}

inline ValueId projection(TestGraph& g, ValueId x, int64_t in, int64_t out, uint64_t seed,
                          bool linear) {
  ValueId w = g.constant("w" + std::to_string(seed),
                         random_tensor(DType::kFloat32, {in, out}, seed, -0.5, 0.5));
  ValueId b = g.constant("b" + std::to_string(seed),
                         random_tensor(DType::kFloat32, {out}, seed + 100, -0.5, 0.5));
  if (linear) return g.op("Linear", {x, w, b}, {}, "vitrt");
  return g.op("Add", {g.op("MatMul", {x, w}), b});
}

// [B, S, H*d] -> [B, H, S, d]
inline ValueId split_heads(TestGraph& g, ValueId t, int64_t seq, int64_t heads, int64_t d) {
  ValueId r = g.op("Reshape", {t, shape_const(g, {0, seq, heads, d})});
  return g.op("Transpose", {r}, perm({0, 2, 1, 3}));
}

}  // namespace attention_pattern_detail

// Adds the pattern to `g` and returns the merged output [B, q_len, H * value_dim] (already
// marked a graph output). Graph inputs, in order: x (and y with separate_kv_input), or q, k, v;
// then "mask" for Mask::kInput.
inline ValueId build_attention_pattern(TestGraph& g, const AttentionPattern& p) {
  using namespace attention_pattern_detail;
  const int64_t d = p.width();
  const int64_t dv = p.heads * p.value_dim;
  ValueId qh, kh, vh;  // [B, H, S, d]
  if (p.projections) {
    ValueId x = g.input("x", DType::kFloat32, {p.batch, p.q_len, d});
    ValueId y = p.separate_kv_input ? g.input("y", DType::kFloat32, {p.batch, p.k_len, d}) : x;
    if (p.packed_qkv) {
      ValueId qkv = projection(g, x, d, 3 * d, p.seed, p.linear_projections);
      ValueId r = g.op("Reshape", {qkv, shape_const(g, {0, p.q_len, 3, p.heads, p.head_dim})});
      std::vector<ValueId> heads;
      if (p.packed_split_first) {
        Attributes axis2;
        axis2.set_int("axis", 2);
        for (ValueId part : g.op_multi("Split", {r, shape_const(g, {1, 1, 1})}, 3, axis2)) {
          ValueId squeezed = g.op("Squeeze", {part, shape_const(g, {2})});
          heads.push_back(g.op("Transpose", {squeezed}, perm({0, 2, 1, 3})));
        }
      } else {
        ValueId t = g.op("Transpose", {r}, perm({2, 0, 3, 1, 4}));
        Attributes axis0;
        axis0.set_int("axis", 0);
        for (ValueId part : g.op_multi("Split", {t, shape_const(g, {1, 1, 1})}, 3, axis0)) {
          heads.push_back(g.op("Squeeze", {part, shape_const(g, {0})}));
        }
      }
      qh = heads[0];
      kh = heads[1];
      vh = heads[2];
    } else {
      ValueId q = projection(g, x, d, d, p.seed, p.linear_projections);
      if (p.scale_style == AttentionPattern::Scale::kOnQProjection) {
        q = g.op("Mul", {q, scalar(g, p.scale())});
      }
      qh = split_heads(g, q, p.q_len, p.heads, p.head_dim);
      kh = split_heads(g, projection(g, y, d, d, p.seed + 1, p.linear_projections), p.k_len,
                       p.heads, p.head_dim);
      vh = split_heads(g, projection(g, y, d, dv, p.seed + 2, p.linear_projections), p.k_len,
                       p.heads, p.value_dim);
    }
  } else {
    ValueId q = g.input("q", DType::kFloat32, {p.batch, p.q_len, d});
    ValueId k = g.input("k", DType::kFloat32, {p.batch, p.k_len, d});
    ValueId v = g.input("v", DType::kFloat32, {p.batch, p.k_len, dv});
    qh = split_heads(g, q, p.q_len, p.heads, p.head_dim);
    kh = split_heads(g, k, p.k_len, p.heads, p.head_dim);
    vh = split_heads(g, v, p.k_len, p.heads, p.value_dim);
  }
  if (p.transform_q) qh = p.transform_q(g, qh);
  if (p.transform_k) kh = p.transform_k(g, kh);
  if (p.scale_style == AttentionPattern::Scale::kOnQHeads)
    qh = g.op("Mul", {qh, scalar(g, p.scale())});
  // k^T: [B, H, d, Sk]
  ValueId kt = kNoValue;
  switch (p.k_transpose) {
    case AttentionPattern::KTranspose::kOnePerm:
      kt = g.op("Transpose", {kh}, perm({0, 1, 3, 2}));
      break;
    case AttentionPattern::KTranspose::kTwoTransposes:
      kt = g.op("Transpose", {g.op("Transpose", {kh}, perm({0, 2, 1, 3}))}, perm({0, 2, 3, 1}));
      break;
    case AttentionPattern::KTranspose::kThroughRank3: {
      ValueId r = g.op("Reshape", {kh, shape_const(g, {-1, p.k_len, p.head_dim})});
      ValueId t = g.op("Transpose", {r}, perm({0, 2, 1}));
      kt = g.op("Reshape", {t, shape_const(g, {-1, p.heads, p.head_dim, p.k_len})});
      break;
    }
    case AttentionPattern::KTranspose::kNone:
      kt = kh;
      break;
  }
  ValueId scores;
  if (p.scale_style == AttentionPattern::Scale::kSqrtOnQAndK) {
    ValueId s = scalar(g, std::sqrt(p.scale()));
    scores = g.op("MatMul", {g.op("Mul", {qh, s}), g.op("Mul", {kt, s})});
  } else {
    scores = g.op("MatMul", {qh, kt});
    if (!p.head_scale.empty()) {
      const int64_t n = static_cast<int64_t>(p.head_scale.size());
      Result<Tensor> c = Tensor::from_float(p.head_scale).reshaped({n, 1, 1});
      scores = g.op("Mul", {scores, g.constant("head_scale", *c)});
    }
    if (p.scale_style == AttentionPattern::Scale::kScoresMul) {
      scores = g.op("Mul", {scores, scalar(g, p.scale())});
    } else if (p.scale_style == AttentionPattern::Scale::kScoresDiv) {
      scores = g.op("Div", {scores, scalar(g, std::sqrt(static_cast<float>(p.head_dim)))});
    }
  }
  if (p.mask == AttentionPattern::Mask::kConstant) {
    scores = g.op("Add", {scores, g.constant("mask_const", p.mask_value)});
  } else if (p.mask == AttentionPattern::Mask::kInput) {
    scores = g.op("Add",
                  {scores, g.input("mask", DType::kFloat32, sym_shape_from_static(p.mask_shape))});
  } else if (p.mask == AttentionPattern::Mask::kValue) {
    scores = g.op("Add", {scores, p.mask_id});
  }
  if (p.windows > 0) {
    scores = g.op("Reshape", {scores, shape_const(g, {-1, p.windows, p.heads, p.q_len, p.k_len})});
    const ValueId w = g.constant("window_mask", p.window_mask);
    for (int a = 0; a < p.window_mask_adds; ++a) scores = g.op("Add", {scores, w});
    scores = g.op("Reshape", {scores, shape_const(g, {-1, p.heads, p.q_len, p.k_len})});
  }
  if (p.scale_after_mask) scores = g.op("Mul", {scores, scalar(g, 0.5f)});
  Attributes axis;
  axis.set_int("axis", p.softmax_axis);
  ValueId probs = g.op("Softmax", {scores}, axis);
  if (p.softmax_output_also_graph_output) g.output(probs);
  if (p.nan_guard) {
    probs = g.op("Where", {g.op("IsNaN", {probs}), scalar(g, 0.0f), probs});
  }
  ValueId o = g.op("MatMul", {probs, vh});
  std::vector<int64_t> merged_shape = {0, p.q_len, dv};
  if (!p.spatial.empty()) {
    merged_shape = {0};
    merged_shape.insert(merged_shape.end(), p.spatial.begin(), p.spatial.end());
    merged_shape.push_back(dv);
  }
  ValueId merged =
      g.op("Reshape", {g.op("Transpose", {o}, perm({0, 2, 1, 3})), shape_const(g, merged_shape)});
  g.output(merged);
  return merged;
}

}  // namespace vitrt::testing
