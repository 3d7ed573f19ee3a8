// Optimizer pass pack_qkv: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status pack_qkv(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
