// fold_transpose_into_rotary: a heads Transpose before vitrt.RotaryEmbedding moves past it.
//
// Rotary models split q and k into heads as [B, S, H, D] -> Transpose -> [B, H, S, D] and rotate
// there; fuse_attention then reads the rotated head tensor through a Transpose back to
// [B, S, H, D]. RoPE is per token and head, so it can rotate [B, S, H, D] directly
// (token_major = 1): the Transpose moves after the op, where simplify_reshape_transpose composes
// it with attention's into the identity and both copies go (DINOv3 ViT-B/16 at batch 256: 48
// Transposes, about a tenth of the GPU time).
//
//   Transpose(Y, perm swapping the two axes before the last) -> RotaryEmbedding (token_major 0)
//   becomes RotaryEmbedding(Y, token_major 1) -> Transpose(perm), when the Transpose's output
//   is read by nothing else.
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fold_transpose_into_rotary";

// perm swaps axes rank-3 and rank-2 and keeps every other axis.
bool swaps_tokens_and_heads(const std::vector<int>& perm) {
  const int rank = static_cast<int>(perm.size());
  if (rank < 3) return false;
  for (int i = 0; i < rank; ++i) {
    const int want = i == rank - 3 ? rank - 2 : (i == rank - 2 ? rank - 3 : i);
    if (perm[i] != want) return false;
  }
  return true;
}

}  // namespace

Status fold_transpose_into_rotary(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const size_t count = graph.nodes.size();
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    const Node& rope = graph.nodes[id];
    if (rope.dead || rope.domain != "vitrt" || rope.op_type != "RotaryEmbedding") continue;
    auto token_major = rope.attrs.get_int("token_major", 0);
    if (!token_major.ok() || *token_major != 0) continue;
    const Node* t = producer_if(graph, rope.inputs[0], "Transpose");
    if (t == nullptr) continue;
    const std::optional<std::vector<int>> perm = transpose_perm_of(graph, *t);
    if (!perm || !swaps_tokens_and_heads(*perm)) continue;
    if (!uses.only_used_by_one(rope.inputs[0])) {
      ctx.near_miss(kPass, rope.describe(),
                    "the heads Transpose before it is read elsewhere too: it stays");
      continue;
    }
    const ValueId old_out = rope.outputs[0];
    const std::string name = rope.name;
    const std::vector<int64_t> perm_ints(perm->begin(), perm->end());
    Attributes attrs = rope.attrs;
    attrs.set_int("token_major", 1);
    const std::vector<ValueId> inputs = {t->inputs[0], rope.inputs[1], rope.inputs[2]};
    const std::string transpose_name = t->name;
    // add_node may grow graph.nodes: no references into it past this point.
    const NodeId r2 = add_node(graph, "vitrt", "RotaryEmbedding", name, inputs,
                               {graph.values[old_out].name + "_token_major"}, std::move(attrs));
    Attributes tattrs;
    tattrs.set_ints("perm", perm_ints);
    const NodeId t2 =
        add_node(graph, "", "Transpose", name + "_heads", {graph.nodes[r2].outputs[0]},
                 {graph.values[old_out].name + "_heads"}, std::move(tattrs));
    take_over(graph, old_out, graph.nodes[t2].outputs[0]);
    remove_nodes(graph, {id});
    ctx.applied(kPass, str_cat("RotaryEmbedding '", name, "' reads [.., S, H, D]"),
                {transpose_name});
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
