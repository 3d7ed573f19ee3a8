// fold_transpose_into_rotary: the heads Transpose before vitrt.RotaryEmbedding moves after it
// (token_major) and cancels against the one that follows; outputs are bit for bit the graph's
// before. Declines where the Transpose's output is read elsewhere or swaps other axes; on the
// DINOv3 golden fixtures (both exporters) no Transpose is left.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "passes/run_pass.h"
#include "runtime/build_pipeline.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::random_tensor;
using testing::TestGraph;

constexpr int64_t kBatch = 2, kSeq = 7, kHeads = 3, kDim = 8;

Attributes perm_attr(const std::vector<int64_t>& perm) {
  Attributes a;
  a.set_ints("perm", perm);
  return a;
}

struct Built {
  TestGraph g;
  std::vector<Tensor> inputs;
};

// x [B, S, H, D] -> Transpose(perm) -> RotaryEmbedding -> Transpose(back) -> output, as rotary
// models split heads and fuse_attention reads them back.
// `other_perm`: x is [H, B, S, D] and the permutation swaps the first two axes instead.
Built build(const std::vector<int64_t>& table, bool interleaved, bool read_elsewhere,
            bool other_perm = false) {
  Built b;
  TestGraph& g = b.g;
  const std::vector<int64_t> perm =
      other_perm ? std::vector<int64_t>{1, 0, 2, 3} : std::vector<int64_t>{0, 2, 1, 3};
  const Dim batch = Dim::symbol("batch");
  ValueId x = other_perm ? g.input("x", DType::kFloat32, {kHeads, batch, kSeq, kDim})
                         : g.input("x", DType::kFloat32, {batch, kSeq, kHeads, kDim});
  b.inputs.push_back(random_tensor(DType::kFloat32,
                                   other_perm ? std::vector<int64_t>{kHeads, kBatch, kSeq, kDim}
                                              : std::vector<int64_t>{kBatch, kSeq, kHeads, kDim},
                                   1, -3, 3));
  ValueId heads = g.op("Transpose", {x}, perm_attr(perm));
  Attributes a;
  a.set_int("start", 1);
  a.set_int("interleaved", interleaved ? 1 : 0);
  ValueId rot = g.op("RotaryEmbedding",
                     {heads, g.constant("cos", random_tensor(DType::kFloat32, table, 2)),
                      g.constant("sin", random_tensor(DType::kFloat32, table, 3))},
                     a, "vitrt");
  g.output(g.op("Transpose", {rot}, perm_attr(perm)));
  if (read_elsewhere) g.output(heads);
  return b;
}

struct Optimized {
  int transposes = 0;
  int token_major = 0;
  int folded = 0;
  testing::PassResult run;  // the verbose log (logged()) of the whole optimizer
};

// The whole optimizer (the fold is a clean-up pass; simplify_reshape_transpose and dead-node
// elimination finish its work), then the outputs against the graph before, bit for bit.
Optimized optimize(Built& b) {
  EXPECT_TRUE(b.g.infer().ok());
  const Graph before = b.g.graph();
  Optimized o;
  PassContext ctx(true, [&o](const std::string& line) { o.run.log.push_back(line); });
  EXPECT_TRUE(optimize_graph(b.g.graph(), ctx).ok());
  auto it = ctx.applied_counts().find("fold_transpose_into_rotary");
  o.folded = it == ctx.applied_counts().end() ? 0 : it->second;
  o.transposes = count_ops(b.g.graph(), "Transpose");
  for (const Node& n : b.g.graph().nodes) {
    if (!n.dead && n.op_type == "RotaryEmbedding") {
      o.token_major += n.attrs.get_int("token_major", 0).value();
    }
  }
  auto want = testing::run_graph(before, b.inputs);
  auto got = testing::run_graph(b.g.graph(), b.inputs);
  EXPECT_TRUE(want.ok() && got.ok());
  if (want.ok() && got.ok()) {
    for (size_t i = 0; i < want->size(); ++i) {
      EXPECT_TRUE(testing::tensors_close((*got)[i], (*want)[i], {0.0, 0.0})) << "output " << i;
    }
  }
  return o;
}

TEST(FoldTransposeIntoRotary, BothTransposesGo) {
  for (bool interleaved : {false, true}) {
    for (const std::vector<int64_t>& table :
         {std::vector<int64_t>{kSeq - 1, kDim}, {kHeads, kSeq - 1, kDim}, {1, kDim / 2}}) {
      SCOPED_TRACE(shape_to_string(table) + (interleaved ? " interleaved" : ""));
      Built b = build(table, interleaved, false);
      Optimized o = optimize(b);
      EXPECT_EQ(o.folded, 1);
      EXPECT_EQ(o.transposes, 0);
      EXPECT_EQ(o.token_major, 1);
    }
  }
}

TEST(FoldTransposeIntoRotary, KeepsATransposeReadElsewhere) {
  Built b = build({kSeq - 1, kDim}, false, true);
  Optimized o = optimize(b);
  EXPECT_EQ(o.folded, 0);
  EXPECT_TRUE(o.run.logged("read elsewhere"));
  EXPECT_EQ(o.token_major, 0);
}

// A permutation of other axes (heads and batch) is not the heads split: nothing moves.
TEST(FoldTransposeIntoRotary, IgnoresOtherPermutations) {
  Built b = build({kSeq - 1, kDim}, false, false, true);
  Optimized o = optimize(b);
  EXPECT_EQ(o.folded, 0);
  EXPECT_EQ(o.token_major, 0);
}

// The DINOv3 fixtures (TorchScript and dynamo): every q and k rotation reads the projection's
// [B, S, H, D] and no Transpose is left in the optimized graph.
TEST(FoldTransposeIntoRotary, Dinov3FixturesKeepNoTranspose) {
  for (const char* name : {"hf_dinov3_sdpa_ts17", "hf_dinov3_sdpa_dynamo"}) {
    SCOPED_TRACE(name);
    const std::string path =
        (std::filesystem::path(VITRT_SOURCE_DIR) / "tests/golden" / name / "model.onnx").string();
    Result<Graph> g = import_and_prepare(path, BuildOptions{}, nullptr);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    EXPECT_EQ(count_ops(*g, "Transpose"), 0);
    int token_major = 0;
    for (const Node& n : g->nodes) {
      if (!n.dead && n.op_type == "RotaryEmbedding") {
        token_major += n.attrs.get_int("token_major", 0).value();
      }
    }
    EXPECT_EQ(token_major, 4);
  }
}

}  // namespace
}  // namespace vitrt
