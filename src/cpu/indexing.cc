// CPU kernels of the indexing family: Slice, Gather, GatherElements, GatherND, OneHot,
// NonZero, Compress (ScatterND / ScatterElements are in scatter.cc).
//
// Indices may be int32 or int64 and negative (counted from the end); an index out of range is
// an error naming it, never a read out of bounds.
#include <algorithm>
#include <cstring>

#include "core/parallel.h"
#include "cpu/data_movement.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

namespace {

constexpr int64_t kParallelGrainBytes = 1 << 16;

// Normalises a possibly negative index into [0, dim); error when out of range.
Result<int64_t> normalize_index(int64_t i, int64_t dim, const char* what) {
  if (i < -dim || i >= dim) {
    return invalid_argument(what, " ", i, " is out of range [", -dim, ", ", dim - 1, "]");
  }
  return i < 0 ? i + dim : i;
}

Status run_slice(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset < 10) {
    VITRT_ASSIGN_OR_RETURN(starts, node.attrs.require_ints("starts"));
    VITRT_ASSIGN_OR_RETURN(ends, node.attrs.require_ints("ends"));
    VITRT_ASSIGN_OR_RETURN(axes, node.attrs.get_ints("axes", {}));
  } else {
    auto input = [&](size_t i) { return i < inputs.size() ? inputs[i] : nullptr; };
    VITRT_ASSIGN_OR_RETURN(starts, read_int_tensor(input(1), "starts"));
    VITRT_ASSIGN_OR_RETURN(ends, read_int_tensor(input(2), "ends"));
    if (input(3) != nullptr) {
      VITRT_ASSIGN_OR_RETURN(axes, read_int_tensor(input(3), "axes"));
    }
    if (input(4) != nullptr) {
      VITRT_ASSIGN_OR_RETURN(steps, read_int_tensor(input(4), "steps"));
    }
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<SliceRange> ranges,
                         resolve_slice(x.shape(), starts, ends, axes, steps));
  const std::vector<int64_t> in_strides = contiguous_strides(x.shape());
  std::vector<int64_t> out_shape, strides;
  int64_t offset = 0;
  for (int a = 0; a < x.rank(); ++a) {
    out_shape.push_back(ranges[a].count);
    strides.push_back(ranges[a].step * in_strides[a]);
    offset += ranges[a].start * in_strides[a];
  }
  Tensor out = Tensor::empty(x.dtype(), out_shape);
  const size_t es = dtype_size(x.dtype());
  if (out.numel() > 0) {
    strided_copy(static_cast<const uint8_t*>(x.raw_data()) + offset * static_cast<int64_t>(es),
                 strides, out.raw_data(), out_shape, es);
  }
  outputs[0] = std::move(out);
  return Status();
}

// Copies blocks data[o, idx[j], :] for every outer o and index j (Gather and Compress).
void gather_blocks(const Tensor& data, int axis, const std::vector<int64_t>& idx, Tensor& out) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < data.rank(); ++i) {
    if (i < axis) outer *= data.dim(i);
    if (i > axis) inner *= data.dim(i);
  }
  const int64_t block = inner * static_cast<int64_t>(dtype_size(data.dtype()));
  const int64_t n = static_cast<int64_t>(idx.size());
  const int64_t dim = data.dim(axis);
  const auto* src = static_cast<const uint8_t*>(data.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  if (block == 0) return;
  parallel_for(outer * n, std::max<int64_t>(1, kParallelGrainBytes / block),
               [&](int64_t b0, int64_t b1) {
                 for (int64_t b = b0; b < b1; ++b) {
                   const int64_t o = b / n, j = b % n;
                   std::memcpy(dst + b * block, src + (o * dim + idx[j]) * block,
                               static_cast<size_t>(block));
                 }
               });
}

Status run_gather(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                  std::vector<Tensor>& outputs) {
  const Tensor& data = *inputs[0];
  const Tensor& indices = *inputs[1];
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, node.attrs.get_int("axis", 0));
  if (data.rank() == 0) return invalid_argument("data must have rank >= 1");
  VITRT_ASSIGN_OR_RETURN(std::vector<int> axes, normalize_axes({axis_attr}, data.rank(), "axis"));
  const int axis = axes[0];
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_int_tensor(&indices, "indices"));
  for (int64_t& i : idx) {
    VITRT_ASSIGN_OR_RETURN(i, normalize_index(i, data.dim(axis), "index"));
  }
  std::vector<int64_t> out_shape(data.shape().begin(), data.shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), data.shape().begin() + axis + 1, data.shape().end());
  Tensor out = Tensor::empty(data.dtype(), out_shape);
  gather_blocks(data, axis, idx, out);
  outputs[0] = std::move(out);
  return Status();
}

