// Data movement on CUDA: views (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout) share
// their input's storage; Transpose, DepthToSpace, SpaceToDepth, Slice, Expand, Tile, Concat and
// Split are one strided copy each; Gather, GatherElements, ArgMax, ArgMin, TopK, Pad, MaxPool,
// AveragePool, vitrt.ChannelsLastPool, CumSum and vitrt.Patchify have their own kernels.
#include <algorithm>
#include <optional>

#include "cuda/cuda_kernel.h"
#include "ir/ops/channels_last_pool.h"
#include "ir/ops/depth_space.h"
#include "ir/ops/pooling_attributes.h"

namespace vitrt::cuda {
namespace {

Status check_rank(size_t rank) {
  if (rank > static_cast<size_t>(kMaxRank)) {
    return unsupported("rank ", rank, " exceeds the CUDA backend's ", kMaxRank);
  }
  return Status::ok_status();
}

int elem_bytes(DType t) {
  return static_cast<int>(dtype_size(t));
}

// ---- views -----------------------------------------------------------------------------------

enum class ViewKind { kReshape, kFlatten, kSqueeze, kUnsqueeze, kIdentity };

class ViewKernel final : public CudaKernel {
 public:
  ViewKernel(ViewKind kind, const Node& node, int64_t opset)
      : kind_(kind), node_(node), opset_(opset) {}
  int alias_of() const override { return 0; }

  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    if (ctx.launch) return Status::ok_status();  // nothing to move
    const DeviceTensor& x = *in[0];
    out[0].dtype = x.dtype;
    VITRT_ASSIGN_OR_RETURN(out[0].shape, shape_of(in));
    if (shape_numel(out[0].shape) != x.numel()) {
      return invalid_argument("cannot view ", shape_to_string(x.shape), " as ",
                              shape_to_string(out[0].shape));
    }
    return Status::ok_status();
  }

 private:
  Result<std::vector<int64_t>> axes_of(const std::vector<const DeviceTensor*>& in) const {
    if (opset_ >= 13) {
      if (in.size() > 1 && in[1] != nullptr) return host_ints(in[1], "input 'axes'");
      return std::vector<int64_t>{};
    }
    return node_.attrs.get_ints("axes", {});
  }

  Result<std::vector<int64_t>> shape_of(const std::vector<const DeviceTensor*>& in) const {
    const std::vector<int64_t>& s = in[0]->shape;
    const int rank = static_cast<int>(s.size());
    switch (kind_) {
      case ViewKind::kIdentity:
        return s;
      case ViewKind::kReshape: {
        VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> target, host_ints(in[1], "input 'shape'"));
        VITRT_ASSIGN_OR_RETURN(int64_t allowzero, node_.attrs.get_int("allowzero", 0));
        int infer = -1;
        int64_t known = 1;
        for (size_t i = 0; i < target.size(); ++i) {
          if (target[i] == 0 && allowzero == 0) {
            if (i >= s.size())
              return invalid_argument("shape has 0 at axis ", i, " past the input rank");
            target[i] = s[i];
          }
          if (target[i] == -1) {
            if (infer >= 0) return invalid_argument("shape has more than one -1");
            infer = static_cast<int>(i);
          } else {
            known *= target[i];
          }
        }
        if (infer >= 0) {
          if (known == 0) return invalid_argument("cannot infer -1 with a zero-sized target");
          target[infer] = shape_numel(s) / known;
        }
        return target;
      }
      case ViewKind::kFlatten: {
        VITRT_ASSIGN_OR_RETURN(int64_t axis, node_.attrs.get_int("axis", 1));
        if (axis < 0) axis += rank;
        if (axis < 0 || axis > rank) return invalid_argument("axis out of range");
        int64_t a = 1;
        for (int i = 0; i < axis; ++i) a *= s[i];
        return std::vector<int64_t>{a, shape_numel(s) / std::max<int64_t>(a, 1)};
      }
      case ViewKind::kSqueeze: {
        VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_of(in));
        std::vector<bool> drop(rank, false);
        if (axes.empty()) {
          for (int i = 0; i < rank; ++i) drop[i] = s[i] == 1;
        }
        for (int64_t a : axes) {
          VITRT_ASSIGN_OR_RETURN(int ax, normalize_axis(a, rank));
          if (s[ax] != 1) return invalid_argument("cannot squeeze axis ", a, " of size ", s[ax]);
          drop[ax] = true;
        }
        std::vector<int64_t> r;
        for (int i = 0; i < rank; ++i) {
          if (!drop[i]) r.push_back(s[i]);
        }
        return r;
      }
      case ViewKind::kUnsqueeze: {
        VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_of(in));
        const int out_rank = rank + static_cast<int>(axes.size());
        std::vector<bool> inserted(out_rank, false);
        for (int64_t a : axes) {
          VITRT_ASSIGN_OR_RETURN(int ax, normalize_axis(a, out_rank));
          inserted[ax] = true;
        }
        std::vector<int64_t> r;
        size_t k = 0;
        for (int i = 0; i < out_rank; ++i) r.push_back(inserted[i] ? 1 : s[k++]);
        return r;
      }
    }
    return internal_error("unknown view kind");
  }

  ViewKind kind_;
  const Node& node_;
  int64_t opset_;
};

// ---- strided copies --------------------------------------------------------------------------

