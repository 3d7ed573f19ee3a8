// Optimizer pass select_rows_early: a Gather that picks rows (tokens) of a tensor moves before
// the row-wise ops that computed it, so they compute only the rows that are read.
//
// A classifier that pools its class token (ViT, DeiT, CLIP's vision tower, DINOv2's pooler)
// ends in Gather(LayerNorm(x), 0, axis 1): the last block's projection, LayerNorms and MLP ran
// on every token to keep one. Every op between the last attention and that Gather works on
// each token alone, so
//
//   Gather(P(x, r, W), idx, axis a) == P(Gather(x, idx, a), Gather(r, idx, a), W)
//
// for P row-wise along axis a: vitrt.Linear / vitrt.QuantLinear (X and residual; W, bias and
// scales act on the last axis), LayerNormalization, RMSNormalization, vitrt.AddLayerNorm and
// Softmax over axes after a, vitrt.FakeQuant with its per-tensor scale, and elementwise ops.
// Inputs that broadcast along a stay as they are (or lose the axis with a scalar index);
// inputs that do not cover a at all stay. vitrt.Attention (not causal) takes a selection of
// query rows (axis 1) on its query and on its mask's query axis, keys and values whole; a packed
// q, k, v projection is first split into its three parts, and a scalar index becomes a one-row
// Gather so the Attention keeps its query axis. The Gather then repeats on its new inputs until
// it reaches an op that mixes rows, a value something else also reads (the keys' and values'
// input), or a graph output. Several Gathers of constant rows on one value (DeiT's class and
// distillation tokens) first become one Gather of their union, each then picking its rows from
// that. Selections from all leading axes at once move the same way: CLIP text's end-of-text token,
// Gather(Flatten(x), b * T + argmax) from TorchScript and GatherND of (b, t) pairs from dynamo;
// a Shape of the output that sizes those indices is moved to an input of the same leading
// sizes first.
//
// The same value up to summation order: every kept row goes through the same arithmetic, but a
// GEMM of fewer rows may pick another kernel, so the last bits can differ. Not applied where the
// indices depend on the op itself, to vitrt.QuantLinear with dynamic_input (its scale comes
// from the whole tensor), or to ops whose other outputs something else reads.
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "ir/op_schema.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "select_rows_early";
// Each move re-infers shapes; a network ends in a handful of row-wise ops per selection.
constexpr int kMaxMoves = 256;

bool is_elementwise(const Node& node) {
  static const std::set<std::string> kOps = {
      "Add",       "Sub",      "Mul",      "Div",       "Pow",        "Max",  "Min",  "Sum",
      "Mean",      "Neg",      "Abs",      "Sqrt",      "Reciprocal", "Exp",  "Log",  "Erf",
      "Tanh",      "Sigmoid",  "Relu",     "LeakyRelu", "Elu",        "Selu", "Celu", "HardSigmoid",
      "HardSwish", "Softplus", "Softsign", "Mish",      "Gelu",       "Clip", "Cast", "Where",
      "Sign",      "Floor",    "Ceil",     "Round",     "Sin",        "Cos"};
  return node.domain.empty() && kOps.count(node.op_type) != 0;
}

// How `node` treats its inputs along the selected axis, for an output of rank `rank`.
struct RowRule {
  bool supported = false;
  // Selection along axes below this one commutes with the op (its own reductions and
  // products run along this axis and after).
  int64_t first_mixed_axis = 0;
  // Inputs that are weights acting on the last axis: never selected.
  std::set<int> params;
  // vitrt.Attention: only its query rows (axis 1 of [B, Sq, D]) may be picked, on the query
  // and on the mask's query axis; keys and values stay whole.
  bool query_rows = false;
  std::string why;  // when !supported
};

// An int attribute, or `def` when absent or of another kind (the schema checks reported that).
int64_t int_attr(const Node& node, const char* name, int64_t def) {
  Result<int64_t> v = node.attrs.get_int(name, def);
  return v.ok() ? *v : def;
}

