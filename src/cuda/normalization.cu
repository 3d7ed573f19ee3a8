// Row kernels: Softmax, ReduceMean, LayerNorm (with the residual add of vitrt.AddLayerNorm),
// Instance/GroupNormalization, LpNormalization, MeanVarianceNormalization, and the bias +
// activation applied after a GEMM when no cuBLASLt epilogue fits.
#include <cuda_fp8.h>

#include <cfloat>
#include <cmath>
#include <cstdint>

#include <type_traits>

#include "cuda/device_common.cuh"
#include "cuda/env_switch.h"
#include "cuda/fake_quant.cuh"

namespace vitrt::cuda {
namespace {

constexpr int kRowThreads = 256;

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Block-wide reductions over kRowThreads threads; every thread gets the result.
__device__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < (kRowThreads / 32) ? scratch[lane] : 0.0f;
  return warp_sum(t);
}
__device__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float t = lane < (kRowThreads / 32) ? scratch[lane] : -INFINITY;
  return warp_max(t);
}

// One block per row of the last axis.
template <typename T, bool kLog>
__global__ void softmax_last_kernel(const T* in, T* out, int64_t r) {
  __shared__ float scratch[32];
  const T* x = in + blockIdx.x * r;
  T* y = out + blockIdx.x * r;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < r; j += blockDim.x) m = fmaxf(m, to_f(x[j]));
  m = block_max(m, scratch);
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < r; j += blockDim.x) s += expf(to_f(x[j]) - m);
  s = block_sum(s, scratch);
  const float inv = 1.0f / s, log_s = logf(s);
  for (int64_t j = threadIdx.x; j < r; j += blockDim.x) {
    y[j] = from_f<T>(kLog ? (to_f(x[j]) - m) - log_s : expf(to_f(x[j]) - m) * inv);
  }
}

// Rows of up to a few thousand (attention scores: 50-257 keys): one warp per row, so a block
// serves eight rows instead of leaving most of its threads idle.
template <typename T, bool kLog>
__global__ void softmax_warp_kernel(const T* in, T* out, int64_t rows, int64_t r) {
  const int64_t row = int64_t(blockIdx.x) * (kRowThreads / 32) + (threadIdx.x >> 5);
  if (row >= rows) return;
  const int lane = threadIdx.x & 31;
  const T* x = in + row * r;
  T* y = out + row * r;
  float m = -INFINITY;
  for (int64_t j = lane; j < r; j += 32) m = fmaxf(m, to_f(x[j]));
  m = warp_max(m);
  float s = 0.0f;
  for (int64_t j = lane; j < r; j += 32) s += expf(to_f(x[j]) - m);
  s = warp_sum(s);
  const float inv = 1.0f / s, log_s = logf(s);
  for (int64_t j = lane; j < r; j += 32) {
    y[j] = from_f<T>(kLog ? (to_f(x[j]) - m) - log_s : expf(to_f(x[j]) - m) * inv);
  }
}

// A softmax over a middle axis: one thread per (outer, inner) column.
template <typename T, bool kLog>
__global__ void softmax_mid_kernel(const T* in, T* out, int64_t outer, int64_t r, int64_t inner) {
  VITRT_GRID_STRIDE(i, outer * inner) {
    const int64_t base = (i / inner) * r * inner + (i % inner);
    float m = -INFINITY;
    for (int64_t k = 0; k < r; ++k) m = fmaxf(m, to_f(in[base + k * inner]));
    float s = 0.0f;
    for (int64_t k = 0; k < r; ++k) s += expf(to_f(in[base + k * inner]) - m);
    const float log_s = logf(s);
    for (int64_t k = 0; k < r; ++k) {
      const float v = to_f(in[base + k * inner]) - m;
      out[base + k * inner] = from_f<T>(kLog ? v - log_s : expf(v) / s);
    }
  }
}

template <typename T>
__global__ void mean_last_kernel(const T* in, T* out, int64_t r) {
  __shared__ float scratch[32];
  const T* x = in + blockIdx.x * r;
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < r; j += blockDim.x) s += to_f(x[j]);
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = from_f<T>(s / static_cast<float>(r));
}

template <typename T>
__global__ void mean_mid_kernel(const T* in, T* out, int64_t outer, int64_t r, int64_t inner) {
  VITRT_GRID_STRIDE(i, outer * inner) {
    const int64_t base = (i / inner) * r * inner + (i % inner);
    float s = 0.0f;
    for (int64_t k = 0; k < r; ++k) s += to_f(in[base + k * inner]);
    out[i] = from_f<T>(s / static_cast<float>(r));
  }
}

__device__ __forceinline__ float reduce_init(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax:
      return -INFINITY;
    case ReduceOp::kMin:
      return INFINITY;
    case ReduceOp::kProd:
      return 1.0f;
    default:
      return 0.0f;
  }
}

// Folds v into acc; m is LogSumExp's shift (the maximum).
__device__ __forceinline__ float reduce_step(ReduceOp op, float acc, float v, float m) {
  switch (op) {
    case ReduceOp::kMax:
      return fmaxf(acc, v);
    case ReduceOp::kMin:
      return fminf(acc, v);
    case ReduceOp::kProd:
      return acc * v;
    case ReduceOp::kL1:
      return acc + fabsf(v);
    case ReduceOp::kL2:
    case ReduceOp::kSumSquare:
      return acc + v * v;
    case ReduceOp::kLogSumExp:
      return acc + expf(v - m);
    default:
      return acc + v;
  }
}

__device__ __forceinline__ float reduce_finish(ReduceOp op, float acc, int64_t r, float m) {
  switch (op) {
    case ReduceOp::kMean:
      return acc / static_cast<float>(r);
    case ReduceOp::kL2:
      return sqrtf(acc);
    case ReduceOp::kLogSum:
      return logf(acc);
    case ReduceOp::kLogSumExp:
      // All -inf: the shift would give NaN; the sum of nothing is log(0) = -inf.
      return isinf(m) && m < 0.0f ? m : m + logf(acc);
    default:
      return acc;
  }
}

