// `vitrt bench --devices LIST --contexts N`: a plan on several GPUs (one engine per GPU) and/or
// several execution contexts per device, all running at once, each context on its own thread;
// reports the aggregate throughput and each device's.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vitrt/engine.h"

namespace vitrt::cli {

struct BenchDevicesOptions {
  std::string model;         // the plan's path (loaded again for every further device)
  std::string device;        // "cpu" or "cuda"
  std::vector<int> devices;  // GPU indices; {0} on the CPU
  int contexts = 1;          // per device
  int64_t warmup = 3;
  int64_t iterations = 20;
  bool json = false;
  // cuda: time each context's compute alone (ExecutionContext::rerun_on_device), as the
  // single-context bench does with --no-data-transfers.
  bool transfers = true;
};

// `first` is the plan's engine on devices[0]; `inputs` the random inputs of one run. Returns
// the exit status.
int bench_devices(const BenchDevicesOptions& options, std::shared_ptr<Engine> first,
                  const std::vector<NamedTensor>& inputs);

}  // namespace vitrt::cli
