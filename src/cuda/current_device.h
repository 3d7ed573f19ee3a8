// Facts of the current CUDA device that kernel launchers decide by, queried once per process
// (the device current at the first call) and shared by every launcher that includes this.
// Header-only and CUDA-runtime-only, so that src/cuda/cutlass/ (built apart, for sm_90a) and
// the rest of src/cuda/ use the same answer.
#pragma once

#include <cuda_runtime.h>

namespace vitrt::cuda {

// Multiprocessors of the device (132, an H100's, when the query fails): grid-size heuristics.
inline int current_device_multiprocessors() {
  static const int count = [] {
    int device = 0, n = 0;
    return cudaGetDevice(&device) == cudaSuccess &&
                   cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) ==
                       cudaSuccess &&
                   n > 0
               ? n
               : 132;
  }();
  return count;
}

// Whether the device is compute capability 9.0, the one GPU that vitrt's sm_90a kernels (wgmma,
// TMA: src/cuda/cutlass/) run on.
inline bool current_device_is_sm90() {
  static const bool is_sm90 = [] {
    int device = 0, major = 0, minor = 0;
    return cudaGetDevice(&device) == cudaSuccess &&
           cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) ==
               cudaSuccess &&
           cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) ==
               cudaSuccess &&
           major == 9 && minor == 0;
  }();
  return is_sm90;
}

}  // namespace vitrt::cuda
