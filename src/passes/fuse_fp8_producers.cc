// Pass fuse_fp8_producers: activations that stay FP8 between a producer and the fp8
// vitrt.QuantLinear layers reading them.
//
// After quantize_linear every fp8 QuantLinear quantizes its float input itself: the producer
// writes the tensor in the activation type, the consumer reads it back, writes E4M3 codes and
// the GEMM reads those. When every reader of a tensor is an fp8 QuantLinear with one
// input_scale, the producer can write the codes itself (attribute output_scale = that scale)
// and the readers take them as they are: one write and one read of the wide tensor fewer.
// The codes are the ones the consumer's quantize step would have made from a float32 tensor
// (both are e4m3(y / scale) of the fp32 value), so a float32 plan computes the same numbers.
//
// Producers: vitrt.AddLayerNorm's normalized output (the residual sum stays float; LN -> qkv /
// fc1), a last-axis LayerNormalization, which becomes an AddLayerNorm with a zero addend to
// get the output_scale attribute (a + 0 = a), and vitrt.Attention (attention -> proj: its
// heads are merged in the op, so the fused exports of HF and timm feed proj directly).
//
// Codes pass through views (Reshape, Flatten, Squeeze, Unsqueeze): they keep the element
// order, and quantizing is element by element, so e4m3 of the reshaped tensor is the reshaped
// codes. A Transpose between producer and reader (a copy, never seen between a fused
// attention and its proj) is reported rather than passed.
//
// An fp8 vitrt.QuantLinear feeding another (fc1 -> fc2) writes the codes from its GEMM's
// epilogue, saving fc2's quantize pass over the widest activation of a ViT block.
#include <cmath>
#include <cstdio>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_fp8_producers";

