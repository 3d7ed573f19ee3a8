// Elementwise kernels: binary ops with broadcasting, n-ary Max/Min/Sum/Mean, BitShift, unary
// ops, Where and Cast.
#include <type_traits>

#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

// Integer ops stay in integers (shape arithmetic on device, token ids); float ops compute in
// fp32 whatever the storage type.
template <typename T>
using Acc = std::conditional_t<kIsFloat<T>, float, T>;

template <typename T>
__device__ __forceinline__ Acc<T> load(const T* p, int64_t i) {
  if constexpr (kIsFloat<T>) {
    return to_f(p[i]);
  } else {
    return p[i];
  }
}

template <typename T>
__device__ __forceinline__ T store_cast(Acc<T> v) {
  if constexpr (kIsFloat<T>) {
    return from_f<T>(v);
  } else {
    return v;
  }
}

template <typename A>
__device__ __forceinline__ A binary_arith(BinaryOp op, A a, A b) {
  if constexpr (std::is_same<A, bool>::value) {
    return op == BinaryOp::kMul || op == BinaryOp::kMin ? (a && b) : (a || b);
  }
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kMax:
      return a > b ? a : b;
    case BinaryOp::kMin:
      return a < b ? a : b;
    case BinaryOp::kPRelu:
      if constexpr (std::is_same<A, bool>::value) {
        return a;
      } else {
        return a < A(0) ? a * b : a;
      }
    case BinaryOp::kDiv:
      if constexpr (std::is_integral<A>::value) {
        return b == 0 ? A(0) : a / b;
      } else {
        return a / b;
      }
    case BinaryOp::kPow:
      if constexpr (std::is_same<A, bool>::value) {
        return a;
      } else if constexpr (std::is_integral<A>::value) {
        A r = 1;
        for (A k = 0; k < b; ++k) r *= a;
        return r;
      } else {
        // x^2 and x^0.5 are what unfused LayerNorm/GELU exports use: exact forms first.
        if (b == 2.0f) return a * a;
        if (b == 0.5f) return sqrtf(a);
        return powf(a, b);
      }
    case BinaryOp::kMod:
      // ONNX Mod with fmod=0: the result has the sign of the divisor (Python semantics).
      if constexpr (std::is_same<A, bool>::value) {
        return a;
      } else if constexpr (std::is_integral<A>::value) {
        if (b == 0) return A(0);
        A r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      } else {
        float r = fmodf(a, b);
        return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r;
      }
    default:
      return A(0);
  }
}

template <typename A>
__device__ __forceinline__ bool binary_compare(BinaryOp op, A a, A b) {
  switch (op) {
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kLessEqual:
      return a <= b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kGreaterEqual:
      return a >= b;
    case BinaryOp::kAnd:
      return a && b;
    case BinaryOp::kOr:
      return a || b;
    case BinaryOp::kXor:
      return bool(a) != bool(b);
    default:
      return false;
  }
}

template <typename T, bool kCompare, typename I>
__global__ void binary_kernel(BinaryOp op, const T* a, StridedView va, const T* b, StridedView vb,
                              void* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const Acc<T> x = load(a, view_offset_t<I>(va, static_cast<I>(i)));
    const Acc<T> y = load(b, view_offset_t<I>(vb, static_cast<I>(i)));
    if constexpr (kCompare) {
      static_cast<bool*>(out)[i] = binary_compare(op, x, y);
    } else {
      static_cast<T*>(out)[i] = store_cast<T>(binary_arith(op, x, y));
    }
  }
}

// How an operand of a broadcast binary op is read, when that is cheaper than a strided view:
// contiguous like the output, one value, or a row repeated over the rows ([N, C] + bias[C]).
// kChannel: one value per channel of an NCHW-like output ([B, C, H*W] * scale[C, 1, 1]).
enum class Access : int { kFlat, kScalar, kRow, kChannel };

template <Access kA>
__device__ __forceinline__ uint32_t fast_offset(const StridedView& v, uint32_t i) {
  if constexpr (kA == Access::kFlat) {
    return i;
  } else if constexpr (kA == Access::kScalar) {
    return static_cast<uint32_t>(v.base);
  } else if constexpr (kA == Access::kRow) {
    return static_cast<uint32_t>(v.base) + i % static_cast<uint32_t>(v.dims[1]);
  } else {
    // Coalesced to [C, inner] (strides [1, 0]) or [B, C, inner] (strides [0, 1, 0]).
    const uint32_t c = i / static_cast<uint32_t>(v.dims[v.rank - 1]);
    return static_cast<uint32_t>(v.base) + (v.rank == 2 ? c : c % static_cast<uint32_t>(v.dims[1]));
  }
}