// One thread per (outer, inner) column.
template <typename T>
__global__ void reduce_mid_kernel(ReduceOp op, const T* in, T* out, int64_t outer, int64_t r,
                                  int64_t inner) {
  VITRT_GRID_STRIDE(i, outer * inner) {
    const int64_t base = (i / inner) * r * inner + (i % inner);
    float m = 0.0f;
    if (op == ReduceOp::kLogSumExp) {
      m = -INFINITY;
      for (int64_t k = 0; k < r; ++k) m = fmaxf(m, to_f(in[base + k * inner]));
    }
    float acc = reduce_init(op);
    for (int64_t k = 0; k < r; ++k) acc = reduce_step(op, acc, to_f(in[base + k * inner]), m);
    out[i] = from_f<T>(reduce_finish(op, acc, r, m));
  }
}

// Partial results of two slices of one column, folded (everything but LogSumExp, whose shift
// needs a pass of its own).
__device__ __forceinline__ float reduce_combine(ReduceOp op, float a, float b) {
  switch (op) {
    case ReduceOp::kMax:
      return fmaxf(a, b);
    case ReduceOp::kMin:
      return fminf(a, b);
    case ReduceOp::kProd:
      return a * b;
    default:
      return a + b;
  }
}

// Long columns over few of them (a squeeze-and-excitation mean over an NHWC image: [n, h * w, c]
// reduced to [n, c]): a block of kColTile columns of one outer index, kColRows threads down each
// column (blockDim.y, at most kColRows), folded in shared memory. A warp reads kColTile
// neighbouring values per row.
constexpr int kColTile = 32, kColRows = 32;
template <typename T>
__global__ void __launch_bounds__(kColTile* kColRows)
    reduce_cols_kernel(ReduceOp op, const T* in, T* out, int64_t r, int64_t inner) {
  __shared__ float part[kColRows][kColTile + 1];
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t o = blockIdx.y;
  float acc = reduce_init(op);
  if (col < inner) {
    const T* x = in + o * r * inner + col;
    for (int64_t k = threadIdx.y; k < r; k += blockDim.y)
      acc = reduce_step(op, acc, to_f(x[k * inner]), 0.0f);
  }
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < inner) {
    for (unsigned j = 1; j < blockDim.y; ++j) acc = reduce_combine(op, acc, part[j][threadIdx.x]);
    out[o * inner + col] = from_f<T>(reduce_finish(op, acc, r, 0.0f));
  }
}

// One thread per output element of any reduction (launch_reduce_strided).
template <typename T>
__global__ void reduce_strided_kernel(ReduceOp op, const T* in, T* out, StridedView kept,
                                      StridedView red, int64_t n_out, int64_t len) {
  VITRT_GRID_STRIDE(i, n_out) {
    const int64_t base = view_offset(kept, i);
    if constexpr (kIsFloat<T>) {
      float m = 0.0f;
      if (op == ReduceOp::kLogSumExp) {
        m = -INFINITY;
        for (int64_t j = 0; j < len; ++j) m = fmaxf(m, to_f(in[base + view_offset(red, j)]));
      }
      float acc = reduce_init(op);
      for (int64_t j = 0; j < len; ++j)
        acc = reduce_step(op, acc, to_f(in[base + view_offset(red, j)]), m);
      out[i] = from_f<T>(reduce_finish(op, acc, len, m));
    } else {
      int64_t acc = op == ReduceOp::kMax    ? INT64_MIN
                    : op == ReduceOp::kMin  ? INT64_MAX
                    : op == ReduceOp::kProd ? 1
                                            : 0;
      for (int64_t j = 0; j < len; ++j) {
        const int64_t v = static_cast<int64_t>(in[base + view_offset(red, j)]);
        switch (op) {
          case ReduceOp::kMax:
            acc = v > acc ? v : acc;
            break;
          case ReduceOp::kMin:
            acc = v < acc ? v : acc;
            break;
          case ReduceOp::kProd:
            acc *= v;
            break;
          case ReduceOp::kL1:
            acc += v < 0 ? -v : v;
            break;
          case ReduceOp::kL2:
          case ReduceOp::kSumSquare:
            acc += v * v;
            break;
          default:
            acc += v;
        }
      }
      if (op == ReduceOp::kMean) acc = len > 0 ? acc / len : 0;
      if (op == ReduceOp::kL2) acc = static_cast<int64_t>(sqrt(static_cast<double>(acc)));
      if (op == ReduceOp::kLogSum) acc = static_cast<int64_t>(log(static_cast<double>(acc)));
      out[i] = static_cast<T>(acc);
    }
  }
}

// Whether reduce_cols_kernel takes [outer, r, inner]: columns long enough to split and a grid
// of at most 65535 outer indices.
bool use_reduce_cols(ReduceOp op, int64_t outer, int64_t r, int64_t inner) {
  return op != ReduceOp::kLogSumExp && inner > 1 && r >= 64 && outer <= 65535;
}

template <typename T>
void launch_reduce_cols(ReduceOp op, const T* in, T* out, int64_t outer, int64_t r, int64_t inner,
                        cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((inner + kColTile - 1) / kColTile),
                  static_cast<unsigned>(outer));
  // 8 threads down a column where the grid fills the GPU, all 32 where it is a few blocks (one
  // image: a batch-1 latency path).
  const unsigned rows = grid.x * grid.y >= 256 ? 8 : kColRows;
  reduce_cols_kernel<T><<<grid, dim3(kColTile, rows), 0, stream>>>(op, in, out, r, inner);
}

// One block per row of the last axis, for the sums and extrema (Prod takes the column kernel).
template <typename T>
__global__ void reduce_last_kernel(ReduceOp op, const T* in, T* out, int64_t r) {
  __shared__ float scratch[32];
  const T* x = in + blockIdx.x * r;
  float m = 0.0f;
  if (op == ReduceOp::kLogSumExp) {
    m = -INFINITY;
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) m = fmaxf(m, to_f(x[j]));
    m = block_max(m, scratch);
  }
  float acc = reduce_init(op);
  for (int64_t j = threadIdx.x; j < r; j += blockDim.x) acc = reduce_step(op, acc, to_f(x[j]), m);
  if (op == ReduceOp::kMax) {
    acc = block_max(acc, scratch);
  } else if (op == ReduceOp::kMin) {
    acc = -block_max(-acc, scratch);
  } else {
    acc = block_sum(acc, scratch);
  }
  if (threadIdx.x == 0) out[blockIdx.x] = from_f<T>(reduce_finish(op, acc, r, m));
}

