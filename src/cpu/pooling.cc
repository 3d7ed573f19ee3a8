// MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool (1 to 3 spatial axes; strides,
// dilations, pads, auto_pad, ceil_mode, count_include_pad).
//
// Every pool is normalised to 3 spatial axes (leading axes of size 1). Per axis, the input
// positions each output index reads are listed once per run (padding and dilation worked out
// there), so the per-plane loops touch only valid elements. Planes (N * C) run in parallel.
// float32 pools over 1-2 spatial axes run separably (separable_pool).
// float32/float64 (and int8/uint8 for MaxPool) run natively; float16/bfloat16 widen to float32.
#include <algorithm>
#include <array>
#include <limits>
#include <memory>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "ir/ops/pooling_attributes.h"

namespace vitrt {

namespace {

enum class PoolKind { kMax, kAverage };

// The input positions that the windows of one axis read, per output index (CSR layout), and
// for count_include_pad the number of window taps inside the padded input.
struct AxisTaps {
  std::vector<int64_t> first;  // out + 1 entries into pos
  std::vector<int64_t> pos;
  std::vector<int64_t> padded_count;  // per output index
  int64_t kernel = 1, stride = 1, dilation = 1, pad = 0;
};

AxisTaps axis_taps(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t dilation,
                   int64_t pad, int64_t pad_end) {
  AxisTaps t;
  t.kernel = kernel;
  t.stride = stride;
  t.dilation = dilation;
  t.pad = pad;
  t.first.reserve(out + 1);
  t.padded_count.reserve(out);
  for (int64_t o = 0; o < out; ++o) {
    t.first.push_back(static_cast<int64_t>(t.pos.size()));
    int64_t padded = 0;
    for (int64_t k = 0; k < kernel; ++k) {
      const int64_t i = o * stride - pad + k * dilation;
      if (i >= -pad && i < in + pad_end) ++padded;
      if (i >= 0 && i < in) t.pos.push_back(i);
    }
    t.padded_count.push_back(padded);
  }
  t.first.push_back(static_cast<int64_t>(t.pos.size()));
  return t;
}

struct PoolGeometry {
  int spatial_rank = 0;
  int64_t planes = 0;  // N * C
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1};
  std::array<AxisTaps, 3> taps;
  std::vector<int64_t> out_shape;

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
};

Result<PoolGeometry> pool_geometry(const Node& node, const PoolAttributes* attrs, const Tensor& x) {
  const int spatial = x.rank() - 2;
  if (attrs != nullptr && spatial != static_cast<int>(attrs->geometry.strides.size())) {
    return invalid_argument("X ", shape_to_string(x.shape()), " must have rank ",
                            attrs->geometry.strides.size() + 2);
  }
  if (spatial < 0 || (attrs != nullptr && spatial < 1)) {
    return invalid_argument("X ", shape_to_string(x.shape()), " has too few dims");
  }
  PoolGeometry g;
  g.spatial_rank = spatial;
  g.planes = x.dim(0) * x.dim(1);
  g.out_shape = {x.dim(0), x.dim(1)};
  // Global pools flatten all spatial axes into the last one.
  if (attrs == nullptr) {
    int64_t size = 1;
    for (int i = 0; i < spatial; ++i) size *= x.dim(2 + i);
    g.in[2] = size;
    for (int i = 0; i < spatial; ++i) g.out_shape.push_back(1);
    g.taps[2] = axis_taps(size, 1, size, 1, 1, 0, 0);
    g.taps[0] = g.taps[1] = axis_taps(1, 1, 1, 1, 1, 0, 0);
    return g;
  }
  if (spatial > 3) return unsupported("pooling with ", spatial, " spatial axes (at most 3)");
  for (int j = 0; j < 3 - spatial; ++j) g.taps[j] = axis_taps(1, 1, 1, 1, 1, 0, 0);
  for (int i = 0; i < spatial; ++i) {
    const int j = 3 - spatial + i;
    g.in[j] = x.dim(2 + i);
    auto axis = attrs->axis(node, i, g.in[j]);
    if (!axis.ok()) return invalid_argument(axis.status().message());
    g.out[j] = axis->out;
    g.out_shape.push_back(axis->out);
    g.taps[j] =
        axis_taps(g.in[j], axis->out, attrs->geometry.kernel_shape[i], attrs->geometry.strides[i],
                  attrs->geometry.dilations[i], axis->pad_begin, axis->pad_end);
  }
  return g;
}

template <typename T>
void max_pool(const PoolGeometry& g, const T* x, T* y) {
  const AxisTaps &td = g.taps[0], &th = g.taps[1], &tw = g.taps[2];
  T lowest = std::numeric_limits<T>::lowest();
  if constexpr (std::numeric_limits<T>::has_infinity) lowest = -std::numeric_limits<T>::infinity();
  parallel_for(g.planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* xp = x + p * g.in_size();
      T* yp = y + p * g.out_size();
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            T m = lowest;
            for (int64_t a = td.first[od]; a < td.first[od + 1]; ++a) {
              for (int64_t b = th.first[oh]; b < th.first[oh + 1]; ++b) {
                const T* row = xp + (td.pos[a] * g.in[1] + th.pos[b]) * g.in[2];
                for (int64_t c = tw.first[ow]; c < tw.first[ow + 1]; ++c) {
                  const T v = row[tw.pos[c]];
                  if (v > m) m = v;
                }
              }
            }
            *yp++ = m;
          }
        }
      }
    }
  });
}

