// Optimizer pass fuse_layer_norm: the decomposed LayerNorm that exporters write below opset 17
// (TorchScript at opset 13, timm's and HF's F.layer_norm traced op by op) becomes one ONNX
// LayerNormalization(axis=-1, epsilon):
//
//   mean = ReduceMean(X, last axis, keepdims)        D = Sub(X, mean)
//   var  = ReduceMean(Pow(D, 2) | Mul(D, D), same axis, keepdims)
//   n    = Div(D, Sqrt(Add(var, eps)))  |  Mul(D, Reciprocal(Sqrt(Add(var, eps))))
//   Y    = Add(Mul(n, gamma), beta)     gamma and beta optional, constant, [C] or scalar
//
// Commutative operands match in either order. Every intermediate must have no other reader,
// epsilon must be a constant scalar added to the variance (not to its square root), and the
// affine parameters must broadcast like a [C] vector; otherwise the pattern is left alone and
// reported as a near miss.
//
// Pass fuse_rms_norm (after it): the decomposed RMSNorm (LLaMA-style norms in AIMv2, InternViT
// and other recent encoders; torch exports nn.RMSNorm op by op below opset 23) becomes one ONNX
// RMSNormalization(axis=-1, epsilon):
//
//   ms = ReduceMean(Pow(X, 2) | Mul(X, X), last axis, keepdims)
//   Y  = Div(X, Sqrt(Add(ms, eps)))  |  Mul(X, Reciprocal(Sqrt(Add(ms, eps))))
//        |  Mul(X, Div(1, Sqrt(Add(ms, eps))))  |  Mul(X, Pow(Add(ms, eps), -0.5))
//   Y  = Mul(Y, gamma)                           gamma optional, constant, [C] or scalar
//
// X itself may have other readers (it is usually the residual stream); the intermediates may
// not. A LayerNorm this pass finds unfused (a near miss above) has X - mean in X's place,
// which is an RMSNorm of it, so the match is exact there too.
#include <algorithm>
#include <cmath>
#include <optional>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_layer_norm";