Status copy(const DeviceTensor& src, const StridedView& vs, void* dst, const StridedView& vd,
            const LaunchContext& ctx, const char* what) {
  return cuda_status(launch_copy_strided(elem_bytes(src.dtype), src.data, vs, dst, vd, ctx.stream),
                     what);
}

class TransposeKernel final : public CudaKernel {
 public:
  explicit TransposeKernel(std::vector<int64_t> perm) : perm_(std::move(perm)) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    std::vector<int64_t> perm = perm_;
    if (perm.empty()) {
      for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
    }
    if (static_cast<int>(perm.size()) != rank) return invalid_argument("perm length != rank");
    VITRT_RETURN_IF_ERROR(check_rank(rank));
    const std::vector<int64_t> strides = contiguous_strides(x.shape);
    StridedView vs;
    vs.rank = rank;
    std::vector<int64_t> shape(rank);
    for (int i = 0; i < rank; ++i) {
      VITRT_ASSIGN_OR_RETURN(int p, normalize_axis(perm[i], rank));
      shape[i] = x.shape[p];
      vs.dims[i] = x.shape[p];
      vs.strides[i] = strides[p];
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    return copy(x, vs, out[0].data, contiguous_view(shape), ctx, "Transpose");
  }

 private:
  std::vector<int64_t> perm_;
};

class ConcatKernel final : public CudaKernel {
 public:
  explicit ConcatKernel(int64_t axis) : axis_(axis) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& first = *in[0];
    const int rank = static_cast<int>(first.shape.size());
    VITRT_RETURN_IF_ERROR(check_rank(rank));
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    if (!ctx.launch) {
      std::vector<int64_t> shape = first.shape;
      shape[axis] = 0;
      for (const DeviceTensor* t : in) {
        if (t->dtype != first.dtype || t->shape.size() != first.shape.size()) {
          return invalid_argument("inputs differ in dtype or rank");
        }
        for (int i = 0; i < rank; ++i) {
          if (i != axis && t->shape[i] != first.shape[i]) {
            return invalid_argument("input shapes ", shape_to_string(first.shape), " and ",
                                    shape_to_string(t->shape), " differ off axis ", axis);
          }
        }
        shape[axis] += t->shape[axis];
      }
      out[0].dtype = first.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    const std::vector<int64_t> ostrides = contiguous_strides(out[0].shape);
    int64_t offset = 0;
    for (const DeviceTensor* t : in) {
      StridedView vd = contiguous_view(t->shape);
      for (int i = 0; i < rank; ++i) vd.strides[i] = ostrides[i];
      vd.base = offset * ostrides[axis];
      VITRT_RETURN_IF_ERROR(copy(*t, contiguous_view(t->shape), out[0].data, vd, ctx, "Concat"));
      offset += t->shape[axis];
    }
    return Status::ok_status();
  }

 private:
  int64_t axis_;
};

class SplitKernel final : public CudaKernel {
 public:
  SplitKernel(const Node& node, int64_t opset) : node_(node), opset_(opset) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_RETURN_IF_ERROR(check_rank(rank));
    VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, node_.attrs.get_int("axis", 0));
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_attr, rank));
    std::vector<int64_t> sizes;
    if (opset_ >= 13 && in.size() > 1 && in[1] != nullptr) {
      VITRT_ASSIGN_OR_RETURN(sizes, host_ints(in[1], "input 'split'"));
    } else if (opset_ < 13) {
      VITRT_ASSIGN_OR_RETURN(sizes, node_.attrs.get_ints("split", {}));
    }
    const int64_t n = static_cast<int64_t>(out.size());
    if (sizes.empty()) {
      // Equal parts, the last one smaller when the dim does not divide (opset 18).
      const int64_t part = (x.shape[axis] + n - 1) / n;
      for (int64_t i = 0; i < n; ++i) {
        sizes.push_back(std::max<int64_t>(0, std::min(part, x.shape[axis] - i * part)));
      }
    }
    if (static_cast<int64_t>(sizes.size()) != n) return invalid_argument("split sizes != outputs");
    const std::vector<int64_t> strides = contiguous_strides(x.shape);
    int64_t offset = 0;
    for (int64_t i = 0; i < n; ++i) {
      std::vector<int64_t> shape = x.shape;
      shape[axis] = sizes[i];
      if (!ctx.launch) {
        out[i].dtype = x.dtype;
        out[i].shape = shape;
      } else if (out[i].data != nullptr) {
        StridedView vs = contiguous_view(shape);
        for (int d = 0; d < rank; ++d) vs.strides[d] = strides[d];
        vs.base = offset * strides[axis];
        VITRT_RETURN_IF_ERROR(copy(x, vs, out[i].data, contiguous_view(shape), ctx, "Split"));
      }
      offset += sizes[i];
    }
    if (offset != x.shape[axis]) return invalid_argument("split sizes do not sum to the dim");
    return Status::ok_status();
  }

 private:
  const Node& node_;
  int64_t opset_;
};

// Whether a view of base 0 reads, in order, the first elements of its data: every dim of more
// than one element has the contiguous stride of the output shape.
bool is_leading_block(const StridedView& v, const std::vector<int64_t>& shape) {
  if (v.base != 0) return false;
  int64_t expect = 1;
  for (int a = static_cast<int>(shape.size()) - 1; a >= 0; --a) {
    if (shape[a] > 1 && v.strides[a] != expect) return false;
    expect *= shape[a];
  }
  return true;
}

