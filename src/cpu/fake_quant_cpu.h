// Fake quantization of float32 values on the CPU, bit for bit what vitrt's QuantizeLinear and
// DequantizeLinear kernels compute (ir/fake_quant.h has the arithmetic): vitrt.FakeQuant
// (qdq.cc) and the fake-quantized addends and sum of vitrt.AddLayerNorm (fused_norm.cc).
#pragma once

#include <cmath>
#include <limits>

#include "ir/fake_quant.h"

namespace vitrt {

// Below this magnitude x is taken as a signed 0 before fake_quant (0 when nothing is): subnormal
// x becomes 0 first, as in quantize_per_tensor (x86 divides them in microcode). Exact for scales
// above 2^-125, where |x / scale| < 0.5 rounds to 0, and for FP8 above 2^-100 (|x / scale| below
// half the smallest E4M3 / E5M2 step, 2^-10 / 2^-17), where the zero keeps x's sign as the FP8
// code does.
inline float fake_quant_flush_below(const FakeQuant& f) {
  const bool fp8 = f.kind != kFakeQuantInteger;
  return f.scale > (fp8 ? 0x1p-100f : 0x1p-125f) ? std::numeric_limits<float>::min() : 0.0f;
}

// fake_quant(x, f) with x below `flush_below` (fake_quant_flush_below(f)) taken as 0.
inline float cpu_fake_quant(float x, const FakeQuant& f, float flush_below) {
  return fake_quant(std::fabs(x) < flush_below ? std::copysign(0.0f, x) : x, f);
}

}  // namespace vitrt
