// ValueEvaluator: evaluates small constant subgraphs through the CPU reference kernels.
#include "passes/value_evaluator.h"

#include <set>
#include <string>

#include "cpu/cpu_kernel.h"
#include "passes/graph_rewrite.h"

namespace vitrt {
namespace {

// Masks and scales are small; anything larger is not what this is for.
constexpr int64_t kMaxElements = int64_t{1} << 22;
// Mask subgraphs are a few dozen nodes deep; the bound keeps recursion shallow on odd graphs.
constexpr int kMaxDepth = 64;

// Ops that broadcast their inputs elementwise: evaluating them on broadcastable stand-ins of
// their inputs gives a broadcastable stand-in of their output.
bool is_elementwise(const Node& node) {
  static const std::set<std::string> ops = {
      "Where",   "And", "Or",  "Xor",   "Not",  "Cast",        "Add",     "Sub",
      "Mul",     "Div", "Neg", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual",
      "Identity"};
  return (node.domain.empty() || node.domain == "ai.onnx") && ops.count(node.op_type) != 0;
}

}  // namespace

std::optional<Tensor> ValueEvaluator::exact(ValueId v) {
  if (v == kNoValue) return std::nullopt;
  const Value& value = graph_.values[v];
  if (value.is_constant()) return value.constant;
  if (auto it = exact_cache_.find(v); it != exact_cache_.end()) return it->second;
  std::optional<Tensor> result;
  if (value.sym_value && value.has_shape && value.shape.size() <= 1 &&
      (value.dtype == DType::kInt64 || value.dtype == DType::kInt32)) {
    // Shape arithmetic whose dims are all static or bound (sym_value is filled by shape
    // inference).
    std::vector<int64_t> ints;
    for (const Dim& d : *value.sym_value) {
      const std::optional<int64_t> x = d.evaluate(bindings_);
      if (!x) break;
      ints.push_back(*x);
    }
    if (ints.size() == value.sym_value->size()) {
      Tensor t = Tensor::from_int64(ints, value.shape.empty());
      if (value.dtype == DType::kInt32) {
        Tensor t32 = Tensor::empty(DType::kInt32, t.shape());
        for (int64_t i = 0; i < t.numel(); ++i) {
          t32.data<int32_t>()[i] = static_cast<int32_t>(ints[i]);
        }
        t = t32;
      }
      result = t;
    }
  }
  if (!result) {
    const Node* producer = producer_of(graph_, v);
    if (producer != nullptr) result = run(*producer, v, /*broadcast_inputs=*/false);
  }
  exact_cache_[v] = result;
  return result;
}

std::optional<Tensor> ValueEvaluator::up_to_broadcast(ValueId v) {
  if (v == kNoValue) return std::nullopt;
  if (auto it = broadcast_cache_.find(v); it != broadcast_cache_.end()) return it->second;
  std::optional<Tensor> result;
  const Node* producer = producer_of(graph_, v);
  if (producer != nullptr && is_onnx_op(*producer, "Expand")) {
    result = up_to_broadcast(producer->inputs[0]);
  } else if (producer != nullptr && is_elementwise(*producer)) {
    result = run(*producer, v, /*broadcast_inputs=*/true);
  } else {
    result = exact(v);
  }
  broadcast_cache_[v] = result;
  return result;
}

std::optional<Tensor> ValueEvaluator::run(const Node& node, ValueId v, bool broadcast_inputs) {
  if (depth_ >= kMaxDepth) return std::nullopt;
  const Value& value = graph_.values[v];
  if (!broadcast_inputs) {
    // Exact evaluation needs a static shape (a symbolic dim means the value depends on an input,
    // unless the symbol is bound).
    if (!value.has_shape) return std::nullopt;
    std::vector<int64_t> shape;
    for (const Dim& d : value.shape) {
      const std::optional<int64_t> x = d.evaluate(bindings_);
      if (!x) return std::nullopt;
      shape.push_back(*x);
    }
    if (shape_numel(shape) > kMaxElements) return std::nullopt;
  }
  if (CpuKernelRegistry::global().find(node.domain, node.op_type) == nullptr) return std::nullopt;
  ++depth_;
  std::vector<Tensor> inputs(node.inputs.size());
  bool ok = true;
  for (size_t i = 0; i < node.inputs.size() && ok; ++i) {
    if (node.inputs[i] == kNoValue) continue;
    std::optional<Tensor> t =
        broadcast_inputs ? up_to_broadcast(node.inputs[i]) : exact(node.inputs[i]);
    if (!t || t->numel() > kMaxElements) ok = false;
    if (ok) inputs[i] = std::move(*t);
  }
  --depth_;
  if (!ok) return std::nullopt;
  std::vector<const Tensor*> ptrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ptrs.push_back(node.inputs[i] == kNoValue ? nullptr : &inputs[i]);
  }
  Result<std::vector<Tensor>> outputs = run_cpu_node(graph_, node, ptrs);
  if (!outputs.ok()) return std::nullopt;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i] == v) return (*outputs)[i];
  }
  return std::nullopt;
}

}  // namespace vitrt
