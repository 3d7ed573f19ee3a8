// Helpers shared by lower_contrib_ops and the files it calls (lower_contrib_attention.cc,
// lower_contrib_qlinear.cc); defined in lower_contrib_ops.cc.
#pragma once

#include <cstddef>
#include <vector>

#include "ir/graph.h"
#include "passes/graph_rewrite.h"

namespace vitrt {

// Whether output `output` of `n` is read (by a node in `uses`, the graph's consumers from before
// the pass) or is a graph output.
bool contrib_output_used(const Graph& g, const Node& n, size_t output,
                         const std::vector<std::vector<NodeId>>& uses);

// Input `i` of `n`, or kNoValue where omitted.
ValueId input_or_none(const Node& n, int i);

// The rank of `v` where the file says it (a constant, an input, value_info), looking through the
// Casts and Identities between it and such a value; -1 when unknown.
int64_t known_rank(const Graph& g, ValueId v);

// MatMulInteger(a, b, a_zp, b_zp) [+ int_bias, int32] -> Cast -> Mul(Mul(a_scale, b_scale)
// [* alpha]) [-> Add(bias)].
ValueId integer_chain(LoweringEmitter& b, ValueId a, ValueId bq, ValueId a_zp, ValueId b_zp,
                      ValueId a_scale, ValueId b_scale, ValueId bias, float alpha = 1.0f,
                      ValueId int_bias = kNoValue);

}  // namespace vitrt
