// Optimizer pass remove_identity: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status remove_identity(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
