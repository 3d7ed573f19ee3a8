// Direct 2-D convolutions: depthwise (one input channel per group, any channel multiplier) in
// NCHW and NHWC, and a plain loop for the other grouped convolutions.
//
// Depthwise convolutions (ConvNeXt's 7x7, MobileNet-style blocks of hybrids, MobileViT, CPE
// position convs) move little arithmetic per byte: the kernels are written to read each input
// element from DRAM once and each weight once per block.
//  * NCHW: a block computes a tile of one or more output planes. The tile's input window (with
//    its halo) is staged in shared memory as fp32, the plane's weights too; each thread keeps R
//    neighbouring outputs of one row in registers, so a kernel row of K taps costs R + K - 1
//    shared loads for R outputs (unit stride and dilation, K known at compile time for 3, 5, 7)
//    instead of R * K. Small planes (7x7 at the last ConvNeXt stage) are packed several to a
//    block so that blocks stay full.
//  * NHWC: neighbouring threads take neighbouring channels (coalesced reads along C, 4 channels
//    per thread when C allows), each thread R neighbouring output columns of one row; input
//    rows are re-read from L1/L2 across kernel rows.
// Accumulation is in fp32 for every float type; taps outside the image read 0. The activation
// (ConvDirectArgs::act: ReLU, ReLU6, SiLU, HardSwish, GELU) is applied to the fp32 sum before
// the store.
#include <algorithm>
#include <cstdint>

#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

constexpr int kThreads = 256;
// Dynamic shared memory of the NCHW kernel (its static part, the per-plane offsets, is 4 KB).
constexpr int kMaxSmemFloats = 44 * 1024 / 4;

// The plain loop for grouped convolutions with several input channels per group: one thread per
// output element.
template <typename T>
__global__ void conv_grouped_kernel(ConvDirectArgs a, const T* x, const T* w, const T* bias, T* y,
                                    int64_t n) {
  const Im2colArgs& g = a.geom;
  const int64_t cpg = g.c / a.group, dpg = a.d / a.group;
  VITRT_GRID_STRIDE(i, n) {
    const int64_t ox = i % g.ow;
    const int64_t oy = (i / g.ow) % g.oh;
    const int64_t o = (i / (g.ow * g.oh)) % a.d;
    const int64_t b = i / (g.ow * g.oh * a.d);
    const int64_t c0 = (o / dpg) * cpg;
    float acc = bias != nullptr ? to_f(bias[o]) : 0.0f;
    for (int64_t ci = 0; ci < cpg; ++ci) {
      const T* xc = x + ((b * g.c + c0 + ci) * g.h) * g.w;
      const T* wc = w + (o * cpg + ci) * g.kh * g.kw;
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const int64_t ix = ox * g.sw - g.pw + kj * g.dw;
          if (ix < 0 || ix >= g.w) continue;
          acc += to_f(xc[iy * g.w + ix]) * to_f(wc[ki * g.kw + kj]);
        }
      }
    }
    y[i] = from_f<T>(activate(a.act, acc));
  }
}

template <typename T, int kV>
struct alignas(sizeof(T) * kV) Vec {
  T v[kV];
};

// The NCHW depthwise tiling, worked out on the host.
struct DwTiling {
  int r = 1;           // outputs per thread along a row
  int tw = 1, th = 1;  // threads across a tile's row, thread rows per tile
  int q = 1;           // output rows per thread (a tile has th * q rows)
  int pp = 1;          // planes per block
  int tiles_x = 1, tiles_y = 1;
  int in_tw = 1, in_th = 1;  // the staged input window of one plane
  int in_stride = 1;         // its row pitch in shared memory (in_tw rounded up)
  int64_t blocks = 1;
  size_t smem_bytes = 0;
};

