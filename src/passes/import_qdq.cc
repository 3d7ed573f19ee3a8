// Optimizer pass import_qdq: MatMul / Gemm between QDQ pairs, as quantization tools write them
// (ONNX Runtime's quantize_static in QDQ format, NVIDIA ModelOpt), becomes vitrt.QuantLinear:
//
//   x -> QuantizeLinear(s, zp) -> DequantizeLinear(s, zp)   (input A)
//   W_q (int8 constant) -> DequantizeLinear(w_s, 0, axis)   (input B)
//   MatMul(A, B) -> [Add(bias)]   or   Gemm(A, B, C = bias) with transB 0 or 1
//   -> QuantLinear(x, W_q [K, N], w_s [N], bias) format int8, input_scale s,
//      input_zero_point zp, input_qmin/qmax the range of zp's type (int8 -128..127, uint8
//      0..255, so asymmetric uint8 activations are carried exactly)
//
// QuantLinear quantizes x itself with the same scale, zero point and range, so its integer
// operands equal the QDQ graph's; only the float rounding of the product differs (exact
// integer sums scaled once vs float products of dequantized values). The bias may be a float
// constant or a DequantizeLinear of int32 (quantize_static's bias): folded to float as that
// DequantizeLinear computes it.
//
// Weights may also be float constants quantized in the graph (DQ(Q(W)), fake-quant exports):
// their int8 values are computed here as that QuantizeLinear computes them.
//
// FP8 (float8e4m3fn codes, opset 19, as NVIDIA ModelOpt writes for Hopper: per-tensor
// activation scales, per-output-channel weight scales, zero points 0, saturate 1) becomes a
// QuantLinear of format fp8: x is quantized to E4M3 with the same scale and rounding, the
// weights are the same E4M3 codes. E5M2 activations or weights stay Q/DQ ops in float.
//
// It runs before fold_constants, which would otherwise fold the weights' DequantizeLinear into
// float weights. Q/DQ pairs it does not fold stay and run as float ops (src/cpu/qdq.cc); the
// pair left without readers is dropped by eliminate_dead_nodes.
#include <algorithm>
#include <cmath>
#include <optional>

#include "core/float8.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "import_qdq";

// The node's constant input i as a tensor, or nullptr (omitted or computed).
const Tensor* constant_input(const Graph& graph, const Node& node, int i) {
  return node.has_input(i) ? constant_of(graph, node.inputs[i]) : nullptr;
}

// The attribute axis of a Q/DQ node (default 1), normalised against `rank`.
std::optional<int64_t> qdq_axis(const Node& node, int64_t rank) {
  Result<int64_t> axis = node.attrs.get_int("axis", 1);
  if (!axis.ok()) return std::nullopt;
  const int64_t a = *axis < 0 ? *axis + rank : *axis;
  if (a < 0 || a >= rank) return std::nullopt;
  return a;
}

