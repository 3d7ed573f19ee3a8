// Building blocks of the CPU data-movement kernels (shape ops and indexing): element-size
// dispatch, strided copies, transposes and index reading.
//
// Data movement never looks at values, so kernels dispatch on the element's size, not its type:
// one instantiation per size (1, 2, 4, 8 bytes) serves every storable dtype.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "cpu/cpu_kernel.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

// Calls fn(T{}) with T the unsigned integer type as wide as one element of `dtype`.
template <typename Fn>
Status dispatch_element_size(DType dtype, Fn&& fn) {
  switch (dtype_size(dtype)) {
    case 1:
      return fn(uint8_t{});
    case 2:
      return fn(uint16_t{});
    case 4:
      return fn(uint32_t{});
    case 8:
      return fn(uint64_t{});
    default:
      return unsupported("dtype ", dtype_name(dtype), " cannot be stored in a tensor");
  }
}

// Copies the strided view (`in` advanced by element strides `in_strides`, which may be 0 for
// broadcast or negative for reversed slices) of shape `shape` into the contiguous `out`.
// Adjacent dims are merged first; unit-stride rows become memcpy, zero-stride rows a fill.
void strided_copy(const void* in, const std::vector<int64_t>& in_strides, void* out,
                  const std::vector<int64_t>& shape, size_t element_size);

// out = in permuted: out.dim(i) == in.dim(perm[i]). `perm` must be a valid permutation.
Tensor transpose_tensor(const Tensor& in, const std::vector<int>& perm);

// Row-major element strides of `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

// The elements of an int32 or int64 tensor (indices, axes, shapes); `what` names it in errors.
Result<std::vector<int64_t>> read_int_tensor(const Tensor* t, const char* what);

// Writes `value` converted to `dtype` at `dst` (fill values, ones of EyeLike).
void store_scalar(DType dtype, double value, void* dst);

// A kernel factory for a stateless kernel function that reads its attributes on each run.
using DataMovementFn = Status (*)(const Node& node, int64_t opset,
                                  const std::vector<const Tensor*>& inputs,
                                  std::vector<Tensor>& outputs);
template <DataMovementFn kFn>
Result<std::unique_ptr<CpuKernel>> make_function_kernel(const KernelInit& init) {
  return std::unique_ptr<CpuKernel>(new FunctionKernel<DataMovementFn>(init.node, init.opset, kFn));
}

// Registration of the kernel files split out of the shape-op and indexing families.
void register_cpu_transpose_kernels(CpuKernelRegistry& registry);
void register_cpu_concat_split_kernels(CpuKernelRegistry& registry);
void register_cpu_expand_tile_kernels(CpuKernelRegistry& registry);
void register_cpu_pad_kernels(CpuKernelRegistry& registry);
void register_cpu_scatter_kernels(CpuKernelRegistry& registry);

}  // namespace vitrt
