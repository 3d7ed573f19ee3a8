// vitrt.QuantLinear on the CPU: the exact reference of the op (src/ir/ops/quant_linear.cc has
// the contract) and the pieces the fast path and other code share with it: attribute parsing
// and the activation quantizers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/float8.h"
#include "cpu/dnnl_matmul.h"
#include "ir/attribute.h"
#include "ir/fake_quant.h"

namespace vitrt {

enum class QuantFormat : uint8_t { kInt8, kFp8 };

struct QuantLinearParams {
  QuantFormat format = QuantFormat::kInt8;
  float input_scale = 1.0f;
  int32_t zero_point = 0;  // int8 only
  int32_t qmin = -127;
  int32_t qmax = 127;
  MatmulActivation activation = MatmulActivation::kNone;
  // > 0 writes Y as codes of y / output_scale: E4M3 (fp8), or int8 clamped to
  // [output_qmin, 127] (encode_int8_rows)
  float output_scale = 0.0f;
  int32_t output_qmin = -127;
  // int8 only: input_scale and zero_point are DynamicQuantizeLinear's of each run's X
  // (cpu/dynamic_quantize.h), qmin / qmax 0 / 255; set per run before the arithmetic below.
  bool dynamic_input = false;
};

// Reads and checks the node's attributes (format, input_scale, input_zero_point, input_qmin,
// input_qmax, activation, output_scale, dynamic_input); errors name the attribute. With
// dynamic_input, input_scale stays 1 and zero_point 0 until a run sets them.
Result<QuantLinearParams> parse_quant_linear_params(const Attributes& attrs);

// int8: xq - zero_point, where xq = clamp(round_half_even(x / input_scale) + zp, qmin, qmax).
// The quotient is an IEEE fp32 division and the rounding uses the default (nearest-even) mode.
// NaN quantizes to the zero point (0 after subtracting it), as a float-to-int conversion on
// the GPU (__float2int_rn) does; +-inf clamp to qmin / qmax.
inline int32_t quantize_int8(float x, const QuantLinearParams& p) {
  float q = x / p.input_scale;
  if (std::isnan(q)) return 0;
  q = std::nearbyint(q) + static_cast<float>(p.zero_point);
  if (q < static_cast<float>(p.qmin)) q = static_cast<float>(p.qmin);
  if (q > static_cast<float>(p.qmax)) q = static_cast<float>(p.qmax);
  return static_cast<int32_t>(q) - p.zero_point;
}

// quantize_int8 over n values into 8-bit integers (int8_t or uint8_t, whichever holds the
// range qmin - zp .. qmax - zp), written without branches so that the compiler vectorizes it:
// clamping rne(q) to [qmin - zp, qmax - zp] equals clamping rne(q) + zp to [qmin, qmax] and
// subtracting zp (all integers, exact in fp32).
//
// Subnormal inputs are replaced by 0 before the division: x86 divides them in microcode, ~20x
// slower, and GELU outputs are full of them (fc2's input took 11 ms instead of 1 on ViT-B).
// Exact for any input_scale above 2^-125: then |x / input_scale| < 0.5 rounds to 0 anyway.
template <typename Int>
void quantize_int8_rows(const float* x, int64_t n, const QuantLinearParams& p, Int* out) {
  const float lo = static_cast<float>(p.qmin - p.zero_point);
  const float hi = static_cast<float>(p.qmax - p.zero_point);
  const float scale = p.input_scale;
  const float tiny = scale > 0x1p-125f ? std::numeric_limits<float>::min() : 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::fabs(x[i]) < tiny ? 0.0f : x[i];
    float q = std::nearbyint(v / scale);
    q = q < lo ? lo : q;
    q = q > hi ? hi : q;
    q = q == q ? q : 0.0f;  // NaN
    out[i] = static_cast<Int>(static_cast<int32_t>(q));
  }
}

// fp8: the E4M3 code of x / input_scale (nearest even, saturating at +-448).
inline uint8_t quantize_fp8(float x, const QuantLinearParams& p) {
  return float_to_e4m3(x / p.input_scale);
}

// decode(quantize_fp8(x, p)) without the integer code, for the fp8 GEMM (which multiplies
// decoded values): the nearest E4M3 value of x / input_scale, ties to even, saturating at
// +-448, NaN kept (ir/fake_quant.h's round_to_fp8). `tiny` is fp8_flush_below(p).
//
// Subnormal x is replaced by 0 before the division: x86 divides it in microcode (~20x
// slower; GELU outputs are full of them), and for input_scale >= 2^-115 |x / input_scale|
// < 2^-11 rounds to 0 anyway (E4M3's smallest step is 2^-9).
inline float fp8_flush_below(const QuantLinearParams& p) {
  return p.input_scale >= 0x1p-115f ? std::numeric_limits<float>::min() : 0.0f;
}
inline float quantize_fp8_value(float x, const QuantLinearParams& p, float tiny) {
  return round_to_fp8(std::fabs(x) < tiny ? 0.0f : x / p.input_scale, kFakeQuantE4M3);
}

