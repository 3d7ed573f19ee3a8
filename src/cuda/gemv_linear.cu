// vitrt.Linear for a few rows (fp16 / bf16): Y = act(f(X) W + bias + residual), f the row's
// LayerNorm when the Linear has that prologue, else X itself. Batch 1's pooled class token (the
// last block's q, proj, fc1 and fc2 on one row) and the head are such products: cuBLASLt's
// tiles leave most of their rows empty and a split-K form needs a second kernel to add the
// pieces, while the work is W's bytes streaming by once. A LayerNormalization before the GEMM
// is a launch of its own there; here each block normalizes its few rows itself.
//
// A block owns BN columns (8, 16 or 32: narrow blocks, so that even N = 768 spreads W over most
// multiprocessors) and R rows (R = 1, 2, 4 or 8, the fewest that hold the problem's rows; more
// rows take more blocks along y, each streaming W again: correct at any row count, fast only for
// few). Each thread owns 8 columns (16 bytes of a W row) and every (256 / (BN / 8))-th row of K.
// W does not depend on X, so a thread issues its first 8 loads of W before anything else; the
// block's 8 warps meanwhile copy a row each into shared memory as fp32, normalizing it there when
// asked (mean, then the variance about it, as the LayerNorm kernel computes them, the result
// rounded to the activation type as that kernel stores it). The loop then keeps the next 8 loads
// in flight while it multiplies the current ones against the R rows. The partial sums meet
// through warp shuffles and shared memory; the bias, the residual and the activation follow as
// cuBLASLt's epilogue applies them (fp32, one rounding at the store).
//
// The output may be fp32 instead (a 16-bit plan's graph output, which then needs no conversion
// pass). Shapes: K and N multiples of 8, every pointer 16-byte aligned, shared memory for R rows of
// K floats (gemv_linear_supports).
#include <cstdint>
#include <string>

#include "cuda/device_common.cuh"
#include "cuda/launch.h"

namespace vitrt::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxRows = 8;   // rows a block multiplies (one warp copies each)
constexpr int kInFlight = 8;  // 16-byte loads of W a thread keeps in flight
// Dynamic shared memory a block may take (the kernels opt in to it).
constexpr size_t kMaxSmem = 200 * 1024;

struct GemvParams {
  const void* x;
  const void* gamma;
  const void* beta;
  const void* w;
  const void* bias;
  const void* residual;
  void* y;
  bool y_float32;  // y in fp32 (a plan's fp32 output) instead of the activation type
  int m, n, k;
  float eps;
  UnaryOp act;
};

template <typename T>
__device__ __forceinline__ void widen8(const uint4& raw, float* f) {
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < 8; ++i) f[i] = to_f(e[i]);
}

// Warp `warp` copies row `row` of X into xs (fp32), normalizing it when gamma is set.
template <typename T>
__device__ void load_row(const GemvParams& p, int row, float* xs, int lane) {
  const T* src = static_cast<const T*>(p.x) + static_cast<int64_t>(row) * p.k;
  float sum = 0.0f;
  for (int c = lane * 8; c < p.k; c += 256) {
    float v[8];
    widen8<T>(*reinterpret_cast<const uint4*>(src + c), v);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      xs[c + i] = v[i];
      sum += v[i];
    }
  }
  if (p.gamma == nullptr) return;
  const float inv_k = 1.0f / static_cast<float>(p.k);
  const float mean = warp_sum(sum) * inv_k;
  float sq = 0.0f;
  for (int c = lane * 8; c < p.k; c += 256) {
#pragma unroll
    for (int i = 0; i < 8; ++i) sq += (xs[c + i] - mean) * (xs[c + i] - mean);
  }
  const float inv = rsqrtf(warp_sum(sq) * inv_k + p.eps);
  const T* gamma = static_cast<const T*>(p.gamma);
  const T* beta = static_cast<const T*>(p.beta);
  for (int c = lane * 8; c < p.k; c += 256) {
    float g[8], b[8];
    widen8<T>(*reinterpret_cast<const uint4*>(gamma + c), g);
    if (beta != nullptr) {
      widen8<T>(*reinterpret_cast<const uint4*>(beta + c), b);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) b[i] = 0.0f;
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) xs[c + i] = to_f(from_f<T>((xs[c + i] - mean) * inv * g[i] + b[i]));
  }
}

