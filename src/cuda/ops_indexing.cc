// Trilu, EyeLike, OneHot, ScatterElements / Scatter / ScatterND and Compress (its condition on
// the host) on CUDA, and the refusal of the ops whose output shape depends on values computed on
// the GPU (NonZero, a Compress condition, ConstantOfShape / Range fed from the GPU), which the
// engine cannot plan before it runs.
#include <optional>
#include <string>
#include <utility>

#include "cuda/cuda_kernel.h"
#include "ir/ops/op_attributes.h"

namespace vitrt::cuda {
namespace {

// A scalar integer input that must be known on the host (Trilu's k, OneHot's depth).
Result<int64_t> host_scalar(const DeviceTensor* t, const char* what) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> v, host_ints(t, what));
  if (v.size() != 1) return invalid_argument(what, " must be a scalar, got ", v.size(), " values");
  return v[0];
}

class TriluKernel final : public CudaKernel {
 public:
  explicit TriluKernel(bool upper) : upper_(upper) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const size_t rank = x.shape.size();
    if (rank < 2) return invalid_argument("input must have rank >= 2, got ", rank);
    int64_t k = 0;
    if (in.size() > 1 && in[1] != nullptr) {
      VITRT_ASSIGN_OR_RETURN(k, host_scalar(in[1], "input 'k'"));
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    return cuda_status(
        launch_trilu(static_cast<int>(dtype_size(x.dtype)), x.data, out[0].data, x.numel(),
                     x.shape[rank - 2], x.shape[rank - 1], upper_, k, ctx.stream),
        "Trilu");
  }

 private:
  bool upper_;
};

// EyeLike: the input gives the shape only.
class EyeLikeKernel final : public CudaKernel {
 public:
  EyeLikeKernel(DType dtype, int64_t k) : dtype_(dtype), k_(k) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    if (x.shape.size() != 2) {
      return invalid_argument("input must have rank 2, got ", shape_to_string(x.shape));
    }
    if (!ctx.launch) {
      // Float outputs are stored in the plan's activation type, as every float value.
      DType t = dtype_ == DType::kUndefined ? x.dtype : dtype_;
      if (dtype_is_float(t)) t = ctx.float_type;
      VITRT_RETURN_IF_ERROR(elt_of(t).status());
      out[0].dtype = t;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(out[0].dtype));
    return cuda_status(launch_eye_like(t, out[0].data, x.shape[0], x.shape[1], k_, ctx.stream),
                       "EyeLike");
  }

 private:
  DType dtype_;  // kUndefined: the input's
  int64_t k_;
};

// OneHot: depth must be known on the host (it is the output's shape); indices and values may
// be on the GPU.
class OneHotKernel final : public CudaKernel {
 public:
  explicit OneHotKernel(int64_t axis) : axis_(axis) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& idx = *in[0];
    const DeviceTensor& values = *in[2];
    VITRT_ASSIGN_OR_RETURN(int64_t depth, host_scalar_any(in[1]));
    if (depth < 1) return invalid_argument("depth ", depth, " < 1");
    const int rank = static_cast<int>(idx.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank + 1));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < rank; ++i) (i < axis ? outer : inner) *= idx.shape[i];
    if (!ctx.launch) {
      if (values.numel() != 2) {
        return invalid_argument("values must hold [off, on], got ", shape_to_string(values.shape));
      }
      VITRT_RETURN_IF_ERROR(elt_of(values.dtype).status());
      VITRT_ASSIGN_OR_RETURN(Elt it, elt_of(idx.dtype));
      if (it == Elt::kBool) return unsupported("OneHot indices of type bool");
      out[0].dtype = values.dtype;
      out[0].shape = idx.shape;
      out[0].shape.insert(out[0].shape.begin() + axis, depth);
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt it, elt_of(idx.dtype));
    VITRT_ASSIGN_OR_RETURN(Elt vt, elt_of(values.dtype));
    return cuda_status(
        launch_one_hot(it, vt, idx.data, values.data, out[0].data, outer, depth, inner, ctx.stream),
        "OneHot");
  }

 private:
  // depth may be any numeric type (float depths truncate, as the CPU kernel reads them).
  static Result<int64_t> host_scalar_any(const DeviceTensor* t) {
    if (t == nullptr) return invalid_argument("input 'depth' is missing");
    if (t->host == nullptr) {
      return unsupported(
          "input 'depth' must be a constant or computed from shapes (it is computed on the GPU "
          "here): it is the output's shape");
    }
    if (t->host->numel() != 1) {
      return invalid_argument("depth must be a scalar, got ", t->host->describe());
    }
    return static_cast<int64_t>(t->host->element_as_double(0));
  }

  int64_t axis_;
};