RowRule row_rule(const Graph& graph, const Node& node, int64_t rank) {
  RowRule rule;
  rule.first_mixed_axis = rank;
  if (node.domain == "vitrt" && node.op_type == "Linear") {
    rule.supported = true;
    rule.first_mixed_axis = rank - 1;
    rule.params = {1, 2};
  } else if (node.domain == "vitrt" && node.op_type == "QuantLinear") {
    if (int_attr(node, "dynamic_input", 0) != 0) {
      rule.why = "it quantizes its input with a scale taken from the whole tensor";
      return rule;
    }
    rule.supported = true;
    rule.first_mixed_axis = rank - 1;
    rule.params = {1, 2, 3};
  } else if (node.domain == "vitrt" &&
             (node.op_type == "AddLayerNorm" || node.op_type == "FakeQuant")) {
    rule.supported = true;
    rule.first_mixed_axis = node.op_type == "AddLayerNorm" ? rank - 1 : rank;
  } else if (is_onnx_op(node, "LayerNormalization") || is_onnx_op(node, "RMSNormalization") ||
             is_onnx_op(node, "Softmax") || is_onnx_op(node, "LogSoftmax")) {
    // Softmax before opset 13 normalizes over every axis from `axis` (default 1) on.
    const bool softmax = is_onnx_op(node, "Softmax") || is_onnx_op(node, "LogSoftmax");
    const int64_t def = softmax && graph.onnx_opset() < 13 ? 1 : -1;
    int64_t axis = int_attr(node, "axis", def);
    if (axis < 0) axis += rank;
    rule.supported = axis >= 0 && axis < rank;
    rule.first_mixed_axis = axis;
    if (!rule.supported) rule.why = "its axis attribute is out of range";
  } else if (is_elementwise(node)) {
    rule.supported = true;
  } else if (node.domain == "vitrt" && node.op_type == "Attention") {
    // Each query row attends to every key on its own: softmax(q_i K^T) V. Picking query rows
    // leaves the keys and values whole.
    if (int_attr(node, "causal", 0) != 0) {
      rule.why = "causal attention: which keys a query row sees depends on its position";
      return rule;
    }
    rule.supported = true;
    rule.query_rows = true;
    rule.first_mixed_axis = 2;
    rule.params = {1, 2, 3};  // keys, values, mask (the mask's query axis: see try_move)
  } else {
    rule.why = str_cat(node.op_type, " is not known to work on each row alone");
  }
  return rule;
}

// A selection of rows of `data` (rank data_rank), in one of three forms:
//   kGather       Gather(data, indices, axis): rows along one axis;
//   kFlattenRows  Gather(Flatten(data, rank - 1), indices, axis 0): rows of all leading axes
//                 merged (CLIP text's end-of-text token, TorchScript);
//   kGatherNd     GatherND(data, indices [..., lead]), batch_dims 0: (b, t) pairs of the
//                 first `lead` axes (the same, dynamo).
// The leading axes it picks from are [axis, axis + 1) for kGather, [0, lead) for the others.
enum class Form { kGather, kFlattenRows, kGatherNd };

struct Selection {
  Form form = Form::kGather;
  NodeId node = -1;     // the Gather / GatherND
  NodeId flatten = -1;  // kFlattenRows: the Flatten before it
  ValueId data = kNoValue;
  ValueId indices = kNoValue;
  int64_t axis = 0;  // kGather
  int64_t lead = 0;  // kFlattenRows, kGatherNd
  int64_t data_rank = 0;
  int64_t index_rank = 0;
  // The first leading axis it picks along, and one past the last.
  int64_t first_axis() const { return form == Form::kGather ? axis : 0; }
  int64_t end_axis() const { return form == Form::kGather ? axis + 1 : lead; }
};

// Rows of a float tensor: never its last axis (features), never shape arithmetic.
bool selects_rows(const Value& data, int64_t end_axis) {
  return data.has_shape && dtype_is_float(data.dtype) &&
         end_axis < static_cast<int64_t>(data.shape.size()) && end_axis > 0;
}

std::optional<Selection> as_selection(const Graph& graph, const Uses& uses, NodeId id) {
  const Node& node = graph.nodes[id];
  if (node.dead || node.inputs.size() != 2) return std::nullopt;
  const Value& indices = graph.values[node.inputs[1]];
  if (!indices.has_shape) return std::nullopt;
  Selection s;
  s.node = id;
  s.indices = node.inputs[1];
  s.index_rank = static_cast<int64_t>(indices.shape.size());
  if (is_onnx_op(node, "GatherND")) {
    if (int_attr(node, "batch_dims", 0) != 0 || s.index_rank < 1 ||
        !indices.shape.back().is_static()) {
      return std::nullopt;
    }
    s.form = Form::kGatherNd;
    s.data = node.inputs[0];
    s.lead = indices.shape.back().value();
  } else if (is_onnx_op(node, "Gather")) {
    s.data = node.inputs[0];
    const Node* flat = producer_if(graph, s.data, "Flatten");
    const Value& flat_in = flat != nullptr ? graph.values[flat->inputs[0]] : graph.values[s.data];
    int64_t axis = int_attr(node, "axis", 0);
    if (flat != nullptr && axis == 0 && flat_in.has_shape && flat_in.shape.size() >= 3 &&
        int_attr(*flat, "axis", 1) == static_cast<int64_t>(flat_in.shape.size()) - 1 &&
        uses.only_used_by_one(s.data)) {
      s.form = Form::kFlattenRows;
      s.flatten = static_cast<NodeId>(flat - graph.nodes.data());
      s.data = flat->inputs[0];
      s.lead = static_cast<int64_t>(flat_in.shape.size()) - 1;
    } else {
      const Value& data = graph.values[s.data];
      if (!data.has_shape) return std::nullopt;
      if (axis < 0) axis += static_cast<int64_t>(data.shape.size());
      if (axis < 0) return std::nullopt;
      s.axis = axis;
    }
  } else {
    return std::nullopt;
  }
  const Value& data = graph.values[s.data];
  if (!selects_rows(data, s.end_axis())) return std::nullopt;
  s.data_rank = static_cast<int64_t>(data.shape.size());
  return s;
}

