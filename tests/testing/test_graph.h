// Builds small IR graphs by hand for pass and kernel tests, and runs them on the CPU backend.
//
//   TestGraph g;
//   ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 8});
//   ValueId y = g.op("Relu", {x});
//   g.output(y);
//   ASSERT_TRUE(g.infer().ok());
//   auto outputs = run_graph(g.graph(), {random_tensor(...)});
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/op_schema.h"
#include "runtime/cpu_engine.h"

namespace vitrt::testing {

class TestGraph {
 public:
  explicit TestGraph(int64_t opset = 17) {
    graph_.name = "test";
    graph_.opset_imports[""] = opset;
    graph_.opset_imports["vitrt"] = 1;
    graph_.opset_imports["com.microsoft"] = 1;
  }

  ValueId input(const std::string& name, DType dtype, SymShape shape) {
    Value v;
    v.name = name;
    v.dtype = dtype;
    v.has_shape = true;
    v.shape = std::move(shape);
    const ValueId id = graph_.add_value(std::move(v));
    graph_.inputs.push_back(id);
    return id;
  }

  ValueId constant(const std::string& name, Tensor t) { return graph_.add_constant(name, t); }

  // Adds a node with `num_outputs` outputs and returns their ids. Node and value names are
  // "<op_type>_<n>" unless `name` is given.
  std::vector<ValueId> op_multi(const std::string& op_type, std::vector<ValueId> inputs,
                                int num_outputs, Attributes attrs = {},
                                const std::string& domain = "", std::string name = "") {
    if (name.empty()) name = op_type + "_" + std::to_string(graph_.nodes.size());
    Node node;
    node.name = name;
    node.op_type = op_type;
    node.domain = domain;
    node.inputs = std::move(inputs);
    node.attrs = std::move(attrs);
    for (int i = 0; i < num_outputs; ++i) {
      Value v;
      v.name = name + (num_outputs == 1 ? std::string("_out") : "_out" + std::to_string(i));
      node.outputs.push_back(graph_.add_value(std::move(v)));
    }
    std::vector<ValueId> outs = node.outputs;
    graph_.add_node(std::move(node));
    return outs;
  }

  ValueId op(const std::string& op_type, std::vector<ValueId> inputs, Attributes attrs = {},
             const std::string& domain = "", std::string name = "") {
    return op_multi(op_type, std::move(inputs), 1, std::move(attrs), domain, std::move(name))[0];
  }

  void output(ValueId v) { graph_.outputs.push_back(v); }

  Status infer() { return infer_shapes(graph_); }
  Graph& graph() { return graph_; }
  const Graph& graph() const { return graph_; }

 private:
  Graph graph_;
};

// Runs `graph` (shape-inferred) on the CPU backend with `inputs` in graph-input order.
inline Result<std::vector<Tensor>> run_graph(const Graph& graph,
                                             const std::vector<Tensor>& inputs) {
  VITRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, create_cpu_engine(graph));
  std::vector<NamedTensor> named;
  for (size_t i = 0; i < inputs.size() && i < graph.inputs.size(); ++i) {
    named.push_back({graph.values[graph.inputs[i]].name, inputs[i]});
  }
  std::unique_ptr<ExecutionContext> ctx = engine->create_context();
  VITRT_ASSIGN_OR_RETURN(std::vector<NamedTensor> outs, ctx->run(named));
  std::vector<Tensor> result;
  for (NamedTensor& o : outs) result.push_back(std::move(o.tensor));
  return result;
}

// The live node called `name`, or null.
inline const Node* node_named(const Graph& graph, const std::string& name) {
  for (const Node& node : graph.nodes) {
    if (!node.dead && node.name == name) return &node;
  }
  return nullptr;
}

// Counts live nodes of `op_type` (any domain).
inline int count_ops(const Graph& graph, const std::string& op_type) {
  int n = 0;
  for (const Node& node : graph.nodes) n += !node.dead && node.op_type == op_type;
  return n;
}

}  // namespace vitrt::testing
