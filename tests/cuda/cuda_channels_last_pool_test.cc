// vitrt.ChannelsLastPool on CUDA against the CPU kernel, the reference, in fp32, fp16 and bf16:
// max (ResNet's stem pool, kernel 2 and 3, stride 1 and 2, asymmetric pads, ceil_mode,
// dilation, SAME_UPPER) and average (count_include_pad, ceil_mode), over channel counts that
// take the 16-byte vector path (64, 96, and 24 in fp32) and the per-channel one (3, 5, and 24
// in fp16/bf16), batch 1 to 3; and windows with no input element (-inf / 0).
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "cuda_test_util.h"

namespace vitrt {
namespace {

using testing::TestGraph;

struct ClPoolCase {
  bool average;
  int64_t n, h, w, c, kh, kw, stride;
  std::vector<int64_t> pads;  // empty: auto_pad SAME_UPPER
  int64_t dilation = 1;
  bool ceil_mode = false;
  bool count_include_pad = false;
};

Graph pool_graph(const ClPoolCase& k) {
  TestGraph g(17);
  ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), k.h, k.w, k.c});
  Attributes a;
  a.set_string("mode", k.average ? "average" : "max");
  a.set_ints("kernel_shape", {k.kh, k.kw});
  a.set_ints("strides", {k.stride, k.stride});
  if (k.pads.empty()) {
    a.set_string("auto_pad", "SAME_UPPER");
  } else {
    a.set_ints("pads", k.pads);
  }
  if (!k.average) a.set_ints("dilations", {k.dilation, k.dilation});
  if (k.ceil_mode) a.set_int("ceil_mode", 1);
  if (k.count_include_pad) a.set_int("count_include_pad", 1);
  g.output(g.op("ChannelsLastPool", {x}, a, "vitrt"));
  EXPECT_TRUE(g.infer().ok());
  return g.graph();
}

using ClPoolParam = std::tuple<std::string, ClPoolCase>;
class CudaChannelsLastPool : public ::testing::TestWithParam<ClPoolParam> {};

TEST_P(CudaChannelsLastPool, MatchesCpu) {
  VITRT_REQUIRE_GPU();
  const auto& [precision, k] = GetParam();
  const Graph graph = pool_graph(k);
  // bf16-exact inputs: the plan's conversion to fp16 / bf16 loses nothing.
  const Tensor x = testing::bf16_random({k.n, k.h, k.w, k.c}, 1, -1.0f, 1.0f);
  Result<std::vector<Tensor>> expected = testing::run_graph(graph, {x});
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  Result<std::vector<Tensor>> actual = testing::run_graph_cuda(graph, {x}, precision);
  ASSERT_TRUE(actual.ok()) << actual.status().to_string();
  if (!k.average) {
    // The maximum is one of the (exactly converted) inputs: equal in every precision.
    EXPECT_TRUE(testing::tensors_close((*actual)[0], (*expected)[0], {0.0, 0.0}));
  } else {
    EXPECT_TRUE(testing::outputs_agree((*actual)[0], (*expected)[0], precision));
  }
}

INSTANTIATE_TEST_SUITE_P(
    cuda, CudaChannelsLastPool,
    ::testing::Combine(
        ::testing::Values("fp32", "fp16", "bf16"),
        ::testing::Values(
            // ResNet's stem pool: 3x3, stride 2, pad 1 over 64 channels, odd image, batch 3.
            ClPoolCase{false, 3, 13, 11, 64, 3, 3, 2, {1, 1, 1, 1}},
            ClPoolCase{false, 2, 9, 8, 96, 2, 2, 2, {0, 0, 0, 0}},
            ClPoolCase{false, 2, 10, 9, 3, 3, 3, 1, {0, 1, 2, 1}},  // asymmetric pads, C = 3
            ClPoolCase{false, 1, 10, 9, 24, 3, 3, 2, {1, 0, 0, 1}, 1, true},  // ceil_mode
            ClPoolCase{false, 2, 12, 9, 5, 3, 3, 1, {2, 2, 2, 2}, 2},         // dilation 2
            ClPoolCase{false, 2, 11, 10, 64, 3, 3, 2, {}},                    // SAME_UPPER
            ClPoolCase{true, 3, 13, 11, 64, 3, 3, 2, {1, 1, 1, 1}},
            ClPoolCase{true, 2, 13, 11, 96, 3, 3, 2, {1, 1, 1, 1}, 1, false, true},
            ClPoolCase{true, 2, 7, 9, 3, 2, 2, 2, {0, 0, 0, 0}, 1, true, true},  // ceil_mode
            ClPoolCase{true, 1, 10, 9, 24, 3, 3, 2, {1, 0, 0, 1}, 1, true, false},
            ClPoolCase{true, 2, 10, 9, 5, 3, 2, 1, {0, 1, 1, 0}, 1, false, true},
            ClPoolCase{true, 2, 11, 10, 96, 3, 3, 2, {}, 1, false, true})));  // SAME_UPPER

// Windows with no input element give -inf (max) and 0 (average) on both backends, exactly.
TEST(CudaChannelsLastPoolEmptyWindows, MatchCpu) {
  VITRT_REQUIRE_GPU();
  const std::vector<ClPoolCase> cases = {
      // Taps at -1 and 1 of a 1-pixel-wide image (dilation 2, pad 1).
      {false, 2, 5, 1, 64, 2, 2, 1, {1, 1, 1, 1}, 2},
      {false, 2, 5, 1, 3, 2, 2, 1, {1, 1, 1, 1}, 2},
      // Pads as large as the kernel: the corner windows lie in the padding.
      {true, 1, 4, 5, 64, 2, 2, 1, {2, 2, 2, 2}},
      {true, 1, 4, 5, 3, 2, 2, 1, {2, 2, 2, 2}, 1, false, true},
  };
  for (const std::string precision : {"fp32", "fp16", "bf16"}) {
    for (const ClPoolCase& k : cases) {
      const Graph graph = pool_graph(k);
      const Tensor x = testing::bf16_random({k.n, k.h, k.w, k.c}, 1, -1.0f, 1.0f);
      Result<std::vector<Tensor>> expected = testing::run_graph(graph, {x});
      ASSERT_TRUE(expected.ok()) << expected.status().to_string();
      Result<std::vector<Tensor>> actual = testing::run_graph_cuda(graph, {x}, precision);
      ASSERT_TRUE(actual.ok()) << actual.status().to_string();
      // Max: inputs or -inf; average: the empty windows are exact zeros, the rest near.
      const testing::Tolerance tol =
          k.average ? testing::Tolerance{precision == "fp32" ? 1e-5 : 1e-2, 1e-3}
                    : testing::Tolerance{0.0, 0.0};
      EXPECT_TRUE(testing::tensors_close((*actual)[0], (*expected)[0], tol))
          << precision << (k.average ? " average" : " max") << " c" << k.c;
      EXPECT_EQ((*actual)[0].data<float>()[0], (*expected)[0].data<float>()[0]) << precision;
    }
  }
}

}  // namespace
}  // namespace vitrt
