// Optimizer pass fuse_layer_norm: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status fuse_layer_norm(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