// A slice that is the data's first elements in memory (a batch-1 classifier's leading tokens,
// a prefix along the outermost axis) is a view: alias_of() says so after the shape pass and the
// launch moves nothing.
class SliceKernel final : public CudaKernel {
 public:
  int alias_of() const override { return prefix_view_ ? 0 : -1; }
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_RETURN_IF_ERROR(check_rank(rank));
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> starts, host_ints(in[1], "input 'starts'"));
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> ends, host_ints(in[2], "input 'ends'"));
    std::vector<int64_t> axes, steps;
    if (in.size() > 3 && in[3] != nullptr) {
      VITRT_ASSIGN_OR_RETURN(axes, host_ints(in[3], "input 'axes'"));
    } else {
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (in.size() > 4 && in[4] != nullptr) {
      VITRT_ASSIGN_OR_RETURN(steps, host_ints(in[4], "input 'steps'"));
    } else {
      steps.assign(starts.size(), 1);
    }
    if (ends.size() != starts.size() || axes.size() != starts.size() ||
        steps.size() != starts.size()) {
      return invalid_argument("starts, ends, axes and steps differ in length");
    }
    const std::vector<int64_t> strides = contiguous_strides(x.shape);
    StridedView vs = contiguous_view(x.shape);
    std::vector<int64_t> shape = x.shape;
    for (size_t i = 0; i < starts.size(); ++i) {
      VITRT_ASSIGN_OR_RETURN(int a, normalize_axis(axes[i], rank));
      const int64_t dim = x.shape[a];
      const int64_t step = steps[i];
      if (step == 0) return invalid_argument("slice step is 0");
      int64_t s = starts[i] < 0 ? starts[i] + dim : starts[i];
      int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
      if (step > 0) {
        s = std::clamp<int64_t>(s, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        shape[a] = e > s ? (e - s + step - 1) / step : 0;
      } else {
        s = std::clamp<int64_t>(s, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        shape[a] = s > e ? (s - e + (-step) - 1) / (-step) : 0;
      }
      vs.dims[a] = shape[a];
      vs.strides[a] = strides[a] * step;
      vs.base += s * strides[a];
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = shape;
      prefix_view_ = shape_numel(shape) > 0 && is_leading_block(vs, shape);
      return Status::ok_status();
    }
    // This shape's plan made the output a view of the data (the same storage): nothing to move.
    if (out[0].data == x.data && out[0].numel() > 0) return Status::ok_status();
    return copy(x, vs, out[0].data, contiguous_view(shape), ctx, "Slice");
  }

 private:
  bool prefix_view_ = false;  // set by the shape pass, read by the engine right after it
};

class ExpandKernel final : public CudaKernel {
 public:
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    if (!ctx.launch) {
      VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> target, host_ints(in[1], "input 'shape'"));
      VITRT_ASSIGN_OR_RETURN(out[0].shape, broadcast_shapes(x.shape, target));
      VITRT_RETURN_IF_ERROR(check_rank(out[0].shape.size()));
      out[0].dtype = x.dtype;
      return Status::ok_status();
    }
    return copy(x, broadcast_view(x.shape, out[0].shape), out[0].data,
                contiguous_view(out[0].shape), ctx, "Expand");
  }
};

class TileKernel final : public CudaKernel {
 public:
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, host_ints(in[1], "input 'repeats'"));
    if (static_cast<int>(repeats.size()) != rank) return invalid_argument("repeats length != rank");
    VITRT_RETURN_IF_ERROR(check_rank(2 * rank));
    // The output [r0*d0, r1*d1, ...] is, in memory, [r0, d0, r1, d1, ...]: read x with stride 0
    // along each repeat axis.
    const std::vector<int64_t> strides = contiguous_strides(x.shape);
    StridedView vs;
    vs.rank = 2 * rank;
    std::vector<int64_t> shape(rank), split;
    for (int i = 0; i < rank; ++i) {
      shape[i] = x.shape[i] * repeats[i];
      vs.dims[2 * i] = repeats[i];
      vs.strides[2 * i] = 0;
      vs.dims[2 * i + 1] = x.shape[i];
      vs.strides[2 * i + 1] = strides[i];
      split.push_back(repeats[i]);
      split.push_back(x.shape[i]);
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    return copy(x, vs, out[0].data, contiguous_view(split), ctx, "Tile");
  }
};

// Indices a node reads: where the host has them (constants, shape arithmetic) they are checked
// here, once per shape plan, and the kernel reports nothing; otherwise the kernel reports one
// out of range through the context's flag (IndexError) and the run fails naming the node.
Result<IndexError> index_check(const DeviceTensor& idx, int64_t dim, const LaunchContext& ctx) {
  if (idx.host == nullptr) return IndexError{ctx.index_error, ctx.node_tag};
  for (int64_t i = 0; i < idx.host->numel(); ++i) {
    const int64_t v = idx.host->element_as_int64(i);
    if (v < -dim || v >= dim) {
      return invalid_argument("index ", v, " (element ", i, " of the indices) is out of range for ",
                              "an axis of size ", dim);
    }
  }
  return IndexError{};
}