template <typename T>
__global__ void batch_norm_kernel(const T* x, const T* scale, const T* bias, const T* mean,
                                  const T* var, T* y, int64_t channels, int64_t spatial,
                                  float epsilon, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const int64_t c = (i / spatial) % channels;
    const float a = to_f(scale[c]) / sqrtf(to_f(var[c]) + epsilon);
    y[i] = from_f<T>(to_f(x[i]) * a + (to_f(bias[c]) - to_f(mean[c]) * a));
  }
}

// One element of the row to normalize: a (+ b), with vitrt.AddLayerNorm's fake quantization
// under kQuant (launch.h's NormQuant); *stored receives the sum as the sum output holds it.
template <typename T, bool kQuant>
__device__ __forceinline__ float norm_element(T a, const T* b, const NormQuant& q, T* stored) {
  float va = to_f(a);
  if constexpr (!kQuant) {
    if (b != nullptr) va += to_f(*b);
    *stored = from_f<T>(va);
    return va;
  } else {
    if (q.has_a) va = to_f(from_f<T>(fake_quant_of<T>(va, q.a, q.inv_a)));
    if (b != nullptr) {
      float vb = to_f(*b);
      if (q.has_b) vb = to_f(from_f<T>(fake_quant_of<T>(vb, q.b, q.inv_b)));
      va = __fadd_rn(va, vb);  // not contracted with the fake quantization's multiply
    }
    *stored = from_f<T>(va);
    return q.has_sum ? to_f(from_f<T>(fake_quant_of<T>(to_f(*stored), q.sum, q.inv_sum))) : va;
  }
}

// Two passes over the row (mean, then centred variance) for accuracy; the row is re-read from
// global memory (L1/L2-resident at transformer widths) rather than staged, to allow any width.
template <typename T, typename Y, bool kQuant>
__global__ void layer_norm_kernel(const T* a, const T* b, int64_t b_rows, const T* gamma,
                                  const T* beta, Y* y, T* sum, int64_t cols, float eps,
                                  Int8Code code, bool rms, NormQuant nq) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const T* pa = a + row * cols;
  const T* pb = b != nullptr ? b + (row % b_rows) * cols : nullptr;
  float s = 0.0f;
  T stored;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = norm_element<T, kQuant>(pa[j], pb != nullptr ? pb + j : nullptr, nq, &stored);
    if (sum != nullptr) sum[row * cols + j] = stored;
    s += v;
  }
  const float mean = rms ? 0.0f : block_sum(s, scratch) / static_cast<float>(cols);
  float q = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = norm_element<T, kQuant>(pa[j], pb != nullptr ? pb + j : nullptr, nq, &stored);
    const float d = v - mean;
    q += d * d;
  }
  const float inv = rsqrtf(block_sum(q, scratch) / static_cast<float>(cols) + eps);
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = norm_element<T, kQuant>(pa[j], pb != nullptr ? pb + j : nullptr, nq, &stored);
    float o = (v - mean) * inv * to_f(gamma[j]);
    if (beta != nullptr) o += to_f(beta[j]);
    y[row * cols + j] = store_out<Y>(o, code);
  }
}

// One block per (sample, group) row of channels_per_group * spatial elements, two passes as
// layer_norm_kernel (fp32 statistics); the scale and bias follow each element's channel, or its
// group with params_per_group (GroupNormalization-18). InstanceNormalization is one channel per
// group.
template <typename T>
__global__ void group_norm_kernel(const T* x, const T* scale, const T* bias, T* y, int64_t groups,
                                  int64_t channels_per_group, int64_t spatial,
                                  bool params_per_group, float eps) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const int64_t len = channels_per_group * spatial;
  const T* px = x + row * len;
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) s += to_f(px[j]);
  const float mean = block_sum(s, scratch) / static_cast<float>(len);
  float q = 0.0f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
    const float d = to_f(px[j]) - mean;
    q += d * d;
  }
  const float inv = rsqrtf(block_sum(q, scratch) / static_cast<float>(len) + eps);
  const int64_t g = row % groups;
  T* py = y + row * len;
  if (spatial >= blockDim.x) {
    // Channel by channel: one scale and bias per channel, no division per element.
    for (int64_t k = 0; k < channels_per_group; ++k) {
      const int64_t p = params_per_group ? g : g * channels_per_group + k;
      const float a = inv * to_f(scale[p]);
      const float b = to_f(bias[p]) - mean * a;
      for (int64_t j = threadIdx.x; j < spatial; j += blockDim.x) {
        py[k * spatial + j] = from_f<T>(to_f(px[k * spatial + j]) * a + b);
      }
    }
    return;
  }
  // Small planes: every thread busy over the whole group.
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
    const int64_t p = params_per_group ? g : g * channels_per_group + j / spatial;
    const float a = inv * to_f(scale[p]);
    py[j] = from_f<T>(to_f(px[j]) * a + (to_f(bias[p]) - mean * a));
  }
}

// The split form of group_norm_kernel for few long rows (a batch of one image has only
// num_groups rows, too few blocks to keep the GPU busy): grid (chunks, rows), each block one
// chunk of a row. Pass 1 writes each chunk's sums of x - K and (x - K)^2 (K the row's first
// element: a shift that keeps the fp32 variance E[d^2] - E[d]^2 clear of cancellation);
// pass 2 adds the row's partials in a fixed order (deterministic) and normalizes its chunk.
template <typename T>
__global__ void group_norm_partials_kernel(const T* x, float* partials, int64_t len,
                                           int64_t chunk) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.y;
  const T* px = x + row * len;
  const float k = to_f(px[0]);
  const int64_t begin = blockIdx.x * chunk;
  const int64_t end = begin + chunk < len ? begin + chunk : len;
  float s = 0.0f, q = 0.0f;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const float d = to_f(px[j]) - k;
    s += d;
    q += d * d;
  }
  s = block_sum(s, scratch);
  q = block_sum(q, scratch);
  if (threadIdx.x == 0) {
    float* p = partials + (row * gridDim.x + blockIdx.x) * 2;
    p[0] = s;
    p[1] = q;
  }
}

