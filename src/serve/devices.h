// Which GPUs a model's execution contexts run on (`vitrt serve --devices`, `vitrt bench
// --devices`, config.json's instance_group "gpus"), as Triton spreads an instance group: `count`
// contexts on each listed GPU, one engine per GPU, all fed from the model's one queue.
#pragma once

#include <string>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::serve {

// "0,1", "1" or "all" (every one of `device_count` devices) into device indices, in the order
// given. Errors name the flag and the entry: not a number, negative, repeated, or not on this
// host (`device_count` visible); "all" on a host without a GPU is an error too.
Result<std::vector<int>> parse_device_list(const std::string& text, int device_count,
                                           const std::string& flag = "--devices");

// Checks indices given as numbers (config.json) against the host the same way.
Status check_devices(const std::vector<int>& devices, int device_count, const std::string& where);

// The device of each execution context: `per_device` contexts on each of `devices`, interleaved
// (0, 1, 0, 1, ...) so that a model with fewer busy contexts than contexts still spreads over
// every GPU. Empty `devices`: every context on device 0.
std::vector<int> context_devices(const std::vector<int>& devices, int per_device);

// "cuda:1" or "cpu", the label per-device metrics carry.
std::string device_label(const std::string& kind, int device);

}  // namespace vitrt::serve
