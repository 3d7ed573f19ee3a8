// Optimizer pass fuse_patch_embedding: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status fuse_patch_embedding(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
