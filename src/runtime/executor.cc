// The CPU executor (see executor.h).
#include "runtime/executor.h"

#include <chrono>

#include <map>
#include <optional>
#include <set>
#include <utility>

namespace vitrt {
namespace {

// Where a symbol got its value: for messages that point at both inputs of a conflict.
struct SymbolBinding {
  int64_t value;
  std::string input;
  int axis;
};

std::string dim_label(const Dim& d) {
  return d.is_static() ? "" : " (" + d.to_string() + ")";
}

std::string input_list(const Graph& graph) {
  std::string out;
  for (ValueId id : graph.inputs) {
    if (!out.empty()) out += ", ";
    out += "'" + graph.values[id].name + "'";
  }
  return out.empty() ? "none" : out;
}

std::string expected_type(const Value& v) {
  return str_cat(dtype_name(v.dtype), v.has_shape ? sym_shape_to_string(v.shape) : "[?]");
}

// The symbol of a dim that is exactly one symbol ("batch"), the common case that binds it.
const std::string* plain_symbol(const Dim& d) {
  if (d.terms().size() != 1) return nullptr;
  const auto& [monomial, coef] = *d.terms().begin();
  if (coef != 1 || monomial.size() != 1 || monomial.begin()->second != 1) return nullptr;
  return &monomial.begin()->first;
}

// d as a * s + b when d is linear in `s` (no term has s squared): {a, b}.
std::optional<std::pair<Dim, Dim>> linear_in(const Dim& d, const std::string& s) {
  Dim a(int64_t{0}), b(int64_t{0});
  for (const auto& [monomial, coef] : d.terms()) {
    Dim rest(coef);
    int exponent = 0;
    for (const auto& [sym, e] : monomial) {
      if (sym == s) {
        exponent = e;
      } else {
        for (int i = 0; i < e; ++i) rest = rest * Dim::symbol(sym);
      }
    }
    if (exponent > 1) return std::nullopt;
    (exponent == 1 ? a : b) = (exponent == 1 ? a : b) + rest;
  }
  return std::make_pair(a, b);
}

}  // namespace

Result<ExecutionSchedule> make_execution_schedule(const Graph& graph) {
  ExecutionSchedule s;
  VITRT_ASSIGN_OR_RETURN(s.order, graph.topological_order());
  std::vector<int> last_step(graph.values.size(), -1);
  for (size_t step = 0; step < s.order.size(); ++step) {
    const Node& n = graph.nodes[s.order[step]];
    for (ValueId id : n.inputs) {
      if (id != kNoValue) last_step[id] = static_cast<int>(step);
    }
    // An output nobody reads dies at the step that makes it.
    for (ValueId id : n.outputs) {
      if (id != kNoValue && last_step[id] < static_cast<int>(step)) {
        last_step[id] = static_cast<int>(step);
      }
    }
  }
  std::vector<bool> keep(graph.values.size(), false);
  for (ValueId id : graph.outputs) keep[id] = true;
  s.release_after.resize(s.order.size());
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (keep[v] || graph.values[v].is_constant() || last_step[v] < 0) continue;
    s.release_after[last_step[v]].push_back(static_cast<ValueId>(v));
  }
  return s;
}

