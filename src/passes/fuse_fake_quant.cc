// fuse_fake_quant: each QuantizeLinear -> DequantizeLinear pair left in the graph after the
// fusions (one per-tensor 8-bit scale and zero point shared by both) becomes one vitrt.FakeQuant
// node, float in and float out.
//
// ONNX Runtime's quantize_static (QDQ format) puts such a pair after nearly every op: the
// residual adds, the pieces of an erf GELU, the q and k scaling. Where no fusion takes a pair
// into a quantized layer or into attention, both nodes would run, each a pass over the tensor
// with 8-bit codes in between (on a GPU in an fp16 plan: 2 bytes read, 1 written, 1 read, 2
// written per element); FakeQuant is one pass with the same float32 arithmetic, so the values
// are the same bit for bit (ir/fake_quant.h). It runs last among the fusions, so that import_qdq,
// fuse_attention and fold_repeated_qdq see the pairs first. The QuantizeLinear stays where
// anything but such a DequantizeLinear reads its codes.
//
// ONNX Runtime also quantizes a MatMul's product before its bias: QuantLinear -> pair -> Add(bias)
// -> pair. A FakeQuant whose only reader adds a constant float32 bias along the last axis takes
// that Add as its bias input, and the FakeQuant that alone reads the sum as quant_out: three
// passes over the product become one, with the same values (each step rounded to the activation
// type as the separate nodes store it).
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_fake_quant";

bool is_plain_fake_quant(const Node& n) {
  return !n.dead && n.domain == "vitrt" && n.op_type == "FakeQuant" && n.inputs.size() == 1;
}

// The bias of Add `add` reading `v`: its other operand, a float32 constant of N values with every
// dim but the last 1, N = `v`'s static last dim. kNoValue otherwise.
ValueId bias_operand(const Graph& graph, const Node& add, ValueId v) {
  if (!is_onnx_op(add, "Add") || add.inputs.size() != 2 || add.inputs[0] == add.inputs[1]) {
    return kNoValue;
  }
  const ValueId other = add.inputs[0] == v ? add.inputs[1] : add.inputs[0];
  const Tensor* bias = constant_of(graph, other);
  const Value& x = graph.values[v];
  if (bias == nullptr || bias->dtype() != DType::kFloat32 || bias->rank() < 1 || !x.has_shape ||
      x.shape.empty() || !x.shape.back().is_static() ||
      static_cast<size_t>(bias->rank()) > x.shape.size()) {
    return kNoValue;
  }
  for (int i = 0; i + 1 < bias->rank(); ++i) {
    if (bias->dim(i) != 1) return kNoValue;
  }
  return bias->shape().back() == x.shape.back().value() ? other : kNoValue;
}

// FakeQuant -> Add(bias) [-> FakeQuant] into the first node.
void fuse_bias(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    if (!is_plain_fake_quant(graph.nodes[id])) continue;
    const ValueId v = graph.nodes[id].outputs[0];
    const Node* add = uses.single_consumer(v);
    if (add == nullptr || is_graph_output(graph, v)) continue;
    const ValueId bias = bias_operand(graph, *add, v);
    if (bias == kNoValue) continue;
    const NodeId add_id = static_cast<NodeId>(add - graph.nodes.data());
    const ValueId sum = add->outputs[0];
    if (!can_replace_uses(graph, sum, v)) continue;
    const Node* second = uses.single_consumer(sum);  // nullptr for a graph output
    const bool absorb_second = second != nullptr && is_plain_fake_quant(*second) &&
                               can_replace_uses(graph, second->outputs[0], v);
    std::vector<std::string> absorbed = {add->name};
    const Tensor* b = constant_of(graph, bias);
    const ValueId bias_1d = b->rank() == 1
                                ? bias
                                : add_constant_value(graph, graph.values[bias].name + "_row",
                                                     *b->reshaped({b->shape().back()}));
    Node& fq = graph.nodes[id];
    fq.inputs.push_back(bias_1d);
    remove_nodes(graph, {add_id});
    replace_uses(graph, sum, v);
    if (absorb_second) {
      const NodeId second_id = static_cast<NodeId>(second - graph.nodes.data());
      Node& fq2 = graph.nodes[second_id];
      absorbed.push_back(fq2.name);
      Result<std::vector<float>> out = fq2.attrs.get_floats("quant", {});
      graph.nodes[id].attrs.set_floats("quant_out", *out);
      remove_nodes(graph, {second_id});
      replace_uses(graph, fq2.outputs[0], v);
    }
    ctx.applied(kPass,
                str_cat("FakeQuant '", graph.nodes[id].name, "' + bias",
                        absorb_second ? " + FakeQuant" : ""),
                absorbed);
    uses.refresh();
  }
}

}  // namespace

Status fuse_fake_quant(Graph& graph, PassContext& ctx) {
  std::vector<NodeId> quantizers;
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    const Node& dq = graph.nodes[id];
    if (dq.dead || !is_onnx_op(dq, "DequantizeLinear")) continue;
    std::string why;
    const std::optional<ActivationQuant> a = match_activation(graph, dq.outputs[0], &why);
    if (!a) continue;  // not a per-tensor activation pair: both nodes run as ONNX ops
    const FakeQuant f = a->fake_quant();
    const char* invalid = nullptr;
    if (!fake_quant_from_floats(fake_quant_floats(f), &invalid)) {
      ctx.near_miss(kPass, dq.describe(), str_cat("the scale or zero point ", invalid));
      continue;
    }
    const std::vector<std::string> absorbed = {graph.nodes[a->q].name, dq.name};
    quantizers.push_back(a->q);
    // The DequantizeLinear becomes the FakeQuant in place: its name, its place in the order and
    // its output value (readers, graph output) stay.
    Node& node = graph.nodes[id];
    node.domain = "vitrt";
    node.op_type = "FakeQuant";
    node.inputs = {a->x};
    node.attrs = Attributes();
    node.attrs.set_floats("quant", fake_quant_floats(f));
    ctx.applied(
        kPass,
        f.kind == kFakeQuantInteger
            ? str_cat("FakeQuant '", node.name, "' (scale ", f.scale, ", zero point ",
                      a->zero_point, ")")
            : str_cat("FakeQuant '", node.name, "' (",
                      f.kind == kFakeQuantE4M3 ? "FP8 E4M3" : "FP8 E5M2", ", scale ", f.scale, ")"),
        absorbed);
  }
  // A QuantizeLinear whose codes nothing reads any more goes now, so that the value it read has
  // the FakeQuant as its one reader for fuse_bias.
  const Uses uses(graph);
  for (NodeId q : quantizers) {
    const ValueId codes = graph.nodes[q].outputs[0];
    if (!graph.nodes[q].dead && uses.of(codes).empty() && !is_graph_output(graph, codes)) {
      remove_nodes(graph, {q});
    }
  }
  fuse_bias(graph, ctx);
  return Status::ok_status();
}

}  // namespace vitrt