template <typename T, Access kA, Access kB>
__global__ void binary_fast_kernel(BinaryOp op, const T* a, StridedView va, const T* b,
                                   StridedView vb, T* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const uint32_t u = static_cast<uint32_t>(i);
    out[i] = store_cast<T>(
        binary_arith(op, load(a, fast_offset<kA>(va, u)), load(b, fast_offset<kB>(vb, u))));
  }
}

// Same-shape contiguous inputs: no index math.
template <typename T>
__global__ void binary_flat_kernel(BinaryOp op, const T* a, const T* b, T* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    out[i] = store_cast<T>(binary_arith(op, load(a, i), load(b, i)));
  }
}

template <typename T>
struct alignas(16) Vec16 {
  T v[16 / sizeof(T)];
};

// The same with 16-byte loads and stores (aligned pointers, n a multiple of the vector): the
// residual adds of CNN stages move whole activations, so bandwidth is all that counts.
template <typename T>
__global__ void binary_flat_vec_kernel(BinaryOp op, const Vec16<T>* a, const Vec16<T>* b,
                                       Vec16<T>* out, int64_t n_vec) {
  constexpr int kV = 16 / sizeof(T);
  VITRT_GRID_STRIDE(i, n_vec) {
    const Vec16<T> x = a[i], y = b[i];
    Vec16<T> r;
#pragma unroll
    for (int k = 0; k < kV; ++k)
      r.v[k] = store_cast<T>(binary_arith(op, load(x.v, k), load(y.v, k)));
    out[i] = r;
  }
}

// A whole tensor [b, r, c] with one row [b, 1, c] per batch index (a squeeze-and-excitation
// scale [n, 1, 1, c] over an NHWC image, a bias row over [r, c]), in 16-byte vectors (c a multiple
// of the vector). kRowFirst: the row is the left operand.
template <typename T, bool kRowFirst>
__global__ void binary_batch_row_vec_kernel(BinaryOp op, const Vec16<T>* full, const Vec16<T>* row,
                                            Vec16<T>* out, int64_t n_vec, int64_t c_vec,
                                            int64_t rc_vec) {
  constexpr int kV = 16 / sizeof(T);
  VITRT_GRID_STRIDE(i, n_vec) {
    const Vec16<T> x = full[i], y = row[(i / rc_vec) * c_vec + i % c_vec];
    Vec16<T> res;
#pragma unroll
    for (int k = 0; k < kV; ++k) {
      res.v[k] = kRowFirst ? store_cast<T>(binary_arith(op, load(y.v, k), load(x.v, k)))
                           : store_cast<T>(binary_arith(op, load(x.v, k), load(y.v, k)));
    }
    out[i] = res;
  }
}

// Whether coalesced `v` reads one row of the output's last axis per index of its first ([b, r,
// c] with strides [c, 0, 1], or [r, c] with [0, 1]), the last axis a whole number of vectors.
bool is_batch_row(const StridedView& v, const StridedView& out, int64_t per_vector) {
  if (v.base != 0 || v.rank != out.rank || out.rank < 2 || out.rank > 3) return false;
  const int64_t c = out.dims[out.rank - 1];
  if (c % per_vector != 0 || v.strides[v.rank - 1] != 1 || v.strides[v.rank - 2] != 0) return false;
  return v.rank == 2 || v.strides[0] == c;
}

bool is_contiguous(const StridedView& v, const StridedView& out) {
  if (v.base != 0 || v.rank != out.rank) return false;
  int64_t s = 1;
  for (int d = v.rank - 1; d >= 0; --d) {
    if (v.dims[d] != 1 && v.strides[d] != s) return false;
    s *= v.dims[d];
  }
  return true;
}

