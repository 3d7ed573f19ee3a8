// ONNX's integer ops on the GPU: DynamicQuantizeLinear, and the exact int32 products of
// MatMulInteger / ConvInteger with QLinearMatMul's / QLinearConv's requantization. Straight
// kernels (a shared-memory tiled GEMM, a direct convolution): these ops come from ONNX
// Runtime's CPU-oriented quantizers, and the point here is that a plan holding them builds and
// agrees with the CPU kernel (src/cpu/integer_ops.cc), not their speed.
#include <cstdint>

#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

__device__ __forceinline__ int32_t load8(const void* p, int64_t i, bool is_signed) {
  return is_signed ? static_cast<const int8_t*>(p)[i] : static_cast<const uint8_t*>(p)[i];
}

__device__ __forceinline__ float load_float(const void* p, int64_t i, Elt t) {
  switch (t) {
    case Elt::kF16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case Elt::kBF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

// ---- DynamicQuantizeLinear ----------------------------------------------------------------------

constexpr int kRangeThreads = 1024;

template <typename T>
__global__ void dql_params_kernel(const T* x, int64_t n, T* y_scale, uint8_t* y_zp) {
  __shared__ float lo_s[kRangeThreads], hi_s[kRangeThreads];
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = to_f(x[i]);
    lo = fminf(lo, v);  // fminf/fmaxf leave NaN out
    hi = fmaxf(hi, v);
  }
  lo_s[threadIdx.x] = lo;
  hi_s[threadIdx.x] = hi;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) {
      lo_s[threadIdx.x] = fminf(lo_s[threadIdx.x], lo_s[threadIdx.x + s]);
      hi_s[threadIdx.x] = fmaxf(hi_s[threadIdx.x], hi_s[threadIdx.x + s]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    lo = lo_s[0];
    hi = hi_s[0];
    // The CPU kernel's float32 steps (ONNX's reference).
    const float scale = __fdiv_rn(hi == lo ? 1.0f : hi - lo, 255.0f);
    const float zp = rintf(fminf(fmaxf(0.0f - __fdiv_rn(lo, scale), 0.0f), 255.0f));
    *y_scale = from_f<T>(scale);
    *y_zp = static_cast<uint8_t>(zp);
  }
}

template <typename T>
__global__ void dql_quantize_kernel(const T* x, int64_t n, uint8_t* y, const T* y_scale,
                                    const uint8_t* y_zp) {
  const float scale = to_f(*y_scale);
  const float zp = static_cast<float>(*y_zp);
  VITRT_GRID_STRIDE(i, n) {
    const float v = rintf(__fdiv_rn(to_f(x[i]), scale)) + zp;
    y[i] = static_cast<uint8_t>(fminf(fmaxf(v, 0.0f), 255.0f));
  }
}

// ---- requantization -----------------------------------------------------------------------------

__device__ __forceinline__ void store_result(const IntRequant& r, void* y, int64_t o, int32_t sum,
                                             int64_t in_index, int64_t w_index) {
  if (!r.enabled) {
    static_cast<int32_t*>(y)[o] = sum;
    return;
  }
  const float s_in = load_float(r.in_scale, r.in_scale_count == 1 ? 0 : in_index, r.scale_type);
  const float s_w = load_float(r.w_scale, r.w_scale_count == 1 ? 0 : w_index, r.scale_type);
  const float multiplier = __fdiv_rn(__fmul_rn(s_in, s_w), load_float(r.y_scale, 0, r.scale_type));
  const double zp = load8(r.y_zero_point, 0, r.y_signed);
  const double v = static_cast<double>(sum) * static_cast<double>(multiplier) + zp;
  const double lo = r.y_signed ? -128.0 : 0.0, hi = r.y_signed ? 127.0 : 255.0;
  const double q = rint(fmin(fmax(v, lo), hi));
  if (r.y_signed) {
    static_cast<int8_t*>(y)[o] = static_cast<int8_t>(q);
  } else {
    static_cast<uint8_t*>(y)[o] = static_cast<uint8_t>(q);
  }
}

// ---- MatMulInteger / QLinearMatMul --------------------------------------------------------------

constexpr int kTile = 16;

__global__ void integer_matmul_kernel(IntMatmulArgs a) {
  __shared__ int32_t as[kTile][kTile + 1], bs[kTile][kTile + 1];
  const int64_t batch = blockIdx.z;
  int64_t a_off = 0, b_off = 0, rest = batch;
  for (int d = a.batch_rank - 1; d >= 0; --d) {
    const int64_t idx = rest % a.batch_dims[d];
    rest /= a.batch_dims[d];
    a_off += idx * a.a_batch_strides[d];
    b_off += idx * a.b_batch_strides[d];
  }
  a_off *= a.m * a.k;
  b_off *= a.k * a.n;
  const int64_t row = blockIdx.y * kTile + threadIdx.y, col = blockIdx.x * kTile + threadIdx.x;
  const int32_t a_zp =
      a.a_zp == nullptr || row >= a.m ? 0 : load8(a.a_zp, a.a_zp_count == 1 ? 0 : row, a.a_signed);
  int32_t sum = 0;
  for (int64_t k0 = 0; k0 < a.k; k0 += kTile) {
    const int64_t ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    as[threadIdx.y][threadIdx.x] =
        row < a.m && ka < a.k ? load8(a.a, a_off + row * a.k + ka, a.a_signed) - a_zp : 0;
    int32_t bv = 0;
    if (kb < a.k && col < a.n) {
      const int32_t b_zp =
          a.b_zp == nullptr ? 0 : load8(a.b_zp, a.b_zp_count == 1 ? 0 : col, a.b_signed);
      bv = load8(a.b, b_off + kb * a.n + col, a.b_signed) - b_zp;
    }
    bs[threadIdx.y][threadIdx.x] = bv;
    __syncthreads();
    for (int t = 0; t < kTile; ++t) sum += as[threadIdx.y][t] * bs[t][threadIdx.x];
    __syncthreads();
  }
  if (row < a.m && col < a.n) {
    store_result(a.requant, a.y, batch * a.m * a.n + row * a.n + col, sum, row, col);
  }
}

// ---- ConvInteger / QLinearConv ------------------------------------------------------------------

__global__ void integer_conv_kernel(IntConvArgs a) {
  const int64_t os = a.out[0] * a.out[1] * a.out[2];
  const int64_t total = a.batch * a.out_channels * os;
  const int64_t cg = a.channels / a.group, mg = a.out_channels / a.group;
  const int64_t in_size = a.in[0] * a.in[1] * a.in[2];
  const int64_t ks = a.kernel[0] * a.kernel[1] * a.kernel[2];
  const int32_t x_zp = a.x_zp == nullptr ? 0 : load8(a.x_zp, 0, a.x_signed);
  VITRT_GRID_STRIDE(o, total) {
    const int64_t p = o % os, m = (o / os) % a.out_channels, n = o / (os * a.out_channels);
    const int64_t od = p / (a.out[1] * a.out[2]), oh = (p / a.out[2]) % a.out[1];
    const int64_t ow = p % a.out[2];
    const int64_t g = m / mg;
    const int32_t w_zp =
        a.w_zp == nullptr ? 0 : load8(a.w_zp, a.w_zp_count == 1 ? 0 : m, a.w_signed);
    int32_t sum = a.bias == nullptr ? 0 : a.bias[m];
    for (int64_t c = 0; c < cg; ++c) {
      const int64_t x_base = (n * a.channels + g * cg + c) * in_size;
      const int64_t w_base = (m * cg + c) * ks;
      for (int64_t kd = 0; kd < a.kernel[0]; ++kd) {
        const int64_t id = od * a.stride[0] - a.pad[0] + kd * a.dilation[0];
        if (id < 0 || id >= a.in[0]) continue;
        for (int64_t kh = 0; kh < a.kernel[1]; ++kh) {
          const int64_t ih = oh * a.stride[1] - a.pad[1] + kh * a.dilation[1];
          if (ih < 0 || ih >= a.in[1]) continue;
          for (int64_t kw = 0; kw < a.kernel[2]; ++kw) {
            const int64_t iw = ow * a.stride[2] - a.pad[2] + kw * a.dilation[2];
            if (iw < 0 || iw >= a.in[2]) continue;
            const int32_t xv =
                load8(a.x, x_base + (id * a.in[1] + ih) * a.in[2] + iw, a.x_signed) - x_zp;
            const int32_t wv =
                load8(a.w, w_base + (kd * a.kernel[1] + kh) * a.kernel[2] + kw, a.w_signed) - w_zp;
            sum += xv * wv;
          }
        }
      }
    }
    store_result(a.requant, a.y, o, sum, 0, m);
  }
}

}  // namespace

