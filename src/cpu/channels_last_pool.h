// vitrt.ChannelsLastPool's CPU kernel (the reference; see ir/ops/channels_last_pool.h).
#pragma once

namespace vitrt {

class CpuKernelRegistry;
void register_cpu_channels_last_pool_kernels(CpuKernelRegistry& registry);

}  // namespace vitrt
