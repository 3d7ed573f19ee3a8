// Optimizer pass fuse_gelu: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status fuse_gelu(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
