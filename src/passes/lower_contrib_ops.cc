// lower_contrib_ops: the com.microsoft ops that ONNX Runtime writes into the models it optimizes
// become standard ops vitrt runs (and fuses again), at import, before the first shape inference:
//
//   SkipLayerNormalization(x, skip, gamma, beta?, bias?)   (onnxruntime.transformers' optimizer,
//     Optimum's ORTOptimizer, sessions saved with optimized_model_filepath)
//       -> s = x + skip (+ bias); LayerNormalization(s, gamma, beta, axis -1, epsilon);
//          output 3 (input_skip_bias_sum) is s
//   SkipSimplifiedLayerNormalization(x, skip, gamma, bias?) -> the same with RMSNormalization
//   SimplifiedLayerNormalization(x, gamma) -> RMSNormalization (axis, epsilon kept)
//   FusedMatMul(A, B; alpha, transA, transB) -> MatMul of the transposed operands, times alpha
//   DynamicQuantizeMatMul(A, B, b_scale, b_zero_point?, bias?)  (quantize_dynamic models saved
//     after ONNX Runtime's graph optimizations)
//       -> DynamicQuantizeLinear(A), MatMulInteger, Cast, Mul(Mul(a_scale, b_scale)), Add(bias):
//          the chain import_dynamic_quant folds into one QuantLinear
//   MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias?)
//       -> MatMulInteger, Cast, Mul(Mul(a_scale, b_scale)), Add(bias)
//
//   BiasGelu(A, B) -> Gelu(A + B);  FastGelu(X, bias?) -> Gelu(X (+ bias), approximate tanh):
//       so that the bias joins the MatMul's Linear and the GELU its epilogue
//
//   Attention, QAttention, MultiHeadAttention -> ai.onnx Attention on rank-3 q, k, v, with
//       the input projection and the masks spelled out (lower_contrib_attention.cc), which
//       lower_onnx_attention lowers after the first shape inference and fuse_attention fuses
//
//   QGemm, QLinearAdd, QLinearMul, QLinearSoftmax, QLinearConcat, QLinearSigmoid,
//   QLinearLeakyRelu, QLinearGlobalAveragePool, QLinearAveragePool, QLinearReduceMean
//       (quantize_static in QOperator format) -> their QDQ form (lower_contrib_qlinear.cc)
//
// (Gelu and QuickGelu of the same domain have kernels of their own, and fuse as they are.) The
// statistics outputs of the normalizations (mean, inv_std_var: training only) and FusedMatMul's
// batch transposes are refused with the node's name, as are transposes of an operand whose rank
// the file does not give.
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/lower_contrib_attention.h"
#include "passes/lower_contrib_common.h"
#include "passes/lower_contrib_qlinear.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "lower_contrib_ops";

Status lower_skip_norm(Graph& g, NodeId id, bool simplified,
                       const std::vector<std::vector<NodeId>>& uses) {
  const Node node = g.nodes[id];
  if (contrib_output_used(g, node, 1, uses) || contrib_output_used(g, node, 2, uses)) {
    return unsupported(node.describe(),
                       ": its mean / inv_std_var outputs (training statistics) are not supported");
  }
  if (!node.has_input(0) || !node.has_input(1) || !node.has_input(2)) {
    return invalid_model(node.describe(), ": needs input, skip and gamma");
  }
  LoweringEmitter b(g, node.name);
  ValueId s = b.op("Add", "/skip_add", {node.inputs[0], node.inputs[1]});
  const int bias_index = simplified ? 3 : 4;
  if (node.has_input(bias_index)) s = b.op("Add", "/bias_add", {s, node.inputs[bias_index]});
  Attributes a;
  a.set_int("axis", -1);
  VITRT_ASSIGN_OR_RETURN(float epsilon, node.attrs.get_float("epsilon", 1e-12f));
  a.set_float("epsilon", epsilon);
  std::vector<ValueId> in = {s, node.inputs[2]};
  if (!simplified && node.has_input(3)) in.push_back(node.inputs[3]);
  const ValueId y =
      b.op(simplified ? "RMSNormalization" : "LayerNormalization", "/norm", std::move(in), a);
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], y);
  if (node.outputs.size() > 3 && node.outputs[3] != kNoValue) replace_uses(g, node.outputs[3], s);
  return Status::ok_status();
}

Status lower_simplified_norm(Graph& g, NodeId id, const std::vector<std::vector<NodeId>>& uses) {
  const Node node = g.nodes[id];
  if (contrib_output_used(g, node, 1, uses)) {
    return unsupported(node.describe(), ": its inv_std_var output (training) is not supported");
  }
  if (!node.has_input(0) || !node.has_input(1)) {
    return invalid_model(node.describe(), ": needs X and scale");
  }
  LoweringEmitter b(g, node.name);
  Attributes a;
  VITRT_ASSIGN_OR_RETURN(int64_t axis, node.attrs.get_int("axis", -1));
  VITRT_ASSIGN_OR_RETURN(float epsilon, node.attrs.get_float("epsilon", 1e-5f));
  a.set_int("axis", axis);
  a.set_float("epsilon", epsilon);
  const ValueId y = b.op("RMSNormalization", "/norm", {node.inputs[0], node.inputs[1]}, a);
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], y);
  return Status::ok_status();
}

