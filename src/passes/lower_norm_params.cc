// lower_norm_params: LayerNormalization / RMSNormalization whose Scale or B varies over X's
// leading dims -> the op with per-feature parameters, then Mul / Add.
//
// ONNX lets Scale and B broadcast to the whole of X (unidirectionally), not only to the
// normalized dims X.shape[axis:]; the dynamo exporter uses that, e.g. for F.rms_norm without a
// weight, whose scale it writes as ConstantOfShape(Shape(X)) (DeepSeek's vision tower at opset
// 23). Every norm kernel (CPU, CUDA) and fusion takes parameters over the normalized dims, so
// such a node becomes
//
//   Y = Norm(X, Scale') [* Scale] [+ B]
//
// with Scale' = Scale when it fits the normalized dims, else ones of those dims (static), and B
// moved out when it, or Scale, does not fit (the order of * and + must stay). Exact: the
// normalization is elementwise-scaled either way. Runs after the first shape inference, optimizer
// or not; a node whose normalized dims are not static stays as it is (its kernel's error names it).
#include <algorithm>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "lower_norm_params";

// Parameter `i` of node `n` against X's `normalized` dims: 0 when it has no more dims than those,
// else the count of its extra leading dims, negated when they are all 1 (a Squeeze fits it).
int extra_dims(const Graph& g, const Node& n, int i, int normalized) {
  if (!n.has_input(i)) return 0;
  const Value& v = g.values[n.inputs[i]];
  const int extra = v.has_shape ? static_cast<int>(v.shape.size()) - normalized : 0;
  if (extra <= 0) return 0;
  for (int a = 0; a < extra; ++a) {
    if (!v.shape[a].is_static() || v.shape[a].value() != 1) return extra;
  }
  return -extra;
}

// Squeezes the `count` leading unit dims off input `i` of node `id`.
void squeeze_leading(Graph& g, NodeId id, int i, int count) {
  std::vector<int64_t> axes(count);
  for (int a = 0; a < count; ++a) axes[a] = a;
  const std::string base = g.nodes[id].name + (i == 1 ? "_scale" : "_bias");
  const ValueId in = g.nodes[id].inputs[i];
  const NodeId sq =
      add_node(g, "", "Squeeze", base + "_squeezed",
               {in, add_constant_value(g, base + "_squeeze_axes", Tensor::from_int64(axes))},
               {base + "_squeezed"});
  g.nodes[id].inputs[i] = g.nodes[sq].outputs[0];
}

}  // namespace

Status lower_norm_params(Graph& graph, PassContext& ctx) {
  const size_t count = graph.nodes.size();
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    const Node& n = graph.nodes[id];
    if (n.dead || !n.domain.empty() ||
        (n.op_type != "LayerNormalization" && n.op_type != "RMSNormalization")) {
      continue;
    }
    if (!graph.values[n.inputs[0]].has_shape || !n.has_input(1)) continue;
    // Copies: the rewrite below adds nodes and values, which may move graph.nodes and
    // graph.values.
    const SymShape x_shape = graph.values[n.inputs[0]].shape;
    const int rank = static_cast<int>(x_shape.size());
    auto axis_attr = n.attrs.get_int("axis", -1);
    if (!axis_attr.ok()) continue;
    const int axis = static_cast<int>(*axis_attr < 0 ? *axis_attr + rank : *axis_attr);
    if (axis < 0 || axis >= rank) continue;
    const int normalized = rank - axis;
    const int scale_extra = extra_dims(graph, n, 1, normalized);
    const int bias_extra = extra_dims(graph, n, 2, normalized);
    if (scale_extra == 0 && bias_extra == 0) continue;
    const std::string base = n.name, op_type = n.op_type;
    const std::string where = str_cat("'", base, "'");
    // Leading unit dims ([1, D] over [B, S, D]) only need squeezing off.
    if (scale_extra < 0) squeeze_leading(graph, id, 1, -scale_extra);
    if (bias_extra < 0) squeeze_leading(graph, id, 2, -bias_extra);
    if (scale_extra < 0 || bias_extra < 0) {
      ctx.applied(kPass, str_cat(where, ": leading unit dims of its parameters squeezed"), {base});
    }
    const bool wide_scale = scale_extra > 0, wide_bias = bias_extra > 0;
    if (!wide_scale && !wide_bias) continue;
    std::vector<int64_t> norm_shape;
    for (int a = axis; a < rank; ++a) {
      if (!x_shape[a].is_static()) break;
      norm_shape.push_back(x_shape[a].value());
    }
    if (wide_scale && static_cast<int>(norm_shape.size()) != normalized) {
      ctx.near_miss(kPass, where,
                    "a Scale over X's leading dims with normalized dims not known at build time "
                    "stays (the kernels take Scale over the normalized dims only)");
      continue;
    }
    const Node& node = graph.nodes[id];  // after the Squeezes: they may have moved it
    const ValueId scale = node.inputs[1];
    const ValueId bias = node.has_input(2) ? node.inputs[2] : kNoValue;
    const ValueId y = node.outputs[0];
    const DType dtype = graph.values[scale].dtype;
    if (wide_scale) {
      Tensor ones = Tensor::empty(DType::kFloat32, norm_shape);
      std::fill(ones.data<float>(), ones.data<float>() + ones.numel(), 1.0f);
      ValueId ones_v = add_constant_value(graph, base + "_unit_scale", std::move(ones));
      if (dtype != DType::kFloat32 && dtype != DType::kUndefined) {
        Attributes to;
        to.set_int("to", static_cast<int64_t>(dtype));  // DType numbers are ONNX's
        ones_v = graph
                     .nodes[add_node(graph, "", "Cast", base + "_unit_scale_cast", {ones_v},
                                     {base + "_unit_scale_cast"}, std::move(to))]
                     .outputs[0];
      }
      graph.nodes[id].inputs[1] = ones_v;
    }
    // B leaves the op when it is wide or when Scale moves out (the + must follow the *).
    const bool move_bias = bias != kNoValue && (wide_bias || wide_scale);
    if (move_bias) graph.nodes[id].inputs.resize(2);
    // Y's readers (a graph output's name included) move to the end of the Mul / Add chain,
    // which itself reads Y.
    NodeId first = -1;
    ValueId cur = y;
    if (wide_scale) {
      first = add_node(graph, "", "Mul", base + "_scale", {cur, scale}, {base + "_scaled"});
      cur = graph.nodes[first].outputs[0];
    }
    if (move_bias) {
      const NodeId add =
          add_node(graph, "", "Add", base + "_bias", {cur, bias}, {base + "_biased"});
      if (first < 0) first = add;
      cur = graph.nodes[add].outputs[0];
    }
    replace_uses(graph, y, cur);
    graph.nodes[first].inputs[0] = y;
    ctx.applied(kPass,
                str_cat(op_type, " ", where, ": ", wide_scale ? "Scale" : "B",
                        " over X's leading dims applied after the op"),
                {base});
  }
  return Status::ok_status();
}

}  // namespace vitrt