template <typename T>
__global__ void group_norm_apply_kernel(const T* x, const T* scale, const T* bias, T* y,
                                        const float* partials, int64_t groups,
                                        int64_t channels_per_group, int64_t spatial,
                                        bool params_per_group, float eps, int64_t chunk) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.y;
  const int64_t len = channels_per_group * spatial;
  const unsigned chunks = gridDim.x;
  float s = 0.0f, q = 0.0f;
  for (unsigned c = threadIdx.x; c < chunks; c += blockDim.x) {
    s += partials[(row * chunks + c) * 2];
    q += partials[(row * chunks + c) * 2 + 1];
  }
  s = block_sum(s, scratch);
  q = block_sum(q, scratch);
  const T* px = x + row * len;
  const float shift = s / static_cast<float>(len);
  const float var = fmaxf(q / static_cast<float>(len) - shift * shift, 0.0f);
  const float mean = to_f(px[0]) + shift;
  const float inv = rsqrtf(var + eps);
  const int64_t g = row % groups;
  const int64_t begin = blockIdx.x * chunk;
  const int64_t end = begin + chunk < len ? begin + chunk : len;
  T* py = y + row * len;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) {
    const int64_t p = params_per_group ? g : g * channels_per_group + j / spatial;
    const float a = inv * to_f(scale[p]);
    py[j] = from_f<T>(to_f(px[j]) * a + (to_f(bias[p]) - mean * a));
  }
}

// LpNormalization: one thread per (outer, inner) column of [outer, r, inner], x / ||x||_p.
template <typename T>
__global__ void lp_norm_kernel(const T* in, T* out, int64_t outer, int64_t r, int64_t inner,
                               int p) {
  VITRT_GRID_STRIDE(i, outer * inner) {
    const int64_t base = (i / inner) * r * inner + (i % inner);
    float acc = 0.0f;
    for (int64_t k = 0; k < r; ++k) {
      const float v = to_f(in[base + k * inner]);
      acc += p == 1 ? fabsf(v) : v * v;
    }
    const float norm = p == 1 ? acc : sqrtf(acc);
    for (int64_t k = 0; k < r; ++k) {
      out[base + k * inner] = from_f<T>(to_f(in[base + k * inner]) / norm);
    }
  }
}

// MeanVarianceNormalization: one block per combination of the kept axes (`kept` walks them,
// `reduced` the normalized axes, both with x's strides): (x - mean) / (sqrt(var) + 1e-9), the
// ONNX function's formula, with fp32 two-pass statistics.
template <typename T>
__global__ void mvn_kernel(const T* in, T* out, StridedView kept, StridedView reduced,
                           int64_t len) {
  __shared__ float scratch[32];
  const int64_t base = view_offset(kept, blockIdx.x);
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
    s += to_f(in[base + view_offset(reduced, j)]);
  }
  const float mean = block_sum(s, scratch) / static_cast<float>(len);
  float q = 0.0f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
    const float d = to_f(in[base + view_offset(reduced, j)]) - mean;
    q += d * d;
  }
  const float denom = sqrtf(block_sum(q, scratch) / static_cast<float>(len)) + 1e-9f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
    const int64_t o = base + view_offset(reduced, j);
    out[o] = from_f<T>((to_f(in[o]) - mean) / denom);
  }
}

// LayerNorm with one warp per row for rows that fit in registers (cols a whole number of
// 16-byte vectors, at most 32 * kLnMaxVecs of them): a, b, gamma and beta are each read once
// with 16-byte loads and the row stays in registers for the mean, the variance and the
// output, where the block-per-row kernel above reads the row three times, 2 bytes at a time.
constexpr int kLnMaxVecs = 8;
constexpr int kLnRowsPerBlock = 8;

template <typename T>
struct alignas(16) Vec16 {
  T v[16 / sizeof(T)];
};

// One lane's share of a row: its 16-byte vectors lane, lane + 32, ... of a (and b).
template <typename T, int kNv>
struct LnRow {
  Vec16<T> a[kNv];
  Vec16<T> b[kNv];
};

// Issues the loads of row `row` into r (b only where given).
template <typename T, int kNv>
__device__ __forceinline__ void ln_load(LnRow<T, kNv>& r, const T* a, const T* b, int64_t b_rows,
                                        int64_t row, int cols, int lane) {
  using V = Vec16<T>;
  const int nvec = cols / (16 / static_cast<int>(sizeof(T)));
  const V* pa = reinterpret_cast<const V*>(a + row * cols);
  const V* pb = b != nullptr ? reinterpret_cast<const V*>(b + (row % b_rows) * cols) : nullptr;
#pragma unroll
  for (int c = 0; c < kNv; ++c) {
    const int vi = lane + 32 * c;
    if (vi >= nvec) continue;
    r.a[c] = pa[vi];
    if (pb != nullptr) r.b[c] = pb[vi];
  }
}

// The rest of one row once its vectors are in registers: the sum output, the statistics from
// the registers, and y.
template <typename T, typename Y, int kNv, bool kQuant>
__device__ __forceinline__ void ln_finish(const LnRow<T, kNv>& r, bool has_b, const T* gamma,
                                          const T* beta, Y* y, T* sum, int64_t row, int cols,
                                          float eps, const Int8Code& code, bool rms,
                                          const NormQuant& nq, bool half2, int lane) {
  constexpr int kVec = 16 / sizeof(T);
  using V = Vec16<T>;
  // y's share of one 16-byte input vector: 16 bytes, or kVec codes.
  struct alignas(kVec * sizeof(Y)) YVec {
    Y v[kVec];
  };
  const int nvec = cols / kVec;
  float x[kNv][kVec];
  float s = 0.0f;
  if (!kQuant && !has_b && sum == nullptr) {
    // A plain LayerNorm (the E4M3-writing ones of fp8 plans): no addend, no sum to store.
#pragma unroll
    for (int c = 0; c < kNv; ++c) {
      if (lane + 32 * c >= nvec) continue;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        x[c][e] = to_f(r.a[c].v[e]);
        s += x[c][e];
      }
    }
  } else {
#pragma unroll
    for (int c = 0; c < kNv; ++c) {
      const int vi = lane + 32 * c;
      if (vi >= nvec) continue;
      V vs;
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        const float v =
            norm_element<T, kQuant>(r.a[c].v[e], has_b ? &r.b[c].v[e] : nullptr, nq, &vs.v[e]);
        x[c][e] = v;
        s += v;
      }
      if (sum != nullptr) reinterpret_cast<V*>(sum + row * cols)[vi] = vs;
    }
  }
  const float mean = rms ? 0.0f : warp_sum(s) / static_cast<float>(cols);
  float q = 0.0f;