std::string format_scale(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

bool is_vitrt(const Node& node, const char* op_type) {
  return !node.dead && node.domain == "vitrt" && node.op_type == op_type;
}

bool is_fp8_quant_linear(const Node& node) {
  if (!is_vitrt(node, "QuantLinear")) return false;
  Result<std::string> format = node.attrs.get_string("format", "");
  return format.ok() && *format == "fp8";
}

// Why a QuantLinear producer cannot write codes, or "" when it can. An fp8 layer's codes are
// e4m3(act(y) / output_scale) of its fp32 result whatever its activation and its X (float or
// codes); an int8 layer has no FP8 GEMM to write them from, and a residual sum (input 4) feeds
// a LayerNorm in the models this targets, so codes out do not take one.
std::string quant_linear_producer_problem(const Node& node) {
  if (!is_fp8_quant_linear(node)) {
    return "is an int8 QuantLinear (only an FP8 GEMM writes E4M3 codes)";
  }
  if (node.has_input(4)) return "adds a residual (a residual sum is not written as codes)";
  return "";
}

// Why `node`'s output 0 cannot be written as codes, or "" when it can.
std::string producer_problem(const Graph& graph, const Uses& uses, const Node& node) {
  Result<std::string> precision = node.attrs.get_string("compute_precision", "fp32");
  if (!precision.ok() || *precision != "fp32") return "it computes in reduced precision";
  if (is_vitrt(node, "QuantLinear")) return quant_linear_producer_problem(node);
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

// A node whose output 0 is its input 0 with another shape, element order unchanged.
bool is_view(const Node& node) {
  return !node.dead && (is_onnx_op(node, "Reshape") || is_onnx_op(node, "Flatten") ||
                        is_onnx_op(node, "Squeeze") || is_onnx_op(node, "Unsqueeze"));
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
  std::vector<NodeId> fp8;    // fp8 QuantLinear layers reading it (or a view of it) as X
  std::vector<NodeId> views;  // views passed through, in walk order
  std::string other;          // the first other reader, described
  bool graph_output = false;  // it or a view of it is a graph output
};

void collect_readers(const Graph& graph, const Uses& uses, ValueId v, Readers& r) {
  r.graph_output = r.graph_output || is_graph_output(graph, v);
  for (NodeId id : uses.of(v)) {
    const Node& reader = graph.nodes[id];
    if (is_fp8_quant_linear(reader) && reads_only_as_first(reader, v)) {
      r.fp8.push_back(id);
    } else if (is_view(reader) && reads_only_as_first(reader, v) && !reader.outputs.empty() &&
               reader.outputs[0] != kNoValue) {
      r.views.push_back(id);
      collect_readers(graph, uses, reader.outputs[0], r);
    } else if (r.other.empty()) {
      r.other = describe_node(reader);
      if (is_vitrt(reader, "QuantLinear")) {
        Result<std::string> format = reader.attrs.get_string("format", "");
        if (format.ok()) r.other = str_cat("'", reader.name, "' (", *format, " QuantLinear)");
      }
    }
  }
}

// The first Transpose reading `v` (or a view of it) that has an fp8 QuantLinear reading its
// output (or a view of that), or nullptr: the layout change that keeps an edge float.
const Node* transpose_before_fp8(const Graph& graph, const Uses& uses, ValueId v) {
  for (NodeId id : uses.of(v)) {
    const Node& reader = graph.nodes[id];
    if (reader.dead || reader.outputs.empty() || reader.outputs[0] == kNoValue) continue;
    if (is_view(reader) && reads_only_as_first(reader, v)) {
      if (const Node* t = transpose_before_fp8(graph, uses, reader.outputs[0])) return t;
    } else if (is_onnx_op(reader, "Transpose")) {
      Readers behind;
      collect_readers(graph, uses, reader.outputs[0], behind);
      if (!behind.fp8.empty()) return &reader;
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

}  // namespace

Status fuse_fp8_producers(Graph& graph, PassContext& ctx) {
  const Uses uses(graph);
  for (size_t id = 0; id < graph.nodes.size(); ++id) {
    const Node& node = graph.nodes[id];
    if (!is_candidate_producer(node) || node.outputs.empty()) continue;
    const ValueId v = node.outputs[0];
    if (v == kNoValue || graph.values[v].dtype != DType::kFloat32) continue;
    // Only edges into fp8 QuantLinear layers are of interest: anything else is not a near miss.
    Readers readers;
    collect_readers(graph, uses, v, readers);
    const std::vector<NodeId>& fp8_readers = readers.fp8;
    if (fp8_readers.empty()) {
      if (const Node* t = transpose_before_fp8(graph, uses, v)) {
        ctx.near_miss(kPass,
                      str_cat("'", graph.values[v].name, "' (", node.op_type, " '", node.name,
                              "' -> Transpose '", t->name, "')"),
                      readers.graph_output
                          ? "stays float: it is a graph output"
                          : "stays float: it is transposed before the fp8 QuantLinear reads it "
                            "(codes pass through views such as Reshape, not through a "
                            "Transpose)");
      }
      continue;
    }
    // A copy: rewriting a LayerNormalization adds a value, which may move graph.values.
    const std::string v_name = graph.values[v].name;
    const std::string where = str_cat("'", v_name, "' (", node.op_type, " '", node.name, "' -> '",
                                      graph.nodes[fp8_readers[0]].name, "'",
                                      fp8_readers.size() > 1 ? " and others" : "", ")");
    if (!readers.other.empty()) {
      ctx.near_miss(kPass, where, str_cat("stays float: also read by ", readers.other));
      continue;
    }
    if (readers.graph_output) {
      ctx.near_miss(kPass, where, "stays float: it is a graph output");
      continue;
    }
    const std::string problem = producer_problem(graph, uses, node);
    if (!problem.empty()) {
      ctx.near_miss(kPass, where, str_cat("stays float: its producer ", problem));
      continue;
    }
    Result<float> scale = graph.nodes[fp8_readers[0]].attrs.get_float("input_scale", 0.0f);
    if (!scale.ok()) return scale.status();
    bool same = *scale > 0.0f && std::isfinite(*scale);
    for (NodeId r : fp8_readers) {
      Result<float> s = graph.nodes[r].attrs.get_float("input_scale", 0.0f);
      same = same && s.ok() && *s == *scale;
    }
    if (!same) {
      ctx.near_miss(kPass, where,
                    "stays float: its fp8 readers quantize it with different input scales (one "
                    "set of codes cannot serve them all)");
      continue;
    }
    std::string readers_text;
    for (NodeId r : fp8_readers) {
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
    ctx.applied(kPass, str_cat("'", v_name, "' stays FP8: ", producer_text,
                               " writes E4M3 codes (scale ", format_scale(*scale), ") that ",
                               readers_text, " read without quantizing", views_text));
  }
  return Status::ok_status();
}

}  // namespace vitrt
