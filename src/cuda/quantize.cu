// Device kernels of vitrt.QuantLinear (ops_quant_linear.cc): the activation quantizer that feeds
// cuBLASLt's int8 / FP8 GEMM, the epilogue that turns the GEMM's int32 / fp32 accumulators
// into activations (per-channel dequantize, bias, activation) where cuBLASLt's epilogue cannot,
// or into an output_scale layer's E4M3 / int8 codes, and the activation + E4M3 pass of an
// output_scale layer whose GEMM wrote a float D.
//
// The arithmetic gives the CPU reference's results (src/cpu/quant_linear.cc) bit for bit: true
// division by the scale (device_common's divide: the reciprocal's product corrected once, not
// the product alone, which rounds differently next to ties), round half to even, then clamp.
#include <cuda_fp8.h>

#include <cstdint>
#include <type_traits>

#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

constexpr int kThreads = 256;

struct QuantParams {
  Divisor scale;  // the per-tensor input scale
  float lo, hi;   // int8 only: qmin - zero_point, qmax - zero_point
  int32_t shift;  // int8 only: zero_point - offset, added to the rounded quotient
};

QuantParams quant_params(const QuantizeArgs& a) {
  QuantParams p;
  p.scale = divisor_of(a.scale);
  p.lo = static_cast<float>(a.qmin - a.zero_point);
  p.hi = static_cast<float>(a.qmax - a.zero_point);
  p.shift = a.zero_point - a.offset;
  return p;
}

template <QuantFormat kFormat>
__device__ __forceinline__ uint8_t quantize_one(float x, const QuantParams& p) {
  const float v = divide(x, p.scale);
  if constexpr (kFormat == QuantFormat::kFp8E4M3) {
    // Round to nearest even, saturating to +-448 (E4M3 has no infinity).
    return static_cast<uint8_t>(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3));
  } else {
    // clamp(rint(v) + zp, qmin, qmax) - offset, as rint(clamp(v, qmin - zp, qmax - zp)) plus
    // zp - offset. NaN quantizes to the zero point (as the reference). The result fits int8
    // (the caller picks the offset).
    return static_cast<uint8_t>(round_clamped(v, p.lo, p.hi) + p.shift);
  }
}

// QuantLinear's quantize step of X (one input to its byte), as a functor for bytes16_kernel.
template <QuantFormat kFormat>
struct QuantizeOne {
  QuantParams p;
  __device__ __forceinline__ uint8_t operator()(float x) const {
    return quantize_one<kFormat>(x, p);
  }
};

// act then the E4M3 code of the result / code_scale: a QuantLinear's output_scale after a GEMM
// that wrote its D in the activation type.
template <UnaryOp kAct>
struct ActCode {
  Divisor code;
  __device__ __forceinline__ uint8_t operator()(float v) const {
    return store_out<uint8_t>(activate_fixed<kAct>(v), code);
  }
};

