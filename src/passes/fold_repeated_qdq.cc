// fold_repeated_qdq: drops a QuantizeLinear -> DequantizeLinear pair whose values reach nothing
// but the same quantization again, through ops that only move elements.
//
// ONNX Runtime's quantize_static (QDQ format) quantizes the output of every op it can,
// data-movement ops included, and gives those the scale and zero point of their input: a
// ViT-B/16 block holds x -> Q/DQ -> Reshape -> Q/DQ -> Transpose -> Q/DQ -> Split -> Q/DQ ->
// Squeeze -> Q/DQ, eleven of its 28 pairs. Fake quantization F (Q then DQ) works per element,
// so it commutes with Reshape, Transpose, Split and the like, and applying it twice gives the
// same values as once: F(move(F(x))) = move(F(x)) = F(move(x)). The first pair of such a chain is
// therefore redundant when every path from it ends in a QuantizeLinear of the same scale, zero
// point and type before anything computes with the values, and removing it changes no bit:
// with 8-bit codes q, DQ gives (q - zp) * s in float32 (or fp16) with a relative error below
// 2^-11, and |q - zp| <= 255, so the second Q's round(x / s) lands on q - zp again. The last pair
// stays, next to the op that computes with the values (where import_qdq and fuse_attention
// look for it).
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fold_repeated_qdq";

// Ops whose output elements are some of their data input's elements, moved (input 0 only).
bool moves_elements(const Node& n) {
  for (const char* op : {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity",
                         "Split", "Slice", "Gather"}) {
    if (is_onnx_op(n, op)) return true;
  }
  return false;
}

// Whether QuantizeLinear `q` quantizes with exactly `a`'s parameters: one constant scale equal
// to a's, the same zero point and the same code type.
bool same_quantization(const Graph& graph, const Node& q, const ActivationQuant& a,
                       DType code_type) {
  const Tensor* scale = q.has_input(1) ? constant_of(graph, q.inputs[1]) : nullptr;
  if (scale == nullptr || scale->numel() != 1 || scale->dtype() != DType::kFloat32 ||
      scale->data<float>()[0] != a.scale) {
    return false;
  }
  if (graph.values[q.outputs[0]].dtype != code_type) return false;
  if (!q.has_input(2)) return a.zero_point == 0;
  const Tensor* zp = constant_of(graph, q.inputs[2]);
  return zp != nullptr && zp->numel() == 1 && zp->element_as_int64(0) == a.zero_point;
}

// Every path from `start` (a DQ output) through element-moving ops ends in a QuantizeLinear of
// `a`'s quantization; shape-only readers (Shape, Size) are fine.
bool only_requantized(const Graph& graph, const Uses& uses, ValueId start, const ActivationQuant& a,
                      DType code_type) {
  std::vector<ValueId> frontier = {start};
  for (int visited = 0; !frontier.empty(); ++visited) {
    if (visited > 64) return false;  // a chain this long is not an exporter's
    const ValueId v = frontier.back();
    frontier.pop_back();
    if (is_graph_output(graph, v)) return false;
    for (NodeId r : uses.of(v)) {
      const Node& n = graph.nodes[r];
      if (is_onnx_op(n, "Shape") || is_onnx_op(n, "Size")) continue;
      if (is_onnx_op(n, "QuantizeLinear") && n.inputs[0] == v &&
          same_quantization(graph, n, a, code_type)) {
        continue;
      }
      if (!moves_elements(n) || n.inputs[0] != v) return false;
      for (size_t i = 1; i < n.inputs.size(); ++i) {
        if (n.inputs[i] == v) return false;  // v as a shape or index operand too
      }
      for (ValueId out : n.outputs) {
        if (out != kNoValue) frontier.push_back(out);
      }
    }
  }
  return true;
}

}  // namespace

Status fold_repeated_qdq(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    const Node& dq = graph.nodes[id];
    if (dq.dead || !is_onnx_op(dq, "DequantizeLinear")) continue;
    std::string why;
    const std::optional<ActivationQuant> a = match_activation(graph, dq.outputs[0], &why);
    if (!a) continue;
    const Node& q = graph.nodes[a->q];
    const ValueId codes = q.outputs[0];
    if (is_graph_output(graph, codes) || uses.of(codes).size() != 1) continue;
    const DType code_type = graph.values[codes].dtype;
    if (!only_requantized(graph, uses, dq.outputs[0], *a, code_type)) continue;
    if (!can_replace_uses(graph, dq.outputs[0], a->x)) continue;
    const std::vector<std::string> names = {q.name, dq.name};
    replace_uses(graph, dq.outputs[0], a->x);
    remove_nodes(graph, {a->q, id});
    ctx.applied(kPass, str_cat("'", graph.values[a->x].name, "' quantized again downstream"),
                names);
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