// Conv geometry with the tile's shape; kK: the (square) kernel size at compile time, 0 = runtime;
// kUnit: stride 1 and dilation 1 on both axes; kQ: output rows per thread. With kUnit and kK,
// each staged input row is loaded once into registers and feeds every output row it touches
// (the weights in registers: the kernel is bound by its instruction count, not by occupancy).
template <typename T, int kR, int kK, bool kUnit, int kQ>
__global__ void __launch_bounds__(kThreads, 2)
    depthwise_nchw_kernel(ConvDirectArgs a, DwTiling t, const T* __restrict__ x,
                          const T* __restrict__ w, const T* __restrict__ bias, T* __restrict__ y) {
  extern __shared__ float4 smem_raw[];  // float4: 16-byte aligned for the vector loads
  float* smem = reinterpret_cast<float*>(smem_raw);
  const Im2colArgs& g = a.geom;
  const int kh = kK > 0 ? kK : static_cast<int>(g.kh);
  const int kw = kK > 0 ? kK : static_cast<int>(g.kw);
  const int taps = kh * kw;
  const int64_t planes = g.b * a.d;
  const int64_t mult = a.d / g.c;
  const int h = static_cast<int>(g.h), wd = static_cast<int>(g.w);
  float* window = smem;                                  // [pp][in_th][in_stride]
  float* weights = smem + t.pp * t.in_th * t.in_stride;  // [pp][taps]

  const int tile_y = blockIdx.y / t.tiles_x, tile_x = blockIdx.y % t.tiles_x;
  const int oy0 = tile_y * t.th * kQ, ox0 = tile_x * t.tw * kR;
  const int iy0 = oy0 * static_cast<int>(g.sh) - static_cast<int>(g.ph);
  const int ix0 = ox0 * static_cast<int>(g.sw) - static_cast<int>(g.pw);
  const int64_t plane0 = static_cast<int64_t>(blockIdx.x) * t.pp;

  // Stage the windows and weights of the block's planes: whole padded rows (in_stride columns),
  // since the vector loads below read past in_tw. Each plane's input offset first; then every
  // element's load is unconditional (a clamped address, zero selected outside the image), so
  // the unrolled loop keeps several loads in flight: staging is all DRAM latency otherwise.
  __shared__ int64_t plane_in[kThreads];
  __shared__ int64_t plane_out[kThreads];
  for (int pl = threadIdx.x; pl < t.pp; pl += blockDim.x) {
    const int64_t plane = plane0 + pl;
    const int64_t o = plane < planes ? plane % a.d : -1, b = plane / a.d;
    plane_out[pl] = o;
    plane_in[pl] = o < 0 ? 0 : (b * g.c + o / mult) * g.h * g.w;
  }
  __syncthreads();
  const int window_size = t.in_th * t.in_stride;
  const int staged = t.pp * window_size;
#pragma unroll 4
  for (int i = threadIdx.x; i < staged; i += blockDim.x) {
    const int pl = i / window_size, k = i - pl * window_size;
    const int wy = k / t.in_stride, wx = k - wy * t.in_stride;
    const int iy = iy0 + wy, ix = ix0 + wx;
    const bool inside = plane_out[pl] >= 0 && iy >= 0 && iy < h && ix >= 0 && ix < wd;
    const float v = to_f(x[inside ? plane_in[pl] + iy * wd + ix : 0]);
    window[i] = inside ? v : 0.0f;
  }
  for (int i = threadIdx.x; i < t.pp * taps; i += blockDim.x) {
    const int pl = i / taps;
    weights[i] = plane_out[pl] >= 0 ? to_f(w[plane_out[pl] * taps + (i - pl * taps)]) : 0.0f;
  }
  __syncthreads();

  const int per_plane = t.tw * t.th;
  const int pl = threadIdx.x / per_plane;
  const int ty = (threadIdx.x % per_plane) / t.tw, tx = threadIdx.x % t.tw;
  const int64_t plane = plane0 + pl;
  const int oy = oy0 + ty * kQ;
  if (pl >= t.pp || plane >= planes || oy >= g.oh) return;
  const int64_t o = plane % a.d;
  const float b0 = bias != nullptr ? to_f(bias[o]) : 0.0f;
  float acc[kQ][kR];
#pragma unroll
  for (int q = 0; q < kQ; ++q) {
#pragma unroll
    for (int r = 0; r < kR; ++r) acc[q][r] = b0;
  }
  const float* wp = weights + pl * taps;
  const float* base = window + (pl * t.in_th + ty * kQ * static_cast<int>(g.sh)) * t.in_stride +
                      tx * kR * static_cast<int>(g.sw);
  if constexpr (kUnit && kK > 0) {
    float wr[kK * kK];
#pragma unroll
    for (int k = 0; k < kK * kK; ++k) wr[k] = wp[k];
    constexpr int kVecs = (kR + kK - 1 + kR - 1) / kR;
#pragma unroll
    for (int j = 0; j < kQ + kK - 1; ++j) {
      // Input row j in registers, loaded kR floats at a time (base is kR-float aligned:
      // consecutive threads read consecutive vectors, no bank conflicts).
      float v[kVecs * kR];
      const float* row = base + j * t.in_stride;
#pragma unroll
      for (int i = 0; i < kVecs; ++i) {
        if constexpr (kR == 4) {
          const float4 f = reinterpret_cast<const float4*>(row)[i];
          v[4 * i] = f.x, v[4 * i + 1] = f.y, v[4 * i + 2] = f.z, v[4 * i + 3] = f.w;
        } else if constexpr (kR == 2) {
          const float2 f = reinterpret_cast<const float2*>(row)[i];
          v[2 * i] = f.x, v[2 * i + 1] = f.y;
        } else {
          v[i] = row[i];
        }
      }
#pragma unroll
      for (int q = 0; q < kQ; ++q) {
        const int ki = j - q;  // input row j is kernel row ki of output row q
        if (ki < 0 || ki >= kK) continue;
#pragma unroll
        for (int kj = 0; kj < kK; ++kj) {
#pragma unroll
          for (int r = 0; r < kR; ++r) acc[q][r] = fmaf(v[r + kj], wr[ki * kK + kj], acc[q][r]);
        }
      }
    }
  } else {
    static_assert(kQ == 1, "several rows per thread only on the unit-stride path");
    const int sw = static_cast<int>(g.sw), dh = static_cast<int>(g.dh), dw = static_cast<int>(g.dw);
    for (int ki = 0; ki < kh; ++ki) {
      const float* row = base + ki * dh * t.in_stride;
      for (int kj = 0; kj < kw; ++kj) {
        const float wv = wp[ki * kw + kj];
#pragma unroll
        for (int r = 0; r < kR; ++r) acc[0][r] = fmaf(row[r * sw + kj * dw], wv, acc[0][r]);
      }
    }
  }
  const int left = static_cast<int>(g.ow) - (ox0 + tx * kR);
#pragma unroll
  for (int q = 0; q < kQ; ++q) {
    if (oy + q >= g.oh) break;
    T* out = y + (plane * g.oh + oy + q) * g.ow + ox0 + tx * kR;
    if (kR > 1 && left >= kR && reinterpret_cast<uintptr_t>(out) % (sizeof(T) * kR) == 0) {
      Vec<T, kR> ov;
#pragma unroll
      for (int r = 0; r < kR; ++r) ov.v[r] = from_f<T>(activate(a.act, acc[q][r]));
      *reinterpret_cast<Vec<T, kR>*>(out) = ov;
    } else {
#pragma unroll
      for (int r = 0; r < kR; ++r) {
        if (r < left) out[r] = from_f<T>(activate(a.act, acc[q][r]));
      }
    }
  }
}

