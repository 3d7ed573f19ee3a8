// Optimizer pass eliminate_casts: Casts that cannot change a value.
//
// A Cast (or CastLike) to the dtype its input already has is removed (exporters cast shape values
// to int64 that are int64 already). In a chain Cast(Cast(x, B), C), the inner cast is skipped when
// it is exact for every value of x's dtype A (the value reaching the outer cast is x's value either
// way); when C is A as well, both go. A narrowing inner cast (int64 -> int32, float32 -> float16)
// rounds or wraps, so that chain stays and is reported as a near miss.
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "eliminate_casts";

// Bits of an integer type's magnitude, and whether it has a sign.
struct IntRange {
  int bits;
  bool is_signed;
};

std::optional<IntRange> int_range(DType t) {
  switch (t) {
    case DType::kBool:
      return IntRange{1, false};
    case DType::kUInt8:
      return IntRange{8, false};
    case DType::kInt8:
      return IntRange{7, true};
    case DType::kUInt16:
      return IntRange{16, false};
    case DType::kInt16:
      return IntRange{15, true};
    case DType::kUInt32:
      return IntRange{32, false};
    case DType::kInt32:
      return IntRange{31, true};
    case DType::kUInt64:
      return IntRange{64, false};
    case DType::kInt64:
      return IntRange{63, true};
    default:
      return std::nullopt;
  }
}

// Significand bits (integers up to 2^bits are exact) and exponent range rank of float types.
struct FloatFormat {
  int significand_bits;
  int exponent_bits;
};

std::optional<FloatFormat> float_format(DType t) {
  switch (t) {
    case DType::kFloat16:
      return FloatFormat{11, 5};
    case DType::kBFloat16:
      return FloatFormat{8, 8};
    case DType::kFloat32:
      return FloatFormat{24, 8};
    case DType::kFloat64:
      return FloatFormat{53, 11};
    default:
      return std::nullopt;
  }
}

// Whether every value of `from` converts to `to` exactly (and so back again).
bool cast_is_exact(DType from, DType to) {
  if (from == to) return true;
  const auto fi = int_range(from);
  const auto ti = int_range(to);
  const auto tf = float_format(to);
  if (fi && ti) {
    if (from == DType::kBool) return true;  // 0 and 1 fit every integer type
    if (fi->is_signed && !ti->is_signed) return false;
    return fi->bits <= ti->bits;
  }
  if (fi && tf) return fi->bits <= tf->significand_bits;
  const auto ff = float_format(from);
  if (ff && tf) {
    return ff->significand_bits <= tf->significand_bits && ff->exponent_bits <= tf->exponent_bits;
  }
  return false;  // float -> integer truncates; anything -> bool collapses
}

bool is_cast(const Node& node) {
  return is_onnx_op(node, "Cast") || is_onnx_op(node, "CastLike");
}

// The dtype a Cast or CastLike node converts to, or kUndefined when unknown.
DType cast_target(const Graph& graph, const Node& node) {
  if (is_onnx_op(node, "CastLike")) {
    return node.has_input(1) ? graph.values[node.inputs[1]].dtype : DType::kUndefined;
  }
  auto to = node.attrs.get_int("to", 0);
  return to.ok() ? dtype_from_onnx(static_cast<int32_t>(*to)) : DType::kUndefined;
}

// The producer of `v` when it is a Cast or CastLike.
const Node* cast_producer(const Graph& graph, ValueId v) {
  const Node* p = producer_of(graph, v);
  return p != nullptr && is_cast(*p) && p->has_input(0) ? p : nullptr;
}

}  // namespace

Status eliminate_casts(Graph& graph, PassContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.topological_order());
  for (NodeId id : order) {
    Node& node = graph.nodes[id];
    if (node.dead || !is_cast(node) || !node.has_input(0)) continue;
    const DType to = cast_target(graph, node);
    if (to == DType::kUndefined) continue;
    // Skip exact inner casts; their node stays for other readers and otherwise dies.
    std::vector<std::string> skipped;
    while (const Node* inner = cast_producer(graph, node.inputs[0])) {
      const DType source = graph.values[inner->inputs[0]].dtype;
      const DType middle = cast_target(graph, *inner);
      if (source == DType::kUndefined || middle == DType::kUndefined) break;
      if (!cast_is_exact(source, middle)) {
        if (to == source) {
          ctx.near_miss(kPass, node.describe(),
                        str_cat("Cast chain ", dtype_name(source), " -> ", dtype_name(middle),
                                " -> ", dtype_name(to), " kept: the ", dtype_name(middle),
                                " step can change values"));
        }
        break;
      }
      skipped.push_back(inner->name);
      node.inputs[0] = inner->inputs[0];
    }
    const ValueId in = node.inputs[0];
    const ValueId out = node.outputs[0];
    if (!skipped.empty()) {
      ctx.applied(kPass,
                  str_cat(node.describe(), " reads ", dtype_name(graph.values[in].dtype),
                          " directly, skipping exact Casts"),
                  skipped);
    }
    if (graph.values[in].dtype != to || out == kNoValue) continue;
    if (!can_replace_uses(graph, out, in)) continue;
    ctx.applied(kPass,
                str_cat("removed ", node.describe(), ": its input is already ", dtype_name(to)),
                {node.name});
    replace_uses(graph, out, in);
    remove_nodes(graph, {id});
  }
  return Status::ok_status();
}

}  // namespace vitrt
