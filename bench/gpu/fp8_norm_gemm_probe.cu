// Probe, not part of vitrt's build: can one kernel do an fp8 plan's residual GEMM *and* the
// LayerNorm after it faster than the two kernels vitrt runs now? At ViT-B/16's batch 256 (50,432
// rows) the attention's output projection (E4M3 codes x W^T, K = N = 768, per-column alpha, bias,
// the fp16 residual added) takes 76 us in CUTLASS's ping-pong kernel, and the LayerNorm that
// turns its fp16 output x into the next GEMM's E4M3 codes another 42 us, reading all 77.5 MB of x
// back from DRAM (Nsight Compute, session 46: DRAM at 81%). Both are memory-bound; together they
// move 309 MB. One kernel that owns whole rows needs 232 MB (A codes, residual, x, codes).
//
// The first kernel here: a block owns 128 rows and all 768 columns. Its two warpgroups (64 rows
// each) keep the rows' A codes in shared memory (K = 768: 96 KB, 128-byte swizzle) and stream W in
// 128 x 128 tiles through a ring (cp.async, loads two steps ahead), six column chunks of 128, each
// a K loop of m64n128k32 E4M3 wgmmas. After a chunk: x = alpha acc + bias + residual (the
// residual chunk prefetched into shared memory during the K loop), rounded to fp16, staged in
// shared memory and stored as whole 256-byte row pieces; each row's mean and M2 over the chunk,
// combined across chunks (Chan et al.). Last, the LayerNorm pass: each warp re-reads 16 of the
// block's x rows (just written: L2) and writes their E4M3 codes of
// ((x - mean) rstd gamma + beta) / out_scale.
//
// The second (norm_gemm_split_kernel) lets the two warpgroups run apart, each over alternate
// column chunks of all 128 rows with its own W ring, so that one's epilogue meets the other's
// wgmmas. The third (c3::kernel) drives CUTLASS's TMA warp-specialized mainloop collective (a
// producer warp, two consumer warpgroups) over the six chunks with the second's epilogue. The
// fourth (c4::kernel<kNorm, false>) puts that mainloop in CUTLASS's ping-pong order and a
// persistent loop. The fifth (c4::kernel<kNorm, true>) is the fourth with the residual tile
// brought into shared memory by cp.async during the K loop and x leaving through the same
// buffer as 16-byte row pieces (run in session 47: below).
//
// Checked against a float64 host reference on sampled rows (x to fp16 rounding, codes within one
// E4M3 step), timed with CUDA events. kNorm = false times the GEMM part alone.
//
// What it found (H100, bench/gpu/RESULTS.md, session 46), us at 50,432 rows against vitrt's
// CUTLASS proj (76) + LayerNorm (42-44) = 118-120:
//   first kernel, + LayerNorm codes 173.7, GEMM alone 123.5;
//   warpgroups apart, + LayerNorm codes 162.3 (a wgmma batch kept in flight: 169.4), GEMM
//   alone 130.2.
//   CUTLASS's cooperative TMA mainloop (third form, c3::kernel: 7 stages, 230,528 bytes of
//   shared memory), + LayerNorm codes 234.5, GEMM alone 194.3;
//   CUTLASS's ping-pong order, persistent, the LayerNorm pass in slices (fourth form, c4::kernel:
//   6 stages, 200,832 bytes), + LayerNorm codes 318.0, GEMM alone 244.1.
// All correct (x within fp16 rounding of float64, no code more than one step off; compute-
// sanitizer memcheck clean), all slower: the first two's K loops alone lose to CUTLASS's kernel
// by 50 us. Nsight Compute on the first: 2 warps a scheduler, 0.43 eligible, DRAM 40%, SM 30% --
// one block a multiprocessor (the A rows take 96 KB) and a barrier a K step leave both the
// tensor cores and DRAM waiting. The third has CUTLASS's loads but nothing overlaps its
// epilogue (the two consumer warpgroups share each tile, and the residual and x move as 4-byte
// fragment pieces) nor its LayerNorm pass (33-40 us in every form, as long as vitrt's own
// LayerNorm kernel). The fourth has the ping-pong order and the persistent loop and is the
// slowest: a warpgroup's epilogue of a whole 128 x 128 tile (64 residual pairs read and 64 x pairs
// written as 4-byte pieces a thread, every coordinate from CuTe's identity tensor) outlasts the
// other's K loop, and the ordered barrier makes the tensor cores wait for it. Session 46 left the
// residual and x through shared memory to try (the fifth form); session 47 ran it and two more.
//
// A sixth form (variant 11) is the fifth with each LayerNorm slice's row loads all issued before
// any of its codes are computed (up to six rows a warp in flight instead of one), and variant 12
// is vitrt's own CUTLASS residual GEMM (src/cuda/cutlass/fp8_gemm.cu, the kernel proj and fc2
// run now) in the same binary, the baseline less its LayerNorm. A third argument sets K: 3072
// gives fc2's shape, where each tile's K loop is four times as long as proj's and might hide the
// epilogue and the LayerNorm slices (the first two forms take K = 768 only).
//
// Session 47 (H100, two rounds, us at 50,432 rows; all correct, compute-sanitizer clean):
//                         K = 768 (proj)        K = 3072 (fc2)
//   fourth form           323-324 / 245-249     560-570 / 482-487   (+ codes / GEMM alone)
//   fifth form            173.2-173.3 / 93.7-93.8   435.1 / 388.0-388.2
//   sixth form            147.7-148.3           428.4-429.0
//   vitrt's CUTLASS GEMM  75.8-76.1 (+ its LayerNorm 42 = 118)   186.7-187.1 (+ 42 = 229)
// Staging the residual and x through shared memory took the GEMM part from 245 to 94 us at
// K = 768, 18 us from CUTLASS's own kernel; the LayerNorm slices still add 54 us (sixth form)
// where 24 would break even. At K = 3072 the whole-row order loses outright: a block's A rows
// (128 x 3072 codes, 393 KB) are read once for each of the six column chunks, and 132 blocks'
// rows (52 MB) do not stay in the 50 MB L2 between the reads, so A comes from DRAM six times;
// CUTLASS's kernel walks the columns of a row block in neighbouring blocks at once.
//
// The seventh form (c7::kernel, variants 13 and 14: only the K loops take turns, the epilogues
// unordered; the LayerNorm pass by the producer warpgroup's three idle warps, a row block behind
// the consumers, two mbarriers a statistics slot) is correct at 50,432, 30,000 and 197 rows and
// compute-sanitizer clean, and no faster: GEMM part 93.5-93.8 us (the fifth's, so the epilogues'
// order was not what bound it: each warpgroup's own K loop plus epilogue, two tiles a turn, is),
// with codes 181.3-181.4 (three warps, 72 registers, two rows in flight each, cannot keep up; the
// kNorm form spills 72 bytes at this split). Seven forms, none under the two kernels' 118 us: the
// whole-row kernel is not pursued further.
//
// Build (CUTLASS's headers from scripts/setup.sh: CuTe's wgmma wrappers, the mainloop collective;
// vitrt's CUTLASS library from the release build):
//   C=third_party_data/cutlass
//   nvcc -std=c++20 -O3 -DNDEBUG -gencode arch=compute_90a,code=sm_90a -isystem $C/include -Isrc \
//     --expt-relaxed-constexpr -o fp8_norm_gemm_probe bench/gpu/fp8_norm_gemm_probe.cu \
//     build/libvitrt_cutlass.a
//   ./fp8_norm_gemm_probe [rows] [iterations] [K]  (on the GPU machine; PROBE_ONLY=7,8 picks forms)
#define CUTE_SM90_EXTENDED_MMA_SHAPES_ENABLED 1

#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>
#include <vector>

#include "cuda/async_copy.cuh"
#include "cuda/cutlass_fp8.h"
#include "cute/arch/mma_sm90.hpp"
#include "cute/tensor.hpp"
#include "cutlass/arch/reg_reconfig.h"
#include "cutlass/cutlass.h"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/pipeline/pipeline.hpp"

using namespace vitrt::cuda;
namespace gmma = cute::SM90::GMMA;

namespace {

constexpr int kN = 768;   // columns: the whole row
constexpr int kBN = 128;  // columns a chunk
constexpr int kChunks = kN / kBN;
constexpr int kBM = 128;    // rows a block (two warpgroups of 64)
constexpr int kBK = 128;    // K a step (128 codes: one 128-byte swizzle row)
constexpr int kStages = 5;  // W tiles in flight
constexpr int kThreads = 256;
constexpr int kXPitch = 272;  // bytes a staged row of 128 fp16 (+16: conflict-free fragments)

using Op = decltype(gmma::ss_op_selector<cute::float_e4m3_t, cute::float_e4m3_t, float,
                                         cute::Shape<cute::_64, cute::_128, cute::_32>,
                                         gmma::Major::K, gmma::Major::K>());

template <size_t... I>
__device__ __forceinline__ void mma(uint64_t da, uint64_t db, float* d, gmma::ScaleOut s,
                                    std::index_sequence<I...>) {
  Op::fma(da, db, d[I]..., s);
}

__device__ __forceinline__ uint64_t desc128(uint32_t addr) {
  cute::GmmaDescriptor d;
  d.bitfield.start_address_ = static_cast<uint16_t>(addr >> 4);
  d.bitfield.leading_byte_offset_ = 1;
  d.bitfield.stride_byte_offset_ = static_cast<uint16_t>(1024 >> 4);
  d.bitfield.base_offset_ = 0;
  d.bitfield.layout_type_ = static_cast<uint8_t>(gmma::LayoutType::B128);
  return d.desc_;
}
__device__ __forceinline__ int sw128(int r, int c) {
  return r * 128 + ((c ^ (r & 7)) << 4);
}
__device__ __forceinline__ void fence_async_shared() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

struct Args {
  const uint8_t* a;     // [M, K] E4M3 codes
  const uint8_t* w;     // [N, K] E4M3 codes
  const float* alpha;   // [N]
  const float* bias;    // [N]
  const __half* res;    // [M, N]
  const __half* gamma;  // [N]
  const __half* beta;   // [N]
  __half* x;            // [M, N]
  uint8_t* codes;       // [M, N]
  int m, k;
  float eps, r;  // r = 1 / out_scale
};

// gamma and beta at a lane's three 8-column pieces of a row (columns 256 v + 8 lane ..), as floats.
__device__ __forceinline__ void load_gamma_beta(const Args& a, int lane, float (&gm)[3][8],
                                                float (&bt)[3][8]) {
#pragma unroll
  for (int v = 0; v < 3; ++v) {
    const uint4 gg = *reinterpret_cast<const uint4*>(a.gamma + 256 * v + 8 * lane);
    const uint4 bb = *reinterpret_cast<const uint4*>(a.beta + 256 * v + 8 * lane);
    const __half2* g2 = reinterpret_cast<const __half2*>(&gg);
    const __half2* b2 = reinterpret_cast<const __half2*>(&bb);
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 gf = __half22float2(g2[e]), bf = __half22float2(b2[e]);
      gm[v][2 * e] = gf.x;
      gm[v][2 * e + 1] = gf.y;
      bt[v][2 * e] = bf.x;
      bt[v][2 * e + 1] = bf.y;
    }
  }
}

