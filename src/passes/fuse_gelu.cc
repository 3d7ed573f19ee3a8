// Optimizer pass fuse_gelu: the GELU formulas exporters spell out op by op become one op.
//
//   erf form   x * 0.5 * (1 + erf(x / sqrt(2)))        (Div by sqrt 2 or Mul by 1/sqrt 2)
//              -> Gelu(approximate="none")
//   tanh form  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (Pow(x, 3) or x*x*x)
//              -> Gelu(approximate="tanh")
//   QuickGELU  x * sigmoid(1.702 x)   (CLIP)  -> com.microsoft.QuickGelu(alpha=1.702)
//   SiLU       x * sigmoid(x)   (EfficientNet, MobileNetV3, RegNetY)  -> QuickGelu(alpha=1)
//   HardSwish  x * HardSigmoid(x; alpha 1/6, beta 1/2)   (torch's export of nn.Hardswish
//              below opset 14, which has no HardSwish op)  -> HardSwish
//   Swish      ONNX's op of opset 24, x * sigmoid(alpha x)  -> QuickGelu(alpha)
//
// The products x * 0.5 * (1 + f) match in every association and operand order torch's
// exporters produce (0.5 may also be a Div by 2). Every constant must equal its formula's
// value to float32 precision, and every intermediate must have no reader outside the pattern.
// Gelu is the ai.onnx op of opset 20 and HardSwish of opset 14; vitrt's schema and kernels accept
// them at any opset.
#include <cmath>
#include <numbers>
#include <optional>

#include "core/half.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_gelu";

NodeId id_of(const Graph& graph, const Node* node) {
  return static_cast<NodeId>(node - graph.nodes.data());
}

// True when `v` is a constant scalar equal to `expected` to float32 precision, or exactly
// `expected` rounded to float16 or bfloat16 (a half-precision export, widened to float32 at
// import, writes sqrt(2) as 1.4140625).
bool is_constant_near(const Graph& graph, ValueId v, double expected) {
  const auto c = scalar_constant(graph, v);
  if (!c) return false;
  if (std::fabs(*c - expected) <= 1e-6 * std::fabs(expected)) return true;
  const auto f = static_cast<float>(expected);
  return *c == static_cast<double>(half_to_float(float_to_half(f))) ||
         *c == static_cast<double>(bf16_to_float(float_to_bf16(f)));
}

// The input of binary `node` other than `v`, or kNoValue when `node` does not read `v`.
ValueId other_input(const Node& node, ValueId v) {
  if (node.num_inputs() != 2) return kNoValue;
  if (node.inputs[0] == v) return node.inputs[1];
  if (node.inputs[1] == v) return node.inputs[0];
  return kNoValue;
}

// For a Mul node reading a constant near `k` (either side): its other input, else kNoValue.
ValueId mul_by(const Graph& graph, const Node& node, double k) {
  if (!is_onnx_op(node, "Mul") || node.num_inputs() != 2) return kNoValue;
  if (is_constant_near(graph, node.inputs[1], k)) return node.inputs[0];
  if (is_constant_near(graph, node.inputs[0], k)) return node.inputs[1];
  return kNoValue;
}

// `node` halves its non-constant input (Mul by 0.5 or Div by 2): that input, else kNoValue.
ValueId halves(const Graph& graph, const Node& node) {
  if (is_onnx_op(node, "Div") && node.num_inputs() == 2 &&
      is_constant_near(graph, node.inputs[1], 2.0)) {
    return node.inputs[0];
  }
  return mul_by(graph, node, 0.5);
}

struct Match {
  std::vector<NodeId> nodes;  // absorbed
  ValueId x = kNoValue;
  ValueId result = kNoValue;
};