Status bind_graph_inputs(const Graph& graph, const std::vector<NamedTensor>& inputs,
                         std::vector<Tensor>& slots) {
  std::map<std::string, ValueId> by_name;
  for (ValueId id : graph.inputs) by_name[graph.values[id].name] = id;
  std::map<ValueId, const NamedTensor*> given;
  for (const NamedTensor& in : inputs) {
    auto it = by_name.find(in.name);
    if (it == by_name.end()) {
      return invalid_argument("unknown input '", in.name,
                              "'; the model's inputs are: ", input_list(graph));
    }
    if (!given.emplace(it->second, &in).second) {
      return invalid_argument("input '", in.name, "' is given more than once");
    }
  }

  std::map<std::string, SymbolBinding> symbols;
  // Composite symbolic dims ("2*batch") are checked after the plain symbols are bound.
  std::vector<std::pair<ValueId, int>> deferred;
  for (ValueId id : graph.inputs) {
    const Value& v = graph.values[id];
    auto it = given.find(id);
    if (it == given.end()) {
      return invalid_argument("missing input '", v.name, "' (", expected_type(v), ")");
    }
    const Tensor& t = it->second->tensor;
    if (!t.defined()) return invalid_argument("input '", v.name, "' holds no tensor");
    if (v.dtype != DType::kUndefined && t.dtype() != v.dtype) {
      return invalid_argument("input '", v.name, "' has dtype ", dtype_name(t.dtype()),
                              ", the model expects ", dtype_name(v.dtype), " (", expected_type(v),
                              ")");
    }
    if (v.has_shape) {
      if (t.rank() != static_cast<int>(v.shape.size())) {
        return invalid_argument("input '", v.name, "' has rank ", t.rank(), " (shape ",
                                shape_to_string(t.shape()), "), the model expects rank ",
                                v.shape.size(), " (", sym_shape_to_string(v.shape), ")");
      }
      for (int a = 0; a < t.rank(); ++a) {
        const Dim& d = v.shape[a];
        if (d.is_static() && d.value() != t.dim(a)) {
          return invalid_argument("input '", v.name, "' dim ", a, " is ", t.dim(a),
                                  ", the model expects ", d.value(), " (shape ",
                                  sym_shape_to_string(v.shape), ", given ",
                                  shape_to_string(t.shape()), ")");
        }
        if (const std::string* plain = plain_symbol(d)) {
          const std::string& sym = *plain;
          auto [b, inserted] = symbols.emplace(sym, SymbolBinding{t.dim(a), v.name, a});
          if (!inserted && b->second.value != t.dim(a)) {
            return invalid_argument("input '", b->second.input, "' dim ", b->second.axis, " (", sym,
                                    ") is ", b->second.value, " but input '", v.name, "' dim ", a,
                                    " (", sym, ") is ", t.dim(a));
          }
        } else if (d.is_symbolic()) {
          deferred.emplace_back(id, a);
        }
      }
    }
    slots[id] = t;
  }
  // Composite dims ("2*batch", "h*w+5"), in sweeps until a sweep binds nothing new: a dim
  // whose symbols are all bound is checked, one with a single unbound symbol it is linear in
  // binds that symbol, the others wait for the next sweep (or, at the end, for the kernels).
  for (bool bound_any = true; bound_any && !deferred.empty();) {
    bound_any = false;
    std::vector<std::pair<ValueId, int>> waiting;
    for (auto [id, a] : deferred) {
      const Value& v = graph.values[id];
      const Dim& d = v.shape[a];
      const int64_t actual = slots[id].dim(a);
      std::map<std::string, int64_t> values;
      std::vector<std::string> unbound;
      for (const std::string& sym : d.symbols()) {
        auto b = symbols.find(sym);
        if (b == symbols.end()) {
          unbound.push_back(sym);
        } else {
          values[sym] = b->second.value;
        }
      }
      if (unbound.empty()) {
        const std::optional<int64_t> expected = d.evaluate(values);
        if (expected && *expected == actual) continue;
        std::string bound_by;
        for (const std::string& sym : d.symbols()) {
          const SymbolBinding& b = symbols.at(sym);
          bound_by += str_cat(bound_by.empty() ? "" : ", ", sym, " = ", b.value, " from input '",
                              b.input, "' dim ", b.axis);
        }
        return invalid_argument("input '", v.name, "' dim ", a, dim_label(d), " is ", actual,
                                " but must be ",
                                expected ? std::to_string(*expected) : std::string("out of range"),
                                " (", bound_by, ")");
      }
      const std::optional<std::pair<Dim, Dim>> ab =
          unbound.size() == 1 ? linear_in(d, unbound[0]) : std::nullopt;
      const std::optional<int64_t> scale = ab ? ab->first.evaluate(values) : std::nullopt;
      const std::optional<int64_t> offset = ab ? ab->second.evaluate(values) : std::nullopt;
      if (!scale || !offset || *scale <= 0) {
        waiting.emplace_back(id, a);
        continue;
      }
      const int64_t rest = actual - *offset;
      if (rest >= 0 && rest % *scale == 0) {
        symbols.emplace(unbound[0], SymbolBinding{rest / *scale, v.name, a});
        bound_any = true;
        continue;
      }
      if (*offset == 0) {
        return invalid_argument("input '", v.name, "' dim ", a, dim_label(d), " is ", actual,
                                ", not a multiple of ", *scale);
      }
      return invalid_argument("input '", v.name, "' dim ", a, dim_label(d), " is ", actual,
                              ", which no ", unbound[0], " >= 0 gives (", *scale, "*", unbound[0],
                              "+", *offset, ")");
    }
    deferred = std::move(waiting);
  }
  return Status::ok_status();
}