cudaError_t launch_dynamic_quantize_linear(Elt type, const void* x, int64_t n, uint8_t* y,
                                           void* y_scale, uint8_t* y_zero_point,
                                           cudaStream_t stream) {
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    dql_params_kernel<T><<<1, kRangeThreads, 0, stream>>>(static_cast<const T*>(x), n,
                                                          static_cast<T*>(y_scale), y_zero_point);
    if (n > 0) {
      dql_quantize_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(
          static_cast<const T*>(x), n, y, static_cast<const T*>(y_scale), y_zero_point);
    }
    return cudaGetLastError();
  });
}

namespace {

template <typename T>
__global__ void scale_by_device_scalar_kernel(const T* s, const float* w, int64_t n, float* out) {
  const float v = to_f(*s);
  VITRT_GRID_STRIDE(i, n) {
    out[i] = __fmul_rn(v, w[i]);
  }
}

}  // namespace

cudaError_t launch_scale_by_device_scalar(Elt type, const void* s, const float* w, int64_t n,
                                          float* out, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    scale_by_device_scalar_kernel<T>
        <<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const T*>(s), w, n, out);
    return cudaGetLastError();
  });
}

cudaError_t launch_integer_matmul(const IntMatmulArgs& args, cudaStream_t stream) {
  if (args.m == 0 || args.n == 0 || args.batches == 0) return cudaSuccess;
  if (args.batches > 65535 || args.batch_rank > kMaxIntBatchRank) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>((args.n + kTile - 1) / kTile),
                  static_cast<unsigned>((args.m + kTile - 1) / kTile),
                  static_cast<unsigned>(args.batches));
  integer_matmul_kernel<<<grid, dim3(kTile, kTile), 0, stream>>>(args);
  return cudaGetLastError();
}

cudaError_t launch_integer_conv(const IntConvArgs& args, cudaStream_t stream) {
  const int64_t total = args.batch * args.out_channels * args.out[0] * args.out[1] * args.out[2];
  if (total == 0) return cudaSuccess;
  integer_conv_kernel<<<grid_for(total, 128), 128, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace vitrt::cuda
