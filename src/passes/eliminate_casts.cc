// Optimizer pass eliminate_casts: not implemented yet; leaves the graph unchanged.
#include "passes/pass.h"

namespace vitrt {

Status eliminate_casts(Graph& graph, PassContext& ctx) {
  (void)graph;
  (void)ctx;
  return Status::ok_status();
}

}  // namespace vitrt
