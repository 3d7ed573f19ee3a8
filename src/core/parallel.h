// parallel_for: splits [0, n) into chunks of at least `grain` items over the CPU threads.
//
// Backed by OpenMP (the same runtime the GEMM library uses, so the two do not oversubscribe
// the cores). Chunks run concurrently; `fn(begin, end)` must not throw.
#pragma once

#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace vitrt {

inline int cpu_thread_count() {
  return omp_get_max_threads();
}

template <typename Fn>
void parallel_for(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int threads = static_cast<int>(std::min<int64_t>(max_chunks, omp_get_max_threads()));
  if (threads <= 1 || omp_in_parallel()) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int nt = omp_get_num_threads();
    const int64_t begin = n * t / nt;
    const int64_t end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace vitrt
