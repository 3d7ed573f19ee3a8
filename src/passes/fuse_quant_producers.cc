// Pass fuse_quant_producers: activations that stay quantized between a producer and the
// vitrt.QuantLinear layers reading them.
//
// After quantize_linear every QuantLinear quantizes its float input itself: the producer writes
// the tensor in the activation type, the consumer reads it back, writes 8-bit codes and the GEMM
// reads those. When every reader of a tensor is a QuantLinear of one format with one
// input_scale, the producer can write the codes itself (attribute output_scale = that scale)
// and the readers take them as they are: one write and one read of the wide tensor fewer.
// The codes are the ones the consumer's quantize step would have made from a float32 tensor
// (e4m3(y / scale), or clamp(round(y / scale), qmin, 127) for int8, of the fp32 value), so a
// float32 plan computes the same numbers.
//
// FP8 producers: vitrt.AddLayerNorm's normalized output (the residual sum stays float; LN ->
// qkv / fc1), a last-axis LayerNormalization, which becomes an AddLayerNorm with a zero addend
// to get the output_scale attribute (a + 0 = a), vitrt.Attention (attention -> proj: its heads
// are merged in the op, so the fused exports of HF and timm feed proj directly), and an fp8
// QuantLinear feeding another (fc1 -> fc2), which writes the codes from its GEMM's epilogue,
// saving fc2's quantize pass over the widest activation of a ViT block.
//
// INT8 producers, for int8 layers whose zero point is 0 and qmax 127 (vitrt's own calibration,
// symmetric QDQ models): AddLayerNorm / LayerNormalization and vitrt.Attention (output_format
// int8, output_qmin = the readers' input_qmin), and an int8 QuantLinear, whose epilogue
// requantizes, for CUDA plans (CUTLASS's epilogue writes the codes; on the CPU they would cost
// a pass of their own). The attention's codes replace proj's quantize pass, which at ViT-B/16's
// batch 256 on the H100 read 77 MB and wrote 39 MB a layer (where the wgmma kernel does not
// run, the CUDA op writes its 16-bit output to scratch and encodes it in one pass: no worse).
//
// Codes pass through views (Reshape, Flatten, Squeeze, Unsqueeze) and through a Gather of
// rows (select_rows_early's, before the class token's layers): each keeps every element it
// passes as it is, and quantizing is element by element, so the codes of the reshaped or
// gathered tensor are the reshaped or gathered codes. A Transpose between producer and reader (a
// copy, never seen between a fused attention and its proj) is reported rather than passed.
//
// The pass fuse_fp8_attention (CUDA fp8 builds, after this one) lives here too: the qkv layer's
// E4M3 codes into vitrt.Attention, with the producer and view rules above.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "ir/ops/op_attributes.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"
#include "passes/quantize_linear.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_quant_producers";

bool is_vitrt(const Node& node, const char* op_type) {
  return !node.dead && node.domain == "vitrt" && node.op_type == op_type;
}

// The codes a QuantLinear reader takes as its X.
enum class CodeKind { kNone, kFp8, kInt8 };

std::string quant_format(const Node& node) {
  Result<std::string> format = node.attrs.get_string("format", "");
  return format.ok() ? *format : std::string();
}

// kFp8 for an fp8 QuantLinear; kInt8 for an int8 one whose quantize step a producer can take
// over (static scale, zero point 0, qmax 127: the codes are clamp(round(x / s), qmin, 127));
// kNone otherwise.
CodeKind reader_kind(const Node& node) {
  if (!is_vitrt(node, "QuantLinear")) return CodeKind::kNone;
  const std::string format = quant_format(node);
  if (format == "fp8") return CodeKind::kFp8;
  if (format != "int8") return CodeKind::kNone;
  Result<int64_t> dynamic = node.attrs.get_int("dynamic_input", 0);
  Result<int64_t> zp = node.attrs.get_int("input_zero_point", 0);
  Result<int64_t> qmin = node.attrs.get_int("input_qmin", -127);
  Result<int64_t> qmax = node.attrs.get_int("input_qmax", 127);
  const bool ok = dynamic.ok() && *dynamic == 0 && zp.ok() && *zp == 0 && qmax.ok() &&
                  *qmax == 127 && qmin.ok() && *qmin >= -128 && *qmin <= 0;
  return ok ? CodeKind::kInt8 : CodeKind::kNone;
}

