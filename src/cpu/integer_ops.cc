// CPU kernels of ONNX's integer ops, as ONNX Runtime's quantizers write them:
//   - quantize_dynamic: DynamicQuantizeLinear, then MatMulInteger / ConvInteger, a Cast to
//     float and a Mul by the scales;
//   - quantize_static in QOperator format: QLinearMatMul and QLinearConv.
// Integer products are exact (int32 sums of int16 operand differences), and the float steps
// follow ONNX's reference implementation step for step (float32 scales, the requantization in
// float64, rounding half to even), so outputs equal ONNX's conformance data and ONNX Runtime's
// integer results.
//
// Speed: MatMulInteger with constant 2-D weights (what quantize_dynamic writes) runs on oneDNN's
// exact int8 path where the CPU has VNNI, with the activation's zero point applied afterwards
// through the weights' column sums; everything else runs on our own blocked int32 loops
// (bench/NOTES.md has the numbers).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "core/parallel.h"
#include "cpu/conv_geometry.h"
#include "cpu/cpu_kernel.h"
#include "cpu/dynamic_quantize.h"
#include "cpu/int8_matmul.h"
#include "cpu/int_gemm.h"
#include "cpu/matmul_plan.h"
#include "ir/ops/conv_attributes.h"

namespace vitrt {
namespace {

// ---- exact integer products ------------------------------------------------------------------

int32_t load_int(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt8 ? t.data<int8_t>()[i] : t.data<uint8_t>()[i];
}

// A zero point or scale that is a scalar (or has one element) or one value per index along a
// dimension of `expected` elements; `what` names it in errors.
Status check_per_index(const Tensor* t, int64_t expected, const char* what, const char* axis) {
  if (t == nullptr || t->numel() == 1) return Status();
  if (t->rank() != 1 || t->numel() != expected) {
    return invalid_argument(what, " must be a scalar or 1-D with one value per ", axis, " (",
                            expected, "), got shape ", shape_to_string(t->shape()));
  }
  return Status();
}

int32_t zp_at(const Tensor* zp, int64_t i) {
  if (zp == nullptr) return 0;
  return load_int(*zp, zp->numel() == 1 ? 0 : i);
}

float scale_at(const Tensor& s, int64_t i) {
  return s.data<float>()[s.numel() == 1 ? 0 : i];
}

// The int32 products of MatMulInteger / QLinearMatMul, one [m, n] matrix per output batch.
Result<std::vector<int32_t>> integer_matmul(const Tensor& a, const Tensor* a_zp, const Tensor& b,
                                            const Tensor* b_zp, MatMulPlan& d) {
  VITRT_ASSIGN_OR_RETURN(d, plan_matmul(a.shape(), b.shape()));
  VITRT_RETURN_IF_ERROR(check_per_index(a_zp, d.m, "the zero point of A", "row of A"));
  VITRT_RETURN_IF_ERROR(check_per_index(b_zp, d.n, "the zero point of B", "column of B"));
  std::vector<int16_t> a16(static_cast<size_t>(a.numel())), b16(static_cast<size_t>(b.numel()));
  for (int64_t i = 0; i < a.numel(); ++i) {
    a16[i] = static_cast<int16_t>(load_int(a, i) - zp_at(a_zp, (i / d.k) % d.m));
  }
  for (int64_t i = 0; i < b.numel(); ++i) {
    b16[i] = static_cast<int16_t>(load_int(b, i) - zp_at(b_zp, i % d.n));
  }
  std::vector<int32_t> c(static_cast<size_t>(d.batch_numel * d.m * d.n));
  for (int64_t bi = 0; bi < d.batch_numel; ++bi) {
    const auto [ai, bj] = operand_matrices(d, bi);
    gemm_i16(d.m, d.k, d.n, a16.data() + ai * d.m * d.k, b16.data() + bj * d.k * d.n,
             c.data() + bi * d.m * d.n);
  }
  return c;
}

// ONNX's requantization: saturate(round_half_even(sum * multiplier + zero_point)), in float64
// as NumPy computes an int32 array times a float32 one.
template <typename Q>
Q requantize(double value) {
  constexpr double lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
  return static_cast<Q>(std::nearbyint(std::clamp(value, lo, hi)));
}

// ---- DynamicQuantizeLinear ----------------------------------------------------------------------

class DynamicQuantizeLinearKernel final : public CpuKernel {
 public:
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    VITRT_ASSIGN_OR_RETURN(DynamicQuantization q,
                           dynamic_quantization_of(x.data<float>(), x.numel()));
    outputs[0] = Tensor::empty(DType::kUInt8, x.shape());
    quantize_dynamic_uint8(x.data<float>(), x.numel(), q, outputs[0].data<uint8_t>());
    outputs[1] = Tensor::empty(DType::kFloat32, {});
    outputs[1].data<float>()[0] = q.scale;
    outputs[2] = Tensor::empty(DType::kUInt8, {});
    outputs[2].data<uint8_t>()[0] = q.zero_point;
    return Status();
  }
};

// ---- MatMulInteger, QLinearMatMul ---------------------------------------------------------------

class MatMulIntegerKernel final : public CpuKernel {
 public:
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor* a_zp = inputs.size() > 2 ? inputs[2] : nullptr;
    const Tensor* b_zp = inputs.size() > 3 ? inputs[3] : nullptr;
    MatMulPlan d;
    VITRT_ASSIGN_OR_RETURN(std::vector<int32_t> c,
                           integer_matmul(*inputs[0], a_zp, *inputs[1], b_zp, d));
    outputs[0] = Tensor::empty(DType::kInt32, d.out_shape);
    std::memcpy(outputs[0].data<int32_t>(), c.data(), c.size() * sizeof(int32_t));
    return Status();
  }
};