// The E4M3 codes (the first value's in the low byte) of ((x - mu) rs g + b) r for two values.
__device__ __forceinline__ uint32_t norm_code_pair(float2 x, float2 g, float2 b, float mu, float rs,
                                                   float r) {
  const float y0 = ((x.x - mu) * rs * g.x + b.x) * r;
  const float y1 = ((x.y - mu) * rs * g.y + b.y) * r;
  return __nv_cvt_float2_to_fp8x2(make_float2(y0, y1), __NV_SATFINITE, __NV_E4M3);
}

// The E4M3 codes of ((x - mean) rstd gamma + beta) r for a lane's three pieces of one row (x in
// `in`), stored at codes_row.
__device__ __forceinline__ void store_codes(const Args& a, const uint4 (&in)[3], float mu, float rs,
                                            const float (&gm)[3][8], const float (&bt)[3][8],
                                            uint8_t* codes_row, int lane) {
#pragma unroll
  for (int v = 0; v < 3; ++v) {
    const __half2* x2 = reinterpret_cast<const __half2*>(&in[v]);
    uint32_t out[2] = {0u, 0u};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const uint32_t pair =
          norm_code_pair(__half22float2(x2[e]), make_float2(gm[v][2 * e], gm[v][2 * e + 1]),
                         make_float2(bt[v][2 * e], bt[v][2 * e + 1]), mu, rs, a.r);
      out[e >> 1] |= pair << (16 * (e & 1));
    }
    *reinterpret_cast<uint2*>(codes_row + 256 * v + 8 * lane) = make_uint2(out[0], out[1]);
  }
}

// The LayerNorm pass of warp w8 over rows 16 w8 .. 16 w8 + 15 of the block (their mean and rstd
// in stats), four rows' loads in flight a lane.
__device__ __forceinline__ void codes_pass(const Args& a, const float* stats, int64_t m0,
                                           int rows_here, int w8, int lane) {
  float gm[3][8], bt[3][8];
  load_gamma_beta(a, lane, gm, bt);
  for (int i0 = 0; i0 < 16; i0 += 4) {
    uint4 in[4][3];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int r = w8 * 16 + i0 + u;
      const __half* xr = a.x + (m0 + (r < rows_here ? r : 0)) * kN;
#pragma unroll
      for (int v = 0; v < 3; ++v) {
        in[u][v] = *reinterpret_cast<const uint4*>(xr + 256 * v + 8 * lane);
      }
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int r = w8 * 16 + i0 + u;
      if (r >= rows_here) break;
      store_codes(a, in[u], stats[2 * r], stats[2 * r + 1], gm, bt, a.codes + (m0 + r) * kN, lane);
    }
  }
}

// A row's chunk of 128 columns (16 fp16 pairs in each of the quad's four lanes, `pair(j)` this
// lane's; `sum` this lane's sum of them): its mean and M2 across the quad, merged by chan_merge
// (below) into the running ones over n0 values.
__device__ __forceinline__ void chan_merge(float& mean, float& m2, float cm, float q, float n0);
template <class Pair>
__device__ __forceinline__ void merge_chunk(float sum, Pair pair, float& mean, float& m2,
                                            float n0) {
  sum += __shfl_xor_sync(0xffffffffu, sum, 1);
  sum += __shfl_xor_sync(0xffffffffu, sum, 2);
  const float cm = sum * (1.0f / kBN);
  float q = 0.0f;
#pragma unroll
  for (int j = 0; j < 16; ++j) {
    const float2 f = __half22float2(pair(j));
    q += (f.x - cm) * (f.x - cm) + (f.y - cm) * (f.y - cm);
  }
  q += __shfl_xor_sync(0xffffffffu, q, 1);
  q += __shfl_xor_sync(0xffffffffu, q, 2);
  chan_merge(mean, m2, cm, q, n0);
}

// Chan et al.: a running mean and M2 over n0 values merged with a chunk of 128 (its mean cm and
// M2 q).
__device__ __forceinline__ void chan_merge(float& mean, float& m2, float cm, float q, float n0) {
  const float nb = 128.0f, nn = n0 + nb;
  const float d = cm - mean;
  mean += d * (nb / nn);
  m2 += q + d * d * (n0 * nb / nn);
}

template <int kKB, bool kNorm>
__global__ void __launch_bounds__(kThreads, 1) norm_gemm_kernel(Args a) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* base_ptr = smem_raw + (base - raw);
  const uint32_t a_s = base;                                    // kKB x 16 KB
  const uint32_t b_s = a_s + kKB * kBM * kBK;                   // kStages x 16 KB
  unsigned char* xs = base_ptr + (kKB + kStages) * 16384;       // 128 x kXPitch
  float* stats = reinterpret_cast<float*>(xs + kBM * kXPitch);  // 128 x (mean, rstd)

  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  const int64_t m0 = int64_t(blockIdx.x) * kBM;
  const int rows_here = a.m - m0 < kBM ? static_cast<int>(a.m - m0) : kBM;
  constexpr int kSteps = kChunks * kKB;

  const auto load_step = [&](int s) {
    const int c = s / kKB, kb = s % kKB, slot = s % kStages;
    // W rows [128c, 128c + 128), K bytes [128 kb, + 128): 1024 16-byte pieces, 4 a thread.
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int e = tid + i * kThreads, r = e >> 3, cc = e & 7;
      cp_async16(b_s + slot * 16384 + sw128(r, cc),
                 a.w + int64_t(c * kBN + r) * a.k + kb * kBK + cc * 16, true);
    }
    if (c == 0) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int e = tid + i * kThreads, r = e >> 3, cc = e & 7;
        const bool ok = r < rows_here;
        cp_async16(a_s + kb * 16384 + sw128(r, cc),
                   a.a + (ok ? (m0 + r) * a.k : 0) + kb * kBK + cc * 16, ok);
      }
    }
  };
  // The residual's chunk c: 128 rows x 256 bytes, 2048 pieces, 8 a thread.
  const auto load_res = [&](int c) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int e = tid + i * kThreads, r = e >> 4, cc = e & 15;
      const bool ok = r < rows_here;
      cp_async16(xs + r * kXPitch + cc * 16, a.res + (ok ? (m0 + r) * kN : 0) + c * kBN + cc * 8,
                 ok);
    }
  };

  load_res(0);
