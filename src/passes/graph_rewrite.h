// Small tools the passes share for matching patterns and rewriting the graph.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/fake_quant.h"
#include "ir/graph.h"

namespace vitrt {

// The live node producing `v`, or nullptr for graph inputs and constants.
const Node* producer_of(const Graph& graph, ValueId v);
Node* producer_of(Graph& graph, ValueId v);
// True when `node` is the ai.onnx op `op_type` (domain "" or "ai.onnx").
bool is_onnx_op(const Node& node, const char* op_type);
// The producer of `v` when it is the ai.onnx op `op_type`, else nullptr.
const Node* producer_if(const Graph& graph, ValueId v, const char* op_type);

bool is_graph_output(const Graph& graph, ValueId v);
bool is_graph_input(const Graph& graph, ValueId v);

// A Transpose node's permutation against its input's rank (a missing perm reverses the axes);
// nullopt when the input has no shape or the perm is no permutation of its axes.
std::optional<std::vector<int>> transpose_perm_of(const Graph& graph, const Node& node);

// The value of a constant holding exactly one element (any rank, float or integer dtype).
std::optional<double> scalar_constant(const Graph& graph, ValueId v);
// `v`'s tensor when it is a constant, else nullptr.
const Tensor* constant_of(const Graph& graph, ValueId v);
// The elements of a constant integer tensor (int32/int64), or nullopt.
std::optional<std::vector<int64_t>> int_constant(const Graph& graph, ValueId v);

// The value of `v` where it is an initializer, a Constant node's, or either through Identity
// (TorchScript passes a shared bias through Identity): for the lowerings that run at import,
// before constant folding.
std::optional<Tensor> constant_before_folding(const Graph& graph, ValueId v);

// Live consumers of every value. refresh() recomputes them from the graph (a scan of every node);
// a pass that rewrites many nodes instead makes its edits through replace(), take_over(),
// remove_node() and inputs_changed(), which keep the lists current at the cost of the nodes
// touched, so that its run stays linear in the graph's size (an unrolled LSTM is 30,000 nodes
// and thousands of rewrites). verify() compares the lists with a fresh scan.
class Uses {
 public:
  explicit Uses(const Graph& graph) : graph_(graph) { refresh(); }
  void refresh() { consumers_ = graph_.consumers(); }
  // Each live reader of `v`, once per input slot that reads it (values added since the last
  // refresh have none until an edit through this object records them).
  const std::vector<NodeId>& of(ValueId v) const;
  // Exactly one live consumer and not a graph output: the value may be absorbed into a fusion.
  bool only_used_by_one(ValueId v) const;
  // The single consumer of `v`, or nullptr when it has zero or several (or is a graph output).
  const Node* single_consumer(ValueId v) const;

  // replace_uses(graph, from, to) through the lists: visits only the readers of `from`.
  void replace(Graph& graph, ValueId from, ValueId to);
  // take_over(graph, from, to) likewise.
  void take_over(Graph& graph, ValueId from, ValueId to);
  // Marks node `id` dead and drops it from its inputs' lists.
  void remove_node(Graph& graph, NodeId id);
  // Node `id`'s inputs were `old_inputs` and are now its current ones (or it is new: pass {}).
  void inputs_changed(NodeId id, const std::vector<ValueId>& old_inputs);
  // An internal error naming the first value whose list differs from a fresh scan.
  Status verify() const;

 private:
  std::vector<NodeId>& list(ValueId v);

  const Graph& graph_;
  std::vector<std::vector<NodeId>> consumers_;
};

// Makes every reader of `from` (live nodes and graph outputs) read `to` instead. When `from` is
// a graph output, `to` takes over its name, so the model's output names never change.
void replace_uses(Graph& graph, ValueId from, ValueId to);
// replace_uses, and `to` takes `from`'s dtype and shape at once: later matches in the same pass
// check them before the next shape inference fills them.
void take_over(Graph& graph, ValueId from, ValueId to);

// Adds a node of domain `domain` and type `op_type` named `name` (made unique), with fresh
// outputs named after `output_names` (made unique); returns the node id. Output dtypes and
// shapes are filled by the next shape inference.
NodeId add_node(Graph& graph, const std::string& domain, const std::string& op_type,
                const std::string& name, std::vector<ValueId> inputs,
                const std::vector<std::string>& output_names, Attributes attrs = {});

// Adds the ops a lowering expands one node into (Einsum, a 3-D Conv, an LSTM, ...): each named
// `base + suffix` (made unique, like its output and its constants).
struct LoweringEmitter {
  Graph& graph;
  std::string base;
  int64_t opset;  // the graph's ai.onnx opset: axes and split sizes are inputs from 13 on

  LoweringEmitter(Graph& g, std::string base_name)
      : graph(g), base(std::move(base_name)), opset(g.onnx_opset()) {}

