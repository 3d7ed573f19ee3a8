// Optimizer pass simplify_reshape_transpose: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status simplify_reshape_transpose(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