#pragma unroll
  for (int c = 0; c < kNv; ++c) {
    if (lane + 32 * c >= nvec) continue;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      const float d = x[c][e] - mean;
      q += d * d;
    }
  }
  const float inv = rsqrtf(warp_sum(q) / static_cast<float>(cols) + eps);
  const V* pg = reinterpret_cast<const V*>(gamma);
  const V* pbeta = reinterpret_cast<const V*>(beta);
  if constexpr (std::is_same_v<T, __half> && std::is_same_v<Y, uint8_t> && !kQuant) {
    // E4M3 codes from fp16 pairs (ln_half2_codes_ok): t = x inv - mean inv, then
    // (t gamma + beta) / output_scale, three half2 instructions and one conversion a pair
    // against about seven fp32 ones an element. |t| <= sqrt(cols) + 2 here (no value lies
    // further than sqrt(cols) deviations from its row's mean), which the host bounded gamma and
    // beta against; the steps' fp16 rounding (2^-11 relative) is a sixty-fourth of an E4M3
    // step. Rows whose mean is more than two deviations from 0, or whose 1 / deviation is no
    // normal fp16 value, take the fp32 pass below.
    if (half2 && !has_b && sum == nullptr && fabsf(mean * inv) <= 2.0f && inv >= 0x1p-14f &&
        inv <= 32768.0f) {
      const __half2 h_inv = __float2half2_rn(inv);
      const __half2 h_shift = __float2half2_rn(-mean * inv);
      const __half2 h_r = __float2half2_rn(code.div.r);
#pragma unroll
      for (int c = 0; c < kNv; ++c) {
        const int vi = lane + 32 * c;
        if (vi >= nvec) continue;
        const V g = pg[vi];
        const V bt = pbeta != nullptr ? pbeta[vi] : V{};
        YVec o;
        const __half2* xa = reinterpret_cast<const __half2*>(r.a[c].v);
        const __half2* ga = reinterpret_cast<const __half2*>(g.v);
        const __half2* ba = reinterpret_cast<const __half2*>(bt.v);
#pragma unroll
        for (int e = 0; e < kVec / 2; ++e) {
          const __half2 t = __hfma2(xa[e], h_inv, h_shift);
          const __half2 u = __hmul2(__hfma2(t, ga[e], ba[e]), h_r);
          const __nv_fp8x2_storage_t pair =
              __nv_cvt_halfraw2_to_fp8x2(static_cast<__half2_raw>(u), __NV_SATFINITE, __NV_E4M3);
          o.v[2 * e] = static_cast<uint8_t>(pair & 0xff);
          o.v[2 * e + 1] = static_cast<uint8_t>(pair >> 8);
        }
        reinterpret_cast<YVec*>(y + row * cols)[vi] = o;
      }
      return;
    }
  }
#pragma unroll
  for (int c = 0; c < kNv; ++c) {
    const int vi = lane + 32 * c;
    if (vi >= nvec) continue;
    const V g = pg[vi];
    const V bt = pbeta != nullptr ? pbeta[vi] : V{};
    YVec o;
    float v[kVec];
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      v[e] = (x[c][e] - mean) * inv * to_f(g.v[e]);
      if (pbeta != nullptr) v[e] += to_f(bt.v[e]);
    }
    if constexpr (std::is_same_v<Y, uint8_t> || std::is_same_v<Y, int8_t>) {
      // Codes of v times 1 / output_scale (quotient_by_reciprocal): the exact division
      // (store_out) cost about six instructions an element in a kernel bound by its issue rate.
      // The product can differ from the quotient in the last bit, which moves a code to its
      // neighbour only where the quotient lies that close to the midpoint between two codes.
#pragma unroll
      for (int e = 0; e < kVec; ++e) v[e] = quotient_by_reciprocal(v[e], code.div);
    }
    if constexpr (std::is_same_v<Y, uint8_t>) {
      // E4M3 codes two a conversion.
#pragma unroll
      for (int e = 0; e < kVec; e += 2) {
        const __nv_fp8x2_storage_t pair =
            __nv_cvt_float2_to_fp8x2(make_float2(v[e], v[e + 1]), __NV_SATFINITE, __NV_E4M3);
        o.v[e] = static_cast<uint8_t>(pair & 0xff);
        o.v[e + 1] = static_cast<uint8_t>(pair >> 8);
      }
    } else if constexpr (std::is_same_v<Y, int8_t>) {
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        o.v[e] = static_cast<int8_t>(round_clamped(v[e], code.qmin, 127.0f));
      }
    } else {
#pragma unroll
      for (int e = 0; e < kVec; ++e) o.v[e] = store_out<Y>(v[e], code);
    }
    reinterpret_cast<YVec*>(y + row * cols)[vi] = o;
  }
}

// kNv: 16-byte vectors per lane (the row's vectors / 32, rounded up), fixed at compile time so
// the row held in registers is only as large as the row: sized for the largest row (kLnMaxVecs)
// the kernel took 92 registers at ViT's 768 columns, which capped it at a quarter of the
// warps a multiprocessor holds and left it waiting on memory (58% of DRAM bandwidth). The row's
// loads are all issued (ln_load) before any store: when the sum output was stored in the same
// loop that loaded a and b, the compiler could not move a later vector's load above an
// earlier store (sum may alias them), and each warp waited for its loads one vector at a time:
// ViT-B/16's LayerNorms at batch 256 went from 1.34 to 0.98 ms, the E4M3-writing ones of its
// fp8 plan from 1.53 to 1.25 ms (H200).
template <typename T, typename Y, int kNv, bool kQuant>
__global__ void __launch_bounds__(kLnRowsPerBlock * 32)
    layer_norm_warp_kernel(const T* a, const T* b, int64_t b_rows, const T* gamma, const T* beta,
                           Y* y, T* sum, int64_t rows, int cols, float eps, Int8Code code, bool rms,
                           NormQuant nq, bool half2) {
  const int lane = threadIdx.x & 31;
  // Rows last to first: the GEMM before a LayerNorm (cuBLASLt's and CUTLASS's persistent
  // kernels walk tall problems' tiles along M) wrote the last rows last, and those are the ones
  // still in L2. ViT-B/16's fp8 plan at batch 256 on the H100, with the attention below doing
  // the same over its batch: the LayerNorms 1.060 -> 1.005 ms, the plan 10.67-10.76 -> 10.60-10.64.
  const int64_t from_first = int64_t(blockIdx.x) * kLnRowsPerBlock + (threadIdx.x >> 5);
  if (from_first >= rows) return;
  const int64_t row = rows - 1 - from_first;
  LnRow<T, kNv> r;
  ln_load<T, kNv>(r, a, b, b_rows, row, cols, lane);
  ln_finish<T, Y, kNv, kQuant>(r, b != nullptr, gamma, beta, y, sum, row, cols, eps, code, rms, nq,
                               half2, lane);
}

