// inline_constant_ifs: resolves ONNX If nodes whose condition is known at build time by inlining
// the chosen branch into the parent graph.
//
// Exporters write If for Python control flow on shapes (TorchScript traces `if x.ndim > 2` of HF
// DINOv3's rope embedding into an If on Size(Shape(...))); for the shapes a model is built for,
// the condition is a constant that shape inference and the CPU reference kernels can compute.
// This runs before the first full shape inference (If has no schema: no kernel ever sees one),
// in optimized and unoptimized builds alike, so both paths run the same inlined graph.
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "ir/op_schema.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"
#include "passes/value_evaluator.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "inline_if";

bool is_if(const Node& node) {
  return !node.dead && is_onnx_op(node, "If");
}

// A copy of `graph` in which every If and everything downstream of one is dead, so that shape
// inference (which knows no If) covers exactly what the conditions may depend on.
Graph upstream_of_ifs(const Graph& graph) {
  Graph probe = graph;
  const std::vector<std::vector<NodeId>> consumers = probe.consumers();
  std::vector<bool> cut(probe.nodes.size(), false);
  std::vector<NodeId> stack;
  for (NodeId id = 0; id < static_cast<NodeId>(probe.nodes.size()); ++id) {
    if (is_if(probe.nodes[id])) stack.push_back(id);
  }
  while (!stack.empty()) {
    const NodeId id = stack.back();
    stack.pop_back();
    if (cut[id]) continue;
    cut[id] = true;
    probe.nodes[id].dead = true;
    for (ValueId out : probe.nodes[id].outputs) {
      if (out == kNoValue) continue;
      for (NodeId reader : consumers[out]) stack.push_back(reader);
    }
  }
  return probe;
}

void add_symbols(const Dim& d, std::set<std::string>* symbols, bool* unknown_dim) {
  if (!d.is_known()) *unknown_dim = true;
  for (const std::string& name : d.symbols()) symbols->insert(name);
}

// Why `cond` is not a build-time constant, for the refusal: the graph inputs whose data it reads,
// else the dynamic dims it reads through Shape/Size, else a generic reason.
std::string why_not_constant(const Graph& probe, ValueId cond) {
  std::set<std::string> data_inputs, symbols;
  bool unknown_dim = false;
  std::set<ValueId> seen;
  std::vector<ValueId> stack{cond};
  while (!stack.empty()) {
    const ValueId v = stack.back();
    stack.pop_back();
    if (v == kNoValue || !seen.insert(v).second) continue;
    const Value& value = probe.values[v];
    if (value.is_constant()) continue;
    const Node* producer = producer_of(probe, v);
    if (producer == nullptr) {
      data_inputs.insert(value.name);
      continue;
    }
    if (is_onnx_op(*producer, "Shape") || is_onnx_op(*producer, "Size")) {
      const Value& in = probe.values[producer->inputs[0]];
      if (!in.has_shape) unknown_dim = true;
      for (const Dim& d : in.shape) add_symbols(d, &symbols, &unknown_dim);
      continue;
    }
    for (ValueId in : producer->inputs) stack.push_back(in);
  }
  auto quoted_list = [](const std::set<std::string>& names) {
    std::string text;
    for (const std::string& n : names) text += str_cat(text.empty() ? "'" : ", '", n, "'");
    return text;
  };
  if (!data_inputs.empty()) {
    return str_cat("depends on the data of graph input ", quoted_list(data_inputs),
                   "; vitrt resolves If at build time and has no If kernel");
  }
  if (!symbols.empty()) {
    return str_cat("depends on the dynamic dim ", quoted_list(symbols),
                   "; vitrt resolves If at build time: export the model with that dim static, "
                   "or give --profile ranges that fix it (min = max in every profile)");
  }
  if (unknown_dim) {
    return "depends on an input dim whose size is unknown; export the model with static input "
           "shapes";
  }
  return "could not be computed at build time (an op on its path has no CPU kernel, or its "
         "values are too large)";
}

