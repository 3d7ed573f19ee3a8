// vitrt.ChannelsLastConv's CPU kernel (the reference; see ir/ops/channels_last_conv.h).
#pragma once

namespace vitrt {

class CpuKernelRegistry;
void register_cpu_channels_last_conv_kernels(CpuKernelRegistry& registry);

}  // namespace vitrt
