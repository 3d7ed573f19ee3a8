// Conv kernel against a direct float64 reference over N-D indices: 1-D/2-D/3-D, groups,
// depthwise, dilations, strides, explicit pads and every auto_pad; the patch-embedding and the
// direct depthwise/grouped fast paths against the reference and against the general im2col
// path.
#include <gtest/gtest.h>

#include "cpu/conv_direct.h"
#include "cpu/linear.h"
#include "cpu/single_node.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::NodeInput;
using testing::random_tensor;
using testing::run_single_node;
using testing::tensors_close;

struct ConvCase {
  std::string name;
  std::vector<int64_t> x, w;
  bool bias = true;
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads;  // empty: attribute absent
  std::string auto_pad;                           // empty: absent
};

Attributes conv_attributes(const ConvCase& c) {
  Attributes a;
  if (c.group != 1) a.set_int("group", c.group);
  if (!c.strides.empty()) a.set_ints("strides", c.strides);
  if (!c.dilations.empty()) a.set_ints("dilations", c.dilations);
  if (!c.pads.empty()) a.set_ints("pads", c.pads);
  if (!c.auto_pad.empty()) a.set_string("auto_pad", c.auto_pad);
  return a;
}

// Y[n, m, o...] = b[m] + sum over c in m's group and kernel offsets of X[n, c, o*s - p + k*d]
// * W[m, c, k], in float64, the padding worked out from the ONNX definitions.
Tensor reference_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor* b,
                      DType dtype) {
  const size_t sp = c.x.size() - 2;
  std::vector<int64_t> stride(sp, 1), dil(sp, 1), pad_begin(sp, 0), out(sp);
  for (size_t i = 0; i < sp; ++i) {
    if (!c.strides.empty()) stride[i] = c.strides[i];
    if (!c.dilations.empty()) dil[i] = c.dilations[i];
    const int64_t in = c.x[2 + i], extent = (c.w[2 + i] - 1) * dil[i] + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[i] = (in + stride[i] - 1) / stride[i];
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * stride[i] + extent - in);
      pad_begin[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
    } else {
      const int64_t pb = c.pads.empty() ? 0 : c.pads[i], pe = c.pads.empty() ? 0 : c.pads[sp + i];
      pad_begin[i] = pb;
      out[i] = (in + pb + pe - extent) / stride[i] + 1;
    }
  }
  std::vector<int64_t> y_shape = {c.x[0], c.w[0]};
  y_shape.insert(y_shape.end(), out.begin(), out.end());
  Tensor y = Tensor::empty(dtype, y_shape);
  const int64_t cg = c.w[1], mg = c.w[0] / c.group;
  const int64_t out_size = shape_numel(out);
  const int64_t kernel_size = shape_numel(std::vector<int64_t>(c.w.begin() + 2, c.w.end()));
  std::vector<int64_t> o(sp), kk(sp);
  for (int64_t n = 0; n < c.x[0]; ++n) {
    for (int64_t m = 0; m < c.w[0]; ++m) {
      for (int64_t op = 0; op < out_size; ++op) {
        for (size_t i = sp, r = op; i-- > 0;) {
          o[i] = static_cast<int64_t>(r) % out[i];
          r /= out[i];
        }
        double sum = b != nullptr ? b->element_as_double(m) : 0.0;
        for (int64_t ci = 0; ci < cg; ++ci) {
          const int64_t channel = (m / mg) * cg + ci;
          for (int64_t kp = 0; kp < kernel_size; ++kp) {
            for (size_t i = sp, r = kp; i-- > 0;) {
              kk[i] = static_cast<int64_t>(r) % c.w[2 + i];
              r /= c.w[2 + i];
            }
            int64_t xi = n * c.x[1] + channel;
            bool inside = true;
            for (size_t i = 0; i < sp; ++i) {
              const int64_t pos = o[i] * stride[i] - pad_begin[i] + kk[i] * dil[i];
              inside = inside && pos >= 0 && pos < c.x[2 + i];
              xi = xi * c.x[2 + i] + pos;
            }
            if (inside) {
              sum +=
                  x.element_as_double(xi) * w.element_as_double((m * cg + ci) * kernel_size + kp);
            }
          }
        }
        const int64_t yi = (n * c.w[0] + m) * out_size + op;
        if (dtype == DType::kFloat32) {
          y.data<float>()[yi] = static_cast<float>(sum);
        } else {
          y.data<double>()[yi] = sum;
        }
      }
    }
  }
  return y;
}

