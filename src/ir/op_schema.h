// Op schemas: which ops exist, how many inputs/outputs they take, and how their output types
// and (symbolic) shapes follow from their inputs.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace vitrt {

// What a shape-inference function sees of one node.
class InferContext {
 public:
  InferContext(Graph& graph, NodeId node_id) : graph_(graph), node_id_(node_id) {}

  const Node& node() const { return graph_.nodes[node_id_]; }
  const Graph& graph() const { return graph_; }
  int64_t opset() const { return graph_.onnx_opset(); }
  const Attributes& attrs() const { return node().attrs; }

  int num_inputs() const { return node().num_inputs(); }
  bool has_input(int i) const { return node().has_input(i); }
  const Value& input(int i) const { return graph_.values[node().inputs[i]]; }
  DType input_dtype(int i) const { return input(i).dtype; }
  bool input_has_shape(int i) const { return has_input(i) && input(i).has_shape; }
  const SymShape& input_shape(int i) const { return input(i).shape; }
  int input_rank(int i) const { return static_cast<int>(input(i).shape.size()); }
  // The input's value when it is a constant; nullptr otherwise.
  const Tensor* input_constant(int i) const;
  // The input's elements as Dims when known (constant integer tensor or shape arithmetic).
  const std::vector<Dim>* input_sym_value(int i) const;

  int num_outputs() const { return static_cast<int>(node().outputs.size()); }
  bool has_output(int i) const;
  void set_output(int i, DType dtype, SymShape shape);
  void set_output_unknown_shape(int i, DType dtype);  // rank unknown
  void set_output_sym_value(int i, std::vector<Dim> value);

  // An invalid-model error prefixed with the node: "node 'x' (Reshape): <message>".
  template <typename... Args>
  Status error(const Args&... args) const {
    return invalid_model(node().describe(), ": ", args...);
  }

 private:
  Graph& graph_;
  NodeId node_id_;
};

using ShapeInferFn = Status (*)(InferContext&);

struct OpSchema {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  int min_inputs = 0;
  int max_inputs = 0;
  int min_outputs = 1;
  int max_outputs = 1;
  ShapeInferFn infer = nullptr;
};

class OpRegistry {
 public:
  // Every schema vitrt knows; built once on first use.
  static const OpRegistry& global();

  void add(OpSchema schema);
  const OpSchema* find(const std::string& domain, const std::string& op_type) const;
  std::vector<std::string> op_types() const;  // "Add", "com.microsoft.Gelu", ...

 private:
  std::map<std::pair<std::string, std::string>, OpSchema> schemas_;
};

// Registration functions, one per op family file under src/ir/ops/ (see op_registry.cc).
void register_elementwise_schemas(OpRegistry& registry);
void register_reduce_schemas(OpRegistry& registry);
void register_normalization_schemas(OpRegistry& registry);
void register_shape_op_schemas(OpRegistry& registry);
void register_indexing_schemas(OpRegistry& registry);
void register_linear_schemas(OpRegistry& registry);
void register_col2im_schema(OpRegistry& registry);
void register_resize_schemas(OpRegistry& registry);
void register_grid_sample_schemas(OpRegistry& registry);
void register_pooling_schemas(OpRegistry& registry);
void register_qdq_schemas(OpRegistry& registry);        // QuantizeLinear, DequantizeLinear
void register_recurrent_schemas(OpRegistry& registry);  // RNN, GRU, LSTM (lowered at import)
// Fused ops of the vitrt domain, made by the optimizer passes (src/passes/).
void register_attention_schemas(OpRegistry& registry);         // vitrt.Attention
void register_fused_linear_schemas(OpRegistry& registry);      // vitrt.Linear
void register_fused_norm_schemas(OpRegistry& registry);        // vitrt.AddLayerNorm
void register_scale_shift_schemas(OpRegistry& registry);       // vitrt.ScaleShift
void register_patchify_schemas(OpRegistry& registry);          // vitrt.Patchify
void register_rotary_embedding_schemas(OpRegistry& registry);  // vitrt.RotaryEmbedding
void register_quant_linear_schemas(OpRegistry& registry);      // vitrt.QuantLinear

// Checks every node against its schema (known op, input/output counts) and infers output
// dtypes and symbolic shapes in topological order. An unknown op is an kUnsupported error that
// names op type, domain, opset and node.
Status infer_shapes(Graph& graph);

// Helpers shared by schema files.
// Normalises a possibly negative axis against `rank`; error names the node and attribute.
Result<int> normalize_axis(const InferContext& ctx, int64_t axis, int rank, const char* what);
// Multidirectional (NumPy) broadcast of two symbolic shapes.
Result<SymShape> broadcast_shapes(const InferContext& ctx, const SymShape& a, const SymShape& b);

}  // namespace vitrt
