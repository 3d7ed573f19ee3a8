// Optimizer pass fuse_attention: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status fuse_attention(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
