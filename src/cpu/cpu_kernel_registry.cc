// The CPU kernel registry: one registration call per kernel family file.
#include "cpu/cpu_kernel.h"

namespace vitrt {

const CpuKernelRegistry& CpuKernelRegistry::global() {
  static const CpuKernelRegistry registry = [] {
    CpuKernelRegistry r;
    register_cpu_elementwise_kernels(r);
    register_cpu_reduce_kernels(r);
    register_cpu_normalization_kernels(r);
    register_cpu_shape_op_kernels(r);
    register_cpu_indexing_kernels(r);
    register_cpu_linear_kernels(r);
    register_cpu_resize_kernels(r);
    register_cpu_pooling_kernels(r);
    register_cpu_attention_kernels(r);
    register_cpu_fused_linear_kernels(r);
    register_cpu_fused_norm_kernels(r);
    register_cpu_patchify_kernels(r);
    register_cpu_quant_linear_kernels(r);
    return r;
  }();
  return registry;
}

void CpuKernelRegistry::add(const std::string& domain, const std::string& op_type,
                            CpuKernelFactory factory) {
  factories_[{domain, op_type}] = factory;
}

CpuKernelFactory CpuKernelRegistry::find(const std::string& domain,
                                         const std::string& op_type) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  auto it = factories_.find({d, op_type});
  return it == factories_.end() ? nullptr : it->second;
}

}  // namespace vitrt
