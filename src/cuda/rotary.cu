// vitrt.RotaryEmbedding on the GPU: one pass over X. A thread rotates V elements of a token's
// row (V = 16 bytes of the activation type where D, D' and the alignment allow it): in the
// rotate_half form V of the lower half with their V partners in the upper half, in the
// interleaved form V consecutive elements (V / 2 pairs). Threads past the rotary dims copy the
// pass-through tail; tokens before `start` are copied whole. Arithmetic is fp32, as the CPU
// kernel's (cpu/rotary_embedding.cc), which is the reference.
#include <cstdint>

#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

// V elements loaded or stored at once: one 16-byte access when kWide, else element by element.
template <typename T, int V, bool kWide>
struct alignas(kWide ? sizeof(T) * V : alignof(T)) Vec {
  T v[V];
};

struct RotaryArgs {
  int64_t heads, seq, dim, rotary_dim, start;
  int64_t token_div, head_div;  // RotaryLayout's: a row's token and head
  int64_t cos_head_stride, cos_row_stride, sin_head_stride, sin_row_stride;  // RotaryTables
  int64_t units_per_row;  // rotating units, then pass-through units
  int64_t rotate_units;
  int64_t n;  // rows * units_per_row
};

// x * c + r * s rounded after each operation, as the unfused Mul, Mul and Add kernels compute it
// (no FMA contraction): in fp32 plans the fused op equals the graph it replaced bit for bit.
__device__ __forceinline__ float rotate(float x, float c, float r, float s) {
  return __fadd_rn(__fmul_rn(x, c), __fmul_rn(r, s));
}

template <typename T, int V, bool kWide>
__device__ __forceinline__ void copy_vec(const T* x, T* y) {
  *reinterpret_cast<Vec<T, V, kWide>*>(y) = *reinterpret_cast<const Vec<T, V, kWide>*>(x);
}

template <typename T, int V, bool kWide, bool kInterleaved>
__global__ void rotary_kernel(const T* __restrict__ x, const T* __restrict__ cos,
                              const T* __restrict__ sin, T* __restrict__ y, RotaryArgs a) {
  VITRT_GRID_STRIDE(i, a.n) {
    const int64_t row = i / a.units_per_row;
    const int64_t u = i - row * a.units_per_row;
    const int64_t s = row / a.token_div % a.seq;
    const T* xr = x + row * a.dim;
    T* yr = y + row * a.dim;
    const int64_t half = a.rotary_dim / 2;
    if (u >= a.rotate_units) {
      // The tail goes element by element unless every access is 16-byte aligned.
      constexpr int kTail = kWide ? V : 1;
      const int64_t off = a.rotary_dim + (u - a.rotate_units) * kTail;
      copy_vec<T, kTail, kWide>(xr + off, yr + off);
      continue;
    }
    const int64_t off = u * V;
    if (s < a.start) {
      copy_vec<T, V, kWide>(xr + off, yr + off);
      if (!kInterleaved) copy_vec<T, V, kWide>(xr + half + off, yr + half + off);
      continue;
    }
    const int64_t h = row / a.head_div % a.heads;
    const T* c = cos + h * a.cos_head_stride + (s - a.start) * a.cos_row_stride;
    const T* sn = sin + h * a.sin_head_stride + (s - a.start) * a.sin_row_stride;
    if constexpr (kInterleaved) {
      const Vec<T, V, kWide> xv = *reinterpret_cast<const Vec<T, V, kWide>*>(xr + off);
      const Vec<T, V, kWide> cv = *reinterpret_cast<const Vec<T, V, kWide>*>(c + off);
      const Vec<T, V, kWide> sv = *reinterpret_cast<const Vec<T, V, kWide>*>(sn + off);
      Vec<T, V, kWide> out;
#pragma unroll
      for (int j = 0; j < V; j += 2) {
        const float x0 = to_f(xv.v[j]), x1 = to_f(xv.v[j + 1]);
        out.v[j] = from_f<T>(rotate(x0, to_f(cv.v[j]), -x1, to_f(sv.v[j])));
        out.v[j + 1] = from_f<T>(rotate(x1, to_f(cv.v[j + 1]), x0, to_f(sv.v[j + 1])));
      }
      *reinterpret_cast<Vec<T, V, kWide>*>(yr + off) = out;
    } else {
      const Vec<T, V, kWide> lo = *reinterpret_cast<const Vec<T, V, kWide>*>(xr + off);
      const Vec<T, V, kWide> hi = *reinterpret_cast<const Vec<T, V, kWide>*>(xr + half + off);
      const Vec<T, V, kWide> clo = *reinterpret_cast<const Vec<T, V, kWide>*>(c + off);
      const Vec<T, V, kWide> chi = *reinterpret_cast<const Vec<T, V, kWide>*>(c + half + off);
      const Vec<T, V, kWide> slo = *reinterpret_cast<const Vec<T, V, kWide>*>(sn + off);
      const Vec<T, V, kWide> shi = *reinterpret_cast<const Vec<T, V, kWide>*>(sn + half + off);
      Vec<T, V, kWide> out_lo, out_hi;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const float x0 = to_f(lo.v[j]), x1 = to_f(hi.v[j]);
        out_lo.v[j] = from_f<T>(rotate(x0, to_f(clo.v[j]), -x1, to_f(slo.v[j])));
        out_hi.v[j] = from_f<T>(rotate(x1, to_f(chi.v[j]), x0, to_f(shi.v[j])));
      }
      *reinterpret_cast<Vec<T, V, kWide>*>(yr + off) = out_lo;
      *reinterpret_cast<Vec<T, V, kWide>*>(yr + half + off) = out_hi;
    }
  }
}