// NHWC depthwise. A block takes a slice of blockDim.x * kV channels (threadIdx.x: kV channels
// each, neighbouring threads neighbouring channels, so every load is one coalesced row of the
// slice) and walks groups of kR output columns (threadIdx.y and the grid's y stride); the
// slice's weights are staged once per block in shared memory, tap-major, so a thread reads its
// kV weights of a tap as one vector. kUnit (stride and dilation 1 along the row): each input
// pixel of a kernel row is loaded once for the kR outputs it feeds.
constexpr int kNhwcThreads = 256;

template <typename T, int kR, int kV, bool kUnit, int kK>
__global__ void __launch_bounds__(kNhwcThreads)
    depthwise_nhwc_kernel(ConvDirectArgs a, const T* __restrict__ x, const T* __restrict__ w,
                          const T* __restrict__ bias, T* __restrict__ y, int64_t col_groups) {
  extern __shared__ float4 smem_raw[];
  float* wsm = reinterpret_cast<float*>(smem_raw);  // [taps][blockDim.x * kV]
  const Im2colArgs& g = a.geom;
  const int taps = static_cast<int>(g.kh * g.kw);
  const int64_t kw = kK > 0 ? kK : g.kw;  // kK: a square kernel known at compile time
  const int slice = static_cast<int>(blockDim.x) * kV;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * slice;
  const int64_t mult = a.d / g.c;
  const int tid = threadIdx.y * blockDim.x + threadIdx.x;
  for (int i = tid; i < taps * slice; i += blockDim.x * blockDim.y) {
    const int tap = i / slice, ch = i % slice;
    wsm[i] = c0 + ch < a.d ? to_f(w[(c0 + ch) * taps + tap]) : 0.0f;
  }
  __syncthreads();
  const int64_t o = c0 + static_cast<int64_t>(threadIdx.x) * kV;
  if (o >= a.d) return;  // after the only barrier
  float b0[kV];
#pragma unroll
  for (int v = 0; v < kV; ++v) b0[v] = bias != nullptr ? to_f(bias[o + v]) : 0.0f;
  const int64_t ow = g.ow, oh = g.oh;
  const int64_t total = g.b * oh * col_groups;
  for (int64_t p = static_cast<int64_t>(blockIdx.y) * blockDim.y + threadIdx.y; p < total;
       p += static_cast<int64_t>(gridDim.y) * blockDim.y) {
    const int64_t cg = p % col_groups, oy = (p / col_groups) % oh, b = p / (col_groups * oh);
    const int64_t ox0 = cg * kR;
    float acc[kR][kV];
#pragma unroll
    for (int r = 0; r < kR; ++r) {
#pragma unroll
      for (int v = 0; v < kV; ++v) acc[r][v] = b0[v];
    }
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
      if (iy < 0 || iy >= g.h) continue;
      const T* row = x + ((b * g.h + iy) * g.w) * g.c;
      auto load = [&](int64_t ix, float* out) {
        if (ix < 0 || ix >= g.w) {
#pragma unroll
          for (int v = 0; v < kV; ++v) out[v] = 0.0f;
        } else if constexpr (kV > 1) {
          // mult == 1 here: channels o..o+kV-1 read input channels o..o+kV-1.
          const Vec<T, kV> xv = *reinterpret_cast<const Vec<T, kV>*>(row + ix * g.c + o);
#pragma unroll
          for (int v = 0; v < kV; ++v) out[v] = to_f(xv.v[v]);
        } else {
          out[0] = to_f(row[ix * g.c + o / mult]);
        }
      };
      const float* wrow = wsm + ki * kw * slice + threadIdx.x * kV;
      if constexpr (kUnit) {
        // Input columns ox0 - pw .. ox0 - pw + kR + kw - 2, each loaded once.
        float xin[kR][kV];
        const int64_t ix0 = ox0 - g.pw;
#pragma unroll
        for (int r = 0; r < kR - 1; ++r) load(ix0 + r, xin[r + 1]);
#pragma unroll
        for (int64_t kj = 0; kj < kw; ++kj) {
          // Shift the window by one column: xin[r] holds column ix0 + kj + r.
#pragma unroll
          for (int r = 0; r < kR - 1; ++r) {
#pragma unroll
            for (int v = 0; v < kV; ++v) xin[r][v] = xin[r + 1][v];
          }
          load(ix0 + kj + kR - 1, xin[kR - 1]);
          float wv[kV];
          if constexpr (kV == 4) {
            const float4 f = *reinterpret_cast<const float4*>(wrow + kj * slice);
            wv[0] = f.x, wv[1] = f.y, wv[2] = f.z, wv[3] = f.w;
          } else {
            wv[0] = wrow[kj * slice];
          }
#pragma unroll
          for (int r = 0; r < kR; ++r) {
#pragma unroll
            for (int v = 0; v < kV; ++v) acc[r][v] = fmaf(xin[r][v], wv[v], acc[r][v]);
          }
        }
      } else {
        for (int64_t kj = 0; kj < kw; ++kj) {
          float wv[kV];
#pragma unroll
          for (int v = 0; v < kV; ++v) wv[v] = wrow[kj * slice + v];
#pragma unroll
          for (int r = 0; r < kR; ++r) {
            float xv[kV];
            load((ox0 + r) * g.sw - g.pw + kj * g.dw, xv);
#pragma unroll
            for (int v = 0; v < kV; ++v) acc[r][v] = fmaf(xv[v], wv[v], acc[r][v]);
          }
        }
      }
    }
    T* out = y + ((b * oh + oy) * ow) * a.d + o;
#pragma unroll
    for (int r = 0; r < kR; ++r) {
      if (ox0 + r >= ow) break;
      if constexpr (kV > 1) {
        Vec<T, kV> ov;
#pragma unroll
        for (int v = 0; v < kV; ++v) ov.v[v] = from_f<T>(activate(a.act, acc[r][v]));
        *reinterpret_cast<Vec<T, kV>*>(out + (ox0 + r) * a.d) = ov;
      } else {
        out[(ox0 + r) * a.d] = from_f<T>(activate(a.act, acc[r][0]));
      }
    }
  }
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// The tiling of an NCHW depthwise convolution, or false when its window does not fit in shared
// memory (a very large kernel: the plain loop runs it).
bool is_fast_kernel(const Im2colArgs& g) {
  return g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.kh == g.kw &&
         (g.kh == 3 || g.kh == 5 || g.kh == 7);
}

