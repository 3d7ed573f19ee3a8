// Softmax, LogSoftmax, the Reduce ops, GlobalAveragePool, GlobalMaxPool, LayerNormalization,
// vitrt.AddLayerNorm, Instance/Group/Lp/MeanVarianceNormalization and BatchNormalization
// (inference) on CUDA (fp32 accumulation).
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "cuda/cuda_kernel.h"
#include "ir/ops/op_attributes.h"

namespace vitrt::cuda {
namespace {

int64_t product(const std::vector<int64_t>& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// Softmax and LogSoftmax (log = true).
class SoftmaxKernel final : public CudaKernel {
 public:
  SoftmaxKernel(int64_t axis, bool flatten, bool log) : axis_(axis), flatten_(flatten), log_(log) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) return invalid_argument("input must be a float tensor");
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    // Before opset 13 Softmax flattens to [prod(:axis), prod(axis:)].
    const int64_t outer = product(x.shape, 0, axis);
    const int64_t r = flatten_ ? product(x.shape, axis, rank) : x.shape[axis];
    const int64_t inner = flatten_ ? 1 : product(x.shape, axis + 1, rank);
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_softmax(t, x.data, out[0].data, outer, r, inner, ctx.stream, log_),
                       log_ ? "LogSoftmax" : "Softmax");
  }

 private:
  int64_t axis_;
  bool flatten_;
  bool log_;
};

// The ONNX reduces over one run of adjacent axes ([outer, r, inner]).
// A contiguous tensor of `shape` as two strided views: its kept axes and its reduced ones (the
// element at kept(i) + reduced(j) is the j-th of output i's group).
std::pair<StridedView, StridedView> kept_and_reduced_views(const std::vector<int64_t>& shape,
                                                           const std::vector<bool>& reduced) {
  const std::vector<int64_t> strides = contiguous_strides(shape);
  StridedView kept, red;
  for (size_t i = 0; i < shape.size(); ++i) {
    StridedView& v = reduced[i] ? red : kept;
    v.dims[v.rank] = shape[i];
    v.strides[v.rank] = strides[i];
    ++v.rank;
  }
  return {kept, red};
}

class ReduceKernel final : public CudaKernel {
 public:
  ReduceKernel(const Node& node, ReduceOp op) : node_(node), op_(op) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    // Axes are an input from opset 18 (ReduceSum: 13), an attribute before.
    std::vector<int64_t> axes;
    if (in.size() > 1 && in[1] != nullptr) {
      VITRT_ASSIGN_OR_RETURN(axes, host_ints(in[1], "input 'axes'"));
    } else {
      VITRT_ASSIGN_OR_RETURN(axes, node_.attrs.get_ints("axes", {}));
    }
    VITRT_ASSIGN_OR_RETURN(int64_t keepdims, node_.attrs.get_int("keepdims", 1));
    VITRT_ASSIGN_OR_RETURN(int64_t noop, node_.attrs.get_int("noop_with_empty_axes", 0));
    if (axes.empty() && noop != 0) {
      return unsupported(node_.op_type, " with no axes as identity has no CUDA kernel");
    }
    std::vector<bool> reduced(rank, axes.empty());
    for (int64_t a : axes) {
      VITRT_ASSIGN_OR_RETURN(int ax, normalize_axis(a, rank));
      reduced[ax] = true;
    }
    // Reduced axes in one run [first, last] make the data [outer, r, inner] (the float kernels
    // of launch_reduce); other axis sets and integers take launch_reduce_strided.
    int first = rank, last = -1;
    for (int i = 0; i < rank; ++i) {
      if (reduced[i]) {
        first = std::min(first, i);
        last = i;
      }
    }
    bool one_run = true;
    for (int i = first; i <= last; ++i) one_run = one_run && reduced[i];
    if (!ctx.launch) {
      std::vector<int64_t> shape;
      for (int i = 0; i < rank; ++i) {
        if (!reduced[i]) {
          shape.push_back(x.shape[i]);
        } else if (keepdims != 0) {
          shape.push_back(1);
        }
      }
      out[0].dtype = x.dtype;
      out[0].shape = shape;
      if (x.dtype != DType::kInt64 && x.dtype != DType::kInt32 && !dtype_is_float(x.dtype)) {
        return unsupported(node_.op_type, " of ", dtype_name(x.dtype),
                           " has no CUDA kernel (float types, int32 and int64 have)");
      }
      if (op_ == ReduceOp::kLogSumExp && !dtype_is_float(x.dtype)) {
        return unsupported("ReduceLogSumExp of ", dtype_name(x.dtype),
                           " has no CUDA kernel (float types have)");
      }
      // The strided path's views hold at most kMaxRank axes.
      if ((!one_run || !dtype_is_float(x.dtype)) && rank > kMaxRank) {
        return unsupported(node_.op_type, " of rank ", rank,
                           " over axes that are not one run, or on integers, exceeds the CUDA "
                           "backend's ",
                           kMaxRank);
      }
      return Status::ok_status();
    }
    if (last < 0) {
      first = 0;
      last = rank - 1;
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    if (!one_run || !dtype_is_float(x.dtype)) {
      const auto [kept, red] = kept_and_reduced_views(x.shape, reduced);
      return cuda_status(launch_reduce_strided(op_, t, x.data, out[0].data, kept, red, ctx.stream),
                         node_.op_type.c_str());
    }
    const int64_t outer = product(x.shape, 0, first), r = product(x.shape, first, last + 1),
                  inner = product(x.shape, last + 1, rank);
    return cuda_status(
        op_ == ReduceOp::kMean
            ? launch_reduce_mean(t, x.data, out[0].data, outer, r, inner, ctx.stream)
            : launch_reduce(op_, t, x.data, out[0].data, outer, r, inner, ctx.stream),
        node_.op_type.c_str());
  }

