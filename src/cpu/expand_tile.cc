// CPU kernels of Expand and Tile: both read the input through a view with zero strides.
//
// Expand broadcasts with stride 0 on the broadcast dims. Tile views the output as
// [r0, d0, r1, d1, ...] (repeat index outside, input index inside), whose row-major order is
// the output's, and reads it with stride 0 on each repeat dim.
#include <algorithm>

#include "cpu/data_movement.h"

namespace vitrt {

namespace {

Status run_expand(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> target, read_int_tensor(inputs[1], "shape"));
  const size_t rank = std::max<size_t>(target.size(), x.shape().size());
  const size_t lead_in = rank - x.shape().size();
  const size_t lead_target = rank - target.size();
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  std::vector<int64_t> out_shape(rank), strides(rank, 0);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t d = i < lead_in ? 1 : x.dim(static_cast<int>(i - lead_in));
    const int64_t t = i < lead_target ? 1 : target[i - lead_target];
    if (t < 0) return invalid_argument("shape input has negative dim ", t);
    if (d != t && d != 1 && t != 1) {
      return invalid_argument("cannot expand ", x.describe(), " to ", shape_to_string(target),
                              " (dim ", i, ": ", d, " vs ", t, ")");
    }
    out_shape[i] = d == 1 ? t : d;
    if (i >= lead_in && d != 1) strides[i] = in_strides[i - lead_in];
  }
  Tensor out = Tensor::empty(x.dtype(), out_shape);
  strided_copy(x.raw_data(), strides, out.raw_data(), out_shape, dtype_size(x.dtype()));
  outputs[0] = std::move(out);
  return Status();
}

Status run_tile(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, read_int_tensor(inputs[1], "repeats"));
  if (static_cast<int>(repeats.size()) != x.rank()) {
    return invalid_argument("repeats has ", repeats.size(), " elements but the input is ",
                            x.describe());
  }
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  std::vector<int64_t> view_shape, view_strides, out_shape;
  for (int i = 0; i < x.rank(); ++i) {
    if (repeats[i] < 0) return invalid_argument("repeats[", i, "] is negative");
    view_shape.insert(view_shape.end(), {repeats[i], x.dim(i)});
    view_strides.insert(view_strides.end(), {0, in_strides[i]});
    out_shape.push_back(repeats[i] * x.dim(i));
  }
  Tensor out = Tensor::empty(x.dtype(), out_shape);
  strided_copy(x.raw_data(), view_strides, out.raw_data(), view_shape, dtype_size(x.dtype()));
  outputs[0] = std::move(out);
  return Status();
}

}  // namespace

void register_cpu_expand_tile_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Expand", &make_function_kernel<run_expand>);
  registry.add("", "Tile", &make_function_kernel<run_tile>);
}

}  // namespace vitrt
