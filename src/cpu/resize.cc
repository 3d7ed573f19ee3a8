// CPU kernels of Resize (opset 10-19+) and Upsample (opset 7-9).
//
// Resize is separable: every mode (nearest, linear, cubic, with or without antialias and
// exclude_outside) is a tensor product of 1-D filters, so the kernel resizes one axis at a time
// (as the ONNX reference does), skipping axes whose mapping is the identity. For each axis the
// source coordinate, taps and weights of every output position are computed once (in float64,
// following the ONNX formulas), then applied as weighted sums of input rows: along the last axis
// a gather per output element, along an earlier axis a weighted sum of whole contiguous rows,
// which vectorises. The ViT position-embedding interpolation ([1, C, 14, 14] -> [1, C, 16, 16],
// bicubic, half_pixel) is two such passes.
//
// float32 and float64 compute natively, float16/bfloat16 in float32, integer types in float64
// with the result rounded half to even and saturated (as the reference's saturate_cast does).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "cpu/float_widen.h"
#include "cpu/resize.h"

namespace vitrt {

namespace {

using resize::AxisPlan;
using resize::Coord;
using resize::Mode;
using resize::NearestMode;
using resize::ResizeParams;

// The 1-D filter of one axis: `k` taps per output position.
struct AxisTaps {
  int k = 1;
  std::vector<int64_t> index;        // [out_len * k], clamped into [0, in_len)
  std::vector<double> weight;        // [out_len * k]
  std::vector<uint8_t> extrapolate;  // [out_len]: output is extrapolation_value
};

double source_coordinate(const ResizeParams& p, const AxisPlan& a, int64_t o) {
  const double x = static_cast<double>(o);
  const double in = static_cast<double>(a.in_len);
  switch (p.coord) {
    case Coord::kHalfPixel:
      return (x + 0.5) / a.scale - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(a.out_len) / a.output_width;
      const double offset = in / 2 * (1 - adjustment);
      return offset + (x + 0.5) / a.scale - 0.5;
    }
    case Coord::kPytorchHalfPixel:
      return a.out_len == 1 ? -0.5 : (x + 0.5) / a.scale - 0.5;
    case Coord::kAlignCorners:
      return a.output_width == 1 ? 0.0 : x * (in - 1) / (a.output_width - 1);
    case Coord::kAsymmetric:
      return x / a.scale;
    case Coord::kTfCropAndResize: {
      const double span = (a.roi_end - a.roi_start) * (in - 1);
      const double start = a.roi_start * (in - 1);
      return a.output_width == 1 ? start + span / 2 : start + x * span / (a.output_width - 1);
    }
    case Coord::kTfHalfPixelForNn:
      return (x + 0.5) / a.scale;
  }
  return x;
}

int64_t nearest_index(const ResizeParams& p, double x, double scale) {
  const double f = std::floor(x);
  if (x == f) return static_cast<int64_t>(f);
  const double ratio = x - f;
  switch (p.nearest) {
    case NearestMode::kRoundPreferFloor:
      return static_cast<int64_t>(ratio <= 0.5 ? f : f + 1);
    case NearestMode::kRoundPreferCeil:
      return static_cast<int64_t>(ratio < 0.5 ? f : f + 1);
    case NearestMode::kFloor:
      return static_cast<int64_t>(f);
    case NearestMode::kCeil:
      return static_cast<int64_t>(f + 1);
    case NearestMode::kSimple:
      return static_cast<int64_t>(scale < 1 ? f + 1 : f);
  }
  return static_cast<int64_t>(f);
}

double cubic_weight(double t, double a) {
  t = std::fabs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0.0;
}

AxisTaps make_taps(const ResizeParams& p, const AxisPlan& a) {
  AxisTaps taps;
  // Antialiasing stretches the filter by 1 / scale when downsampling.
  const double s = p.antialias ? std::min(a.scale, 1.0) : 1.0;
  const double support = (p.mode == Mode::kCubic ? 2.0 : 1.0) / s;
  if (p.mode == Mode::kNearest) {
    taps.k = 1;
  } else if (p.antialias) {
    taps.k = static_cast<int>(std::ceil(2 * support)) + 1;
  } else {
    taps.k = p.mode == Mode::kCubic ? 4 : 2;
  }
  const int k = taps.k;
  taps.index.assign(a.out_len * k, 0);
  taps.weight.assign(a.out_len * k, 0.0);
  taps.extrapolate.assign(a.out_len, 0);
  const int64_t last = a.in_len - 1;
  for (int64_t o = 0; o < a.out_len; ++o) {
    const double x = source_coordinate(p, a, o);
    int64_t* idx = &taps.index[o * k];
    double* w = &taps.weight[o * k];
    if (p.coord == Coord::kTfCropAndResize && (x < 0 || x > static_cast<double>(last))) {
      taps.extrapolate[o] = 1;
      continue;
    }
    if (p.mode == Mode::kNearest) {
      idx[0] = std::clamp<int64_t>(nearest_index(p, x, a.scale), 0, last);
      w[0] = 1.0;
      continue;
    }
    // First tap: the lowest integer position inside the filter's support around x.
    const int64_t first =
        p.antialias ? static_cast<int64_t>(std::floor(x - support)) + 1
                    : static_cast<int64_t>(std::floor(x)) - (p.mode == Mode::kCubic ? 1 : 0);
    double sum = 0.0;
    for (int j = 0; j < k; ++j) {
      const int64_t pos = first + j;
      const double t = (static_cast<double>(pos) - x) * s;
      double wj =
          p.mode == Mode::kCubic ? cubic_weight(t, p.cubic_a) : std::max(0.0, 1.0 - std::fabs(t));
      if (p.exclude_outside && (pos < 0 || pos > last)) wj = 0.0;
      idx[j] = std::clamp<int64_t>(pos, 0, last);
      w[j] = wj;
      sum += wj;
    }
    if ((p.antialias || p.exclude_outside) && sum != 0.0) {
      for (int j = 0; j < k; ++j) w[j] /= sum;
    }
  }
  return taps;
}

int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(work_per_item, 1));
}

