// vitrt.Attention on Hopper's warpgroup MMA (see cuda/attention_sm90.h). The mma.sync forms of
// cuda/attention.cu issue Q K^T and P V as 16x8x16 products per warp, with their operands
// loaded through ldmatrix: at ViT-B/16's batch 256 the best of them took 3.3 ms a tower against
// cuDNN's 2.2 (bench/gpu/RESULTS.md, session 4). Here one warpgroup (4 warps, 128 threads)
// works through up to four 64-row query tiles of one head:
//   - K and V (every key, zero rows up to the kernel's key bucket) are copied into shared memory
//     once, with the first Q tile, in the 128-byte swizzled layout wgmma reads without ldmatrix:
//     64 16-bit elements a row, 16-byte chunk c of row r at chunk c ^ (r % 8); the next Q tile
//     lands while the current one is worked on;
//   - S = Q K^T is four m64nNk16 wgmmas with both operands in shared memory (N = the bucket:
//     64, 80, 128, 208 or 256), the first while V is still landing;
//   - the row's max and sum come from the whole row in registers (no online rescale), and P,
//     rounded to the 16-bit type, stays in registers as the A operand of
//   - O = P V: N/16 m64n64k16 wgmmas with V in shared memory, head dim contiguous (MN-major);
//   - O / sum goes out through the tile's Q buffer as 16-byte row chunks (or 8-byte chunks of
//     E4M3 codes with out_scale, int8 codes with out_int8: an int8 plan's attention -> proj).
// With in_scale (fp8 plans: q, k and v as E4M3 codes of x / in_scale, written by the qkv GEMM's
// epilogue) Q and K stay 8-bit: 64-byte rows in the 64-byte swizzle (16-byte chunk c of row r at
// c ^ ((r / 2) % 4)) and S = Q K^T as two m64nNk32 E4M3 wgmmas, at twice the 16-bit rate and
// half the bytes loaded. V's codes land unswizzled and are widened to the 16-bit type in V's
// usual layout while the first Q K^T runs (E4M3 values are exact in fp16 and bf16), so P and
// P V stay 16-bit: E4M3 P would lose a probability's fourth significant bit, and an 8-bit P V
// needs V transposed (wgmma takes 8-bit B operands K-major only). in_scale^2 joins the softmax
// scale and in_scale the output's 1 / sum.
// CuTe (from the CUTLASS headers) gives only the wgmma instruction wrappers and the descriptor
// type; the layouts, the pipeline and the softmax are written here.
#define CUTE_SM90_EXTENDED_MMA_SHAPES_ENABLED 1

#include "cuda/attention_sm90.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <utility>

#include "cuda/async_copy.cuh"
#include "cuda/current_device.h"
#include "cuda/device_common.cuh"
#include "cuda/env_switch.h"
#include "cute/arch/mma_sm90.hpp"

