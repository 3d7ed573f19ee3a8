// Optimizer pass simplify_reshape_transpose: shortens chains of ops that only move data.
//
//  * Reshape, Flatten, Squeeze and Unsqueeze ("views": they keep the element order) whose
//    output has the input's shape are removed.
//  * A view reading another view reads the first one's input instead, as one Reshape with a
//    constant target (copying symbolic dims with 0, inferring one with -1): Reshape -> Reshape,
//    Unsqueeze -> Squeeze and Flatten -> Reshape chains collapse, and cancelling pairs vanish.
//  * A Transpose reading a Transpose reads its input with the composed permutation; an
//    identity permutation is removed. A Transpose between a view that merges leading dims and
//    one that splits them again is a Transpose of the trailing dims.
//  * Expand: one to its input's shape is removed; a broadcasting elementwise op reading an
//    Expand reads the Expand's input when its own broadcast gives the same output shape, and
//    an elementwise op on Expand(constant) and constants runs before the Expand (so it folds).
// The inner node stays for its other readers (a view or transpose costs at most one copy, the
// same as before) and otherwise dies in eliminate_dead_nodes. Graph outputs keep their names.
#include <algorithm>

#include "ir/ops/shape_rules.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "simplify_reshape_transpose";

bool is_view(const Node& node) {
  return is_onnx_op(node, "Reshape") || is_onnx_op(node, "Flatten") ||
         is_onnx_op(node, "Squeeze") || is_onnx_op(node, "Unsqueeze");
}

bool is_identity_perm(const std::vector<int>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int>(i)) return false;
  }
  return true;
}

// Makes readers of `node`'s output read `source` and removes the node; false when a graph
// output name would be lost.
bool bypass(Graph& graph, PassContext& ctx, NodeId id, ValueId source, const std::string& why,
            std::vector<std::string> absorbed) {
  const Node& node = graph.nodes[id];
  const ValueId out = node.outputs[0];
  if (!can_replace_uses(graph, out, source)) return false;
  absorbed.push_back(node.name);
  ctx.applied(kPass, str_cat("removed ", node.describe(), ": ", why), absorbed);
  replace_uses(graph, out, source);
  remove_nodes(graph, {id});
  return true;
}

// A view of a view: node becomes Reshape(source of the inner view, constant target).
void collapse_views(Graph& graph, PassContext& ctx, NodeId id) {
  Node& node = graph.nodes[id];
  const Node* inner = producer_of(graph, node.inputs[0]);
  if (inner == nullptr || !is_view(*inner) || !inner->has_input(0)) return;
  const ValueId source = inner->inputs[0];
  const Value& src = graph.values[source];
  const Value& out = graph.values[node.outputs[0]];
  if (!src.has_shape || !out.has_shape) return;
  const std::string inner_name = inner->name;
  if (same_sym_shape(src, out)) {
    bypass(
        graph, ctx, id, source,
        str_cat("with ", inner->describe(), " it restores shape ", sym_shape_to_string(src.shape)),
        {inner_name});
    return;
  }
  for (const Dim& d : out.shape) {
    // A static 0 would read as "copy" in a Reshape target.
    if (d.is_static() && d.value() <= 0) return;
  }
  auto target = constant_reshape_target(src.shape, out.shape);
  if (!target) {
    ctx.near_miss(
        kPass, node.describe(),
        str_cat("not merged with ", inner->describe(), ": output ", sym_shape_to_string(out.shape),
                " has more than one dim not copied from ", sym_shape_to_string(src.shape)));
    return;
  }
  const std::string was = node.describe();
  const ValueId shape =
      add_constant_value(graph, node.name + "_shape", Tensor::from_int64(*target));
  node.op_type = "Reshape";
  node.domain.clear();
  node.attrs = Attributes();
  node.inputs = {source, shape};
  ctx.applied(
      kPass, str_cat(was, " and ", inner_name, " became one Reshape to ", shape_to_string(*target)),
      {inner_name});
}

