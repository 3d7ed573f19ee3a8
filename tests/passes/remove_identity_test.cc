// remove_identity: Identity, inference Dropout, Pad by zero and a Slice of everything forward
// their input; look-alikes stay.
#include "passes/graph_rewrite.h"
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;
using testing::run_pass;
using testing::TestGraph;

const Dim kBatch = Dim::symbol("batch");

TEST(RemoveIdentity, RemovesIdentityAndKeepsOutputName) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 5});
  ValueId w = g.op("Identity", {g.constant("w", random_tensor(DType::kFloat32, {5}, 1))});
  ValueId y = g.op("Mul", {g.op("Identity", {x}), w});
  ValueId out = g.op("Identity", {y}, {}, "", "final");
  g.output(out);
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();
  const std::string out_name = g.graph().values[out].name;

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 3);
  EXPECT_EQ(count_ops(g.graph(), "Identity"), 0);
  EXPECT_EQ(g.graph().values[g.graph().outputs[0]].name, out_name);
  EXPECT_TRUE(r.logged("final"));
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {3, 5}, 2)});
}

TEST(RemoveIdentity, RemovesInferenceDropoutWithConstantMask) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 3});
  ValueId ratio = g.constant("ratio", Tensor::from_float({0.5f}, true));
  Tensor off = Tensor::zeros(DType::kBool, {});
  auto outs = g.op_multi("Dropout", {x, ratio, g.constant("training", off)}, 2);
  g.output(g.op("Relu", {outs[0]}));
  g.output(g.op("Not", {outs[1]}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  EXPECT_EQ(count_ops(g.graph(), "Dropout"), 0);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 3}, 3)});
}

TEST(RemoveIdentity, KeepsDropoutWhoseMaskHasSymbolicShape) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 3});
  auto outs = g.op_multi("Dropout", {x}, 2);
  g.output(outs[0]);
  g.output(outs[1]);
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(r.near_misses, 1);
  EXPECT_TRUE(r.logged("mask")) << r.log.front();
  EXPECT_EQ(count_ops(g.graph(), "Dropout"), 1);
}

TEST(RemoveIdentity, KeepsDropoutWhoseTrainingModeIsAnInput) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2, 3});
  ValueId training = g.input("training", DType::kBool, {});
  g.output(g.op("Dropout", {x, g.constant("ratio", Tensor::from_float({0.1f}, true)), training}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_TRUE(r.logged("training_mode"));
  EXPECT_EQ(count_ops(g.graph(), "Dropout"), 1);
}

TEST(RemoveIdentity, KeepsIdentityBetweenGraphInputAndOutput) {
  // Removing it would have to rename the input "x" to the output's name or lose one of them.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {2});
  g.output(g.op("Identity", {x}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Identity"), 1);
  EXPECT_EQ(g.graph().values[g.graph().inputs[0]].name, "x");
}

TEST(RemoveIdentity, RemovesPadByZero) {
  // Swin's window padding at a size that is a multiple of the window: every pad is 0.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 4, 4, 3});
  ValueId pads = g.constant("pads", Tensor::from_int64(std::vector<int64_t>(8, 0)));
  ValueId value = g.constant("value", Tensor::from_float({0.0f}, true));
  Attributes reflect;
  reflect.set_string("mode", "reflect");
  ValueId padded = g.op("Pad", {g.op("Pad", {x, pads, value}), pads}, reflect);
  g.output(g.op("Relu", {padded}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 2);
  EXPECT_EQ(count_ops(g.graph(), "Pad"), 0);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 4, 4, 3}, 3)});
}

TEST(RemoveIdentity, KeepsPadThatPadsOrWhosePadsAreComputed) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 4, 4, 3});
  ValueId pads_in = g.input("pads", DType::kInt64, {8});
  ValueId one_row = g.constant("one_row", Tensor::from_int64({0, 0, 0, 0, 0, 1, 0, 0}));
  ValueId a = g.op("Pad", {x, one_row});
  ValueId b = g.op("Pad", {x, pads_in});
  g.output(a);
  g.output(b);
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Pad"), 2);
}

TEST(RemoveIdentity, RemovesSliceThatKeepsEverything) {
  // GhostNet: Concat of two 8-channel halves, then [:, 0:16] of the 16 channels; also a slice
  // over the symbolic batch axis written as 0 to INT64_MAX, and one with explicit steps of 1.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 8, 5, 5});
  Attributes on_channels;
  on_channels.set_int("axis", 1);
  ValueId cat = g.op("Concat", {x, g.op("Relu", {x})}, on_channels);
  const auto i64 = [&](const char* name, std::vector<int64_t> v) {
    return g.constant(name, Tensor::from_int64(std::move(v)));
  };
  ValueId a = g.op("Slice", {cat, i64("s0", {0}), i64("e0", {16}), i64("a0", {1})});
  ValueId b = g.op("Slice", {a, i64("s1", {0}), i64("e1", {INT64_MAX}), i64("a1", {0})});
  ValueId c = g.op(
      "Slice", {b, i64("s2", {-5, 0}), i64("e2", {5, 99}), i64("a2", {-1, 2}), i64("st2", {1, 1})});
  g.output(g.op("Sigmoid", {c}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 3);
  EXPECT_EQ(count_ops(g.graph(), "Slice"), 0);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {2, 8, 5, 5}, 4)});
}

TEST(RemoveIdentity, KeepsSliceThatDropsOrReversesOrIsComputed) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {kBatch, 6, 4});
  const auto i64 = [&](const char* name, std::vector<int64_t> v) {
    return g.constant(name, Tensor::from_int64(std::move(v)));
  };
  // Drops a channel; reverses the last axis (same length, step -1); ends given at run time.
  g.output(g.op("Slice", {x, i64("s0", {0}), i64("e0", {5}), i64("a0", {1})}));
  g.output(g.op("Slice",
                {x, i64("s1", {-1}), i64("e1", {INT64_MIN}), i64("a1", {2}), i64("st1", {-1})}));
  ValueId ends = g.input("ends", DType::kInt64, {1});
  g.output(g.op("Slice", {x, i64("s2", {0}), ends, i64("a2", {2})}));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(remove_identity, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Slice"), 3);
}

}  // namespace
}  // namespace vitrt