Status run_gather_elements(const Node& node, int64_t opset,
                           const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) {
  const Tensor& data = *inputs[0];
  const Tensor& indices = *inputs[1];
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, node.attrs.get_int("axis", 0));
  VITRT_ASSIGN_OR_RETURN(std::vector<int> axes, normalize_axes({axis_attr}, data.rank(), "axis"));
  const int axis = axes[0];
  if (indices.rank() != data.rank()) {
    return invalid_argument("indices ", indices.describe(), " must have the rank of data ",
                            data.describe());
  }
  for (int d = 0; d < data.rank(); ++d) {
    if (d != axis && indices.dim(d) > data.dim(d)) {
      return invalid_argument("indices ", indices.describe(), " exceed data ", data.describe(),
                              " in dim ", d);
    }
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_int_tensor(&indices, "indices"));
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  Tensor out = Tensor::empty(data.dtype(), indices.shape());
  const int rank = data.rank();
  VITRT_RETURN_IF_ERROR(dispatch_element_size(data.dtype(), [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* src = data.data<T>();
    T* dst = out.data<T>();
    for (int64_t flat = 0; flat < out.numel(); ++flat) {
      int64_t rem = flat, offset = 0;
      for (int d = rank - 1; d >= 0; --d) {
        const int64_t c = rem % indices.dim(d);
        rem /= indices.dim(d);
        if (d != axis) offset += c * strides[d];
      }
      VITRT_ASSIGN_OR_RETURN(int64_t i, normalize_index(idx[flat], data.dim(axis), "index"));
      dst[flat] = src[offset + i * strides[axis]];
    }
    return Status();
  }));
  outputs[0] = std::move(out);
  return Status();
}

Status run_gather_nd(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                     std::vector<Tensor>& outputs) {
  const Tensor& data = *inputs[0];
  const Tensor& indices = *inputs[1];
  VITRT_ASSIGN_OR_RETURN(int64_t b, node.attrs.get_int("batch_dims", 0));
  const int64_t r = data.rank(), q = indices.rank();
  if (q < 1 || b < 0 || b >= std::min(r, q)) {
    return invalid_argument("batch_dims ", b, " is invalid for data ", data.describe(),
                            " and indices ", indices.describe());
  }
  const int64_t k = indices.dim(static_cast<int>(q - 1));
  if (k < 1 || b + k > r) {
    return invalid_argument("indices' last dim ", k, " must be in [1, ", r - b, "]");
  }
  int64_t batches = 1;
  for (int64_t i = 0; i < b; ++i) {
    if (indices.dim(static_cast<int>(i)) != data.dim(static_cast<int>(i))) {
      return invalid_argument("batch dim ", i, " differs: data ", data.describe(), ", indices ",
                              indices.describe());
    }
    batches *= data.dim(static_cast<int>(i));
  }
  std::vector<int64_t> out_shape(indices.shape().begin(), indices.shape().end() - 1);
  int64_t slice = 1;
  for (int64_t i = b + k; i < r; ++i) {
    out_shape.push_back(data.dim(static_cast<int>(i)));
    slice *= data.dim(static_cast<int>(i));
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_int_tensor(&indices, "indices"));
  const std::vector<int64_t> strides = contiguous_strides(data.shape());
  const int64_t tuples = batches == 0 ? 0 : (static_cast<int64_t>(idx.size()) / k);
  const int64_t tuples_per_batch = batches == 0 ? 0 : tuples / batches;
  const int64_t batch_stride = b == 0 ? 0 : strides[b - 1];
  const size_t es = dtype_size(data.dtype());
  Tensor out = Tensor::empty(data.dtype(), out_shape);
  const auto* src = static_cast<const uint8_t*>(data.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t offset = (t / tuples_per_batch) * batch_stride;
    for (int64_t j = 0; j < k; ++j) {
      const int axis = static_cast<int>(b + j);
      VITRT_ASSIGN_OR_RETURN(int64_t c, normalize_index(idx[t * k + j], data.dim(axis), "index"));
      offset += c * strides[axis];
    }
    std::memcpy(dst + t * slice * es, src + offset * es, static_cast<size_t>(slice) * es);
  }
  outputs[0] = std::move(out);
  return Status();
}