 private:
  const Node& node_;
  ReduceOp op_;
};

// GlobalAveragePool / GlobalMaxPool: the mean (maximum) of each [n, c] plane, kept as
// [n, c, 1, ...].
class GlobalPoolKernel final : public CudaKernel {
 public:
  explicit GlobalPoolKernel(bool max) : max_(max) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const size_t rank = x.shape.size();
    if (rank < 3) return invalid_argument("input must be [N, C, spatial...], got rank ", rank);
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) return unsupported("global pooling of integers");
      std::vector<int64_t> shape(rank, 1);
      shape[0] = x.shape[0];
      shape[1] = x.shape[1];
      out[0].dtype = x.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    const int64_t planes = x.shape[0] * x.shape[1], spatial = product(x.shape, 2, rank);
    return cuda_status(
        max_ ? launch_reduce(ReduceOp::kMax, t, x.data, out[0].data, planes, spatial, 1, ctx.stream)
             : launch_reduce_mean(t, x.data, out[0].data, planes, spatial, 1, ctx.stream),
        max_ ? "GlobalMaxPool" : "GlobalAveragePool");
  }

 private:
  bool max_;
};

// Few long rows (a batch of one image has num_groups of them) run split over several blocks
// per row, with fp32 partial sums in scratch: an extra output, which the engine places in the
// arena for this step only.
void request_norm_partials(std::vector<DeviceTensor>& out, int64_t rows, int64_t len) {
  const int64_t chunks = group_norm_chunks(rows, len);
  if (chunks <= 1) return;
  out.resize(2);
  out[1].dtype = DType::kFloat32;
  out[1].shape = {rows * chunks * 2};
}

float* norm_partials(std::vector<DeviceTensor>& out) {
  return out.size() > 1 ? static_cast<float*>(out[1].data) : nullptr;
}

// InstanceNormalization: x [N, C, spatial...], scale and bias [C].
class InstanceNormKernel final : public CudaKernel {
 public:
  explicit InstanceNormKernel(float epsilon) : epsilon_(epsilon) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& scale = *in[1];
    const DeviceTensor& bias = *in[2];
    const size_t rank = x.shape.size();
    if (rank < 3) return invalid_argument("input must be [N, C, spatial...], got rank ", rank);
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype) || scale.dtype != x.dtype || bias.dtype != x.dtype) {
        return unsupported("InstanceNormalization needs float input, scale and bias of one type");
      }
      if (scale.numel() != x.shape[1] || bias.numel() != x.shape[1]) {
        return invalid_argument("scale and bias must hold ", x.shape[1], " elements (channels)");
      }
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      request_norm_partials(out, x.shape[0] * x.shape[1], product(x.shape, 2, rank));
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(
        launch_instance_norm(t, x.data, scale.data, bias.data, out[0].data, x.shape[0] * x.shape[1],
                             x.shape[1], product(x.shape, 2, rank), epsilon_, ctx.stream,
                             norm_partials(out)),
        "InstanceNormalization");
  }

 private:
  float epsilon_;
};