template <typename T, int BN, int R>
__global__ void __launch_bounds__(kThreads) gemv_linear_kernel(GemvParams p) {
  constexpr int kGroups = BN / 8;              // threads across the block's columns
  constexpr int kSlices = kThreads / kGroups;  // ... and down K
  constexpr int kStep = kSlices * kInFlight;   // rows of K a thread's batch of loads spans
  static_assert(kGroups >= 1 && kGroups <= 32 && 32 % kGroups == 0, "a warp spans whole groups");
  extern __shared__ __align__(16) float smem[];
  float* xs = smem;                                 // [R][k]
  float* part = xs + static_cast<size_t>(R) * p.k;  // [kWarps][R][BN]
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int col0 = blockIdx.x * BN, row0 = blockIdx.y * R;
  const int rows = min(R, p.m - row0);
  const int grp = tid % kGroups, slice = tid / kGroups;
  const int c = col0 + grp * 8;
  const bool active = c < p.n;
  const T* w = static_cast<const T*>(p.w) + c;
  // The first batch of W, before X: its latency overlaps the rows' copy and LayerNorm.
  uint4 next[kInFlight];
  const auto issue = [&](int kr) {
#pragma unroll
    for (int b = 0; b < kInFlight; ++b) {
      const int kb = kr + b * kSlices;
      next[b] = active && kb < p.k
                    ? __ldg(reinterpret_cast<const uint4*>(w + static_cast<int64_t>(kb) * p.n))
                    : make_uint4(0, 0, 0, 0);
    }
  };
  issue(slice);
  if (warp < rows) load_row<T>(p, row0 + warp, xs + warp * p.k, lane);
  __syncthreads();

  float acc[R][8];
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[r][i] = 0.0f;
  }
  for (int kr = slice; kr < p.k; kr += kStep) {
    uint4 cur[kInFlight];
#pragma unroll
    for (int b = 0; b < kInFlight; ++b) cur[b] = next[b];
    if (kr + kStep < p.k) issue(kr + kStep);  // in flight while this batch is multiplied
#pragma unroll
    for (int b = 0; b < kInFlight; ++b) {
      const int kb = kr + b * kSlices;
      if (kb >= p.k) break;
      float wv[8];
      widen8<T>(cur[b], wv);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        if (r < rows) {
          const float xv = xs[r * p.k + kb];
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[r][i] = fmaf(xv, wv[i], acc[r][i]);
        }
      }
    }
  }
  // The warp's lanes of one column group hold slices of the same sums.
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
#pragma unroll
      for (int o = kGroups; o < 32; o *= 2) acc[r][i] += __shfl_xor_sync(0xffffffffu, acc[r][i], o);
    }
  }
  if (lane < kGroups) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int i = 0; i < 8; ++i) part[(warp * R + r) * BN + lane * 8 + i] = acc[r][i];
    }
  }
  __syncthreads();
  const T* bias = static_cast<const T*>(p.bias);
  const T* residual = static_cast<const T*>(p.residual);
  for (int o = tid; o < rows * BN; o += kThreads) {
    const int r = o / BN, col = col0 + o % BN;
    if (col >= p.n) continue;
    const int64_t at = static_cast<int64_t>(row0 + r) * p.n + col;
    float total = 0.0f;
#pragma unroll
    for (int q = 0; q < kWarps; ++q) total += part[q * R * BN + o];
    if (bias != nullptr) total += to_f(bias[col]);
    if (residual != nullptr) total += to_f(residual[at]);
    total = activate(p.act, total);
    if (p.y_float32) {
      static_cast<float*>(p.y)[at] = total;
    } else {
      static_cast<T*>(p.y)[at] = from_f<T>(total);
    }
  }
}

// The variants a build times: columns a block.
constexpr int kColumns[] = {8, 16, 32};
constexpr int kVariantCount = static_cast<int>(sizeof(kColumns) / sizeof(kColumns[0]));

