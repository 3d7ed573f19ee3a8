// Optimizer pass fuse_patch_embedding: a ViT's patch-embedding Conv (2-D, kernel == stride, no
// padding, dilation 1, one group, constant weights) becomes vitrt.Patchify + vitrt.Linear,
// with the weight [D, C, ph, pw] stored as the Linear's [C*ph*pw, D].
//
// Every exporter follows the Conv with x.flatten(2).transpose(1, 2): Reshape to [B, D, h*w]
// (target [B, D, -1] computed from Shape, or a constant), then Transpose(0, 2, 1) into
// [B, N, D] tokens. The Linear writes those tokens directly, so that chain is removed along
// with the Shape arithmetic that only fed its target. A Conv output read any other way gets
// Transpose + Reshape back to [B, D, h, w], so its readers see the same tensor; a Conv with no
// token reader is left alone unless it reads a graph input (the image): inside the network it
// is a CNN layer, which cancel_layout_transposes may keep channels-last with its neighbours.
//
// Patchify crops the rows and columns that do not fill a patch, as the Conv does, so the image
// size may be anything, symbolic ("height") included: the token count is then (height//ph) *
// (width//pw), the floor-division symbols Conv's shape inference writes too.
#include <optional>

#include "ir/ops/conv_attributes.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_patch_embedding";

struct PatchConv {
  int64_t c = 0, d = 0, ph = 0, pw = 0;
  Dim h, w;  // patches along H and W
};

// Why Conv `node` is not a patch embedding, or empty when it is (filling `pc`).
std::string check_conv(const Graph& graph, const Node& node, PatchConv* pc) {
  const Value& x = graph.values[node.inputs[0]];
  if (node.num_inputs() < 2 || !graph.values[node.inputs[1]].is_constant()) {
    return "the weight is not constant";
  }
  const Tensor& w = graph.values[node.inputs[1]].constant;
  if (w.dtype() != DType::kFloat32 || w.rank() != 4) return "not a 2-D float32 Conv";
  if (x.dtype != DType::kFloat32 || !x.has_shape || x.shape.size() != 4) {
    return "the input is not a float32 [B, C, H, W] image";
  }
  if (node.has_input(2)) {
    const Value& b = graph.values[node.inputs[2]];
    if (!b.is_constant() || b.constant.dtype() != DType::kFloat32 ||
        b.constant.numel() != w.dim(0)) {
      return "the bias is not a constant [D]";
    }
  }
  auto attrs = ConvAttributes::parse(node, 2);
  if (!attrs.ok()) return attrs.status().message();
  if (attrs->group != 1) return "group is not 1";
  pc->d = w.dim(0);
  pc->c = w.dim(1);
  pc->ph = w.dim(2);
  pc->pw = w.dim(3);
  if (!attrs->kernel_shape.empty() &&
      (attrs->kernel_shape[0] != pc->ph || attrs->kernel_shape[1] != pc->pw)) {
    return "kernel_shape differs from the weight's";
  }
  if (attrs->strides[0] != pc->ph || attrs->strides[1] != pc->pw) return "stride != kernel";
  if (attrs->dilations[0] != 1 || attrs->dilations[1] != 1) return "dilation is not 1";
  for (int i = 0; i < 2; ++i) {
    const Dim& size = x.shape[2 + i];
    const int64_t kernel = i == 0 ? pc->ph : pc->pw;
    if (size.is_static()) {
      auto axis = attrs->axis(node, i, size.value(), kernel);
      if (!axis.ok()) return axis.status().message();
      if (axis->pad_begin != 0 || axis->pad_end != 0) return "the Conv pads its input";
    } else if (!size.is_known()) {
      return "the image height or width is unknown";
    } else if ((attrs->auto_pad != AutoPad::kNotSet && attrs->auto_pad != AutoPad::kValid) ||
               attrs->pads[i] != 0 || attrs->pads[i + 2] != 0) {
      return "the Conv pads its input";  // SAME padding of a symbolic size: not decidable
    }
    (i == 0 ? pc->h : pc->w) = size.floor_div(kernel);
  }
  if (!x.shape[1].is_static() || x.shape[1].value() != pc->c) return "channel count mismatch";
  return {};
}

