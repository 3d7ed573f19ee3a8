// CPU kernels of fused vitrt-domain ops (patchify): none registered yet.
#include "cpu/cpu_kernel.h"

namespace vitrt {

void register_cpu_patchify_kernels(CpuKernelRegistry& registry) { (void)registry; }

}  // namespace vitrt
