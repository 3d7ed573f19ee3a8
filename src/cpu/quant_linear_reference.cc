// The reference of vitrt.QuantLinear: plain loops that follow the op's contract step by step.
// Every other implementation (the oneDNN int8 path beside it, the CUDA kernels) is tested
// against this one.
#include <algorithm>
#include <array>
#include <numbers>
#include <vector>

#include "core/parallel.h"
#include "cpu/quant_linear.h"

namespace vitrt {
namespace {

// The epilogue of output (i, j) of n columns: act(acc * scale + bias + residual), scale =
// input_scale * w_scale[j] (a residual comes with activation none only).
float finish_output(const QuantLinearParams& p, float acc, float scale, const float* bias,
                    const float* residual, int64_t i, int64_t j, int64_t n) {
  float v = acc * scale;
  if (bias != nullptr) v += bias[j];
  if (residual != nullptr) v += residual[i * n + j];
  return apply_quant_linear_activation(p.activation, v);
}

// The int8 reference from xq - zero_point [m, k]: exact int64 sums, then the epilogue.
template <typename Int>
void int8_reference_sums(const QuantLinearParams& p, const Int* xq, int64_t m, int64_t k, int64_t n,
                         const int8_t* w, const float* w_scale, const float* bias, float* y,
                         const float* residual) {
  std::vector<float> scale(n);
  for (int64_t j = 0; j < n; ++j) scale[j] = p.input_scale * w_scale[j];
  std::vector<int64_t> acc(n);
  for (int64_t i = 0; i < m; ++i) {
    std::fill(acc.begin(), acc.end(), 0);
    for (int64_t l = 0; l < k; ++l) {
      const int64_t v = xq[i * k + l];
      const int8_t* w_row = w + l * n;
      for (int64_t j = 0; j < n; ++j) acc[j] += v * w_row[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      y[i * n + j] =
          finish_output(p, static_cast<float>(acc[j]), scale[j], bias, residual, i, j, n);
    }
  }
}

}  // namespace

Result<QuantLinearParams> parse_quant_linear_params(const Attributes& attrs) {
  QuantLinearParams p;
  VITRT_ASSIGN_OR_RETURN(std::string format, attrs.get_string("format", ""));
  if (format == "int8") {
    p.format = QuantFormat::kInt8;
  } else if (format == "fp8") {
    p.format = QuantFormat::kFp8;
  } else {
    return invalid_argument("format '", format, "' is not one of int8, fp8");
  }
  VITRT_ASSIGN_OR_RETURN(int64_t dynamic, attrs.get_int("dynamic_input", 0));
  if (dynamic != 0 && dynamic != 1) {
    return invalid_argument("dynamic_input must be 0 or 1, got ", dynamic);
  }
  if (dynamic == 1) {
    if (p.format != QuantFormat::kInt8)
      return invalid_argument("dynamic_input applies to int8 only");
    for (const char* name :
         {"input_scale", "input_zero_point", "input_qmin", "input_qmax", "output_scale"}) {
      if (attrs.has(name)) return invalid_argument(name, " does not go with dynamic_input");
    }
    // The range of DynamicQuantizeLinear's uint8; scale and zero point come with each run.
    p.dynamic_input = true;
    p.qmin = 0;
    p.qmax = 255;
  } else {
    VITRT_ASSIGN_OR_RETURN(p.input_scale, attrs.get_float("input_scale", 0.0f));
  }
  if (!(p.input_scale > 0.0f) || !std::isfinite(p.input_scale)) {
    return invalid_argument("input_scale must be a finite float > 0, got ", p.input_scale);
  }
  VITRT_ASSIGN_OR_RETURN(int64_t zp, attrs.get_int("input_zero_point", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t qmin, attrs.get_int("input_qmin", p.qmin));
  VITRT_ASSIGN_OR_RETURN(int64_t qmax, attrs.get_int("input_qmax", p.qmax));
  if (qmin < -128 || qmax > 255 || qmin >= qmax || zp < qmin || zp > qmax) {
    return invalid_argument("input_qmin/input_qmax/input_zero_point = ", qmin, "/", qmax, "/", zp,
                            " must satisfy -128 <= qmin <= zero_point <= qmax <= 255, qmin < qmax");
  }
  if (attrs.has("output_scale")) {
    if (p.dynamic_input) return invalid_argument("output_scale does not go with dynamic_input");
    VITRT_ASSIGN_OR_RETURN(p.output_scale, attrs.get_float("output_scale", 0.0f));
    if (!(p.output_scale > 0.0f) || !std::isfinite(p.output_scale)) {
      return invalid_argument("output_scale must be a finite float > 0, got ", p.output_scale);
    }
  }
  if (attrs.has("output_qmin")) {
    if (p.format != QuantFormat::kInt8 || p.output_scale == 0.0f) {
      return invalid_argument("output_qmin applies to int8 with output_scale only");
    }
    VITRT_ASSIGN_OR_RETURN(int64_t oq, attrs.get_int("output_qmin", -127));
    if (oq < -128 || oq > 0) return invalid_argument("output_qmin must lie in [-128, 0], got ", oq);
    p.output_qmin = static_cast<int32_t>(oq);
  }
  p.zero_point = static_cast<int32_t>(zp);
  p.qmin = static_cast<int32_t>(qmin);
  p.qmax = static_cast<int32_t>(qmax);
  VITRT_ASSIGN_OR_RETURN(std::string act, attrs.get_string("activation", "none"));
  if (act == "none") {
    p.activation = MatmulActivation::kNone;
  } else if (act == "gelu") {
    p.activation = MatmulActivation::kGelu;
  } else if (act == "gelu_tanh") {
    p.activation = MatmulActivation::kGeluTanh;
  } else if (act == "quick_gelu") {
    p.activation = MatmulActivation::kQuickGelu;
  } else if (act == "relu") {
    p.activation = MatmulActivation::kRelu;
  } else if (act == "silu") {
    p.activation = MatmulActivation::kSilu;
  } else if (act == "hard_swish") {
    p.activation = MatmulActivation::kHardSwish;
  } else if (act == "relu6") {
    p.activation = MatmulActivation::kRelu6;
  } else {
    return invalid_argument(
        "activation '", act,
        "' is not one of none, gelu, gelu_tanh, quick_gelu, relu, silu, hard_swish, relu6");
  }
  return p;
}

float apply_quant_linear_activation(MatmulActivation act, float v) {
  const double x = v;
  switch (act) {
    case MatmulActivation::kGelu:
      return static_cast<float>(0.5 * x * (1.0 + std::erf(x * (std::numbers::sqrt2 / 2))));
    case MatmulActivation::kGeluTanh: {
      const double inner = std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x);
      return static_cast<float>(0.5 * x * (1.0 + std::tanh(inner)));
    }
    case MatmulActivation::kQuickGelu:
      return static_cast<float>(x / (1.0 + std::exp(-1.702 * x)));
    case MatmulActivation::kRelu:
      return v > 0.0f ? v : 0.0f;
    case MatmulActivation::kSilu:
      return static_cast<float>(x / (1.0 + std::exp(-x)));
    case MatmulActivation::kHardSwish:
      return static_cast<float>(x * std::min(1.0, std::max(0.0, x / 6.0 + 0.5)));
    case MatmulActivation::kRelu6:
      return std::min(6.0f, std::max(0.0f, v));
    case MatmulActivation::kNone:
      break;
  }
  return v;
}

void quant_linear_reference(const QuantLinearParams& p, const float* x, int64_t m, int64_t k,
                            int64_t n, const void* w_q, const float* w_scale, const float* bias,
                            float* y, const float* residual) {
  if (p.format == QuantFormat::kInt8) {
    // quantize_int8's xq - zero_point spans at most -255..255: int16 holds it.
    std::vector<int16_t> xq(static_cast<size_t>(m * k));
    for (int64_t i = 0; i < m * k; ++i) xq[i] = static_cast<int16_t>(quantize_int8(x[i], p));
    int8_reference_sums(p, xq.data(), m, k, n, static_cast<const int8_t*>(w_q), w_scale, bias, y,
                        residual);
    return;
  }
  // fp8: quantize X, then the sums from codes (one code path for float and uint8 X).
  std::vector<uint8_t> xq(static_cast<size_t>(m * k));
  for (int64_t i = 0; i < m * k; ++i) xq[i] = quantize_fp8(x[i], p);
  quant_linear_reference_fp8_codes(p, xq.data(), m, k, n, static_cast<const uint8_t*>(w_q), w_scale,
                                   bias, y, residual);
}

void quant_linear_int8_finish(const QuantLinearParams& p, const int32_t* acc, int64_t m, int64_t n,
                              const float* w_scale, const float* bias, const float* residual,
                              float* y) {
  std::vector<float> scale(n);
  for (int64_t j = 0; j < n; ++j) scale[j] = p.input_scale * w_scale[j];
  parallel_for(m, 4, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        y[i * n + j] =
            finish_output(p, static_cast<float>(acc[i * n + j]), scale[j], bias, residual, i, j, n);
      }
    }
  });
}

