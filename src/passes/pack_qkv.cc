// Optimizer pass pack_qkv: the q, k and v projections of a self-attention, three vitrt.Linear
// nodes reading the same X, become one Linear with the weights concatenated column-wise
// ([K, 3D]) and the Attention reads its output in packed form (inputs 1 and 2 omitted). One
// GEMM with three times the columns instead of three: better use of the cores and of X in cache.
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "pack_qkv";

struct Projection {
  const Node* node = nullptr;
  const Tensor* weight = nullptr;  // [K, D]
  const Tensor* bias = nullptr;    // [D] or null
};

// The reason `attention`'s inputs 0..2 cannot be packed, or "" when they can (filling `proj`).
std::string check(const Graph& g, const Uses& uses, const Node& attention, Projection proj[3]) {
  static const char* kNames[3] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    const ValueId in = attention.inputs[i];
    const Node* p = producer_of(g, in);
    if (p == nullptr || p->op_type != "Linear" || p->domain != "vitrt") {
      return str_cat(kNames[i], " is not a vitrt.Linear projection");
    }
    if (!uses.only_used_by_one(in)) return str_cat(kNames[i], " projection is also used elsewhere");
    auto act = p->attrs.get_string("activation", "none");
    if (!act.ok() || *act != "none") return str_cat(kNames[i], " projection has an activation");
    const Value& w = g.values[p->inputs[1]];
    if (!w.is_constant() || w.constant.dtype() != DType::kFloat32 || w.constant.rank() != 2) {
      return str_cat(kNames[i], " projection weight is not a constant float32 matrix");
    }
    proj[i].node = p;
    proj[i].weight = &w.constant;
    if (p->has_input(2)) {
      const Value& b = g.values[p->inputs[2]];
      if (!b.is_constant() || b.constant.dtype() != DType::kFloat32) {
        return str_cat(kNames[i], " projection bias is not a constant float32 vector");
      }
      proj[i].bias = &b.constant;
    }
  }
  if (proj[0].node->inputs[0] != proj[1].node->inputs[0] ||
      proj[0].node->inputs[0] != proj[2].node->inputs[0]) {
    return "q, k, v projections read different inputs (not self-attention)";
  }
  for (int i = 1; i < 3; ++i) {
    if (proj[i].weight->shape() != proj[0].weight->shape()) {
      return str_cat("q, k, v weights differ in shape (", proj[0].weight->describe(), ", ",
                     proj[i].weight->describe(), ")");
    }
  }
  return "";
}

}  // namespace

Status pack_qkv(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    const Node& attention = graph.nodes[id];
    if (attention.dead || attention.op_type != "Attention" || attention.domain != "vitrt" ||
        !attention.has_input(1)) {
      continue;
    }
    Projection proj[3];
    const std::string reason = check(graph, uses, attention, proj);
    const std::string where = str_cat("'", attention.name, "'");
    if (!reason.empty()) {
      ctx.near_miss(kPass, where, reason);
      continue;
    }
    const int64_t k = proj[0].weight->dim(0);
    const int64_t d = proj[0].weight->dim(1);
    Tensor w = Tensor::empty(DType::kFloat32, {k, 3 * d});
    const bool any_bias = proj[0].bias || proj[1].bias || proj[2].bias;
    Tensor b = any_bias ? Tensor::zeros(DType::kFloat32, {3 * d}) : Tensor();
    for (int p = 0; p < 3; ++p) {
      const float* src = proj[p].weight->data<float>();
      for (int64_t r = 0; r < k; ++r) {
        for (int64_t c = 0; c < d; ++c) w.data<float>()[r * 3 * d + p * d + c] = src[r * d + c];
      }
      if (proj[p].bias != nullptr) {
        for (int64_t c = 0; c < d; ++c) b.data<float>()[p * d + c] = proj[p].bias->data<float>()[c];
      }
    }
    const std::string base = proj[0].node->name;
    std::vector<ValueId> linear_inputs = {
        proj[0].node->inputs[0],
        graph.add_constant(graph.unique_value_name(base + "_qkv_weight"), w)};
    if (any_bias) {
      linear_inputs.push_back(graph.add_constant(graph.unique_value_name(base + "_qkv_bias"), b));
    }
    std::vector<NodeId> absorbed;
    std::vector<std::string> names;
    for (const Projection& p : proj) {
      absorbed.push_back(static_cast<NodeId>(p.node - graph.nodes.data()));
      names.push_back(p.node->name);
    }
    Attributes attrs;
    attrs.set_string("activation", "none");
    const NodeId packed = add_node(graph, "vitrt", "Linear", base + "_qkv", linear_inputs,
                                   {base + "_qkv"}, std::move(attrs));
    Node& att = graph.nodes[id];  // add_node may have moved the nodes
    att.inputs[0] = graph.nodes[packed].outputs[0];
    att.inputs[1] = kNoValue;
    att.inputs[2] = kNoValue;
    // An Attention without a mask ends at the packed input.
    if (att.inputs.size() == 3) att.inputs.resize(1);
    remove_nodes(graph, absorbed);
    ctx.applied(kPass, str_cat("packed q, k, v projections of ", where), names);
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