const char* kind_name(CodeKind kind) {
  return kind == CodeKind::kInt8 ? "int8" : "fp8";
}

// Why a QuantLinear producer cannot write `kind` codes, or "" when it can. A layer's codes are
// those of its fp32 result act(y) whatever its activation and its X (float or codes), written
// by a GEMM of the same format; a residual sum (input 4) feeds a LayerNorm in the models this
// targets, so codes out do not take one.
std::string quant_linear_producer_problem(const Node& node, CodeKind kind,
                                          const std::string& device) {
  const std::string format = quant_format(node);
  if (format != kind_name(kind)) {
    return str_cat("is an ", format, " QuantLinear (", kind_name(kind), " codes come from ",
                   kind_name(kind), " layers)");
  }
  Result<int64_t> dynamic = node.attrs.get_int("dynamic_input", 0);
  if (!dynamic.ok() || *dynamic != 0) return "quantizes its input per run (dynamic_input)";
  if (node.has_input(4)) return "adds a residual (a residual sum is not written as codes)";
  if (kind == CodeKind::kInt8 && device == "cpu") {
    // Measured on ViT-B/16 at batch 8 (2 cores): no faster with the codes (280 ms against
    // 267-273). oneDNN's int8 GEMM writes fp32 rows either way, so the codes are one more pass
    // there; on CUDA CUTLASS's epilogue writes them (ViT-B/16 at batch 256: 14.83 ms against
    // 15.21 in one call on the H200).
    return "would encode them in a pass of its own on the CPU (no faster than the reader's "
           "quantize step)";
  }
  return "";
}

// Why `node`'s output 0 cannot be written as `kind` codes, or "" when it can.
std::string producer_problem(const Graph& graph, const Uses& uses, const Node& node, CodeKind kind,
                             const std::string& device) {
  Result<std::string> precision = node.attrs.get_string("compute_precision", "fp32");
  if (!precision.ok() || *precision != "fp32") return "it computes in reduced precision";
  if (is_vitrt(node, "QuantLinear")) return quant_linear_producer_problem(node, kind, device);
  if (is_onnx_op(node, "LayerNormalization")) {
    const Value& x = graph.values[node.inputs[0]];
    Result<int64_t> axis = node.attrs.get_int("axis", -1);
    Result<int64_t> stash = node.attrs.get_int("stash_type", 1);
    if (x.dtype != DType::kFloat32 || !x.has_shape || x.shape.empty() ||
        !x.shape.back().is_static()) {
      return "its input is not float32 with a static last axis";
    }
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    if (!axis.ok() || (*axis != -1 && *axis != rank - 1)) {
      return "it does not normalize the last axis";
    }
    if (!stash.ok() || *stash != 1) return "its stash_type is not float32";
    for (size_t i = 1; i < node.outputs.size(); ++i) {
      const ValueId out = node.outputs[i];
      if (out != kNoValue && (!uses.of(out).empty() || is_graph_output(graph, out))) {
        return "its mean / inv_std outputs are used";
      }
    }
    for (size_t i = 1; i < node.inputs.size(); ++i) {
      if (node.inputs[i] == kNoValue) continue;
      const Value& p = graph.values[node.inputs[i]];
      // vitrt.AddLayerNorm takes float32 constants (a plan converts them itself).
      if (!p.is_constant() || p.dtype != DType::kFloat32) {
        return "its scale / bias are not float32 constants";
      }
    }
  }
  return "";
}

bool is_candidate_producer(const Node& node) {
  return is_vitrt(node, "QuantLinear") || is_vitrt(node, "AddLayerNorm") ||
         is_vitrt(node, "Attention") || (!node.dead && is_onnx_op(node, "LayerNormalization"));
}

// A node whose output 0 holds elements of its input 0 unchanged: another shape of it, or a
// Gather of some of its rows.
bool is_view(const Node& node) {
  return is_reshape_view(node) || (!node.dead && is_onnx_op(node, "Gather"));
}

// `node` reads `v` as its input 0 and nowhere else.
bool reads_only_as_first(const Node& node, ValueId v) {
  if (node.inputs.empty() || node.inputs[0] != v) return false;
  for (size_t i = 1; i < node.inputs.size(); ++i) {
    if (node.inputs[i] == v) return false;
  }
  return true;
}

std::string describe_node(const Node& node) {
  return str_cat("'", node.name, "' (", node.op_type, ")");
}