Status lower_fused_matmul(Graph& g, NodeId id) {
  const Node node = g.nodes[id];
  if (!node.has_input(0) || !node.has_input(1)) {
    return invalid_model(node.describe(), ": needs A and B");
  }
  for (const char* name : {"transBatchA", "transBatchB"}) {
    VITRT_ASSIGN_OR_RETURN(int64_t v, node.attrs.get_int(name, 0));
    if (v != 0) return unsupported(node.describe(), ": ", name, " = 1 is not supported");
  }
  LoweringEmitter b(g, node.name);
  std::vector<ValueId> operands = {node.inputs[0], node.inputs[1]};
  const char* trans[2] = {"transA", "transB"};
  for (int i = 0; i < 2; ++i) {
    VITRT_ASSIGN_OR_RETURN(int64_t t, node.attrs.get_int(trans[i], 0));
    if (t == 0) continue;
    const int64_t rank = known_rank(g, operands[i]);
    if (rank < 2) {
      return unsupported(node.describe(), ": ", trans[i],
                         " = 1 on an operand whose rank the model does not give (or below 2)");
    }
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < rank; ++d) perm.push_back(d);
    std::swap(perm[rank - 2], perm[rank - 1]);
    Attributes a;
    a.set_ints("perm", perm);
    operands[i] = b.op("Transpose", i == 0 ? "/a_t" : "/b_t", {operands[i]}, a);
  }
  ValueId y = b.op("MatMul", "/matmul", operands);
  VITRT_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 1.0f));
  if (alpha != 1.0f) {
    y = b.op(
        "Mul", "/alpha",
        {y, add_constant_value(g, node.name + "/alpha_value", Tensor::from_float({alpha}, true))});
  }
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], y);
  return Status::ok_status();
}

Status lower_dynamic_quantize_matmul(Graph& g, NodeId id) {
  const Node node = g.nodes[id];
  if (!node.has_input(0) || !node.has_input(1) || !node.has_input(2)) {
    return invalid_model(node.describe(), ": needs A, B and b_scale");
  }
  LoweringEmitter b(g, node.name);
  const NodeId dql =
      add_node(g, "", "DynamicQuantizeLinear", node.name + "/quantize_a", {node.inputs[0]},
               {node.name + "/a_q", node.name + "/a_scale", node.name + "/a_zp"});
  const std::vector<ValueId> q = g.nodes[dql].outputs;
  const ValueId y = integer_chain(b, q[0], node.inputs[1], q[2], input_or_none(node, 3), q[1],
                                  node.inputs[2], input_or_none(node, 4));
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], y);
  return Status::ok_status();
}

Status lower_matmul_integer_to_float(Graph& g, NodeId id) {
  const Node node = g.nodes[id];
  for (int i = 0; i < 4; ++i) {
    if (!node.has_input(i)) {
      return invalid_model(node.describe(), ": needs A, B, a_scale and b_scale");
    }
  }
  LoweringEmitter b(g, node.name);
  const ValueId y =
      integer_chain(b, node.inputs[0], node.inputs[1], input_or_none(node, 4),
                    input_or_none(node, 5), node.inputs[2], node.inputs[3], input_or_none(node, 6));
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], y);
  return Status::ok_status();
}

// QAttention(input, weight, bias, input_scale, weight_scale, mask_index?, input_zero_point?,
// weight_zero_point?, past?): the input projection as the integer chain, then Attention's
// lowering on its output.
Status lower_qattention(Graph& g, NodeId id, const std::vector<std::vector<NodeId>>& uses) {
  const Node node = g.nodes[id];
  for (int i = 0; i < 5; ++i) {
    if (!node.has_input(i)) {
      return invalid_model(node.describe(),
                           ": needs input, weight, bias, input_scale and weight_scale");
    }
  }
  LoweringEmitter b(g, node.name);
  const ValueId projection =
      integer_chain(b, node.inputs[0], node.inputs[1], input_or_none(node, 6),
                    input_or_none(node, 7), node.inputs[3], node.inputs[4], node.inputs[2]);
  return lower_contrib_attention(g, id, uses, projection);
}

