// The CPU kernel registry: one registration call per kernel family file.
#include "cpu/channels_last_conv.h"
#include "cpu/channels_last_pool.h"
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
    register_cpu_col2im_kernel(r);
    register_cpu_resize_kernels(r);
    register_cpu_grid_sample_kernels(r);
    register_cpu_pooling_kernels(r);
    register_cpu_attention_kernels(r);
    register_cpu_fused_linear_kernels(r);
    register_cpu_fused_norm_kernels(r);
    register_cpu_scale_shift_kernels(r);
    register_cpu_patchify_kernels(r);
    register_cpu_channels_last_conv_kernels(r);
    register_cpu_channels_last_pool_kernels(r);
    register_cpu_rotary_embedding_kernels(r);
    register_cpu_quant_linear_kernels(r);
    register_cpu_qdq_kernels(r);
    register_cpu_integer_kernels(r);
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

Status run_cpu_kernel(CpuKernel& kernel, const std::vector<const Tensor*>& inputs,
                      std::vector<Tensor>& outputs) {
  try {
    return kernel.run(inputs, outputs);
  } catch (const TensorTooLarge& e) {
    return invalid_argument("its output cannot be allocated: ", e.what());
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kOutOfMemory, "out of memory allocating its output");
  }
}

Result<std::vector<Tensor>> run_cpu_node(const Graph& graph, const Node& node,
                                         const std::vector<const Tensor*>& inputs) {
  const CpuKernelFactory factory = CpuKernelRegistry::global().find(node.domain, node.op_type);
  if (factory == nullptr) return not_found("no CPU kernel for ", node.describe());
  VITRT_ASSIGN_OR_RETURN(std::unique_ptr<CpuKernel> kernel,
                         factory(KernelInit{graph, node, graph.onnx_opset()}));
  std::vector<Tensor> outputs(node.outputs.size());
  VITRT_RETURN_IF_ERROR(run_cpu_kernel(*kernel, inputs, outputs));
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (node.outputs[i] != kNoValue && !outputs[i].defined()) {
      return internal_error(node.describe(), ": the CPU kernel left output ", i, " unset");
    }
  }
  return outputs;
}

}  // namespace vitrt
