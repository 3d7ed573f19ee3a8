// Runs one ONNX node through schema shape inference and its CPU kernel, for kernel tests.
//
// Every run also checks that the kernel's output shapes agree with what shape inference
// predicted, so each kernel test doubles as a check of the schema.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/half.h"
#include "cpu/cpu_kernel.h"
#include "ir/op_schema.h"

namespace vitrt::testing {

struct NodeInput {
  Tensor tensor;          // undefined: an omitted optional input
  bool constant = false;  // bound as an initializer (visible to shape inference)
};

inline NodeInput constant_input(Tensor t) {
  return {std::move(t), true};
}
inline NodeInput runtime_input(Tensor t) {
  return {std::move(t), false};
}
inline NodeInput omitted_input() {
  return {};
}

struct NodeRun {
  Status status;                // the first error (inference, kernel creation or run)
  std::vector<Tensor> outputs;  // on success
};

inline NodeRun run_single_node(const std::string& op_type, std::vector<NodeInput> inputs,
                               Attributes attrs, int num_outputs = 1, int64_t opset = 18) {
  NodeRun result;
  Graph g;
  g.opset_imports[""] = opset;
  Node node;
  node.name = "test_" + op_type;
  node.op_type = op_type;
  node.attrs = std::move(attrs);
  std::vector<const Tensor*> kernel_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i].tensor;
    if (!t.defined()) {
      node.inputs.push_back(kNoValue);
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    if (inputs[i].constant) {
      node.inputs.push_back(g.add_constant(name, t));
    } else {
      Value v;
      v.name = name;
      v.dtype = t.dtype();
      v.has_shape = true;
      v.shape = sym_shape_from_static(t.shape());
      node.inputs.push_back(g.add_value(std::move(v)));
      g.inputs.push_back(node.inputs.back());
    }
  }
  for (int i = 0; i < num_outputs; ++i) {
    Value v;
    v.name = "out" + std::to_string(i);
    node.outputs.push_back(g.add_value(std::move(v)));
    g.outputs.push_back(node.outputs.back());
  }
  g.add_node(node);
  result.status = infer_shapes(g);
  if (!result.status.ok()) return result;
  CpuKernelFactory factory = CpuKernelRegistry::global().find("", op_type);
  if (factory == nullptr) {
    result.status = unsupported("no CPU kernel for ", op_type);
    return result;
  }
  KernelInit init{g, g.nodes[0], opset};
  auto kernel = factory(init);
  if (!kernel.ok()) {
    result.status = kernel.status();
    return result;
  }
  for (const NodeInput& in : inputs)
    kernel_inputs.push_back(in.tensor.defined() ? &in.tensor : nullptr);
  std::vector<Tensor> outputs(num_outputs);
  // As the executor runs a kernel: an output too large to allocate is an error, not a throw.
  result.status = run_cpu_kernel(**kernel, kernel_inputs, outputs);
  if (!result.status.ok()) return result;
  for (int i = 0; i < num_outputs; ++i) {
    const Value& v = g.values[g.nodes[0].outputs[i]];
    EXPECT_EQ(v.dtype, outputs[i].dtype()) << op_type << " output " << i;
    if (v.has_shape) {
      auto inferred = sym_shape_to_static(v.shape);
      // Only static predictions can be compared; unknown dims are allowed.
      if (inferred) {
        EXPECT_EQ(shape_to_string(*inferred), shape_to_string(outputs[i].shape()))
            << op_type << " output " << i << ": inferred shape differs from the kernel's";
      }
    }
  }
  result.outputs = std::move(outputs);
  return result;
}