#pragma unroll
  for (int s = 0; s < kStages - 2; ++s) {
    load_step(s);
    cp_async_commit();
  }

  // Running statistics of this thread's two rows (64 wg + 16 warp + g, + 8).
  float mean[2] = {0.0f, 0.0f}, m2[2] = {0.0f, 0.0f};
  const int row_l[2] = {wg * 64 + warp * 16 + g, wg * 64 + warp * 16 + g + 8};

  for (int c = 0; c < kChunks; ++c) {
    float acc[64];
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
    for (int kb = 0; kb < kKB; ++kb) {
      const int s = c * kKB + kb;
      cp_async_wait<kStages - 3>();
      fence_async_shared();
      __syncthreads();
      // Step s - 2's wgmmas finished in every warpgroup before this barrier (each waited for
      // all but its newest batch): its slot takes step s + kStages - 2.
      if (s + kStages - 2 < kSteps) load_step(s + kStages - 2);
      cp_async_commit();
#pragma unroll
      for (int i = 0; i < 64; ++i) cute::warpgroup_fence_operand(acc[i]);
      cute::warpgroup_arrive();
      const uint64_t da = desc128(a_s + kb * 16384 + wg * 64 * 128);
      const uint64_t db = desc128(b_s + (s % kStages) * 16384);
#pragma unroll
      for (int ks = 0; ks < kBK / 32; ++ks) {
        mma(da + 2 * ks, db + 2 * ks, acc,
            kb == 0 && ks == 0 ? gmma::ScaleOut::Zero : gmma::ScaleOut::One,
            std::make_index_sequence<64>{});
      }
      cute::warpgroup_commit_batch();
      cute::warpgroup_wait<1>();
#pragma unroll
      for (int i = 0; i < 64; ++i) cute::warpgroup_fence_operand(acc[i]);
    }
    cute::warpgroup_wait<0>();
#pragma unroll
    for (int i = 0; i < 64; ++i) cute::warpgroup_fence_operand(acc[i]);
    // The residual chunk landed with the steps before this chunk's last (older groups).
    cp_async_wait<kStages - 3>();
    __syncthreads();

    // x = alpha acc + bias + residual, fp16, in place of the residual; the rows' chunk sums.
    // Accumulator element 4j + e: row g + 8 (e / 2), column 8j + 2t + e % 2.
    float sum[2] = {0.0f, 0.0f};
    __half2 xh[16][2];
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int n = c * kBN + 8 * j + 2 * t;
      const float2 al = *reinterpret_cast<const float2*>(a.alpha + n);
      const float2 bi = *reinterpret_cast<const float2*>(a.bias + n);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        __half2* p = reinterpret_cast<__half2*>(xs + row_l[h] * kXPitch + (8 * j + 2 * t) * 2);
        const float2 rv = __half22float2(*p);
        const __half2 v = __floats2half2_rn(fmaf(acc[4 * j + 2 * h], al.x, bi.x) + rv.x,
                                            fmaf(acc[4 * j + 2 * h + 1], al.y, bi.y) + rv.y);
        *p = v;
        xh[j][h] = v;
        const float2 f = __half22float2(v);
        sum[h] += f.x + f.y;
      }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      merge_chunk(
          sum[h], [&](int j) { return xh[j][h]; }, mean[h], m2[h], 128.0f * c);
    }
    __syncthreads();
    // x out as 256-byte row pieces.
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int e = tid + i * kThreads, r = e >> 4, cc = e & 15;
      if (r < rows_here) {
        *reinterpret_cast<uint4*>(a.x + (m0 + r) * kN + c * kBN + cc * 8) =
            *reinterpret_cast<const uint4*>(xs + r * kXPitch + cc * 16);
      }
    }
    __syncthreads();
    if (c + 1 < kChunks) {
      load_res(c + 1);
      cp_async_commit();
    }
  }
  if constexpr (!kNorm) return;

  if (t == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      stats[2 * row_l[h]] = mean[h];
      stats[2 * row_l[h] + 1] = rsqrtf(m2[h] * (1.0f / kN) + a.eps);
    }
  }
  __syncthreads();  // also makes this block's x stores visible to its threads
  // The LayerNorm pass: warp w (0..7) takes rows 16w .. 16w + 15; a lane 3 pieces of 8 columns.
  const int w8 = tid >> 5;
  float gm[3][8], bt[3][8];
  load_gamma_beta(a, lane, gm, bt);
#pragma unroll 2
  for (int i = 0; i < 16; ++i) {
    const int r = w8 * 16 + i;
    if (r >= rows_here) break;
    const float mu = stats[2 * r], rs = stats[2 * r + 1];
    const __half* xr = a.x + (m0 + r) * kN;
    uint4 in[3];
#pragma unroll
    for (int v = 0; v < 3; ++v) in[v] = *reinterpret_cast<const uint4*>(xr + 256 * v + 8 * lane);
    store_codes(a, in, mu, rs, gm, bt, a.codes + (m0 + r) * kN, lane);
  }
}

// Second form: the two warpgroups work independently. Warpgroup w takes column chunks w, w + 2,
// w + 4 over all 128 rows (two m64 wgmmas a K step, 128 accumulators a thread), streaming its own
// chunks' W tiles through its own ring (kS2 stages, loads kS2 - 2 steps ahead) and synchronizing
// on its own named barrier, so that one warpgroup's epilogue runs beside the other's wgmmas. The
// residual comes straight from global memory into the fragment layout (a quad's four lanes read a
// row's 16 contiguous bytes) and x goes back the same way. The rows' statistics of the two
// halves meet in shared memory before the LayerNorm pass.
constexpr int kS2 = 3;

__device__ __forceinline__ void wg_barrier(int wg) {
  asm volatile("bar.sync %0, 128;\n" ::"r"(wg + 1) : "memory");
}

// kDeep: one batch of wgmmas left in flight across K steps (the loads then run kS2 - 2 steps
// ahead), else none (kS2 - 1 ahead).
template <int kKB, bool kNorm, bool kDeep>
__global__ void __launch_bounds__(kThreads, 1) norm_gemm_split_kernel(Args a) {
  constexpr int kAhead = kDeep ? kS2 - 2 : kS2 - 1;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* base_ptr = smem_raw + (base - raw);
  const uint32_t a_s = base;                   // kKB x 16 KB: all 128 rows' A codes
  const uint32_t b_s = a_s + kKB * kBM * kBK;  // 2 rings of kS2 x 16 KB
  float* part = reinterpret_cast<float*>(base_ptr + (kKB + 2 * kS2) * 16384);  // [2][128][2]
  float* stats = part + 2 * kBM * 2;                                           // [128][2]

  const int tid = threadIdx.x, wg = tid >> 7, wt = tid & 127, warp = wt >> 5, lane = tid & 31;
  const int g = lane >> 2, t = lane & 3;
  const int64_t m0 = int64_t(blockIdx.x) * kBM;
  const int rows_here = a.m - m0 < kBM ? static_cast<int>(a.m - m0) : kBM;
  constexpr int kLocal = (kChunks / 2) * kKB;  // this warpgroup's K steps
  const uint32_t ring = b_s + wg * kS2 * 16384;

  // All of A, every thread a share: one group.
  for (int e = tid; e < kKB * 1024; e += kThreads) {
    const int kb = e >> 10, r = (e >> 3) & 127, cc = e & 7;
    const bool ok = r < rows_here;
    cp_async16(a_s + kb * 16384 + sw128(r, cc),
               a.a + (ok ? (m0 + r) * a.k : 0) + kb * kBK + cc * 16, ok);
  }
  cp_async_commit();
  const auto load_b = [&](int ls) {
    const int c = wg + 2 * (ls / kKB), kb = ls % kKB, slot = ls % kS2;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int e = wt + i * 128, r = e >> 3, cc = e & 7;
      cp_async16(ring + slot * 16384 + sw128(r, cc),
                 a.w + int64_t(c * kBN + r) * a.k + kb * kBK + cc * 16, true);
    }
  };
#pragma unroll
  for (int s = 0; s < kAhead; ++s) {
    load_b(s);
    cp_async_commit();
  }
  cp_async_wait<kAhead>();  // A (both warpgroups read every row of it)
  fence_async_shared();
  __syncthreads();

  // Rows of this thread: 64 mh + 16 warp + g + 8 h, mh and h in {0, 1}; running statistics.
  float mean[2][2] = {}, m2[2][2] = {};
  float acc[2][64];
  for (int ls = 0; ls < kLocal; ++ls) {
    const int kb = ls % kKB, c = wg + 2 * (ls / kKB);
    cp_async_wait<kAhead - 1>();
    fence_async_shared();
    wg_barrier(wg);
    if (ls + kAhead < kLocal) load_b(ls + kAhead);
    cp_async_commit();
#pragma unroll
    for (int mh = 0; mh < 2; ++mh) {
#pragma unroll
      for (int i = 0; i < 64; ++i) cute::warpgroup_fence_operand(acc[mh][i]);
    }
    cute::warpgroup_arrive();
    const uint64_t db = desc128(ring + (ls % kS2) * 16384);
#pragma unroll
    for (int mh = 0; mh < 2; ++mh) {
      const uint64_t da = desc128(a_s + kb * 16384 + mh * 64 * 128);
#pragma unroll
      for (int ks = 0; ks < kBK / 32; ++ks) {
        mma(da + 2 * ks, db + 2 * ks, acc[mh],
            kb == 0 && ks == 0 ? gmma::ScaleOut::Zero : gmma::ScaleOut::One,
            std::make_index_sequence<64>{});
      }
    }
    cute::warpgroup_commit_batch();
    cute::warpgroup_wait<kDeep ? 1 : 0>();
#pragma unroll
    for (int mh = 0; mh < 2; ++mh) {
#pragma unroll
      for (int i = 0; i < 64; ++i) cute::warpgroup_fence_operand(acc[mh][i]);
    }
    if (kb != kKB - 1) continue;
    cute::warpgroup_wait<0>();
#pragma unroll
    for (int mh = 0; mh < 2; ++mh) {
#pragma unroll
      for (int i = 0; i < 64; ++i) cute::warpgroup_fence_operand(acc[mh][i]);
    }
    // Epilogue of chunk c, one 64-row half at a time: the residual's 32 pairs first (all loads
    // in flight), then x, its stores and the rows' sums.
    const int n0 = c * kBN + 2 * t;
#pragma unroll
    for (int mh = 0; mh < 2; ++mh) {
      const int rl[2] = {mh * 64 + warp * 16 + g, mh * 64 + warp * 16 + g + 8};
      __half2 rv[16][2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const bool ok = rl[h] < rows_here;
        const __half* rp = a.res + (m0 + (ok ? rl[h] : 0)) * kN + n0;
#pragma unroll
        for (int j = 0; j < 16; ++j) rv[j][h] = *reinterpret_cast<const __half2*>(rp + 8 * j);
      }
      float sum[2] = {0.0f, 0.0f};
#pragma unroll
      for (int j = 0; j < 16; ++j) {
        const float2 al = *reinterpret_cast<const float2*>(a.alpha + n0 + 8 * j);
        const float2 bi = *reinterpret_cast<const float2*>(a.bias + n0 + 8 * j);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const float2 r2 = __half22float2(rv[j][h]);
          const __half2 v = __floats2half2_rn(fmaf(acc[mh][4 * j + 2 * h], al.x, bi.x) + r2.x,
                                              fmaf(acc[mh][4 * j + 2 * h + 1], al.y, bi.y) + r2.y);
          rv[j][h] = v;
          const float2 f = __half22float2(v);
          sum[h] += f.x + f.y;
        }
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (rl[h] < rows_here) {
          __half* xp = a.x + (m0 + rl[h]) * kN + n0;
#pragma unroll
          for (int j = 0; j < 16; ++j) *reinterpret_cast<__half2*>(xp + 8 * j) = rv[j][h];
        }
        merge_chunk(
            sum[h], [&](int j) { return rv[j][h]; }, mean[mh][h], m2[mh][h], 128.0f * (ls / kKB));
      }
    }
  }
  if constexpr (!kNorm) return;
  if (t == 0) {
#pragma unroll
    for (int mh = 0; mh < 2; ++mh) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = mh * 64 + warp * 16 + g + 8 * h;
        part[(wg * kBM + r) * 2] = mean[mh][h];
        part[(wg * kBM + r) * 2 + 1] = m2[mh][h];
      }
    }
  }
  __syncthreads();  // also makes this block's x stores visible to its threads
  if (tid < kBM) {
    const float ma = part[tid * 2], qa = part[tid * 2 + 1];
    const float mb = part[(kBM + tid) * 2], qb = part[(kBM + tid) * 2 + 1];
    const float d = mb - ma;  // two halves of kN / 2 each
    stats[2 * tid] = 0.5f * (ma + mb);
    stats[2 * tid + 1] = rsqrtf((qa + qb + d * d * (kN / 4.0f)) * (1.0f / kN) + a.eps);
  }
  __syncthreads();
  const int w8 = tid >> 5;
  codes_pass(a, stats, m0, rows_here, w8, lane);
}

