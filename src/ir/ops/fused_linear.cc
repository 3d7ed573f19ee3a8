// vitrt.Linear: Y = act(X x W + bias) (+ residual), the fused form of MatMul + Add(bias)
// (+ GELU) (+ the residual Add) that the optimizer writes for every linear layer.
//
//   inputs   X [..., K] float32, W [K, N] float32 (a constant: the weights), bias [N] optional,
//            residual [..., N] optional: exactly Y's shape and dtype (no broadcasting), only
//            with activation "none": Y = X x W + bias + residual, or "relu", which then
//            follows the add: Y = relu(X x W + bias + residual), a ResNet bottleneck's end
//            (fuse_residual_into_linear; the GEMM reads the residual as its C matrix)
//            norm_scale [K] and norm_bias [K] (inputs 4 and 5, optional, 5 only with 4; no
//            residual with them): a LayerNorm of each row of X first, over its last axis
//            (biased variance): Y = act(LayerNorm(X) x W + bias) with LayerNorm(x) =
//            (x - mean) / sqrt(var + norm_epsilon) * norm_scale + norm_bias
//            (fuse_norm_into_linear: the CUDA backend may normalize inside the GEMM kernel)
//   attrs    activation: "none" (default) | "gelu" (erf form) | "gelu_tanh" | "quick_gelu"
//            (x * sigmoid(1.702 x), CLIP's QuickGELU) | "relu";
//            compute_precision: "fp32" (default) | "bf16" (set by assign_precision: X and W
//            rounded to bfloat16, fp32 accumulation, bias, activation and output);
//            norm_epsilon (float, default 1e-5): the LayerNorm's, with norm_scale
//   output   Y [..., N]
#include <cmath>

#include "ir/op_schema.h"
#include "ir/ops/linear_rules.h"

namespace vitrt {
namespace {

// Inputs 4 and 5 (norm_scale, norm_bias): float32 [K], the bias only with the scale, neither
// with a residual.
Status check_norm_prologue(const InferContext& ctx, const Dim& k) {
  if (!ctx.has_input(4)) {
    if (ctx.has_input(5)) return ctx.error("norm_bias (input 5) needs norm_scale (input 4)");
    return Status();
  }
  if (ctx.has_input(3)) {
    return ctx.error("a LayerNorm prologue (input 4) takes no residual (input 3)");
  }
  for (int i = 4; i <= 5; ++i) {
    if (!ctx.has_input(i)) continue;
    const char* name = i == 4 ? "norm_scale" : "norm_bias";
    if (ctx.input_dtype(i) != DType::kFloat32) {
      return ctx.error(name, " must be float32, got ", dtype_name(ctx.input_dtype(i)));
    }
    if (!ctx.input_has_shape(i) || ctx.input_rank(i) != 1 || !ctx.input_shape(i)[0].same_as(k)) {
      return ctx.error(name, " must be [K] = [", k.to_string(), "]");
    }
  }
  VITRT_ASSIGN_OR_RETURN(float eps, ctx.attrs().get_float("norm_epsilon", 1e-5f));
  if (!(eps >= 0.0f) || !std::isfinite(eps)) {
    return ctx.error("norm_epsilon must be finite and >= 0, got ", eps);
  }
  return Status();
}

Status infer_linear(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_linear_activation(ctx));
  VITRT_ASSIGN_OR_RETURN(std::string precision,
                         ctx.attrs().get_string("compute_precision", "fp32"));
  if (precision != "fp32" && precision != "bf16") {
    return ctx.error("compute_precision '", precision, "' is not one of fp32, bf16");
  }
  const DType dtype = ctx.input_dtype(0);
  if (dtype != DType::kFloat32 || ctx.input_dtype(1) != DType::kFloat32) {
    return ctx.error("X and W must be float32, got ", dtype_name(dtype), " and ",
                     dtype_name(ctx.input_dtype(1)));
  }
  if (!ctx.input_has_shape(1) || ctx.input_rank(1) != 2) {
    return ctx.error("W must be a 2-D [K, N] matrix");
  }
  const Dim k = ctx.input_shape(1)[0];
  const Dim n = ctx.input_shape(1)[1];
  if (ctx.has_input(2)) {
    if (!ctx.input_has_shape(2) || ctx.input_rank(2) != 1 || !ctx.input_shape(2)[0].same_as(n)) {
      return ctx.error("bias must be [N] = [", n.to_string(), "]");
    }
  }
  VITRT_RETURN_IF_ERROR(check_linear_residual(ctx, 3, dtype, n));
  VITRT_RETURN_IF_ERROR(check_norm_prologue(ctx, k));
  return infer_linear_output(ctx, dtype, k, n, "W");
}

}  // namespace

void register_fused_linear_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "Linear", 2, 6, 1, 1, infer_linear});
}

}  // namespace vitrt
