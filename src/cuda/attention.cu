// vitrt.Attention for the short sequences of vision and text transformers (50-257 tokens) and
// longer ones: one block per (query tile, head, batch) with an online softmax (running max and
// sum) over key tiles, so any key count works. fp16/bf16 with aligned 8-element head dims run
// on the tensor cores; fp32 (exact) and the odd layouts run the scalar kernel, fp32 throughout.
// On Hopper, fp16/bf16 attention with head dim 64 and at most 256 keys runs the wgmma form of
// cuda/cutlass/attention_sm90.cu instead (launch_attention below).
//
// Every kernel takes the output's element type Y as a template argument: the activation type,
// or uint8_t for E4M3 codes (vitrt.Attention's output_scale, AttentionArgs::out_scale), which
// each form converts to in its final store. The float instantiations are the code they were
// before codes existed (the conversion is `if constexpr`), so their registers do not change.
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "cuda/async_copy.cuh"
#include "cuda/attention_sm90.h"
#include "cuda/current_device.h"
#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

// 1 / the softmax sum of a row. A row with every key masked has sum 0 and gives NaN, as
// PyTorch's SDPA does, or 0 where the node asks for it (zero_masked_rows: the NaN guard it
// absorbed).
__device__ __forceinline__ float row_inverse(float l, bool zero_masked_rows) {
  return zero_masked_rows && l == 0.0f ? 0.0f : 1.0f / l;
}

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kQueryTile = kWarps * kRowsPerWarp;
constexpr int kKeyTile = 32;  // one key per lane
constexpr int kMaxHeadDim = 128;
constexpr int kAccPerLane = kMaxHeadDim / 32;

template <typename T, typename Y>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(AttentionArgs a) {
  extern __shared__ float smem[];
  const int dh = static_cast<int>(a.dh), dv = static_cast<int>(a.dv);
  float* q_s = smem;                       // [kQueryTile][dh]
  float* k_s = q_s + kQueryTile * dh;      // [kKeyTile][dh + 1] (padded: lane j reads row j)
  float* v_s = k_s + kKeyTile * (dh + 1);  // [kKeyTile][dv]
  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t(blockIdx.x) * kQueryTile;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const T* q = static_cast<const T*>(a.q);
  const T* k = static_cast<const T*>(a.k);
  const T* v = static_cast<const T*>(a.v);
  const T* mask = static_cast<const T*>(a.mask);

  for (int e = threadIdx.x; e < kQueryTile * dh; e += blockDim.x) {
    const int r = e / dh, d = e % dh;
    const int64_t i = q0 + r;
    q_s[e] = i < a.sq ? to_f(q[(b * a.sq + i) * a.q_row_stride + h * a.dh + d]) : 0.0f;
  }

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kAccPerLane];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int t = 0; t < kAccPerLane; ++t) acc[r][t] = 0.0f;
  }

  // quant_probs: a first pass over the keys for each row's final max and sum (stats), then the
  // P v pass with the probabilities fake-quantized as a Softmax would give them.
  const bool two_pass = a.quant_probs;
  for (int pass = two_pass ? 0 : 1; pass < 2; ++pass) {
    const bool stats = pass == 0;
    for (int64_t k0 = 0; k0 < a.sk; k0 += kKeyTile) {
      __syncthreads();
      for (int e = threadIdx.x; e < kKeyTile * dh; e += blockDim.x) {
        const int j = e / dh, d = e % dh;
        const int64_t kj = k0 + j;
        k_s[j * (dh + 1) + d] =
            kj < a.sk ? to_f(k[(b * a.sk + kj) * a.k_row_stride + h * a.dh + d]) : 0.0f;
      }
      for (int e = threadIdx.x; e < kKeyTile * dv && !stats; e += blockDim.x) {
        const int j = e / dv, d = e % dv;
        const int64_t kj = k0 + j;
        v_s[e] = kj < a.sk ? to_f(v[(b * a.sk + kj) * a.v_row_stride + h * a.dv + d]) : 0.0f;
      }
      __syncthreads();
      const int64_t j = k0 + lane;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const int row = warp * kRowsPerWarp + r;
        const int64_t i = q0 + row;
        if (i >= a.sq) continue;  // warp-uniform
        float s = -INFINITY;
        if (j < a.sk) {
          const float* qr = q_s + row * dh;
          const float* kr = k_s + lane * (dh + 1);
          float dot = 0.0f;
          for (int d = 0; d < dh; ++d) dot += qr[d] * kr[d];
          s = (a.quant_scores ? fake_quant(dot, a.scores_quant) : dot) * a.scale;
          if (mask != nullptr) {
            s += to_f(mask[b * a.mask_strides[0] + h * a.mask_strides[1] + i * a.mask_strides[2] +
                           j * a.mask_strides[3]]);
          }
          if (a.causal && j > i + (a.sk - a.sq)) s = -INFINITY;
        }
        if (two_pass && !stats) {
          // m and l are the row's final max and sum (warp-uniform); a row with every key masked
          // stays 0, as fake quantization makes Softmax's NaN.
          if (m[r] == -INFINITY) continue;
          const float p =
              s == -INFINITY ? 0.0f : fake_quant(__expf(s - m[r]) * (1.0f / l[r]), a.probs_quant);
          for (int jj = 0; jj < kKeyTile; ++jj) {
            const float pj = __shfl_sync(~0u, p, jj);
#pragma unroll
            for (int t = 0; t < kAccPerLane; ++t) {
              const int d = lane + 32 * t;
              if (d < dv) acc[r][t] += pj * v_s[jj * dv + d];
            }
          }
          continue;
        }
        float tile_max = s;
        for (int o = 16; o > 0; o >>= 1)
          tile_max = fmaxf(tile_max, __shfl_xor_sync(~0u, tile_max, o));
        const float m_new = fmaxf(m[r], tile_max);
        if (m_new == -INFINITY) continue;  // every key so far masked out
        const float corr = __expf(m[r] - m_new);
        const float p = __expf(s - m_new);
        float psum = p;
        for (int o = 16; o > 0; o >>= 1) psum += __shfl_xor_sync(~0u, psum, o);
        l[r] = l[r] * corr + psum;
        m[r] = m_new;
        if (stats) continue;
#pragma unroll
        for (int t = 0; t < kAccPerLane; ++t) acc[r][t] *= corr;
        for (int jj = 0; jj < kKeyTile; ++jj) {
          const float pj = __shfl_sync(~0u, p, jj);
#pragma unroll
          for (int t = 0; t < kAccPerLane; ++t) {
            const int d = lane + 32 * t;
            if (d < dv) acc[r][t] += pj * v_s[jj * dv + d];
          }
        }
      }
    }
  }

  Y* out = static_cast<Y*>(a.out);
  const Divisor out_div = divisor_of(a.out_scale);
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t i = q0 + warp * kRowsPerWarp + r;
    if (i >= a.sq) continue;
    const float inv = two_pass ? 1.0f : row_inverse(l[r], a.zero_masked_rows);
#pragma unroll
    for (int t = 0; t < kAccPerLane; ++t) {
      const int d = lane + 32 * t;
      if (d < dv) {
        out[((b * a.sq + i) * a.heads + h) * a.dv + d] = store_out<Y>(acc[r][t] * inv, out_div);
      }
    }
  }
}

