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
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {

Status fuse_fake_quant(Graph& graph, PassContext& ctx) {
  constexpr const char* kPass = "fuse_fake_quant";
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    const Node& dq = graph.nodes[id];
    if (dq.dead || !is_onnx_op(dq, "DequantizeLinear")) continue;
    std::string why;
    const std::optional<ActivationQuant> a = match_activation(graph, dq.outputs[0], &why);
    if (!a) continue;  // not a per-tensor activation pair: both nodes run as ONNX ops
    const FakeQuant f = a->fake_quant();
    const char* invalid = nullptr;
    if (!fake_quant_from_floats({f.scale, f.zero_point, f.lo, f.hi}, &invalid)) {
      ctx.near_miss(kPass, dq.describe(), str_cat("the scale or zero point ", invalid));
      continue;
    }
    const std::vector<std::string> absorbed = {graph.nodes[a->q].name, dq.name};
    // The DequantizeLinear becomes the FakeQuant in place: its name, its place in the order and
    // its output value (readers, graph output) stay.
    Node& node = graph.nodes[id];
    node.domain = "vitrt";
    node.op_type = "FakeQuant";
    node.inputs = {a->x};
    node.attrs = Attributes();
    node.attrs.set_floats("quant", {f.scale, f.zero_point, f.lo, f.hi});
    ctx.applied(kPass,
                str_cat("FakeQuant '", node.name, "' (scale ", f.scale, ", zero point ",
                        a->zero_point, ")"),
                absorbed);
  }
  return Status::ok_status();
}

}  // namespace vitrt
