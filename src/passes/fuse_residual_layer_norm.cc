// Optimizer pass fuse_residual_layer_norm: Add(a, b) -> LayerNormalization over the last axis
// becomes vitrt.AddLayerNorm, which forms the sum and normalises it in one pass over each row.
// Every pre-norm transformer block has two: the attention and MLP residual adds, each followed
// by the next LayerNorm. The sum usually has other readers (it is the residual stream the next
// block adds to); then it stays available as AddLayerNorm's second output, otherwise that
// output is omitted.
//
// Preconditions: float32; LayerNormalization normalises only the last axis and its mean and
// inverse-std outputs are unused; one Add operand has the sum's full shape (the other
// broadcasts to it); Scale and B are [C] (or constants equivalent to [C]).
//
// Its rewrite also serves fuse_fake_quant_norm (passes/residual_norm.h), which fuses the same
// pattern with a quantized model's Q/DQ pairs in it.
#include <optional>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"
#include "passes/residual_norm.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_residual_layer_norm";

bool same_shape(const Value& a, const Value& b) {
  if (!a.has_shape || !b.has_shape || a.shape.size() != b.shape.size()) return false;
  for (size_t i = 0; i < a.shape.size(); ++i) {
    if (!a.shape[i].same_as(b.shape[i])) return false;
  }
  return true;
}

// The LayerNorm parameter `v` as a [C] input: itself when it is [C], a reshaped copy when it
// is a constant of C elements with leading 1s; nullopt otherwise.
std::optional<ValueId> as_channel_input(Graph& graph, ValueId v, int64_t c,
                                        const std::string& name) {
  const Value& val = graph.values[v];
  if (val.dtype != DType::kFloat32 || !val.has_shape) return std::nullopt;
  if (val.shape.size() == 1 && val.shape[0].is_static() && val.shape[0].value() == c) return v;
  if (!val.is_constant() || val.constant.numel() != c) return std::nullopt;
  auto reshaped = val.constant.reshaped({c});
  if (!reshaped.ok()) return std::nullopt;
  return graph.add_constant(graph.unique_value_name(name), *reshaped);
}

bool output_used(const Graph& graph, const Uses& uses, const Node& node, int i) {
  if (i >= static_cast<int>(node.outputs.size()) || node.outputs[i] == kNoValue) return false;
  return !uses.of(node.outputs[i]).empty() || is_graph_output(graph, node.outputs[i]);
}

}  // namespace

std::string residual_norm_problem(const Graph& graph, const Uses& uses, const Node& ln,
                                  const Node* add) {
  const Value& x = graph.values[ln.inputs[0]];
  if (x.dtype != DType::kFloat32) return str_cat("input is ", dtype_name(x.dtype), ", not float32");
  if (!x.has_shape || x.shape.empty() || !x.shape.back().is_static()) {
    return "the normalized (last) dim is not static";
  }
  const int rank = static_cast<int>(x.shape.size());
  auto axis = ln.attrs.get_int("axis", -1);
  if (!axis.ok() || (*axis != -1 && *axis != rank - 1)) {
    return "LayerNormalization normalises more than the last axis";
  }
  if (output_used(graph, uses, ln, 1) || output_used(graph, uses, ln, 2)) {
    return "the mean or inverse-std output of LayerNormalization is used";
  }
  if (add == nullptr) return {};
  if (add->num_inputs() != 2) return "the Add does not have two inputs";
  const Value& a = graph.values[add->inputs[0]];
  const Value& b = graph.values[add->inputs[1]];
  if (a.dtype != DType::kFloat32 || b.dtype != DType::kFloat32)
    return "an Add input is not float32";
  if (!same_shape(a, x) && !same_shape(b, x)) {
    return "neither Add input has the sum's shape (both broadcast)";
  }
  return {};
}

