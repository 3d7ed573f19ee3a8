// DynamicBatcher (batcher.h): queue, batch formation, concatenation and splitting.
#include "serve/batcher.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

namespace vitrt::serve {
namespace {

int64_t leading_rows(const std::vector<NamedTensor>& inputs) {
  return inputs.empty() || inputs[0].tensor.rank() == 0 ? 1 : inputs[0].tensor.dim(0);
}

// Requests batch together when every input has the same name, dtype and dims after the first.
bool compatible(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const Tensor& x = a[i].tensor;
    const Tensor& y = b[i].tensor;
    if (a[i].name != b[i].name || x.dtype() != y.dtype() || x.rank() != y.rank() || x.rank() == 0) {
      return false;
    }
    if (!std::equal(x.shape().begin() + 1, x.shape().end(), y.shape().begin() + 1)) return false;
  }
  return true;
}

double micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

}  // namespace

Result<std::vector<NamedTensor>> concat_rows(const std::vector<std::vector<NamedTensor>>& parts) {
  if (parts.size() == 1) return parts[0];
  std::vector<NamedTensor> out;
  if (parts.empty()) return out;
  for (size_t i = 0; i < parts[0].size(); ++i) {
    std::vector<int64_t> shape = parts[0][i].tensor.shape();
    int64_t rows = 0;
    for (const auto& p : parts) {
      if (p.size() != parts[0].size() || !compatible(p, parts[0])) {
        return internal_error("concat_rows: requests with different inputs in one batch");
      }
      rows += p[i].tensor.dim(0);
    }
    shape[0] = rows;
    Tensor joined = Tensor::empty(parts[0][i].tensor.dtype(), shape);
    auto* dst = static_cast<char*>(joined.raw_data());
    for (const auto& p : parts) {
      std::memcpy(dst, p[i].tensor.raw_data(), p[i].tensor.nbytes());
      dst += p[i].tensor.nbytes();
    }
    out.push_back({parts[0][i].name, std::move(joined)});
  }
  return out;
}

DynamicBatcher::DynamicBatcher(BatcherOptions options, BatchRunFn run)
    : options_(std::move(options)), run_(std::move(run)) {
  for (int i = 0; i < std::max(1, options_.instances); ++i) {
    workers_.emplace_back([this, i] { worker(i); });
  }
}

DynamicBatcher::~DynamicBatcher() {
  stop();
}

Status DynamicBatcher::check_rows(const std::vector<NamedTensor>& inputs) const {
  if (options_.max_batch_rows == 0) return Status::ok_status();
  const int64_t rows = leading_rows(inputs);
  for (const auto& in : inputs) {
    if (in.tensor.rank() == 0 || in.tensor.dim(0) != rows) {
      return invalid_argument("input '", in.name, "': batch dim ",
                              in.tensor.rank() == 0 ? 0 : in.tensor.dim(0),
                              " differs from the first input's ", rows);
    }
  }
  if (rows < 1 || rows > options_.max_batch_rows) {
    return invalid_argument("batch size ", rows, " is outside [1, ", options_.max_batch_rows,
                            "] (the model's max_batch_size)");
  }
  return Status::ok_status();
}

SubmitResult DynamicBatcher::submit(std::vector<NamedTensor> inputs, BatchDone done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return SubmitResult::kStopped;
    if (static_cast<int64_t>(queue_.size()) >= options_.max_queued_requests) {
      return SubmitResult::kQueueFull;
    }
    const int64_t rows = leading_rows(inputs);
    queue_.push_back({std::move(inputs), rows, std::move(done), Clock::now()});
  }
  wake_.notify_one();
  return SubmitResult::kQueued;
}

int64_t DynamicBatcher::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(queue_.size());
}

void DynamicBatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
}