// The distinct live nodes reading `v` (a node reading it twice counts once); nullopt when `v`
// is a graph output, which the fusion could not keep.
std::optional<std::vector<NodeId>> readers(const Graph& graph, const Uses& uses, ValueId v) {
  if (is_graph_output(graph, v)) return std::nullopt;
  std::vector<NodeId> out = uses.of(v);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The single reading node of `v`, or nullptr.
const Node* sole_reader(const Graph& graph, const Uses& uses, ValueId v) {
  auto r = readers(graph, uses, v);
  return r && r->size() == 1 ? &graph.nodes[(*r)[0]] : nullptr;
}

NodeId id_of(const Graph& graph, const Node* node) {
  return static_cast<NodeId>(node - graph.nodes.data());
}

// The input of binary `node` other than `v`, or kNoValue when `node` does not read `v`.
ValueId other_input(const Node& node, ValueId v) {
  if (node.num_inputs() != 2) return kNoValue;
  if (node.inputs[0] == v) return node.inputs[1];
  if (node.inputs[1] == v) return node.inputs[0];
  return kNoValue;
}

// A norm over the channels of an NCHW tensor is matched again after cancel_layout_transposes.
constexpr const char* kChannelsFirstNote =
    " (one over an NCHW tensor's channels is tried again after cancel_layout_transposes, which "
    "may store it channels-last)";

// True when ReduceMean `node` averages only the last axis of a rank-`rank` input and keeps it.
bool reduces_last_axis(const Graph& graph, const Node& node, int rank) {
  auto keep = node.attrs.get_int("keepdims", 1);
  if (!keep.ok() || *keep != 1) return false;
  std::vector<int64_t> axes;
  if (node.has_input(1)) {  // opset 18: axes as an input
    auto c = int_constant(graph, node.inputs[1]);
    if (!c) return false;
    axes = *c;
  } else {
    auto a = node.attrs.get_ints("axes", {});
    if (!a.ok()) return false;
    axes = *a;
  }
  return axes.size() == 1 && (axes[0] == -1 || axes[0] == rank - 1);
}

// A constant that multiplies or adds like a [C] vector over X [..., C]: scalar, [C], or [C]
// with leading 1s of rank <= X's. Returned as float32 [C].
std::optional<Tensor> as_channel_vector(const Graph& graph, ValueId v, int64_t c, int x_rank) {
  if (v == kNoValue || !graph.values[v].is_constant()) return std::nullopt;
  const Tensor& t = graph.values[v].constant;
  if (t.dtype() != DType::kFloat32 || t.rank() > x_rank) return std::nullopt;
  if (t.numel() == 1) {
    Tensor out = Tensor::empty(DType::kFloat32, {c});
    std::fill(out.data<float>(), out.data<float>() + c, t.data<float>()[0]);
    return out;
  }
  if (t.rank() < 1 || t.dim(t.rank() - 1) != c || t.numel() != c) return std::nullopt;
  auto r = t.reshaped({c});
  if (!r.ok()) return std::nullopt;
  return *r;
}

// A matched LayerNorm or RMSNorm (which has no beta).
struct Match {
  std::vector<NodeId> absorbed;
  ValueId x = kNoValue;
  ValueId result = kNoValue;  // the value the fused node's output replaces
  float epsilon = 0.0f;
  std::optional<Tensor> gamma, beta;
};

// The optional affine tail after the normalized value m.result: Mul(gamma), then (with_beta)
// Add(beta), either absent; what it takes joins `chain` and moves m.result.
void match_affine_tail(const Graph& graph, const Uses& uses, Match& m, std::vector<NodeId>& chain,
                       int64_t c, int rank, bool with_beta) {
  const Node* next = sole_reader(graph, uses, m.result);
  if (next != nullptr && is_onnx_op(*next, "Mul")) {
    m.gamma = as_channel_vector(graph, other_input(*next, m.result), c, rank);
    if (m.gamma) {
      chain.push_back(id_of(graph, next));
      m.result = next->outputs[0];
      next = sole_reader(graph, uses, m.result);
    }
  }
  if (with_beta && next != nullptr && is_onnx_op(*next, "Add")) {
    m.beta = as_channel_vector(graph, other_input(*next, m.result), c, rank);
    if (m.beta) {
      chain.push_back(id_of(graph, next));
      m.result = next->outputs[0];
    }
  }
}

// Matches the pattern rooted at ReduceMean `mean_id`. Returns the match, or nullopt with
// `why` set when it looked like a LayerNorm but a precondition failed (empty: not a LayerNorm
// at all).
std::optional<Match> match_at(const Graph& graph, const Uses& uses, NodeId mean_id,
                              std::string* why) {
  const Node& mean = graph.nodes[mean_id];
  Match m;
  m.x = mean.inputs[0];
  const Value& xv = graph.values[m.x];
  // D = Sub(X, mean), which must be the mean's only reader.
  const Node* sub = nullptr;
  for (NodeId r : uses.of(mean.outputs[0])) {
    const Node& n = graph.nodes[r];
    if (is_onnx_op(n, "Sub") && n.inputs[0] == m.x && n.inputs[1] == mean.outputs[0]) sub = &n;
  }
  if (sub == nullptr) return std::nullopt;
  if (sole_reader(graph, uses, mean.outputs[0]) != sub) {
    *why = "the mean is also read outside the LayerNorm";
    return std::nullopt;
  }
  const ValueId d = sub->outputs[0];
  auto d_readers = readers(graph, uses, d);
  if (!d_readers || d_readers->size() != 2) {
    if (d_readers && d_readers->size() > 2) *why = "X - mean is also read outside the LayerNorm";
    return std::nullopt;
  }
  // One reader squares D, the other divides it by the standard deviation.
  const Node* sq = nullptr;
  const Node* scale = nullptr;
  for (NodeId r : *d_readers) {
    const Node& n = graph.nodes[r];
    const bool squares = (is_onnx_op(n, "Pow") && n.inputs[0] == d) ||
                         (is_onnx_op(n, "Mul") && n.inputs[0] == d && n.inputs[1] == d);
    (squares ? sq : scale) = &n;
  }
  if (sq == nullptr || scale == nullptr) return std::nullopt;
  if (is_onnx_op(*sq, "Pow") && scalar_constant(graph, sq->inputs[1]) != 2.0) {
    return std::nullopt;
  }
  const Node* var = sole_reader(graph, uses, sq->outputs[0]);
  if (var == nullptr || !is_onnx_op(*var, "ReduceMean")) return std::nullopt;
  // From here on the shape is a LayerNorm's; failures are near misses worth reporting.
  if (!xv.has_shape || xv.shape.empty() || !xv.shape.back().is_static()) {
    *why = "the normalized (last) dim of the input is not static";
    return std::nullopt;
  }
  if (xv.dtype != DType::kFloat32) {
    *why = str_cat("input is ", dtype_name(xv.dtype), ", only float32 is fused");
    return std::nullopt;
  }
  const int rank = static_cast<int>(xv.shape.size());
  const int64_t c = xv.shape.back().value();
  if (!reduces_last_axis(graph, mean, rank) || !reduces_last_axis(graph, *var, rank)) {
    *why = str_cat("the ReduceMeans do not both average only the last axis with keepdims=1",
                   kChannelsFirstNote);
    return std::nullopt;
  }
  const Node* add_eps = sole_reader(graph, uses, var->outputs[0]);
  const Node* sqrt = add_eps != nullptr && is_onnx_op(*add_eps, "Add")
                         ? sole_reader(graph, uses, add_eps->outputs[0])
                         : nullptr;
  if (sqrt == nullptr || !is_onnx_op(*sqrt, "Sqrt")) {
    *why = "the variance does not flow through Add(epsilon) into Sqrt alone";
    return std::nullopt;
  }
  const auto eps = scalar_constant(graph, other_input(*add_eps, var->outputs[0]));
  if (!eps || *eps < 0.0) {
    *why = "epsilon is not a non-negative constant scalar";
    return std::nullopt;
  }
  m.epsilon = static_cast<float>(*eps);
  // n = D / std, or D * (1 / std).
  const Node* std_reader = sole_reader(graph, uses, sqrt->outputs[0]);
  std::vector<NodeId> chain = {mean_id,           id_of(graph, sub),     id_of(graph, sq),
                               id_of(graph, var), id_of(graph, add_eps), id_of(graph, sqrt)};
  if (std_reader == scale && is_onnx_op(*scale, "Div") && scale->inputs[0] == d &&
      scale->inputs[1] == sqrt->outputs[0]) {
    chain.push_back(id_of(graph, scale));
  } else if (std_reader != nullptr && is_onnx_op(*std_reader, "Reciprocal") &&
             is_onnx_op(*scale, "Mul") && other_input(*scale, d) == std_reader->outputs[0] &&
             uses.only_used_by_one(std_reader->outputs[0])) {
    chain.push_back(id_of(graph, std_reader));
    chain.push_back(id_of(graph, scale));
  } else {
    *why = "D is not divided by the standard deviation (Div, or Mul by its Reciprocal)";
    return std::nullopt;
  }
  m.result = scale->outputs[0];
  match_affine_tail(graph, uses, m, chain, c, rank, /*with_beta=*/true);
  m.absorbed = std::move(chain);
  return m;
}

// Replaces m's nodes by one `op` (LayerNormalization or RMSNormalization, axis -1) named
// after the ReduceMean `first` that the match starts at ("/blocks.0/norm1/ReduceMean" ->
// "/blocks.0/norm1/LayerNormalization"); gamma defaults to ones.
void emit_norm(Graph& graph, PassContext& ctx, const char* pass, const char* op,
               const std::string& first, const Match& m) {
  const size_t slash = first.rfind('/');
  const std::string name =
      (slash == std::string::npos ? std::string() : first.substr(0, slash + 1)) + op;
  const int64_t c = graph.values[m.x].shape.back().value();
  Tensor gamma = m.gamma ? *m.gamma : Tensor::empty(DType::kFloat32, {c});
  if (!m.gamma) std::fill(gamma.data<float>(), gamma.data<float>() + c, 1.0f);
  std::vector<ValueId> inputs = {
      m.x, graph.add_constant(graph.unique_value_name(name + ".scale"), gamma)};
  if (m.beta) {
    inputs.push_back(graph.add_constant(graph.unique_value_name(name + ".bias"), *m.beta));
  }
  Attributes attrs;
  attrs.set_int("axis", -1);
  attrs.set_float("epsilon", m.epsilon);
  std::vector<std::string> absorbed;
  for (NodeId a : m.absorbed) absorbed.push_back(graph.nodes[a].name);
  const NodeId fused =
      add_node(graph, "", op, name, std::move(inputs), {name + "_output"}, std::move(attrs));
  remove_nodes(graph, m.absorbed);
  take_over(graph, m.result, graph.nodes[fused].outputs[0]);
  ctx.applied(pass, str_cat(op, " '", graph.nodes[fused].name, "'"), absorbed);
}

}  // namespace

