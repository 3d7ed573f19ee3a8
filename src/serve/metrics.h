// Server metrics in Prometheus text format: requests and failures by model and endpoint,
// latency histograms by stage, batch sizes, requests in flight. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace vitrt::serve {

// Fixed-bucket histogram (cumulative counts are computed when rendering).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void observe(double value);
  // Appends the _bucket/_sum/_count lines for `name{labels}` (labels may be empty).
  void render(const std::string& name, const std::string& labels, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

enum class Stage { kQueue, kPreprocess, kInfer, kTotal };

class Metrics {
 public:
  // One finished request: `ok` false for any error answer.
  void record_request(const std::string& model, const std::string& endpoint, bool ok);
  void record_latency(const std::string& model, Stage stage, double micros);
  void record_batch(const std::string& model, int64_t rows);
  // One batch run on `device` ("cuda:1", "cpu"): per-device batches, rows and busy time, so
  // that an uneven spread over a host's GPUs shows.
  void record_device_batch(const std::string& model, const std::string& device, int64_t rows,
                           double infer_us);
  std::atomic<int64_t>& in_flight() { return in_flight_; }
  std::string render() const;

 private:
  using Key = std::pair<std::string, std::string>;
  mutable std::mutex mutex_;
  std::map<Key, uint64_t> requests_;
  std::map<Key, uint64_t> failures_;
  std::map<std::pair<std::string, int>, Histogram> latency_;
  std::map<std::string, Histogram> batch_;
  struct DeviceTotals {
    uint64_t batches = 0;
    uint64_t rows = 0;
    double busy_s = 0;
  };
  std::map<Key, DeviceTotals> devices_;  // by (model, device)
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace vitrt::serve
