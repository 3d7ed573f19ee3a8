// BufferPool: exact-size reuse, lifetimes by reference count, trimming, the thread-local scope.
#include "core/buffer_pool.h"

#include <gtest/gtest.h>

#include <thread>

#include "vitrt/tensor.h"

namespace vitrt {
namespace {

TEST(BufferPool, ReusesAReleasedBufferOfTheSameSizeOnly) {
  auto pool = BufferPool::create();
  void* first = nullptr;
  {
    std::shared_ptr<void> a = pool->acquire(256);
    first = a.get();
    // While `a` lives, a second buffer of its size is a different one.
    std::shared_ptr<void> b = pool->acquire(256);
    EXPECT_NE(b.get(), first);
  }
  EXPECT_EQ(pool->stats().outstanding_bytes, 0u);
  EXPECT_EQ(pool->stats().cached_bytes, 512u);
  std::shared_ptr<void> other_size = pool->acquire(512);
  EXPECT_NE(other_size.get(), first);
  std::shared_ptr<void> again = pool->acquire(256);
  EXPECT_TRUE(again.get() != nullptr);
  const BufferPoolStats s = pool->stats();
  EXPECT_EQ(s.hits, 1);
  EXPECT_EQ(s.misses, 3);
  EXPECT_EQ(s.outstanding_bytes, 768u);
}

TEST(BufferPool, AliasesKeepABufferOutOfThePool) {
  auto pool = BufferPool::create();
  std::shared_ptr<void> alias;
  void* p = nullptr;
  {
    std::shared_ptr<void> a = pool->acquire(128);
    p = a.get();
    alias = a;  // a reshaped tensor, or an output the caller keeps
  }
  std::shared_ptr<void> b = pool->acquire(128);
  EXPECT_NE(b.get(), p);
  alias.reset();
  std::shared_ptr<void> c = pool->acquire(128);
  EXPECT_EQ(c.get(), p);
}

TEST(BufferPool, TrimFreesSizesNotAcquiredSinceTheLastTrim) {
  auto pool = BufferPool::create();
  pool->acquire(64);
  pool->acquire(128);
  pool->trim_unused();  // both sizes were used in this "run"
  EXPECT_EQ(pool->stats().cached_bytes, 192u);
  pool->acquire(64);
  pool->trim_unused();  // 128 was not used: freed
  EXPECT_EQ(pool->stats().cached_bytes, 64u);
}

TEST(BufferPool, BuffersOutliveTheirOwnerOfThePool) {
  auto pool = BufferPool::create();
  std::shared_ptr<void> kept = pool->acquire(64);
  static_cast<char*>(kept.get())[63] = 7;
  pool.reset();  // the buffer keeps the pool alive until it is released
  EXPECT_EQ(static_cast<char*>(kept.get())[63], 7);
}

TEST(BufferPool, TensorsDrawFromTheActivePoolOfTheirThreadOnly) {
  auto pool = BufferPool::create();
  EXPECT_EQ(active_buffer_pool(), nullptr);
  {
    ActiveBufferPool scope(pool.get());
    EXPECT_EQ(active_buffer_pool(), pool.get());
    Tensor t = Tensor::zeros(DType::kFloat32, {3, 5});
    EXPECT_EQ(pool->stats().misses, 1);
    EXPECT_EQ(t.data<float>()[14], 0.0f);
    std::thread other([&] {
      EXPECT_EQ(active_buffer_pool(), nullptr);
      Tensor u = Tensor::empty(DType::kFloat32, {4});
    });
    other.join();
    EXPECT_EQ(pool->stats().misses, 1);
    {
      ActiveBufferPool heap(nullptr);
      Tensor v = Tensor::empty(DType::kFloat32, {4});
    }
    EXPECT_EQ(pool->stats().misses, 1);
    // A zeroed tensor from a reused buffer is zero again.
    t.data<float>()[3] = 5.0f;
    t = Tensor();
    Tensor w = Tensor::zeros(DType::kFloat32, {3, 5});
    EXPECT_EQ(pool->stats().hits, 1);
    EXPECT_EQ(w.data<float>()[3], 0.0f);
  }
  EXPECT_EQ(active_buffer_pool(), nullptr);
}

}  // namespace
}  // namespace vitrt