CpuExecutionContext::CpuExecutionContext(std::shared_ptr<const Graph> graph,
                                         std::shared_ptr<const ExecutionSchedule> schedule,
                                         std::vector<std::unique_ptr<CpuKernel>> kernels,
                                         Status creation_error)
    : graph_(std::move(graph)),
      schedule_(std::move(schedule)),
      kernels_(std::move(kernels)),
      creation_error_(std::move(creation_error)) {}

Result<std::vector<NamedTensor>> CpuExecutionContext::run(const std::vector<NamedTensor>& inputs) {
  VITRT_RETURN_IF_ERROR(creation_error_);
  ActiveBufferPool scope(pool_.get());
  Result<std::vector<NamedTensor>> results = run_steps(inputs);
  // Drop every intermediate, also on error, so their buffers are back in the pool and the
  // context references no activations between runs.
  slots_.assign(slots_.size(), Tensor());
  pool_->trim_unused();
  return results;
}

Result<std::vector<NamedTensor>> CpuExecutionContext::run_steps(
    const std::vector<NamedTensor>& inputs) {
  const Graph& g = *graph_;
  slots_.assign(g.values.size(), Tensor());
  VITRT_RETURN_IF_ERROR(bind_graph_inputs(g, inputs, slots_));

  std::vector<const Tensor*> in_ptrs;
  std::vector<Tensor> outs;
  for (size_t step = 0; step < schedule_->order.size(); ++step) {
    const NodeId nid = schedule_->order[step];
    const Node& node = g.nodes[nid];
    in_ptrs.assign(node.inputs.size(), nullptr);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ValueId id = node.inputs[i];
      if (id == kNoValue) continue;
      const Value& v = g.values[id];
      in_ptrs[i] = v.is_constant() ? &v.constant : &slots_[id];
      if (!in_ptrs[i]->defined()) {
        return internal_error(node.describe(), ": input ", i, " ('", v.name,
                              "') has not been computed");
      }
    }
    outs.assign(node.outputs.size(), Tensor());
    const auto start =
        profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    Status s = run_cpu_kernel(*kernels_[nid], in_ptrs, outs);
    if (profiling_) {
      step_ms_[step] +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
    }
    if (!s.ok()) return s.with_context(node.describe());
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      const ValueId id = node.outputs[k];
      if (id == kNoValue) continue;
      const Value& v = g.values[id];
      const Tensor& t = outs[k];
      if (!t.defined()) {
        return internal_error(node.describe(), ": the kernel did not produce output ", k, " ('",
                              v.name, "')");
      }
      // Shape inference and the kernel must agree; a disagreement is a bug in one of them.
      bool agrees = v.dtype == DType::kUndefined || t.dtype() == v.dtype;
      if (agrees && v.has_shape) {
        agrees = t.rank() == static_cast<int>(v.shape.size());
        for (int a = 0; agrees && a < t.rank(); ++a) {
          agrees = !v.shape[a].is_static() || v.shape[a].value() == t.dim(a);
        }
      }
      if (!agrees) {
        return internal_error(node.describe(), ": output ", k, " ('", v.name, "') is ",
                              t.describe(), " but shape inference says ", expected_type(v));
      }
      slots_[id] = std::move(outs[k]);
    }
    for (ValueId id : schedule_->release_after[step]) slots_[id] = Tensor();
  }

  if (profiling_) ++profiled_runs_;
  std::vector<NamedTensor> results;
  results.reserve(g.outputs.size());
  for (ValueId id : g.outputs) {
    const Value& v = g.values[id];
    const Tensor& t = v.is_constant() ? v.constant : slots_[id];
    if (!t.defined()) return internal_error("graph output '", v.name, "' was not computed");
    results.push_back({v.name, t});
  }
  return results;
}

void CpuExecutionContext::set_profiling(bool enabled) {
  profiling_ = enabled;
  step_ms_.assign(schedule_->order.size(), 0.0);
  profiled_runs_ = 0;
}

std::vector<NodeProfile> CpuExecutionContext::profile() const {
  std::vector<NodeProfile> out;
  if (step_ms_.size() != schedule_->order.size()) return out;
  for (size_t step = 0; step < schedule_->order.size(); ++step) {
    const Node& node = graph_->nodes[schedule_->order[step]];
    out.push_back({node.name, node.op_type, step_ms_[step], profiled_runs_});
  }
  return out;
}

}  // namespace vitrt
