// The quantization step of an int8 / fp8 build: choose each linear layer's precision,
// calibrate the inputs of those to quantize, and rewrite them (src/passes/quantize_linear.cc).
#pragma once

#include "ir/graph.h"
#include "vitrt/builder.h"

namespace vitrt::quant {

inline bool is_quantized_precision(const std::string& precision) {
  return precision == "int8" || precision == "fp8";
}

// The float type of a quantized plan's other layers: fp32 on the CPU, fp16 on CUDA.
inline std::string float_precision_of(const BuildOptions& options) {
  return options.device == "cuda" ? "fp16" : "fp32";
}

// Runs on the optimized fp32 graph (shapes inferred); leaves it shape-inferred.
Status quantize_for_build(Graph& graph, const BuildOptions& options);

}  // namespace vitrt::quant
