// Optimizer pass fuse_linear: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status fuse_linear(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
