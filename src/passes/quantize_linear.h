// The quantization pass (src/passes/quantize_linear.cc). Unlike the passes of pass.h it needs
// calibration results, so the builder runs it after calibration rather than in
// default_passes().
#pragma once

#include <map>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "quant/precision_rules.h"

namespace vitrt {

struct QuantizeLinearOptions {
  std::string format;           // int8 | fp8
  std::string float_precision;  // the plan's float type: fp32 (cpu) or fp16 (cuda)
  bool cpu = true;              // float layers may then compute in bf16 (per rule)
  std::vector<quant::PrecisionRule> rules;
  // Clipping threshold of each quantized layer's input, by value name (calibration's result),
  // for each format (a --layer-precision rule may pick the other one); a layer whose input
  // has none (or 0: all zeros seen) stays float.
  std::map<std::string, float> int8_threshold, fp8_threshold;
  std::string int8_method, fp8_method;  // how the thresholds were chosen, for the log
};

// The inputs (value names) of the vitrt.Linear nodes that `options` quantize: what calibration
// must measure.
std::vector<std::string> linear_inputs_to_calibrate(const Graph& graph,
                                                    const QuantizeLinearOptions& options);

// Replaces each vitrt.Linear that choose_layer_precision() assigns int8 or fp8 by a
// vitrt.QuantLinear: input scale = threshold / 127 (int8) or / 448 (fp8); weights int8 per
// output channel (scale amax_n / 127) or E4M3 per tensor (amax / 448, one scale: cuBLASLt's FP8
// GEMM takes one weight scale). Reports every layer: applied() for quantized ones, near_miss()
// with the reason for those that stay float. A bf16 rule on the CPU sets compute_precision.
Status quantize_linear(Graph& graph, PassContext& ctx, const QuantizeLinearOptions& options);

// The q, k, v inputs (value names) of each vitrt.Attention node (by node name) that
// fuse_fp8_attention could take (head dims and length the E4M3 kernel takes, no quantization of
// its own): what calibration measures for it.
std::map<std::string, std::vector<std::string>> attention_inputs_to_calibrate(const Graph& graph);

// CUDA fp8 builds, after fuse_quant_producers (in src/passes/fuse_quant_producers.cc): each
// vitrt.Attention whose q, k, v come from fp8 QuantLinear layers that can write E4M3 codes
// reads those codes (input_scale), the layers writing them (output_scale), scale =
// thresholds[the attention's name] (its inputs' calibrated range) / 448. Reports each
// attention either way.
Status fuse_fp8_attention(Graph& graph, PassContext& ctx,
                          const std::map<std::string, float>& thresholds,
                          const std::vector<quant::PrecisionRule>& rules);

}  // namespace vitrt
