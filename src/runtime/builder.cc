// build_plan: ONNX model in, plan file out (import -> shape inference -> optimizer passes ->
// kernel check -> plan).
#include "vitrt/builder.h"
#include <filesystem>
#include <optional>

#include "ir/op_schema.h"
#include "onnx/onnx_import.h"
#include "passes/pass.h"
#include "plan/plan_format.h"
#include "quant/quantize_build.h"
#include "runtime/build_pipeline.h"
#include "runtime/cpu_engine.h"
#include "runtime/device_backends.h"
#include "runtime/profiles.h"
#include "runtime/version.h"

namespace vitrt {
namespace {

void log_line(const BuildOptions& options, const std::string& line) {
  if (options.log) options.log(line);
}

// The symbolic input dims that every optimization profile fixes to one value (min = max, the
// same in each profile): a plan with these profiles never runs another value there, so the
// graph may be specialised to it. Ranges that do not fit the graph are left to check_profiles.
struct FixedDim {
  ValueId input = kNoValue;
  size_t axis = 0;
  int64_t value = 0;
};

std::vector<FixedDim> profile_fixed_dims(const Graph& graph,
                                         const std::vector<OptimizationProfile>& profiles) {
  std::vector<FixedDim> fixed;
  if (profiles.empty()) return fixed;
  for (ValueId id : graph.inputs) {
    const Value& v = graph.values[id];
    if (!v.has_shape) continue;
    for (size_t d = 0; d < v.shape.size(); ++d) {
      if (v.shape[d].is_static()) continue;
      std::optional<int64_t> value;
      bool ok = true;
      for (const OptimizationProfile& p : profiles) {
        const InputRange* r = nullptr;
        for (const InputRange& range : p.inputs) {
          if (range.input == v.name) r = &range;
        }
        if (r == nullptr || r->min.size() != v.shape.size() || r->min[d] != r->max[d] ||
            (value && *value != r->min[d])) {
          ok = false;
          break;
        }
        value = r->min[d];
      }
      if (ok && value) fixed.push_back({id, d, *value});
    }
  }
  return fixed;
}

// Input dims that every optimization profile fixes (min = max, one value in all profiles)
// become static before anything else: a plan with these profiles never runs another value
// there, and static dims let If conditions, shape inference and the fusions see through the
// exporter's symbolic arithmetic (DINOv3 exported with dynamic height and width: its attention
// and patch embedding fuse only so). Profiles that do not parse are reported by build_plan.
void specialise_profile_dims(Graph& graph, const BuildOptions& options) {
  if (options.profiles.empty()) return;
  Result<std::vector<OptimizationProfile>> profiles = parse_profile_specs(options.profiles);
  if (!profiles.ok()) return;
  for (const FixedDim& f : profile_fixed_dims(graph, *profiles)) {
    Value& v = graph.values[f.input];
    log_line(options, str_cat("input '", v.name, "' dim ", f.axis, " (",
                              v.shape[f.axis].to_string(), "): every profile fixes it to ", f.value,
                              ", so the plan is built for ", f.value, " there"));
    v.shape[f.axis] = Dim(f.value);
  }
}

std::string op_counts_text(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [op, n] : counts) out += str_cat(out.empty() ? "" : ", ", op, " x", n);
  return out.empty() ? "(none)" : out;
}

std::string value_signature(const Value& v) {
  return str_cat("'", v.name, "' ", dtype_name(v.dtype),
                 v.has_shape ? sym_shape_to_string(v.shape) : std::string("[?]"));
}

int total_nodes(const std::map<std::string, int>& counts) {
  int n = 0;
  for (const auto& [op, c] : counts) n += c;
  return n;
}

// The input shapes tactic selection tunes for: each profile's opt shapes; without profiles,
// batch 1 and 32 of models whose only symbolic dim is the leading batch dim (the M of ViT
// GEMMs at those batches); else none (a log line says to give --profile).
TacticOptions::ShapeSets tuning_shapes(const Graph& graph,
                                       const std::vector<OptimizationProfile>& profiles,
                                       const BuildOptions& options) {
  TacticOptions::ShapeSets sets;
  for (const OptimizationProfile& p : profiles) {
    TacticOptions::ShapeSet set;
    for (const InputRange& r : p.inputs) set.emplace_back(r.input, r.opt);
    sets.push_back(std::move(set));
  }
  if (!profiles.empty()) return sets;
  for (int64_t batch : {1, 32}) {
    TacticOptions::ShapeSet set;
    for (ValueId id : graph.inputs) {
      const Value& v = graph.values[id];
      std::vector<int64_t> dims;
      for (size_t d = 0; v.has_shape && d < v.shape.size(); ++d) {
        if (v.shape[d].is_static()) {
          dims.push_back(v.shape[d].value());
        } else if (d == 0) {
          dims.push_back(batch);
        } else {
          log_line(options, str_cat("tactics: input '", v.name, "' ", sym_shape_to_string(v.shape),
                                    " has symbolic dims past the batch: give --profile to tune "
                                    "GEMMs for its shapes (cuBLASLt's heuristic runs meanwhile)"));
          return {};
        }
      }
      if (!v.has_shape) return {};
      set.emplace_back(v.name, dims);
    }
    if (sets.empty() || sets.back() != set) sets.push_back(std::move(set));
  }
  return sets;
}

// The import-time lowering of Einsum, which has no schema or kernel (see import_and_prepare);
// it touches only the nodes still Einsum, so a second run after If inlining lowers just those
// the inlined branches bring.
Status lower_schemaless_ops(Graph& graph, PassContext& ctx) {
  VITRT_RETURN_IF_ERROR(lower_contrib_ops(graph, ctx));
  return lower_einsum(graph, ctx);
}

}  // namespace

