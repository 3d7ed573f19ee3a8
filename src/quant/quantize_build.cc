// quantize_for_build: precision rules -> calibration -> quantize_linear.
#include "quant/quantize_build.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>

#include "ir/op_schema.h"
#include "passes/quantize_linear.h"
#include "quant/calibrator.h"

namespace vitrt::quant {
namespace {

// `pass`, unless VITRT_DISABLE_FUSIONS names it (as optimize_graph skips a fusion pass).
Status unless_disabled(const char* name, const std::function<Status(Graph&, PassContext&)>& pass,
                       Graph& graph, PassContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::set<std::string> disabled, disabled_fusions());
  if (disabled.count(name) != 0) {
    ctx.note(str_cat("optimizer: ", name, " skipped (VITRT_DISABLE_FUSIONS)"));
    return Status::ok_status();
  }
  return pass(graph, ctx);
}

Status producers_pass(Graph& graph, PassContext& ctx) {
  return unless_disabled("fuse_quant_producers", fuse_quant_producers, graph, ctx);
}

// select_rows_early, which the fusion run of a quantized build leaves for now: the layers'
// precisions are chosen on the full-size graph, then the class token's rows are picked early
// through the quantized layers too. Shapes are inferred after it either way.
Status rows_pass(Graph& graph, PassContext& ctx) {
  VITRT_RETURN_IF_ERROR(unless_disabled("select_rows_early", select_rows_early, graph, ctx));
  return infer_shapes(graph);
}

}  // namespace