// MatMulInteger with a constant 2-D B whose zero-point-corrected values fit int8, on oneDNN:
// (A - a_zp) x B' = A x B' - a_zp * colsum(B'), exact in int32. A per-row a_zp (or a CPU
// without VNNI, decided at load) takes the general kernel.
class MatMulIntegerInt8Kernel final : public CpuKernel {
 public:
  MatMulIntegerInt8Kernel(const Tensor& w, std::vector<int32_t> colsum, bool a_unsigned)
      : colsum_(std::move(colsum)),
        k_(w.dim(0)),
        n_(w.dim(1)),
        gemm_(w, {}, false, false, MatmulActivation::kNone, a_unsigned, true) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& a = *inputs[0];
    const Tensor* a_zp = inputs.size() > 2 ? inputs[2] : nullptr;
    if (a.rank() == 0 || a.dim(a.rank() - 1) != k_ || (a_zp != nullptr && a_zp->numel() != 1)) {
      return general_.run(inputs, outputs);
    }
    std::vector<int64_t> shape = a.shape();
    shape.back() = n_;
    outputs[0] = Tensor::empty(DType::kInt32, shape);
    const int64_t rows = a.numel() / k_;
    int32_t* y = outputs[0].data<int32_t>();
    VITRT_RETURN_IF_ERROR(gemm_.run(rows, a.raw_data(), nullptr, nullptr, y));
    const int32_t zp = zp_at(a_zp, 0);
    if (zp != 0) {
      parallel_for(rows, 16, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          int32_t* row = y + r * n_;
          for (int64_t j = 0; j < n_; ++j) row[j] -= zp * colsum_[j];
        }
      });
    }
    return Status();
  }

 private:
  std::vector<int32_t> colsum_;
  int64_t k_, n_;
  Int8Matmul gemm_;
  MatMulIntegerKernel general_;
};

class QLinearMatMulKernel final : public CpuKernel {
 public:
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor &a = *inputs[0], &a_scale = *inputs[1], &b = *inputs[3];
    const Tensor &b_scale = *inputs[4], &y_scale = *inputs[6], &y_zp = *inputs[7];
    MatMulPlan d;
    VITRT_ASSIGN_OR_RETURN(std::vector<int32_t> c, integer_matmul(a, inputs[2], b, inputs[5], d));
    VITRT_RETURN_IF_ERROR(check_per_index(&a_scale, d.m, "a_scale", "row of A"));
    VITRT_RETURN_IF_ERROR(check_per_index(&b_scale, d.n, "b_scale", "column of B"));
    if (y_scale.numel() != 1 || y_zp.numel() != 1) {
      return unsupported("QLinearMatMul with a per-axis y_scale or y_zero_point");
    }
    outputs[0] = Tensor::empty(y_zp.dtype(), d.out_shape);
    const float ys = y_scale.data<float>()[0];
    const double zp = load_int(y_zp, 0);
    const int64_t mn = d.m * d.n;
    for (size_t i = 0; i < c.size(); ++i) {
      const int64_t row = (static_cast<int64_t>(i) % mn) / d.n, col = static_cast<int64_t>(i) % d.n;
      const float multiplier = scale_at(a_scale, row) * scale_at(b_scale, col) / ys;
      const double v = static_cast<double>(c[i]) * static_cast<double>(multiplier) + zp;
      if (y_zp.dtype() == DType::kInt8) {
        outputs[0].data<int8_t>()[i] = requantize<int8_t>(v);
      } else {
        outputs[0].data<uint8_t>()[i] = requantize<uint8_t>(v);
      }
    }
    return Status();
  }
};

