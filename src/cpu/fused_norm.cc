// CPU kernels of fused vitrt-domain ops (fused_norm): none registered yet.
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_fused_norm_kernels(CpuKernelRegistry& registry) { (void)registry; }

}  // namespace vitrt
