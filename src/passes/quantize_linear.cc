// Pass quantize_linear: vitrt.Linear -> vitrt.QuantLinear with calibrated input scales and
// quantized weights, layer by layer as the precision rules say.
#include "passes/quantize_linear.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/float8.h"
#include "passes/graph_rewrite.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "quantize_linear";

// W [K, N] fp32 -> int8 with one symmetric scale per output channel n (amax_n / 127).
void quantize_weights_int8(const Tensor& w, Tensor& w_q, Tensor& scales) {
  const int64_t k = w.dim(0), n = w.dim(1);
  const float* src = w.data<float>();
  w_q = Tensor::empty(DType::kInt8, {k, n});
  scales = Tensor::empty(DType::kFloat32, {n});
  float* s = scales.data<float>();
  for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
  for (int64_t i = 0; i < k * n; ++i) s[i % n] = std::max(s[i % n], std::fabs(src[i]));
  // An all-zero channel quantizes to zeros under any scale; 1 keeps the scale valid (> 0).
  for (int64_t j = 0; j < n; ++j) s[j] = s[j] > 0.0f ? s[j] / 127.0f : 1.0f;
  int8_t* dst = w_q.data<int8_t>();
  for (int64_t i = 0; i < k * n; ++i) {
    const float q = std::nearbyint(src[i] / s[i % n]);
    dst[i] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
  }
}

// W -> E4M3 codes with one scale for the whole tensor (amax / 448), repeated N times.
void quantize_weights_fp8(const Tensor& w, Tensor& w_q, Tensor& scales) {
  const int64_t k = w.dim(0), n = w.dim(1);
  const float* src = w.data<float>();
  float amax = 0.0f;
  for (int64_t i = 0; i < k * n; ++i) amax = std::max(amax, std::fabs(src[i]));
  const float scale = amax > 0.0f ? amax / kE4M3Max : 1.0f;
  w_q = Tensor::empty(DType::kUInt8, {k, n});
  uint8_t* dst = w_q.data<uint8_t>();
  for (int64_t i = 0; i < k * n; ++i) dst[i] = float_to_e4m3(src[i] / scale);
  scales = Tensor::empty(DType::kFloat32, {n});
  for (int64_t j = 0; j < n; ++j) scales.data<float>()[j] = scale;
}

bool is_linear(const Node& node) {
  return !node.dead && node.domain == "vitrt" && node.op_type == "Linear";
}

// The float weights of a Linear this pass can quantize, or why not.
std::string unquantizable_reason(const Graph& graph, const Node& node) {
  const Value& w = graph.values[node.inputs[1]];
  if (!w.is_constant() || w.constant.dtype() != DType::kFloat32 || w.constant.rank() != 2) {
    return "its weights are not a constant float32 matrix";
  }
  Result<std::string> precision = node.attrs.get_string("compute_precision", "fp32");
  if (!precision.ok() || *precision != "fp32") return "it already computes in reduced precision";
  Result<std::string> act = node.attrs.get_string("activation", "none");
  if (node.has_input(3) && (!act.ok() || *act != "none")) {
    return "its activation follows the residual add, which QuantLinear's epilogue does not do";
  }
  if (act.ok() && *act == "silu") {
    return "its SiLU layers' int8/fp8 accuracy is not measured yet (QuantLinear computes SiLU, "
           "but no calibrated model with it has been checked)";
  }
  return "";
}

}  // namespace

std::vector<std::string> linear_inputs_to_calibrate(const Graph& graph,
                                                    const QuantizeLinearOptions& options) {
  std::set<std::string> names;
  for (const Node& node : graph.nodes) {
    if (!is_linear(node) || !unquantizable_reason(graph, node).empty()) continue;
    const quant::LayerChoice choice = quant::choose_layer_precision(
        graph, node, options.format, options.float_precision, options.rules);
    if (choice.precision == "int8" || choice.precision == "fp8") {
      names.insert(graph.values[node.inputs[0]].name);
    }
  }
  return {names.begin(), names.end()};
}

