// How NumPy matmul's operands (1-D promotion, broadcast batch dims) map onto matrix products:
// shared by MatMul (matmul.cc) and the integer products of MatMulInteger / QLinearMatMul
// (integer_ops.cc).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "vitrt/status.h"

namespace vitrt {

struct MatMulPlan {
  std::vector<int64_t> out_shape;
  int64_t m = 0, k = 0, n = 0;
  std::vector<int64_t> batch;    // broadcast batch dims of the output
  std::vector<int64_t> a_batch;  // A's batch dims, left-padded with 1 to batch's rank
  std::vector<int64_t> b_batch;  // likewise for B
  int64_t a_batch_numel = 1, b_batch_numel = 1, batch_numel = 1;
};

// Errors name both shapes: ranks below 1, inner dims that differ, batches that do not broadcast.
Result<MatMulPlan> plan_matmul(const std::vector<int64_t>& a_shape,
                               const std::vector<int64_t>& b_shape);

// For output matrix `index`, the matrices of A and B it reads (batch broadcasting).
std::pair<int64_t, int64_t> operand_matrices(const MatMulPlan& p, int64_t index);

}  // namespace vitrt