// ---- ConvInteger, QLinearConv -------------------------------------------------------------------

// The int32 convolution of (x - x_zp) and (w - w_zp[output channel]), plus an optional int32
// bias, as [N, M, out...] sums; the geometry is returned too.
Result<std::vector<int32_t>> integer_conv(const Node& node, const ConvAttributes& attrs,
                                          const Tensor& x, const Tensor* x_zp, const Tensor& w,
                                          const Tensor* w_zp, const Tensor* bias, ConvGeometry& g) {
  VITRT_ASSIGN_OR_RETURN(g, conv_geometry(node, attrs, x, w, bias));
  if (x_zp != nullptr && x_zp->numel() != 1) {
    return unsupported("a per-channel zero point for x (only a scalar is defined)");
  }
  VITRT_RETURN_IF_ERROR(
      check_per_index(w_zp, g.out_channels, "the zero point of w", "output channel"));
  const int64_t ks = g.kernel_size(), os = g.out_size();
  const int64_t cg = g.group_in(), mg = g.group_out();
  std::vector<int16_t> x16(static_cast<size_t>(x.numel())), w16(static_cast<size_t>(w.numel()));
  const int32_t xz = zp_at(x_zp, 0);
  for (int64_t i = 0; i < x.numel(); ++i) x16[i] = static_cast<int16_t>(load_int(x, i) - xz);
  const int64_t w_per_out = w.numel() / g.out_channels;
  for (int64_t i = 0; i < w.numel(); ++i) {
    w16[i] = static_cast<int16_t>(load_int(w, i) - zp_at(w_zp, i / w_per_out));
  }
  std::vector<int32_t> y(static_cast<size_t>(g.batch * g.out_channels * os));
  std::vector<int16_t> col(static_cast<size_t>(cg * ks * os));
  ConvGeometry group_geometry = g;
  group_geometry.channels = cg;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t grp = 0; grp < g.group; ++grp) {
      im2col(group_geometry, x16.data() + (n * g.channels + grp * cg) * g.in_size(), col.data());
      gemm_i16(mg, cg * ks, os, w16.data() + grp * mg * cg * ks, col.data(),
               y.data() + (n * g.out_channels + grp * mg) * os);
    }
  }
  if (bias != nullptr) {
    const int32_t* b = bias->data<int32_t>();
    for (size_t i = 0; i < y.size(); ++i)
      y[i] += b[(static_cast<int64_t>(i) / os) % g.out_channels];
  }
  return y;
}

class ConvIntegerKernel final : public CpuKernel {
 public:
  ConvIntegerKernel(const Node& node, ConvAttributes attrs)
      : node_(node), attrs_(std::move(attrs)) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    ConvGeometry g;
    VITRT_ASSIGN_OR_RETURN(
        std::vector<int32_t> y,
        integer_conv(node_, attrs_, *inputs[0], inputs.size() > 2 ? inputs[2] : nullptr, *inputs[1],
                     inputs.size() > 3 ? inputs[3] : nullptr, nullptr, g));
    outputs[0] = Tensor::empty(DType::kInt32, g.out_shape());
    std::memcpy(outputs[0].data<int32_t>(), y.data(), y.size() * sizeof(int32_t));
    return Status();
  }

 private:
  const Node& node_;
  ConvAttributes attrs_;
};

