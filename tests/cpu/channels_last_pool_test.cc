// vitrt.ChannelsLastPool on the CPU against ONNX MaxPool / AveragePool of the NCHW tensor
// (Transpose -> pool -> Transpose through the CPU runtime's NCHW kernels): odd sizes, kernel 2
// and 3, stride 1 and 2, asymmetric pads, ceil_mode, count_include_pad, dilation (max),
// auto_pad SAME_UPPER / SAME_LOWER / VALID, windows with no input element, float32, float64,
// float16 and bfloat16; symbolic shape inference; and its errors, which name the node.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "testing/compare.h"
#include "testing/test_graph.h"

namespace vitrt {
namespace {

using testing::TestGraph;

struct PoolCase {
  std::string mode;  // "max" | "average"
  int64_t n, h, w, c, kh, kw;
  std::vector<int64_t> strides, pads, dilations;
  bool ceil_mode = false;
  bool count_include_pad = false;
  std::string auto_pad = "NOTSET";
};

std::string describe(const PoolCase& k) {
  std::string s = k.mode + " n" + std::to_string(k.n) + " h" + std::to_string(k.h) + " w" +
                  std::to_string(k.w) + " c" + std::to_string(k.c) + " k" + std::to_string(k.kh) +
                  "x" + std::to_string(k.kw) + " s" + std::to_string(k.strides[0]) + "," +
                  std::to_string(k.strides[1]) + " d" + std::to_string(k.dilations[0]) + "," +
                  std::to_string(k.dilations[1]) + " pads";
  for (int64_t p : k.pads) s += " " + std::to_string(p);
  if (k.ceil_mode) s += " ceil_mode";
  if (k.count_include_pad) s += " count_include_pad";
  return s + " " + k.auto_pad;
}

// The ONNX attributes both ops share (ChannelsLastPool adds 'mode').
Attributes pool_attributes(const PoolCase& k) {
  Attributes a;
  a.set_ints("kernel_shape", {k.kh, k.kw});
  a.set_ints("strides", k.strides);
  if (k.mode == "max") {
    a.set_ints("dilations", k.dilations);
  } else {
    a.set_int("count_include_pad", k.count_include_pad ? 1 : 0);
  }
  if (k.ceil_mode) a.set_int("ceil_mode", 1);
  if (k.auto_pad == "NOTSET") {
    a.set_ints("pads", k.pads);
  } else {
    a.set_string("auto_pad", k.auto_pad);
  }
  return a;
}

// X [N, H, W, C] -> vitrt.ChannelsLastPool.
Result<Tensor> run_channels_last(const PoolCase& k, const Tensor& x) {
  TestGraph g;
  ValueId in = g.input("x", x.dtype(),
                       {Dim::symbol("batch"), Dim::symbol("height"), Dim::symbol("width"), k.c});
  Attributes a = pool_attributes(k);
  a.set_string("mode", k.mode);
  g.output(g.op("ChannelsLastPool", {in}, a, "vitrt", "pool"));
  VITRT_RETURN_IF_ERROR(g.infer());
  VITRT_ASSIGN_OR_RETURN(std::vector<Tensor> out, testing::run_graph(g.graph(), {x}));
  return out[0];
}

// X [N, H, W, C] -> Transpose to NCHW -> ONNX MaxPool / AveragePool -> Transpose to NHWC.
Result<Tensor> run_nchw(const PoolCase& k, const Tensor& x) {
  TestGraph g;
  ValueId in = g.input("x", x.dtype(), {k.n, k.h, k.w, k.c});
  Attributes to_nchw, to_nhwc;
  to_nchw.set_ints("perm", {0, 3, 1, 2});
  to_nhwc.set_ints("perm", {0, 2, 3, 1});
  ValueId nchw = g.op("Transpose", {in}, to_nchw);
  ValueId pooled = g.op(k.mode == "max" ? "MaxPool" : "AveragePool", {nchw}, pool_attributes(k));
  g.output(g.op("Transpose", {pooled}, to_nhwc));
  VITRT_RETURN_IF_ERROR(g.infer());
  VITRT_ASSIGN_OR_RETURN(std::vector<Tensor> out, testing::run_graph(g.graph(), {x}));
  return out[0];
}

void expect_matches_nchw(const PoolCase& k, DType dtype) {
  const Tensor x = testing::random_tensor(dtype, {k.n, k.h, k.w, k.c}, 7);
  Result<Tensor> got = run_channels_last(k, x);
  ASSERT_TRUE(got.ok()) << describe(k) << ": " << got.status().to_string();
  Result<Tensor> want = run_nchw(k, x);
  ASSERT_TRUE(want.ok()) << describe(k) << ": " << want.status().to_string();
  const testing::Tolerance tol = dtype == DType::kFloat64   ? testing::Tolerance{1e-12, 1e-12}
                                 : dtype == DType::kFloat32 ? testing::Tolerance{1e-6, 1e-7}
                                                            : testing::Tolerance{1e-2, 1e-3};
  EXPECT_TRUE(testing::tensors_close(*got, *want, tol)) << describe(k) << " " << dtype_name(dtype);
}

void expect_all_match_nchw(const std::vector<PoolCase>& cases) {
  for (const PoolCase& k : cases) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) expect_matches_nchw(k, dtype);
  }
}

