// Which precision each linear layer of a quantized build runs in: the user's
// --layer-precision rules (glob on node names, last match wins) over defaults for vision and
// text transformers.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt::quant {

struct PrecisionRule {
  std::string pattern;    // shell glob over node names: * ? [...]
  std::string precision;  // fp32 | fp16 | bf16 | int8 | fp8
};

// "GLOB=PRECISION"; the error says what was expected.
Result<PrecisionRule> parse_precision_rule(const std::string& spec);

// Shell-style glob match ('*' also crosses '/': node names are paths).
bool glob_matches(const std::string& pattern, const std::string& name);

// The last of `rules` whose pattern matches `name` (the one that applies), or nullptr.
const PrecisionRule* last_matching_rule(const std::vector<PrecisionRule>& rules,
                                        const std::string& name);

struct LayerChoice {
  std::string precision;  // int8 | fp8 | fp32 | fp16 | bf16
  std::string reason;     // why (a rule, or the default that applied)
};

// The precision of the vitrt.Linear `node` in a build quantized to `format` (int8 | fp8):
// the last matching rule, else `format` for the layers inside the encoder, else
// `float_precision` (the plan's float type). Stay float by default: the patch embedding (its
// input comes from vitrt.Patchify: the pixels, where 8 bits lose the most), and heads and
// projections (X of rank 2, pooled features rather than tokens, or a node named like
// head/classifier/pooler/*_projection: one small layer whose error reaches the output
// undamped).
LayerChoice choose_layer_precision(const Graph& graph, const Node& node, const std::string& format,
                                   const std::string& float_precision,
                                   const std::vector<PrecisionRule>& rules);

}  // namespace vitrt::quant