// Float weights quantized in the graph, DequantizeLinear(QuantizeLinear(W float constant)), as
// fake-quant exports (ModelOpt) write them: the int8 values (or float8e4m3fn codes) that
// QuantizeLinear computes, when both nodes use the same constant scale, axis and zero point.
// nullopt otherwise.
std::optional<Tensor> quantize_float_weights(const Graph& graph, const Node& dq) {
  const Node* q = producer_if(graph, dq.inputs[0], "QuantizeLinear");
  if (q == nullptr) return std::nullopt;
  const Tensor* w = constant_input(graph, *q, 0);
  const Tensor* q_scale = constant_input(graph, *q, 1);
  const Tensor* dq_scale = constant_input(graph, dq, 1);
  if (w == nullptr || w->dtype() != DType::kFloat32 || w->rank() != 2 || q_scale == nullptr ||
      dq_scale == nullptr || q_scale->dtype() != DType::kFloat32 ||
      dq_scale->dtype() != DType::kFloat32 || q_scale->numel() != dq_scale->numel()) {
    return std::nullopt;
  }
  const DType code_type = graph.values[q->outputs[0]].dtype;
  if (code_type != DType::kInt8 && code_type != DType::kFloat8E4M3FN) return std::nullopt;
  const Result<int64_t> saturate = q->attrs.get_int("saturate", 1);
  if (!saturate.ok()) return std::nullopt;
  for (int64_t i = 0; i < q_scale->numel(); ++i) {
    if (q_scale->data<float>()[i] != dq_scale->data<float>()[i]) return std::nullopt;
  }
  const std::optional<int64_t> axis = qdq_axis(*q, 2);
  if (q_scale->numel() != 1 &&
      (!axis || axis != qdq_axis(dq, 2) || q_scale->numel() != w->dim(static_cast<int>(*axis)))) {
    return std::nullopt;
  }
  for (const Node* node : {q, &dq}) {
    if (!node->has_input(2)) continue;
    const Tensor* zp = constant_input(graph, *node, 2);
    if (zp == nullptr) return std::nullopt;
    for (int64_t i = 0; i < zp->numel(); ++i) {
      if (zp->element_as_double(i) != 0.0) return std::nullopt;
    }
  }
  // QuantizeLinear's arithmetic (src/cpu/qdq.cc): round half to even of w / scale, saturated.
  Tensor out = Tensor::empty(code_type, w->shape());
  const int64_t cols = w->dim(1);
  for (int64_t i = 0; i < w->numel(); ++i) {
    const int64_t c = q_scale->numel() == 1 ? 0 : (*axis == 0 ? i / cols : i % cols);
    if (code_type == DType::kFloat8E4M3FN) {
      out.data<uint8_t>()[i] =
          float_to_e4m3(w->data<float>()[i] / q_scale->data<float>()[c], *saturate != 0);
      continue;
    }
    float v = std::nearbyint(w->data<float>()[i] / q_scale->data<float>()[c]);
    v = std::isnan(v) ? 0.0f : std::min(127.0f, std::max(-128.0f, v));
    out.data<int8_t>()[i] = static_cast<int8_t>(v);
  }
  return out;
}

struct WeightQuant {
  Tensor w_q;      // int8 [K, N], or uint8 E4M3 codes [K, N] (fp8)
  Tensor w_scale;  // float32 [N]
  bool fp8 = false;
};

// `v` as DequantizeLinear of a symmetric int8 (or float8e4m3fn) constant matrix, scaled per
// output channel (or per tensor). `transposed`: the matrix is [N, K] (Gemm transB=1), so output
// channels are axis 0.
std::optional<WeightQuant> match_weight(const Graph& graph, ValueId v, bool transposed,
                                        std::string* why) {
  const Node* dq = producer_if(graph, v, "DequantizeLinear");
  if (dq == nullptr) {
    *why = str_cat("the weight '", graph.values[v].name, "' is not a DequantizeLinear output");
    return std::nullopt;
  }
  const std::optional<Tensor> from_float = quantize_float_weights(graph, *dq);
  const Tensor* w = from_float ? &*from_float : constant_input(graph, *dq, 0);
  const Tensor* scale = constant_input(graph, *dq, 1);
  if (w == nullptr || scale == nullptr || w->rank() != 2) {
    *why = str_cat(dq->describe(),
                   ": the weights are not a constant 2-D matrix with a constant "
                   "scale");
    return std::nullopt;
  }
  if (w->dtype() != DType::kInt8 && w->dtype() != DType::kFloat8E4M3FN) {
    *why = str_cat(dq->describe(), ": weights are ", dtype_name(w->dtype()),
                   "; QuantLinear takes int8 or float8e4m3fn weights (quantize them with "
                   "weight_type=QInt8)");
    return std::nullopt;
  }
  const bool fp8 = w->dtype() == DType::kFloat8E4M3FN;
  if (scale->dtype() != DType::kFloat32) {
    *why = str_cat(dq->describe(), ": the weight scale is not float32");
    return std::nullopt;
  }
  if (dq->has_input(2)) {
    const Tensor* zp = constant_input(graph, *dq, 2);
    bool zero = zp != nullptr;
    for (int64_t i = 0; zero && i < zp->numel(); ++i) zero = zp->element_as_double(i) == 0.0;
    if (!zero) {
      *why = str_cat(dq->describe(), ": the weights' zero point is not 0 (asymmetric weights); ",
                     "QuantLinear takes symmetric weights");
      return std::nullopt;
    }
  }
  const int64_t k = transposed ? w->dim(1) : w->dim(0);
  const int64_t n = transposed ? w->dim(0) : w->dim(1);
  if (scale->numel() != 1) {
    const std::optional<int64_t> axis = qdq_axis(*dq, 2);
    const int64_t channel_axis = transposed ? 0 : 1;
    if (scale->rank() != 1 || !axis || *axis != channel_axis || scale->numel() != n) {
      *why = str_cat(dq->describe(), ": the weight scale is per axis ",
                     axis ? std::to_string(*axis) : std::string("?"),
                     ", not per output channel (axis ", channel_axis, ")");
      return std::nullopt;
    }
  }
  WeightQuant q;
  q.fp8 = fp8;
  // E4M3 codes are raw bytes: QuantLinear's fp8 W_q is uint8.
  q.w_q = Tensor::empty(fp8 ? DType::kUInt8 : DType::kInt8, {k, n});
  q.w_scale = Tensor::empty(DType::kFloat32, {n});
  const int8_t* src = static_cast<const int8_t*>(w->raw_data());
  int8_t* dst = static_cast<int8_t*>(q.w_q.raw_data());
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) dst[i * n + j] = transposed ? src[j * k + i] : src[i * n + j];
  }
  for (int64_t j = 0; j < n; ++j) {
    const float s = scale->data<float>()[scale->numel() == 1 ? 0 : j];
    if (!(s > 0.0f) || !std::isfinite(s)) {
      *why = str_cat(dq->describe(), ": weight scale ", s, " is not a finite float > 0");
      return std::nullopt;
    }
    q.w_scale.data<float>()[j] = s;
  }
  return q;
}

