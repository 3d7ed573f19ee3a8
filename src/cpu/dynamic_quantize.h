// DynamicQuantizeLinear's arithmetic (ONNX, opset 11), shared by its kernel and by the
// vitrt.QuantLinear layers that quantize their input per call (dynamic_input, what
// import_dynamic_quant makes of ONNX Runtime's quantize_dynamic chains), and its last step for
// any per-tensor 8-bit quantization (QuantizeLinear, QuantLinear's zero-point layers):
//   range  [min(0, min x), max(0, max x)]
//   scale  (max - min) / 255 in float32 (1 / 255 when the range is empty: x all 0)
//   zero   round_half_even(clamp(0 - min / scale, 0, 255))
//   y      saturate_uint8(round_half_even(x / scale) + zero)
#pragma once

#include <cstdint>

#include "vitrt/status.h"

namespace vitrt {

struct DynamicQuantization {
  float scale = 1.0f;
  uint8_t zero_point = 0;
};

// The scale and zero point of n values; an error when one of them is NaN (no range).
Result<DynamicQuantization> dynamic_quantization_of(const float* x, int64_t n);

// y[i] = saturate(round_half_even(x[i] / scale) + zero_point) into int8 or uint8, in parallel
// chunks of a loop the compiler vectorizes; NaN gives the zero point, as QuantizeLinear's and
// QuantLinear's quantizers do.
void quantize_per_tensor(const float* x, int64_t n, float scale, int32_t zero_point, int8_t* y);
void quantize_per_tensor(const float* x, int64_t n, float scale, int32_t zero_point, uint8_t* y);

// DynamicQuantizeLinear's y for the n values (dynamic_quantization_of refuses NaN before).
void quantize_dynamic_uint8(const float* x, int64_t n, const DynamicQuantization& q, uint8_t* y);

}  // namespace vitrt