Result<Tensor> run_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b,
                        bool constant_w, ConvPath path) {
  CpuKernelFactory factory = path == ConvPath::kAuto ? nullptr : +[](const KernelInit& init) {
    return make_conv_kernel(init, ConvPath::kIm2col);
  };
  VITRT_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                         run_single_node("Conv", conv_attributes(c),
                                         {{x}, {w, constant_w}, {b, constant_w}}, factory));
  return out[0];
}

void check_conv(const ConvCase& c, DType dtype, uint64_t seed) {
  SCOPED_TRACE(c.name + " " + dtype_name(dtype));
  const Tensor x = random_tensor(dtype, c.x, seed);
  const Tensor w = random_tensor(dtype, c.w, seed + 1);
  const Tensor b = c.bias ? random_tensor(dtype, {c.w[0]}, seed + 2) : Tensor();
  const Tensor expected = reference_conv(c, x, w, c.bias ? &b : nullptr, dtype);
  const testing::Tolerance tol =
      dtype == DType::kFloat32 ? testing::Tolerance{1e-4, 1e-5} : testing::Tolerance{1e-12, 1e-12};
  for (bool constant_w : {false, true}) {
    for (ConvPath path : {ConvPath::kAuto, ConvPath::kIm2col}) {
      SCOPED_TRACE(str_cat(constant_w ? "constant W" : "streamed W",
                           path == ConvPath::kAuto ? ", auto path" : ", im2col path"));
      auto y = run_conv(c, x, w, b, constant_w, path);
      ASSERT_TRUE(y.ok()) << y.status().to_string();
      EXPECT_TRUE(tensors_close(*y, expected, tol));
    }
  }
}

