// The pass order, the build report, and the driver that runs the passes to a fixed point.
#include <cstdlib>
#include <numeric>
#include <set>
#include <sstream>
#include <string>

#include "ir/op_schema.h"
#include "passes/cancel_layout_transposes.h"
#include "passes/pass.h"

namespace vitrt {

void PassContext::applied(const std::string& pass, const std::string& what,
                          const std::vector<std::string>& absorbed_nodes) {
  ++applied_counts_[pass];
  if (!verbose_ || !log_) return;
  std::string line = str_cat("  [", pass, "] ", what);
  if (!absorbed_nodes.empty()) {
    line += str_cat(" <- ", absorbed_nodes.size(), " nodes:");
    for (const std::string& n : absorbed_nodes) line += " " + n;
  }
  log_(line);
}

void PassContext::near_miss(const std::string& pass, const std::string& where,
                            const std::string& reason) {
  if (!near_miss_seen_.insert(str_cat(pass, "\n", where, "\n", reason)).second) return;
  ++near_misses_;
  if (verbose_ && log_) log_(str_cat("  [", pass, "] not applied at ", where, ": ", reason));
}

void PassContext::note(const std::string& line) const {
  if (log_) log_(line);
}

namespace {

// Passes that only remove or simplify; they run first and again after the fusions, until
// nothing changes.
const std::vector<Pass>& cleanup_passes() {
  static const std::vector<Pass> passes = {
      {"import_qdq", import_qdq},
      {"fold_repeated_qdq", fold_repeated_qdq},
      {"remove_identity", remove_identity},
      {"fold_constants", fold_constants},
      {"eliminate_dead_nodes", eliminate_dead_nodes},
      {"eliminate_duplicate_nodes", eliminate_duplicate_nodes},
      {"fold_transpose_into_rotary", fold_transpose_into_rotary},
      {"simplify_reshape_transpose", simplify_reshape_transpose},
      {"eliminate_casts", eliminate_casts},
      // After remove_identity and fold_constants, which make the biases constants.
      {"import_dynamic_quant", import_dynamic_quant},
  };
  return passes;
}

// Fusions, in dependency order: BatchNorm folds into its Conv (or becomes elementwise) first;
// LayerNorm and GELU are recognised on the raw graph; RoPE
// becomes one op before attention, which reads it as a head tensor; attention is matched on the
// projections' Linear nodes; layout Transposes cancel once the Linear and LayerNorm nodes exist
// (so a layer scale and a residual are left next to their Linear for the epilogue passes); QKV
// packing needs the Attention nodes; the activation and residual
// epilogues go last so the larger patterns see plain ops first (an unfolded BatchNorm's Mul and
// Add, with the activation no conv epilogue took, become one ScaleShift after them) (the residual
// joins its Linear before a LayerNorm can take it: fuse_residual_layer_norm then fuses only the
// adds no Linear feeds); the class token's Concat folds into the patch GEMM and the position
// embedding's add; the Q/DQ pairs no fusion took become FakeQuant nodes, those of the residual
// stream then join its AddLayerNorm; a Gather of the rows a model keeps (its class token) moves
// before the fused row-wise ops that computed them; a LayerNorm read by one Linear alone becomes
// its prologue (not in CPU plans); the precision is assigned to the final fused nodes.
// (fuse_quant_producers is not among them: on a QDQ model's fp8 layers it made ModelOpt's FP8
// ViT-B/16 slower on the H200, 22.7 -> 23.4 ms at batch 256, as the producers' division by the
// scale for the codes cost more than the layers' own quantize pass.)
const std::vector<Pass>& fusion_passes() {
  static const std::vector<Pass> passes = {
      {"fold_batch_norm", fold_batch_norm},
      {"fuse_layer_norm", fuse_layer_norm},
      {"fuse_rms_norm", fuse_rms_norm},
      {"fuse_group_norm", fuse_group_norm},
      {"fuse_gelu", fuse_gelu},
      {"fuse_patch_embedding", fuse_patch_embedding},
      {"fuse_linear", fuse_linear},
      {"fuse_rotary", fuse_rotary},
      {"fuse_attention", fuse_attention},
      {"cancel_layout_transposes", cancel_layout_transposes},
      // Again: a norm written over an NCHW tensor's channel axis (MobileNetV5's RmsNorm2d,
      // SAM's LayerNorm2d) is one over the last axis once its region is stored channels-last.
      {"fuse_layer_norm", fuse_layer_norm},
      {"fuse_rms_norm", fuse_rms_norm},
      {"fold_scale_into_weights", fold_scale_into_weights},
      {"pack_qkv", pack_qkv},
      {"fuse_linear_activation", fuse_linear_activation},
      {"fuse_scale_shift", fuse_scale_shift},
      {"fuse_residual_into_linear", fuse_residual_into_linear},
      {"fuse_residual_layer_norm", fuse_residual_layer_norm},
      {"fold_prefix_tokens", fold_prefix_tokens},
      {"fuse_fake_quant", fuse_fake_quant},
      {"fuse_fake_quant_norm", fuse_fake_quant_norm},
      {"select_rows_early", select_rows_early},
      {"fuse_norm_into_linear", fuse_norm_into_linear},
      {"assign_precision", assign_precision},
  };
  return passes;
}

int total_applied(const PassContext& ctx) {
  int n = 0;
  for (const auto& [pass, count] : ctx.applied_counts()) n += count;
  return n;
}

// Runs one pass; re-infers shapes when it changed the graph, so later passes see the new
// values' dtypes and shapes.
Status run_one(const Pass& pass, Graph& graph, PassContext& ctx, bool* changed) {
  const int before = total_applied(ctx);
  Status s = pass.run(graph, ctx);
  if (!s.ok()) return s.with_context(str_cat("optimizer pass '", pass.name, "'"));
  if (total_applied(ctx) != before) {
    *changed = true;
    Status inferred = infer_shapes(graph);
    if (!inferred.ok()) {
      return inferred.with_context(str_cat("after optimizer pass '", pass.name, "'"));
    }
  }
  return Status::ok_status();
}

Status run_cleanup(Graph& graph, PassContext& ctx) {
  // Each round can expose more (a folded Shape makes a Reshape constant, ...); a few rounds
  // reach the fixed point on every export seen.
  constexpr int kMaxRounds = 8;
  for (int round = 0; round < kMaxRounds; ++round) {
    bool changed = false;
    for (const Pass& pass : cleanup_passes()) {
      VITRT_RETURN_IF_ERROR(run_one(pass, graph, ctx, &changed));
    }
    if (!changed) break;
  }
  return Status::ok_status();
}

}  // namespace

const std::vector<Pass>& default_passes() {
  static const std::vector<Pass> passes = [] {
    std::vector<Pass> all = cleanup_passes();
    for (const Pass& p : fusion_passes()) all.push_back(p);
    return all;
  }();
  return passes;
}

// VITRT_DISABLE_FUSIONS=name[,name...]: fusion passes to skip, to measure what one brings (the
// graph stays correct without any fusion), the quantized builds' fuse_quant_producers and
// fuse_fp8_attention included, and select_query_rows: select_rows_early's moves into attention
// alone.
// Unknown names are an error that lists the passes.
Result<std::set<std::string>> disabled_fusions() {
  std::set<std::string> names;
  const char* env = std::getenv("VITRT_DISABLE_FUSIONS");
  if (env == nullptr) return names;
  // The fusion passes, then the names beside them: the quantized builds' passes and a part of
  // select_rows_early.
  std::set<std::string> known;
  std::string all;
  for (const Pass& p : fusion_passes()) {
    known.insert(p.name);
    all += str_cat(all.empty() ? "" : ", ", p.name);
  }
  for (const char* other : {"fuse_quant_producers", "fuse_fp8_attention", "select_query_rows"}) {
    known.insert(other);
    all += str_cat(", ", other);
  }
  std::stringstream list(env);
  for (std::string name; std::getline(list, name, ',');) {
    if (name.empty()) continue;
    if (known.count(name) == 0) {
      return invalid_argument("VITRT_DISABLE_FUSIONS names '", name,
                              "', which is not a fusion pass; they are: ", all);
    }
    names.insert(name);
  }
  return names;
}

Status optimize_graph(Graph& graph, PassContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::set<std::string> disabled, disabled_fusions());
  VITRT_RETURN_IF_ERROR(run_cleanup(graph, ctx));
  for (const Pass& pass : fusion_passes()) {
    if (disabled.count(pass.name) != 0) {
      ctx.note(str_cat("optimizer: ", pass.name, " skipped (VITRT_DISABLE_FUSIONS)"));
      continue;
    }
    bool changed = false;
    VITRT_RETURN_IF_ERROR(run_one(pass, graph, ctx, &changed));
  }
  VITRT_RETURN_IF_ERROR(run_cleanup(graph, ctx));
  graph.compact();
  VITRT_RETURN_IF_ERROR(infer_shapes(graph));
  Status valid = graph.validate();
  if (!valid.ok()) return valid.with_context("optimized graph");
  return Status::ok_status();
}

}  // namespace vitrt