void fuse_residual_norm(Graph& graph, Uses& uses, PassContext& ctx, const char* pass, NodeId ln_id,
                        NodeId add_id, NodeId fq_id) {
  const Node& ln = graph.nodes[ln_id];
  const std::string where = str_cat("'", ln.name, "'");
  const ValueId normalized = ln.inputs[0];  // the sum, or its fake quantization
  const int64_t c = graph.values[normalized].shape.back().value();
  ValueId sum = kNoValue, a = kNoValue, b = kNoValue;
  if (add_id >= 0) {
    const Node& add = graph.nodes[add_id];
    sum = add.outputs[0];
    // a is the operand with the sum's shape; b may broadcast.
    a = add.inputs[0];
    b = add.inputs[1];
    if (!same_shape(graph.values[a], graph.values[sum])) std::swap(a, b);
  } else {
    a = graph.nodes[fq_id].inputs[0];
  }
  const std::string name = ln.name;
  const ValueId scale_in = ln.inputs[1];
  const ValueId bias_in = ln.has_input(2) ? ln.inputs[2] : kNoValue;
  const ValueId y = ln.outputs[0];
  Result<float> eps = ln.attrs.get_float("epsilon", 1e-5f);
  // Readers besides this LayerNorm (or its FakeQuant): the residual stream. A FakeQuant that
  // others read too stays, reading the sum output.
  const bool keep_fq =
      fq_id >= 0 && (uses.of(normalized).size() > 1 || is_graph_output(graph, normalized));
  const bool keep_sum =
      sum != kNoValue && (uses.of(sum).size() > 1 || is_graph_output(graph, sum) || keep_fq);
  std::optional<ValueId> gamma = as_channel_input(graph, scale_in, c, name + ".scale");
  std::optional<ValueId> beta;
  if (bias_in != kNoValue) beta = as_channel_input(graph, bias_in, c, name + ".bias");
  if (!gamma || (bias_in != kNoValue && !beta)) {
    ctx.near_miss(pass, where, "Scale or B is neither [C] nor a constant of C elements");
    return;
  }
  if (b == kNoValue) b = add_zeros_constant(graph, name + "_zero_addend", c);
  std::vector<ValueId> inputs = {a, b, *gamma};
  if (beta) inputs.push_back(*beta);
  Attributes attrs;
  attrs.set_float("epsilon", eps.ok() ? *eps : 1e-5f);
  std::vector<std::string> absorbed;
  if (add_id >= 0) absorbed.push_back(graph.nodes[add_id].name);
  if (fq_id >= 0) {
    const Node& fq = graph.nodes[fq_id];
    attrs.set_floats("quant_sum", *fq.attrs.get_floats("quant", {}));
    if (!keep_fq) absorbed.push_back(fq.name);
  }
  absorbed.push_back(name);
  std::vector<std::string> outs = {name + "_output"};
  if (keep_sum) outs.push_back(name + "_sum");
  const NodeId fused = add_node(graph, "vitrt", "AddLayerNorm", name + "/AddLayerNorm",
                                std::move(inputs), outs, std::move(attrs));
  std::vector<NodeId> removed = {ln_id};
  if (add_id >= 0) removed.push_back(add_id);
  if (fq_id >= 0 && !keep_fq) removed.push_back(fq_id);
  remove_nodes(graph, removed);
  take_over(graph, y, graph.nodes[fused].outputs[0]);
  if (keep_sum) take_over(graph, sum, graph.nodes[fused].outputs[1]);
  ctx.applied(pass,
              str_cat("AddLayerNorm '", graph.nodes[fused].name, "'",
                      fq_id >= 0 ? " normalizing the fake-quantized sum" : ""),
              absorbed);
  uses.refresh();
}

Status fuse_residual_layer_norm(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    if (graph.nodes[id].dead || !is_onnx_op(graph.nodes[id], "LayerNormalization")) continue;
    const Node& ln = graph.nodes[id];
    const Node* add = producer_if(graph, ln.inputs[0], "Add");
    if (add == nullptr) continue;
    const std::string why = residual_norm_problem(graph, uses, ln, add);
    if (!why.empty()) {
      ctx.near_miss(kPass, str_cat("'", ln.name, "'"), why);
      continue;
    }
    fuse_residual_norm(graph, uses, ctx, kPass, id, static_cast<NodeId>(add - graph.nodes.data()),
                       -1);
  }
  return Status::ok_status();
}

}  // namespace vitrt
