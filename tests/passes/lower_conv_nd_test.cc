// lower_conv_nd: 1-D Convs (strides, asymmetric pads, dilation, groups, SAME padding, with and
// without bias) and tubelet 3-D Convs (kernel = stride, sizes that leave a remainder) lowered to
// what the CUDA backend runs compute what a float64 convolution loop computes; 3-D Convs of other
// forms stay Conv with the reason logged.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "run_pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

struct ConvSpec {
  std::vector<int64_t> stride, dilation, pad_begin, pad_end;
  int64_t group = 1;
};

// Convolution by definition over 1 or 3 spatial axes (x [N, C, S...], w [O, C/g, K...]).
Tensor reference(const Tensor& x, const Tensor& w, const Tensor* b, const ConvSpec& s) {
  const int sp = static_cast<int>(x.rank()) - 2;
  const int64_t n = x.dim(0), c = x.dim(1), o = w.dim(0), cg = w.dim(1), og = o / s.group;
  std::vector<int64_t> in(sp), k(sp), out(sp);
  for (int i = 0; i < sp; ++i) {
    in[i] = x.dim(2 + i);
    k[i] = w.dim(2 + i);
    out[i] =
        (in[i] + s.pad_begin[i] + s.pad_end[i] - s.dilation[i] * (k[i] - 1) - 1) / s.stride[i] + 1;
  }
  int64_t in_n = 1, out_n = 1, k_n = 1;
  for (int i = 0; i < sp; ++i) {
    in_n *= in[i];
    out_n *= out[i];
    k_n *= k[i];
  }
  std::vector<int64_t> shape = {n, o};
  shape.insert(shape.end(), out.begin(), out.end());
  Tensor y = Tensor::empty(DType::kFloat32, shape);
  std::vector<int64_t> pos(sp), tap(sp);
  for (int64_t bn = 0; bn < n; ++bn) {
    for (int64_t oc = 0; oc < o; ++oc) {
      const int64_t grp = oc / og;
      for (int64_t e = 0; e < out_n; ++e) {
        for (int i = sp - 1, r = static_cast<int>(e); i >= 0; --i) {
          pos[i] = r % out[i];
          r /= static_cast<int>(out[i]);
        }
        double acc = b != nullptr ? b->data<float>()[oc] : 0.0;
        for (int64_t ic = 0; ic < cg; ++ic) {
          for (int64_t t = 0; t < k_n; ++t) {
            int64_t rem = t, xi = 0, wi = 0;
            bool inside = true;
            for (int i = sp - 1; i >= 0; --i) {
              tap[i] = rem % k[i];
              rem /= k[i];
            }
            for (int i = 0; i < sp; ++i) {
              const int64_t p = pos[i] * s.stride[i] - s.pad_begin[i] + tap[i] * s.dilation[i];
              inside = inside && p >= 0 && p < in[i];
              xi = xi * in[i] + p;
              wi = wi * k[i] + tap[i];
            }
            if (!inside) continue;
            const int64_t xc = grp * cg + ic;
            acc += static_cast<double>(x.data<float>()[(bn * c + xc) * in_n + xi]) *
                   w.data<float>()[(oc * cg + ic) * k_n + wi];
          }
        }
        y.data<float>()[(bn * o + oc) * out_n + e] = static_cast<float>(acc);
      }
    }
  }
  return y;
}

TEST(LowerConvNd, OneDimensionalConvsMatchTheConvolutionLoop) {
  struct Case {
    int64_t c, o, length, k, stride, dilation, pad_begin, pad_end, group;
    bool bias, same_upper;
  };
  for (const Case& c :
       {Case{4, 6, 11, 3, 1, 1, 1, 1, 1, true, false},
        Case{6, 4, 13, 5, 2, 1, 1, 3, 2, false, false},
        Case{3, 5, 9, 3, 1, 2, 0, 0, 1, true, false}, Case{8, 8, 10, 4, 1, 1, 0, 0, 8, true, true},
        Case{5, 7, 12, 4, 3, 1, 0, 0, 1, true, true}}) {
    SCOPED_TRACE(::testing::Message() << "k " << c.k << " stride " << c.stride << " group "
                                      << c.group << " same " << c.same_upper);
    TestGraph g;
    const ValueId x =
        g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(c.c), Dim(c.length)});
    const Tensor w = testing::random_tensor(DType::kFloat32, {c.o, c.c / c.group, c.k}, 3);
    const Tensor b = testing::random_tensor(DType::kFloat32, {c.o}, 4);
    std::vector<ValueId> in = {x, g.constant("w", w)};
    if (c.bias) in.push_back(g.constant("b", b));
    Attributes a;
    a.set_ints("kernel_shape", {c.k});
    a.set_ints("strides", {c.stride});
    a.set_ints("dilations", {c.dilation});
    a.set_int("group", c.group);
    ConvSpec spec{{c.stride}, {c.dilation}, {c.pad_begin}, {c.pad_end}, c.group};
    if (c.same_upper) {
      a.set_string("auto_pad", "SAME_UPPER");
      const int64_t out = (c.length + c.stride - 1) / c.stride;
      const int64_t total =
          std::max<int64_t>(0, (out - 1) * c.stride + (c.k - 1) * c.dilation + 1 - c.length);
      spec.pad_begin = {total / 2};
      spec.pad_end = {total - total / 2};
    } else {
      a.set_ints("pads", {c.pad_begin, c.pad_end});
    }
    g.output(g.op("Conv", in, a, "", "/mixer/conv1d/Conv"));
    testing::PassResult r = testing::run_pass(lower_conv_nd, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 1);
    ASSERT_EQ(testing::count_ops(g.graph(), "Conv"), 1);
    for (const Node& n : g.graph().nodes) {
      if (!n.dead && n.op_type == "Conv") {
        EXPECT_EQ(g.graph().values[n.inputs[1]].constant.rank(), 4);
      }
    }
    const Tensor feed = testing::random_tensor(DType::kFloat32, {3, c.c, c.length}, 5);
    auto outs = testing::run_graph(g.graph(), {feed});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    EXPECT_TRUE(testing::tensors_close((*outs)[0], reference(feed, w, c.bias ? &b : nullptr, spec),
                                       {1e-5, 1e-5}));
  }
}

