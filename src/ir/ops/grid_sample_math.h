// GridSample's coordinate arithmetic (ONNX opsets 16-22, PyTorch's grid_sampler): where a grid
// value samples along one axis, after align_corners and padding_mode. Shared by the CPU kernel
// (the reference) and the CUDA kernel, so both read the same source positions; plain functions
// of doubles that the host compiler and nvcc both compile.
#pragma once

#include <math.h>

#include <cstdint>

#if defined(__CUDACC__)
#define VITRT_GRID_SAMPLE_FN __host__ __device__ inline
#else
#define VITRT_GRID_SAMPLE_FN inline
#endif

namespace vitrt::grid_sample {

// The `mode` and `padding_mode` attributes as ints (the CUDA kernel's arguments).
enum Mode : int { kLinear = 0, kNearest = 1 };
enum Padding : int { kZeros = 0, kBorder = 1, kReflection = 2 };

// Reflects x into [lo, hi] back and forth (PyTorch's reflect_coordinates).
VITRT_GRID_SAMPLE_FN double reflect(double x, double lo, double hi) {
  if (lo == hi) return lo;
  const double span = hi - lo;
  const double d = fabs(x - lo);
  const double flips = floor(d / span);
  const double extra = d - flips * span;
  return fmod(flips, 2.0) == 0.0 ? lo + extra : hi - extra;
}

// The source position that normalised grid value g (-1 and 1 the first and last pixel's centre
// with align_corners, their outer edges without) reads along an axis of `size` pixels. Border
// clamps it into the image; reflection mirrors it at the edges (the centres with align_corners,
// the outer edges without), then clamps. With zeros padding it may lie outside: the taps there
// read 0.
VITRT_GRID_SAMPLE_FN double source_position(double g, int64_t size, bool align_corners,
                                            int padding) {
  const double n = static_cast<double>(size);
  double x = align_corners ? (g + 1) / 2 * (n - 1) : ((g + 1) * n - 1) / 2;
  if (padding == kReflection) {
    x = align_corners ? reflect(x, 0.0, n - 1) : reflect(x, -0.5, n - 0.5);
  }
  if (padding != kZeros) x = x < 0 ? 0 : (x > n - 1 ? n - 1 : x);
  return x;
}

}  // namespace vitrt::grid_sample
