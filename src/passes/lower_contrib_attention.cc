// com.microsoft Attention and MultiHeadAttention (what onnxruntime.transformers' optimizer and
// Optimum's ORTOptimizer write for CLIP, BERT-style text towers and, with
// use_multi_head_attention, vision towers) as ONNX's own Attention on rank-3 q, k and v
// ([B, S, heads * head_dim], q_num_heads = kv_num_heads = num_heads), which lower_onnx_attention
// turns into the MatMul / Softmax / MatMul chain after the first shape inference and
// fuse_attention fuses again. Part of lower_contrib_ops (import, before shape inference).
//
//   Attention(input, weights, bias?, mask_index?, past?, attention_bias?, past_sequence_length?)
//     q, k, v = input @ weights (+ bias), split by qkv_hidden_sizes (default three equal parts)
//   QAttention (quantize_dynamic on such a model): the same, with the projection an 8-bit
//     integer product that lower_contrib_ops builds (MatMulInteger, scales, bias)
//   MultiHeadAttention(query, key?, value?, bias?, key_padding_mask?, attention_bias?, ...)
//     q, k, v = query, key, value (+ bias split into [D, D, Dv]); or from the packed forms:
//     query [B, S, N, 3, H] alone, or key [B, L, N, 2, H] without value; key and value may
//     come in the heads layout [B, N, L, H] (known rank 4)
//
// Masks follow ONNX Runtime's CPU kernels: a position masked out adds mask_filter_value (default
// -10000) to its scores, not -inf, so a fully masked row averages every value as ONNX Runtime's
// does. Attention's mask_index: raw [B, T] or [B, S, T] (0 masks), or [B] end positions (keys
// at or past the end masked), or [2B] end then start positions. MultiHeadAttention's
// key_padding_mask: raw [B, L]. attention_bias [B or 1, N, S, T] is added as it is;
// unidirectional is is_causal; scale 0 (or absent) is 1 / sqrt(head_dim).
//
// Refused with the node's name: past and present key/values (a decoder's cache), rotary
// embeddings inside Attention, Attention's 4-D (Megatron) mask, MultiHeadAttention's
// [B] / [3B + 2] key_padding_mask and cache_indirection, bias on a packed input, and masks
// whose rank the file does not say.
#include "passes/lower_contrib_attention.h"

#include <cmath>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/lower_contrib_common.h"

