// vitrt.ChannelsLastConv on the CPU against a float64 loop of its definition: depthwise (odd
// shapes, kernel 3 and 7, stride 2, dilation, channel multiplier 2, auto_pad), dense (1x1 as a
// plain product, 3x3, 7x7 stride 2, a 2x2 patch convolution) and grouped, with and without bias
// and ReLU or SiLU, float32 and float64; and its shape errors, which name the input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <string>
#include <vector>

#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// multiplier: output channels per group; group 0 means depthwise (group = c).
struct Case {
  int64_t n, h, w, c, multiplier, kh, kw;
  std::vector<int64_t> strides, pads, dilations;
  bool bias;
  std::string auto_pad = "NOTSET";
  int64_t group = 0;
  // The activation attribute: none, relu, silu, hard_swish, relu6, gelu, gelu_tanh.
  std::string act = "none";
  int64_t groups() const { return group == 0 ? c : group; }
  int64_t out_channels() const { return groups() * multiplier; }
};

Attributes conv_attributes(const Case& k) {
  Attributes a;
  a.set_int("group", k.groups());
  if (k.act != "none") a.set_string("activation", k.act);
  a.set_ints("kernel_shape", {k.kh, k.kw});
  a.set_ints("strides", k.strides);
  a.set_ints("dilations", k.dilations);
  if (k.auto_pad == "NOTSET") {
    a.set_ints("pads", k.pads);
  } else {
    a.set_string("auto_pad", k.auto_pad);
  }
  return a;
}

// Y[n, oy, ox, o] = act(B[o] + sum_{i,j,q} X[n, oy*sh - ph + i*dh, ox*sw - pw + j*dw,
// (o / m) * cg + q] * W[o, i, j, q]), in float64; pads as ONNX Conv works them out (SAME_UPPER:
// the odd one at the end).
Tensor reference(const Case& k, const Tensor& x, const Tensor& w, const Tensor* bias, DType dtype) {
  std::vector<int64_t> pad_begin(2), out(2);
  const int64_t in[2] = {k.h, k.w}, kernel[2] = {k.kh, k.kw};
  for (int a = 0; a < 2; ++a) {
    const int64_t extent = k.dilations[a] * (kernel[a] - 1) + 1;
    if (k.auto_pad == "SAME_UPPER") {
      out[a] = (in[a] + k.strides[a] - 1) / k.strides[a];
      const int64_t total = std::max<int64_t>(0, (out[a] - 1) * k.strides[a] + extent - in[a]);
      pad_begin[a] = total / 2;
    } else {
      pad_begin[a] = k.pads[a];
      out[a] = (in[a] + k.pads[a] + k.pads[a + 2] - extent) / k.strides[a] + 1;
    }
  }
  const int64_t d = k.out_channels(), cg = k.c / k.groups();
  Tensor y = Tensor::empty(dtype, {k.n, out[0], out[1], d});
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t oy = 0; oy < out[0]; ++oy)
      for (int64_t ox = 0; ox < out[1]; ++ox)
        for (int64_t o = 0; o < d; ++o) {
          double sum = bias != nullptr ? bias->element_as_double(o) : 0.0;
          for (int64_t i = 0; i < k.kh; ++i)
            for (int64_t j = 0; j < k.kw; ++j) {
              const int64_t iy = oy * k.strides[0] - pad_begin[0] + i * k.dilations[0];
              const int64_t ix = ox * k.strides[1] - pad_begin[1] + j * k.dilations[1];
              if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
              for (int64_t q = 0; q < cg; ++q) {
                sum += x.element_as_double(((n * k.h + iy) * k.w + ix) * k.c +
                                           (o / k.multiplier) * cg + q) *
                       w.element_as_double(((o * k.kh + i) * k.kw + j) * cg + q);
              }
            }
          if (k.act == "relu") sum = std::max(sum, 0.0);
          if (k.act == "silu") sum = sum / (1.0 + std::exp(-sum));
          if (k.act == "hard_swish") sum = sum * std::min(1.0, std::max(0.0, sum / 6.0 + 0.5));
          if (k.act == "relu6") sum = std::min(std::max(sum, 0.0), 6.0);
          if (k.act == "gelu") sum = 0.5 * sum * (1.0 + std::erf(sum / std::sqrt(2.0)));
          if (k.act == "gelu_tanh") {
            const double c = std::sqrt(2.0 / 3.14159265358979323846);
            sum = 0.5 * sum * (1.0 + std::tanh(c * (sum + 0.044715 * sum * sum * sum)));
          }
          const int64_t at = ((n * out[0] + oy) * out[1] + ox) * d + o;
          if (dtype == DType::kFloat64) {
            y.data<double>()[at] = sum;
          } else {
            y.data<float>()[at] = static_cast<float>(sum);
          }
        }
  return y;
}