namespace vitrt::cuda {
namespace {

namespace gmma = cute::SM90::GMMA;

constexpr int kHeadDim = 64;
constexpr int kRows = 64;          // query rows per warpgroup (one wgmma's M)
constexpr int kRowBytes = 128;     // one row of 64 16-bit elements: one swizzle row
constexpr int kCodeRowBytes = 64;  // one row of 64 E4M3 codes

template <typename T>
struct CuteType;
template <>
struct CuteType<__half> {
  using type = cute::half_t;
};
template <>
struct CuteType<__nv_bfloat16> {
  using type = cute::bfloat16_t;
};

// S (64 x kN) += Q (64 x 16) K^T: both operands from shared memory, K-major.
template <typename T, int kN>
using ScoresOp =
    decltype(gmma::ss_op_selector<typename CuteType<T>::type, typename CuteType<T>::type, float,
                                  cute::Shape<cute::_64, cute::Int<kN>, cute::_16>, gmma::Major::K,
                                  gmma::Major::K>());
// S (64 x kN) += Q (64 x 32) K^T with E4M3 codes: both operands K-major, as 8-bit wgmma requires.
template <int kN>
using ScoresFp8Op = decltype(gmma::ss_op_selector<cute::float_e4m3_t, cute::float_e4m3_t, float,
                                                  cute::Shape<cute::_64, cute::Int<kN>, cute::_32>,
                                                  gmma::Major::K, gmma::Major::K>());
// O (64 x 64) += P (64 x 16 keys, registers) V (16 keys x 64, shared memory, MN-major).
template <typename T>
using OutputOp =
    decltype(gmma::rs_op_selector<typename CuteType<T>::type, typename CuteType<T>::type, float,
                                  cute::Shape<cute::_64, cute::_64, cute::_16>, gmma::Major::K,
                                  gmma::Major::MN>());

template <typename Op, size_t... I>
__device__ __forceinline__ void scores_mma(uint64_t da, uint64_t db, float* d, gmma::ScaleOut acc,
                                           std::index_sequence<I...>) {
  Op::fma(da, db, d[I]..., acc);
}
template <typename Op, size_t... I>
__device__ __forceinline__ void output_mma(const uint32_t (&p)[4], uint64_t db, float* d,
                                           gmma::ScaleOut acc, std::index_sequence<I...>) {
  Op::fma(p[0], p[1], p[2], p[3], db, d[I]..., acc);
}

// A wgmma operand descriptor for a tile at shared address `addr` (aligned to its swizzle
// pattern at the tile's start, advanced inside it by whole 16-byte units) with rows of
// `row_bytes` in that swizzle (128 or 64), groups of 8 rows 8 * row_bytes apart (the stride byte
// offset; the leading one is unused for these one-swizzle-row-wide tiles).
__device__ __forceinline__ uint64_t swizzle_desc(uint32_t addr, int row_bytes) {
  cute::GmmaDescriptor d;
  d.bitfield.start_address_ = static_cast<uint16_t>(addr >> 4);
  d.bitfield.leading_byte_offset_ = 1;
  d.bitfield.stride_byte_offset_ = static_cast<uint16_t>((8 * row_bytes) >> 4);
  d.bitfield.base_offset_ = 0;
  d.bitfield.layout_type_ =
      static_cast<uint8_t>(row_bytes == 128 ? gmma::LayoutType::B128 : gmma::LayoutType::B64);
  return d.desc_;
}
// The 128-byte swizzle of 16-bit tiles: K-major ones (Q, K) step 32 bytes per 16 elements of K;
// the MN-major one (V) steps 16 rows per 16 keys.
__device__ __forceinline__ uint64_t swizzle128_desc(uint32_t addr) {
  return swizzle_desc(addr, kRowBytes);
}
// The 64-byte swizzle of K-major E4M3 tiles (Q, K with in_scale): rows of 64 codes (the whole
// head dim); 32 codes of K are 32 bytes, 2 units.
__device__ __forceinline__ uint64_t swizzle64_desc(uint32_t addr) {
  return swizzle_desc(addr, kCodeRowBytes);
}

// Writes through the generic proxy (cp.async) made visible to wgmma's reads (the async proxy).
__device__ __forceinline__ void fence_async_shared() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// Byte offsets of 16-byte chunk c of row r in the two swizzles: 128-byte rows of 16-bit
// elements (chunk c at c ^ (r % 8)) and 64-byte rows of E4M3 codes (c ^ ((r / 2) % 4)); both
// repeat every 8 rows.
__device__ __forceinline__ int swizzle128_offset(int r, int c) {
  return r * kRowBytes + ((c ^ (r & 7)) << 4);
}
__device__ __forceinline__ int swizzle64_offset(int r, int c) {
  return r * kCodeRowBytes + ((c ^ ((r >> 1) & 3)) << 4);
}

// Copies rows [0, rows) of a 64-wide tile (row r at src + r * stride elements; rows at or past
// `valid` zero-filled) into the swizzled layout at dst.
template <typename T>
__device__ __forceinline__ void stage_rows(uint32_t dst, const T* src, int64_t stride, int rows,
                                           int valid) {
  for (int e = static_cast<int>(threadIdx.x); e < rows * 8; e += 128) {
    const int r = e >> 3, c = e & 7;
    const bool ok = r < valid;
    cp_async16(dst + swizzle128_offset(r, c), src + (ok ? r : 0) * stride + c * 8, ok);
  }
}

// Rows [0, rows) of 64 E4M3 codes (row r at src + r * stride bytes; rows at or past `valid`
// zero-filled) into the 64-byte swizzle at dst (kSwizzle) or as plain 64-byte rows.
template <bool kSwizzle>
__device__ __forceinline__ void stage_code_rows(uint32_t dst, const uint8_t* src, int64_t stride,
                                                int rows, int valid) {
  for (int e = static_cast<int>(threadIdx.x); e < rows * 4; e += 128) {
    const int r = e >> 2, c = e & 3;
    const bool ok = r < valid;
    const int offset = kSwizzle ? swizzle64_offset(r, c) : r * kCodeRowBytes + (c << 4);
    cp_async16(dst + offset, src + (ok ? r : 0) * stride + c * 16, ok);
  }
}

// V's E4M3 codes (kN plain 64-byte rows at `codes`) widened to T in the 128-byte swizzle at `v`
// (both generic pointers to shared memory). Exact: every E4M3 value is an fp16 and a bf16.
template <typename T>
__device__ __forceinline__ void widen_v(unsigned char* v, const unsigned char* codes, int rows) {
  for (int e = static_cast<int>(threadIdx.x); e < rows * 8; e += 128) {
    const int r = e >> 3, c = e & 7;
    const uint2 in = *reinterpret_cast<const uint2*>(codes + r * kCodeRowBytes + c * 8);
    const uint32_t w[2] = {in.x, in.y};
    uint32_t out[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const auto pair = static_cast<__nv_fp8x2_storage_t>(w[i >> 1] >> (16 * (i & 1)));
      const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(pair, __NV_E4M3);
      if constexpr (std::is_same_v<T, __half>) {
        out[i] = static_cast<uint32_t>(h.x) | (static_cast<uint32_t>(h.y) << 16);
      } else {
        const float2 f = __half22float2(__half2(h));
        out[i] = pack_pair<T>(f.x, f.y);
      }
    }
    *reinterpret_cast<uint4*>(v + swizzle128_offset(r, c)) =
        make_uint4(out[0], out[1], out[2], out[3]);
  }
}

// Registers: the scores (kN / 2 a thread) live beside O (32) and P (kN / 4): 4 blocks of 128
// threads a multiprocessor up to 64 keys, 3 up to 208 (168 registers), 2 above. kMasked (an
// additive mask or the causal form): the per-key index math costs registers, so 2 above 64.
template <int kN, bool kMasked>
constexpr int min_blocks() {
  return kN <= 64 ? 4 : kMasked ? 2 : kN <= 208 ? 3 : 2;
}

// Two Q buffers of 64 rows x 128 bytes (also the output's staging; E4M3 Q fills half), K (128-
// or 64-byte rows), V (128-byte rows) and, with E4M3 inputs, V's codes before widening.
template <int kN, bool kCodesIn>
constexpr size_t smem_bytes() {
  constexpr int k_row = kCodesIn ? kCodeRowBytes : kRowBytes;
  constexpr int v_codes = kCodesIn ? kCodeRowBytes : 0;
  return 1024 + static_cast<size_t>(2 * kRows * kRowBytes) +  // 1024: alignment slack
         static_cast<size_t>(kN) * (k_row + kRowBytes + v_codes);
}

// T: the plan's 16-bit type (q, k and v's, or with kCodesIn V's widened type and P's); Y: the
// output's (T, or uint8_t E4M3 codes with out_scale); kCodesIn: q, k, v are E4M3 codes of
// x / in_scale.
template <typename T, typename Y, int kN, bool kMasked, bool kCodesIn>
__global__ void __launch_bounds__(128, min_blocks<kN, kMasked>())
    attention_sm90_kernel(AttentionArgs a, int tiles_per_block, int live_rows) {
  static_assert(kN % 16 == 0 && kN <= 256, "key buckets are whole 16-key steps, at most 256");
  using In = std::conditional_t<kCodesIn, uint8_t, T>;
  using Scores = std::conditional_t<kCodesIn, ScoresFp8Op<kN>, ScoresOp<T, kN>>;
  using Output = OutputOp<T>;
  constexpr int kQkRowBytes = kCodesIn ? kCodeRowBytes : kRowBytes;
  static_assert(sizeof(typename Scores::CRegisters) == kN / 2 * sizeof(float));
  static_assert(sizeof(typename Output::CRegisters) == 32 * sizeof(float));
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const uint32_t raw = smem_addr(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* base_ptr = smem_raw + (base - raw);
  // Two Q tiles (the next one lands while this one is worked on), then K and V (and V's codes).
  const uint32_t k_s = base + 2 * kRows * kRowBytes, v_s = k_s + kN * kQkRowBytes;
  const uint32_t vc_s = v_s + kN * kRowBytes;

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  // The batch last to first: the q, k, v GEMM before it wrote the last rows last, and those are
  // the ones still in L2 (see layer_norm_warp_kernel in normalization.cu).
  const int64_t b = gridDim.z - 1 - blockIdx.z, h = blockIdx.y;
  const int sq = static_cast<int>(a.sq), sk = static_cast<int>(a.sk);
  const int first = static_cast<int>(blockIdx.x) * tiles_per_block;
  const int q_tiles = (sq + kRows - 1) / kRows;
  const int tiles = min(tiles_per_block, q_tiles - first);

  const In* qg = static_cast<const In*>(a.q) + b * a.sq * a.q_row_stride + h * kHeadDim;
  const In* kg = static_cast<const In*>(a.k) + b * a.sk * a.k_row_stride + h * kHeadDim;
  const In* vg = static_cast<const In*>(a.v) + b * a.sk * a.v_row_stride + h * kHeadDim;
  // A Q tile: thread tid copies 16-byte chunk tid % kChunks of rows tid / kChunks + kRowStep it,
  // in stage_rows' (or stage_code_rows') swizzle, which a step of kRowStep rows (16 or 32) leaves
  // as it is; the addresses once a block, so that a tile's copies are one addition each.
  constexpr int kChunks = kQkRowBytes / 16, kRowStep = 128 / kChunks;
  const int q_r = tid / kChunks, q_c = tid % kChunks;
  const In* const q_src = qg + q_r * a.q_row_stride + q_c * (16 / static_cast<int>(sizeof(In)));
  const uint32_t q_dst =
      base + (kCodesIn ? swizzle64_offset(q_r, q_c) : swizzle128_offset(q_r, q_c));
  const int64_t q_step = kRowStep * a.q_row_stride;
  const auto stage_q = [&](int tile) {
    const int q0 = (first + tile) * kRows;
    const In* src = q_src + q0 * a.q_row_stride;
    const uint32_t dst = q_dst + (tile & 1) * kRows * kRowBytes;
#pragma unroll
    for (int it = 0; it < kRows / kRowStep; ++it) {
      const bool ok = q0 + q_r + it * kRowStep < sq;  // else zero-filled, nothing read
      cp_async16(dst + it * kRowStep * kQkRowBytes, ok ? src + it * q_step : qg, ok);
    }
  };
  // cp.async groups: Q[0] with K, then V (it lands while the first Q K^T runs), then Q[1];
  // after each tile one more (Q[tile + 2], or empty), so that Q[tile] is always complete
  // once all but the newest group are.
  stage_q(0);
  if constexpr (kCodesIn) {
    stage_code_rows<true>(k_s, kg, a.k_row_stride, kN, sk);
    cp_async_commit();
    stage_code_rows<false>(vc_s, vg, a.v_row_stride, kN, sk);
  } else {
    stage_rows<T>(k_s, kg, a.k_row_stride, kN, sk);
    cp_async_commit();
    stage_rows<T>(v_s, vg, a.v_row_stride, kN, sk);
  }
  cp_async_commit();
  if (tiles > 1) stage_q(1);
  cp_async_commit();

  // With codes in, S is in units of in_scale^2 and O of in_scale.
  const float qk_scale = kCodesIn ? a.scale * a.in_scale * a.in_scale : a.scale;
  const float scale_log2 = qk_scale * 1.4426950408889634f, inv_scale = 1.0f / qk_scale;
  const float v_scale = kCodesIn ? a.in_scale : 1.0f;
  const uint64_t v_desc = swizzle128_desc(v_s);
  const uint64_t k_desc = kCodesIn ? swizzle64_desc(k_s) : swizzle128_desc(k_s);
  // Codes out (E4M3, or int8 with out_int8): one byte an element.
  constexpr bool kInt8 = std::is_same_v<Y, int8_t>;
  constexpr bool kCodes = std::is_same_v<Y, uint8_t> || kInt8;
  // Codes out: 1 / out_scale joins each row's 1 / sum, and a pair of E4M3 codes is one
  // conversion (the exact division of store_out cost about six instructions an element: an
  // eighth of a tile's instructions at 208 keys); an int8 code is rounded by one addition.
  // O's factor before the row's 1 / sum: in_scale (codes in) over out_scale (codes out).
  const float out_factor = v_scale * (kCodes ? 1.0f / a.out_scale : 1.0f);
  [[maybe_unused]] const float out_qmin = static_cast<float>(a.out_qmin);
  // The output's rows: token i of this batch entry and head at out_bh + i * out_row. A lane
  // copies 16-byte chunk (lane % 8) of its warp's rows lane / 8 + 4 it (8-byte for codes): the
  // addresses once a block, so that a tile's stores are one multiply-add each.
  const int64_t out_row = a.heads * kHeadDim;
  Y* const out_bh = static_cast<Y*>(a.out) + (b * a.sq * a.heads + h) * kHeadDim + (lane & 7) * 8;

  for (int tile = 0; tile < tiles; ++tile) {
    const int q0 = (first + tile) * kRows;
    // Q[tile]: with K in the first group, else the group before the newest.
    if (tile == 0) {
      cp_async_wait<2>();
    } else {
      cp_async_wait<1>();
    }
    fence_async_shared();
    __syncthreads();

    // S = Q K^T. Accumulator element 4j + e of a thread: row g + 8 (e / 2) of its warp's 16,
    // key 8j + 2t + e % 2.
    float s[kN / 2];
#pragma unroll
    for (int i = 0; i < kN / 2; ++i) s[i] = 0.0f;
#pragma unroll
    for (int i = 0; i < kN / 2; ++i) cute::warpgroup_fence_operand(s[i]);
    cute::warpgroup_arrive();
    const uint32_t q_s = base + (tile & 1) * kRows * kRowBytes;
    const uint64_t q_desc = kCodesIn ? swizzle64_desc(q_s) : swizzle128_desc(q_s);
    // 16 elements of the head dim a step (32 codes with codes in): 32 bytes, 2 units of the
    // descriptor's address.
    constexpr int kSteps = kHeadDim * static_cast<int>(sizeof(In)) / 32;
#pragma unroll
    for (int ks = 0; ks < kSteps; ++ks) {
      scores_mma<Scores>(q_desc + 2 * ks, k_desc + 2 * ks, s,
                         ks == 0 ? gmma::ScaleOut::Zero : gmma::ScaleOut::One,
                         std::make_index_sequence<kN / 2>{});
    }
    cute::warpgroup_commit_batch();
    if constexpr (kCodesIn) {
      // V's codes (the group after Q[0] and K) widened while the first Q K^T runs.
      if (tile == 0) {
        cp_async_wait<1>();
        __syncthreads();
        widen_v<T>(base_ptr + (v_s - base), base_ptr + (vc_s - base), kN);
      }
    }
    cute::warpgroup_wait<0>();
#pragma unroll
    for (int i = 0; i < kN / 2; ++i) cute::warpgroup_fence_operand(s[i]);

    // Masking in raw-score units (an additive mask is divided by the scale, so that
    // exp2(s * scale_log2 - max) applies it as exp(s * scale + mask)), as cuda/attention.cu
    // does.
    const int row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
    if constexpr (!kMasked) {
      // Keys past the sequence. Where it ends inside the bucket's last 16 keys (the buckets'
      // own lengths: 197 in 208, 77 in 80, 50 in 64), only those 8 elements are looked at;
      // the per-element test over the whole row was a third of the softmax's instructions.
      const int lim = sk - 2 * t;  // element i is key (i / 4) * 8 + (i % 2) + 2t
      if (sk > kN - 16) {
#pragma unroll
        for (int i = kN / 2 - 8; i < kN / 2; ++i) {
          if ((i >> 2) * 8 + (i & 1) >= lim) s[i] = -INFINITY;
        }
      } else {
#pragma unroll
        for (int i = 0; i < kN / 2; ++i) {
          if ((i >> 2) * 8 + (i & 1) >= lim) s[i] = -INFINITY;
        }
      }
    } else {
      // Each row's mask pointer once; per element only the key's offset.
      const T* mask = static_cast<const T*>(a.mask);
      const T* mrow[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mrow[r] = mask == nullptr || row[r] >= sq
                      ? nullptr
                      : mask + b * a.mask_strides[0] + h * a.mask_strides[1] +
                            int64_t(row[r]) * a.mask_strides[2];
      }
      const int64_t ms3 = a.mask_strides[3];
      const int key_end[2] = {a.causal ? min(sk, row[0] + (sk - sq) + 1) : sk,
                              a.causal ? min(sk, row[1] + (sk - sq) + 1) : sk};
#pragma unroll
      for (int i = 0; i < kN / 2; ++i) {
        const int r = (i >> 1) & 1, j = (i >> 2) * 8 + 2 * t + (i & 1);
        if (j >= key_end[r]) {
          s[i] = -INFINITY;
        } else if (mrow[r] != nullptr) {
          s[i] += to_f(mrow[r][j * ms3]) * inv_scale;
        }
      }
    }
    // The rows' max (the four lanes of a row hold its keys between them) and P = exp2(...).
    // Max and sum reduce over four partial values a row: one chain of kN / 4 dependent
    // instructions a row was most of the softmax's latency.
    constexpr int kChains = 4;
    float mc[2][kChains], lc[2][kChains];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
#pragma unroll
      for (int c = 0; c < kChains; ++c) {
        mc[r][c] = -INFINITY;
        lc[r][c] = 0.0f;
      }
    }
#pragma unroll
    for (int i = 0; i < kN / 2; ++i) {
      float& acc = mc[(i >> 1) & 1][(i >> 2) % kChains];
      acc = fmaxf(acc, s[i]);
    }
    float m[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      m[r] = fmaxf(fmaxf(mc[r][0], mc[r][1]), fmaxf(mc[r][2], mc[r][3]));
      m[r] = fmaxf(m[r], __shfl_xor_sync(0xffffffffu, m[r], 1));
      m[r] = fmaxf(m[r], __shfl_xor_sync(0xffffffffu, m[r], 2));
      // A row with every key masked: P = 0 and sum 0 (NaN or 0 below), not exp2(NaN).
      m[r] = m[r] == -INFINITY ? 0.0f : m[r] * scale_log2;
    }
    // P as wgmma A fragments: 16 keys a step, registers (row g, keys 2t..), (row g + 8, ...),
    // (row g, keys 8 + 2t..), (row g + 8, ...), the accumulator's elements 8k .. 8k + 7.
    uint32_t p[kN / 16][4];
    // A warp whose 16 rows all lie past the sequence (ViT-B/16's 197 tokens: three of the last
    // tile's four warps) skips the exponentials, a fifth of the softmax's work there: its P is 0,
    // its rows' O never stored, and no other row reads them. A branch a 16-key step, not one
    // around the softmax: that one made the 208-key forms spill (48 registers).
    const bool dead = q0 + warp * 16 >= live_rows;
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      if (dead) {
#pragma unroll
        for (int x = 0; x < 4; ++x) p[kk][x] = 0u;
        continue;
      }
      float e[8];
#pragma unroll
      for (int x = 0; x < 8; ++x) {
        e[x] = fast_exp2(fmaf(s[8 * kk + x], scale_log2, -m[(x >> 1) & 1]));
        lc[(x >> 1) & 1][(2 * kk + (x >> 2)) % kChains] += e[x];
      }
#pragma unroll
      for (int x = 0; x < 4; ++x) p[kk][x] = pack_pair<T>(e[2 * x], e[2 * x + 1]);
    }
    float l[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      l[r] = (lc[r][0] + lc[r][1]) + (lc[r][2] + lc[r][3]);
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
      l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }

    if (tile == 0) {  // V (the group after Q[0] and K; with codes in, widened above)
      if constexpr (!kCodesIn) cp_async_wait<1>();
      fence_async_shared();
      __syncthreads();
    }

    // O = P V (rows of V past the sequence are zero, as is P there).
    float o[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) o[i] = 0.0f;
#pragma unroll
    for (int i = 0; i < 32; ++i) cute::warpgroup_fence_operand(o[i]);
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
#pragma unroll
      for (int x = 0; x < 4; ++x) cute::warpgroup_fence_operand(p[kk][x]);
    }
    cute::warpgroup_arrive();
#pragma unroll
    for (int kk = 0; kk < kN / 16; ++kk) {
      // 16 keys: 16 rows of 128 bytes, 128 units of the descriptor's address.
      output_mma<Output>(p[kk], v_desc + 128 * kk, o,
                         kk == 0 ? gmma::ScaleOut::Zero : gmma::ScaleOut::One,
                         std::make_index_sequence<32>{});
    }
    cute::warpgroup_commit_batch();
    cute::warpgroup_wait<0>();
#pragma unroll
    for (int i = 0; i < 32; ++i) cute::warpgroup_fence_operand(o[i]);

