// Helpers the CPU kernel benchmarks share (linear_kernels, attention_kernel, pool_kernels).
#pragma once

#include <time.h>

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "vitrt/tensor.h"

namespace vitrt::bench_util {

// CPU time of the whole process (all threads), in seconds.
inline double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// A float32 tensor of values uniform in [-1, 1) from a fixed seed.
inline Tensor random_f32(std::vector<int64_t> shape, unsigned seed) {
  Tensor t = Tensor::empty(DType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

}  // namespace vitrt::bench_util
