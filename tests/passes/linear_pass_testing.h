// What the tests of the linear-layer passes (fuse_linear, fold_scale_into_weights,
// fuse_linear_activation, assign_precision) share: run one pass on a hand-built graph and
// compare the graph's outputs before and after it.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "passes/pass.h"
#include "passes/run_pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt::testing {

// Runs `pass` on a copy of `graph` (shape-inferred) and re-infers shapes; returns the copy and
// the number of rewrites the pass reported.
inline std::pair<Graph, int> apply_pass(const Graph& graph, PassFn pass,
                                        const std::string& precision = "fp32") {
  Graph out = graph;
  PassContext ctx(false, nullptr);
  ctx.set_precision(precision);
  Status s = pass(out, ctx);
  EXPECT_TRUE(s.ok()) << s.to_string();
  Status inferred = infer_shapes(out);
  EXPECT_TRUE(inferred.ok()) << inferred.to_string();
  int applied = 0;
  for (const auto& [name, n] : ctx.applied_counts()) applied += n;
  return {std::move(out), applied};
}

// The live node of `op_type`, or nullptr (the first when there are several).
inline const Node* find_op(const Graph& graph, const std::string& op_type) {
  for (const Node& n : graph.nodes) {
    if (!n.dead && n.op_type == op_type) return &n;
  }
  return nullptr;
}

}  // namespace vitrt::testing