template <typename T>
__global__ void bias_act_kernel(T* data, const T* bias, int64_t cols, UnaryOp act, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    float v = to_f(data[i]);
    if (bias != nullptr) v += to_f(bias[i % cols]);
    data[i] = from_f<T>(activate(act, v));
  }
}

// bias + activation over 16-byte vectors: each thread owns whole vectors of one row, so the
// column of a vector is one 32-bit remainder per 16 bytes (the scalar kernel divides 64-bit
// per element, which made it several times slower than the bytes it moves; ViT-B/16's fc1
// GELU at batch 256 took 0.5 ms of its 0.87).
template <typename T, UnaryOp kAct, bool kBias>
__global__ void __launch_bounds__(256)
    bias_act_vec_kernel(T* data, const T* bias, uint32_t col_vecs, uint32_t n_vecs) {
  using V = Vec16<T>;
  constexpr int kVec = 16 / sizeof(T);
  V* d = reinterpret_cast<V*>(data);
  const V* b = reinterpret_cast<const V*>(bias);
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n_vecs;
       i += gridDim.x * blockDim.x) {
    V x = d[i];
    V bv;
    if constexpr (kBias) bv = b[i % col_vecs];
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      float v = to_f(x.v[e]);
      if constexpr (kBias) v += to_f(bv.v[e]);
      x.v[e] = from_f<T>(activate_fixed<kAct>(v));
    }
    d[i] = x;
  }
}

// vitrt.ScaleShift: y = act(x * scale[col] + shift[col]), in fp32, over 16-byte vectors as
// bias_act_vec_kernel (a scalar fallback below for rows that are no whole vectors).
template <typename T, UnaryOp kAct>
__global__ void __launch_bounds__(256)
    scale_shift_vec_kernel(const T* x, const T* scale, const T* shift, T* y, uint32_t col_vecs,
                           uint32_t n_vecs) {
  using V = Vec16<T>;
  constexpr int kVec = 16 / sizeof(T);
  const V* xv = reinterpret_cast<const V*>(x);
  const V* sv = reinterpret_cast<const V*>(scale);
  const V* tv = reinterpret_cast<const V*>(shift);
  V* yv = reinterpret_cast<V*>(y);
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n_vecs;
       i += gridDim.x * blockDim.x) {
    V v = xv[i];
    const uint32_t c = i % col_vecs;
    const V s = sv[c], t = tv[c];
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      v.v[e] = from_f<T>(activate_fixed<kAct>(to_f(v.v[e]) * to_f(s.v[e]) + to_f(t.v[e])));
    }
    yv[i] = v;
  }
}

template <typename T>
__global__ void scale_shift_kernel(const T* x, const T* scale, const T* shift, T* y, int64_t cols,
                                   UnaryOp act, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const int64_t c = i % cols;
    y[i] = from_f<T>(activate(act, to_f(x[i]) * to_f(scale[c]) + to_f(shift[c])));
  }
}

template <typename T, UnaryOp kAct>
void launch_bias_act_vec(T* data, const T* bias, int64_t cols, int64_t n, cudaStream_t stream) {
  constexpr int kVec = 16 / sizeof(T);
  const uint32_t col_vecs = static_cast<uint32_t>(cols / kVec);
  const uint32_t n_vecs = static_cast<uint32_t>(n / kVec);
  const unsigned grid = grid_for(n_vecs, 256);
  if (bias != nullptr) {
    bias_act_vec_kernel<T, kAct, true><<<grid, 256, 0, stream>>>(data, bias, col_vecs, n_vecs);
  } else {
    bias_act_vec_kernel<T, kAct, false><<<grid, 256, 0, stream>>>(data, bias, col_vecs, n_vecs);
  }
}

}  // namespace

template <typename T, bool kLog>
void launch_softmax_t(const T* in, T* out, int64_t outer, int64_t r, int64_t inner,
                      cudaStream_t stream) {
  if (inner == 1 && r <= 2048) {
    const int64_t rows_per_block = kRowThreads / 32;
    softmax_warp_kernel<T, kLog>
        <<<static_cast<unsigned>((outer + rows_per_block - 1) / rows_per_block), kRowThreads, 0,
           stream>>>(in, out, outer, r);
  } else if (inner == 1) {
    softmax_last_kernel<T, kLog>
        <<<static_cast<unsigned>(outer), kRowThreads, 0, stream>>>(in, out, r);
  } else {
    softmax_mid_kernel<T, kLog>
        <<<grid_for(outer * inner, 256), 256, 0, stream>>>(in, out, outer, r, inner);
  }
}

