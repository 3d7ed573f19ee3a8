// vitrt.Attention for the short sequences of vision and text transformers (50-257 tokens):
// one block per (query tile, head, batch); K/V tiles staged in shared memory as fp32; online
// softmax (running max and sum) so any key count works; fp32 accumulation throughout.
#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kQueryTile = kWarps * kRowsPerWarp;
constexpr int kKeyTile = 32;  // one key per lane
constexpr int kMaxHeadDim = 128;
constexpr int kAccPerLane = kMaxHeadDim / 32;

template <typename T>
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

  for (int64_t k0 = 0; k0 < a.sk; k0 += kKeyTile) {
    __syncthreads();
    for (int e = threadIdx.x; e < kKeyTile * dh; e += blockDim.x) {
      const int j = e / dh, d = e % dh;
      const int64_t kj = k0 + j;
      k_s[j * (dh + 1) + d] =
          kj < a.sk ? to_f(k[(b * a.sk + kj) * a.k_row_stride + h * a.dh + d]) : 0.0f;
    }
    for (int e = threadIdx.x; e < kKeyTile * dv; e += blockDim.x) {
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
        s = dot * a.scale;
        if (mask != nullptr) {
          s += to_f(mask[b * a.mask_strides[0] + h * a.mask_strides[1] + i * a.mask_strides[2] +
                         j * a.mask_strides[3]]);
        }
        if (a.causal && j > i + (a.sk - a.sq)) s = -INFINITY;
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

  T* out = static_cast<T*>(a.out);
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t i = q0 + warp * kRowsPerWarp + r;
    if (i >= a.sq) continue;
    // A row with every key masked has l == 0 and gives NaN, as PyTorch's SDPA does.
    const float inv = 1.0f / l[r];
#pragma unroll
    for (int t = 0; t < kAccPerLane; ++t) {
      const int d = lane + 32 * t;
      if (d < dv) out[((b * a.sq + i) * a.heads + h) * a.dv + d] = from_f<T>(acc[r][t] * inv);
    }
  }
}

}  // namespace

cudaError_t launch_attention(Elt type, const AttentionArgs& args, cudaStream_t stream) {
  if (args.dh > kMaxHeadDim || args.dv > kMaxHeadDim || args.dh < 1 || args.dv < 1) {
    return cudaErrorInvalidValue;
  }
  if (args.batch * args.heads * args.sq == 0) return cudaSuccess;
  const size_t smem =
      sizeof(float) * (kQueryTile * args.dh + kKeyTile * (args.dh + 1) + kKeyTile * args.dv);
  const dim3 grid(static_cast<unsigned>((args.sq + kQueryTile - 1) / kQueryTile),
                  static_cast<unsigned>(args.heads), static_cast<unsigned>(args.batch));
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    attention_kernel<T><<<grid, kWarps * 32, smem, stream>>>(args);
    return cudaGetLastError();
  });
}

}  // namespace vitrt::cuda