template <typename T, int V, bool kWide>
cudaError_t launch_with(const void* x, const void* cos, const void* sin, void* y, int64_t rows,
                        RotaryArgs a, bool interleaved, cudaStream_t stream) {
  a.rotate_units = (interleaved ? a.rotary_dim : a.rotary_dim / 2) / V;
  a.units_per_row = a.rotate_units + (a.dim - a.rotary_dim) / (kWide ? V : 1);
  a.n = rows * a.units_per_row;
  if (a.n == 0) return cudaSuccess;
  const auto* xt = static_cast<const T*>(x);
  const auto* ct = static_cast<const T*>(cos);
  const auto* st = static_cast<const T*>(sin);
  auto* yt = static_cast<T*>(y);
  constexpr int kBlock = 256;
  if (interleaved) {
    rotary_kernel<T, V, kWide, true>
        <<<grid_for(a.n, kBlock), kBlock, 0, stream>>>(xt, ct, st, yt, a);
  } else {
    rotary_kernel<T, V, kWide, false>
        <<<grid_for(a.n, kBlock), kBlock, 0, stream>>>(xt, ct, st, yt, a);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_rotary_embedding(Elt type, const void* x, const RotaryTables& tables, void* y,
                                    int64_t outer, int64_t heads, int64_t seq, int64_t dim,
                                    int64_t rotary_dim, int64_t start, bool interleaved,
                                    int64_t token_div, int64_t head_div, cudaStream_t stream) {
  RotaryArgs a{};
  a.heads = heads;
  a.seq = seq;
  a.token_div = token_div;
  a.head_div = head_div;
  a.dim = dim;
  a.rotary_dim = rotary_dim;
  a.start = start;
  a.cos_head_stride = tables.cos_head_stride;
  a.cos_row_stride = tables.cos_row_stride;
  a.sin_head_stride = tables.sin_head_stride;
  a.sin_row_stride = tables.sin_row_stride;
  const int64_t rows = outer * seq;
  const void* cos = tables.cos;
  const void* sin = tables.sin;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    constexpr int kLanes = 16 / static_cast<int>(sizeof(T));
    // Every unit's offset must be a multiple of V: the row, the tables' rows, the half (or the
    // pair) and the pass-through tail.
    const int64_t unit_span = interleaved ? rotary_dim : rotary_dim / 2;
    const bool wide = dim % kLanes == 0 && rotary_dim % kLanes == 0 && unit_span % kLanes == 0 &&
                      aligned16(x) && aligned16(cos) && aligned16(sin) && aligned16(y);
    if (wide) return launch_with<T, kLanes, true>(x, cos, sin, y, rows, a, interleaved, stream);
    // D' is even: an interleaved unit is one pair.
    if (interleaved) return launch_with<T, 2, false>(x, cos, sin, y, rows, a, interleaved, stream);
    return launch_with<T, 1, false>(x, cos, sin, y, rows, a, interleaved, stream);
  });
}

}  // namespace vitrt::cuda
