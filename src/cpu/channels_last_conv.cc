// vitrt.ChannelsLastConv on the CPU. fp32 and float64 (the dtypes the CPU Conv takes).
//  * Depthwise: oneDNN's depthwise convolution (fp32 with constant weights, SiLU/ReLU as a
//    post-op: 1.6-1.8x the loop below on ConvNeXt-T, MobileNetV3 and EfficientNet-B0); else, and
//    for float64, a direct NHWC loop. One task per output row (n, oy); each tap multiplies one
//    input pixel's contiguous channel vector by the tap's weights (repacked to [KH, KW, D], so
//    they are contiguous too) into the output pixel's channels: a loop along C that the compiler
//    vectorises, with no im2col copy.
//  * Dense with constant weights: oneDNN's convolution primitive on the NHWC tensors (direct
//    JIT kernels, bias and ReLU fused; cpu/dnnl_conv.h), where oneDNN has an optimized kernel;
//    a 1x1 convolution with unit strides and no padding multiplies X itself.
//  * Grouped with constant weights: oneDNN's grouped convolution primitive, where it has an
//    optimized kernel for the shape.
//  * Otherwise (no such kernel): the rows of an NHWC im2col ([output pixel,
//    KH * KW * C/group], each tap's channels one contiguous run of the input) times W viewed as
//    [D, KH * KW * C/group] through oneDNN's matmul, bias and ReLU fused. The columns are made a
//    chunk of output pixels at a time, so their memory stays bounded. float64 runs a direct
//    loop (the reference for tests).
// The activation (ReLU, ReLU6, SiLU, HardSwish, GELU) is fused wherever the kernel runs: oneDNN
// post-ops, the matmul's epilogue, or a pass over each output row while it is still in cache.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/parallel.h"
#include "cpu/activation_rows.h"
#include "cpu/channels_last_conv.h"
#include "cpu/cpu_kernel.h"
#include "cpu/dnnl_conv.h"
#include "cpu/dnnl_matmul.h"
#include "cpu/exp_approx.h"
#include "cpu/linear.h"
#include "ir/ops/channels_last_conv.h"

namespace vitrt {

namespace {

MatmulActivation matmul_activation(ConvActivation a) {
  switch (a) {
    case ConvActivation::kRelu:
      return MatmulActivation::kRelu;
    case ConvActivation::kSilu:
      return MatmulActivation::kSilu;
    case ConvActivation::kHardSwish:
      return MatmulActivation::kHardSwish;
    case ConvActivation::kRelu6:
      return MatmulActivation::kRelu6;
    case ConvActivation::kGelu:
      return MatmulActivation::kGelu;
    case ConvActivation::kGeluTanh:
      return MatmulActivation::kGeluTanh;
    case ConvActivation::kNone:
      break;
  }
  return MatmulActivation::kNone;
}

// Depthwise W [D, KH, KW, 1] -> taps [KH * KW, D].
template <typename T>
void pack_taps_typed(const Tensor& w, Tensor& taps) {
  const int64_t d = w.dim(0), k = w.dim(1) * w.dim(2);
  const T* src = w.data<T>();
  T* dst = taps.data<T>();
  for (int64_t o = 0; o < d; ++o) {
    for (int64_t t = 0; t < k; ++t) dst[t * d + o] = src[o * k + t];
  }
}

Tensor pack_taps(const Tensor& w) {
  Tensor taps = Tensor::empty(w.dtype(), {w.dim(1) * w.dim(2), w.dim(0)});
  if (w.dtype() == DType::kFloat64) {
    pack_taps_typed<double>(w, taps);
  } else {
    pack_taps_typed<float>(w, taps);
  }
  return taps;
}

// y[n, oy, ox, o] = bias[o] + sum over taps of x[n, iy, ix, o / m] * taps[i, j, o].
template <typename T>
void channels_last_conv(const ChannelsLastConvGeometry& g, const T* x, const T* taps, const T* bias,
                        T* y) {
  const int64_t c = g.channels, d = g.out_channels, m = g.multiplier();
  parallel_for(g.batch * g.out_h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.out_h, oy = row % g.out_h;
      T* __restrict yrow = y + row * g.out_w * d;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        if (bias != nullptr) {
          std::memcpy(yrow + ox * d, bias, sizeof(T) * d);
        } else {
          std::fill(yrow + ox * d, yrow + (ox + 1) * d, T(0));
        }
      }
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t iy = oy * g.sh - g.ph + i * g.dh;
        if (iy < 0 || iy >= g.height) continue;
        const T* xrow = x + (n * g.height + iy) * g.width * c;
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* __restrict tap = taps + (i * g.kw + j) * d;
          // The output columns whose input column ix = ox * sw + offset lies in [0, width).
          const int64_t offset = j * g.dw - g.pw;
          const int64_t ox0 = offset >= 0 ? 0 : (-offset + g.sw - 1) / g.sw;
          const int64_t last = g.width - 1 - offset;
          const int64_t ox1 = last < 0 ? 0 : std::min(g.out_w, last / g.sw + 1);
          for (int64_t ox = ox0; ox < ox1; ++ox) {
            const T* __restrict xp = xrow + (ox * g.sw + offset) * c;
            T* __restrict yp = yrow + ox * d;
            if (m == 1) {
              for (int64_t k = 0; k < c; ++k) yp[k] += xp[k] * tap[k];
            } else {
              for (int64_t k = 0; k < c; ++k) {
                for (int64_t r = 0; r < m; ++r) yp[k * m + r] += xp[k] * tap[k * m + r];
              }
            }
          }
        }
      }
      activate_inplace(g.activation, yrow, g.out_w * d);
    }
  });
}