const std::vector<ConvCase> kCases = {
    {"2-D pads strides dilations",
     {2, 3, 9, 11},
     {4, 3, 3, 3},
     true,
     1,
     {2, 1},
     {1, 2},
     {1, 0, 2, 1},
     ""},
    {"2-D no bias", {1, 2, 6, 5}, {3, 2, 2, 3}, false, 1, {}, {}, {}, ""},
    {"groups", {1, 6, 8, 7}, {4, 3, 3, 2}, true, 2, {1, 2}, {}, {0, 1, 1, 0}, ""},
    {"depthwise", {2, 5, 7, 9}, {5, 1, 3, 3}, true, 5, {}, {}, {1, 1, 1, 1}, ""},
    {"depthwise multiplier 2", {1, 3, 6, 5}, {6, 1, 3, 3}, true, 3, {2, 2}, {}, {1, 1, 1, 1}, ""},
    {"SAME_UPPER stride 2", {1, 3, 9, 8}, {2, 3, 4, 3}, true, 1, {2, 2}, {}, {}, "SAME_UPPER"},
    {"SAME_LOWER stride 2", {1, 3, 9, 8}, {2, 3, 4, 3}, true, 1, {2, 2}, {}, {}, "SAME_LOWER"},
    {"SAME_UPPER dilated", {1, 2, 7, 7}, {2, 2, 3, 3}, true, 1, {1, 1}, {2, 2}, {}, "SAME_UPPER"},
    {"VALID", {2, 2, 8, 9}, {3, 2, 3, 2}, true, 1, {3, 2}, {}, {}, "VALID"},
    {"1-D", {2, 3, 13}, {4, 3, 5}, true, 1, {3}, {2}, {2, 1}, ""},
    {"3-D", {1, 2, 5, 6, 7}, {3, 2, 2, 3, 2}, true, 1, {1, 2, 1}, {}, {1, 0, 1, 0, 1, 1}, ""},
    {"1x1 pointwise", {2, 8, 5, 7}, {6, 8, 1, 1}, true, 1, {}, {}, {}, ""},
    {"1x1 pointwise, three images, no bias",
     {3, 40, 9, 11},
     {24, 40, 1, 1},
     false,
     1,
     {},
     {},
     {},
     ""},
    // Above the small-pointwise loop's 2^20 multiply-adds: the oneDNN product.
    {"1x1 pointwise, large", {2, 64, 20, 21}, {48, 64, 1, 1}, true, 1, {}, {}, {}, ""},
    {"1x1 pointwise, EfficientViT head", {4, 16, 7, 7}, {48, 16, 1, 1}, true, 1, {}, {}, {}, ""},
    {"patch embedding", {2, 3, 34, 50}, {8, 3, 16, 16}, true, 1, {16, 16}, {}, {}, ""},
    {"patch embedding no bias", {1, 3, 12, 12}, {5, 3, 4, 4}, false, 1, {4, 4}, {}, {}, "VALID"},
    {"patch embedding non-square", {1, 2, 9, 10}, {7, 2, 3, 2}, true, 1, {3, 2}, {}, {}, ""},
    // Depthwise and narrow grouped convs: the direct path (cpu/conv_direct.h) on the auto path.
    {"depthwise 7x7 ConvNeXt", {2, 6, 11, 13}, {6, 1, 7, 7}, true, 6, {}, {}, {3, 3, 3, 3}, ""},
    {"depthwise 7x7 no bias", {1, 4, 7, 7}, {4, 1, 7, 7}, false, 4, {}, {}, {3, 3, 3, 3}, ""},
    {"depthwise 5x5 stride 2 asymmetric pads",
     {1, 4, 12, 9},
     {4, 1, 5, 5},
     true,
     4,
     {2, 2},
     {},
     {2, 1, 1, 2},
     ""},
    {"depthwise 1x1", {2, 3, 4, 5}, {3, 1, 1, 1}, false, 3, {}, {}, {}, ""},
    {"depthwise 3x5 dilation 2",
     {1, 3, 10, 12},
     {3, 1, 3, 5},
     true,
     3,
     {},
     {2, 2},
     {2, 4, 1, 3},
     ""},
    {"depthwise stride 3 dilation 2 along the row",
     {1, 2, 9, 17},
     {2, 1, 3, 3},
     true,
     2,
     {1, 3},
     {1, 2},
     {1, 2, 0, 1},
     ""},
    {"depthwise 7x7 multiplier 2", {1, 3, 9, 8}, {6, 1, 7, 7}, true, 3, {}, {}, {3, 3, 3, 3}, ""},
    {"depthwise 1x1 image", {3, 4, 1, 1}, {4, 1, 3, 3}, true, 4, {}, {}, {1, 1, 1, 1}, ""},
    {"depthwise 7x7 on a 1x1 image", {2, 3, 1, 1}, {3, 1, 7, 7}, true, 3, {}, {}, {3, 3, 3, 3}, ""},
    {"depthwise 2x3 image", {2, 5, 2, 3}, {5, 1, 3, 3}, false, 5, {}, {}, {1, 1, 1, 1}, ""},
    {"depthwise wide rows", {1, 2, 5, 75}, {2, 1, 3, 7}, true, 2, {}, {}, {1, 3, 1, 3}, ""},
    {"depthwise 40 wide", {1, 2, 3, 40}, {2, 1, 3, 3}, true, 2, {}, {}, {1, 1, 1, 1}, ""},
    {"depthwise 45 wide", {1, 2, 3, 45}, {2, 1, 3, 3}, true, 2, {}, {}, {1, 1, 1, 1}, ""},
    {"depthwise 1x11", {1, 2, 4, 20}, {2, 1, 1, 11}, true, 2, {}, {}, {0, 5, 0, 5}, ""},
    {"depthwise SAME_UPPER stride 2",
     {1, 4, 9, 10},
     {4, 1, 5, 5},
     true,
     4,
     {2, 2},
     {},
     {},
     "SAME_UPPER"},
    {"depthwise VALID", {1, 3, 8, 9}, {3, 1, 3, 3}, true, 3, {}, {}, {}, "VALID"},
    {"depthwise pads past the reach of the kernel",
     {1, 2, 4, 5},
     {2, 1, 3, 3},
     true,
     2,
     {2, 2},
     {},
     {4, 3, 5, 6},
     ""},
    {"depthwise 1-D multiplier 2", {2, 4, 20}, {8, 1, 5}, true, 4, {2}, {}, {2, 1}, ""},
    {"depthwise 1-D kernel 31 (Conformer)", {1, 3, 150}, {3, 1, 31}, true, 3, {}, {}, {15, 15}, ""},
    {"depthwise 3-D with depth 1",
     {1, 3, 1, 6, 7},
     {3, 1, 1, 3, 3},
     true,
     3,
     {},
     {},
     {0, 1, 1, 0, 1, 1},
     ""},
    {"grouped 4 per group stride 2",
     {2, 16, 9, 10},
     {16, 4, 3, 3},
     true,
     4,
     {2, 2},
     {},
     {1, 1, 1, 1},
     ""},
    {"grouped 2 in 3 out per group",
     {1, 6, 7, 6},
     {9, 2, 3, 3},
     false,
     3,
     {},
     {},
     {1, 1, 1, 1},
     ""},
    {"grouped 16 per group", {1, 32, 5, 6}, {8, 16, 3, 3}, true, 2, {}, {}, {1, 1, 1, 1}, ""},
    {"grouped 17 per group", {1, 34, 5, 6}, {4, 17, 3, 3}, true, 2, {}, {}, {1, 1, 1, 1}, ""},
};

TEST(ConvKernel, Float32AgainstReference) {
  uint64_t seed = 1;
  for (const ConvCase& c : kCases) check_conv(c, DType::kFloat32, seed += 3);
}

TEST(ConvKernel, Float64AgainstReference) {
  uint64_t seed = 100;
  for (const ConvCase& c : kCases) check_conv(c, DType::kFloat64, seed += 3);
}