void expect_matches_definition(const Case& k, DType dtype) {
  const int64_t d = k.out_channels();
  Tensor x = testing::random_tensor(dtype, {k.n, k.h, k.w, k.c}, 1);
  Tensor w = testing::random_tensor(dtype, {d, k.kh, k.kw, k.c / k.groups()}, 2);
  Tensor b = testing::random_tensor(dtype, {d}, 3);
  TestGraph g;
  std::vector<ValueId> inputs = {
      g.input("x", dtype, {Dim::symbol("batch"), Dim::symbol("height"), Dim::symbol("width"), k.c}),
      g.constant("w", w)};
  if (k.bias) inputs.push_back(g.constant("b", b));
  g.output(g.op("ChannelsLastConv", inputs, conv_attributes(k), "vitrt"));
  Status inferred = g.infer();
  ASSERT_TRUE(inferred.ok()) << inferred.to_string();
  auto got = testing::run_graph(g.graph(), {x});
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const Tensor want = reference(k, x, w, k.bias ? &b : nullptr, dtype);
  const testing::Tolerance tol =
      dtype == DType::kFloat64 ? testing::Tolerance{1e-12, 1e-12} : testing::Tolerance{1e-5, 1e-5};
  EXPECT_TRUE(testing::tensors_close((*got)[0], want, tol))
      << "n" << k.n << " h" << k.h << " w" << k.w << " c" << k.c << " m" << k.multiplier << " k"
      << k.kh << "x" << k.kw << " group " << k.groups() << " " << k.act << " " << k.auto_pad << " "
      << dtype_name(dtype);
}

TEST(ChannelsLastConv, MatchesDefinition) {
  const std::vector<Case> cases = {
      // ConvNeXt's block: 7x7, pad 3, stride 1, odd image and channel counts.
      {2, 9, 11, 13, 1, 7, 7, {1, 1}, {3, 3, 3, 3}, {1, 1}, true},
      {1, 5, 6, 3, 1, 7, 7, {1, 1}, {3, 3, 3, 3}, {1, 1}, false},  // kernel wider than the image
      // 3x3, stride 2, uneven pads.
      {3, 10, 7, 5, 1, 3, 3, {2, 2}, {1, 0, 0, 1}, {1, 1}, true},
      // dilation 2 and a channel multiplier of 2.
      {2, 12, 9, 6, 2, 3, 3, {1, 1}, {2, 2, 2, 2}, {2, 2}, true},
      {1, 8, 13, 7, 2, 5, 3, {2, 1}, {0, 1, 2, 1}, {1, 3}, false},
      // auto_pad SAME_UPPER with stride 2: the odd pad at the end.
      {2, 9, 10, 4, 1, 4, 3, {2, 2}, {}, {1, 1}, true, "SAME_UPPER"},
      {2, 7, 9, 5, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 0, "relu"},  // + ReLU
      // EfficientNet's depthwise conv + SiLU, 5x5 stride 2, 20 channels (2.5 AVX2 vectors).
      {2, 11, 9, 20, 1, 5, 5, {2, 2}, {2, 2, 2, 2}, {1, 1}, true, "NOTSET", 0, "silu"},
      // MobileNetV3's depthwise conv + HardSwish (inputs around +-3, where it bends).
      {2, 9, 8, 24, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 0, "hard_swish"},
      // MobileNetV2's depthwise conv + ReLU6.
      {2, 9, 8, 24, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 0, "relu6"},
      // PVTv2's token-MLP depthwise conv + GELU (both forms), 36 channels (4.5 vectors).
      {2, 7, 7, 36, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 0, "gelu"},
      {1, 6, 5, 36, 1, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 0, "gelu_tanh"},
  };
  for (const Case& k : cases) {
    expect_matches_definition(k, DType::kFloat32);
    expect_matches_definition(k, DType::kFloat64);
  }
}

TEST(ChannelsLastConv, DenseAndGroupedMatchDefinition) {
  const std::vector<Case> cases = {
      // 1x1, unit stride, no padding: a plain product over channels (bias, ReLU).
      {2, 5, 7, 24, 40, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, "NOTSET", 1, "relu"},
      // ResNet's 3x3 (pad 1) and its stride-2 1x1 shortcut.
      {2, 9, 8, 16, 12, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 1, "relu"},
      {1, 9, 8, 16, 32, 1, 1, {2, 2}, {0, 0, 0, 0}, {1, 1}, false, "NOTSET", 1},
      // The stem: 7x7 stride 2 pad 3 over 3 channels, odd image.
      {1, 17, 15, 3, 8, 7, 7, {2, 2}, {3, 3, 3, 3}, {1, 1}, true, "NOTSET", 1, "relu"},
      // A ConvNeXt downsampler (2x2 stride 2) and uneven pads with dilation.
      {3, 8, 6, 12, 20, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}, true, "NOTSET", 1},
      {1, 10, 11, 6, 5, 3, 2, {1, 2}, {2, 0, 1, 1}, {2, 1}, false, "NOTSET", 1},
      // Grouped: 2 and 4 groups of several channels (ResNeXt), bias and ReLU.
      {2, 7, 6, 8, 3, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 2, "relu"},
      {1, 6, 9, 16, 4, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, false, "NOTSET", 4},
      // SiLU after a dense 3x3 (EfficientNet's stem), a 1x1 and a grouped conv.
      {2, 9, 8, 3, 16, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 1, "silu"},
      {1, 5, 7, 24, 40, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, "NOTSET", 1, "silu"},
      {2, 7, 6, 8, 3, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 2, "silu"},
      // HardSwish after MobileNetV3's stem (3x3 stride 2 over 3 channels) and a grouped conv.
      {2, 9, 8, 3, 16, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 1, "hard_swish"},
      {1, 7, 6, 8, 3, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 2, "hard_swish"},
      // ReLU6 after MobileNetV2's stem.
      {2, 9, 8, 3, 16, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 1, "relu6"},
      // GELU (oneDNN's post-op) after a dense 3x3, a 1x1 and a grouped conv.
      {2, 9, 8, 3, 16, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 1, "gelu"},
      {1, 5, 7, 24, 40, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, true, "NOTSET", 1, "gelu_tanh"},
      {2, 7, 6, 8, 3, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, true, "NOTSET", 2, "gelu"},
  };
  for (const Case& k : cases) {
    expect_matches_definition(k, DType::kFloat32);
    expect_matches_definition(k, DType::kFloat64);
  }
}