    // O / sum through this tile's Q buffer (every warp's Q K^T has finished reading it) as
    // whole row chunks, in the same swizzle (16-byte chunk c of row r at c ^ (r % 8); 8-byte
    // chunks for codes), so that the fragment stores of a warp's 8 rows fall on different
    // banks. Element 4j + e of a thread is row g + 8 (e / 2) of its warp's 16, column
    // 8j + 2t + e % 2.
    if (tile != 0) __syncthreads();
    unsigned char* stage = base_ptr + (tile & 1) * kRows * kRowBytes + warp * 16 * kRowBytes;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      // The sum is at most the bucket's key count (each P at most 1), far from where the fast
      // division (one reciprocal, one multiplication) loses range; 0 (every key masked) gives
      // inf, and O * inf NaN, as the exact division did.
      const float inv = a.zero_masked_rows && l[r] == 0.0f ? 0.0f : __fdividef(out_factor, l[r]);
      unsigned char* dst_row = stage + (g + 8 * r) * kRowBytes;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const float lo = o[4 * j + 2 * r] * inv, hi = o[4 * j + 2 * r + 1] * inv;
        if constexpr (kInt8) {
          const uint32_t clo = static_cast<uint32_t>(round_clamped(lo, out_qmin, 127.0f)) & 0xffu;
          const uint32_t chi = static_cast<uint32_t>(round_clamped(hi, out_qmin, 127.0f)) & 0xffu;
          *reinterpret_cast<uint16_t*>(dst_row + ((j ^ g) << 3) + 2 * t) =
              static_cast<uint16_t>(clo | (chi << 8));
        } else if constexpr (kCodes) {
          *reinterpret_cast<uint16_t*>(dst_row + ((j ^ g) << 3) + 2 * t) =
              __nv_cvt_float2_to_fp8x2(make_float2(lo, hi), __NV_SATFINITE, __NV_E4M3);
        } else {
          *reinterpret_cast<uint32_t*>(dst_row + ((j ^ g) << 4) + 4 * t) = pack_pair<T>(lo, hi);
        }
      }
    }
    __syncwarp();
    const int row0 = q0 + warp * 16 + (lane >> 3), c = lane & 7;
    Y* const dst = out_bh + row0 * out_row;