// ConvInteger with constant weights (group 1) whose zero-point-corrected values fit int8, on
// oneDNN's int8 matmul: each output position's patch is a row (padding holds x_zp, so it
// contributes nothing once x_zp * colsum(W') is taken off), W' is [C * kernel, M].
class ConvIntegerInt8Kernel final : public CpuKernel {
 public:
  ConvIntegerInt8Kernel(const Node& node, ConvAttributes attrs, const Tensor& w_rows,
                        std::vector<int32_t> colsum, bool x_unsigned)
      : node_(node),
        attrs_(std::move(attrs)),
        colsum_(std::move(colsum)),
        gemm_(w_rows, {}, false, false, MatmulActivation::kNone, x_unsigned, true),
        general_(node, attrs_) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor* x_zp = inputs.size() > 2 ? inputs[2] : nullptr;
    if (x_zp != nullptr && x_zp->numel() != 1) return general_.run(inputs, outputs);
    VITRT_ASSIGN_OR_RETURN(const ConvGeometry g,
                           conv_geometry(node_, attrs_, x, *inputs[1], nullptr));
    const int64_t ks = g.kernel_size(), os = g.out_size(), ck = g.channels * ks;
    const int64_t m = g.out_channels;
    const int32_t zp = zp_at(x_zp, 0);
    const uint8_t pad = static_cast<uint8_t>(zp);  // the zero point's bits, u8 or s8
    const uint8_t* in = static_cast<const uint8_t*>(x.raw_data());
    std::vector<uint8_t> rows(static_cast<size_t>(os * ck));
    std::vector<int32_t> sums(static_cast<size_t>(os * m));
    outputs[0] = Tensor::empty(DType::kInt32, g.out_shape());
    int32_t* y = outputs[0].data<int32_t>();
    for (int64_t n = 0; n < g.batch; ++n) {
      const uint8_t* xn = in + n * g.channels * g.in_size();
      parallel_for(os, 8, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const int64_t od = p / (g.out[1] * g.out[2]), oh = (p / g.out[2]) % g.out[1];
          const int64_t ow = p % g.out[2];
          uint8_t* row = rows.data() + p * ck;
          for (int64_t c = 0; c < g.channels; ++c) {
            for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
              const int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dilation[0];
              for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
                const int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dilation[1];
                for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                  const int64_t iw = ow * g.stride[2] - g.pad[2] + kw * g.dilation[2];
                  const bool inside =
                      id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2];
                  *row++ = inside ? xn[c * g.in_size() + (id * g.in[1] + ih) * g.in[2] + iw] : pad;
                }
              }
            }
          }
        }
      });
      VITRT_RETURN_IF_ERROR(gemm_.run(os, rows.data(), nullptr, nullptr, sums.data()));
      int32_t* yn = y + n * m * os;
      parallel_for(m, 8, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) {
          const int32_t correction = zp * colsum_[j];
          for (int64_t p = 0; p < os; ++p) yn[j * os + p] = sums[p * m + j] - correction;
        }
      });
    }
    return Status();
  }

 private:
  const Node& node_;
  ConvAttributes attrs_;
  std::vector<int32_t> colsum_;
  Int8Matmul gemm_;
  ConvIntegerKernel general_;
};

class QLinearConvKernel final : public CpuKernel {
 public:
  QLinearConvKernel(const Node& node, ConvAttributes attrs)
      : node_(node), attrs_(std::move(attrs)) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor &x_scale = *inputs[1], &w_scale = *inputs[4];
    const Tensor &y_scale = *inputs[6], &y_zp = *inputs[7];
    const Tensor* bias = inputs.size() > 8 ? inputs[8] : nullptr;
    ConvGeometry g;
    VITRT_ASSIGN_OR_RETURN(
        std::vector<int32_t> y,
        integer_conv(node_, attrs_, *inputs[0], inputs[2], *inputs[3], inputs[5], bias, g));
    if (x_scale.numel() != 1 || y_scale.numel() != 1 || y_zp.numel() != 1) {
      return unsupported("QLinearConv with a per-axis x_scale, y_scale or y_zero_point");
    }
    VITRT_RETURN_IF_ERROR(check_per_index(&w_scale, g.out_channels, "w_scale", "output channel"));
    outputs[0] = Tensor::empty(y_zp.dtype(), g.out_shape());
    const float xs = x_scale.data<float>()[0], ys = y_scale.data<float>()[0];
    const double zp = load_int(y_zp, 0);
    const int64_t os = g.out_size();
    for (size_t i = 0; i < y.size(); ++i) {
      const int64_t m = (static_cast<int64_t>(i) / os) % g.out_channels;
      const float multiplier = xs * scale_at(w_scale, m) / ys;
      const double v = static_cast<double>(y[i]) * static_cast<double>(multiplier) + zp;
      if (y_zp.dtype() == DType::kInt8) {
        outputs[0].data<int8_t>()[i] = requantize<int8_t>(v);
      } else {
        outputs[0].data<uint8_t>()[i] = requantize<uint8_t>(v);
      }
    }
    return Status();
  }

 private:
  const Node& node_;
  ConvAttributes attrs_;
};

Result<std::unique_ptr<CpuKernel>> make_dynamic_quantize_linear(const KernelInit&) {
  return std::unique_ptr<CpuKernel>(std::make_unique<DynamicQuantizeLinearKernel>());
}

// Constant weights for the Int8Matmul paths: W' [k, n] int8 = w - zp[column], w stored [k, n]
// or, with `n_major`, [n, k] (a convolution's [M, C * kernel]); zp one value or one per column;
// and the column sums of W'. Nothing when the CPU lacks VNNI, a corrected value leaves int8, or
// k is long enough for the int32 sums to overflow.
struct Int8Weights {
  Tensor w;
  std::vector<int32_t> colsum;
};

