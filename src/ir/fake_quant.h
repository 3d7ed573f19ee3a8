// Fake quantization: QuantizeLinear followed by DequantizeLinear with the same per-tensor scale
// and zero point, as one float -> float step. Quantized ONNX models (ONNX Runtime's
// quantize_static in QDQ format, NVIDIA ModelOpt) put such pairs on the tensors inside
// attention: the scores before the softmax and the probabilities after it. vitrt.Attention
// takes them as the attributes quant_scores and quant_probs (fuse_attention), each the four
// floats [scale, zero_point, lo, hi] with lo and hi the 8-bit type's range (0, 255 for uint8;
// -128, 127 for int8):
//   fake_quant(x) = (clamp(round_half_even(x / scale) + zero_point, lo, hi) - zero_point) * scale
// with NaN giving 0, bit for bit what vitrt's QuantizeLinear and DequantizeLinear kernels
// compute in float32. Host and device code share this header.
#pragma once

#include <cmath>
#include <optional>
#include <vector>

#ifdef __CUDACC__
#define VITRT_HOST_DEVICE __host__ __device__
#else
#define VITRT_HOST_DEVICE
#endif

namespace vitrt {

struct FakeQuant {
  float scale = 1.0f;
  float zero_point = 0.0f;
  float lo = 0.0f;
  float hi = 255.0f;
};

VITRT_HOST_DEVICE inline float fake_quant(float x, const FakeQuant& f) {
  // rint rounds half to even in the default rounding mode, as QuantizeLinear asks.
  float q = rintf(x / f.scale) + f.zero_point;
  q = q < f.lo ? f.lo : q;
  q = q > f.hi ? f.hi : q;
  q = q == q ? q : f.zero_point;  // NaN
  return (q - f.zero_point) * f.scale;
}

// The same with x * inv_scale (inv_scale = 1 / scale) for the tensor-core attention kernels,
// which compute in fp16/bf16 anyway: it differs from x / scale by at most one ulp, so only a
// value within an ulp of a step boundary may land on the other step, and it spares the division
// on every score and probability.
VITRT_HOST_DEVICE inline float fake_quant_by_inverse(float x, const FakeQuant& f, float inv_scale) {
  float q = rintf(x * inv_scale) + f.zero_point;
  q = q < f.lo ? f.lo : q;
  q = q > f.hi ? f.hi : q;
  q = q == q ? q : f.zero_point;  // NaN
  return (q - f.zero_point) * f.scale;
}

// The attribute's four floats as a FakeQuant, or nullopt with `error` set when they are not a
// finite scale > 0, an integral range lo < hi within [-128, 255] and an integral zero point
// inside it.
inline std::optional<FakeQuant> fake_quant_from_floats(const std::vector<float>& v,
                                                       const char** error) {
  *error = nullptr;
  if (v.size() != 4) {
    *error = "must be four floats [scale, zero_point, lo, hi]";
    return std::nullopt;
  }
  const FakeQuant f{v[0], v[1], v[2], v[3]};
  const auto integral = [](float x) { return std::isfinite(x) && std::nearbyint(x) == x; };
  if (!(f.scale > 0.0f) || !std::isfinite(f.scale)) {
    *error = "scale (element 0) must be a finite float > 0";
  } else if (!integral(f.lo) || !integral(f.hi) || f.lo >= f.hi || f.lo < -128.0f ||
             f.hi > 255.0f) {
    *error = "lo and hi (elements 2, 3) must be integers with -128 <= lo < hi <= 255";
  } else if (!integral(f.zero_point) || f.zero_point < f.lo || f.zero_point > f.hi) {
    *error = "zero_point (element 1) must be an integer within [lo, hi]";
  }
  if (*error != nullptr) return std::nullopt;
  return f;
}

}  // namespace vitrt