namespace vitrt {
namespace {

// Dim `axis` of a constant or of a value whose file-given shape has it static; -1 otherwise.
int64_t static_dim(const Graph& g, ValueId v, int axis) {
  const Value& value = g.values[v];
  if (value.is_constant()) {
    return axis < value.constant.rank() ? value.constant.dim(axis) : -1;
  }
  const SymShape& s = value.has_shape ? value.shape : value.shape_hint;
  if (axis >= static_cast<int>(s.size()) || !s[axis].is_static()) return -1;
  return s[axis].value();
}

// A float32 additive mask from a 0/1 mask: 0 where mask > 0, `filter` elsewhere.
ValueId additive(LoweringEmitter& b, ValueId mask, float filter, const std::string& suffix) {
  Attributes to_float;
  to_float.set_int("to", 1);
  const ValueId f = b.op("Cast", suffix + "_float", {mask}, to_float);
  const ValueId keep = b.op("Greater", suffix + "_keep", {f, b.scalar(suffix + "_zero", 0.0f)});
  return b.op("Where", suffix + "_additive",
              {keep, b.scalar(suffix + "_pass", 0.0f), b.scalar(suffix + "_filter", filter)});
}

// A raw [B, T] or [B, S, T] mask as an additive [B, 1, 1, T] or [B, 1, S, T] one.
ValueId raw_mask(LoweringEmitter& b, ValueId mask, int64_t rank, float filter) {
  const ValueId add = additive(b, mask, filter, "/mask");
  return b.with_axes("Unsqueeze", "/mask_heads", add,
                     rank == 2 ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{1});
}

// Attention's 1-D mask_index ([B] ends, or [2B] ends then starts) as an additive [B, 1, 1, T]
// mask over the T keys of `input` ([B, T, ...]). Both lengths take one form, as rows of B: the
// ends are row 0 of mask_index, the starts row 1 of mask_index followed by B zeros.
ValueId position_mask(LoweringEmitter& b, ValueId mask, ValueId input, float filter) {
  Attributes to_long;
  to_long.set_int("to", 7);
  const ValueId idx = b.op("Cast", "/mask_long", {mask}, to_long);
  const ValueId shape = b.op("Shape", "/input_shape", {input});
  const ValueId batch =
      b.op("Slice", "/batch", {shape, b.int64s("/b0", {0}), b.int64s("/b1", {1})});
  Attributes axis0;
  axis0.set_int("axis", 0);
  const ValueId keys = b.op("Gather", "/keys", {shape, b.int64s("/t", {1}, true)}, axis0);
  const ValueId rows_shape = b.op("Concat", "/rows_shape", {b.int64s("/rows", {-1}), batch}, axis0);
  auto row = [&](ValueId x, int64_t r, const std::string& suffix) {
    const ValueId rows = b.op("Reshape", suffix + "_rows", {x, rows_shape});
    return b.op("Gather", suffix, {rows, b.int64s(suffix + "_row", {r}, true)}, axis0);
  };
  const ValueId ends = row(idx, 0, "/ends");
  const ValueId zeros = b.op("Mul", "/zeros", {ends, b.int64s("/zero", {0}, true)});
  const ValueId starts = row(b.op("Concat", "/padded", {idx, zeros}, axis0), 1, "/starts");
  const ValueId pos =
      b.op("Range", "/positions", {b.int64s("/r0", {0}, true), keys, b.int64s("/r1", {1}, true)});
  const ValueId end_col = b.with_axes("Unsqueeze", "/ends_col", ends, {1});
  const ValueId start_col = b.with_axes("Unsqueeze", "/starts_col", starts, {1});
  const ValueId before_end = b.op("Less", "/before_end", {pos, end_col});
  const ValueId after_start =
      b.op("Not", "/after_start", {b.op("Less", "/before_start", {pos, start_col})});
  const ValueId valid = b.op("And", "/valid", {before_end, after_start});
  const ValueId add = b.op("Where", "/mask_additive",
                           {valid, b.scalar("/mask_pass", 0.0f), b.scalar("/mask_filter", filter)});
  return b.with_axes("Unsqueeze", "/mask_heads", add, {1, 2});
}

// The sum of an additive mask and attention_bias (either may be kNoValue), float32.
ValueId combine(LoweringEmitter& b, ValueId mask, ValueId bias) {
  if (bias != kNoValue) {
    Attributes to_float;
    to_float.set_int("to", 1);
    bias = b.op("Cast", "/attention_bias_float", {bias}, to_float);
  }
  if (mask == kNoValue) return bias;
  if (bias == kNoValue) return mask;
  return b.op("Add", "/mask_and_bias", {mask, bias});
}

// ai.onnx Attention on rank-3 q, k, v; the node's output 0 is replaced by its output.
Status emit(Graph& g, LoweringEmitter& b, const Node& node, NodeId id, ValueId q, ValueId k,
            ValueId v, ValueId mask, int64_t heads, float scale, int64_t causal) {
  Attributes a;
  a.set_int("q_num_heads", heads);
  a.set_int("kv_num_heads", heads);
  a.set_int("is_causal", causal);
  if (scale != 0.0f) a.set_float("scale", scale);
  std::vector<ValueId> in = {q, k, v};
  if (mask != kNoValue) in.push_back(mask);
  const ValueId y = b.op("Attention", "/attention", std::move(in), std::move(a));
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], y);
  return Status::ok_status();
}

Status common_attributes(const Node& node, int64_t* heads, float* scale, int64_t* causal,
                         float* filter) {
  VITRT_ASSIGN_OR_RETURN(*heads, node.attrs.get_int("num_heads", 0));
  if (*heads < 1) {
    return invalid_model(node.describe(), ": num_heads must be >= 1, got ", *heads);
  }
  VITRT_ASSIGN_OR_RETURN(*scale, node.attrs.get_float("scale", 0.0f));
  if (!std::isfinite(*scale)) return invalid_model(node.describe(), ": scale ", *scale);
  VITRT_ASSIGN_OR_RETURN(*causal, node.attrs.get_int("unidirectional", 0));
  if (*causal != 0 && *causal != 1) {
    return invalid_model(node.describe(), ": unidirectional must be 0 or 1, got ", *causal);
  }
  VITRT_ASSIGN_OR_RETURN(*filter, node.attrs.get_float("mask_filter_value", -10000.0f));
  return Status::ok_status();
}

}  // namespace