__device__ __forceinline__ float unary_float(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::kIdentity:
      return x;
    case UnaryOp::kNeg:
      return -x;
    case UnaryOp::kAbs:
      return fabsf(x);
    case UnaryOp::kSqrt:
      return sqrtf(x);
    case UnaryOp::kReciprocal:
      return 1.0f / x;
    case UnaryOp::kExp:
      return expf(x);
    case UnaryOp::kLog:
      return logf(x);
    case UnaryOp::kErf:
      return erff(x);
    case UnaryOp::kTanh:
      return tanhf(x);
    case UnaryOp::kSigmoid:
      return 1.0f / (1.0f + expf(-x));
    case UnaryOp::kRelu:
    case UnaryOp::kGelu:
    case UnaryOp::kGeluTanh:
    case UnaryOp::kQuickGelu:
    case UnaryOp::kSilu:
    case UnaryOp::kHardSwish:
    case UnaryOp::kRelu6:
      return activate(op, x);
    case UnaryOp::kFloor:
      return floorf(x);
    case UnaryOp::kCeil:
      return ceilf(x);
    case UnaryOp::kSin:
      return sinf(x);
    case UnaryOp::kCos:
      return cosf(x);
    default:
      return x;
  }
}

// The ops of the CPU kernels' formulas (src/cpu/elementwise_unary.cc), in fp32.
__device__ __forceinline__ float unary_param_float(UnaryOp op, float x, float alpha, float beta) {
  switch (op) {
    case UnaryOp::kHardSigmoid:
      return fminf(1.0f, fmaxf(0.0f, alpha * x + beta));
    case UnaryOp::kHardSwish:
      return activate(op, x);
    case UnaryOp::kClip: {
      // NaN passes through, as the comparisons of the CPU kernel let it.
      const float r = x < alpha ? alpha : x;
      return r > beta ? beta : r;
    }
    case UnaryOp::kLeakyRelu:
      return x >= 0.0f ? x : alpha * x;
    case UnaryOp::kElu:
      return x >= 0.0f ? x : alpha * expm1f(x);
    case UnaryOp::kSelu:
      return beta * (x > 0.0f ? x : alpha * expm1f(x));
    case UnaryOp::kCelu:
      return x > 0.0f ? x : alpha * expm1f(x / alpha);
    case UnaryOp::kThresholdedRelu:
      return x > alpha ? x : 0.0f;
    case UnaryOp::kSoftplus:
      return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
    case UnaryOp::kSoftsign:
      return x / (1.0f + fabsf(x));
    case UnaryOp::kMish: {
      const float sp = x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
      return x * tanhf(sp);
    }
    case UnaryOp::kSign:
      return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
    case UnaryOp::kRound:
      return rintf(x);  // half to even, as ONNX Round
    case UnaryOp::kTan:
      return tanf(x);
    case UnaryOp::kAsin:
      return asinf(x);
    case UnaryOp::kAcos:
      return acosf(x);
    case UnaryOp::kAtan:
      return atanf(x);
    case UnaryOp::kSinh:
      return sinhf(x);
    case UnaryOp::kCosh:
      return coshf(x);
    case UnaryOp::kAsinh:
      return asinhf(x);
    case UnaryOp::kAcosh:
      return acoshf(x);
    case UnaryOp::kAtanh:
      return atanhf(x);
    case UnaryOp::kQuickGelu:
      return x / (1.0f + expf(-alpha * x));
    case UnaryOp::kShrink:
      return x < -beta ? x + alpha : (x > beta ? x - alpha : 0.0f);
    default:
      return unary_float(op, x);
  }
}

template <typename T>
__global__ void unary_param_kernel(UnaryOp op, const T* in, T* out, int64_t n, float alpha,
                                   float beta) {
  VITRT_GRID_STRIDE(i, n) {
    out[i] = from_f<T>(unary_param_float(op, to_f(in[i]), alpha, beta));
  }
}

template <typename T>
__global__ void isinf_kernel(const T* in, bool* out, int64_t n, bool positive, bool negative) {
  VITRT_GRID_STRIDE(i, n) {
    const float v = to_f(in[i]);
    out[i] = isinf(v) && (v > 0.0f ? positive : negative);
  }
}

template <typename T>
__global__ void unary_kernel(UnaryOp op, const T* in, T* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    out[i] = from_f<T>(unary_float(op, to_f(in[i])));
  }
}

