// vitrt.Attention as one node in a test graph, and the float64 loops it is checked against:
// shared by the CPU kernel test (tests/cpu/attention_test.cc) and the CUDA one
// (tests/cuda/cuda_kernels_test.cc) so both backends answer to the same reference.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "quant/e4m3_model.h"
#include "testing/test_graph.h"

namespace vitrt::testing {

struct AttentionOp {
  int64_t heads = 1;
  bool causal = false;
  float scale = 0.0f;             // 0: no attribute, the op's default 1/sqrt(head_dim)
  float output_scale = 0.0f;      // > 0: the output as E4M3 codes of out / output_scale
  bool zero_masked_rows = false;  // a row with every key masked gives 0, not NaN
  // Fake quantization [scale, zero_point, lo, hi] of q k^T and of the probabilities (empty:
  // none).
  std::vector<float> quant_scores = {}, quant_probs = {};
  // Fake quantization of the operands, read as fake_quant(x * prescale) (empty: none).
  std::vector<float> quant_q = {}, quant_k = {}, quant_v = {};
  float prescale_q = 1.0f, prescale_k = 1.0f, prescale_v = 1.0f;
  // With output_scale: int8 codes clamp(round_half_even(out / output_scale), output_qmin, 127)
  // instead of E4M3 (output_format int8).
  bool output_int8 = false;
  int64_t output_qmin = -127;
};

// The fake quantizations ModelOpt and ONNX Runtime give an attention, int8 or FP8 (E4M3): on q
// and k (each scaled by 0.5 before, as torch's SDPA decomposition scales them), on v, and on
// the probabilities; the scores' own scale 1.
inline AttentionOp fake_quantized_inputs_op(int64_t heads, bool fp8) {
  const std::vector<float> fq = fp8 ? std::vector<float>{0.004f, 0.0f, -448.0f, 448.0f, 1.0f}
                                    : std::vector<float>{0.02f, 0.0f, -128.0f, 127.0f};
  return {.heads = heads,
          .scale = 1.0f,
          .quant_probs = fp8 ? std::vector<float>{1.0f / 448.0f, 0.0f, -448.0f, 448.0f, 1.0f}
                             : std::vector<float>{1.0f / 255.0f, 0.0f, 0.0f, 255.0f},
          .quant_q = fq,
          .quant_k = fq,
          .quant_v = fq,
          .prescale_q = 0.5f,
          .prescale_k = 0.5f};
}

// Adds vitrt.Attention over q, k, v [B, S, H*D], or over one packed [B, S, 3*H*D] value in q
// with k and v kNoValue, and an optional additive mask. The inputs are laid out as pack_qkv and
// fuse_attention write them: the packed form keeps the empty key and value slots only when a
// mask follows them.
inline ValueId add_attention(TestGraph& g, const AttentionOp& op, ValueId q, ValueId k, ValueId v,
                             ValueId mask = kNoValue) {
  Attributes attrs;
  attrs.set_int("num_heads", op.heads);
  if (op.causal) attrs.set_int("causal", 1);
  if (op.scale != 0.0f) attrs.set_float("scale", op.scale);
  if (op.output_scale > 0.0f) attrs.set_float("output_scale", op.output_scale);
  if (op.output_scale > 0.0f && op.output_int8) {
    attrs.set_string("output_format", "int8");
    attrs.set_int("output_qmin", op.output_qmin);
  }
  if (op.zero_masked_rows) attrs.set_int("zero_masked_rows", 1);
  if (!op.quant_scores.empty()) attrs.set_floats("quant_scores", op.quant_scores);
  const std::vector<float>* parts[3] = {&op.quant_q, &op.quant_k, &op.quant_v};
  const float prescales[3] = {op.prescale_q, op.prescale_k, op.prescale_v};
  const char* names[3] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    if (parts[i]->empty()) continue;
    attrs.set_floats(std::string("quant_") + names[i], *parts[i]);
    if (prescales[i] != 1.0f) attrs.set_float(std::string("prescale_") + names[i], prescales[i]);
  }
  if (!op.quant_probs.empty()) attrs.set_floats("quant_probs", op.quant_probs);
  std::vector<ValueId> inputs = {q, k, v};
  if (mask != kNoValue) {
    inputs.push_back(mask);
  } else if (k == kNoValue && v == kNoValue) {
    inputs.resize(1);
  }
  return g.op("Attention", inputs, attrs, "vitrt");
}

// q, k, v [B, S, D] side by side in each row of [B, S, 3*D]: the packed input's layout.
inline Tensor pack_qkv(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t d = q.dim(2), rows = q.dim(0) * q.dim(1);
  Tensor qkv = Tensor::empty(DType::kFloat32, {q.dim(0), q.dim(1), 3 * d});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t e = 0; e < d; ++e) {
      qkv.data<float>()[r * 3 * d + e] = q.data<float>()[r * d + e];
      qkv.data<float>()[r * 3 * d + d + e] = k.data<float>()[r * d + e];
      qkv.data<float>()[r * 3 * d + 2 * d + e] = v.data<float>()[r * d + e];
    }
  }
  return qkv;
}