// GroupNormalization: x [N, C, spatial...]; scale and bias hold one value per channel (opset
// 21) or per group (opset 18), as the CPU kernel accepts either size.
class GroupNormKernel final : public CudaKernel {
 public:
  explicit GroupNormKernel(const GroupNormAttributes& a) : a_(a) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const size_t rank = x.shape.size();
    if (rank < 2) return invalid_argument("input X must be [N, C, ...], got rank ", rank);
    const int64_t c = x.shape[1];
    if (c % a_.groups != 0) {
      return invalid_argument("channel count ", c, " is not divisible by attribute 'num_groups' ",
                              a_.groups);
    }
    const DeviceTensor& scale = *in[1];
    const DeviceTensor& bias = *in[2];
    // A size that is both (groups == channels) reads the same values either way.
    const bool per_group = scale.numel() != c;
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype) || scale.dtype != x.dtype || bias.dtype != x.dtype) {
        return unsupported("GroupNormalization needs float input, scale and bias of one type");
      }
      for (const DeviceTensor* p : {&scale, &bias}) {
        if (p->numel() != (per_group ? a_.groups : c)) {
          return invalid_argument("input ", p == &scale ? "scale" : "bias", " has ", p->numel(),
                                  " elements; expected ", c, " (channels) or ", a_.groups,
                                  " (groups), the same for scale and bias");
        }
      }
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      request_norm_partials(out, x.shape[0] * a_.groups, c / a_.groups * product(x.shape, 2, rank));
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_group_norm(t, x.data, scale.data, bias.data, out[0].data, x.shape[0],
                                         c, a_.groups, product(x.shape, 2, rank), per_group,
                                         a_.epsilon, ctx.stream, norm_partials(out)),
                       "GroupNormalization");
  }

 private:
  GroupNormAttributes a_;
};

// LpNormalization: x / ||x||_p along one axis.
class LpNormKernel final : public CudaKernel {
 public:
  explicit LpNormKernel(const LpNormAttributes& a) : a_(a) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(a_.axis, rank));
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return unsupported("LpNormalization of ", dtype_name(x.dtype), " has no CUDA kernel");
      }
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(
        launch_lp_norm(t, x.data, out[0].data, product(x.shape, 0, axis), x.shape[axis],
                       product(x.shape, axis + 1, rank), static_cast<int>(a_.p), ctx.stream),
        "LpNormalization");
  }

 private:
  LpNormAttributes a_;
};

// MeanVarianceNormalization over any set of axes (default N, H, W: per channel), walking the
// kept and the normalized axes as two strided views of the contiguous input.
class MvnKernel final : public CudaKernel {
 public:
  explicit MvnKernel(std::vector<int64_t> axes) : axes_(std::move(axes)) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const int rank = static_cast<int>(x.shape.size());
    if (rank > kMaxRank)
      return unsupported("rank ", rank, " exceeds the CUDA backend's ", kMaxRank);
    std::vector<bool> reduced(rank, false);
    for (int64_t a : axes_) {
      VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(a, rank));
      reduced[axis] = true;
    }
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return unsupported("MeanVarianceNormalization of ", dtype_name(x.dtype),
                           " has no CUDA kernel");
      }
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    const auto [kept, red] = kept_and_reduced_views(x.shape, reduced);
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_mvn(t, x.data, out[0].data, kept, red, ctx.stream),
                       "MeanVarianceNormalization");
  }

 private:
  std::vector<int64_t> axes_;
};

