// The geometry of a vitrt.RotaryEmbedding call (schema and op definition in
// rotary_embedding.cc), worked out from concrete shapes once and shared by the CPU and CUDA
// kernels so that both accept exactly the same inputs.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/attribute.h"
#include "vitrt/status.h"

namespace vitrt {

// The op's attributes (interleaved, start, token_major), read and checked once for the schema
// and both kernels; errors name the attribute and the allowed values.
struct RotaryAttributes {
  int64_t start = 0;
  bool interleaved = false;
  bool token_major = false;
  static Result<RotaryAttributes> parse(const Attributes& attrs);
};

struct RotaryLayout {
  int64_t outer = 0;  // rows (X's elements / D) per token: outer * seq rows in all
  int64_t heads = 1;  // X's heads dim (1 for rank 2)
  int64_t seq = 0;    // S, X's token dim
  // Row r (D elements) holds token r / token_div % seq of head r / head_div % heads: [.., H, S, D]
  // has token_div 1 and head_div S, token_major [.., S, H, D] token_div H and head_div 1.
  int64_t token_div = 1, head_div = 1;
  int64_t dim = 0;         // D, X's last dim
  int64_t rotary_dim = 0;  // D', the cos/sin tables' last dim: rotated dims are d < D'
  int64_t start = 0;       // tokens s < start pass through
  // Element strides of the cos/sin tables per head (0: one table for all heads) and per token
  // (0: one row for every token); the row of token s >= start in head h starts at
  // h * head_stride + (s - start) * row_stride.
  int64_t cos_head_stride = 0, cos_row_stride = 0;
  int64_t sin_head_stride = 0, sin_row_stride = 0;
  bool interleaved = false;
};

// Checks X [..., S, D] ([..., S, H, D] when token_major) and the cos/sin tables ([Hc, S - start or
// 1, D'] with Hc 1 or X's heads, leading 1s, D' even and <= D) against the attributes; errors name
// the input and the expected shape.
Result<RotaryLayout> rotary_layout(const std::vector<int64_t>& x, const std::vector<int64_t>& cos,
                                   const std::vector<int64_t>& sin, int64_t start, bool interleaved,
                                   bool token_major = false);

}  // namespace vitrt
