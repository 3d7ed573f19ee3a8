// vitrt.ChannelsLastConv on CUDA against the CPU kernel, the reference, in fp32, fp16 and bf16:
// depthwise (launch_conv_direct's channels-last form: odd image and channel counts, kernel 3
// and 7, stride 2, dilation, a channel multiplier of 2), dense (1x1 as a plain GEMM, 3x3,
// the 7x7 stride-2 stem over 3 channels, a 2x2 patch convolution) and grouped (cuDNN, or NHWC
// im2col + GEMM per group; groups of 2 and 4 channels merged for cuDNN), with and without bias
// and ReLU.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "cuda_test_util.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// multiplier: output channels per group; group 0: depthwise (group = c).
struct ClConvCase {
  int64_t n, h, w, c, multiplier, k, stride, pad, dilation;
  bool bias;
  int64_t group = 0;
  // The activation attribute: none, relu, silu, hard_swish, relu6, gelu, gelu_tanh.
  std::string act = "none";
};

using ClConvParam = std::tuple<std::string, ClConvCase>;
class CudaChannelsLastConv : public ::testing::TestWithParam<ClConvParam> {};

TEST_P(CudaChannelsLastConv, MatchesCpu) {
  VITRT_REQUIRE_GPU();
  const auto& [precision, k] = GetParam();
  const int64_t group = k.group == 0 ? k.c : k.group;
  const int64_t d = group * k.multiplier;
  TestGraph g(17);
  std::vector<ValueId> inputs = {
      g.input("x", DType::kFloat32, {Dim::symbol("batch"), k.h, k.w, k.c}),
      g.constant("w", testing::bf16_random({d, k.k, k.k, k.c / group}, 2, -0.5f, 0.5f))};
  if (k.bias) inputs.push_back(g.constant("b", testing::bf16_random({d}, 3, -1.0f, 1.0f)));
  Attributes a;
  a.set_int("group", group);
  if (k.act != "none") a.set_string("activation", k.act);
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
    ::testing::Combine(
        ::testing::Values("fp32", "fp16", "bf16"),
        ::testing::Values(ClConvCase{2, 13, 11, 96, 1, 7, 1, 3, 1, true},
                          ClConvCase{1, 9, 10, 37, 1, 7, 1, 3, 1, false},
                          ClConvCase{3, 15, 12, 24, 1, 3, 2, 1, 1, true},
                          ClConvCase{2, 11, 9, 19, 2, 3, 1, 2, 2, true},
                          ClConvCase{2, 9, 7, 24, 1, 3, 1, 1, 1, true, 0, "relu"},
                          // dense: 1x1, 3x3, stride-2 1x1, stem, patch 2x2
                          ClConvCase{2, 7, 9, 64, 40, 1, 1, 0, 1, true, 1, "relu"},
                          ClConvCase{3, 9, 8, 32, 24, 3, 1, 1, 1, true, 1, "relu"},
                          ClConvCase{1, 9, 8, 16, 32, 1, 2, 0, 1, false, 1},
                          ClConvCase{2, 17, 15, 3, 16, 7, 2, 3, 1, true, 1, "relu"},
                          ClConvCase{2, 8, 6, 24, 32, 2, 2, 0, 1, true, 1},
                          ClConvCase{1, 11, 10, 12, 10, 3, 1, 2, 2, false, 1},
                          // grouped: 2 and 4 groups
                          ClConvCase{2, 7, 6, 16, 8, 3, 1, 1, 1, true, 2, "relu"},
                          ClConvCase{1, 6, 9, 32, 8, 3, 2, 1, 1, false, 4},
                          // ResNeXt's 4 channels per group, 6, 12, 20 and 40
                          // (im2col per group where cuDNN's fp16 needs 8k)
                          ClConvCase{2, 9, 7, 64, 4, 3, 1, 1, 1, true, 16, "relu"},
                          ClConvCase{1, 8, 11, 36, 12, 3, 2, 1, 1, true, 3},
                          ClConvCase{1, 7, 7, 40, 20, 3, 1, 2, 2, false, 2},
                          ClConvCase{1, 6, 5, 12, 40, 3, 2, 1, 1, true, 2},
                          ClConvCase{1, 5, 6, 80, 36, 3, 1, 1, 1, true, 2},
                          // fp16/bf16 groups merged for cuDNN: 2 channels per
                          // group (4 at a time), 4 in and 8 out (2 at a time)
                          ClConvCase{2, 8, 7, 32, 2, 3, 1, 1, 1, true, 16, "relu"},
                          ClConvCase{1, 9, 9, 48, 8, 3, 2, 1, 1, false, 12},
                          // SiLU after depthwise, dense and merged groups
                          ClConvCase{2, 9, 7, 24, 1, 3, 1, 1, 1, true, 0, "silu"},
                          ClConvCase{3, 9, 8, 32, 24, 3, 1, 1, 1, true, 1, "silu"},
                          ClConvCase{2, 8, 7, 32, 2, 3, 1, 1, 1, true, 16, "silu"},
                          // HardSwish after depthwise and a dense stride-2 stem (MobileNetV3)
                          ClConvCase{2, 9, 7, 24, 1, 3, 1, 1, 1, true, 0, "hard_swish"},
                          ClConvCase{2, 17, 15, 3, 16, 3, 2, 1, 1, true, 1, "hard_swish"},
                          // ReLU6 after depthwise and dense (MobileNetV2)
                          ClConvCase{2, 9, 7, 24, 1, 3, 1, 1, 1, true, 0, "relu6"},
                          ClConvCase{3, 9, 8, 32, 24, 3, 1, 1, 1, true, 1, "relu6"},
                          // GELU after depthwise (PVTv2's token MLP) and dense
                          ClConvCase{2, 7, 7, 64, 1, 3, 1, 1, 1, true, 0, "gelu"},
                          ClConvCase{3, 9, 8, 32, 24, 3, 1, 1, 1, true, 1, "gelu_tanh"})));

}  // namespace
}  // namespace vitrt
