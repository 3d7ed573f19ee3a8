// Strided copies (the engine of Transpose, Slice, Expand, DepthToSpace) and small helpers of
// the data-movement kernels.
#include "cpu/data_movement.h"

#include <algorithm>
#include <cstring>

#include "core/half.h"
#include "core/parallel.h"

namespace vitrt {

namespace {

// Elements per parallel chunk: below this, threading costs more than it saves.
constexpr int64_t kParallelGrainElements = 1 << 15;
// Square tiles for the cache-blocked 2-D transpose: a 32x32 tile of 8-byte elements is 8 KiB,
// so source and destination tiles stay in L1.
constexpr int64_t kTile = 32;

struct Layout {
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
};

// Drops size-1 dims and merges dims that are contiguous with each other in the source; an
// empty shape afterwards means a single element.
Layout coalesce(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  Layout l;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!l.shape.empty() && l.strides.back() == strides[i] * shape[i]) {
      l.shape.back() *= shape[i];
      l.strides.back() = strides[i];
      continue;
    }
    l.shape.push_back(shape[i]);
    l.strides.push_back(strides[i]);
  }
  return l;
}

// Source offset of outer row `row` (an index over all dims but the last `inner_dims`).
int64_t row_offset(const Layout& l, int inner_dims, int64_t row) {
  int64_t offset = 0;
  for (int d = static_cast<int>(l.shape.size()) - 1 - inner_dims; d >= 0; --d) {
    offset += (row % l.shape[d]) * l.strides[d];
    row /= l.shape[d];
  }
  return offset;
}

template <typename T>
void copy_rows(const T* in, const Layout& l, T* out) {
  const int rank = static_cast<int>(l.shape.size());
  const int64_t len = l.shape.back();
  const int64_t stride = l.strides.back();
  int64_t rows = 1;
  for (int d = 0; d + 1 < rank; ++d) rows *= l.shape[d];
  parallel_for(rows, std::max<int64_t>(1, kParallelGrainElements / len),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   const T* src = in + row_offset(l, 1, r);
                   T* dst = out + r * len;
                   if (stride == 1) {
                     std::memcpy(dst, src, static_cast<size_t>(len) * sizeof(T));
                   } else if (stride == 0) {
                     std::fill(dst, dst + len, *src);
                   } else {
                     for (int64_t i = 0; i < len; ++i) dst[i] = src[i * stride];
                   }
                 }
               });
}

// The innermost two output dims are a transpose of the source's contiguous dim: out[a][b] =
// src[a + b * stride]. Copies tile by tile so both sides stay in cache.
template <typename T>
void copy_transposed(const T* in, const Layout& l, T* out) {
  const int rank = static_cast<int>(l.shape.size());
  const int64_t rows_a = l.shape[rank - 2];
  const int64_t cols_b = l.shape[rank - 1];
  const int64_t stride_b = l.strides[rank - 1];
  int64_t batches = 1;
  for (int d = 0; d + 2 < rank; ++d) batches *= l.shape[d];
  const int64_t tiles_a = (rows_a + kTile - 1) / kTile;
  const int64_t grain = std::max<int64_t>(1, kParallelGrainElements / (kTile * cols_b));
  parallel_for(batches * tiles_a, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t batch = t / tiles_a;
      const int64_t a0 = (t % tiles_a) * kTile;
      const int64_t a1 = std::min(a0 + kTile, rows_a);
      const T* src = in + row_offset(l, 2, batch);
      T* dst = out + batch * rows_a * cols_b;
      for (int64_t b0 = 0; b0 < cols_b; b0 += kTile) {
        const int64_t b1 = std::min(b0 + kTile, cols_b);
        for (int64_t b = b0; b < b1; ++b) {
          const T* s = src + b * stride_b;
          for (int64_t a = a0; a < a1; ++a) dst[a * cols_b + b] = s[a];
        }
      }
    }
  });
}

}  // namespace

void strided_copy(const void* in, const std::vector<int64_t>& in_strides, void* out,
                  const std::vector<int64_t>& shape, size_t element_size) {
  if (shape_numel(shape) == 0) return;
  const Layout l = coalesce(shape, in_strides);
  if (l.shape.empty()) {
    std::memcpy(out, in, element_size);
    return;
  }
  const int rank = static_cast<int>(l.shape.size());
  const bool transposed =
      rank >= 2 && l.strides[rank - 2] == 1 && l.strides[rank - 1] != 1 && l.strides[rank - 1] != 0;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(in);
    T* dst = static_cast<T*>(out);
    if (transposed) {
      copy_transposed(src, l, dst);
    } else {
      copy_rows(src, l, dst);
    }
  };
  switch (element_size) {
    case 1:
      run(uint8_t{});
      break;
    case 2:
      run(uint16_t{});
      break;
    case 4:
      run(uint32_t{});
      break;
    default:
      run(uint64_t{});
      break;
  }
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * shape[i + 1];
  }
  return strides;
}

Tensor transpose_tensor(const Tensor& in, const std::vector<int>& perm) {
  const std::vector<int64_t> in_strides = contiguous_strides(in.shape());
  std::vector<int64_t> out_shape;
  std::vector<int64_t> strides;
  for (int p : perm) {
    out_shape.push_back(in.dim(p));
    strides.push_back(in_strides[p]);
  }
  Tensor out = Tensor::empty(in.dtype(), out_shape);
  strided_copy(in.raw_data(), strides, out.raw_data(), out_shape, dtype_size(in.dtype()));
  return out;
}

Result<std::vector<int64_t>> read_int_tensor(const Tensor* t, const char* what) {
  if (t == nullptr) return invalid_argument(what, " is missing");
  const int64_t n = t->numel();
  std::vector<int64_t> out(static_cast<size_t>(n));
  if (t->dtype() == DType::kInt64) {
    if (n) std::memcpy(out.data(), t->raw_data(), static_cast<size_t>(n) * sizeof(int64_t));
  } else if (t->dtype() == DType::kInt32) {
    const int32_t* p = t->data<int32_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = p[i];
  } else {
    return invalid_argument(what, " must be int64 or int32, got ", t->describe());
  }
  return out;
}

void store_scalar(DType dtype, double value, void* dst) {
  auto put = [dst](auto v) { std::memcpy(dst, &v, sizeof(v)); };
  switch (dtype) {
    case DType::kFloat32:
      put(static_cast<float>(value));
      break;
    case DType::kFloat64:
      put(value);
      break;
    case DType::kFloat16:
      put(float_to_half(static_cast<float>(value)));
      break;
    case DType::kBFloat16:
      put(float_to_bf16(static_cast<float>(value)));
      break;
    case DType::kInt8:
      put(static_cast<int8_t>(value));
      break;
    case DType::kUInt8:
      put(static_cast<uint8_t>(value));
      break;
    case DType::kBool:
      put(static_cast<uint8_t>(value != 0.0));
      break;
    case DType::kInt16:
      put(static_cast<int16_t>(value));
      break;
    case DType::kUInt16:
      put(static_cast<uint16_t>(value));
      break;
    case DType::kInt32:
      put(static_cast<int32_t>(value));
      break;
    case DType::kUInt32:
      put(static_cast<uint32_t>(value));
      break;
    case DType::kInt64:
      put(static_cast<int64_t>(value));
      break;
    case DType::kUInt64:
      put(static_cast<uint64_t>(value));
      break;
    default:
      break;
  }
}

}  // namespace vitrt
