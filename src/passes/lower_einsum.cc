// lower_einsum: ONNX Einsum -> Transpose / ReduceSum / Unsqueeze / Reshape / MatMul / Squeeze.
//
// Exporters write torch.einsum as one Einsum node; vision models use it for small contractions
// (SAM's and MViTv2's decomposed relative position bias "bhwc,hkc->bhwk", "byhwc,hkc->byhwk").
// Every one- or two-operand equation without an ellipsis or a repeated label in a term is one
// batched MatMul between layout ops that vitrt already runs on every backend:
//
//   - a label of one operand that is neither in the other nor in the output is summed first
//     (ReduceSum);
//   - labels of both operands that are not in the output (contracted) become the K axis,
//     merged by a Reshape when there are several (none: K = 1, an outer product);
//   - the output's other labels are batch axes of the MatMul, in output order, except one label
//     of the first operand only (the M axis) and one of the second operand only (the N axis); an
//     operand lacking a batch label gets a size-1 axis there (Unsqueeze) and MatMul broadcasts;
//   - the result [batch..., M, N] is squeezed where M or N were size-1 placeholders and
//     transposed to the output's order.
//
// A one-operand equation is ReduceSum + Transpose. This runs at import, before the first shape
// inference (it needs ranks only, which the equation gives), optimizer or not: there is no Einsum
// kernel. Equations outside that form are refused with the node and the reason.
#include <algorithm>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "lower_einsum";

using Labels = std::string;

struct Builder : LoweringEmitter {
  using LoweringEmitter::LoweringEmitter;

  ValueId transpose(ValueId x, const Labels& from, const Labels& to, const std::string& suffix) {
    std::vector<int64_t> perm;
    for (char l : to) perm.push_back(static_cast<int64_t>(from.find(l)));
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
    if (identity) return x;
    return LoweringEmitter::transpose(x, std::move(perm), suffix);
  }

  // Sums the labels of `x` that `keep` lacks; updates `labels`.
  ValueId sum_out(ValueId x, Labels* labels, const Labels& keep, const std::string& suffix) {
    std::vector<int64_t> axes;
    Labels kept;
    for (size_t i = 0; i < labels->size(); ++i) {
      if (keep.find((*labels)[i]) == Labels::npos) {
        axes.push_back(static_cast<int64_t>(i));
      } else {
        kept += (*labels)[i];
      }
    }
    if (axes.empty()) return x;
    *labels = kept;
    Attributes a;
    a.set_int("keepdims", 0);
    return with_axes("ReduceSum", suffix, x, axes, std::move(a));
  }

  // `x` (labels `labels`) as [batch..., row, K]: batch labels it lacks and a missing row (row 0)
  // become size-1 axes, the contracted labels one K axis (size 1 when there are none).
  ValueId arrange(ValueId x, const Labels& labels, const Labels& batch, char row,
                  const Labels& contracted, const std::string& suffix) {
    Labels order;
    for (char l : batch) {
      if (labels.find(l) != Labels::npos) order += l;
    }
    if (row != 0) order += row;
    order += contracted;
    x = transpose(x, labels, order, suffix + "_order");
    std::vector<int64_t> missing;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (labels.find(batch[i]) == Labels::npos) missing.push_back(static_cast<int64_t>(i));
    }
    if (row == 0) missing.push_back(static_cast<int64_t>(batch.size()));
    if (contracted.empty()) missing.push_back(static_cast<int64_t>(batch.size()) + 1);
    if (!missing.empty()) x = with_axes("Unsqueeze", suffix + "_broadcast", x, missing);
    if (contracted.size() > 1) {
      // The leading axes keep their place (0 copies them); the contracted ones merge.
      std::vector<int64_t> shape(batch.size() + 1, 0);
      shape.push_back(-1);
      x = op("Reshape", suffix + "_merge_k", {x, int64s(suffix + "_k_shape", shape)});
    }
    return x;
  }
};

bool has(const Labels& s, char l) {
  return s.find(l) != Labels::npos;
}

