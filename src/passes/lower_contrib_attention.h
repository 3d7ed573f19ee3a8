// com.microsoft Attention and MultiHeadAttention as ai.onnx Attention (lower_contrib_ops; the
// forms taken and refused are in lower_contrib_attention.cc).
#pragma once

#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt {

// Node `id` (com.microsoft.Attention / MultiHeadAttention) becomes ai.onnx Attention on rank-3
// q, k and v, with the projections and masks it implies; `uses` are the graph's consumers.
// For com.microsoft.QAttention `quantized_projection` is the float result of its integer
// input projection, [B, S, hq + hk + hv], which the caller has built.
Status lower_contrib_attention(Graph& graph, NodeId id,
                               const std::vector<std::vector<NodeId>>& uses,
                               ValueId quantized_projection = kNoValue);
Status lower_contrib_multi_head_attention(Graph& graph, NodeId id,
                                          const std::vector<std::vector<NodeId>>& uses);

}  // namespace vitrt