Status fuse_layer_norm(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    const Node& node = graph.nodes[id];
    if (node.dead || !is_onnx_op(node, "ReduceMean") || node.inputs.empty()) continue;
    std::string why;
    std::optional<Match> m = match_at(graph, uses, id, &why);
    if (!m) {
      if (!why.empty()) ctx.near_miss(kPass, str_cat("LayerNorm at '", node.name, "'"), why);
      continue;
    }
    emit_norm(graph, ctx, kPass, "LayerNormalization", node.name, *m);
    uses.refresh();
  }
  return Status::ok_status();
}

namespace {

constexpr const char* kRmsPass = "fuse_rms_norm";

// Matches the RMSNorm rooted at ReduceMean `ms_id` (nullopt with `why` set on a near miss).
std::optional<Match> match_rms_at(const Graph& graph, const Uses& uses, NodeId ms_id,
                                  std::string* why) {
  const Node& ms = graph.nodes[ms_id];
  const NodeId sq_id = graph.values[ms.inputs[0]].producer;
  if (sq_id < 0 || graph.nodes[sq_id].dead) return std::nullopt;
  const Node* sq = &graph.nodes[sq_id];
  Match m;
  if (is_onnx_op(*sq, "Pow") && sq->num_inputs() == 2 &&
      scalar_constant(graph, sq->inputs[1]) == 2.0) {
    m.x = sq->inputs[0];
  } else if (is_onnx_op(*sq, "Mul") && sq->num_inputs() == 2 && sq->inputs[0] == sq->inputs[1]) {
    m.x = sq->inputs[0];
  } else {
    return std::nullopt;
  }
  if (sole_reader(graph, uses, sq->outputs[0]) != &ms) return std::nullopt;
  const Node* add_eps = sole_reader(graph, uses, ms.outputs[0]);
  if (add_eps == nullptr || !is_onnx_op(*add_eps, "Add")) return std::nullopt;
  const auto eps = scalar_constant(graph, other_input(*add_eps, ms.outputs[0]));
  if (!eps) return std::nullopt;
  const Node* next = sole_reader(graph, uses, add_eps->outputs[0]);
  if (next == nullptr) return std::nullopt;
  std::vector<NodeId> chain = {id_of(graph, sq), ms_id, id_of(graph, add_eps)};
  // The node that multiplies or divides X, and what it reads besides X.
  const Node* scale = nullptr;
  if (is_onnx_op(*next, "Pow") && next->inputs[0] == add_eps->outputs[0] &&
      scalar_constant(graph, next->inputs[1]) == -0.5) {
    chain.push_back(id_of(graph, next));
    scale = sole_reader(graph, uses, next->outputs[0]);
    if (scale == nullptr || !is_onnx_op(*scale, "Mul") ||
        other_input(*scale, next->outputs[0]) != m.x) {
      return std::nullopt;
    }
  } else if (is_onnx_op(*next, "Sqrt")) {
    chain.push_back(id_of(graph, next));
    const Node* after = sole_reader(graph, uses, next->outputs[0]);
    if (after == nullptr) return std::nullopt;
    if (is_onnx_op(*after, "Div") && after->inputs[0] == m.x &&
        after->inputs[1] == next->outputs[0]) {
      scale = after;
    } else {
      const bool reciprocal = is_onnx_op(*after, "Reciprocal") ||
                              (is_onnx_op(*after, "Div") && after->inputs[1] == next->outputs[0] &&
                               scalar_constant(graph, after->inputs[0]) == 1.0);
      if (!reciprocal) return std::nullopt;
      chain.push_back(id_of(graph, after));
      scale = sole_reader(graph, uses, after->outputs[0]);
      if (scale == nullptr || !is_onnx_op(*scale, "Mul") ||
          other_input(*scale, after->outputs[0]) != m.x) {
        return std::nullopt;
      }
    }
  } else {
    return std::nullopt;
  }
  // From here on it is an RMSNorm; failures are near misses.
  const Value& xv = graph.values[m.x];
  if (!xv.has_shape || xv.shape.empty() || !xv.shape.back().is_static()) {
    *why = "the normalized (last) dim of the input is not static";
    return std::nullopt;
  }
  if (xv.dtype != DType::kFloat32) {
    *why = str_cat("input is ", dtype_name(xv.dtype), ", only float32 is fused");
    return std::nullopt;
  }
  const int rank = static_cast<int>(xv.shape.size());
  if (!reduces_last_axis(graph, ms, rank)) {
    *why = str_cat("the ReduceMean does not average only the last axis with keepdims=1",
                   kChannelsFirstNote);
    return std::nullopt;
  }
  if (*eps < 0.0) {
    *why = "epsilon is negative";
    return std::nullopt;
  }
  m.epsilon = static_cast<float>(*eps);
  chain.push_back(id_of(graph, scale));
  m.result = scale->outputs[0];
  match_affine_tail(graph, uses, m, chain, xv.shape.back().value(), rank, /*with_beta=*/false);
  m.absorbed = std::move(chain);
  return m;
}

// True when ReduceMean `ms` averages the square of Sub(a, ReduceMean(a)): a LayerNorm's
// variance rather than an RMSNorm's mean square.
bool is_centered(const Graph& graph, const Node& ms) {
  const NodeId sq = graph.values[ms.inputs[0]].producer;
  if (sq < 0 || graph.nodes[sq].inputs.empty()) return false;
  const NodeId sub = graph.values[graph.nodes[sq].inputs[0]].producer;
  if (sub < 0 || !is_onnx_op(graph.nodes[sub], "Sub") || graph.nodes[sub].num_inputs() != 2) {
    return false;
  }
  const NodeId mean = graph.values[graph.nodes[sub].inputs[1]].producer;
  return mean >= 0 && is_onnx_op(graph.nodes[mean], "ReduceMean") &&
         graph.nodes[mean].inputs[0] == graph.nodes[sub].inputs[0];
}

}  // namespace

Status fuse_rms_norm(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    const Node& node = graph.nodes[id];
    if (node.dead || !is_onnx_op(node, "ReduceMean") || node.inputs.empty()) continue;
    std::string why;
    std::optional<Match> m = match_rms_at(graph, uses, id, &why);
    if (!m) {
      // A LayerNorm's variance over X - mean has the same shape; fuse_layer_norm has already
      // said why that LayerNorm was not fused, so it is not reported again as an RMSNorm.
      if (!why.empty() && !is_centered(graph, node)) {
        ctx.near_miss(kRmsPass, str_cat("RMSNorm at '", node.name, "'"), why);
      }
      continue;
    }
    emit_norm(graph, ctx, kRmsPass, "RMSNormalization", node.name, *m);
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