// The activations (activate_fixed) over 16-byte vectors with the op fixed at compile time: the
// scalar kernel above (a switch per element, 2-byte accesses) ran a standalone erf GELU over
// ViT-B/16's fc1 output at batch 256 in 0.52 ms, several times the bytes it moves (a quantized
// model's GELU between two Q/DQ pairs runs so). Same formulas, so the same values.
template <typename T, UnaryOp kOp>
__global__ void __launch_bounds__(256)
    activation_vec_kernel(const uint4* in, uint4* out, uint32_t n_vecs) {
  constexpr int kVec = 16 / sizeof(T);
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n_vecs;
       i += gridDim.x * blockDim.x) {
    uint4 raw = in[i];
    T* e = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int j = 0; j < kVec; ++j) e[j] = from_f<T>(activate_fixed<kOp>(to_f(e[j])));
    out[i] = raw;
  }
}

// Launches activation_vec_kernel for `op` when it is the identity or one of activate_fixed's
// ops and the data are whole aligned vectors; false otherwise (the scalar kernel runs).
template <typename T>
bool launch_activation_vec(UnaryOp op, const T* in, T* out, int64_t n, cudaStream_t stream) {
  constexpr int64_t kVec = 16 / sizeof(T);
  if (n % kVec != 0 || n / kVec > int64_t{0xffffffff} || !aligned16(in) || !aligned16(out)) {
    return false;
  }
  const uint32_t n_vecs = static_cast<uint32_t>(n / kVec);
  const unsigned grid = grid_for(n_vecs, 256);
  return with_fixed_activation(op, [&](auto fixed) {
    activation_vec_kernel<T, decltype(fixed)::value><<<grid, 256, 0, stream>>>(
        reinterpret_cast<const uint4*>(in), reinterpret_cast<uint4*>(out), n_vecs);
  });
}

template <typename T>
__global__ void isnan_kernel(const T* in, bool* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    out[i] = isnan(to_f(in[i]));
  }
}

__global__ void not_kernel(const bool* in, bool* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    out[i] = !in[i];
  }
}

template <typename T>
__global__ void where_kernel(const bool* c, StridedView vc, const T* x, StridedView vx, const T* y,
                             StridedView vy, T* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    out[i] = c[view_offset(vc, i)] ? x[view_offset(vx, i)] : y[view_offset(vy, i)];
  }
}

// The fast access of a coalesced view, or -1 when it needs the general index math.
int access_of(const StridedView& v, const StridedView& out) {
  bool flat = v.base == 0, scalar = true;
  for (int d = 0; d < v.rank; ++d) {
    flat = flat && v.strides[d] == out.strides[d];
    scalar = scalar && v.strides[d] == 0;
  }
  if (flat) return static_cast<int>(Access::kFlat);
  if (scalar) return static_cast<int>(Access::kScalar);
  if (v.rank == 2 && v.strides[0] == 0 && v.strides[1] == 1) return static_cast<int>(Access::kRow);
  if ((v.rank == 2 && v.strides[0] == 1 && v.strides[1] == 0) ||
      (v.rank == 3 && v.strides[0] == 0 && v.strides[1] == 1 && v.strides[2] == 0)) {
    return static_cast<int>(Access::kChannel);
  }
  return -1;
}

template <typename T, Access kA>
void launch_fast_b(int kb, BinaryOp op, const T* a, const StridedView& va, const T* b,
                   const StridedView& vb, T* out, int64_t n, cudaStream_t stream) {
  switch (static_cast<Access>(kb)) {
    case Access::kFlat:
      binary_fast_kernel<T, kA, Access::kFlat>
          <<<grid_for(n, 256), 256, 0, stream>>>(op, a, va, b, vb, out, n);
      break;
    case Access::kScalar:
      binary_fast_kernel<T, kA, Access::kScalar>
          <<<grid_for(n, 256), 256, 0, stream>>>(op, a, va, b, vb, out, n);
      break;
    case Access::kRow:
      binary_fast_kernel<T, kA, Access::kRow>
          <<<grid_for(n, 256), 256, 0, stream>>>(op, a, va, b, vb, out, n);
      break;
    case Access::kChannel:
      binary_fast_kernel<T, kA, Access::kChannel>
          <<<grid_for(n, 256), 256, 0, stream>>>(op, a, va, b, vb, out, n);
      break;
  }
}

