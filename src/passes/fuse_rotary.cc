// Optimizer pass fuse_rotary: rotary position embeddings (RoPE) spelled out op by op become one
// vitrt.RotaryEmbedding (src/ir/ops/rotary_embedding.cc).
//
//   rotate_half   X * cos + Concat(Neg(X[..., h:]), X[..., :h]) * sin      (HF, timm "cat")
//                 the halves from two Slices or one Split of the last axis, h = D / 2
//   interleaved   X * cos + Reshape(Concat(Unsqueeze(Neg(X[..., 1::2])),
//                                          Unsqueeze(X[..., ::2])), X.shape) * sin   (EVA)
//   partial       Concat(rope(Q[..., :D']), Q[..., D':]) on the last axis -> D' < D
//   prefix        Concat(Q[..., :p, :], rope(Q[..., p:, :])) on the token axis -> start = p
//
// Products and sums match in either operand order. Every precondition is checked before the
// rewrite: the same X feeds both products and the rotation; halves are exactly D/2 of the last
// axis, the sign on the upper half; cos and sin are float32 of shape [S, D] or [1, D] over X's
// last two dims (per head or shared, leading 1s allowed); the prefix and rest slices cover the axis
// exactly; and every intermediate has no reader outside the pattern. cos and sin may be constants
// or values computed at run time (dynamic H and W).
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_rotary";

NodeId id_of(const Graph& graph, const Node* node) {
  return static_cast<NodeId>(node - graph.nodes.data());
}

const SymShape* shape_of(const Graph& g, ValueId v) {
  const Value& value = g.values[v];
  return value.has_shape ? &value.shape : nullptr;
}

// The integer elements of `v` when known at build time (a constant, or shape arithmetic whose
// every element is static).
std::optional<std::vector<int64_t>> known_ints(const Graph& g, ValueId v) {
  if (v == kNoValue) return std::nullopt;
  if (auto c = int_constant(g, v)) return c;
  const Value& value = g.values[v];
  if (!value.sym_value) return std::nullopt;
  std::vector<int64_t> out;
  for (const Dim& d : *value.sym_value) {
    if (!d.is_static()) return std::nullopt;
    out.push_back(d.value());
  }
  return out;
}

// A single-axis Slice (opset >= 10 inputs): its data, normalized axis, start and step; end is
// read only where needed, through the output's length.
struct SliceOf {
  ValueId data = kNoValue;
  int axis = -1;
  int64_t start = 0;
  int64_t step = 1;
  std::optional<int64_t> end;  // as written, when known
};

std::optional<SliceOf> slice_of(const Graph& g, ValueId v) {
  const Node* n = producer_if(g, v, "Slice");
  if (n == nullptr || n->num_inputs() < 3) return std::nullopt;
  const SymShape* in = shape_of(g, n->inputs[0]);
  if (in == nullptr) return std::nullopt;
  const int rank = static_cast<int>(in->size());
  auto starts = known_ints(g, n->inputs[1]);
  auto ends = known_ints(g, n->inputs[2]);
  if (!starts || starts->size() != 1) return std::nullopt;
  SliceOf s;
  s.data = n->inputs[0];
  s.axis = 0;
  if (n->has_input(3)) {
    auto axes = known_ints(g, n->inputs[3]);
    if (!axes || axes->size() != 1) return std::nullopt;
    s.axis = static_cast<int>((*axes)[0] < 0 ? (*axes)[0] + rank : (*axes)[0]);
  }
  if (s.axis < 0 || s.axis >= rank) return std::nullopt;
  if (n->has_input(4)) {
    auto steps = known_ints(g, n->inputs[4]);
    if (!steps || steps->size() != 1) return std::nullopt;
    s.step = (*steps)[0];
  }
  s.start = (*starts)[0];
  const Dim& len = (*in)[s.axis];
  if (s.start < 0) {
    if (!len.is_static()) return std::nullopt;
    s.start += len.value();
  }
  if (ends && ends->size() == 1) s.end = (*ends)[0];
  return s;
}