std::vector<DynamicBatcher::Pending> DynamicBatcher::take_batch_locked(bool force) {
  std::vector<Pending> batch;
  if (queue_.empty()) return batch;
  // Which queued requests would join the oldest, in arrival order, within max_batch_rows.
  std::vector<size_t> members{0};
  int64_t rows = queue_[0].rows;
  if (options_.max_batch_rows > 0) {
    for (size_t i = 1; i < queue_.size() && rows < options_.max_batch_rows; ++i) {
      if (rows + queue_[i].rows <= options_.max_batch_rows &&
          compatible(queue_[i].inputs, queue_[0].inputs)) {
        members.push_back(i);
        rows += queue_[i].rows;
      }
    }
  }
  const bool full = options_.max_batch_rows == 0 || rows >= options_.max_batch_rows;
  const bool preferred =
      std::find(options_.preferred_batch_rows.begin(), options_.preferred_batch_rows.end(), rows) !=
      options_.preferred_batch_rows.end();
  const bool waited_enough =
      Clock::now() - queue_[0].enqueued >= std::chrono::microseconds(options_.max_queue_delay_us);
  if (!(force || full || preferred || waited_enough)) return batch;
  for (size_t k = members.size(); k-- > 0;) {
    batch.push_back(std::move(queue_[members[k]]));
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(members[k]));
  }
  std::reverse(batch.begin(), batch.end());
  return batch;
}

void DynamicBatcher::worker(int instance) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) return;
      wake_.wait(lock);
      continue;
    }
    std::vector<Pending> batch = take_batch_locked(stopping_);
    if (batch.empty()) {
      // Not full yet: sleep until the oldest request's delay runs out or a new one arrives.
      wake_.wait_until(lock,
                       queue_[0].enqueued + std::chrono::microseconds(options_.max_queue_delay_us));
      continue;
    }
    // Others may form the next batch while this one runs.
    if (!queue_.empty()) wake_.notify_one();
    lock.unlock();
    run_batch(instance, std::move(batch));
    lock.lock();
  }
}

void DynamicBatcher::run_batch(int instance, std::vector<Pending> batch) {
  const Clock::time_point start = Clock::now();
  std::vector<std::vector<NamedTensor>> parts;
  int64_t rows = 0;
  for (auto& p : batch) {
    parts.push_back(std::move(p.inputs));
    rows += p.rows;
  }
  Result<std::vector<NamedTensor>> outputs = concat_rows(parts);
  parts.clear();  // the inputs are copied into the batch; free them before running
  if (outputs.ok()) outputs = run_(instance, *outputs);
  const double infer_us = micros(Clock::now() - start);

  if (outputs.ok() && batch.size() > 1) {
    for (const auto& out : *outputs) {
      if (out.tensor.rank() == 0 || out.tensor.dim(0) != rows) {
        outputs = internal_error("output '", out.name, "' has shape ",
                                 shape_to_string(out.tensor.shape()), ", expected ", rows,
                                 " rows (one per batched input row)");
        break;
      }
    }
  }
  // Each request's rows are a view into the batch output, kept alive by a shared owner.
  std::vector<std::shared_ptr<const Tensor>> owners;
  if (outputs.ok()) {
    for (const auto& out : *outputs) owners.push_back(std::make_shared<const Tensor>(out.tensor));
  }
  int64_t row = 0;
  for (auto& p : batch) {
    BatchTiming timing{micros(start - p.enqueued), infer_us, rows, &p == &batch.front(), instance};
    if (!outputs.ok()) {
      p.done(outputs.status(), timing);
      continue;
    }
    if (batch.size() == 1) {
      p.done(*outputs, timing);
      continue;
    }
    std::vector<NamedTensor> mine;
    for (size_t i = 0; i < outputs->size(); ++i) {
      const Tensor& all = *owners[i];
      std::vector<int64_t> shape = all.shape();
      shape[0] = p.rows;
      const size_t row_bytes = all.nbytes() / static_cast<size_t>(rows);
      const char* data = static_cast<const char*>(all.raw_data()) + row_bytes * row;
      mine.push_back({(*outputs)[i].name, Tensor::borrow(all.dtype(), shape, owners[i], data)});
    }
    row += p.rows;
    p.done(std::move(mine), timing);
  }
}

}  // namespace vitrt::serve