// Before opset 13 Unsqueeze and Squeeze take their axes as an attribute: the lowering writes
// them so for an older model (a TorchScript export at opset 11).
TEST(LowerConvNd, OneDimensionalConvAtOpset11) {
  TestGraph g(11);
  const ValueId x = g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(4), Dim(9)});
  const Tensor w = testing::random_tensor(DType::kFloat32, {5, 4, 3}, 3);
  Attributes a;
  a.set_ints("kernel_shape", {3});
  a.set_ints("pads", {1, 1});
  g.output(g.op("Conv", {x, g.constant("w", w)}, a, "", "/mixer/conv1d/Conv"));
  testing::PassResult r = testing::run_pass(lower_conv_nd, g.graph());
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  EXPECT_EQ(r.applied, 1);
  for (const Node& n : g.graph().nodes) {
    if (!n.dead && (n.op_type == "Unsqueeze" || n.op_type == "Squeeze")) {
      EXPECT_EQ(n.num_inputs(), 1) << n.name;
      EXPECT_TRUE(n.attrs.has("axes")) << n.name;
    }
  }
  const Tensor feed = testing::random_tensor(DType::kFloat32, {2, 4, 9}, 5);
  auto outs = testing::run_graph(g.graph(), {feed});
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  EXPECT_TRUE(testing::tensors_close(
      (*outs)[0], reference(feed, w, nullptr, {{1}, {1}, {1}, {1}, 1}), {1e-5, 1e-5}));
}

TEST(LowerConvNd, TubeletConvsMatchTheConvolutionLoop) {
  struct Case {
    int64_t c, o, t, h, w, kt, kh, kw;
    bool bias;
  };
  // The second case leaves a frame, a row and columns that fill no block: the Conv skips them.
  for (const Case& c : {Case{3, 8, 4, 8, 8, 2, 4, 4, true}, Case{3, 5, 5, 9, 11, 2, 4, 3, false},
                        Case{2, 4, 3, 6, 6, 1, 3, 2, true}}) {
    SCOPED_TRACE(::testing::Message() << "kernel " << c.kt << "x" << c.kh << "x" << c.kw);
    TestGraph g;
    const ValueId x = g.input("x", DType::kFloat32,
                              {Dim::symbol("batch"), Dim(c.c), Dim(c.t), Dim(c.h), Dim(c.w)});
    const Tensor w = testing::random_tensor(DType::kFloat32, {c.o, c.c, c.kt, c.kh, c.kw}, 6);
    const Tensor b = testing::random_tensor(DType::kFloat32, {c.o}, 7);
    std::vector<ValueId> in = {x, g.constant("w", w)};
    if (c.bias) in.push_back(g.constant("b", b));
    Attributes a;
    a.set_ints("kernel_shape", {c.kt, c.kh, c.kw});
    a.set_ints("strides", {c.kt, c.kh, c.kw});
    g.output(g.op("Conv", in, a, "", "/embeddings/patch_embeddings/projection/Conv"));
    testing::PassResult r = testing::run_pass(lower_conv_nd, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 1);
    EXPECT_EQ(testing::count_ops(g.graph(), "Conv"), 0);
    const Tensor feed = testing::random_tensor(DType::kFloat32, {2, c.c, c.t, c.h, c.w}, 8);
    auto outs = testing::run_graph(g.graph(), {feed});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    ConvSpec spec{{c.kt, c.kh, c.kw}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 1};
    EXPECT_TRUE(testing::tensors_close((*outs)[0], reference(feed, w, c.bias ? &b : nullptr, spec),
                                       {1e-5, 1e-5}));
  }
}

TEST(LowerConvNd, OtherThreeDimensionalConvsStay) {
  struct Case {
    std::vector<int64_t> strides, pads;
    bool dynamic_frames;
    const char* reason;
  };
  for (const Case& c : {Case{{1, 2, 2}, {0, 0, 0, 0, 0, 0}, false, "strides unlike the kernel"},
                        Case{{2, 2, 2}, {0, 1, 1, 0, 1, 1}, false, "padding"},
                        Case{{2, 2, 2}, {0, 0, 0, 0, 0, 0}, true, "known only at run time"}}) {
    SCOPED_TRACE(c.reason);
    TestGraph g;
    const Dim frames = c.dynamic_frames ? Dim::symbol("frames") : Dim(4);
    const ValueId x =
        g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(2), frames, Dim(6), Dim(6)});
    Attributes a;
    a.set_ints("kernel_shape", {2, 2, 2});
    a.set_ints("strides", c.strides);
    a.set_ints("pads", c.pads);
    g.output(g.op("Conv",
                  {x, g.constant("w", testing::random_tensor(DType::kFloat32, {3, 2, 2, 2, 2}, 9))},
                  a, "", "/stem/conv3d"));
    testing::PassResult r = testing::run_pass(lower_conv_nd, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 0);
    EXPECT_EQ(testing::count_ops(g.graph(), "Conv"), 1);
    EXPECT_TRUE(r.logged(c.reason));
  }
}

}  // namespace
}  // namespace vitrt
