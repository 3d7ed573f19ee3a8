// Device kernels of vitrt.QuantLinear (ops_quant_linear.cc): the activation quantizer that feeds
// cuBLASLt's int8 / FP8 GEMM, and the epilogue that turns the GEMM's int32 / fp32 accumulators
// into activations (per-channel dequantize, bias, activation) where cuBLASLt's epilogue cannot.
//
// The arithmetic follows the CPU reference (src/cpu/quant_linear.cc) operation for operation, so
// the quantized operands are bit-identical to it: true division by the scale (not a multiply by
// its reciprocal, which rounds differently at ties), round half to even, then clamp.
#include <cuda_fp8.h>

#include <cstdint>

#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

constexpr int kThreads = 256;

struct QuantParams {
  float scale;       // the per-tensor input scale
  float zero_point;  // int8 only
  float qmin, qmax;  // int8 only
};

template <QuantFormat kFormat>
__device__ __forceinline__ uint8_t quantize_one(float x, const QuantParams& p) {
  const float v = __fdiv_rn(x, p.scale);
  if constexpr (kFormat == QuantFormat::kFp8E4M3) {
    // Round to nearest even, saturating to +-448 (E4M3 has no infinity).
    return static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
  } else {
    // rintf rounds half to even; the clamp happens in the zero-point-shifted domain, and the
    // result (qmin - zp .. qmax - zp) fits int8 (checked when the kernel is created). NaN
    // clamps to qmin, as fmaxf returns the non-NaN operand.
    const float q = fminf(fmaxf(rintf(v) + p.zero_point, p.qmin), p.qmax) - p.zero_point;
    return static_cast<uint8_t>(static_cast<int8_t>(static_cast<int>(q)));
  }
}

// 16 outputs per thread from 16 consecutive inputs: one 16-byte store and 16 * sizeof(T) / 16
// 16-byte loads. Used when rows are not padded (k == k_pad, a multiple of 16).
template <typename T, QuantFormat kFormat>
__global__ void __launch_bounds__(kThreads)
    quantize_vec_kernel(const T* __restrict__ x, uint8_t* __restrict__ q, int64_t n_chunks,
                        QuantParams p) {
  constexpr int kLoads = 16 * sizeof(T) / 16;
  constexpr int kPerLoad = 16 / sizeof(T);
  struct alignas(16) In {
    T v[kPerLoad];
  };
  struct alignas(16) Out {
    uint8_t v[16];
  };
  VITRT_GRID_STRIDE(c, n_chunks) {
    const In* src = reinterpret_cast<const In*>(x) + c * kLoads;
    Out o;
#pragma unroll
    for (int l = 0; l < kLoads; ++l) {
      const In in = src[l];
#pragma unroll
      for (int e = 0; e < kPerLoad; ++e) {
        o.v[l * kPerLoad + e] = quantize_one<kFormat>(to_f(in.v[e]), p);
      }
    }
    reinterpret_cast<Out*>(q)[c] = o;
  }
}

// Any k: one output byte per thread, the columns k..k_pad-1 of each row written as zero (the
// GEMM runs over k_pad, and zeros add nothing to the sums).
template <typename T, QuantFormat kFormat>
__global__ void quantize_padded_kernel(const T* __restrict__ x, uint8_t* __restrict__ q,
                                       int64_t rows, int64_t k, int64_t k_pad, QuantParams p) {
  VITRT_GRID_STRIDE(i, rows * k_pad) {
    const int64_t r = i / k_pad, j = i - r * k_pad;
    q[i] = j < k ? quantize_one<kFormat>(to_f(x[r * k + j]), p) : uint8_t{0};
  }
}

template <UnaryOp kAct>
__device__ __forceinline__ float activation(float x) {
  if constexpr (kAct == UnaryOp::kRelu) return x > 0.0f ? x : 0.0f;
  if constexpr (kAct == UnaryOp::kGelu) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  if constexpr (kAct == UnaryOp::kGeluTanh) {
    return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
  }
  if constexpr (kAct == UnaryOp::kQuickGelu) return x / (1.0f + expf(-1.702f * x));
  return x;
}

template <typename A>
__device__ __forceinline__ float acc_value(A a) {
  return static_cast<float>(a);
}

// y = act(acc * scale[col] + bias[col]), 8 columns per thread: one 16-byte fp16/bf16 store (two
// for fp32) and two 16-byte accumulator loads. Needs n % 8 == 0 and acc_ld % 8 == 0.
template <typename T, typename A, UnaryOp kAct, bool kBias>
__global__ void __launch_bounds__(kThreads)
    dequant_vec_kernel(const A* __restrict__ acc, uint32_t acc_ld, const float* __restrict__ scale,
                       const float* __restrict__ bias, T* __restrict__ y, uint32_t n,
                       uint32_t chunks_per_row, int64_t n_chunks) {
  struct alignas(16) Acc {
    A v[8];
  };
  struct alignas(16) F8 {
    float v[8];
  };
  struct alignas(16) Out {
    T v[8];
  };
  VITRT_GRID_STRIDE(c, n_chunks) {
    const int64_t row = c / chunks_per_row;
    const uint32_t col = static_cast<uint32_t>(c - row * chunks_per_row) * 8;
    const Acc a = *reinterpret_cast<const Acc*>(acc + row * acc_ld + col);
    const F8 s = *reinterpret_cast<const F8*>(scale + col);
    F8 b;
    if constexpr (kBias) b = *reinterpret_cast<const F8*>(bias + col);
    Out o;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      float v = acc_value(a.v[e]) * s.v[e];
      if constexpr (kBias) v += b.v[e];
      o.v[e] = from_f<T>(activation<kAct>(v));
    }
    *reinterpret_cast<Out*>(y + row * n + col) = o;
  }
}