cudaError_t launch_softmax(Elt type, const void* in, void* out, int64_t outer, int64_t r,
                           int64_t inner, cudaStream_t stream, bool log) {
  if (outer * r * inner == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    const T* x = static_cast<const T*>(in);
    T* y = static_cast<T*>(out);
    if (log) {
      launch_softmax_t<T, true>(x, y, outer, r, inner, stream);
    } else {
      launch_softmax_t<T, false>(x, y, outer, r, inner, stream);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_reduce_mean(Elt type, const void* in, void* out, int64_t outer, int64_t r,
                               int64_t inner, cudaStream_t stream) {
  if (outer * inner == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (inner == 1) {
      mean_last_kernel<T><<<static_cast<unsigned>(outer), kRowThreads, 0, stream>>>(
          static_cast<const T*>(in), static_cast<T*>(out), r);
    } else if (use_reduce_cols(ReduceOp::kMean, outer, r, inner)) {
      launch_reduce_cols(ReduceOp::kMean, static_cast<const T*>(in), static_cast<T*>(out), outer, r,
                         inner, stream);
    } else {
      mean_mid_kernel<T><<<grid_for(outer * inner, 256), 256, 0, stream>>>(
          static_cast<const T*>(in), static_cast<T*>(out), outer, r, inner);
    }
    return cudaGetLastError();
  });
}

template <typename T, typename Y, bool kQuant>
cudaError_t layer_norm_typed(const T* a, const T* b, int64_t b_rows, const T* gamma, const T* beta,
                             Y* y, T* sum, int64_t rows, int64_t cols, float epsilon,
                             const Int8Code& code, bool rms, const NormQuant& nq, bool half2,
                             cudaStream_t stream) {
  constexpr int64_t kVec = 16 / sizeof(T);
  b_rows = b_rows < 1 ? 1 : b_rows;
  if (cols % kVec == 0 && cols / kVec <= 32 * kLnMaxVecs && aligned16(a) && aligned16(b) &&
      aligned16(gamma) && aligned16(beta) && aligned16(y) && aligned16(sum)) {
    const unsigned blocks = static_cast<unsigned>((rows + kLnRowsPerBlock - 1) / kLnRowsPerBlock);
    const auto go = [&](auto nv) {
      layer_norm_warp_kernel<T, Y, decltype(nv)::value, kQuant>
          <<<blocks, kLnRowsPerBlock * 32, 0, stream>>>(a, b, b_rows, gamma, beta, y, sum, rows,
                                                        static_cast<int>(cols), epsilon, code, rms,
                                                        nq, half2);
      return cudaGetLastError();
    };
    switch ((cols / kVec + 31) / 32) {
      case 1:
        return go(std::integral_constant<int, 1>{});
      case 2:
        return go(std::integral_constant<int, 2>{});
      case 3:
        return go(std::integral_constant<int, 3>{});
      case 4:
        return go(std::integral_constant<int, 4>{});
      case 5:
      case 6:
        return go(std::integral_constant<int, 6>{});
      default:
        return go(std::integral_constant<int, kLnMaxVecs>{});
    }
  }
  layer_norm_kernel<T, Y, kQuant><<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(
      a, b, b_rows, gamma, beta, y, sum, cols, epsilon, code, rms, nq);
  return cudaGetLastError();
}

bool ln_half2_codes_ok(int64_t cols, float max_abs_gamma, float max_abs_beta, float code_scale) {
  // On unless VITRT_LN_HALF2_CODES=0 (bench/gpu/RESULTS.md, session 44: the fp8 plan's 24
  // LayerNorms at batch 256 1.154 -> 1.033 ms on the H100).
  static const bool on = env_switch_on("VITRT_LN_HALF2_CODES");
  if (!on || !(code_scale > 0.0f) || cols <= 0) return false;
  const float r = 1.0f / code_scale;
  const float t = std::sqrt(static_cast<float>(cols)) + 2.0f;
  // Half of fp16's largest value, for the roundings on the way.
  return r >= 0x1p-14f && r <= 32768.0f && t * max_abs_gamma + max_abs_beta <= 32768.0f &&
         std::isfinite(max_abs_gamma) && std::isfinite(max_abs_beta);
}

cudaError_t launch_layer_norm(Elt type, const void* a, const void* b, int64_t b_rows,
                              const void* gamma, const void* beta, void* y, void* sum, int64_t rows,
                              int64_t cols, float epsilon, cudaStream_t stream, float code_scale,
                              bool rms, const NormQuant& quant, bool code_int8, int code_qmin,
                              bool half2_codes) {
  if (rows * cols == 0) return cudaSuccess;
  if (code_scale < 0.0f) return cudaErrorInvalidValue;
  NormQuant nq = quant;
  nq.inv_a = 1.0f / nq.a.scale;
  nq.inv_b = 1.0f / nq.b.scale;
  nq.inv_sum = 1.0f / nq.sum.scale;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    const T* ta = static_cast<const T*>(a);
    const T* tb = static_cast<const T*>(b);
    const T* tg = static_cast<const T*>(gamma);
    const T* tbeta = static_cast<const T*>(beta);
    T* tsum = static_cast<T*>(sum);
    const auto go = [&](auto quantized) {
      constexpr bool kQuant = decltype(quantized)::value;
      // The code's divisor once here, not per thread.
      const Int8Code code = int8_code_of(code_scale > 0.0f ? code_scale : 1.0f, code_qmin);
      if (code_scale > 0.0f && code_int8) {
        return layer_norm_typed<T, int8_t, kQuant>(ta, tb, b_rows, tg, tbeta,
                                                   static_cast<int8_t*>(y), tsum, rows, cols,
                                                   epsilon, code, rms, nq, false, stream);
      }
      if (code_scale > 0.0f) {
        return layer_norm_typed<T, uint8_t, kQuant>(
            ta, tb, b_rows, tg, tbeta, static_cast<uint8_t*>(y), tsum, rows, cols, epsilon, code,
            rms, nq, half2_codes && !rms && code.div.r != 0.0f, stream);
      }
      return layer_norm_typed<T, T, kQuant>(ta, tb, b_rows, tg, tbeta, static_cast<T*>(y), tsum,
                                            rows, cols, epsilon, code, rms, nq, false, stream);
    };
    return nq.any() ? go(std::true_type{}) : go(std::false_type{});
  });
}

cudaError_t launch_bias_act(Elt type, void* data, const void* bias, int64_t rows, int64_t cols,
                            UnaryOp act, cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    constexpr int64_t kVec = 16 / sizeof(T);
    T* d = static_cast<T*>(data);
    const T* b = static_cast<const T*>(bias);
    if (cols % kVec == 0 && n / kVec < (int64_t(1) << 31) && aligned16(d) &&
        (b == nullptr || aligned16(b))) {
      const bool launched = with_fixed_activation(act, [&](auto fixed) {
        launch_bias_act_vec<T, decltype(fixed)::value>(d, b, cols, n, stream);
      });
      if (launched) return cudaGetLastError();
    }
    bias_act_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(d, b, cols, act, n);
    return cudaGetLastError();
  });
}

cudaError_t launch_scale_shift(Elt type, const void* x, const void* scale, const void* shift,
                               void* y, int64_t rows, int64_t cols, UnaryOp act,
                               cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    constexpr int64_t kVec = 16 / sizeof(T);
    const T* xt = static_cast<const T*>(x);
    const T* st = static_cast<const T*>(scale);
    const T* tt = static_cast<const T*>(shift);
    T* yt = static_cast<T*>(y);
    if (cols % kVec == 0 && n / kVec < (int64_t(1) << 31) && aligned16(xt) && aligned16(st) &&
        aligned16(tt) && aligned16(yt)) {
      const uint32_t col_vecs = static_cast<uint32_t>(cols / kVec);
      const uint32_t n_vecs = static_cast<uint32_t>(n / kVec);
      const bool launched = with_fixed_activation(act, [&](auto fixed) {
        scale_shift_vec_kernel<T, decltype(fixed)::value>
            <<<grid_for(n_vecs, 256), 256, 0, stream>>>(xt, st, tt, yt, col_vecs, n_vecs);
      });
      if (launched) return cudaGetLastError();
    }
    scale_shift_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(xt, st, tt, yt, cols, act, n);
    return cudaGetLastError();
  });
}