// The NHWC im2col rows of output pixels [p0, p0 + rows) for group `grp`: row r holds, per tap
// (i, j), the group's Cg input channels of the pixel that tap reads (zeros in the padding).
template <typename T>
void im2col_rows(const ChannelsLastConvGeometry& g, const T* x, int64_t grp, int64_t p0,
                 int64_t rows, T* cols) {
  const int64_t cg = g.in_per_group(), k = g.kh * g.kw * cg;
  const int64_t plane = g.out_h * g.out_w;
  parallel_for(rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t p = p0 + r;
      const int64_t n = p / plane, oy = (p % plane) / g.out_w, ox = p % g.out_w;
      T* dst = cols + r * k;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t iy = oy * g.sh - g.ph + i * g.dh;
        for (int64_t j = 0; j < g.kw; ++j, dst += cg) {
          const int64_t ix = ox * g.sw - g.pw + j * g.dw;
          if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) {
            std::fill(dst, dst + cg, T(0));
          } else {
            std::memcpy(dst, x + ((n * g.height + iy) * g.width + ix) * g.channels + grp * cg,
                        sizeof(T) * cg);
          }
        }
      }
    }
  });
}

// float64: the direct loop over (pixel, output channel, tap, channel), the reference.
void dense_reference(const ChannelsLastConvGeometry& g, const double* x, const double* w,
                     const double* bias, double* y) {
  const int64_t cg = g.in_per_group(), dg = g.out_per_group(), d = g.out_channels;
  const int64_t pixels = g.batch * g.out_h * g.out_w;
  const int64_t k = g.kh * g.kw * cg;
  std::vector<double> cols(static_cast<size_t>(k));
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t grp = 0; grp < g.group; ++grp) {
      // One row of columns at a time (no parallel_for inside: rows = 1 runs inline).
      im2col_rows(g, x, grp, p, 1, cols.data());
      for (int64_t o = grp * dg; o < (grp + 1) * dg; ++o) {
        double acc = bias != nullptr ? bias[o] : 0.0;
        const double* wo = w + o * k;
        for (int64_t t = 0; t < k; ++t) acc += cols[t] * wo[t];
        y[p * d + o] = acc;
      }
      activate_inplace(g.activation, y + p * d + grp * dg, dg);
    }
  }
}

// Output pixels per im2col chunk: about 16 MB of fp32 columns.
int64_t chunk_rows(int64_t k, int64_t pixels) {
  return std::clamp<int64_t>((int64_t{4} << 20) / std::max<int64_t>(k, 1), 1, pixels);
}