#pragma unroll
    for (int it = 0; it < 4; ++it) {
      const int rr = (lane >> 3) + 4 * it;
      if (row0 + 4 * it >= sq) break;  // rows in order: the rest lie past the sequence too
      if constexpr (kCodes) {
        *reinterpret_cast<uint2*>(dst + 4 * it * out_row) =
            *reinterpret_cast<const uint2*>(stage + rr * kRowBytes + ((c ^ (rr & 7)) << 3));
      } else {
        *reinterpret_cast<uint4*>(dst + 4 * it * out_row) =
            *reinterpret_cast<const uint4*>(stage + rr * kRowBytes + ((c ^ (rr & 7)) << 4));
      }
    }
    // Q[tile + 2] into this buffer once every warp has read its staged rows.
    if (tile + 2 < tiles) {
      __syncthreads();
      stage_q(tile + 2);
    }
    cp_async_commit();
  }
  cp_async_wait<0>();
}

// Query tiles a block works through, one after another, with K and V loaded once: as many as
// the sequence has (ViT-B/16's 197 tokens: 4) while that still leaves six blocks per
// multiprocessor, else fewer (batch 1: one tile a block, 48 blocks). At ViT-B/16's batch 256
// one tile a block took 2.23 ms a tower, two 1.90, four 1.86; at batch 1 one tile 0.092 ms,
// four 0.170 (bench/gpu/RESULTS.md, session 24). VITRT_SM90_TILES overrides, to compare on a
// GPU.
int tiles_per_block(const AttentionArgs& a) {
  if (a.sm90_tiles_per_block > 0) return a.sm90_tiles_per_block;
  static const int forced = [] {
    const char* e = std::getenv("VITRT_SM90_TILES");
    return e != nullptr ? std::atoi(e) : 0;
  }();
  if (forced > 0) return forced;
  const int64_t sms = current_device_multiprocessors();
  const int64_t q_tiles = (a.sq + kRows - 1) / kRows;
  const int64_t blocks = q_tiles * a.heads * a.batch;
  int per = 1;
  while (per * 2 <= q_tiles && blocks / (per * 2) >= 6 * sms) per *= 2;
  return per;
}