// Replaces If node `if_id` by the nodes of its sub-graph `branch`: fresh unique names, captures
// wired to the If's extra inputs, the branch outputs written to the If's own output values (so
// readers and graph-output names stay as they are).
Status inline_branch(Graph& graph, NodeId if_id, const std::string& branch) {
  const Node node = graph.nodes[if_id];
  const Attribute* attr = node.attrs.find(branch);
  if (attr == nullptr || attr->kind != Attribute::Kind::kGraph || attr->g == nullptr) {
    return invalid_model(node.describe(), ": attribute '", branch, "' (a graph) is missing");
  }
  const Graph& sub = *attr->g;
  if (sub.outputs.size() != node.outputs.size()) {
    return invalid_model(node.describe(), ": ", branch, " has ", sub.outputs.size(),
                         " outputs, the node ", node.outputs.size());
  }
  if (sub.inputs.size() + 1 != node.inputs.size()) {
    return invalid_model(node.describe(), ": ", branch, " has ", sub.inputs.size(),
                         " inputs; an If branch takes none of its own, only the ",
                         node.inputs.size() - 1, " outer-scope values the node passes");
  }
  graph.nodes[if_id].dead = true;

  std::vector<ValueId> map(sub.values.size(), kNoValue);
  for (size_t k = 0; k < sub.inputs.size(); ++k) map[sub.inputs[k]] = node.inputs[k + 1];
  for (size_t k = 0; k < sub.outputs.size(); ++k) {
    const ValueId out = sub.outputs[k];
    if (sub.values[out].producer >= 0 && map[out] == kNoValue) map[out] = node.outputs[k];
  }
  for (ValueId v = 0; v < static_cast<ValueId>(sub.values.size()); ++v) {
    if (map[v] != kNoValue) continue;
    const Value& value = sub.values[v];
    if (value.is_constant()) {
      map[v] = add_constant_value(graph, value.name, value.constant);
      continue;
    }
    Value copy;
    copy.name = graph.unique_value_name(value.name);
    copy.dtype = value.dtype;
    copy.shape_hint = value.shape_hint;
    map[v] = graph.add_value(std::move(copy));
  }
  // The If's outputs that no branch node produces (a branch that passes on an outer value, a
  // constant, or one value as two outputs) are copies of it.
  std::vector<Node> copies;
  for (size_t k = 0; k < sub.outputs.size(); ++k) {
    if (node.outputs[k] == kNoValue || map[sub.outputs[k]] == node.outputs[k]) continue;
    Node identity;
    identity.name = str_cat(node.name, "/", branch, "/output_", k);
    identity.op_type = "Identity";
    identity.inputs = {map[sub.outputs[k]]};
    identity.outputs = {node.outputs[k]};
    copies.push_back(std::move(identity));
  }

  std::unordered_set<std::string> names;
  for (const Node& n : graph.nodes) names.insert(n.name);
  auto add = [&](Node n) {
    const std::string base = n.name;
    for (int i = 1; names.count(n.name) != 0; ++i) n.name = str_cat(base, "_", i);
    names.insert(n.name);
    graph.add_node(std::move(n));
  };
  for (const Node& n : sub.nodes) {
    if (n.dead) continue;
    Node copy = n;
    for (ValueId& in : copy.inputs) in = in == kNoValue ? kNoValue : map[in];
    for (ValueId& out : copy.outputs) out = out == kNoValue ? kNoValue : map[out];
    add(std::move(copy));
  }
  for (Node& n : copies) add(std::move(n));
  return Status::ok_status();
}

// Marks dead every If that no graph output depends on: its condition need not be known (an
// export may leave such control flow behind), and dropping it keeps it from being refused.
void drop_unused_ifs(Graph& graph, PassContext& ctx) {
  std::vector<bool> needed(graph.nodes.size(), false);
  std::vector<ValueId> stack(graph.outputs.begin(), graph.outputs.end());
  while (!stack.empty()) {
    const ValueId v = stack.back();
    stack.pop_back();
    if (v == kNoValue) continue;
    const NodeId p = graph.values[v].producer;
    if (p < 0 || graph.nodes[p].dead || needed[p]) continue;
    needed[p] = true;
    for (ValueId in : graph.nodes[p].inputs) stack.push_back(in);
  }
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    if (!is_if(graph.nodes[id]) || needed[id]) continue;
    graph.nodes[id].dead = true;
    ctx.applied(kPass, str_cat("If '", graph.nodes[id].name, "' removed: no output depends on it"),
                {graph.nodes[id].name});
  }
}

}  // namespace

Status inline_constant_ifs(Graph& graph, PassContext& ctx) {
  drop_unused_ifs(graph, ctx);
  // Each round resolves every If whose condition no other If feeds; the branches it inlines may
  // bring nested Ifs, and the Ifs downstream of it become resolvable in the next round.
  for (;;) {
    std::vector<NodeId> ifs;
    for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
      if (is_if(graph.nodes[id])) ifs.push_back(id);
    }
    if (ifs.empty()) return Status::ok_status();
    Graph probe = upstream_of_ifs(graph);
    VITRT_RETURN_IF_ERROR(infer_shapes(probe));
    ValueEvaluator evaluator(probe);
    bool resolved = false;
    for (NodeId id : ifs) {
      const Node& node = graph.nodes[id];
      if (!node.has_input(0)) return invalid_model(node.describe(), ": the condition is missing");
      const ValueId cond = node.inputs[0];
      const NodeId cond_producer = graph.values[cond].producer;
      if (cond_producer >= 0 && probe.nodes[cond_producer].dead) continue;  // next round
      const std::optional<Tensor> value = evaluator.exact(cond);
      if (!value) {
        return unsupported("If '", node.name, "' condition '", graph.values[cond].name, "' ",
                           why_not_constant(probe, cond));
      }
      if (value->numel() != 1) {
        return invalid_model(node.describe(), ": the condition '", graph.values[cond].name,
                             "' has ", value->numel(), " elements, expected one");
      }
      const bool take_then = value->element_as_double(0) != 0.0;
      const std::string branch = take_then ? "then_branch" : "else_branch";
      const std::string name = node.name;
      VITRT_RETURN_IF_ERROR(inline_branch(graph, id, branch));
      ctx.applied(kPass,
                  str_cat("If '", name, "' -> ", branch, " (condition is ",
                          take_then ? "true" : "false", ")"),
                  {name});
      resolved = true;
    }
    // The first If in topological order has no If upstream, so every round resolves one.
    if (!resolved) return internal_error("inline_if: no If could be resolved in a round");
  }
}

}  // namespace vitrt