// The tail shared by both GELU forms: given `one_plus` = 1 + f(x) (single reader), finds the
// product x * 0.5 * one_plus in any association. Appends the absorbed nodes to `m`.
bool match_half_x_product(const Graph& graph, const Uses& uses, ValueId one_plus, ValueId x,
                          Match* m) {
  const Node* m1 = uses.single_consumer(one_plus);
  if (m1 == nullptr || !is_onnx_op(*m1, "Mul")) return false;
  const ValueId o1 = other_input(*m1, one_plus);
  if (o1 == x) {
    // (x * one_plus) * 0.5
    const Node* m2 = uses.single_consumer(m1->outputs[0]);
    if (m2 == nullptr || halves(graph, *m2) != m1->outputs[0]) return false;
    m->nodes.insert(m->nodes.end(), {id_of(graph, m1), id_of(graph, m2)});
    m->result = m2->outputs[0];
    return true;
  }
  if (is_constant_near(graph, o1, 0.5)) {
    // (one_plus * 0.5) * x
    const Node* m2 = uses.single_consumer(m1->outputs[0]);
    if (m2 == nullptr || !is_onnx_op(*m2, "Mul") || other_input(*m2, m1->outputs[0]) != x) {
      return false;
    }
    m->nodes.insert(m->nodes.end(), {id_of(graph, m1), id_of(graph, m2)});
    m->result = m2->outputs[0];
    return true;
  }
  // (x * 0.5) * one_plus
  const Node* half = producer_of(graph, o1);
  if (half == nullptr || halves(graph, *half) != x || !uses.only_used_by_one(o1)) return false;
  m->nodes.insert(m->nodes.end(), {id_of(graph, half), id_of(graph, m1)});
  m->result = m1->outputs[0];
  return true;
}

// 1 + f: the single reader of `f` adding the constant 1; its output, else kNoValue.
ValueId one_plus(const Graph& graph, const Uses& uses, ValueId f, Match* m) {
  const Node* add = uses.single_consumer(f);
  if (add == nullptr || !is_onnx_op(*add, "Add") ||
      !is_constant_near(graph, other_input(*add, f), 1.0)) {
    return kNoValue;
  }
  m->nodes.push_back(id_of(graph, add));
  return add->outputs[0];
}

// Erf node -> x * 0.5 * (1 + erf(x / sqrt 2)).
std::optional<Match> match_erf(const Graph& graph, const Uses& uses, const Node& erf) {
  const Node* scale = producer_of(graph, erf.inputs[0]);
  if (scale == nullptr || !uses.only_used_by_one(erf.inputs[0])) return std::nullopt;
  Match m;
  if (is_onnx_op(*scale, "Div") && scale->num_inputs() == 2 &&
      is_constant_near(graph, scale->inputs[1], std::numbers::sqrt2)) {
    m.x = scale->inputs[0];
  } else {
    m.x = mul_by(graph, *scale, 1.0 / std::numbers::sqrt2);
  }
  if (m.x == kNoValue) return std::nullopt;
  m.nodes = {id_of(graph, scale), id_of(graph, &erf)};
  const ValueId sum = one_plus(graph, uses, erf.outputs[0], &m);
  if (sum == kNoValue || !match_half_x_product(graph, uses, sum, m.x, &m)) return std::nullopt;
  return m;
}

// `cube` is x^3: Pow(x, 3), or x * (x * x) in either order. Appends its nodes.
bool is_cube_of(const Graph& graph, const Uses& uses, ValueId cube, ValueId x, Match* m) {
  const Node* p = producer_of(graph, cube);
  if (p == nullptr || !uses.only_used_by_one(cube)) return false;
  if (is_onnx_op(*p, "Pow")) {
    if (p->inputs[0] != x || !is_constant_near(graph, p->inputs[1], 3.0)) return false;
    m->nodes.push_back(id_of(graph, p));
    return true;
  }
  if (!is_onnx_op(*p, "Mul")) return false;
  const ValueId sq = other_input(*p, x);
  const Node* s = producer_of(graph, sq);
  if (sq == kNoValue || s == nullptr || !is_onnx_op(*s, "Mul") || s->inputs[0] != x ||
      s->inputs[1] != x || !uses.only_used_by_one(sq)) {
    return false;
  }
  m->nodes.insert(m->nodes.end(), {id_of(graph, s), id_of(graph, p)});
  return true;
}