int rows_per_block(int64_t m) {
  return m <= 1 ? 1 : (m <= 2 ? 2 : (m <= 4 ? 4 : kMaxRows));
}

// R rows of X, then each warp's partial sums.
size_t smem_bytes(int bn, int r, int64_t k) {
  return (static_cast<size_t>(r) * k + static_cast<size_t>(kWarps) * r * bn) * sizeof(float);
}

template <typename T, int BN, int R>
cudaError_t launch_shape(const GemvParams& p, cudaStream_t stream) {
  auto* kernel = gemv_linear_kernel<T, BN, R>;
  {
    static const cudaError_t opted = cudaFuncSetAttribute(
        kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kMaxSmem));
    if (opted != cudaSuccess) return opted;
  }
  const dim3 grid(static_cast<unsigned>((p.n + BN - 1) / BN),
                  static_cast<unsigned>((p.m + R - 1) / R));
  kernel<<<grid, kThreads, smem_bytes(BN, R, p.k), stream>>>(p);
  return cudaGetLastError();
}

template <typename T, int BN>
cudaError_t launch_columns(const GemvParams& p, cudaStream_t stream) {
  switch (rows_per_block(p.m)) {
    case 1:
      return launch_shape<T, BN, 1>(p, stream);
    case 2:
      return launch_shape<T, BN, 2>(p, stream);
    case 4:
      return launch_shape<T, BN, 4>(p, stream);
    default:
      return launch_shape<T, BN, kMaxRows>(p, stream);
  }
}

template <typename T>
cudaError_t launch_typed(int bn, const GemvParams& p, cudaStream_t stream) {
  switch (bn) {
    case 8:
      return launch_columns<T, 8>(p, stream);
    case 16:
      return launch_columns<T, 16>(p, stream);
    case 32:
      return launch_columns<T, 32>(p, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

int gemv_linear_variants() {
  return kVariantCount;
}

std::string gemv_linear_variant_name(int variant) {
  if (variant < 0 || variant >= kVariantCount) return "?";
  return std::to_string(kColumns[variant]) + " columns";
}

bool gemv_linear_supports(Elt type, int variant, int64_t m, int64_t n, int64_t k) {
  if (variant < 0 || variant >= kVariantCount) return false;
  return (type == Elt::kF16 || type == Elt::kBF16) && m >= 1 && m <= INT32_MAX / 2 && n >= 8 &&
         n % 8 == 0 && n <= INT32_MAX / 2 && k >= 8 && k % 8 == 0 && k <= INT32_MAX / 2 &&
         m * n < INT32_MAX && m * k < INT32_MAX &&
         (m + rows_per_block(m) - 1) / rows_per_block(m) <= 65535 &&
         smem_bytes(kColumns[variant], rows_per_block(m), k) <= kMaxSmem;
}

cudaError_t launch_gemv_linear(Elt type, int variant, const GemvLinearArgs& a,
                               cudaStream_t stream) {
  if (!gemv_linear_supports(type, variant, a.m, a.n, a.k) || a.x == nullptr || a.w == nullptr ||
      a.y == nullptr || (a.beta != nullptr && a.gamma == nullptr)) {
    return cudaErrorInvalidValue;
  }
  const void* pointers[] = {a.x, a.gamma, a.beta, a.w, a.bias, a.residual, a.y};
  for (const void* p : pointers) {
    if (!aligned16(p)) return cudaErrorMisalignedAddress;
  }
  GemvParams p;
  p.x = a.x;
  p.gamma = a.gamma;
  p.beta = a.beta;
  p.w = a.w;
  p.bias = a.bias;
  p.residual = a.residual;
  p.y = a.y;
  p.y_float32 = a.y_float32;
  p.m = static_cast<int>(a.m);
  p.n = static_cast<int>(a.n);
  p.k = static_cast<int>(a.k);
  p.eps = a.epsilon;
  p.act = a.act;
  if (type == Elt::kF16) return launch_typed<__half>(kColumns[variant], p, stream);
  return launch_typed<__nv_bfloat16>(kColumns[variant], p, stream);
}

}  // namespace vitrt::cuda