Status run_optimization_passes(Graph& graph, const BuildOptions& options,
                               std::map<std::string, int>* rewrites) {
  if (!options.optimize) {
    log_line(options, options.precision == "fp32"
                          ? "optimizer: off (--no-optimize)"
                          : str_cat("optimizer: off (--no-optimize); every node stays fp32, since ",
                                    options.precision, " applies to fused nodes only"));
    return Status::ok_status();
  }
  PassContext ctx(options.verbose, options.log);
  // On the CPU the passes mark the nodes that compute in bf16; a CUDA plan's precision applies
  // to every GPU kernel and is the CUDA engine's business, so its graph stays unmarked.
  // Quantized builds fuse in fp32; quantize_for_build then picks each layer's precision.
  ctx.set_precision(options.device == "cpu" && !quant::is_quantized_precision(options.precision)
                        ? options.precision
                        : "fp32");
  ctx.set_quantized_build(quant::is_quantized_precision(options.precision));
  ctx.set_device(options.device);
  if (options.verbose) log_line(options, "optimizer:");
  VITRT_RETURN_IF_ERROR(optimize_graph(graph, ctx));
  std::string applied;
  for (const auto& [pass, n] : ctx.applied_counts()) {
    applied += str_cat(applied.empty() ? "" : ", ", pass, " x", n);
  }
  log_line(options, str_cat("optimizer: ", applied.empty() ? "nothing applied" : applied,
                            options.verbose || ctx.near_miss_count() == 0
                                ? std::string()
                                : str_cat(" (", ctx.near_miss_count(),
                                          " near misses: --verbose lists them)")));
  if (rewrites != nullptr) *rewrites = ctx.applied_counts();
  return Status::ok_status();
}

