// The operands vitrt's CUTLASS GEMMs share (cutlass_int8.h, cutlass_fp8.h): 8-bit codes Xq [m, k]
// (rows ldx apart) and Wt [n, k] (rows k apart), per-column float alpha and bias [n] (bias may
// be null), an optional fp16 residual [m, n], and the output Y [m, n] (row-major; its element
// type is the form's). Host side only: no CUTLASS header needed.
#pragma once

#include <cstdint>

namespace vitrt::cuda {

template <typename Code>
struct CutlassGemmOperands {
  const Code* x = nullptr;
  int64_t ldx = 0;
  const Code* w = nullptr;
  const float* alpha = nullptr;
  const float* bias = nullptr;
  const void* residual = nullptr;  // fp16 [m, n] or null
  void* y = nullptr;
  int64_t m = 0, n = 0, k = 0;
};

}  // namespace vitrt::cuda