// Token counts that may be equal: provably, or one of them unknown (TorchScript names no sizes
// under dynamic height and width). The kernel checks at run time that the tables have
// S - start rows or one, so an unequal count fails with a message instead of broadcasting.
bool may_be_same_tokens(const Dim& a, const Dim& b) {
  return a.same_as(b) || !a.is_known() || !b.is_known();
}

// `a` has the shape of X (`x`): the same rank, the same dims, the token axis as above.
bool has_shape_of(const Graph& g, ValueId a, ValueId x) {
  const Value& av = g.values[a];
  const Value& xv = g.values[x];
  if (!av.has_shape || !xv.has_shape || av.shape.size() != xv.shape.size()) return false;
  const size_t tokens = xv.shape.size() - 2;
  for (size_t i = 0; i < xv.shape.size(); ++i) {
    const bool ok = i == tokens ? may_be_same_tokens(av.shape[i], xv.shape[i])
                                : av.shape[i].same_as(xv.shape[i]);
    if (!ok) return false;
  }
  return true;
}

// Length of axis `axis` of `v` when static.
std::optional<int64_t> static_dim(const Graph& g, ValueId v, int axis) {
  const SymShape* s = shape_of(g, v);
  if (s == nullptr || axis < 0 || axis >= static_cast<int>(s->size())) return std::nullopt;
  const Dim& d = (*s)[axis];
  if (!d.is_static()) return std::nullopt;
  return d.value();
}

int rank_of(const Graph& g, ValueId v) {
  const SymShape* s = shape_of(g, v);
  return s == nullptr ? -1 : static_cast<int>(s->size());
}

// `v` is a Slice of `x` along axis `axis` taking [start, start + len) with step `step`.
bool is_slice(const Graph& g, ValueId v, ValueId x, int axis, int64_t start, int64_t step,
              int64_t len) {
  auto s = slice_of(g, v);
  return s && s->data == x && s->axis == axis && s->start == start && s->step == step &&
         static_dim(g, v, axis) == len;
}

// The normalized `axis` attribute of a Concat with an output of rank `rank`.
std::optional<int> concat_axis(const Node& n, int rank) {
  auto axis = n.attrs.get_int("axis", 0);
  if (!axis.ok()) return std::nullopt;
  const int64_t a = *axis < 0 ? *axis + rank : *axis;
  if (a < 0 || a >= rank) return std::nullopt;
  return static_cast<int>(a);
}

// The input of a node that only appends a unit last axis (Unsqueeze, or a Reshape the clean-up
// passes made of one), checked on the shapes.
std::optional<ValueId> unsqueezed_last(const Graph& g, ValueId v) {
  const Node* n = producer_of(g, v);
  if (n == nullptr || n->num_inputs() < 1 ||
      !(is_onnx_op(*n, "Unsqueeze") || is_onnx_op(*n, "Reshape"))) {
    return std::nullopt;
  }
  const SymShape* in = shape_of(g, n->inputs[0]);
  const SymShape* out = shape_of(g, v);
  if (in == nullptr || out == nullptr || out->size() != in->size() + 1) return std::nullopt;
  if (!out->back().is_static() || out->back().value() != 1) return std::nullopt;
  for (size_t i = 0; i < in->size(); ++i) {
    if (!(*in)[i].same_as((*out)[i])) return std::nullopt;
  }
  return n->inputs[0];
}

// What a declined candidate says; only candidates with a Neg in the rotation's place are worth
// a near miss (anything else is no rotary embedding at all).
struct Decline {
  std::string reason;
};

struct Rotation {
  ValueId x = kNoValue;
  bool interleaved = false;
  std::vector<NodeId> nodes;  // Concat, Neg, Slices/Split, Unsqueezes, Reshape
};