// 16 output bytes per thread from 16 consecutive inputs: one 16-byte store and 16 * sizeof(T)
// / 16 16-byte loads; `one` maps each input (as float) to its byte. n_chunks = elements / 16.
template <typename T, typename F>
__global__ void __launch_bounds__(kThreads)
    bytes16_kernel(const T* __restrict__ x, uint8_t* __restrict__ q, int64_t n_chunks, F one) {
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
      for (int e = 0; e < kPerLoad; ++e) o.v[l * kPerLoad + e] = one(to_f(in.v[e]));
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

// The accumulator as float: int32 plus the column's offset correction (exact integer
// arithmetic, then one rounding, as the reference converts its exact sum).
__device__ __forceinline__ float acc_value(int32_t a, int32_t offset) {
  return static_cast<float>(a + offset);
}
__device__ __forceinline__ float acc_value(float a, int32_t) {
  return a;
}

// acc * scale + bias rounded step by step as the reference does (nvcc would contract it into
// one fma, which rounds once).
__device__ __forceinline__ float dequant(float acc, float scale, float bias) {
  return __fadd_rn(__fmul_rn(acc, scale), bias);
}

// y = act(acc * scale[col] + bias[col] (+ residual)), 8 columns per thread: one 16-byte fp16/bf16
// store (two for fp32) and two 16-byte accumulator loads. Needs n % 8 == 0 and acc_ld % 8 == 0.
template <typename T, typename A, UnaryOp kAct, bool kBias, bool kOffset>
__global__ void __launch_bounds__(kThreads)
    dequant_vec_kernel(const A* __restrict__ acc, uint32_t acc_ld,
                       const int32_t* __restrict__ offset, const float* __restrict__ scale,
                       const float* __restrict__ bias, const T* __restrict__ residual,
                       T* __restrict__ y, uint32_t n, uint32_t chunks_per_row, uint32_t n_chunks,
                       Int8Code code) {
  struct alignas(16) Acc {
    A v[8];
  };
  struct alignas(16) F8 {
    float v[8];
  };
  struct alignas(16) I8 {
    int32_t v[8];
  };
  // 8 outputs: 16 bytes (fp16 / bf16), 32 (fp32: two stores) or 8 (E4M3 or int8 codes).
  struct alignas(8 * sizeof(T) < 16 ? 8 * sizeof(T) : 16) Out {
    T v[8];
  };
  // 32-bit index math (the launcher keeps n_chunks below 2^31): a 64-bit division per chunk
  // costs more than the chunk's memory traffic.
  for (uint32_t c = blockIdx.x * blockDim.x + threadIdx.x; c < n_chunks;
       c += gridDim.x * blockDim.x) {
    const uint32_t row32 = c / chunks_per_row;
    const uint32_t col = (c - row32 * chunks_per_row) * 8;
    const int64_t row = row32;
    const Acc a = *reinterpret_cast<const Acc*>(acc + row * acc_ld + col);
    const F8 s = *reinterpret_cast<const F8*>(scale + col);
    F8 b = {};
    if constexpr (kBias) b = *reinterpret_cast<const F8*>(bias + col);
    I8 off = {};
    if constexpr (kOffset) off = *reinterpret_cast<const I8*>(offset + col);
    Out r = {};
    if (residual != nullptr) r = *reinterpret_cast<const Out*>(residual + row * n + col);
    Out o;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      float v = dequant(acc_value(a.v[e], off.v[e]), s.v[e], b.v[e]);
      if (residual != nullptr) v = __fadd_rn(v, to_f(r.v[e]));
      o.v[e] = store_out<T>(activate_fixed<kAct>(v), code);
    }
    *reinterpret_cast<Out*>(y + row * n + col) = o;
  }
}

template <typename T, typename A, UnaryOp kAct>
__global__ void dequant_scalar_kernel(const A* __restrict__ acc, int64_t acc_ld,
                                      const int32_t* __restrict__ offset,
                                      const float* __restrict__ scale,
                                      const float* __restrict__ bias,
                                      const T* __restrict__ residual, T* __restrict__ y,
                                      int64_t rows, int64_t n, Int8Code code) {
  VITRT_GRID_STRIDE(i, rows * n) {
    const int64_t r = i / n, j = i - r * n;
    const float a = acc_value(acc[r * acc_ld + j], offset != nullptr ? offset[j] : 0);
    float v = dequant(a, scale[j], bias != nullptr ? bias[j] : 0.0f);
    if (residual != nullptr) v = __fadd_rn(v, to_f(residual[i]));
    y[i] = store_out<T>(activate_fixed<kAct>(v), code);
  }
}

template <typename T, typename A, UnaryOp kAct, bool kBias>
void launch_dequant_vec(const DequantArgs& d, const A* acc, T* y, cudaStream_t stream) {
  const T* residual = static_cast<const T*>(d.residual);
  const int64_t chunks = d.rows * (d.n / 8);
  const unsigned grid = grid_for(chunks, kThreads);
  const uint32_t per_row = static_cast<uint32_t>(d.n / 8);
  const uint32_t ld = static_cast<uint32_t>(d.acc_ld), n = static_cast<uint32_t>(d.n);
  if (d.acc_offset != nullptr) {
    dequant_vec_kernel<T, A, kAct, kBias, true><<<grid, kThreads, 0, stream>>>(
        acc, ld, d.acc_offset, d.scale, d.bias, residual, y, n, per_row,
        static_cast<uint32_t>(chunks), int8_code_of(d.code_scale, d.code_qmin));
  } else {
    dequant_vec_kernel<T, A, kAct, kBias, false><<<grid, kThreads, 0, stream>>>(
        acc, ld, nullptr, d.scale, d.bias, residual, y, n, per_row, static_cast<uint32_t>(chunks),
        int8_code_of(d.code_scale, d.code_qmin));
  }
}

template <typename T, typename A, UnaryOp kAct>
void launch_dequant(const DequantArgs& d, const A* acc, T* y, cudaStream_t stream) {
  const bool vec = d.n % 8 == 0 && d.acc_ld % 8 == 0 && d.acc_ld < (int64_t(1) << 32) &&
                   d.rows * (d.n / 8) < (int64_t(1) << 31) && aligned16(acc) &&
                   aligned16(d.scale) && aligned16(d.bias) && aligned16(d.acc_offset) &&
                   aligned16(d.residual) && aligned16(y);
  if (vec && d.bias != nullptr) {
    launch_dequant_vec<T, A, kAct, true>(d, acc, y, stream);
  } else if (vec) {
    launch_dequant_vec<T, A, kAct, false>(d, acc, y, stream);
  } else {
    dequant_scalar_kernel<T, A, kAct><<<grid_for(d.rows * d.n, kThreads), kThreads, 0, stream>>>(
        acc, d.acc_ld, d.acc_offset, d.scale, d.bias, static_cast<const T*>(d.residual), y, d.rows,
        d.n, int8_code_of(d.code_scale, d.code_qmin));
  }
}

