// What vitrt's CUTLASS GEMMs share (int8_gemm.cu, fp8_gemm.cu): the problem's arguments in vitrt's
// layout, the hardware info with the multiprocessor count asked once per device, and the launch.
// Included by those CUDA sources only (it needs CUTLASS's headers).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/kernel_hardware_info.h"

namespace vitrt::cuda::cutlass_gemm {

// The identity, by CUTLASS's functor convention (kIsHeavy, an Array specialisation).
template <class T>
struct Identity {
  static const bool kIsHeavy = false;
  CUTLASS_HOST_DEVICE T operator()(T const& x) const { return x; }
};
template <class T, int N>
struct Identity<cutlass::Array<T, N>> {
  static const bool kIsHeavy = false;
  CUTLASS_HOST_DEVICE cutlass::Array<T, N> operator()(cutlass::Array<T, N> const& v) const {
    return v;
  }
};

// The current device's multiprocessor count, asked once per device (a process may run plans on
// several GPUs).
inline int sm_count(int device) {
  static std::atomic<int> counts[64] = {};
  if (device < 0 || device >= 64) {
    return cutlass::KernelHardwareInfo::query_device_multiprocessor_count(device);
  }
  int n = counts[device].load(std::memory_order_relaxed);
  if (n == 0) {
    n = cutlass::KernelHardwareInfo::query_device_multiprocessor_count(device);
    counts[device].store(n, std::memory_order_relaxed);
  }
  return n;
}

inline cutlass::KernelHardwareInfo hardware_info() {
  cutlass::KernelHardwareInfo hw;
  hw.device_id = 0;
  cudaGetDevice(&hw.device_id);
  hw.sm_count = sm_count(hw.device_id);
  return hw;
}

// Kernel's strides for vitrt's layout: row-major A [m, k] with rows lda apart, K-major B [n, k],
// row-major C and D [m, n] (leading dimension first, then the batch stride).
template <class Kernel>
struct Strides {
  typename Kernel::StrideA a{};
  typename Kernel::StrideB b{};
  typename Kernel::StrideC c{};
  typename Kernel::StrideD d{};
  Strides(int64_t m, int64_t n, int64_t k, int64_t lda) {
    cute::get<0>(a) = lda;
    cute::get<0>(b) = k;
    cute::get<0>(c) = n;
    cute::get<0>(d) = n;
    cute::get<2>(a) = m * lda;
    cute::get<2>(b) = n * k;
    cute::get<2>(c) = m * n;
    cute::get<2>(d) = m * n;
  }
};

// Checks, initializes and launches: cudaErrorNotSupported for a problem the kernel does not take
// or one that needs more workspace than given (the caller runs another form).
template <class Gemm>
cudaError_t launch(typename Gemm::Arguments const& args, void* workspace, size_t workspace_bytes,
                   cudaStream_t stream) {
  Gemm gemm;
  if (gemm.can_implement(args) != cutlass::Status::kSuccess) return cudaErrorNotSupported;
  if (Gemm::get_workspace_size(args) > workspace_bytes) return cudaErrorNotSupported;
  if (gemm.initialize(args, workspace, stream) != cutlass::Status::kSuccess) {
    return cudaErrorNotSupported;
  }
  if (gemm.run(stream) != cutlass::Status::kSuccess) return cudaErrorLaunchFailure;
  return cudaGetLastError();
}

}  // namespace vitrt::cuda::cutlass_gemm
