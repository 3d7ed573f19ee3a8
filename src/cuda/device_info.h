// What the CUDA backend knows of a GPU: the facts a plan is checked against.
#pragma once

#include <string>

#include "vitrt/status.h"

namespace vitrt::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int sm_major = 0;
  int sm_minor = 0;
  int multiprocessors = 0;
  size_t memory_bytes = 0;
};

// Number of visible CUDA devices; 0 (not an error) when there is no driver or no GPU.
int device_count();
Result<DeviceInfo> device_info(int index);

}  // namespace vitrt::cuda