// A Gather whose rows are the data's first elements in memory (nothing before the axis but
// dims of 1, host-known indices 0, 1, ..., n-1: a batch-1 classifier's class token) is a view:
// the shape pass reports it through alias_of() and the launch moves nothing.
class GatherKernel final : public CudaKernel {
 public:
  explicit GatherKernel(int64_t axis) : axis_(axis) {}
  int alias_of() const override { return prefix_view_ ? 0 : -1; }
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& data = *in[0];
    const DeviceTensor& idx = *in[1];
    const int rank = static_cast<int>(data.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    if (idx.dtype != DType::kInt64 && idx.dtype != DType::kInt32) {
      return invalid_argument("indices must be int64 or int32");
    }
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= data.shape[i];
    for (int i = axis + 1; i < rank; ++i) inner *= data.shape[i];
    if (!ctx.launch) {
      std::vector<int64_t> shape(data.shape.begin(), data.shape.begin() + axis);
      shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
      shape.insert(shape.end(), data.shape.begin() + axis + 1, data.shape.end());
      out[0].dtype = data.dtype;
      out[0].shape = shape;
      checks_indices_ = idx.host == nullptr;
      prefix_view_ = outer == 1 && leading_rows(idx, data.shape[axis]);
      return Status::ok_status();
    }
    // This shape's plan made the output a view of the data (the same storage): nothing to move.
    if (out[0].data == data.data && out[0].numel() > 0) return Status::ok_status();
    VITRT_ASSIGN_OR_RETURN(IndexError err, index_check(idx, data.shape[axis], ctx));
    return cuda_status(
        launch_gather(elem_bytes(data.dtype), data.data, outer, data.shape[axis], inner, idx.data,
                      idx.dtype == DType::kInt64, idx.numel(), out[0].data, err, ctx.stream),
        "Gather");
  }
  bool checks_indices() const override { return checks_indices_; }

 private:
  // Whether the host-known indices are 0, 1, ..., n-1 along an axis of size dim (-dim + i
  // counting as i), n >= 1.
  static bool leading_rows(const DeviceTensor& idx, int64_t dim) {
    if (idx.host == nullptr || idx.host->numel() == 0) return false;
    for (int64_t i = 0; i < idx.host->numel(); ++i) {
      int64_t v = idx.host->element_as_int64(i);
      if (v < 0) v += dim;
      if (v != i || v >= dim) return false;
    }
    return true;
  }

  int64_t axis_;
  bool checks_indices_ = false;
  bool prefix_view_ = false;  // set by the shape pass, read by the engine right after it
};

class GatherNdKernel final : public CudaKernel {
 public:
  explicit GatherNdKernel(int64_t batch_dims) : batch_dims_(batch_dims) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& data = *in[0];
    const DeviceTensor& idx = *in[1];
    const int64_t b = batch_dims_;
    const int64_t r = static_cast<int64_t>(data.shape.size());
    const int64_t q = static_cast<int64_t>(idx.shape.size());
    if (idx.dtype != DType::kInt64) return invalid_argument("indices must be int64");
    if (q < 1 || b >= q || b >= r) return invalid_argument("batch_dims out of range");
    const int64_t k = idx.shape.back();
    if (k < 1 || b + k > r || k > kMaxRank) return invalid_argument("index tuples too long");
    for (int64_t i = 0; i < b; ++i) {
      if (data.shape[i] != idx.shape[i]) return invalid_argument("batch dims differ");
    }
    if (!ctx.launch) {
      std::vector<int64_t> shape(idx.shape.begin(), idx.shape.end() - 1);
      shape.insert(shape.end(), data.shape.begin() + b + k, data.shape.end());
      out[0].dtype = data.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    // Tuples are checked on the device, constant ones too (GatherND is rare in these models).
    const IndexError err{ctx.index_error, ctx.node_tag};
    GatherNdArgs a;
    a.k = k;
    a.n_tuples = idx.numel() / k;
    int64_t batch = 1;
    for (int64_t i = 0; i < b; ++i) batch *= data.shape[i];
    a.per_batch = a.n_tuples / std::max<int64_t>(batch, 1);
    const std::vector<int64_t> strides = contiguous_strides(data.shape);
    a.batch_stride = b > 0 ? strides[b - 1] : 0;
    a.slice = b + k < r ? strides[b + k - 1] : 1;
    for (int64_t j = 0; j < k; ++j) {
      a.dims[j] = data.shape[b + j];
      a.strides[j] = strides[b + j];
    }
    return cuda_status(launch_gather_nd(elem_bytes(data.dtype), data.data, idx.data, a, out[0].data,
                                        err, ctx.stream),
                       "GatherND");
  }
  bool checks_indices() const override { return true; }

 private:
  int64_t batch_dims_;
};

// ArgMax and ArgMin (min = true).
class ArgMaxKernel final : public CudaKernel {
 public:
  ArgMaxKernel(int64_t axis, bool keepdims, bool min)
      : axis_(axis), keepdims_(keepdims), min_(min) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x.shape[i];
    for (int i = axis + 1; i < rank; ++i) inner *= x.shape[i];
    if (!ctx.launch) {
      std::vector<int64_t> shape = x.shape;
      if (keepdims_) {
        shape[axis] = 1;
      } else {
        shape.erase(shape.begin() + axis);
      }
      out[0].dtype = DType::kInt64;
      out[0].shape = shape;
      return elt_of(x.dtype).status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(
        launch_argmax(t, x.data, outer, x.shape[axis], inner, out[0].data, ctx.stream, min_),
        min_ ? "ArgMin" : "ArgMax");
  }