TEST(ChannelsLastPool, MaxMatchesNchwMaxPool) {
  expect_all_match_nchw({
      // ResNet's stem pool: 3x3, stride 2, pad 1, odd image.
      {"max", 2, 13, 11, 5, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}},
      {"max", 1, 9, 7, 3, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}},
      {"max", 3, 8, 10, 7, 3, 2, {1, 1}, {0, 1, 2, 1}, {1, 1}},        // asymmetric pads
      {"max", 2, 10, 9, 6, 3, 3, {2, 2}, {1, 0, 0, 1}, {1, 1}, true},  // ceil_mode
      {"max", 1, 7, 8, 4, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}, true},
      {"max", 2, 12, 9, 5, 3, 3, {1, 1}, {2, 2, 2, 2}, {2, 2}},  // dilation 2
      {"max", 1, 11, 10, 3, 3, 2, {1, 2}, {1, 0, 1, 1}, {2, 1}, true},
      {"max", 2, 10, 9, 6, 3, 3, {2, 2}, {}, {1, 1}, false, false, "SAME_UPPER"},
      {"max", 1, 9, 10, 5, 2, 3, {2, 1}, {}, {1, 1}, false, false, "SAME_LOWER"},
      {"max", 2, 7, 9, 3, 3, 3, {2, 2}, {}, {1, 1}, false, false, "VALID"},
      {"max", 1, 6, 5, 64, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}},  // ResNet's channel count
  });
}

TEST(ChannelsLastPool, AverageMatchesNchwAveragePool) {
  expect_all_match_nchw({
      {"average", 2, 13, 11, 5, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}},
      {"average", 2, 13, 11, 5, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, false, true},
      {"average", 1, 9, 7, 3, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}},
      {"average", 3, 8, 10, 7, 3, 2, {1, 1}, {0, 1, 2, 1}, {1, 1}, false, true},
      // ceil_mode: the last window reaches past the end padding (not counted by
      // count_include_pad).
      {"average", 2, 7, 9, 4, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}, true, true},
      {"average", 2, 10, 9, 6, 3, 3, {2, 2}, {1, 0, 0, 1}, {1, 1}, true, false},
      {"average", 1, 10, 9, 6, 3, 3, {2, 2}, {1, 0, 0, 1}, {1, 1}, true, true},
      {"average", 2, 10, 9, 6, 3, 3, {2, 2}, {}, {1, 1}, false, true, "SAME_UPPER"},
      {"average", 1, 9, 10, 5, 2, 3, {2, 1}, {}, {1, 1}, false, false, "SAME_LOWER"},
      // A kernel beyond the map with ceil_mode: one window over the whole image (PyTorch's
      // AvgPool2d(k, ceil_mode=True) as a global pool).
      {"average", 2, 5, 6, 3, 7, 7, {7, 7}, {0, 0, 0, 0}, {1, 1}, true},
  });
}