template <typename T, typename A, UnaryOp kAct>
__global__ void dequant_scalar_kernel(const A* __restrict__ acc, int64_t acc_ld,
                                      const float* __restrict__ scale,
                                      const float* __restrict__ bias, T* __restrict__ y,
                                      int64_t rows, int64_t n) {
  VITRT_GRID_STRIDE(i, rows * n) {
    const int64_t r = i / n, j = i - r * n;
    float v = acc_value(acc[r * acc_ld + j]) * scale[j];
    if (bias != nullptr) v += bias[j];
    y[i] = from_f<T>(activation<kAct>(v));
  }
}

bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

template <typename T, typename A, UnaryOp kAct>
void launch_dequant(const A* acc, int64_t acc_ld, const float* scale, const float* bias, T* y,
                    int64_t rows, int64_t n, cudaStream_t stream) {
  const bool vec = n % 8 == 0 && acc_ld % 8 == 0 && acc_ld < (int64_t(1) << 32) && aligned16(acc) &&
                   aligned16(scale) && (bias == nullptr || aligned16(bias)) && aligned16(y);
  if (vec) {
    const int64_t chunks = rows * (n / 8);
    const unsigned grid = grid_for(chunks, kThreads);
    const uint32_t per_row = static_cast<uint32_t>(n / 8);
    if (bias != nullptr) {
      dequant_vec_kernel<T, A, kAct, true>
          <<<grid, kThreads, 0, stream>>>(acc, static_cast<uint32_t>(acc_ld), scale, bias, y,
                                          static_cast<uint32_t>(n), per_row, chunks);
    } else {
      dequant_vec_kernel<T, A, kAct, false>
          <<<grid, kThreads, 0, stream>>>(acc, static_cast<uint32_t>(acc_ld), scale, bias, y,
                                          static_cast<uint32_t>(n), per_row, chunks);
    }
    return;
  }
  dequant_scalar_kernel<T, A, kAct>
      <<<grid_for(rows * n, kThreads), kThreads, 0, stream>>>(acc, acc_ld, scale, bias, y, rows, n);
}

template <typename T, typename A>
cudaError_t dequant_for_act(UnaryOp act, const A* acc, int64_t acc_ld, const float* scale,
                            const float* bias, T* y, int64_t rows, int64_t n, cudaStream_t stream) {
  switch (act) {
    case UnaryOp::kIdentity:
      launch_dequant<T, A, UnaryOp::kIdentity>(acc, acc_ld, scale, bias, y, rows, n, stream);
      break;
    case UnaryOp::kRelu:
      launch_dequant<T, A, UnaryOp::kRelu>(acc, acc_ld, scale, bias, y, rows, n, stream);
      break;
    case UnaryOp::kGelu:
      launch_dequant<T, A, UnaryOp::kGelu>(acc, acc_ld, scale, bias, y, rows, n, stream);
      break;
    case UnaryOp::kGeluTanh:
      launch_dequant<T, A, UnaryOp::kGeluTanh>(acc, acc_ld, scale, bias, y, rows, n, stream);
      break;
    case UnaryOp::kQuickGelu:
      launch_dequant<T, A, UnaryOp::kQuickGelu>(acc, acc_ld, scale, bias, y, rows, n, stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_quantize_rows(Elt type, QuantFormat format, const void* x, int64_t rows,
                                 int64_t k, int64_t k_pad, float scale, int zero_point, int qmin,
                                 int qmax, void* q, cudaStream_t stream) {
  if (rows == 0 || k_pad == 0) return cudaSuccess;
  if (k > k_pad) return cudaErrorInvalidValue;
  const QuantParams p{scale, static_cast<float>(zero_point), static_cast<float>(qmin),
                      static_cast<float>(qmax)};
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(x);
    uint8_t* out = static_cast<uint8_t*>(q);
    const bool vec = k == k_pad && k % 16 == 0 && aligned16(x) && aligned16(q);
    const int64_t n_chunks = rows * k / 16;
    const unsigned grid_vec = grid_for(n_chunks, kThreads);
    const unsigned grid = grid_for(rows * k_pad, kThreads);
    if (format == QuantFormat::kFp8E4M3) {
      if (vec) {
        quantize_vec_kernel<T, QuantFormat::kFp8E4M3>
            <<<grid_vec, kThreads, 0, stream>>>(in, out, n_chunks, p);
      } else {
        quantize_padded_kernel<T, QuantFormat::kFp8E4M3>
            <<<grid, kThreads, 0, stream>>>(in, out, rows, k, k_pad, p);
      }
    } else {
      if (vec) {
        quantize_vec_kernel<T, QuantFormat::kInt8>
            <<<grid_vec, kThreads, 0, stream>>>(in, out, n_chunks, p);
      } else {
        quantize_padded_kernel<T, QuantFormat::kInt8>
            <<<grid, kThreads, 0, stream>>>(in, out, rows, k, k_pad, p);
      }
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_dequantize_bias_act(Elt type, const void* acc, bool acc_int32, int64_t acc_ld,
                                       const float* scale, const float* bias, UnaryOp act, void* y,
                                       int64_t rows, int64_t n, cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  if (acc_ld < n) return cudaErrorInvalidValue;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(y);
    if (acc_int32) {
      return dequant_for_act<T, int32_t>(act, static_cast<const int32_t*>(acc), acc_ld, scale, bias,
                                         out, rows, n, stream);
    }
    return dequant_for_act<T, float>(act, static_cast<const float*>(acc), acc_ld, scale, bias, out,
                                     rows, n, stream);
  });
}

}  // namespace vitrt::cuda
