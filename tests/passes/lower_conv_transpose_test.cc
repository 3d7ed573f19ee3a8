// lower_conv_transpose: an upsampling ConvTranspose (kernel = stride) computes what a float64
// scatter loop computes, with and without bias (a constant or through Identity), at odd channel
// counts and sizes; other forms stay ConvTranspose, which the CPU kernel runs to the same
// reference.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "passes/pass.h"
#include "run_pass.h"
#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

// ConvTranspose by definition: every input pixel scatters its k x k block.
Tensor reference(const Tensor& x, const Tensor& w, const Tensor* b, int64_t k) {
  const int64_t n = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3), cout = w.dim(1);
  std::vector<double> y(static_cast<size_t>(n * cout * h * k * wd * k), 0.0);
  for (int64_t in = 0; in < n; ++in)
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t i = 0; i < h * k; ++i)
        for (int64_t j = 0; j < wd * k; ++j) {
          double s = b != nullptr ? b->data<float>()[o] : 0.0;
          for (int64_t c = 0; c < cin; ++c) {
            s += static_cast<double>(x.data<float>()[((in * cin + c) * h + i / k) * wd + j / k]) *
                 w.data<float>()[((c * cout + o) * k + i % k) * k + j % k];
          }
          y[static_cast<size_t>(((in * cout + o) * h * k + i) * wd * k + j)] = s;
        }
  Tensor r = Tensor::empty(DType::kFloat32, {n, cout, h * k, wd * k});
  for (size_t e = 0; e < y.size(); ++e) r.data<float>()[e] = static_cast<float>(y[e]);
  return r;
}

TEST(LowerConvTranspose, UpsamplerMatchesTheScatterLoop) {
  struct Case {
    int64_t k, cin, cout, h, w;
    bool bias;
  };
  for (const Case& c : {Case{2, 3, 5, 4, 3, true}, Case{4, 6, 2, 3, 5, false},
                        Case{3, 1, 4, 2, 2, true}, Case{1, 5, 3, 3, 4, true}}) {
    SCOPED_TRACE(::testing::Message() << "k " << c.k << " cin " << c.cin << " cout " << c.cout);
    TestGraph g;
    const ValueId x =
        g.input("x", DType::kFloat32, {Dim::symbol("batch"), Dim(c.cin), Dim(c.h), Dim(c.w)});
    const Tensor w = testing::random_tensor(DType::kFloat32, {c.cin, c.cout, c.k, c.k}, 3);
    const Tensor b = testing::random_tensor(DType::kFloat32, {c.cout}, 4);
    std::vector<ValueId> in = {x, g.constant("w", w)};
    // TorchScript passes a shared bias through Identity.
    if (c.bias)
      in.push_back(c.k == 2 ? g.op("Identity", {g.constant("b", b)}) : g.constant("b", b));
    Attributes a;
    a.set_ints("strides", {c.k, c.k});
    a.set_ints("kernel_shape", {c.k, c.k});
    g.output(g.op("ConvTranspose", in, a, "", "/neck/resize/ConvTranspose"));
    testing::PassResult r = testing::run_pass(lower_conv_transpose, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 1);
    EXPECT_EQ(testing::count_ops(g.graph(), "ConvTranspose"), 0);
    const Tensor feed = testing::random_tensor(DType::kFloat32, {3, c.cin, c.h, c.w}, 5);
    auto outs = testing::run_graph(g.graph(), {feed});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    EXPECT_TRUE(testing::tensors_close((*outs)[0], reference(feed, w, c.bias ? &b : nullptr, c.k),
                                       {1e-5, 1e-5}));
  }
}

TEST(LowerConvTranspose, LeavesOtherFormsToTheConvTransposeKernel) {
  struct Case {
    std::vector<int64_t> strides, pads;
    int64_t group;
  };
  for (const Case& c : {Case{{2, 2}, {0, 0, 0, 0}, 1}, Case{{3, 3}, {1, 1, 1, 1}, 1},
                        Case{{3, 3}, {0, 0, 0, 0}, 2}}) {
    SCOPED_TRACE(::testing::Message() << "stride " << c.strides[0] << " group " << c.group);
    TestGraph g;
    const ValueId x = g.input("x", DType::kFloat32, {Dim(1), Dim(4), Dim(3), Dim(3)});
    Attributes a;
    a.set_ints("strides", c.strides);
    a.set_ints("pads", c.pads);
    a.set_int("group", c.group);
    const Tensor w = testing::random_tensor(DType::kFloat32, {4, 2 / c.group, 3, 3}, 3);
    g.output(g.op("ConvTranspose", {x, g.constant("w", w)}, a, "", "/neck/resize/ConvTranspose"));
    testing::PassResult r = testing::run_pass(lower_conv_transpose, g.graph());
    ASSERT_TRUE(r.status.ok()) << r.status.to_string();
    EXPECT_EQ(r.applied, 0);
    EXPECT_EQ(testing::count_ops(g.graph(), "ConvTranspose"), 1);
    // The graph still builds and runs (the ConvTranspose kernel, whose numbers the node-test
    // fixtures of tests/data/conformance_conv_transpose check against ONNX Runtime).
    const Tensor feed = testing::random_tensor(DType::kFloat32, {1, 4, 3, 3}, 5);
    auto outs = testing::run_graph(g.graph(), {feed});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    EXPECT_EQ((*outs)[0].dim(1), 2);
  }
}

}  // namespace
}  // namespace vitrt