Status quantize_for_build(Graph& graph, const BuildOptions& options) {
  QuantizeLinearOptions q;
  q.format = options.precision;
  q.float_precision = float_precision_of(options);
  q.cpu = options.device == "cpu";
  for (const std::string& spec : options.layer_precision) {
    VITRT_ASSIGN_OR_RETURN(PrecisionRule rule, parse_precision_rule(spec));
    q.rules.push_back(std::move(rule));
  }
  // The method for each format: the one asked for, else percentile (int8) and minmax (fp8);
  // an fp8 layer of an int8 build (by rule) falls back to minmax where entropy was asked for.
  //
  // int8: percentile (99.99) rather than TensorRT's entropy, measured with `vitrt eval` (cos
  // mean vs FP32; README, "Quantization accuracy"): all-MiniLM-L6-v2, trained, 0.956 with
  // entropy (0.985 with its query/key/value layers in fp32: entropy's clipping hurts most
  // there), 0.988 percentile, 0.986 mse, 0.983 minmax; random-weight ViT-B/16 and CLIP B/32 on
  // photos 0.99925 -> 0.99936 and 0.99979 -> 0.99981; the trained digits ViT 0.99985 ->
  // 0.99983 (top-1 unchanged).
  // fp8: minmax. E4M3's relative step is the same at every scale, so clipping only adds
  // error: minmax beat mse and percentile on all four models.
  CalibMethod int8_method = CalibMethod::kPercentile;
  CalibMethod fp8_method = CalibMethod::kMinMax;
  if (!options.calib_method.empty()) {
    VITRT_ASSIGN_OR_RETURN(CalibMethod asked, parse_calib_method(options.calib_method));
    if (asked == CalibMethod::kEntropy && options.precision == "fp8") {
      return invalid_argument(
          "--calib-method entropy models int8's 128 uniform levels; fp8 takes minmax, "
          "percentile or mse");
    }
    int8_method = asked;
    if (asked != CalibMethod::kEntropy) fp8_method = asked;
  }
  auto describe = [&](CalibMethod m) {
    return m == CalibMethod::kPercentile ? str_cat("percentile ", options.calib_percentile)
                                         : std::string(calib_method_name(m));
  };
  q.int8_method = describe(int8_method);
  q.fp8_method = describe(fp8_method);

  const std::vector<std::string> to_calibrate = linear_inputs_to_calibrate(graph, q);
  // CUDA fp8 plans: the attention's q, k, v too, for fuse_fp8_attention (the attentions whose
  // shapes its E4M3 kernel takes). Every CUDA calibration measures them (int8 and
  // --no-fp8-attention builds too), so that one cache serves the int8 and the fp8 build of a
  // model.
  // VITRT_CPU_FP8_ATTENTION=1: CPU fp8 builds too (their kernels decode the codes exactly), to
  // measure on a CPU what a CUDA fp8 plan's E4M3 q, k, v cost in accuracy; not for speed.
  const char* cpu_fp8_attention = std::getenv("VITRT_CPU_FP8_ATTENTION");
  const bool measure_qkv = options.device == "cuda" ||
                           (cpu_fp8_attention != nullptr && std::string(cpu_fp8_attention) == "1");
  const bool fp8_attention = measure_qkv && options.precision == "fp8" && options.fp8_attention;
  const std::map<std::string, std::vector<std::string>> attention_inputs =
      measure_qkv ? attention_inputs_to_calibrate(graph)
                  : std::map<std::string, std::vector<std::string>>();
  std::map<std::string, float> attention_thresholds;  // by attention node
  bool already_quantized = false;
  for (const Node& node : graph.nodes) {
    already_quantized |= !node.dead && node.op_type == "QuantLinear";
  }
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  const bool have_data = !options.calib_data.empty() || !options.calib_cache.empty();
  if (already_quantized && !have_data) {
    // A QDQ model (src/passes/import_qdq.cc made its QuantLinear nodes) carries its own
    // scales: without calibration data the layers it left float stay float.
    log("quantization: the graph is already quantized (QDQ): its layers keep their scales; "
        "the other linear layers stay float (--calib-data quantizes them too)");
    // Its fp8 layers' inputs may stay FP8 all the same.
    PassContext ctx(options.verbose, options.log);
    ctx.set_device(options.device);
    VITRT_RETURN_IF_ERROR(rows_pass(graph, ctx));
    VITRT_RETURN_IF_ERROR(producers_pass(graph, ctx));
    return infer_shapes(graph);
  }
  if (!to_calibrate.empty()) {
    if (!have_data) {
      return invalid_argument("--precision ", options.precision,
                              " needs --calib-data DIR: images or .npy inputs to measure the "
                              "activation ranges of the ",
                              to_calibrate.size(), " layer inputs to quantize");
    }
    CalibrationOptions c;
    c.data_dir = options.calib_data;
    c.preprocessor_config = options.calib_config;
    c.max_batches = options.calib_batches;
    c.batch_size = options.calib_batch_size;
    c.cache_path = options.calib_cache;
    for (const auto& [node, names] : attention_inputs) {
      c.optional_values.insert(c.optional_values.end(), names.begin(), names.end());
    }
    c.progress = options.calib_progress;
    c.log = options.log;
    VITRT_ASSIGN_OR_RETURN(Histograms histograms, calibrate(graph, to_calibrate, c));
    for (const std::string& name : to_calibrate) {
      const AbsHistogram& h = histograms.at(name);
      VITRT_ASSIGN_OR_RETURN(
          q.int8_threshold[name],
          select_threshold(h, int8_method, QuantGrid::kInt8, options.calib_percentile));
      VITRT_ASSIGN_OR_RETURN(q.fp8_threshold[name], select_threshold(h, fp8_method, QuantGrid::kFp8,
                                                                     options.calib_percentile));
    }
    // The fp8 attention's one scale: the widest of its q, k, v ranges.
    int unmeasured = 0;
    if (fp8_attention) {
      for (const auto& [node, names] : attention_inputs) {
        float threshold = 0.0f;
        bool all = true;
        for (const std::string& name : names) {
          auto h = histograms.find(name);
          if (h == histograms.end()) {  // a cache without them: the attention stays 16-bit
            all = false;
            break;
          }
          VITRT_ASSIGN_OR_RETURN(float t, select_threshold(h->second, fp8_method, QuantGrid::kFp8,
                                                           options.calib_percentile));
          threshold = std::max(threshold, t);
        }
        if (all) attention_thresholds[node] = threshold;
        unmeasured += all ? 0 : 1;
      }
    }
    if (unmeasured > 0) {
      log(str_cat("quantization: ", unmeasured, " of ", attention_inputs.size(),
                  " attentions keep 16-bit q, k, v: the calibration cache has no ranges for "
                  "them (--calib-data with the cache measures them and updates it)"));
    }
  }

  PassContext ctx(options.verbose, options.log);
  ctx.set_device(options.device);
  if (options.verbose) log("quantization:");
  VITRT_RETURN_IF_ERROR(quantize_linear(graph, ctx, q));
  // Shapes first: the passes read the dtypes of the QuantLinear outputs.
  VITRT_RETURN_IF_ERROR(infer_shapes(graph));
  // The model's own layers, counted before select_rows_early may split a packed q, k, v.
  int quantized = 0, linear = 0;
  for (const Node& node : graph.nodes) {
    if (node.dead || node.domain != "vitrt") continue;
    quantized += node.op_type == "QuantLinear";
    linear += node.op_type == "Linear";
  }
  VITRT_RETURN_IF_ERROR(rows_pass(graph, ctx));
  VITRT_RETURN_IF_ERROR(producers_pass(graph, ctx));
  if (fp8_attention) {
    VITRT_RETURN_IF_ERROR(unless_disabled(
        "fuse_fp8_attention",
        [&](Graph& g, PassContext& c) {
          return fuse_fp8_attention(g, c, attention_thresholds, q.rules);
        },
        graph, ctx));
  }
  const auto fp8_attentions = ctx.applied_counts().find("fuse_fp8_attention");
  const auto quantized_edges = ctx.applied_counts().find("fuse_quant_producers");
  log(str_cat("quantization: ", quantized, " linear layers in ", options.precision, ", ", linear,
              " in ", q.float_precision,
              quantized_edges == ctx.applied_counts().end()
                  ? std::string()
                  : str_cat("; ", quantized_edges->second, " activations stay ",
                            options.precision == "int8" ? "INT8" : "FP8", " between layers"),
              fp8_attentions == ctx.applied_counts().end()
                  ? std::string()
                  : str_cat("; ", fp8_attentions->second, " attentions read E4M3 q, k, v"),
              options.verbose || linear == 0 ? "" : " (--verbose says which and why)"));
  graph.compact();
  return infer_shapes(graph);
}

}  // namespace vitrt::quant