// A bias of N floats from a float32 constant ([N] or [1, N]), or DequantizeLinear of a
// constant int32 [N] (computed as that DequantizeLinear computes it: float(b - zp) * s).
std::optional<Tensor> match_bias(const Graph& graph, ValueId v, int64_t n) {
  const Value& bv = graph.values[v];
  auto is_row = [n](const Tensor& t) {
    return t.numel() == n && t.rank() >= 1 && t.shape().back() == n;
  };
  if (bv.is_constant()) {
    if (bv.constant.dtype() != DType::kFloat32 || !is_row(bv.constant)) return std::nullopt;
    return *bv.constant.reshaped({n});
  }
  // ONNX Runtime's FP8 quantization keeps the float bias behind a Cast to float32 (the node it
  // names ..._DequantizeLinear); fold_constants would fold it, but runs after this pass.
  if (const Node* cast = producer_if(graph, v, "Cast")) {
    const Result<int64_t> to = cast->attrs.get_int("to", 0);
    if (to.ok() && *to == static_cast<int64_t>(DType::kFloat32)) {
      return match_bias(graph, cast->inputs[0], n);
    }
  }
  const Node* dq = producer_if(graph, v, "DequantizeLinear");
  if (dq == nullptr) return std::nullopt;
  const Tensor* b = constant_input(graph, *dq, 0);
  const Tensor* scale = constant_input(graph, *dq, 1);
  const Tensor* zp = constant_input(graph, *dq, 2);
  if (b == nullptr || scale == nullptr || b->dtype() != DType::kInt32 || !is_row(*b) ||
      scale->dtype() != DType::kFloat32 || (scale->numel() != 1 && scale->numel() != n) ||
      (dq->has_input(2) && (zp == nullptr || zp->numel() != scale->numel()))) {
    return std::nullopt;
  }
  if (scale->numel() != 1) {
    const std::optional<int64_t> axis = qdq_axis(*dq, b->rank());
    if (!axis || *axis != b->rank() - 1) return std::nullopt;
  }
  Tensor out = Tensor::empty(DType::kFloat32, {n});
  for (int64_t j = 0; j < n; ++j) {
    const int64_t c = scale->numel() == 1 ? 0 : j;
    const int64_t z = zp ? zp->element_as_int64(c) : 0;
    out.data<float>()[j] = static_cast<float>(b->data<int32_t>()[j] - z) * scale->data<float>()[c];
  }
  return out;
}

