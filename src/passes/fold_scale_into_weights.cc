// Optimizer pass fold_scale_into_weights: a Linear followed by a multiplication or division by
// a constant folds the constant into its weight columns and bias.
//
//   Mul(Linear(X, W, b), s) / Mul(s, Linear(..)) -> Linear(X, W * s, b * s)
//   Div(Linear(X, W, b), d)                      -> Linear(X, W / d, b / d)
//
// s and d are a scalar or per-output-channel ([N] or [1, ..., 1, N]: DINOv2's layer scale).
// The Linear must have no activation and the product no other reader. Scaling by a power of
// two is exact; other factors move each output by about one ulp (X (W s) rounds differently
// from (X W) s), which the optimizer accepts as it accepts a different summation order.
// fuse_attention runs first and absorbs the attention-score scaling; this handles the rest.
#include <cmath>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fold_scale_into_weights";

// The per-column factors of a Mul or Div operand `v` for N columns and an output of rank
// `out_rank`, or nullopt when `v` is not such a constant (or a factor is zero or not finite).
std::optional<std::vector<float>> column_factors(const Value& v, int64_t n, size_t out_rank,
                                                 bool divide, std::string* why) {
  if (!v.is_constant()) return std::nullopt;
  const Tensor& t = v.constant;
  if (t.dtype() != DType::kFloat32) {
    *why = str_cat("the constant is ", t.describe(), ", not float32");
    return std::nullopt;
  }
  const std::vector<int64_t>& shape = t.shape();
  bool ok = shape.size() <= out_rank && (t.numel() == 1 || (!shape.empty() && shape.back() == n));
  for (size_t i = 0; ok && i + 1 < shape.size(); ++i) ok = shape[i] == 1;
  if (!ok) {
    *why = str_cat("the constant ", t.describe(), " is neither a scalar nor a [", n,
                   "] vector broadcast along rows");
    return std::nullopt;
  }
  std::vector<float> factors(n);
  for (int64_t j = 0; j < n; ++j) {
    const float f = t.data<float>()[t.numel() == 1 ? 0 : j];
    if (!std::isfinite(f) || f == 0.0f) {
      *why = str_cat("factor ", f, " is zero or not finite");
      return std::nullopt;
    }
    factors[j] = divide ? 1.0f / f : f;
  }
  return factors;
}

}  // namespace

Status fold_scale_into_weights(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    const Node& linear = graph.nodes[id];
    if (linear.dead || linear.op_type != "Linear" || linear.domain != "vitrt") continue;
    const Node* scale = uses.single_consumer(linear.outputs[0]);
    if (scale == nullptr) continue;
    const bool mul = is_onnx_op(*scale, "Mul");
    const bool div = is_onnx_op(*scale, "Div");
    if (!mul && !div) continue;
    const ValueId y = linear.outputs[0];
    // Div(s, y) is a reciprocal, not a scale.
    if ((div && scale->inputs[0] != y) || scale->inputs[0] == scale->inputs[1]) continue;
    const ValueId other = scale->inputs[0] == y ? scale->inputs[1] : scale->inputs[0];
    const Value& yv = graph.values[y];
    const Value& wv = graph.values[linear.inputs[1]];
    if (!wv.is_constant() || !yv.has_shape) continue;
    const int64_t k = wv.constant.dim(0);
    const int64_t n = wv.constant.dim(1);
    std::string why;
    std::optional<std::vector<float>> factors =
        column_factors(graph.values[other], n, yv.shape.size(), div, &why);
    if (!factors) {
      if (!why.empty()) ctx.near_miss(kPass, scale->describe(), why);
      continue;
    }
    Result<std::string> act = linear.attrs.get_string("activation", "none");
    if (!act.ok() || *act != "none") {
      ctx.near_miss(kPass, scale->describe(),
                    str_cat("the Linear before it applies activation '",
                            act.ok() ? *act : std::string("?"), "' first"));
      continue;
    }
    // New constants: the weights may be shared with another Linear.
    Tensor w = Tensor::empty(DType::kFloat32, {k, n});
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        w.data<float>()[i * n + j] = wv.constant.data<float>()[i * n + j] * (*factors)[j];
      }
    }
    std::optional<Tensor> bias;
    if (linear.has_input(2)) {
      const Tensor& b = graph.values[linear.inputs[2]].constant;
      bias = Tensor::empty(DType::kFloat32, {n});
      for (int64_t j = 0; j < n; ++j) bias->data<float>()[j] = b.data<float>()[j] * (*factors)[j];
    }
    const std::string scale_name = scale->name;
    const NodeId scale_id = static_cast<NodeId>(scale - graph.nodes.data());
    const ValueId scaled = scale->outputs[0];
    const std::string w_name = graph.unique_value_name(wv.name + "_scaled");
    const ValueId w_id = graph.add_constant(w_name, std::move(w));
    ValueId b_id = kNoValue;
    if (bias) {
      b_id = graph.add_constant(
          graph.unique_value_name(graph.values[linear.inputs[2]].name + "_scaled"),
          std::move(*bias));
    }
    Node& target = graph.nodes[id];
    target.inputs[1] = w_id;
    if (b_id != kNoValue) target.inputs[2] = b_id;
    remove_nodes(graph, {scale_id});
    replace_uses(graph, scaled, y);
    ctx.applied(kPass,
                str_cat("Linear '", target.name, "' absorbs ", mul ? "Mul" : "Div", " by ",
                        graph.values[other].constant.numel() == 1 ? "a scalar" : "a vector"),
                {scale_name});
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