template <typename T, bool kCompare>
void launch_binary_views(BinaryOp op, const T* a, StridedView va, const T* b, StridedView vb,
                         void* out, StridedView vout, int64_t n, cudaStream_t stream) {
  StridedView* views[] = {&va, &vb, &vout};
  coalesce(views, 3);
  if constexpr (!kCompare && sizeof(T) <= 8) {
    constexpr int64_t kV = 16 / sizeof(T);
    const bool a_full = is_contiguous(va, vout), b_full = is_contiguous(vb, vout);
    const bool a_row = !a_full && b_full && is_batch_row(va, vout, kV);
    const bool b_row = !b_full && a_full && is_batch_row(vb, vout, kV);
    if ((a_row || b_row) && aligned16(a) && aligned16(b) && aligned16(out)) {
      const int64_t c_vec = vout.dims[vout.rank - 1] / kV;
      const int64_t rc_vec = c_vec * (vout.rank == 3 ? vout.dims[1] : vout.dims[0]);
      const auto* full = static_cast<const Vec16<T>*>(static_cast<const void*>(a_row ? b : a));
      const auto* row = static_cast<const Vec16<T>*>(static_cast<const void*>(a_row ? a : b));
      auto* o = static_cast<Vec16<T>*>(out);
      if (a_row) {
        binary_batch_row_vec_kernel<T, true>
            <<<grid_for(n / kV, 256), 256, 0, stream>>>(op, full, row, o, n / kV, c_vec, rc_vec);
      } else {
        binary_batch_row_vec_kernel<T, false>
            <<<grid_for(n / kV, 256), 256, 0, stream>>>(op, full, row, o, n / kV, c_vec, rc_vec);
      }
      return;
    }
  }
  const int ka = access_of(va, vout), kb = access_of(vb, vout);
  if (!kCompare && ka >= 0 && kb >= 0 && fits_u32(n)) {
    T* o = static_cast<T*>(out);
    switch (static_cast<Access>(ka)) {
      case Access::kFlat:
        launch_fast_b<T, Access::kFlat>(kb, op, a, va, b, vb, o, n, stream);
        break;
      case Access::kScalar:
        launch_fast_b<T, Access::kScalar>(kb, op, a, va, b, vb, o, n, stream);
        break;
      case Access::kRow:
        launch_fast_b<T, Access::kRow>(kb, op, a, va, b, vb, o, n, stream);
        break;
      case Access::kChannel:
        launch_fast_b<T, Access::kChannel>(kb, op, a, va, b, vb, o, n, stream);
        break;
    }
    return;
  }
  if (fits_u32(n)) {
    binary_kernel<T, kCompare, uint32_t>
        <<<grid_for(n, 256), 256, 0, stream>>>(op, a, va, b, vb, out, n);
  } else {
    binary_kernel<T, kCompare, int64_t>
        <<<grid_for(n, 256), 256, 0, stream>>>(op, a, va, b, vb, out, n);
  }
}

template <typename From, typename To>
__global__ void cast_kernel(const From* in, To* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    if constexpr (kIsFloat<From> && kIsFloat<To>) {
      out[i] = from_f<To>(to_f(in[i]));
    } else if constexpr (kIsFloat<From>) {
      // Float to integer truncates toward zero, as ONNX Cast does; to bool: nonzero.
      const float v = to_f(in[i]);
      if constexpr (std::is_same<To, bool>::value) {
        out[i] = v != 0.0f;
      } else if constexpr (sizeof(To) < 4) {
        // Saturate as the CPU does: the conversion would go through 32 bits and wrap.
        constexpr bool kSigned = std::is_signed<To>::value;
        constexpr float lo = kSigned ? -static_cast<float>(1 << (8 * sizeof(To) - 1)) : 0.0f;
        constexpr float hi = static_cast<float>((1 << (8 * sizeof(To) - (kSigned ? 1 : 0))) - 1);
        out[i] = v != v ? To(0) : static_cast<To>(fminf(fmaxf(v, lo), hi));
      } else {
        out[i] = static_cast<To>(v);
      }
    } else if constexpr (kIsFloat<To>) {
      out[i] = from_f<To>(static_cast<float>(in[i]));
    } else if constexpr (std::is_same<To, bool>::value) {
      out[i] = in[i] != 0;
    } else {
      out[i] = static_cast<To>(in[i]);
    }
  }
}