// rotate_half(X) = Concat(Neg(upper half), lower half) on the last axis, the halves from two
// Slices or one Split.
std::optional<Rotation> match_rotate_half(const Graph& g, ValueId r, std::optional<Decline>* why) {
  const Node* cat = producer_if(g, r, "Concat");
  if (cat == nullptr || cat->num_inputs() != 2) return std::nullopt;
  const Node* neg0 = producer_if(g, cat->inputs[0], "Neg");
  const Node* neg1 = producer_if(g, cat->inputs[1], "Neg");
  if (neg0 == nullptr && neg1 == nullptr) return std::nullopt;
  const int rank = rank_of(g, r);
  auto axis = concat_axis(*cat, rank);
  if (!axis || *axis != rank - 1) {
    *why = Decline{str_cat("Concat '", cat->name, "' does not join the halves on the last axis")};
    return std::nullopt;
  }
  if (neg0 == nullptr) {
    *why = Decline{str_cat("Concat '", cat->name,
                           "' has the sign on its second half (rotate_half negates the first)")};
    return std::nullopt;
  }
  const ValueId upper = neg0->inputs[0];
  const ValueId lower = cat->inputs[1];
  Rotation rot;
  std::vector<NodeId> halves;
  // Two Slices of one X, or two outputs of one Split.
  if (auto su = slice_of(g, upper); su && slice_of(g, lower)) {
    rot.x = su->data;
    auto d = static_dim(g, rot.x, rank - 1);
    if (!d || *d % 2 != 0 || rank_of(g, rot.x) != rank) {
      *why =
          Decline{str_cat("the rotated tensor of '", cat->name, "' has no static even last dim")};
      return std::nullopt;
    }
    const int64_t h = *d / 2;
    if (!is_slice(g, upper, rot.x, rank - 1, h, 1, h) ||
        !is_slice(g, lower, rot.x, rank - 1, 0, 1, h)) {
      *why = Decline{str_cat("Concat '", cat->name,
                             "' does not read Neg(X[..., D/2:]) then X[..., :D/2] of one X")};
      return std::nullopt;
    }
    halves = {id_of(g, producer_of(g, upper)), id_of(g, producer_of(g, lower))};
  } else {
    const Node* split = producer_if(g, upper, "Split");
    if (split == nullptr || producer_of(g, lower) != split || split->outputs.size() != 2 ||
        split->outputs[0] != lower || split->outputs[1] != upper) {
      *why = Decline{str_cat("Concat '", cat->name,
                             "' does not read Neg(upper half), lower half of one Slice pair or "
                             "Split of the last axis")};
      return std::nullopt;
    }
    rot.x = split->inputs[0];
    auto d = static_dim(g, rot.x, rank - 1);
    auto split_axis = split->attrs.get_int("axis", 0);
    if (!d || *d % 2 != 0 || rank_of(g, rot.x) != rank || !split_axis.ok() ||
        (*split_axis < 0 ? *split_axis + rank : *split_axis) != rank - 1 ||
        static_dim(g, upper, rank - 1) != *d / 2 || static_dim(g, lower, rank - 1) != *d / 2) {
      *why = Decline{str_cat("Split '", split->name, "' does not halve the last axis")};
      return std::nullopt;
    }
    halves = {id_of(g, split)};
  }
  rot.nodes = {id_of(g, cat), id_of(g, neg0)};
  rot.nodes.insert(rot.nodes.end(), halves.begin(), halves.end());
  return rot;
}

