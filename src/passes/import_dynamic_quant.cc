// Optimizer pass import_dynamic_quant: the chain ONNX Runtime's quantize_dynamic writes for a
// MatMul with constant weights becomes one vitrt.QuantLinear with dynamic_input:
//
//   (xq, xs, xzp) = DynamicQuantizeLinear(x)
//   MatMulInteger(xq, W_q [K, N] constant, xzp, w_zp constant) -> Cast(to float)
//   -> Mul(., Mul(xs, w_s constant))  [-> Add(bias constant [N])]
//   -> QuantLinear(x, W_q - w_zp as int8, w_s [N], bias) format int8, dynamic_input 1
//
// QuantLinear with dynamic_input quantizes x as DynamicQuantizeLinear does and computes
// float(sum) * fp32(xs * w_s[n]) + bias[n] from the same exact integer sums: the chain's own
// arithmetic, in one GEMM whose epilogue applies scale and bias (and later the activation and
// residual passes), where the chain made four passes over the outputs. The DynamicQuantizeLinear
// stays while other readers (a ConvInteger, q/k/v projections left unfused) need it.
//
// Left as they are (near misses): weights whose zero-point-corrected values leave int8 (uint8
// weights with a zero point far from 128), non-positive weight scales, zero points or scales
// that are not constants, scales that are not per tensor or per output column.
#include <cmath>
#include <optional>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "import_dynamic_quant";

// A constant that broadcasts along the last axis of an [..., n] tensor: one value, or n values
// in a shape whose other dims are 1.
bool per_column(const Tensor& t, int64_t n) {
  if (t.numel() == 1) return true;
  if (t.numel() != n || t.rank() < 1 || t.dim(t.rank() - 1) != n) return false;
  return true;
}

struct Chain {
  ValueId x = kNoValue;
  Tensor w_q;      // int8 [K, N], the zero point subtracted
  Tensor w_scale;  // float32 [N]
  std::optional<Tensor> bias;
  std::vector<NodeId> absorbed;  // MatMulInteger, Cast, Mul (and the bias Add's Mul)
  NodeId last = -1;              // the node that becomes the QuantLinear
};