// Max / Min of the CPU kernel: NaN in either operand propagates (NumPy's maximum/minimum).
template <typename A>
__device__ __forceinline__ A nary_step(BinaryOp op, A acc, A v) {
  if constexpr (std::is_floating_point<A>::value) {
    if (op != BinaryOp::kAdd) {
      if (isnan(acc)) return acc;
      if (isnan(v)) return v;
    }
  }
  switch (op) {
    case BinaryOp::kMax:
      return acc >= v ? acc : v;
    case BinaryOp::kMin:
      return acc <= v ? acc : v;
    default:
      return acc + v;
  }
}

template <typename T>
__global__ void nary_kernel(BinaryOp op, NaryArgs args, T* out, StridedView vout, float scale,
                            int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    Acc<T> acc = load(static_cast<const T*>(args.in[0]), view_offset(args.views[0], i));
    for (int k = 1; k < args.count; ++k) {
      acc = nary_step(op, acc,
                      load(static_cast<const T*>(args.in[k]), view_offset(args.views[k], i)));
    }
    if constexpr (kIsFloat<T>) {
      if (scale != 1.0f) acc *= scale;
    }
    out[view_offset(vout, i)] = store_cast<T>(acc);
  }
}

// BitShift of unsigned integers (U of the element's width); a shift by the width or more gives
// 0, as the CPU kernel defines it (C++ leaves it undefined).
template <typename U>
__global__ void bit_shift_kernel(bool left, const U* a, StridedView va, const U* b, StridedView vb,
                                 U* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const U x = a[view_offset(va, i)], s = b[view_offset(vb, i)];
    out[i] = s >= sizeof(U) * 8 ? U(0) : static_cast<U>(left ? x << s : x >> s);
  }
}

bool is_compare(BinaryOp op) {
  return op >= BinaryOp::kEqual;
}

}  // namespace