// Resizes the middle axis of x viewed as [outer, in_len, inner] into [outer, out_len, inner].
template <typename T>
void resize_axis_kernel(const T* x, T* y, int64_t outer, int64_t in_len, int64_t out_len,
                        int64_t inner, const AxisTaps& taps, T extrapolation) {
  const int k = taps.k;
  std::vector<T> w(taps.weight.begin(), taps.weight.end());
  const int64_t* idx = taps.index.data();
  if (inner == 1) {
    parallel_for(outer, grain_for(out_len * k), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = x + r * in_len;
        T* yr = y + r * out_len;
        for (int64_t o = 0; o < out_len; ++o) {
          if (taps.extrapolate[o]) {
            yr[o] = extrapolation;
            continue;
          }
          T acc = 0;
          for (int j = 0; j < k; ++j) acc += w[o * k + j] * xr[idx[o * k + j]];
          yr[o] = acc;
        }
      }
    });
    return;
  }
  parallel_for(outer * out_len, grain_for(inner * k), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / out_len;
      const int64_t o = t % out_len;
      T* yo = y + t * inner;
      if (taps.extrapolate[o]) {
        std::fill(yo, yo + inner, extrapolation);
        continue;
      }
      const T* xr = x + r * in_len * inner;
      const T* src = xr + idx[o * k] * inner;
      const T w0 = w[o * k];
      for (int64_t j = 0; j < inner; ++j) yo[j] = w0 * src[j];
      for (int m = 1; m < k; ++m) {
        const T wm = w[o * k + m];
        if (wm == T(0)) continue;
        const T* s = xr + idx[o * k + m] * inner;
        for (int64_t j = 0; j < inner; ++j) yo[j] += wm * s[j];
      }
    }
  });
}

// Integer tensors are resized in float64; these convert there and back.
Tensor int_to_double(const Tensor& t) {
  Tensor out = Tensor::empty(DType::kFloat64, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) out.data<double>()[i] = t.element_as_double(i);
  return out;
}

template <typename I>
void store_saturated(const double* src, I* dst, int64_t n) {
  const double lo = static_cast<double>(std::numeric_limits<I>::lowest());
  const double hi = static_cast<double>(std::numeric_limits<I>::max());
  for (int64_t i = 0; i < n; ++i) {
    const double v = std::nearbyint(src[i]);  // half to even, as np.round
    dst[i] = v <= lo ? std::numeric_limits<I>::lowest()
                     : (v >= hi ? std::numeric_limits<I>::max() : static_cast<I>(v));
  }
}

