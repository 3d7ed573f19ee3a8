// lower_onnx_attention: ONNX's Attention op (opset 23) -> vitrt.Attention.
//
// torch.onnx.export(dynamo=True) at opset 23 writes scaled_dot_product_attention as one
// ai.onnx Attention node on head-layout tensors ([B, H, S, Dh]) instead of the MatMul /
// Softmax / MatMul chain. The node becomes that chain (rank-3 inputs split into heads first):
// MatMul(q, Transpose(k)), Mul by the scale, Add of the mask (a boolean one as 0 / -inf), a
// causal mask as a constant where the lengths are static, Softmax, MatMul with v. The
// unoptimized path runs it as ordinary ops; fuse_attention then fuses it as it fuses the
// exporters' other forms, reading a packed qkv projection directly where the heads come from
// one (the head layout around a directly written vitrt.Attention would leave a Transpose of q,
// k and v behind). A causal mask between dynamic lengths becomes vitrt.Attention directly
// (causal = 1), with q, k and v transposed to [B, S, H*Dh] and the output back. This runs at
// import, after the first shape inference, with the optimizer on or off: vitrt has no kernel of
// its own for ONNX Attention. What vitrt.Attention cannot express is refused with the node and
// the reason: past key/value (a decoder's cache), the present / qk outputs, and, where the lengths
// are dynamic, a causal mask between different query and key lengths (ONNX aligns it at the top
// left, vitrt.Attention at the bottom right; the same for equal lengths) or grouped heads and
// softcap with a causal mask. Grouped heads (kv_num_heads < q_num_heads) repeat each key/value
// head for its query heads (ONNX's interleaved repeat); softcap (softcap * tanh(s / softcap)
// before the mask) keeps the chain unfused.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "lower_onnx_attention";

bool output_used(const Graph& g, const Uses& uses, const Node& n, size_t i) {
  if (i >= n.outputs.size() || n.outputs[i] == kNoValue) return false;
  return !uses.of(n.outputs[i]).empty() || is_graph_output(g, n.outputs[i]);
}

// [B, H, S, D] -> [B, S, H*D] for vitrt.Attention.
ValueId merge_heads(Graph& g, ValueId x, const std::string& name) {
  Attributes perm;
  perm.set_ints("perm", {0, 2, 1, 3});
  const NodeId t = add_node(g, "", "Transpose", name + "_to_bshd", {x}, {name + "_bshd"}, perm);
  const ValueId shape =
      add_constant_value(g, name + "_merged_shape", Tensor::from_int64({0, 0, -1}));
  const NodeId r = add_node(g, "", "Reshape", name + "_merge_heads", {g.nodes[t].outputs[0], shape},
                            {name + "_merged"});
  return g.nodes[r].outputs[0];
}

ValueId op1(Graph& g, const char* type, const std::string& name, std::vector<ValueId> in,
            Attributes a = {}) {
  const NodeId id = add_node(g, "", type, name, std::move(in), {name}, std::move(a));
  return g.nodes[id].outputs[0];
}

Attributes perm_attr(std::vector<int64_t> perm) {
  Attributes a;
  a.set_ints("perm", std::move(perm));
  return a;
}

// [B, S, H*D] -> [B, H, S, D]: the head split every exporter writes.
ValueId split_heads(Graph& g, ValueId x, int64_t heads, const std::string& name) {
  const ValueId shape =
      add_constant_value(g, name + "_heads_shape", Tensor::from_int64({0, 0, heads, -1}));
  const ValueId r = op1(g, "Reshape", name + "_split_heads", {x, shape});
  return op1(g, "Transpose", name + "_to_bhsd", {r}, perm_attr({0, 2, 1, 3}));
}