// Live readers of `v`.
std::vector<NodeId> live_readers(const Graph& graph, ValueId v) {
  return graph.consumers()[v];
}

// Marks the producer of `v` dead when nothing reads any of its outputs, then its producers in
// turn: the Shape -> Slice -> Concat arithmetic that only computed a removed Reshape's target.
void remove_unread_producers(Graph& graph, ValueId v) {
  Node* p = producer_of(graph, v);
  if (p == nullptr) return;
  const auto consumers = graph.consumers();
  for (ValueId out : p->outputs) {
    if (out != kNoValue && (!consumers[out].empty() || is_graph_output(graph, out))) return;
  }
  p->dead = true;
  const std::vector<ValueId> inputs = p->inputs;
  for (ValueId in : inputs) remove_unread_producers(graph, in);
}

// The exporters' Reshape [B, D, h*w] -> Transpose(0, 2, 1) after the Conv output `y`, when the
// Reshape is the output's only reader besides Shape nodes: {reshape, transpose}.
std::optional<std::pair<NodeId, NodeId>> token_chain(const Graph& graph, const Uses& uses,
                                                     ValueId y, const PatchConv& pc) {
  NodeId reshape = -1;
  for (NodeId r : uses.of(y)) {
    const Node& n = graph.nodes[r];
    if (is_onnx_op(n, "Reshape") && reshape < 0) {
      reshape = r;
    } else if (!is_onnx_op(n, "Shape")) {
      return std::nullopt;
    }
  }
  if (reshape < 0) return std::nullopt;
  const Value& flat = graph.values[graph.nodes[reshape].outputs[0]];
  const Value& yv = graph.values[y];
  if (!flat.has_shape || flat.shape.size() != 3 || !yv.has_shape ||
      !flat.shape[0].same_as(yv.shape[0]) || !flat.shape[1].same_as(Dim(pc.d)) ||
      !flat.shape[2].same_as(pc.h * pc.w)) {
    return std::nullopt;
  }
  const Node* t = uses.single_consumer(graph.nodes[reshape].outputs[0]);
  if (t == nullptr || !is_onnx_op(*t, "Transpose")) return std::nullopt;
  auto perm = t->attrs.get_ints("perm", {});
  if (!perm.ok() || *perm != std::vector<int64_t>{0, 2, 1}) return std::nullopt;
  return std::make_pair(reshape, static_cast<NodeId>(t - graph.nodes.data()));
}

// The Reshape target [0, D, h, w] that turns tokens back into the Conv's output: a constant,
// or for a symbolic image size, [0, D] then Shape(X)[2:4] / [ph, pw] (sizes are not negative,
// so Div's truncation is the Conv's floor).
ValueId image_shape(Graph& graph, const std::string& name, ValueId x, const PatchConv& pc) {
  if (pc.h.is_static() && pc.w.is_static()) {
    return graph.add_constant(graph.unique_value_name(name + ".image_shape"),
                              Tensor::from_int64({0, pc.d, pc.h.value(), pc.w.value()}));
  }
  const auto constant = [&](const char* what, std::vector<int64_t> v) {
    return add_constant_value(graph, name + what, Tensor::from_int64(v));
  };
  const NodeId shape = add_node(graph, "", "Shape", name + "/ImageShape", {x}, {name + "_hw"});
  const NodeId hw = add_node(
      graph, "", "Slice", name + "/ImageSize",
      {graph.nodes[shape].outputs[0], constant(".hw_begin", {2}), constant(".hw_end", {4})},
      {name + "_image_size"});
  const NodeId grid = add_node(graph, "", "Div", name + "/PatchGrid",
                               {graph.nodes[hw].outputs[0], constant(".patch", {pc.ph, pc.pw})},
                               {name + "_patch_grid"});
  Attributes axis;
  axis.set_int("axis", 0);
  const NodeId target =
      add_node(graph, "", "Concat", name + "/ImageShapeConcat",
               {constant(".batch_channels", {0, pc.d}), graph.nodes[grid].outputs[0]},
               {name + "_image_shape"}, std::move(axis));
  return graph.nodes[target].outputs[0];
}

}  // namespace

