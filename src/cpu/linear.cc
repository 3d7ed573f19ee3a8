// CPU kernels of the linear op family: registration and the dtype policy they share. fp32 runs
// on oneDNN (cpu/dnnl_matmul.h); float64 on plain reference loops; other dtypes are refused.
#include "cpu/linear.h"

namespace vitrt {

Status check_linear_dtype(const char* op, DType dtype) {
  if (dtype == DType::kFloat32 || dtype == DType::kFloat64) return Status();
  return unsupported(op, " on ", dtype_name(dtype),
                     " is not supported on CPU (float32 and float64 are)");
}

Status check_linear_dtype(const KernelInit& init) {
  for (int i = 0; i < init.node.num_inputs(); ++i) {
    if (!init.node.has_input(i)) continue;
    const DType dtype = init.graph.values[init.node.inputs[i]].dtype;
    if (dtype == DType::kUndefined) continue;  // checked when it runs
    Status s = check_linear_dtype(init.node.op_type.c_str(), dtype);
    if (!s.ok()) {
      return unsupported(init.node.describe(), ": input ", i, " is ", dtype_name(dtype),
                         "; only float32 and float64 are supported on CPU");
    }
  }
  return Status();
}

void register_cpu_linear_kernels(CpuKernelRegistry& registry) {
  registry.add("", "MatMul", make_matmul_kernel);
  registry.add("", "Gemm", make_gemm_kernel);
  registry.add("", "Conv",
               [](const KernelInit& init) { return make_conv_kernel(init, ConvPath::kAuto); });
  registry.add("", "ConvTranspose", make_conv_transpose_kernel);
}

}  // namespace vitrt