size_t smem_bytes_split(int kb) {
  return 1024 + size_t(kb + 2 * kS2) * 16384 + kBM * 6 * 4;
}

size_t smem_bytes(int kb) {
  return 1024 + size_t(kb + kStages) * 16384 + kBM * kXPitch + kBM * 8;
}

#define CHECK(x)                                                                      \
  do {                                                                                \
    cudaError_t e_ = (x);                                                             \
    if (e_ != cudaSuccess) {                                                          \
      std::fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

float dec(uint8_t c) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(c, __NV_E4M3)));
}
uint8_t enc(float v) {
  return __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
}
// Distance in E4M3 steps between two codes of the same sign region (ordering by magnitude).
int code_index(uint8_t c) {
  return (c & 0x80) ? -int(c & 0x7f) : int(c & 0x7f);
}

// What the third and fourth forms share around CUTLASS's mainloop collective.
namespace coll {
using namespace cute;
using Tile = Shape<_128, _128, _128>;
using Cluster = Shape<_1, _1, _1>;

// CUTLASS's FP8 fast-accumulation mainloop for 128 x 128 x 128 tiles under a kernel schedule,
// with as many stages as fit beside kCarve bytes of the kernel's own shared memory.
template <class Schedule, int kCarve>
using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
    cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, cutlass::float_e4m3_t,
    cutlass::layout::RowMajor, 16, cutlass::float_e4m3_t, cutlass::layout::ColumnMajor, 16, float,
    Tile, Cluster, cutlass::gemm::collective::StageCountAutoCarveout<kCarve>,
    Schedule>::CollectiveOp;

// The mainloop pipeline of thread tid (warp 0 the producer, warpgroups 1 and 2 the consumers;
// `consumers` threads release each stage), its barriers initialized by the constructor.
template <class Main>
__device__ __forceinline__ typename Main::MainloopPipeline::Params pipe_params(
    typename Main::Params const& mp, int tid, int consumers) {
  using Pipe = typename Main::MainloopPipeline;
  typename Pipe::Params pp;
  const int wgi = tid >> 7, warp_in_wg = (tid >> 5) & 3;
  if (wgi == 0 && warp_in_wg == 0) pp.role = Pipe::ThreadCategory::Producer;
  if (wgi >= 1) pp.role = Pipe::ThreadCategory::Consumer;
  pp.is_leader = (tid & 127) == 0;
  pp.num_consumers = consumers;
  pp.num_producers = Main::NumProducerThreadEvents;
  pp.transaction_bytes = mp.tma_transaction_bytes;
  return pp;
}

// The producer warp: the six chunks of row blocks first, first + step, ... below nblocks, in
// order, then the pipeline's tail.
template <class Main, class Inputs>
__device__ __forceinline__ void produce(Main& collective, typename Main::Params const& mp,
                                        typename Main::MainloopPipeline pipeline,
                                        Inputs const& load_inputs, int k_tiles, int first, int step,
                                        int nblocks, int lane,
                                        typename Main::TensorStorage& tensors) {
  auto write = cutlass::make_producer_start_state<typename Main::MainloopPipeline>();
  auto gA_mkl = get<0>(load_inputs);
  for (int rb = first; rb < nblocks; rb += step) {
    for (int n = 0; n < kChunks; ++n) {
      auto blk_coord = make_coord(rb, n, _, 0);
      auto k_tile_iter = cute::make_coord_iterator(shape<3>(gA_mkl));
      collective.load(mp, pipeline, write, load_inputs, blk_coord, k_tile_iter, k_tiles, lane, 0,
                      tensors);
      write.advance(k_tiles);
    }
  }
  collective.load_tail(pipeline, write);
}

// Chunk n's epilogue over kPairs accumulator pairs: x = alpha acc + bias + residual (the
// residual pairs loaded first, all in flight), stored where the row exists, kept in rv; each
// row slot's sum of it (slot(r) of the pair's row).
template <int kPairs, int kSlots, class Acc, class Coords, class Slot>
__device__ __forceinline__ void residual_x(const Args& a, const Acc& accum, const Coords& tCcD,
                                           int64_t m0, int rows_here, int n, __half2 (&rv)[kPairs],
                                           float (&sum)[kSlots], Slot slot) {
#pragma unroll
  for (int p = 0; p < kPairs; ++p) {
    const int r = get<0>(tCcD(2 * p)), c = get<1>(tCcD(2 * p));
    const int rr = r < rows_here ? r : 0;
    rv[p] = *reinterpret_cast<const __half2*>(a.res + (m0 + rr) * kN + n * kBN + c);
  }
#pragma unroll
  for (int i = 0; i < kSlots; ++i) sum[i] = 0.0f;
#pragma unroll
  for (int p = 0; p < kPairs; ++p) {
    const int r = get<0>(tCcD(2 * p)), c = get<1>(tCcD(2 * p));
    const float2 al = *reinterpret_cast<const float2*>(a.alpha + n * kBN + c);
    const float2 bi = *reinterpret_cast<const float2*>(a.bias + n * kBN + c);
    const float2 r2 = __half22float2(rv[p]);
    const __half2 v = __floats2half2_rn(fmaf(accum(2 * p), al.x, bi.x) + r2.x,
                                        fmaf(accum(2 * p + 1), al.y, bi.y) + r2.y);
    rv[p] = v;
    if (r < rows_here) *reinterpret_cast<__half2*>(a.x + (m0 + r) * kN + n * kBN + c) = v;
    const float2 f = __half22float2(v);
    sum[slot(r)] += f.x + f.y;
  }
}

// Each row slot's chunk mean and M2 (quad-reduced: a row's 128 columns lie in four lanes),
// merged into the running mean and m2 over n0 values.
template <int kPairs, int kSlots, class Coords, class Slot>
__device__ __forceinline__ void merge_slots(const Coords& tCcD, const __half2 (&rv)[kPairs],
                                            float (&sum)[kSlots], float (&mean)[kSlots],
                                            float (&m2)[kSlots], float n0, Slot slot) {
  float cm[kSlots], q[kSlots];
#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    sum[i] += __shfl_xor_sync(0xffffffffu, sum[i], 1);
    sum[i] += __shfl_xor_sync(0xffffffffu, sum[i], 2);
    cm[i] = sum[i] * (1.0f / kBN);
    q[i] = 0.0f;
  }
#pragma unroll
  for (int p = 0; p < kPairs; ++p) {
    const int i = slot(get<0>(tCcD(2 * p)));
    const float2 f = __half22float2(rv[p]);
    q[i] += (f.x - cm[i]) * (f.x - cm[i]) + (f.y - cm[i]) * (f.y - cm[i]);
  }
#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    q[i] += __shfl_xor_sync(0xffffffffu, q[i], 1);
    q[i] += __shfl_xor_sync(0xffffffffu, q[i], 2);
    chan_merge(mean[i], m2[i], cm[i], q[i], n0);
  }
}

// One consumer warpgroup (128 threads, named barrier 10 + w).
__device__ __forceinline__ void wg_sync(int w) {
  asm volatile("bar.sync %0, 128;\n" ::"r"(10 + w) : "memory");
}

// The fifth and seventh forms' staging: the residual tile of chunk n (128 rows x 256 bytes) into
// warpgroup buffer st by cp.async (thread wt of 128), to land while the K loop runs.
__device__ __forceinline__ void stage_residual(const Args& a, unsigned char* st, int wt, int64_t m0,
                                               int rows_here, int n) {
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int e = wt + i * 128, r = e >> 4, cc = e & 15;
    const bool ok = r < rows_here;
    vitrt::cuda::cp_async16(st + r * kXPitch + cc * 16,
                            a.res + (m0 + (ok ? r : 0)) * kN + n * kBN + cc * 8, ok);
  }
  vitrt::cuda::cp_async_commit();
}

