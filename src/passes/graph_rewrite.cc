// Pattern-matching and rewriting tools shared by the optimizer passes.
#include "passes/graph_rewrite.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "ir/ops/shape_rules.h"
#include "vitrt/status.h"

namespace vitrt {

const Node* producer_of(const Graph& graph, ValueId v) {
  if (v == kNoValue) return nullptr;
  const NodeId p = graph.values[v].producer;
  if (p < 0 || graph.nodes[p].dead) return nullptr;
  return &graph.nodes[p];
}

Node* producer_of(Graph& graph, ValueId v) {
  return const_cast<Node*>(producer_of(static_cast<const Graph&>(graph), v));
}

bool is_onnx_op(const Node& node, const char* op_type) {
  return node.op_type == op_type && (node.domain.empty() || node.domain == "ai.onnx");
}

const Node* producer_if(const Graph& graph, ValueId v, const char* op_type) {
  const Node* p = producer_of(graph, v);
  return p != nullptr && is_onnx_op(*p, op_type) ? p : nullptr;
}

bool is_graph_output(const Graph& graph, ValueId v) {
  return std::find(graph.outputs.begin(), graph.outputs.end(), v) != graph.outputs.end();
}

bool is_graph_input(const Graph& graph, ValueId v) {
  return std::find(graph.inputs.begin(), graph.inputs.end(), v) != graph.inputs.end();
}

std::optional<std::vector<int>> transpose_perm_of(const Graph& graph, const Node& node) {
  const Value& in = graph.values[node.inputs[0]];
  if (!in.has_shape) return std::nullopt;
  auto attr = node.attrs.get_ints("perm", {});
  if (!attr.ok()) return std::nullopt;
  auto perm = transpose_perm(*attr, static_cast<int>(in.shape.size()));
  if (!perm.ok()) return std::nullopt;
  return *perm;
}

const Tensor* constant_of(const Graph& graph, ValueId v) {
  const Value& value = graph.values[v];
  return value.is_constant() ? &value.constant : nullptr;
}

void become_int8_quant_linear(Graph& graph, NodeId id, const std::string& base, ValueId x,
                              Tensor w_q, Tensor w_scale, const std::optional<Tensor>& bias) {
  std::vector<ValueId> inputs = {
      x, graph.add_constant(graph.unique_value_name(base + "_w_q"), std::move(w_q)),
      graph.add_constant(graph.unique_value_name(base + "_w_scale"), std::move(w_scale))};
  if (bias) inputs.push_back(graph.add_constant(graph.unique_value_name(base + "_bias"), *bias));
  Node& node = graph.nodes[id];
  node.domain = "vitrt";
  node.op_type = "QuantLinear";
  node.inputs = std::move(inputs);
  node.attrs = Attributes();
  node.attrs.set_string("format", "int8");
  node.attrs.set_string("activation", "none");
}

std::optional<double> scalar_constant(const Graph& graph, ValueId v) {
  if (v == kNoValue || !graph.values[v].is_constant()) return std::nullopt;
  const Tensor& t = graph.values[v].constant;
  if (t.numel() != 1) return std::nullopt;
  switch (t.dtype()) {
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt32:
    case DType::kInt64:
      return t.element_as_double(0);
    default:
      return std::nullopt;
  }
}

std::optional<std::vector<int64_t>> int_constant(const Graph& graph, ValueId v) {
  if (v == kNoValue || !graph.values[v].is_constant()) return std::nullopt;
  const Tensor& t = graph.values[v].constant;
  if (t.dtype() != DType::kInt64 && t.dtype() != DType::kInt32) return std::nullopt;
  return t.to_int64_vector();
}

std::optional<Tensor> constant_before_folding(const Graph& graph, ValueId v) {
  for (int steps = 0; steps < 8 && v != kNoValue; ++steps) {
    if (graph.values[v].is_constant()) return graph.values[v].constant;
    const NodeId p = graph.values[v].producer;
    if (p < 0) return std::nullopt;
    const Node& n = graph.nodes[p];
    if (!n.domain.empty()) return std::nullopt;
    if (n.op_type == "Constant") {
      Result<Tensor> t = n.attrs.require_tensor("value");
      if (t.ok()) return *t;
      return std::nullopt;
    }
    if (n.op_type != "Identity") return std::nullopt;
    v = n.inputs[0];
  }
  return std::nullopt;
}

const std::vector<NodeId>& Uses::of(ValueId v) const {
  static const std::vector<NodeId> kNone;
  return v >= 0 && static_cast<size_t>(v) < consumers_.size() ? consumers_[v] : kNone;
}

bool Uses::only_used_by_one(ValueId v) const {
  return of(v).size() == 1 && !is_graph_output(graph_, v);
}

const Node* Uses::single_consumer(ValueId v) const {
  return only_used_by_one(v) ? &graph_.nodes[of(v)[0]] : nullptr;
}

std::vector<NodeId>& Uses::list(ValueId v) {
  if (static_cast<size_t>(v) >= consumers_.size()) consumers_.resize(graph_.values.size());
  return consumers_[v];
}

namespace {

// take_over's first half: `to` takes `from`'s dtype and shape.
void take_type(Graph& graph, ValueId from, ValueId to) {
  Value& target = graph.values[to];
  const Value& source = graph.values[from];
  target.dtype = source.dtype;
  target.has_shape = source.has_shape;
  target.shape = source.shape;
}

// The graph-output half of replace_uses: `to` becomes the output, under `from`'s name.
void replace_graph_output(Graph& graph, ValueId from, ValueId to) {
  bool output = false;
  for (ValueId& out : graph.outputs) {
    if (out == from) {
      out = to;
      output = true;
    }
  }
  if (output) {
    // The model's output keeps its name; the replaced value takes a fresh one.
    std::string name = graph.values[from].name;
    graph.rename_value(from, graph.unique_value_name(name + "_replaced"));
    graph.rename_value(to, std::move(name));
  }
}

}  // namespace

void Uses::replace(Graph& graph, ValueId from, ValueId to) {
  if (from == to) return;
  std::vector<NodeId> readers = std::move(list(from));
  list(from).clear();
  std::sort(readers.begin(), readers.end());
  readers.erase(std::unique(readers.begin(), readers.end()), readers.end());
  for (NodeId id : readers) {
    for (ValueId& in : graph.nodes[id].inputs) {
      if (in == from) {
        in = to;
        list(to).push_back(id);
      }
    }
  }
  replace_graph_output(graph, from, to);
}

void Uses::take_over(Graph& graph, ValueId from, ValueId to) {
  take_type(graph, from, to);
  replace(graph, from, to);
}

void Uses::remove_node(Graph& graph, NodeId id) {
  if (graph.nodes[id].dead) return;
  graph.nodes[id].dead = true;
  inputs_changed(id, graph.nodes[id].inputs);
}

void Uses::inputs_changed(NodeId id, const std::vector<ValueId>& old_inputs) {
  for (ValueId v : old_inputs) {
    if (v == kNoValue) continue;
    std::vector<NodeId>& readers = list(v);
    auto it = std::find(readers.begin(), readers.end(), id);
    if (it != readers.end()) readers.erase(it);
  }
  const Node& node = graph_.nodes[id];
  if (node.dead) return;
  for (ValueId v : node.inputs) {
    if (v != kNoValue) list(v).push_back(id);
  }
}

Status Uses::verify() const {
  std::vector<std::vector<NodeId>> fresh = graph_.consumers();
  for (size_t v = 0; v < fresh.size(); ++v) {
    std::vector<NodeId> kept = of(static_cast<ValueId>(v));
    std::sort(kept.begin(), kept.end());
    std::sort(fresh[v].begin(), fresh[v].end());
    if (kept != fresh[v]) {
      return internal_error("the consumer list of '", graph_.values[v].name, "' kept through ",
                            "the pass's rewrites (", kept.size(), " readers) differs from the ",
                            "graph's (", fresh[v].size(), ")");
    }
  }
  return Status::ok_status();
}

void replace_uses(Graph& graph, ValueId from, ValueId to) {
  for (Node& node : graph.nodes) {
    if (node.dead) continue;
    for (ValueId& in : node.inputs) {
      if (in == from) in = to;
    }
  }
  replace_graph_output(graph, from, to);
}

void take_over(Graph& graph, ValueId from, ValueId to) {
  take_type(graph, from, to);
  replace_uses(graph, from, to);
}

NodeId add_node(Graph& graph, const std::string& domain, const std::string& op_type,
                const std::string& name, std::vector<ValueId> inputs,
                const std::vector<std::string>& output_names, Attributes attrs) {
  Node node;
  node.name = graph.unique_node_name(name);
  node.op_type = op_type;
  node.domain = domain;
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  for (const std::string& out : output_names) {
    Value v;
    v.name = graph.unique_value_name(out);
    node.outputs.push_back(graph.add_value(std::move(v)));
  }
  return graph.add_node(std::move(node));
}

ValueId LoweringEmitter::op(const char* type, const std::string& suffix, std::vector<ValueId> in,
                            Attributes a) {
  return op_outputs(type, suffix, std::move(in), 1, std::move(a))[0];
}

std::vector<ValueId> LoweringEmitter::op_outputs(const char* type, const std::string& suffix,
                                                 std::vector<ValueId> in, int outputs,
                                                 Attributes a) {
  std::vector<std::string> names;
  for (int i = 0; i < outputs; ++i) {
    names.push_back(outputs == 1 ? base + suffix : base + suffix + "_" + std::to_string(i));
  }
  const NodeId id = add_node(graph, "", type, base + suffix, std::move(in), names, std::move(a));
  return graph.nodes[id].outputs;
}

ValueId LoweringEmitter::int64s(const std::string& suffix, const std::vector<int64_t>& v,
                                bool scalar) {
  return add_constant_value(graph, base + suffix, Tensor::from_int64(v, scalar));
}

ValueId LoweringEmitter::scalar(const std::string& suffix, float v) {
  return add_constant_value(graph, base + suffix, Tensor::from_float({v}, true));
}

ValueId LoweringEmitter::transpose(ValueId x, std::vector<int64_t> perm,
                                   const std::string& suffix) {
  Attributes a;
  a.set_ints("perm", std::move(perm));
  return op("Transpose", suffix, {x}, std::move(a));
}

ValueId LoweringEmitter::with_axes(const char* type, const std::string& suffix, ValueId x,
                                   const std::vector<int64_t>& axes, Attributes a) {
  if (opset >= 13) return op(type, suffix, {x, int64s(suffix + "_axes", axes)}, std::move(a));
  a.set_ints("axes", axes);
  return op(type, suffix, {x}, std::move(a));
}

std::vector<ValueId> LoweringEmitter::split(ValueId x, int64_t axis,
                                            const std::vector<int64_t>& sizes,
                                            const std::string& suffix) {
  Attributes a;
  a.set_int("axis", axis);
  std::vector<ValueId> in = {x};
  if (opset >= 13) {
    in.push_back(int64s(suffix + "_sizes", sizes));
  } else {
    a.set_ints("split", sizes);
  }
  return op_outputs("Split", suffix, std::move(in), static_cast<int>(sizes.size()), std::move(a));
}

void remove_nodes(Graph& graph, const std::vector<NodeId>& nodes) {
  for (NodeId id : nodes) graph.nodes[id].dead = true;
}

bool can_replace_uses(const Graph& graph, ValueId from, ValueId to) {
  if (!is_graph_output(graph, from)) return true;
  if (is_graph_output(graph, to)) return false;
  return std::find(graph.inputs.begin(), graph.inputs.end(), to) == graph.inputs.end();
}

ValueId add_constant_value(Graph& graph, const std::string& base, Tensor t) {
  return graph.add_constant(graph.unique_value_name(base), std::move(t));
}

ValueId add_zeros_constant(Graph& graph, const std::string& base, int64_t n) {
  Tensor zeros = Tensor::empty(DType::kFloat32, {n});
  std::fill_n(zeros.data<float>(), n, 0.0f);
  return add_constant_value(graph, base, std::move(zeros));
}

bool same_dims(const SymShape& a, const SymShape& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].same_as(b[i])) return false;
  }
  return true;
}

