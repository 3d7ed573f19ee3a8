// Attributes of GroupNormalization, LpNormalization, the Scatter ops, BitShift,
// QuantizeLinear / DequantizeLinear and the fake quantizations of vitrt.FakeQuant and
// vitrt.Attention as the CPU and CUDA
// kernels read them: parsed and checked once, so both backends accept and refuse the same
// nodes with the same messages.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "ir/attribute.h"
#include "ir/fake_quant.h"
#include "vitrt/status.h"

namespace vitrt {

struct GroupNormAttributes {
  int64_t groups = 0;  // num_groups, positive
  float epsilon = 1e-5f;
  static Result<GroupNormAttributes> parse(const Attributes& attrs);
};

struct LpNormAttributes {
  int64_t axis = -1;
  int64_t p = 2;  // 1 or 2
  static Result<LpNormAttributes> parse(const Attributes& attrs);
};

// ScatterElements / ScatterND's `reduction` (opset 16: add/mul, 18: max/min); none replaces.
enum class ScatterReduction : int { kNone, kAdd, kMul, kMax, kMin };
Result<ScatterReduction> parse_scatter_reduction(const Attributes& attrs);

// BitShift's `direction`: true for "LEFT", false for "RIGHT".
Result<bool> parse_bit_shift_left(const Attributes& attrs);

// QuantizeLinear / DequantizeLinear: how the scale (and zero point) spread over the input x:
// element i uses parameter (i / inner) % channels (channels 1: per tensor). Blocked
// quantization (block_size != 0) is refused. zero_point_numel < 0: no zero point.
struct QdqLayout {
  int64_t channels = 1;
  int64_t inner = 1;
};
Result<QdqLayout> qdq_layout(const Attributes& attrs, const std::vector<int64_t>& x_shape,
                             const std::vector<int64_t>& scale_shape, int64_t zero_point_numel);
Status check_qdq_block_size(const Attributes& attrs);

// A fake quantization given as the four floats [scale, zero_point, lo, hi] in attribute `name`
// (vitrt.FakeQuant's quant / quant_out, vitrt.Attention's quant_scores / quant_probs):
// nullopt when the attribute is absent, an error naming it when the floats are no valid
// FakeQuant (ir/fake_quant.h).
Result<std::optional<FakeQuant>> parse_fake_quant(const Attributes& attrs, const char* name);

// vitrt.Attention's fake-quantization attributes (a quantized model's Q/DQ pairs inside the
// attention, each the FakeQuant floats of ir/fake_quant.h). An Attention carrying any of them
// keeps its model's own quantization: it takes no E4M3 inputs (input_scale).
inline constexpr std::array<const char*, 5> kAttentionFakeQuantAttrs = {
    "quant_scores", "quant_probs", "quant_q", "quant_k", "quant_v"};

// vitrt.Attention's fake quantization of an input (quant_q with prescale_q, ...): the operand is
// read as fake_quant(x * prescale), x * prescale in fp32.
struct InputFakeQuant {
  FakeQuant quant;
  float prescale = 1.0f;
};
// Index 0 q, 1 k, 2 v; nullopt where the attribute is absent.
Result<std::array<std::optional<InputFakeQuant>, 3>> parse_attention_input_quant(
    const Attributes& attrs);

// vitrt.AddLayerNorm's quant_a, quant_b and quant_sum, in that order (a quantized model's Q/DQ
// pairs on the residual stream); nullopt where the attribute is absent.
Result<std::array<std::optional<FakeQuant>, 3>> parse_add_layer_norm_quant(const Attributes& attrs);

// How a producer writes its output for quantized readers (vitrt.AddLayerNorm's output_scale,
// output_format, output_qmin; pass fuse_quant_producers): scale 0 in the float type; else
// 8-bit codes of y / scale, E4M3 (output_format "fp8", the default: uint8) or int8
// clamp(round_half_even(y / scale), qmin, 127) (output_format "int8": int8).
struct OutputCodes {
  float scale = 0.0f;
  bool int8 = false;
  int32_t qmin = -127;
  bool any() const { return scale > 0.0f; }
  static Result<OutputCodes> parse(const Attributes& attrs);
};

}  // namespace vitrt