// BatchNormalization in inference form: x [N, C, spatial...], scale, B, mean and var [C].
class BatchNormKernel final : public CudaKernel {
 public:
  explicit BatchNormKernel(float epsilon) : epsilon_(epsilon) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const size_t rank = x.shape.size();
    if (rank < 2) return invalid_argument("input must be [N, C, ...], got rank ", rank);
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return unsupported("BatchNormalization of ", dtype_name(x.dtype), " has no CUDA kernel");
      }
      const char* names[] = {"scale", "B", "input_mean", "input_var"};
      for (int i = 1; i <= 4; ++i) {
        if (static_cast<int>(in.size()) <= i || in[i] == nullptr) {
          return invalid_model("input ", names[i - 1], " is missing");
        }
        if (in[i]->dtype != x.dtype || in[i]->numel() != x.shape[1]) {
          return invalid_argument("input ", names[i - 1], " must hold ", x.shape[1], " ",
                                  dtype_name(x.dtype), " elements (channels), got ",
                                  dtype_name(in[i]->dtype), " ", shape_to_string(in[i]->shape));
        }
      }
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_batch_norm(t, x.data, in[1]->data, in[2]->data, in[3]->data,
                                         in[4]->data, out[0].data, x.shape[0], x.shape[1],
                                         product(x.shape, 2, rank), epsilon_, ctx.stream),
                       "BatchNormalization");
  }

 private:
  float epsilon_;
};

// The largest |value| of a host float32 tensor (infinity for another type or a NaN in it).
float max_abs(const Tensor& t) {
  if (t.dtype() != DType::kFloat32) return std::numeric_limits<float>::infinity();
  float m = 0.0f;
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float v = std::fabs(p[i]);
    if (!(v <= m)) m = std::isnan(v) ? std::numeric_limits<float>::infinity() : v;
  }
  return m;
}

// LayerNormalization (residual = false), vitrt.AddLayerNorm (residual = true; codes: its
// output_scale / output_format / output_qmin, y written as E4M3 or int8 codes) and
// RMSNormalization (rms = true: no mean taken off, no bias).
class LayerNormKernel final : public CudaKernel {
 public:
  // zero_addend: AddLayerNorm's b is a constant of zeros and nothing shows the sum (no sum
  // output, no fake quantization of b): the kernel leaves b out (fuse_quant_producers turns a
  // LayerNorm writing codes into such an AddLayerNorm).
  // constant_gate: ln_half2_codes_ok's answer where gamma (and beta, if any) are plan constants,
  // found once when the kernel is made; without it each launch asks on the host copies it gets.
  LayerNormKernel(int64_t axis, float epsilon, bool residual, OutputCodes codes = OutputCodes{},
                  bool rms = false, NormQuant quant = NormQuant{}, bool zero_addend = false,
                  std::optional<bool> constant_gate = std::nullopt)
      : axis_(axis),
        epsilon_(epsilon),
        residual_(residual),
        codes_(codes),
        rms_(rms),
        quant_(quant),
        zero_addend_(zero_addend),
        constant_gate_(constant_gate) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& a = *in[0];
    const DeviceTensor* b = residual_ && !zero_addend_ ? in[1] : nullptr;
    const DeviceTensor& gamma = *in[residual_ ? 2 : 1];
    const int beta_index = residual_ ? 3 : 2;
    const DeviceTensor* beta = static_cast<int>(in.size()) > beta_index ? in[beta_index] : nullptr;
    const int rank = static_cast<int>(a.shape.size());
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(axis_, rank));
    const int64_t cols = product(a.shape, axis, rank);
    const int64_t rows = product(a.shape, 0, axis);
    int64_t b_rows = rows;
    if (b != nullptr) {
      // b is a or a trailing part of it (a position table broadcast over the batch).
      std::vector<int64_t> bs = b->shape;
      while (!bs.empty() && bs.front() == 1 && bs.size() > 1) bs.erase(bs.begin());
      if (bs.size() > a.shape.size() ||
          !std::equal(bs.begin(), bs.end(), a.shape.end() - bs.size()) ||
          shape_numel(bs) % std::max<int64_t>(cols, 1) != 0) {
        return unsupported("input b ", shape_to_string(b->shape), " must be a trailing part of a ",
                           shape_to_string(a.shape));
      }
      b_rows = shape_numel(bs) / std::max<int64_t>(cols, 1);
    }
    if (!ctx.launch) {
      if (gamma.numel() != cols || (beta != nullptr && beta->numel() != cols)) {
        return invalid_argument("scale and bias must hold ", cols, " elements");
      }
      for (size_t i = 0; i < out.size(); ++i) {
        out[i].dtype = i != 0 || !codes_.any() ? a.dtype
                       : codes_.int8           ? DType::kInt8
                                               : DType::kUInt8;
        out[i].shape = a.shape;
      }
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(a.dtype));
    void* sum = out.size() > 1 ? out[1].data : nullptr;
    bool half2_codes = false;
    if (t == Elt::kF16 && codes_.any() && !codes_.int8 && !rms_ && gamma.host != nullptr &&
        (beta == nullptr || beta->host != nullptr)) {
      half2_codes =
          constant_gate_.has_value()
              ? *constant_gate_
              : ln_half2_codes_ok(cols, max_abs(*gamma.host),
                                  beta != nullptr ? max_abs(*beta->host) : 0.0f, codes_.scale);
    }
    return cuda_status(
        launch_layer_norm(t, a.data, b != nullptr ? b->data : nullptr, b_rows, gamma.data,
                          beta != nullptr ? beta->data : nullptr, out[0].data, sum, rows, cols,
                          epsilon_, ctx.stream, codes_.scale, rms_, quant_, codes_.int8,
                          codes_.qmin, half2_codes),
        rms_ ? "RMSNorm" : "LayerNorm");
  }

 private:
  int64_t axis_;
  float epsilon_;
  bool residual_;
  OutputCodes codes_;
  bool rms_;
  NormQuant quant_;
  bool zero_addend_;
  std::optional<bool> constant_gate_;
};

