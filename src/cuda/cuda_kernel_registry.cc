// The CUDA kernel registry and the helpers kernels share.
#include "cuda/cuda_kernel.h"

#include <algorithm>

namespace vitrt::cuda {

const CudaKernelRegistry& CudaKernelRegistry::global() {
  static const CudaKernelRegistry* registry = [] {
    auto* r = new CudaKernelRegistry();
    register_cuda_elementwise_kernels(*r);
    register_cuda_data_movement_kernels(*r);
    register_cuda_normalization_kernels(*r);
    register_cuda_linear_kernels(*r);
    register_cuda_quant_linear_kernels(*r);
    register_cuda_resize_kernels(*r);
    register_cuda_indexing_kernels(*r);
    register_cuda_qdq_kernels(*r);
    register_cuda_integer_kernels(*r);
    register_cuda_rotary_kernels(*r);
    return r;
  }();
  return *registry;
}

void CudaKernelRegistry::add(const std::string& domain, const std::string& op_type,
                             CudaKernelFactory factory) {
  factories_[{domain, op_type}] = factory;
}

CudaKernelFactory CudaKernelRegistry::find(const std::string& domain,
                                           const std::string& op_type) const {
  auto it = factories_.find({domain, op_type});
  return it == factories_.end() ? nullptr : it->second;
}

const Tensor* constant_input(const CudaKernelInit& init, int i) {
  if (!init.node.has_input(i)) return nullptr;
  const Value& v = init.graph.values[init.node.inputs[i]];
  return v.is_constant() ? &v.constant : nullptr;
}

Result<Elt> elt_of(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return Elt::kF32;
    case DType::kFloat16:
      return Elt::kF16;
    case DType::kBFloat16:
      return Elt::kBF16;
    case DType::kInt64:
      return Elt::kI64;
    case DType::kInt32:
      return Elt::kI32;
    case DType::kBool:
      return Elt::kBool;
    default:
      return unsupported("the CUDA backend has no kernels for dtype ", dtype_name(dtype));
  }
}

Status cuda_status(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::ok_status();
  return internal_error(what, ": CUDA error ", cudaGetErrorName(err), " (", cudaGetErrorString(err),
                        ")");
}

Result<std::vector<int64_t>> broadcast_shapes(const std::vector<int64_t>& a,
                                              const std::vector<int64_t>& b) {
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r, 1);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("shapes ", shape_to_string(a), " and ", shape_to_string(b),
                              " do not broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

StridedView broadcast_view(const std::vector<int64_t>& shape,
                           const std::vector<int64_t>& out_shape) {
  StridedView v;
  v.rank = static_cast<int>(out_shape.size());
  const std::vector<int64_t> strides = contiguous_strides(shape);
  const size_t lead = out_shape.size() - shape.size();
  for (size_t i = 0; i < out_shape.size(); ++i) {
    v.dims[i] = out_shape[i];
    v.strides[i] = (i < lead || shape[i - lead] == 1) ? 0 : strides[i - lead];
  }
  return v;
}

StridedView contiguous_view(const std::vector<int64_t>& shape) {
  return broadcast_view(shape, shape);
}

Result<std::vector<int64_t>> host_ints(const DeviceTensor* t, const char* what) {
  if (t == nullptr) return invalid_argument(what, " is missing");
  if (t->host == nullptr) {
    return unsupported(what,
                       " must be a constant or computed from shapes (it is computed on "
                       "the GPU here)");
  }
  if (!dtype_is_integer(t->host->dtype())) {
    return invalid_argument(what, " must be an integer tensor, got ", t->host->describe());
  }
  return t->host->to_int64_vector();
}

Result<int> normalize_axis(int64_t axis, int rank) {
  if (axis < -rank || axis >= std::max(rank, 1)) {
    return invalid_argument("axis ", axis, " is out of range for rank ", rank);
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace vitrt::cuda