// Grouped heads: [B, Hkv, S, D] -> [B, Hkv * group, S, D], each key/value head repeated for
// its `group` query heads in turn (ONNX's interleaved repeat: query head h reads head h / group).
ValueId repeat_heads(Graph& g, ValueId x, int64_t group, int64_t heads, int64_t dim,
                     const std::string& name) {
  const ValueId axis = add_constant_value(g, name + "_group_axis", Tensor::from_int64({2}));
  const ValueId u = op1(g, "Unsqueeze", name + "_group", {x, axis});
  const ValueId reps =
      add_constant_value(g, name + "_group_shape", Tensor::from_int64({1, 1, group, 1, 1}));
  const ValueId e = op1(g, "Expand", name + "_repeat", {u, reps});
  const ValueId shape =
      add_constant_value(g, name + "_repeated_shape", Tensor::from_int64({0, heads, -1, dim}));
  return op1(g, "Reshape", name + "_repeated", {e, shape});
}

// The MatMul / Softmax / MatMul chain of one Attention node on head-layout q, k, v; returns
// [B, H, Sq, Dv]. `mask` is additive float32 or kNoValue; `causal` the static {Sq, Sk};
// `softcap` > 0 caps the scaled scores before the mask, as ONNX orders them.
ValueId attention_chain(Graph& g, ValueId q, ValueId k, ValueId v, ValueId mask, float scale,
                        float softcap, const std::vector<int64_t>* causal,
                        const std::string& base) {
  const ValueId kt = op1(g, "Transpose", base + "_kT", {k}, perm_attr({0, 1, 3, 2}));
  ValueId s = op1(g, "MatMul", base + "_scores", {q, kt});
  const ValueId sc = add_constant_value(g, base + "_scale", Tensor::from_float({scale}, true));
  s = op1(g, "Mul", base + "_scaled", {s, sc});
  if (softcap > 0.0f) {
    const ValueId cap =
        add_constant_value(g, base + "_softcap", Tensor::from_float({softcap}, true));
    s = op1(g, "Div", base + "_capped_in", {s, cap});
    s = op1(g, "Tanh", base + "_capped_tanh", {s});
    s = op1(g, "Mul", base + "_capped", {s, cap});
  }
  if (causal != nullptr) {
    // ONNX aligns the causal mask at the top left: query i sees keys j <= i.
    const int64_t sq = (*causal)[0], sk = (*causal)[1];
    Tensor m = Tensor::zeros(DType::kFloat32, {sq, sk});
    for (int64_t i = 0; i < sq; ++i) {
      for (int64_t j = i + 1; j < sk; ++j) {
        m.data<float>()[i * sk + j] = -std::numeric_limits<float>::infinity();
      }
    }
    // One Add of the scores: the mask and the causal mask are summed first (fuse_attention
    // takes one mask Add between q k^T and the softmax).
    const ValueId c = add_constant_value(g, base + "_causal_mask", m);
    mask = mask == kNoValue ? c : op1(g, "Add", base + "_mask_causal", {mask, c});
  }
  if (mask != kNoValue) s = op1(g, "Add", base + "_masked", {s, mask});
  Attributes axis;
  axis.set_int("axis", -1);
  const ValueId p = op1(g, "Softmax", base + "_softmax", {s}, axis);
  return op1(g, "MatMul", base + "_context", {p, v});
}