bool plan_tiling(const ConvDirectArgs& a, int q, DwTiling* t) {
  const Im2colArgs& g = a.geom;
  // 32-bit coordinates inside a plane.
  if (g.h * g.w >= (int64_t{1} << 30) || g.oh * g.ow >= (int64_t{1} << 30)) return false;
  t->r = g.ow >= 12 ? 4 : (g.ow >= 4 ? 2 : 1);
  t->q = q;
  t->tw = static_cast<int>(std::min<int64_t>(ceil_div(g.ow, t->r), 32));
  t->th = static_cast<int>(std::min<int64_t>(ceil_div(g.oh, t->q), kThreads / t->tw));
  const int64_t taps = g.kh * g.kw;
  for (;;) {
    t->tiles_x = static_cast<int>(ceil_div(g.ow, static_cast<int64_t>(t->tw) * t->r));
    t->tiles_y = static_cast<int>(ceil_div(g.oh, static_cast<int64_t>(t->th) * t->q));
    t->pp = 1;
    if (t->tiles_x == 1 && t->tiles_y == 1) {
      t->pp = std::max(1, kThreads / (t->tw * t->th));
      t->pp = static_cast<int>(std::min<int64_t>(t->pp, g.b * a.d));
    }
    t->in_th =
        static_cast<int>((static_cast<int64_t>(t->th) * t->q - 1) * g.sh + (g.kh - 1) * g.dh + 1);
    t->in_tw =
        static_cast<int>((static_cast<int64_t>(t->tw) * t->r - 1) * g.sw + (g.kw - 1) * g.dw + 1);
    // Room for the last thread's vector loads past the window, rounded to whole float4s.
    t->in_stride = (t->in_tw + t->r + 3) / 4 * 4;
    int64_t floats = static_cast<int64_t>(t->pp) * (t->in_th * t->in_stride + taps);
    while (t->pp > 1 && floats > kMaxSmemFloats) {
      t->pp /= 2;
      floats = static_cast<int64_t>(t->pp) * (t->in_th * t->in_stride + taps);
    }
    if (floats <= kMaxSmemFloats) {
      t->smem_bytes = static_cast<size_t>(floats) * sizeof(float);
      break;
    }
    if (t->th == 1) return false;
    t->th = (t->th + 1) / 2;
  }
  t->blocks = ceil_div(g.b * a.d, t->pp);
  return static_cast<int64_t>(t->tiles_x) * t->tiles_y <= 65535 && t->blocks < (int64_t{1} << 31);
}

