// Device lists for multi-GPU serving and benchmarking (devices.h).
#include "serve/devices.h"

#include <algorithm>
#include <sstream>

namespace vitrt::serve {

Status check_devices(const std::vector<int>& devices, int device_count, const std::string& where) {
  for (size_t i = 0; i < devices.size(); ++i) {
    const int d = devices[i];
    if (d < 0) return invalid_argument(where, ": device ", d, " is negative");
    if (std::count(devices.begin(), devices.begin() + static_cast<std::ptrdiff_t>(i), d) > 0) {
      return invalid_argument(where, ": device ", d, " is listed twice");
    }
    if (d >= device_count) {
      if (device_count == 0) {
        return invalid_argument(where, ": device ", d,
                                " does not exist: this host has no CUDA device");
      }
      return invalid_argument(where, ": device ", d, " does not exist: this host has ",
                              device_count, " CUDA device(s), 0 to ", device_count - 1);
    }
  }
  return Status::ok_status();
}

Result<std::vector<int>> parse_device_list(const std::string& text, int device_count,
                                           const std::string& flag) {
  std::vector<int> devices;
  if (text == "all") {
    if (device_count == 0) {
      return invalid_argument(flag, " all: this host has no CUDA device");
    }
    for (int d = 0; d < device_count; ++d) devices.push_back(d);
    return devices;
  }
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty() || part.size() > 4 ||
        part.find_first_not_of("0123456789") != std::string::npos) {
      return invalid_argument(flag, " '", text, "': '", part,
                              "' is not a device index (expected e.g. 0,1 or all)");
    }
    devices.push_back(std::stoi(part));
  }
  if (devices.empty() || text.back() == ',') {
    return invalid_argument(flag, " '", text, "': expected device indices such as 0,1, or all");
  }
  VITRT_RETURN_IF_ERROR(check_devices(devices, device_count, flag));
  return devices;
}

std::vector<int> context_devices(const std::vector<int>& devices, int per_device) {
  std::vector<int> out;
  const std::vector<int> list = devices.empty() ? std::vector<int>{0} : devices;
  for (int k = 0; k < per_device; ++k) {
    for (int d : list) out.push_back(d);
  }
  return out;
}

std::string device_label(const std::string& kind, int device) {
  return kind == "cuda" ? "cuda:" + std::to_string(device) : kind;
}

}  // namespace vitrt::serve