// Splits `shape` into a leading group whose product is `merged` and a suffix equal to
// `suffix`; returns the group's length (at least 1), or nullopt.
std::optional<size_t> leading_group(const SymShape& shape, const Dim& merged,
                                    const SymShape& suffix) {
  if (shape.size() < suffix.size() + 1) return std::nullopt;
  const size_t lead = shape.size() - suffix.size();
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (!shape[lead + i].same_as(suffix[i])) return std::nullopt;
  }
  if (!sym_shape_numel(SymShape(shape.begin(), shape.begin() + lead)).same_as(merged)) {
    return std::nullopt;
  }
  return lead;
}

// view(Transpose(view(x))) where the first view merges x's leading dims into one, the
// Transpose keeps that dim first, and the last view splits it again: a transpose of x's
// trailing dims (how dynamo exports k.transpose(-2, -1) on 4-D attention heads, through
// [batch*heads, seq, dim]). The node becomes Transpose(x) when it splits the dim into x's own
// leading dims, else a Reshape of a new Transpose(x).
bool transpose_between_views(Graph& graph, PassContext& ctx, NodeId id) {
  const Node& node = graph.nodes[id];
  const Node* t = producer_if(graph, node.inputs[0], "Transpose");
  if (t == nullptr || !t->has_input(0)) return false;
  const Node* inner = producer_of(graph, t->inputs[0]);
  if (inner == nullptr || !is_view(*inner) || !inner->has_input(0)) return false;
  const Value& x = graph.values[inner->inputs[0]];
  const Value& merged = graph.values[t->inputs[0]];
  const Value& transposed = graph.values[t->outputs[0]];
  const Value& out = graph.values[node.outputs[0]];
  if (!x.has_shape || !merged.has_shape || !transposed.has_shape || !out.has_shape ||
      merged.shape.empty()) {
    return false;
  }
  auto perm = transpose_perm_of(graph, *t);
  if (!perm || (*perm)[0] != 0) return false;
  const SymShape merged_tail(merged.shape.begin() + 1, merged.shape.end());
  const SymShape transposed_tail(transposed.shape.begin() + 1, transposed.shape.end());
  auto lead = leading_group(x.shape, merged.shape[0], merged_tail);
  auto out_lead = leading_group(out.shape, transposed.shape[0], transposed_tail);
  if (!lead || !out_lead) return false;
  std::vector<int64_t> x_perm;
  SymShape x_transposed;
  for (size_t i = 0; i < *lead; ++i) x_perm.push_back(static_cast<int64_t>(i));
  for (size_t j = 1; j < perm->size(); ++j)
    x_perm.push_back(static_cast<int64_t>(*lead - 1 + (*perm)[j]));
  for (int64_t a : x_perm) x_transposed.push_back(x.shape[a]);
  std::optional<std::vector<int64_t>> target;
  const bool same_lead = same_dims(SymShape(out.shape.begin(), out.shape.begin() + *out_lead),
                                   SymShape(x.shape.begin(), x.shape.begin() + *lead));
  if (!same_lead) {
    for (const Dim& d : out.shape) {
      if (d.is_static() && d.value() <= 0) return false;
    }
    target = constant_reshape_target(x_transposed, out.shape);
    if (!target) return false;
  }
  const ValueId source = inner->inputs[0];
  const std::vector<std::string> absorbed = {inner->name, t->name};
  const std::string what =
      str_cat(node.describe(), ", ", t->describe(), " and ", inner->describe(),
              " are a Transpose of '", x.name, "' by ", shape_to_string(x_perm));
  Attributes attrs;
  attrs.set_ints("perm", x_perm);
  if (same_lead) {
    Node& n = graph.nodes[id];
    n.op_type = "Transpose";
    n.domain.clear();
    n.attrs = std::move(attrs);
    n.inputs = {source};
  } else {
    const std::string name = node.name + "_transpose";
    const std::string output = out.name + "_transposed";
    const NodeId added = add_node(graph, "", "Transpose", name, {source}, {output}, attrs);
    const ValueId shape = add_constant_value(graph, name + "_shape", Tensor::from_int64(*target));
    Node& n = graph.nodes[id];
    n.op_type = "Reshape";
    n.domain.clear();
    n.attrs = Attributes();
    n.inputs = {graph.nodes[added].outputs[0], shape};
  }
  ctx.applied(kPass, what, absorbed);
  return true;
}