// The kernel's live_rows: warps whose rows all lie at or past it skip their exponentials; the
// sequence length, or with VITRT_ATTN_DEAD_WARPS=0 none (to compare on a GPU).
int live_rows(const AttentionArgs& a) {
  static const bool skip = env_switch_on("VITRT_ATTN_DEAD_WARPS");
  return skip ? static_cast<int>(a.sq) : std::numeric_limits<int>::max();
}

template <typename T, typename Y, int kN, bool kMasked, bool kCodesIn>
cudaError_t launch_form(const AttentionArgs& a, cudaStream_t stream) {
  constexpr size_t smem = smem_bytes<kN, kCodesIn>();
  const auto kernel = attention_sm90_kernel<T, Y, kN, kMasked, kCodesIn>;
  // Above 48 KiB of dynamic shared memory a kernel must opt in, once.
  static const cudaError_t opted =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
  if (opted != cudaSuccess) return opted;
  const int64_t q_tiles = (a.sq + kRows - 1) / kRows;
  const int per_block = tiles_per_block(a);
  const dim3 grid(static_cast<unsigned>((q_tiles + per_block - 1) / per_block),
                  static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch));
  kernel<<<grid, 128, smem, stream>>>(a, per_block, live_rows(a));
  return cudaGetLastError();
}

