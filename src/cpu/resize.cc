// CPU kernels of the resize op family (placeholder until the family lands).
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_resize_kernels(CpuKernelRegistry& registry) {
  (void)registry;
}

}  // namespace vitrt
