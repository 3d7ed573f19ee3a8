// Optimizer pass fuse_residual_into_linear: the residual Add that reads a linear layer's output
// becomes that layer's residual input, Y = X.W + bias + residual, added by the GEMM's epilogue
// (cuBLASLt's beta * C with C = the residual; oneDNN's binary post-op; the CPU QuantLinear's
// bias step) while the output is still in registers.
//
// Every transformer block ends two such adds: x + proj(attention) and x + fc2(mlp). Without
// this pass the add joins the next LayerNorm as vitrt.AddLayerNorm, which reads the residual
// and the Linear output and writes their sum and the normalized sum; with it the GEMM writes
// the sum and the LayerNorm reads that one tensor: about half the LayerNorm's bytes. It runs
// after fuse_linear_activation (a Linear's activation is known) and before
// fuse_residual_layer_norm, which then sees a plain LayerNormalization after the GEMM, and
// still fuses the adds no linear layer feeds (the first block's embedding sums).
//
// A Relu that is the sum's only reader then becomes the vitrt.Linear's activation, applied after
// the add (Y = relu(X.W + bias + residual): cuBLASLt's epilogue and oneDNN's post-ops run in
// that order), so a ResNet bottleneck ends in one GEMM.
//
// Preconditions, each reported as a near miss when a Linear feeds an Add without meeting it:
// the vitrt.Linear / vitrt.QuantLinear has activation "none" (the add would have to follow the
// activation) and no residual yet; its output is read by the Add alone and is not a graph
// output (the unsummed product would be lost); the other operand has exactly the output's dtype
// and (symbolic) shape: the GEMM reads it as a matrix laid out like Y, so no broadcasting.
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_residual_into_linear";

bool is_linear_layer(const Node& node) {
  return !node.dead && node.domain == "vitrt" &&
         (node.op_type == "Linear" || node.op_type == "QuantLinear");
}

// The input index of the residual: after the bias.
int residual_index(const Node& linear) {
  return linear.op_type == "Linear" ? 3 : 4;
}

// Why Add `add` cannot become the residual of `linear` (whose output is add's input `side`),
// or "" when it can.
std::string decline_reason(const Graph& graph, const Uses& uses, const Node& linear,
                           const Node& add, int side) {
  Result<std::string> act = linear.attrs.get_string("activation", "none");
  if (!act.ok() || *act != "none") {
    return str_cat(linear.op_type, " '", linear.name, "' has activation '",
                   act.ok() ? *act : std::string("?"),
                   "': the residual is added after the activation, which the GEMM epilogue "
                   "cannot order");
  }
  if (linear.has_input(residual_index(linear))) {
    return str_cat(linear.op_type, " '", linear.name, "' already adds a residual");
  }
  const ValueId y = add.inputs[side];
  if (is_graph_output(graph, y)) {
    return str_cat("the output of ", linear.op_type, " '", linear.name,
                   "' is a graph output: it must stay without the residual");
  }
  for (NodeId r : uses.of(y)) {
    if (&graph.nodes[r] != &add) {
      return str_cat("the output of ", linear.op_type, " '", linear.name, "' is also read by '",
                     graph.nodes[r].name, "' (", graph.nodes[r].op_type,
                     "), which needs it without the residual");
    }
  }
  const ValueId r = add.inputs[1 - side];
  if (r == y) return "the Add adds the Linear output to itself";
  const Value& yv = graph.values[y];
  const Value& rv = graph.values[r];
  if (rv.dtype != yv.dtype) {
    return str_cat("the other operand '", rv.name, "' is ", dtype_name(rv.dtype), ", the ",
                   linear.op_type, " output ", dtype_name(yv.dtype));
  }
  if (!same_sym_shape(rv, yv)) {
    return str_cat("the Add broadcasts: '", rv.name, "' ",
                   rv.has_shape ? sym_shape_to_string(rv.shape) : std::string("(unknown shape)"),
                   " against the ", linear.op_type, " output ",
                   yv.has_shape ? sym_shape_to_string(yv.shape) : std::string("(unknown shape)"),
                   "; the GEMM adds only a residual of the output's exact shape");
  }
  return "";
}

}  // namespace

Status fuse_residual_into_linear(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId add_id = 0; add_id < count; ++add_id) {
    const Node& add = graph.nodes[add_id];
    if (add.dead || !is_onnx_op(add, "Add") || add.num_inputs() != 2 || add.outputs.size() != 1 ||
        !add.has_input(0) || !add.has_input(1)) {
      continue;
    }
    // The operand a linear layer produces (either side); the first one that qualifies wins.
    int side = -1;
    std::string first_reason;
    for (int s : {1, 0}) {
      const Node* p = producer_of(graph, add.inputs[s]);
      if (p == nullptr || !is_linear_layer(*p)) continue;
      const std::string why = decline_reason(graph, uses, *p, add, s);
      if (why.empty()) {
        side = s;
        break;
      }
      if (first_reason.empty()) first_reason = why;
    }
    if (side < 0) {
      if (!first_reason.empty()) {
        ctx.near_miss(kPass, str_cat("Add '", add.name, "'"), first_reason);
      }
      continue;
    }
    const ValueId y = add.inputs[side];
    const ValueId residual = add.inputs[1 - side];
    const ValueId sum = add.outputs[0];
    const std::string add_name = add.name;
    const NodeId linear_id = producer_of(graph, y) - graph.nodes.data();
    Node& linear = graph.nodes[linear_id];
    const std::vector<ValueId> old_inputs = linear.inputs;
    const int index = residual_index(linear);
    // An absent bias stays an omitted input before the residual.
    if (linear.num_inputs() < index) linear.inputs.resize(static_cast<size_t>(index), kNoValue);
    linear.inputs.push_back(residual);
    uses.inputs_changed(linear_id, old_inputs);
    const std::string what = str_cat(linear.op_type, " '", linear.name, "' + residual '",
                                     graph.values[residual].name, "'");
    uses.remove_node(graph, add_id);
    // The Linear's output takes the sum's place (and its name when the sum is a graph output).
    uses.take_over(graph, sum, y);
    ctx.applied(kPass, what, {add_name});
    // A ReLU after the sum (a ResNet bottleneck's end) follows the add in the same epilogue.
    const Node* relu = uses.single_consumer(y);
    if (relu != nullptr && is_onnx_op(*relu, "Relu") && relu->num_inputs() == 1 &&
        graph.nodes[linear_id].op_type == "Linear") {
      const std::string relu_name = relu->name;
      const ValueId out = relu->outputs[0];
      uses.remove_node(graph, static_cast<NodeId>(relu - graph.nodes.data()));
      uses.take_over(graph, out, y);
      graph.nodes[linear_id].attrs.set_string("activation", "relu");
      ctx.applied(kPass, str_cat(what, " + relu"), {relu_name});
    }
  }
  return uses.verify();
}

}  // namespace vitrt
