// vitrt.ChannelsLastConv on CUDA (launch_conv_direct's channels-last form) against the CPU
// kernel, the reference: odd image and channel counts, kernel 3 and 7, stride 2, dilation, a
// channel multiplier of 2, with and without bias, in fp32, fp16 and bf16.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "cuda_test_util.h"

namespace vitrt {
namespace {

using testing::TestGraph;

struct ClConvCase {
  int64_t n, h, w, c, multiplier, k, stride, pad, dilation;
  bool bias;
};

using ClConvParam = std::tuple<std::string, ClConvCase>;
class CudaChannelsLastConv : public ::testing::TestWithParam<ClConvParam> {};

TEST_P(CudaChannelsLastConv, MatchesCpu) {
  VITRT_REQUIRE_GPU();
  const auto& [precision, k] = GetParam();
  const int64_t d = k.c * k.multiplier;
  TestGraph g(17);
  std::vector<ValueId> inputs = {
      g.input("x", DType::kFloat32, {Dim::symbol("batch"), k.h, k.w, k.c}),
      g.constant("w", testing::bf16_random({d, 1, k.k, k.k}, 2, -0.5f, 0.5f))};
  if (k.bias) inputs.push_back(g.constant("b", testing::bf16_random({d}, 3, -1.0f, 1.0f)));
  Attributes a;
  a.set_int("group", k.c);
  a.set_ints("strides", {k.stride, k.stride});
  a.set_ints("pads", {k.pad, k.pad, k.pad, k.pad});
  a.set_ints("dilations", {k.dilation, k.dilation});
  g.output(g.op("ChannelsLastConv", inputs, a, "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  const Tensor x = testing::bf16_random({k.n, k.h, k.w, k.c}, 1, -1.0f, 1.0f);
  Result<std::vector<Tensor>> expected = testing::run_graph(g.graph(), {x});
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  Result<std::vector<Tensor>> actual = testing::run_graph_cuda(g.graph(), {x}, precision);
  ASSERT_TRUE(actual.ok()) << actual.status().to_string();
  EXPECT_TRUE(testing::outputs_agree((*actual)[0], (*expected)[0], precision));
}

INSTANTIATE_TEST_SUITE_P(
    cuda, CudaChannelsLastConv,
    ::testing::Combine(::testing::Values("fp32", "fp16", "bf16"),
                       ::testing::Values(ClConvCase{2, 13, 11, 96, 1, 7, 1, 3, 1, true},
                                         ClConvCase{1, 9, 10, 37, 1, 7, 1, 3, 1, false},
                                         ClConvCase{3, 15, 12, 24, 1, 3, 2, 1, 1, true},
                                         ClConvCase{2, 11, 9, 19, 2, 3, 1, 2, 2, true})));

}  // namespace
}  // namespace vitrt
