// Fake quantization on the GPU, shared by vitrt.FakeQuant (qdq.cu) and the fake-quantized
// addends and sum of vitrt.AddLayerNorm (normalization.cu). ir/fake_quant.h has the arithmetic.
#pragma once

#include <type_traits>

#include "ir/fake_quant.h"

namespace vitrt::cuda {

// fake_quant(x) of a value stored in T. fp32 divides by the scale as the CPU does (bit for bit);
// fp16/bf16, whose x is rounded to 16 bits already, multiply by its inverse
// (fake_quant_by_inverse: the division took a third of FakeQuant's time).
template <typename T>
__device__ __forceinline__ float fake_quant_of(float x, const FakeQuant& f, float inv_scale) {
  if constexpr (std::is_same_v<T, float>) {
    return fake_quant(x, f);
  } else {
    return fake_quant_by_inverse(x, f, inv_scale);
  }
}

}  // namespace vitrt::cuda
