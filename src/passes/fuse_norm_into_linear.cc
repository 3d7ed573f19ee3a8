// Optimizer pass fuse_norm_into_linear (not for CPU plans): a LayerNormalization whose only
// reader is a vitrt.Linear becomes that Linear's prologue (inputs 4 and 5, norm_epsilon), so
// the CUDA backend may normalize each row inside its GEMM kernel instead of in a kernel of its
// own. Every pre-norm transformer block has two: LayerNorm -> qkv and LayerNorm -> fc1, and a
// pooled classifier one more, the final norm -> head. At batch 1 a LayerNorm is a launch of a few
// microseconds; the pooled class token's norm2 -> fc1 and final norm -> head, on one row, run
// in CUDA's few-rows kernel (Linear mode 7, cuda/gemv_linear.cu), which normalizes the row it
// multiplies. Where that kernel does not pay (many rows, fp32 plans, shapes it does not take)
// the CUDA Linear runs the LayerNorm kernel into scratch and then its GEMM, the plan's old two
// steps; the build's tactic search times both.
//
// It runs after select_rows_early (a class token's Gather has moved before the norm, which
// then normalizes one row) and before assign_precision. Not for quantized builds: there the
// LayerNorm writes the codes its QuantLinear reads (fuse_quant_producers).
//
// Preconditions, each reported as a near miss when a LayerNormalization feeds a Linear without
// meeting it: the norm runs over the last axis, has a constant float32 scale (and bias) and no
// Mean / InvStdDev output anyone reads; its output is read by that Linear alone, as X, and is
// no graph output; the Linear has no residual and no prologue yet and computes in fp32 (CPU
// bf16 plans mark compute_precision; CUDA plans never do).
#include "passes/graph_rewrite.h"
#include "passes/pass.h"
#include "passes/residual_norm.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_norm_into_linear";

bool is_linear(const Node& node) {
  return !node.dead && node.domain == "vitrt" && node.op_type == "Linear";
}

bool float_vector_constant(const Graph& graph, ValueId v, int64_t k) {
  const Tensor* t = constant_of(graph, v);
  return t != nullptr && t->dtype() == DType::kFloat32 && t->rank() == 1 && t->dim(0) == k;
}

// Why LayerNormalization `ln` cannot become the prologue of `linear`, or "" when it can.
std::string decline_reason(const Graph& graph, const Uses& uses, const Node& ln,
                           const Node& linear) {
  const ValueId y = ln.outputs[0];
  if (is_graph_output(graph, y)) return "the LayerNorm output is a graph output";
  if (uses.of(y).size() != 1) {
    return str_cat("its output is read by ", uses.of(y).size(),
                   " nodes (the GEMM kernel would normalize once for each)");
  }
  if (linear.inputs[0] != y || linear.inputs[1] == y ||
      (linear.has_input(2) && linear.inputs[2] == y)) {
    return str_cat("Linear '", linear.name, "' reads it as another input than X");
  }
  if (linear.has_input(3)) return str_cat("Linear '", linear.name, "' adds a residual");
  if (linear.has_input(4)) return str_cat("Linear '", linear.name, "' has a prologue already");
  Result<std::string> precision = linear.attrs.get_string("compute_precision", "fp32");
  if (!precision.ok() || *precision != "fp32") {
    return str_cat("Linear '", linear.name, "' computes in ",
                   precision.ok() ? *precision : std::string("?"));
  }
  // The LayerNorm's own form (float32, the last axis alone, no Mean / InvStdDev read): as an
  // AddLayerNorm needs it.
  if (std::string why = residual_norm_problem(graph, uses, ln, nullptr); !why.empty()) return why;
  const int64_t k = graph.values[ln.inputs[0]].shape.back().value();
  if (!float_vector_constant(graph, ln.inputs[1], k) ||
      (ln.has_input(2) && !float_vector_constant(graph, ln.inputs[2], k))) {
    return str_cat("its scale and bias are not constant float32 [", k, "]");
  }
  return "";
}

}  // namespace

Status fuse_norm_into_linear(Graph& graph, PassContext& ctx) {
  if (ctx.device() == "cpu" || ctx.quantized_build()) return Status::ok_status();
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId ln_id = 0; ln_id < count; ++ln_id) {
    const Node& ln = graph.nodes[ln_id];
    if (ln.dead || !is_onnx_op(ln, "LayerNormalization") || ln.outputs.empty() ||
        !ln.has_input(0) || !ln.has_input(1)) {
      continue;
    }
    const Node* reader = nullptr;
    for (NodeId r : uses.of(ln.outputs[0])) {
      if (is_linear(graph.nodes[r])) reader = &graph.nodes[r];
    }
    if (reader == nullptr) continue;
    const std::string why = decline_reason(graph, uses, ln, *reader);
    if (!why.empty()) {
      ctx.near_miss(kPass, str_cat("LayerNormalization '", ln.name, "'"), why);
      continue;
    }
    Result<float> eps = ln.attrs.get_float("epsilon", 1e-5f);
    if (!eps.ok()) return eps.status().with_context(ln.describe());
    const NodeId linear_id = static_cast<NodeId>(reader - graph.nodes.data());
    const ValueId x = ln.inputs[0], scale = ln.inputs[1];
    const ValueId shift = ln.has_input(2) ? ln.inputs[2] : kNoValue;
    const std::string ln_name = ln.name;
    uses.remove_node(graph, ln_id);
    Node& linear = graph.nodes[linear_id];
    const std::vector<ValueId> old_inputs = linear.inputs;
    linear.inputs[0] = x;
    linear.inputs.resize(4, kNoValue);  // the bias (maybe omitted) and no residual
    linear.inputs.push_back(scale);
    if (shift != kNoValue) linear.inputs.push_back(shift);
    linear.attrs.set_float("norm_epsilon", *eps);
    uses.inputs_changed(linear_id, old_inputs);
    ctx.applied(kPass, str_cat("Linear '", linear.name, "' normalizes its rows"), {ln_name});
  }
  return Status::ok_status();
}

}  // namespace vitrt
