// The harness of the fuse_attention tests: run the pass on a hand-built graph, check how many
// Attention nodes it made, and compare the outputs with the unfused graph's (the CPU reference
// path) on random inputs at batch 3.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "passes/pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt::testing {

// The pass's applied count and its verbose log (rewrites and near misses).
struct PassRun {
  int applied = 0;
  std::vector<std::string> log;
  bool logged(const std::string& text) const {
    for (const std::string& line : log) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

inline PassRun run_fuse(Graph& graph) {
  PassRun r;
  PassContext ctx(true, [&](const std::string& line) { r.log.push_back(line); });
  EXPECT_TRUE(fuse_attention(graph, ctx).ok());
  auto it = ctx.applied_counts().find("fuse_attention");
  r.applied = it == ctx.applied_counts().end() ? 0 : it->second;
  EXPECT_TRUE(infer_shapes(graph).ok());
  graph.compact();
  EXPECT_TRUE(graph.validate().ok()) << graph.validate().to_string();
  return r;
}

// Random feeds for the graph's inputs at batch 3 (float32 in [-1, 1]; bool inputs all true
// except the last key of every row but the first).
inline std::vector<Tensor> feeds_for(const Graph& g) {
  std::vector<Tensor> feeds;
  uint64_t seed = 40;
  for (ValueId in : g.inputs) {
    std::vector<int64_t> shape;
    for (const Dim& d : g.values[in].shape) shape.push_back(d.is_static() ? d.value() : 3);
    if (g.values[in].dtype == DType::kBool) {
      Tensor t = Tensor::zeros(DType::kBool, shape);
      for (int64_t i = 0; i < t.numel(); ++i) {
        t.data<uint8_t>()[i] = (i % shape.back() != shape.back() - 1) || i < shape.back();
      }
      feeds.push_back(t);
    } else {
      feeds.push_back(random_tensor(DType::kFloat32, shape, seed++));
    }
  }
  return feeds;
}

// Runs the pass on `g`; expects `fused` Attention nodes, no Softmax left when fused (and no
// Transpose, unless the fused form keeps layout Transposes around the Attention: head tensors
// read as they are, sequence-first inputs), and the same outputs as before.
inline PassRun check_fusion(TestGraph& g, int fused, bool transposes_allowed = false) {
  EXPECT_TRUE(g.infer().ok());
  const std::vector<Tensor> feeds = feeds_for(g.graph());
  auto before = run_graph(g.graph(), feeds);
  EXPECT_TRUE(before.ok()) << before.status().to_string();
  PassRun r = run_fuse(g.graph());
  EXPECT_EQ(r.applied, fused);
  EXPECT_EQ(count_ops(g.graph(), "Attention"), fused);
  if (fused > 0) {
    EXPECT_EQ(count_ops(g.graph(), "Softmax"), 0);
    if (!transposes_allowed) {
      EXPECT_EQ(count_ops(g.graph(), "Transpose"), 0);
    }
  }
  auto after = run_graph(g.graph(), feeds);
  EXPECT_TRUE(after.ok()) << after.status().to_string();
  if (before.ok() && after.ok()) {
    EXPECT_EQ(after->size(), before->size());
    for (size_t i = 0; i < before->size() && i < after->size(); ++i) {
      EXPECT_TRUE(tensors_close((*after)[i], (*before)[i], {1e-4, 1e-5}));
    }
  }
  return r;
}

inline const Node* attention_node(const Graph& g) {
  for (const Node& n : g.nodes) {
    if (!n.dead && n.op_type == "Attention") return &n;
  }
  return nullptr;
}

}  // namespace vitrt::testing
