// fold_batch_norm: an inference BatchNormalization folds into the Conv before it, else becomes
// Mul + Add per channel; a training-mode one or one whose statistics are not constants is
// left alone. Every rewritten graph is run on the CPU against the graph before the pass (whose
// BatchNormalization kernel follows the ONNX definition).
#include "passes/linear_pass_testing.h"

namespace vitrt {
namespace {

using testing::apply_pass;
using testing::count_ops;
using testing::random_tensor;
using testing::TestGraph;

constexpr int64_t kC = 6;

// BatchNormalization of `x` with random constants (variances in [0.2, 2]).
ValueId batch_norm(TestGraph& g, ValueId x, uint64_t seed, Attributes attrs = {}) {
  return g.op("BatchNormalization",
              {x, g.constant("scale", random_tensor(DType::kFloat32, {kC}, seed)),
               g.constant("bias", random_tensor(DType::kFloat32, {kC}, seed + 1)),
               g.constant("mean", random_tensor(DType::kFloat32, {kC}, seed + 2)),
               g.constant("var", random_tensor(DType::kFloat32, {kC}, seed + 3, 0.2, 2.0))},
              std::move(attrs), "", "bn");
}

ValueId conv(TestGraph& g, ValueId x, bool bias) {
  Attributes a;
  a.set_ints("pads", {1, 1, 1, 1});
  std::vector<ValueId> in = {x, g.constant("w", random_tensor(DType::kFloat32, {kC, 4, 3, 3}, 7))};
  if (bias) in.push_back(g.constant("b", random_tensor(DType::kFloat32, {kC}, 8)));
  return g.op("Conv", in, a, "", "conv");
}

TEST(FoldBatchNorm, FoldsIntoTheConvBeforeIt) {
  for (bool bias : {false, true}) {
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 4, 7, 5});
    Attributes eps;
    eps.set_float("epsilon", 1e-3f);
    g.output(batch_norm(g, conv(g, x, bias), 10, eps));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), fold_batch_norm);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(after, "BatchNormalization"), 0);
    EXPECT_EQ(count_ops(after, "Conv"), 1);
    EXPECT_EQ(count_ops(after, "Mul"), 0);
    EXPECT_EQ(after.values[after.outputs[0]].name, g.graph().values[g.graph().outputs[0]].name);
    testing::expect_outputs_close(g.graph(), after,
                                  {random_tensor(DType::kFloat32, {2, 4, 7, 5}, 1)}, 1e-5);
  }
}

TEST(FoldBatchNorm, OtherwiseBecomesMulAdd) {
  // After an input (rank 4 and rank 2), and after a Conv whose output has a second reader.
  for (int rank : {4, 2}) {
    TestGraph g;
    SymShape shape =
        rank == 4 ? SymShape{Dim::symbol("batch"), kC, 3, 5} : SymShape{Dim::symbol("batch"), kC};
    g.output(batch_norm(g, g.input("x", DType::kFloat32, shape), 20));
    ASSERT_TRUE(g.infer().ok());
    auto [after, applied] = apply_pass(g.graph(), fold_batch_norm);
    EXPECT_EQ(applied, 1);
    EXPECT_EQ(count_ops(after, "BatchNormalization"), 0);
    EXPECT_EQ(count_ops(after, "Mul"), 1);
    EXPECT_EQ(count_ops(after, "Add"), 1);
    const std::vector<int64_t> concrete =
        rank == 4 ? std::vector<int64_t>{2, kC, 3, 5} : std::vector<int64_t>{3, kC};
    testing::expect_outputs_close(g.graph(), after, {random_tensor(DType::kFloat32, concrete, 1)},
                                  1e-5);
  }
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {1, 4, 5, 5});
  ValueId c = conv(g, x, true);
  g.output(batch_norm(g, c, 30));
  g.output(g.op("Relu", {c}));
  ASSERT_TRUE(g.infer().ok());
  auto [after, applied] = apply_pass(g.graph(), fold_batch_norm);
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(count_ops(after, "Mul"), 1);
  testing::expect_outputs_close(g.graph(), after, {random_tensor(DType::kFloat32, {1, 4, 5, 5}, 1)},
                                1e-5);
}

TEST(FoldBatchNorm, TrainingModeAndVariableStatisticsStay) {
  {
    TestGraph g;
    ValueId x = g.input("x", DType::kFloat32, {2, kC, 3, 3});
    Attributes train;
    train.set_int("training_mode", 1);
    g.output(batch_norm(g, x, 40, train));
    ASSERT_TRUE(g.infer().ok());
    testing::PassResult r = testing::run_pass(fold_batch_norm, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 0);
    EXPECT_TRUE(r.logged("training_mode is set")) << r.log.size();
  }
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, kC, 3, 3});
  ValueId mean = g.input("mean", DType::kFloat32, {kC});
  g.output(g.op("BatchNormalization",
                {x, g.constant("scale", random_tensor(DType::kFloat32, {kC}, 1)),
                 g.constant("bias", random_tensor(DType::kFloat32, {kC}, 2)), mean,
                 g.constant("var", random_tensor(DType::kFloat32, {kC}, 3, 0.2, 2.0))},
                {}, "", "bn"));
  ASSERT_TRUE(g.infer().ok());
  testing::PassResult r = testing::run_pass(fold_batch_norm, g.graph());
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("B, mean or var is not a constant")) << r.log.size();
}

}  // namespace
}  // namespace vitrt
