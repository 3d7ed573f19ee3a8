// Runs one op through its CPU kernel and its shape inference, for op tests.
//
// The inputs become constants of a one-node graph (so shape inference sees everything a real
// model could tell it); the kernel runs on them, and where inference produced a static shape
// it must equal the kernel's output shape and dtype: the schema and the kernel cannot drift.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "ir/op_schema.h"

namespace vitrt::testing {

struct CpuOpCall {
  std::string op_type;
  std::vector<std::optional<Tensor>> inputs = {};  // nullopt: an omitted optional input
  Attributes attrs = {};
  int num_outputs = 1;
  int64_t opset = 18;
};

inline Result<std::vector<Tensor>> run_cpu_op(const CpuOpCall& call) {
  Graph graph;
  graph.opset_imports[""] = call.opset;
  Node node;
  node.name = "test_" + call.op_type;
  node.op_type = call.op_type;
  node.attrs = call.attrs;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (!call.inputs[i]) {
      node.inputs.push_back(kNoValue);
      continue;
    }
    node.inputs.push_back(graph.add_constant("in" + std::to_string(i), *call.inputs[i]));
  }
  for (int i = 0; i < call.num_outputs; ++i) {
    Value v;
    v.name = "out" + std::to_string(i);
    node.outputs.push_back(graph.add_value(std::move(v)));
  }
  graph.add_node(std::move(node));
  CpuKernelFactory factory = CpuKernelRegistry::global().find("", call.op_type);
  if (factory == nullptr) return not_found("no CPU kernel for ", call.op_type);
  KernelInit init{graph, graph.nodes[0], call.opset};
  VITRT_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> kernel, factory(init));
  std::vector<const Tensor*> inputs;
  for (const auto& in : call.inputs) inputs.push_back(in ? &*in : nullptr);
  std::vector<Tensor> outputs(call.num_outputs);
  VITRT_RETURN_IF_ERROR(kernel->run(inputs, outputs));
  Status inferred = infer_shapes(graph);
  if (!inferred.ok()) return inferred.with_context("shape inference");
  for (int i = 0; i < call.num_outputs; ++i) {
    const Value& v = graph.values[graph.nodes[0].outputs[i]];
    if (v.dtype != outputs[i].dtype()) {
      return internal_error("output ", i, ": inferred dtype ", dtype_name(v.dtype),
                            " but the kernel produced ", outputs[i].describe());
    }
    if (!v.has_shape) continue;
    bool same_rank = static_cast<int>(v.shape.size()) == outputs[i].rank();
    for (int d = 0; same_rank && d < outputs[i].rank(); ++d) {
      if (v.shape[d].is_static() && v.shape[d].value() != outputs[i].dim(d)) same_rank = false;
    }
    if (!same_rank) {
      return internal_error("output ", i, ": inferred shape ", sym_shape_to_string(v.shape),
                            " but the kernel produced ", outputs[i].describe());
    }
  }
  return outputs;
}

// Single-output convenience: the output, or a failed assertion's message in the Status.
inline Result<Tensor> run_cpu_op1(const CpuOpCall& call) {
  VITRT_ASSIGN_OR_RETURN(std::vector<Tensor> out, run_cpu_op(call));
  return std::move(out[0]);
}

// Reference helpers for data-movement tests, which compare bytes, not values.

// A tensor of pseudo-random bytes (fixed seed); for floats the bytes may spell NaNs, which is
// fine for ops that only move elements.
inline Tensor random_bytes(DType dtype, std::vector<int64_t> shape, uint64_t seed) {
  Tensor t = Tensor::empty(dtype, std::move(shape));
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  auto* p = static_cast<uint8_t*>(t.raw_data());
  for (size_t i = 0; i < t.nbytes(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = static_cast<uint8_t>(x >> 24);
  }
  return t;
}

inline ::testing::AssertionResult same_bytes(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype() || actual.shape() != expected.shape()) {
    return ::testing::AssertionFailure()
           << "got " << actual.describe() << ", expected " << expected.describe();
  }
  const size_t es = dtype_size(expected.dtype());
  const auto* a = static_cast<const uint8_t*>(actual.raw_data());
  const auto* e = static_cast<const uint8_t*>(expected.raw_data());
  for (int64_t i = 0; i < expected.numel(); ++i) {
    if (std::memcmp(a + i * es, e + i * es, es) != 0) {
      return ::testing::AssertionFailure()
             << "element " << i << " of " << expected.describe() << " differs ("
             << actual.element_as_double(i) << " vs expected " << expected.element_as_double(i)
             << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

// Copies element `from` of `src` to element `to` of `dst` (same dtype).
inline void copy_element(const Tensor& src, int64_t from, Tensor& dst, int64_t to) {
  const size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<uint8_t*>(dst.raw_data()) + to * es,
              static_cast<const uint8_t*>(src.raw_data()) + from * es, es);
}

// Multi-index of flat position `flat` in a row-major `shape`, and back.
inline std::vector<int64_t> unravel(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}
inline int64_t ravel(const std::vector<int64_t>& idx, const std::vector<int64_t>& shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + idx[d];
  return flat;
}

}  // namespace vitrt::testing