template <typename T, typename A>
cudaError_t dequant_for_act(const DequantArgs& d, const A* acc, T* y, cudaStream_t stream) {
  switch (d.act) {
    case UnaryOp::kIdentity:
      launch_dequant<T, A, UnaryOp::kIdentity>(d, acc, y, stream);
      break;
    case UnaryOp::kRelu:
      launch_dequant<T, A, UnaryOp::kRelu>(d, acc, y, stream);
      break;
    case UnaryOp::kGelu:
      launch_dequant<T, A, UnaryOp::kGelu>(d, acc, y, stream);
      break;
    case UnaryOp::kGeluTanh:
      launch_dequant<T, A, UnaryOp::kGeluTanh>(d, acc, y, stream);
      break;
    case UnaryOp::kQuickGelu:
      launch_dequant<T, A, UnaryOp::kQuickGelu>(d, acc, y, stream);
      break;
    case UnaryOp::kSilu:
      launch_dequant<T, A, UnaryOp::kSilu>(d, acc, y, stream);
      break;
    case UnaryOp::kHardSwish:
      launch_dequant<T, A, UnaryOp::kHardSwish>(d, acc, y, stream);
      break;
    case UnaryOp::kRelu6:
      launch_dequant<T, A, UnaryOp::kRelu6>(d, acc, y, stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <typename T, UnaryOp kAct>
__global__ void act_quantize_kernel(const T* __restrict__ d, uint8_t* __restrict__ codes, int64_t n,
                                    Divisor code) {
  VITRT_GRID_STRIDE(i, n) {
    codes[i] = ActCode<kAct>{code}(to_f(d[i]));
  }
}

template <typename T, UnaryOp kAct>
void launch_act_quantize(const T* d, int64_t total, float code_scale, uint8_t* codes,
                         cudaStream_t stream) {
  if (total % 16 == 0 && aligned16(d) && aligned16(codes)) {
    bytes16_kernel<<<grid_for(total / 16, kThreads), kThreads, 0, stream>>>(
        d, codes, total / 16, ActCode<kAct>{divisor_of(code_scale)});
  } else {
    act_quantize_kernel<T, kAct><<<grid_for(total, kThreads), kThreads, 0, stream>>>(
        d, codes, total, divisor_of(code_scale));
  }
}

// Codes staged for a padded GEMM: 16 output bytes per thread where the rows are 16-byte
// vectors (k == k_pad, both multiples of 16), else one byte per thread.
__global__ void copy_codes_vec_kernel(const uint4* __restrict__ x, uint4* __restrict__ q,
                                      int64_t n_in, int64_t n_out) {
  VITRT_GRID_STRIDE(i, n_out) {
    q[i] = i < n_in ? x[i] : make_uint4(0, 0, 0, 0);
  }
}

__global__ void copy_codes_kernel(const uint8_t* __restrict__ x, uint8_t* __restrict__ q,
                                  int64_t rows, int64_t k, int64_t rows_out, int64_t k_pad) {
  VITRT_GRID_STRIDE(i, rows_out * k_pad) {
    const int64_t r = i / k_pad, j = i - r * k_pad;
    q[i] = r < rows && j < k ? x[r * k + j] : uint8_t{0};
  }
}

}  // namespace

cudaError_t launch_copy_codes_padded(const void* x, int64_t rows, int64_t k, void* q,
                                     int64_t rows_out, int64_t k_pad, cudaStream_t stream) {
  if (rows_out < rows || k_pad < k) return cudaErrorInvalidValue;
  if (rows_out * k_pad == 0) return cudaSuccess;
  if (k == k_pad && k % 16 == 0 && aligned16(x) && aligned16(q)) {
    const int64_t n_in = rows * k / 16, n_out = rows_out * k_pad / 16;
    copy_codes_vec_kernel<<<grid_for(n_out, kThreads), kThreads, 0, stream>>>(
        static_cast<const uint4*>(x), static_cast<uint4*>(q), n_in, n_out);
  } else {
    copy_codes_kernel<<<grid_for(rows_out * k_pad, kThreads), kThreads, 0, stream>>>(
        static_cast<const uint8_t*>(x), static_cast<uint8_t*>(q), rows, k, rows_out, k_pad);
  }
  return cudaGetLastError();
}

cudaError_t launch_act_quantize_fp8(Elt type, const void* d, int64_t rows, int64_t n, UnaryOp act,
                                    float code_scale, void* codes, cudaStream_t stream) {
  const int64_t total = rows * n;
  if (total == 0) return cudaSuccess;
  if (!(code_scale > 0.0f)) return cudaErrorInvalidValue;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(d);
    uint8_t* out = static_cast<uint8_t*>(codes);
    switch (act) {
      case UnaryOp::kIdentity:
        launch_act_quantize<T, UnaryOp::kIdentity>(in, total, code_scale, out, stream);
        break;
      case UnaryOp::kGelu:
        launch_act_quantize<T, UnaryOp::kGelu>(in, total, code_scale, out, stream);
        break;
      case UnaryOp::kQuickGelu:
        launch_act_quantize<T, UnaryOp::kQuickGelu>(in, total, code_scale, out, stream);
        break;
      case UnaryOp::kSilu:
        launch_act_quantize<T, UnaryOp::kSilu>(in, total, code_scale, out, stream);
        break;
      case UnaryOp::kHardSwish:
        launch_act_quantize<T, UnaryOp::kHardSwish>(in, total, code_scale, out, stream);
        break;
      case UnaryOp::kRelu6:
        launch_act_quantize<T, UnaryOp::kRelu6>(in, total, code_scale, out, stream);
        break;
      default:
        return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_quantize_rows(Elt type, const QuantizeArgs& a, const void* x, void* q,
                                 cudaStream_t stream) {
  if (a.rows == 0 || a.k_pad == 0) return cudaSuccess;
  if (a.k > a.k_pad) return cudaErrorInvalidValue;
  const QuantParams p = quant_params(a);
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(x);
    uint8_t* out = static_cast<uint8_t*>(q);
    const bool vec = a.k == a.k_pad && a.k % 16 == 0 && aligned16(x) && aligned16(q);
    const int64_t n_chunks = a.rows * a.k / 16;
    const unsigned grid_vec = grid_for(n_chunks, kThreads);
    const unsigned grid = grid_for(a.rows * a.k_pad, kThreads);
    if (a.format == QuantFormat::kFp8E4M3) {
      if (vec) {
        bytes16_kernel<<<grid_vec, kThreads, 0, stream>>>(in, out, n_chunks,
                                                          QuantizeOne<QuantFormat::kFp8E4M3>{p});
      } else {
        quantize_padded_kernel<T, QuantFormat::kFp8E4M3>
            <<<grid, kThreads, 0, stream>>>(in, out, a.rows, a.k, a.k_pad, p);
      }
    } else {
      if (vec) {
        bytes16_kernel<<<grid_vec, kThreads, 0, stream>>>(in, out, n_chunks,
                                                          QuantizeOne<QuantFormat::kInt8>{p});
      } else {
        quantize_padded_kernel<T, QuantFormat::kInt8>
            <<<grid, kThreads, 0, stream>>>(in, out, a.rows, a.k, a.k_pad, p);
      }
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_dequantize_bias_act(Elt type, const DequantArgs& d, const void* acc, void* y,
                                       cudaStream_t stream) {
  if (d.rows == 0 || d.n == 0) return cudaSuccess;
  if (d.acc_ld < d.n || d.scale == nullptr) return cudaErrorInvalidValue;
  if (!d.acc_int32 && d.acc_offset != nullptr) return cudaErrorInvalidValue;
  if (d.residual != nullptr && d.act != UnaryOp::kIdentity) return cudaErrorInvalidValue;
  if (d.code_scale < 0.0f) return cudaErrorInvalidValue;
  if (d.code_scale > 0.0f) {
    // Codes are no residual's type: a QuantLinear writing them has none.
    if (d.residual != nullptr) return cudaErrorInvalidValue;
    if (d.code_int8) {
      // int8 layers only (int32 accumulators).
      if (!d.acc_int32) return cudaErrorInvalidValue;
      return dequant_for_act<int8_t, int32_t>(d, static_cast<const int32_t*>(acc),
                                              static_cast<int8_t*>(y), stream);
    }
    uint8_t* out = static_cast<uint8_t*>(y);
    if (d.acc_int32)
      return dequant_for_act<uint8_t, int32_t>(d, static_cast<const int32_t*>(acc), out, stream);
    return dequant_for_act<uint8_t, float>(d, static_cast<const float*>(acc), out, stream);
  }
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(y);
    if (d.acc_int32)
      return dequant_for_act<T, int32_t>(d, static_cast<const int32_t*>(acc), out, stream);
    return dequant_for_act<T, float>(d, static_cast<const float*>(acc), out, stream);
  });
}

}  // namespace vitrt::cuda