TEST(ChannelsLastPool, HalfTypesMatchNchw) {
  for (DType dtype : {DType::kFloat16, DType::kBFloat16}) {
    expect_matches_nchw({"max", 2, 13, 11, 5, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}}, dtype);
    expect_matches_nchw({"average", 1, 10, 9, 6, 3, 3, {2, 2}, {1, 0, 0, 1}, {1, 1}, true, true},
                        dtype);
  }
}

// Windows that cover no input element: max gives -inf and average 0, as the NCHW kernels.
TEST(ChannelsLastPool, EmptyWindowsMatchNchw) {
  // Kernel 2 with dilation 2 and pad 1 over a 1-pixel-wide image: taps at -1 and 1, both
  // outside it.
  const PoolCase max_case = {"max", 2, 5, 1, 3, 2, 2, {1, 1}, {1, 1, 1, 1}, {1, 2}};
  // Pads as large as the kernel: the corner windows lie in the padding.
  const PoolCase avg_case = {"average", 1, 4, 5, 3, 2, 2, {1, 1}, {2, 2, 2, 2}, {1, 1}};
  PoolCase avg_include = avg_case;
  avg_include.count_include_pad = true;
  for (const PoolCase& k : {max_case, avg_case, avg_include}) {
    expect_all_match_nchw({k});
    const Tensor x = testing::random_tensor(DType::kFloat32, {k.n, k.h, k.w, k.c}, 7);
    Result<Tensor> got = run_channels_last(k, x);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    const float corner = got->data<float>()[0];
    if (k.mode == "max") {
      EXPECT_TRUE(std::isinf(corner) && corner < 0) << corner;
    } else {
      EXPECT_EQ(corner, 0.0f);
    }
  }
}

TEST(ChannelsLastPool, SymbolicImageSize) {
  // ResNet's stem pool over [batch, height, width, 64]: the output size is a symbol that
  // evaluates to what the op computes for concrete sizes.
  const PoolCase k = {"max", 1, 0, 0, 64, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}};
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32,
                      {Dim::symbol("batch"), Dim::symbol("height"), Dim::symbol("width"), 64});
  Attributes a = pool_attributes(k);
  a.set_string("mode", "max");
  g.output(g.op("ChannelsLastPool", {x}, a, "vitrt"));
  ASSERT_TRUE(g.infer().ok());
  const SymShape out = g.graph().values[g.graph().outputs[0]].shape;
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].to_string(), "batch");
  EXPECT_EQ(out[3].to_string(), "64");
  for (int64_t size : {1, 2, 7, 56, 112, 113}) {
    PoolCase concrete = k;
    concrete.h = size;
    concrete.w = size + 1;
    Result<Tensor> y =
        run_nchw(concrete, testing::random_tensor(DType::kFloat32, {1, size, size + 1, 64}, 1));
    ASSERT_TRUE(y.ok()) << y.status().to_string();
    const std::map<std::string, int64_t> sizes = {{"height", size}, {"width", size + 1}};
    EXPECT_EQ(out[1].evaluate(sizes).value_or(-1), y->dim(1))
        << out[1].to_string() << " at " << size;
    EXPECT_EQ(out[2].evaluate(sizes).value_or(-1), y->dim(2))
        << out[2].to_string() << " at " << size + 1;
  }

  // SAME_UPPER with stride 1 keeps the size; ceil_mode leaves a symbolic size unknown.
  for (bool ceil_mode : {false, true}) {
    TestGraph s;
    ValueId xs = s.input("x", DType::kFloat32,
                         {Dim::symbol("batch"), Dim::symbol("height"), Dim::symbol("width"), 8});
    Attributes sa;
    sa.set_string("mode", "average");
    sa.set_ints("kernel_shape", {3, 3});
    if (ceil_mode) {
      sa.set_int("ceil_mode", 1);
      sa.set_ints("strides", {2, 2});
    } else {
      sa.set_string("auto_pad", "SAME_UPPER");
    }
    s.output(s.op("ChannelsLastPool", {xs}, sa, "vitrt"));
    ASSERT_TRUE(s.infer().ok());
    EXPECT_EQ(sym_shape_to_string(s.graph().values[s.graph().outputs[0]].shape),
              ceil_mode ? "[batch, ?, ?, 8]" : "[batch, height, width, 8]");
  }
}

