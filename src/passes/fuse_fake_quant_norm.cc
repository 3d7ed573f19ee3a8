// Optimizer pass fuse_fake_quant_norm, after fuse_fake_quant: the Q/DQ pairs (vitrt.FakeQuant by
// then) of a quantized model's residual stream join its LayerNorms. NVIDIA ModelOpt writes, in
// every block,
//   x1 = Add(x, FQ(proj)); LayerNorm(FQ(x1)); x2 = Add(x1, FQ(fc2)); LayerNorm(FQ(x2)) ...
// - Add -> FakeQuant -> LayerNormalization becomes vitrt.AddLayerNorm with quant_sum (the sum
//   output stays unquantized for the next residual Add; a FakeQuant that other ops read too
//   stays, reading that output). With no Add (a residual the Linear before took in its
//   epilogue), x -> FakeQuant -> LayerNormalization becomes AddLayerNorm(x, zeros) with
//   quant_sum.
// - A FakeQuant whose one reader is an AddLayerNorm's a or b becomes its quant_a / quant_b.
// Four passes over the residual stream (two FakeQuant, the Add, the LayerNorm) become one, with
// the values of the separate nodes (ir/ops/fused_norm.cc). The LayerNorm conditions are
// fuse_residual_layer_norm's (passes/residual_norm.h).
#include "passes/graph_rewrite.h"
#include "passes/pass.h"
#include "passes/residual_norm.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_fake_quant_norm";

// A vitrt.FakeQuant of one per-tensor scale and no bias (fuse_fake_quant's plain form).
bool is_plain_fake_quant(const Node& n) {
  return !n.dead && n.domain == "vitrt" && n.op_type == "FakeQuant" && n.inputs.size() == 1 &&
         !n.attrs.has("quant_out");
}

}  // namespace

Status fuse_fake_quant_norm(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  // Add -> FakeQuant -> LayerNormalization.
  for (NodeId id = 0; id < count; ++id) {
    if (graph.nodes[id].dead || !is_onnx_op(graph.nodes[id], "LayerNormalization")) continue;
    const Node& ln = graph.nodes[id];
    const Node* fq = producer_of(graph, ln.inputs[0]);
    if (fq == nullptr || !is_plain_fake_quant(*fq)) continue;
    // No Add (a residual the Linear before took in its epilogue): a zero addend.
    const Node* add = producer_if(graph, fq->inputs[0], "Add");
    const std::string why = residual_norm_problem(graph, uses, ln, add);
    if (!why.empty()) {
      ctx.near_miss(kPass, str_cat("'", ln.name, "'"), why);
      continue;
    }
    fuse_residual_norm(graph, uses, ctx, kPass, id,
                       add != nullptr ? static_cast<NodeId>(add - graph.nodes.data()) : -1,
                       static_cast<NodeId>(fq - graph.nodes.data()));
  }
  // FakeQuant -> AddLayerNorm's a or b.
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    const Node& norm = graph.nodes[id];
    if (norm.dead || norm.domain != "vitrt" || norm.op_type != "AddLayerNorm" ||
        norm.attrs.has("output_scale")) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      const char* attr = i == 0 ? "quant_a" : "quant_b";
      const ValueId v = graph.nodes[id].inputs[i];
      const Node* fq = producer_of(graph, v);
      if (fq == nullptr || !is_plain_fake_quant(*fq) || graph.nodes[id].attrs.has(attr)) continue;
      if (!uses.only_used_by_one(v) || graph.nodes[id].inputs[1 - i] == v) {
        ctx.near_miss(kPass, str_cat("'", fq->name, "' -> '", graph.nodes[id].name, "'"),
                      "the fake-quantized tensor has other readers: the FakeQuant stays");
        continue;
      }
      const NodeId fq_id = static_cast<NodeId>(fq - graph.nodes.data());
      const std::string fq_name = fq->name;
      const ValueId x = fq->inputs[0];
      Node& n = graph.nodes[id];
      n.attrs.set_floats(attr, *fq->attrs.get_floats("quant", {}));
      n.inputs[static_cast<size_t>(i)] = x;
      remove_nodes(graph, {fq_id});
      ctx.applied(kPass,
                  str_cat("AddLayerNorm '", graph.nodes[id].name, "' fake-quantizes ",
                          i == 0 ? "a" : "b", " as it reads it"),
                  {fq_name});
      uses.refresh();
    }
  }
  return Status::ok_status();
}

}  // namespace vitrt
