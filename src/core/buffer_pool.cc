// BufferPool (see buffer_pool.h).
#include "core/buffer_pool.h"

#include <cstdlib>
#include <new>

namespace vitrt {
namespace {

constexpr size_t kAlignment = 64;

thread_local BufferPool* t_active_pool = nullptr;

}  // namespace

std::shared_ptr<BufferPool> BufferPool::create() {
  return std::shared_ptr<BufferPool>(new BufferPool());
}

BufferPool::~BufferPool() {
  // Outstanding buffers hold a reference to the pool, so only free ones remain here.
  for (auto& [nbytes, list] : free_) {
    for (void* p : list) std::free(p);
  }
}

std::shared_ptr<void> BufferPool::acquire(size_t nbytes) {
  void* data = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    acquired_since_trim_.insert(nbytes);
    auto it = free_.find(nbytes);
    if (it != free_.end() && !it->second.empty()) {
      data = it->second.back();
      it->second.pop_back();
      stats_.cached_bytes -= nbytes;
      ++stats_.hits;
    } else {
      ++stats_.misses;
    }
    stats_.outstanding_bytes += nbytes;
  }
  if (data == nullptr) {
    data = std::aligned_alloc(kAlignment, nbytes);
    if (data == nullptr) {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.outstanding_bytes -= nbytes;
      throw std::bad_alloc();
    }
  }
  return std::shared_ptr<void>(
      data, [pool = shared_from_this(), nbytes](void* p) { pool->release(p, nbytes); });
}

void BufferPool::release(void* data, size_t nbytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_[nbytes].push_back(data);
  stats_.cached_bytes += nbytes;
  stats_.outstanding_bytes -= nbytes;
}

void BufferPool::trim_unused() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = free_.begin(); it != free_.end();) {
    if (acquired_since_trim_.count(it->first) != 0) {
      ++it;
      continue;
    }
    for (void* p : it->second) std::free(p);
    stats_.cached_bytes -= it->first * it->second.size();
    it = free_.erase(it);
  }
  acquired_since_trim_.clear();
}

BufferPoolStats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

ActiveBufferPool::ActiveBufferPool(BufferPool* pool) : previous_(t_active_pool) {
  t_active_pool = pool;
}

ActiveBufferPool::~ActiveBufferPool() {
  t_active_pool = previous_;
}

BufferPool* active_buffer_pool() {
  return t_active_pool;
}

}  // namespace vitrt
