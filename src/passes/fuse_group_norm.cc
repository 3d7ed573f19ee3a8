// Optimizer pass fuse_group_norm: PyTorch's F.group_norm as the TorchScript exporter writes it
// (PoolFormer, timm's GroupNorm1 "LayerNorm over C, H, W", diffusion-style U-Nets) ->
// GroupNormalization.
//
//   r = Reshape(x [N, C, d...], [N, G, -1]) -> InstanceNormalization(r, s [G], b [G])
//     -> Reshape(back to x's shape)                   =>   GroupNormalization(x, s, b, G)
//
// (the exporter's affine Mul / Add per channel after it stay as they are). The scale and bias
// stay per group: GroupNormalization-18's form, which the CPU and CUDA kernels take by their size
// next to opset 21's per-channel one. With one group the result no longer depends on how a
// sample's elements are laid out, so cancel_layout_transposes (which runs after this pass) may
// store it channels-last with its neighbours: the two Reshapes and the rank-3 values between them
// had kept PoolFormer's blocks out of any region. Exact: the same statistics over the same
// elements, per sample and group.
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_group_norm";

// Whether `r` is a Reshape of a rank >= 3 value x [N, C, d...] with static dims to [N, G, M] that
// splits C into G equal groups (G divides C, M = C / G * prod(d)). Sets x and G.
bool is_group_split(const Graph& graph, const Node& r, ValueId* x, int64_t* groups) {
  if (!is_onnx_op(r, "Reshape") || r.num_inputs() < 1 || !r.has_input(0)) return false;
  const Value& in = graph.values[r.inputs[0]];
  const Value& out = graph.values[r.outputs[0]];
  if (!in.has_shape || !out.has_shape || in.shape.size() < 3 || out.shape.size() != 3) return false;
  for (const Dim& d : in.shape) {
    if (!d.is_static()) return false;
  }
  for (const Dim& d : out.shape) {
    if (!d.is_static()) return false;
  }
  const int64_t c = in.shape[1].value();
  const int64_t g = out.shape[1].value();
  if (out.shape[0].value() != in.shape[0].value() || g <= 0 || c % g != 0) return false;
  int64_t spatial = 1;
  for (size_t i = 2; i < in.shape.size(); ++i) spatial *= in.shape[i].value();
  if (out.shape[2].value() != c / g * spatial) return false;
  *x = r.inputs[0];
  *groups = g;
  return true;
}

}  // namespace

Status fuse_group_norm(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    const Node& norm = graph.nodes[id];
    if (norm.dead || !is_onnx_op(norm, "InstanceNormalization") || norm.num_inputs() != 3 ||
        norm.outputs.size() != 1) {
      continue;
    }
    const Node* split = producer_if(graph, norm.inputs[0], "Reshape");
    ValueId x = kNoValue;
    int64_t groups = 0;
    if (split == nullptr || !is_group_split(graph, *split, &x, &groups)) continue;
    const Node* merge = uses.single_consumer(norm.outputs[0]);
    if (merge == nullptr || !is_onnx_op(*merge, "Reshape") || merge->inputs[0] != norm.outputs[0]) {
      continue;
    }
    const std::string where = str_cat("InstanceNormalization '", norm.name, "'");
    if (!uses.only_used_by_one(norm.inputs[0])) {
      ctx.near_miss(kPass, where, "its grouped input is read elsewhere too");
      continue;
    }
    if (!same_sym_shape(graph.values[merge->outputs[0]], graph.values[x])) {
      ctx.near_miss(kPass, where, "the Reshape after it does not restore the input's shape");
      continue;
    }
    const Tensor* scale = constant_of(graph, norm.inputs[1]);
    const Tensor* bias = constant_of(graph, norm.inputs[2]);
    if (scale == nullptr || bias == nullptr || scale->numel() != groups ||
        bias->numel() != groups || scale->dtype() != graph.values[x].dtype ||
        bias->dtype() != graph.values[x].dtype) {
      ctx.near_miss(
          kPass, where,
          str_cat("scale and bias are not constants of ", groups, " values in the input's dtype"));
      continue;
    }
    Result<float> epsilon = norm.attrs.get_float("epsilon", 1e-5f);
    if (!epsilon.ok()) continue;
    Attributes attrs;
    attrs.set_int("num_groups", groups);
    attrs.set_float("epsilon", *epsilon);
    const NodeId split_id = static_cast<NodeId>(split - graph.nodes.data());
    const NodeId merge_id = static_cast<NodeId>(merge - graph.nodes.data());
    const ValueId y = merge->outputs[0];
    const std::vector<std::string> absorbed = {split->name, norm.name, merge->name};
    const ValueId s = norm.inputs[1], b = norm.inputs[2];
    const std::string name = norm.name, y_name = graph.values[y].name;
    // add_node may move the graph's nodes: nothing above refers to them after this.
    const NodeId gn = add_node(graph, "", "GroupNormalization", name, {x, s, b}, {y_name}, attrs);
    uses.inputs_changed(gn, {});
    uses.take_over(graph, y, graph.nodes[gn].outputs[0]);
    for (NodeId dead : {merge_id, id, split_id}) uses.remove_node(graph, dead);
    ctx.applied(kPass,
                str_cat("GroupNormalization '", graph.nodes[gn].name, "' (", groups,
                        groups == 1 ? " group)" : " groups)"),
                absorbed);
  }
  return uses.verify();
}

}  // namespace vitrt
