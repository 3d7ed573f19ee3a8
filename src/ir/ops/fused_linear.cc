// vitrt.Linear: Y = act(X x W + bias), the fused form of MatMul + Add(bias) (+ GELU) that the
// optimizer writes for every linear layer.
//
//   inputs   X [..., K] float32, W [K, N] float32 (a constant: the weights), bias [N] optional
//   attrs    activation: "none" (default) | "gelu" (erf form) | "gelu_tanh" | "quick_gelu"
//            (x * sigmoid(1.702 x), CLIP's QuickGELU) | "relu";
//            compute_precision: "fp32" (default) | "bf16" (set by assign_precision: X and W
//            rounded to bfloat16, fp32 accumulation, bias, activation and output)
//   output   Y [..., N]
#include "ir/op_schema.h"

namespace vitrt {
namespace {

bool known_activation(const std::string& a) {
  return a == "none" || a == "gelu" || a == "gelu_tanh" || a == "quick_gelu" || a == "relu";
}

Status infer_linear(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::string act, ctx.attrs().get_string("activation", "none"));
  if (!known_activation(act)) {
    return ctx.error("activation '", act,
                     "' is not one of none, gelu, gelu_tanh, quick_gelu, relu");
  }
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
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  SymShape out = ctx.input_shape(0);
  if (out.empty()) return ctx.error("X must have rank >= 1");
  if (out.back().is_static() && k.is_static() && out.back().value() != k.value()) {
    return ctx.error("X is ", sym_shape_to_string(out), " but W is [", k.to_string(), ", ",
                     n.to_string(), "]: inner dims differ");
  }
  out.back() = n;
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

}  // namespace

void register_fused_linear_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "Linear", 2, 3, 1, 1, infer_linear});
}

}  // namespace vitrt
