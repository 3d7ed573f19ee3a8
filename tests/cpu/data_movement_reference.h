// Helpers for the data-movement kernel tests (shape ops, indexing): a call form over
// run_single_node, and byte-level references (data movement compares bytes, not values).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cpu/single_node.h"

namespace vitrt::testing {

struct CpuOpCall {
  std::string op_type;
  std::vector<std::optional<Tensor>> inputs = {};  // nullopt: an omitted optional input
  Attributes attrs = {};
  int num_outputs = 1;
  int64_t opset = 18;
};

// Runs the op with every input bound as a constant (shape inference sees all a model could
// tell it); run_single_node checks the kernel's outputs against the inferred shapes.
inline Result<std::vector<Tensor>> run_cpu_op(const CpuOpCall& call) {
  std::vector<NodeInput> inputs;
  for (const auto& in : call.inputs) inputs.push_back(in ? constant_input(*in) : omitted_input());
  NodeRun run =
      run_single_node(call.op_type, std::move(inputs), call.attrs, call.num_outputs, call.opset);
  if (!run.status.ok()) return run.status;
  return std::move(run.outputs);
}

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
