// Optimizer pass fold_prefix_tokens: the class token (and a DeiT's distillation token) that a
// ViT concatenates before its patch tokens comes out of the patch embedding's own GEMM.
//
//   Concat(Expand(cls), ..., Linear(Patchify(x), W, b), axis 1) + pos      (pos a constant)
//   -> Linear(Patchify(x, prefix_rows = k), W, b) + pos'
//
// Patchify writes k zero rows before each image's patches, the GEMM turns them into its bias
// b, and pos' takes each prefix token's value less that bias into its row:
// pos'[i] = pos[i] + token_i - b for i < k. The Expand and Concat kernels, and the copy of all
// tokens the Concat made, are gone. The sum reaches the same value by another order of
// additions (one rounding apart). The add is a vitrt.AddLayerNorm (pre-norm ViTs: timm, HF
// ViT, DeiT, DINOv2), or an Add (CLIP's embeddings before pre_layrnorm).
//
// Not applied when the position embedding is not a constant (interpolated at run time), when
// the tokens are added before the Concat, or when anything else reads the Concat, the GEMM or
// the patches.

#include <cstring>
#include <set>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fold_prefix_tokens";

// A prefix token: Expand of a constant holding one row of D values ([D], [1, D] or [1, 1, D]).
std::optional<Tensor> token_row(const Graph& graph, ValueId v, int64_t d) {
  const Node* expand = producer_if(graph, v, "Expand");
  const Tensor* t =
      expand != nullptr ? constant_of(graph, expand->inputs[0]) : constant_of(graph, v);
  if (t == nullptr || t->dtype() != DType::kFloat32 || t->numel() != d) return std::nullopt;
  if (t->rank() < 1 || t->shape().back() != d) return std::nullopt;
  return *t;
}

// Whether every reader of `v`, and of what they compute, ends at one of `sinks` (the prefix
// tokens' Expand nodes, which go with the Concat): TorchScript sizes the class token's Expand
// by Shape(patch tokens), a read that must not outlive the rewrite (the tokens get k more rows).
bool feeds_only(const Graph& graph, const Uses& uses, ValueId v, const std::set<NodeId>& sinks,
                int depth = 0) {
  if (depth > 16 || is_graph_output(graph, v)) return false;
  for (NodeId r : uses.of(v)) {
    if (sinks.count(r) != 0) continue;
    for (ValueId out : graph.nodes[r].outputs) {
      if (out != kNoValue && !feeds_only(graph, uses, out, sinks, depth + 1)) return false;
    }
    if (graph.nodes[r].outputs.empty()) return false;
  }
  return true;
}

}  // namespace