class ChannelsLastConvKernel final : public CpuKernel {
 public:
  // `packed_w`: depthwise taps packed at load, or undefined. `gemm`: the product with constant
  // dense (group 1) weights, prepared at load, or null.
  ChannelsLastConvKernel(const Node& node, ChannelsLastConvAttributes attrs, Tensor packed_w,
                         std::unique_ptr<DnnlMatmul> gemm, std::unique_ptr<DnnlConv> conv)
      : node_(node),
        attrs_(std::move(attrs)),
        packed_(std::move(packed_w)),
        gemm_(std::move(gemm)),
        conv_(std::move(conv)) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& w = *inputs[1];
    const Tensor* bias = inputs.size() > 2 ? inputs[2] : nullptr;
    VITRT_RETURN_IF_ERROR(check_linear_dtype("ChannelsLastConv", x.dtype()));
    if (w.dtype() != x.dtype() || (bias != nullptr && bias->dtype() != x.dtype())) {
      return invalid_argument("X, W and B must have one dtype, got ", x.describe(), ", ",
                              w.describe(), bias != nullptr ? ", " + bias->describe() : "");
    }
    VITRT_ASSIGN_OR_RETURN(const ChannelsLastConvGeometry g,
                           channels_last_conv_geometry(node_, attrs_, x.shape(), w.shape(),
                                                       bias != nullptr ? &bias->shape() : nullptr));
    Tensor y = Tensor::empty(x.dtype(), g.out_shape());
    if (y.numel() == 0) {
      outputs[0] = std::move(y);
      return Status();
    }
    const void* b = bias != nullptr ? bias->raw_data() : nullptr;
    if (g.depthwise() && conv_ != nullptr && x.dtype() == DType::kFloat32) {
      const Status ran =
          run_dnnl_conv(g, x.data<float>(), static_cast<const float*>(b), y.data<float>());
      if (ran.code() != StatusCode::kUnsupported) {
        VITRT_RETURN_IF_ERROR(ran);
        outputs[0] = std::move(y);
        return Status();
      }
    }
    if (g.depthwise()) {
      const Tensor taps =
          packed_.defined() && packed_.dtype() == x.dtype() ? packed_ : pack_taps(w);
      if (x.dtype() == DType::kFloat64) {
        channels_last_conv(g, x.data<double>(), taps.data<double>(), static_cast<const double*>(b),
                           y.data<double>());
      } else {
        channels_last_conv(g, x.data<float>(), taps.data<float>(), static_cast<const float*>(b),
                           y.data<float>());
      }
    } else if (x.dtype() == DType::kFloat64) {
      dense_reference(g, x.data<double>(), w.data<double>(), static_cast<const double*>(b),
                      y.data<double>());
    } else {
      VITRT_RETURN_IF_ERROR(dense(g, x.data<float>(), w.data<float>(), static_cast<const float*>(b),
                                  y.data<float>()));
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  Status dense(const ChannelsLastConvGeometry& g, const float* x, const float* w, const float* bias,
               float* y) {
    const int64_t cg = g.in_per_group(), dg = g.out_per_group();
    const int64_t k = g.kh * g.kw * cg;
    const int64_t pixels = g.batch * g.out_h * g.out_w;
    MatmulShape s;
    s.k = k;
    s.n = dg;
    s.trans_weights = true;  // W rows [D, K]
    s.activation = matmul_activation(g.activation);
    if (g.group == 1) {
      DnnlMatmul local;
      DnnlMatmul& mm = gemm_ != nullptr ? *gemm_ : local;
      const float* weights = gemm_ != nullptr ? nullptr : w;
      s.has_bias = bias != nullptr;
      if (g.pointwise()) {
        s.m = pixels;
        return mm.run(s, x, weights, bias, y);
      }
      if (conv_ != nullptr) {
        const Status ran = run_dnnl_conv(g, x, bias, y);
        if (ran.code() != StatusCode::kUnsupported) return ran;  // done, or failed
      }
      const int64_t rows = chunk_rows(k, pixels);
      std::vector<float> cols(static_cast<size_t>(rows * k));
      for (int64_t p0 = 0; p0 < pixels; p0 += rows) {
        s.m = std::min(rows, pixels - p0);
        im2col_rows(g, x, 0, p0, s.m, cols.data());
        VITRT_RETURN_IF_ERROR(mm.run(s, cols.data(), weights, bias, y + p0 * dg));
      }
      return Status();
    }
    // Grouped: oneDNN's grouped convolution where it has a kernel for the shape; else each
    // group's product into a [rows, Dg] block, copied into its output channels. The bias and
    // ReLU go in the product (ReLU is per element, so it commutes with the copy).
    if (conv_ != nullptr) {
      const Status ran = run_dnnl_conv(g, x, bias, y);
      if (ran.code() != StatusCode::kUnsupported) return ran;  // done, or failed
    }
    DnnlMatmul mm;
    const int64_t rows = chunk_rows(std::max(k, dg), pixels);
    std::vector<float> cols(static_cast<size_t>(rows * k)), part(static_cast<size_t>(rows * dg));
    s.has_bias = bias != nullptr;
    for (int64_t p0 = 0; p0 < pixels; p0 += rows) {
      s.m = std::min(rows, pixels - p0);
      for (int64_t grp = 0; grp < g.group; ++grp) {
        im2col_rows(g, x, grp, p0, s.m, cols.data());
        VITRT_RETURN_IF_ERROR(mm.run(s, cols.data(), w + grp * dg * k,
                                     bias != nullptr ? bias + grp * dg : nullptr, part.data()));
        for (int64_t r = 0; r < s.m; ++r) {
          std::memcpy(y + (p0 + r) * g.out_channels + grp * dg, part.data() + r * dg,
                      sizeof(float) * dg);
        }
      }
    }
    return Status();
  }

  // oneDNN's convolution primitive on the NHWC tensors (dense or grouped, constant weights).
  Status run_dnnl_conv(const ChannelsLastConvGeometry& g, const float* x, const float* bias,
                       float* y) {
    ConvShape cs;
    cs.n = g.batch;
    cs.h = g.height;
    cs.w = g.width;
    cs.c = g.channels;
    cs.k = g.out_channels;
    cs.g = g.group;
    cs.r = g.kh;
    cs.s = g.kw;
    cs.oh = g.out_h;
    cs.ow = g.out_w;
    cs.sh = g.sh;
    cs.sw = g.sw;
    cs.dh = g.dh;
    cs.dw = g.dw;
    cs.pad_top = g.ph;
    cs.pad_left = g.pw;
    cs.pad_bottom = g.ph_end;
    cs.pad_right = g.pw_end;
    cs.has_bias = bias != nullptr;
    cs.activation = matmul_activation(g.activation);
    return conv_->run(cs, x, bias, y);
  }

  const Node& node_;
  ChannelsLastConvAttributes attrs_;
  Tensor packed_;  // depthwise weights as [KH * KW, D], packed once at load
  std::unique_ptr<DnnlMatmul> gemm_;
  std::unique_ptr<DnnlConv> conv_;  // dense layers with constant weights
};

Result<std::unique_ptr<CpuKernel>> make_channels_last_conv(const KernelInit& init) {
  VITRT_RETURN_IF_ERROR(check_linear_dtype(init));
  VITRT_ASSIGN_OR_RETURN(ChannelsLastConvAttributes attrs, parse_channels_last_conv(init.node));
  Tensor packed;
  std::unique_ptr<DnnlMatmul> gemm;
  std::unique_ptr<DnnlConv> conv;
  const Tensor* w = init.constant_input(1);
  if (w != nullptr && w->rank() == 4 &&
      (w->dtype() == DType::kFloat32 || w->dtype() == DType::kFloat64)) {
    if (w->dim(3) == 1) {
      packed = pack_taps(*w);  // depthwise (a group of one channel each)
      if (w->dtype() == DType::kFloat32) conv = std::make_unique<DnnlConv>(*w);
    } else if (attrs.conv.group == 1 && w->dtype() == DType::kFloat32) {
      const int64_t d = w->dim(0), k = w->dim(1) * w->dim(2) * w->dim(3);
      VITRT_ASSIGN_OR_RETURN(Tensor rows, w->reshaped({d, k}));
      MatmulShape example;
      example.m = 64;
      example.k = k;
      example.n = d;
      example.trans_weights = true;
      example.has_bias = init.node.has_input(2);
      example.activation = matmul_activation(attrs.activation);
      gemm = std::make_unique<DnnlMatmul>();
      VITRT_RETURN_IF_ERROR(gemm->set_constant_weights(rows, example));
      conv = std::make_unique<DnnlConv>(*w);  // a pointwise one multiplies X instead
    } else if (w->dtype() == DType::kFloat32) {
      conv = std::make_unique<DnnlConv>(*w);  // grouped
    }
  }
  return std::unique_ptr<CpuKernel>(std::make_unique<ChannelsLastConvKernel>(
      init.node, std::move(attrs), std::move(packed), std::move(gemm), std::move(conv)));
}

}  // namespace

void register_cpu_channels_last_conv_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "ChannelsLastConv", make_channels_last_conv);
}

}  // namespace vitrt
