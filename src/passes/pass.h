// The optimizer's pass interface: every pass is a pure Graph -> Graph rewrite in its own file
// under src/passes/, declared here, run in the order of default_passes().
//
// A pass reports through its PassContext: each rewrite it applied (pattern, the nodes it
// absorbed) and, for the verbose build log, each near miss with the reason it declined. Passes
// must check every precondition before changing the graph: a fusion that might change numbers
// does not fire.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt {

class PassContext {
 public:
  // `log` receives report lines; `verbose` adds near misses and per-rewrite detail.
  PassContext(bool verbose, std::function<void(const std::string&)> log)
      : verbose_(verbose), log_(std::move(log)) {}

  bool verbose() const { return verbose_; }

  // The build precision ("fp32", "bf16"): assign_precision reads it.
  const std::string& precision() const { return precision_; }
  void set_precision(std::string precision) { precision_ = std::move(precision); }

  // The device the plan targets ("cpu", "cuda"), for passes whose rewrites pay on one device
  // only; empty (unknown) applies them everywhere.
  const std::string& device() const { return device_; }
  void set_device(std::string device) { device_ = std::move(device); }

  // A quantized build's fusion run: select_rows_early waits until quantize_for_build has
  // chosen each layer's precision on the full-size graph (a last block working on its class
  // token alone would look like a head there), and runs after quantize_linear instead.
  bool quantized_build() const { return quantized_build_; }
  void set_quantized_build(bool quantized) { quantized_build_ = quantized; }

  // A rewrite applied by `pass`: what it made (e.g. "Attention 'layer.3'") and the nodes it
  // absorbed. Counted per pass for the summary; listed one per line in verbose mode.
  void applied(const std::string& pass, const std::string& what,
               const std::vector<std::string>& absorbed_nodes = {});
  // A pattern that looked like a match but was declined, and why. Verbose mode only.
  void near_miss(const std::string& pass, const std::string& where, const std::string& reason);
  // A free-form line for the log (always shown).
  void note(const std::string& line) const;

  // pass name -> number of rewrites applied, for the summary line.
  const std::map<std::string, int>& applied_counts() const { return applied_counts_; }
  int near_miss_count() const { return near_misses_; }

 private:
  bool verbose_;
  std::string precision_ = "fp32";
  std::string device_;
  bool quantized_build_ = false;
  std::function<void(const std::string&)> log_;
  std::map<std::string, int> applied_counts_;
  // The clean-up passes run several rounds; a near miss is reported once, not once a round.
  std::set<std::string> near_miss_seen_;
  int near_misses_ = 0;
};

// A pass returns an error only for a graph it cannot handle safely (a broken invariant), never
// for a pattern it declines: declining is a near miss.
using PassFn = Status (*)(Graph& graph, PassContext& ctx);

struct Pass {
  const char* name;
  PassFn run;
};

// The passes in the order the builder runs them.
const std::vector<Pass>& default_passes();

// The fusion passes VITRT_DISABLE_FUSIONS=name[,name...] names (to measure what one brings), or
// an error naming an unknown pass and listing the known ones.
Result<std::set<std::string>> disabled_fusions();

// Runs default_passes(), the clean-up passes again until nothing changes, re-infers shapes,
// compacts the graph and validates it. Shapes must have been inferred before.
Status optimize_graph(Graph& graph, PassContext& ctx);