void simplify_transpose(Graph& graph, PassContext& ctx, NodeId id) {
  Node& node = graph.nodes[id];
  auto perm = transpose_perm_of(graph, node);
  if (!perm) return;
  if (is_identity_perm(*perm)) {
    bypass(graph, ctx, id, node.inputs[0], "identity permutation", {});
    return;
  }
  const Node* inner = producer_if(graph, node.inputs[0], "Transpose");
  if (inner == nullptr || !inner->has_input(0)) return;
  auto inner_perm = transpose_perm_of(graph, *inner);
  if (!inner_perm || inner_perm->size() != perm->size()) return;
  // out[i] = mid[perm[i]] = in[inner_perm[perm[i]]]
  std::vector<int64_t> composed;
  std::vector<int> composed_int;
  for (int p : *perm) {
    composed.push_back((*inner_perm)[p]);
    composed_int.push_back((*inner_perm)[p]);
  }
  const ValueId source = inner->inputs[0];
  const std::string inner_name = inner->name;
  if (is_identity_perm(composed_int)) {
    bypass(graph, ctx, id, source, str_cat("it undoes ", inner->describe()), {inner_name});
    return;
  }
  node.inputs[0] = source;
  node.attrs.set_ints("perm", composed);
  ctx.applied(kPass,
              str_cat(node.describe(), " composed with ", inner_name, " into perm ",
                      shape_to_string(composed)),
              {inner_name});
}

// Elementwise ops that broadcast their inputs (NumPy rules) and compute each output element
// from the input elements it broadcasts from.
bool is_broadcasting_elementwise(const Node& node) {
  static const char* const kOps[] = {"Add",  "Sub",     "Mul", "Div",         "Pow",
                                     "Mod",  "Where",   "Max", "Min",         "Equal",
                                     "Less", "Greater", "And", "LessOrEqual", "GreaterOrEqual",
                                     "Or",   "Xor"};
  for (const char* op : kOps) {
    if (is_onnx_op(node, op)) return true;
  }
  return false;
}

// The broadcast of `shapes` when every output dim is provably determined, else nullopt.
std::optional<SymShape> broadcast_known(const std::vector<const Value*>& values) {
  size_t rank = 0;
  for (const Value* v : values) {
    if (!v->has_shape) return std::nullopt;
    rank = std::max(rank, v->shape.size());
  }
  SymShape out(rank, Dim(1));
  for (const Value* v : values) {
    const size_t lead = rank - v->shape.size();
    for (size_t i = 0; i < v->shape.size(); ++i) {
      const Dim& d = v->shape[i];
      Dim& o = out[lead + i];
      if (d.is_static() && d.value() == 1) continue;
      if (o.is_static() && o.value() == 1) {
        o = d;
      } else if (!o.same_as(d)) {
        return std::nullopt;
      }
    }
  }
  return out;
}

// An elementwise op reading Expand(c, shape) reads c instead when broadcasting c with the other
// inputs already gives the output shape: the op does the expansion for free. Returns whether
// anything changed.
bool read_through_expand(Graph& graph, PassContext& ctx, NodeId id) {
  Node& node = graph.nodes[id];
  const Value& out = graph.values[node.outputs[0]];
  if (!out.has_shape) return false;
  bool changed = false;
  for (int i = 0; i < node.num_inputs(); ++i) {
    const Node* expand = node.has_input(i) ? producer_if(graph, node.inputs[i], "Expand") : nullptr;
    if (expand == nullptr || !expand->has_input(0)) continue;
    std::vector<const Value*> inputs;
    for (int k = 0; k < node.num_inputs(); ++k) {
      if (!node.has_input(k)) return changed;
      inputs.push_back(&graph.values[k == i ? expand->inputs[0] : node.inputs[k]]);
    }
    auto shape = broadcast_known(inputs);
    if (!shape || !same_dims(*shape, out.shape)) continue;
    ctx.applied(kPass,
                str_cat(node.describe(), " reads the input of ", expand->describe(),
                        " directly: its own broadcast gives ", sym_shape_to_string(out.shape)),
                {expand->name});
    node.inputs[i] = expand->inputs[0];
    changed = true;
  }
  return changed;
}

