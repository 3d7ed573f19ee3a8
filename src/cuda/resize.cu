// Resize: one thread per output element computes the taps of its (up to two) resized axes and
// sums their tensor product. Taps follow src/cpu/resize.cc (the reference) formula by formula,
// in float64 as there, so the CPU and CUDA kernels pick the same source positions.
#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

// The int values of resize::Mode, resize::Coord and resize::NearestMode (src/cpu/resize.h);
// ops_resize.cc checks that they agree.
constexpr int kNearest = 0, kCubic = 2;
constexpr int kHalfPixel = 0, kHalfPixelSymmetric = 1, kPytorchHalfPixel = 2, kAlignCorners = 3,
              kAsymmetric = 4, kTfCropAndResize = 5, kTfHalfPixelForNn = 6;
constexpr int kRoundPreferFloor = 0, kRoundPreferCeil = 1, kFloor = 2, kCeil = 3, kSimple = 4;

__device__ double source_coordinate(const ResizeArgs& p, const ResizeAxisArgs& a, int64_t o) {
  const double x = static_cast<double>(o);
  const double in = static_cast<double>(a.in_len);
  switch (p.coord) {
    case kHalfPixel:
      return (x + 0.5) / a.scale - 0.5;
    case kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(a.out_len) / a.output_width;
      const double offset = in / 2 * (1 - adjustment);
      return offset + (x + 0.5) / a.scale - 0.5;
    }
    case kPytorchHalfPixel:
      return a.out_len == 1 ? -0.5 : (x + 0.5) / a.scale - 0.5;
    case kAlignCorners:
      return a.output_width == 1 ? 0.0 : x * (in - 1) / (a.output_width - 1);
    case kAsymmetric:
      return x / a.scale;
    case kTfCropAndResize: {
      const double span = (a.roi_end - a.roi_start) * (in - 1);
      const double start = a.roi_start * (in - 1);
      return a.output_width == 1 ? start + span / 2 : start + x * span / (a.output_width - 1);
    }
    case kTfHalfPixelForNn:
      return (x + 0.5) / a.scale;
  }
  return x;
}

__device__ int64_t nearest_index(int nearest, double x, double scale) {
  const double f = floor(x);
  if (x == f) return static_cast<int64_t>(f);
  const double ratio = x - f;
  switch (nearest) {
    case kRoundPreferFloor:
      return static_cast<int64_t>(ratio <= 0.5 ? f : f + 1);
    case kRoundPreferCeil:
      return static_cast<int64_t>(ratio < 0.5 ? f : f + 1);
    case kFloor:
      return static_cast<int64_t>(f);
    case kCeil:
      return static_cast<int64_t>(f + 1);
    case kSimple:
      return static_cast<int64_t>(scale < 1 ? f + 1 : f);
  }
  return static_cast<int64_t>(f);
}

__device__ double cubic_weight(double t, double a) {
  t = fabs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0.0;
}

// The filter of output position o along one axis: k taps from `first` (clamped on use), the
// raw weight of tap j from weight(j), and norm to divide them by (1 when not normalised).
struct Taps {
  int k = 1;
  int64_t first = 0;
  double x = 0.0, s = 1.0, norm = 1.0;
  bool extrapolate = false;
};

__device__ double raw_weight(const ResizeArgs& p, const ResizeAxisArgs& a, const Taps& t, int j) {
  const int64_t pos = t.first + j;
  if (p.exclude_outside && (pos < 0 || pos > a.in_len - 1)) return 0.0;
  const double d = (static_cast<double>(pos) - t.x) * t.s;
  return p.mode == kCubic ? cubic_weight(d, p.cubic_a) : fmax(0.0, 1.0 - fabs(d));
}

__device__ Taps make_taps(const ResizeArgs& p, const ResizeAxisArgs& a, int64_t o) {
  Taps t;
  if (!a.resize) {
    t.first = o;
    return t;
  }
  t.x = source_coordinate(p, a, o);
  const int64_t last = a.in_len - 1;
  if (p.coord == kTfCropAndResize && (t.x < 0 || t.x > static_cast<double>(last))) {
    t.extrapolate = true;
    return t;
  }
  if (p.mode == kNearest) {
    t.first = nearest_index(p.nearest, t.x, a.scale);
    return t;
  }
  // Antialiasing stretches the filter by 1 / scale when downsampling.
  t.s = p.antialias ? fmin(a.scale, 1.0) : 1.0;
  const double support = (p.mode == kCubic ? 2.0 : 1.0) / t.s;
  t.k = p.antialias ? static_cast<int>(ceil(2 * support)) + 1 : (p.mode == kCubic ? 4 : 2);
  t.first = p.antialias ? static_cast<int64_t>(floor(t.x - support)) + 1
                        : static_cast<int64_t>(floor(t.x)) - (p.mode == kCubic ? 1 : 0);
  if (p.antialias || p.exclude_outside) {
    double sum = 0.0;
    for (int j = 0; j < t.k; ++j) sum += raw_weight(p, a, t, j);
    if (sum != 0.0) t.norm = sum;
  }
  return t;
}

__device__ __forceinline__ double tap_weight(const ResizeArgs& p, const ResizeAxisArgs& a,
                                             const Taps& t, int j) {
  if (!a.resize || p.mode == kNearest) return 1.0;
  return raw_weight(p, a, t, j) / t.norm;
}

__device__ __forceinline__ int64_t tap_index(const ResizeAxisArgs& a, const Taps& t, int j) {
  const int64_t pos = t.first + j;
  return pos < 0 ? 0 : (pos > a.in_len - 1 ? a.in_len - 1 : pos);
}

template <typename T>
__global__ void resize_kernel(ResizeArgs p, const T* x, T* y, int64_t n) {
  const ResizeAxisArgs& a0 = p.axis[0];
  const ResizeAxisArgs& a1 = p.axis[1];
  VITRT_GRID_STRIDE(i, n) {
    int64_t r = i;
    const int64_t in_ = r % p.inner;
    r /= p.inner;
    const int64_t o1 = r % a1.out_len;
    r /= a1.out_len;
    const int64_t m = r % p.mid;
    r /= p.mid;
    const int64_t o0 = r % a0.out_len;
    const int64_t outer = r / a0.out_len;
    const Taps t0 = make_taps(p, a0, o0);
    const Taps t1 = make_taps(p, a1, o1);
    if (t0.extrapolate || t1.extrapolate) {
      y[i] = from_f<T>(p.extrapolation);
      continue;
    }
    const T* base =
        x + outer * a0.in_len * p.mid * a1.in_len * p.inner + m * a1.in_len * p.inner + in_;
    float acc = 0.0f;
    for (int j0 = 0; j0 < t0.k; ++j0) {
      const double w0 = tap_weight(p, a0, t0, j0);
      if (w0 == 0.0) continue;
      const T* row = base + tap_index(a0, t0, j0) * p.mid * a1.in_len * p.inner;
      for (int j1 = 0; j1 < t1.k; ++j1) {
        const float w = static_cast<float>(w0 * tap_weight(p, a1, t1, j1));
        acc += w * to_f(row[tap_index(a1, t1, j1) * p.inner]);
      }
    }
    y[i] = from_f<T>(acc);
  }
}

}  // namespace

cudaError_t launch_resize(Elt type, const ResizeArgs& args, const void* in, void* out,
                          cudaStream_t stream) {
  const int64_t n =
      args.outer * args.axis[0].out_len * args.mid * args.axis[1].out_len * args.inner;
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    resize_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(args, static_cast<const T*>(in),
                                                           static_cast<T*>(out), n);
    return cudaGetLastError();
  });
}

}  // namespace vitrt::cuda
