// DynamicBatcher: batching up to max rows or the queue delay, each request getting its own
// rows back, the bounded queue, and draining on stop.
#include "serve/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

namespace vitrt::serve {
namespace {

// A request of `rows` rows of [rows, 2] float, filled with `value`.
std::vector<NamedTensor> rows_of(int64_t rows, float value) {
  Tensor t = Tensor::empty(DType::kFloat32, {rows, 2});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = value + static_cast<float>(i);
  return {{"x", t}};
}

// The fake model doubles its input and records the batch sizes it was given.
struct FakeModel {
  std::mutex mutex;
  std::vector<int64_t> batch_rows;
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  bool block = false;

  BatchRunFn fn() {
    return [this](int, const std::vector<NamedTensor>& in) -> Result<std::vector<NamedTensor>> {
      if (block) gate.wait();
      {
        std::lock_guard<std::mutex> lock(mutex);
        batch_rows.push_back(in[0].tensor.dim(0));
      }
      Tensor out = in[0].tensor.clone();
      for (int64_t i = 0; i < out.numel(); ++i) out.data<float>()[i] *= 2;
      return std::vector<NamedTensor>{{"y", out}};
    };
  }
};

struct Collected {
  std::promise<Result<std::vector<NamedTensor>>> promise;
  BatchTiming timing;
};

TEST(ServeBatcher, BatchesUpToMaxRowsAndSplitsResultsPerRequest) {
  FakeModel model;
  model.block = true;
  // Preferred size 1 lets the first request run at once (and block the worker) instead of
  // waiting out the long delay that keeps the later ones together.
  BatcherOptions options{/*max_batch_rows=*/4, /*preferred=*/{1}, /*delay=*/1000000, 1, 64};
  DynamicBatcher batcher(options, model.fn());
  // The first request occupies the single worker; the next five queue behind it.
  std::vector<std::unique_ptr<Collected>> results;
  const int64_t sizes[] = {1, 2, 1, 1, 3, 1};
  for (int i = 0; i < 6; ++i) {
    results.push_back(std::make_unique<Collected>());
    Collected* c = results.back().get();
    ASSERT_EQ(batcher.submit(rows_of(sizes[i], 100.0f * i),
                             [c](Result<std::vector<NamedTensor>> r, const BatchTiming& t) {
                               c->timing = t;
                               c->promise.set_value(std::move(r));
                             }),
              SubmitResult::kQueued);
    if (i == 0) {
      while (batcher.queued() != 0) std::this_thread::yield();
    }
  }
  model.release.set_value();
  for (int i = 0; i < 6; ++i) {
    Result<std::vector<NamedTensor>> r = results[i]->promise.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    const Tensor& y = (*r)[0].tensor;
    ASSERT_EQ(y.shape(), (std::vector<int64_t>{sizes[i], 2}));
    for (int64_t k = 0; k < y.numel(); ++k) {
      EXPECT_EQ(y.data<float>()[k], 2 * (100.0f * i + static_cast<float>(k))) << i;
    }
  }
  // {1} alone, then 2+1+1 = 4 (full), then 3+1 = 4: arrival order, never over 4 rows.
  EXPECT_EQ(model.batch_rows, (std::vector<int64_t>{1, 4, 4}));
  EXPECT_EQ(results[1]->timing.batch_rows, 4);
  EXPECT_TRUE(results[1]->timing.first_in_batch);
  EXPECT_FALSE(results[2]->timing.first_in_batch);
}

TEST(ServeBatcher, QueueDelayDispatchesAPartialBatch) {
  FakeModel model;
  BatcherOptions options{8, {}, /*delay=*/2000, 1, 64};
  DynamicBatcher batcher(options, model.fn());
  std::promise<Result<std::vector<NamedTensor>>> done;
  ASSERT_EQ(batcher.submit(rows_of(3, 1.0f),
                           [&done](Result<std::vector<NamedTensor>> r, const BatchTiming&) {
                             done.set_value(std::move(r));
                           }),
            SubmitResult::kQueued);
  Result<std::vector<NamedTensor>> r = done.get_future().get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].tensor.dim(0), 3);
  EXPECT_EQ(model.batch_rows, (std::vector<int64_t>{3}));
}

