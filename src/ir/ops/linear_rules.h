// Shape-inference rules shared by vitrt.Linear and vitrt.QuantLinear: the same activation
// attribute and the same X [..., K] x W [K, N] -> Y [..., N] output rule.
#pragma once

#include "core/dim.h"
#include "ir/op_schema.h"
#include "vitrt/status.h"

namespace vitrt {

// Checks the "activation" attribute (none | gelu | gelu_tanh | quick_gelu | relu | silu |
// hard_swish | relu6).
Status check_linear_activation(InferContext& ctx);

// Sets output 0 to X's shape with its last dim (K) replaced by N, in `dtype`; an unknown X
// shape gives an unknown output. `weight` names the [K, N] input in messages ("W", "W_q").
Status infer_linear_output(InferContext& ctx, DType dtype, const Dim& k, const Dim& n,
                           const char* weight);

// Checks the optional residual input `index` (Y = X.W + bias + residual): it must have exactly
// the output's dtype and shape (no broadcasting: the GEMM reads it as its C matrix, laid out
// as Y) and the activation must be "none" (an activation would have to run before the add).
Status check_linear_residual(InferContext& ctx, int index, DType dtype, const Dim& n);

}  // namespace vitrt