Status run_one_hot(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& indices = *inputs[0];
  const Tensor& depth_t = *inputs[1];
  const Tensor& values = *inputs[2];
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, node.attrs.get_int("axis", -1));
  if (depth_t.numel() != 1)
    return invalid_argument("depth must be a scalar, got ", depth_t.describe());
  if (values.numel() != 2) {
    return invalid_argument("values must hold [off, on], got ", values.describe());
  }
  const int64_t depth = static_cast<int64_t>(depth_t.element_as_double(0));
  if (depth < 1) return invalid_argument("depth ", depth, " < 1");
  VITRT_ASSIGN_OR_RETURN(std::vector<int> axes,
                         normalize_axes({axis_attr}, indices.rank() + 1, "axis"));
  const int axis = axes[0];
  std::vector<int64_t> out_shape = indices.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < indices.rank(); ++i) (i < axis ? outer : inner) *= indices.dim(i);
  Tensor out = Tensor::empty(values.dtype(), out_shape);
  return dispatch_element_size(values.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T off = values.data<T>()[0], on = values.data<T>()[1];
    T* dst = out.data<T>();
    std::fill(dst, dst + out.numel(), off);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        // Indices may be of any numeric type; fractional values truncate as ONNX specifies.
        int64_t v = static_cast<int64_t>(indices.element_as_double(o * inner + i));
        if (v < 0) v += depth;
        if (v >= 0 && v < depth) dst[(o * depth + v) * inner + i] = on;
      }
    }
    outputs[0] = std::move(out);
    return Status();
  });
}

// Whether element i is non-zero: by value for floats (so -0.0 is zero), by bits otherwise.
std::vector<bool> nonzero_mask(const Tensor& x) {
  std::vector<bool> mask(static_cast<size_t>(x.numel()));
  const DType t = x.dtype();
  if (dtype_is_float(t)) {
    for (int64_t i = 0; i < x.numel(); ++i) mask[i] = x.element_as_double(i) != 0.0;
    return mask;
  }
  (void)dispatch_element_size(t, [&](auto tag) {
    using U = decltype(tag);
    const U* p = x.data<U>();
    for (int64_t i = 0; i < x.numel(); ++i) mask[i] = p[i] != 0;
    return Status();
  });
  return mask;
}

Status run_non_zero(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  const std::vector<bool> mask = nonzero_mask(x);
  int64_t count = 0;
  for (bool m : mask) count += m ? 1 : 0;
  const int rank = x.rank();
  Tensor out = Tensor::empty(DType::kInt64, {rank, count});
  int64_t* dst = out.data<int64_t>();
  int64_t col = 0;
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    if (!mask[flat]) continue;
    int64_t rem = flat;
    for (int d = rank - 1; d >= 0; --d) {
      dst[d * count + col] = rem % x.dim(d);
      rem /= x.dim(d);
    }
    ++col;
  }
  outputs[0] = std::move(out);
  return Status();
}

Status run_compress(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  Tensor data = *inputs[0];
  const Tensor& condition = *inputs[1];
  if (condition.dtype() != DType::kBool || condition.rank() != 1) {
    return invalid_argument("condition must be a 1-D bool tensor, got ", condition.describe());
  }
  int axis = 0;
  if (node.attrs.has("axis")) {
    VITRT_ASSIGN_OR_RETURN(int64_t a, node.attrs.require_int("axis"));
    VITRT_ASSIGN_OR_RETURN(std::vector<int> axes, normalize_axes({a}, data.rank(), "axis"));
    axis = axes[0];
  } else {
    VITRT_ASSIGN_OR_RETURN(data, data.reshaped({data.numel()}));
  }
  if (condition.numel() > data.dim(axis)) {
    return invalid_argument("condition has ", condition.numel(), " elements but axis ", axis,
                            " has ", data.dim(axis));
  }
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < condition.numel(); ++i) {
    if (condition.data<uint8_t>()[i]) idx.push_back(i);
  }
  std::vector<int64_t> out_shape = data.shape();
  out_shape[axis] = static_cast<int64_t>(idx.size());
  Tensor out = Tensor::empty(data.dtype(), out_shape);
  gather_blocks(data, axis, idx, out);
  outputs[0] = std::move(out);
  return Status();
}

}  // namespace

void register_cpu_indexing_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Slice", &make_function_kernel<run_slice>);
  registry.add("", "Gather", &make_function_kernel<run_gather>);
  registry.add("", "GatherElements", &make_function_kernel<run_gather_elements>);
  registry.add("", "GatherND", &make_function_kernel<run_gather_nd>);
  registry.add("", "OneHot", &make_function_kernel<run_one_hot>);
  registry.add("", "NonZero", &make_function_kernel<run_non_zero>);
  registry.add("", "Compress", &make_function_kernel<run_compress>);
  register_cpu_scatter_kernels(registry);
}

}  // namespace vitrt
