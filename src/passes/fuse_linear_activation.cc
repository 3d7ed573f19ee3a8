// Optimizer pass fuse_linear_activation: the activation that is a Linear's (or an imported
// QuantLinear's) only reader becomes its epilogue (applied by the GEMM while the output is still
// in registers); likewise a ReLU, ReLU6, SiLU, HardSwish or GELU after a vitrt.ChannelsLastConv
// (a CNN's 3x3 or depthwise convolution; PVTv2's and SegFormer's token MLP, fc1 -> depthwise
// conv -> GELU). A view (Reshape, Flatten, Squeeze, Unsqueeze) between the two may stay: the
// activation, element by element, is applied before it instead of after.
//
//   Gelu(approximate "none")          -> activation "gelu"
//   Gelu(approximate "tanh")          -> activation "gelu_tanh"
//   com.microsoft.Gelu                -> activation "gelu"
//   com.microsoft.QuickGelu(1.702)    -> activation "quick_gelu"
//   Relu                              -> activation "relu"
//   com.microsoft.QuickGelu(1)        -> activation "silu"   (x * sigmoid(x), fuse_gelu's SiLU)
//   HardSwish                         -> activation "hard_swish" (MobileNetV3, LCNet)
//   Clip(min 0, max 6)                -> activation "relu6" (ReLU6: MobileNetV2)
//
// fuse_gelu (which runs earlier) turns decomposed GELUs into these ops.
#include <optional>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_linear_activation";

}  // namespace

Status fuse_linear_activation(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  for (Node& linear : graph.nodes) {
    if (linear.dead || linear.domain != "vitrt") continue;
    const bool conv = linear.op_type == "ChannelsLastConv";
    const bool quant = linear.op_type == "QuantLinear";
    if (linear.op_type != "Linear" && !conv && !quant) continue;
    Result<std::string> current = linear.attrs.get_string("activation", "none");
    if (!current.ok() || *current != "none") continue;
    // Y = X.W + bias + residual: an activation would have to follow the residual add.
    if (linear.has_input(quant ? 4 : 3)) continue;
    const Node* act = uses.single_consumer(linear.outputs[0]);
    if (act == nullptr) continue;
    // A view between them (PVTv2's token MLP: the depthwise conv's [B, H, W, C] output
    // reshaped back to tokens before its GELU): the activation, element by element, commutes
    // with it, so the producer applies it and the view passes the activated values on.
    const Node* view = nullptr;
    if (is_reshape_view(*act) && act->inputs[0] == linear.outputs[0]) {
      view = act;
      act = uses.single_consumer(view->outputs[0]);
      if (act == nullptr) continue;
    }
    const ValueId act_in = view != nullptr ? view->outputs[0] : linear.outputs[0];
    std::string why;
    const std::string activation = epilogue_activation_of(graph, *act, &why);
    if (activation.empty()) {
      if (!why.empty()) ctx.near_miss(kPass, act->describe(), why);
      continue;
    }
    // The activation reads the Linear's output and nothing else (Clip's bounds are constants).
    if (act->inputs[0] != act_in || (act->num_inputs() != 1 && activation != "relu6") ||
        act->outputs.size() != 1) {
      continue;
    }
    if (conv && activation == "quick_gelu") {
      ctx.near_miss(kPass, act->describe(),
                    "a ChannelsLastConv's epilogue has ReLU, ReLU6, SiLU, HardSwish and GELU, not "
                    "QuickGELU");
      continue;
    }
    const ValueId out = act->outputs[0];
    const std::string act_name = act->name;
    linear.attrs.set_string("activation", activation);
    remove_nodes(graph, {static_cast<NodeId>(act - graph.nodes.data())});
    replace_uses(graph, out, act_in);
    ctx.applied(kPass,
                str_cat(linear.op_type, " '", linear.name, "' + ", activation,
                        view != nullptr ? str_cat(" (through ", view->op_type, ")") : ""),
                {act_name});
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
