// vitrt.ChannelsLastConv on the CPU, the reference: a direct NHWC depthwise loop. One task per
// output row (n, oy); each tap multiplies one input pixel's contiguous channel vector by the
// tap's weights (repacked to [KH, KW, D], so they are contiguous too) into the output pixel's
// channels: a loop along C that the compiler vectorises, with no im2col copy. fp32 and float64
// (the dtypes the CPU Conv takes).
#include <algorithm>
#include <cstring>
#include <memory>

#include "core/parallel.h"
#include "cpu/channels_last_conv.h"
#include "cpu/cpu_kernel.h"
#include "cpu/linear.h"
#include "ir/ops/channels_last_conv.h"

namespace vitrt {

namespace {

// W [D, 1, KH, KW] -> taps [KH * KW, D].
template <typename T>
void pack_taps_typed(const Tensor& w, Tensor& taps) {
  const int64_t d = w.dim(0), k = w.dim(2) * w.dim(3);
  const T* src = w.data<T>();
  T* dst = taps.data<T>();
  for (int64_t o = 0; o < d; ++o) {
    for (int64_t t = 0; t < k; ++t) dst[t * d + o] = src[o * k + t];
  }
}

Tensor pack_taps(const Tensor& w) {
  Tensor taps = Tensor::empty(w.dtype(), {w.dim(2) * w.dim(3), w.dim(0)});
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
    }
  });
}

class ChannelsLastConvKernel final : public CpuKernel {
 public:
  // `packed_w`: the constant weights packed at load, or undefined.
  ChannelsLastConvKernel(const Node& node, ConvAttributes attrs, Tensor packed_w)
      : node_(node), attrs_(std::move(attrs)), packed_(std::move(packed_w)) {}

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
    const Tensor taps = packed_.defined() && packed_.dtype() == x.dtype() ? packed_ : pack_taps(w);
    const void* b = bias != nullptr ? bias->raw_data() : nullptr;
    if (x.dtype() == DType::kFloat64) {
      channels_last_conv(g, x.data<double>(), taps.data<double>(), static_cast<const double*>(b),
                         y.data<double>());
    } else {
      channels_last_conv(g, x.data<float>(), taps.data<float>(), static_cast<const float*>(b),
                         y.data<float>());
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  const Node& node_;
  ConvAttributes attrs_;
  Tensor packed_;  // constant weights as [KH * KW, D], packed once at load
};

Result<std::unique_ptr<CpuKernel>> make_channels_last_conv(const KernelInit& init) {
  VITRT_RETURN_IF_ERROR(check_linear_dtype(init));
  VITRT_ASSIGN_OR_RETURN(ConvAttributes attrs, parse_channels_last_conv(init.node));
  Tensor packed;
  const Tensor* w = init.constant_input(1);
  if (w != nullptr && w->rank() == 4 &&
      (w->dtype() == DType::kFloat32 || w->dtype() == DType::kFloat64)) {
    packed = pack_taps(*w);
  }
  return std::unique_ptr<CpuKernel>(
      std::make_unique<ChannelsLastConvKernel>(init.node, std::move(attrs), std::move(packed)));
}

}  // namespace

void register_cpu_channels_last_conv_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "ChannelsLastConv", make_channels_last_conv);
}

}  // namespace vitrt
