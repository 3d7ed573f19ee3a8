// BufferPool: a cache of tensor buffers for one execution context, so that activations are not
// returned to the system after their last reader and faulted in again on the next run.
//
// While an ActiveBufferPool scope is alive on a thread, Tensor::empty and Tensor::zeros on that
// thread take their storage from the pool. A buffer goes back to the pool only when the last
// Tensor sharing it is destroyed (the storage's reference count is the lifetime), so a buffer is
// never handed out while anything -- a later node's input slot, a reshaped alias, a graph output
// the caller still holds -- can read it. Reuse is by exact size: a run with the same shapes as
// the previous one allocates nothing and touches no fresh page.
//
// Thread safety: acquire and release lock a mutex, because a caller may drop the outputs of a
// run on another thread. Each context owns its own pool; OpenMP worker threads see no active
// pool and allocate from the heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

namespace vitrt {

struct BufferPoolStats {
  int64_t hits = 0;              // acquires served from the cache
  int64_t misses = 0;            // acquires that allocated
  size_t cached_bytes = 0;       // free buffers held for reuse
  size_t outstanding_bytes = 0;  // buffers handed out and not yet returned
};

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  static std::shared_ptr<BufferPool> create();
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // 64-byte aligned storage of `nbytes` (a multiple of 64). The storage keeps the pool alive and
  // returns itself to the pool when its last owner lets go.
  std::shared_ptr<void> acquire(size_t nbytes);

  // Frees the cached buffers that no acquire has taken since the previous call: after a run,
  // this drops the buffers of shapes the run no longer uses (a batch size that changed) and
  // keeps exactly those the run needed.
  void trim_unused();

  BufferPoolStats stats() const;

 private:
  BufferPool() = default;
  void release(void* data, size_t nbytes);

  mutable std::mutex mutex_;
  // Keyed by size; each list is LIFO so the most recently written (cache-warm) buffer goes first.
  std::map<size_t, std::vector<void*>> free_;
  // Sizes acquired since the last trim: buffers of these sizes are kept by trim_unused.
  std::set<size_t> acquired_since_trim_;
  BufferPoolStats stats_;
};

// Makes `pool` the source of Tensor storage on this thread for the scope's lifetime (null: the
// heap). Scopes nest; the previous pool is restored on exit.
class ActiveBufferPool {
 public:
  explicit ActiveBufferPool(BufferPool* pool);
  ~ActiveBufferPool();
  ActiveBufferPool(const ActiveBufferPool&) = delete;
  ActiveBufferPool& operator=(const ActiveBufferPool&) = delete;

 private:
  BufferPool* previous_;
};

// The pool of the innermost ActiveBufferPool on this thread, or null.
BufferPool* active_buffer_pool();

}  // namespace vitrt
