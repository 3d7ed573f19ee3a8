// Optimizer pass fold_batch_norm: an inference-mode BatchNormalization is an affine map per
// channel, y = x * s + t with s = scale / sqrt(var + epsilon) and t = B - mean * s (computed in
// float64, rounded once).
//
//   Conv(X, W, b) -> BatchNormalization   ->  Conv(X, W * s[o], b * s + t)
//   (the Conv's output read only by the BatchNormalization; W and b constants)
//   any other BatchNormalization          ->  Add(Mul(X, s), t), s and t shaped [C, 1, ..., 1]
//
// The dynamo exporter keeps BatchNormalization (TorchScript's folds it into the Conv itself):
// folded, a CNN's convolutions carry their BatchNorm, and an unfolded one becomes elementwise ops
// that cancel_layout_transposes can store channels-last. The folded weights differ from the
// unfolded product by rounding only (about one ulp of each weight).
#include <cmath>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fold_batch_norm";

// A 1-D float32 constant of n elements (n < 0: any), as doubles; nullopt otherwise.
std::optional<std::vector<double>> vector_constant(const Graph& graph, ValueId v, int64_t n) {
  if (v == kNoValue || !graph.values[v].is_constant()) return std::nullopt;
  const Tensor& t = graph.values[v].constant;
  if (t.dtype() != DType::kFloat32 || t.rank() != 1 || (n >= 0 && t.numel() != n)) {
    return std::nullopt;
  }
  return std::vector<double>(t.data<float>(), t.data<float>() + t.numel());
}

Tensor float_tensor(const std::vector<double>& v, std::vector<int64_t> shape) {
  Tensor t = Tensor::empty(DType::kFloat32, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) t.data<float>()[i] = static_cast<float>(v[i]);
  return t;
}

// Why `bn` cannot be folded (empty when it can), filling s and t.
std::string affine_of(const Graph& graph, const Uses& uses, const Node& bn, std::vector<double>* s,
                      std::vector<double>* t) {
  if (bn.num_inputs() != 5) return "it does not have the 5 inputs X, scale, B, mean, var";
  Result<int64_t> training = bn.attrs.get_int("training_mode", 0);
  if (!training.ok() || *training != 0) return "training_mode is set";
  for (size_t i = 1; i < bn.outputs.size(); ++i) {
    if (bn.outputs[i] != kNoValue &&
        (!uses.of(bn.outputs[i]).empty() || is_graph_output(graph, bn.outputs[i]))) {
      return "its running mean or variance output is read";
    }
  }
  Result<float> epsilon = bn.attrs.get_float("epsilon", 1e-5f);
  if (!epsilon.ok()) return epsilon.status().message();
  const auto scale = vector_constant(graph, bn.inputs[1], -1);
  if (!scale) return "scale is not a constant 1-D float32 tensor";
  const int64_t c = static_cast<int64_t>(scale->size());
  const auto bias = vector_constant(graph, bn.inputs[2], c);
  const auto mean = vector_constant(graph, bn.inputs[3], c);
  const auto var = vector_constant(graph, bn.inputs[4], c);
  if (!bias || !mean || !var) return str_cat("B, mean or var is not a constant float32 [", c, "]");
  const Value& x = graph.values[bn.inputs[0]];
  if (!x.has_shape || x.shape.size() < 2 || !x.shape[1].same_as(Dim(c))) {
    return str_cat("X is not [N, ", c, ", ...] with a known rank");
  }
  s->resize(c);
  t->resize(c);
  for (int64_t i = 0; i < c; ++i) {
    const double v = (*var)[i] + static_cast<double>(*epsilon);
    if (!(v > 0.0) || !std::isfinite(v))
      return str_cat("var + epsilon of channel ", i, " is not positive");
    (*s)[i] = (*scale)[i] / std::sqrt(v);
    (*t)[i] = (*bias)[i] - (*mean)[i] * (*s)[i];
  }
  return {};
}

