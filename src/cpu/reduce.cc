// CPU kernels of the reduce op family (placeholder until the family lands).
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_reduce_kernels(CpuKernelRegistry& registry) { (void)registry; }

}  // namespace vitrt
