// Trilu, EyeLike, OneHot, ScatterElements (and opset 9's Scatter) and ScatterND.
#include <cstdint>
#include <type_traits>

#include "cuda/device_common.cuh"

namespace vitrt::cuda {
namespace {

// A type of `bytes` bytes: Trilu moves elements without reading them as numbers.
template <int kBytes>
struct Bits;
template <>
struct Bits<1> {
  using type = uint8_t;
};
template <>
struct Bits<2> {
  using type = uint16_t;
};
template <>
struct Bits<4> {
  using type = uint32_t;
};
template <>
struct Bits<8> {
  using type = uint64_t;
};

template <typename F>
cudaError_t dispatch_bytes(int bytes, F&& f) {
  switch (bytes) {
    case 1:
      return f(Bits<1>::type{});
    case 2:
      return f(Bits<2>::type{});
    case 4:
      return f(Bits<4>::type{});
    case 8:
      return f(Bits<8>::type{});
    default:
      return cudaErrorInvalidValue;
  }
}

template <typename U>
__global__ void trilu_kernel(const U* in, U* out, int64_t rows, int64_t cols, bool upper, int64_t k,
                             int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const int64_t j = i % cols, r = (i / cols) % rows;
    const bool keep = upper ? j - r >= k : j - r <= k;
    out[i] = keep ? in[i] : U(0);  // zero bits are zero in every type
  }
}

template <typename T>
__device__ __forceinline__ T one_of() {
  if constexpr (kIsFloat<T>) {
    return from_f<T>(1.0f);
  } else {
    return T(1);
  }
}

template <typename T>
__global__ void eye_like_kernel(T* out, int64_t cols, int64_t k, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const int64_t j = i % cols, r = i / cols;
    out[i] = j - r == k ? one_of<T>() : T{};
  }
}

// An index element as int64: floats truncate toward zero, as ONNX OneHot specifies.
template <typename I>
__device__ __forceinline__ int64_t index_at(const I* p, int64_t i) {
  if constexpr (kIsFloat<I>) {
    return static_cast<int64_t>(to_f(p[i]));
  } else {
    return static_cast<int64_t>(p[i]);
  }
}

template <typename I, typename T>
__global__ void one_hot_kernel(const I* indices, const T* values, T* out, int64_t depth,
                               int64_t inner, int64_t n) {
  VITRT_GRID_STRIDE(e, n) {
    const int64_t i = e % inner, d = (e / inner) % depth, o = e / (inner * depth);
    int64_t v = index_at(indices, o * inner + i);
    if (v < 0) v += depth;
    out[e] = values[v == d ? 1 : 0];
  }
}

template <typename F>
cudaError_t dispatch_index(Elt t, F&& f) {
  switch (t) {
    case Elt::kI64:
      return f(int64_t{});
    case Elt::kI32:
      return f(int32_t{});
    default:
      return dispatch_float(t, f);
  }
}

// dst = reduce(dst, src) as the CPU kernel: floats in fp32, integers in their own type.
template <typename T>
__device__ __forceinline__ void scatter_apply(T* dst, T src, ScatterReduction r) {
  if constexpr (std::is_same<T, bool>::value) {
    *dst = src;
  } else if constexpr (kIsFloat<T>) {
    const float a = to_f(*dst), b = to_f(src);
    float v = b;
    switch (r) {
      case ScatterReduction::kAdd:
        v = a + b;
        break;
      case ScatterReduction::kMul:
        v = a * b;
        break;
      case ScatterReduction::kMax:
        v = a < b ? b : a;  // std::max(a, b)
        break;
      case ScatterReduction::kMin:
        v = b < a ? b : a;  // std::min(a, b)
        break;
      case ScatterReduction::kNone:
        break;
    }
    *dst = from_f<T>(v);
  } else {
    const T a = *dst;
    switch (r) {
      case ScatterReduction::kAdd:
        *dst = static_cast<T>(a + src);
        break;
      case ScatterReduction::kMul:
        *dst = static_cast<T>(a * src);
        break;
      case ScatterReduction::kMax:
        *dst = a < src ? src : a;
        break;
      case ScatterReduction::kMin:
        *dst = src < a ? src : a;
        break;
      case ScatterReduction::kNone:
        *dst = src;
        break;
    }
  }
}

// One thread per line of the indices along the axis, walking it in index order: lines never
// write the same element (they differ outside the axis), so the result is the CPU kernel's,
// duplicates included.
template <typename T, typename I>
__global__ void scatter_elements_kernel(T* out, const I* indices, const T* updates,
                                        ScatterElementsArgs a, ScatterReduction r, int64_t lines,
                                        IndexError err) {
  VITRT_GRID_STRIDE(line, lines) {
    int64_t rem = line, idx_base = 0, out_base = 0, idx_stride = 1;
    int64_t idx_axis_stride = 1;
    for (int d = a.rank - 1; d >= 0; --d) {
      if (d == a.axis) {
        idx_axis_stride = idx_stride;
      } else {
        const int64_t c = rem % a.idx_dims[d];
        rem /= a.idx_dims[d];
        idx_base += c * idx_stride;
        out_base += c * a.out_strides[d];
      }
      idx_stride *= a.idx_dims[d];
    }
    const int64_t len = a.idx_dims[a.axis], dim = a.out_dims[a.axis];
    for (int64_t j = 0; j < len; ++j) {
      const int64_t f = idx_base + j * idx_axis_stride;
      int64_t v = static_cast<int64_t>(indices[f]);
      if (v < 0) v += dim;
      if (v < 0 || v >= dim) {  // the CPU kernel refuses; here the run fails after it ends
        report_index_error(err);
        continue;
      }
      scatter_apply(out + out_base + v * a.out_strides[a.axis], updates[f], r);
    }
  }
}