// ---- the passes, one per file -------------------------------------------------------------
// Lowering (src/passes/inline_if.cc), before the first shape inference and whether or not the
// optimizer runs: every If whose condition is a build-time constant (constants, static shapes)
// is replaced by the branch it takes; an If whose condition depends on data or on a dynamic dim
// is an error that names it and says why. Sub-graphs are inlined recursively.
Status inline_constant_ifs(Graph& graph, PassContext& ctx);
Status widen_half_floats(Graph& graph, PassContext& ctx);  // fp16/bf16 models -> fp32 inside
// Lowering (src/passes/lower_onnx_attention.cc), after the first shape inference and whether or
// not the optimizer runs: ONNX's Attention op (opset 23) becomes vitrt.Attention with the head
// layout converted around it; forms vitrt.Attention cannot express are an error naming the node.
Status lower_onnx_attention(Graph& graph, PassContext& ctx);
// Lowering (src/passes/lower_recurrent.cc), after the first shape inference and whether or not
// the optimizer runs: RNN, GRU and LSTM are unrolled over their build-time sequence length into
// GEMMs and elementwise ops; an unknown length, clip or a non-float32 X is an error naming the
// node.
Status lower_recurrent(Graph& graph, PassContext& ctx);
// Lowering (src/passes/lower_einsum.cc), before the first shape inference and whether or not the
// optimizer runs: one- and two-operand Einsum becomes ReduceSum / Transpose / Unsqueeze / Reshape
// around one MatMul; other equations are an error naming the node.
Status lower_einsum(Graph& graph, PassContext& ctx);
// Lowering (src/passes/lower_contrib_ops.cc), at the same point: the com.microsoft ops ONNX
// Runtime writes into the models it optimizes (SkipLayerNormalization, FusedMatMul,
// DynamicQuantizeMatMul, ...) become standard ops.
Status lower_contrib_ops(Graph& graph, PassContext& ctx);
// Lowering (src/passes/lower_conv_transpose.cc), likewise: a ConvTranspose whose kernel equals
// its stride (an upsampler) becomes a 1x1 Conv + DepthToSpace; other forms stay ConvTranspose
// (a near miss in the verbose log).
Status lower_conv_transpose(Graph& graph, PassContext& ctx);
// Lowering (src/passes/lower_conv_nd.cc) for backends with 2-D convolutions only (CUDA), after
// the first shape inference, optimizer or not: a 1-D Conv becomes a 2-D one of height 1, a 3-D
// Conv whose kernel equals its stride (a video ViT's tubelets) blocks + MatMul; other forms stay
// Conv (a near miss in the verbose log).
Status lower_conv_nd(Graph& graph, PassContext& ctx);
// Lowering (src/passes/lower_norm_params.cc), after the first shape inference, optimizer or not:
// a LayerNormalization / RMSNormalization whose Scale or B broadcasts over X's leading dims (as
// ONNX allows) keeps per-feature parameters and applies the wide ones in a Mul / Add after it.
Status lower_norm_params(Graph& graph, PassContext& ctx);
// Import (src/passes/import_qdq.cc): QDQ-quantized MatMul/Gemm -> vitrt.QuantLinear. First in
// the clean-up list, so it sees the weights' DequantizeLinear before fold_constants folds it.
Status import_qdq(Graph& graph, PassContext& ctx);
// Clean-up (src/passes/fold_repeated_qdq.cc): a QuantizeLinear -> DequantizeLinear pair whose
// values reach only the same quantization again, through data-movement ops, is dropped (exact;
// ONNX Runtime's QDQ models requantize after every Reshape, Transpose and Split).
Status fold_repeated_qdq(Graph& graph, PassContext& ctx);
// Fusion (src/passes/fuse_fake_quant.cc), after the others: each QuantizeLinear ->
// DequantizeLinear pair still left (per-tensor, 8-bit) -> one vitrt.FakeQuant (exact).
Status fuse_fake_quant(Graph& graph, PassContext& ctx);
// Fusion (src/passes/fuse_fake_quant_norm.cc), after fuse_fake_quant: the FakeQuant nodes
// of a quantized model's residual stream join its AddLayerNorm (Add -> FakeQuant ->
// LayerNormalization; FakeQuant -> AddLayerNorm's a or b) as quant_sum / quant_a / quant_b.
Status fuse_fake_quant_norm(Graph& graph, PassContext& ctx);
// Import (src/passes/import_dynamic_quant.cc): ONNX Runtime's quantize_dynamic chains
// (DynamicQuantizeLinear, MatMulInteger, Cast, Mul, Add) -> vitrt.QuantLinear, dynamic_input.
Status import_dynamic_quant(Graph& graph, PassContext& ctx);
// Clean-up (src/passes/{remove_identity,fold_constants,...}.cc)
Status remove_identity(Graph& graph, PassContext& ctx);  // Identity, Dropout
Status fold_constants(Graph& graph, PassContext& ctx);   // incl. shape arithmetic
Status eliminate_dead_nodes(Graph& graph, PassContext& ctx);
Status eliminate_duplicate_nodes(Graph& graph, PassContext& ctx);
Status simplify_reshape_transpose(Graph& graph, PassContext& ctx);  // and Squeeze/Unsqueeze
// A heads Transpose before vitrt.RotaryEmbedding moves after it (token_major), where it cancels
// against attention's (src/passes/fold_transpose_into_rotary.cc).
Status fold_transpose_into_rotary(Graph& graph, PassContext& ctx);
Status eliminate_casts(Graph& graph, PassContext& ctx);
// Fusions
// Inference BatchNormalization -> folded into the Conv before it, else Mul + Add per channel
// (src/passes/fold_batch_norm.cc).
Status fold_batch_norm(Graph& graph, PassContext& ctx);
Status fuse_layer_norm(Graph& graph, PassContext& ctx);
Status fuse_rms_norm(Graph& graph, PassContext& ctx);
// F.group_norm as TorchScript writes it (Reshape -> InstanceNormalization -> Reshape) ->
// GroupNormalization; before cancel_layout_transposes, which may then store a one-group norm
// channels-last.
Status fuse_group_norm(Graph& graph, PassContext& ctx);
Status fuse_gelu(Graph& graph, PassContext& ctx);
Status fuse_patch_embedding(Graph& graph, PassContext& ctx);
// Rotary position embeddings (rotate_half and interleaved forms, prefix tokens, partial rotary)
// -> vitrt.RotaryEmbedding; before fuse_attention, which reads its output as a head tensor.
Status fuse_rotary(Graph& graph, PassContext& ctx);
Status fuse_attention(Graph& graph, PassContext& ctx);
Status fuse_linear(Graph& graph, PassContext& ctx);  // MatMul + Add(bias) -> vitrt.Linear
Status fold_scale_into_weights(Graph& graph, PassContext& ctx);
Status pack_qkv(Graph& graph, PassContext& ctx);
Status fuse_linear_activation(Graph& graph, PassContext& ctx);  // Linear + Gelu -> epilogue
// Mul and Add of per-channel (last-axis) constants, and the activation after them ->
// vitrt.ScaleShift (src/passes/fuse_scale_shift.cc).
Status fuse_scale_shift(Graph& graph, PassContext& ctx);
// Add(residual, Linear) -> the Linear's residual input (Y = X.W + bias + residual); before
// fuse_residual_layer_norm, which then fuses only the adds no Linear feeds.
Status fuse_residual_into_linear(Graph& graph, PassContext& ctx);
Status fuse_residual_layer_norm(Graph& graph, PassContext& ctx);
// Concat(class token, patch tokens) + constant position embedding -> the patch GEMM computes
// the class token's row from a zero patch row (Patchify prefix_rows), the position embedding
// absorbs the difference (src/passes/fold_prefix_tokens.cc).
Status fold_prefix_tokens(Graph& graph, PassContext& ctx);
// A LayerNormalization read by one vitrt.Linear alone becomes that Linear's prologue (not for
// CPU plans or quantized builds; src/passes/fuse_norm_into_linear.cc).
Status fuse_norm_into_linear(Graph& graph, PassContext& ctx);
// A Gather of rows (tokens) moves before the row-wise ops that computed them (Linear, the
// LayerNorms, elementwise ops), so a class-token classifier's last block runs on its class
// token only (src/passes/select_rows_early.cc). After the fusions, on the fused ops; in a
// quantized build after quantize_linear (PassContext::quantized_build).
Status select_rows_early(Graph& graph, PassContext& ctx);
// Precision (src/passes/assign_precision.cc), after the fusions. With ctx.precision() "bf16" it
// sets the attribute compute_precision = "bf16" on the nodes whose kernels then round their
// inputs and weights to bfloat16 and accumulate in fp32 (outputs stay fp32): today every
// vitrt.Linear. The attribute is the contract for any op that adopts it ("fp32" or absent:
// full fp32); LayerNorm, Softmax, residual adds and products of two activations stay fp32.
Status assign_precision(Graph& graph, PassContext& ctx);
// Quantized builds (src/passes/fuse_quant_producers.cc), after quantize_linear: a producer whose
// output only quantized vitrt.QuantLinear layers of one format read (with one input_scale)
// writes their codes (attribute output_scale) that they take without quantizing. FP8:
// AddLayerNorm / LayerNormalization / Attention -> QuantLinear, also through views such as
// Reshape, and fp8 QuantLinear -> QuantLinear (fc1 -> fc2). INT8: int8 QuantLinear ->
// QuantLinear (a requantizing epilogue; zero point 0), not for ctx.device() "cpu".
Status fuse_quant_producers(Graph& graph, PassContext& ctx);

}  // namespace vitrt