// Four rows per thread where that still leaves a few blocks per multiprocessor (batch 1 has
// few planes: there, more and smaller tiles win).
bool plan_tiling(const ConvDirectArgs& a, DwTiling* t) {
  const Im2colArgs& g = a.geom;
  if (is_fast_kernel(g) && g.oh >= 4 && plan_tiling(a, 4, t) &&
      t->blocks * t->tiles_x * t->tiles_y >= 1024) {
    return true;
  }
  return plan_tiling(a, 1, t);
}

template <typename T, int kR>
cudaError_t launch_nchw_r(const ConvDirectArgs& a, const DwTiling& t, const T* x, const T* w,
                          const T* bias, T* y, cudaStream_t stream) {
  const Im2colArgs& g = a.geom;
  const bool unit = g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
  const int k = g.kh == g.kw ? static_cast<int>(g.kh) : 0;
  const dim3 grid(static_cast<unsigned>(t.blocks), static_cast<unsigned>(t.tiles_x * t.tiles_y));
  const int threads = t.tw * t.th * t.pp;
  auto go = [&](auto kernel) {
    kernel<<<grid, threads, t.smem_bytes, stream>>>(a, t, x, w, bias, y);
    return cudaGetLastError();
  };
  if (t.q == 4) {
    if (unit && k == 3) return go(depthwise_nchw_kernel<T, kR, 3, true, 4>);
    if (unit && k == 5) return go(depthwise_nchw_kernel<T, kR, 5, true, 4>);
    if (unit && k == 7) return go(depthwise_nchw_kernel<T, kR, 7, true, 4>);
  }
  if (unit && k == 3) return go(depthwise_nchw_kernel<T, kR, 3, true, 1>);
  if (unit && k == 5) return go(depthwise_nchw_kernel<T, kR, 5, true, 1>);
  if (unit && k == 7) return go(depthwise_nchw_kernel<T, kR, 7, true, 1>);
  return go(depthwise_nchw_kernel<T, kR, 0, false, 1>);
}

}  // namespace

