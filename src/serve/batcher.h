// DynamicBatcher: one model's request queue and the execution contexts that drain it.
//
// Requests (each with a leading batch dim) wait in a bounded FIFO queue. A worker per execution
// context takes the oldest request and the compatible ones behind it (same dtypes and same dims
// after the first), concatenates them along dim 0 and runs them as one batch once the rows
// reach max_batch_rows or a preferred size, or once the oldest has waited max_queue_delay_us,
// whichever comes first. Outputs are split back by rows, so each request gets its own rows.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "vitrt/engine.h"
#include "vitrt/status.h"

namespace vitrt::serve {

struct BatcherOptions {
  // Rows per run; 0 means the model takes no batch dim: every request runs alone, as given.
  int64_t max_batch_rows = 0;
  std::vector<int64_t> preferred_batch_rows;
  int64_t max_queue_delay_us = 0;
  int instances = 1;                 // execution contexts, one worker thread each
  int64_t max_queued_requests = 64;  // beyond this submit() refuses (the caller answers 429)
};

// What one request experienced, for metrics.
struct BatchTiming {
  double queue_us = 0;
  double infer_us = 0;
  int64_t batch_rows = 0;
  bool first_in_batch = false;  // exactly one request per batch has it (per-batch metrics)
  int instance = 0;             // the execution context that ran the batch
};

using BatchDone = std::function<void(Result<std::vector<NamedTensor>>, const BatchTiming&)>;
// Runs one concatenated batch on context `instance` (0 .. instances-1, one thread each).
using BatchRunFn =
    std::function<Result<std::vector<NamedTensor>>(int instance, const std::vector<NamedTensor>&)>;

enum class SubmitResult { kQueued, kQueueFull, kStopped };

class DynamicBatcher {
 public:
  DynamicBatcher(BatcherOptions options, BatchRunFn run);
  ~DynamicBatcher();  // stop()
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;

  // Queues `inputs` (every tensor with the same leading row count). `done` is called exactly
  // once, from a worker thread, unless the result is not kQueued. Rows above max_batch_rows or
  // inconsistent row counts are the caller's to reject first (check_rows()).
  SubmitResult submit(std::vector<NamedTensor> inputs, BatchDone done);
  // Why `inputs` cannot be queued (rows over the limit, ragged leading dims), or ok.
  Status check_rows(const std::vector<NamedTensor>& inputs) const;
  // Finishes everything queued, then joins the workers; later submits get kStopped.
  void stop();
  int64_t queued() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    std::vector<NamedTensor> inputs;
    int64_t rows = 0;
    BatchDone done;
    Clock::time_point enqueued;
  };
  void worker(int instance);
  // Takes the next batch off the queue (mutex held); empty when it should wait longer.
  std::vector<Pending> take_batch_locked(bool force);
  void run_batch(int instance, std::vector<Pending> batch);

  const BatcherOptions options_;
  const BatchRunFn run_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

// Concatenates same-named inputs of several requests along dim 0 (exposed for tests).
Result<std::vector<NamedTensor>> concat_rows(const std::vector<std::vector<NamedTensor>>& parts);

}  // namespace vitrt::serve
