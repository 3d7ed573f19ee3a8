// Prometheus text rendering of the server's counters and histograms (metrics.h).
#include "serve/metrics.h"

#include <algorithm>
#include <cstdio>

namespace vitrt::serve {
namespace {

// Latency buckets in seconds, 100 us .. 10 s (Prometheus convention: base units).
const std::vector<double> kLatencyBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                            0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                            1,      2.5,     5,      10};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256};
const char* kStageNames[] = {"queue", "preprocess", "infer", "total"};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

// Label values escape backslash, quote and newline (the text format's rules).
std::string label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    out += c == '\n' ? 'n' : c;
  }
  return out;
}

}  // namespace

void Histogram::observe(double value) {
  const size_t i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                       bounds_.begin());
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(const std::string& name, const std::string& labels, std::string& out) const {
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{" + labels + sep + "le=\"" + number(bounds_[i]) + "\"} " +
           std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum{" + labels + "} " + number(sum_) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

void Metrics::record_request(const std::string& model, const std::string& endpoint, bool ok) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{model, endpoint}];
  if (!ok) ++failures_[{model, endpoint}];
}

void Metrics::record_latency(const std::string& model, Stage stage, double micros) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = latency_.try_emplace({model, static_cast<int>(stage)}, kLatencyBounds).first;
  it->second.observe(micros * 1e-6);
}

void Metrics::record_batch(const std::string& model, int64_t rows) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_.try_emplace(model, kBatchBounds).first->second.observe(static_cast<double>(rows));
}

void Metrics::record_device_batch(const std::string& model, const std::string& device, int64_t rows,
                                  double infer_us) {
  std::lock_guard<std::mutex> lock(mutex_);
  DeviceTotals& t = devices_[{model, device}];
  ++t.batches;
  t.rows += static_cast<uint64_t>(rows);
  t.busy_s += infer_us * 1e-6;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  auto counter = [&out](const char* name, const char* help, const std::map<Key, uint64_t>& values) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [key, n] : values) {
      out += std::string(name) + "{model=\"" + label(key.first) + "\",endpoint=\"" +
             label(key.second) + "\"} " + std::to_string(n) + "\n";
    }
  };
  counter("vitrt_requests_total", "Requests answered, by model and endpoint.", requests_);
  counter("vitrt_request_failures_total", "Requests answered with an error.", failures_);
  out +=
      "# HELP vitrt_request_duration_seconds Time per request stage.\n"
      "# TYPE vitrt_request_duration_seconds histogram\n";
  for (const auto& [key, h] : latency_) {
    h.render("vitrt_request_duration_seconds",
             "model=\"" + label(key.first) + "\",stage=\"" + kStageNames[key.second] + "\"", out);
  }
  out += "# HELP vitrt_batch_size Rows per model execution.\n# TYPE vitrt_batch_size histogram\n";
  for (const auto& [model, h] : batch_) {
    h.render("vitrt_batch_size", "model=\"" + label(model) + "\"", out);
  }
  auto per_device = [&](const char* name, const char* type, const char* help, auto field) {
    if (devices_.empty()) return;
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [key, t] : devices_) {
      out += std::string(name) + "{model=\"" + label(key.first) + "\",device=\"" +
             label(key.second) + "\"} " + field(t) + "\n";
    }
  };
  per_device("vitrt_device_batches_total", "counter", "Batches run, by model and device.",
             [](const DeviceTotals& t) { return std::to_string(t.batches); });
  per_device("vitrt_device_rows_total", "counter", "Rows (items) run, by model and device.",
             [](const DeviceTotals& t) { return std::to_string(t.rows); });
  per_device("vitrt_device_busy_seconds_total", "counter",
             "Time the device's contexts spent running batches, by model and device.",
             [](const DeviceTotals& t) { return number(t.busy_s); });
  out +=
      "# HELP vitrt_inflight_requests Requests being processed.\n"
      "# TYPE vitrt_inflight_requests gauge\nvitrt_inflight_requests " +
      std::to_string(in_flight_.load()) + "\n";
  return out;
}

}  // namespace vitrt::serve