// float32 pools over one or two spatial axes, separably: each input row's window reductions
// along W first (rows[h][ow]), then each output row reduces its window's rows element by element
// along W (loops the compiler vectorises), instead of kh * kw scattered reads per output.
// PoolFormer's 3x3 stride-1 AveragePools took 7.4 of its 40 ms the generic way. Sums are in
// float (the generic path sums in double): windows of up to kMaxSeparableTaps taps.
constexpr int64_t kMaxSeparableTaps = 256;

bool separable_applies(const PoolGeometry& g) {
  return g.in[0] == 1 && g.out[0] == 1 && g.taps[1].kernel * g.taps[2].kernel <= kMaxSeparableTaps;
}

// Max keeps `v > m ? v : m` (NaN never wins, as max_pool's loop); an empty window gives -inf.
template <PoolKind kKind>
void separable_pool(const PoolGeometry& g, bool count_include_pad, const float* x, float* y) {
  constexpr bool kMax = kKind == PoolKind::kMax;
  const float init = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  auto fold = [](float m, float v) { return kMax ? (v > m ? v : m) : m + v; };
  const AxisTaps &th = g.taps[1], &tw = g.taps[2];
  const int64_t in_h = g.in[1], in_w = g.in[2], out_h = g.out[1], out_w = g.out[2];
  // The output columns whose windows lie inside the row (no padding taps): a contiguous range.
  int64_t full_lo = out_w, full_hi = out_w;
  for (int64_t ow = 0; ow < out_w; ++ow) {
    const int64_t start = ow * tw.stride - tw.pad;
    if (start >= 0 && start + (tw.kernel - 1) * tw.dilation < in_w) {
      if (full_lo == out_w) full_lo = ow;
      full_hi = ow + 1;
    }
  }
  // Divisors per output column and row (average).
  std::vector<float> count_w(static_cast<size_t>(out_w)), count_h(static_cast<size_t>(out_h));
  for (int64_t ow = 0; ow < out_w; ++ow) {
    count_w[ow] = static_cast<float>(count_include_pad ? tw.padded_count[ow]
                                                       : tw.first[ow + 1] - tw.first[ow]);
  }
  for (int64_t oh = 0; oh < out_h; ++oh) {
    count_h[oh] = static_cast<float>(count_include_pad ? th.padded_count[oh]
                                                       : th.first[oh + 1] - th.first[oh]);
  }
  parallel_for(g.planes, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> rows(static_cast<size_t>(in_h * out_w));
    for (int64_t p = begin; p < end; ++p) {
      const float* xp = x + p * g.in_size();
      for (int64_t h = 0; h < in_h; ++h) {
        const float* xr = xp + h * in_w;
        float* r = rows.data() + h * out_w;
        // Windows that reach into the padding: their listed taps.
        const auto edge = [&](int64_t from, int64_t to) {
          for (int64_t ow = from; ow < to; ++ow) {
            float m = init;
            for (int64_t c = tw.first[ow]; c < tw.first[ow + 1]; ++c) m = fold(m, xr[tw.pos[c]]);
            r[ow] = m;
          }
        };
        edge(0, full_lo);
        // Inside the row: tap by tap over the whole range.
        for (int64_t o = full_lo; o < full_hi; ++o) r[o] = init;
        for (int64_t k = 0; k < tw.kernel && full_lo < full_hi; ++k) {
          const float* xs = xr + k * tw.dilation - tw.pad;
          if (tw.stride == 1) {
            for (int64_t o = full_lo; o < full_hi; ++o) r[o] = fold(r[o], xs[o]);
          } else {
            for (int64_t o = full_lo; o < full_hi; ++o) r[o] = fold(r[o], xs[o * tw.stride]);
          }
        }
        edge(full_hi, out_w);
      }
      float* yp = y + p * g.out_size();
      for (int64_t oh = 0; oh < out_h; ++oh) {
        float* yr = yp + oh * out_w;
        for (int64_t o = 0; o < out_w; ++o) yr[o] = init;
        for (int64_t b = th.first[oh]; b < th.first[oh + 1]; ++b) {
          const float* r = rows.data() + th.pos[b] * out_w;
          for (int64_t o = 0; o < out_w; ++o) yr[o] = fold(yr[o], r[o]);
        }
        if constexpr (!kMax) {
          const float ch = count_h[oh];
          for (int64_t o = 0; o < out_w; ++o) {
            const float count = ch * count_w[o];
            yr[o] = count > 0.0f ? yr[o] / count : 0.0f;
          }
        }
      }
    }
  });
}

