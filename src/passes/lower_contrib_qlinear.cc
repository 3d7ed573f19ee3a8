// com.microsoft's QLinear* ops and QGemm (what ONNX Runtime's quantize_static writes in QOperator
// format beside ONNX's own QLinearConv and QLinearMatMul: a ViT's residual adds, LayerScale
// muls, softmax, class-token concat and head; a CNN's pools, sigmoids and leaky ReLUs) in the
// QDQ form that vitrt's quantized-model import reads:
//
//   QLinearAdd / QLinearMul (A, A_scale, A_zp?, B, B_scale, B_zp?, C_scale, C_zp?)
//   QLinearSigmoid / QLinearLeakyRelu (alpha) / QLinearSoftmax (axis, opset)
//   QLinearGlobalAveragePool / QLinearAveragePool (pool attributes) / QLinearReduceMean (axes,
//     keepdims): (X, X_scale, X_zp?, Y_scale, Y_zp?)
//   QLinearConcat (Y_scale, Y_zp, then X, X_scale, X_zp for each input; axis)
//       -> QuantizeLinear(op(DequantizeLinear(each input)), Y_scale, Y_zp)
//   QGemm (A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?; alpha, transA, transB)
//       -> MatMulInteger(A', B', a_zp, b_zp) (+ C, int32) -> Cast -> Mul(alpha a_scale b_scale)
//          [-> QuantizeLinear(y_scale, y_zp)]: the integer product stays exact
//
// An omitted output zero point is 0 of the input's type (the contrib ops' rule), taken from the
// input's zero point or its known type. Refused with the node's name: channels_last pools
// (NHWC data), QLinearSoftmax with opset < 13 over other than the last axis.
#include "passes/lower_contrib_qlinear.h"

#include <functional>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/lower_contrib_common.h"

namespace vitrt {
namespace {

// The 8-bit type of a quantized tensor: its zero point's, else its own where known.
DType quantized_type(const Graph& g, ValueId x, ValueId zero_point) {
  if (zero_point != kNoValue && g.values[zero_point].dtype != DType::kUndefined) {
    return g.values[zero_point].dtype;
  }
  return g.values[x].dtype;
}

// An output zero point: the given one, else 0 of `type`.
Result<ValueId> output_zero_point(Graph& g, const Node& node, ValueId zp, DType type,
                                  const std::string& name) {
  if (zp != kNoValue) return zp;
  if (type != DType::kInt8 && type != DType::kUInt8) {
    return unsupported(node.describe(),
                       ": its output zero point is omitted and its input's 8-bit type is not "
                       "known from the file");
  }
  return add_constant_value(g, name, Tensor::zeros(type, {}));
}

struct Quantized {
  ValueId x, scale, zero_point;
};

// QuantizeLinear(op(DequantizeLinear(inputs)...)) replacing node `id`'s output 0.
Status requantize(Graph& g, NodeId id, const std::vector<Quantized>& in, Quantized out,
                  const std::function<ValueId(LoweringEmitter&, std::vector<ValueId>)>& op) {
  const Node node = g.nodes[id];
  LoweringEmitter b(g, node.name);
  std::vector<ValueId> floats;
  for (size_t i = 0; i < in.size(); ++i) {
    std::vector<ValueId> dq = {in[i].x, in[i].scale};
    if (in[i].zero_point != kNoValue) dq.push_back(in[i].zero_point);
    floats.push_back(b.op("DequantizeLinear", "/dequantize_" + std::to_string(i), std::move(dq)));
  }
  const ValueId y = op(b, std::move(floats));
  VITRT_ASSIGN_OR_RETURN(ValueId zp, output_zero_point(g, node, out.zero_point,
                                                       quantized_type(g, in[0].x, in[0].zero_point),
                                                       node.name + "/output_zero_point"));
  const ValueId q = b.op("QuantizeLinear", "/quantize", {y, out.scale, zp});
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], q);
  return Status::ok_status();
}

// The float op of the same name with the node's attributes minus those listed.
std::function<ValueId(LoweringEmitter&, std::vector<ValueId>)> same_op(
    const char* type, const Attributes& attrs, std::vector<const char*> drop) {
  Attributes a = attrs;
  for (const char* name : drop) a.erase(name);
  return [type, a](LoweringEmitter& b, std::vector<ValueId> in) {
    return b.op(type, std::string("/") + type, std::move(in), a);
  };
}

Status lower_qgemm(Graph& g, NodeId id) {
  const Node node = g.nodes[id];
  for (int i : {0, 1, 3, 4}) {
    if (!node.has_input(i)) {
      return invalid_model(node.describe(), ": needs A, a_scale, B and b_scale");
    }
  }
  VITRT_ASSIGN_OR_RETURN(float alpha, node.attrs.get_float("alpha", 1.0f));
  LoweringEmitter b(g, node.name);
  ValueId a = node.inputs[0], bq = node.inputs[3];
  VITRT_ASSIGN_OR_RETURN(int64_t trans_a, node.attrs.get_int("transA", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t trans_b, node.attrs.get_int("transB", 0));
  if (trans_a != 0) a = b.transpose(a, {1, 0}, "/a_t");
  if (trans_b != 0) bq = b.transpose(bq, {1, 0}, "/b_t");
  const ValueId a_zp = input_or_none(node, 2);
  ValueId y = integer_chain(b, a, bq, a_zp, input_or_none(node, 5), node.inputs[1], node.inputs[4],
                            kNoValue, alpha, input_or_none(node, 6));
  if (node.has_input(7)) {
    VITRT_ASSIGN_OR_RETURN(ValueId zp, output_zero_point(g, node, input_or_none(node, 8),
                                                         quantized_type(g, node.inputs[0], a_zp),
                                                         node.name + "/output_zero_point"));
    y = b.op("QuantizeLinear", "/quantize", {y, node.inputs[7], zp});
  }
  remove_nodes(g, {id});
  replace_uses(g, node.outputs[0], y);
  return Status::ok_status();
}

}  // namespace