// The terms of `equation` (spaces dropped) and its output, explicit or implicit (the labels
// that appear once, in alphabetical order); an error names what vitrt cannot lower.
Status parse(const std::string& equation, std::vector<Labels>* terms, Labels* out) {
  std::string eq;
  for (char c : equation) {
    if (c != ' ') eq += c;
  }
  if (eq.find("...") != std::string::npos) {
    return unsupported("Einsum equation '", equation, "' has an ellipsis, which vitrt does not ",
                       "lower");
  }
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  terms->clear();
  size_t start = 0;
  while (true) {
    const size_t comma = lhs.find(',', start);
    terms->push_back(lhs.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  Labels all;
  for (const Labels& t : *terms) all += t;
  if (arrow != std::string::npos) {
    *out = eq.substr(arrow + 2);
  } else {
    out->clear();
    for (char c = 'A'; c <= 'z'; ++c) {
      if (std::count(all.begin(), all.end(), c) == 1) *out += c;
    }
  }
  for (const Labels& t : *terms) {
    for (char c : t) {
      if (!std::isalpha(static_cast<unsigned char>(c))) {
        return invalid_model("Einsum equation '", equation, "': '", std::string(1, c),
                             "' is not a label");
      }
      if (std::count(t.begin(), t.end(), c) != 1) {
        return unsupported("Einsum equation '", equation, "' repeats label '", std::string(1, c),
                           "' in one operand (a diagonal), which vitrt does not lower");
      }
    }
  }
  for (char c : *out) {
    if (!has(all, c) || std::count(out->begin(), out->end(), c) != 1) {
      return invalid_model("Einsum equation '", equation, "': output label '", std::string(1, c),
                           "' is repeated or in no operand");
    }
  }
  return Status::ok_status();
}

Status lower_one(Graph& graph, NodeId id) {
  const Node node = graph.nodes[id];
  auto equation = node.attrs.get_string("equation", "");
  if (!equation.ok() || equation->empty()) {
    return invalid_model(node.describe(), ": Einsum has no equation");
  }
  std::vector<Labels> terms;
  Labels out;
  Status parsed = parse(*equation, &terms, &out);
  if (!parsed.ok()) return parsed.with_context(node.describe());
  if (static_cast<int>(terms.size()) != node.num_inputs()) {
    return invalid_model(node.describe(), ": equation '", *equation, "' has ", terms.size(),
                         " operands, the node ", node.num_inputs(), " inputs");
  }
  if (terms.size() > 2) {
    return unsupported(node.describe(), ": Einsum of ", terms.size(), " operands ('", *equation,
                       "'); vitrt lowers one or two");
  }
  Builder b(graph, node.name);
  ValueId result = kNoValue;
  if (terms.size() == 1) {
    Labels a = terms[0];
    ValueId x = b.sum_out(node.inputs[0], &a, out, "_sum");
    result = b.transpose(x, a, out, "_out");
  } else {
    Labels a = terms[0], c = terms[1];
    ValueId xa = b.sum_out(node.inputs[0], &a, out + c, "_sum_a");
    ValueId xb = b.sum_out(node.inputs[1], &c, out + a, "_sum_b");
    Labels contracted, batch;
    char m = 0, n = 0;
    for (char l : a) {
      if (has(c, l) && !has(out, l)) contracted += l;
    }
    // M and N: the first operand's (second's) own label that comes last in the output.
    for (char l : out) {
      if (has(a, l) && !has(c, l)) m = l;
      if (has(c, l) && !has(a, l)) n = l;
    }
    for (char l : out) {
      if (l != m && l != n) batch += l;
    }
    xa = b.arrange(xa, a, batch, m, contracted, "_a");
    xb = b.arrange(xb, c, batch, n, contracted, "_b");
    std::vector<int64_t> perm;
    for (size_t i = 0; i < batch.size(); ++i) perm.push_back(static_cast<int64_t>(i));
    perm.push_back(static_cast<int64_t>(batch.size()) + 1);
    perm.push_back(static_cast<int64_t>(batch.size()));
    xb = b.LoweringEmitter::transpose(xb, std::move(perm), "_b_kn");
    ValueId y = b.op("MatMul", "_matmul", {xa, xb});
    std::vector<int64_t> placeholders;
    if (m == 0) placeholders.push_back(static_cast<int64_t>(batch.size()));
    if (n == 0) placeholders.push_back(static_cast<int64_t>(batch.size()) + 1);
    if (!placeholders.empty()) y = b.with_axes("Squeeze", "_squeeze", y, placeholders);
    Labels have = batch;
    if (m != 0) have += m;
    if (n != 0) have += n;
    result = b.transpose(y, have, out, "_out");
  }
  if (result == node.inputs[0]) {
    // "ij->ij": an Identity keeps the output a value of its own.
    result = b.op("Identity", "_identity", {result});
  }
  replace_uses(graph, node.outputs[0], result);
  remove_nodes(graph, {id});
  return Status::ok_status();
}

}  // namespace

Status lower_einsum(Graph& graph, PassContext& ctx) {
  const size_t count = graph.nodes.size();
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    const Node& n = graph.nodes[id];
    if (n.dead || !n.domain.empty() || n.op_type != "Einsum") continue;
    const std::string name = n.name;
    auto equation = n.attrs.get_string("equation", "");
    VITRT_RETURN_IF_ERROR(lower_one(graph, id));
    ctx.applied(kPass, str_cat("Einsum '", name, "' (", equation.ok() ? *equation : "", ")"),
                {name});
  }
  return Status::ok_status();
}

}  // namespace vitrt