// One thread per element of a slice, walking the tuples in order (the CPU kernel's order).
template <typename T>
__global__ void scatter_nd_kernel(T* out, const int64_t* indices, const T* updates, ScatterNdArgs a,
                                  ScatterReduction r, IndexError err) {
  VITRT_GRID_STRIDE(s, a.slice) {
    for (int64_t t = 0; t < a.n_tuples; ++t) {
      int64_t off = 0;
      bool valid = true;
      for (int64_t j = 0; j < a.k; ++j) {
        int64_t v = indices[t * a.k + j];
        if (v < 0) v += a.dims[j];
        valid = valid && v >= 0 && v < a.dims[j];
        off += v * a.strides[j];
      }
      if (valid) {
        scatter_apply(out + off + s, updates[t * a.slice + s], r);
      } else {
        report_index_error(err);
      }
    }
  }
}

}  // namespace

cudaError_t launch_trilu(int elem_bytes, const void* in, void* out, int64_t n, int64_t rows,
                         int64_t cols, bool upper, int64_t k, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return dispatch_bytes(elem_bytes, [&](auto tag) {
    using U = decltype(tag);
    trilu_kernel<U><<<grid_for(n, 256), 256, 0, stream>>>(
        static_cast<const U*>(in), static_cast<U*>(out), rows, cols, upper, k, n);
    return cudaGetLastError();
  });
}

cudaError_t launch_eye_like(Elt type, void* out, int64_t rows, int64_t cols, int64_t k,
                            cudaStream_t stream) {
  const int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  return dispatch_any(type, [&](auto tag) {
    using T = decltype(tag);
    eye_like_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(static_cast<T*>(out), cols, k, n);
    return cudaGetLastError();
  });
}

cudaError_t launch_one_hot(Elt index_type, Elt type, const void* indices, const void* values,
                           void* out, int64_t outer, int64_t depth, int64_t inner,
                           cudaStream_t stream) {
  const int64_t n = outer * depth * inner;
  if (n == 0) return cudaSuccess;
  return dispatch_index(index_type, [&](auto itag) {
    using I = decltype(itag);
    return dispatch_any(type, [&](auto tag) {
      using T = decltype(tag);
      one_hot_kernel<I, T><<<grid_for(n, 256), 256, 0, stream>>>(
          static_cast<const I*>(indices), static_cast<const T*>(values), static_cast<T*>(out),
          depth, inner, n);
      return cudaGetLastError();
    });
  });
}

cudaError_t launch_scatter_elements(Elt type, ScatterReduction r, void* out, const void* indices,
                                    bool indices_i64, const void* updates,
                                    const ScatterElementsArgs& args, IndexError err,
                                    cudaStream_t stream) {
  if (args.axis < 0 || args.axis >= args.rank) return cudaErrorInvalidValue;
  int64_t total = 1;
  for (int d = 0; d < args.rank; ++d) total *= args.idx_dims[d];
  if (total == 0) return cudaSuccess;
  const int64_t lines = total / args.idx_dims[args.axis];
  return dispatch_any(type, [&](auto tag) {
    using T = decltype(tag);
    if (indices_i64) {
      scatter_elements_kernel<T, int64_t><<<grid_for(lines, 128), 128, 0, stream>>>(
          static_cast<T*>(out), static_cast<const int64_t*>(indices),
          static_cast<const T*>(updates), args, r, lines, err);
    } else {
      scatter_elements_kernel<T, int32_t><<<grid_for(lines, 128), 128, 0, stream>>>(
          static_cast<T*>(out), static_cast<const int32_t*>(indices),
          static_cast<const T*>(updates), args, r, lines, err);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_scatter_nd(Elt type, ScatterReduction r, void* out, const void* indices,
                              const void* updates, const ScatterNdArgs& args, IndexError err,
                              cudaStream_t stream) {
  if (args.slice * args.n_tuples == 0) return cudaSuccess;
  return dispatch_any(type, [&](auto tag) {
    using T = decltype(tag);
    scatter_nd_kernel<T><<<grid_for(args.slice, 128), 128, 0, stream>>>(
        static_cast<T*>(out), static_cast<const int64_t*>(indices), static_cast<const T*>(updates),
        args, r, err);
    return cudaGetLastError();
  });
}

}  // namespace vitrt::cuda
