// Runs one ONNX node through shape inference and its CPU kernel, for kernel tests: the graph
// holds the node, its inputs (graph inputs or constants) and outputs, like an imported model.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "ir/op_schema.h"

namespace vitrt::testing {

struct NodeInput {
  Tensor value;           // undefined: an omitted optional input
  bool constant = false;  // an initializer (weights), which a factory may pre-pack
};

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
    if (!inputs[i].value.defined()) {
      node.inputs.push_back(kNoValue);
    } else if (inputs[i].constant) {
      node.inputs.push_back(graph.add_constant(name, inputs[i].value));
    } else {
      Value v;
      v.name = name;
      v.dtype = inputs[i].value.dtype();
      v.has_shape = true;
      v.shape = sym_shape_from_static(inputs[i].value.shape());
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

// Infers shapes, builds the kernel with `factory` (the registered one when null), runs it and
// checks the outputs against the inferred static shapes and dtypes.
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
  for (const NodeInput& i : inputs) in.push_back(i.value.defined() ? &i.value : nullptr);
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