// The E4M3 code of a QuantLinear's output y with output_scale (the contract's
// e4m3(y / output_scale), the step quantize_fp8 takes with input_scale = output_scale).
inline uint8_t encode_fp8_output(float y, float output_scale) {
  return float_to_e4m3(y / output_scale);
}

// The int8 codes of n fp32 outputs y for a reader whose input_scale is `scale`, zero point 0,
// qmin `qmin` and qmax 127: clamp(round_half_even(y / scale), qmin, 127), quantize_int8_rows
// with those parameters (a QuantLinear's output_scale / output_qmin, an AddLayerNorm's int8
// output_format).
inline void encode_int8_rows(const float* y, int64_t n, float scale, int32_t qmin, int8_t* out) {
  QuantLinearParams q;
  q.input_scale = scale;
  q.qmin = qmin;
  q.qmax = 127;
  quantize_int8_rows(y, n, q, out);
}

// The fp8 case of quant_linear_reference, fast (src/cpu/quant_linear_fp8.cc): the same sums
// in the same order, blocked for the cache and the vector units. w_q holds E4M3 codes. With
// `codes` (p.output_scale > 0), each output is written there as encode_fp8_output of its fp32
// value, in the pass that adds the bias and applies the activation, and y is not written.
void quant_linear_fp8_rows(const QuantLinearParams& p, const float* x, int64_t m, int64_t k,
                           int64_t n, const uint8_t* w_q, const float* w_scale, const float* bias,
                           float* y, const float* residual = nullptr, uint8_t* codes = nullptr);
// The same with X already quantized: E4M3 codes written by the producer (codes in).
void quant_linear_fp8_code_rows(const QuantLinearParams& p, const uint8_t* x_codes, int64_t m,
                                int64_t k, int64_t n, const uint8_t* w_q, const float* w_scale,
                                const float* bias, float* y, const float* residual = nullptr,
                                uint8_t* codes = nullptr);

// act(v) computed in double and rounded to float: the reference of every backend's epilogue.
float apply_quant_linear_activation(MatmulActivation act, float v);

// Y[m, n] for rows X[m, k] (fp32, row-major [M, K]), W_q [K, N] (int8 values or E4M3 codes),
// w_scale [N], bias [N] or null, residual [M, N] or null (added after the bias, in fp32: the
// op allows it with activation none only). Plain loops, exactly as the contract states:
//   int8: acc = sum_k xq * W_q in int64 (exact), y = act(float(acc) * s_n + bias_n)
//   fp8:  acc = fp32 sum over k = 0..K-1 in order of float(xq) * float(W_q)
//         (each product is exact in fp32), y = act(acc * s_n + bias_n)
// with s_n = fp32(input_scale * w_scale[n]) and every step after the sum in fp32.
void quant_linear_reference(const QuantLinearParams& p, const float* x, int64_t m, int64_t k,
                            int64_t n, const void* w_q, const float* w_scale, const float* bias,
                            float* y, const float* residual = nullptr);

// The int8 reference's epilogue over exact int32 sums acc [m, n] (computed elsewhere: oneDNN
// without post-ops, gemm_i16): y = act(float(acc) * fp32(input_scale * w_scale[n]) + bias[n]
// (+ residual)), the same fp32 steps as quant_linear_reference. Rows in parallel.
void quant_linear_int8_finish(const QuantLinearParams& p, const int32_t* acc, int64_t m, int64_t n,
                              const float* w_scale, const float* bias, const float* residual,
                              float* y);

// The int8 reference from X already quantized: xq [m, k] int8 values (zero point 0: what the
// float entry computes after its quantize step), the same sums and epilogue.
void quant_linear_reference_int8_codes(const QuantLinearParams& p, const int8_t* xq, int64_t m,
                                       int64_t k, int64_t n, const int8_t* w_q,
                                       const float* w_scale, const float* bias, float* y,
                                       const float* residual = nullptr);

// The fp8 reference from X already quantized: xq [m, k] E4M3 codes (what the float entry
// computes after its quantize step), the same sums and epilogue.
void quant_linear_reference_fp8_codes(const QuantLinearParams& p, const uint8_t* xq, int64_t m,
                                      int64_t k, int64_t n, const uint8_t* w_q,
                                      const float* w_scale, const float* bias, float* y,
                                      const float* residual = nullptr);

}  // namespace vitrt
