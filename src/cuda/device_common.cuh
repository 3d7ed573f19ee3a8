// Device helpers shared by the .cu files: element loads/stores through fp32, index math,
// launch sizes, and the dispatch from Elt to a C++ type.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/launch.h"

namespace vitrt::cuda {

// An index out of range met by a kernel reading indices from the data (IndexError, launch.h).
__device__ __forceinline__ void report_index_error(const IndexError& err) {
  if (err.flag != nullptr) atomicMax(err.flag, err.tag);
}

template <typename T>
__device__ __forceinline__ float to_f(T v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ float to_f<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

// Two floats rounded to T (fp16 or bf16) and packed low-first into 32 bits: an mma / wgmma
// operand register, or a 4-byte store of two outputs.
template <typename T>
__device__ __forceinline__ uint32_t pack_pair(float lo, float hi) {
  if constexpr (std::is_same_v<T, __half>) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "pack_pair takes fp16 or bf16");
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

// exp2 on the special-function unit, flushing denormal results to zero: exp2f adds range
// handling around the same instruction. For softmax probabilities that are rounded to 16 bits
// right after (the attention kernels).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// The sum of v over a warp's 32 lanes, in every lane.
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T>
__device__ __forceinline__ T from_f(float v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half from_f<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// x / s rounded to nearest, as IEEE division (div.rn) computes it, for one s and many x: the
// quantizers' "true division by the scale" (the CPU kernels divide; a multiply by the
// reciprocal alone rounds differently next to ties). With r = RN(1 / s), q = RN(x r) is within
// about an ulp of x / s, and one correction step with the remainder x - q s (exact from an FMA)
// rounds it to RN(x / s) (the correction step of Markstein's division). tests/cuda/
// cuda_quant_test.cc holds it to the CPU's division on every 16-bit input and next to every
// int8 and E4M3 rounding tie for 64 scales. Three instructions where div.rn takes about ten
// and a range check, in quantizers and fp8 norms that were issue-bound. Scales or
// reciprocals outside the normal range keep div.rn (r = 0 marks them); quotients below the
// normal range (which quantize to +-0) may differ from div.rn in their last bit, and quotients
// past FLT_MAX may come out infinite (which saturate all the same).
struct Divisor {
  float s = 1.0f;
  float r = 0.0f;
};

__host__ __device__ inline Divisor divisor_of(float s) {
  Divisor d;
  d.s = s;
#ifdef __CUDA_ARCH__
  const float r = __frcp_rn(s);
#else
  const float r = 1.0f / s;
#endif
  const float as = fabsf(s), ar = fabsf(r);
  const float lo = 1.17549435e-38f, hi = 3.40282347e+38f;  // FLT_MIN, FLT_MAX
  d.r = as >= lo && as <= hi && ar >= lo && ar <= hi ? r : 0.0f;
  return d;
}

__device__ __forceinline__ float divide(float x, const Divisor& d) {
  if (d.r == 0.0f) return __fdiv_rn(x, d.s);
  const float q = __fmul_rn(x, d.r);
  const float q1 = fmaf(fmaf(-q, d.s, x), d.r, q);
  // q = +-0 (x = +-0, or a product below the range) keeps its sign: the correction would add
  // +0 to it.
  return isfinite(q) && q != 0.0f ? q1 : q;
}

// x / d.s as x times the reciprocal where there is one (the product can differ from the quotient
// in the last bit: where an 8-bit code is made of it, a code next to a midpoint may land on its
// neighbour), else the exact division: the code-writing epilogues, for whom divide's correction
// step costs too much.
__device__ __forceinline__ float quotient_by_reciprocal(float x, const Divisor& d) {
  return d.r != 0.0f ? x * d.r : __fdiv_rn(x, d.s);
}

// One output element as stored: in the activation type Y, or (Y = uint8_t) the E4M3 code of
// v / code (divide: true division, then nearest even, saturating at +-448): the output_scale of
// vitrt.QuantLinear, AddLayerNorm and Attention, as the CPU kernels and QuantLinear's quantize
// step compute it from the fp32 value.
template <typename Y>
__device__ __forceinline__ Y store_out(float v, const Divisor& code) {
  if constexpr (std::is_same_v<Y, uint8_t>) {
    return static_cast<uint8_t>(__nv_cvt_float_to_fp8(divide(v, code), __NV_SATFINITE, __NV_E4M3));
  } else {
    return from_f<Y>(v);
  }
}

// 1.5 * 2^23: v + kRoundMagic rounds v (|v| < 2^22) to an integer, half to even, and leaves it
// in the low mantissa bits: the float's bits minus kRoundMagic's are that integer.
inline constexpr float kRoundMagic = 12582912.0f;
inline constexpr int32_t kRoundMagicBits = 0x4B400000;

// round_half_even(clamp(v, lo, hi)) for integer bounds within +-2^22 (clamping first gives the
// same as clamping the rounded value), 0 for NaN: the int8 quantizers' last step, rounded with
// kRoundMagic instead of rintf and a float-to-int conversion (quarter rate; the quantize pass
// was issue-bound).
__device__ __forceinline__ int32_t round_clamped(float v, float lo, float hi) {
  const float c = fminf(fmaxf(v, lo), hi);
  return isnan(v) ? 0 : __float_as_int(__fadd_rn(c, kRoundMagic)) - kRoundMagicBits;
}

// How a kernel that may write int8 codes encodes them: the divisor of the code scale and the
// lower clamp (the upper is 127), QuantLinear's output_scale / output_qmin.
struct Int8Code {
  Divisor div;
  float qmin = -127.0f;
};

__host__ __device__ inline Int8Code int8_code_of(float scale, int qmin) {
  Int8Code c;
  c.div = divisor_of(scale);
  c.qmin = static_cast<float>(qmin);
  return c;
}

// clamp(round_half_even(v / scale), qmin, 127), 0 for NaN: the CPU's quantize_int8 with zero
// point 0.
__device__ __forceinline__ int8_t int8_code(float v, const Int8Code& code) {
  return static_cast<int8_t>(round_clamped(divide(v, code.div), code.qmin, 127.0f));
}

// store_out with int8 codes too: Y = int8_t encodes with `code`, any other Y as store_out above
// with code.div.
template <typename Y>
__device__ __forceinline__ Y store_out(float v, const Int8Code& code) {
  if constexpr (std::is_same_v<Y, int8_t>) {
    return int8_code(v, code);
  } else {
    return store_out<Y>(v, code.div);
  }
}

// The activations that GEMM epilogues, the bias/activation and dequantize passes and the unary
// kernels apply: one definition of each formula. The compile-time form is for kernels
// instantiated per activation (no switch per element).
template <UnaryOp kAct>
__device__ __forceinline__ float activate_fixed(float x) {
  if constexpr (kAct == UnaryOp::kRelu) return x > 0.0f ? x : 0.0f;
  if constexpr (kAct == UnaryOp::kGelu) return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  if constexpr (kAct == UnaryOp::kGeluTanh) {
    return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
  }
  if constexpr (kAct == UnaryOp::kQuickGelu) return x / (1.0f + expf(-1.702f * x));
  if constexpr (kAct == UnaryOp::kSilu) return x / (1.0f + expf(-x));
  if constexpr (kAct == UnaryOp::kRelu6) return fminf(fmaxf(x, 0.0f), 6.0f);
  if constexpr (kAct == UnaryOp::kHardSwish) {
    return x * fminf(1.0f, fmaxf(0.0f, x * (1.0f / 6.0f) + 0.5f));
  }
  return x;
}

// The same chosen at run time; other ops pass x through.
__device__ __forceinline__ float activate(UnaryOp act, float x) {
  switch (act) {
    case UnaryOp::kRelu:
      return activate_fixed<UnaryOp::kRelu>(x);
    case UnaryOp::kGelu:
      return activate_fixed<UnaryOp::kGelu>(x);
    case UnaryOp::kGeluTanh:
      return activate_fixed<UnaryOp::kGeluTanh>(x);
    case UnaryOp::kQuickGelu:
      return activate_fixed<UnaryOp::kQuickGelu>(x);
    case UnaryOp::kSilu:
      return activate_fixed<UnaryOp::kSilu>(x);
    case UnaryOp::kHardSwish:
      return activate_fixed<UnaryOp::kHardSwish>(x);
    case UnaryOp::kRelu6:
      return activate_fixed<UnaryOp::kRelu6>(x);
    default:
      return x;
  }
}

// Calls f(std::integral_constant<UnaryOp, act>{}) when `act` is the identity or one of
// activate_fixed's activations, so a kernel instantiated per activation can be launched for a
// run-time op; false (f not called) for any other op.
template <typename F>
bool with_fixed_activation(UnaryOp act, F&& f) {
  switch (act) {
    case UnaryOp::kIdentity:
      f(std::integral_constant<UnaryOp, UnaryOp::kIdentity>{});
      return true;
    case UnaryOp::kRelu:
      f(std::integral_constant<UnaryOp, UnaryOp::kRelu>{});
      return true;
    case UnaryOp::kGelu:
      f(std::integral_constant<UnaryOp, UnaryOp::kGelu>{});
      return true;
    case UnaryOp::kGeluTanh:
      f(std::integral_constant<UnaryOp, UnaryOp::kGeluTanh>{});
      return true;
    case UnaryOp::kQuickGelu:
      f(std::integral_constant<UnaryOp, UnaryOp::kQuickGelu>{});
      return true;
    case UnaryOp::kSilu:
      f(std::integral_constant<UnaryOp, UnaryOp::kSilu>{});
      return true;
    case UnaryOp::kHardSwish:
      f(std::integral_constant<UnaryOp, UnaryOp::kHardSwish>{});
      return true;
    case UnaryOp::kRelu6:
      f(std::integral_constant<UnaryOp, UnaryOp::kRelu6>{});
      return true;
    default:
      return false;
  }
}

// The element offset of linear index i (row-major over v.dims) in a strided view.
__device__ __forceinline__ int64_t view_offset(const StridedView& v, int64_t i) {
  int64_t off = v.base;
  for (int d = v.rank - 1; d >= 0; --d) {
    const int64_t n = v.dims[d];
    const int64_t q = i / n;
    off += (i - q * n) * v.strides[d];
    i = q;
  }
  return off;
}

// The same with the index math in type I: 32-bit division is several times cheaper than 64-bit,
// and every launcher uses it when the element count fits.
template <typename I>
__device__ __forceinline__ int64_t view_offset_t(const StridedView& v, I i) {
  int64_t off = v.base;
  for (int d = v.rank - 1; d >= 0; --d) {
    const I n = static_cast<I>(v.dims[d]);
    const I q = i / n;
    off += static_cast<int64_t>(i - q * n) * v.strides[d];
    i = q;
  }
  return off;
}

inline bool fits_u32(int64_t n) {
  return n <= static_cast<int64_t>(0xffffffffu);
}

// Whether a pointer allows 16-byte vector access; null pointers (absent operands) count as
// aligned.
inline bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

// Rewrites views that share dims with fewer dims: drops size-1 dims and merges neighbours that
// every view walks contiguously ([B, S, C] + bias[C] becomes [B*S, C]), so each element costs
// fewer divisions.
inline void coalesce(StridedView* const* views, int count) {
  StridedView& first = *views[0];
  int rank = 0;
  for (int d = 0; d < first.rank; ++d) {
    if (first.dims[d] == 1) continue;
    bool merge = rank > 0;
    for (int v = 0; v < count && merge; ++v) {
      const StridedView& w = *views[v];
      merge = w.strides[rank - 1] == w.strides[d] * w.dims[d];
    }
    for (int v = 0; v < count; ++v) {
      StridedView& w = *views[v];
      if (merge) {
        w.dims[rank - 1] *= w.dims[d];
        w.strides[rank - 1] = w.strides[d];
      } else {
        w.dims[rank] = w.dims[d];
        w.strides[rank] = w.strides[d];
      }
    }
    if (!merge) ++rank;
  }
  for (int v = 0; v < count; ++v) views[v]->rank = rank;
}

inline int64_t view_numel(const StridedView& v) {
  int64_t n = 1;
  for (int d = 0; d < v.rank; ++d) n *= v.dims[d];
  return n;
}

inline unsigned grid_for(int64_t n, int block) {
  const int64_t g = (n + block - 1) / block;
  return static_cast<unsigned>(g < 65535 * 16 ? (g < 1 ? 1 : g) : 65535 * 16);
}

#define VITRT_GRID_STRIDE(i, n)                                             \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// Calls f(T{}) with T the C++ type of a float Elt; returns cudaErrorInvalidValue otherwise.
template <typename F>
cudaError_t dispatch_float(Elt t, F&& f) {
  switch (t) {
    case Elt::kF32:
      return f(float{});
    case Elt::kF16:
      return f(__half{});
    case Elt::kBF16:
      return f(__nv_bfloat16{});
    default:
      return cudaErrorInvalidValue;
  }
}

template <typename F>
cudaError_t dispatch_any(Elt t, F&& f) {
  switch (t) {
    case Elt::kF32:
      return f(float{});
    case Elt::kF16:
      return f(__half{});
    case Elt::kBF16:
      return f(__nv_bfloat16{});
    case Elt::kI64:
      return f(int64_t{});
    case Elt::kI32:
      return f(int32_t{});
    case Elt::kBool:
      return f(bool{});
  }
  return cudaErrorInvalidValue;
}

template <typename T>
inline constexpr bool kIsFloat = !std::is_integral<T>::value;

}  // namespace vitrt::cuda
