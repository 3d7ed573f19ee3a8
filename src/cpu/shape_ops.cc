// CPU kernels of the shape_op op family (placeholder until the family lands).
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_shape_op_kernels(CpuKernelRegistry& registry) {
  (void)registry;
}

}  // namespace vitrt