// EVA's rot(X) = stack([-X[..., 1::2], X[..., ::2]], -1).reshape(X.shape).
std::optional<Rotation> match_interleaved(const Graph& g, ValueId r, std::optional<Decline>* why) {
  const Node* reshape = producer_if(g, r, "Reshape");
  if (reshape == nullptr) return std::nullopt;
  const Node* cat = producer_if(g, reshape->inputs[0], "Concat");
  if (cat == nullptr || cat->num_inputs() != 2) return std::nullopt;
  auto in0 = unsqueezed_last(g, cat->inputs[0]);
  auto in1 = unsqueezed_last(g, cat->inputs[1]);
  if (!in0 || !in1) return std::nullopt;
  const Node* neg = producer_if(g, *in0, "Neg");
  if (neg == nullptr && producer_if(g, *in1, "Neg") == nullptr) return std::nullopt;
  const int rank = rank_of(g, r);
  auto axis = concat_axis(*cat, rank + 1);
  if (!axis || *axis != rank) {
    *why = Decline{str_cat("Concat '", cat->name, "' does not stack the pairs on a new last axis")};
    return std::nullopt;
  }
  if (neg == nullptr) {
    *why = Decline{str_cat("Concat '", cat->name,
                           "' has the sign on the second of each pair (rot(x)[2i] = -x[2i+1])")};
    return std::nullopt;
  }
  auto odd = slice_of(g, neg->inputs[0]);
  Rotation rot;
  rot.interleaved = true;
  rot.x = odd ? odd->data : kNoValue;
  auto d = rot.x == kNoValue ? std::nullopt : static_dim(g, rot.x, rank - 1);
  if (!d || *d % 2 != 0 || rank_of(g, rot.x) != rank ||
      !is_slice(g, neg->inputs[0], rot.x, rank - 1, 1, 2, *d / 2) ||
      !is_slice(g, *in1, rot.x, rank - 1, 0, 2, *d / 2)) {
    *why = Decline{
        str_cat("Concat '", cat->name, "' does not stack -X[..., 1::2] and X[..., ::2] of one X")};
    return std::nullopt;
  }
  if (rank_of(g, rot.x) < 2 || !has_shape_of(g, r, rot.x)) {
    *why = Decline{str_cat("Reshape '", reshape->name, "' does not restore X's shape")};
    return std::nullopt;
  }
  rot.nodes = {id_of(g, reshape),
               id_of(g, cat),
               id_of(g, producer_of(g, cat->inputs[0])),
               id_of(g, producer_of(g, cat->inputs[1])),
               id_of(g, neg),
               id_of(g, producer_of(g, neg->inputs[0])),
               id_of(g, producer_of(g, *in1))};
  return rot;
}

// A cos or sin table the op accepts for X: float32 [rows, D], rows the tokens of X or 1, after
// X's heads or 1 and at most one more leading 1.
std::optional<std::string> table_problem(const Graph& g, ValueId table, ValueId x) {
  const Value& t = g.values[table];
  const SymShape& xs = g.values[x].shape;
  if (t.dtype != DType::kFloat32) return str_cat("'", t.name, "' is not float32");
  if (!t.has_shape || t.shape.size() < 2 || t.shape.size() > 4) {
    return str_cat("'", t.name, "' is not a [tokens, D] table (rank 2 to 4)");
  }
  const SymShape& s = t.shape;
  for (size_t i = 0; i + 2 < s.size(); ++i) {
    const bool one = s[i].is_static() && s[i].value() == 1;
    // Per-head tables (timm's mixed-mode RoPE) sit just before the tokens, as X's heads do.
    const bool heads = i + 3 == s.size() && xs.size() >= 3 && s[i].same_as(xs[xs.size() - 3]);
    if (!one && !heads) {
      return str_cat("'", t.name, "' ", sym_shape_to_string(s),
                     " varies over the batch (dims before the last two must be 1, or X's heads "
                     "just before them)");
    }
  }
  const Dim& rows = s[s.size() - 2];
  const bool rows_ok =
      (rows.is_static() && rows.value() == 1) || may_be_same_tokens(rows, xs[xs.size() - 2]);
  if (s.size() > xs.size() || !rows_ok || !s.back().same_as(xs.back())) {
    return str_cat("'", t.name, "' ", sym_shape_to_string(s), " does not broadcast as [",
                   xs[xs.size() - 2].to_string(), " or 1, ", xs.back().to_string(), "] over X ",
                   sym_shape_to_string(xs));
  }
  return std::nullopt;
}

struct Match {
  ValueId x = kNoValue;  // what the fused op reads
  ValueId cos = kNoValue, sin = kNoValue;
  bool interleaved = false;
  int64_t start = 0;
  ValueId output = kNoValue;  // the value the fused op replaces
  std::vector<NodeId> nodes;  // absorbed
};