cudaError_t launch_binary(BinaryOp op, Elt in_type, Elt out_type, const void* a,
                          const StridedView& va, const void* b, const StridedView& vb, void* out,
                          const StridedView& vout, cudaStream_t stream) {
  const int64_t n = view_numel(vout);
  if (n == 0) return cudaSuccess;
  const bool compare = is_compare(op);
  if (compare != (out_type == Elt::kBool)) return cudaErrorInvalidValue;
  const bool flat = !compare && is_contiguous(va, vout) && is_contiguous(vb, vout) &&
                    view_numel(va) == n && view_numel(vb) == n;
  return dispatch_any(in_type, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = static_cast<const T*>(a);
    const T* pb = static_cast<const T*>(b);
    constexpr int64_t kV = 16 / sizeof(T);
    if (flat && kV > 1 && n % kV == 0 && aligned16(a) && aligned16(b) && aligned16(out)) {
      binary_flat_vec_kernel<T><<<grid_for(n / kV, 256), 256, 0, stream>>>(
          op, static_cast<const Vec16<T>*>(a), static_cast<const Vec16<T>*>(b),
          static_cast<Vec16<T>*>(out), n / kV);
    } else if (flat) {
      binary_flat_kernel<T>
          <<<grid_for(n, 256), 256, 0, stream>>>(op, pa, pb, static_cast<T*>(out), n);
    } else if (compare) {
      launch_binary_views<T, true>(op, pa, va, pb, vb, out, vout, n, stream);
    } else {
      launch_binary_views<T, false>(op, pa, va, pb, vb, out, vout, n, stream);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_nary(BinaryOp op, Elt type, const NaryArgs& args, void* out,
                        const StridedView& vout, float scale, cudaStream_t stream) {
  const int64_t n = view_numel(vout);
  if (n == 0) return cudaSuccess;
  if (args.count < 1 || args.count > kMaxNary ||
      (op != BinaryOp::kAdd && op != BinaryOp::kMax && op != BinaryOp::kMin)) {
    return cudaErrorInvalidValue;
  }
  if (type == Elt::kBool) return cudaErrorInvalidValue;
  return dispatch_any(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) {
      return cudaErrorInvalidValue;
    } else {
      nary_kernel<T>
          <<<grid_for(n, 256), 256, 0, stream>>>(op, args, static_cast<T*>(out), vout, scale, n);
      return cudaGetLastError();
    }
  });
}

cudaError_t launch_bit_shift(int elem_bytes, bool left, const void* a, const StridedView& va,
                             const void* b, const StridedView& vb, void* out,
                             const StridedView& vout, cudaStream_t stream) {
  const int64_t n = view_numel(vout);
  if (n == 0) return cudaSuccess;
  auto run = [&](auto tag) {
    using U = decltype(tag);
    bit_shift_kernel<U><<<grid_for(n, 256), 256, 0, stream>>>(
        left, static_cast<const U*>(a), va, static_cast<const U*>(b), vb, static_cast<U*>(out), n);
    return cudaGetLastError();
  };
  switch (elem_bytes) {
    case 1:
      return run(uint8_t{});
    case 2:
      return run(uint16_t{});
    case 4:
      return run(uint32_t{});
    case 8:
      return run(uint64_t{});
    default:
      return cudaErrorInvalidValue;
  }
}

cudaError_t launch_unary(UnaryOp op, Elt in_type, Elt out_type, const void* in, void* out,
                         int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (op == UnaryOp::kNot) {
    if (in_type != Elt::kBool) return cudaErrorInvalidValue;
    not_kernel<<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const bool*>(in),
                                                     static_cast<bool*>(out), n);
    return cudaGetLastError();
  }
  return dispatch_float(in_type, [&](auto tag) {
    using T = decltype(tag);
    if (op == UnaryOp::kIsNaN) {
      isnan_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const T*>(in),
                                                            static_cast<bool*>(out), n);
    } else {
      if (out_type != in_type) return cudaErrorInvalidValue;
      if (launch_activation_vec<T>(op, static_cast<const T*>(in), static_cast<T*>(out), n,
                                   stream)) {
        return cudaGetLastError();
      }
      unary_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(op, static_cast<const T*>(in),
                                                            static_cast<T*>(out), n);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_unary_params(UnaryOp op, Elt type, const void* in, void* out, int64_t n,
                                float alpha, float beta, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    if (op == UnaryOp::kIsInf) {
      isinf_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(
          static_cast<const T*>(in), static_cast<bool*>(out), n, alpha != 0.0f, beta != 0.0f);
      return cudaGetLastError();
    }
    unary_param_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(
        op, static_cast<const T*>(in), static_cast<T*>(out), n, alpha, beta);
    return cudaGetLastError();
  });
}

cudaError_t launch_where(Elt type, const void* cond, const StridedView& vc, const void* x,
                         const StridedView& vx, const void* y, const StridedView& vy, void* out,
                         const StridedView& vout, cudaStream_t stream) {
  const int64_t n = view_numel(vout);
  if (n == 0) return cudaSuccess;
  StridedView c = vc, xv = vx, yv = vy, ov = vout;
  StridedView* views[] = {&c, &xv, &yv, &ov};
  coalesce(views, 4);
  return dispatch_any(type, [&](auto tag) {
    using T = decltype(tag);
    where_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(
        static_cast<const bool*>(cond), c, static_cast<const T*>(x), xv, static_cast<const T*>(y),
        yv, static_cast<T*>(out), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_cast_8bit(bool to_8bit, bool signed8, Elt other, bool other8, const void* in,
                             void* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  auto run = [&](auto ftag, auto ttag) {
    using F = decltype(ftag);
    using T = decltype(ttag);
    cast_kernel<F, T>
        <<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const F*>(in), static_cast<T*>(out), n);
    return cudaGetLastError();
  };
  auto with_8bit = [&](auto otag) {
    if (signed8) return to_8bit ? run(otag, int8_t{}) : run(int8_t{}, otag);
    return to_8bit ? run(otag, uint8_t{}) : run(uint8_t{}, otag);
  };
  if (other8) return signed8 ? with_8bit(uint8_t{}) : with_8bit(int8_t{});
  return dispatch_any(other, with_8bit);
}

cudaError_t launch_cast(Elt from, Elt to, const void* in, void* out, int64_t n,
                        cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch_any(from, [&](auto ftag) {
    using F = decltype(ftag);
    return dispatch_any(to, [&](auto ttag) {
      using T = decltype(ttag);
      cast_kernel<F, T><<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const F*>(in),
                                                              static_cast<T*>(out), n);
      return cudaGetLastError();
    });
  });
}

}  // namespace vitrt::cuda
