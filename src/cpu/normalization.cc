// CPU kernels of the normalization op family (placeholder until the family lands).
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_normalization_kernels(CpuKernelRegistry& registry) { (void)registry; }

}  // namespace vitrt
