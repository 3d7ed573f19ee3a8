// GridSample: one thread per output element (n, c, oy, ox) works out its source position with
// the CPU kernel's arithmetic (src/ir/ops/grid_sample_math.h, in float64 as there) and reads its
// one (nearest) or four (linear) taps; taps outside the image read 0.
#include "cuda/device_common.cuh"
#include "ir/ops/grid_sample_math.h"

namespace vitrt::cuda {
namespace {

template <typename T>
__global__ void grid_sample_kernel(GridSampleArgs a, const T* x, const T* grid, T* y,
                                   int64_t count) {
  const int64_t out_plane = a.ho * a.wo, plane = a.h * a.w;
  VITRT_GRID_STRIDE(i, count) {
    const int64_t p = i % out_plane;
    const int64_t c = (i / out_plane) % a.c;
    const int64_t n = i / (out_plane * a.c);
    const T* g = grid + 2 * (n * out_plane + p);
    const double sx = grid_sample::source_position(to_f(g[0]), a.w, a.align_corners, a.padding);
    const double sy = grid_sample::source_position(to_f(g[1]), a.h, a.align_corners, a.padding);
    const T* xc = x + (n * a.c + c) * plane;
    if (a.mode == grid_sample::kNearest) {
      const int64_t col = static_cast<int64_t>(nearbyint(sx));
      const int64_t row = static_cast<int64_t>(nearbyint(sy));
      const bool inside = row >= 0 && row < a.h && col >= 0 && col < a.w;
      y[i] = inside ? xc[row * a.w + col] : from_f<T>(0.0f);
      continue;
    }
    const double fx = floor(sx), fy = floor(sy);
    const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
    const double wx1 = sx - fx, wy1 = sy - fy;
    float acc = 0.0f;
    for (int dy = 0; dy < 2; ++dy) {
      const int64_t row = y0 + dy;
      if (row < 0 || row >= a.h) continue;
      const double wy = dy == 0 ? 1 - wy1 : wy1;
      for (int dx = 0; dx < 2; ++dx) {
        const int64_t col = x0 + dx;
        if (col < 0 || col >= a.w) continue;
        const double wx = dx == 0 ? 1 - wx1 : wx1;
        acc += static_cast<float>(wy * wx) * to_f(xc[row * a.w + col]);
      }
    }
    y[i] = from_f<T>(acc);
  }
}

}  // namespace

cudaError_t launch_grid_sample(Elt type, const GridSampleArgs& args, const void* x,
                               const void* grid, void* y, cudaStream_t stream) {
  const int64_t count = args.n * args.c * args.ho * args.wo;
  if (count == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    grid_sample_kernel<T><<<grid_for(count, 256), 256, 0, stream>>>(
        args, static_cast<const T*>(x), static_cast<const T*>(grid), static_cast<T*>(y), count);
    return cudaGetLastError();
  });
}

}  // namespace vitrt::cuda