bool same_sym_shape(const Value& a, const Value& b) {
  return a.has_shape && b.has_shape && same_dims(a.shape, b.shape);
}

std::optional<std::vector<int64_t>> constant_reshape_target(const SymShape& input,
                                                            const std::vector<Dim>& dims) {
  std::vector<int64_t> target;
  int inferred = 0;
  for (const Dim& d : dims) inferred += d.is_static() && d.value() == -1 ? 1 : 0;
  for (size_t i = 0; i < dims.size(); ++i) {
    const Dim& d = dims[i];
    if (d.is_static()) {
      target.push_back(d.value());
    } else if (i < input.size() && input[i].same_as(d)) {
      target.push_back(0);
    } else if (inferred++ == 0) {
      target.push_back(-1);
    } else {
      return std::nullopt;
    }
  }
  return target;
}

namespace {
// The node's constant input i as a tensor, or nullptr (omitted or computed).
const Tensor* qdq_constant(const Graph& graph, const Node& node, int i) {
  return node.has_input(i) ? constant_of(graph, node.inputs[i]) : nullptr;
}
}  // namespace

// `v` as DQ(Q(x)) with one scale and zero point; nullopt with `why` set when it is not.
std::optional<ActivationQuant> match_activation(const Graph& graph, ValueId v, std::string* why) {
  const Node* dq = producer_if(graph, v, "DequantizeLinear");
  if (dq == nullptr) {
    *why = str_cat("the activation '", graph.values[v].name,
                   "' is not quantized (weight-only quantization runs as DequantizeLinear + ",
                   "float product)");
    return std::nullopt;
  }
  const Node* q = producer_if(graph, dq->inputs[0], "QuantizeLinear");
  if (q == nullptr) {
    *why = str_cat(dq->describe(), " does not read a QuantizeLinear");
    return std::nullopt;
  }
  const Tensor* q_scale = qdq_constant(graph, *q, 1);
  const Tensor* dq_scale = qdq_constant(graph, *dq, 1);
  if (q_scale == nullptr || dq_scale == nullptr || q_scale->numel() != 1 ||
      dq_scale->numel() != 1 || q_scale->dtype() != DType::kFloat32 ||
      dq_scale->dtype() != DType::kFloat32) {
    *why =
        str_cat(q->describe(), ": the activation scale is not one constant float32 (per-tensor)");
    return std::nullopt;
  }
  if (q_scale->data<float>()[0] != dq_scale->data<float>()[0]) {
    *why = str_cat(q->describe(), " and ", dq->describe(), " use different scales");
    return std::nullopt;
  }
  const DType qtype = graph.values[q->outputs[0]].dtype;
  if (qtype != DType::kInt8 && qtype != DType::kUInt8 && !dtype_is_float8(qtype)) {
    *why = str_cat(q->describe(), " quantizes to ", dtype_name(qtype),
                   "; QuantLinear takes int8, uint8 or FP8 activations");
    return std::nullopt;
  }
  if (dtype_is_float8(qtype)) {
    const Result<int64_t> saturate = q->attrs.get_int("saturate", 1);
    if (!saturate.ok() || *saturate != 1) {
      *why = str_cat(q->describe(), ": saturate=0 (overflow to NaN / inf) is not fused");
      return std::nullopt;
    }
  }
  const Tensor* q_zp = qdq_constant(graph, *q, 2);
  const Tensor* dq_zp = qdq_constant(graph, *dq, 2);
  if ((q->has_input(2) && q_zp == nullptr) || (dq->has_input(2) && dq_zp == nullptr)) {
    *why = str_cat(q->describe(), ": the zero point is not a constant");
    return std::nullopt;
  }
  const int64_t zp = q_zp ? q_zp->element_as_int64(0) : 0;
  const int64_t dq_zp_value = dq_zp ? dq_zp->element_as_int64(0) : 0;
  if (zp != dq_zp_value || (dq_zp && dq_zp->dtype() != qtype)) {
    *why = str_cat(q->describe(), " and ", dq->describe(), " use different zero points");
    return std::nullopt;
  }
  if (dtype_is_float8(qtype) && ((q_zp && q_zp->element_as_double(0) != 0.0) ||
                                 (dq_zp && dq_zp->element_as_double(0) != 0.0))) {
    *why = str_cat(q->describe(), ": an FP8 zero point other than 0 is not fused");
    return std::nullopt;
  }
  const float scale = q_scale->data<float>()[0];
  if (!(scale > 0.0f) || !std::isfinite(scale)) {
    *why = str_cat(q->describe(), ": scale ", scale, " is not a finite float > 0");
    return std::nullopt;
  }
  const Value& x = graph.values[q->inputs[0]];
  if (x.dtype != DType::kFloat32) {
    *why = str_cat(q->describe(), ": input '", x.name, "' is not float32");
    return std::nullopt;
  }
  ActivationQuant a;
  a.x = q->inputs[0];
  a.q = static_cast<NodeId>(q - graph.nodes.data());
  a.dq = static_cast<NodeId>(dq - graph.nodes.data());
  a.scale = scale;
  a.zero_point = zp;
  a.qmin = qtype == DType::kInt8 ? -128 : 0;
  a.qmax = qtype == DType::kInt8 ? 127 : 255;
  if (qtype == DType::kFloat8E4M3FN) a.kind = kFakeQuantE4M3;
  if (qtype == DType::kFloat8E5M2) a.kind = kFakeQuantE5M2;
  return a;
}