class RotaryMatcher {
 public:
  RotaryMatcher(const Graph& g, const Uses& uses) : g_(g), uses_(uses) {}

  // The core X * cos + rot(X) * sin at Add `add`; a decline only for rotation look-alikes.
  std::optional<Match> match_core(const Node& add, std::optional<Decline>* why) const {
    if (!is_onnx_op(add, "Add") || add.num_inputs() != 2) return std::nullopt;
    const Node* m[2] = {producer_if(g_, add.inputs[0], "Mul"),
                        producer_if(g_, add.inputs[1], "Mul")};
    if (m[0] == nullptr || m[1] == nullptr) return std::nullopt;
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        const Node& rot_mul = *m[i];
        const Node& cos_mul = *m[1 - i];
        std::optional<Decline> rot_why;
        std::optional<Rotation> rot = match_rotate_half(g_, rot_mul.inputs[j], &rot_why);
        if (!rot && !rot_why) rot = match_interleaved(g_, rot_mul.inputs[j], &rot_why);
        if (!rot) {
          if (rot_why && !*why) *why = rot_why;
          continue;
        }
        if (auto d = check_core(add, rot_mul, cos_mul, *rot)) {
          *why = d;
          continue;
        }
        Match match;
        match.x = rot->x;
        match.sin = rot_mul.inputs[1 - j];
        match.cos = cos_mul.inputs[0] == rot->x ? cos_mul.inputs[1] : cos_mul.inputs[0];
        match.interleaved = rot->interleaved;
        match.output = add.outputs[0];
        match.nodes = rot->nodes;
        match.nodes.push_back(id_of(g_, &rot_mul));
        match.nodes.push_back(id_of(g_, &cos_mul));
        match.nodes.push_back(id_of(g_, &add));
        for (ValueId table : {match.cos, match.sin}) {
          if (auto p = table_problem(g_, table, match.x)) {
            *why = Decline{*p};
            return std::nullopt;
          }
        }
        return match;
      }
    }
    return std::nullopt;
  }

  // Partial rotary (Concat(rope(Q[..., :D']), Q[..., D':]) on the last axis) and the prefix
  // (Concat(Q[..., :p, :], rope(Q[..., p:, :])) on the token axis) around a match; each at most
  // once. A token-axis Concat that stays sets `why` (the rotation fuses without it).
  void extend(Match* m, bool* partial, bool* prefix, std::optional<Decline>* why) const {
    const Node* cat = single_reader(m->output, "Concat");
    if (cat == nullptr || cat->num_inputs() != 2) return;
    const int rank = rank_of(g_, m->output);
    auto axis = concat_axis(*cat, rank);
    if (!axis) return;
    if (*axis == rank - 1 && !*partial && cat->inputs[0] == m->output) {
      std::optional<ValueId> q = split_source(m->x, cat->inputs[1], rank - 1);
      if (!q) {
        auto rot = slice_of(g_, m->x);
        auto rot_dim = static_dim(g_, m->x, rank - 1);
        if (!rot || !rot_dim || rot->axis != rank - 1) return;
        auto d = static_dim(g_, rot->data, rank - 1);
        if (!d || !is_slice(g_, m->x, rot->data, rank - 1, 0, 1, *rot_dim) ||
            !is_slice(g_, cat->inputs[1], rot->data, rank - 1, *rot_dim, 1, *d - *rot_dim)) {
          return;
        }
        q = rot->data;
      }
      absorb(m, cat, *q);
      *partial = true;
    } else if (*axis == rank - 2 && !*prefix && cat->inputs[1] == m->output) {
      // The dynamo exporter cuts the prefix with one Split, TorchScript with two Slices.
      std::optional<ValueId> q = split_source(cat->inputs[0], m->x, rank - 2);
      std::optional<int64_t> p = static_dim(g_, cat->inputs[0], rank - 2);
      if (!q) {
        auto rest = slice_of(g_, m->x);
        if (!rest || rest->axis != rank - 2 || rest->step != 1 || rest->start <= 0 ||
            !is_head(cat->inputs[0], rest->data, rank - 2, rest->start) ||
            !covers_rest(*rest, m->x, rest->data)) {
          *why = Decline{str_cat("the prefix tokens joined by Concat '", cat->name,
                                 "' stay: the rotated tokens are not provably Q[..., p:, :] after "
                                 "Q[..., :p, :] with p known at build time")};
          return;
        }
        p = rest->start;
        q = rest->data;
      }
      if (!p || *p <= 0) {
        *why = Decline{str_cat("the prefix tokens joined by Concat '", cat->name,
                               "' stay: their count is not known at build time")};
        return;
      }
      absorb(m, cat, *q);
      m->start = *p;
      *prefix = true;
    }
  }

 private:
  // Whether `rest` (Q[..., p:end, :], the value `rest_value`) reaches the last token of Q.
  bool covers_rest(const SliceOf& rest, ValueId rest_value, ValueId q) const {
    const Dim& s = g_.values[q].shape[rest.axis];
    constexpr int64_t kToEnd = int64_t{1} << 31;  // INT_MAX and above: torch's "to the end"
    if (rest.end && (*rest.end >= kToEnd || (s.is_static() && *rest.end >= s.value()))) {
      return true;
    }
    // A symbolic end computed from Q's own shape (dynamic H and W).
    const Value& end = g_.values[producer_of(g_, rest_value)->inputs[2]];
    if (end.sym_value && end.sym_value->size() == 1 && (*end.sym_value)[0].same_as(s)) {
      return true;
    }
    const Dim& got = g_.values[rest_value].shape[rest.axis];
    return s.is_static() && got.is_static() && rest.start + got.value() == s.value();
  }

  const Node* single_reader(ValueId v, const char* op) const {
    const Node* n = uses_.single_consumer(v);
    return n != nullptr && is_onnx_op(*n, op) ? n : nullptr;
  }

  // `v` is Q[..., :p, :] on `axis`: by its static length, or by its bounds where the token count
  // is symbolic (a shorter Q would leave the rest empty and the kernel refuses start > S).
  bool is_head(ValueId v, ValueId q, int axis, int64_t p) const {
    if (is_slice(g_, v, q, axis, 0, 1, p)) return true;
    auto s = slice_of(g_, v);
    return s && s->data == q && s->axis == axis && s->start == 0 && s->step == 1 && s->end == p;
  }

  // The input of a Split along `axis` into exactly `head` and `tail`, else nullopt.
  std::optional<ValueId> split_source(ValueId head, ValueId tail, int axis) const {
    const Node* split = producer_if(g_, head, "Split");
    if (split == nullptr || split->outputs.size() != 2 || split->outputs[0] != head ||
        split->outputs[1] != tail) {
      return std::nullopt;
    }
    auto a = split->attrs.get_int("axis", 0);
    const int rank = rank_of(g_, split->inputs[0]);
    if (!a.ok() || (*a < 0 ? *a + rank : *a) != axis) return std::nullopt;
    return split->inputs[0];
  }

  void absorb(Match* m, const Node* cat, ValueId q) const {
    // The Concat, the other part (a Slice, or the Split that also made X) and X's Slice.
    m->nodes.push_back(id_of(g_, cat));
    for (ValueId v : {cat->inputs[0], cat->inputs[1], m->x}) {
      const NodeId p = id_of(g_, producer_of(g_, v));
      if (std::find(m->nodes.begin(), m->nodes.end(), p) == m->nodes.end()) m->nodes.push_back(p);
    }
    m->x = q;
    m->output = cat->outputs[0];
  }

  std::optional<Decline> check_core(const Node& add, const Node& rot_mul, const Node& cos_mul,
                                    const Rotation& rot) const {
    if (cos_mul.inputs[0] != rot.x && cos_mul.inputs[1] != rot.x) {
      return Decline{str_cat("'", cos_mul.name, "' does not multiply the tensor that '",
                             rot_mul.name, "' rotates")};
    }
    const Value& x = g_.values[rot.x];
    if (x.dtype != DType::kFloat32 || !x.has_shape || x.shape.size() < 2) {
      return Decline{str_cat("'", x.name, "' is not a float32 [..., S, D] tensor")};
    }
    if (!has_shape_of(g_, add.outputs[0], rot.x)) {
      return Decline{str_cat("'", add.name, "' does not keep the shape of '", x.name,
                             "' (cos or sin broadcast it)")};
    }
    // Every intermediate is read by the pattern alone.
    std::vector<ValueId> inner = {rot_mul.outputs[0], cos_mul.outputs[0]};
    for (NodeId n : rot.nodes) {
      for (ValueId out : g_.nodes[n].outputs) {
        if (out != kNoValue) inner.push_back(out);
      }
    }
    for (ValueId v : inner) {
      if (!uses_.only_used_by_one(v)) {
        return Decline{str_cat("intermediate '", g_.values[v].name, "' is also read elsewhere")};
      }
    }
    return std::nullopt;
  }

  const Graph& g_;
  const Uses& uses_;
};