// ViT-B/16's first layer at a reduced width: the fast path and the general path agree.
TEST(ConvKernel, PatchEmbeddingFastPathMatchesIm2col) {
  const ConvCase c{"vit patch", {2, 3, 64, 48}, {24, 3, 16, 16}, true, 1, {16, 16}, {}, {}, ""};
  const Tensor x = random_tensor(DType::kFloat32, c.x, 5);
  const Tensor w = random_tensor(DType::kFloat32, c.w, 6);
  const Tensor b = random_tensor(DType::kFloat32, {c.w[0]}, 7);
  auto fast = run_conv(c, x, w, b, true, ConvPath::kAuto);
  auto general = run_conv(c, x, w, b, true, ConvPath::kIm2col);
  ASSERT_TRUE(fast.ok()) << fast.status().to_string();
  ASSERT_TRUE(general.ok()) << general.status().to_string();
  EXPECT_TRUE(tensors_close(*fast, *general, {1e-4, 1e-5}));
  EXPECT_TRUE(tensors_close(*fast, reference_conv(c, x, w, &b, DType::kFloat32), {1e-4, 1e-5}));
}

// ConvNeXt-T's third-stage depthwise conv at a reduced width: the direct path, the general path
// and the reference agree.
TEST(ConvKernel, DirectPathMatchesIm2col) {
  const ConvCase c{
      "convnext dw", {1, 24, 14, 14}, {24, 1, 7, 7}, true, 24, {}, {}, {3, 3, 3, 3}, ""};
  const Tensor x = random_tensor(DType::kFloat32, c.x, 8);
  const Tensor w = random_tensor(DType::kFloat32, c.w, 9);
  const Tensor b = random_tensor(DType::kFloat32, {c.w[0]}, 10);
  auto direct = run_conv(c, x, w, b, true, ConvPath::kAuto);
  auto general = run_conv(c, x, w, b, true, ConvPath::kIm2col);
  ASSERT_TRUE(direct.ok()) << direct.status().to_string();
  ASSERT_TRUE(general.ok()) << general.status().to_string();
  EXPECT_TRUE(tensors_close(*direct, *general, {1e-4, 1e-5}));
  EXPECT_TRUE(tensors_close(*direct, reference_conv(c, x, w, &b, DType::kFloat32), {1e-4, 1e-5}));
}

// The cases above reach the direct path only where it applies: depthwise and up to 16 input
// channels per group, 1-D and 2-D (3-D with a trivial depth axis); never one group.
TEST(ConvKernel, DirectPathAppliesToDepthwiseAndNarrowGroups) {
  ConvGeometry g;
  g.spatial_rank = 2;
  g.batch = 1;
  g.in = {1, 14, 14};
  g.kernel = {1, 7, 7};
  g.out = {1, 14, 14};
  g.channels = g.out_channels = g.group = 96;
  EXPECT_TRUE(conv_direct_applies(g));
  g.out_channels = 192;  // multiplier 2
  EXPECT_TRUE(conv_direct_applies(g));
  g.group = 6;  // 16 input channels per group
  EXPECT_TRUE(conv_direct_applies(g));
  g.group = 3;  // 32
  EXPECT_FALSE(conv_direct_applies(g));
  g.channels = g.out_channels = g.group = 1;  // one group
  EXPECT_FALSE(conv_direct_applies(g));
  g.channels = g.out_channels = g.group = 8;
  g.spatial_rank = 3;
  g.in = {2, 14, 14};  // a real depth axis
  g.kernel = {2, 3, 3};
  g.out = {1, 12, 12};
  EXPECT_FALSE(conv_direct_applies(g));
}

TEST(ConvKernel, ChannelMismatchIsAnErrorNamingTheNode) {
  const Tensor x = random_tensor(DType::kFloat32, {1, 4, 5, 5}, 1);
  const Tensor w = random_tensor(DType::kFloat32, {2, 3, 3, 3}, 2);
  auto out = run_single_node("Conv", {}, {{x}, {w, true}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("node 'n0' (Conv): X has 4 channels but W [2, 3, 3, 3]"),
            std::string::npos)
      << out.status().message();
}

TEST(ConvKernel, KernelLargerThanInputIsAnError) {
  const Tensor x = random_tensor(DType::kFloat32, {1, 1, 2, 5}, 1);
  const Tensor w = random_tensor(DType::kFloat32, {1, 1, 3, 3}, 2);
  auto out = run_single_node("Conv", {}, {{x}, {w, true}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("smaller than the kernel's extent 3"), std::string::npos)
      << out.status().message();
}

}  // namespace
}  // namespace vitrt