// Whether input i is a constant whose every element is zero.
bool constant_zeros(const CudaKernelInit& init, int i) {
  const Tensor* t = constant_input(init, i);
  if (t == nullptr) return false;
  for (int64_t k = 0; k < t->numel(); ++k) {
    if (t->element_as_double(k) != 0.0) return false;
  }
  return true;
}

template <bool kLog>
Result<std::unique_ptr<CudaKernel>> make_softmax(const CudaKernelInit& init) {
  const bool old = init.opset < 13;
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", old ? 1 : -1));
  return std::unique_ptr<CudaKernel>(new SoftmaxKernel(axis, old, kLog));
}

template <ReduceOp kOp>
Result<std::unique_ptr<CudaKernel>> make_reduce(const CudaKernelInit& init) {
  return std::unique_ptr<CudaKernel>(new ReduceKernel(init.node, kOp));
}

Result<std::unique_ptr<CudaKernel>> make_global_average_pool(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new GlobalPoolKernel(false));
}

Result<std::unique_ptr<CudaKernel>> make_global_max_pool(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new GlobalPoolKernel(true));
}

Result<std::unique_ptr<CudaKernel>> make_instance_norm(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(float eps, init.node.attrs.get_float("epsilon", 1e-5f));
  return std::unique_ptr<CudaKernel>(new InstanceNormKernel(eps));
}

Result<std::unique_ptr<CudaKernel>> make_group_norm(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(GroupNormAttributes a, GroupNormAttributes::parse(init.node.attrs));
  return std::unique_ptr<CudaKernel>(new GroupNormKernel(a));
}

Result<std::unique_ptr<CudaKernel>> make_lp_norm(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(LpNormAttributes a, LpNormAttributes::parse(init.node.attrs));
  return std::unique_ptr<CudaKernel>(new LpNormKernel(a));
}

Result<std::unique_ptr<CudaKernel>> make_mvn(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, init.node.attrs.get_ints("axes", {0, 2, 3}));
  return std::unique_ptr<CudaKernel>(new MvnKernel(std::move(axes)));
}

Result<std::unique_ptr<CudaKernel>> make_batch_norm(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(float eps, init.node.attrs.get_float("epsilon", 1e-5f));
  VITRT_ASSIGN_OR_RETURN(int64_t training, init.node.attrs.get_int("training_mode", 0));
  bool has_statistics = false;
  for (size_t i = 1; i < init.node.outputs.size(); ++i) {
    has_statistics = has_statistics || init.node.outputs[i] != kNoValue;
  }
  // The CPU kernel's rule: training_mode from opset 14, statistics outputs before.
  if (init.opset >= 14 ? training != 0 : has_statistics) {
    return unsupported(
        "BatchNormalization in training mode (batch statistics) has no CUDA "
        "kernel; export the model in eval mode");
  }
  return std::unique_ptr<CudaKernel>(new BatchNormKernel(eps));
}

Result<std::unique_ptr<CudaKernel>> make_layer_norm(const CudaKernelInit& init) {
  for (size_t i = 1; i < init.node.outputs.size(); ++i) {
    if (init.node.outputs[i] != kNoValue) {
      return unsupported("LayerNormalization's Mean/InvStdDev outputs have no CUDA kernel");
    }
  }
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", -1));
  VITRT_ASSIGN_OR_RETURN(float eps, init.node.attrs.get_float("epsilon", 1e-5f));
  return std::unique_ptr<CudaKernel>(new LayerNormKernel(axis, eps, false));
}