TEST(ChannelsLastConv, SymbolicImageSize) {
  Case k = {1, 0, 0, 8, 1, 7, 7, {1, 1}, {3, 3, 3, 3}, {1, 1}, true};
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32,
                      {Dim::symbol("batch"), Dim::symbol("height"), Dim::symbol("width"), 8});
  g.output(g.op("ChannelsLastConv",
                {x, g.constant("w", testing::random_tensor(DType::kFloat32, {8, 7, 7, 1}, 2))},
                conv_attributes(k), "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  EXPECT_EQ(sym_shape_to_string(g.graph().values[g.graph().outputs[0]].shape),
            "[batch, height, width, 8]");
}

// Builds X [1, 6, 6, x_channels] -> ChannelsLastConv(W, B) with group `group`; returns shape
// inference's status.
Status infer_with(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& w_shape,
                  int64_t group, const std::vector<int64_t>& b_shape = {}) {
  TestGraph g;
  SymShape xs(x_shape.begin(), x_shape.end());
  std::vector<ValueId> inputs = {
      g.input("x", DType::kFloat32, xs),
      g.constant("w", testing::random_tensor(DType::kFloat32, w_shape, 2))};
  if (!b_shape.empty()) {
    inputs.push_back(g.constant("b", testing::random_tensor(DType::kFloat32, b_shape, 3)));
  }
  Attributes a;
  a.set_int("group", group);
  a.set_ints("pads", {1, 1, 1, 1});
  g.output(g.op("ChannelsLastConv", inputs, a, "vitrt", "dw"));
  return g.infer();
}

TEST(ChannelsLastConv, ShapeErrorsNameTheInput) {
  Status s = infer_with({1, 6, 6}, {4, 3, 3, 1}, 4);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("X must be [N, H, W, C]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'dw'"), std::string::npos) << s.message();

  s = infer_with({1, 6, 6, 4}, {4, 3, 3}, 4);
  EXPECT_NE(s.message().find("W must be [D, KH, KW, C/group]"), std::string::npos) << s.message();

  // W's channels times group differ from X's (the ONNX layout [D, C/group, KH, KW] given).
  for (int64_t group : {2, 1}) {
    s = infer_with({1, 6, 6, 4}, {4, 4 / group, 3, 3}, group);
    EXPECT_NE(s.message().find("do not fit group"), std::string::npos) << s.message();
  }
  // D no multiple of group.
  s = infer_with({1, 6, 6, 4}, {6, 3, 3, 1}, 4);
  EXPECT_NE(s.message().find("do not fit group"), std::string::npos) << s.message();

  s = infer_with({1, 6, 6, 4}, {8, 3, 3, 1}, 4, {4});
  EXPECT_NE(s.message().find("B must be [8]"), std::string::npos) << s.message();

  Attributes bad;
  bad.set_string("activation", "quick_gelu");
  TestGraph g;
  g.output(g.op("ChannelsLastConv",
                {g.input("x", DType::kFloat32, {1, 6, 6, 4}),
                 g.constant("w", testing::random_tensor(DType::kFloat32, {4, 1, 1, 4}, 2))},
                bad, "vitrt", "pw"));
  s = g.infer();
  EXPECT_NE(s.message().find("'activation' is 'quick_gelu'"), std::string::npos) << s.message();
}

TEST(ChannelsLastConv, KernelRefusesChannelsThatDifferFromGroup) {
  // The channel count is symbolic at build time, so only the kernel can see it differ.
  TestGraph g;
  Attributes a;
  a.set_int("group", 4);
  ValueId x = g.input("x", DType::kFloat32, {1, 5, 5, Dim::symbol("c")});
  g.output(g.op("ChannelsLastConv",
                {x, g.constant("w", testing::random_tensor(DType::kFloat32, {4, 3, 3, 1}, 2))}, a,
                "vitrt", "dw"));
  ASSERT_TRUE(g.infer().ok());
  auto got =
      testing::run_graph(g.graph(), {testing::random_tensor(DType::kFloat32, {1, 5, 5, 3}, 1)});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("do not fit group"), std::string::npos)
      << got.status().message();
}

}  // namespace
}  // namespace vitrt
