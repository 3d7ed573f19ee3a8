// Standalone ONNX QuantizeLinear / DequantizeLinear (the pairs the optimizer neither folds nor
// fuses into vitrt.QuantLinear), computed as the CPU kernel does in fp32:
//   QuantizeLinear:   q = saturate(round_half_to_even(x / scale) + zero_point), NaN -> zero_point
//   DequantizeLinear: y = float(q - zero_point) * scale
#include <cuda_fp8.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "cuda/device_common.cuh"
#include "cuda/fake_quant.cuh"
#include "ir/fake_quant.h"

namespace vitrt::cuda {
namespace {

template <typename F>
cudaError_t dispatch_qtype(QdqType t, F&& f) {
  switch (t) {
    case QdqType::kI8:
      return f(int8_t{});
    case QdqType::kU8:
      return f(uint8_t{});
    case QdqType::kI16:
      return f(int16_t{});
    case QdqType::kU16:
      return f(uint16_t{});
    case QdqType::kI32:
      return f(int32_t{});
  }
  return cudaErrorInvalidValue;
}

__device__ __forceinline__ int64_t param_of(const QdqArgs& a, int64_t i) {
  return a.channels == 1 ? 0 : (i / a.inner) % a.channels;
}

template <typename T, typename Q>
__global__ void quantize_kernel(const T* x, Q* q, QdqArgs a, float lo, float hi) {
  VITRT_GRID_STRIDE(i, a.n) {
    const int64_t c = param_of(a, i);
    const float zp = static_cast<float>(a.zero_point[c]);
    // True division and rintf (half to even): the CPU's x / scale and nearbyint.
    const float v = rintf(__fdiv_rn(to_f(x[i]), a.scale[c])) + zp;
    q[i] = static_cast<Q>(isnan(v) ? zp : fminf(hi, fmaxf(lo, v)));
  }
}

template <typename Q, typename T>
__global__ void dequantize_kernel(const Q* q, T* y, QdqArgs a) {
  VITRT_GRID_STRIDE(i, a.n) {
    const int64_t c = param_of(a, i);
    const float d = static_cast<float>(static_cast<int64_t>(q[i]) - a.zero_point[c]);
    y[i] = from_f<T>(__fmul_rn(d, a.scale[c]));
  }
}

// vitrt.FakeQuant on one element of column c: each step rounded to T as the separate nodes
// (FakeQuant, Add, FakeQuant) would store it (fake_quant_of: fake_quant.cuh).
template <typename T>
__device__ __forceinline__ T fake_quant_step(T x, const FakeQuantArgs& a, int64_t c) {
  T y = from_f<T>(fake_quant_of<T>(to_f(x), a.quant, a.inv_scale));
  if (a.bias == nullptr) return y;
  // __fadd_rn: not contracted with fake_quant's multiply into one FMA (the CPU adds separately).
  y = from_f<T>(__fadd_rn(to_f(y), to_f(static_cast<const T*>(a.bias)[c])));
  return a.has_out ? from_f<T>(fake_quant_of<T>(to_f(y), a.quant_out, a.inv_scale_out)) : y;
}

// 16 bytes of x per step (8 fp16/bf16 or 4 fp32 elements; with a bias, cols is a multiple of
// that), the few elements past the last whole vector one by one.
template <typename T>
__global__ void fake_quant_kernel(const T* x, T* y, int64_t n, FakeQuantArgs a) {
  constexpr int kVec = 16 / sizeof(T);
  const int64_t vectors = n / kVec;
  VITRT_GRID_STRIDE(i, vectors) {
    uint4 raw = reinterpret_cast<const uint4*>(x)[i];
    T* e = reinterpret_cast<T*>(&raw);
    const int64_t c0 = a.bias != nullptr ? i * kVec % a.cols : 0;
#pragma unroll
    for (int j = 0; j < kVec; ++j) e[j] = fake_quant_step(e[j], a, c0 + j);
    reinterpret_cast<uint4*>(y)[i] = raw;
  }
  VITRT_GRID_STRIDE(j, n - vectors * kVec) {
    const int64_t i = vectors * kVec + j;
    y[i] = fake_quant_step(x[i], a, a.bias != nullptr ? i % a.cols : 0);
  }
}

// Unaligned x or y, or a bias row that does not split into vectors: one element a thread.
template <typename T>
__global__ void fake_quant_scalar_kernel(const T* x, T* y, int64_t n, FakeQuantArgs a) {
  VITRT_GRID_STRIDE(i, n) y[i] = fake_quant_step(x[i], a, a.bias != nullptr ? i % a.cols : 0);
}

}  // namespace

cudaError_t launch_fake_quant(Elt type, const void* x, void* y, int64_t n, const FakeQuantArgs& a,
                              cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (a.bias != nullptr && (a.cols < 1 || n % a.cols != 0)) return cudaErrorInvalidValue;
  FakeQuantArgs args = a;
  args.inv_scale = 1.0f / a.quant.scale;
  args.inv_scale_out = 1.0f / a.quant_out.scale;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    constexpr int64_t kVec = 16 / static_cast<int64_t>(sizeof(T));
    const T* in = static_cast<const T*>(x);
    T* out = static_cast<T*>(y);
    if (reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0 &&
        (a.bias == nullptr || a.cols % kVec == 0)) {
      const int64_t vectors = n / kVec;
      fake_quant_kernel<T>
          <<<grid_for(vectors > 0 ? vectors : 1, 256), 256, 0, stream>>>(in, out, n, args);
    } else {
      fake_quant_scalar_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(in, out, n, args);
    }
    return cudaGetLastError();
  });
}

