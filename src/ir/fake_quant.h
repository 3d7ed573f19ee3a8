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
//
// FP8 pairs (QuantizeLinear to float8e4m3fn / float8e5m2, saturate=1, zero point 0, as NVIDIA
// ModelOpt writes them for Hopper) carry a fifth float, the kind: 1 for E4M3, 2 for E5M2, with
// zero_point 0 and lo, hi = -max, max of the format (448, 57344):
//   fake_quant(x) = nearest_fp8(x / scale) * scale
// the nearest value of the format, ties to even, saturating at +-max, NaN kept (what ONNX's
// QuantizeLinear and DequantizeLinear give, and src/core/float8.h's codes decode to).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#ifdef __CUDACC__
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#define VITRT_HOST_DEVICE __host__ __device__
#else
#define VITRT_HOST_DEVICE
#endif

namespace vitrt {

enum FakeQuantKind : int { kFakeQuantInteger = 0, kFakeQuantE4M3 = 1, kFakeQuantE5M2 = 2 };

struct FakeQuant {
  float scale = 1.0f;
  float zero_point = 0.0f;
  float lo = 0.0f;
  float hi = 255.0f;
  int kind = kFakeQuantInteger;
};

// The largest finite magnitude of an FP8 kind: 448 (E4M3) or 57344 (E5M2).
VITRT_HOST_DEVICE constexpr float fp8_max(int kind) {
  return kind == kFakeQuantE4M3 ? 448.0f : 57344.0f;
}

// The FP8 fake quantization of `kind` with `scale`: zero point 0, range the format's.
VITRT_HOST_DEVICE constexpr FakeQuant fp8_fake_quant(float scale, int kind) {
  return {scale, 0.0f, -fp8_max(kind), fp8_max(kind), kind};
}

namespace fake_quant_detail {
VITRT_HOST_DEVICE inline uint32_t bits_of(float x) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(x);
#else
  uint32_t u;
  std::memcpy(&u, &x, sizeof(u));
  return u;
#endif
}
VITRT_HOST_DEVICE inline float float_of(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof(x));
  return x;
#endif
}
}  // namespace fake_quant_detail

// The nearest value of v in FP8 E4M3 (kind 1) or E5M2 (kind 2): ties to even, saturating at
// +-448 / +-57344, NaN kept; exactly the decoded code of src/core/float8.h's encoders.
//
// On sm_89 and later the GPU converts in hardware (cvt with .satfinite: nearest even, +-max for
// anything beyond, NaN kept), the same values in three instructions instead of about fifteen.
VITRT_HOST_DEVICE inline float round_to_fp8(float v, int kind) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  const __nv_fp8_interpretation_t format = kind == kFakeQuantE4M3 ? __NV_E4M3 : __NV_E5M2;
  // Every E4M3 and E5M2 value is a half, so the way back is exact.
  return __half2float(
      __half(__nv_cvt_fp8_to_halfraw(__nv_cvt_float_to_fp8(v, __NV_SATFINITE, format), format)));
#else
  if (v != v) return v;
  const bool e4m3 = kind == kFakeQuantE4M3;
  const float max = fp8_max(kind);
  const float smallest_normal = e4m3 ? 0x1p-6f : 0x1p-14f;
  float a = fabsf(v);
  a = a < max ? a : max;
  float q;
  if (a < smallest_normal) {
    // Subnormals: multiples of 2^-9 (2^-16). a / step < 8 is exact, and adding 2^23 rounds it
    // to an integer, ties to even.
    const float steps = e4m3 ? 512.0f : 65536.0f;
    q = ((a * steps + 0x1p23f) - 0x1p23f) / steps;
  } else {
    // Normals: keep 3 (2) of float's 23 mantissa bits, rounding to nearest even on the bits; a
    // carry into the exponent is the round-up to the next power of two. a <= max keeps the
    // result at most max.
    const int drop = e4m3 ? 20 : 21;
    const uint32_t half = (1u << (drop - 1)) - 1u;
    const uint32_t b = fake_quant_detail::bits_of(a);
    q = fake_quant_detail::float_of((b + half + ((b >> drop) & 1u)) & ~((1u << drop) - 1u));
  }
  return (fake_quant_detail::bits_of(v) >> 31) != 0u ? -q : q;
#endif
}

// The fake quantization of x given r = x / scale, however the caller computed it.
VITRT_HOST_DEVICE inline float fake_quant_of_ratio(float r, const FakeQuant& f) {
  if (f.kind != kFakeQuantInteger) return round_to_fp8(r, f.kind) * f.scale;
  // rint rounds half to even in the default rounding mode, as QuantizeLinear asks.
  float q = rintf(r) + f.zero_point;
  q = q < f.lo ? f.lo : q;
  q = q > f.hi ? f.hi : q;
  q = q == q ? q : f.zero_point;  // NaN
  return (q - f.zero_point) * f.scale;
}

VITRT_HOST_DEVICE inline float fake_quant(float x, const FakeQuant& f) {
  return fake_quant_of_ratio(x / f.scale, f);
}

// The same with x * inv_scale (inv_scale = 1 / scale) for the tensor-core attention kernels,
// which compute in fp16/bf16 anyway: it differs from x / scale by at most one ulp, so only a
// value within an ulp of a step boundary may land on the other step, and it spares the division
// on every score and probability.
VITRT_HOST_DEVICE inline float fake_quant_by_inverse(float x, const FakeQuant& f, float inv_scale) {
  return fake_quant_of_ratio(x * inv_scale, f);
}

// The attribute's floats for `f`: [scale, zero_point, lo, hi], and the kind for FP8.
inline std::vector<float> fake_quant_floats(const FakeQuant& f) {
  if (f.kind == kFakeQuantInteger) return {f.scale, f.zero_point, f.lo, f.hi};
  return {f.scale, f.zero_point, f.lo, f.hi, static_cast<float>(f.kind)};
}

// The attribute's four floats (five for FP8) as a FakeQuant, or nullopt with `error` set when
// they are not a finite scale > 0, an integral range lo < hi within [-128, 255] and an integral
// zero point inside it (FP8: zero point 0 and the format's range).
inline std::optional<FakeQuant> fake_quant_from_floats(const std::vector<float>& v,
                                                       const char** error) {
  *error = nullptr;
  if (v.size() != 4 && v.size() != 5) {
    *error = "must be four floats [scale, zero_point, lo, hi] (five for FP8: and kind 1 or 2)";
    return std::nullopt;
  }
  FakeQuant f{v[0], v[1], v[2], v[3]};
  const auto integral = [](float x) { return std::isfinite(x) && std::nearbyint(x) == x; };
  if (v.size() == 5) {
    if (v[4] != 1.0f && v[4] != 2.0f) {
      *error = "kind (element 4) must be 1 (FP8 E4M3) or 2 (FP8 E5M2)";
      return std::nullopt;
    }
    f.kind = static_cast<int>(v[4]);
  }
  if (!(f.scale > 0.0f) || !std::isfinite(f.scale)) {
    *error = "scale (element 0) must be a finite float > 0";
  } else if (f.kind != kFakeQuantInteger) {
    if (f.zero_point != 0.0f || f.lo != -fp8_max(f.kind) || f.hi != fp8_max(f.kind)) {
      *error = "an FP8 kind needs zero_point 0 and lo, hi = -max, max of the format";
    }
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
