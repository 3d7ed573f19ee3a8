// CPU kernels of fused vitrt-domain ops (attention): none registered yet.
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_attention_kernels(CpuKernelRegistry& registry) { (void)registry; }

}  // namespace vitrt