 private:
  int64_t axis_;
  bool keepdims_;
  bool min_;
};

// DepthToSpace / SpaceToDepth: as the CPU kernel, a reshape of NCHW to 6 axes, a transpose
// (one strided copy) and a reshape back to 4.
class DepthSpaceKernel final : public CudaKernel {
 public:
  DepthSpaceKernel(bool to_space, DepthSpaceAttributes attrs)
      : to_space_(to_space), attrs_(attrs) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    VITRT_ASSIGN_OR_RETURN(DepthSpacePlan p, depth_space_plan(x.shape, to_space_, attrs_));
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = p.out_shape;
      return Status::ok_status();
    }
    const std::vector<int64_t> strides = contiguous_strides(p.split);
    StridedView vs;
    vs.rank = 6;
    std::vector<int64_t> permuted(6);
    for (int i = 0; i < 6; ++i) {
      permuted[i] = vs.dims[i] = p.split[p.perm[i]];
      vs.strides[i] = strides[p.perm[i]];
    }
    return copy(x, vs, out[0].data, contiguous_view(permuted), ctx,
                to_space_ ? "DepthToSpace" : "SpaceToDepth");
  }

 private:
  bool to_space_;
  DepthSpaceAttributes attrs_;
};

// CumSum with its axis known on the host (a constant in every export).
class CumSumKernel final : public CudaKernel {
 public:
  CumSumKernel(bool exclusive, bool reverse) : exclusive_(exclusive), reverse_(reverse) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> axis_v,
                           host_ints(in.size() > 1 ? in[1] : nullptr, "input axis"));
    if (axis_v.size() != 1) return invalid_argument("input axis must hold one integer");
    const int rank = static_cast<int>(x.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_v[0], rank));
    if (!ctx.launch) {
      if (x.dtype == DType::kBool) return unsupported("CumSum of bool has no CUDA kernel");
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return elt_of(x.dtype).status();
    }
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x.shape[i];
    for (int i = axis + 1; i < rank; ++i) inner *= x.shape[i];
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_cumsum(t, x.data, out[0].data, outer, x.shape[axis], inner,
                                     exclusive_, reverse_, ctx.stream),
                       "CumSum");
  }

 private:
  bool exclusive_, reverse_;
};

// GatherElements: the output has the indices' shape.
class GatherElementsKernel final : public CudaKernel {
 public:
  explicit GatherElementsKernel(int64_t axis) : axis_(axis) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& idx = *in[1];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    if (!ctx.launch) {
      if (idx.dtype != DType::kInt64 && idx.dtype != DType::kInt32) {
        return invalid_argument("indices must be int64 or int32, got ", dtype_name(idx.dtype));
      }
      if (static_cast<int>(idx.shape.size()) != rank || rank > kMaxRank) {
        return invalid_argument("indices ", shape_to_string(idx.shape), " must have the rank of ",
                                shape_to_string(x.shape));
      }
      out[0].dtype = x.dtype;
      out[0].shape = idx.shape;
      return elt_of(x.dtype).status();
    }
    GatherElementsArgs a;
    a.rank = rank;
    a.axis = axis;
    a.axis_dim = x.shape[axis];
    const std::vector<int64_t> strides = contiguous_strides(x.shape);
    for (int d = 0; d < rank; ++d) {
      a.dims[d] = idx.shape[d];
      a.data_strides[d] = strides[d];
    }
    return cuda_status(
        launch_gather_elements(static_cast<int>(dtype_size(x.dtype)), x.data, idx.data,
                               idx.dtype == DType::kInt64, a, out[0].data,
                               IndexError{ctx.index_error, ctx.node_tag}, ctx.stream),
        "GatherElements");
  }
  bool checks_indices() const override { return true; }

 private:
  int64_t axis_;
};

// TopK with K known on the host (a constant in every export). Without the indices output the
// kernel writes them into a scratch buffer.
class TopKKernel final : public CudaKernel {
 public:
  TopKKernel(int64_t axis, bool largest, std::optional<int64_t> attr_k, bool indices_wanted)
      : axis_(axis), largest_(largest), attr_k_(attr_k), indices_wanted_(indices_wanted) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    int64_t k = attr_k_.value_or(0);
    if (!attr_k_) {
      VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> kv,
                             host_ints(in.size() > 1 ? in[1] : nullptr, "input K"));
      if (kv.size() != 1) return invalid_argument("input K must hold one integer");
      k = kv[0];
    }
    if (k < 0 || k > x.shape[axis]) {
      return invalid_argument("K = ", k, " is outside [0, ", x.shape[axis], "] (size of axis ",
                              axis, ")");
    }
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x.shape[i];
    for (int i = axis + 1; i < rank; ++i) inner *= x.shape[i];
    const size_t index_slot = indices_wanted_ ? 1 : out.size();
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return unsupported("TopK of ", dtype_name(x.dtype), " has no CUDA kernel (float only)");
      }
      std::vector<int64_t> shape = x.shape;
      shape[axis] = k;
      if (index_slot >= out.size()) out.resize(index_slot + 1);
      out[0].dtype = x.dtype;
      out[0].shape = shape;
      out[index_slot].dtype = DType::kInt64;
      out[index_slot].shape = shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_topk(t, x.data, out[0].data, out[index_slot].data, outer,
                                   x.shape[axis], inner, k, largest_, ctx.stream),
                       "TopK");
  }

 private:
  int64_t axis_;
  bool largest_;
  std::optional<int64_t> attr_k_;  // opset 1 took K as an attribute
  bool indices_wanted_;
};

