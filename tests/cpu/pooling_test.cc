// Pooling kernels against a direct float64 reference over N-D indices: MaxPool and AveragePool
// in 1-D/2-D/3-D with odd shapes, explicit pads, strides, dilations, ceil_mode,
// count_include_pad and every auto_pad; GlobalMaxPool/GlobalAveragePool; errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cpu/single_node.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::random_tensor;
using testing::run_single_node;
using testing::tensors_close;

struct PoolCase {
  std::string name;
  std::vector<int64_t> x, kernel;
  std::vector<int64_t> strides, dilations, pads;  // empty: attribute absent
  std::string auto_pad;                           // empty: absent
  bool ceil_mode = false;
  bool count_include_pad = false;
};

Attributes pool_attributes(const PoolCase& c, bool average) {
  Attributes a;
  a.set_ints("kernel_shape", c.kernel);
  if (!c.strides.empty()) a.set_ints("strides", c.strides);
  if (!c.dilations.empty()) a.set_ints("dilations", c.dilations);
  if (!c.pads.empty()) a.set_ints("pads", c.pads);
  if (!c.auto_pad.empty()) a.set_string("auto_pad", c.auto_pad);
  if (c.ceil_mode) a.set_int("ceil_mode", 1);
  if (average && c.count_include_pad) a.set_int("count_include_pad", 1);
  return a;
}

// Straight from the ONNX definitions, in float64: output sizes by the floor/ceil formula (a
// ceil_mode window that would start in the end padding is dropped) or by SAME/VALID; max or
// mean over the window's taps that fall in the input (mean over all taps inside the padded
// input with count_include_pad).
Tensor reference_pool(const PoolCase& c, const Tensor& x, bool average, DType dtype) {
  const size_t sp = c.x.size() - 2;
  std::vector<int64_t> stride(sp, 1), dil(sp, 1), pb(sp, 0), pe(sp, 0), out(sp);
  for (size_t i = 0; i < sp; ++i) {
    if (!c.strides.empty()) stride[i] = c.strides[i];
    if (!c.dilations.empty()) dil[i] = c.dilations[i];
    const int64_t in = c.x[2 + i], extent = (c.kernel[i] - 1) * dil[i] + 1;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      out[i] = static_cast<int64_t>(std::ceil(static_cast<double>(in) / stride[i]));
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * stride[i] + extent - in);
      pb[i] = c.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
    } else if (c.auto_pad == "VALID") {
      out[i] = static_cast<int64_t>(std::ceil(static_cast<double>(in - extent + 1) / stride[i]));
    } else {
      if (!c.pads.empty()) {
        pb[i] = c.pads[i];
        pe[i] = c.pads[sp + i];
      }
      const double size = static_cast<double>(in + pb[i] + pe[i] - extent) / stride[i] + 1;
      out[i] = static_cast<int64_t>(c.ceil_mode ? std::ceil(size) : std::floor(size));
      if (c.ceil_mode && (out[i] - 1) * stride[i] >= in + pb[i]) --out[i];
    }
  }
  std::vector<int64_t> y_shape = {c.x[0], c.x[1]};
  y_shape.insert(y_shape.end(), out.begin(), out.end());
  Tensor y = Tensor::empty(dtype, y_shape);
  const int64_t out_size = shape_numel(out);
  const int64_t kernel_size = shape_numel(c.kernel);
  std::vector<int64_t> o(sp), kk(sp);
  for (int64_t plane = 0; plane < c.x[0] * c.x[1]; ++plane) {
    for (int64_t op = 0; op < out_size; ++op) {
      for (size_t i = sp, r = op; i-- > 0;) {
        o[i] = static_cast<int64_t>(r) % out[i];
        r /= out[i];
      }
      double sum = 0.0, best = -std::numeric_limits<double>::infinity();
      int64_t inside_count = 0, padded_count = 0;
      for (int64_t kp = 0; kp < kernel_size; ++kp) {
        for (size_t i = sp, r = kp; i-- > 0;) {
          kk[i] = static_cast<int64_t>(r) % c.kernel[i];
          r /= c.kernel[i];
        }
        int64_t xi = plane;
        bool inside = true, in_padded = true;
        for (size_t i = 0; i < sp; ++i) {
          const int64_t pos = o[i] * stride[i] - pb[i] + kk[i] * dil[i];
          inside = inside && pos >= 0 && pos < c.x[2 + i];
          in_padded = in_padded && pos >= -pb[i] && pos < c.x[2 + i] + pe[i];
          xi = xi * c.x[2 + i] + pos;
        }
        padded_count += in_padded;
        if (inside) {
          ++inside_count;
          const double v = x.element_as_double(xi);
          sum += v;
          best = std::max(best, v);
        }
      }
      const double value =
          average ? sum / static_cast<double>(c.count_include_pad ? padded_count : inside_count)
                  : best;
      const int64_t yi = plane * out_size + op;
      if (dtype == DType::kFloat32) {
        y.data<float>()[yi] = static_cast<float>(value);
      } else {
        y.data<double>()[yi] = value;
      }
    }
  }
  return y;
}