// Who reads a tensor, looking through views.
struct Readers {
  std::vector<NodeId> quant;   // QuantLinear layers that can take codes, reading it (or a view
                               // of it) as X
  std::vector<NodeId> views;   // views passed through, in walk order
  std::vector<NodeId> others;  // every other reader
  bool graph_output = false;   // it or a view of it is a graph output
};

// A reader for a near miss: its name and op (a QuantLinear's format with it).
std::string describe_reader(const Node& reader) {
  if (is_vitrt(reader, "QuantLinear")) {
    Result<std::string> format = reader.attrs.get_string("format", "");
    if (format.ok()) return str_cat("'", reader.name, "' (", *format, " QuantLinear)");
  }
  return describe_node(reader);
}

void collect_readers(const Graph& graph, const Uses& uses, ValueId v, Readers& r) {
  r.graph_output = r.graph_output || is_graph_output(graph, v);
  for (NodeId id : uses.of(v)) {
    const Node& reader = graph.nodes[id];
    if (reader_kind(reader) != CodeKind::kNone && reads_only_as_first(reader, v)) {
      r.quant.push_back(id);
    } else if (is_view(reader) && reads_only_as_first(reader, v) && !reader.outputs.empty() &&
               reader.outputs[0] != kNoValue) {
      r.views.push_back(id);
      collect_readers(graph, uses, reader.outputs[0], r);
    } else {
      r.others.push_back(id);
    }
  }
}

// The first Transpose reading `v` (or a view of it) that has a QuantLinear taking codes reading
// its output (or a view of that), or nullptr: the layout change that keeps an edge float.
const Node* transpose_before_quant(const Graph& graph, const Uses& uses, ValueId v) {
  for (NodeId id : uses.of(v)) {
    const Node& reader = graph.nodes[id];
    if (reader.dead || reader.outputs.empty() || reader.outputs[0] == kNoValue) continue;
    if (is_view(reader) && reads_only_as_first(reader, v)) {
      if (const Node* t = transpose_before_quant(graph, uses, reader.outputs[0])) return t;
    } else if (is_onnx_op(reader, "Transpose")) {
      Readers behind;
      collect_readers(graph, uses, reader.outputs[0], behind);
      if (!behind.quant.empty()) return &reader;
    }
  }
  return nullptr;
}

// LayerNormalization(x, scale, bias) -> AddLayerNorm(x, zeros[C], scale, bias), same output.
void to_add_layer_norm(Graph& graph, NodeId id) {
  const Value& x = graph.values[graph.nodes[id].inputs[0]];
  const ValueId b =
      add_zeros_constant(graph, graph.nodes[id].name + "_zero_addend", x.shape.back().value());
  Node& node = graph.nodes[id];
  Result<float> eps = node.attrs.get_float("epsilon", 1e-5f);
  std::vector<ValueId> inputs = {node.inputs[0], b, node.inputs[1]};
  if (node.inputs.size() > 2 && node.inputs[2] != kNoValue) inputs.push_back(node.inputs[2]);
  node.domain = "vitrt";
  node.op_type = "AddLayerNorm";
  node.inputs = std::move(inputs);
  node.outputs.resize(1);
  node.attrs = Attributes();
  node.attrs.set_float("epsilon", eps.ok() ? *eps : 1e-5f);
}

// fuse_fp8_attention (CUDA fp8 builds, after fuse_quant_producers): q, k and v as E4M3
// codes from the fp8 QuantLinear that makes them (ViT's qkv) into vitrt.Attention.
//
// Without it the qkv GEMM of an fp8 plan writes its [tokens, 3 * width] output in the 16-bit
// type and the attention reads it back: at ViT-B/16's batch 256 the widest write of a block
// after fc1's. With it the GEMM's epilogue writes E4M3 codes of y / s (output_scale = s, half
// the bytes) and the attention (input_scale = s) reads them: Q K^T runs on 8-bit tensor cores,
// V is widened in shared memory, P and P V stay 16-bit (src/cuda/cutlass/attention_sm90.cu).
// s is the calibrated range of the attention's inputs (minmax, as every fp8 input here) / 448,
// the largest of q, k and v where they are separate, measured on the float graph before
// select_rows_early may split a last block's packed qkv into q, k and v layers (so the range
// is looked up by the attention's name); separate producers write with the one s.
//
// Taken only where the wgmma kernel takes it (head dims 64, at most 256 keys where the length
// is known): elsewhere the codes would be widened by a pass of their own before a 16-bit
// attention, a loss. An Attention that a --layer-precision rule gives a float precision stays
// float, as does one whose input is also read by another node, is a graph output, or comes
// from a producer that cannot write codes (a residual sum, a dynamic-input or int8 layer).
constexpr const char* kFp8AttentionPass = "fuse_fp8_attention";
constexpr int64_t kFp8AttentionHeadDim = 64;   // the E4M3 kernel's head dim
constexpr int64_t kFp8AttentionMaxKeys = 256;  // and its longest key sequence