// The selection reading `v` through node `reader` (a Gather or GatherND of it, or the Flatten
// of a kFlattenRows), or nullopt.
std::optional<Selection> selection_through(const Graph& graph, const Uses& uses, NodeId reader,
                                           ValueId v) {
  const Node& r = graph.nodes[reader];
  if (is_onnx_op(r, "Flatten")) {
    const Node* g = uses.single_consumer(r.outputs[0]);
    if (g == nullptr) return std::nullopt;
    reader = static_cast<NodeId>(g - graph.nodes.data());
  }
  std::optional<Selection> s = as_selection(graph, uses, reader);
  if (!s || s->data != v) return std::nullopt;
  return s;
}

bool same_indices(const Graph& graph, ValueId a, ValueId b) {
  if (a == b) return true;
  const Tensor* ta = constant_of(graph, a);
  const Tensor* tb = constant_of(graph, b);
  if (ta == nullptr || tb == nullptr || ta->shape() != tb->shape()) return false;
  return int_constant(graph, a) == int_constant(graph, b);
}

bool same_selection(const Graph& graph, const Selection& a, const Selection& b) {
  return a.form == b.form && a.data_rank == b.data_rank && a.first_axis() == b.first_axis() &&
         a.end_axis() == b.end_axis() && same_indices(graph, a.indices, b.indices);
}

// A Shape of the whole tensor (no start / end).
bool is_plain_shape(const Node& node) {
  return is_onnx_op(node, "Shape") && !node.attrs.has("start") && !node.attrs.has("end");
}

// Whether `v` is computed from `target`'s outputs (so it is not available before `target`),
// other than through the plain Shape nodes in `shapes`, which read only their sizes.
bool depends_on(const Graph& graph, ValueId v, NodeId target, const std::set<NodeId>& shapes) {
  std::vector<ValueId> stack = {v};
  std::set<ValueId> seen;
  while (!stack.empty()) {
    const ValueId cur = stack.back();
    stack.pop_back();
    if (cur == kNoValue || !seen.insert(cur).second) continue;
    const NodeId p = graph.values[cur].producer;
    if (p < 0 || shapes.count(p) != 0) continue;
    if (p == target) return true;
    for (ValueId in : graph.nodes[p].inputs) stack.push_back(in);
  }
  return false;
}

class RowSelector {
 public:
  RowSelector(Graph& graph, PassContext& ctx, bool query_rows)
      : graph_(graph), ctx_(ctx), uses_(graph), query_rows_(query_rows) {}

  Status run() {
    for (int moves = 0; moves < kMaxMoves;) {
      bool moved = false;
      const NodeId count = static_cast<NodeId>(graph_.nodes.size());
      for (NodeId id = 0; id < count && !moved; ++id) {
        std::optional<Selection> s = as_selection(graph_, uses_, id);
        if (!s) continue;
        moved = try_union(*s) || try_move(*s);
      }
      if (!moved) break;
      ++moves;
      Status inferred = infer_shapes(graph_);
      if (!inferred.ok()) return inferred.with_context(str_cat(kPass, ": after a move"));
      uses_.refresh();
    }
    return Status::ok_status();
  }

 private:
  // The row-wise producer of `s.data` when the selection could move past it, else nullptr.
  const Node* movable_producer(const Selection& s) {
    const Node* p = producer_of(graph_, s.data);
    if (p == nullptr || is_graph_output(graph_, s.data)) return nullptr;
    const RowRule rule = rule_for(*p, s.data_rank);
    if (!rule.supported || s.end_axis() > rule.first_mixed_axis) return nullptr;
    if (rule.query_rows && !picks_query_rows(s)) return nullptr;
    return p;
  }

  RowRule rule_for(const Node& node, int64_t rank) const {
    RowRule rule = row_rule(graph_, node, rank);
    if (rule.query_rows && !query_rows_) {
      rule = RowRule{};
      rule.why = "moves into attention are off (VITRT_DISABLE_FUSIONS=select_query_rows)";
    }
    return rule;
  }