// Their epilogue of chunk n over the staged residual: x = alpha acc + bias + residual, written
// back over the residual in st (fragment pair (r, c) at r * kXPitch + 2c: the quad's rows 68
// words apart, no two lanes of a warp on one bank), kept in rv with each row slot's sum, then
// stored from st as 16-byte row pieces; st is free again on return.
template <class Acc, class Coords, class Slot>
__device__ __forceinline__ void staged_epilogue(const Args& a, const Acc& accum, const Coords& tCcD,
                                                unsigned char* st, int w, int wt, int64_t m0,
                                                int rows_here, int n, __half2 (&rv)[64],
                                                float (&sum)[4], Slot slot) {
  vitrt::cuda::cp_async_wait<0>();
  wg_sync(w);
#pragma unroll
  for (int i = 0; i < 4; ++i) sum[i] = 0.0f;
#pragma unroll
  for (int p = 0; p < 64; ++p) {
    const int r = get<0>(tCcD(2 * p)), c = get<1>(tCcD(2 * p));
    __half2* q = reinterpret_cast<__half2*>(st + r * kXPitch + 2 * c);
    const float2 al = *reinterpret_cast<const float2*>(a.alpha + n * kBN + c);
    const float2 bi = *reinterpret_cast<const float2*>(a.bias + n * kBN + c);
    const float2 r2 = __half22float2(*q);
    const __half2 v = __floats2half2_rn(fmaf(accum(2 * p), al.x, bi.x) + r2.x,
                                        fmaf(accum(2 * p + 1), al.y, bi.y) + r2.y);
    *q = v;
    rv[p] = v;
    const float2 f = __half22float2(v);
    sum[slot(r)] += f.x + f.y;
  }
  wg_sync(w);
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const int e = wt + i * 128, r = e >> 4, cc = e & 15;
    if (r < rows_here) {
      *reinterpret_cast<uint4*>(a.x + (m0 + r) * kN + n * kBN + cc * 8) =
          *reinterpret_cast<const uint4*>(st + r * kXPitch + cc * 16);
    }
  }
  wg_sync(w);  // the buffer free for the next residual tile
}

// The fourth to seventh forms' turn at the tensor cores: this warpgroup's K loop of one chunk
// under the order, the pipeline's stages released after it, the read state past the other
// warpgroup's chunk.
template <class Order, class Main, class Accum>
__device__ __forceinline__ void turn_mma(Order& order, Main& collective,
                                         typename Main::MainloopPipeline pipeline,
                                         typename Main::PipelineState& read, Accum& accum,
                                         int k_tiles, int wt, typename Main::TensorStorage& tensors,
                                         typename Main::Params const& mp) {
  order.wait();
  collective.mma(pipeline, read, accum, k_tiles, wt, tensors, mp);
  order.arrive();
  collective.mma_tail(pipeline, read, k_tiles);
  read.advance(2 * k_tiles);
}

// A warpgroup's row-block statistics (this thread's four row slots) into its half of part.
__device__ __forceinline__ void store_stats(float (&part)[kBM][2], const int (&row_of_slot)[4],
                                            const float (&mean)[4], const float (&m2)[4]) {
#pragma unroll
  for (int s4 = 0; s4 < 4; ++s4) {
    part[row_of_slot[s4]][0] = mean[s4];
    part[row_of_slot[s4]][1] = m2[s4];
  }
}

// Row r's mean and 1 / sqrt(variance + eps) from the two warpgroups' halves in part (mean and
// M2 over 384 values each).
__device__ __forceinline__ void row_stats(const float (&part)[2][kBM][2], int r, float eps,
                                          float& mu, float& rs) {
  const float ma = part[0][r][0], qa = part[0][r][1], mb = part[1][r][0], qb = part[1][r][1];
  const float d = mb - ma;
  mu = 0.5f * (ma + mb);
  rs = rsqrtf((qa + qb + d * d * (kN / 4.0f)) * (1.0f / kN) + eps);
}

// A lane's three 8-column pieces of rows r0, r0 + step, ... (kBatch of them) of the row block at
// m0; a row at or past stop reads row r0 again (its codes are not written).
template <int kBatch>
__device__ __forceinline__ void load_rows(const Args& a, int64_t m0, int r0, int step, int stop,
                                          int lane, uint4 (&in)[kBatch][3]) {
#pragma unroll
  for (int u = 0; u < kBatch; ++u) {
    const int r = r0 + step * u < stop ? r0 + step * u : r0;
    const __half* xr = a.x + (m0 + r) * kN;
#pragma unroll
    for (int v = 0; v < 3; ++v) in[u][v] = *reinterpret_cast<const uint4*>(xr + 256 * v + 8 * lane);
  }
}

template <class Main>
typename Main::Params mainloop_params(const Args& a) {
  typename Main::Arguments args{};
  args.ptr_A = reinterpret_cast<const cutlass::float_e4m3_t*>(a.a);
  args.ptr_B = reinterpret_cast<const cutlass::float_e4m3_t*>(a.w);
  get<0>(args.dA) = a.k;
  get<2>(args.dA) = int64_t(a.m) * a.k;
  get<0>(args.dB) = a.k;
  get<2>(args.dB) = int64_t(kN) * a.k;
  return Main::to_underlying_arguments(make_shape(a.m, static_cast<int>(kN), a.k, 1), args,
                                       nullptr);
}
}  // namespace coll

// Third form: CUTLASS's TMA warp-specialized mainloop (the collective vitrt's FP8 GEMMs use, here
// the cooperative schedule: one producer warp, two consumer warpgroups of 64 rows on one 128 x 128
// tile) driven by this kernel over the six column chunks of its 128 rows, the producer running
// ahead into the next chunk while the consumers do a chunk's epilogue; the epilogue and the
// LayerNorm pass are the second form's.
namespace c3 {
using namespace cute;
using coll::Cluster;
using coll::Tile;
constexpr int kStatBytes = kBM * 2 * 4;
using Main = coll::Mainloop<cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum,
                            kStatBytes + 256>;
using TiledMma = typename Main::TiledMma;
using Pipe = typename Main::MainloopPipeline;
using PipeState = typename Main::PipelineState;

struct Smem {
  typename Main::TensorStorage tensors;
  typename Main::PipelineStorage pipeline;
  alignas(16) float stats[kBM * 2];
};

__device__ __forceinline__ void consumer_barrier() {
  asm volatile("bar.sync 1, 256;\n" ::: "memory");
}

template <bool kNorm>
__global__ void __launch_bounds__(384, 1)
    kernel(CUTLASS_GRID_CONSTANT typename Main::Params const mp, Args a) {
  extern __shared__ __align__(1024) char smem_buf[];
  Smem& ss = *reinterpret_cast<Smem*>(smem_buf);
  const int tid = threadIdx.x, wgi = tid >> 7, warp_in_wg = (tid >> 5) & 3, lane = tid & 31;
  Pipe pipeline(ss.pipeline, coll::pipe_params<Main>(mp, tid, 256), Cluster{});
  __syncthreads();  // the pipeline's barriers initialized

  Main collective;
  auto problem = make_shape(a.m, static_cast<int>(kN), a.k, 1);
  auto load_inputs = collective.load_init(problem, mp);
  Tensor gA_mkl = get<0>(load_inputs);
  const int k_tiles = static_cast<int>(size<3>(gA_mkl));
  const int m_blk = blockIdx.x;
  const int64_t m0 = int64_t(m_blk) * kBM;
  const int rows_here = a.m - m0 < kBM ? static_cast<int>(a.m - m0) : kBM;

  if (wgi == 0) {
    cutlass::arch::warpgroup_reg_dealloc<40>();
    if (warp_in_wg == 0) {
      coll::produce(collective, mp, pipeline, load_inputs, k_tiles, m_blk, 1, m_blk + 1, lane,
                    ss.tensors);
    }
    return;
  }
  cutlass::arch::warpgroup_reg_alloc<232>();
  const int mt = tid - 128;  // 0..255 over the two consumer warpgroups
  TiledMma tiled_mma;
  auto thr = tiled_mma.get_thread_slice(mt);
  Tensor cD = make_identity_tensor(make_shape(Int<kBM>{}, Int<kBN>{}));
  Tensor tCcD = thr.partition_C(cD);
  PipeState read;
  // This thread's rows r0 and r0 + 8 (element 0's row, the other eight rows down).
  const int r0 = get<0>(tCcD(0));
  const int t = lane & 3;
  float mean[2] = {0.0f, 0.0f}, m2[2] = {0.0f, 0.0f};
  for (int n = 0; n < kChunks; ++n) {
    auto accum = partition_fragment_C(tiled_mma, take<0, 2>(Tile{}));
    collective.mma(pipeline, read, accum, k_tiles, mt, ss.tensors, mp);
    collective.mma_tail(pipeline, read, k_tiles);
    read.advance(k_tiles);
    static_assert(decltype(size(accum))::value == 64, "a 64 x 128 fragment a warpgroup");
    const auto slot = [r0](int r) { return r != r0 ? 1 : 0; };
    __half2 rv[32];
    float sum[2];
    coll::residual_x(a, accum, tCcD, m0, rows_here, n, rv, sum, slot);
    coll::merge_slots(tCcD, rv, sum, mean, m2, 128.0f * n, slot);
  }
  if constexpr (!kNorm) return;
  if (t == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      ss.stats[2 * (r0 + 8 * h)] = mean[h];
      ss.stats[2 * (r0 + 8 * h) + 1] = rsqrtf(m2[h] * (1.0f / kN) + a.eps);
    }
  }
  consumer_barrier();  // the statistics, and this block's x stores, seen by every consumer
  const int w8 = mt >> 5;
  codes_pass(a, ss.stats, m0, rows_here, w8, lane);
}

}  // namespace c3