// The nodes of `nodes` whose outputs only other nodes of `nodes` read (or `replaced`, which the
// fused op takes over): the Slices of Q that something outside the pattern also reads (a Shape
// under dynamic sizes) stay.
std::vector<NodeId> removable(const Graph& graph, const Uses& uses, std::vector<NodeId> nodes,
                              ValueId replaced) {
  for (bool changed = true; changed;) {
    changed = false;
    const std::set<NodeId> in(nodes.begin(), nodes.end());
    std::vector<NodeId> kept;
    for (NodeId n : nodes) {
      bool inside = true;
      for (ValueId out : graph.nodes[n].outputs) {
        if (out == kNoValue || out == replaced) continue;
        inside = inside && !is_graph_output(graph, out);
        for (NodeId reader : uses.of(out)) inside = inside && in.count(reader) > 0;
      }
      if (inside) kept.push_back(n);
    }
    changed = kept.size() != nodes.size();
    nodes = std::move(kept);
  }
  return nodes;
}

}  // namespace

Status fuse_rotary(Graph& graph, PassContext& ctx) {
  Uses uses(graph);
  const size_t count = graph.nodes.size();
  for (size_t i = 0; i < count; ++i) {
    if (graph.nodes[i].dead) continue;
    RotaryMatcher matcher(graph, uses);
    std::optional<Decline> why;
    std::optional<Match> m = matcher.match_core(graph.nodes[i], &why);
    const std::string name = graph.nodes[i].name;
    if (!m) {
      if (why) {
        ctx.near_miss(kPass, str_cat("'", name, "'"),
                      str_cat("rotary embedding not fused: ", why->reason));
      }
      continue;
    }
    bool partial = false, prefix = false;
    std::optional<Decline> prefix_why;
    for (int round = 0; round < 2; ++round) matcher.extend(&*m, &partial, &prefix, &prefix_why);
    if (prefix_why && !prefix) ctx.near_miss(kPass, str_cat("'", name, "'"), prefix_why->reason);
    Attributes attrs;
    attrs.set_int("interleaved", m->interleaved ? 1 : 0);
    attrs.set_int("start", m->start);
    const std::vector<NodeId> absorbed_ids = removable(graph, uses, m->nodes, m->output);
    std::vector<std::string> absorbed;
    for (NodeId n : absorbed_ids) absorbed.push_back(graph.nodes[n].name);
    const NodeId fused = add_node(graph, "vitrt", "RotaryEmbedding", name + "/rotary",
                                  {m->x, m->cos, m->sin}, {name + "/rotary_output"}, attrs);
    take_over(graph, m->output, graph.nodes[fused].outputs[0]);
    remove_nodes(graph, absorbed_ids);
    ctx.applied(kPass,
                str_cat("RotaryEmbedding '", name, "' (", m->interleaved ? "interleaved" : "half",
                        m->start > 0 ? str_cat(", start ", m->start) : std::string(),
                        partial ? ", partial" : "", ")"),
                absorbed);
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
