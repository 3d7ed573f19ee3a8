// Broadcast shape computation and the dim-collapsing plan of broadcast.h.
#include "cpu/broadcast.h"

namespace vitrt::cpu {

Result<std::vector<int64_t>> broadcast_static_shapes(
    const std::vector<std::vector<int64_t>>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  std::vector<int64_t> out(rank, 1);
  for (const auto& s : shapes) {
    const size_t pad = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      const int64_t d = s[i];
      int64_t& o = out[pad + i];
      if (d == o || d == 1) continue;
      if (o == 1) {
        o = d;
        continue;
      }
      std::string all;
      for (const auto& t : shapes) all += (all.empty() ? "" : " and ") + shape_to_string(t);
      return invalid_argument("shapes ", all, " cannot be broadcast (dim ", pad + i, ": ", o,
                              " vs ", d, ")");
    }
  }
  return out;
}

BroadcastPlan make_broadcast_plan(const std::vector<int64_t>& out_shape,
                                  const std::vector<std::vector<int64_t>>& in_shapes) {
  BroadcastPlan plan;
  plan.num_inputs = static_cast<int>(in_shapes.size());
  plan.numel = shape_numel(out_shape);
  const size_t rank = out_shape.size();

  // Collapsed dims: size and, per input, whether the input is broadcast along it. Output dims
  // of size 1 are dropped; adjacent dims with the same broadcast pattern merge.
  struct Run {
    int64_t size;
    std::array<bool, kMaxBroadcastInputs> bcast;
  };
  std::vector<Run> runs;
  for (size_t d = 0; d < rank; ++d) {
    if (out_shape[d] == 1) continue;
    Run run{out_shape[d], {}};
    for (int k = 0; k < plan.num_inputs; ++k) {
      const auto& s = in_shapes[k];
      const size_t pad = rank - s.size();
      run.bcast[k] = d < pad || s[d - pad] == 1;
    }
    if (!runs.empty() && runs.back().bcast == run.bcast) {
      runs.back().size *= run.size;
    } else {
      runs.push_back(run);
    }
  }
  if (runs.empty()) runs.push_back(Run{1, {}});

  // Element strides, innermost first: an input advances over the dims it is not broadcast in.
  std::vector<InputOffsets> strides(runs.size());
  InputOffsets running;
  running.fill(1);
  for (size_t i = runs.size(); i-- > 0;) {
    for (int k = 0; k < plan.num_inputs; ++k) {
      strides[i][k] = runs[i].bcast[k] ? 0 : running[k];
      if (!runs[i].bcast[k]) running[k] *= runs[i].size;
    }
  }
  plan.inner = runs.back().size;
  for (int k = 0; k < plan.num_inputs; ++k) plan.inner_advances[k] = !runs.back().bcast[k];
  for (size_t i = 0; i + 1 < runs.size(); ++i) {
    plan.outer_dims.push_back(runs[i].size);
    plan.outer_strides.push_back(strides[i]);
  }
  return plan;
}

}  // namespace vitrt::cpu
