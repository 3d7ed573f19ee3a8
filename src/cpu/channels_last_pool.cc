// vitrt.ChannelsLastPool on the CPU: float32 and float64 natively, float16/bfloat16 through a
// float32 copy (as the NCHW pooling kernels do). One task per output row (n, oy); per output
// pixel, each window tap inside the input is one contiguous channel vector, folded into the
// pixel's channels by a loop along C that the compiler vectorises.
//
// The numbers are the NCHW kernels' (src/cpu/pooling.cc) to the bit: max starts from -inf and
// takes a tap only when it is greater (a NaN never replaces the maximum); average sums the taps
// in the same order (window row, then column) in double and divides in double. A window that
// covers no input element (all padding, possible with ceil_mode or pads as large as the
// kernel) gives -inf for max and 0 for average, as there.
#include "cpu/channels_last_pool.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "cpu/float_widen.h"
#include "ir/ops/channels_last_pool.h"

namespace vitrt {

namespace {

// The taps of output index `o` along one axis that lie inside the padded input
// [-pad, in + pad_end): count_include_pad's divisor (per axis; the window is a box).
int64_t padded_taps(int64_t o, int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                    int64_t pad, int64_t pad_end) {
  int64_t count = 0;
  for (int64_t k = 0; k < kernel; ++k) {
    const int64_t i = o * stride - pad + k * dilation;
    count += i >= -pad && i < in + pad_end;
  }
  return count;
}

// Calls tap(pixel) with the channel vector of each input pixel of output (n, oy, ox)'s window
// that lies inside the image, rows then columns.
template <typename T, typename Tap>
void for_each_window_pixel(const ChannelsLastPoolGeometry& g, const T* x, int64_t n, int64_t oy,
                           int64_t ox, Tap&& tap) {
  for (int64_t i = 0; i < g.kh; ++i) {
    const int64_t iy = oy * g.sh - g.ph + i * g.dh;
    if (iy < 0 || iy >= g.height) continue;
    const T* xrow = x + (n * g.height + iy) * g.width * g.channels;
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t ix = ox * g.sw - g.pw + j * g.dw;
      if (ix < 0 || ix >= g.width) continue;
      tap(xrow + ix * g.channels);
    }
  }
}

template <typename T>
void max_pool_nhwc(const ChannelsLastPoolGeometry& g, const T* x, T* y) {
  const int64_t c = g.channels;
  const T lowest = -std::numeric_limits<T>::infinity();
  parallel_for(g.batch * g.out_h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.out_h, oy = row % g.out_h;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        T* __restrict yp = y + (row * g.out_w + ox) * c;
        std::fill(yp, yp + c, lowest);
        for_each_window_pixel(g, x, n, oy, ox, [&](const T* __restrict xp) {
          for (int64_t k = 0; k < c; ++k) yp[k] = xp[k] > yp[k] ? xp[k] : yp[k];
        });
      }
    }
  });
}

template <typename T>
void average_pool_nhwc(const ChannelsLastPoolGeometry& g, const T* x, T* y) {
  const int64_t c = g.channels;
  parallel_for(g.batch * g.out_h, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> sums(static_cast<size_t>(c));
    double* __restrict sum = sums.data();
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.out_h, oy = row % g.out_h;
      const int64_t rows_padded = padded_taps(oy, g.height, g.kh, g.sh, g.dh, g.ph, g.ph_end);
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        std::fill(sum, sum + c, 0.0);
        int64_t taps = 0;
        for_each_window_pixel(g, x, n, oy, ox, [&](const T* __restrict xp) {
          for (int64_t k = 0; k < c; ++k) sum[k] += xp[k];
          ++taps;
        });
        const int64_t count =
            g.count_include_pad
                ? rows_padded * padded_taps(ox, g.width, g.kw, g.sw, g.dw, g.pw, g.pw_end)
                : taps;
        T* __restrict yp = y + (row * g.out_w + ox) * c;
        if (count == 0) {
          std::fill(yp, yp + c, T(0));
          continue;
        }
        const double divisor = static_cast<double>(count);
        for (int64_t k = 0; k < c; ++k) yp[k] = static_cast<T>(sum[k] / divisor);
      }
    }
  });
}

template <typename T>
void pool_nhwc(const ChannelsLastPoolGeometry& g, const T* x, T* y) {
  if (g.average) {
    average_pool_nhwc(g, x, y);
  } else {
    max_pool_nhwc(g, x, y);
  }
}

class ChannelsLastPoolKernel final : public CpuKernel {
 public:
  ChannelsLastPoolKernel(const Node& node, ChannelsLastPoolAttributes attrs)
      : node_(node), attrs_(std::move(attrs)) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const DType dtype = x.dtype();
    const bool half = dtype_is_half(dtype);
    if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && !half) {
      return unsupported("ChannelsLastPool on ", dtype_name(dtype));
    }
    VITRT_ASSIGN_OR_RETURN(const ChannelsLastPoolGeometry g,
                           channels_last_pool_geometry(node_, attrs_, x.shape()));
    const Tensor wide = half ? widen_to_float32(x) : Tensor();
    const Tensor& in = half ? wide : x;
    Tensor y = Tensor::empty(in.dtype(), g.out_shape());
    if (y.numel() > 0) {
      if (in.dtype() == DType::kFloat64) {
        pool_nhwc(g, in.data<double>(), y.data<double>());
      } else {
        pool_nhwc(g, in.data<float>(), y.data<float>());
      }
    }
    outputs[0] = half ? narrow_from_float32(y, dtype) : std::move(y);
    return Status();
  }

 private:
  const Node& node_;
  ChannelsLastPoolAttributes attrs_;
};

Result<std::unique_ptr<CpuKernel>> make_channels_last_pool(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(ChannelsLastPoolAttributes attrs, parse_channels_last_pool(init.node));
  return std::unique_ptr<CpuKernel>(
      std::make_unique<ChannelsLastPoolKernel>(init.node, std::move(attrs)));
}

}  // namespace

void register_cpu_channels_last_pool_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "ChannelsLastPool", make_channels_last_pool);
}

}  // namespace vitrt