void check_pool(const PoolCase& c, bool average, DType dtype, uint64_t seed) {
  const char* op = average ? "AveragePool" : "MaxPool";
  SCOPED_TRACE(str_cat(op, " ", c.name, " ", dtype_name(dtype)));
  const Tensor x = random_tensor(dtype, c.x, seed);
  const Tensor expected = reference_pool(c, x, average, dtype);
  auto y = run_single_node(op, pool_attributes(c, average), {{x}});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  const testing::Tolerance tol =
      dtype == DType::kFloat32 ? testing::Tolerance{1e-5, 1e-6} : testing::Tolerance{1e-12, 1e-12};
  EXPECT_TRUE(tensors_close((*y)[0], expected, tol));
}

const std::vector<PoolCase> kCases = {
    {"2-D default", {2, 3, 7, 9}, {3, 2}, {}, {}, {}, ""},
    {"2-D strides pads", {2, 3, 9, 11}, {3, 3}, {2, 3}, {}, {1, 0, 2, 1}, ""},
    {"2-D pads include pad", {1, 4, 6, 7}, {3, 3}, {1, 1}, {}, {1, 1, 1, 1}, "", false, true},
    {"2-D dilations", {1, 2, 9, 8}, {2, 3}, {1, 2}, {2, 2}, {1, 0, 0, 1}, ""},
    {"2-D ceil", {2, 2, 8, 9}, {3, 2}, {2, 2}, {}, {}, "", true},
    {"2-D ceil pads include pad", {1, 3, 7, 10}, {3, 3}, {2, 3}, {}, {1, 1, 1, 0}, "", true, true},
    {"2-D ceil last window dropped", {1, 2, 5, 5}, {2, 2}, {2, 2}, {}, {1, 1, 1, 1}, "", true},
    {"2-D ceil dilated", {1, 2, 10, 9}, {2, 2}, {3, 2}, {2, 3}, {}, "", true, true},
    {"SAME_UPPER stride 2", {1, 3, 9, 8}, {4, 3}, {2, 2}, {}, {}, "SAME_UPPER"},
    {"SAME_LOWER stride 2", {1, 3, 9, 8}, {4, 3}, {2, 2}, {}, {}, "SAME_LOWER"},
    {"SAME_UPPER include pad", {1, 2, 7, 7}, {3, 2}, {}, {}, {}, "SAME_UPPER", false, true},
    {"SAME_LOWER dilated", {1, 2, 7, 6}, {3, 3}, {1, 2}, {2, 1}, {}, "SAME_LOWER", false, true},
    {"VALID", {2, 2, 8, 9}, {3, 2}, {3, 2}, {}, {}, "VALID"},
    {"1-D", {2, 3, 13}, {5}, {3}, {}, {2, 1}, ""},
    {"1-D ceil include pad", {1, 2, 11}, {4}, {3}, {}, {1, 2}, "", true, true},
    {"3-D", {1, 2, 5, 6, 7}, {2, 3, 2}, {1, 2, 1}, {}, {1, 0, 1, 0, 1, 1}, ""},
    {"3-D ceil dilated", {1, 2, 6, 5, 7}, {2, 2, 3}, {2, 2, 2}, {1, 2, 1}, {}, "", true},
    // ceil_mode with a kernel beyond the input: one window over what it covers (HF EfficientNet's
    // pooler, kernel 1280 stride 1280 over 7x7).
    {"2-D ceil kernel beyond input", {2, 3, 3, 2}, {9, 8}, {9, 8}, {}, {}, "", true},
    {"2-D ceil kernel beyond input include pad",
     {1, 2, 5, 7},
     {12, 9},
     {12, 9},
     {},
     {1, 0, 0, 1},
     "",
     true,
     true},
    {"1-D ceil kernel beyond input stride 4", {1, 2, 6}, {9}, {4}, {}, {}, "", true},
    {"kernel 1 stride 1", {2, 3, 4, 5}, {1, 1}, {}, {}, {}, ""},
};