bool is_contrib_qlinear(const std::string& op_type) {
  return op_type == "QGemm" || op_type == "QLinearAdd" || op_type == "QLinearMul" ||
         op_type == "QLinearSigmoid" || op_type == "QLinearLeakyRelu" ||
         op_type == "QLinearSoftmax" || op_type == "QLinearConcat" ||
         op_type == "QLinearGlobalAveragePool" || op_type == "QLinearAveragePool" ||
         op_type == "QLinearReduceMean";
}

Status lower_contrib_qlinear(Graph& g, NodeId id) {
  const Node node = g.nodes[id];
  const std::string& type = node.op_type;
  if (type == "QGemm") return lower_qgemm(g, id);
  auto need = [&](std::initializer_list<int> inputs) -> Status {
    for (int i : inputs) {
      if (!node.has_input(i)) {
        return invalid_model(node.describe(), ": input ", i, " (a tensor or its scale) is missing");
      }
    }
    return Status::ok_status();
  };
  if (type == "QLinearAdd" || type == "QLinearMul") {
    VITRT_RETURN_IF_ERROR(need({0, 1, 3, 4, 6}));
    return requantize(g, id,
                      {{node.inputs[0], node.inputs[1], input_or_none(node, 2)},
                       {node.inputs[3], node.inputs[4], input_or_none(node, 5)}},
                      {kNoValue, node.inputs[6], input_or_none(node, 7)},
                      same_op(type == "QLinearAdd" ? "Add" : "Mul", Attributes(), {}));
  }
  if (type == "QLinearConcat") {
    VITRT_RETURN_IF_ERROR(need({0}));
    if (node.num_inputs() < 5 || (node.num_inputs() - 2) % 3 != 0) {
      return invalid_model(node.describe(), ": needs Y_scale, Y_zero_point and (X, X_scale, ",
                           "X_zero_point) triples, got ", node.num_inputs(), " inputs");
    }
    std::vector<Quantized> in;
    for (int i = 2; i + 2 < node.num_inputs(); i += 3) {
      VITRT_RETURN_IF_ERROR(need({i, i + 1}));
      in.push_back({node.inputs[i], node.inputs[i + 1], input_or_none(node, i + 2)});
    }
    return requantize(g, id, in, {kNoValue, node.inputs[0], input_or_none(node, 1)},
                      same_op("Concat", node.attrs, {}));
  }
  // One quantized input: (X, X_scale, X_zp?, Y_scale, Y_zp?).
  VITRT_RETURN_IF_ERROR(need({0, 1, 3}));
  const std::vector<Quantized> in = {{node.inputs[0], node.inputs[1], input_or_none(node, 2)}};
  const Quantized out = {kNoValue, node.inputs[3], input_or_none(node, 4)};
  if (type == "QLinearSigmoid") return requantize(g, id, in, out, same_op("Sigmoid", {}, {}));
  if (type == "QLinearLeakyRelu") {
    return requantize(g, id, in, out, same_op("LeakyRelu", node.attrs, {}));
  }
  if (type == "QLinearSoftmax") {
    VITRT_ASSIGN_OR_RETURN(int64_t opset, node.attrs.get_int("opset", 13));
    VITRT_ASSIGN_OR_RETURN(int64_t axis, node.attrs.get_int("axis", -1));
    if (opset < 13 && axis != -1) {
      // Softmax before opset 13 normalizes over every axis from `axis` on: the same only for
      // the last one, which the rank is not known here to tell.
      return unsupported(node.describe(), ": QLinearSoftmax of opset ", opset, " over axis ", axis,
                         " (only the last axis, -1, is taken before opset 13)");
    }
    return requantize(g, id, in, out, same_op("Softmax", node.attrs, {"opset"}));
  }
  if (type == "QLinearReduceMean") {
    return requantize(g, id, in, out, [&node](LoweringEmitter& b, std::vector<ValueId> x) {
      // ReduceMean's axes: an input from opset 18, an attribute before.
      Attributes a = node.attrs;
      const Attribute* axes = node.attrs.find("axes");
      if (axes == nullptr || b.opset < 18) {
        return b.op("ReduceMean", "/ReduceMean", {x[0]}, a);
      }
      const ValueId list = b.int64s("/axes", axes->ints);
      a.erase("axes");
      return b.op("ReduceMean", "/ReduceMean", {x[0], list}, a);
    });
  }
  VITRT_ASSIGN_OR_RETURN(int64_t channels_last, node.attrs.get_int("channels_last", 0));
  if (channels_last != 0) {
    return unsupported(node.describe(), ": ", type, " with channels_last = 1 (NHWC data)");
  }
  if (type == "QLinearGlobalAveragePool") {
    return requantize(g, id, in, out, same_op("GlobalAveragePool", {}, {}));
  }
  if (type == "QLinearAveragePool") {
    return requantize(g, id, in, out, same_op("AveragePool", node.attrs, {"channels_last"}));
  }
  return unsupported(node.describe(), ": no lowering for com.microsoft.", type);
}

}  // namespace vitrt
