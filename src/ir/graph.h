// The intermediate representation: a graph of Nodes that read and write Values.
//
// Values and nodes live in vectors and are referred to by index, so passes can hold ids across
// rewrites. A removed node is marked dead and dropped by compact(); passes never reuse ids
// while they run. The ONNX importer, the optimizer passes and the plan reader all produce this
// Graph; the runtime executes it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/dim.h"
#include "ir/attribute.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

using ValueId = int32_t;
using NodeId = int32_t;
constexpr ValueId kNoValue = -1;  // an omitted optional input

struct Value {
  std::string name;
  DType dtype = DType::kUndefined;
  bool has_shape = false;  // false: rank unknown
  SymShape shape;
  // Defined for initializers and folded constants; the runtime binds it and never recomputes.
  Tensor constant;
  NodeId producer = -1;  // -1 for graph inputs and constants
  // For small integer tensors computed from shapes (Shape -> Gather -> Concat -> Reshape), the
  // element values as Dims, filled by shape inference so Reshape targets stay symbolic.
  std::optional<std::vector<Dim>> sym_value;
  // The exporter's value_info dims, when it gave them: shape inference takes a dim from here
  // where it cannot work one out, so the dynamo exporter's named sizes ("s1*s2 + 1", the token
  // count under dynamic height and width) compare equal wherever they recur.
  SymShape shape_hint;
  bool is_constant() const { return constant.defined(); }
};

struct Node {
  std::string name;              // unique; the importer names unnamed nodes "<op_type>_<index>"
  std::string op_type;           // "MatMul", "LayerNormalization", ...
  std::string domain;            // "" for the default ONNX domain, "com.microsoft", "vitrt"
  std::vector<ValueId> inputs;   // kNoValue for an omitted optional input
  std::vector<ValueId> outputs;  // kNoValue for an omitted optional output
  Attributes attrs;
  bool dead = false;

  int num_inputs() const { return static_cast<int>(inputs.size()); }
  bool has_input(int i) const { return i < num_inputs() && inputs[i] != kNoValue; }
  // "node 'name' (Op)" for messages.
  std::string describe() const;
};

class Graph {
 public:
  std::string name;
  std::map<std::string, int64_t> opset_imports;  // domain -> version ("" is ai.onnx)
  std::string producer_name;                     // "pytorch", ...
  std::string producer_version;

  std::vector<Value> values;
  std::vector<Node> nodes;
  // Graph inputs, excluding initializers. In a sub-graph (an If branch): its formal inputs, then
  // the outer-scope values it reads by name ("captures"), which the owning node takes as extra
  // inputs after its own, in the same order; so a sub-graph is self-contained and the parent's
  // edges show every value a branch reads.
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;  // graph outputs

  // The opset version of the default domain (ai.onnx).
  int64_t onnx_opset() const;

  ValueId add_value(Value v);
  // Adds a constant value (an initializer); returns its id.
  ValueId add_constant(const std::string& name, Tensor t);
  NodeId add_node(Node n);  // sets producer links of the outputs
  std::optional<ValueId> find_value(const std::string& name) const;
  // Renames a value (passes keep graph-output names stable this way).
  void rename_value(ValueId id, std::string new_name);
  // A fresh value name that does not collide: "<base>", "<base>_1", ...
  std::string unique_value_name(const std::string& base) const;
  // Likewise for node names (dead nodes' included, until compact()).
  std::string unique_node_name(const std::string& base) const;

  // Live nodes in an order where every node follows the producers of its inputs; an error
  // naming a node on the cycle when the graph is cyclic.
  Result<std::vector<NodeId>> topological_order() const;
  // For each value, the live nodes that read it.
  std::vector<std::vector<NodeId>> consumers() const;
  // Checks the structure: ids in range, every input produced or bound, no value produced
  // twice, no cycles. Messages name the node and value.
  Status validate() const;
  // Drops dead nodes and values no live node or graph output refers to, renumbering ids.
  void compact();

  // Counts of live nodes by op type.
  std::map<std::string, int> op_counts() const;
  int64_t parameter_count() const;  // elements in constant values
  int64_t parameter_bytes() const;

 private:
  // Name lookups, built on first use and kept up to date by add_value / add_node, so a pass
  // that adds thousands of nodes (an unrolled LSTM) does not rebuild them per node.
  mutable std::unordered_map<std::string, ValueId> name_index_;
  mutable bool name_index_valid_ = false;
  mutable std::unordered_set<std::string> node_names_;
  mutable bool node_names_valid_ = false;
};

// Human-readable listing: inputs, outputs, one line per node with shapes.
std::string graph_to_text(const Graph& graph, bool with_constants = false);

}  // namespace vitrt
