// Running one optimizer pass in a test and checking that the graph computes what it did before.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "passes/pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt::testing {

struct PassRun {
  int applied = 0;
  int near_misses = 0;
};

// Runs `pass` on `graph` (shape-inferred), then infers shapes again as the optimizer does.
inline PassRun run_pass(Graph& graph, PassFn pass) {
  PassContext ctx(false, nullptr);
  Status s = pass(graph, ctx);
  EXPECT_TRUE(s.ok()) << s.message();
  Status inferred = infer_shapes(graph);
  EXPECT_TRUE(inferred.ok()) << inferred.message();
  EXPECT_TRUE(graph.validate().ok());
  PassRun run;
  for (const auto& [name, count] : ctx.applied_counts()) run.applied += count;
  run.near_misses = ctx.near_miss_count();
  return run;
}

// Every output of `after` equals the same output of `before` within `rel` of its scale.
inline void expect_same_outputs(const Graph& before, const Graph& after,
                                const std::vector<Tensor>& inputs, double rel = 1e-5) {
  auto want = run_graph(before, inputs);
  ASSERT_TRUE(want.ok()) << want.status().message();
  auto got = run_graph(after, inputs);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->size(), want->size());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_TRUE(tensors_close_to_scale((*got)[i], (*want)[i], rel)) << "output " << i;
  }
}

// A float32 tensor filled with `value`.
inline Tensor filled(std::vector<int64_t> shape, float value) {
  Tensor t = Tensor::empty(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value;
  return t;
}

}  // namespace vitrt::testing