// Fourth form: CUTLASS's ping-pong order (each consumer warpgroup a whole 128 x 128 tile, the
// two taking turns: one's epilogue beside the other's wgmmas, CUTLASS's ordered barrier between
// them), warpgroup w taking chunks w, w + 2, w + 4 of each row block, and persistent: a block
// walks row blocks blockIdx.x, + gridDim.x, ..., and the LayerNorm pass of the previous row block
// runs in slices inside this one's epilogues (a third of a warpgroup's 64 rows each), so that its
// reads and code stores fall beside wgmmas and not all in one wave.
namespace c4 {
using namespace cute;
using coll::Cluster;
using coll::Tile;
using Order = cutlass::OrderedSequenceBarrier<2, 2>;

// kStaged (the fifth form): each warpgroup's residual tile lands in shared memory by cp.async
// while its K loop runs, x goes back through the same buffer and out as 16-byte row pieces.
template <bool kStaged>
struct Form {
  static constexpr int kStage = kStaged ? kBM * kXPitch : 16;
  static constexpr int kCarve = 2 * 2 * kBM * 2 * 4 + 2 * kStage + 1024;
  using Main = coll::Mainloop<cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum, kCarve>;
  struct Smem {
    typename Main::TensorStorage tensors;
    typename Main::PipelineStorage pipeline;
    alignas(16) typename Order::SharedStorage order;
    alignas(16) float part[2][2][kBM][2];  // [row block & 1][warpgroup][row]: mean, M2 over 384
    alignas(16) unsigned char stage[2][kStage];  // [warpgroup]: the residual, then x
  };
};

// Both consumer warpgroups (256 threads) meet at named barrier `id`.
__device__ __forceinline__ void pair_sync(int id) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(id) : "memory");
}

// The LayerNorm pass over rows [begin, end) of the row block at m0, its statistics the two
// warpgroups' halves in part; a warpgroup's four warps take every fourth row, kBatch rows' loads
// in flight a lane.
template <int kBatch>
__device__ __forceinline__ void codes_rows(const Args& a, const float (&part)[2][kBM][2],
                                           int64_t m0, int rows_here, int begin, int end, int warp,
                                           int lane) {
  float gm[3][8], bt[3][8];
  load_gamma_beta(a, lane, gm, bt);
  const int stop = end < rows_here ? end : rows_here;
  for (int r0 = begin + warp; r0 < stop; r0 += 4 * kBatch) {
    uint4 in[kBatch][3];
    coll::load_rows<kBatch>(a, m0, r0, 4, stop, lane, in);
#pragma unroll
    for (int u = 0; u < kBatch; ++u) {
      const int r = r0 + 4 * u;
      if (r >= stop) break;
      float mu, rs;
      coll::row_stats(part, r, a.eps, mu, rs);
      store_codes(a, in[u], mu, rs, gm, bt, a.codes + (m0 + r) * kN, lane);
    }
  }
}

template <bool kNorm, bool kStaged, int kLnBatch = 1>
__global__ void __launch_bounds__(384, 1)
    kernel(CUTLASS_GRID_CONSTANT typename Form<kStaged>::Main::Params const mp, Args a) {
  using Main = typename Form<kStaged>::Main;
  using Smem = typename Form<kStaged>::Smem;
  using TiledMma = typename Main::TiledMma;
  using Pipe = typename Main::MainloopPipeline;
  using PipeState = typename Main::PipelineState;
  extern __shared__ __align__(1024) char smem_buf[];
  Smem& ss = *reinterpret_cast<Smem*>(smem_buf);
  const int tid = threadIdx.x, wgi = tid >> 7, warp_in_wg = (tid >> 5) & 3, lane = tid & 31;
  Pipe pipeline(ss.pipeline, coll::pipe_params<Main>(mp, tid, 128), Cluster{});
  typename Order::Params op;
  op.group_id = wgi >= 1 ? wgi - 1 : 0;
  op.group_size = 128;
  Order order(ss.order, op);
  __syncthreads();  // the pipeline's and the order's barriers initialized

  Main collective;
  auto problem = make_shape(a.m, static_cast<int>(kN), a.k, 1);
  auto load_inputs = collective.load_init(problem, mp);
  Tensor gA_mkl = get<0>(load_inputs);
  const int k_tiles = static_cast<int>(size<3>(gA_mkl));
  const int nblocks = (a.m + kBM - 1) / kBM;

  if (wgi == 0) {
    cutlass::arch::warpgroup_reg_dealloc<40>();
    if (warp_in_wg == 0) {
      coll::produce(collective, mp, pipeline, load_inputs, k_tiles, static_cast<int>(blockIdx.x),
                    static_cast<int>(gridDim.x), nblocks, lane, ss.tensors);
    }
    return;
  }
  cutlass::arch::warpgroup_reg_alloc<232>();
  const int w = wgi - 1, wt = tid & 127, warp = wt >> 5, t = lane & 3;
  TiledMma tiled_mma;
  auto thr = tiled_mma.get_thread_slice(wt);
  Tensor cD = make_identity_tensor(make_shape(Int<kBM>{}, Int<kBN>{}));
  Tensor tCcD = thr.partition_C(cD);
  static_assert(decltype(size(tCcD))::value == 128, "a 128 x 128 fragment a warpgroup");
  PipeState read;
  if (w == 1) read.advance(k_tiles);
  // This thread's four rows: slot s = 2 (r >= 64) + (r % 16 >= 8).
  const auto slot_of = [](int r) { return (r >= 64 ? 2 : 0) + ((r & 15) >= 8 ? 1 : 0); };
  int row_of_slot[4];
#pragma unroll
  for (int i = 0; i < 128; ++i) row_of_slot[slot_of(get<0>(tCcD(i)))] = get<0>(tCcD(i));
  int64_t prev_m0 = 0;
  int prev_rows = 0, blocks_done = 0;
  for (int rb = blockIdx.x; rb < nblocks; rb += gridDim.x, ++blocks_done) {
    const int64_t m0 = int64_t(rb) * kBM;
    const int rows_here = a.m - m0 < kBM ? static_cast<int>(a.m - m0) : kBM;
    // The previous row block's statistics and x are complete once both warpgroups got here.
    if (kNorm && blocks_done > 0) pair_sync(8 + ((blocks_done - 1) & 1));
    float mean[4] = {0.0f, 0.0f, 0.0f, 0.0f}, m2[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < kChunks / 2; ++k) {
      const int n = 2 * k + w;
      unsigned char* st = ss.stage[w];
      if constexpr (kStaged) coll::stage_residual(a, st, wt, m0, rows_here, n);
      auto accum = partition_fragment_C(tiled_mma, take<0, 2>(Tile{}));
      coll::turn_mma(order, collective, pipeline, read, accum, k_tiles, wt, ss.tensors, mp);
      order.wait();
      __half2 rv[64];
      float sum[4];
      if constexpr (kStaged) {
        coll::staged_epilogue(a, accum, tCcD, st, w, wt, m0, rows_here, n, rv, sum, slot_of);
      } else {
        coll::residual_x(a, accum, tCcD, m0, rows_here, n, rv, sum, slot_of);
      }
      coll::merge_slots(tCcD, rv, sum, mean, m2, 128.0f * k, slot_of);
      // A third of this warpgroup's half of the previous row block's LayerNorm pass.
      if (kNorm && blocks_done > 0) {
        const int begin = 64 * w + 22 * k, end = k == 2 ? 64 * w + 64 : begin + 22;
        codes_rows<kLnBatch>(a, ss.part[(blocks_done - 1) & 1], prev_m0, prev_rows, begin, end,
                             warp, lane);
      }
      order.arrive();
    }
    if (t == 0) coll::store_stats(ss.part[blocks_done & 1][w], row_of_slot, mean, m2);
    prev_m0 = m0;
    prev_rows = rows_here;
  }
  if (kNorm && blocks_done > 0) {
    pair_sync(8 + ((blocks_done - 1) & 1));
    codes_rows<kLnBatch>(a, ss.part[(blocks_done - 1) & 1], prev_m0, prev_rows, 64 * w, 64 * w + 64,
                         warp, lane);
  }
}

}  // namespace c4

// Seventh form: the fifth's staged epilogue with only the K loops taking turns (each warpgroup
// has its own staging buffer, so the epilogues need no order and one's may run beside the other's
// and beside the other's K loop), and the LayerNorm pass moved out of the consumers into the
// producer warpgroup's three idle warps: they wait on an mbarrier for a row block's x and
// statistics, write its codes while the consumers go on with the next row block, and free the
// statistics slot through a second mbarrier (two slots, by row block parity).
namespace c7 {
using namespace cute;
using coll::Cluster;
using Order = cutlass::OrderedSequenceBarrier<1, 2>;
using Barrier = cutlass::arch::ClusterBarrier;
constexpr int kStage = kBM * kXPitch;
using Main = coll::Mainloop<cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum,
                            2 * 2 * kBM * 2 * 4 + 2 * kStage + 2 * kN * 2 + 1024 + 64>;
struct Smem {
  typename Main::TensorStorage tensors;
  typename Main::PipelineStorage pipeline;
  alignas(16) typename Order::SharedStorage order;
  alignas(16) float part[2][2][kBM][2];        // [row block & 1][warpgroup][row]: mean, M2
  alignas(16) unsigned char stage[2][kStage];  // [warpgroup]: the residual, then x
  alignas(16) uint4 gamma[kN / 8], beta[kN / 8];
  alignas(8) Barrier full[2], empty[2];  // [row block & 1]: x and statistics written; slot free
};
constexpr int kLnThreads = 96;  // the producer warpgroup's warps 1-3

// The codes of one row from `in` (a lane's three 8-column pieces), gamma and beta from shared
// memory.
__device__ __forceinline__ void row_codes(const Args& a, const uint4 (&in)[3], float mu, float rs,
                                          const uint4* g, const uint4* b, uint8_t* codes_row,
                                          int lane) {
#pragma unroll
  for (int v = 0; v < 3; ++v) {
    const uint4 gg = g[32 * v + lane], bb = b[32 * v + lane];
    const __half2* x2 = reinterpret_cast<const __half2*>(&in[v]);
    const __half2* g2 = reinterpret_cast<const __half2*>(&gg);
    const __half2* b2 = reinterpret_cast<const __half2*>(&bb);
    uint32_t out[2] = {0u, 0u};
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const uint32_t pair = norm_code_pair(__half22float2(x2[e]), __half22float2(g2[e]),
                                           __half22float2(b2[e]), mu, rs, a.r);
      out[e >> 1] |= pair << (16 * (e & 1));
    }
    *reinterpret_cast<uint2*>(codes_row + 256 * v + 8 * lane) = make_uint2(out[0], out[1]);
  }
}