Result<Tensor> double_to_int(const Tensor& t, DType dtype) {
  Tensor out = Tensor::empty(dtype, t.shape());
  const double* s = t.data<double>();
  const int64_t n = t.numel();
  switch (dtype) {
    case DType::kUInt8:
      store_saturated(s, out.data<uint8_t>(), n);
      break;
    case DType::kInt8:
      store_saturated(s, out.data<int8_t>(), n);
      break;
    case DType::kUInt16:
      store_saturated(s, out.data<uint16_t>(), n);
      break;
    case DType::kInt16:
      store_saturated(s, out.data<int16_t>(), n);
      break;
    case DType::kInt32:
      store_saturated(s, out.data<int32_t>(), n);
      break;
    case DType::kInt64:
      store_saturated(s, out.data<int64_t>(), n);
      break;
    case DType::kUInt32:
      store_saturated(s, out.data<uint32_t>(), n);
      break;
    case DType::kUInt64:
      store_saturated(s, out.data<uint64_t>(), n);
      break;
    default:
      return unsupported("input dtype ", dtype_name(dtype), " is not supported");
  }
  return out;
}

class ResizeKernel final : public CpuKernel {
 public:
  explicit ResizeKernel(ResizeParams params) : p_(std::move(params)) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x0 = *inputs[0];
    VITRT_ASSIGN_OR_RETURN(std::vector<AxisPlan> plan,
                           resize::make_resize_plan(p_, x0.shape(), inputs));
    std::vector<int64_t> out_shape(x0.rank());
    for (int i = 0; i < x0.rank(); ++i) out_shape[i] = plan[i].out_len;
    const DType dtype = x0.dtype();
    Tensor cur;
    if (dtype == DType::kFloat32 || dtype == DType::kFloat64) {
      cur = x0;
    } else if (dtype_is_half(dtype)) {
      cur = widen_to_float32(x0);
    } else if (dtype_is_integer(dtype)) {
      cur = int_to_double(x0);
    } else {
      return unsupported("input dtype ", dtype_name(dtype), " is not supported");
    }
    for (int axis = 0; axis < x0.rank(); ++axis) {
      const AxisPlan& a = plan[axis];
      if (resize::axis_is_identity(p_, a)) continue;
      cur = resize_axis(cur, axis, a);
    }
    if (cur.raw_data() == x0.raw_data()) cur = cur.clone();  // every axis was the identity
    if (dtype_is_half(dtype)) {
      outputs[0] = narrow_from_float32(cur, dtype);
    } else if (dtype_is_integer(dtype)) {
      VITRT_ASSIGN_OR_RETURN(outputs[0], double_to_int(cur, dtype));
    } else {
      outputs[0] = std::move(cur);
    }
    return Status();
  }

 private:
  Tensor resize_axis(const Tensor& x, int axis, const AxisPlan& a) const {
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x.dim(i);
    for (int i = axis + 1; i < x.rank(); ++i) inner *= x.dim(i);
    std::vector<int64_t> shape = x.shape();
    shape[axis] = a.out_len;
    Tensor y = Tensor::empty(x.dtype(), shape);
    const AxisTaps taps = make_taps(p_, a);
    if (x.dtype() == DType::kFloat32) {
      resize_axis_kernel<float>(x.data<float>(), y.data<float>(), outer, a.in_len, a.out_len, inner,
                                taps, static_cast<float>(p_.extrapolation));
    } else {
      resize_axis_kernel<double>(x.data<double>(), y.data<double>(), outer, a.in_len, a.out_len,
                                 inner, taps, p_.extrapolation);
    }
    return y;
  }

  ResizeParams p_;
};

Result<std::unique_ptr<CpuKernel>> make_resize_kernel(const KernelInit& init, bool upsample) {
  VITRT_ASSIGN_OR_RETURN(ResizeParams p,
                         resize::parse_resize_params(init.node, init.opset, upsample));
  return std::unique_ptr<CpuKernel>(std::make_unique<ResizeKernel>(std::move(p)));
}

Result<std::unique_ptr<CpuKernel>> make_resize(const KernelInit& init) {
  return make_resize_kernel(init, false);
}

Result<std::unique_ptr<CpuKernel>> make_upsample(const KernelInit& init) {
  return make_resize_kernel(init, true);
}

}  // namespace

void register_cpu_resize_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Resize", make_resize);
  registry.add("", "Upsample", make_upsample);
}

}  // namespace vitrt
