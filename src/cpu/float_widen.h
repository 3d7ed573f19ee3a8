// float16/bfloat16 <-> float32 tensor conversion for kernels that compute half types in float.
//
// Reduction and normalization kernels run their float32 code on a widened copy and narrow the
// result once: the arithmetic then matches the float32 path exactly and each kernel has one
// implementation per accumulation type.
#pragma once

#include <cstdint>

#include "core/half.h"
#include "core/parallel.h"
#include "vitrt/tensor.h"

namespace vitrt {

inline bool dtype_is_half(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16;
}

// A float32 copy of a float16 or bfloat16 tensor.
inline Tensor widen_to_float32(const Tensor& t) {
  Tensor out = Tensor::empty(DType::kFloat32, t.shape());
  const uint16_t* src = t.data<uint16_t>();
  float* dst = out.data<float>();
  const bool is_bf16 = t.dtype() == DType::kBFloat16;
  parallel_for(t.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    if (is_bf16) {
      for (int64_t i = begin; i < end; ++i) dst[i] = bf16_to_float(src[i]);
    } else {
      for (int64_t i = begin; i < end; ++i) dst[i] = half_to_float(src[i]);
    }
  });
  return out;
}

// A float16 or bfloat16 (`dtype`) copy of a float32 tensor, rounded to nearest even.
inline Tensor narrow_from_float32(const Tensor& t, DType dtype) {
  Tensor out = Tensor::empty(dtype, t.shape());
  const float* src = t.data<float>();
  uint16_t* dst = out.data<uint16_t>();
  const bool is_bf16 = dtype == DType::kBFloat16;
  parallel_for(t.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    if (is_bf16) {
      for (int64_t i = begin; i < end; ++i) dst[i] = float_to_bf16(src[i]);
    } else {
      for (int64_t i = begin; i < end; ++i) dst[i] = float_to_half(src[i]);
    }
  });
  return out;
}

}  // namespace vitrt