  // An Attention's output [B, Sq, D] takes only a Gather of query rows: picking whole images
  // (axis 0) would have to pick the keys and values too.
  static bool picks_query_rows(const Selection& s) {
    return s.form == Form::kGather && s.axis == 1 && s.data_rank == 3;
  }

  // Several Gathers of constant rows along one axis of a value -> one Gather of their union
  // (rank kept), each then picking its rows from it; the union then moves as one selection.
  bool try_union(const Selection& s) {
    if (s.form != Form::kGather) return false;
    const std::vector<NodeId>& readers = uses_.of(s.data);
    if (readers.size() < 2 || movable_producer(s) == nullptr) return false;
    const Dim rows = graph_.values[s.data].shape[s.axis];  // a copy: values are added below
    std::set<int64_t> wanted;
    std::vector<Selection> all;
    for (NodeId r : readers) {
      std::optional<Selection> other = as_selection(graph_, uses_, r);
      if (!other || other->form != Form::kGather || other->data != s.data ||
          other->axis != s.axis) {
        return false;
      }
      std::optional<std::vector<int64_t>> idx = int_constant(graph_, other->indices);
      if (!idx) return false;
      for (int64_t i : *idx) {
        if (i < 0 && !rows.is_static()) return false;
        const int64_t norm = i < 0 ? i + rows.value() : i;
        if (norm < 0 || (rows.is_static() && norm >= rows.value())) return false;
        wanted.insert(norm);
      }
      all.push_back(*other);
    }
    // All readers the same selection: it moves as it is.
    bool identical = true;
    for (const Selection& o : all) identical = identical && same_selection(graph_, o, s);
    if (identical) return false;
    if (!rows.is_static() || static_cast<int64_t>(wanted.size()) >= rows.value()) return false;
    const std::vector<int64_t> keep(wanted.begin(), wanted.end());
    const std::string first = graph_.nodes[s.node].name;
    const std::string data_name = graph_.values[s.data].name;
    const ValueId keep_v = add_constant_value(graph_, first + "_rows", Tensor::from_int64(keep));
    Attributes attrs;
    attrs.set_int("axis", s.axis);
    const NodeId u = add_node(graph_, "", "Gather", first + "_rows", {s.data, keep_v},
                              {data_name + "_rows"}, attrs);
    const ValueId narrowed = graph_.nodes[u].outputs[0];
    std::vector<std::string> names;
    for (const Selection& o : all) {
      const bool scalar = constant_of(graph_, o.indices)->shape().empty();
      std::vector<int64_t> remapped;
      const std::vector<int64_t> picked = *int_constant(graph_, o.indices);
      for (int64_t i : picked) {
        const int64_t norm = i < 0 ? i + rows.value() : i;
        remapped.push_back(std::lower_bound(keep.begin(), keep.end(), norm) - keep.begin());
      }
      const std::string reader = graph_.nodes[o.node].name;
      const ValueId idx =
          add_constant_value(graph_, reader + "_row", Tensor::from_int64(remapped, scalar));
      graph_.nodes[o.node].inputs = {narrowed, idx};
      names.push_back(reader);
    }
    ctx_.applied(kPass,
                 str_cat("rows ", shape_to_string(keep), " of '", data_name, "' picked once for ",
                         all.size(), " Gathers"),
                 names);
    return true;
  }

  // What one input of the producer becomes.
  struct Pending {
    int slot;
    ValueId input;
    int64_t axis;     // kGather: the input's own axis
    bool zero_index;  // kGather: the input broadcasts along the axis, pick its one row
  };

  // The selection `s` repeated on `in` (of the producer's inputs), with `index` for kGather.
  ValueId select_on(const Selection& s, const Pending& p, const std::string& base) {
    const std::string out_name = graph_.values[p.input].name + "_rows";
    if (s.form == Form::kGatherNd) {
      Attributes attrs;
      attrs.set_int("batch_dims", 0);
      const NodeId g =
          add_node(graph_, "", "GatherND", base, {p.input, s.indices}, {out_name}, attrs);
      return graph_.nodes[g].outputs[0];
    }
    ValueId data = p.input;
    ValueId idx = s.indices;
    Attributes attrs;
    attrs.set_int("axis", p.axis);
    if (s.form == Form::kFlattenRows) {
      Attributes flat;
      flat.set_int("axis", static_cast<int64_t>(graph_.values[p.input].shape.size()) - 1);
      const NodeId f = add_node(graph_, "", "Flatten", base + "_flatten", {p.input},
                                {graph_.values[p.input].name + "_flat"}, flat);
      data = graph_.nodes[f].outputs[0];
      attrs.set_int("axis", 0);
    } else if (p.zero_index) {
      idx = add_constant_value(graph_, base + "_row0", Tensor::from_int64({0}, true));
    }
    const NodeId g = add_node(graph_, "", "Gather", base, {data, idx}, {out_name}, attrs);
    return graph_.nodes[g].outputs[0];
  }

