// Pass fuse_scale_shift: Mul by a constant, then Add of a constant, each varying along the last
// axis only (one value per channel, or one for all), and the activation after them, become one
// vitrt.ScaleShift: a single pass over the tensor instead of two or three.
//
//   Mul(x, s) -> Add(., t) [-> Relu | Clip(0, 6) | HardSwish | SiLU | Gelu]
//     -> ScaleShift(x, s[C], t[C], activation)
//
// What makes them: a BatchNormalization that no convolution before it absorbs, which
// fold_batch_norm writes as Mul and Add (DenseNet's BN -> ReLU before each conv, on a Concat;
// CoAtNet's and MaxViT's BN -> SiLU after the squeeze-and-excite gate), and HGNetV2's learnable
// affine block (a scalar scale and shift after each conv). It runs after the layout pass, when a
// channels-last trunk's per-channel constants vary along the last axis. QuickGelu(1.702) is left
// to its own kernel (ScaleShift's activations are ChannelsLastConv's).
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_scale_shift";

// The other operand of binary `node` when exactly one of its two inputs is `x`, else kNoValue.
ValueId other_operand(const Node& node, ValueId x) {
  if (node.num_inputs() != 2 || node.outputs.size() != 1) return kNoValue;
  if (node.inputs[0] == x && node.inputs[1] != x) return node.inputs[1];
  if (node.inputs[1] == x && node.inputs[0] != x) return node.inputs[0];
  return kNoValue;
}

// The float32 constant `v` as C values along the last axis of a rank-`rank` tensor (a scalar
// or a one-value tensor repeated), or nullopt when it varies along another axis, would widen the
// tensor's rank, or is no float32 constant.
std::optional<Tensor> per_channel(const Graph& graph, ValueId v, size_t rank, int64_t c) {
  if (v == kNoValue || !graph.values[v].is_constant()) return std::nullopt;
  const Tensor& t = graph.values[v].constant;
  if (t.dtype() != DType::kFloat32 || static_cast<size_t>(t.rank()) > rank) return std::nullopt;
  for (int i = 0; i + 1 < t.rank(); ++i) {
    if (t.dim(i) != 1) return std::nullopt;
  }
  const int64_t n = t.numel();
  if (n != c && n != 1) return std::nullopt;
  Tensor out = Tensor::empty(DType::kFloat32, {c});
  for (int64_t i = 0; i < c; ++i) out.data<float>()[i] = t.data<float>()[n == 1 ? 0 : i];
  return out;
}

}  // namespace

Status fuse_scale_shift(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  for (NodeId mul_id = 0; mul_id < static_cast<NodeId>(graph.nodes.size()); ++mul_id) {
    const Node& mul = graph.nodes[mul_id];
    if (mul.dead || !is_onnx_op(mul, "Mul") || mul.num_inputs() != 2) continue;
    // x: the operand that is no constant, float32 with a known rank and a static last dim.
    const int xi = graph.values[mul.inputs[0]].is_constant() ? 1 : 0;
    const ValueId x = mul.inputs[xi];
    const Value& xv = graph.values[x];
    if (xv.is_constant() || xv.dtype != DType::kFloat32 || !xv.has_shape || xv.shape.empty() ||
        !xv.shape.back().is_static()) {
      continue;
    }
    const size_t rank = xv.shape.size();
    const int64_t c = xv.shape.back().value();
    if (c < 1) continue;
    std::optional<Tensor> scale = per_channel(graph, other_operand(mul, x), rank, c);
    if (!scale) continue;
    const Node* add = uses.single_consumer(mul.outputs[0]);
    if (add == nullptr || !is_onnx_op(*add, "Add")) continue;
    std::optional<Tensor> shift = per_channel(graph, other_operand(*add, mul.outputs[0]), rank, c);
    if (!shift) continue;
    // The activation, where the sum's only reader is one a ChannelsLastConv epilogue computes.
    ValueId out = add->outputs[0];
    std::string activation = "none";
    const Node* act = uses.single_consumer(out);
    if (act != nullptr && act->inputs[0] == out && act->outputs.size() == 1 &&
        (act->num_inputs() == 1 || is_onnx_op(*act, "Clip"))) {
      std::string why;
      const std::string a = epilogue_activation_of(graph, *act, &why);
      if (!a.empty() && a != "quick_gelu") activation = a;
    }
    const bool with_act = activation != "none";
    if (with_act) out = act->outputs[0];
    std::vector<std::string> absorbed = {mul.name, add->name};
    std::vector<NodeId> dead = {mul_id, static_cast<NodeId>(add - graph.nodes.data())};
    if (with_act) {
      absorbed.push_back(act->name);
      dead.push_back(static_cast<NodeId>(act - graph.nodes.data()));
    }
    const std::string name = mul.name;
    const ValueId s = add_constant_value(graph, name + "_scale", std::move(*scale));
    const ValueId t = add_constant_value(graph, name + "_shift", std::move(*shift));
    Attributes attrs;
    attrs.set_string("activation", activation);
    const NodeId fused = add_node(graph, "vitrt", "ScaleShift", name + "/ScaleShift", {x, s, t},
                                  {graph.values[out].name + "_scale_shift"}, std::move(attrs));
    remove_nodes(graph, dead);
    take_over(graph, out, graph.nodes[fused].outputs[0]);
    ctx.applied(kPass,
                str_cat("ScaleShift '", name, "' over ", c, " channels, activation ", activation),
                absorbed);
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
