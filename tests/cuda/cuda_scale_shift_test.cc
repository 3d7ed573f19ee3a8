// vitrt.ScaleShift on CUDA against the CPU kernel, the reference, in fp32, fp16 and bf16: rows
// that are whole 16-byte vectors (the vector kernel, each activation) and rows that are not
// (the scalar kernel), and a graph where fuse_scale_shift makes it from Mul, Add and Relu.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "cuda_test_util.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

using testing::TestGraph;

struct ScaleShiftCase {
  int64_t rows, c;
  std::string act;
};

using ScaleShiftParam = std::tuple<std::string, ScaleShiftCase>;
class CudaScaleShift : public ::testing::TestWithParam<ScaleShiftParam> {};

TEST_P(CudaScaleShift, MatchesCpu) {
  VITRT_REQUIRE_GPU();
  const auto& [precision, k] = GetParam();
  TestGraph g(17);
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), k.rows, k.c});
  Attributes a;
  a.set_string("activation", k.act);
  g.output(g.op("ScaleShift",
                {x, g.constant("s", testing::bf16_random({k.c}, 2, -2.0f, 2.0f)),
                 g.constant("t", testing::bf16_random({k.c}, 3, -1.0f, 1.0f))},
                a, "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  const Tensor xv = testing::bf16_random({2, k.rows, k.c}, 1, -3.0f, 3.0f);
  Result<std::vector<Tensor>> expected = testing::run_graph(g.graph(), {xv});
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  Result<std::vector<Tensor>> actual = testing::run_graph_cuda(g.graph(), {xv}, precision);
  ASSERT_TRUE(actual.ok()) << actual.status().to_string();
  EXPECT_TRUE(testing::outputs_agree((*actual)[0], (*expected)[0], precision));
}

INSTANTIATE_TEST_SUITE_P(
    cuda, CudaScaleShift,
    ::testing::Combine(
        ::testing::Values("fp32", "fp16", "bf16"),
        ::testing::Values(ScaleShiftCase{9, 64, "none"}, ScaleShiftCase{7, 32, "relu"},
                          ScaleShiftCase{5, 48, "silu"}, ScaleShiftCase{6, 16, "hard_swish"},
                          ScaleShiftCase{3, 40, "relu6"}, ScaleShiftCase{4, 24, "gelu"},
                          ScaleShiftCase{4, 24, "gelu_tanh"},
                          // rows of odd length: the scalar kernel
                          ScaleShiftCase{11, 13, "relu"}, ScaleShiftCase{3, 5, "silu"})));

// DenseNet's BatchNorm -> ReLU on a channels-last tensor, written as Mul, Add and Relu: the
// CUDA plan (made by the optimizer, with ScaleShift) against the CPU run of the unoptimized
// graph.
TEST(CudaScaleShiftFusion, OptimizedPlanMatchesCpu) {
  VITRT_REQUIRE_GPU();
  for (const char* precision : {"fp32", "fp16"}) {
    SCOPED_TRACE(precision);
    TestGraph g(17);
    ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), 6, 5, 24});
    ValueId m = g.op("Mul", {x, g.constant("s", testing::bf16_random({24}, 2, 0.5f, 1.5f))});
    ValueId y = g.op(
        "Relu", {g.op("Add", {m, g.constant("t", testing::bf16_random({24}, 3, -1.0f, 1.0f))})});
    g.output(y);
    ASSERT_TRUE(g.infer().ok());
    const Tensor xv = testing::bf16_random({2, 6, 5, 24}, 1, -2.0f, 2.0f);
    Result<std::vector<Tensor>> expected = testing::run_graph(g.graph(), {xv});
    ASSERT_TRUE(expected.ok()) << expected.status().to_string();
    Graph optimized = g.graph();
    PassContext pctx(false, nullptr);
    pctx.set_device("cuda");
    ASSERT_TRUE(optimize_graph(optimized, pctx).ok());
    int fused = 0;
    for (const Node& n : optimized.nodes) fused += !n.dead && n.op_type == "ScaleShift";
    EXPECT_EQ(fused, 1);
    Result<std::vector<Tensor>> actual = testing::run_graph_cuda(optimized, {xv}, precision);
    ASSERT_TRUE(actual.ok()) << actual.status().to_string();
    EXPECT_TRUE(testing::outputs_agree((*actual)[0], (*expected)[0], precision));
  }
}

}  // namespace
}  // namespace vitrt
