// LayerNorm over the contiguous last axis of float32 rows, optionally of a sum a + b: the
// kernel that LayerNormalization (normalization.cc) and vitrt.AddLayerNorm (fused_norm.cc)
// share.
//
// Each row is read from memory once: the first loop forms the row (adding b when fusing the
// residual), writes it out (the sum output, or y as scratch) and accumulates its sum; the
// variance loop and the normalising loop then run on that row while it sits in L1. Two
// passes over the cached row for mean and variance cost the same as the one-pass formula
// E[x^2] - E[x]^2 and do not cancel catastrophically on rows with a large mean (the residual
// stream of a deep ViT). The loops are AVX2/FMA (the library targets x86-64-v3).
#pragma once

#include <cstdint>
#include <functional>

namespace vitrt {

struct LayerNormRowsArgs {
  const float* a = nullptr;      // [rows, n]
  const float* b = nullptr;      // optional addend: row r reads b + (r % b_rows) * n
  int64_t b_rows = 0;            // rows of b (b repeats over a's rows when fewer)
  const float* gamma = nullptr;  // [n]
  const float* beta = nullptr;   // [n] or nullptr
  float* y = nullptr;            // [rows, n], or nullptr with encode
  // Optional: each normalized row r is handed to encode(row, n, r) while it sits in L1 (8-bit
  // codes for a quantized reader). With y null the rows are normalized into a per-thread
  // scratch row and never written out in fp32.
  std::function<void(const float* row, int64_t n, int64_t r)> encode;
  float* sum = nullptr;      // [rows, n] a + b, or nullptr
  float* mean = nullptr;     // [rows] or nullptr (LayerNormalization's optional outputs)
  float* inv_std = nullptr;  // [rows] or nullptr
  int64_t rows = 0;
  int64_t n = 0;
  float epsilon = 1e-5f;
};

// Runs over the rows in parallel (parallel_for).
void layer_norm_rows(const LayerNormRowsArgs& args);

}  // namespace vitrt