// The inverse of pack_qkv: q, k and v of a packed [B, S, 3*D] tensor.
inline std::array<Tensor, 3> unpack_qkv(const Tensor& qkv) {
  const int64_t d = qkv.dim(2) / 3, rows = qkv.dim(0) * qkv.dim(1);
  std::array<Tensor, 3> parts;
  for (int64_t p = 0; p < 3; ++p) {
    parts[p] = Tensor::empty(DType::kFloat32, {qkv.dim(0), qkv.dim(1), d});
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t e = 0; e < d; ++e) {
        parts[p].data<float>()[r * d + e] = qkv.data<float>()[r * 3 * d + p * d + e];
      }
    }
  }
  return parts;
}

// softmax(scale q k^T + mask, causal) v in float64 for q [B, Sq, H*Dh], k [B, Sk, H*Dh] and
// v [B, Sk, H*Dv]; the mask broadcasts from the right to [B, H, Sq, Sk], and causal row i sees
// the keys j <= i + Sk - Sq (the queries are the last Sq positions).
// Fake quantization in float64 with q = [scale, zero_point, lo, hi] (ir/fake_quant.h), or
// [scale, 0, -max, max, kind] for FP8 (kind 1 E4M3, 2 E5M2: the nearest value of the format,
// by the float64 model of tests/quant/e4m3_model.h).
inline double fake_quant_reference(double x, const std::vector<float>& q) {
  if (q.size() == 5) {
    const double v = x / q[0];
    const double nearest =
        q[4] == 1.0f ? e4m3_value(e4m3_nearest_code(v)) : e5m2_value(e5m2_nearest_code(v));
    return nearest * q[0];
  }
  const double c = std::clamp(std::nearbyint(x / q[0]) + q[1], double(q[2]), double(q[3]));
  return (c - q[1]) * q[0];
}

// `x` read as fake_quant(x * prescale) in float64 (rounded to float, as the values stored).
inline Tensor fake_quantized_input(const Tensor& x, const std::vector<float>& quant,
                                   float prescale) {
  if (quant.empty()) return x;
  Tensor out = Tensor::empty(DType::kFloat32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    out.data<float>()[i] =
        static_cast<float>(fake_quant_reference(double(x.data<float>()[i]) * prescale, quant));
  }
  return out;
}

inline Tensor attention_reference(const AttentionOp& op, const Tensor& q_in, const Tensor& k_in,
                                  const Tensor& v_in, const Tensor* mask) {
  const Tensor q = fake_quantized_input(q_in, op.quant_q, op.prescale_q);
  const Tensor k = fake_quantized_input(k_in, op.quant_k, op.prescale_k);
  const Tensor v = fake_quantized_input(v_in, op.quant_v, op.prescale_v);
  const int64_t batch = q.dim(0), q_len = q.dim(1), k_len = k.dim(1);
  const int64_t dq = q.dim(2), dv = v.dim(2);
  const int64_t head_dim = dq / op.heads, value_dim = dv / op.heads;
  const double scale = op.scale != 0.0f ? op.scale : 1.0 / std::sqrt(double(head_dim));
  Tensor out = Tensor::zeros(DType::kFloat32, {batch, q_len, dv});
  std::vector<int64_t> mstride(4, 0);
  if (mask != nullptr) {
    int64_t stride = 1;
    for (int i = 0; i < mask->rank(); ++i) {
      const int64_t md = mask->dim(mask->rank() - 1 - i);
      mstride[3 - i] = md == 1 ? 0 : stride;
      stride *= md;
    }
  }
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < op.heads; ++h) {
      for (int64_t i = 0; i < q_len; ++i) {
        std::vector<double> s(k_len);
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < k_len; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < head_dim; ++d) {
            acc += double(q.data<float>()[(b * q_len + i) * dq + h * head_dim + d]) *
                   k.data<float>()[(b * k_len + j) * dq + h * head_dim + d];
          }
          if (!op.quant_scores.empty()) acc = fake_quant_reference(acc, op.quant_scores);
          s[j] = acc * scale;
          if (mask != nullptr) {
            s[j] += mask->data<float>()[b * mstride[0] + h * mstride[1] + i * mstride[2] +
                                        j * mstride[3]];
          }
          if (op.causal && j > i + k_len - q_len) s[j] = -std::numeric_limits<double>::infinity();
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - mx));
        if (!op.quant_probs.empty()) {
          for (double& x : s) x = fake_quant_reference(x / sum, op.quant_probs);
          sum = 1.0;
        }
        for (int64_t e = 0; e < value_dim; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < k_len; ++j) {
            acc += s[j] * v.data<float>()[(b * k_len + j) * dv + h * value_dim + e];
          }
          out.data<float>()[(b * q_len + i) * dv + h * value_dim + e] =
              static_cast<float>(acc / sum);
        }
      }
    }
  }
  return out;
}

}  // namespace vitrt::testing
