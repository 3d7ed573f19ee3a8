// CPU kernels of the elementwise op family (placeholder until the family lands).
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_elementwise_kernels(CpuKernelRegistry& registry) { (void)registry; }

}  // namespace vitrt
