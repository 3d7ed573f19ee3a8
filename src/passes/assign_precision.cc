// Optimizer pass assign_precision: marks the nodes that compute in the build's reduced
// precision (see pass.h). For bf16 that is every vitrt.Linear: the GEMMs hold nearly all of a
// ViT's arithmetic, and rounding their inputs to bf16 with fp32 accumulation keeps outputs
// within cosine 0.9999 of fp32 on every golden fixture, while normalisation, softmax and the
// residual stream, where bf16's 8-bit mantissa would accumulate error, stay fp32.
#include "passes/pass.h"

namespace vitrt {

Status assign_precision(Graph& graph, PassContext& ctx) {
  const std::string& precision = ctx.precision();
  if (precision == "fp32") return Status::ok_status();
  if (precision != "bf16") {
    return invalid_argument("assign_precision: precision '", precision,
                            "' is not one of fp32, bf16");
  }
  for (Node& node : graph.nodes) {
    if (node.dead || node.domain != "vitrt" || node.op_type != "Linear") continue;
    Result<std::string> current = node.attrs.get_string("compute_precision", "fp32");
    if (current.ok() && *current == precision) continue;
    node.attrs.set_string("compute_precision", precision);
    ctx.applied("assign_precision", str_cat("Linear '", node.name, "' computes in ", precision));
  }
  return Status::ok_status();
}

}  // namespace vitrt