Result<Graph> import_and_prepare(const std::string& onnx_path, const BuildOptions& options,
                                 BuildSummary* summary) {
  const bool quantized = quant::is_quantized_precision(options.precision);
  const bool cpu_ok = options.device == "cpu" &&
                      (options.precision == "fp32" || options.precision == "bf16" || quantized);
  const bool cuda_ok =
      options.device == "cuda" && (options.precision == "fp32" || options.precision == "fp16" ||
                                   options.precision == "bf16" || quantized);
  if (!cpu_ok && !cuda_ok) {
    return unsupported("precision '", options.precision, "' is not supported yet for device '",
                       options.device,
                       "' (cpu builds fp32, bf16, int8 and fp8 plans; cuda fp32, fp16, bf16, int8, "
                       "fp8)");
  }
  if (quantized && !options.optimize) {
    return invalid_argument("--precision ", options.precision,
                            " quantizes fused linear layers: it needs the optimizer (drop "
                            "--no-optimize)");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(onnx_path, ec)) {
    return not_found("ONNX model '", onnx_path, "' does not exist or is not a file");
  }
  VITRT_ASSIGN_OR_RETURN(Graph graph, import_onnx_file(onnx_path));
  const std::map<std::string, int> ops_before = graph.op_counts();
  log_line(options,
           str_cat("imported '", onnx_path, "': ", total_nodes(ops_before), " nodes (",
                   op_counts_text(ops_before), "), opset ", graph.onnx_opset(),
                   graph.producer_name.empty()
                       ? std::string()
                       : str_cat(", producer ", graph.producer_name, " ", graph.producer_version)));
  log_line(options, str_cat("parameters: ", graph.parameter_count(), " (", graph.parameter_bytes(),
                            " bytes)"));
  // Einsum has no schema or kernel of its own: it is lowered to MatMul, optimizer or not, from
  // its equation alone. First before If inlining, whose shape inference over the graph upstream
  // of each If does not know it (VitDet's TorchScript export: layer 0's Einsum feeds layer 1's
  // Ifs), again after it for those the inlined branches bring.
  PassContext lower_ctx(options.verbose, options.log);
  Status lowered_ops = lower_schemaless_ops(graph, lower_ctx);
  if (!lowered_ops.ok()) return lowered_ops.with_context(str_cat("'", onnx_path, "'"));
  // If nodes next: shape inference knows no If and no kernel runs one.
  PassContext if_ctx(options.verbose, options.log);
  specialise_profile_dims(graph, options);
  Status inlined = inline_constant_ifs(graph, if_ctx);
  if (!inlined.ok()) return inlined.with_context(str_cat("'", onnx_path, "'"));
  if (auto it = if_ctx.applied_counts().find("inline_if"); it != if_ctx.applied_counts().end()) {
    log_line(options,
             str_cat("inlined ", it->second, " If node(s) whose condition is known at build time"));
    lowered_ops = lower_schemaless_ops(graph, lower_ctx);
    if (!lowered_ops.ok()) return lowered_ops.with_context(str_cat("'", onnx_path, "'"));
  }
  // A float16 / bfloat16 export computes in the build's precision like an fp32 one (the CPU
  // has no half kernels; the fusions match float32 graphs); its inputs and outputs keep their
  // types.
  PassContext widen_ctx(options.verbose, options.log);
  Status widened = widen_half_floats(graph, widen_ctx);
  if (!widened.ok()) return widened.with_context(str_cat("'", onnx_path, "'"));
  if (widen_ctx.applied_counts().count("widen_half_floats") != 0) {
    log_line(options, str_cat("the model's float16/bfloat16 tensors compute in ",
                              options.device == "cpu" || options.precision == "fp32"
                                  ? "float32 (" +
                                        std::string(options.device == "cuda"
                                                        ? "--precision fp16 or bf16 for half "
                                                          "kernels"
                                                        : "the CPU has no half kernels") +
                                        ")"
                                  : "the build precision, " + options.precision,
                              "; inputs and outputs keep their types"));
  }
  // Upsampling ConvTranspose after widening: its weights are float32 then.
  Status upsamplers = lower_conv_transpose(graph, lower_ctx);
  if (!upsamplers.ok()) return upsamplers.with_context(str_cat("'", onnx_path, "'"));
  const std::map<std::string, int>& lowered_counts = lower_ctx.applied_counts();
  if (auto it = lowered_counts.find("lower_contrib_ops"); it != lowered_counts.end()) {
    log_line(options,
             str_cat("lowered ", it->second,
                     " com.microsoft node(s) of ONNX Runtime's optimizer to standard ops"));
  }
  if (auto it = lowered_counts.find("lower_einsum"); it != lowered_counts.end()) {
    log_line(options, str_cat("lowered ", it->second, " Einsum node(s) to MatMul"));
  }
  if (auto it = lowered_counts.find("lower_conv_transpose"); it != lowered_counts.end()) {
    log_line(options,
             str_cat("lowered ", it->second, " ConvTranspose node(s) to 1x1 Conv + DepthToSpace"));
  }
  Status inferred = infer_shapes(graph);
  if (!inferred.ok()) return inferred.with_context(str_cat("'", onnx_path, "'"));
  // Lowerings that need the inferred shapes: each logs what it did, "<before><count><after>",
  // and shapes are inferred again when it changed the graph.
  const auto lower_with_shapes = [&](PassFn pass, const char* name, const char* before,
                                     const char* after) -> Status {
    PassContext ctx(options.verbose, options.log);
    VITRT_RETURN_IF_ERROR(pass(graph, ctx));
    auto it = ctx.applied_counts().find(name);
    if (it == ctx.applied_counts().end()) return Status::ok_status();
    log_line(options, str_cat(before, it->second, after));
    return infer_shapes(graph);
  };
  // RNN / GRU / LSTM have no kernel: unrolled over their (build-time) sequence length.
  Status lowered = lower_with_shapes(lower_recurrent, "lower_recurrent", "unrolled ",
                                     " RNN / GRU / LSTM node(s) over their sequence");
  // ONNX Attention (opset 23) likewise: vitrt.Attention is the one attention op kernels run.
  if (lowered.ok()) {
    lowered = lower_with_shapes(lower_onnx_attention, "lower_onnx_attention", "lowered ",
                                " ONNX Attention node(s) (opset 23)");
  }
  if (lowered.ok()) {
    lowered = lower_with_shapes(lower_norm_params, "lower_norm_params",
                                "moved the leading-dim Scale / B of ",
                                " normalization node(s) into a Mul / Add after it");
  }
  if (lowered.ok() && options.device == "cuda") {
    // The CUDA backend convolves 2-D images only.
    lowered = lower_with_shapes(lower_conv_nd, "lower_conv_nd", "lowered ",
                                " 1-D / 3-D Conv node(s) to forms the CUDA backend runs");
  }
  if (!lowered.ok()) return lowered.with_context(str_cat("'", onnx_path, "'"));
  for (ValueId id : graph.inputs) {
    log_line(options, "input  " + value_signature(graph.values[id]));
  }
  for (ValueId id : graph.outputs) {
    log_line(options, "output " + value_signature(graph.values[id]));
  }
  std::map<std::string, int> rewrites;
  Status optimized = run_optimization_passes(graph, options, &rewrites);
  if (!optimized.ok()) return optimized.with_context(str_cat("'", onnx_path, "'"));
  graph.compact();
  if (quantized) {
    Status q = quant::quantize_for_build(graph, options);
    if (!q.ok()) return q.with_context(str_cat("'", onnx_path, "'"));
  }
  if (summary != nullptr) {
    summary->ops_before = ops_before;
    summary->ops_after = graph.op_counts();
    summary->rewrites = rewrites;
    summary->parameter_count = graph.parameter_count();
    summary->parameter_bytes = graph.parameter_bytes();
  }
  return graph;
}