// Tanh node -> 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
std::optional<Match> match_tanh(const Graph& graph, const Uses& uses, const Node& tanh) {
  const double k = std::sqrt(2.0 / std::numbers::pi);
  const Node* scale = producer_of(graph, tanh.inputs[0]);
  if (scale == nullptr || !uses.only_used_by_one(tanh.inputs[0])) return std::nullopt;
  const ValueId inner = mul_by(graph, *scale, k);
  const Node* add = producer_of(graph, inner);
  if (add == nullptr || !is_onnx_op(*add, "Add") || add->num_inputs() != 2 ||
      !uses.only_used_by_one(inner)) {
    return std::nullopt;
  }
  for (int side = 0; side < 2; ++side) {
    Match m;
    m.x = add->inputs[side];
    const ValueId term = add->inputs[1 - side];
    const Node* coef = producer_of(graph, term);
    if (coef == nullptr || !uses.only_used_by_one(term)) continue;
    const ValueId cube = mul_by(graph, *coef, 0.044715);
    if (cube == kNoValue || !is_cube_of(graph, uses, cube, m.x, &m)) continue;
    m.nodes.insert(m.nodes.end(), {id_of(graph, coef), id_of(graph, add), id_of(graph, scale),
                                   id_of(graph, &tanh)});
    const ValueId sum = one_plus(graph, uses, tanh.outputs[0], &m);
    if (sum == kNoValue || !match_half_x_product(graph, uses, sum, m.x, &m)) return std::nullopt;
    return m;
  }
  return std::nullopt;
}

// Sigmoid node -> x * sigmoid(1.702 x).
std::optional<Match> match_quick_gelu(const Graph& graph, const Uses& uses, const Node& sig) {
  const Node* scale = producer_of(graph, sig.inputs[0]);
  if (scale == nullptr || !uses.only_used_by_one(sig.inputs[0])) return std::nullopt;
  Match m;
  m.x = mul_by(graph, *scale, 1.702);
  const Node* prod = uses.single_consumer(sig.outputs[0]);
  if (m.x == kNoValue || prod == nullptr || !is_onnx_op(*prod, "Mul") ||
      other_input(*prod, sig.outputs[0]) != m.x) {
    return std::nullopt;
  }
  m.nodes = {id_of(graph, scale), id_of(graph, &sig), id_of(graph, prod)};
  m.result = prod->outputs[0];
  return m;
}

// Sigmoid node -> x * sigmoid(x) (SiLU / Swish: EfficientNet, MobileNetV3, RegNetY, YOLO
// heads), QuickGelu with alpha 1: one pass instead of two and no intermediate tensor.
std::optional<Match> match_silu(const Graph& graph, const Uses& uses, const Node& sig) {
  const ValueId x = sig.inputs[0];
  const Node* prod = uses.single_consumer(sig.outputs[0]);
  if (graph.values[x].is_constant() || prod == nullptr || !is_onnx_op(*prod, "Mul") ||
      prod->num_inputs() != 2 || other_input(*prod, sig.outputs[0]) != x) {
    return std::nullopt;
  }
  Match m;
  m.x = x;
  m.nodes = {id_of(graph, &sig), id_of(graph, prod)};
  m.result = prod->outputs[0];
  return m;
}

// HardSigmoid node with alpha 1/6 and beta 1/2 -> x * HardSigmoid(x) (HardSwish).
std::optional<Match> match_hard_swish(const Graph& graph, const Uses& uses, const Node& hs) {
  const Result<float> alpha = hs.attrs.get_float("alpha", 0.2f);
  const Result<float> beta = hs.attrs.get_float("beta", 0.5f);
  if (!alpha.ok() || !beta.ok() || std::fabs(*alpha - 1.0f / 6.0f) > 1e-6f || *beta != 0.5f) {
    return std::nullopt;
  }
  return match_silu(graph, uses, hs);  // the same shape: x * f(x), f read once
}