template <typename T, typename Y, int kN, bool kCodesIn>
cudaError_t launch_bucket(const AttentionArgs& a, cudaStream_t stream) {
  return a.mask != nullptr || a.causal ? launch_form<T, Y, kN, true, kCodesIn>(a, stream)
                                       : launch_form<T, Y, kN, false, kCodesIn>(a, stream);
}

template <typename T, typename Y, bool kCodesIn>
cudaError_t launch_keys(const AttentionArgs& a, cudaStream_t stream) {
  if (a.sk <= 64) return launch_bucket<T, Y, 64, kCodesIn>(a, stream);
  if (a.sk <= 80) return launch_bucket<T, Y, 80, kCodesIn>(a, stream);
  if (a.sk <= 128) return launch_bucket<T, Y, 128, kCodesIn>(a, stream);
  if (a.sk <= 208) return launch_bucket<T, Y, 208, kCodesIn>(a, stream);
  return launch_bucket<T, Y, 256, kCodesIn>(a, stream);
}

template <typename T, bool kCodesIn>
cudaError_t launch_out(const AttentionArgs& a, cudaStream_t stream) {
  if constexpr (!kCodesIn) {  // int8 codes out: int8 plans, whose q, k, v are 16-bit
    if (a.out_int8) return launch_keys<T, int8_t, false>(a, stream);
  }
  return a.out_scale > 0.0f ? launch_keys<T, uint8_t, kCodesIn>(a, stream)
                            : launch_keys<T, T, kCodesIn>(a, stream);
}

