// Runs one fusion pass on a hand-built graph and checks that the graph computes what it did
// before, to a tolerance: a fusion may round differently from the ops it replaces (the clean-up
// passes' exact check is tests/passes/run_pass.h on main).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "passes/pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt::testing {

struct FusionRun {
  int applied = 0;
};

// Runs `pass` on `graph` (shape-inferred), then infers shapes again as the optimizer does.
inline FusionRun run_fusion(Graph& graph, PassFn pass) {
  PassContext ctx(false, nullptr);
  Status s = pass(graph, ctx);
  EXPECT_TRUE(s.ok()) << s.message();
  Status inferred = infer_shapes(graph);
  EXPECT_TRUE(inferred.ok()) << inferred.message();
  EXPECT_TRUE(graph.validate().ok());
  FusionRun run;
  for (const auto& [name, count] : ctx.applied_counts()) run.applied += count;
  return run;
}

// Every output of `after` equals the same output of `before` within `rel` of its scale and
// keeps its name.
inline void expect_outputs_close(const Graph& before, const Graph& after,
                                 const std::vector<Tensor>& inputs, double rel = 1e-5) {
  auto want = run_graph(before, inputs);
  ASSERT_TRUE(want.ok()) << want.status().message();
  auto got = run_graph(after, inputs);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_EQ(after.values[after.outputs[i]].name, before.values[before.outputs[i]].name);
    EXPECT_TRUE(tensors_close_to_scale((*got)[i], (*want)[i], rel)) << "output " << i;
  }
}

}  // namespace vitrt::testing