// ScatterElements (nd = false, also opset 9's Scatter) and ScatterND: a copy of data, then the
// updates applied in the CPU kernel's order.
class ScatterKernel final : public CudaKernel {
 public:
  ScatterKernel(bool nd, ScatterReduction r, int64_t axis) : nd_(nd), r_(r), axis_(axis) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& data = *in[0];
    const DeviceTensor& idx = *in[1];
    const DeviceTensor& upd = *in[2];
    const int rank = static_cast<int>(data.shape.size());
    if (rank > kMaxRank)
      return unsupported("rank ", rank, " exceeds the CUDA backend's ", kMaxRank);
    if (!ctx.launch) {
      if (upd.dtype != data.dtype) {
        return invalid_argument("updates (", dtype_name(upd.dtype),
                                ") must have the dtype of data (", dtype_name(data.dtype), ")");
      }
      VITRT_RETURN_IF_ERROR(elt_of(data.dtype).status());
      if (r_ != ScatterReduction::kNone && data.dtype == DType::kBool) {
        return unsupported("a scatter reduction on bool");
      }
      if (idx.dtype != DType::kInt64 && (nd_ || idx.dtype != DType::kInt32)) {
        return invalid_argument("indices must be int64", nd_ ? "" : " or int32", ", got ",
                                dtype_name(idx.dtype));
      }
      VITRT_RETURN_IF_ERROR(nd_ ? check_nd(data, idx, upd) : check_elements(data, idx, upd));
      out[0].dtype = data.dtype;
      out[0].shape = data.shape;
      return Status::ok_status();
    }
    const int eb = static_cast<int>(dtype_size(data.dtype));
    const StridedView v = contiguous_view(data.shape);
    VITRT_CUDA_RETURN_IF_ERROR(launch_copy_strided(eb, data.data, v, out[0].data, v, ctx.stream),
                               "copying data");
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(data.dtype));
    const std::vector<int64_t> strides = contiguous_strides(data.shape);
    if (nd_) {
      const int64_t k = idx.shape.back();
      ScatterNdArgs a;
      a.k = k;
      a.n_tuples = idx.numel() / k;
      for (int d = 0; d < rank; ++d) {
        if (d < k) {
          a.dims[d] = data.shape[d];
          a.strides[d] = strides[d];
        } else {
          a.slice *= data.shape[d];
        }
      }
      return cuda_status(launch_scatter_nd(t, r_, out[0].data, idx.data, upd.data, a,
                                           IndexError{ctx.index_error, ctx.node_tag}, ctx.stream),
                         "ScatterND");
    }
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    ScatterElementsArgs a;
    a.rank = rank;
    a.axis = axis;
    for (int d = 0; d < rank; ++d) {
      a.idx_dims[d] = idx.shape[d];
      a.out_dims[d] = data.shape[d];
      a.out_strides[d] = strides[d];
    }
    return cuda_status(
        launch_scatter_elements(t, r_, out[0].data, idx.data, idx.dtype == DType::kInt64, upd.data,
                                a, IndexError{ctx.index_error, ctx.node_tag}, ctx.stream),
        "ScatterElements");
  }
  // Indices are checked on the device, constant ones too (scatters are rare in these models).
  bool checks_indices() const override { return true; }

 private:
  Status check_elements(const DeviceTensor& data, const DeviceTensor& idx,
                        const DeviceTensor& upd) const {
    const int rank = static_cast<int>(data.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    if (idx.shape != upd.shape || static_cast<int>(idx.shape.size()) != rank) {
      return invalid_argument(
          "indices ", shape_to_string(idx.shape), " and updates ", shape_to_string(upd.shape),
          " must have one shape of the rank of data ", shape_to_string(data.shape));
    }
    for (int d = 0; d < rank; ++d) {
      if (d != axis && idx.shape[d] > data.shape[d]) {
        return invalid_argument("indices ", shape_to_string(idx.shape), " exceed data ",
                                shape_to_string(data.shape), " in dim ", d);
      }
    }
    return Status::ok_status();
  }

  static Status check_nd(const DeviceTensor& data, const DeviceTensor& idx,
                         const DeviceTensor& upd) {
    const int rank = static_cast<int>(data.shape.size());
    if (idx.shape.empty()) return invalid_argument("indices must have rank >= 1");
    const int64_t k = idx.shape.back();
    if (k < 1 || k > rank) {
      return invalid_argument("indices' last dim ", k, " must be in [1, ", rank, "]");
    }
    std::vector<int64_t> expected(idx.shape.begin(), idx.shape.end() - 1);
    for (int d = static_cast<int>(k); d < rank; ++d) expected.push_back(data.shape[d]);
    if (upd.shape != expected) {
      return invalid_argument("updates are ", shape_to_string(upd.shape), "; expected shape ",
                              shape_to_string(expected));
    }
    return Status::ok_status();
  }

  bool nd_;
  ScatterReduction r_;
  int64_t axis_;
};

