// Build-time evaluation of small values computed from constants and static shapes, for passes
// that must know what a subgraph computes without rewriting it (the additive attention mask an
// export builds from Shape, Range, comparisons and Where).
//
// Evaluation runs the CPU reference kernels on the subgraph's nodes. It never changes the graph:
// a value that depends on a graph input, an unknown dim or an op without a kernel is simply not
// evaluable. Constructed with bindings of shape symbols (e.g. {"seq": 7}), symbolic dims and
// shape values evaluate under them: a value computed only from shapes (a causal mask built from
// Shape, Range, Trilu) can then be checked at several lengths of a dynamic axis.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "ir/graph.h"
#include "vitrt/tensor.h"

namespace vitrt {

class ValueEvaluator {
 public:
  explicit ValueEvaluator(const Graph& graph, std::map<std::string, int64_t> bindings = {})
      : graph_(graph), bindings_(std::move(bindings)) {}

  // The exact value of `v`, or nullopt.
  std::optional<Tensor> exact(ValueId v);
  // A tensor that broadcasts to the value of `v`: Expand nodes are looked through wherever only
  // elementwise (broadcasting) ops follow them, so a mask expanded to [batch, 1, S, S] with a
  // symbolic batch evaluates to its [1, 1, S, S] source. nullopt when not evaluable.
  std::optional<Tensor> up_to_broadcast(ValueId v);

 private:
  std::optional<Tensor> run(const Node& node, ValueId v, bool broadcast_inputs);

  const Graph& graph_;
  const std::map<std::string, int64_t> bindings_;
  std::map<ValueId, std::optional<Tensor>> exact_cache_;
  std::map<ValueId, std::optional<Tensor>> broadcast_cache_;
  int depth_ = 0;
};

}  // namespace vitrt