// BiasGelu(A, B) = gelu(A + B) (erf); FastGelu(X, bias?) = the tanh form of gelu(X + bias).
Status lower_bias_gelu(Graph& g, NodeId id, bool tanh_form) {
  const Node node = g.nodes[id];
  LoweringEmitter b(g, node.name);
  ValueId x = node.inputs[0];
  if (node.has_input(1)) x = b.op("Add", "/bias", {x, node.inputs[1]});
  Attributes a;
  a.set_string("approximate", tanh_form ? "tanh" : "none");
  const ValueId y = b.op("Gelu", "/gelu", {x}, a);
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], y);
  return Status::ok_status();
}

}  // namespace

bool contrib_output_used(const Graph& g, const Node& n, size_t output,
                         const std::vector<std::vector<NodeId>>& uses) {
  if (n.outputs.size() <= output || n.outputs[output] == kNoValue) return false;
  const ValueId v = n.outputs[output];
  return !uses[v].empty() || is_graph_output(g, v);
}

ValueId input_or_none(const Node& n, int i) {
  return n.has_input(i) ? n.inputs[i] : kNoValue;
}

int64_t known_rank(const Graph& g, ValueId v) {
  for (int hops = 0; hops < 8 && v != kNoValue; ++hops) {
    const Value& value = g.values[v];
    if (value.is_constant()) return value.constant.rank();
    if (value.has_shape) return static_cast<int64_t>(value.shape.size());
    if (!value.shape_hint.empty()) return static_cast<int64_t>(value.shape_hint.size());
    if (value.producer < 0) return -1;
    const Node& p = g.nodes[value.producer];
    if (!p.domain.empty() || (p.op_type != "Cast" && p.op_type != "Identity") || !p.has_input(0)) {
      return -1;
    }
    v = p.inputs[0];
  }
  return -1;
}

ValueId integer_chain(LoweringEmitter& b, ValueId a, ValueId bq, ValueId a_zp, ValueId b_zp,
                      ValueId a_scale, ValueId b_scale, ValueId bias, float alpha,
                      ValueId int_bias) {
  std::vector<ValueId> in = {a, bq};
  if (a_zp != kNoValue || b_zp != kNoValue) in.push_back(a_zp);
  if (b_zp != kNoValue) in.push_back(b_zp);
  ValueId sums = b.op("MatMulInteger", "/matmul_integer", std::move(in));
  if (int_bias != kNoValue) sums = b.op("Add", "/int_bias", {sums, int_bias});
  Attributes to_float;
  to_float.set_int("to", 1);
  const ValueId f = b.op("Cast", "/cast", {sums}, to_float);
  ValueId scale = b.op("Mul", "/scales", {a_scale, b_scale});
  if (alpha != 1.0f) scale = b.op("Mul", "/alpha", {scale, b.scalar("/alpha_value", alpha)});
  ValueId y = b.op("Mul", "/scaled", {f, scale});
  if (bias != kNoValue) y = b.op("Add", "/bias", {y, bias});
  return y;
}

Status lower_contrib_ops(Graph& graph, PassContext& ctx) {
  const size_t count = graph.nodes.size();
  const std::vector<std::vector<NodeId>> uses = graph.consumers();
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    const Node& n = graph.nodes[id];
    if (n.dead || n.domain != "com.microsoft") continue;
    const std::string name = n.name, type = n.op_type;
    if (n.outputs.empty() || n.outputs[0] == kNoValue) {
      return invalid_model(n.describe(), ": has no output");
    }
    Status s = Status::ok_status();
    if (type == "SkipLayerNormalization" || type == "SkipSimplifiedLayerNormalization") {
      s = lower_skip_norm(graph, id, type == "SkipSimplifiedLayerNormalization", uses);
    } else if (type == "SimplifiedLayerNormalization") {
      s = lower_simplified_norm(graph, id, uses);
    } else if (type == "FusedMatMul") {
      s = lower_fused_matmul(graph, id);
    } else if (type == "DynamicQuantizeMatMul") {
      s = lower_dynamic_quantize_matmul(graph, id);
    } else if (type == "BiasGelu" || type == "FastGelu") {
      if (n.num_inputs() < 1 || !n.has_input(0)) continue;  // the schema's error, later
      s = lower_bias_gelu(graph, id, type == "FastGelu");
    } else if (type == "MatMulIntegerToFloat") {
      s = lower_matmul_integer_to_float(graph, id);
    } else if (type == "Attention") {
      s = lower_contrib_attention(graph, id, uses);
    } else if (type == "QAttention") {
      s = lower_qattention(graph, id, uses);
    } else if (is_contrib_qlinear(type)) {
      s = lower_contrib_qlinear(graph, id);
    } else if (type == "MultiHeadAttention") {
      s = lower_contrib_multi_head_attention(graph, id, uses);
    } else {
      continue;
    }
    VITRT_RETURN_IF_ERROR(s);
    ctx.applied(kPass, str_cat("com.microsoft.", type, " '", name, "'"), {name});
  }
  return Status::ok_status();
}

}  // namespace vitrt