// ---- fp16/bf16: tensor cores (mma.sync m16n8k16, fp32 accumulation) --------------------------
//
// Flash-attention style: a block of 4 warps owns 64 query rows of one (batch, head); each warp
// keeps its 16 rows of Q as mma A fragments in registers, loops over 64-key tiles of K and V
// staged in shared memory by cp.async, computes S = Q K^T into fp32 accumulators, updates the
// running max and sum per row (online softmax, exp2 domain), rounds P to the activation type and
// accumulates O += P V with the tensor cores. Head dims are padded to kD (a multiple of 16) with
// zeros, so Q.K and P.V are unchanged by the padding.

// Warps per block (16 query rows each): 4 where the grid is large, 1 where 4-warp blocks would
// leave most multiprocessors idle (batch 1: ViT-B/16 has 4 query tiles x 12 heads = 48 blocks).
constexpr int kTcKeys = 64;  // keys per tile
constexpr int kTcPad = 8;    // halfs of padding per shared row: ldmatrix without bank conflicts

template <typename T>
struct MmaType;
template <>
struct MmaType<__half> {
  static __device__ __forceinline__ void mma(float* c, const uint32_t* a, uint32_t b0,
                                             uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};
template <>
struct MmaType<__nv_bfloat16> {
  static __device__ __forceinline__ void mma(float* c, const uint32_t* a, uint32_t b0,
                                             uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
        "{%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
};

// ldmatrix on 32-bit shared-memory addresses: callers compute each lane's base address once
// (LaneAddr) and add compile-time offsets per fragment. With generic pointers every ldmatrix
// paid a shared-window conversion and its own address arithmetic: most of the Q K^T loop's
// instructions (SASS).
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
// Raw scores s of one warp's rows row_i[0] (elements 0, 1) and row_i[1] (2, 3) against keys
// j0 + n * 8 + 2t + {0, 1}: keys past the sequence, past the causal limit or skipped (16-key
// steps past the sequence are never multiplied) become -inf; an additive mask is added in
// raw-score units (mask / scale), so that softmax_step's exp2(s * scale_log2 - max) applies it
// as exp(s * scale + mask).
template <typename T, int kN>
__device__ __forceinline__ void mask_scores(float (&s)[kN][4], const AttentionArgs& a,
                                            const T* mask, int64_t b, int64_t h,
                                            const int (&row_i)[2], int j0, int t, int sq, int sk,
                                            float inv_scale) {
  if (mask == nullptr && !a.causal) {
    // Only the sequence end: key n * 8 + (e & 1) of this lane's columns is valid below lim.
    const int lim = sk - j0 - 2 * t;
#pragma unroll
    for (int n = 0; n < kN; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if (n * 8 + (e & 1) >= lim) s[n][e] = -INFINITY;
      }
    }
    return;
  }
#pragma unroll
  for (int n = 0; n < kN; ++n) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = row_i[e >> 1], j = j0 + n * 8 + 2 * t + (e & 1);
      if (j >= sk || (a.causal && j > i + (sk - sq))) {
        s[n][e] = -INFINITY;
      } else if (mask != nullptr && i < sq) {
        s[n][e] += to_f(mask[b * a.mask_strides[0] + h * a.mask_strides[1] +
                             int64_t(i) * a.mask_strides[2] + j * a.mask_strides[3]]) *
                   inv_scale;
      }
    }
  }
}

// One online-softmax step over kN 8-key groups of raw scores (masked ones -inf), for rows g
// and g + 8 of a warp's 16: updates the running max (log2 domain) and sum, rescales the
// output accumulators and leaves P = exp2(s * scale_log2 - max), rounded to T, as mma A
// fragments (one set per 16 keys). scale_log2 > 0 (the launcher sends other scales to the
// scalar kernel), so the max of the raw scores scales to the max of the scaled ones and
// exp2's argument is one FFMA. Max and sum reduce as trees: serial chains of 2 * kN dependent
// instructions per row were a third of the kernel's stalls (Nsight Compute).
template <typename T, int kN, int kD>
__device__ __forceinline__ void softmax_step(float (&s)[kN][4], float scale_log2, float (&m_run)[2],
                                             float (&l_run)[2], float (&o)[kD / 8][4],
                                             uint32_t (&pf)[kN / 2][4]) {
  float red[2][kN];
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    red[0][n] = fmaxf(s[n][0], s[n][1]);
    red[1][n] = fmaxf(s[n][2], s[n][3]);
  }
#pragma unroll
  for (int w = kN / 2; w > 0; w >>= 1) {
#pragma unroll
    for (int n = 0; n < w; ++n) {
      red[0][n] = fmaxf(red[0][n], red[0][n + w]);
      red[1][n] = fmaxf(red[1][n], red[1][n + w]);
    }
  }
  float m_use[2], corr[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float tm = red[r][0];
    tm = fmaxf(tm, __shfl_xor_sync(~0u, tm, 1));
    tm = fmaxf(tm, __shfl_xor_sync(~0u, tm, 2));
    const float m_new = fmaxf(m_run[r], tm * scale_log2);
    // While every key of a row is masked, m stays -inf; 0 keeps exp2 away from inf - inf.
    m_use[r] = m_new == -INFINITY ? 0.0f : m_new;
    corr[r] = fast_exp2(m_run[r] - m_use[r]);
    m_run[r] = m_new;
  }
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    const float p0 = fast_exp2(fmaf(s[n][0], scale_log2, -m_use[0]));
    const float p1 = fast_exp2(fmaf(s[n][1], scale_log2, -m_use[0]));
    const float p2 = fast_exp2(fmaf(s[n][2], scale_log2, -m_use[1]));
    const float p3 = fast_exp2(fmaf(s[n][3], scale_log2, -m_use[1]));
    red[0][n] = p0 + p1;
    red[1][n] = p2 + p3;
    pf[n / 2][(n & 1) * 2 + 0] = pack_pair<T>(p0, p1);
    pf[n / 2][(n & 1) * 2 + 1] = pack_pair<T>(p2, p3);
  }
#pragma unroll
  for (int w = kN / 2; w > 0; w >>= 1) {
#pragma unroll
    for (int n = 0; n < w; ++n) {
      red[0][n] += red[0][n + w];
      red[1][n] += red[1][n + w];
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float ps = red[r][0];
    ps += __shfl_xor_sync(~0u, ps, 1);
    ps += __shfl_xor_sync(~0u, ps, 2);
    l_run[r] = l_run[r] * corr[r] + ps;
  }
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) {
    o[n][0] *= corr[0];
    o[n][1] *= corr[0];
    o[n][2] *= corr[1];
    o[n][3] *= corr[1];
  }
}