// op(Expand(c, shape), constants...) becomes Expand(op(c, constants...), shape): the op runs on
// the small tensor, which fold_constants then computes once when c is constant too (the
// attention masks dynamo exports as Where(Expand(mask), 0, -inf)). Broadcasting is associative,
// so the output shape is unchanged.
void push_expand_down(Graph& graph, PassContext& ctx, NodeId id) {
  const Node& node = graph.nodes[id];
  int expanded = -1;
  for (int i = 0; i < node.num_inputs(); ++i) {
    if (!node.has_input(i)) return;
    if (graph.values[node.inputs[i]].is_constant()) continue;
    if (expanded >= 0 || producer_if(graph, node.inputs[i], "Expand") == nullptr) return;
    expanded = i;
  }
  if (expanded < 0) return;
  const Node& expand = *producer_of(graph, node.inputs[expanded]);
  if (!expand.has_input(0) || !expand.has_input(1) ||
      !graph.values[expand.inputs[0]].is_constant()) {
    return;
  }
  std::vector<ValueId> inputs = node.inputs;
  inputs[expanded] = expand.inputs[0];
  const ValueId target = expand.inputs[1];
  const std::string expand_name = expand.name;
  // Copies: add_node grows the node vector that `node` lives in.
  const std::string domain = node.domain;
  const std::string op_type = node.op_type;
  const std::string name = node.name + "_unexpanded";
  const std::string output = graph.values[node.outputs[0]].name + "_unexpanded";
  const NodeId small =
      add_node(graph, domain, op_type, name, std::move(inputs), {output}, node.attrs);
  Node& moved = graph.nodes[id];
  ctx.applied(kPass,
              str_cat(moved.describe(), " now runs before ", expand_name, " (as '",
                      graph.nodes[small].name, "') on its constant input"),
              {});
  moved.op_type = "Expand";
  moved.domain.clear();
  moved.attrs = Attributes();
  moved.inputs = {graph.nodes[small].outputs[0], target};
}

}  // namespace

Status simplify_reshape_transpose(Graph& graph, PassContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.topological_order());
  for (NodeId id : order) {
    const Node& node = graph.nodes[id];
    if (node.dead || !node.has_input(0) || node.outputs.empty() || node.outputs[0] == kNoValue) {
      continue;
    }
    if (is_onnx_op(node, "Transpose")) {
      simplify_transpose(graph, ctx, id);
      continue;
    }
    if (is_broadcasting_elementwise(node)) {
      if (!read_through_expand(graph, ctx, id)) push_expand_down(graph, ctx, id);
      continue;
    }
    if (is_onnx_op(node, "Expand") &&
        same_sym_shape(graph.values[node.inputs[0]], graph.values[node.outputs[0]])) {
      bypass(graph, ctx, id, node.inputs[0], "it expands to its input's shape", {});
      continue;
    }
    if (!is_view(node)) continue;
    const Value& in = graph.values[node.inputs[0]];
    const Value& out = graph.values[node.outputs[0]];
    if (same_sym_shape(in, out)) {
      bypass(graph, ctx, id, node.inputs[0],
             str_cat("output shape ", sym_shape_to_string(out.shape), " is its input's"), {});
      continue;
    }
    if (!transpose_between_views(graph, ctx, id)) collapse_views(graph, ctx, id);
  }
  return Status::ok_status();
}

}  // namespace vitrt
