// Optimizer pass eliminate_dead_nodes: removes nodes none of whose outputs reach a graph output.
//
// Other passes leave such nodes behind on purpose (a folded Reshape target's Shape -> Gather ->
// Concat chain, the old side of a rewired consumer); ONNX ops have no side effects, so a node
// whose results nobody reads can go.
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {

Status eliminate_dead_nodes(Graph& graph, PassContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.topological_order());
  // Walking consumers before producers, a node is live when a graph output or a live node reads
  // one of its outputs.
  std::vector<bool> needed(graph.values.size(), false);
  for (ValueId v : graph.outputs) needed[v] = true;
  std::vector<NodeId> dead;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node& node = graph.nodes[*it];
    bool live = false;
    for (ValueId out : node.outputs) live = live || (out != kNoValue && needed[out]);
    if (!live) {
      dead.push_back(*it);
      continue;
    }
    for (ValueId in : node.inputs) {
      if (in != kNoValue) needed[in] = true;
    }
  }
  // Reported in graph order, the order a reader of the log expects.
  for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
    const Node& node = graph.nodes[*it];
    ctx.applied("eliminate_dead_nodes", str_cat("removed unused ", node.describe()), {node.name});
  }
  remove_nodes(graph, dead);
  return Status::ok_status();
}

}  // namespace vitrt