// Whether activation `a` and weights `w` make one QuantLinear: both integer, or E4M3 both.
bool formats_agree(const Node& node, const ActivationQuant& a, const WeightQuant& w,
                   std::string* why) {
  if (a.kind == kFakeQuantE5M2) {
    *why = str_cat(node.describe(), ": E5M2 activations have no fp8 GEMM here (E4M3 only)");
    return false;
  }
  if ((a.kind == kFakeQuantE4M3) != w.fp8) {
    *why = str_cat(node.describe(), ": the activation is ",
                   a.kind == kFakeQuantE4M3 ? "float8e4m3fn" : "8-bit integer", ", the weights ",
                   w.fp8 ? "float8e4m3fn" : "int8", "; one QuantLinear takes one kind");
    return false;
  }
  return true;
}

// Turns `node` into vitrt.QuantLinear reading x, the weights and an optional bias.
void become_quant_linear(Graph& graph, NodeId id, const ActivationQuant& a, WeightQuant w,
                         const std::optional<Tensor>& bias) {
  const bool fp8 = w.fp8;
  become_int8_quant_linear(graph, id, graph.nodes[id].name, a.x, std::move(w.w_q),
                           std::move(w.w_scale), bias);
  Attributes& attrs = graph.nodes[id].attrs;
  attrs.set_float("input_scale", a.scale);
  if (fp8) {
    attrs.set_string("format", "fp8");
    return;
  }
  attrs.set_int("input_zero_point", a.zero_point);
  attrs.set_int("input_qmin", a.qmin);
  attrs.set_int("input_qmax", a.qmax);
}

// The Add that alone reads `product` (n columns) with a bias match_bias takes on its other side.
struct BiasAdd {
  Tensor bias;
  NodeId add = -1;
};
std::optional<BiasAdd> bias_add_after(const Graph& graph, const Uses& uses, ValueId product,
                                      int64_t n) {
  const Node* add = uses.single_consumer(product);
  if (add == nullptr || !is_onnx_op(*add, "Add") || add->inputs[0] == add->inputs[1]) {
    return std::nullopt;
  }
  const ValueId other = add->inputs[0] == product ? add->inputs[1] : add->inputs[0];
  std::optional<Tensor> bias = match_bias(graph, other, n);
  if (!bias) return std::nullopt;
  return BiasAdd{std::move(*bias), static_cast<NodeId>(add - graph.nodes.data())};
}

// Removes Add `add`, whose readers read `sum` (the QuantLinear that took its bias) instead;
// returns the Add's name.
std::string drop_add(Graph& graph, NodeId add, ValueId sum) {
  remove_nodes(graph, {add});
  replace_uses(graph, graph.nodes[add].outputs[0], sum);
  return graph.nodes[add].name;
}

// Whether the right operand is a DequantizeLinear: otherwise the product is no QDQ pattern and
// is left without a near miss (fuse_linear's business).
bool reads_dequantized_weights(const Graph& graph, const Node& node) {
  return node.num_inputs() >= 2 && producer_if(graph, node.inputs[1], "DequantizeLinear");
}

bool import_matmul(Graph& graph, PassContext& ctx, const Uses& uses, NodeId id) {
  const Node& mm = graph.nodes[id];
  std::string why;
  const std::optional<ActivationQuant> a = match_activation(graph, mm.inputs[0], &why);
  std::optional<WeightQuant> w;
  if (a) w = match_weight(graph, mm.inputs[1], false, &why);
  if (!a || !w || !formats_agree(mm, *a, *w, &why)) {
    ctx.near_miss(kPass, mm.describe(), why + "; the QDQ ops run in float");
    return false;
  }
  const int64_t n = w->w_q.dim(1);
  std::optional<BiasAdd> add = bias_add_after(graph, uses, mm.outputs[0], n);
  std::optional<Tensor> bias;
  if (add) bias = add->bias;
  const std::string name = mm.name;
  const char* format = w->fp8 ? "fp8" : "int8";
  become_quant_linear(graph, id, *a, std::move(*w), bias);
  std::vector<std::string> absorbed = {name};
  if (add) absorbed.push_back(drop_add(graph, add->add, graph.nodes[id].outputs[0]));
  ctx.applied(kPass,
              str_cat("QuantLinear '", name, "' ", format, " [N=", n, "]", bias ? " + bias" : ""),
              absorbed);
  return true;
}

