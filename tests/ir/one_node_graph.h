// A one-node graph whose first input has a symbolic shape, for shape-inference tests.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "ir/op_schema.h"

namespace vitrt::testing {

struct OneNodeGraph {
  Graph g;
  NodeId node = -1;

  std::string out_shape(int i = 0) const {
    const Value& v = g.values[g.nodes[node].outputs[i]];
    return v.has_shape ? sym_shape_to_string(v.shape) : "unknown";
  }
  DType out_dtype(int i = 0) const { return g.values[g.nodes[node].outputs[i]].dtype; }
};

// Input 0 is a float32 graph input of shape `x_shape`. Each of `extra` becomes a constant input,
// an undefined tensor a runtime int64 [1] input, and `omit` marks omitted optional inputs by
// position in `extra`.
inline OneNodeGraph make_one_node_graph(const std::string& op, const SymShape& x_shape,
                                        std::vector<Tensor> extra, Attributes attrs,
                                        int num_outputs = 1, int64_t opset = 18,
                                        std::vector<int> omit = {}) {
  OneNodeGraph out;
  Graph& g = out.g;
  g.opset_imports[""] = opset;
  Value x;
  x.name = "x";
  x.dtype = DType::kFloat32;
  x.has_shape = true;
  x.shape = x_shape;
  Node n;
  n.name = "n";
  n.op_type = op;
  n.attrs = std::move(attrs);
  n.inputs.push_back(g.add_value(x));
  g.inputs.push_back(n.inputs[0]);
  for (size_t i = 0; i < extra.size(); ++i) {
    if (std::find(omit.begin(), omit.end(), static_cast<int>(i)) != omit.end()) {
      n.inputs.push_back(kNoValue);
    } else if (extra[i].defined()) {
      n.inputs.push_back(g.add_constant(str_cat("c", i), extra[i]));
    } else {
      Value v;
      v.name = str_cat("r", i);
      v.dtype = DType::kInt64;
      v.has_shape = true;
      v.shape = {Dim(1)};
      n.inputs.push_back(g.add_value(v));
      g.inputs.push_back(n.inputs.back());
    }
  }
  for (int i = 0; i < num_outputs; ++i) {
    Value v;
    v.name = str_cat("y", i);
    n.outputs.push_back(g.add_value(v));
  }
  out.node = g.add_node(n);
  return out;
}

}  // namespace vitrt::testing
