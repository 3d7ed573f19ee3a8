// Optimizer pass fuse_linear: every product with a constant weight matrix becomes vitrt.Linear,
// so the kernel can pack the weights once at load and fuse bias and activation.
//
//   MatMul(X, W)                  -> Linear(X, W)          W a constant float32 [K, N]
//   Add(MatMul(X, W), b) / Add(b, MatMul(X, W))
//                                 -> Linear(X, W, b)       b a constant [N] or [1, ..., 1, N]
//   Gemm(A, B, C?)                -> Linear(A, W, bias)    B constant; W = B or B^T (transposed
//                                    here, once); alpha folded into W when a power of two;
//                                    bias = beta * C for C of [N], [1, N] or one element
#include <algorithm>
#include <cmath>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_linear";

bool is_float_matrix(const Value& v) {
  return v.is_constant() && v.constant.dtype() == DType::kFloat32 && v.constant.rank() == 2;
}

// True for finite nonzero powers of two, whose products are exact in float32 (no overflow or
// underflow at the magnitudes weights have).
bool is_power_of_two(double x) {
  if (!std::isfinite(x) || x == 0.0) return false;
  int exponent = 0;
  return std::abs(std::frexp(x, &exponent)) == 0.5;
}

// The constant `v` as a bias of N elements when its shape broadcasts only along the last axis
// of an output of rank `out_rank`: [N] or [1, ..., 1, N] with rank <= out_rank.
bool is_bias_shaped(const Value& v, int64_t n, size_t out_rank) {
  if (!v.is_constant() || v.constant.dtype() != DType::kFloat32) return false;
  const std::vector<int64_t>& shape = v.constant.shape();
  if (shape.empty() || shape.size() > out_rank || shape.back() != n) return false;
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    if (shape[i] != 1) return false;
  }
  return true;
}

// Turns `node` into a vitrt.Linear reading `inputs`, keeping its name and output.
void become_linear(Graph& graph, Uses& uses, NodeId id, std::vector<ValueId> inputs) {
  Node& node = graph.nodes[id];
  const std::vector<ValueId> old_inputs = node.inputs;
  node.domain = "vitrt";
  node.op_type = "Linear";
  node.inputs = std::move(inputs);
  node.attrs = Attributes();
  uses.inputs_changed(id, old_inputs);
}

// Rewrites MatMul (and its bias Add, when there is one) into vitrt.Linear; returns whether it
// did.
bool fuse_matmul(Graph& graph, PassContext& ctx, Uses& uses, NodeId id) {
  // References into graph.values and graph.nodes are used only before the graph grows.
  const Node& mm = graph.nodes[id];
  const ValueId x = mm.inputs[0];
  const ValueId w = mm.inputs[1];
  const Value& wv = graph.values[w];
  const Value& xv = graph.values[x];
  if (!wv.is_constant()) {
    // Products of two activations (attention) are not linear layers; a 2-D right operand that
    // is computed says the weights were not folded.
    if (wv.has_shape && wv.shape.size() == 2 && producer_of(graph, w) != nullptr) {
      ctx.near_miss(kPass, mm.describe(),
                    str_cat("weight input '", wv.name, "' is not a constant (produced by ",
                            producer_of(graph, w)->describe(), ")"));
    }
    return false;
  }
  if (!is_float_matrix(wv)) {
    ctx.near_miss(kPass, mm.describe(),
                  str_cat("weights ", wv.constant.describe(), " are not a float32 2-D matrix"));
    return false;
  }
  if (xv.dtype != DType::kFloat32 || !xv.has_shape || xv.shape.empty()) {
    ctx.near_miss(kPass, mm.describe(),
                  str_cat("input '", xv.name, "' is not float32 of known rank"));
    return false;
  }
  const int64_t k = wv.constant.dim(0);
  const int64_t n = wv.constant.dim(1);
  const size_t out_rank = std::max<size_t>(xv.shape.size(), 1);

  std::vector<ValueId> inputs = {x, w};
  std::vector<std::string> absorbed = {mm.name};
  NodeId add_id = -1;
  const Node* add = uses.single_consumer(mm.outputs[0]);
  if (add != nullptr && is_onnx_op(*add, "Add")) {
    const ValueId other = add->inputs[0] == mm.outputs[0] ? add->inputs[1] : add->inputs[0];
    const Value& bv = graph.values[other];
    if (add->inputs[0] == add->inputs[1]) {
      // Add(y, y): not a bias.
    } else if (is_bias_shaped(bv, n, out_rank)) {
      ValueId bias = other;
      if (bv.constant.rank() != 1) {
        Result<Tensor> flat = bv.constant.reshaped({n});
        if (!flat.ok()) return false;
        bias = graph.add_constant(graph.unique_value_name(bv.name + "_bias"), *flat);
      }
      inputs.push_back(bias);
      absorbed.push_back(add->name);
      add_id = static_cast<NodeId>(add - graph.nodes.data());
    } else if (bv.is_constant()) {
      ctx.near_miss(kPass, add->describe(),
                    str_cat("constant ", bv.constant.describe(), " is not a float32 bias of [", n,
                            "] broadcast along rows; Linear keeps the Add"));
    }
  }
  // The MatMul node becomes the Linear in place, so it keeps its name and output value.
  const bool with_bias = add_id >= 0;
  become_linear(graph, uses, id, std::move(inputs));
  const Node& linear = graph.nodes[id];
  if (with_bias) {
    uses.remove_node(graph, add_id);
    uses.replace(graph, graph.nodes[add_id].outputs[0], linear.outputs[0]);
  }
  ctx.applied(kPass,
              str_cat("Linear '", linear.name, "' [", k, " x ", n, "]", with_bias ? " + bias" : ""),
              absorbed);
  return true;
}