// Why `node` cannot write the E4M3 q, k, v codes, or "": an fp8 QuantLinear that
// producer_problem lets write codes, and does not already.
std::string fp8_qkv_producer_problem(const Graph& graph, const Uses& uses, const Node& node,
                                     const std::string& device) {
  if (!is_vitrt(node, "QuantLinear")) {
    return str_cat("is a ", node.op_type, " (only fp8 QuantLinear layers write them)");
  }
  if (node.attrs.has("output_scale")) return "already writes codes";
  return producer_problem(graph, uses, node, CodeKind::kFp8, device);
}

// Whether an Attention carries its own quantization (a QDQ model's: fuse_fp8_attention leaves
// it as it is).
bool quantized_inside(const Node& node) {
  if (node.attrs.has("input_scale")) return true;
  for (const char* a : kAttentionFakeQuantAttrs) {
    if (node.attrs.has(a)) return true;
  }
  return false;
}

// Why the E4M3 attention kernel can never take `node` (an Attention with `heads` heads),
// whatever the calibration finds: its head dims and, where known, its length. "" if it can.
std::string fp8_attention_shape_problem(const Graph& graph, const Node& node, int64_t heads) {
  const bool packed = !node.has_input(1);
  for (int i = 0; i < (packed ? 1 : 3); ++i) {
    const Value& v = graph.values[node.inputs[i]];
    if (!v.has_shape || v.shape.size() != 3 || !v.shape[2].is_static()) {
      return "its head dims are not known at build time";
    }
    const int64_t width = v.shape[2].value() / (packed ? 3 : 1);
    if (heads < 1 || width != heads * kFp8AttentionHeadDim) {
      return str_cat("head dim ", heads > 0 ? width / heads : 0,
                     " (the E4M3 attention kernel takes 64)");
    }
    if (v.shape[1].is_static() && v.shape[1].value() > kFp8AttentionMaxKeys) {
      return str_cat(v.shape[1].value(), " tokens (the E4M3 attention kernel takes at most ",
                     kFp8AttentionMaxKeys, ")");
    }
  }
  return "";
}

// Every reader of `v` (through views) is `attention`; no graph output.
bool read_only_by(const Graph& graph, const Uses& uses, ValueId v, NodeId attention) {
  Readers r;
  collect_readers(graph, uses, v, r);
  return !r.graph_output && r.quant.empty() &&
         std::all_of(r.others.begin(), r.others.end(), [&](NodeId o) { return o == attention; });
}

}  // namespace