Result<BuildSummary> build_plan(const std::string& onnx_path, const std::string& plan_path,
                                const BuildOptions& options) {
  BuildSummary summary;
  VITRT_ASSIGN_OR_RETURN(Graph graph, import_and_prepare(onnx_path, options, &summary));
  PlanMetadata metadata;
  metadata.vitrt_version = kVitrtVersion;
  metadata.device = options.device;
  metadata.precision = options.precision;
  if (quant::is_quantized_precision(options.precision)) {
    // The plan's float type (what engines read as its precision); the quantized layers carry
    // their format in their nodes.
    metadata.precision = quant::float_precision_of(options);
    metadata.build_options["quantization"] = options.precision;
  }
  metadata.build_options["verbose"] = options.verbose ? "true" : "false";
  metadata.build_options["source"] = onnx_path;
  VITRT_ASSIGN_OR_RETURN(std::vector<OptimizationProfile> profiles,
                         parse_profile_specs(options.profiles));
  Status profiles_ok = check_profiles(graph, profiles);
  if (!profiles_ok.ok()) return profiles_ok.with_context(str_cat("'", onnx_path, "'"));
  if (!profiles.empty()) {
    metadata.build_options[kProfilesMetadataKey] = format_profiles(profiles);
    for (size_t p = 0; p < profiles.size(); ++p) {
      std::string text;
      for (const InputRange& r : profiles[p].inputs) {
        text += str_cat(text.empty() ? "" : "; ", format_profiles({OptimizationProfile{{r}}}));
      }
      log_line(options, str_cat("profile ", p, ": ", text));
    }
  }
  // Creating every kernel once validates attributes now rather than when the plan is loaded.
  Status kernels;
  if (options.device == "cuda") {
    const CudaBackendHooks* cuda = cuda_backend();
    if (cuda == nullptr) {
      return unsupported(
          "this vitrt was built without the CUDA backend (no nvcc at build "
          "time): it cannot build plans for device 'cuda'");
    }
    metadata.build_options["arch"] = cuda->arch;
    metadata.build_options["tf32"] = options.tf32 ? "true" : "false";
    kernels = cuda->check_graph(graph, metadata);
    if (kernels.ok() && options.select_tactics && cuda->select_tactics != nullptr) {
      TacticOptions tactics;
      tactics.shape_sets = tuning_shapes(graph, profiles, options);
      tactics.timing_cache = options.timing_cache;
      tactics.tanh_gelu_epilogue = !options.exact_gelu;
      tactics.fp8_fast_accum = options.fp8_fast_accum;
      tactics.verbose = options.verbose;
      tactics.log = options.log;
      kernels = cuda->select_tactics(graph, metadata, tactics);
    }
  } else if (options.device == "cpu") {
    kernels = check_cpu_kernels(graph);
  } else {
    return invalid_argument("unknown device '", options.device, "' (cpu or cuda)");
  }
  if (!kernels.ok()) return kernels.with_context(str_cat("'", onnx_path, "'"));
  log_line(options, str_cat("ops: ", total_nodes(summary.ops_before), " before, ",
                            total_nodes(summary.ops_after), " after optimization"));
  log_line(options, str_cat("plan graph: ", total_nodes(summary.ops_after), " nodes (",
                            op_counts_text(summary.ops_after), ")"));

  VITRT_ASSIGN_OR_RETURN(uint64_t plan_bytes, write_plan_file(plan_path, graph, metadata));
  summary.plan_bytes = static_cast<int64_t>(plan_bytes);
  log_line(options, str_cat("wrote '", plan_path, "': ", summary.plan_bytes, " bytes"));
  return summary;
}

}  // namespace vitrt
