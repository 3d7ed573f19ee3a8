// Build-time evaluation of small values computed from constants and static shapes, for passes
// that must know what a subgraph computes without rewriting it (the additive attention mask an
// export builds from Shape, Range, comparisons and Where).
//
// Evaluation runs the CPU reference kernels on the subgraph's nodes. It never changes the graph:
// a value that depends on a graph input, an unknown dim or an op without a kernel is simply not
// evaluable.
#pragma once

#include <map>
#include <optional>

#include "ir/graph.h"
#include "vitrt/tensor.h"

namespace vitrt {

class ValueEvaluator {
 public:
  explicit ValueEvaluator(const Graph& graph) : graph_(graph) {}

  // The exact value of `v`, or nullopt.
  std::optional<Tensor> exact(ValueId v);
  // A tensor that broadcasts to the value of `v`: Expand nodes are looked through wherever only
  // elementwise (broadcasting) ops follow them, so a mask expanded to [batch, 1, S, S] with a
  // symbolic batch evaluates to its [1, 1, S, S] source. nullopt when not evaluable.
  std::optional<Tensor> up_to_broadcast(ValueId v);

 private:
  std::optional<Tensor> run(const Node& node, ValueId v, bool broadcast_inputs);

  const Graph& graph_;
  std::map<ValueId, std::optional<Tensor>> exact_cache_;
  std::map<ValueId, std::optional<Tensor>> broadcast_cache_;
  int depth_ = 0;
};

}  // namespace vitrt
