// Exact integer matrix products on any CPU: the general path of MatMulInteger / ConvInteger
// and of vitrt.QuantLinear's int8 layers where oneDNN's int8 product is not exact (no VNNI).
#pragma once

#include <cstdint>

namespace vitrt {

// c[m x n] = a[m x k] . b[k x n], row-major, int16 operands, int32 sums: exact while k times the
// largest |a| * |b| stays below 2^31 (|operands| <= 255: k up to 33,000; 8-bit zero-point
// differences times int8 weights, |a| <= 255 and |b| <= 128: k up to 65,791). In parallel.
void gemm_i16(int64_t m, int64_t k, int64_t n, const int16_t* a, const int16_t* b, int32_t* c);

}  // namespace vitrt