// quant_probs, first pass: the running max (log2 domain) and sum of rows g and g + 8 over kN
// 8-key groups of raw scores, as softmax_step keeps them, without P or the output.
template <int kN>
__device__ __forceinline__ void softmax_stats(const float (&s)[kN][4], float scale_log2,
                                              float (&m_run)[2], float (&l_run)[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float tm = -INFINITY;
#pragma unroll
    for (int n = 0; n < kN; ++n) tm = fmaxf(tm, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
    tm = fmaxf(tm, __shfl_xor_sync(~0u, tm, 1));
    tm = fmaxf(tm, __shfl_xor_sync(~0u, tm, 2));
    const float m_new = fmaxf(m_run[r], tm * scale_log2);
    const float m_use = m_new == -INFINITY ? 0.0f : m_new;
    float ps = 0.0f;
#pragma unroll
    for (int n = 0; n < kN; ++n) {
      ps += fast_exp2(fmaf(s[n][2 * r], scale_log2, -m_use)) +
            fast_exp2(fmaf(s[n][2 * r + 1], scale_log2, -m_use));
    }
    ps += __shfl_xor_sync(~0u, ps, 1);
    ps += __shfl_xor_sync(~0u, ps, 2);
    l_run[r] = l_run[r] * fast_exp2(m_run[r] - m_use) + ps;
    m_run[r] = m_new;
  }
}

// quant_probs, second pass: P = fake_quant(exp2(s * scale_log2 - m) / l) with each row's final
// max m and sum l (a row with every key masked gives P = 0), as mma A fragments.
template <typename T, int kN>
__device__ __forceinline__ void quantized_probs(const float (&s)[kN][4], float scale_log2,
                                                const float (&m)[2], const float (&l)[2],
                                                const FakeQuant& fq, float fq_inv,
                                                uint32_t (&pf)[kN / 2][4]) {
  float m_use[2], inv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    m_use[r] = m[r] == -INFINITY ? 0.0f : m[r];
    inv[r] = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
  }
#pragma unroll
  for (int n = 0; n < kN; ++n) {
    float p[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      p[e] = fake_quant_by_inverse(
          fast_exp2(fmaf(s[n][e], scale_log2, -m_use[e >> 1])) * inv[e >> 1], fq, fq_inv);
    }
    pf[n / 2][(n & 1) * 2 + 0] = pack_pair<T>(p[0], p[1]);
    pf[n / 2][(n & 1) * 2 + 1] = pack_pair<T>(p[2], p[3]);
  }
}

// Stages rows [r0, r0 + rows) of one head (`width` valid columns, 8-column chunks) into a
// [rows][kD + kTcPad] shared tile; rows at or past `limit` and columns past `width` are zeros.
// Threads first, first + step, ... take the chunks in turn.
template <typename T, int kD>
__device__ __forceinline__ void stage_rows(T* dst, const T* base, int64_t row_stride, int r0,
                                           int limit, int width, int rows, int first, int step) {
  constexpr int kChunks = kD / 8;
  for (int e = first; e < rows * kChunks; e += step) {
    const int r = e / kChunks, c = (e % kChunks) * 8;
    const bool valid = r0 + r < limit && c < width;
    const T* src = valid ? base + (r0 + r) * row_stride + c : base;
    cp_async16(dst + r * (kD + kTcPad) + c, src, valid);
  }
}
// ... by every thread of a kWarps-warp block.
template <typename T, int kD, int kWarps>
__device__ __forceinline__ void stage_tile(T* dst, const T* base, int64_t row_stride, int r0,
                                           int limit, int width, int rows) {
  stage_rows<T, kD>(dst, base, row_stride, r0, limit, width, rows, threadIdx.x, kWarps * 32);
}

// Each lane's ldmatrix row in a [rows][kD + kTcPad] shared tile, as a 32-bit address. Row r
// is r * kRowBytes further; 16 columns (one k step) are 32 bytes.
template <typename T, int kD>
struct LaneAddr {
  static constexpr uint32_t kRowBytes = (kD + kTcPad) * sizeof(T);
  // A operand, rows r0 .. r0 + 15 (Q): row (lane & 7) + ((lane >> 3) & 1) * 8, column
  // (lane >> 4) * 8.
  static __device__ __forceinline__ uint32_t a(const T* tile, int r0, int lane) {
    return smem_addr(tile) + (r0 + (lane & 7) + ((lane >> 3) & 1) * 8) * kRowBytes +
           (lane >> 4) * 16;
  }
  // B operand of Q K^T from K rows: key (lane & 7) + (lane >> 4) * 8, column ((lane >> 3) & 1)
  // * 8.
  static __device__ __forceinline__ uint32_t k(const T* tile, int lane) {
    return smem_addr(tile) + ((lane & 7) + (lane >> 4) * 8) * kRowBytes + ((lane >> 3) & 1) * 16;
  }
  // B operand of P V from V rows, transposed: key (lane & 7) + ((lane >> 3) & 1) * 8, column
  // (lane >> 4) * 8.
  static __device__ __forceinline__ uint32_t v(const T* tile, int lane) {
    return smem_addr(tile) + ((lane & 7) + ((lane >> 3) & 1) * 8) * kRowBytes + (lane >> 4) * 16;
  }
};