  // How input `v` of a producer whose output has `out_shape` takes selection `s`: appended to
  // `pending`, left as it is (it does not reach the selected axes), or false with `why` set.
  bool plan_input(const Selection& s, int slot, ValueId in, const SymShape& out_shape,
                  std::vector<Pending>& pending, std::string* why) {
    const Value& v = graph_.values[in];
    if (!v.has_shape) {
      *why = str_cat("input '", v.name, "' has no known shape");
      return false;
    }
    const int64_t rank = static_cast<int64_t>(v.shape.size());
    if (rank > s.data_rank) {
      *why = str_cat("input '", v.name, "' has a higher rank than the output");
      return false;
    }
    const int64_t offset = s.data_rank - rank;  // numpy broadcasting aligns the last axes
    if (s.end_axis() <= offset) return true;    // same for every selected row
    if (s.form != Form::kGather) {
      // Several leading axes picked at once: the input must have every one of them in full.
      bool full = rank == s.data_rank;
      for (int64_t a = 0; full && a < s.lead; ++a) full = v.shape[a].same_as(out_shape[a]);
      if (!full) {
        *why = str_cat("input '", v.name, "' ", sym_shape_to_string(v.shape),
                       " broadcasts along the picked axes of ", sym_shape_to_string(out_shape));
        return false;
      }
      pending.push_back({slot, in, 0, false});
      return true;
    }
    const int64_t axis = s.axis - offset;
    const Dim& d = v.shape[axis];
    if (d.same_as(out_shape[s.axis])) {
      pending.push_back({slot, in, axis, false});
    } else if (d.is_static() && d.value() == 1) {
      if (s.index_rank == 0) {
        pending.push_back({slot, in, axis, true});
      } else if (s.index_rank != 1) {
        *why = str_cat("input '", v.name, "' broadcasts along the axis the ", s.index_rank,
                       "-D indices replace");
        return false;
      }
    } else {
      *why = str_cat("input '", v.name, "' has ", d.to_string(), " rows against the output's ",
                     out_shape[s.axis].to_string());
      return false;
    }
    return true;
  }

  // The Shape nodes of a full-size output read `stand_in` instead: directly when it has the
  // same shape, else its leading sizes and the output's (static) last one.
  void move_shape_readers(const std::set<NodeId>& shapes, ValueId stand_in, bool exact,
                          const SymShape& out_shape, const std::string& base) {
    ValueId sized = stand_in;
    if (!exact) {
      LoweringEmitter e(graph_, base + "/shape");
      const int64_t rank = static_cast<int64_t>(out_shape.size());
      const ValueId lead = e.op("Slice", "_lead",
                                {e.op("Shape", "", {stand_in}), e.int64s("_starts", {0}),
                                 e.int64s("_ends", {rank - 1}), e.int64s("_axes", {0})});
      Attributes cat;
      cat.set_int("axis", 0);
      sized = e.op("Concat", "", {lead, e.int64s("_last", {out_shape.back().value()})}, cat);
    }
    for (NodeId id : shapes) {
      if (exact) {
        graph_.nodes[id].inputs[0] = stand_in;
      } else {
        replace_uses(graph_, graph_.nodes[id].outputs[0], sized);
        remove_nodes(graph_, {id});
      }
    }
  }

  enum class Prepared { kReady, kChanged, kRefused };

