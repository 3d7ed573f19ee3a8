// Optimizer pass eliminate_dead_nodes: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status eliminate_dead_nodes(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
