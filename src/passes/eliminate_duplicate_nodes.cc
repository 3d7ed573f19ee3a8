// Optimizer pass eliminate_duplicate_nodes: common-subexpression elimination.
//
// TorchScript exports repeat the same small constants ([-1], 0, 64, ...) and the same shape
// arithmetic (Shape(x) -> Gather(0) once per use) in every layer. Merging equal constants first
// makes those nodes read identical inputs, and then one of each group of nodes with the same
// op, attributes and inputs is kept.
#include <cstring>
#include <functional>
#include <map>
#include <string_view>
#include <tuple>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "eliminate_duplicate_nodes";

// Constants up to this size are compared byte by byte: shape arithmetic, scalars, small biases.
// Large weights are not duplicated by the exporters (tied weights share one initializer).
constexpr size_t kMaxMergedConstantBytes = 64 * 1024;

// Ops whose every run draws new values: two of them with equal inputs are not equal.
bool is_nondeterministic(const Node& node) {
  static const char* const kRandom[] = {"RandomNormal",      "RandomNormalLike", "RandomUniform",
                                        "RandomUniformLike", "Multinomial",      "Bernoulli"};
  for (const char* op : kRandom) {
    if (is_onnx_op(node, op)) return true;
  }
  return false;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// Attributes compare by value; floats by bits so that NaN equals NaN and -0 differs from 0.
bool same_float_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof(float)) == 0;
}

bool same_attribute(const Attribute& a, const Attribute& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Attribute::Kind::kFloat:
      return same_float_bits(a.f, b.f);
    case Attribute::Kind::kInt:
      return a.i == b.i;
    case Attribute::Kind::kString:
      return a.s == b.s;
    case Attribute::Kind::kTensor:
      return same_tensor(a.t, b.t);
    case Attribute::Kind::kFloats:
      if (a.floats.size() != b.floats.size()) return false;
      for (size_t i = 0; i < a.floats.size(); ++i) {
        if (!same_float_bits(a.floats[i], b.floats[i])) return false;
      }
      return true;
    case Attribute::Kind::kInts:
      return a.ints == b.ints;
    case Attribute::Kind::kStrings:
      return a.strings == b.strings;
    case Attribute::Kind::kGraph:
      return false;  // sub-graphs are not compared
  }
  return false;
}

bool same_attributes(const Attributes& a, const Attributes& b) {
  if (a.all().size() != b.all().size()) return false;
  for (auto ia = a.all().begin(), ib = b.all().begin(); ia != a.all().end(); ++ia, ++ib) {
    if (ia->first != ib->first || !same_attribute(ia->second, ib->second)) return false;
  }
  return true;
}

// Whether the readers of `dup`'s outputs can read `kept`'s instead.
bool outputs_replaceable(const Graph& graph, const Node& kept, const Node& dup) {
  if (kept.outputs.size() != dup.outputs.size()) return false;
  for (size_t i = 0; i < dup.outputs.size(); ++i) {
    if (dup.outputs[i] == kNoValue) continue;
    if (kept.outputs[i] == kNoValue) return false;
    if (!can_replace_uses(graph, dup.outputs[i], kept.outputs[i])) return false;
  }
  return true;
}

void merge_constants(Graph& graph, PassContext& ctx, Uses& uses) {
  std::vector<bool> is_input(graph.values.size(), false);
  for (ValueId v : graph.inputs) is_input[v] = true;
  // Bucketed by dtype, shape and a hash of the bytes; the bytes are compared within a bucket.
  std::map<std::tuple<DType, std::vector<int64_t>, size_t>, std::vector<ValueId>> seen;
  for (ValueId v = 0; v < static_cast<ValueId>(graph.values.size()); ++v) {
    const Value& value = graph.values[v];
    if (!value.is_constant() || is_input[v] || value.constant.nbytes() > kMaxMergedConstantBytes) {
      continue;
    }
    if (uses.of(v).empty() && !is_graph_output(graph, v)) continue;
    const Tensor& t = value.constant;
    const size_t hash = std::hash<std::string_view>()(
        std::string_view(static_cast<const char*>(t.raw_data()), t.nbytes()));
    std::vector<ValueId>& bucket = seen[{t.dtype(), t.shape(), hash}];
    ValueId kept = kNoValue;
    for (ValueId candidate : bucket) {
      if (same_tensor(graph.values[candidate].constant, t) &&
          can_replace_uses(graph, v, candidate)) {
        kept = candidate;
        break;
      }
    }
    if (kept == kNoValue) {
      bucket.push_back(v);
      continue;
    }
    ctx.applied(kPass, str_cat("constant '", value.name, "' ", t.describe(), " merged into '",
                               graph.values[kept].name, "'"));
    uses.replace(graph, v, kept);
  }
}

void merge_nodes(Graph& graph, PassContext& ctx, Uses& uses, const std::vector<NodeId>& order) {
  // Key: domain, op type and input ids; attributes are compared within a group.
  std::map<std::tuple<std::string, std::string, std::vector<ValueId>>, std::vector<NodeId>> seen;
  for (NodeId id : order) {
    const Node& node = graph.nodes[id];
    if (node.dead || is_nondeterministic(node)) continue;
    const std::string domain = node.domain == "ai.onnx" ? "" : node.domain;
    std::vector<NodeId>& group = seen[{domain, node.op_type, node.inputs}];
    NodeId kept = -1;
    for (NodeId candidate : group) {
      const Node& c = graph.nodes[candidate];
      if (same_attributes(c.attrs, node.attrs) && outputs_replaceable(graph, c, node)) {
        kept = candidate;
        break;
      }
    }
    if (kept < 0) {
      group.push_back(id);
      continue;
    }
    ctx.applied(kPass, str_cat(node.describe(), " merged into '", graph.nodes[kept].name, "'"),
                {node.name});
    // Processing in topological order, the readers rewired here are visited later with their
    // new inputs, so whole duplicated chains collapse in one pass.
    const std::vector<ValueId>& kept_outputs = graph.nodes[kept].outputs;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] != kNoValue) uses.replace(graph, node.outputs[i], kept_outputs[i]);
    }
    uses.remove_node(graph, id);
  }
}

}  // namespace

Status eliminate_duplicate_nodes(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  merge_constants(graph, ctx, uses);
  VITRT_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.topological_order());
  merge_nodes(graph, ctx, uses, order);
  return uses.verify();
}

}  // namespace vitrt
