// Per-layer precision rules for quantized builds.
#include "quant/precision_rules.h"

#include <fnmatch.h>

namespace vitrt::quant {

Result<PrecisionRule> parse_precision_rule(const std::string& spec) {
  const size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0) {
    return invalid_argument("layer precision rule '", spec,
                            "' is not GLOB=PRECISION (e.g. '*/fc2/*=fp32')");
  }
  PrecisionRule rule{spec.substr(0, eq), spec.substr(eq + 1)};
  for (const char* p : {"fp32", "fp16", "bf16", "int8", "fp8"}) {
    if (rule.precision == p) return rule;
  }
  return invalid_argument("layer precision rule '", spec, "': precision '", rule.precision,
                          "' is not one of fp32, fp16, bf16, int8, fp8");
}

bool glob_matches(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

namespace {

// A path component (split on '/' and '.') naming a head or output projection.
bool named_like_head(const std::string& name) {
  std::string part;
  auto is_head = [](const std::string& p) {
    return p == "head" || p == "classifier" || p == "pooler" || p == "visual_projection" ||
           p == "text_projection";
  };
  for (char c : name) {
    if (c == '/' || c == '.') {
      if (is_head(part)) return true;
      part.clear();
    } else {
      part += c;
    }
  }
  return is_head(part);
}

}  // namespace

const PrecisionRule* last_matching_rule(const std::vector<PrecisionRule>& rules,
                                        const std::string& name) {
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    if (glob_matches(it->pattern, name)) return &*it;
  }
  return nullptr;
}

LayerChoice choose_layer_precision(const Graph& graph, const Node& node, const std::string& format,
                                   const std::string& float_precision,
                                   const std::vector<PrecisionRule>& rules) {
  if (const PrecisionRule* r = last_matching_rule(rules, node.name)) {
    return {r->precision, str_cat("--layer-precision '", r->pattern, "=", r->precision, "'")};
  }
  const Value& x = graph.values[node.inputs[0]];
  if (x.producer >= 0 && graph.nodes[x.producer].op_type == "Patchify") {
    return {float_precision, "patch embedding (its input is the pixels)"};
  }
  if (x.has_shape && x.shape.size() == 2) {
    return {float_precision, "head or projection (its input is pooled features, not tokens)"};
  }
  if (named_like_head(node.name)) {
    return {float_precision, "head or projection (by its name)"};
  }
  return {format, "encoder layer"};
}

}  // namespace vitrt::quant