  // Before a selection of query rows moves into Attention `att`: checks what the generic move
  // does not know (the mask's query axis, the index rank), and first makes the form it can move
  // into: a packed q, k, v input split back into three projections, a scalar index made a
  // one-row Gather (the Attention keeps its query axis) that a Gather of row 0 reads. Sets
  // `mask` to the mask's selection when it has per-query rows.
  Prepared prepare_attention(const Selection& s, NodeId att,
                             const std::vector<std::pair<int, Selection>>& readers,
                             const std::string& where, std::optional<Pending>* mask) {
    const Node& node = graph_.nodes[att];
    const Dim& queries = graph_.values[s.data].shape[1];
    // One query row: nothing to pick (and where a scalar index's row-0 Gather stays).
    if (queries.is_static() && queries.value() == 1) return Prepared::kRefused;
    if (s.index_rank > 1) {
      ctx_.near_miss(kPass, where, "its indices have rank > 1 (the query axis must stay one axis)");
      return Prepared::kRefused;
    }
    if (node.has_input(3)) {
      const Value& m = graph_.values[node.inputs[3]];
      const int64_t rank = m.has_shape ? static_cast<int64_t>(m.shape.size()) : 0;
      if (rank < 2) {
        ctx_.near_miss(kPass, where, str_cat("its mask '", m.name, "' has no known shape"));
        return Prepared::kRefused;
      }
      const Dim& d = m.shape[rank - 2];
      if (d.same_as(queries)) {
        *mask = Pending{3, node.inputs[3], rank - 2, false};
      } else if (!(d.is_static() && d.value() == 1)) {
        ctx_.near_miss(
            kPass, where,
            str_cat("its mask '", m.name, "' ", sym_shape_to_string(m.shape),
                    " has neither one row nor a row per query (", queries.to_string(), ")"));
        return Prepared::kRefused;
      }
    }
    if (!node.has_input(1)) {
      return split_packed_qkv(att, where) ? Prepared::kChanged : Prepared::kRefused;
    }
    if (s.index_rank == 0) {
      widen_scalar_selection(s, readers);
      return Prepared::kChanged;
    }
    return Prepared::kReady;
  }