std::string scope_of(const std::string& name) {
  const size_t slash = name.rfind('/');
  return slash == std::string::npos ? std::string() : name.substr(0, slash + 1);
}

}  // namespace

Status fuse_gelu(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const NodeId count = static_cast<NodeId>(graph.nodes.size());
  for (NodeId id = 0; id < count; ++id) {
    const Node& node = graph.nodes[id];
    if (node.dead || node.inputs.empty() || node.outputs.empty()) continue;
    if (is_onnx_op(node, "Swish")) {
      // ONNX's Swish (opset 24) is QuickGelu under another name: one op for the passes after
      // this one (fuse_linear_activation takes alpha 1 as SiLU into a Linear or conv).
      Node& swish = graph.nodes[id];
      VITRT_ASSIGN_OR_RETURN(float alpha, swish.attrs.get_float("alpha", 1.0f));
      swish.domain = "com.microsoft";
      swish.op_type = "QuickGelu";
      swish.attrs.set_float("alpha", alpha);
      ctx.applied(kPass, str_cat("QuickGelu(alpha ", alpha, ") '", swish.name, "'"), {swish.name});
      continue;
    }
    std::optional<Match> m;
    std::string op = "Gelu", domain, approximate;
    bool silu = false;
    if (is_onnx_op(node, "Erf")) {
      m = match_erf(graph, uses, node);
      approximate = "none";
    } else if (is_onnx_op(node, "Tanh")) {
      m = match_tanh(graph, uses, node);
      approximate = "tanh";
    } else if (is_onnx_op(node, "Sigmoid")) {
      m = match_quick_gelu(graph, uses, node);
      op = "QuickGelu";
      domain = "com.microsoft";
      if (!m) {
        m = match_silu(graph, uses, node);
        silu = m.has_value();
      }
    } else if (is_onnx_op(node, "HardSigmoid")) {
      m = match_hard_swish(graph, uses, node);
      op = "HardSwish";
    } else {
      continue;
    }
    if (!m) {
      // Erf and Tanh appear in GELU almost only; a declined one deserves a line. A Sigmoid
      // is usually something else (gating, SiLU), so it is not reported.
      if (op == "Gelu") {
        ctx.near_miss(kPass, str_cat(node.op_type, " '", node.name, "'"),
                      "not the GELU formula: a constant differs from GELU's, an operand order "
                      "is not one exporters write, or an intermediate has another reader");
      }
      continue;
    }
    const DType dtype = graph.values[m->x].dtype;
    if (!dtype_is_float(dtype)) {
      ctx.near_miss(kPass, str_cat(node.op_type, " '", node.name, "'"),
                    str_cat("input is ", dtype_name(dtype), ", not a float type"));
      continue;
    }
    Attributes attrs;
    if (op == "Gelu") {
      attrs.set_string("approximate", approximate);
    } else if (op == "QuickGelu") {
      attrs.set_float("alpha", silu ? 1.0f : 1.702f);
    }
    std::vector<std::string> absorbed;
    for (NodeId a : m->nodes) absorbed.push_back(graph.nodes[a].name);
    const std::string name = scope_of(node.name) + (silu ? "SiLU" : op);
    const NodeId fused =
        add_node(graph, domain, op, name, {m->x}, {name + "_output"}, std::move(attrs));
    remove_nodes(graph, m->nodes);
    take_over(graph, m->result, graph.nodes[fused].outputs[0]);
    ctx.applied(kPass,
                str_cat(op, op == "Gelu" ? "(" + approximate + ")" : "",
                        silu ? "(alpha 1: SiLU)" : "", " '", graph.nodes[fused].name, "'"),
                absorbed);
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
