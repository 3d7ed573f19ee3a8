// widen_half_floats: a model exported in float16 or bfloat16 computes in float32 inside the plan.
//
// Users export half-precision ONNX files (`model.half()` before `torch.onnx.export`, or a
// converter's fp16 pass) for GPU runtimes. vitrt treats the file's float types the way TensorRT
// treats a weakly typed network: the build's precision decides what the kernels compute in, not
// the ONNX types. So, at import, before the first shape inference:
//   - float16 / bfloat16 initializers and Constant / ConstantOfShape values become float32
//     (exact: every half value is a float);
//   - Cast nodes to float16 / bfloat16 cast to float32, and the ops with a `dtype` attribute
//     (EyeLike, the Random* ops, Bernoulli, Multinomial) make float32;
//   - each half-precision graph input is read through a Cast to float32, and each
//     half-precision graph output is written through a Cast back to its type: the plan's
//     inputs and outputs keep the model's names and dtypes.
// The CPU then runs the model in fp32 (it has no half kernels) and every fusion applies; a CUDA
// build computes in its --precision (fp16 / bf16 as asked), with the same fused graph as for
// the fp32 export. Casts to half inside the graph (autocast exports) lose their rounding: the
// plan computes at least as precisely as the file asked.
#include <string>
#include <vector>

#include "core/half.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "widen_half_floats";
constexpr int64_t kOnnxFloat = 1;
constexpr int64_t kOnnxFloat16 = 10;
constexpr int64_t kOnnxBFloat16 = 16;

bool is_half(DType t) {
  return t == DType::kFloat16 || t == DType::kBFloat16;
}
bool is_half_onnx(int64_t t) {
  return t == kOnnxFloat16 || t == kOnnxBFloat16;
}

Tensor widened(const Tensor& t) {
  Tensor out = Tensor::empty(DType::kFloat32, t.shape());
  const uint16_t* in = t.data<uint16_t>();
  float* o = out.data<float>();
  const bool bf16 = t.dtype() == DType::kBFloat16;
  for (int64_t i = 0; i < t.numel(); ++i) o[i] = bf16 ? bf16_to_float(in[i]) : half_to_float(in[i]);
  return out;
}

// The ops whose `dtype` attribute names the type of the tensor they make.
bool has_dtype_attribute(const Node& n) {
  static const char* const kOps[] = {"EyeLike",          "RandomNormal",      "RandomUniform",
                                     "RandomNormalLike", "RandomUniformLike", "Bernoulli",
                                     "Multinomial"};
  for (const char* op : kOps) {
    if (is_onnx_op(n, op)) return true;
  }
  return false;
}

}  // namespace

Status widen_half_floats(Graph& graph, PassContext& ctx) {
  int widened_constants = 0;
  int rewritten_nodes = 0;
  for (Value& v : graph.values) {
    if (v.is_constant() && is_half(v.constant.dtype())) {
      v.constant = widened(v.constant);
      v.dtype = DType::kFloat32;
      ++widened_constants;
    }
  }
  for (Node& n : graph.nodes) {
    if (n.dead) continue;
    if (is_onnx_op(n, "Cast")) {
      Result<int64_t> to = n.attrs.get_int("to", 0);
      if (to.ok() && is_half_onnx(*to)) {
        n.attrs.set_int("to", kOnnxFloat);
        ++rewritten_nodes;
      }
    } else if (is_onnx_op(n, "Constant") || is_onnx_op(n, "ConstantOfShape")) {
      Result<Tensor> value = n.attrs.require_tensor("value");
      if (value.ok() && is_half(value->dtype())) {
        n.attrs.set_tensor("value", widened(*value));
        ++rewritten_nodes;
      }
    } else if (has_dtype_attribute(n)) {
      Result<int64_t> dtype = n.attrs.get_int("dtype", 0);
      if (dtype.ok() && is_half_onnx(*dtype)) {
        n.attrs.set_int("dtype", kOnnxFloat);
        ++rewritten_nodes;
      }
    }
  }

  // Graph inputs keep their type; their readers read a float32 copy.
  std::vector<bool> is_input(graph.values.size(), false);
  for (ValueId id : graph.inputs) is_input[id] = true;
  std::vector<ValueId> half_inputs;
  for (ValueId id : graph.inputs) {
    if (is_half(graph.values[id].dtype)) half_inputs.push_back(id);
  }
  // Graph outputs (other than inputs passed through) are written through a Cast back.
  std::vector<std::pair<size_t, DType>> half_outputs;
  for (size_t k = 0; k < graph.outputs.size(); ++k) {
    const Value& v = graph.values[graph.outputs[k]];
    if (is_half(v.dtype) && !is_input[graph.outputs[k]]) half_outputs.emplace_back(k, v.dtype);
  }
  // Every other half value is float32 now (shape inference re-derives them all).
  for (ValueId id = 0; id < static_cast<ValueId>(graph.values.size()); ++id) {
    if (!is_input[id] && is_half(graph.values[id].dtype)) graph.values[id].dtype = DType::kFloat32;
  }

  for (ValueId in : half_inputs) {
    const std::string name = graph.values[in].name;
    Attributes attrs;
    attrs.set_int("to", kOnnxFloat);
    const NodeId cast = add_node(graph, "", "Cast", name + "_to_float32", {in}, {name + "_float32"},
                                 std::move(attrs));
    const ValueId wide = graph.nodes[cast].outputs[0];
    graph.values[wide].dtype = DType::kFloat32;
    for (NodeId n = 0; n < static_cast<NodeId>(graph.nodes.size()); ++n) {
      if (n == cast || graph.nodes[n].dead) continue;
      for (ValueId& v : graph.nodes[n].inputs) {
        if (v == in) v = wide;
      }
    }
  }
  // Outputs: the computed value is renamed, and the Cast writes the output's own name.
  for (const auto& [k, dtype] : half_outputs) {
    const ValueId computed = graph.outputs[k];
    if (is_half(graph.values[computed].dtype)) continue;  // listed twice: already written
    const std::string name = graph.values[computed].name;
    graph.rename_value(computed, graph.unique_value_name(name + "_float32"));
    Attributes attrs;
    attrs.set_int("to", dtype == DType::kBFloat16 ? kOnnxBFloat16 : kOnnxFloat16);
    const NodeId cast =
        add_node(graph, "", "Cast", name + "_to_" + (dtype == DType::kBFloat16 ? "bf16" : "fp16"),
                 {computed}, {name + "_half"}, std::move(attrs));
    const ValueId out = graph.nodes[cast].outputs[0];
    graph.rename_value(out, name);
    graph.values[out].dtype = dtype;
    for (ValueId& o : graph.outputs) {
      if (o == computed) o = out;
    }
  }

  if (widened_constants + rewritten_nodes + half_inputs.size() + half_outputs.size() > 0) {
    ctx.applied(kPass, str_cat("float16/bfloat16 model computes in float32: ", widened_constants,
                               " constants widened, ", rewritten_nodes, " nodes retyped, ",
                               half_inputs.size(), " inputs and ", half_outputs.size(),
                               " outputs keep their half type through a Cast"));
  }
  return Status::ok_status();
}

}  // namespace vitrt