Status fuse_quant_producers(Graph& graph, PassContext& ctx) {
  const Uses uses(graph);
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    const Node& node = graph.nodes[id];
    if (!is_candidate_producer(node) || node.outputs.empty()) continue;
    const ValueId v = node.outputs[0];
    if (v == kNoValue || graph.values[v].dtype != DType::kFloat32) continue;
    // Only edges into QuantLinear layers that take codes are of interest: anything else is not
    // a near miss.
    Readers readers;
    collect_readers(graph, uses, v, readers);
    const std::vector<NodeId>& quant_readers = readers.quant;
    if (quant_readers.empty()) {
      if (const Node* t = transpose_before_quant(graph, uses, v)) {
        ctx.near_miss(
            kPass,
            str_cat("'", graph.values[v].name, "' (", node.op_type, " '", node.name,
                    "' -> Transpose '", t->name, "')"),
            readers.graph_output
                ? "stays float: it is a graph output"
                : "stays float: it is transposed before the quantized QuantLinear reads it "
                  "(codes pass through views such as Reshape, not through a "
                  "Transpose)");
      }
      continue;
    }
    // A copy: rewriting a LayerNormalization adds a value, which may move graph.values.
    const std::string v_name = graph.values[v].name;
    const std::string where = str_cat("'", v_name, "' (", node.op_type, " '", node.name, "' -> '",
                                      graph.nodes[quant_readers[0]].name, "'",
                                      quant_readers.size() > 1 ? " and others" : "", ")");
    if (!readers.others.empty()) {
      ctx.near_miss(kPass, where,
                    str_cat("stays float: also read by ",
                            describe_reader(graph.nodes[readers.others.front()])));
      continue;
    }
    if (readers.graph_output) {
      ctx.near_miss(kPass, where, "stays float: it is a graph output");
      continue;
    }
    const Node& first = graph.nodes[quant_readers[0]];
    const CodeKind kind = reader_kind(first);
    Result<float> scale = first.attrs.get_float("input_scale", 0.0f);
    if (!scale.ok()) return scale.status();
    Result<int64_t> qmin = first.attrs.get_int("input_qmin", -127);
    if (!qmin.ok()) return qmin.status();
    // One set of codes serves the readers only if they would all make the same ones.
    bool same_kind = true, same_scale = *scale > 0.0f && std::isfinite(*scale), same_range = true;
    for (NodeId r : quant_readers) {
      const Node& reader = graph.nodes[r];
      Result<float> s = reader.attrs.get_float("input_scale", 0.0f);
      Result<int64_t> lo = reader.attrs.get_int("input_qmin", -127);
      same_kind = same_kind && reader_kind(reader) == kind;
      same_scale = same_scale && s.ok() && *s == *scale;
      same_range = same_range && (kind != CodeKind::kInt8 || (lo.ok() && *lo == *qmin));
    }
    if (!same_kind || !same_scale || !same_range) {
      ctx.near_miss(kPass, where,
                    !same_kind    ? "stays float: its quantized readers differ in format (fp8 "
                                    "and int8 codes cannot both be written)"
                    : !same_scale ? "stays float: its readers quantize it with different input "
                                    "scales (one set of codes cannot serve them all)"
                                  : "stays float: its int8 readers clamp at different input_qmin "
                                    "(one set of codes cannot serve them all)");
      continue;
    }
    const std::string problem = producer_problem(graph, uses, node, kind, ctx.device());
    if (!problem.empty()) {
      ctx.near_miss(kPass, where, str_cat("stays float: its producer ", problem));
      continue;
    }
    std::string readers_text;
    for (NodeId r : quant_readers) {
      readers_text += str_cat(readers_text.empty() ? "" : ", ", "'", graph.nodes[r].name, "'");
    }
    std::string views_text;
    for (NodeId r : readers.views) {
      views_text += str_cat(views_text.empty() ? " (through " : ", ", graph.nodes[r].op_type, " '",
                            graph.nodes[r].name, "'");
    }
    if (!views_text.empty()) views_text += ")";
    const std::string producer_text = str_cat(node.op_type, " '", node.name, "'");
    if (is_onnx_op(node, "LayerNormalization")) to_add_layer_norm(graph, static_cast<NodeId>(id));
    graph.nodes[id].attrs.set_float("output_scale", *scale);
    if (kind == CodeKind::kInt8) {
      // A QuantLinear's format names its codes; a LayerNorm's or an attention's output_format
      // does.
      if (graph.nodes[id].op_type == "AddLayerNorm" || graph.nodes[id].op_type == "Attention") {
        graph.nodes[id].attrs.set_string("output_format", "int8");
      }
      graph.nodes[id].attrs.set_int("output_qmin", *qmin);
      ctx.applied(
          kPass, str_cat("'", v_name, "' stays INT8: ", producer_text, " writes int8 codes (scale ",
                         format_scale(*scale), ", range [", *qmin, ", 127]) that ", readers_text,
                         " read without quantizing", views_text));
    } else {
      ctx.applied(kPass, str_cat("'", v_name, "' stays FP8: ", producer_text,
                                 " writes E4M3 codes (scale ", format_scale(*scale), ") that ",
                                 readers_text, " read without quantizing", views_text));
    }
  }
  return Status::ok_status();
}

