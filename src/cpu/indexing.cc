// CPU kernels of the indexing op family (placeholder until the family lands).
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_indexing_kernels(CpuKernelRegistry& registry) {
  (void)registry;
}

}  // namespace vitrt
