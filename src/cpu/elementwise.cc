// Registration of the elementwise family's CPU kernels, which live in elementwise_unary.cc,
// elementwise_binary.cc and cast.cc.
#include "cpu/elementwise.h"

namespace vitrt {

void register_cpu_elementwise_kernels(CpuKernelRegistry& registry) {
  cpu::register_cpu_unary_kernels(registry);
  cpu::register_cpu_binary_kernels(registry);
  cpu::register_cpu_cast_kernels(registry);
}

}  // namespace vitrt