// X may be the plan's fp32 input in a 16-bit plan (reads_float32_input): the patches are then
// converted as they are cut, the image's conversion pass and its 16-bit copy skipped.
class PatchifyKernel final : public CudaKernel {
 public:
  PatchifyKernel(int64_t ph, int64_t pw, int64_t prefix, DType float_type)
      : ph_(ph), pw_(pw), prefix_(prefix), float_type_(float_type) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    if (x.shape.size() != 4) return invalid_argument("input must be [B, C, H, W]");
    const int64_t b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
    const DType out_type = x.dtype == DType::kFloat32 ? float_type_ : x.dtype;
    if (!ctx.launch) {
      out[0].dtype = out_type;
      out[0].shape = {b, prefix_ + (h / ph_) * (w / pw_), c * ph_ * pw_};
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    VITRT_ASSIGN_OR_RETURN(Elt to, elt_of(out_type));
    return cuda_status(
        launch_patchify(t, to, x.data, out[0].data, b, c, h, w, ph_, pw_, ctx.stream, prefix_),
        "Patchify");
  }
  bool reads_float32_input(int slot) const override { return slot == 0; }

 private:
  int64_t ph_, pw_, prefix_;
  DType float_type_;
};

template <ViewKind kKind>
Result<std::unique_ptr<CudaKernel>> make_view(const CudaKernelInit& init) {
  return std::unique_ptr<CudaKernel>(new ViewKernel(kKind, init.node, init.opset));
}

Result<std::unique_ptr<CudaKernel>> make_transpose(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> perm, init.node.attrs.get_ints("perm", {}));
  return std::unique_ptr<CudaKernel>(new TransposeKernel(std::move(perm)));
}

Result<std::unique_ptr<CudaKernel>> make_concat(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.require_int("axis"));
  return std::unique_ptr<CudaKernel>(new ConcatKernel(axis));
}

Result<std::unique_ptr<CudaKernel>> make_split(const CudaKernelInit& init) {
  return std::unique_ptr<CudaKernel>(new SplitKernel(init.node, init.opset));
}

// Pad (opset 11+: pads, constant_value and axes are inputs, known on the host).
class PadKernel final : public CudaKernel {
 public:
  explicit PadKernel(PadMode mode) : mode_(mode) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_RETURN_IF_ERROR(check_rank(rank));
    auto input = [&](size_t i) { return i < in.size() ? in[i] : nullptr; };
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> pads, host_ints(input(1), "input 'pads'"));
    std::vector<int64_t> axes;
    if (input(3) != nullptr) {
      VITRT_ASSIGN_OR_RETURN(axes, host_ints(input(3), "input 'axes'"));
    } else {
      for (int i = 0; i < rank; ++i) axes.push_back(i);
    }
    if (pads.size() != 2 * axes.size()) {
      return invalid_argument("pads has ", pads.size(), " elements; expected ", 2 * axes.size());
    }
    PadArgs a;
    a.rank = rank;
    a.mode = mode_;
    std::vector<int64_t> after(rank, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axes[i], rank));
      a.before[axis] = pads[i];
      after[axis] = pads[i + axes.size()];
    }
    std::vector<int64_t> shape(rank);
    for (int d = 0; d < rank; ++d) {
      a.in_dims[d] = x.shape[d];
      shape[d] = a.out_dims[d] = x.shape[d] + a.before[d] + after[d];
      if (shape[d] < 0) return invalid_argument("pads make axis ", d, " negative");
      if (mode_ != PadMode::kConstant && x.shape[d] == 0 && shape[d] > 0) {
        return invalid_argument("cannot pad the empty axis ", d, " in a non-constant mode");
      }
    }
    const DeviceTensor* value = input(2);
    if (mode_ == PadMode::kConstant && value != nullptr && value->numel() > 0) {
      if (value->host == nullptr) {
        return unsupported("input 'constant_value' must be a constant (it is computed on the GPU)");
      }
      a.fill = static_cast<float>(value->host->element_as_double(0));
    }
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) return unsupported("Pad on ", dtype_name(x.dtype));
      out[0].dtype = x.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_pad(t, a, x.data, out[0].data, ctx.stream), "Pad");
  }

 private:
  PadMode mode_;
};

