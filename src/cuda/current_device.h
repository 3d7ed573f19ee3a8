// Facts of the current CUDA device that kernel launchers decide by, queried once per device
// (the device current at the call: a process may drive a Hopper GPU and an older one side by
// side) and shared by every launcher that includes this. Header-only and CUDA-runtime-only, so
// that src/cuda/cutlass/ (built apart, for sm_90a) and the rest of src/cuda/ use the same answer.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <mutex>

namespace vitrt::cuda {

namespace detail {

struct DeviceFacts {
  int multiprocessors = 132;  // an H100's, when the query fails
  bool sm90 = false;
};

inline DeviceFacts query_device(int device) {
  DeviceFacts f;
  int n = 0, major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) == cudaSuccess && n > 0) {
    f.multiprocessors = n;
  }
  f.sm90 =
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess &&
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) == cudaSuccess &&
      major == 9 && minor == 0;
  return f;
}

// The current device's facts: one query per device ordinal, then a lookup (cudaGetDevice is a
// host-side read of the thread's current device, also allowed during stream capture).
inline const DeviceFacts& current_device_facts() {
  constexpr int kMaxDevices = 64;
  static std::array<std::once_flag, kMaxDevices> once;
  static std::array<DeviceFacts, kMaxDevices> facts;
  static const DeviceFacts unknown;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) return unknown;
  std::call_once(once[device], [device] { facts[device] = query_device(device); });
  return facts[device];
}

}  // namespace detail

// Multiprocessors of the current device (132, an H100's, when the query fails): grid-size
// heuristics.
inline int current_device_multiprocessors() {
  return detail::current_device_facts().multiprocessors;
}

// Whether the current device is compute capability 9.0, the one GPU that vitrt's sm_90a kernels
// (wgmma, TMA: src/cuda/cutlass/) run on.
inline bool current_device_is_sm90() {
  return detail::current_device_facts().sm90;
}

}  // namespace vitrt::cuda