  // Columns [begin, begin + n) of a constant [K, N] matrix (any element type), or [N] vector.
  static Tensor column_slice(const Tensor& t, int64_t begin, int64_t n) {
    const int64_t rows = t.rank() == 2 ? t.dim(0) : 1;
    const int64_t cols = t.dim(t.rank() - 1);
    const size_t elem = dtype_size(t.dtype());
    Tensor out = Tensor::empty(
        t.dtype(), t.rank() == 2 ? std::vector<int64_t>{rows, n} : std::vector<int64_t>{n});
    const auto* src = static_cast<const unsigned char*>(t.raw_data());
    auto* dst = static_cast<unsigned char*>(out.raw_data());
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(dst + r * n * elem, src + (r * cols + begin) * elem, n * elem);
    }
    return out;
  }

  // The packed q, k, v projection (vitrt.Linear or QuantLinear, [K, 3D] weights in q | k | v
  // column order, as pack_qkv writes them) that only `att` reads becomes three projections of
  // D columns each, and `att` reads q, k and v separately: then its query rows can be picked
  // while k and v stay whole.
  bool split_packed_qkv(NodeId att, const std::string& where) {
    const ValueId qkv = graph_.nodes[att].inputs[0];
    const Node* p = producer_of(graph_, qkv);
    const bool quant = p != nullptr && p->domain == "vitrt" && p->op_type == "QuantLinear";
    if (p == nullptr || p->domain != "vitrt" || (p->op_type != "Linear" && !quant)) {
      ctx_.near_miss(
          kPass, where,
          "it reads packed q, k, v that no vitrt.Linear / QuantLinear projection writes");
      return false;
    }
    const int residual = quant ? 4 : 3;
    Result<std::string> act = p->attrs.get_string("activation", "none");
    const char* why = nullptr;
    if (!uses_.only_used_by_one(qkv) || is_graph_output(graph_, qkv)) {
      why = "its packed q, k, v are also read elsewhere";
    } else if (!act.ok() || *act != "none" || p->has_input(residual)) {
      why = "its packed q, k, v projection has an activation or a residual";
    } else if (quant && (int_attr(*p, "dynamic_input", 0) != 0 || p->attrs.has("output_scale"))) {
      why = "its packed q, k, v projection quantizes per run or writes codes";
    }
    // Weights [K, 3D]; per-column inputs: the bias (Linear 2), w_scale and bias (QuantLinear).
    const std::vector<int> columns = quant ? std::vector<int>{1, 2, 3} : std::vector<int>{1, 2};
    int64_t width = 0;
    for (int slot : columns) {
      if (why != nullptr || !p->has_input(slot)) continue;
      const Tensor* t = constant_of(graph_, p->inputs[slot]);
      const int want_rank = slot == 1 ? 2 : 1;
      if (t == nullptr || t->rank() != want_rank || t->dim(want_rank - 1) % 3 != 0 ||
          (width != 0 && t->dim(want_rank - 1) != width)) {
        why = "its packed q, k, v projection's weights are not constant [K, 3D] columns";
        continue;
      }
      width = t->dim(want_rank - 1);
    }
    if (why != nullptr) {
      ctx_.near_miss(kPass, where, why);
      return false;
    }
    const int64_t d = width / 3;
    const Node proj = *p;  // add_node may move the nodes
    const NodeId proj_id = static_cast<NodeId>(p - graph_.nodes.data());
    std::vector<ValueId> parts;
    static const char* kParts[3] = {"q", "k", "v"};
    for (int j = 0; j < 3; ++j) {
      std::vector<ValueId> inputs = proj.inputs;
      for (int slot : columns) {
        if (!proj.has_input(slot)) continue;
        inputs[slot] = add_constant_value(
            graph_, str_cat(graph_.values[proj.inputs[slot]].name, "_", kParts[j]),
            column_slice(*constant_of(graph_, proj.inputs[slot]), j * d, d));
      }
      const NodeId n =
          add_node(graph_, proj.domain, proj.op_type, str_cat(proj.name, "_", kParts[j]), inputs,
                   {str_cat(graph_.values[qkv].name, "_", kParts[j])}, proj.attrs);
      parts.push_back(graph_.nodes[n].outputs[0]);
    }
    Node& a = graph_.nodes[att];
    const ValueId mask = a.has_input(3) ? a.inputs[3] : kNoValue;
    a.inputs = {parts[0], parts[1], parts[2]};
    if (mask != kNoValue) a.inputs.push_back(mask);
    remove_nodes(graph_, {proj_id});
    ctx_.applied(kPass, str_cat("packed q, k, v of '", a.name, "' split to pick query rows"),
                 {proj.name});
    return true;
  }

  // Gather(out, i) with a scalar i -> Gather(Gather(out, [i]), 0): the one-row Gather moves
  // into the Attention, which keeps a query axis of one row.
  void widen_scalar_selection(const Selection& s,
                              const std::vector<std::pair<int, Selection>>& readers) {
    const std::string base = str_cat(graph_.nodes[s.node].name, "/query_rows");
    ValueId idx;
    if (std::optional<std::vector<int64_t>> c = int_constant(graph_, s.indices)) {
      idx = add_constant_value(graph_, base + "_index", Tensor::from_int64(*c));
    } else {
      const ValueId shape = add_constant_value(graph_, base + "_shape", Tensor::from_int64({1}));
      const NodeId r =
          add_node(graph_, "", "Reshape", base + "_index", {s.indices, shape}, {base + "_index"});
      idx = graph_.nodes[r].outputs[0];
    }
    Attributes attrs;
    attrs.set_int("axis", 1);
    const NodeId g = add_node(graph_, "", "Gather", base, {s.data, idx},
                              {graph_.values[s.data].name + "_query_rows"}, attrs);
    const ValueId rows = graph_.nodes[g].outputs[0];
    const ValueId zero = add_constant_value(graph_, base + "_row0", Tensor::from_int64({0}, true));
    for (const auto& [k, o] : readers) graph_.nodes[o.node].inputs = {rows, zero};
  }

  bool try_move(const Selection& s) {
    const Node* pp = producer_of(graph_, s.data);
    if (pp == nullptr) return false;
    const std::string where = str_cat(graph_.nodes[s.node].op_type, " '", graph_.nodes[s.node].name,
                                      "' after ", pp->describe());
    if (is_graph_output(graph_, s.data)) return false;
    if (is_onnx_op(*pp, "Gather")) return false;  // a union's readers: nothing to move
    const RowRule rule = rule_for(*pp, s.data_rank);
    if (!rule.supported) {
      ctx_.near_miss(kPass, where, rule.why);
      return false;
    }
    if (s.end_axis() > rule.first_mixed_axis) {
      ctx_.near_miss(kPass, where,
                     str_cat("the op combines values along axis ", rule.first_mixed_axis));
      return false;
    }
    if (rule.query_rows && !picks_query_rows(s)) {
      ctx_.near_miss(kPass, where,
                     "attention mixes the rows of one image: only query rows (axis 1 of its "
                     "[batch, queries, width] output) are picked before it");
      return false;
    }
    const NodeId p_id = static_cast<NodeId>(pp - graph_.nodes.data());
    // Every reader of every output must be this same selection, or a Shape (TorchScript sizes
    // the end-of-text token's index by Shape(last_hidden_state)): it moves to an input of the
    // same leading sizes, since the output is about to shrink.
    std::vector<std::pair<int, Selection>> readers;  // (output slot, selection)
    std::set<NodeId> shapes;
    for (size_t k = 0; k < pp->outputs.size(); ++k) {
      const ValueId out = pp->outputs[k];
      if (out == kNoValue) continue;
      if (is_graph_output(graph_, out)) {
        ctx_.near_miss(kPass, where,
                       str_cat("its output '", graph_.values[out].name, "' is a graph output"));
        return false;
      }
      for (NodeId r : uses_.of(out)) {
        if (is_plain_shape(graph_.nodes[r])) {
          shapes.insert(r);
          continue;
        }
        std::optional<Selection> o = selection_through(graph_, uses_, r, out);
        if (!o || !same_selection(graph_, *o, s)) {
          ctx_.near_miss(kPass, where,
                         str_cat(graph_.nodes[r].describe(), " reads all rows of '",
                                 graph_.values[out].name, "'"));
          return false;
        }
        readers.emplace_back(static_cast<int>(k), *o);
      }
    }
    if (depends_on(graph_, s.indices, p_id, shapes)) {
      ctx_.near_miss(kPass, where, "the indices are computed from the op's own output");
      return false;
    }
    // The producer's outputs take the selections' places (replace_uses keeps a graph output's
    // name), which allows one graph output per output slot.
    std::set<int> named_slots;
    for (const auto& [k, o] : readers) {
      if (is_graph_output(graph_, graph_.nodes[o.node].outputs[0]) &&
          !named_slots.insert(k).second) {
        ctx_.near_miss(kPass, where, "two of its selections are graph outputs");
        return false;
      }
    }
    const SymShape out_shape = graph_.values[s.data].shape;
    std::optional<Pending> mask;
    if (rule.query_rows) {
      switch (prepare_attention(s, p_id, readers, where, &mask)) {
        case Prepared::kRefused:
          return false;
        case Prepared::kChanged:
          return true;
        case Prepared::kReady:
          break;
      }
      pp = &graph_.nodes[p_id];
    }
    std::vector<Pending> pending;
    for (int i = 0; i < pp->num_inputs(); ++i) {
      const ValueId in = pp->inputs[i];
      if (in == kNoValue || rule.params.count(i) != 0) continue;
      std::string why;
      if (!plan_input(s, i, in, out_shape, pending, &why)) {
        ctx_.near_miss(kPass, where, why);
        return false;
      }
    }
    if (mask) pending.push_back(*mask);
    // The Shape readers' stand-in: an input with the output's leading sizes.
    ValueId stand_in = kNoValue;
    for (const Pending& p : pending) {
      const SymShape& in_shape = graph_.values[p.input].shape;
      bool same = in_shape.size() == out_shape.size();
      for (size_t a = 0; same && a + 1 < in_shape.size(); ++a) {
        same = in_shape[a].same_as(out_shape[a]);
      }
      if (same) {
        stand_in = p.input;
        break;
      }
    }
    const bool stand_in_exact =
        stand_in != kNoValue && graph_.values[stand_in].shape.back().same_as(out_shape.back());
    if (!shapes.empty() &&
        (stand_in == kNoValue || (!stand_in_exact && !out_shape.back().is_static()))) {
      ctx_.near_miss(kPass, where, "a Shape reads its output and no input has its sizes");
      return false;
    }
    // Rewrite: new selections on the inputs, the producer reads them, the old ones go.
    const std::string base = str_cat(pp->name, "/select_rows");
    // From here on nodes are added (the Shape readers' stand-in, the new selections), which
    // may move graph_.nodes: the producer is graph_.nodes[p_id], never pp.
    pp = nullptr;
    if (!shapes.empty()) move_shape_readers(shapes, stand_in, stand_in_exact, out_shape, base);
    std::vector<ValueId> new_inputs = graph_.nodes[p_id].inputs;
    std::map<std::pair<ValueId, bool>, ValueId> made;
    for (const Pending& p : pending) {
      const auto key = std::make_pair(p.input, p.zero_index);
      auto it = made.find(key);
      if (it == made.end()) it = made.emplace(key, select_on(s, p, base)).first;
      new_inputs[p.slot] = it->second;
    }
    graph_.nodes[p_id].inputs = new_inputs;
    const std::string producer_name = graph_.nodes[p_id].name;
    std::vector<NodeId> removed;
    std::vector<std::string> names;
    auto drop = [&](const Selection& o) {
      removed.push_back(o.node);
      if (o.flatten >= 0) removed.push_back(o.flatten);
      names.push_back(graph_.nodes[o.node].name);
    };
    for (const auto& [k, o] : readers) {
      replace_uses(graph_, graph_.nodes[o.node].outputs[0], graph_.nodes[p_id].outputs[k]);
      drop(o);
    }
    remove_nodes(graph_, removed);
    ctx_.applied(
        kPass,
        str_cat("rows picked before '", producer_name, "' (", graph_.nodes[p_id].op_type, ")"),
        names);
    return true;
  }

  Graph& graph_;
  PassContext& ctx_;
  Uses uses_;
  bool query_rows_;  // moves into attention allowed (VITRT_DISABLE_FUSIONS=select_query_rows)
};

}  // namespace

Status select_rows_early(Graph& graph, PassContext& ctx) {
  if (ctx.quantized_build()) return Status::ok_status();  // quantize_for_build runs it
  VITRT_ASSIGN_OR_RETURN(std::set<std::string> disabled, disabled_fusions());
  return RowSelector(graph, ctx, disabled.count("select_query_rows") == 0).run();
}

}  // namespace vitrt