// MaxPool (1 to 3 spatial axes; geometry and ceil_mode as shape inference and the CPU kernel
// work them out, src/ir/ops/pooling.cc).
// MaxPool and AveragePool (average = true).
class MaxPoolKernel final : public CudaKernel {
 public:
  MaxPoolKernel(const Node& node, bool average) : node_(node), average_(average) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int spatial = static_cast<int>(x.shape.size()) - 2;
    if (spatial < 1 || spatial > 3) {
      return unsupported(node_.op_type, " over ", spatial, " spatial axes (1 to 3 are supported)");
    }
    VITRT_ASSIGN_OR_RETURN(PoolAttributes attrs, PoolAttributes::parse(node_, spatial));
    MaxPoolArgs a;
    a.spatial = spatial;
    a.average = average_;
    a.count_include_pad = attrs.count_include_pad;
    a.planes = x.shape[0] * x.shape[1];
    std::vector<int64_t> shape = {x.shape[0], x.shape[1]};
    for (int i = 0; i < spatial; ++i) {
      VITRT_ASSIGN_OR_RETURN(ConvAttributes::Axis axis, attrs.axis(node_, i, x.shape[2 + i]));
      a.in_dims[i] = x.shape[2 + i];
      a.out_dims[i] = axis.out;
      a.kernel[i] = attrs.geometry.kernel_shape[i];
      a.stride[i] = attrs.geometry.strides[i];
      a.dilation[i] = attrs.geometry.dilations[i];
      a.pad_begin[i] = axis.pad_begin;
      a.pad_end[i] = axis.pad_end;
      shape.push_back(axis.out);
    }
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return unsupported(node_.op_type, " on ", dtype_name(x.dtype));
      }
      out[0].dtype = x.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_max_pool(t, a, x.data, out[0].data, ctx.stream),
                       node_.op_type.c_str());
  }

 private:
  const Node& node_;
  bool average_;
};

// vitrt.ChannelsLastPool: MaxPool / AveragePool of an NHWC tensor (ir/ops/channels_last_pool.h),
// geometry as the CPU kernel works it out.
class ChannelsLastPoolKernel final : public CudaKernel {
 public:
  ChannelsLastPoolKernel(const Node& node, ChannelsLastPoolAttributes attrs)
      : node_(node), attrs_(std::move(attrs)) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    VITRT_ASSIGN_OR_RETURN(const ChannelsLastPoolGeometry g,
                           channels_last_pool_geometry(node_, attrs_, x.shape));
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype) || x.dtype == DType::kFloat64) {
        return unsupported("ChannelsLastPool on ", dtype_name(x.dtype));
      }
      out[0].dtype = x.dtype;
      out[0].shape = g.out_shape();
      return Status::ok_status();
    }
    ChannelsLastPoolArgs a;
    a.b = g.batch;
    a.h = g.height;
    a.w = g.width;
    a.c = g.channels;
    a.oh = g.out_h;
    a.ow = g.out_w;
    a.kh = g.kh;
    a.kw = g.kw;
    a.sh = g.sh;
    a.sw = g.sw;
    a.dh = g.dh;
    a.dw = g.dw;
    a.ph = g.ph;
    a.pw = g.pw;
    a.ph_end = g.ph_end;
    a.pw_end = g.pw_end;
    a.average = g.average;
    a.count_include_pad = g.count_include_pad;
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_channels_last_pool(t, a, x.data, out[0].data, ctx.stream),
                       "ChannelsLastPool");
  }

 private:
  const Node& node_;
  ChannelsLastPoolAttributes attrs_;
};

Result<std::unique_ptr<CudaKernel>> make_slice(const CudaKernelInit& init) {
  if (init.opset < 10) return unsupported("Slice before opset 10 has no CUDA kernel");
  return std::unique_ptr<CudaKernel>(new SliceKernel());
}

Result<std::unique_ptr<CudaKernel>> make_expand(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new ExpandKernel());
}

Result<std::unique_ptr<CudaKernel>> make_tile(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new TileKernel());
}

Result<std::unique_ptr<CudaKernel>> make_pad(const CudaKernelInit& init) {
  if (init.opset < 11) return unsupported("Pad before opset 11 has no CUDA kernel");
  VITRT_ASSIGN_OR_RETURN(std::string mode, init.node.attrs.get_string("mode", "constant"));
  const std::pair<const char*, PadMode> modes[] = {{"constant", PadMode::kConstant},
                                                   {"reflect", PadMode::kReflect},
                                                   {"edge", PadMode::kEdge},
                                                   {"wrap", PadMode::kWrap}};
  for (const auto& [name, m] : modes) {
    if (mode == name) return std::unique_ptr<CudaKernel>(new PadKernel(m));
  }
  return invalid_model("attribute 'mode' is '", mode,
                       "'; expected constant, reflect, edge or wrap");
}

Result<std::unique_ptr<CudaKernel>> make_max_pool(const CudaKernelInit& init) {
  if (init.node.outputs.size() > 1 && init.node.outputs[1] != kNoValue) {
    return unsupported("the Indices output of MaxPool has no CUDA kernel");
  }
  return std::unique_ptr<CudaKernel>(new MaxPoolKernel(init.node, false));
}

Result<std::unique_ptr<CudaKernel>> make_average_pool(const CudaKernelInit& init) {
  return std::unique_ptr<CudaKernel>(new MaxPoolKernel(init.node, true));
}

Result<std::unique_ptr<CudaKernel>> make_channels_last_pool(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(ChannelsLastPoolAttributes attrs, parse_channels_last_pool(init.node));
  return std::unique_ptr<CudaKernel>(new ChannelsLastPoolKernel(init.node, std::move(attrs)));
}

Result<std::unique_ptr<CudaKernel>> make_gather(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", 0));
  return std::unique_ptr<CudaKernel>(new GatherKernel(axis));
}