std::map<std::string, std::vector<std::string>> attention_inputs_to_calibrate(const Graph& graph) {
  std::map<std::string, std::vector<std::string>> names;
  for (const Node& node : graph.nodes) {
    if (!is_vitrt(node, "Attention") || quantized_inside(node)) continue;
    // Only what fuse_fp8_attention could use: not an attention whose shapes the E4M3 kernel
    // never takes (the values would cost calibration time and memory for nothing).
    const Result<int64_t> heads = node.attrs.require_int("num_heads");
    if (!heads.ok() || !fp8_attention_shape_problem(graph, node, *heads).empty()) continue;
    const bool packed = !node.has_input(1);
    for (int i = 0; i < (packed ? 1 : 3); ++i) {
      const Value& v = graph.values[node.inputs[i]];
      if (v.dtype == DType::kFloat32) names[node.name].push_back(v.name);
    }
  }
  return names;
}

Status fuse_fp8_attention(Graph& graph, PassContext& ctx,
                          const std::map<std::string, float>& thresholds,
                          const std::vector<quant::PrecisionRule>& rules) {
  const Uses uses(graph);
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    const Node& node = graph.nodes[id];
    if (!is_vitrt(node, "Attention")) continue;
    const std::string where = str_cat("Attention '", node.name, "'");
    if (quantized_inside(node)) continue;
    const quant::PrecisionRule* rule = quant::last_matching_rule(rules, node.name);
    if (rule != nullptr && rule->precision != "fp8") {
      ctx.near_miss(kFp8AttentionPass, where,
                    str_cat("q, k, v stay float: --layer-precision gives it ", rule->precision));
      continue;
    }
    VITRT_ASSIGN_OR_RETURN(int64_t heads, node.attrs.require_int("num_heads"));
    const bool packed = !node.has_input(1);
    const int n_in = packed ? 1 : 3;
    const std::string shape_problem = fp8_attention_shape_problem(graph, node, heads);
    if (!shape_problem.empty()) {
      ctx.near_miss(kFp8AttentionPass, where, str_cat("q, k, v stay float: ", shape_problem));
      continue;
    }
    // Each input back through views to its producer.
    std::vector<NodeId> producers;
    std::string problem;
    for (int i = 0; i < n_in && problem.empty(); ++i) {
      ValueId v = node.inputs[i];
      NodeId producer = -1;
      while (true) {
        const NodeId p = graph.values[v].producer;
        if (p < 0) break;
        const Node& pn = graph.nodes[p];
        if (is_view(pn) && pn.outputs[0] == v && !pn.inputs.empty()) {
          v = pn.inputs[0];
          continue;
        }
        producer = p;
        break;
      }
      if (producer < 0) {
        problem = "an input has no producer (a graph input)";
        break;
      }
      const std::string why =
          fp8_qkv_producer_problem(graph, uses, graph.nodes[producer], ctx.device());
      if (!why.empty()) {
        problem = str_cat("its producer '", graph.nodes[producer].name, "' ", why);
        break;
      }
      if (!read_only_by(graph, uses, graph.nodes[producer].outputs[0], static_cast<NodeId>(id))) {
        problem = str_cat("'", graph.values[graph.nodes[producer].outputs[0]].name,
                          "' is also read elsewhere or is a graph output");
        break;
      }
      producers.push_back(producer);
    }
    const auto t = thresholds.find(node.name);
    const float threshold = t == thresholds.end() ? 0.0f : t->second;
    if (problem.empty() && (!(threshold > 0.0f) || !std::isfinite(threshold))) {
      problem = t == thresholds.end()
                    ? "no calibrated range for its inputs (a calibration cache from an older "
                      "vitrt?)"
                    : "its inputs were all zeros in calibration";
    }
    if (problem.empty()) {
      for (size_t a = 0; a < producers.size(); ++a) {
        for (size_t b = 0; b < a; ++b) {
          if (producers[a] == producers[b]) problem = "q, k and v share a producer unpacked";
        }
      }
    }
    if (!problem.empty()) {
      ctx.near_miss(kFp8AttentionPass, where, str_cat("q, k, v stay float: ", problem));
      continue;
    }
    const float scale = threshold / 448.0f;
    std::string names;
    for (NodeId p : producers) {
      graph.nodes[p].attrs.set_float("output_scale", scale);
      names += str_cat(names.empty() ? "" : ", ", "'", graph.nodes[p].name, "'");
    }
    graph.nodes[id].attrs.set_float("input_scale", scale);
    ctx.applied(kFp8AttentionPass, str_cat(where, " reads q, k, v as E4M3 codes (scale ",
                                           format_scale(scale), ") that ", names, " write"));
  }
  return Status::ok_status();
}

}  // namespace vitrt