TEST(PoolKernel, MaxPoolFloat32AgainstReference) {
  uint64_t seed = 1;
  for (const PoolCase& c : kCases) check_pool(c, false, DType::kFloat32, seed += 3);
}

TEST(PoolKernel, AveragePoolFloat32AgainstReference) {
  uint64_t seed = 50;
  for (const PoolCase& c : kCases) check_pool(c, true, DType::kFloat32, seed += 3);
}

TEST(PoolKernel, Float64AgainstReference) {
  uint64_t seed = 100;
  for (const PoolCase& c : kCases) {
    check_pool(c, false, DType::kFloat64, seed += 3);
    check_pool(c, true, DType::kFloat64, seed += 3);
  }
}

// Global pools: one max / mean per (n, c) plane, spatial dims kept as 1.
TEST(PoolKernel, GlobalPoolsAgainstReference) {
  for (const std::vector<int64_t>& shape :
       std::vector<std::vector<int64_t>>{{2, 3, 7}, {2, 3, 5, 7}, {1, 4, 3, 4, 5}}) {
    for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
      SCOPED_TRACE(str_cat(shape_to_string(shape), " ", dtype_name(dtype)));
      const Tensor x = random_tensor(dtype, shape, 7);
      const int64_t planes = shape[0] * shape[1];
      const int64_t size = x.numel() / planes;
      std::vector<int64_t> out_shape(shape.size(), 1);
      out_shape[0] = shape[0];
      out_shape[1] = shape[1];
      std::vector<double> max_ref, mean_ref;
      for (int64_t p = 0; p < planes; ++p) {
        double m = -std::numeric_limits<double>::infinity(), s = 0;
        for (int64_t i = 0; i < size; ++i) {
          const double v = x.element_as_double(p * size + i);
          m = std::max(m, v);
          s += v;
        }
        max_ref.push_back(m);
        mean_ref.push_back(s / static_cast<double>(size));
      }
      auto max_y = run_single_node("GlobalMaxPool", {}, {{x}});
      ASSERT_TRUE(max_y.ok()) << max_y.status().to_string();
      EXPECT_TRUE(
          tensors_close((*max_y)[0], testing::tensor_of(dtype, out_shape, max_ref), {1e-6, 1e-6}));
      auto mean_y = run_single_node("GlobalAveragePool", {}, {{x}});
      ASSERT_TRUE(mean_y.ok()) << mean_y.status().to_string();
      EXPECT_TRUE(tensors_close((*mean_y)[0], testing::tensor_of(dtype, out_shape, mean_ref),
                                {1e-5, 1e-6}));
    }
  }
}