  // A node of `outputs` outputs; its first output, or all of them.
  ValueId op(const char* type, const std::string& suffix, std::vector<ValueId> in,
             Attributes a = {});
  std::vector<ValueId> op_outputs(const char* type, const std::string& suffix,
                                  std::vector<ValueId> in, int outputs, Attributes a = {});
  ValueId int64s(const std::string& suffix, const std::vector<int64_t>& v, bool scalar = false);
  ValueId scalar(const std::string& suffix, float v);  // a float32 scalar constant
  ValueId transpose(ValueId x, std::vector<int64_t> perm, const std::string& suffix);
  // Unsqueeze, Squeeze and ReduceSum: their axes an input from opset 13, an attribute before.
  ValueId with_axes(const char* type, const std::string& suffix, ValueId x,
                    const std::vector<int64_t>& axes, Attributes a = {});
  // Split along `axis` into parts of `sizes` (an input from opset 13, an attribute before).
  std::vector<ValueId> split(ValueId x, int64_t axis, const std::vector<int64_t>& sizes,
                             const std::string& suffix);
};

// Marks nodes dead; their values are dropped by compact() once nothing reads them.
void remove_nodes(Graph& graph, const std::vector<NodeId>& nodes);

// Turns node `id` into vitrt.QuantLinear, format int8 and activation none, reading x and the
// constants W_q [K, N], w_scale [N] and an optional bias [N] (added under names from `base`);
// the caller sets the input quantization's attributes.
void become_int8_quant_linear(Graph& graph, NodeId id, const std::string& base, ValueId x,
                              Tensor w_q, Tensor w_scale, const std::optional<Tensor>& bias);

// A per-tensor 8-bit quantization of an activation, DequantizeLinear(QuantizeLinear(x)): one
// constant float32 scale > 0 and one zero point shared by both nodes, int8 or uint8 codes, x
// float32. `q` and `dq` are the two nodes.
struct ActivationQuant {
  ValueId x = kNoValue;
  NodeId q = 0, dq = 0;
  float scale = 0.0f;
  int64_t zero_point = 0;
  int64_t qmin = 0;
  int64_t qmax = 0;
  // kFakeQuantE4M3 / kFakeQuantE5M2 for an FP8 pair (zero point 0, saturating; qmin / qmax
  // unused), else kFakeQuantInteger.
  int kind = kFakeQuantInteger;
  FakeQuant fake_quant() const {
    if (kind != kFakeQuantInteger) return fp8_fake_quant(scale, kind);
    return {scale, static_cast<float>(zero_point), static_cast<float>(qmin),
            static_cast<float>(qmax)};
  }
};
// `v` as such a DQ(Q(x)); nullopt with `why` set when it is not. It does not check who else
// reads Q's output.
std::optional<ActivationQuant> match_activation(const Graph& graph, ValueId v, std::string* why);

// ---- helpers added for the clean-up passes ------------------------------------------------

// Whether replace_uses(from, to) keeps every graph input and output name: false when `from` is
// a graph output and `to` is a graph input or already a graph output, since `to` would have to
// take a second name (or give up its own).
bool can_replace_uses(const Graph& graph, ValueId from, ValueId to);

// Adds a constant value named after `base` (made unique); returns its id.
ValueId add_constant_value(Graph& graph, const std::string& base, Tensor t);
// A float32 [n] constant of zeros (a LayerNorm made an AddLayerNorm adds it), named after `base`.
ValueId add_zeros_constant(Graph& graph, const std::string& base, int64_t n);

// One rank, and every dim provably the same Dim.
bool same_dims(const SymShape& a, const SymShape& b);
// Both values' shapes known and same_dims.
bool same_sym_shape(const Value& a, const Value& b);

// A constant Reshape target (for allowzero = 0) that reshapes an input of shape `input` to
// `dims`: static entries are kept as they are (so a Reshape target's own 0 and -1 keep their
// meaning), a symbolic or unknown entry becomes 0 (copy the input dim) where the input has
// provably the same Dim at that position, else -1 (inferred). nullopt when that would need more
// than one -1. Callers passing an output shape must check it holds no static 0 or negative entry
// first.
std::optional<std::vector<int64_t>> constant_reshape_target(const SymShape& input,
                                                            const std::vector<Dim>& dims);

// A quantization scale as the passes' log lines print it (six significant digits).
std::string format_scale(double v);

// A live Reshape, Flatten, Squeeze or Unsqueeze: its output 0 holds every element of its input 0
// unchanged, in another shape.
bool is_reshape_view(const Node& node);

// The epilogue activation (vitrt.Linear's and ChannelsLastConv's attribute `activation`: "gelu",
// "gelu_tanh", "quick_gelu", "relu", "silu", "hard_swish", "relu6") that `node` computes from its
// input 0, "" when it is none of them (with `why` set when it looked like one: a Clip with other
// bounds, a Gelu or QuickGelu of another form).
std::string epilogue_activation_of(const Graph& graph, const Node& node, std::string* why);

}  // namespace vitrt