std::string format_scale(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

bool is_reshape_view(const Node& node) {
  return !node.dead && (is_onnx_op(node, "Reshape") || is_onnx_op(node, "Flatten") ||
                        is_onnx_op(node, "Squeeze") || is_onnx_op(node, "Unsqueeze"));
}

std::string epilogue_activation_of(const Graph& graph, const Node& node, std::string* why) {
  if (is_onnx_op(node, "Relu")) return "relu";
  if (is_onnx_op(node, "Clip")) {
    // min and max: constant inputs from opset 11, attributes before.
    std::optional<double> lo, hi;
    if (node.num_inputs() == 3 && node.has_input(1) && node.has_input(2)) {
      lo = scalar_constant(graph, node.inputs[1]);
      hi = scalar_constant(graph, node.inputs[2]);
    } else if (node.num_inputs() == 1) {
      const Result<float> mn = node.attrs.get_float("min", 1.0f);
      const Result<float> mx = node.attrs.get_float("max", 0.0f);
      if (mn.ok() && mx.ok()) {
        lo = *mn;
        hi = *mx;
      }
    }
    if (lo && hi && *lo == 0.0 && *hi == 6.0) return "relu6";
    *why = "a Clip fuses only as ReLU6: constant min 0 and max 6";
    return "";
  }
  if (is_onnx_op(node, "HardSwish")) return "hard_swish";
  if (is_onnx_op(node, "Gelu")) {
    Result<std::string> approx = node.attrs.get_string("approximate", "none");
    if (approx.ok() && *approx == "none") return "gelu";
    if (approx.ok() && *approx == "tanh") return "gelu_tanh";
    *why = "Gelu approximate is neither 'none' nor 'tanh'";
    return "";
  }
  if (node.domain != "com.microsoft") return "";
  if (node.op_type == "Gelu") return "gelu";
  if (node.op_type == "QuickGelu") {
    Result<float> alpha = node.attrs.get_float("alpha", 1.702f);
    if (alpha.ok() && *alpha == 1.702f) return "quick_gelu";
    if (alpha.ok() && *alpha == 1.0f) return "silu";
    *why = str_cat("QuickGelu alpha ", alpha.ok() ? *alpha : 0.0f,
                   " is neither 1.702 (QuickGELU) nor 1 (SiLU), the ones the Linear epilogue "
                   "computes");
    return "";
  }
  return "";
}

}  // namespace vitrt
