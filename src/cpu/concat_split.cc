// CPU kernels of Concat and Split: copies of contiguous blocks along one axis.
//
// Viewed as [outer, axis * inner], every input (or output) is a run of outer rows, each a
// contiguous block of bytes, so both ops are memcpy loops whatever the dtype.
#include <algorithm>
#include <cstring>

#include "core/parallel.h"
#include "cpu/data_movement.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

namespace {

constexpr int64_t kParallelGrainBytes = 1 << 16;

struct AxisView {
  int64_t outer = 1;  // product of dims before the axis
  int64_t inner = 1;  // product of dims after the axis
};

AxisView axis_view(const std::vector<int64_t>& shape, int axis) {
  AxisView v;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    if (i < axis) v.outer *= shape[i];
    if (i > axis) v.inner *= shape[i];
  }
  return v;
}

// Copies `rows` rows of `row_bytes` between buffers whose rows are `src_pitch` / `dst_pitch`
// bytes apart.
void copy_row_blocks(const uint8_t* src, int64_t src_pitch, uint8_t* dst, int64_t dst_pitch,
                     int64_t rows, int64_t row_bytes) {
  if (row_bytes == 0) return;
  parallel_for(
      rows, std::max<int64_t>(1, kParallelGrainBytes / row_bytes), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          std::memcpy(dst + r * dst_pitch, src + r * src_pitch, static_cast<size_t>(row_bytes));
        }
      });
}

Status run_concat(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, node.attrs.require_int("axis"));
  const Tensor& first = *inputs[0];
  const int rank = first.rank();
  VITRT_ASSIGN_OR_RETURN(std::vector<int> axes, normalize_axes({axis_attr}, rank, "axis"));
  const int axis = axes[0];
  std::vector<int64_t> out_shape = first.shape();
  out_shape[axis] = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = *inputs[i];
    bool compatible = t.rank() == rank && t.dtype() == first.dtype();
    for (int d = 0; compatible && d < rank; ++d) compatible = d == axis || t.dim(d) == first.dim(d);
    if (!compatible) {
      return invalid_argument("input ", i, " is ", t.describe(), " but input 0 is ",
                              first.describe(), "; they may differ only in axis ", axis);
    }
    out_shape[axis] += t.dim(axis);
  }
  Tensor out = Tensor::empty(first.dtype(), out_shape);
  const size_t es = dtype_size(first.dtype());
  const AxisView v = axis_view(out_shape, axis);
  const int64_t out_pitch = out_shape[axis] * v.inner * static_cast<int64_t>(es);
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  int64_t offset = 0;
  for (const Tensor* t : inputs) {
    const int64_t row_bytes = t->dim(axis) * v.inner * static_cast<int64_t>(es);
    copy_row_blocks(static_cast<const uint8_t*>(t->raw_data()), row_bytes, dst + offset, out_pitch,
                    v.outer, row_bytes);
    offset += row_bytes;
  }
  outputs[0] = std::move(out);
  return Status();
}

Status run_split(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, node.attrs.get_int("axis", 0));
  VITRT_ASSIGN_OR_RETURN(std::vector<int> axes, normalize_axes({axis_attr}, x.rank(), "axis"));
  const int axis = axes[0];
  const int64_t n_out = static_cast<int64_t>(outputs.size());
  std::vector<int64_t> sizes;
  if (inputs.size() > 1 && inputs[1] != nullptr) {
    VITRT_ASSIGN_OR_RETURN(sizes, read_int_tensor(inputs[1], "split"));
  } else if (opset < 13 && node.attrs.has("split")) {
    VITRT_ASSIGN_OR_RETURN(sizes, node.attrs.get_ints("split", {}));
  } else {
    VITRT_ASSIGN_OR_RETURN(sizes, even_split_sizes(x.dim(axis), n_out));
  }
  if (static_cast<int64_t>(sizes.size()) != n_out) {
    return invalid_argument("split has ", sizes.size(), " sizes but the node has ", n_out,
                            " outputs");
  }
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) return invalid_argument("split size ", s, " is negative");
    sum += s;
  }
  if (sum != x.dim(axis)) {
    return invalid_argument("split sizes sum to ", sum, " but axis ", axis, " of ", x.describe(),
                            " has size ", x.dim(axis));
  }
  const size_t es = dtype_size(x.dtype());
  const AxisView v = axis_view(x.shape(), axis);
  const int64_t in_pitch = x.dim(axis) * v.inner * static_cast<int64_t>(es);
  const auto* src = static_cast<const uint8_t*>(x.raw_data());
  int64_t offset = 0;
  for (int64_t i = 0; i < n_out; ++i) {
    std::vector<int64_t> shape = x.shape();
    shape[axis] = sizes[i];
    Tensor out = Tensor::empty(x.dtype(), shape);
    const int64_t row_bytes = sizes[i] * v.inner * static_cast<int64_t>(es);
    copy_row_blocks(src + offset, in_pitch, static_cast<uint8_t*>(out.raw_data()), row_bytes,
                    v.outer, row_bytes);
    offset += row_bytes;
    outputs[i] = std::move(out);
  }
  return Status();
}

}  // namespace

void register_cpu_concat_split_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Concat", &make_function_kernel<run_concat>);
  registry.add("", "Split", &make_function_kernel<run_split>);
}

}  // namespace vitrt
