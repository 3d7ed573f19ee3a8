// fold_prefix_tokens: Concat(class token(s), Linear(Patchify(x))) + constant position embedding
// becomes the patch GEMM computing the prefix rows from zero patch rows, the embedding taking
// the difference; the graph computes what it did before. Declined where the embedding is not a
// constant or the tokens are read elsewhere.
#include <gtest/gtest.h>

#include "passes/run_fusion.h"
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::run_fusion;
using testing::TestGraph;

constexpr int64_t kC = 3, kImage = 8, kPatch = 4, kD = 12, kPatches = 4;

struct Form {
  int tokens = 1;                     // class token, or class and distillation tokens
  bool layer_norm = true;             // AddLayerNorm after the add, else a plain Add
  bool bias = true;                   // the patch GEMM's bias
  bool sized_by_tokens = true;        // TorchScript: Expand sized by Shape(patch tokens)
  bool shape_read_elsewhere = false;  // that Shape is a graph output too
  bool pos_is_input = false;          // the position embedding computed at run time
  bool tokens_are_output = false;     // the patch tokens are a graph output too
};

Tensor rnd(std::vector<int64_t> shape, uint64_t seed) {
  return testing::random_tensor(DType::kFloat32, std::move(shape), seed, -1, 1);
}

TestGraph embedding(const Form& f) {
  TestGraph g;
  const Dim batch = Dim::symbol("batch");
  const ValueId x = g.input("x", DType::kFloat32, {batch, kC, kImage, kImage});
  const int64_t t = f.tokens + kPatches;
  const ValueId pos = f.pos_is_input ? g.input("pos", DType::kFloat32, {1, t, kD})
                                     : g.constant("pos", rnd({1, t, kD}, 3));
  Attributes pa;
  pa.set_ints("patch", {kPatch, kPatch});
  const ValueId patches = g.op("Patchify", {x}, pa, "vitrt");
  std::vector<ValueId> lin = {patches, g.constant("w", rnd({kC * kPatch * kPatch, kD}, 1))};
  if (f.bias) lin.push_back(g.constant("b", rnd({kD}, 2)));
  const ValueId tokens = g.op("Linear", lin, {}, "vitrt");
  // The Expand's target [batch, 1, D], batch read from the tokens or the image.
  const ValueId shape = g.op("Shape", {f.sized_by_tokens ? tokens : x});
  Attributes a0;
  a0.set_int("axis", 0);
  const ValueId n = g.op("Gather", {shape, g.constant("zero", Tensor::from_int64({0}, true))}, a0);
  const ValueId n1 = g.op("Unsqueeze", {n, g.constant("axes", Tensor::from_int64({0}))});
  const ValueId target = g.op("Concat", {n1, g.constant("rest", Tensor::from_int64({1, kD}))}, a0);
  std::vector<ValueId> parts;
  for (int i = 0; i < f.tokens; ++i) {
    parts.push_back(
        g.op("Expand", {g.constant("tok" + std::to_string(i), rnd({1, 1, kD}, 10 + i)), target}));
  }
  parts.push_back(tokens);
  Attributes a1;
  a1.set_int("axis", 1);
  const ValueId cat = g.op("Concat", parts, a1);
  ValueId y;
  if (f.layer_norm) {
    y = g.op_multi("AddLayerNorm",
                   {cat, pos, g.constant("gamma", rnd({kD}, 4)), g.constant("beta", rnd({kD}, 5))},
                   1, {}, "vitrt")[0];
  } else {
    y = g.op("Add", {pos, cat});
  }
  g.output(y);
  if (f.shape_read_elsewhere) g.output(shape);
  if (f.tokens_are_output) g.output(tokens);
  EXPECT_TRUE(g.infer().ok());
  return g;
}

std::vector<Tensor> inputs(const Form& f) {
  std::vector<Tensor> in = {rnd({2, kC, kImage, kImage}, 7)};
  if (f.pos_is_input) in.push_back(rnd({1, f.tokens + kPatches, kD}, 8));
  return in;
}

void expect_folded(const Form& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = embedding(f);
  const Graph before = g.graph();
  EXPECT_EQ(run_fusion(g.graph(), fold_prefix_tokens).applied, 1);
  EXPECT_GE(run_fusion(g.graph(), eliminate_dead_nodes).applied, 1);
  EXPECT_EQ(count_ops(g.graph(), "Concat") + count_ops(g.graph(), "Expand"), 0);
  for (const Node& n : g.graph().nodes) {
    if (n.dead || n.op_type != "Patchify") continue;
    EXPECT_EQ(*n.attrs.get_int("prefix_rows", 0), f.tokens);
    EXPECT_EQ(g.graph().values[n.outputs[0]].shape[1].value(), f.tokens + kPatches);
  }
  // One rounding apart: bias + (pos + token - bias) against token + pos.
  testing::expect_outputs_close(before, g.graph(), inputs(f), 1e-6);
}

void expect_kept(const Form& f, const char* what) {
  SCOPED_TRACE(what);
  TestGraph g = embedding(f);
  EXPECT_EQ(run_fusion(g.graph(), fold_prefix_tokens).applied, 0);
}

TEST(FoldPrefixTokens, Folds) {
  expect_folded({}, "class token, AddLayerNorm, Expand sized by the tokens");
  Form two;
  two.tokens = 2;
  two.layer_norm = false;
  two.bias = false;
  two.sized_by_tokens = false;
  expect_folded(two, "class and distillation tokens, Add, no bias, sized by the image");
}

TEST(FoldPrefixTokens, Declines) {
  Form f;
  f.pos_is_input = true;
  expect_kept(f, "position embedding computed at run time");
  f = {};
  f.tokens_are_output = true;
  expect_kept(f, "patch tokens are a graph output");
  f = {};
  f.shape_read_elsewhere = true;
  expect_kept(f, "the tokens' shape sizes something else too");
}

}  // namespace
}  // namespace vitrt

namespace vitrt {
namespace {

// Both devices fold: the CUDA Patchify writes the prefix rows too (CudaPatchify's cases).
TEST(FoldPrefixTokens, CpuAndCudaBuilds) {
  for (const char* device : {"cuda", "cpu"}) {
    SCOPED_TRACE(device);
    testing::TestGraph g = embedding({});
    PassContext ctx(false, nullptr);
    ctx.set_device(device);
    ASSERT_TRUE(fold_prefix_tokens(g.graph(), ctx).ok());
    EXPECT_EQ(ctx.applied_counts().count("fold_prefix_tokens"), 1u);
  }
}

}  // namespace
}  // namespace vitrt
