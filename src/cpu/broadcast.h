// Multidirectional (NumPy) broadcasting for elementwise kernels with up to three inputs.
//
// A BroadcastPlan folds the output shape into as few dims as the inputs allow: runs of dims in
// which every input is either broadcast or not collapse into one. What remains is a list of
// outer dims and one inner row in which each input either advances (stride 1) or repeats one
// element (stride 0). The cases transformers hit most become a single contiguous loop:
// same-shape ([N*C]), scalar ([N*C] with stride 0), and bias add ([N, C] + [C]: rows of C with
// strides 1 and 1).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt::cpu {

constexpr int kMaxBroadcastInputs = 3;
using InputOffsets = std::array<int64_t, kMaxBroadcastInputs>;

struct BroadcastPlan {
  int num_inputs = 0;
  int64_t numel = 0;
  std::vector<int64_t> outer_dims;          // collapsed dims before the inner row
  std::vector<InputOffsets> outer_strides;  // element stride of each input in each outer dim
  int64_t inner = 1;                        // length of the inner row
  std::array<bool, kMaxBroadcastInputs> inner_advances{};  // stride 1 (true) or 0 (false)
};

// The NumPy broadcast of `shapes`; an error naming both shapes when two dims differ and
// neither is 1.
Result<std::vector<int64_t>> broadcast_static_shapes(
    const std::vector<std::vector<int64_t>>& shapes);

// Plans iterating `out_shape` with each of `in_shapes` broadcast to it (each must be
// broadcastable to out_shape; callers compute out_shape with broadcast_static_shapes).
BroadcastPlan make_broadcast_plan(const std::vector<int64_t>& out_shape,
                                  const std::vector<std::vector<int64_t>>& in_shapes);

// Calls row(out_offset, in_offsets, count) over the output in order, possibly from several
// threads at once: the `count` output elements starting at out_offset read input k from
// in_offsets[k] on, advancing when plan.inner_advances[k]. `grain` is the fewest elements
// worth a thread.
template <typename RowFn>
void for_each_broadcast_row(const BroadcastPlan& plan, int64_t grain, RowFn&& row) {
  const int64_t inner = plan.inner;
  const int n_outer = static_cast<int>(plan.outer_dims.size());
  parallel_for(plan.numel, grain, [&](int64_t begin, int64_t end) {
    int64_t r = begin / inner;
    int64_t col = begin % inner;
    // Multi-index of row r over the outer dims, and each input's offset at it.
    std::vector<int64_t> idx(static_cast<size_t>(n_outer));
    InputOffsets base{};
    for (int d = n_outer - 1; d >= 0; --d) {
      const int64_t dim = plan.outer_dims[d];
      idx[d] = r % dim;
      r /= dim;
      for (int k = 0; k < plan.num_inputs; ++k) base[k] += idx[d] * plan.outer_strides[d][k];
    }
    while (begin < end) {
      const int64_t count = std::min(inner - col, end - begin);
      InputOffsets offsets{};
      for (int k = 0; k < plan.num_inputs; ++k) {
        offsets[k] = base[k] + (plan.inner_advances[k] ? col : 0);
      }
      row(begin, offsets, count);
      begin += count;
      col = 0;
      for (int d = n_outer - 1; d >= 0; --d) {  // odometer step to the next row
        for (int k = 0; k < plan.num_inputs; ++k) base[k] += plan.outer_strides[d][k];
        if (++idx[d] < plan.outer_dims[d]) break;
        for (int k = 0; k < plan.num_inputs; ++k) {
          base[k] -= plan.outer_dims[d] * plan.outer_strides[d][k];
        }
        idx[d] = 0;
      }
    }
  });
}

}  // namespace vitrt::cpu
