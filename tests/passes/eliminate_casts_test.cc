// eliminate_casts: Casts to the value's own dtype and exact round trips go; lossy chains stay.
#include "passes/graph_rewrite.h"
#include "passes/run_pass.h"

namespace vitrt {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;
using testing::run_pass;
using testing::TestGraph;

ValueId cast(TestGraph& g, ValueId x, DType to) {
  Attributes a;
  a.set_int("to", static_cast<int64_t>(to));
  return g.op("Cast", {x}, a);
}

TEST(EliminateCasts, RemovesCastToOwnDtypeAndExactRoundTrip) {
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 7});
  ValueId same = cast(g, x, DType::kFloat32);
  ValueId round_trip = cast(g, cast(g, same, DType::kFloat64), DType::kFloat32);
  g.output(g.op("Relu", {round_trip}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(eliminate_casts, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Cast"), 0);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {3, 7}, 1, -1e30, 1e30)});
}

TEST(EliminateCasts, TreatsCastLikeAsACastToTheOtherInputsDtype) {
  // CastLike(x, like) with like float32 on float32 x is a no-op; on float64 it is a Cast whose
  // exact inner float32 -> float64 step is skipped as usual.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {4});
  ValueId like32 = g.constant("like32", Tensor::from_float({0.0f}));
  ValueId like64 = g.constant("like64", Tensor::zeros(DType::kFloat64, {1}));
  g.output(g.op("Neg", {g.op("CastLike", {x, like32})}));
  g.output(g.op("CastLike", {g.op("CastLike", {x, like64}), like32}));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(eliminate_casts, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  // The round trip's outer CastLike is a graph output reading the graph input: it stays, as
  // the only CastLike left.
  EXPECT_EQ(count_ops(g.graph(), "CastLike"), 1);
  expect_same_outputs(before, g.graph(), {random_tensor(DType::kFloat32, {4}, 3)});
}

TEST(EliminateCasts, SkipsExactWideningBeforeAnotherCast) {
  // int32 -> int64 -> float32 is int32 -> float32: the widening keeps every value.
  TestGraph g;
  ValueId x = g.input("x", DType::kInt32, {5});
  g.output(cast(g, cast(g, x, DType::kInt64), DType::kFloat32));
  ASSERT_TRUE(g.infer().ok());
  const Graph before = g.graph();

  auto r = run_pass(eliminate_casts, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_TRUE(run_pass(eliminate_dead_nodes, g.graph()).status.ok());
  EXPECT_EQ(count_ops(g.graph(), "Cast"), 1);
  const Node* last = producer_of(g.graph(), g.graph().outputs[0]);
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->inputs[0], x);
  expect_same_outputs(before, g.graph(),
                      {random_tensor(DType::kInt32, {5}, 2, -2147483648.0, 2147483647.0)});
}

TEST(EliminateCasts, KeepsNarrowingRoundTrips) {
  // int64 -> int32 -> int64 wraps large values; float32 -> float16 -> float32 rounds;
  // float32 -> int32 -> float32 truncates.
  TestGraph g;
  ValueId i = g.input("i", DType::kInt64, {4});
  ValueId f = g.input("f", DType::kFloat32, {4});
  g.output(cast(g, cast(g, i, DType::kInt32), DType::kInt64));
  g.output(cast(g, cast(g, f, DType::kFloat16), DType::kFloat32));
  g.output(cast(g, cast(g, f, DType::kInt32), DType::kFloat32));
  ASSERT_TRUE(g.infer().ok());

  auto r = run_pass(eliminate_casts, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 0);
  EXPECT_EQ(count_ops(g.graph(), "Cast"), 6);
  EXPECT_EQ(r.near_misses, 3);
  EXPECT_TRUE(r.logged("int64 -> int32 -> int64"));
}

}  // namespace
}  // namespace vitrt