Status lower_contrib_attention(Graph& g, NodeId id, const std::vector<std::vector<NodeId>>& uses,
                               ValueId quantized_projection) {
  const Node node = g.nodes[id];  // a copy: adding nodes may move the node list
  const bool quantized = quantized_projection != kNoValue;
  // Attention(input, weights, bias, mask_index, past, attention_bias, past_sequence_length);
  // QAttention(input, weight, bias, input_scale, weight_scale, mask_index, input_zero_point,
  // weight_zero_point, past).
  const int mask_input = quantized ? 5 : 3;
  const std::string op = quantized ? "QAttention" : "Attention";
  auto refuse = [&](const auto&... why) {
    return unsupported(node.describe(), ": com.microsoft.", op, " ", why...);
  };
  if (!node.has_input(0) || !node.has_input(1)) {
    return invalid_model(node.describe(), ": needs input and weights");
  }
  if (node.has_input(quantized ? 8 : 4) || (!quantized && node.has_input(6))) {
    return refuse("with past / past_sequence_length (a decoder's key/value cache)");
  }
  if (contrib_output_used(g, node, 1, uses)) return refuse("whose present output is used");
  VITRT_ASSIGN_OR_RETURN(int64_t rotary, node.attrs.get_int("do_rotary", 0));
  if (rotary != 0) return refuse("with do_rotary = 1");
  int64_t heads = 0, causal = 0;
  float scale = 0.0f, filter = 0.0f;
  VITRT_RETURN_IF_ERROR(common_attributes(node, &heads, &scale, &causal, &filter));
  std::vector<int64_t> sizes;
  if (node.attrs.has("qkv_hidden_sizes")) {
    VITRT_ASSIGN_OR_RETURN(sizes, node.attrs.get_ints("qkv_hidden_sizes", {}));
    if (sizes.size() != 3) {
      return invalid_model(node.describe(), ": qkv_hidden_sizes must hold 3 sizes, got ",
                           sizes.size());
    }
  } else {
    const int64_t width = static_dim(g, node.inputs[1], 1);
    if (width < 0) {
      return refuse("whose weights' width the file does not say (no qkv_hidden_sizes)");
    }
    if (width % 3 != 0) {
      return invalid_model(node.describe(), ": weights' width ", width,
                           " is not three equal q, k, v parts (no qkv_hidden_sizes)");
    }
    sizes = {width / 3, width / 3, width / 3};
  }
  if (sizes[0] != sizes[1] || sizes[0] < heads || sizes[0] % heads != 0 || sizes[2] < heads ||
      sizes[2] % heads != 0) {
    return invalid_model(node.describe(), ": qkv_hidden_sizes [", sizes[0], ", ", sizes[1], ", ",
                         sizes[2], "] must have q = k and each a multiple of num_heads ", heads);
  }
  LoweringEmitter b(g, node.name);
  ValueId qkv[3];
  if (quantized) {
    // The integer product is one GEMM whatever the split: q, k and v are parts of its output.
    const std::vector<ValueId> parts = b.split(quantized_projection, -1, sizes, "/qkv");
    for (int i = 0; i < 3; ++i) qkv[i] = parts[i];
  } else {
    // Three MatMuls on parts of the weights (constants, folded): the form of separate q, k, v
    // projections, which pack_qkv packs again.
    const std::vector<ValueId> w = b.split(node.inputs[1], 1, sizes, "/weights");
    std::vector<ValueId> bias;
    if (node.has_input(2)) bias = b.split(node.inputs[2], 0, sizes, "/bias");
    for (int i = 0; i < 3; ++i) {
      const std::string part = std::string("/") + "qkv"[i];
      qkv[i] = b.op("MatMul", part + "_matmul", {node.inputs[0], w[i]});
      if (!bias.empty()) qkv[i] = b.op("Add", part + "_bias", {qkv[i], bias[i]});
    }
  }
  ValueId mask = kNoValue;
  if (node.has_input(mask_input)) {
    const ValueId m = node.inputs[mask_input];
    const int64_t rank = known_rank(g, m);
    if (rank == 1) {
      if (b.opset < 11) return refuse("with a 1-D mask_index in an opset ", b.opset, " model");
      mask = position_mask(b, m, node.inputs[0], filter);
    } else if (rank == 2 || rank == 3) {
      mask = raw_mask(b, m, rank, filter);
    } else if (rank == 4) {
      return refuse("with a 4-D (Megatron) mask_index");
    } else {
      return refuse("whose mask_index rank the file does not say");
    }
  }
  mask = combine(b, mask, !quantized && node.has_input(5) ? node.inputs[5] : kNoValue);
  return emit(g, b, node, id, qkv[0], qkv[1], qkv[2], mask, heads, scale, causal);
}