Result<std::unique_ptr<CudaKernel>> make_trilu(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t upper, init.node.attrs.get_int("upper", 1));
  return std::unique_ptr<CudaKernel>(new TriluKernel(upper != 0));
}

Result<std::unique_ptr<CudaKernel>> make_eye_like(const CudaKernelInit& init) {
  DType dtype = DType::kUndefined;
  if (init.node.attrs.has("dtype")) {
    VITRT_ASSIGN_OR_RETURN(int64_t t, init.node.attrs.get_int("dtype", 0));
    dtype = dtype_from_onnx(static_cast<int32_t>(t));
    if (!dtype_is_storable(dtype)) return unsupported("attribute 'dtype' ", t);
    VITRT_RETURN_IF_ERROR(elt_of(dtype == DType::kFloat64 ? DType::kUndefined : dtype).status());
  }
  VITRT_ASSIGN_OR_RETURN(int64_t k, init.node.attrs.get_int("k", 0));
  return std::unique_ptr<CudaKernel>(new EyeLikeKernel(dtype, k));
}

Result<std::unique_ptr<CudaKernel>> make_one_hot(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", -1));
  return std::unique_ptr<CudaKernel>(new OneHotKernel(axis));
}

template <bool kNd>
Result<std::unique_ptr<CudaKernel>> make_scatter(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(vitrt::ScatterReduction r, parse_scatter_reduction(init.node.attrs));
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", 0));
  return std::unique_ptr<CudaKernel>(
      new ScatterKernel(kNd, static_cast<ScatterReduction>(static_cast<int>(r)), axis));
}

// Why an op whose output shape depends on `inputs`' values cannot run on values the GPU
// computes, and what to do.
Status data_dependent_refusal(const std::string& op, const std::string& inputs) {
  return unsupported(
      op, "'s output shape depends on the values of its input(s) ", inputs,
      ", not all known on the host (computed on the GPU); the CUDA engine plans every shape "
      "before it runs, so this op runs only on values computable at build time (from constants "
      "and input shapes), on the host. Make those values constant in the export (or fold them "
      "with the optimizer), or run the model on the CPU backend");
}

// The node is placed on the GPU because an input is computed there.
Result<std::unique_ptr<CudaKernel>> refuse_data_dependent_shape(const CudaKernelInit& init) {
  std::string inputs;
  for (ValueId in : init.node.inputs) {
    if (in == kNoValue || init.graph.values[in].is_constant()) continue;
    inputs += (inputs.empty() ? "'" : ", '") + init.graph.values[in].name + "'";
  }
  return data_dependent_refusal(init.node.op_type, inputs);
}