TEST(ServeBatcher, DifferentTrailingShapesRunInSeparateBatches) {
  FakeModel model;
  model.block = true;
  DynamicBatcher batcher({8, {1}, 1000000, 1, 64}, model.fn());
  std::atomic<int> done{0};
  auto count = [&done](Result<std::vector<NamedTensor>> r, const BatchTiming&) {
    EXPECT_TRUE(r.ok());
    ++done;
  };
  ASSERT_EQ(batcher.submit(rows_of(1, 0), count), SubmitResult::kQueued);
  while (batcher.queued() != 0) std::this_thread::yield();
  ASSERT_EQ(batcher.submit(rows_of(2, 0), count), SubmitResult::kQueued);
  ASSERT_EQ(batcher.submit({{"x", Tensor::zeros(DType::kFloat32, {1, 3})}}, count),
            SubmitResult::kQueued);
  ASSERT_EQ(batcher.submit(rows_of(1, 0), count), SubmitResult::kQueued);
  model.release.set_value();
  batcher.stop();
  EXPECT_EQ(done.load(), 4);
  EXPECT_EQ(model.batch_rows, (std::vector<int64_t>{1, 3, 1}));
}

TEST(ServeBatcher, FullQueueRefusesAndStopDrainsWhatIsQueued) {
  FakeModel model;
  model.block = true;
  DynamicBatcher batcher({1, {}, 0, 1, /*max_queued_requests=*/2}, model.fn());
  std::atomic<int> done{0};
  auto count = [&done](Result<std::vector<NamedTensor>> r, const BatchTiming&) {
    EXPECT_TRUE(r.ok());
    ++done;
  };
  ASSERT_EQ(batcher.submit(rows_of(1, 0), count), SubmitResult::kQueued);
  while (batcher.queued() != 0) std::this_thread::yield();
  EXPECT_EQ(batcher.submit(rows_of(1, 0), count), SubmitResult::kQueued);
  EXPECT_EQ(batcher.submit(rows_of(1, 0), count), SubmitResult::kQueued);
  EXPECT_EQ(batcher.submit(rows_of(1, 0), count), SubmitResult::kQueueFull);
  model.release.set_value();
  batcher.stop();
  EXPECT_EQ(done.load(), 3);
  EXPECT_EQ(batcher.submit(rows_of(1, 0), count), SubmitResult::kStopped);
}

TEST(ServeBatcher, CheckRowsRejectsOversizedAndRaggedBatches) {
  FakeModel model;
  DynamicBatcher batcher({4, {}, 0, 1, 8}, model.fn());
  EXPECT_TRUE(batcher.check_rows(rows_of(4, 0)).ok());
  const Status over = batcher.check_rows(rows_of(5, 0));
  EXPECT_NE(over.message().find("batch size 5 is outside [1, 4]"), std::string::npos)
      << over.message();
  std::vector<NamedTensor> ragged = rows_of(2, 0);
  ragged.push_back({"z", Tensor::zeros(DType::kFloat32, {3, 2})});
  EXPECT_NE(batcher.check_rows(ragged).message().find("input 'z'"), std::string::npos);
}

TEST(ServeBatcher, ModelErrorsReachEveryRequestOfTheBatch) {
  DynamicBatcher batcher(
      {4, {}, 1000, 1, 8},
      [](int, const std::vector<NamedTensor>&) -> Result<std::vector<NamedTensor>> {
        return invalid_argument("boom");
      });
  std::atomic<int> failed{0};
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(batcher.submit(rows_of(1, 0),
                             [&failed](Result<std::vector<NamedTensor>> r, const BatchTiming&) {
                               if (!r.ok() && r.status().message() == "boom") ++failed;
                             }),
              SubmitResult::kQueued);
  }
  batcher.stop();
  EXPECT_EQ(failed.load(), 3);
}

}  // namespace
}  // namespace vitrt::serve