template <bool kNorm>
__global__ void __launch_bounds__(384, 1)
    kernel(CUTLASS_GRID_CONSTANT typename Main::Params const mp, Args a) {
  using TiledMma = typename Main::TiledMma;
  using Pipe = typename Main::MainloopPipeline;
  using PipeState = typename Main::PipelineState;
  extern __shared__ __align__(1024) char smem_buf[];
  Smem& ss = *reinterpret_cast<Smem*>(smem_buf);
  const int tid = threadIdx.x, wgi = tid >> 7, warp_in_wg = (tid >> 5) & 3, lane = tid & 31;
  Pipe pipeline(ss.pipeline, coll::pipe_params<Main>(mp, tid, 128), Cluster{});
  typename Order::Params op;
  op.group_id = wgi >= 1 ? wgi - 1 : 0;
  op.group_size = 128;
  Order order(ss.order, op);
  if (tid == 0) {
    for (int i = 0; i < 2; ++i) {
      ss.full[i].init(256);
      ss.empty[i].init(kLnThreads);
    }
  }
  for (int i = tid; i < kN / 8; i += 384) {
    ss.gamma[i] = reinterpret_cast<const uint4*>(a.gamma)[i];
    ss.beta[i] = reinterpret_cast<const uint4*>(a.beta)[i];
  }
  cutlass::arch::fence_barrier_init();
  __syncthreads();  // the barriers initialized, gamma and beta in place

  Main collective;
  auto problem = make_shape(a.m, static_cast<int>(kN), a.k, 1);
  auto load_inputs = collective.load_init(problem, mp);
  Tensor gA_mkl = get<0>(load_inputs);
  const int k_tiles = static_cast<int>(size<3>(gA_mkl));
  const int nblocks = (a.m + kBM - 1) / kBM;

  if (wgi == 0) {
    cutlass::arch::warpgroup_reg_dealloc<72>();
    if (warp_in_wg == 0) {
      coll::produce(collective, mp, pipeline, load_inputs, k_tiles, static_cast<int>(blockIdx.x),
                    static_cast<int>(gridDim.x), nblocks, lane, ss.tensors);
    } else if (kNorm) {
      // The LayerNorm pass, a row block behind the consumers: warp lw takes rows lw, lw + 3, ...,
      // two rows' loads in flight.
      const int lw = warp_in_wg - 1;
      int bd = 0;
      for (int rb = blockIdx.x; rb < nblocks; rb += gridDim.x, ++bd) {
        const int slot = bd & 1;
        ss.full[slot].wait((bd >> 1) & 1);
        const int64_t m0 = int64_t(rb) * kBM;
        const int rows_here = a.m - m0 < kBM ? static_cast<int>(a.m - m0) : kBM;
        for (int r0 = lw; r0 < rows_here; r0 += 6) {
          uint4 in[2][3];
          coll::load_rows<2>(a, m0, r0, 3, rows_here, lane, in);
#pragma unroll
          for (int u = 0; u < 2; ++u) {
            const int r = r0 + 3 * u;
            if (r >= rows_here) break;
            float mu, rs;
            coll::row_stats(ss.part[slot], r, a.eps, mu, rs);
            row_codes(a, in[u], mu, rs, ss.gamma, ss.beta, a.codes + (m0 + r) * kN, lane);
          }
        }
        ss.empty[slot].arrive();
      }
    }
    return;
  }
  cutlass::arch::warpgroup_reg_alloc<216>();
  const int w = wgi - 1, wt = tid & 127, t = lane & 3;
  TiledMma tiled_mma;
  auto thr = tiled_mma.get_thread_slice(wt);
  Tensor cD = make_identity_tensor(make_shape(Int<kBM>{}, Int<kBN>{}));
  Tensor tCcD = thr.partition_C(cD);
  static_assert(decltype(size(tCcD))::value == 128, "a 128 x 128 fragment a warpgroup");
  PipeState read;
  if (w == 1) read.advance(k_tiles);
  const auto slot_of = [](int r) { return (r >= 64 ? 2 : 0) + ((r & 15) >= 8 ? 1 : 0); };
  int row_of_slot[4];
#pragma unroll
  for (int i = 0; i < 128; ++i) row_of_slot[slot_of(get<0>(tCcD(i)))] = get<0>(tCcD(i));
  int bd = 0;
  for (int rb = blockIdx.x; rb < nblocks; rb += gridDim.x, ++bd) {
    const int64_t m0 = int64_t(rb) * kBM;
    const int rows_here = a.m - m0 < kBM ? static_cast<int>(a.m - m0) : kBM;
    float mean[4] = {0.0f, 0.0f, 0.0f, 0.0f}, m2[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < kChunks / 2; ++k) {
      const int n = 2 * k + w;
      unsigned char* st = ss.stage[w];
      coll::stage_residual(a, st, wt, m0, rows_here, n);
      auto accum = partition_fragment_C(tiled_mma, take<0, 2>(coll::Tile{}));
      coll::turn_mma(order, collective, pipeline, read, accum, k_tiles, wt, ss.tensors, mp);
      __half2 rv[64];
      float sum[4];
      coll::staged_epilogue(a, accum, tCcD, st, w, wt, m0, rows_here, n, rv, sum, slot_of);
      coll::merge_slots(tCcD, rv, sum, mean, m2, 128.0f * k, slot_of);
    }
    if (kNorm) {
      const int slot = bd & 1;
      if (bd >= 2) ss.empty[slot].wait(((bd >> 1) - 1) & 1);  // block bd - 2's pass is done
      if (t == 0) coll::store_stats(ss.part[slot][w], row_of_slot, mean, m2);
      ss.full[slot].arrive();  // after this thread's x stores and statistics
    }
  }
}

}  // namespace c7

// The forms timed: the first kernel with and without the LayerNorm pass, the second with the
// LayerNorm, its K steps with and without a wgmma batch in flight, and without the LayerNorm.
constexpr int kVariants = 15;
const char* const kVariantNames[kVariants] = {
    "one K loop for both warpgroups, + LayerNorm codes",
    "one K loop, GEMM alone (x)",
    "warpgroups apart, + LayerNorm codes",
    "warpgroups apart, wgmma batch in flight, + LayerNorm",
    "warpgroups apart, GEMM alone (x)",
    "CUTLASS mainloop, + LayerNorm codes",
    "CUTLASS mainloop, GEMM alone (x)",
    "CUTLASS ping-pong, persistent, + LayerNorm codes",
    "CUTLASS ping-pong, persistent, GEMM alone (x)",
    "ping-pong, residual and x staged, + LayerNorm codes",
    "ping-pong, residual and x staged, GEMM alone (x)",
    "staged, LayerNorm slices' loads at once, + codes",
    "vitrt's CUTLASS residual GEMM (x), no LayerNorm",
    "K loops alone in turn, LayerNorm by producer warps",
    "K loops alone in turn, GEMM alone (x)"};
constexpr bool kVariantNorm[kVariants] = {true,  false, true,  true, false, true, false, true,
                                          false, true,  false, true, false, true, false};

void set_smem() {
  CHECK(cudaFuncSetAttribute(c4::kernel<true, false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c4::Form<false>::Smem))));
  CHECK(cudaFuncSetAttribute(c4::kernel<false, false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c4::Form<false>::Smem))));
  CHECK(cudaFuncSetAttribute(c4::kernel<true, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c4::Form<true>::Smem))));
  CHECK(cudaFuncSetAttribute(c4::kernel<false, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c4::Form<true>::Smem))));
  CHECK(cudaFuncSetAttribute(c4::kernel<true, true, 6>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c4::Form<true>::Smem))));
  CHECK(cudaFuncSetAttribute(c7::kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c7::Smem))));
  CHECK(cudaFuncSetAttribute(c7::kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c7::Smem))));
  CHECK(cudaFuncSetAttribute(c3::kernel<true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c3::Smem))));
  CHECK(cudaFuncSetAttribute(c3::kernel<false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(sizeof(c3::Smem))));
  CHECK(cudaFuncSetAttribute(norm_gemm_kernel<6, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(smem_bytes(6))));
  CHECK(cudaFuncSetAttribute(norm_gemm_kernel<6, false>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem_bytes(6))));
  CHECK(cudaFuncSetAttribute(norm_gemm_split_kernel<6, true, false>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(smem_bytes_split(6))));
  CHECK(cudaFuncSetAttribute(norm_gemm_split_kernel<6, true, true>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(smem_bytes_split(6))));
  CHECK(cudaFuncSetAttribute(norm_gemm_split_kernel<6, false, false>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(smem_bytes_split(6))));
}

void* g_workspace = nullptr;
constexpr size_t kWorkspace = 64 << 20;