// Rewrites Gemm with constant B into vitrt.Linear where that is exact; returns whether it did.
bool fuse_gemm(Graph& graph, PassContext& ctx, Uses& uses, NodeId id) {
  const Node& gemm = graph.nodes[id];
  auto attr_float = [&](const char* a, float d) {
    Result<float> r = gemm.attrs.get_float(a, d);
    return r.ok() ? std::optional<float>(*r) : std::nullopt;
  };
  auto attr_int = [&](const char* a) {
    Result<int64_t> r = gemm.attrs.get_int(a, 0);
    return r.ok() ? std::optional<int64_t>(*r) : std::nullopt;
  };
  const std::optional<float> alpha = attr_float("alpha", 1.0f);
  const std::optional<float> beta = attr_float("beta", 1.0f);
  const std::optional<int64_t> trans_a = attr_int("transA");
  const std::optional<int64_t> trans_b = attr_int("transB");
  if (!alpha || !beta || !trans_a || !trans_b) return false;
  const Value& av = graph.values[gemm.inputs[0]];
  const Value& bv = graph.values[gemm.inputs[1]];
  if (!bv.is_constant()) return false;
  if (!is_float_matrix(bv) || av.dtype != DType::kFloat32) {
    ctx.near_miss(kPass, gemm.describe(), "A and B must be float32 and B a constant matrix");
    return false;
  }
  if (*trans_a != 0) {
    ctx.near_miss(kPass, gemm.describe(), "transA=1 would need A transposed at run time");
    return false;
  }
  if (*alpha != 1.0f && !is_power_of_two(*alpha)) {
    ctx.near_miss(kPass, gemm.describe(),
                  str_cat("alpha=", *alpha, " is not a power of two: folding it into the ",
                          "weights would change the rounding"));
    return false;
  }
  const Tensor& b = bv.constant;
  const int64_t k = *trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = *trans_b ? b.dim(0) : b.dim(1);
  std::optional<Tensor> bias;
  if (gemm.has_input(2)) {
    const Value& cv = graph.values[gemm.inputs[2]];
    const bool row_vector = cv.is_constant() && cv.constant.dtype() == DType::kFloat32 &&
                            (cv.constant.numel() == 1 || is_bias_shaped(cv, n, 2));
    if (!row_vector) {
      ctx.near_miss(kPass, gemm.describe(),
                    str_cat("C '", cv.name, "' is not a constant float32 of [", n, "], [1, ", n,
                            "] or one element"));
      return false;
    }
    // beta * C rounds exactly as the Gemm kernel's own product does.
    bias = Tensor::empty(DType::kFloat32, {n});
    const float* c = cv.constant.data<float>();
    for (int64_t j = 0; j < n; ++j) {
      bias->data<float>()[j] = *beta * c[cv.constant.numel() == 1 ? 0 : j];
    }
  }
  Tensor w = Tensor::empty(DType::kFloat32, {k, n});
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const float v = *trans_b ? b.data<float>()[j * k + i] : b.data<float>()[i * n + j];
      w.data<float>()[i * n + j] = *alpha * v;
    }
  }
  const ValueId a = gemm.inputs[0];
  std::vector<ValueId> inputs = {a, graph.add_constant(graph.unique_value_name(bv.name + "_w"), w)};
  if (bias) {
    inputs.push_back(
        graph.add_constant(graph.unique_value_name(graph.nodes[id].name + "_bias"), *bias));
  }
  become_linear(graph, uses, id, std::move(inputs));
  const Node& linear = graph.nodes[id];
  ctx.applied(
      kPass,
      str_cat("Linear '", linear.name, "' [", k, " x ", n, "] from Gemm", bias ? " + bias" : ""),
      {linear.name});
  return true;
}

}  // namespace

Status fuse_linear(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    const Node& node = graph.nodes[id];
    if (node.dead || node.num_inputs() < 2) continue;
    if (is_onnx_op(node, "MatMul")) {
      fuse_matmul(graph, ctx, uses, id);
    } else if (is_onnx_op(node, "Gemm")) {
      fuse_gemm(graph, ctx, uses, id);
    }
  }
  return uses.verify();
}

}  // namespace vitrt
