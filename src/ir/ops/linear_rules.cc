#include "ir/ops/linear_rules.h"

#include <string>
#include <utility>

namespace vitrt {

Status check_linear_activation(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::string act, ctx.attrs().get_string("activation", "none"));
  if (act != "none" && act != "gelu" && act != "gelu_tanh" && act != "quick_gelu" &&
      act != "relu" && act != "silu" && act != "hard_swish" && act != "relu6") {
    return ctx.error(
        "activation '", act,
        "' is not one of none, gelu, gelu_tanh, quick_gelu, relu, silu, hard_swish, relu6");
  }
  return Status();
}

Status infer_linear_output(InferContext& ctx, DType dtype, const Dim& k, const Dim& n,
                           const char* weight) {
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  SymShape out = ctx.input_shape(0);
  if (out.empty()) return ctx.error("X must have rank >= 1");
  if (out.back().is_static() && k.is_static() && out.back().value() != k.value()) {
    return ctx.error("X is ", sym_shape_to_string(out), " but ", weight, " is [", k.to_string(),
                     ", ", n.to_string(), "]: inner dims differ");
  }
  out.back() = n;
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status check_linear_residual(InferContext& ctx, int index, DType dtype, const Dim& n) {
  if (!ctx.has_input(index)) return Status();
  const Result<std::string> act = ctx.attrs().get_string("activation", "none");
  if (!act.ok()) return act.status();
  if (ctx.node().op_type == "Linear") {
    if (*act != "none" && *act != "relu") {
      return ctx.error("a residual input needs activation 'none' or 'relu', got '", *act,
                       "' (Y = act(X.W + bias + residual), the ReLU after the add)");
    }
  } else if (*act != "none") {
    return ctx.error("a residual input needs activation 'none', got '", *act,
                     "' (Y = X.W + bias + residual has no activation)");
  }
  if (ctx.input_dtype(index) != dtype) {
    return ctx.error("residual must be ", dtype_name(dtype), " like the output, got ",
                     dtype_name(ctx.input_dtype(index)));
  }
  if (!ctx.input_has_shape(0)) return Status();
  SymShape expected = ctx.input_shape(0);
  if (expected.empty()) return ctx.error("X must have rank >= 1");
  expected.back() = n;
  bool same =
      ctx.input_has_shape(index) && ctx.input_rank(index) == static_cast<int>(expected.size());
  for (size_t i = 0; same && i < expected.size(); ++i) {
    same = ctx.input_shape(index)[i].same_as(expected[i]);
  }
  if (!same) {
    return ctx.error("residual must have the output's shape ", sym_shape_to_string(expected),
                     " (no broadcasting), got ",
                     ctx.input_has_shape(index) ? sym_shape_to_string(ctx.input_shape(index))
                                                : std::string("an unknown shape"));
  }
  return Status();
}

}  // namespace vitrt