Result<std::unique_ptr<CudaKernel>> make_gather_nd(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t batch_dims, init.node.attrs.get_int("batch_dims", 0));
  return std::unique_ptr<CudaKernel>(new GatherNdKernel(batch_dims));
}

template <bool kMin>
Result<std::unique_ptr<CudaKernel>> make_argmax(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t keepdims, init.node.attrs.get_int("keepdims", 1));
  VITRT_ASSIGN_OR_RETURN(int64_t last, init.node.attrs.get_int("select_last_index", 0));
  if (last != 0) {
    return unsupported(init.node.op_type, " with select_last_index=1 has no CUDA kernel");
  }
  return std::unique_ptr<CudaKernel>(new ArgMaxKernel(axis, keepdims != 0, kMin));
}

Result<std::unique_ptr<CudaKernel>> make_patchify(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> patch, init.node.attrs.require_ints("patch"));
  if (patch.size() != 2 || patch[0] < 1 || patch[1] < 1) {
    return invalid_model("attribute 'patch' must be two positive ints");
  }
  VITRT_ASSIGN_OR_RETURN(int64_t prefix, init.node.attrs.get_int("prefix_rows", 0));
  if (prefix < 0) return invalid_model("attribute 'prefix_rows' must be >= 0, got ", prefix);
  return std::unique_ptr<CudaKernel>(
      new PatchifyKernel(patch[0], patch[1], prefix, init.float_type));
}

// Dropout at inference is the identity; the mask output and training mode have no kernel.
template <bool kToSpace>
Result<std::unique_ptr<CudaKernel>> make_depth_space(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(DepthSpaceAttributes attrs, DepthSpaceAttributes::parse(init.node.attrs));
  return std::unique_ptr<CudaKernel>(new DepthSpaceKernel(kToSpace, attrs));
}

Result<std::unique_ptr<CudaKernel>> make_cumsum(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t exclusive, init.node.attrs.get_int("exclusive", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t reverse, init.node.attrs.get_int("reverse", 0));
  return std::unique_ptr<CudaKernel>(new CumSumKernel(exclusive != 0, reverse != 0));
}

Result<std::unique_ptr<CudaKernel>> make_dropout(const CudaKernelInit& init) {
  const Node& n = init.node;
  if (n.outputs.size() > 1 && n.outputs[1] != kNoValue) {
    return unsupported("Dropout's mask output has no CUDA kernel");
  }
  if (n.has_input(2)) {
    const Value& v = init.graph.values[n.inputs[2]];
    if (!v.is_constant() || v.constant.numel() != 1 || v.constant.element_as_double(0) != 0.0) {
      return unsupported("Dropout's training_mode must be a constant false on CUDA");
    }
  }
  return make_view<ViewKind::kIdentity>(init);
}

Result<std::unique_ptr<CudaKernel>> make_gather_elements(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", 0));
  return std::unique_ptr<CudaKernel>(new GatherElementsKernel(axis));
}

Result<std::unique_ptr<CudaKernel>> make_topk(const CudaKernelInit& init) {
  const Attributes& at = init.node.attrs;
  VITRT_ASSIGN_OR_RETURN(int64_t axis, at.get_int("axis", -1));
  VITRT_ASSIGN_OR_RETURN(int64_t largest, at.get_int("largest", 1));
  std::optional<int64_t> attr_k;
  if (!init.node.has_input(1)) {
    VITRT_ASSIGN_OR_RETURN(int64_t k, at.require_int("k"));
    attr_k = k;
  }
  // `sorted` = 0 allows any order; the sorted order is one of them.
  const bool indices_wanted = init.node.outputs.size() > 1 && init.node.outputs[1] != kNoValue;
  return std::unique_ptr<CudaKernel>(new TopKKernel(axis, largest != 0, attr_k, indices_wanted));
}

}  // namespace

void register_cuda_data_movement_kernels(CudaKernelRegistry& r) {
  r.add("", "GatherElements", make_gather_elements);
  r.add("", "TopK", make_topk);
  r.add("", "CumSum", make_cumsum);
  r.add("", "Reshape", make_view<ViewKind::kReshape>);
  r.add("", "Flatten", make_view<ViewKind::kFlatten>);
  r.add("", "Squeeze", make_view<ViewKind::kSqueeze>);
  r.add("", "Unsqueeze", make_view<ViewKind::kUnsqueeze>);
  r.add("", "Identity", make_view<ViewKind::kIdentity>);
  r.add("", "Dropout", make_dropout);
  r.add("", "Transpose", make_transpose);
  r.add("", "DepthToSpace", make_depth_space<true>);
  r.add("", "SpaceToDepth", make_depth_space<false>);
  r.add("", "Concat", make_concat);
  r.add("", "Split", make_split);
  r.add("", "Slice", make_slice);
  r.add("", "Expand", make_expand);
  r.add("", "Tile", make_tile);
  r.add("", "Pad", make_pad);
  r.add("", "MaxPool", make_max_pool);
  r.add("", "AveragePool", make_average_pool);
  r.add("vitrt", "ChannelsLastPool", make_channels_last_pool);
  r.add("", "Gather", make_gather);
  r.add("", "GatherND", make_gather_nd);
  r.add("", "ArgMax", make_argmax<false>);
  r.add("", "ArgMin", make_argmax<true>);
  r.add("vitrt", "Patchify", make_patchify);
}

}  // namespace vitrt::cuda