// s = Q K^T for one warp's 16 query rows (q_addr: LaneAddr::a) against the kN 8-key groups of
// keys from k_tile (LaneAddr::k, moved to the first of those keys); the groups at or past
// `groups` (16-key steps past the valid keys, or all of them for a warp without rows) stay 0.
template <typename T, int kD, int kN>
__device__ __forceinline__ void warp_scores(uint32_t q_addr, uint32_t k_tile, int groups,
                                            float (&s)[kN][4]) {
  using M = MmaType<T>;
#pragma unroll
  for (int n = 0; n < kN; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
  if (groups <= 0) return;  // warp-uniform
#pragma unroll
  for (int kk = 0; kk < kD / 16; ++kk) {
    uint32_t qa[4];
    ldmatrix_x4(qa, q_addr + kk * 32);
#pragma unroll
    for (int n = 0; n < kN; n += 2) {
      if (n >= groups) continue;  // warp-uniform
      uint32_t kf[4];
      ldmatrix_x4(kf, k_tile + n * 8 * LaneAddr<T, kD>::kRowBytes + kk * 32);
      M::mma(s[n], qa, kf[0], kf[1]);
      M::mma(s[n + 1], qa, kf[2], kf[3]);
    }
  }
}

// quant_scores: the raw scores through their fake quantization (times 1 / scale).
template <int kN>
__device__ __forceinline__ void fake_quant_scores(float (&s)[kN][4], const FakeQuant& fq,
                                                  float inv_scale) {
#pragma unroll
  for (int n = 0; n < kN; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[n][e] = fake_quant_by_inverse(s[n][e], fq, inv_scale);
}

// Writes one warp's 16 output rows (first row i0), normalized by the row sums and rounded to
// T, through the warp's own 16 rows of the Q tile in shared memory (q_w, no longer read), so
// that the global stores are whole 16-byte chunks of rows: the mma fragment layout's 4-byte
// stores used half of every 32-byte sector (Nsight Compute). Y = uint8_t: the rows are E4M3
// codes of the fp32 values / a.out_scale (never rounded to T), staged in the same shared rows
// as bytes and stored as 8-byte chunks (8 codes).
template <typename T, typename Y, int kD>
__device__ __forceinline__ void store_rows(const float (&o)[kD / 8][4], const float (&l_run)[2],
                                           T* q_w, const AttentionArgs& a, int64_t b, int64_t h,
                                           int i0, int lane) {
  constexpr bool kCodes = std::is_same_v<Y, uint8_t>;
  constexpr int kStride = kD + kTcPad, kChunks = kD / 8;
  const int g = lane >> 2, t = lane & 3;
  [[maybe_unused]] const Divisor out_div = divisor_of(a.out_scale);
  __syncwarp();  // every lane has read its last Q fragments
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float inv = row_inverse(l_run[r], a.zero_masked_rows);
#pragma unroll
    for (int n = 0; n < kD / 8; ++n) {
      if constexpr (kCodes) {
        // Row (g + 8r) of the byte view keeps the T view's row pitch: 8-byte aligned chunks.
        const uint32_t lo = store_out<uint8_t>(o[n][2 * r] * inv, out_div);
        const uint32_t hi = store_out<uint8_t>(o[n][2 * r + 1] * inv, out_div);
        *reinterpret_cast<uint16_t*>(reinterpret_cast<uint8_t*>(q_w + (g + 8 * r) * kStride) +
                                     n * 8 + 2 * t) = static_cast<uint16_t>(lo | (hi << 8));
      } else {
        *reinterpret_cast<uint32_t*>(q_w + (g + 8 * r) * kStride + n * 8 + 2 * t) =
            pack_pair<T>(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
      }
    }
  }
  __syncwarp();
  Y* out = static_cast<Y*>(a.out);
  for (int e = lane; e < 16 * kChunks; e += 32) {
    const int row = e / kChunks, c = (e % kChunks) * 8;
    const int64_t i = i0 + row;
    // dv is a multiple of 8 and out 16-byte aligned (tc_eligible): whole chunks (8 elements:
    // 16 bytes of T, 8 of codes).
    if (i < a.sq && c < a.dv) {
      Y* dst = out + ((b * a.sq + i) * a.heads + h) * a.dv + c;
      if constexpr (kCodes) {
        *reinterpret_cast<uint2*>(dst) = *reinterpret_cast<const uint2*>(
            reinterpret_cast<const uint8_t*>(q_w + row * kStride) + c);
      } else {
        *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(q_w + row * kStride + c);
      }
    }
  }
}

// kWhole: the block's Q tile and every key of the sequence are staged into shared memory once,
// up front (Q and K as one cp.async group, V as a second that lands while the first tile's
// Q K^T and softmax run), and the tile loop runs without a barrier: the short sequences of
// vision and text towers (50, 77, 197, 257 tokens) fit, and their blocks are so short-lived
// that the per-tile barriers of the streaming form were most of their time. Otherwise K and V
// stream through one 64-key buffer each.
constexpr size_t kWholeMaxSmem = 120 << 10;

// Shared-memory bytes of the tensor-core kernel: K and V buffers of buf_keys rows each and
// the Q tile.
template <typename T, int kD, int kWarps>
constexpr size_t tc_smem_bytes(int buf_keys) {
  return sizeof(T) * (2 * static_cast<size_t>(buf_keys) + 16 * kWarps) * (kD + kTcPad);
}

// buf_keys: key rows of each of the K and V buffers (kTcKeys when streaming, else the
// sequence rounded up to whole tiles).
// kQuant (whole form only): a quantized model's fake quantization of the raw scores
// (quant_scores) and of the probabilities (quant_probs, which takes the keys twice: the rows'
// final max and sum first, then P v with P quantized as a Softmax output).
template <typename T, typename Y, int kD, int kWarps, bool kWhole, bool kQuant = false>
__global__ void __launch_bounds__(kWarps * 32, kD <= 64 ? 16 / kWarps : 8 / kWarps)
    attention_tc_kernel(AttentionArgs a, int buf_keys) {
  static_assert(!kQuant || kWhole, "fake quantization needs every key in shared memory");
  constexpr int kTcRows = 16 * kWarps;  // query rows per block
  using M = MmaType<T>;
  constexpr int kStride = kD + kTcPad;
  extern __shared__ __align__(16) unsigned char tc_smem[];
  T* k_all = reinterpret_cast<T*>(tc_smem);  // [buf_keys][kStride]
  T* v_all = k_all + buf_keys * kStride;     // [buf_keys][kStride]
  T* q_s = v_all + buf_keys * kStride;       // [kTcRows][kStride]
  const int64_t b = blockIdx.z, h = blockIdx.y;
  // Rows and keys in 32-bit (launch_attention checks they fit): 64-bit index math cost
  // registers the accumulators need (the kernel spilled at 128 registers).
  const int sq = static_cast<int>(a.sq), sk = static_cast<int>(a.sk);
  const int q0 = static_cast<int>(blockIdx.x) * kTcRows;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int dh = static_cast<int>(a.dh), dv = static_cast<int>(a.dv);
  const T* qg = static_cast<const T*>(a.q) + b * a.sq * a.q_row_stride + h * a.dh;
  const T* kg = static_cast<const T*>(a.k) + b * a.sk * a.k_row_stride + h * a.dh;
  const T* vg = static_cast<const T*>(a.v) + b * a.sk * a.v_row_stride + h * a.dv;
  const T* mask = static_cast<const T*>(a.mask);

  // Causal: the block's last row sees keys up to q0 + kTcRows - 1 + (sk - sq).
  int k_end = sk;
  if (a.causal) {
    const int last = q0 + kTcRows - 1 + (sk - sq) + 1;
    k_end = last < k_end ? (last > 0 ? last : 0) : k_end;
  }
  const int tiles = (k_end + kTcKeys - 1) / kTcKeys;
  // Q and K as one cp.async group, V as the next. Whole: every tile of the sequence; rows past
  // it are zero-filled (their scores are masked, their P is zero), and V lands while the first
  // tile's Q K^T runs. Streaming: a software pipeline on single buffers; K of the next tile
  // loads while this tile's softmax and P V run, V of the next tile while its Q K^T runs.
  // Every step commits one group (empty after the last tile), so "wait for all but the newest
  // group" always means "the tile about to be read has landed".
  stage_tile<T, kD, kWarps>(q_s, qg, a.q_row_stride, q0, sq, dh, kTcRows);
  const int staged = kWhole ? tiles * kTcKeys : kTcKeys;
  if (tiles > 0) stage_tile<T, kD, kWarps>(k_all, kg, a.k_row_stride, 0, sk, dh, staged);
  cp_async_commit();
  if (tiles > 0) stage_tile<T, kD, kWarps>(v_all, vg, a.v_row_stride, 0, sk, dv, staged);
  cp_async_commit();
  if constexpr (kWhole) {
    cp_async_wait<1>();
    __syncthreads();
  }
  // Q stays in its own shared tile and its A fragments are loaded again per key tile: the 16
  // registers they would hold for the block's life made the kernel spill.
  using L = LaneAddr<T, kD>;
  const uint32_t q_addr = L::a(q_s, warp * 16, lane), k_addr = L::k(k_all, lane),
                 v_addr = L::v(v_all, lane);

  // A warp whose 16 rows are all past the sequence (ViT's 197 tokens leave 3 of the last
  // block's 8 warps empty) only helps stage tiles and meets the barriers.
  const bool active = q0 + warp * 16 < sq;
  // Rows g and g + 8 of the warp's 16: running max (exp2 domain), sum, output accumulators.
  const int row_i[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  const float scale_log2 = a.scale * 1.4426950408889634f, inv_scale = 1.0f / a.scale;

  // Fake quantization multiplies by the inverse scales (fake_quant_by_inverse).
  [[maybe_unused]] const float scores_inv = 1.0f / a.scores_quant.scale,
                               probs_inv = 1.0f / a.probs_quant.scale;
  if constexpr (kQuant) {
    // The rows' final max and sum (K has landed; V lands meanwhile).
    if (a.quant_probs && active) {
      for (int tile = 0; tile < tiles; ++tile) {
        const int k0 = tile * kTcKeys;
        const uint32_t k_tile = k_addr + k0 * L::kRowBytes;
        const int valid = sk - k0 < kTcKeys ? sk - k0 : kTcKeys;
        float s[kTcKeys / 8][4];
        warp_scores<T, kD>(q_addr, k_tile, (valid + 15) / 16 * 2, s);
        if (a.quant_scores) fake_quant_scores(s, a.scores_quant, scores_inv);
        mask_scores<T, kTcKeys / 8>(s, a, mask, b, h, row_i, k0, t, sq, sk, inv_scale);
        softmax_stats<kTcKeys / 8>(s, scale_log2, m_run, l_run);
      }
    }
  }

  for (int tile = 0; tile < tiles; ++tile) {
    const int k0 = tile * kTcKeys;
    const uint32_t k_tile = kWhole ? k_addr + k0 * L::kRowBytes : k_addr;
    const uint32_t v_tile = kWhole ? v_addr + k0 * L::kRowBytes : v_addr;
    // Keys of this tile inside the sequence; 16-key steps past them are skipped (their scores
    // are masked below, their P is zero).
    const int valid = sk - k0 < kTcKeys ? sk - k0 : kTcKeys;
    // 8-key groups of scores that are computed: the 16-key steps holding valid keys.
    const int groups = (valid + 15) / 16 * 2;
    if constexpr (!kWhole) {
      cp_async_wait<1>();
      __syncthreads();
    }

    float s[kTcKeys / 8][4];
    warp_scores<T, kD>(q_addr, k_tile, active ? groups : 0, s);
    if constexpr (!kWhole) {
      __syncthreads();  // every warp has read k_s
      if (tile + 1 < tiles) {
        stage_tile<T, kD, kWarps>(k_all, kg, a.k_row_stride, k0 + kTcKeys, sk, dh, kTcKeys);
      }
      cp_async_commit();
    }

    // Edge tiles (the mask, the causal limit, the sequence end) mask their scores; interior
    // tiles of unmasked attention (most of them) skip the per-element index math.
    const bool edge =
        mask != nullptr || k0 + kTcKeys > sk || (a.causal && k0 + kTcKeys - 1 > q0 + (sk - sq));
    uint32_t pf[kTcKeys / 16][4];  // P as A fragments, one set per 16 keys
    if (active) {
      if constexpr (kQuant) {
        if (a.quant_scores) fake_quant_scores(s, a.scores_quant, scores_inv);
        if (edge) mask_scores<T, kTcKeys / 8>(s, a, mask, b, h, row_i, k0, t, sq, sk, inv_scale);
        if (a.quant_probs) {
          quantized_probs<T, kTcKeys / 8>(s, scale_log2, m_run, l_run, a.probs_quant, probs_inv,
                                          pf);
        } else {
          softmax_step<T, kTcKeys / 8, kD>(s, scale_log2, m_run, l_run, o, pf);
        }
      } else {
        if (edge) mask_scores<T, kTcKeys / 8>(s, a, mask, b, h, row_i, k0, t, sq, sk, inv_scale);
        softmax_step<T, kTcKeys / 8, kD>(s, scale_log2, m_run, l_run, o, pf);
      }
    }

    if constexpr (kWhole) {
      if (tile == 0) {  // V landed while the first Q K^T ran
        cp_async_wait<0>();
        __syncthreads();
      }
    } else {
      cp_async_wait<1>();  // V of this tile; K of the next may still be loading
      __syncthreads();
    }
#pragma unroll
    for (int kk = 0; kk < kTcKeys / 16; ++kk) {
      if (kk * 16 >= valid || !active) continue;  // warp-uniform
#pragma unroll
      for (int n = 0; n < kD / 8; n += 2) {
        uint32_t vf[4];
        ldmatrix_x4_trans(vf, v_tile + kk * 16 * L::kRowBytes + n * 16);
        M::mma(o[n], pf[kk], vf[0], vf[1]);
        M::mma(o[n + 1], pf[kk], vf[2], vf[3]);
      }
    }
    if constexpr (!kWhole) {
      __syncthreads();  // every warp has read v_s
      if (tile + 1 < tiles) {
        stage_tile<T, kD, kWarps>(v_all, vg, a.v_row_stride, k0 + kTcKeys, sk, dv, kTcKeys);
      }
      cp_async_commit();
    }
  }
  cp_async_wait<0>();  // no copy may outlive the block (a causal block may have no tile)
  if constexpr (kQuant) {
    // P was normalized before the product (a fully masked row: P = 0, output 0).
    if (a.quant_probs) l_run[0] = l_run[1] = 1.0f;
  }

  store_rows<T, Y, kD>(o, l_run, q_s + warp * 16 * kStride, a, b, h, q0 + warp * 16, lane);
}

// The same attention with fewer registers, for more warps per multiprocessor: Q stays in
// shared memory (its fragments are loaded again per step instead of living in 16 registers)
// and each 64-key tile is taken as two 32-key halves (scores and P of 32 keys at a time). At
// 96 registers five 4-warp blocks fit a multiprocessor where the forms above fit four (their
// kernels sit at the 128-register cap and Nsight Compute found them latency-bound at 25%
// occupancy). K and V of a tile are loaded together, once every warp has left the last one;
// the other blocks on the multiprocessor cover the wait.
constexpr int kSubKeys = 32;

// (Six blocks at 80 registers spilled and measured slower.)
template <typename T, typename Y, int kD>
__global__ void __launch_bounds__(128, 5) attention_tc_sub_kernel(AttentionArgs a) {
  constexpr int kWarps = 4;
  constexpr int kTcRows = 16 * kWarps;
  using M = MmaType<T>;
  constexpr int kStride = kD + kTcPad;
  extern __shared__ __align__(16) unsigned char tc_smem[];
  T* q_s = reinterpret_cast<T*>(tc_smem);  // [kTcRows][kStride]
  T* k_s = q_s + kTcRows * kStride;        // [kTcKeys][kStride]
  T* v_s = k_s + kTcKeys * kStride;        // [kTcKeys][kStride]
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int sq = static_cast<int>(a.sq), sk = static_cast<int>(a.sk);
  const int q0 = static_cast<int>(blockIdx.x) * kTcRows;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int dh = static_cast<int>(a.dh), dv = static_cast<int>(a.dv);
  const T* qg = static_cast<const T*>(a.q) + b * a.sq * a.q_row_stride + h * a.dh;
  const T* kg = static_cast<const T*>(a.k) + b * a.sk * a.k_row_stride + h * a.dh;
  const T* vg = static_cast<const T*>(a.v) + b * a.sk * a.v_row_stride + h * a.dv;
  const T* mask = static_cast<const T*>(a.mask);
  stage_tile<T, kD, kWarps>(q_s, qg, a.q_row_stride, q0, sq, dh, kTcRows);

  const bool active = q0 + warp * 16 < sq;
  const int row_i[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  const float scale_log2 = a.scale * 1.4426950408889634f, inv_scale = 1.0f / a.scale;
  int k_end = sk;
  if (a.causal) {
    const int last = q0 + kTcRows - 1 + (sk - sq) + 1;
    k_end = last < k_end ? (last > 0 ? last : 0) : k_end;
  }
  const int tiles = (k_end + kTcKeys - 1) / kTcKeys;
  using L = LaneAddr<T, kD>;
  const uint32_t q_addr = L::a(q_s, warp * 16, lane), k_addr = L::k(k_s, lane),
                 v_addr = L::v(v_s, lane);
  for (int tile = 0; tile < tiles; ++tile) {
    const int k0 = tile * kTcKeys;
    if (tile > 0) __syncthreads();  // every warp has left the last tile's K and V
    stage_tile<T, kD, kWarps>(k_s, kg, a.k_row_stride, k0, sk, dh, kTcKeys);
    stage_tile<T, kD, kWarps>(v_s, vg, a.v_row_stride, k0, sk, dv, kTcKeys);
    cp_async_commit();
    cp_async_wait<0>();
    __syncthreads();
    const int valid = sk - k0 < kTcKeys ? sk - k0 : kTcKeys;
#pragma unroll
    for (int half = 0; half < kTcKeys / kSubKeys; ++half) {
      const int h0 = half * kSubKeys;                 // first key of the half, in the tile
      if (h0 >= valid || !active) continue;           // warp-uniform
      const int groups = (valid - h0 + 15) / 16 * 2;  // 8-key groups computed in this half
      float s[kSubKeys / 8][4];
      warp_scores<T, kD>(q_addr, k_addr + h0 * L::kRowBytes, groups, s);
      const int j0 = k0 + h0;
      const bool edge =
          mask != nullptr || j0 + kSubKeys > sk || (a.causal && j0 + kSubKeys - 1 > q0 + (sk - sq));
      if (edge) mask_scores<T, kSubKeys / 8>(s, a, mask, b, h, row_i, j0, t, sq, sk, inv_scale);
      uint32_t pf[kSubKeys / 16][4];
      softmax_step<T, kSubKeys / 8, kD>(s, scale_log2, m_run, l_run, o, pf);
#pragma unroll
      for (int kk = 0; kk < kSubKeys / 16; ++kk) {
        if (kk * 2 >= groups) continue;
#pragma unroll
        for (int n = 0; n < kD / 8; n += 2) {
          uint32_t vf[4];
          ldmatrix_x4_trans(vf, v_addr + (h0 + kk * 16) * L::kRowBytes + n * 16);
          M::mma(o[n], pf[kk], vf[0], vf[1]);
          M::mma(o[n + 1], pf[kk], vf[2], vf[3]);
        }
      }
    }
  }

  store_rows<T, Y, kD>(o, l_run, q_s + warp * 16 * kStride, a, b, h, q0 + warp * 16, lane);
}

// Small grids (batch 1: ViT-B/16 has 13 query tiles x 12 heads = 156 of 16 rows): one warp per
// 16-row tile left one warp on most multiprocessors, loading the whole of K and V alone and
// walking the key tiles in series. Here a block of kSplitWarps warps shares one 16-row tile and
// splits the keys: warp w takes kSplitKeys-key chunks w, w + kSplitWarps, ..., each with its
// own Q copy and K/V buffers (no block barrier until the end), and the warps' partial softmax
// states (max, sum, unnormalized output) merge through shared memory at the end, as
// flash-decoding does. Chunks of 32 keys over 8 warps: each warp's loads and its chain of
// dependent steps are half those of 64-key tiles over 4 warps (ViT-B/16's 197 keys: 7 chunks).
constexpr int kSplitWarps = 8;
constexpr int kSplitKeys = 32;

template <typename T, int kD>
constexpr size_t split_smem_bytes() {
  // Per warp: Q (16 rows), K and V chunks (kSplitKeys rows each).
  return sizeof(T) * kSplitWarps * (16 + 2 * kSplitKeys) * (kD + kTcPad);
}

template <typename T, typename Y, int kD>
__global__ void __launch_bounds__(kSplitWarps * 32, 2) attention_tc_split_kernel(AttentionArgs a) {
  using M = MmaType<T>;
  constexpr int kStride = kD + kTcPad;
  constexpr int kWarpElems = (16 + 2 * kSplitKeys) * kStride;
  extern __shared__ __align__(16) unsigned char tc_smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  T* q_s = reinterpret_cast<T*>(tc_smem) + warp * kWarpElems;  // [16][kStride]
  T* k_s = q_s + 16 * kStride;                                 // [kSplitKeys][kStride]
  T* v_s = k_s + kSplitKeys * kStride;                         // [kSplitKeys][kStride]
  const int64_t b = blockIdx.z, h = blockIdx.y;
  const int sq = static_cast<int>(a.sq), sk = static_cast<int>(a.sk);
  const int q0 = static_cast<int>(blockIdx.x) * 16;
  const int g = lane >> 2, t = lane & 3;
  const int dh = static_cast<int>(a.dh), dv = static_cast<int>(a.dv);
  const T* qg = static_cast<const T*>(a.q) + b * a.sq * a.q_row_stride + h * a.dh;
  const T* kg = static_cast<const T*>(a.k) + b * a.sk * a.k_row_stride + h * a.dh;
  const T* vg = static_cast<const T*>(a.v) + b * a.sk * a.v_row_stride + h * a.dv;
  const T* mask = static_cast<const T*>(a.mask);
  int k_end = sk;
  if (a.causal) {
    const int last = q0 + 15 + (sk - sq) + 1;
    k_end = last < k_end ? (last > 0 ? last : 0) : k_end;
  }
  const int tiles = (k_end + kSplitKeys - 1) / kSplitKeys;
  const int row_i[2] = {q0 + g, q0 + g + 8};
  using L = LaneAddr<T, kD>;
  const uint32_t q_addr = L::a(q_s, 0, lane), k_tile = L::k(k_s, lane), v_tile = L::v(v_s, lane);
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.0f, 0.0f};
  float o[kD / 8][4];
#pragma unroll
  for (int n = 0; n < kD / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  const float scale_log2 = a.scale * 1.4426950408889634f, inv_scale = 1.0f / a.scale;

  // Each warp stages its own Q copy and tiles.
  for (int tile = warp; tile < tiles; tile += kSplitWarps) {
    const int k0 = tile * kSplitKeys;
    if (tile == warp) stage_rows<T, kD>(q_s, qg, a.q_row_stride, q0, sq, dh, 16, lane, 32);
    stage_rows<T, kD>(k_s, kg, a.k_row_stride, k0, sk, dh, kSplitKeys, lane, 32);
    cp_async_commit();
    // V lands while Q K^T and the softmax run (Nsight Compute at batch 1: a third of the
    // kernel's stall samples sat in the wait for all three).
    stage_rows<T, kD>(v_s, vg, a.v_row_stride, k0, sk, dv, kSplitKeys, lane, 32);
    cp_async_commit();
    cp_async_wait<1>();
    __syncwarp();
    const int valid = sk - k0 < kSplitKeys ? sk - k0 : kSplitKeys;
    const int groups = (valid + 15) / 16 * 2;
    float s[kSplitKeys / 8][4];
    warp_scores<T, kD>(q_addr, k_tile, groups, s);
    const bool edge = mask != nullptr || k0 + kSplitKeys > sk ||
                      (a.causal && k0 + kSplitKeys - 1 > q0 + (sk - sq));
    if (edge) mask_scores<T, kSplitKeys / 8>(s, a, mask, b, h, row_i, k0, t, sq, sk, inv_scale);
    uint32_t pf[kSplitKeys / 16][4];
    softmax_step<T, kSplitKeys / 8, kD>(s, scale_log2, m_run, l_run, o, pf);
    cp_async_wait<0>();
    __syncwarp();
#pragma unroll
    for (int kk = 0; kk < kSplitKeys / 16; ++kk) {
      if (kk * 16 >= valid) continue;  // warp-uniform
#pragma unroll
      for (int n = 0; n < kD / 8; n += 2) {
        uint32_t vf[4];
        ldmatrix_x4_trans(vf, v_tile + kk * 16 * L::kRowBytes + n * 16);
        M::mma(o[n], pf[kk], vf[0], vf[1]);
        M::mma(o[n + 1], pf[kk], vf[2], vf[3]);
      }
    }
    __syncwarp();  // every lane has read k_s and v_s before the next tile overwrites them
  }

  // Merge: each warp leaves its max, sum and unnormalized output for the 16 rows in its own
  // K/V region (fp32), then the block combines them: m = max_w m_w, weights 2^(m_w - m). The
  // rows are kPartStride floats apart so that the fragment stores (8 rows x 4 lanes) spread
  // over all banks: at kD floats apart the 8 rows hit the same banks (Nsight Compute: 7-way
  // conflicts).
  constexpr int kPartStride = kD + 8;
  static_assert(
      sizeof(float) * (16 * kPartStride + 32) <= sizeof(T) * 2 * kSplitKeys * (kD + kTcPad),
      "a warp's partial state fits its K and V chunks");
  float* part_o = reinterpret_cast<float*>(k_s);  // [16][kPartStride]
  float* part_ml = part_o + 16 * kPartStride;     // [16][2]
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = g + 8 * r;
#pragma unroll
    for (int n = 0; n < kD / 8; ++n) {
      *reinterpret_cast<float2*>(part_o + row * kPartStride + n * 8 + 2 * t) =
          make_float2(o[n][2 * r], o[n][2 * r + 1]);
    }
    if (t == 0) *reinterpret_cast<float2*>(part_ml + row * 2) = make_float2(m_run[r], l_run[r]);
  }
  __syncthreads();
  // Warp w's partial output [16][kPartStride], then its [16][2] max and sum.
  const auto part = [&](int w) {
    return reinterpret_cast<const float*>(reinterpret_cast<const T*>(tc_smem) + w * kWarpElems +
                                          16 * kStride);
  };
  // Each thread combines 4 adjacent columns of one row (ViT's 16 x 64 outputs: one group per
  // thread), so the 8 weights are computed once per 4 outputs and the reads and the store are
  // vectors; the loop bounds are compile-time (the merge was a quarter of the kernel's stall
  // samples with a per-element runtime division by dv).
  constexpr int kGroups = kD / 4;
  Y* out = static_cast<Y*>(a.out);
  for (int e = threadIdx.x; e < 16 * kGroups; e += kSplitWarps * 32) {
    const int row = e / kGroups, c = (e % kGroups) * 4;
    const int i = q0 + row;
    if (i >= sq || c >= dv) continue;  // dv is a multiple of 8: c < dv covers c + 3
    float mw[kSplitWarps];
    float m = -INFINITY;
#pragma unroll
    for (int w = 0; w < kSplitWarps; ++w) {
      mw[w] = part(w)[16 * kPartStride + row * 2];
      m = fmaxf(m, mw[w]);
    }
    const float m_use = m == -INFINITY ? 0.0f : m;
    float l = 0.0f;
    float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
    for (int w = 0; w < kSplitWarps; ++w) {
      const float* po = part(w);
      const float wgt = fast_exp2(mw[w] - m_use);
      l += po[16 * kPartStride + row * 2 + 1] * wgt;
      const float4 p = *reinterpret_cast<const float4*>(po + row * kPartStride + c);
      acc.x += p.x * wgt;
      acc.y += p.y * wgt;
      acc.z += p.z * wgt;
      acc.w += p.w * wgt;
    }
    const float inv = row_inverse(l, a.zero_masked_rows);
    Y* dst = out + ((b * a.sq + i) * a.heads + h) * a.dv + c;
    if constexpr (std::is_same_v<Y, uint8_t>) {
      // 4 codes, 4-byte aligned (c and dv are multiples of 4).
      const Divisor out_div = divisor_of(a.out_scale);
      *reinterpret_cast<uint32_t*>(dst) =
          static_cast<uint32_t>(store_out<uint8_t>(acc.x * inv, out_div)) |
          static_cast<uint32_t>(store_out<uint8_t>(acc.y * inv, out_div)) << 8 |
          static_cast<uint32_t>(store_out<uint8_t>(acc.z * inv, out_div)) << 16 |
          static_cast<uint32_t>(store_out<uint8_t>(acc.w * inv, out_div)) << 24;
    } else {
      uint2 packed;
      packed.x = pack_pair<T>(acc.x * inv, acc.y * inv);
      packed.y = pack_pair<T>(acc.z * inv, acc.w * inv);
      *reinterpret_cast<uint2*>(dst) = packed;
    }
  }
}

// The tensor-core kernel needs 16-byte cp.async sources: head dims, row strides and the three
// base pointers in whole 8-element chunks.
bool tc_eligible(const AttentionArgs& a) {
  return a.dh % 8 == 0 && a.dv % 8 == 0 && a.q_row_stride % 8 == 0 && a.k_row_stride % 8 == 0 &&
         a.v_row_stride % 8 == 0 && aligned16(a.q) && aligned16(a.k) && aligned16(a.v) &&
         aligned16(a.out);
}

template <typename T, typename Y, int kD, int kWarps, bool kWhole, bool kQuant = false>
cudaError_t launch_tc_warps(const AttentionArgs& a, cudaStream_t stream) {
  constexpr int kRows = 16 * kWarps;
  // Whole: the sequence in whole tiles.
  const int buf_keys =
      kWhole ? static_cast<int>((a.sk + kTcKeys - 1) / kTcKeys * kTcKeys) : kTcKeys;
  const size_t smem = tc_smem_bytes<T, kD, kWarps>(buf_keys);
  {
    // Above 48 KiB of dynamic shared memory a kernel must opt in, once.
    static const cudaError_t opted =
        cudaFuncSetAttribute(attention_tc_kernel<T, Y, kD, kWarps, kWhole, kQuant>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, kWholeMaxSmem);
    if (opted != cudaSuccess) return opted;
  }
  const dim3 grid(static_cast<unsigned>((a.sq + kRows - 1) / kRows), static_cast<unsigned>(a.heads),
                  static_cast<unsigned>(a.batch));
  attention_tc_kernel<T, Y, kD, kWarps, kWhole, kQuant>
      <<<grid, kWarps * 32, smem, stream>>>(a, buf_keys);
  return cudaGetLastError();
}

// Which form runs (VITRT_ATTENTION=stream|whole|sub|wgmma overrides the choice, to compare
// them on a GPU; wgmma where cuda/attention_sm90.h takes the problem).
enum class AttentionForm { kAuto, kStream, kWhole, kSub, kWgmma };
AttentionForm forced_form() {
  static const AttentionForm form = [] {
    const char* e = std::getenv("VITRT_ATTENTION");
    if (e == nullptr) return AttentionForm::kAuto;
    const std::string v = e;
    if (v == "stream") return AttentionForm::kStream;
    if (v == "whole") return AttentionForm::kWhole;
    if (v == "sub") return AttentionForm::kSub;
    if (v == "wgmma") return AttentionForm::kWgmma;
    return AttentionForm::kAuto;
  }();
  return form;
}

template <typename T, typename Y, int kD>
cudaError_t launch_tc(const AttentionArgs& a, cudaStream_t stream) {
  const int64_t big_blocks = (a.sq + 63) / 64 * a.heads * a.batch;
  // The 8-warp whole form's shared memory (the 1-warp one needs less).
  const bool whole_fits =
      tc_smem_bytes<T, kD, 8>(static_cast<int>((a.sk + kTcKeys - 1) / kTcKeys * kTcKeys)) <=
      kWholeMaxSmem;
  if (a.quant_scores || a.quant_probs) {
    // Fake quantization inside: the whole form (launch_attention checked that it fits), one
    // warp per block on small grids.
    return big_blocks < 2 * current_device_multiprocessors()
               ? launch_tc_warps<T, Y, kD, 1, true, true>(a, stream)
               : launch_tc_warps<T, Y, kD, 8, true, true>(a, stream);
  }
  AttentionForm form = forced_form();
  // Measured on an H200 at batch 256 (compute of the whole tower): the whole-sequence form
  // with 8 warps is fastest where K and V span three or more tiles (ViT-B/16's 197 tokens:
  // 20.4 ms against 20.8 low-register, 21.0 streaming), the low-register form below that
  // (CLIP vision's 50 tokens 5.27 ms against 5.64 streaming and 5.91 whole; CLIP text's 77
  // 4.34 against 4.46 and 4.63).
  // Head dims above 64 (not measured) keep the streaming form.
  if (form == AttentionForm::kAuto) {
    form = kD > 64 ? AttentionForm::kStream
                   : (a.sk > 2 * kTcKeys ? AttentionForm::kWhole : AttentionForm::kSub);
  }
  if (big_blocks < 2 * current_device_multiprocessors()) {
    // Two or more key chunks: split the keys over a block's warps.
    if (a.sk > kSplitKeys && form != AttentionForm::kStream) {
      constexpr size_t smem = split_smem_bytes<T, kD>();
      static const cudaError_t opted = cudaFuncSetAttribute(
          attention_tc_split_kernel<T, Y, kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      if (opted != cudaSuccess) return opted;
      const dim3 grid(static_cast<unsigned>((a.sq + 15) / 16), static_cast<unsigned>(a.heads),
                      static_cast<unsigned>(a.batch));
      attention_tc_split_kernel<T, Y, kD><<<grid, kSplitWarps * 32, smem, stream>>>(a);
      return cudaGetLastError();
    }
    return whole_fits && form != AttentionForm::kStream
               ? launch_tc_warps<T, Y, kD, 1, true>(a, stream)
               : launch_tc_warps<T, Y, kD, 1, false>(a, stream);
  }
  if constexpr (kD <= 64) {
    if (form == AttentionForm::kSub) {
      const size_t smem = sizeof(T) * (64 + 2 * kTcKeys) * (kD + kTcPad);
      const dim3 grid(static_cast<unsigned>((a.sq + 63) / 64), static_cast<unsigned>(a.heads),
                      static_cast<unsigned>(a.batch));
      attention_tc_sub_kernel<T, Y, kD><<<grid, 128, smem, stream>>>(a);
      return cudaGetLastError();
    }
  }
  if (!whole_fits || form == AttentionForm::kStream) {
    return launch_tc_warps<T, Y, kD, 4, false>(a, stream);
  }
  return launch_tc_warps<T, Y, kD, 8, true>(a, stream);
}

template <typename T, typename Y>
cudaError_t launch_tc_dims(const AttentionArgs& a, cudaStream_t stream) {
  const int64_t d = a.dh > a.dv ? a.dh : a.dv;
  if (d <= 32) return launch_tc<T, Y, 32>(a, stream);
  if (d <= 64) return launch_tc<T, Y, 64>(a, stream);
  if (d <= 80) return launch_tc<T, Y, 80>(a, stream);
  return launch_tc<T, Y, 128>(a, stream);
}

// The output as codes (Y = uint8_t) or in the activation type T.
template <typename T>
cudaError_t launch_tc_out(const AttentionArgs& a, cudaStream_t stream) {
  return a.out_scale > 0.0f ? launch_tc_dims<T, uint8_t>(a, stream)
                            : launch_tc_dims<T, T>(a, stream);
}

// Whether the whole form holds every key of `a` in shared memory at its head-dim bucket (as
// launch_tc_dims picks it) with 8 warps: tc_smem_bytes<T, kD, 8> for a 2-byte T.
bool quant_whole_fits(const AttentionArgs& a) {
  const int64_t d = a.dh > a.dv ? a.dh : a.dv;
  const int64_t kd = d <= 32 ? 32 : d <= 64 ? 64 : d <= 80 ? 80 : 128;
  const int64_t keys = (a.sk + kTcKeys - 1) / kTcKeys * kTcKeys;
  return static_cast<size_t>((2 * keys + 16 * 8) * (kd + kTcPad) * 2) <= kWholeMaxSmem;
}

}  // namespace

bool attention_takes_codes(Elt type, const AttentionArgs& args) {
  const AttentionForm form = forced_form();
  return (form == AttentionForm::kAuto || form == AttentionForm::kWgmma) &&
         attention_sm90_available() && attention_sm90_supports(type, args);
}

cudaError_t launch_attention(Elt type, const AttentionArgs& args, cudaStream_t stream) {
  if (args.dh > kMaxHeadDim || args.dv > kMaxHeadDim || args.dh < 1 || args.dv < 1) {
    return cudaErrorInvalidValue;
  }
  if (args.batch * args.heads * args.sq == 0) return cudaSuccess;
  if (args.sq > (int64_t(1) << 30) || args.sk > (int64_t(1) << 30)) return cudaErrorInvalidValue;
  if (!(args.out_scale >= 0.0f) || !std::isfinite(args.out_scale)) return cudaErrorInvalidValue;
  if (!(args.in_scale >= 0.0f) || !std::isfinite(args.in_scale)) return cudaErrorInvalidValue;
  if (args.out_int8 && !(args.out_scale > 0.0f)) return cudaErrorInvalidValue;
  if (args.in_scale > 0.0f || args.out_int8) {  // E4M3 codes in, int8 out: the wgmma form alone
    return attention_takes_codes(type, args) ? launch_attention_sm90(type, args, stream)
                                             : cudaErrorNotSupported;
  }
  // The tensor-core kernels' softmax needs scale > 0 (softmax_step); any other scale, which no
  // exporter writes, runs the scalar kernel.
  // Fake quantization inside (a quantized model's Q/DQ pairs) takes the tensor-core whole form
  // where every key fits in shared memory (ViT and CLIP lengths), else the scalar kernel.
  const bool quant = args.quant_scores || args.quant_probs;
  const bool tc = tc_eligible(args) && args.scale > 0.0f && std::isfinite(args.scale) &&
                  (!quant || quant_whole_fits(args));
  // Hopper's wgmma form (cuda/attention_sm90.h) wherever it is built and takes the problem:
  // at ViT-B/16's shapes on an H200 it beat the mma.sync forms below at batch 1 (3.8 against
  // 5.5 us a layer) and at batch 256 (1.7 ms a tower against 3.3), and cuDNN's fused attention
  // (7.4 us, 2.2 ms) in the build's tactic race.
  // It refuses (cudaErrorNotSupported) what it does not take, and the forms below run.
  const AttentionForm form = forced_form();
  if (form == AttentionForm::kAuto || form == AttentionForm::kWgmma) {
    const cudaError_t e = launch_attention_sm90(type, args, stream);
    if (e != cudaErrorNotSupported) return e;
  }
  if (type == Elt::kF16 && tc) return launch_tc_out<__half>(args, stream);
  if (type == Elt::kBF16 && tc) return launch_tc_out<__nv_bfloat16>(args, stream);
  const size_t smem =
      sizeof(float) * (kQueryTile * args.dh + kKeyTile * (args.dh + 1) + kKeyTile * args.dv);
  const dim3 grid(static_cast<unsigned>((args.sq + kQueryTile - 1) / kQueryTile),
                  static_cast<unsigned>(args.heads), static_cast<unsigned>(args.batch));
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (args.out_scale > 0.0f) {
      attention_kernel<T, uint8_t><<<grid, kWarps * 32, smem, stream>>>(args);
    } else {
      attention_kernel<T, T><<<grid, kWarps * 32, smem, stream>>>(args);
    }
    return cudaGetLastError();
  });
}

#if !VITRT_HAVE_CUTLASS
// Built without CUTLASS's headers (scripts/setup.sh fetches them): no wgmma form.
bool attention_sm90_available() {
  return false;
}
bool attention_sm90_supports(Elt, const AttentionArgs&) {
  return false;
}
cudaError_t launch_attention_sm90(Elt, const AttentionArgs&, cudaStream_t) {
  return cudaErrorNotSupported;
}
#endif

}  // namespace vitrt::cuda