bool import_gemm(Graph& graph, PassContext& ctx, NodeId id) {
  const Node& gemm = graph.nodes[id];
  const Result<float> alpha = gemm.attrs.get_float("alpha", 1.0f);
  const Result<float> beta = gemm.attrs.get_float("beta", 1.0f);
  const Result<int64_t> trans_a = gemm.attrs.get_int("transA", 0);
  const Result<int64_t> trans_b = gemm.attrs.get_int("transB", 0);
  if (!alpha.ok() || !beta.ok() || !trans_a.ok() || !trans_b.ok()) return false;
  if (*alpha != 1.0f || *beta != 1.0f || *trans_a != 0) {
    ctx.near_miss(kPass, gemm.describe(),
                  "alpha, beta must be 1 and transA 0; the QDQ ops run in float");
    return false;
  }
  std::string why;
  const std::optional<ActivationQuant> a = match_activation(graph, gemm.inputs[0], &why);
  std::optional<WeightQuant> w;
  if (a) w = match_weight(graph, gemm.inputs[1], *trans_b != 0, &why);
  if (!a || !w || !formats_agree(gemm, *a, *w, &why)) {
    ctx.near_miss(kPass, gemm.describe(), why + "; the QDQ ops run in float");
    return false;
  }
  const int64_t n = w->w_q.dim(1);
  std::optional<Tensor> bias;
  if (gemm.has_input(2)) {
    bias = match_bias(graph, gemm.inputs[2], n);
    if (!bias) {
      ctx.near_miss(kPass, gemm.describe(),
                    str_cat("C is not a constant float32 [", n,
                            "] or a DequantizeLinear of int32 [", n, "]"));
      return false;
    }
  }
  const std::string name = gemm.name;
  const char* format = w->fp8 ? "fp8" : "int8";
  become_quant_linear(graph, id, *a, std::move(*w), bias);
  ctx.applied(
      kPass,
      str_cat("QuantLinear '", name, "' ", format, " [N=", n, "] from Gemm", bias ? " + bias" : ""),
      {name});
  return true;
}

// A QuantLinear this pass made without a bias whose product alone feeds Add(bias): the bias
// joins it once it is a constant. The exporters' Identity in front of a deduplicated bias keeps
// it computed when the product is first imported (remove_identity runs after this pass); the
// clean-up's next round finds it here.
bool absorb_late_bias(Graph& graph, PassContext& ctx, const Uses& uses, NodeId id) {
  const Node& ql = graph.nodes[id];
  if (ql.domain != "vitrt" || ql.op_type != "QuantLinear" || ql.inputs.size() != 3 ||
      ql.attrs.has("output_scale")) {
    return false;
  }
  const Result<std::string> activation = ql.attrs.get_string("activation", "none");
  if (!activation.ok() || *activation != "none") return false;
  const Tensor* w_scale = constant_of(graph, ql.inputs[2]);
  if (w_scale == nullptr) return false;
  const std::optional<BiasAdd> add = bias_add_after(graph, uses, ql.outputs[0], w_scale->numel());
  if (!add || !can_replace_uses(graph, graph.nodes[add->add].outputs[0], ql.outputs[0])) {
    return false;
  }
  graph.nodes[id].inputs.push_back(
      graph.add_constant(graph.unique_value_name(ql.name + "_bias"), add->bias));
  const std::string add_name = drop_add(graph, add->add, graph.nodes[id].outputs[0]);
  ctx.applied(kPass, str_cat("bias of QuantLinear '", graph.nodes[id].name, "'"), {add_name});
  return true;
}

}  // namespace

Status import_qdq(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const size_t count = graph.nodes.size();
  for (size_t i = 0; i < count; ++i) {
    const NodeId id = static_cast<NodeId>(i);
    const Node& node = graph.nodes[id];
    if (node.dead) continue;
    if (absorb_late_bias(graph, ctx, uses, id)) {
      uses.refresh();
      continue;
    }
    if (!reads_dequantized_weights(graph, node)) continue;
    bool rewrote = false;
    if (is_onnx_op(node, "MatMul")) {
      rewrote = import_matmul(graph, ctx, uses, id);
    } else if (is_onnx_op(node, "Gemm")) {
      rewrote = import_gemm(graph, ctx, id);
    }
    if (rewrote) uses.refresh();
  }
  return Status();
}

}  // namespace vitrt