template <typename T>
void average_pool(const PoolGeometry& g, bool count_include_pad, const T* x, T* y) {
  const AxisTaps &td = g.taps[0], &th = g.taps[1], &tw = g.taps[2];
  parallel_for(g.planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* xp = x + p * g.in_size();
      T* yp = y + p * g.out_size();
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            double sum = 0.0;
            for (int64_t a = td.first[od]; a < td.first[od + 1]; ++a) {
              for (int64_t b = th.first[oh]; b < th.first[oh + 1]; ++b) {
                const T* row = xp + (td.pos[a] * g.in[1] + th.pos[b]) * g.in[2];
                for (int64_t c = tw.first[ow]; c < tw.first[ow + 1]; ++c) sum += row[tw.pos[c]];
              }
            }
            const int64_t count =
                count_include_pad
                    ? td.padded_count[od] * th.padded_count[oh] * tw.padded_count[ow]
                    : (td.first[od + 1] - td.first[od]) * (th.first[oh + 1] - th.first[oh]) *
                          (tw.first[ow + 1] - tw.first[ow]);
            *yp++ = count > 0 ? static_cast<T>(sum / static_cast<double>(count)) : T(0);
          }
        }
      }
    }
  });
}

Tensor widen_half(const Tensor& t) {
  Tensor r = Tensor::empty(DType::kFloat32, t.shape());
  const uint16_t* src = t.data<uint16_t>();
  float* dst = r.data<float>();
  const bool bf16 = t.dtype() == DType::kBFloat16;
  for (int64_t i = 0; i < t.numel(); ++i)
    dst[i] = bf16 ? bf16_to_float(src[i]) : half_to_float(src[i]);
  return r;
}

Tensor narrow_half(const Tensor& t, DType dtype) {
  Tensor r = Tensor::empty(dtype, t.shape());
  const float* src = t.data<float>();
  uint16_t* dst = r.data<uint16_t>();
  const bool bf16 = dtype == DType::kBFloat16;
  for (int64_t i = 0; i < t.numel(); ++i)
    dst[i] = bf16 ? float_to_bf16(src[i]) : float_to_half(src[i]);
  return r;
}

