// Graph construction, traversal, validation and compaction.
#include "ir/graph.h"

#include <algorithm>
#include <sstream>

namespace vitrt {

std::string Node::describe() const {
  return str_cat("node '", name, "' (", op_type, ")");
}

int64_t Graph::onnx_opset() const {
  auto it = opset_imports.find("");
  if (it != opset_imports.end()) return it->second;
  it = opset_imports.find("ai.onnx");
  return it != opset_imports.end() ? it->second : 0;
}

ValueId Graph::add_value(Value v) {
  values.push_back(std::move(v));
  const auto id = static_cast<ValueId>(values.size() - 1);
  // The first value of a name keeps it, as a rebuild of the index would.
  if (name_index_valid_) name_index_.emplace(values.back().name, id);
  return id;
}

void Graph::rename_value(ValueId id, std::string new_name) {
  values[id].name = std::move(new_name);
  name_index_valid_ = false;
}

ValueId Graph::add_constant(const std::string& value_name, Tensor t) {
  Value v;
  v.name = value_name;
  v.dtype = t.dtype();
  v.has_shape = true;
  v.shape = sym_shape_from_static(t.shape());
  v.constant = std::move(t);
  return add_value(std::move(v));
}

NodeId Graph::add_node(Node n) {
  const NodeId id = static_cast<NodeId>(nodes.size());
  for (ValueId out : n.outputs) {
    if (out != kNoValue) values[out].producer = id;
  }
  if (node_names_valid_) node_names_.insert(n.name);
  nodes.push_back(std::move(n));
  return id;
}

std::string Graph::unique_node_name(const std::string& base) const {
  if (!node_names_valid_) {
    node_names_.clear();
    for (const Node& n : nodes) node_names_.insert(n.name);
    node_names_valid_ = true;
  }
  std::string unique = base;
  for (int i = 1; node_names_.count(unique) != 0; ++i) unique = base + "_" + std::to_string(i);
  return unique;
}

std::optional<ValueId> Graph::find_value(const std::string& value_name) const {
  if (!name_index_valid_) {
    name_index_.clear();
    for (size_t i = 0; i < values.size(); ++i) {
      name_index_.emplace(values[i].name, static_cast<ValueId>(i));
    }
    name_index_valid_ = true;
  }
  auto it = name_index_.find(value_name);
  if (it == name_index_.end()) return std::nullopt;
  return it->second;
}

std::string Graph::unique_value_name(const std::string& base) const {
  if (!find_value(base)) return base;
  for (int i = 1;; ++i) {
    std::string candidate = base + "_" + std::to_string(i);
    if (!find_value(candidate)) return candidate;
  }
}

Result<std::vector<NodeId>> Graph::topological_order() const {
  const int n = static_cast<int>(nodes.size());
  std::vector<int> pending(n, 0);
  std::vector<std::vector<NodeId>> readers(n);
  for (NodeId i = 0; i < n; ++i) {
    if (nodes[i].dead) continue;
    for (ValueId in : nodes[i].inputs) {
      if (in == kNoValue) continue;
      const NodeId p = values[in].producer;
      if (p >= 0 && !nodes[p].dead) {
        ++pending[i];
        readers[p].push_back(i);
      }
    }
  }
  std::vector<NodeId> order;
  order.reserve(n);
  // Seed in original order so that the result is stable (and matches the file when sorted).
  for (NodeId i = 0; i < n; ++i) {
    if (!nodes[i].dead && pending[i] == 0) order.push_back(i);
  }
  for (size_t k = 0; k < order.size(); ++k) {
    for (NodeId r : readers[order[k]]) {
      if (--pending[r] == 0) order.push_back(r);
    }
  }
  size_t live = 0;
  for (const Node& node : nodes) live += node.dead ? 0 : 1;
  if (order.size() != live) {
    for (NodeId i = 0; i < n; ++i) {
      if (!nodes[i].dead && pending[i] > 0) {
        return invalid_model(nodes[i].describe(), " is part of a cycle");
      }
    }
  }
  return order;
}

std::vector<std::vector<NodeId>> Graph::consumers() const {
  std::vector<std::vector<NodeId>> out(values.size());
  for (NodeId i = 0; i < static_cast<NodeId>(nodes.size()); ++i) {
    if (nodes[i].dead) continue;
    for (ValueId in : nodes[i].inputs) {
      if (in != kNoValue) out[in].push_back(i);
    }
  }
  return out;
}

Status Graph::validate() const {
  const ValueId nv = static_cast<ValueId>(values.size());
  std::vector<int> produced(values.size(), 0);
  std::vector<bool> bound(values.size(), false);
  for (ValueId in : inputs) {
    if (in < 0 || in >= nv) return internal_error("graph input id ", in, " out of range");
    bound[in] = true;
  }
  for (ValueId v = 0; v < nv; ++v) {
    if (values[v].is_constant()) bound[v] = true;
  }
  for (const Node& node : nodes) {
    if (node.dead) continue;
    for (ValueId out : node.outputs) {
      if (out == kNoValue) continue;
      if (out < 0 || out >= nv) return internal_error(node.describe(), ": output id out of range");
      if (bound[out]) {
        return invalid_model(node.describe(), ": output '", values[out].name,
                             "' is also a graph input or initializer");
      }
      if (++produced[out] > 1) {
        return invalid_model(node.describe(), ": output '", values[out].name,
                             "' is produced by more than one node");
      }
    }
  }
  for (const Node& node : nodes) {
    if (node.dead) continue;
    for (ValueId in : node.inputs) {
      if (in == kNoValue) continue;
      if (in < 0 || in >= nv) return internal_error(node.describe(), ": input id out of range");
      if (!bound[in] && produced[in] == 0) {
        return invalid_model(node.describe(), ": input '", values[in].name,
                             "' is not a graph input, an initializer or any node's output");
      }
    }
  }
  for (ValueId out : outputs) {
    if (out < 0 || out >= nv) return internal_error("graph output id out of range");
    if (!bound[out] && produced[out] == 0) {
      return invalid_model("graph output '", values[out].name, "' is not produced by any node");
    }
  }
  auto order = topological_order();
  return order.ok() ? Status() : order.status();
}

void Graph::compact() {
  std::vector<bool> used(values.size(), false);
  for (ValueId v : inputs) used[v] = true;
  for (ValueId v : outputs) used[v] = true;
  for (const Node& node : nodes) {
    if (node.dead) continue;
    for (ValueId v : node.inputs) {
      if (v != kNoValue) used[v] = true;
    }
    for (ValueId v : node.outputs) {
      if (v != kNoValue) used[v] = true;
    }
  }
  std::vector<ValueId> value_map(values.size(), kNoValue);
  std::vector<Value> new_values;
  for (size_t i = 0; i < values.size(); ++i) {
    if (!used[i]) continue;
    value_map[i] = static_cast<ValueId>(new_values.size());
    new_values.push_back(std::move(values[i]));
  }
  std::vector<Node> new_nodes;
  for (Node& node : nodes) {
    if (node.dead) continue;
    for (ValueId& v : node.inputs) {
      if (v != kNoValue) v = value_map[v];
    }
    for (ValueId& v : node.outputs) {
      if (v != kNoValue) v = value_map[v];
    }
    new_nodes.push_back(std::move(node));
  }
  for (Value& v : new_values) v.producer = -1;
  for (size_t i = 0; i < new_nodes.size(); ++i) {
    for (ValueId v : new_nodes[i].outputs) {
      if (v != kNoValue) new_values[v].producer = static_cast<NodeId>(i);
    }
  }
  for (ValueId& v : inputs) v = value_map[v];
  for (ValueId& v : outputs) v = value_map[v];
  values = std::move(new_values);
  nodes = std::move(new_nodes);
  name_index_valid_ = false;
  node_names_valid_ = false;
}

std::map<std::string, int> Graph::op_counts() const {
  std::map<std::string, int> counts;
  for (const Node& node : nodes) {
    if (!node.dead) ++counts[node.domain.empty() ? node.op_type : node.domain + "." + node.op_type];
  }
  return counts;
}

int64_t Graph::parameter_count() const {
  int64_t n = 0;
  for (const Value& v : values) {
    if (v.is_constant()) n += v.constant.numel();
  }
  return n;
}

int64_t Graph::parameter_bytes() const {
  int64_t n = 0;
  for (const Value& v : values) {
    if (v.is_constant()) n += static_cast<int64_t>(v.constant.nbytes());
  }
  return n;
}

namespace {

std::string value_text(const Value& v) {
  std::string s = str_cat("'", v.name, "': ", dtype_name(v.dtype));
  s += v.has_shape ? sym_shape_to_string(v.shape) : std::string("[rank ?]");
  return s;
}

}  // namespace

std::string graph_to_text(const Graph& graph, bool with_constants) {
  std::ostringstream out;
  out << "graph '" << graph.name << "' (opset " << graph.onnx_opset() << ")\n";
  for (ValueId v : graph.inputs) out << "  input  " << value_text(graph.values[v]) << "\n";
  for (ValueId v : graph.outputs) out << "  output " << value_text(graph.values[v]) << "\n";
  if (with_constants) {
    for (const Value& v : graph.values) {
      if (v.is_constant()) out << "  const  " << value_text(v) << "\n";
    }
  }
  auto order = graph.topological_order();
  std::vector<NodeId> ids;
  if (order.ok()) {
    ids = *order;
  } else {
    for (NodeId i = 0; i < static_cast<NodeId>(graph.nodes.size()); ++i) ids.push_back(i);
  }
  for (NodeId id : ids) {
    const Node& node = graph.nodes[id];
    if (node.dead) continue;
    out << "  " << (node.domain.empty() ? "" : node.domain + ".") << node.op_type << " '"
        << node.name << "' (";
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (i) out << ", ";
      if (node.inputs[i] == kNoValue) {
        out << "-";
        continue;
      }
      const Value& v = graph.values[node.inputs[i]];
      out << (v.is_constant() ? "const " : "") << v.name;
    }
    out << ") -> ";
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (i) out << ", ";
      if (node.outputs[i] == kNoValue) {
        out << "-";
        continue;
      }
      out << value_text(graph.values[node.outputs[i]]);
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace vitrt