cudaError_t launch_conv_direct(Elt type, const ConvDirectArgs& args, const void* x, const void* w,
                               const void* bias, void* y, cudaStream_t stream) {
  const Im2colArgs& g = args.geom;
  const int64_t n = g.b * args.d * g.oh * g.ow;
  if (n == 0) return cudaSuccess;
  if (args.group <= 0 || g.c % args.group != 0 || args.d % args.group != 0) {
    return cudaErrorInvalidValue;
  }
  const bool depthwise = args.group == g.c;
  if (args.channels_last && !depthwise) return cudaErrorInvalidValue;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    const T* wt = static_cast<const T*>(w);
    const T* bt = static_cast<const T*>(bias);
    T* yt = static_cast<T*>(y);
    if (args.channels_last) {
      const int64_t mult = args.d / g.c;
      const int64_t taps = g.kh * g.kw;
      // kV channels per thread (4 where C allows: vector loads), a block's threadIdx.x covering
      // a slice of the channels (as many lanes as make the slices equal, at most 32, so that
      // C = 96 keeps every lane busy), its threadIdx.y rows of output pixels; the slice's
      // weights staged in shared memory, up to the 227 KB a block can have.
      const bool vec4 = mult == 1 && g.c % 4 == 0 && aligned16(x) && aligned16(y);
      const int64_t groups = args.d / (vec4 ? 4 : 1);
      const int64_t slices = ceil_div(groups, 32);
      const int lanes = static_cast<int>(ceil_div(groups, slices));
      const int kv = vec4 ? 4 : 1;
      const size_t smem = static_cast<size_t>(taps) * lanes * kv * sizeof(float);
      if (smem > 227 * 1024 || slices > 65535) return cudaErrorInvalidValue;
      const bool unit = g.sw == 1 && g.dw == 1;
      // Eight output columns per thread on the unit-stride path (each input pixel of a kernel
      // row loaded once for eight outputs), else four.
      const int r = unit && g.ow >= 8 ? 8 : 4;
      const int64_t col_groups = ceil_div(g.ow, r);
      const int rows_per_block = kNhwcThreads / lanes;
      const int64_t rows = ceil_div(g.b * g.oh * col_groups, rows_per_block);
      // Enough blocks to fill the GPU a few times over; each walks its share of the rows, so
      // the weights are staged once per block.
      const int64_t y_blocks = std::max<int64_t>(1, std::min<int64_t>(rows, 4096 / slices));
      const dim3 grid(static_cast<unsigned>(slices), static_cast<unsigned>(y_blocks));
      const dim3 block(lanes, rows_per_block);
      auto go = [&](auto kernel) {
        if (smem > 48 * 1024) {
          const cudaError_t e = cudaFuncSetAttribute(
              kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
          if (e != cudaSuccess) return e;
        }
        kernel<<<grid, block, smem, stream>>>(args, xt, wt, bt, yt, col_groups);
        return cudaGetLastError();
      };
      const int k = g.kh == g.kw ? static_cast<int>(g.kw) : 0;
      if (r == 8) {
        if (vec4) {
          if (k == 3) return go(depthwise_nhwc_kernel<T, 8, 4, true, 3>);
          if (k == 5) return go(depthwise_nhwc_kernel<T, 8, 4, true, 5>);
          if (k == 7) return go(depthwise_nhwc_kernel<T, 8, 4, true, 7>);
          return go(depthwise_nhwc_kernel<T, 8, 4, true, 0>);
        }
        return go(depthwise_nhwc_kernel<T, 8, 1, true, 0>);
      }
      if (vec4) {
        return unit ? go(depthwise_nhwc_kernel<T, 4, 4, true, 0>)
                    : go(depthwise_nhwc_kernel<T, 4, 4, false, 0>);
      }
      return unit ? go(depthwise_nhwc_kernel<T, 4, 1, true, 0>)
                  : go(depthwise_nhwc_kernel<T, 4, 1, false, 0>);
    }
    DwTiling t;
    if (depthwise && plan_tiling(args, &t)) {
      if (t.r == 4) return launch_nchw_r<T, 4>(args, t, xt, wt, bt, yt, stream);
      if (t.r == 2) return launch_nchw_r<T, 2>(args, t, xt, wt, bt, yt, stream);
      return launch_nchw_r<T, 1>(args, t, xt, wt, bt, yt, stream);
    }
    conv_grouped_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(args, xt, wt, bt, yt, n);
    return cudaGetLastError();
  });
}

}  // namespace vitrt::cuda
