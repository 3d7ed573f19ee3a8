// CPU kernels of the linear op family (placeholder until the family lands).
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_linear_kernels(CpuKernelRegistry& registry) {
  (void)registry;
}

}  // namespace vitrt