// Compress with its condition known on the host (a constant, or computed from shapes) and the
// data on the GPU: the kept positions are fixed when the shapes are planned, so the selection
// is one strided copy per run of consecutive kept positions. A condition computed on the GPU is
// refused (the output's length would depend on it).
class CompressKernel final : public CudaKernel {
 public:
  CompressKernel(std::optional<int64_t> axis, std::string condition_name)
      : axis_(axis), condition_name_(std::move(condition_name)) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& data = *in[0];
    const DeviceTensor& cond = *in[1];
    if (cond.host == nullptr)
      return data_dependent_refusal("Compress", "'" + condition_name_ + "'");
    if (cond.host->dtype() != DType::kBool || cond.host->rank() != 1) {
      return invalid_argument("condition must be a 1-D bool tensor, got ", cond.host->describe());
    }
    // Without an axis the data is flattened.
    std::vector<int64_t> shape = data.shape;
    int axis = 0;
    if (axis_) {
      VITRT_ASSIGN_OR_RETURN(axis, normalize_axis(*axis_, static_cast<int>(shape.size())));
    } else {
      shape = {data.numel()};
    }
    const int64_t dim = shape[axis];
    if (cond.host->numel() > dim) {
      return invalid_argument("condition has ", cond.host->numel(), " elements but axis ", axis,
                              " has ", dim);
    }
    const uint8_t* c = cond.host->data<uint8_t>();
    int64_t kept = 0;
    for (int64_t i = 0; i < cond.host->numel(); ++i) kept += c[i] != 0 ? 1 : 0;
    if (!ctx.launch) {
      out[0].dtype = data.dtype;
      out[0].shape = shape;
      out[0].shape[axis] = kept;
      return Status::ok_status();
    }
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i) outer *= shape[i];
    for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
    const int eb = static_cast<int>(dtype_size(data.dtype));
    int64_t written = 0;
    for (int64_t i = 0; i < cond.host->numel();) {
      if (c[i] == 0) {
        ++i;
        continue;
      }
      int64_t end = i;
      while (end < cond.host->numel() && c[end] != 0) ++end;
      StridedView src, dst;
      src.rank = dst.rank = 3;
      src.dims[0] = dst.dims[0] = outer;
      src.dims[1] = dst.dims[1] = end - i;
      src.dims[2] = dst.dims[2] = inner;
      src.strides[0] = dim * inner;
      dst.strides[0] = kept * inner;
      src.strides[1] = dst.strides[1] = inner;
      src.strides[2] = dst.strides[2] = 1;
      src.base = i * inner;
      dst.base = written * inner;
      VITRT_CUDA_RETURN_IF_ERROR(
          launch_copy_strided(eb, data.data, src, out[0].data, dst, ctx.stream), "Compress");
      written += end - i;
      i = end;
    }
    return Status::ok_status();
  }

 private:
  std::optional<int64_t> axis_;
  std::string condition_name_;
};

Result<std::unique_ptr<CudaKernel>> make_compress(const CudaKernelInit& init) {
  std::optional<int64_t> axis;
  if (init.node.attrs.has("axis")) {
    VITRT_ASSIGN_OR_RETURN(axis, init.node.attrs.require_int("axis"));
  }
  if (!init.node.has_input(1)) return invalid_model("input 'condition' is missing");
  return std::unique_ptr<CudaKernel>(
      new CompressKernel(axis, init.graph.values[init.node.inputs[1]].name));
}

}  // namespace

void register_cuda_indexing_kernels(CudaKernelRegistry& r) {
  r.add("", "Trilu", make_trilu);
  r.add("", "EyeLike", make_eye_like);
  r.add("", "OneHot", make_one_hot);
  r.add("", "ScatterElements", make_scatter<false>);
  r.add("", "Scatter", make_scatter<false>);
  r.add("", "ScatterND", make_scatter<true>);
  r.add("", "Compress", make_compress);
  for (const char* op : {"NonZero", "ConstantOfShape", "Range"}) {
    r.add("", op, refuse_data_dependent_shape);
  }
}

}  // namespace vitrt::cuda