Status lower(Graph& g, const Uses& uses, NodeId id, PassContext& ctx) {
  const Node n = g.nodes[id];  // a copy: adding nodes may move the node list
  auto refuse = [&](const auto&... why) {
    return unsupported(n.describe(), ": ONNX Attention ", why...,
                       "; vitrt runs ONNX Attention without a key/value cache");
  };
  if (n.has_input(4) || n.has_input(5)) return refuse("with past_key / past_value");
  for (size_t o = 1; o < n.outputs.size(); ++o) {
    if (output_used(g, uses, n, o)) {
      return refuse("whose output ", o, " (present key/value or qk_matmul_output) is used");
    }
  }
  VITRT_ASSIGN_OR_RETURN(float softcap, n.attrs.get_float("softcap", 0.0f));
  if (softcap < 0.0f || !std::isfinite(softcap)) return refuse("with softcap ", softcap);
  VITRT_ASSIGN_OR_RETURN(int64_t causal, n.attrs.get_int("is_causal", 0));
  if (causal != 0 && causal != 1) return refuse("with is_causal ", causal);
  const Value& q = g.values[n.inputs[0]];
  const Value& k = g.values[n.inputs[1]];
  const Value& v = g.values[n.inputs[2]];
  if (!q.has_shape || !k.has_shape || !v.has_shape) {
    return refuse("whose Q, K or V shape is unknown");
  }
  const size_t rank = q.shape.size();
  if (k.shape.size() != rank || v.shape.size() != rank || (rank != 3 && rank != 4)) {
    return refuse("with Q ", sym_shape_to_string(q.shape), ", K ", sym_shape_to_string(k.shape),
                  ", V ", sym_shape_to_string(v.shape), " (rank 3 or 4 each)");
  }
  int64_t heads = 0, kv_heads = 0, head_dim = 0, v_head_dim = 0;
  if (rank == 4) {
    if (!q.shape[1].is_static() || !k.shape[1].is_static() || !v.shape[1].is_static() ||
        !q.shape[3].is_static() || !v.shape[3].is_static()) {
      return refuse("whose head counts or head sizes are not static: Q ",
                    sym_shape_to_string(q.shape), ", V ", sym_shape_to_string(v.shape));
    }
    heads = q.shape[1].value();
    kv_heads = k.shape[1].value();
    head_dim = q.shape[3].value();
    v_head_dim = v.shape[3].value();
    if (v.shape[1].value() != kv_heads) {
      return refuse("with ", kv_heads, " key heads and ", v.shape[1].value(), " value heads");
    }
  } else {
    VITRT_ASSIGN_OR_RETURN(heads, n.attrs.get_int("q_num_heads", 0));
    VITRT_ASSIGN_OR_RETURN(kv_heads, n.attrs.get_int("kv_num_heads", 0));
    if (heads < 1 || kv_heads < 1) {
      return refuse("with q_num_heads ", heads, " and kv_num_heads ", kv_heads);
    }
    if (!q.shape[2].is_static() || q.shape[2].value() % heads != 0 || !v.shape[2].is_static() ||
        v.shape[2].value() % kv_heads != 0) {
      return refuse("whose Q width ", q.shape[2].to_string(), " or V width ",
                    v.shape[2].to_string(), " is not a multiple of its heads");
    }
    head_dim = q.shape[2].value() / heads;
    v_head_dim = v.shape[2].value() / kv_heads;
  }
  if (kv_heads < 1 || heads % kv_heads != 0) {
    return refuse("with ", heads, " query heads and ", kv_heads, " key heads (not a multiple)");
  }
  const Dim& sq = q.shape[rank == 4 ? 2 : 1];
  const Dim& sk = k.shape[rank == 4 ? 2 : 1];
  const bool static_lengths = sq.is_static() && sk.is_static();
  if (causal == 1 && !static_lengths && (!sq.same_as(sk) || kv_heads != heads || softcap != 0.0f)) {
    return refuse("with is_causal over dynamic lengths and ",
                  !sq.same_as(sk) ? "different query and key lengths" : "grouped heads or softcap");
  }
  VITRT_ASSIGN_OR_RETURN(
      float scale, n.attrs.get_float("scale", 1.0f / std::sqrt(static_cast<float>(head_dim))));
  const std::string base = n.name.empty() ? std::string("attention") : n.name;
  ValueId mask = kNoValue;
  if (n.has_input(3)) {
    mask = n.inputs[3];
    const Value& m = g.values[mask];
    if (m.dtype == DType::kBool) {
      // True attends; False is -inf before the softmax, as ONNX defines a boolean mask.
      const ValueId zero = add_constant_value(g, base + "_mask_zero", Tensor::from_float({0.0f}));
      const ValueId ninf = add_constant_value(
          g, base + "_mask_ninf", Tensor::from_float({-std::numeric_limits<float>::infinity()}));
      const NodeId w =
          add_node(g, "", "Where", base + "_mask_additive", {mask, zero, ninf}, {base + "_mask"});
      mask = g.nodes[w].outputs[0];
    } else if (m.dtype != DType::kFloat32) {
      return refuse("with a ", dtype_name(m.dtype), " attn_mask (bool or float32)");
    }
  }
  if (causal == 0 || static_lengths) {
    ValueId hq = n.inputs[0], hk = n.inputs[1], hv = n.inputs[2];
    if (rank == 3) {
      hq = split_heads(g, hq, heads, base + "_q");
      hk = split_heads(g, hk, kv_heads, base + "_k");
      hv = split_heads(g, hv, kv_heads, base + "_v");
    }
    if (kv_heads != heads) {
      hk = repeat_heads(g, hk, heads / kv_heads, heads, head_dim, base + "_k");
      hv = repeat_heads(g, hv, heads / kv_heads, heads, v_head_dim, base + "_v");
    }
    const std::vector<int64_t> lengths =
        static_lengths ? std::vector<int64_t>{sq.value(), sk.value()} : std::vector<int64_t>{};
    ValueId out = attention_chain(g, hq, hk, hv, mask, scale, softcap,
                                  causal == 1 ? &lengths : nullptr, base);
    if (rank == 3) {
      out = op1(g, "Transpose", base + "_to_bshd", {out}, perm_attr({0, 2, 1, 3}));
      const ValueId shape =
          add_constant_value(g, base + "_merged_shape", Tensor::from_int64({0, 0, -1}));
      out = op1(g, "Reshape", base + "_merge_heads", {out, shape});
    }
    replace_uses(g, n.outputs[0], out);
    remove_nodes(g, {id});
    ctx.applied(kPass,
                str_cat("Attention '", base, "' (", heads, " heads) as MatMul/Softmax/MatMul"),
                {n.name});
    return Status::ok_status();
  }
  Attributes a;
  a.set_int("num_heads", heads);
  a.set_float("scale", scale);
  a.set_int("causal", 1);
  std::vector<ValueId> inputs;
  for (int i = 0; i < 3; ++i) {
    inputs.push_back(rank == 4 ? merge_heads(g, n.inputs[i], str_cat(base, "_", "qkv"[i]))
                               : n.inputs[i]);
  }
  if (mask != kNoValue) inputs.push_back(mask);
  const NodeId fused =
      add_node(g, "vitrt", "Attention", base, inputs, {base + "_merged_out"}, std::move(a));
  ValueId out = g.nodes[fused].outputs[0];
  if (rank == 4) {
    // [B, Sq, H*Dv] -> [B, Sq, H, Dv] -> [B, H, Sq, Dv]
    const ValueId shape =
        add_constant_value(g, base + "_split_shape", Tensor::from_int64({0, 0, heads, -1}));
    const NodeId r =
        add_node(g, "", "Reshape", base + "_split_heads", {out, shape}, {base + "_split"});
    Attributes perm;
    perm.set_ints("perm", {0, 2, 1, 3});
    const NodeId t = add_node(g, "", "Transpose", base + "_to_bhsd", {g.nodes[r].outputs[0]},
                              {base + "_bhsd"}, perm);
    out = g.nodes[t].outputs[0];
  }
  replace_uses(g, n.outputs[0], out);
  remove_nodes(g, {id});
  ctx.applied(kPass, str_cat("Attention '", base, "' (", heads, " heads, rank-", rank, " inputs)"),
              {n.name});
  return Status::ok_status();
}

}  // namespace

Status lower_onnx_attention(Graph& graph, PassContext& ctx) {
  std::vector<NodeId> found;
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    if (!graph.nodes[id].dead && is_onnx_op(graph.nodes[id], "Attention")) found.push_back(id);
  }
  if (found.empty()) return Status::ok_status();
  const Uses uses(graph);
  for (NodeId id : found) VITRT_RETURN_IF_ERROR(lower(graph, uses, id, ctx));
  return Status::ok_status();
}

}  // namespace vitrt
