// Optimizer pass fold_constants: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status fold_constants(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