std::optional<Int8Weights> int8_weights(const Tensor& w, const Tensor* zp, int64_t k, int64_t n,
                                        bool n_major) {
  if (!cpu_has_vnni() || k * 255 * 128 >= (int64_t{1} << 31) ||
      (zp != nullptr && zp->numel() != 1 && zp->numel() != n)) {
    return std::nullopt;
  }
  Int8Weights out{Tensor::empty(DType::kInt8, {k, n}), std::vector<int32_t>(n, 0)};
  int8_t* dst = out.w.data<int8_t>();
  for (int64_t r = 0; r < k; ++r) {
    for (int64_t c = 0; c < n; ++c) {
      const int32_t v = load_int(w, n_major ? c * k + r : r * n + c) -
                        zp_at(zp, zp != nullptr && zp->numel() > 1 ? c : 0);
      if (v < -128 || v > 127) return std::nullopt;
      dst[r * n + c] = static_cast<int8_t>(v);
      out.colsum[c] += v;
    }
  }
  return out;
}

Result<std::unique_ptr<CpuKernel>> make_matmul_integer(const KernelInit& init) {
  const Tensor* b = init.constant_input(1);
  const Tensor* b_zp = init.constant_input(3);
  const bool b_zp_known = !init.node.has_input(3) || b_zp != nullptr;
  if (b != nullptr && b->rank() == 2 && b_zp_known) {
    if (auto w = int8_weights(*b, b_zp, b->dim(0), b->dim(1), false)) {
      const Value& a = init.graph.values[init.node.inputs[0]];
      return std::unique_ptr<CpuKernel>(std::make_unique<MatMulIntegerInt8Kernel>(
          w->w, std::move(w->colsum), a.dtype == DType::kUInt8));
    }
  }
  return std::unique_ptr<CpuKernel>(std::make_unique<MatMulIntegerKernel>());
}

Result<std::unique_ptr<CpuKernel>> make_qlinear_matmul(const KernelInit&) {
  return std::unique_ptr<CpuKernel>(std::make_unique<QLinearMatMulKernel>());
}

// The spatial rank comes from W (input `w_index`), whose shape inference has fixed.
Result<ConvAttributes> conv_attributes(const KernelInit& init, int w_index) {
  const Value& w = init.graph.values[init.node.inputs[w_index]];
  if (!w.has_shape || w.shape.size() < 3 || w.shape.size() > 5) {
    return unsupported(init.node.describe(),
                       ": W's rank must be known at load time and 3 to 5 (1 to 3 spatial axes)");
  }
  return ConvAttributes::parse(init.node, static_cast<int>(w.shape.size()) - 2);
}

Result<std::unique_ptr<CpuKernel>> make_conv_integer(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(ConvAttributes attrs, conv_attributes(init, 1));
  const Tensor* w = init.constant_input(1);
  const Tensor* w_zp = init.constant_input(3);
  const bool w_zp_known = !init.node.has_input(3) || w_zp != nullptr;
  if (w != nullptr && attrs.group == 1 && w_zp_known) {
    // W [M, C, kernel...] as the [C * kernel, M] matrix the patches multiply.
    const int64_t m = w->dim(0);
    if (auto rows = int8_weights(*w, w_zp, w->numel() / m, m, true)) {
      const Value& x = init.graph.values[init.node.inputs[0]];
      return std::unique_ptr<CpuKernel>(std::make_unique<ConvIntegerInt8Kernel>(
          init.node, attrs, rows->w, std::move(rows->colsum), x.dtype == DType::kUInt8));
    }
  }
  return std::unique_ptr<CpuKernel>(std::make_unique<ConvIntegerKernel>(init.node, attrs));
}

Result<std::unique_ptr<CpuKernel>> make_qlinear_conv(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(ConvAttributes attrs, conv_attributes(init, 3));
  return std::unique_ptr<CpuKernel>(std::make_unique<QLinearConvKernel>(init.node, attrs));
}

}  // namespace

void register_cpu_integer_kernels(CpuKernelRegistry& registry) {
  registry.add("", "DynamicQuantizeLinear", make_dynamic_quantize_linear);
  registry.add("", "MatMulInteger", make_matmul_integer);
  registry.add("", "QLinearMatMul", make_qlinear_matmul);
  registry.add("", "ConvInteger", make_conv_integer);
  registry.add("", "QLinearConv", make_qlinear_conv);
}

}  // namespace vitrt