// The Conv reading nothing but constants besides X whose output only `bn` reads, or nullptr.
Node* foldable_conv(Graph& graph, const Uses& uses, const Node& bn, int64_t c) {
  Node* conv = producer_of(graph, bn.inputs[0]);
  if (conv == nullptr || !is_onnx_op(*conv, "Conv") || !uses.only_used_by_one(conv->outputs[0])) {
    return nullptr;
  }
  if (conv->num_inputs() < 2 || !graph.values[conv->inputs[1]].is_constant()) return nullptr;
  const Tensor& w = graph.values[conv->inputs[1]].constant;
  if (w.dtype() != DType::kFloat32 || w.rank() < 3 || w.dim(0) != c) return nullptr;
  if (conv->has_input(2) && !vector_constant(graph, conv->inputs[2], c)) return nullptr;
  return conv;
}

}  // namespace

Status fold_batch_norm(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    if (graph.nodes[id].dead || !is_onnx_op(graph.nodes[id], "BatchNormalization")) continue;
    std::vector<double> s, t;
    const std::string why = affine_of(graph, uses, graph.nodes[id], &s, &t);
    if (!why.empty()) {
      ctx.near_miss(kPass, graph.nodes[id].describe(), why);
      continue;
    }
    const int64_t c = static_cast<int64_t>(s.size());
    const std::string name = graph.nodes[id].name;
    const ValueId y = graph.nodes[id].outputs[0];
    if (Node* conv = foldable_conv(graph, uses, graph.nodes[id], c)) {
      const Tensor& w = graph.values[conv->inputs[1]].constant;
      Tensor folded = Tensor::empty(DType::kFloat32, w.shape());
      const int64_t per = w.numel() / c;
      for (int64_t o = 0; o < c; ++o) {
        for (int64_t i = 0; i < per; ++i) {
          folded.data<float>()[o * per + i] =
              static_cast<float>(w.data<float>()[o * per + i] * s[o]);
        }
      }
      std::vector<double> bias(t);
      if (conv->has_input(2)) {
        const auto b = vector_constant(graph, conv->inputs[2], c);
        for (int64_t o = 0; o < c; ++o) bias[o] += (*b)[o] * s[o];
      }
      const std::string conv_name = conv->name;
      const ValueId conv_out = conv->outputs[0];
      const std::string wname = graph.values[conv->inputs[1]].name;
      const NodeId conv_id = static_cast<NodeId>(conv - graph.nodes.data());
      const ValueId wv = add_constant_value(graph, wname + "_bn", std::move(folded));
      const ValueId bv = add_constant_value(graph, name + "_bias", float_tensor(bias, {c}));
      Node& cn = graph.nodes[conv_id];
      cn.inputs.resize(3, kNoValue);
      cn.inputs[1] = wv;
      cn.inputs[2] = bv;
      remove_nodes(graph, {id});
      take_over(graph, y, conv_out);
      ctx.applied(kPass, str_cat("BatchNormalization '", name, "' into Conv '", conv_name, "'"),
                  {name});
    } else {
      const ValueId x = graph.nodes[id].inputs[0];
      std::vector<int64_t> shape(graph.values[x].shape.size() - 1, 1);
      shape[0] = c;
      const ValueId sv = add_constant_value(graph, name + "_scale", float_tensor(s, shape));
      const ValueId tv = add_constant_value(graph, name + "_shift", float_tensor(t, shape));
      const NodeId mul = add_node(graph, "", "Mul", name + "/Mul", {x, sv}, {name + "_scaled"});
      const NodeId add = add_node(graph, "", "Add", name + "/Add",
                                  {graph.nodes[mul].outputs[0], tv}, {name + "_shifted"});
      remove_nodes(graph, {id});
      take_over(graph, y, graph.nodes[add].outputs[0]);
      ctx.applied(kPass, str_cat("BatchNormalization '", name, "' -> Mul + Add"), {name});
    }
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