Status fold_prefix_tokens(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    const Node& concat = graph.nodes[id];
    if (concat.dead || !is_onnx_op(concat, "Concat") || concat.inputs.size() < 2) continue;
    const Value& out = graph.values[concat.outputs[0]];
    if (!out.has_shape || out.shape.size() != 3 || out.dtype != DType::kFloat32) continue;
    Result<int64_t> axis_attr = concat.attrs.get_int("axis", 0);
    if (!axis_attr.ok() || (*axis_attr != 1 && *axis_attr != -2)) continue;
    // The patch tokens last, from Linear(Patchify).
    const ValueId tokens = concat.inputs.back();
    const Node* linear = producer_of(graph, tokens);
    if (linear == nullptr || linear->domain != "vitrt" || linear->op_type != "Linear") continue;
    const Node* patchify = producer_of(graph, linear->inputs[0]);
    if (patchify == nullptr || patchify->domain != "vitrt" || patchify->op_type != "Patchify") {
      continue;
    }
    const std::string where = str_cat("Concat '", concat.name, "'");
    if (!out.shape[2].is_static()) continue;
    const int64_t d = out.shape[2].value();
    const int64_t k = static_cast<int64_t>(concat.inputs.size()) - 1;
    std::vector<Tensor> prefix;
    std::set<NodeId> expands;  // the prefix tokens' Expand nodes, which go with the Concat
    for (int64_t i = 0; i < k; ++i) {
      std::optional<Tensor> row = token_row(graph, concat.inputs[i], d);
      if (!row) break;
      prefix.push_back(*row);
      if (const Node* e = producer_if(graph, concat.inputs[i], "Expand")) {
        expands.insert(static_cast<NodeId>(e - graph.nodes.data()));
      }
    }
    if (static_cast<int64_t>(prefix.size()) != k) {
      ctx.near_miss(kPass, where, "a token before the patches is not a constant row");
      continue;
    }
    Result<std::string> activation = linear->attrs.get_string("activation", "none");
    if (linear->has_input(3) || !activation.ok() || *activation != "none") {
      ctx.near_miss(kPass, where, "the patch GEMM has an activation or a residual");
      continue;
    }
    // Besides the Concat, only Shape nodes sizing the prefix tokens' Expand read the tokens.
    bool tokens_read_elsewhere = is_graph_output(graph, tokens);
    for (NodeId r : uses.of(tokens)) {
      if (r == id) continue;
      tokens_read_elsewhere |= !is_onnx_op(graph.nodes[r], "Shape") ||
                               !feeds_only(graph, uses, graph.nodes[r].outputs[0], expands);
    }
    if (tokens_read_elsewhere || !uses.only_used_by_one(linear->inputs[0]) ||
        patchify->attrs.has("prefix_rows")) {
      ctx.near_miss(kPass, where, "the patches or their GEMM are read elsewhere");
      continue;
    }
    // The one reader: AddLayerNorm or Add with a constant [1, T, D] / [T, D] other operand.
    const Node* add = uses.single_consumer(concat.outputs[0]);
    if (add == nullptr) {
      ctx.near_miss(kPass, where, "its tokens are read by more than one node");
      continue;
    }
    const bool add_ln = add->domain == "vitrt" && add->op_type == "AddLayerNorm";
    if (!add_ln && !is_onnx_op(*add, "Add")) {
      ctx.near_miss(
          kPass, where,
          str_cat("its reader ", add->describe(), " is not the position embedding's add"));
      continue;
    }
    if (add_ln && (add->attrs.has("quant_a") || add->attrs.has("quant_b"))) continue;
    const int pos_slot = add->inputs[0] == concat.outputs[0] ? 1 : 0;
    if (add->inputs[1 - pos_slot] != concat.outputs[0]) continue;
    const Tensor* pos = constant_of(graph, add->inputs[pos_slot]);
    if (pos == nullptr || pos->dtype() != DType::kFloat32 || !out.shape[1].is_static() ||
        pos->numel() != out.shape[1].value() * d || pos->shape().back() != d ||
        (pos->rank() == 3 && pos->dim(0) != 1) || pos->rank() < 2 || pos->rank() > 3) {
      ctx.near_miss(kPass, where, "the position embedding added to it is not a constant [T, D]");
      continue;
    }
    std::vector<float> bias(d, 0.0f);
    if (linear->has_input(2)) {
      const Tensor* b = constant_of(graph, linear->inputs[2]);
      if (b == nullptr || b->dtype() != DType::kFloat32 || b->numel() != d) continue;
      std::memcpy(bias.data(), b->data<float>(), sizeof(float) * d);
    }
    // pos' = pos with the prefix rows moved by token - bias.
    Tensor folded = pos->clone();
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < d; ++j) {
        folded.data<float>()[i * d + j] += prefix[i].data<float>()[j] - bias[j];
      }
    }
    const NodeId add_id = static_cast<NodeId>(add - graph.nodes.data());
    const NodeId patchify_id = static_cast<NodeId>(patchify - graph.nodes.data());
    const std::string linear_name = linear->name;
    const std::string concat_name = concat.name;
    const ValueId concat_out = concat.outputs[0];
    const ValueId pos_value =
        add_constant_value(graph, graph.values[add->inputs[pos_slot]].name + "_prefix", folded);
    graph.nodes[add_id].inputs[pos_slot] = pos_value;
    graph.nodes[patchify_id].attrs.set_int("prefix_rows", k);
    replace_uses(graph, concat_out, tokens);
    remove_nodes(graph, {id});
    uses.refresh();
    ctx.applied(kPass,
                str_cat(k, " prefix token(s) computed by '", linear_name,
                        "' from zero patch rows, added through the position embedding"),
                {concat_name});
  }
  return Status::ok_status();
}

}  // namespace vitrt