Result<std::unique_ptr<CudaKernel>> make_rms_norm(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", -1));
  VITRT_ASSIGN_OR_RETURN(float eps, init.node.attrs.get_float("epsilon", 1e-5f));
  return std::unique_ptr<CudaKernel>(new LayerNormKernel(axis, eps, false, OutputCodes{}, true));
}

Result<std::unique_ptr<CudaKernel>> make_add_layer_norm(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(float eps, init.node.attrs.get_float("epsilon", 1e-5f));
  Result<OutputCodes> codes = OutputCodes::parse(init.node.attrs);
  if (!codes.ok()) return invalid_model("AddLayerNorm: ", codes.status().message());
  // quant_a, quant_b, quant_sum: a quantized model's Q/DQ pairs on the residual stream.
  VITRT_ASSIGN_OR_RETURN(auto parsed, parse_add_layer_norm_quant(init.node.attrs));
  const auto& [qa, qb, qs] = parsed;
  NormQuant quant;
  quant.has_a = qa.has_value();
  quant.has_b = qb.has_value();
  quant.has_sum = qs.has_value();
  quant.a = qa.value_or(FakeQuant{});
  quant.b = qb.value_or(FakeQuant{});
  quant.sum = qs.value_or(FakeQuant{});
  const Node& n = init.node;
  const bool sum_out = n.outputs.size() > 1 && n.outputs[1] != kNoValue;
  const bool zero_addend = !sum_out && !quant.has_b && !quant.has_sum && constant_zeros(init, 1);
  // The fp16-pair gate of codes written from constant gamma / beta (their numel is the row
  // length, which the shape pass checks before any launch).
  std::optional<bool> constant_gate;
  const Tensor* gamma = constant_input(init, 2);
  const Tensor* beta = constant_input(init, 3);
  if (codes->any() && !codes->int8 && gamma != nullptr && (beta != nullptr || !n.has_input(3))) {
    constant_gate = ln_half2_codes_ok(gamma->numel(), max_abs(*gamma),
                                      beta != nullptr ? max_abs(*beta) : 0.0f, codes->scale);
  }
  return std::unique_ptr<CudaKernel>(
      new LayerNormKernel(-1, eps, true, *codes, false, quant, zero_addend, constant_gate));
}

}  // namespace

void register_cuda_normalization_kernels(CudaKernelRegistry& r) {
  r.add("", "Softmax", make_softmax<false>);
  r.add("", "LogSoftmax", make_softmax<true>);
  r.add("", "ReduceMean", make_reduce<ReduceOp::kMean>);
  r.add("", "ReduceSum", make_reduce<ReduceOp::kSum>);
  r.add("", "ReduceMax", make_reduce<ReduceOp::kMax>);
  r.add("", "ReduceMin", make_reduce<ReduceOp::kMin>);
  r.add("", "ReduceProd", make_reduce<ReduceOp::kProd>);
  r.add("", "ReduceL1", make_reduce<ReduceOp::kL1>);
  r.add("", "ReduceL2", make_reduce<ReduceOp::kL2>);
  r.add("", "ReduceLogSum", make_reduce<ReduceOp::kLogSum>);
  r.add("", "ReduceLogSumExp", make_reduce<ReduceOp::kLogSumExp>);
  r.add("", "ReduceSumSquare", make_reduce<ReduceOp::kSumSquare>);
  r.add("", "BatchNormalization", make_batch_norm);
  r.add("", "GlobalAveragePool", make_global_average_pool);
  r.add("", "GlobalMaxPool", make_global_max_pool);
  r.add("", "InstanceNormalization", make_instance_norm);
  r.add("", "GroupNormalization", make_group_norm);
  r.add("", "LpNormalization", make_lp_norm);
  r.add("", "MeanVarianceNormalization", make_mvn);
  r.add("", "LayerNormalization", make_layer_norm);
  r.add("", "RMSNormalization", make_rms_norm);
  r.add("vitrt", "AddLayerNorm", make_add_layer_norm);
}

}  // namespace vitrt::cuda
