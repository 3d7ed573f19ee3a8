// Runs one fusion pass on a hand-built graph and checks that the graph computes what it did
// before, to a tolerance (expect_outputs_close in run_pass.h).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "passes/pass.h"
#include "passes/run_pass.h"
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

}  // namespace vitrt::testing
