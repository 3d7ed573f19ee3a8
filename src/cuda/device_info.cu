// Device queries through the CUDA runtime.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cuda/device_info.h"
#include "cuda/launch.h"

namespace vitrt::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

Result<DeviceInfo> device_info(int index) {
  cudaDeviceProp prop{};
  const cudaError_t err = cudaGetDeviceProperties(&prop, index);
  if (err != cudaSuccess) {
    return invalid_argument("CUDA device ", index, ": ", cudaGetErrorString(err));
  }
  DeviceInfo info;
  info.index = index;
  info.name = prop.name;
  info.sm_major = prop.major;
  info.sm_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.memory_bytes = prop.totalGlobalMem;
  return info;
}

namespace {

constexpr int kUnread = -1;
constexpr int kMaxDevices = 64;
// 0 off, 1 on where supported; kUnread until VITRT_PDL is read.
std::atomic<int> g_pdl_mode{kUnread};
// Per device: 0 not asked yet, 1 before compute capability 9.0, 2 9.0 or later.
std::atomic<int> g_pdl_capable[kMaxDevices] = {};

int pdl_mode() {
  int mode = g_pdl_mode.load(std::memory_order_relaxed);
  if (mode == kUnread) {
    const char* env = std::getenv("VITRT_PDL");
    mode = env != nullptr && std::strcmp(env, "0") == 0 ? 0 : 1;
    int expected = kUnread;
    g_pdl_mode.compare_exchange_strong(expected, mode, std::memory_order_relaxed);
    mode = g_pdl_mode.load(std::memory_order_relaxed);
  }
  return mode;
}

}  // namespace

bool programmatic_launch_enabled() {
  if (pdl_mode() == 0) return false;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  if (device < 0 || device >= kMaxDevices) return false;
  int capable = g_pdl_capable[device].load(std::memory_order_relaxed);
  if (capable == 0) {
    int major = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    capable = major >= 9 ? 2 : 1;
    g_pdl_capable[device].store(capable, std::memory_order_relaxed);
  }
  return capable == 2;
}

void set_programmatic_launch(bool on) {
  g_pdl_mode.store(on ? 1 : 0, std::memory_order_relaxed);
}

}  // namespace vitrt::cuda
