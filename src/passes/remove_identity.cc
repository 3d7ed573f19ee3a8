// Optimizer pass remove_identity: Identity, inference-mode Dropout, Pad by zero and a Slice that
// keeps every element forward their input.
//
// Exporters emit Identity for tied or aliased weights and for outputs that alias an inner
// value; Dropout survives eval-mode export as an op that copies; Swin pads its token grid to a
// multiple of the window with pads computed from the shape, zero at the usual sizes once
// fold_constants has made them constant; GhostNet's module concatenates its two halves and
// slices the channels back to the output count, which is all of them when the count is even.
// Each costs a copy per run.
#include <algorithm>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "remove_identity";

// Whether `v` is read by a live node or is a graph output.
bool is_read(const Graph& graph, const Uses& uses, ValueId v) {
  return v != kNoValue && (!uses.of(v).empty() || is_graph_output(graph, v));
}

// Forwards `node`'s input 0 to the readers of its output 0; false (with a near miss) when a
// graph input or output name would be lost.
bool forward_data(Graph& graph, PassContext& ctx, const Node& node) {
  const ValueId in = node.inputs[0];
  const ValueId out = node.outputs[0];
  if (out == kNoValue) return true;
  if (!can_replace_uses(graph, out, in)) {
    ctx.near_miss(
        kPass, node.describe(),
        str_cat("kept: graph output '", graph.values[out].name, "' copies graph input or output '",
                graph.values[in].name, "' and both names must stay"));
    return false;
  }
  replace_uses(graph, out, in);
  return true;
}

// A Pad whose pads are all zero copies its input whatever the mode: pads a constant input
// (opset 11+) or the attribute (before).
bool is_zero_pad(const Graph& graph, const Node& node) {
  std::vector<int64_t> pads;
  if (graph.onnx_opset() >= 11) {
    if (!node.has_input(1) || !graph.values[node.inputs[1]].is_constant()) return false;
    pads = graph.values[node.inputs[1]].constant.to_int64_vector();
  } else {
    Result<std::vector<int64_t>> attr = node.attrs.get_ints("pads", {});
    if (!attr.ok()) return false;
    pads = *attr;
  }
  return std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
}

// A Slice whose steps are all 1 (constant, or none given) and whose output has the input's shape
// (every dim known to be the same): a range of step 1 as long as the axis is the whole axis, so
// the output is the input, whatever the starts and ends were written as.
bool is_whole_slice(const Graph& graph, const Node& node) {
  if (node.outputs.empty() || node.outputs[0] == kNoValue) return false;
  const Value& in = graph.values[node.inputs[0]];
  const Value& out = graph.values[node.outputs[0]];
  if (!in.has_shape || !out.has_shape || in.shape.size() != out.shape.size()) return false;
  for (size_t i = 0; i < in.shape.size(); ++i) {
    if (!in.shape[i].is_known() || !in.shape[i].same_as(out.shape[i])) return false;
  }
  if (graph.onnx_opset() < 10 || !node.has_input(4)) return true;  // steps default to 1
  const Value& steps = graph.values[node.inputs[4]];
  if (!steps.is_constant()) return false;
  const std::vector<int64_t> v = steps.constant.to_int64_vector();
  return std::all_of(v.begin(), v.end(), [](int64_t s) { return s == 1; });
}

// Dropout runs as the identity unless training_mode is (or may be) true.
bool is_inference_dropout(const Graph& graph, const Node& node) {
  if (!node.has_input(2)) return true;
  const Value& training = graph.values[node.inputs[2]];
  return training.is_constant() && training.constant.numel() == 1 &&
         training.constant.element_as_double(0) == 0.0;
}

}  // namespace

Status remove_identity(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    const Node& node = graph.nodes[id];
    if (node.dead || !node.has_input(0)) continue;
    if (is_onnx_op(node, "Identity")) {
      if (!forward_data(graph, ctx, node)) continue;
      ctx.applied(kPass, str_cat("removed ", node.describe()), {node.name});
      remove_nodes(graph, {id});
      continue;
    }
    if (is_onnx_op(node, "Pad")) {
      if (!is_zero_pad(graph, node) || !forward_data(graph, ctx, node)) continue;
      ctx.applied(kPass, str_cat("removed ", node.describe(), ": its pads are all zero"),
                  {node.name});
      remove_nodes(graph, {id});
      continue;
    }
    if (is_onnx_op(node, "Slice")) {
      if (!is_whole_slice(graph, node) || !forward_data(graph, ctx, node)) continue;
      ctx.applied(kPass, str_cat("removed ", node.describe(), ": it keeps every element"),
                  {node.name});
      remove_nodes(graph, {id});
      continue;
    }
    if (!is_onnx_op(node, "Dropout")) continue;
    if (!is_inference_dropout(graph, node)) {
      ctx.near_miss(kPass, node.describe(),
                    "kept: training_mode is not a constant false, so it may drop elements");
      continue;
    }
    // The mask of an inference Dropout is all true; it can become a constant only when its
    // shape is known.
    const ValueId mask = node.outputs.size() > 1 ? node.outputs[1] : kNoValue;
    Tensor mask_value;
    if (is_read(graph, uses, mask)) {
      const Value& data = graph.values[node.inputs[0]];
      std::optional<std::vector<int64_t>> shape;
      if (data.has_shape) shape = sym_shape_to_static(data.shape);
      if (!shape) {
        ctx.near_miss(kPass, node.describe(),
                      "kept: its mask output is read and the input shape is not static, so the "
                      "mask cannot become a constant");
        continue;
      }
      mask_value = Tensor::zeros(DType::kBool, *shape);
      bool* m = mask_value.data<bool>();
      for (int64_t i = 0; i < mask_value.numel(); ++i) m[i] = true;
    }
    if (!forward_data(graph, ctx, node)) continue;
    if (mask_value.defined()) {
      const std::string name = graph.values[mask].name;
      replace_uses(graph, mask, add_constant_value(graph, name, std::move(mask_value)));
    }
    ctx.applied(kPass, str_cat("removed inference ", node.describe()), {node.name});
    remove_nodes(graph, {id});
  }
  return Status::ok_status();
}

}  // namespace vitrt
