// Optimizer pass fold_scale_into_weights: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status fold_scale_into_weights(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
