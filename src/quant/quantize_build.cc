// quantize_for_build: precision rules -> calibration -> quantize_linear.
#include "quant/quantize_build.h"

#include "ir/op_schema.h"
#include "passes/quantize_linear.h"
#include "quant/calibrator.h"

namespace vitrt::quant {

Status quantize_for_build(Graph& graph, const BuildOptions& options) {
  QuantizeLinearOptions q;
  q.format = options.precision;
  q.float_precision = float_precision_of(options);
  q.cpu = options.device == "cpu";
  for (const std::string& spec : options.layer_precision) {
    VITRT_ASSIGN_OR_RETURN(PrecisionRule rule, parse_precision_rule(spec));
    q.rules.push_back(std::move(rule));
  }
  const std::string method_name = !options.calib_method.empty()
                                      ? options.calib_method
                                      : (options.precision == "int8" ? "entropy" : "minmax");
  VITRT_ASSIGN_OR_RETURN(CalibMethod method, parse_calib_method(method_name));
  q.method = method == CalibMethod::kPercentile ? str_cat("percentile ", options.calib_percentile)
                                                : calib_method_name(method);

  const std::vector<std::string> to_calibrate = linear_inputs_to_calibrate(graph, q);
  bool already_quantized = false;
  for (const Node& node : graph.nodes) {
    already_quantized |= !node.dead && node.op_type == "QuantLinear";
  }
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  if (!to_calibrate.empty()) {
    if (options.calib_data.empty() && options.calib_cache.empty()) {
      return invalid_argument(
          "--precision ", options.precision, " needs --calib-data DIR: images or .npy inputs to ",
          "measure the activation ranges of the ", to_calibrate.size(), " layer inputs to quantize",
          already_quantized ? " (the graph's QDQ layers need none)" : "");
    }
    CalibrationOptions c;
    c.data_dir = options.calib_data;
    c.preprocessor_config = options.calib_config;
    c.max_batches = options.calib_batches;
    c.batch_size = options.calib_batch_size;
    c.cache_path = options.calib_cache;
    c.progress = options.calib_progress;
    c.log = options.log;
    VITRT_ASSIGN_OR_RETURN(Histograms histograms, calibrate(graph, to_calibrate, c));
    for (const std::string& name : to_calibrate) {
      VITRT_ASSIGN_OR_RETURN(
          float threshold,
          select_threshold(histograms.at(name), method,
                           options.precision == "int8" ? QuantGrid::kInt8 : QuantGrid::kFp8,
                           options.calib_percentile));
      q.input_threshold[name] = threshold;
    }
  } else if (already_quantized) {
    log("quantization: the graph is already quantized (QDQ); no calibration");
  }

  PassContext ctx(options.verbose, options.log);
  if (options.verbose) log("quantization:");
  VITRT_RETURN_IF_ERROR(quantize_linear(graph, ctx, q));
  int quantized = 0, linear = 0;
  for (const Node& node : graph.nodes) {
    if (node.dead || node.domain != "vitrt") continue;
    quantized += node.op_type == "QuantLinear";
    linear += node.op_type == "Linear";
  }
  log(str_cat("quantization: ", quantized, " linear layers in ", options.precision, ", ", linear,
              " in ", q.float_precision,
              options.verbose || linear == 0 ? "" : " (--verbose says which and why)"));
  graph.compact();
  return infer_shapes(graph);
}

}  // namespace vitrt::quant