// Shape inference's status for X of `shape` pooled with `attrs` by a node named 'stem_pool'.
Status infer_with(const SymShape& shape, const Attributes& attrs, DType dtype = DType::kFloat32) {
  TestGraph g;
  g.output(g.op("ChannelsLastPool", {g.input("x", dtype, shape)}, attrs, "vitrt", "stem_pool"));
  return g.infer();
}

Attributes max_3x3() {
  Attributes a;
  a.set_string("mode", "max");
  a.set_ints("kernel_shape", {3, 3});
  return a;
}

void expect_error(const Status& s, const std::string& text) {
  EXPECT_FALSE(s.ok()) << "expected an error containing \"" << text << "\"";
  EXPECT_NE(s.message().find(text), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'stem_pool'"), std::string::npos) << s.message();
}

TEST(ChannelsLastPool, ErrorsNameTheNode) {
  expect_error(infer_with({1, 8, 8}, max_3x3()), "X must be [N, H, W, C], got [1, 8, 8]");
  expect_error(infer_with({1, 8, 8, 4}, max_3x3(), DType::kInt32), "X is int32");

  Attributes a = max_3x3();
  a.erase("mode");
  expect_error(infer_with({1, 8, 8, 4}, a), "attribute 'mode' is required");
  a.set_string("mode", "min");
  expect_error(infer_with({1, 8, 8, 4}, a), "attribute 'mode' is 'min'");

  a = max_3x3();
  a.erase("kernel_shape");
  expect_error(infer_with({1, 8, 8, 4}, a), "attribute 'kernel_shape' is required");
  a.set_ints("kernel_shape", {3, 3, 3});
  expect_error(infer_with({1, 8, 8, 4}, a), "attribute 'kernel_shape' has 3 values");

  a = max_3x3();
  a.set_string("mode", "average");
  a.set_ints("dilations", {1, 2});
  expect_error(infer_with({1, 8, 8, 4}, a), "mode 'average' takes no dilation");

  a = max_3x3();
  a.set_int("count_include_pad", 1);
  expect_error(infer_with({1, 8, 8, 4}, a), "'count_include_pad' applies to mode 'average'");

  a = max_3x3();
  a.set_int("ceil_mode", 2);
  expect_error(infer_with({1, 8, 8, 4}, a), "attribute 'ceil_mode' is 2");

  // A kernel larger than the image, known at build time.
  expect_error(infer_with({1, 2, 8, 4}, max_3x3()), "spatial axis 0 of size 2");
}

TEST(ChannelsLastPool, KernelRefusesAnImageSmallerThanTheKernel) {
  // The image size is symbolic at build time, so only the kernel sees it.
  TestGraph g;
  ValueId x = g.input("x", DType::kFloat32, {1, Dim::symbol("height"), 6, 4});
  g.output(g.op("ChannelsLastPool", {x}, max_3x3(), "vitrt", "stem_pool"));
  ASSERT_TRUE(g.infer().ok());
  auto got =
      testing::run_graph(g.graph(), {testing::random_tensor(DType::kFloat32, {1, 2, 6, 4}, 1)});
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("spatial axis 0 of size 2"), std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("'stem_pool'"), std::string::npos)
      << got.status().message();
}

}  // namespace
}  // namespace vitrt