void launch(int variant, const Args& a, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>((a.m + kBM - 1) / kBM);
  switch (variant) {
    case 12: {
      // The two kernels vitrt runs now, less the LayerNorm: proj / fc2 as its CUTLASS ping-pong
      // kernel (1x2 clusters, 64x64 epilogue tiles, the residual as CUTLASS's C).
      vitrt::cuda::CutlassFp8Gemm g;
      g.x = a.a;
      g.ldx = a.k;
      g.w = a.w;
      g.alpha = a.alpha;
      g.bias = a.bias;
      g.residual = a.res;
      g.y = a.x;
      g.m = a.m;
      g.n = kN;
      g.k = a.k;
      CHECK(vitrt::cuda::launch_cutlass_fp8(g, g_workspace, kWorkspace, s));
      break;
    }
    case 0:
      norm_gemm_kernel<6, true><<<blocks, kThreads, smem_bytes(6), s>>>(a);
      break;
    case 1:
      norm_gemm_kernel<6, false><<<blocks, kThreads, smem_bytes(6), s>>>(a);
      break;
    case 2:
      norm_gemm_split_kernel<6, true, false><<<blocks, kThreads, smem_bytes_split(6), s>>>(a);
      break;
    case 3:
      norm_gemm_split_kernel<6, true, true><<<blocks, kThreads, smem_bytes_split(6), s>>>(a);
      break;
    case 4:
      norm_gemm_split_kernel<6, false, false><<<blocks, kThreads, smem_bytes_split(6), s>>>(a);
      break;
    case 5:
      c3::kernel<true><<<blocks, 384, sizeof(c3::Smem), s>>>(coll::mainloop_params<c3::Main>(a), a);
      break;
    case 6:
      c3::kernel<false>
          <<<blocks, 384, sizeof(c3::Smem), s>>>(coll::mainloop_params<c3::Main>(a), a);
      break;
    default: {
      int sms = 0;
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
      const unsigned grid = std::min<unsigned>(blocks, static_cast<unsigned>(sms));
      using F4 = c4::Form<false>;
      using F5 = c4::Form<true>;
      if (variant == 7) {
        c4::kernel<true, false>
            <<<grid, 384, sizeof(F4::Smem), s>>>(coll::mainloop_params<F4::Main>(a), a);
      } else if (variant == 8) {
        c4::kernel<false, false>
            <<<grid, 384, sizeof(F4::Smem), s>>>(coll::mainloop_params<F4::Main>(a), a);
      } else if (variant == 9) {
        c4::kernel<true, true>
            <<<grid, 384, sizeof(F5::Smem), s>>>(coll::mainloop_params<F5::Main>(a), a);
      } else if (variant == 13) {
        c7::kernel<true><<<grid, 384, sizeof(c7::Smem), s>>>(coll::mainloop_params<c7::Main>(a), a);
      } else if (variant == 14) {
        c7::kernel<false>
            <<<grid, 384, sizeof(c7::Smem), s>>>(coll::mainloop_params<c7::Main>(a), a);
      } else if (variant == 11) {
        c4::kernel<true, true, 6>
            <<<grid, 384, sizeof(F5::Smem), s>>>(coll::mainloop_params<F5::Main>(a), a);
      } else {
        c4::kernel<false, true>
            <<<grid, 384, sizeof(F5::Smem), s>>>(coll::mainloop_params<F5::Main>(a), a);
      }
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int m = argc > 1 ? std::atoi(argv[1]) : 50432;
  const int iters = argc > 2 ? std::atoi(argv[2]) : 50;
  const int k = argc > 3 ? std::atoi(argv[3]) : 768;  // 3072: fc2
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<uint8_t> ha(size_t(m) * k), hw(size_t(kN) * k);
  for (auto& v : ha) v = enc(nd(rng));
  for (auto& v : hw) v = enc(nd(rng));
  std::vector<float> alpha(kN), bias(kN);
  std::vector<__half> res(size_t(m) * kN), gamma(kN), beta(kN);
  for (int n = 0; n < kN; ++n) {
    alpha[n] = 0.02f * (1.0f + 0.1f * nd(rng));
    bias[n] = 0.1f * nd(rng);
    gamma[n] = __float2half(1.0f + 0.1f * nd(rng));
    beta[n] = __float2half(0.1f * nd(rng));
  }
  for (auto& v : res) v = __float2half(nd(rng) + 0.5f);
  const float r = 64.0f, eps = 1e-6f;

  uint8_t *da, *dw, *dc;
  float *dal, *dbi;
  __half *dres, *dg, *db, *dx;
  CHECK(cudaMalloc(&da, ha.size()));
  CHECK(cudaMalloc(&dw, hw.size()));
  CHECK(cudaMalloc(&dc, size_t(m) * kN));
  CHECK(cudaMalloc(&dal, kN * 4));
  CHECK(cudaMalloc(&dbi, kN * 4));
  CHECK(cudaMalloc(&dres, res.size() * 2));
  CHECK(cudaMalloc(&dg, kN * 2));
  CHECK(cudaMalloc(&db, kN * 2));
  CHECK(cudaMalloc(&dx, size_t(m) * kN * 2));
  CHECK(cudaMemcpy(da, ha.data(), ha.size(), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dw, hw.data(), hw.size(), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dal, alpha.data(), kN * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dbi, bias.data(), kN * 4, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dres, res.data(), res.size() * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dg, gamma.data(), kN * 2, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(db, beta.data(), kN * 2, cudaMemcpyHostToDevice));
  set_smem();
  CHECK(cudaMalloc(&g_workspace, kWorkspace));
  std::printf("third form: %d pipeline stages, %zu bytes of shared memory; fourth: %d, %zu\n",
              static_cast<int>(c3::Main::DispatchPolicy::Stages), sizeof(c3::Smem),
              static_cast<int>(c4::Form<false>::Main::DispatchPolicy::Stages),
              sizeof(c4::Form<false>::Smem));
  std::printf("seventh form: %d pipeline stages, %zu bytes of shared memory\n",
              static_cast<int>(c7::Main::DispatchPolicy::Stages), sizeof(c7::Smem));
  std::printf("fifth form: %d pipeline stages, %zu bytes of shared memory\n",
              static_cast<int>(c4::Form<true>::Main::DispatchPolicy::Stages),
              sizeof(c4::Form<true>::Smem));
  Args a{da, dw, dal, dbi, dres, dg, db, dx, dc, m, k, eps, r};
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  std::vector<float> wf(hw.size());
  for (size_t i = 0; i < hw.size(); ++i) wf[i] = dec(hw[i]);
  std::vector<__half> hx(size_t(m) * kN);
  std::vector<uint8_t> hc(size_t(m) * kN);
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  // PROBE_ONLY=7,8 runs those forms alone.
  const char* only = std::getenv("PROBE_ONLY");
  for (int variant = 0; variant < kVariants; ++variant) {
    if (only != nullptr) {
      bool listed = false;
      for (const char* q = only; *q != '\0'; ++q) {
        if (std::atoi(q) == variant && (q == only || q[-1] == ',')) listed = true;
      }
      if (!listed) continue;
    }
    // Check sampled rows against float64 (x always; the codes where the form writes them).
    CHECK(cudaMemsetAsync(dx, 0, size_t(m) * kN * 2, s));
    CHECK(cudaMemsetAsync(dc, 0, size_t(m) * kN, s));
    launch(variant, a, s);
    CHECK(cudaStreamSynchronize(s));
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(hx.data(), dx, hx.size() * 2, cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(hc.data(), dc, hc.size(), cudaMemcpyDeviceToHost));
    double x_err = 0.0, x_scale = 0.0;
    int64_t code_off = 0, code_far = 0, checked = 0;
    for (int row = 0; row < m; row += std::max(1, m / 97)) {
      std::vector<double> af(k);
      for (int kk = 0; kk < k; ++kk) af[kk] = dec(ha[size_t(row) * k + kk]);
      std::vector<double> xr(kN);
      double mu = 0.0;
      for (int n = 0; n < kN; ++n) {
        double acc = 0.0;
        for (int kk = 0; kk < k; ++kk) acc += af[kk] * wf[size_t(n) * k + kk];
        const double v = alpha[n] * acc + bias[n] + double(__half2float(res[size_t(row) * kN + n]));
        const double gx = __half2float(hx[size_t(row) * kN + n]);
        x_err = std::max(x_err, std::fabs(gx - v));
        x_scale = std::max(x_scale, std::fabs(v));
        xr[n] = gx;  // the LayerNorm of the kernel's own fp16 x
        mu += gx;
      }
      if (!kVariantNorm[variant]) continue;
      mu /= kN;
      double var = 0.0;
      for (int n = 0; n < kN; ++n) var += (xr[n] - mu) * (xr[n] - mu);
      const double rs = 1.0 / std::sqrt(var / kN + eps);
      for (int n = 0; n < kN; ++n) {
        const double y = ((xr[n] - mu) * rs * __half2float(gamma[n]) + __half2float(beta[n])) * r;
        const int want = code_index(enc(static_cast<float>(y)));
        const int got = code_index(hc[size_t(row) * kN + n]);
        code_off += want != got;
        code_far += std::abs(want - got) > 1;
        ++checked;
      }
    }
    for (int i = 0; i < 5; ++i) launch(variant, a, s);
    CHECK(cudaEventRecord(e0, s));
    for (int i = 0; i < iters; ++i) launch(variant, a, s);
    CHECK(cudaEventRecord(e1, s));
    CHECK(cudaEventSynchronize(e1));
    CHECK(cudaGetLastError());
    float ms = 0.0f;
    CHECK(cudaEventElapsedTime(&ms, e0, e1));
    const double us = 1000.0 * ms / iters;
    const double bytes =
        double(m) * k + double(m) * kN * 2 * 2 + (kVariantNorm[variant] ? double(m) * kN : 0.0);
    std::printf(
        "%-55s %7.1f us (%.2f TB/s of its DRAM minimum); x max error %.3g (|x| up to "
        "%.3g), codes %lld of %lld one step off, %lld further\n",
        kVariantNames[variant], us, bytes / us * 1e-6, x_err, x_scale, (long long)code_off,
        (long long)checked, (long long)code_far);
  }
  return 0;
}
