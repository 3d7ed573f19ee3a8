// Runs one optimizer pass on a hand-built graph the way the pipeline does (verbose context,
// shape inference after a change) and checks the rewritten graph against the graph before it.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt::testing {

struct PassResult {
  Status status;
  int applied = 0;
  int near_misses = 0;
  std::vector<std::string> log;  // the verbose build-log lines
  // Whether some log line contains `text`.
  bool logged(const std::string& text) const {
    for (const std::string& line : log) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

// Runs `pass` on `graph`, then re-infers shapes and validates, as optimize_graph does.
inline PassResult run_pass(PassFn pass, Graph& graph) {
  PassResult r;
  PassContext ctx(true, [&r](const std::string& line) { r.log.push_back(line); });
  r.status = pass(graph, ctx);
  for (const auto& [name, n] : ctx.applied_counts()) r.applied += n;
  r.near_misses = ctx.near_miss_count();
  if (r.status.ok()) r.status = infer_shapes(graph);
  if (r.status.ok()) r.status = graph.validate();
  return r;
}

// Runs both graphs on `inputs` and expects every output of `after` to keep its name and to
// pass `agrees(actual, expected)` against the same output of `before`.
template <typename Agrees>
void expect_outputs_agree(const Graph& before, const Graph& after,
                          const std::vector<Tensor>& inputs, Agrees agrees) {
  auto want = run_graph(before, inputs);
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  auto got = run_graph(after, inputs);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), want->size());
  ASSERT_EQ(after.outputs.size(), before.outputs.size());
  for (size_t i = 0; i < want->size(); ++i) {
    EXPECT_EQ(after.values[after.outputs[i]].name, before.values[before.outputs[i]].name);
    EXPECT_TRUE(agrees((*got)[i], (*want)[i])) << "output " << i;
  }
}

// Exactly equal outputs: the clean-up passes only move, fold or drop work, so the numbers must
// not move at all.
inline void expect_same_outputs(const Graph& before, const Graph& after,
                                const std::vector<Tensor>& inputs) {
  expect_outputs_agree(before, after, inputs, [](const Tensor& a, const Tensor& e) {
    return tensors_close(a, e, Tolerance{0.0, 0.0});
  });
}

// The same bytes in every output, NaN and the sign of zero included: a fusion that computes
// each step as the ops it replaces did.
inline void expect_same_bits(const Graph& before, const Graph& after,
                             const std::vector<Tensor>& inputs) {
  expect_outputs_agree(before, after, inputs, [](const Tensor& a, const Tensor& e) {
    if (a.dtype() != e.dtype() || a.shape() != e.shape()) {
      return ::testing::AssertionFailure() << "dtype or shape differs";
    }
    if (std::memcmp(a.raw_data(), e.raw_data(), a.nbytes()) != 0) {
      return ::testing::AssertionFailure() << "the bytes differ";
    }
    return ::testing::AssertionSuccess();
  });
}

// Outputs within `rel` of each output's scale: a fusion may round differently from the ops it
// replaces.
inline void expect_outputs_close(const Graph& before, const Graph& after,
                                 const std::vector<Tensor>& inputs, double rel = 1e-5) {
  expect_outputs_agree(before, after, inputs, [rel](const Tensor& a, const Tensor& e) {
    return tensors_close_to_scale(a, e, rel);
  });
}

}  // namespace vitrt::testing