class PoolKernel final : public CpuKernel {
 public:
  // `attrs` empty: a global pool.
  PoolKernel(const Node& node, PoolKind kind, std::unique_ptr<PoolAttributes> attrs)
      : node_(node), kind_(kind), attrs_(std::move(attrs)) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const DType dtype = x.dtype();
    const bool half = dtype == DType::kFloat16 || dtype == DType::kBFloat16;
    const bool int8 = dtype == DType::kInt8 || dtype == DType::kUInt8;
    if (!(dtype == DType::kFloat32 || dtype == DType::kFloat64 || half ||
          (int8 && kind_ == PoolKind::kMax && attrs_ != nullptr))) {
      return unsupported(node_.op_type, " on ", dtype_name(dtype));
    }
    VITRT_ASSIGN_OR_RETURN(const PoolGeometry g, pool_geometry(node_, attrs_.get(), x));
    const Tensor wide = half ? widen_half(x) : Tensor();
    const Tensor& in = half ? wide : x;
    Tensor y = Tensor::empty(in.dtype(), g.out_shape);
    if (y.numel() > 0) {
      const bool include_pad = attrs_ != nullptr && attrs_->count_include_pad;
      switch (in.dtype()) {
        case DType::kFloat32:
          if (attrs_ != nullptr && separable_applies(g)) {
            if (kind_ == PoolKind::kMax) {
              separable_pool<PoolKind::kMax>(g, include_pad, in.data<float>(), y.data<float>());
            } else {
              separable_pool<PoolKind::kAverage>(g, include_pad, in.data<float>(), y.data<float>());
            }
          } else if (kind_ == PoolKind::kMax) {
            max_pool(g, in.data<float>(), y.data<float>());
          } else {
            average_pool(g, include_pad, in.data<float>(), y.data<float>());
          }
          break;
        case DType::kFloat64:
          if (kind_ == PoolKind::kMax) {
            max_pool(g, in.data<double>(), y.data<double>());
          } else {
            average_pool(g, include_pad, in.data<double>(), y.data<double>());
          }
          break;
        case DType::kInt8:
          max_pool(g, in.data<int8_t>(), y.data<int8_t>());
          break;
        case DType::kUInt8:
          max_pool(g, in.data<uint8_t>(), y.data<uint8_t>());
          break;
        default:
          return unsupported(node_.op_type, " on ", dtype_name(dtype));
      }
    }
    outputs[0] = half ? narrow_half(y, dtype) : std::move(y);
    return Status();
  }

 private:
  const Node& node_;
  PoolKind kind_;
  std::unique_ptr<PoolAttributes> attrs_;
};

// The spatial rank from the graph (the kernel needs it to read per-axis attributes).
Result<int> spatial_rank(const KernelInit& init) {
  const Value& x = init.graph.values[init.node.inputs[0]];
  if (x.has_shape) return static_cast<int>(x.shape.size()) - 2;
  if (init.node.attrs.has("kernel_shape")) {
    auto k = init.node.attrs.get_ints("kernel_shape", {});
    if (!k.ok()) return k.status().with_context(init.node.describe());
    return static_cast<int>(k->size());
  }
  return unsupported(init.node.describe(), ": the rank of X is unknown at load time");
}

template <PoolKind kKind>
Result<std::unique_ptr<CpuKernel>> make_pool(const KernelInit& init) {
  if (init.node.outputs.size() > 1 && init.node.outputs[1] != kNoValue) {
    return unsupported("the Indices output of MaxPool");
  }
  VITRT_ASSIGN_OR_RETURN(const int spatial, spatial_rank(init));
  if (spatial < 1 || spatial > 3) {
    return unsupported(init.node.describe(), ": ", spatial, " spatial axes (1 to 3 are supported)");
  }
  VITRT_ASSIGN_OR_RETURN(PoolAttributes attrs, PoolAttributes::parse(init.node, spatial));
  return std::unique_ptr<CpuKernel>(std::make_unique<PoolKernel>(
      init.node, kKind, std::make_unique<PoolAttributes>(std::move(attrs))));
}

template <PoolKind kKind>
Result<std::unique_ptr<CpuKernel>> make_global_pool(const KernelInit& init) {
  return std::unique_ptr<CpuKernel>(std::make_unique<PoolKernel>(init.node, kKind, nullptr));
}

}  // namespace

void register_cpu_pooling_kernels(CpuKernelRegistry& registry) {
  registry.add("", "MaxPool", make_pool<PoolKind::kMax>);
  registry.add("", "AveragePool", make_pool<PoolKind::kAverage>);
  registry.add("", "GlobalMaxPool", make_global_pool<PoolKind::kMax>);
  registry.add("", "GlobalAveragePool", make_global_pool<PoolKind::kAverage>);
}

}  // namespace vitrt