template <typename T>
cudaError_t launch_in(const AttentionArgs& a, cudaStream_t stream) {
  return a.in_scale > 0.0f ? launch_out<T, true>(a, stream) : launch_out<T, false>(a, stream);
}

}  // namespace

bool attention_sm90_available() {
  return current_device_is_sm90();
}

bool attention_sm90_supports(Elt type, const AttentionArgs& a) {
  // E4M3 codes in: rows of whole 16-byte chunks of codes.
  const int64_t chunk = a.in_scale > 0.0f ? 16 : 8;
  return (type == Elt::kF16 || type == Elt::kBF16) && a.dh == kHeadDim && a.dv == kHeadDim &&
         a.sk >= 1 && a.sk <= kSm90AttentionMaxKeys && a.sq >= 1 && a.sq <= (int64_t(1) << 30) &&
         a.heads >= 1 && a.heads <= 65535 && a.batch >= 1 && a.batch <= 65535 && !a.quant_scores &&
         a.sm90_tiles_per_block >= 0 && a.sm90_tiles_per_block <= 4 &&
         (!a.out_int8 ||
          (a.out_scale > 0.0f && a.in_scale == 0.0f && a.out_qmin >= -128 && a.out_qmin <= 0)) &&
         !a.quant_probs && a.scale > 0.0f && std::isfinite(a.scale) && a.out_scale >= 0.0f &&
         std::isfinite(a.out_scale) && a.in_scale >= 0.0f && std::isfinite(a.in_scale) &&
         a.q_row_stride % chunk == 0 && a.k_row_stride % chunk == 0 &&
         a.v_row_stride % chunk == 0 && aligned16(a.q) && aligned16(a.k) && aligned16(a.v) &&
         aligned16(a.out);
}

cudaError_t launch_attention_sm90(Elt type, const AttentionArgs& a, cudaStream_t stream) {
  if (!attention_sm90_available() || !attention_sm90_supports(type, a)) {
    return cudaErrorNotSupported;
  }
  return type == Elt::kF16 ? launch_in<__half>(a, stream) : launch_in<__nv_bfloat16>(a, stream);
}

}  // namespace vitrt::cuda
