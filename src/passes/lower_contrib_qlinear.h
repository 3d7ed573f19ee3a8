// com.microsoft's QLinear* ops and QGemm in QDQ form (lower_contrib_ops; the ops taken and
// refused are in lower_contrib_qlinear.cc).
#pragma once

#include <string>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt {

// Whether lower_contrib_qlinear takes a com.microsoft op of this type.
bool is_contrib_qlinear(const std::string& op_type);

// Node `id` (one of those ops) becomes DequantizeLinear -> the float op -> QuantizeLinear, or
// for QGemm the integer chain MatMulInteger -> Cast -> Mul [-> QuantizeLinear].
Status lower_contrib_qlinear(Graph& graph, NodeId id);

}  // namespace vitrt