Status quantize_linear(Graph& graph, PassContext& ctx, const QuantizeLinearOptions& options) {
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    if (!is_linear(graph.nodes[id])) continue;
    const Node node = graph.nodes[id];
    const quant::LayerChoice choice = quant::choose_layer_precision(
        graph, node, options.format, options.float_precision, options.rules);
    const std::string where = str_cat("Linear '", node.name, "'");
    if (choice.precision != "int8" && choice.precision != "fp8") {
      std::string runs_in = choice.precision;
      if (!options.cpu) {
        runs_in = options.float_precision;  // a CUDA plan has one float type
      } else if (choice.precision == "bf16") {
        graph.nodes[id].attrs.set_string("compute_precision", "bf16");
      } else if (choice.precision == "fp16") {
        return invalid_argument(where, ": --layer-precision asks for fp16, which the CPU has no ",
                                "kernels for (fp32 or bf16 on the CPU)");
      }
      ctx.near_miss(kPass, where, str_cat("stays ", runs_in, ": ", choice.reason));
      continue;
    }
    const std::string reason = unquantizable_reason(graph, node);
    if (!reason.empty()) {
      ctx.near_miss(kPass, where, str_cat("stays ", options.float_precision, ": ", reason));
      continue;
    }
    const bool int8 = choice.precision == "int8";
    const std::string& x_name = graph.values[node.inputs[0]].name;
    const std::map<std::string, float>& thresholds =
        int8 ? options.int8_threshold : options.fp8_threshold;
    auto threshold = thresholds.find(x_name);
    if (threshold == thresholds.end()) {
      return internal_error(where, ": no calibrated threshold for its input '", x_name, "'");
    }
    if (!(threshold->second > 0.0f) || !std::isfinite(threshold->second)) {
      ctx.near_miss(kPass, where,
                    str_cat("stays ", options.float_precision, ": its input '", x_name, "' was ",
                            threshold->second == 0.0f ? "all zeros" : "not finite",
                            " on the calibration data"));
      continue;
    }
    const float input_scale = threshold->second / (int8 ? 127.0f : kE4M3Max);
    Tensor w_q, w_scale;
    const Tensor& w = graph.values[node.inputs[1]].constant;
    if (int8) {
      quantize_weights_int8(w, w_q, w_scale);
    } else {
      quantize_weights_fp8(w, w_q, w_scale);
    }
    Result<std::string> act = node.attrs.get_string("activation", "none");
    if (!act.ok()) return act.status();
    // The node keeps its id, name and output: only its op, weights and attributes change.
    std::vector<ValueId> inputs = {node.inputs[0],
                                   add_constant_value(graph, node.name + "_w_q", w_q),
                                   add_constant_value(graph, node.name + "_w_scale", w_scale)};
    inputs.push_back(node.has_input(2) ? node.inputs[2] : kNoValue);
    // Linear's residual (input 3) is QuantLinear's input 4.
    if (node.has_input(3)) inputs.push_back(node.inputs[3]);
    if (inputs.back() == kNoValue) inputs.pop_back();
    Node& q = graph.nodes[id];
    q.op_type = "QuantLinear";
    q.inputs = std::move(inputs);
    q.attrs = Attributes();
    q.attrs.set_string("format", choice.precision);
    q.attrs.set_float("input_scale", input_scale);
    q.attrs.set_string("activation", *act);
    ctx.applied(kPass, str_cat(where, " -> ", choice.precision, " (", choice.reason,
                               "): input amax ", format_scale(threshold->second), " by ",
                               int8 ? options.int8_method : options.fp8_method, ", scale ",
                               format_scale(input_scale),
                               int8 ? std::string("; weights per channel")
                                    : str_cat("; weights per tensor, scale ",
                                              format_scale(w_scale.data<float>()[0]))));
  }
  return Status::ok_status();
}

}  // namespace vitrt