Status lower_contrib_multi_head_attention(Graph& g, NodeId id,
                                          const std::vector<std::vector<NodeId>>& uses) {
  const Node node = g.nodes[id];
  auto refuse = [&](const auto&... why) {
    return unsupported(node.describe(), ": com.microsoft.MultiHeadAttention ", why...);
  };
  if (!node.has_input(0)) return invalid_model(node.describe(), ": needs query");
  for (int i = 6; i <= 9; ++i) {
    if (node.has_input(i)) {
      return refuse(
          "with past_key / past_value / past_sequence_length / cache_indirection (a "
          "decoder's key/value cache)");
    }
  }
  for (size_t o = 1; o < node.outputs.size(); ++o) {
    if (contrib_output_used(g, node, o, uses))
      return refuse("whose output ", o, " (present or qk) is used");
  }
  int64_t heads = 0, causal = 0;
  float scale = 0.0f, filter = 0.0f;
  VITRT_RETURN_IF_ERROR(common_attributes(node, &heads, &scale, &causal, &filter));
  LoweringEmitter b(g, node.name);
  const bool has_key = node.has_input(1), has_value = node.has_input(2);
  if (has_value && !has_key) return invalid_model(node.describe(), ": value without key");
  // [B, S, N, c, H] -> part p as [B, S, N * H].
  auto unpack = [&](ValueId x, int64_t p, const std::string& suffix) {
    Attributes axis;
    axis.set_int("axis", 3);
    const ValueId part = b.op("Gather", suffix, {x, b.int64s(suffix + "_index", {p}, true)}, axis);
    return b.op("Reshape", suffix + "_merged", {part, b.int64s(suffix + "_shape", {0, 0, -1})});
  };
  // [B, N, L, H] -> [B, L, N * H].
  auto merge = [&](ValueId x, const std::string& suffix) {
    const ValueId t = b.transpose(x, {0, 2, 1, 3}, suffix + "_to_bsnh");
    return b.op("Reshape", suffix + "_merged", {t, b.int64s(suffix + "_shape", {0, 0, -1})});
  };
  ValueId q = node.inputs[0], k = kNoValue, v = kNoValue;
  bool packed = false;
  if (!has_key) {
    q = unpack(node.inputs[0], 0, "/q");
    k = unpack(node.inputs[0], 1, "/k");
    v = unpack(node.inputs[0], 2, "/v");
    packed = true;
  } else if (!has_value) {
    k = unpack(node.inputs[1], 0, "/k");
    v = unpack(node.inputs[1], 1, "/v");
    packed = true;
  } else {
    k = node.inputs[1];
    v = node.inputs[2];
    const int64_t kr = known_rank(g, k), vr = known_rank(g, v);
    if (kr == 4) k = merge(k, "/k");
    if (vr == 4) v = merge(v, "/v");
    if ((kr == 4 || vr == 4) && node.has_input(3)) {
      return refuse("with bias and key / value in the heads layout [B, N, L, H]");
    }
  }
  if (node.has_input(3)) {
    if (packed) return refuse("with bias and a packed query or key");
    // [D, D, Dv]: D from the query where the file gives it, else three equal parts.
    const int64_t total = static_dim(g, node.inputs[3], 0);
    int64_t d = static_dim(g, node.inputs[0], 2);
    if (d < 0 && total >= 0 && total % 3 == 0) d = total / 3;
    if (d < 0 || total < 2 * d) {
      return refuse("whose bias split into q, k and v parts the file does not say");
    }
    const std::vector<ValueId> parts = b.split(node.inputs[3], 0, {d, d, total - 2 * d}, "/bias");
    q = b.op("Add", "/q_bias", {q, parts[0]});
    k = b.op("Add", "/k_bias", {k, parts[1]});
    v = b.op("Add", "/v_bias", {v, parts[2]});
  }
  ValueId mask = kNoValue;
  if (node.has_input(4)) {
    const int64_t rank = known_rank(g, node.inputs[4]);
    if (rank != 2) {
      return refuse("with a key_padding_mask of ",
                    rank < 0 ? std::string("unknown rank") : str_cat("rank ", rank),
                    " (the raw [B, L] form runs)");
    }
    mask = raw_mask(b, node.inputs[4], 2, filter);
  }
  mask = combine(b, mask, node.has_input(5) ? node.inputs[5] : kNoValue);
  return emit(g, b, node, id, q, k, v, mask, heads, scale, causal);
}

}  // namespace vitrt
