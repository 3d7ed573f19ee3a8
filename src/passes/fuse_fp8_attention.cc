// Pass fuse_fp8_attention (CUDA fp8 builds, after fuse_quant_producers): q, k and v as E4M3
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
#include <algorithm>
#include <cmath>
#include <map>

#include "passes/graph_rewrite.h"
#include "passes/quantize_linear.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_fp8_attention";
constexpr int64_t kHeadDim = 64;   // the E4M3 kernel's head dim
constexpr int64_t kMaxKeys = 256;  // and its longest key sequence

bool is_vitrt_op(const Node& node, const char* op_type) {
  return !node.dead && node.domain == "vitrt" && node.op_type == op_type;
}

// `node` reads `v` as its input 0 and nowhere else.
bool reads_only_as_first(const Node& node, ValueId v) {
  if (node.inputs.empty() || node.inputs[0] != v) return false;
  for (size_t i = 1; i < node.inputs.size(); ++i) {
    if (node.inputs[i] == v) return false;
  }
  return true;
}

// Another shape of its input 0, element for element (the codes pass through unchanged).
bool is_view(const Node& node) {
  return is_reshape_view(node) || (!node.dead && is_onnx_op(node, "Gather"));
}

// Why the fp8 QuantLinear `node` cannot write E4M3 codes, or "".
std::string producer_problem(const Node& node) {
  if (!is_vitrt_op(node, "QuantLinear")) {
    return str_cat("is a ", node.op_type, " (only fp8 QuantLinear layers write them)");
  }
  Result<std::string> format = node.attrs.get_string("format", "");
  if (!format.ok() || *format != "fp8") return "is not an fp8 QuantLinear";
  Result<int64_t> dynamic = node.attrs.get_int("dynamic_input", 0);
  if (!dynamic.ok() || *dynamic != 0) return "quantizes its input per run (dynamic_input)";
  if (node.has_input(4)) return "adds a residual";
  if (node.attrs.has("output_scale")) return "already writes codes";
  Result<std::string> precision = node.attrs.get_string("compute_precision", "fp32");
  if (!precision.ok() || *precision != "fp32") return "computes in reduced precision";
  return "";
}

// Every reader of `v` (through views) is `attention` or a view; no graph output.
bool read_only_by(const Graph& graph, const Uses& uses, ValueId v, NodeId attention,
                  std::vector<NodeId>* views) {
  if (is_graph_output(graph, v)) return false;
  for (NodeId id : uses.of(v)) {
    const Node& reader = graph.nodes[id];
    if (id == attention) continue;
    if (!is_view(reader) || !reads_only_as_first(reader, v) || reader.outputs.empty() ||
        reader.outputs[0] == kNoValue) {
      return false;
    }
    views->push_back(id);
    if (!read_only_by(graph, uses, reader.outputs[0], attention, views)) return false;
  }
  return true;
}

// The precision the last matching --layer-precision rule gives `name`, or "".
std::string rule_precision(const std::vector<quant::PrecisionRule>& rules,
                           const std::string& name) {
  std::string precision;
  for (const quant::PrecisionRule& r : rules) {
    if (quant::glob_matches(r.pattern, name)) precision = r.precision;
  }
  return precision;
}

}  // namespace

std::map<std::string, std::vector<std::string>> attention_inputs_to_calibrate(const Graph& graph) {
  std::map<std::string, std::vector<std::string>> names;
  for (const Node& node : graph.nodes) {
    if (!is_vitrt_op(node, "Attention")) continue;
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
    if (!is_vitrt_op(node, "Attention")) continue;
    const std::string where = str_cat("Attention '", node.name, "'");
    bool quant_inside = node.attrs.has("input_scale");
    for (const char* a : {"quant_scores", "quant_probs", "quant_q", "quant_k", "quant_v"}) {
      quant_inside = quant_inside || node.attrs.has(a);
    }
    if (quant_inside) continue;  // a QDQ model's own quantization
    const std::string rule = rule_precision(rules, node.name);
    if (!rule.empty() && rule != "fp8") {
      ctx.near_miss(kPass, where, str_cat("q, k, v stay float: --layer-precision gives it ", rule));
      continue;
    }
    VITRT_ASSIGN_OR_RETURN(int64_t heads, node.attrs.require_int("num_heads"));
    const bool packed = !node.has_input(1);
    const int n_in = packed ? 1 : 3;
    // Head dims and length, where known.
    std::string shape_problem;
    for (int i = 0; i < n_in; ++i) {
      const Value& v = graph.values[node.inputs[i]];
      if (!v.has_shape || v.shape.size() != 3 || !v.shape[2].is_static()) {
        shape_problem = "its head dims are not known at build time";
        break;
      }
      const int64_t width = v.shape[2].value() / (packed ? 3 : 1);
      if (heads < 1 || width != heads * kHeadDim) {
        shape_problem = str_cat("head dim ", heads > 0 ? width / heads : 0,
                                " (the E4M3 attention kernel takes 64)");
        break;
      }
      if (v.shape[1].is_static() && v.shape[1].value() > kMaxKeys) {
        shape_problem = str_cat(v.shape[1].value(), " tokens (the E4M3 attention kernel takes ",
                                "at most ", kMaxKeys, ")");
        break;
      }
    }
    if (!shape_problem.empty()) {
      ctx.near_miss(kPass, where, str_cat("q, k, v stay float: ", shape_problem));
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
      const std::string why = producer_problem(graph.nodes[producer]);
      if (!why.empty()) {
        problem = str_cat("its producer '", graph.nodes[producer].name, "' ", why);
        break;
      }
      std::vector<NodeId> views;
      if (!read_only_by(graph, uses, graph.nodes[producer].outputs[0], static_cast<NodeId>(id),
                        &views)) {
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
      ctx.near_miss(kPass, where, str_cat("q, k, v stay float: ", problem));
      continue;
    }
    const float scale = threshold / 448.0f;
    std::string names;
    for (NodeId p : producers) {
      graph.nodes[p].attrs.set_float("output_scale", scale);
      names += str_cat(names.empty() ? "" : ", ", "'", graph.nodes[p].name, "'");
    }
    graph.nodes[id].attrs.set_float("input_scale", scale);
    ctx.applied(kPass, str_cat(where, " reads q, k, v as E4M3 codes (scale ", format_scale(scale),
                               ") that ", names, " write"));
  }
  return Status::ok_status();
}

}  // namespace vitrt
