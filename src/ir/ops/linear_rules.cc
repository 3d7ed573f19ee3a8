#include "ir/ops/linear_rules.h"

#include <string>
#include <utility>

namespace vitrt {

Status check_linear_activation(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::string act, ctx.attrs().get_string("activation", "none"));
  if (act != "none" && act != "gelu" && act != "gelu_tanh" && act != "quick_gelu" &&
      act != "relu") {
    return ctx.error("activation '", act,
                     "' is not one of none, gelu, gelu_tanh, quick_gelu, relu");
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

}  // namespace vitrt
