// vitrt.ChannelsLastPool's device code (launch_channels_last_pool, launch.h): MaxPool /
// AveragePool of an NHWC tensor, one thread per output pixel and vector of channels.
//
// Neighbouring threads take neighbouring channel vectors of one pixel, then the next pixels of
// the row, so each window tap is read as whole 16-byte vectors of contiguous channels (C = 64
// fp16: 8 threads per pixel, a warp reads 4 pixels' 128-byte channel runs). Max and sum are
// kept in fp32 (a half value converts exactly, so the maximum is the input's own value); the
// index math runs in 32 bits where every index fits.
#include <cstdint>

#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

// kVec channels moved as one load: 16 bytes when kVec * sizeof(T) is 16.
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) ChannelPack {
  T v[kVec];
};

// Taps of output index o along one axis inside the padded input [-pad, in + pad_end).
template <typename I>
__device__ __forceinline__ I padded_taps(I o, I in, I kernel, I stride, I dilation, I pad,
                                         I pad_end) {
  I count = 0;
  for (I k = 0; k < kernel; ++k) {
    const I p = o * stride - pad + k * dilation;
    count += p >= -pad && p < in + pad_end;
  }
  return count;
}

// n = b * oh * ow * (c / kVec) threads' worth of work. I: a signed index type that holds every
// element index of x and y.
template <typename T, int kVec, bool kAverage, typename I>
__global__ void channels_last_pool_kernel(ChannelsLastPoolArgs a, const T* __restrict__ x,
                                          T* __restrict__ y, int64_t n) {
  using Pack = ChannelPack<T, kVec>;
  const I vectors = static_cast<I>(a.c / kVec);  // channel vectors per pixel
  const I h = static_cast<I>(a.h), w = static_cast<I>(a.w);
  const I oh = static_cast<I>(a.oh), ow = static_cast<I>(a.ow);
  const I kh = static_cast<I>(a.kh), kw = static_cast<I>(a.kw);
  const I sh = static_cast<I>(a.sh), sw = static_cast<I>(a.sw);
  const I dh = static_cast<I>(a.dh), dw = static_cast<I>(a.dw);
  const Pack* xv = reinterpret_cast<const Pack*>(x);
  Pack* yv = reinterpret_cast<Pack*>(y);
  VITRT_GRID_STRIDE(i, n) {
    const I idx = static_cast<I>(i);
    I p = idx / vectors;
    const I v = idx - p * vectors;
    const I ox = p % ow;
    p /= ow;
    const I oy = p % oh;
    const I b = p / oh;
    float acc[kVec];
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc[e] = kAverage ? 0.0f : -INFINITY;
    [[maybe_unused]] I taps = 0;  // taps inside the image (average only)
    const I y0 = oy * sh - static_cast<I>(a.ph), x0 = ox * sw - static_cast<I>(a.pw);
    for (I ki = 0; ki < kh; ++ki) {
      const I iy = y0 + ki * dh;
      if (iy < 0 || iy >= h) continue;
      const Pack* row = xv + (b * h + iy) * w * vectors + v;
      for (I kj = 0; kj < kw; ++kj) {
        const I ix = x0 + kj * dw;
        if (ix < 0 || ix >= w) continue;
        const Pack in = row[ix * vectors];
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          const float f = to_f(in.v[e]);
          if constexpr (kAverage) {
            acc[e] += f;
          } else if (f > acc[e]) {  // as the CPU kernel: a NaN never replaces the maximum
            acc[e] = f;
          }
        }
        ++taps;
      }
    }
    if constexpr (kAverage) {
      if (a.count_include_pad) {
        taps = padded_taps<I>(oy, h, kh, sh, dh, static_cast<I>(a.ph), static_cast<I>(a.ph_end)) *
               padded_taps<I>(ox, w, kw, sw, dw, static_cast<I>(a.pw), static_cast<I>(a.pw_end));
      }
      // A true division, as launch_max_pool; an empty window (all padding) gives 0, as there
      // and in the CPU kernels.
      const float count = static_cast<float>(taps);
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc[e] = taps > 0 ? acc[e] / count : 0.0f;
    }
    Pack out;
#pragma unroll
    for (int e = 0; e < kVec; ++e) out.v[e] = from_f<T>(acc[e]);
    yv[idx] = out;
  }
}

template <typename T, int kVec, typename I>
cudaError_t launch_typed(const ChannelsLastPoolArgs& a, const T* x, T* y, cudaStream_t stream) {
  const int64_t n = a.b * a.oh * a.ow * (a.c / kVec);
  if (a.average) {
    channels_last_pool_kernel<T, kVec, true, I><<<grid_for(n, 256), 256, 0, stream>>>(a, x, y, n);
  } else {
    channels_last_pool_kernel<T, kVec, false, I><<<grid_for(n, 256), 256, 0, stream>>>(a, x, y, n);
  }
  return cudaGetLastError();
}

template <typename T, typename I>
cudaError_t launch_vector_or_scalar(const ChannelsLastPoolArgs& a, const T* x, T* y,
                                    cudaStream_t stream) {
  constexpr int kVec = static_cast<int>(16 / sizeof(T));
  if (a.c % kVec == 0 && aligned16(x) && aligned16(y)) {
    return launch_typed<T, kVec, I>(a, x, y, stream);
  }
  return launch_typed<T, 1, I>(a, x, y, stream);
}

}  // namespace

cudaError_t launch_channels_last_pool(Elt type, const ChannelsLastPoolArgs& args, const void* x,
                                      void* y, cudaStream_t stream) {
  const int64_t in_elements = args.b * args.h * args.w * args.c;
  const int64_t out_elements = args.b * args.oh * args.ow * args.c;
  if (out_elements == 0) return cudaSuccess;
  // 32-bit indices when every element index and every window coordinate fits (the padding and
  // the strides of a degenerate model may be huge while the tensors are small).
  const int64_t limit = int64_t{1} << 30;
  const int64_t rows_reach = args.oh * args.sh + args.kh * args.dh + args.h + args.ph + args.ph_end;
  const int64_t cols_reach = args.ow * args.sw + args.kw * args.dw + args.w + args.pw + args.pw_end;
  const bool small =
      in_elements < limit && out_elements < limit && rows_reach < limit && cols_reach < limit;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    T* yt = static_cast<T*>(y);
    return small ? launch_vector_or_scalar<T, int32_t>(args, xt, yt, stream)
                 : launch_vector_or_scalar<T, int64_t>(args, xt, yt, stream);
  });
}

}  // namespace vitrt::cuda