// Symbolic batch and spatial dims: kept where the arithmetic allows (SAME with stride 1,
// global pools), unknown where it does not.
TEST(PoolShapes, SymbolicDims) {
  const Dim batch = Dim::symbol("batch"), h = Dim::symbol("h");
  auto infer = [&](const std::string& op, Attributes attrs) {
    Graph g;
    g.opset_imports[""] = 18;
    Node n;
    n.name = "p";
    n.op_type = op;
    n.attrs = std::move(attrs);
    Value x;
    x.name = "x";
    x.dtype = DType::kFloat32;
    x.has_shape = true;
    x.shape = {batch, 8, h, 9};
    n.inputs.push_back(g.add_value(std::move(x)));
    g.inputs.push_back(n.inputs.back());
    Value y;
    y.name = "y";
    n.outputs.push_back(g.add_value(std::move(y)));
    g.outputs.push_back(n.outputs.back());
    g.add_node(std::move(n));
    const Status s = infer_shapes(g);
    if (!s.ok()) return "error: " + s.message();
    return sym_shape_to_string(g.values[g.nodes[0].outputs[0]].shape);
  };
  Attributes same;
  same.set_ints("kernel_shape", {3, 3});
  same.set_string("auto_pad", "SAME_UPPER");
  EXPECT_EQ(infer("MaxPool", same), sym_shape_to_string({batch, 8, h, 9}));
  Attributes strided;
  strided.set_ints("kernel_shape", {3, 3});
  strided.set_ints("strides", {2, 2});
  strided.set_int("ceil_mode", 1);
  EXPECT_EQ(infer("AveragePool", strided), sym_shape_to_string({batch, 8, Dim::unknown(), 4}));
  EXPECT_EQ(infer("GlobalAveragePool", {}), sym_shape_to_string({batch, 8, 1, 1}));
}

// float16 widens to float32 and rounds back.
TEST(PoolKernel, AveragePoolFloat16) {
  const Tensor x = testing::tensor_of(DType::kFloat16, {1, 1, 2, 3}, {1, 2, 3, 4, 5, 6.5});
  Attributes a;
  a.set_ints("kernel_shape", {2, 2});
  auto y = run_single_node("AveragePool", a, {{x}});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_TRUE(
      tensors_close((*y)[0], testing::tensor_of(DType::kFloat16, {1, 1, 1, 2}, {3, 4.125})));
}

TEST(PoolKernel, MaxPoolUint8) {
  const Tensor x = testing::tensor_of(DType::kUInt8, {1, 1, 3, 3}, {1, 9, 3, 4, 5, 6, 200, 8, 7});
  Attributes a;
  a.set_ints("kernel_shape", {2, 2});
  auto y = run_single_node("MaxPool", a, {{x}});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_TRUE(
      tensors_close((*y)[0], testing::tensor_of(DType::kUInt8, {1, 1, 2, 2}, {9, 9, 200, 8})));
}

TEST(PoolKernel, IndicesOutputIsUnsupported) {
  const Tensor x = random_tensor(DType::kFloat32, {1, 1, 4, 4}, 1);
  Attributes a;
  a.set_ints("kernel_shape", {2, 2});
  auto y = run_single_node("MaxPool", a, {{x}}, nullptr, 2);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kUnsupported) << y.status().to_string();
  EXPECT_NE(y.status().message().find("Indices"), std::string::npos) << y.status().message();
}

TEST(PoolKernel, MissingKernelShapeIsAnErrorNamingTheNode) {
  const Tensor x = random_tensor(DType::kFloat32, {1, 1, 4, 4}, 1);
  auto y = run_single_node("AveragePool", {}, {{x}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("node 'n0' (AveragePool): attribute 'kernel_shape'"),
            std::string::npos)
      << y.status().message();
}

TEST(PoolKernel, KernelBeyondInputByAStrideIsAnErrorEvenWithCeilMode) {
  const Tensor x = random_tensor(DType::kFloat32, {1, 1, 2, 5}, 1);
  Attributes a;
  a.set_ints("kernel_shape", {5, 3});
  a.set_ints("strides", {2, 1});
  a.set_int("ceil_mode", 1);
  auto y = run_single_node("AveragePool", a, {{x}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("even with ceil_mode"), std::string::npos)
      << y.status().message();
}

TEST(PoolKernel, KernelLargerThanInputIsAnError) {
  const Tensor x = random_tensor(DType::kFloat32, {1, 1, 2, 5}, 1);
  Attributes a;
  a.set_ints("kernel_shape", {3, 3});
  auto y = run_single_node("MaxPool", a, {{x}});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("smaller than the kernel's extent 3"), std::string::npos)
      << y.status().message();
}

}  // namespace
}  // namespace vitrt
