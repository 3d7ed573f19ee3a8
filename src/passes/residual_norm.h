// The Add + LayerNormalization -> vitrt.AddLayerNorm rewrite that fuse_residual_layer_norm
// (src/passes/fuse_residual_layer_norm.cc) and fuse_fake_quant_norm share.
#pragma once

#include <string>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {

// Why LayerNorm `ln`, normalizing the sum of Add `add` (nullptr: no Add), cannot become an
// AddLayerNorm, or "" when it can: float32, the last axis only, no mean / inverse-std readers,
// one Add operand of the sum's full shape.
std::string residual_norm_problem(const Graph& graph, const Uses& uses, const Node& ln,
                                  const Node* add);

// Add `add_id` and the LayerNorm `ln_id` normalizing its sum (directly, or through the FakeQuant
// `fq_id`, which becomes quant_sum, when it is not -1) become one AddLayerNorm, logged as a
// rewrite of `pass`; residual_norm_problem() returned "". With add_id -1 the FakeQuant's input
// x is the sum: AddLayerNorm(x, zeros[C]).
void fuse_residual_norm(Graph& graph, Uses& uses, PassContext& ctx, const char* pass, NodeId ln_id,
                        NodeId add_id, NodeId fq_id);

}  // namespace vitrt
