// Several GPUs or contexts at once for `vitrt bench` (bench_devices.h).
#include "bench_devices.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_args.h"
#include "sample_stats.h"
#include "serve/devices.h"

namespace vitrt::cli {
namespace {

struct Runner {
  size_t device = 0;  // index into options.devices
  std::unique_ptr<ExecutionContext> context;
  std::vector<double> ms;
  std::vector<double> h2d, compute, d2h;  // GPU times of each run, where measured
  double seconds = 0;                     // the timed runs' span
  Status status;
};

// Every runner on its own thread at once, so that the devices' throughputs add up as they do
// when all of them are busy.
template <typename Fn>
void in_parallel(std::vector<Runner>& runners, Fn fn) {
  std::vector<std::thread> threads;
  for (Runner& r : runners) threads.emplace_back([&fn, &r] { fn(r); });
  for (auto& t : threads) t.join();
}

}  // namespace

int bench_devices(const BenchDevicesOptions& options, std::shared_ptr<Engine> first,
                  const std::vector<NamedTensor>& inputs) {
  // One engine per device (the weights on each), `contexts` contexts on each.
  std::vector<std::shared_ptr<Engine>> engines = {std::move(first)};
  for (size_t d = 1; d < options.devices.size(); ++d) {
    Result<std::shared_ptr<Engine>> more = Engine::load_plan(options.model, options.devices[d]);
    if (!more.ok()) {
      return failure("bench",
                     more.status().with_context("GPU " + std::to_string(options.devices[d])));
    }
    engines.push_back(*more);
  }
  std::vector<Runner> runners;
  for (int k = 0; k < options.contexts; ++k) {
    for (size_t d = 0; d < engines.size(); ++d) {
      Runner r;
      r.device = d;
      r.context = engines[d]->create_context();
      runners.push_back(std::move(r));
    }
  }
  // Warm-up on every context at once too (first runs plan memory and capture CUDA graphs).
  // Without data transfers the inputs must reach each context's device once (run() at least
  // once) before the reruns.
  const int64_t warmup = std::max<int64_t>(options.warmup, options.transfers ? 0 : 1);
  in_parallel(runners, [&](Runner& r) {
    for (int64_t i = 0; i < warmup && r.status.ok(); ++i) {
      r.status = r.context->run(inputs).status();
    }
  });
  for (const Runner& r : runners) {
    if (!r.status.ok()) return failure("bench", r.status);
  }
  in_parallel(runners, [&](Runner& r) {
    r.ms.reserve(static_cast<size_t>(options.iterations));
    const auto begin = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < options.iterations && r.status.ok(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      if (options.transfers) {
        r.status = r.context->run(inputs).status();
        const RunTimes t = r.context->last_run_times();
        if (r.status.ok() && t.measured) {
          r.h2d.push_back(t.upload_ms);
          r.compute.push_back(t.compute_ms);
          r.d2h.push_back(t.download_ms);
        }
      } else {
        Result<double> gpu_ms = r.context->rerun_on_device();
        r.status = gpu_ms.status();
        if (gpu_ms.ok()) r.compute.push_back(*gpu_ms);
      }
      r.ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  });
  std::vector<double> ms, h2d, compute, d2h;
  double span_s = 0;  // all contexts run at once: the slowest one's span
  for (const Runner& r : runners) {
    if (!r.status.ok()) return failure("bench", r.status);
    ms.insert(ms.end(), r.ms.begin(), r.ms.end());
    h2d.insert(h2d.end(), r.h2d.begin(), r.h2d.end());
    compute.insert(compute.end(), r.compute.begin(), r.compute.end());
    d2h.insert(d2h.end(), r.d2h.begin(), r.d2h.end());
    span_s = std::max(span_s, r.seconds);
  }
  // Items per run: the batch dim of the first input when it has one.
  const Tensor& x = inputs.empty() ? Tensor() : inputs[0].tensor;
  const int64_t items = x.rank() > 0 ? x.dim(0) : 1;
  const double throughput =
      span_s > 0 ? static_cast<double>(items) * static_cast<double>(ms.size()) / span_s : 0;
  std::vector<double> per_device(options.devices.size(), 0.0);
  for (size_t d = 0; d < options.devices.size(); ++d) {
    int64_t runs = 0;
    double seconds = 0;
    for (const Runner& r : runners) {
      if (r.device != d) continue;
      runs += static_cast<int64_t>(r.ms.size());
      seconds = std::max(seconds, r.seconds);
    }
    per_device[d] = seconds > 0 ? static_cast<double>(items * runs) / seconds : 0;
  }
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double v : ms) sum += v;
  const double mean = sum / static_cast<double>(ms.size());
  const double median = median_of(ms);

  std::printf("model: %s\ndevice: %s\n", options.model.c_str(), options.device.c_str());
  for (const NamedTensor& in : inputs) {
    std::printf("input %s: %s\n", in.name.c_str(), in.tensor.describe().c_str());
  }
  std::printf(
      "batch: %lld, warm-up runs: %lld, timed runs: %lld per context, %zu context(s) "
      "at once\n",
      static_cast<long long>(items), static_cast<long long>(options.warmup),
      static_cast<long long>(options.iterations), runners.size());
  std::printf(
      "latency (ms, all contexts): median %.3f  p90 %.3f  p99 %.3f  mean %.3f  min %.3f  "
      "max %.3f\n",
      median, percentile(ms, 90), percentile(ms, 99), mean, ms.front(), ms.back());
  for (size_t d = 0; d < options.devices.size(); ++d) {
    std::printf("%s: %d context(s), %.2f items/s\n",
                serve::device_label(options.device, options.devices[d]).c_str(), options.contexts,
                per_device[d]);
  }
  std::printf("throughput: %.2f items/s (aggregate)\n", throughput);
  // Each context's GPU time per run, the runs of all contexts together: where contexts share
  // a GPU, their runs overlap, so these add up to more than the span.
  if (!compute.empty()) {
    if (options.transfers) {
      std::printf(
          "GPU time per run (ms, median over all contexts): H2D %.3f  compute %.3f  D2H %.3f\n",
          median_of(h2d), median_of(compute), median_of(d2h));
    } else {
      std::printf(
          "GPU time per run (ms, median over all contexts): compute %.3f, no data transfers\n",
          median_of(compute));
    }
  }
  if (options.json) {
    const nlohmann::json doc = {{"model", options.model},
                                {"device", options.device},
                                {"batch", items},
                                {"iterations", options.iterations},
                                {"warmup", options.warmup},
                                {"median_ms", median},
                                {"p90_ms", percentile(ms, 90)},
                                {"p99_ms", percentile(ms, 99)},
                                {"mean_ms", mean},
                                {"min_ms", ms.front()},
                                {"max_ms", ms.back()},
                                {"throughput", throughput},
                                {"devices", options.devices},
                                {"contexts", options.contexts},
                                {"data_transfers", options.transfers},
                                {"compute_ms", compute.empty() ? 0.0 : median_of(compute)},
                                {"per_device", per_device}};
    std::printf("%s\n", doc.dump().c_str());
  }
  return kExitOk;
}

}  // namespace vitrt::cli