// A tensor of `dtype` holding `values` (converted, half types rounded to nearest even).
inline Tensor tensor_of(DType dtype, std::vector<int64_t> shape,
                        const std::vector<double>& values) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  EXPECT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    switch (dtype) {
      case DType::kFloat32:
        t.data<float>()[i] = static_cast<float>(v);
        break;
      case DType::kFloat64:
        t.data<double>()[i] = v;
        break;
      case DType::kFloat16:
        t.data<uint16_t>()[i] = float_to_half(static_cast<float>(v));
        break;
      case DType::kBFloat16:
        t.data<uint16_t>()[i] = float_to_bf16(static_cast<float>(v));
        break;
      case DType::kInt32:
        t.data<int32_t>()[i] = static_cast<int32_t>(v);
        break;
      case DType::kInt64:
        t.data<int64_t>()[i] = static_cast<int64_t>(v);
        break;
      case DType::kUInt8:
        t.data<uint8_t>()[i] = static_cast<uint8_t>(v);
        break;
      case DType::kInt8:
        t.data<int8_t>()[i] = static_cast<int8_t>(v);
        break;
      case DType::kUInt32:
        t.data<uint32_t>()[i] = static_cast<uint32_t>(v);
        break;
      case DType::kUInt64:
        t.data<uint64_t>()[i] = static_cast<uint64_t>(v);
        break;
      default:
        ADD_FAILURE() << "tensor_of: dtype " << dtype_name(dtype);
        return t;
    }
  }
  return t;
}

// All elements as doubles (for references computed in float64).
inline std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = t.element_as_double(i);
  return out;
}

// A one-node graph; `graph.nodes[0]` is the node.
inline Graph single_node_graph(const std::string& op_type, Attributes attrs,
                               const std::vector<NodeInput>& inputs, int num_outputs = 1) {
  Graph graph;
  graph.opset_imports[""] = 17;
  Node node;
  node.name = "n0";
  node.op_type = op_type;
  node.attrs = std::move(attrs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    if (!inputs[i].tensor.defined()) {
      node.inputs.push_back(kNoValue);
    } else if (inputs[i].constant) {
      node.inputs.push_back(graph.add_constant(name, inputs[i].tensor));
    } else {
      Value v;
      v.name = name;
      v.dtype = inputs[i].tensor.dtype();
      v.has_shape = true;
      v.shape = sym_shape_from_static(inputs[i].tensor.shape());
      node.inputs.push_back(graph.add_value(std::move(v)));
      graph.inputs.push_back(node.inputs.back());
    }
  }
  for (int i = 0; i < num_outputs; ++i) {
    Value v;
    v.name = "out" + std::to_string(i);
    node.outputs.push_back(graph.add_value(std::move(v)));
    graph.outputs.push_back(node.outputs.back());
  }
  graph.add_node(std::move(node));
  return graph;
}

// Like run_single_node above, with a chosen kernel factory (to compare a fast path with the
// general one); returns the outputs or the first error.
inline Result<std::vector<Tensor>> run_single_node(const std::string& op_type, Attributes attrs,
                                                   const std::vector<NodeInput>& inputs,
                                                   CpuKernelFactory factory = nullptr,
                                                   int num_outputs = 1) {
  Graph graph = single_node_graph(op_type, std::move(attrs), inputs, num_outputs);
  VITRT_RETURN_IF_ERROR(infer_shapes(graph));
  if (factory == nullptr) factory = CpuKernelRegistry::global().find("", op_type);
  if (factory == nullptr) return not_found("no CPU kernel for ", op_type);
  const Node& node = graph.nodes[0];
  VITRT_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> kernel,
                         factory(KernelInit{graph, node, graph.onnx_opset()}));
  std::vector<const Tensor*> in;
  for (const NodeInput& i : inputs) in.push_back(i.tensor.defined() ? &i.tensor : nullptr);
  std::vector<Tensor> out(node.outputs.size());
  Status s = kernel->run(in, out);
  if (!s.ok()) return s.with_context(node.describe());
  for (size_t i = 0; i < out.size(); ++i) {
    const Value& v = graph.values[node.outputs[i]];
    EXPECT_EQ(out[i].dtype(), v.dtype) << "output " << i;
    auto inferred = sym_shape_to_static(v.shape);
    EXPECT_TRUE(v.has_shape && inferred.has_value())
        << "output " << i << " inferred as " << sym_shape_to_string(v.shape);
    if (inferred) {
      EXPECT_EQ(shape_to_string(out[i].shape()), shape_to_string(*inferred)) << "output " << i;
    }
  }
  return out;
}

// float32 tensor -> float64 copy (references are computed in float64).
inline Tensor to_f64(const Tensor& t) {
  Tensor r = Tensor::empty(DType::kFloat64, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) r.data<double>()[i] = t.element_as_double(i);
  return r;
}

}  // namespace vitrt::testing
