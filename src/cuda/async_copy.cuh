// cp.async (16-byte global -> shared copies that bypass the registers) and 32-bit shared-memory
// addresses, for the attention kernels that stage Q, K and V tiles (cuda/attention.cu,
// cuda/cutlass/attention_sm90.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace vitrt::cuda {

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// 16 bytes global -> shared at a 32-bit shared address; zero-fills when !valid (rows past the
// sequence, padded head dims).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  cp_async16(smem_addr(dst), src, valid);
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
// Waits until at most N of this thread's newest groups are in flight; the shared memory they
// wrote is then readable after a barrier.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

}  // namespace vitrt::cuda