int64_t group_norm_chunks(int64_t rows, int64_t len) {
  // Enough blocks to fill an H100/H200 a few times over (132 SMs), each chunk at least 2048
  // elements so that the partial sums stay a small part of the work.
  constexpr int64_t kTargetBlocks = 1024, kMinChunk = 2048, kMaxChunks = 256;
  if (rows <= 0 || len < 2 * kMinChunk) return 1;
  int64_t chunks = kTargetBlocks / rows;
  chunks = chunks < (len + kMinChunk - 1) / kMinChunk ? chunks : (len + kMinChunk - 1) / kMinChunk;
  chunks = chunks < kMaxChunks ? chunks : kMaxChunks;
  return chunks < 2 ? 1 : chunks;
}

cudaError_t launch_group_norm(Elt type, const void* x, const void* scale, const void* bias, void* y,
                              int64_t n, int64_t channels, int64_t groups, int64_t spatial,
                              bool params_per_group, float epsilon, cudaStream_t stream,
                              float* partials) {
  if (n * channels * spatial == 0) return cudaSuccess;
  if (groups <= 0 || channels % groups != 0) return cudaErrorInvalidValue;
  const int64_t rows = n * groups, cpg = channels / groups, len = cpg * spatial;
  const int64_t chunks = group_norm_chunks(rows, len);
  if (chunks > 1 && partials == nullptr) return cudaErrorInvalidValue;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    const T* px = static_cast<const T*>(x);
    if (chunks > 1) {
      const int64_t chunk = (len + chunks - 1) / chunks;
      const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(rows));
      group_norm_partials_kernel<T><<<grid, kRowThreads, 0, stream>>>(px, partials, len, chunk);
      group_norm_apply_kernel<T><<<grid, kRowThreads, 0, stream>>>(
          px, static_cast<const T*>(scale), static_cast<const T*>(bias), static_cast<T*>(y),
          partials, groups, cpg, spatial, params_per_group, epsilon, chunk);
    } else {
      group_norm_kernel<T><<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(
          px, static_cast<const T*>(scale), static_cast<const T*>(bias), static_cast<T*>(y), groups,
          cpg, spatial, params_per_group, epsilon);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_instance_norm(Elt type, const void* x, const void* scale, const void* bias,
                                 void* y, int64_t rows, int64_t channels, int64_t spatial,
                                 float epsilon, cudaStream_t stream, float* partials) {
  if (channels == 0) return cudaSuccess;
  return launch_group_norm(type, x, scale, bias, y, rows / channels, channels, channels, spatial,
                           false, epsilon, stream, partials);
}

cudaError_t launch_lp_norm(Elt type, const void* in, void* out, int64_t outer, int64_t r,
                           int64_t inner, int p, cudaStream_t stream) {
  if (outer * r * inner == 0) return cudaSuccess;
  if (p != 1 && p != 2) return cudaErrorInvalidValue;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    lp_norm_kernel<T><<<grid_for(outer * inner, 256), 256, 0, stream>>>(
        static_cast<const T*>(in), static_cast<T*>(out), outer, r, inner, p);
    return cudaGetLastError();
  });
}

cudaError_t launch_mvn(Elt type, const void* in, void* out, const StridedView& kept,
                       const StridedView& reduced, cudaStream_t stream) {
  const int64_t groups = view_numel(kept), len = view_numel(reduced);
  if (groups * len == 0) return cudaSuccess;
  if (groups > 0x7fffffff) return cudaErrorInvalidValue;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    mvn_kernel<T><<<static_cast<unsigned>(groups), kRowThreads, 0, stream>>>(
        static_cast<const T*>(in), static_cast<T*>(out), kept, reduced, len);
    return cudaGetLastError();
  });
}

cudaError_t launch_reduce_strided(ReduceOp op, Elt type, const void* in, void* out,
                                  const StridedView& kept, const StridedView& reduced,
                                  cudaStream_t stream) {
  const int64_t n_out = view_numel(kept), len = view_numel(reduced);
  if (n_out == 0) return cudaSuccess;
  return dispatch_any(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) {
      return cudaErrorInvalidValue;
    } else {
      if (!kIsFloat<T> && op == ReduceOp::kLogSumExp) return cudaErrorInvalidValue;
      reduce_strided_kernel<T><<<grid_for(n_out, 256), 256, 0, stream>>>(
          op, static_cast<const T*>(in), static_cast<T*>(out), kept, reduced, n_out, len);
      return cudaGetLastError();
    }
  });
}

cudaError_t launch_reduce(ReduceOp op, Elt type, const void* in, void* out, int64_t outer,
                          int64_t r, int64_t inner, cudaStream_t stream) {
  if (outer * inner == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (inner == 1 && op != ReduceOp::kProd) {
      reduce_last_kernel<T><<<static_cast<unsigned>(outer), kRowThreads, 0, stream>>>(
          op, static_cast<const T*>(in), static_cast<T*>(out), r);
    } else if (use_reduce_cols(op, outer, r, inner)) {
      launch_reduce_cols(op, static_cast<const T*>(in), static_cast<T*>(out), outer, r, inner,
                         stream);
    } else {
      reduce_mid_kernel<T><<<grid_for(outer * inner, 256), 256, 0, stream>>>(
          op, static_cast<const T*>(in), static_cast<T*>(out), outer, r, inner);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_batch_norm(Elt type, const void* x, const void* scale, const void* bias,
                              const void* mean, const void* var, void* y, int64_t n,
                              int64_t channels, int64_t spatial, float epsilon,
                              cudaStream_t stream) {
  const int64_t total = n * channels * spatial;
  if (total == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    batch_norm_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(
        static_cast<const T*>(x), static_cast<const T*>(scale), static_cast<const T*>(bias),
        static_cast<const T*>(mean), static_cast<const T*>(var), static_cast<T*>(y), channels,
        spatial, epsilon, total);
    return cudaGetLastError();
  });
}

}  // namespace vitrt::cuda