Status fuse_patch_embedding(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    if (graph.nodes[id].dead || !is_onnx_op(graph.nodes[id], "Conv")) continue;
    PatchConv pc;
    {
      const Node& conv = graph.nodes[id];
      if (!graph.values[conv.inputs[0]].has_shape ||
          graph.values[conv.inputs[0]].shape.size() != 4) {
        continue;  // not a 2-D conv: not worth a near miss
      }
      const std::string why = check_conv(graph, conv, &pc);
      if (!why.empty()) {
        ctx.near_miss(kPass, str_cat("Conv '", conv.name, "'"), why);
        continue;
      }
    }
    const std::string name = graph.nodes[id].name;
    const ValueId x = graph.nodes[id].inputs[0];
    const ValueId y = graph.nodes[id].outputs[0];
    const auto chain = token_chain(graph, uses, y, pc);
    if (!chain && !is_graph_input(graph, x)) {
      // Read as an image inside the network (a ConvNeXt downsampler, a CNN's 1x1 conv): as
      // tokens it would need a Transpose back, while cancel_layout_transposes can keep it
      // channels-last with its neighbours. The Conv kernels take the same patch path.
      ctx.near_miss(kPass, str_cat("Conv '", name, "'"),
                    "its output is read as an image, not as tokens, and its input is no graph "
                    "input: left a Conv");
      continue;
    }
    const ValueId bias = graph.nodes[id].has_input(2) ? graph.nodes[id].inputs[2] : kNoValue;
    // W [D, C*ph*pw] transposed into the Linear's [K, D].
    const Tensor& w = graph.values[graph.nodes[id].inputs[1]].constant;
    const int64_t k = pc.c * pc.ph * pc.pw;
    Tensor wt = Tensor::empty(DType::kFloat32, {k, pc.d});
    for (int64_t d = 0; d < pc.d; ++d) {
      for (int64_t i = 0; i < k; ++i) wt.data<float>()[i * pc.d + d] = w.data<float>()[d * k + i];
    }

    Attributes patch_attrs;
    patch_attrs.set_ints("patch", {pc.ph, pc.pw});
    const NodeId patchify = add_node(graph, "vitrt", "Patchify", name + "/Patchify", {x},
                                     {name + "_patches"}, std::move(patch_attrs));
    std::vector<ValueId> linear_in = {graph.nodes[patchify].outputs[0],
                                      graph.add_constant(graph.unique_value_name(name + ".W"), wt)};
    if (bias != kNoValue) linear_in.push_back(bias);
    const NodeId linear =
        add_node(graph, "vitrt", "Linear", name + "/Linear", linear_in, {name + "_tokens"});
    const ValueId tokens = graph.nodes[linear].outputs[0];
    std::vector<std::string> absorbed = {name};
    graph.nodes[id].dead = true;
    if (chain) {
      const ValueId target = graph.nodes[chain->first].inputs[1];
      absorbed.push_back(graph.nodes[chain->first].name);
      absorbed.push_back(graph.nodes[chain->second].name);
      take_over(graph, graph.nodes[chain->second].outputs[0], tokens);
      remove_nodes(graph, {chain->first, chain->second});
      remove_unread_producers(graph, target);
    }
    // Readers of the image-shaped output that remain get it back from the tokens.
    if (!live_readers(graph, y).empty() || is_graph_output(graph, y)) {
      Attributes perm;
      perm.set_ints("perm", {0, 2, 1});
      const ValueId shape = image_shape(graph, name, x, pc);
      const NodeId t = add_node(graph, "", "Transpose", name + "/Transpose", {tokens},
                                {name + "_channels_first"}, std::move(perm));
      const NodeId r = add_node(graph, "", "Reshape", name + "/Reshape",
                                {graph.nodes[t].outputs[0], shape}, {name + "_image"});
      take_over(graph, y, graph.nodes[r].outputs[0]);
    }
    ctx.applied(kPass, str_cat("Patchify + Linear '", graph.nodes[linear].name, "'"), absorbed);
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