// The chain starting at MatMulInteger `id`, or nullopt with `why` set.
std::optional<Chain> match_chain(const Graph& graph, const Uses& uses, NodeId id,
                                 std::string* why) {
  const Node& mm = graph.nodes[id];
  const Node* dql = producer_if(graph, mm.inputs[0], "DynamicQuantizeLinear");
  if (dql == nullptr) {
    *why = "A is not a DynamicQuantizeLinear output";
    return std::nullopt;
  }
  if (!mm.has_input(2) || dql->outputs.size() < 3 || mm.inputs[2] != dql->outputs[2]) {
    *why = "its A zero point is not the DynamicQuantizeLinear's";
    return std::nullopt;
  }
  const Value& x = graph.values[dql->inputs[0]];
  if (x.dtype != DType::kFloat32 || !x.has_shape || x.shape.size() < 2) {
    *why = "the quantized input is not a float32 tensor of rank >= 2";
    return std::nullopt;
  }
  const Tensor* w = constant_of(graph, mm.inputs[1]);
  if (w == nullptr || w->rank() != 2 || !dtype_is_8bit_integer(w->dtype())) {
    *why = "B is not a constant 8-bit [K, N] matrix";
    return std::nullopt;
  }
  const int64_t k = w->dim(0), n = w->dim(1);
  const Tensor* w_zp = mm.has_input(3) ? constant_of(graph, mm.inputs[3]) : nullptr;
  if (mm.has_input(3) && (w_zp == nullptr || (w_zp->numel() != 1 && w_zp->numel() != n))) {
    *why = "B's zero point is not a constant scalar or one per column";
    return std::nullopt;
  }
  Chain c;
  c.x = dql->inputs[0];
  c.w_q = Tensor::empty(DType::kInt8, {k, n});
  for (int64_t r = 0; r < k; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      const int64_t z = w_zp == nullptr ? 0 : w_zp->element_as_int64(w_zp->numel() == 1 ? 0 : j);
      const int64_t v = w->element_as_int64(r * n + j) - z;
      if (v < -128 || v > 127) {
        *why = str_cat("B - its zero point reaches ", v,
                       ", outside int8 (uint8 weights with a zero point far from 128)");
        return std::nullopt;
      }
      c.w_q.data<int8_t>()[r * n + j] = static_cast<int8_t>(v);
    }
  }
  c.absorbed.push_back(id);
  const Node* cast = uses.single_consumer(mm.outputs[0]);
  if (cast == nullptr || !is_onnx_op(*cast, "Cast") ||
      graph.values[cast->outputs[0]].dtype != DType::kFloat32) {
    *why = "its sums are not read by one Cast to float32 alone";
    return std::nullopt;
  }
  c.absorbed.push_back(static_cast<NodeId>(cast - graph.nodes.data()));
  const Node* mul = uses.single_consumer(cast->outputs[0]);
  if (mul == nullptr || !is_onnx_op(*mul, "Mul") || mul->inputs[0] == mul->inputs[1]) {
    *why = "the float sums are not read by one Mul alone";
    return std::nullopt;
  }
  const ValueId s = mul->inputs[0] == cast->outputs[0] ? mul->inputs[1] : mul->inputs[0];
  // s = xs * w_s (either order), or xs itself (weights with scale 1).
  const Tensor* ws = nullptr;
  if (s != dql->outputs[1]) {
    const Node* scales = producer_if(graph, s, "Mul");
    if (scales != nullptr && scales->inputs[0] == dql->outputs[1]) {
      ws = constant_of(graph, scales->inputs[1]);
    } else if (scales != nullptr && scales->inputs[1] == dql->outputs[1]) {
      ws = constant_of(graph, scales->inputs[0]);
    }
    if (ws == nullptr) {
      *why = "the sums' scale is not the DynamicQuantizeLinear's scale times a constant";
      return std::nullopt;
    }
  }
  c.w_scale = Tensor::empty(DType::kFloat32, {n});
  if (ws != nullptr && (ws->dtype() != DType::kFloat32 || !per_column(*ws, n))) {
    *why = str_cat("the weight scale is not float32 per tensor or per column [", n, "]");
    return std::nullopt;
  }
  for (int64_t j = 0; j < n; ++j) {
    const float v = ws == nullptr ? 1.0f : ws->data<float>()[ws->numel() == 1 ? 0 : j];
    if (!(v > 0.0f) || !std::isfinite(v)) {
      *why = str_cat("weight scale ", v, " is not a finite float > 0");
      return std::nullopt;
    }
    c.w_scale.data<float>()[j] = v;
  }
  c.last = static_cast<NodeId>(mul - graph.nodes.data());
  const Node* add = uses.single_consumer(mul->outputs[0]);
  if (add != nullptr && is_onnx_op(*add, "Add") && add->inputs[0] != add->inputs[1]) {
    const ValueId other = add->inputs[0] == mul->outputs[0] ? add->inputs[1] : add->inputs[0];
    const Tensor* b = constant_of(graph, other);
    if (b != nullptr && b->dtype() == DType::kFloat32 && per_column(*b, n) && b->rank() <= 1) {
      Tensor bias = Tensor::empty(DType::kFloat32, {n});
      for (int64_t j = 0; j < n; ++j) {
        bias.data<float>()[j] = b->data<float>()[b->numel() == 1 ? 0 : j];
      }
      c.bias = std::move(bias);
      c.absorbed.push_back(c.last);
      c.last = static_cast<NodeId>(add - graph.nodes.data());
    }
  }
  return c;
}

}  // namespace

Status import_dynamic_quant(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const size_t count = graph.nodes.size();
  for (size_t i = 0; i < count; ++i) {
    const NodeId id = static_cast<NodeId>(i);
    if (graph.nodes[id].dead || !is_onnx_op(graph.nodes[id], "MatMulInteger")) continue;
    std::string why;
    std::optional<Chain> c = match_chain(graph, uses, id, &why);
    if (!c) {
      ctx.near_miss(kPass, graph.nodes[id].describe(), why + "; the integer ops run one by one");
      continue;
    }
    const std::string base = graph.nodes[id].name;
    const int64_t n = c->w_q.dim(1);
    std::vector<std::string> absorbed;
    for (NodeId a : c->absorbed) absorbed.push_back(graph.nodes[a].name);
    absorbed.push_back(graph.nodes[c->last].name);
    remove_nodes(graph, c->absorbed);
    // The layer keeps the MatMulInteger's name (what --layer-precision patterns and the build
    // log name); the dead node gives it up.
    graph.nodes[id].name += "/absorbed";
    become_int8_quant_linear(graph, c->last, base, c->x, std::move(c->w_q), std::move(c->w_scale),
                             c->bias);
    graph.nodes[c->last].name = base;
    graph.nodes[c->last].attrs.set_int("dynamic_input", 1);
    ctx.applied(kPass,
                str_cat("QuantLinear '", base, "' int8 [N=", n, "], dynamic input",
                        c->bias ? " + bias" : ""),
                absorbed);
    uses.refresh();
  }
  return Status();
}

}  // namespace vitrt