namespace {

// 16 bytes a step where the rows allow it (cols and x_stride whole vectors, aligned pointers).
template <typename T, int kVec>
__global__ void fake_quant_rows_kernel(const T* x, int64_t x_stride, T* y, int64_t rows,
                                       int64_t cols, FakeQuant f, float prescale, float inv) {
  const int64_t per_row = cols / kVec;
  VITRT_GRID_STRIDE(i, rows * per_row) {
    const int64_t r = i / per_row, c = (i % per_row) * kVec;
    T e[kVec];
    if constexpr (kVec * sizeof(T) == 16) {
      *reinterpret_cast<uint4*>(e) = *reinterpret_cast<const uint4*>(x + r * x_stride + c);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j) e[j] = x[r * x_stride + c + j];
    }
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      e[j] = from_f<T>(fake_quant_of<T>(__fmul_rn(to_f(e[j]), prescale), f, inv));
    }
    if constexpr (kVec * sizeof(T) == 16) {
      *reinterpret_cast<uint4*>(y + r * cols + c) = *reinterpret_cast<const uint4*>(e);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j) y[r * cols + c + j] = e[j];
    }
  }
}

}  // namespace

cudaError_t launch_fake_quant_rows(Elt type, const void* x, int64_t x_stride, void* y, int64_t rows,
                                   int64_t cols, const FakeQuant& quant, float prescale,
                                   cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  const float inv = 1.0f / quant.scale;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    constexpr int kVec = 16 / static_cast<int>(sizeof(T));
    const T* in = static_cast<const T*>(x);
    T* out = static_cast<T*>(y);
    if (reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0 &&
        cols % kVec == 0 && x_stride % kVec == 0) {
      fake_quant_rows_kernel<T, kVec><<<grid_for(rows * cols / kVec, 256), 256, 0, stream>>>(
          in, x_stride, out, rows, cols, quant, prescale, inv);
    } else {
      fake_quant_rows_kernel<T, 1><<<grid_for(rows * cols, 256), 256, 0, stream>>>(
          in, x_stride, out, rows, cols, quant, prescale, inv);
    }
    return cudaGetLastError();
  });
}

namespace {

template <typename T>
__global__ void decode_e4m3_kernel(const uint8_t* codes, int64_t n, float scale, T* y) {
  VITRT_GRID_STRIDE(i, n) {
    const __half_raw h = __nv_cvt_fp8_to_halfraw(codes[i], __NV_E4M3);
    y[i] = from_f<T>(__half2float(__half(h)) * scale);
  }
}

}  // namespace

cudaError_t launch_decode_e4m3(Elt type, const uint8_t* codes, int64_t n, float scale, void* y,
                               cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    decode_e4m3_kernel<T>
        <<<grid_for(n, 256), 256, 0, stream>>>(codes, n, scale, static_cast<T*>(y));
    return cudaGetLastError();
  });
}

cudaError_t launch_quantize_linear(Elt type, QdqType qtype, const void* x, void* q,
                                   const QdqArgs& args, cudaStream_t stream) {
  if (args.n == 0) return cudaSuccess;
  if (qtype == QdqType::kI32 || args.channels < 1 || args.channels > kMaxQdqChannels) {
    return cudaErrorInvalidValue;
  }
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    return dispatch_qtype(qtype, [&](auto qtag) {
      using Q = decltype(qtag);
      quantize_kernel<T, Q><<<grid_for(args.n, 256), 256, 0, stream>>>(
          static_cast<const T*>(x), static_cast<Q*>(q), args,
          static_cast<float>(std::numeric_limits<Q>::min()),
          static_cast<float>(std::numeric_limits<Q>::max()));
      return cudaGetLastError();
    });
  });
}

cudaError_t launch_dequantize_linear(Elt type, QdqType qtype, const void* q, void* y,
                                     const QdqArgs& args, cudaStream_t stream) {
  if (args.n == 0) return cudaSuccess;
  if (args.channels < 1 || args.channels > kMaxQdqChannels) return cudaErrorInvalidValue;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    return dispatch_qtype(qtype, [&](auto qtag) {
      using Q = decltype(qtag);
      dequantize_kernel<Q, T><<<grid_for(args.n, 256), 256, 0, stream>>>(static_cast<const Q*>(q),
                                                                         static_cast<T*>(y), args);
      return cudaGetLastError();
    });
  });
}

}  // namespace vitrt::cuda