void quant_linear_reference_int8_codes(const QuantLinearParams& p, const int8_t* xq, int64_t m,
                                       int64_t k, int64_t n, const int8_t* w_q,
                                       const float* w_scale, const float* bias, float* y,
                                       const float* residual) {
  int8_reference_sums(p, xq, m, k, n, w_q, w_scale, bias, y, residual);
}

void quant_linear_reference_fp8_codes(const QuantLinearParams& p, const uint8_t* xq, int64_t m,
                                      int64_t k, int64_t n, const uint8_t* w_q,
                                      const float* w_scale, const float* bias, float* y,
                                      const float* residual) {
  std::vector<float> scale(n);
  for (int64_t j = 0; j < n; ++j) scale[j] = p.input_scale * w_scale[j];
  const std::array<float, 256>& decode = e4m3_decode_table();
  std::vector<float> w(static_cast<size_t>(k * n));
  for (int64_t i = 0; i < k * n; ++i) w[i] = decode[w_q[i]];
  std::vector<float> acc(n);
  for (int64_t i = 0; i < m; ++i) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t l = 0; l < k; ++l) {
      const float xv = decode[xq[i * k + l]];
      const float* w_row = w.data() + l * n;
      // Each acc[j] sums its k products in order; the loop over j only interleaves columns.
      for (int64_t j = 0; j < n; ++j) acc[j] += xv * w_row[j];
    }
    for (int64_t j = 0; j < n; ++j) {
      y[i * n + j] = finish_output(p, acc[j], scale[j], bias, residual, i, j, n);
    }
  }
}

}  // namespace vitrt
