// CPU kernels of the normalization op family: Softmax, LogSoftmax, LayerNormalization,
// RMSNormalization, BatchNormalization (inference), InstanceNormalization, GroupNormalization,
// LpNormalization and MeanVarianceNormalization.
//
// float32 and float64 run natively; float16 and bfloat16 are computed in float32. The hot
// paths are rows of a contiguous last axis (Softmax over attention scores, LayerNorm over
// [tokens, 768]): each row is read once for its statistic(s) while it sits in L1, with several
// independent accumulators so the loops vectorise, and rows are spread over the threads.
// Mean and variance use two passes over the row (mean first, then squared deviations), which
// is as cheap as the one-pass formula for a cached row and does not cancel catastrophically.
// float32 LayerNormalization runs the AVX2 row kernel it shares with vitrt.AddLayerNorm
// (layer_norm_rows.h) and skips the mean and inverse-std outputs nobody reads.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "cpu/exp_approx.h"
#include "cpu/float_widen.h"
#include "cpu/layer_norm_rows.h"
#include "ir/ops/op_attributes.h"

namespace vitrt {

namespace {

template <typename T>
struct Tag {
  using type = T;
};

template <typename Fn>
Status visit_float_type(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32:
      return fn(Tag<float>{});
    case DType::kFloat64:
      return fn(Tag<double>{});
    default:
      return unsupported("input dtype ", dtype_name(dtype), " is not supported (float types only)");
  }
}

// The tensor in a natively computed type: half types widened to float32.
Tensor compute_copy(const Tensor& t) {
  return dtype_is_half(t.dtype()) ? widen_to_float32(t) : t;
}

// `y` (float32 or float64) converted to `dtype` for output.
Tensor to_output_dtype(const Tensor& y, DType dtype) {
  if (y.dtype() == dtype) return y;
  if (dtype_is_half(dtype)) return narrow_from_float32(y, dtype);
  Tensor out = Tensor::empty(dtype, y.shape());
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (dtype == DType::kFloat32) out.data<float>()[i] = static_cast<float>(y.element_as_double(i));
    if (dtype == DType::kFloat64) out.data<double>()[i] = y.element_as_double(i);
  }
  return out;
}

// A small parameter tensor (scale, bias, mean, ...) as a vector of T.
template <typename T>
std::vector<T> param_values(const Tensor& t) {
  std::vector<T> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<T>(t.element_as_double(i));
  return out;
}

// y[i] = exp(y[i]) for i < n.
template <typename T>
inline void exp_inplace(T* y, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    exp_approx_inplace(y, n);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = std::exp(y[i]);
  }
}

constexpr int kLanes = 8;
constexpr int64_t kColBlock = 256;

// sum over i < n of f(i), with kLanes independent partial sums.
template <typename T, typename F>
inline T lane_sum(int64_t n, F&& f) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += f(i + j);
  }
  for (; i < n; ++i) acc[0] += f(i);
  T s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

template <typename T>
inline T row_max(const T* x, int64_t n) {
  T acc[kLanes];
  std::fill(acc, acc + kLanes, -std::numeric_limits<T>::infinity());
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  }
  for (; i < n; ++i) acc[0] = x[i] > acc[0] ? x[i] : acc[0];
  T m = acc[0];
  for (int j = 1; j < kLanes; ++j) m = acc[j] > m ? acc[j] : m;
  return m;
}

// Mean and 1 / sqrt(variance + eps) of a contiguous row.
template <typename T>
struct RowStats {
  T mean;
  T inv_std;
};

template <typename T>
inline RowStats<T> row_stats(const T* x, int64_t n, T eps) {
  const T mean = lane_sum<T>(n, [&](int64_t i) { return x[i]; }) / static_cast<T>(n);
  const T var = lane_sum<T>(n,
                            [&](int64_t i) {
                              const T d = x[i] - mean;
                              return d * d;
                            }) /
                static_cast<T>(n);
  return {mean, T(1) / std::sqrt(var + eps)};
}

int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(work_per_item, 1));
}

// ---- Softmax / LogSoftmax --------------------------------------------------------------------

template <typename T, bool kLog>
void softmax_row(const T* x, T* y, int64_t n) {
  const T m = row_max(x, n);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] - m;
  exp_inplace(y, n);
  const T s = lane_sum<T>(n, [&](int64_t i) { return y[i]; });
  if constexpr (kLog) {
    const T shift = m + std::log(s);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] - shift;
  } else {
    const T inv = T(1) / s;
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  }
}

// Softmax over the middle axis of [outer, n, inner], `inner` columns at a time.
template <typename T, bool kLog>
void softmax_columns(const T* x, T* y, int64_t n, int64_t inner, int64_t w) {
  T m[kColBlock], s[kColBlock];
  std::fill(m, m + w, -std::numeric_limits<T>::infinity());
  std::fill(s, s + w, T(0));
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * inner;
    for (int64_t j = 0; j < w; ++j) m[j] = row[j] > m[j] ? row[j] : m[j];
  }
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * inner;
    T* out = y + r * inner;
    for (int64_t j = 0; j < w; ++j) out[j] = row[j] - m[j];
    exp_inplace(out, w);
    for (int64_t j = 0; j < w; ++j) s[j] += out[j];
  }
  for (int64_t j = 0; j < w; ++j) s[j] = kLog ? m[j] + std::log(s[j]) : T(1) / s[j];
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * inner;
    T* out = y + r * inner;
    for (int64_t j = 0; j < w; ++j) out[j] = kLog ? row[j] - s[j] : out[j] * s[j];
  }
}

template <typename T, bool kLog>
void softmax_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  if (inner == 1) {
    parallel_for(outer, grain_for(4 * n), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) softmax_row<T, kLog>(x + o * n, y + o * n, n);
    });
    return;
  }
  const int64_t blocks = (inner + kColBlock - 1) / kColBlock;
  parallel_for(outer * blocks, grain_for(4 * n * std::min(inner, kColBlock)),
               [&](int64_t begin, int64_t end) {
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t o = t / blocks;
                   const int64_t j0 = (t % blocks) * kColBlock;
                   const int64_t off = o * n * inner + j0;
                   softmax_columns<T, kLog>(x + off, y + off, n, inner,
                                            std::min(kColBlock, inner - j0));
                 }
               });
}

Result<int> kernel_axis(int64_t axis, int rank, const char* what) {
  if (axis < -rank || axis >= rank) {
    return invalid_argument(what, " ", axis, " is out of range [", -rank, ", ", rank - 1,
                            "] for input rank ", rank);
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

template <bool kLog>
class SoftmaxKernel final : public CpuKernel {
 public:
  SoftmaxKernel(int64_t axis, bool flatten_2d) : axis_(axis), flatten_2d_(flatten_2d) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x0 = *inputs[0];
    // A scalar has one element along its (implicit) axis.
    const int rank = std::max(x0.rank(), 1);
    VITRT_ASSIGN_OR_RETURN(int axis, kernel_axis(axis_, rank, "attribute 'axis'"));
    int64_t outer = 1, n = 1, inner = 1;
    for (int i = 0; i < x0.rank(); ++i) {
      if (i < axis) {
        outer *= x0.dim(i);
      } else if (i == axis || flatten_2d_) {
        n *= x0.dim(i);
      } else {
        inner *= x0.dim(i);
      }
    }
    const Tensor x = compute_copy(x0);
    Tensor y = Tensor::empty(x.dtype(), x.shape());
    VITRT_RETURN_IF_ERROR(visit_float_type(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      softmax_kernel<T, kLog>(x.data<T>(), y.data<T>(), outer, n, inner);
      return Status();
    }));
    outputs[0] = to_output_dtype(y, x0.dtype());
    return Status();
  }

 private:
  int64_t axis_;
  bool flatten_2d_;  // opset < 13: softmax over the flattened dims [axis, rank)
};

template <bool kLog>
Result<std::unique_ptr<CpuKernel>> make_softmax(const KernelInit& init) {
  const bool modern = init.opset >= 13;
  auto axis = init.node.attrs.get_int("axis", modern ? -1 : 1);
  VITRT_RETURN_IF_ERROR(axis.status());
  return std::unique_ptr<CpuKernel>(std::make_unique<SoftmaxKernel<kLog>>(*axis, !modern));
}

// ---- LayerNormalization ----------------------------------------------------------------------

// `p` (Scale or B) broadcast to the normalized shape, as a flat vector of T.
template <typename T>
Result<std::vector<T>> broadcast_param(const Tensor& p, const std::vector<int64_t>& norm_shape,
                                       const char* name) {
  const int64_t n = shape_numel(norm_shape);
  if (p.numel() == n) return param_values<T>(p);
  const int rank = static_cast<int>(norm_shape.size());
  if (p.rank() > rank) {
    return invalid_argument("input ", name, " ", p.describe(),
                            " does not broadcast to the normalized shape ",
                            shape_to_string(norm_shape));
  }
  std::vector<int64_t> pshape(rank - p.rank(), 1);
  pshape.insert(pshape.end(), p.shape().begin(), p.shape().end());
  for (int i = 0; i < rank; ++i) {
    if (pshape[i] != 1 && pshape[i] != norm_shape[i]) {
      return invalid_argument("input ", name, " ", p.describe(),
                              " does not broadcast to the normalized shape ",
                              shape_to_string(norm_shape));
    }
  }
  const std::vector<T> src = param_values<T>(p);
  std::vector<T> out(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    int64_t rem = k, src_index = 0, src_stride = 1;
    for (int i = rank - 1; i >= 0; --i) {
      const int64_t c = rem % norm_shape[i];
      rem /= norm_shape[i];
      if (pshape[i] != 1) src_index += c * src_stride;
      src_stride *= pshape[i];
    }
    out[k] = src[src_index];
  }
  return out;
}

template <typename T>
void layer_norm_kernel(const T* x, T* y, int64_t rows, int64_t n, const T* scale, const T* bias,
                       T eps, T* mean_out, T* inv_out) {
  parallel_for(rows, grain_for(3 * n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      const RowStats<T> st = row_stats(xr, n, eps);
      if (bias != nullptr) {
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - st.mean) * st.inv_std * scale[i] + bias[i];
      } else {
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - st.mean) * st.inv_std * scale[i];
      }
      if (mean_out != nullptr) mean_out[r] = st.mean;
      if (inv_out != nullptr) inv_out[r] = st.inv_std;
    }
  });
}

class LayerNormKernel final : public CpuKernel {
 public:
  LayerNormKernel(int64_t axis, float eps, DType stash, bool want_mean, bool want_inv,
                  bool constant_params)
      : axis_(axis),
        eps_(eps),
        stash_(stash),
        want_mean_(want_mean),
        want_inv_(want_inv),
        constant_params_(constant_params) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x0 = *inputs[0];
    VITRT_ASSIGN_OR_RETURN(int axis, kernel_axis(axis_, x0.rank(), "attribute 'axis'"));
    const std::vector<int64_t> norm_shape(x0.shape().begin() + axis, x0.shape().end());
    std::vector<int64_t> stat_shape(x0.shape().begin(), x0.shape().begin() + axis);
    stat_shape.resize(x0.rank(), 1);
    const int64_t n = shape_numel(norm_shape);
    const int64_t rows = n == 0 ? 0 : x0.numel() / n;
    const Tensor* bias_in = inputs.size() > 2 ? inputs[2] : nullptr;
    if (x0.dtype() == DType::kFloat32) {
      return run_float32(x0, *inputs[1], bias_in, norm_shape, stat_shape, rows, outputs);
    }
    const Tensor x = compute_copy(x0);
    Tensor y = Tensor::empty(x.dtype(), x.shape());
    Tensor mean = want_mean_ ? Tensor::empty(x.dtype(), stat_shape) : Tensor();
    Tensor inv = want_inv_ ? Tensor::empty(x.dtype(), stat_shape) : Tensor();
    VITRT_RETURN_IF_ERROR(visit_float_type(x.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      VITRT_ASSIGN_OR_RETURN(std::vector<T> scale,
                             broadcast_param<T>(*inputs[1], norm_shape, "Scale"));
      std::vector<T> bias;
      if (bias_in != nullptr) {
        VITRT_ASSIGN_OR_RETURN(bias, broadcast_param<T>(*bias_in, norm_shape, "B"));
      }
      layer_norm_kernel<T>(x.data<T>(), y.data<T>(), rows, n, scale.data(),
                           bias_in != nullptr ? bias.data() : nullptr, static_cast<T>(eps_),
                           want_mean_ ? mean.data<T>() : nullptr,
                           want_inv_ ? inv.data<T>() : nullptr);
      return Status();
    }));
    outputs[0] = to_output_dtype(y, x0.dtype());
    if (want_mean_) outputs[1] = to_output_dtype(mean, stash_);
    if (want_inv_) outputs[2] = to_output_dtype(inv, stash_);
    return Status();
  }

 private:
  // The hot path (every LayerNorm of a float32 ViT): the shared AVX2 row kernel. Constant
  // Scale and B (the model's weights, bound at one address for the engine's life) are
  // broadcast once and kept; computed ones are converted on every run.
  Status run_float32(const Tensor& x, const Tensor& scale, const Tensor* bias,
                     const std::vector<int64_t>& norm_shape, const std::vector<int64_t>& stat_shape,
                     int64_t rows, std::vector<Tensor>& outputs) {
    const void* bias_data = bias != nullptr ? bias->raw_data() : nullptr;
    if (!constant_params_ || scale.raw_data() != cached_scale_ || bias_data != cached_bias_ ||
        norm_shape != cached_norm_shape_) {
      VITRT_ASSIGN_OR_RETURN(scale_, broadcast_param<float>(scale, norm_shape, "Scale"));
      bias_.clear();
      if (bias != nullptr) {
        VITRT_ASSIGN_OR_RETURN(bias_, broadcast_param<float>(*bias, norm_shape, "B"));
      }
      cached_scale_ = scale.raw_data();
      cached_bias_ = bias_data;
      cached_norm_shape_ = norm_shape;
    }
    Tensor y = Tensor::empty(DType::kFloat32, x.shape());
    Tensor mean = want_mean_ ? Tensor::empty(DType::kFloat32, stat_shape) : Tensor();
    Tensor inv = want_inv_ ? Tensor::empty(DType::kFloat32, stat_shape) : Tensor();
    LayerNormRowsArgs args;
    args.a = x.data<float>();
    args.gamma = scale_.data();
    args.beta = bias != nullptr ? bias_.data() : nullptr;
    args.y = y.data<float>();
    args.mean = want_mean_ ? mean.data<float>() : nullptr;
    args.inv_std = want_inv_ ? inv.data<float>() : nullptr;
    args.rows = rows;
    args.n = shape_numel(norm_shape);
    args.epsilon = eps_;
    layer_norm_rows(args);
    outputs[0] = std::move(y);
    if (want_mean_) outputs[1] = to_output_dtype(mean, stash_);
    if (want_inv_) outputs[2] = to_output_dtype(inv, stash_);
    return Status();
  }

  int64_t axis_;
  float eps_;
  DType stash_;
  bool want_mean_;
  bool want_inv_;
  bool constant_params_;
  std::vector<float> scale_, bias_;
  const void* cached_scale_ = nullptr;
  const void* cached_bias_ = nullptr;
  std::vector<int64_t> cached_norm_shape_;
};

bool wants_output(const Node& node, int i) {
  return i < static_cast<int>(node.outputs.size()) && node.outputs[i] != kNoValue;
}

Result<std::unique_ptr<CpuKernel>> make_layer_norm(const KernelInit& init) {
  const Attributes& attrs = init.node.attrs;
  auto axis = attrs.get_int("axis", -1);
  auto eps = attrs.get_float("epsilon", 1e-5f);
  auto stash = attrs.get_int("stash_type", 1);
  for (const Status& s : {axis.status(), eps.status(), stash.status()}) {
    VITRT_RETURN_IF_ERROR(s);
  }
  const DType stash_dtype = dtype_from_onnx(static_cast<int32_t>(*stash));
  if (!dtype_is_float(stash_dtype)) {
    return invalid_model("attribute 'stash_type' ", *stash, " is not a float type");
  }
  const bool constant_params = init.constant_input(1) != nullptr &&
                               (!init.node.has_input(2) || init.constant_input(2) != nullptr);
  return std::unique_ptr<CpuKernel>(
      std::make_unique<LayerNormKernel>(*axis, *eps, stash_dtype, wants_output(init.node, 1),
                                        wants_output(init.node, 2), constant_params));
}

// ---- RMSNormalization ------------------------------------------------------------------------

// y = x / sqrt(mean(x^2) + eps) * scale over each row of n (opset 23; the decomposed form that
// older exports write becomes this op through fuse_rms_norm). Eight independent sums of
// squares so the loop vectorises.
template <typename T>
void rms_norm_rows(const T* x, T* y, int64_t rows, int64_t n, const T* scale, T eps) {
  parallel_for(rows, grain_for(2 * n), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* __restrict xr = x + r * n;
      T* __restrict yr = y + r * n;
      T acc[8] = {};
      int64_t i = 0;
      for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; ++k) acc[k] += xr[i + k] * xr[i + k];
      }
      T sum = 0;
      for (; i < n; ++i) sum += xr[i] * xr[i];
      for (int k = 0; k < 8; ++k) sum += acc[k];
      const T inv = T(1) / std::sqrt(sum / static_cast<T>(n) + eps);
      for (int64_t j = 0; j < n; ++j) yr[j] = xr[j] * inv * scale[j];
    }
  });
}

class RmsNormKernel final : public CpuKernel {
 public:
  RmsNormKernel(int64_t axis, float eps) : axis_(axis), eps_(eps) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x0 = *inputs[0];
    VITRT_ASSIGN_OR_RETURN(int axis, kernel_axis(axis_, x0.rank(), "attribute 'axis'"));
    const std::vector<int64_t> norm_shape(x0.shape().begin() + axis, x0.shape().end());
    const int64_t n = shape_numel(norm_shape);
    const int64_t rows = n == 0 ? 0 : x0.numel() / n;
    // float16 and bfloat16 compute in float32 (stash_type 1, the only one ONNX defines a
    // reference for); float32 and float64 in their own type.
    const Tensor x = compute_copy(x0);
    Tensor y = Tensor::empty(x.dtype(), x.shape());
    VITRT_RETURN_IF_ERROR(visit_float_type(x.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      VITRT_ASSIGN_OR_RETURN(std::vector<T> scale,
                             broadcast_param<T>(*inputs[1], norm_shape, "scale"));
      rms_norm_rows<T>(x.data<T>(), y.data<T>(), rows, n, scale.data(), static_cast<T>(eps_));
      return Status();
    }));
    outputs[0] = to_output_dtype(y, x0.dtype());
    return Status();
  }

 private:
  int64_t axis_;
  float eps_;
};

Result<std::unique_ptr<CpuKernel>> make_rms_norm(const KernelInit& init) {
  const Attributes& attrs = init.node.attrs;
  VITRT_ASSIGN_OR_RETURN(int64_t axis, attrs.get_int("axis", -1));
  VITRT_ASSIGN_OR_RETURN(float eps, attrs.get_float("epsilon", 1e-5f));
  VITRT_ASSIGN_OR_RETURN(int64_t stash, attrs.get_int("stash_type", 1));
  if (!dtype_is_float(dtype_from_onnx(static_cast<int32_t>(stash)))) {
    return invalid_model("attribute 'stash_type' ", stash, " is not a float type");
  }
  return std::unique_ptr<CpuKernel>(std::make_unique<RmsNormKernel>(axis, eps));
}

// ---- BatchNormalization / InstanceNormalization / GroupNormalization -------------------------

// X as [N, C, spatial].
struct ChannelLayout {
  int64_t n = 1, c = 1, spatial = 1;
};

Result<ChannelLayout> channel_layout(const Tensor& x) {
  if (x.rank() < 2) {
    return invalid_argument("input X ", x.describe(), " must have rank >= 2 ([N, C, ...])");
  }
  ChannelLayout l;
  l.n = x.dim(0);
  l.c = x.dim(1);
  for (int i = 2; i < x.rank(); ++i) l.spatial *= x.dim(i);
  return l;
}

Status check_param(const Tensor* p, int64_t expected, const char* name) {
  if (p == nullptr) return invalid_argument("input ", name, " is missing");
  if (p->numel() != expected) {
    return invalid_argument("input ", name, " ", p->describe(), " must have ", expected,
                            " elements");
  }
  return Status();
}

// y = x * a[c] + b[c] over each [spatial] run of [N, C, spatial].
template <typename T>
void channel_affine(const T* x, T* y, const ChannelLayout& l, const T* a, const T* b) {
  parallel_for(l.n * l.c, grain_for(l.spatial), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t c = t % l.c;
      const T* xr = x + t * l.spatial;
      T* yr = y + t * l.spatial;
      for (int64_t i = 0; i < l.spatial; ++i) yr[i] = xr[i] * a[c] + b[c];
    }
  });
}

// A kernel of the form "compute in T, write Y with X's dtype" over [N, C, spatial].
template <typename Body>
Status run_channel_kernel(const Tensor& x0, Tensor& out, Body&& body) {
  VITRT_ASSIGN_OR_RETURN(ChannelLayout l, channel_layout(x0));
  const Tensor x = compute_copy(x0);
  Tensor y = Tensor::empty(x.dtype(), x.shape());
  VITRT_RETURN_IF_ERROR(visit_float_type(x.dtype(), [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    return body(Tag<T>{}, x.data<T>(), y.data<T>(), l);
  }));
  out = to_output_dtype(y, x0.dtype());
  return Status();
}

// Per-channel mean and biased variance of X over N and the spatial dims, in double: the batch
// statistics of BatchNormalization in training mode. Weight-standardized convolutions (BiT,
// timm's ResNetV2 hybrids, HF ViTHybrid) export as such a node on the constant weight.
template <typename T>
void channel_stats(const T* x, const ChannelLayout& l, std::vector<double>& mean,
                   std::vector<double>& var) {
  mean.assign(l.c, 0.0);
  var.assign(l.c, 0.0);
  const double count = static_cast<double>(l.n * l.spatial);
  parallel_for(l.c, grain_for(2 * l.n * l.spatial), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      double sum = 0.0;
      for (int64_t n = 0; n < l.n; ++n) {
        const T* xr = x + (n * l.c + c) * l.spatial;
        for (int64_t i = 0; i < l.spatial; ++i) sum += static_cast<double>(xr[i]);
      }
      const double m = sum / count;
      double sq = 0.0;
      for (int64_t n = 0; n < l.n; ++n) {
        const T* xr = x + (n * l.c + c) * l.spatial;
        for (int64_t i = 0; i < l.spatial; ++i) {
          const double d = static_cast<double>(xr[i]) - m;
          sq += d * d;
        }
      }
      mean[c] = m;
      var[c] = sq / count;
    }
  });
}

class BatchNormKernel final : public CpuKernel {
 public:
  // training: normalize with the batch's statistics (not input_mean/input_var), and write the
  // statistics outputs the node has (write_statistics).
  BatchNormKernel(float eps, bool training, float momentum)
      : eps_(eps), training_(training), momentum_(momentum) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    return run_channel_kernel(
        *inputs[0], outputs[0],
        [&](auto tag, const auto* x, auto* y, const ChannelLayout& l) -> Status {
          using T = typename decltype(tag)::type;
          const char* names[] = {"scale", "B", "input_mean", "input_var"};
          for (int i = 1; i <= 4; ++i) {
            VITRT_RETURN_IF_ERROR(check_param(inputs[i], l.c, names[i - 1]));
          }
          const std::vector<T> scale = param_values<T>(*inputs[1]);
          const std::vector<T> bias = param_values<T>(*inputs[2]);
          std::vector<T> mean = param_values<T>(*inputs[3]);
          std::vector<T> var = param_values<T>(*inputs[4]);
          if (training_) {
            std::vector<double> batch_mean, batch_var;
            channel_stats(x, l, batch_mean, batch_var);
            VITRT_RETURN_IF_ERROR(write_statistics(inputs, batch_mean, batch_var, outputs));
            for (int64_t c = 0; c < l.c; ++c) {
              mean[c] = static_cast<T>(batch_mean[c]);
              var[c] = static_cast<T>(batch_var[c]);
            }
          }
          std::vector<T> a(l.c), b(l.c);
          for (int64_t c = 0; c < l.c; ++c) {
            a[c] = scale[c] / std::sqrt(var[c] + static_cast<T>(eps_));
            b[c] = bias[c] - mean[c] * a[c];
          }
          channel_affine<T>(x, y, l, a.data(), b.data());
          return Status();
        });
  }

 private:
  // Outputs 1 and 2: running = input * momentum + batch * (1 - momentum); outputs 3 and 4 (opset
  // < 14: saved_mean, saved_var): the batch's own. In input_mean's/input_var's dtype.
  Status write_statistics(const std::vector<const Tensor*>& inputs,
                          const std::vector<double>& batch_mean,
                          const std::vector<double>& batch_var, std::vector<Tensor>& outputs) {
    for (int k = 1; k < static_cast<int>(outputs.size()) && k <= 4; ++k) {
      const bool is_var = k % 2 == 0;
      const std::vector<double>& batch = is_var ? batch_var : batch_mean;
      const double keep = k <= 2 ? momentum_ : 0.0;
      const Tensor& running = *inputs[is_var ? 4 : 3];
      const DType compute = dtype_is_half(running.dtype()) ? DType::kFloat32 : running.dtype();
      Tensor out = Tensor::empty(compute, {running.numel()});
      VITRT_RETURN_IF_ERROR(visit_float_type(compute, [&](auto tag) -> Status {
        using U = typename decltype(tag)::type;
        for (int64_t c = 0; c < running.numel(); ++c) {
          out.data<U>()[c] =
              static_cast<U>(running.element_as_double(c) * keep + batch[c] * (1.0 - keep));
        }
        return Status();
      }));
      outputs[k] = to_output_dtype(out, running.dtype());
    }
    return Status();
  }

  float eps_;
  bool training_;
  float momentum_;
};

Result<std::unique_ptr<CpuKernel>> make_batch_norm(const KernelInit& init) {
  auto eps = init.node.attrs.get_float("epsilon", 1e-5f);
  auto training_mode = init.node.attrs.get_int("training_mode", 0);
  auto momentum = init.node.attrs.get_float("momentum", 0.9f);
  for (const Status& s : {eps.status(), training_mode.status(), momentum.status()}) {
    VITRT_RETURN_IF_ERROR(s);
  }
  if (*training_mode != 0 && *training_mode != 1) {
    return invalid_model("attribute 'training_mode' must be 0 or 1, got ", *training_mode);
  }
  bool has_statistics = false;
  for (size_t i = 1; i < init.node.outputs.size(); ++i) {
    has_statistics = has_statistics || init.node.outputs[i] != kNoValue;
  }
  // Opset 14 made training an attribute (outputs: running_mean, running_var); before, the node
  // trains exactly when it has the statistics outputs (running mean/var, saved mean/var), as
  // the TorchScript exporter writes a weight-standardized convolution at opset 13.
  const bool training = init.opset >= 14 ? *training_mode == 1 : has_statistics;
  if (has_statistics && !training) {
    return invalid_model("the statistics outputs need training_mode = 1");
  }
  return std::unique_ptr<CpuKernel>(std::make_unique<BatchNormKernel>(*eps, training, *momentum));
}

// Normalizes each group of `channels_per_group` channels of each sample over its channels and
// spatial positions, then applies per-channel scale and bias. InstanceNormalization is the
// case of one channel per group.
template <typename T>
void group_norm_kernel(const T* x, T* y, const ChannelLayout& l, int64_t groups, const T* scale,
                       const T* bias, T eps) {
  const int64_t cpg = l.c / groups;
  const int64_t len = cpg * l.spatial;
  const int64_t rows = l.n * groups;
  constexpr int64_t kChunk = int64_t{1} << 14;
  if (rows >= 2 * cpu_thread_count() || len < 4 * kChunk) {
    // Enough groups to go round: one group a task, statistics and output together.
    parallel_for(rows, grain_for(3 * len), [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t g = t % groups;
        const T* xr = x + t * len;
        T* yr = y + t * len;
        const RowStats<T> st = row_stats(xr, len, eps);
        for (int64_t k = 0; k < cpg; ++k) {
          const int64_t c = g * cpg + k;
          const T a = st.inv_std * scale[c];
          const T b = bias[c] - st.mean * a;
          const T* xs = xr + k * l.spatial;
          T* ys = yr + k * l.spatial;
          for (int64_t i = 0; i < l.spatial; ++i) ys[i] = xs[i] * a + b;
        }
      }
    });
    return;
  }
  // Few large groups (a one-group norm of one image: PoolFormer's): each group's statistics from
  // chunks in parallel (each chunk's mean and squared deviations, two passes while it is in
  // cache, merged in double by Chan's formula), then the output a channel row per task.
  const int64_t chunks = (len + kChunk - 1) / kChunk;
  std::vector<double> chunk_mean(static_cast<size_t>(rows * chunks));
  std::vector<double> chunk_m2(chunk_mean.size());
  parallel_for(rows * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / chunks, k = t % chunks;
      const T* xc = x + r * len + k * kChunk;
      const int64_t n = std::min(kChunk, len - k * kChunk);
      const T mean = lane_sum<T>(n, [&](int64_t i) { return xc[i]; }) / static_cast<T>(n);
      const T m2 = lane_sum<T>(n, [&](int64_t i) {
        const T d = xc[i] - mean;
        return d * d;
      });
      chunk_mean[t] = static_cast<double>(mean);
      chunk_m2[t] = static_cast<double>(m2);
    }
  });
  // Then y = x * a + b per (sample, channel) run: channel_affine over [1, N * C, spatial].
  std::vector<T> a(static_cast<size_t>(rows * cpg)), b(a.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0.0, m2 = 0.0, count = 0.0;
    for (int64_t k = 0; k < chunks; ++k) {
      const double n = static_cast<double>(std::min(kChunk, len - k * kChunk));
      const double d = chunk_mean[r * chunks + k] - mean;
      const double total = count + n;
      mean += d * n / total;
      m2 += chunk_m2[r * chunks + k] + d * d * count * n / total;
      count = total;
    }
    const T var = static_cast<T>(m2 / count);
    const T inv_std = T(1) / std::sqrt(var + eps);
    for (int64_t k = 0; k < cpg; ++k) {
      const int64_t c = (r % groups) * cpg + k;
      a[r * cpg + k] = inv_std * scale[c];
      b[r * cpg + k] = bias[c] - static_cast<T>(mean) * a[r * cpg + k];
    }
  }
  channel_affine(x, y, ChannelLayout{1, rows * cpg, l.spatial}, a.data(), b.data());
}

class GroupNormKernel final : public CpuKernel {
 public:
  // groups == 0: InstanceNormalization (one group per channel).
  GroupNormKernel(int64_t groups, float eps) : groups_(groups), eps_(eps) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    return run_channel_kernel(
        *inputs[0], outputs[0],
        [&](auto tag, const auto* x, auto* y, const ChannelLayout& l) -> Status {
          using T = typename decltype(tag)::type;
          const int64_t groups = groups_ == 0 ? l.c : groups_;
          if (l.c % groups != 0) {
            return invalid_argument("channel count ", l.c,
                                    " is not divisible by attribute 'num_groups' ", groups);
          }
          std::vector<T> scale = param_values<T>(*inputs[1]);
          std::vector<T> bias = param_values<T>(*inputs[2]);
          // GroupNormalization-18 takes scale and bias per group, -21 per channel; expand the
          // per-group form so the kernel sees one value per channel.
          for (std::vector<T>* p : {&scale, &bias}) {
            if (static_cast<int64_t>(p->size()) == l.c) continue;
            if (static_cast<int64_t>(p->size()) != groups) {
              return invalid_argument("input ", p == &scale ? "scale" : "bias", " has ", p->size(),
                                      " elements; expected ", l.c, " (channels) or ", groups,
                                      " (groups)");
            }
            std::vector<T> per_channel(l.c);
            for (int64_t c = 0; c < l.c; ++c) per_channel[c] = (*p)[c / (l.c / groups)];
            *p = std::move(per_channel);
          }
          group_norm_kernel<T>(x, y, l, groups, scale.data(), bias.data(), static_cast<T>(eps_));
          return Status();
        });
  }

 private:
  int64_t groups_;
  float eps_;
};

Result<std::unique_ptr<CpuKernel>> make_instance_norm(const KernelInit& init) {
  auto eps = init.node.attrs.get_float("epsilon", 1e-5f);
  VITRT_RETURN_IF_ERROR(eps.status());
  return std::unique_ptr<CpuKernel>(std::make_unique<GroupNormKernel>(0, *eps));
}

Result<std::unique_ptr<CpuKernel>> make_group_norm(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(GroupNormAttributes a, GroupNormAttributes::parse(init.node.attrs));
  return std::unique_ptr<CpuKernel>(std::make_unique<GroupNormKernel>(a.groups, a.epsilon));
}

// ---- LpNormalization -------------------------------------------------------------------------

class LpNormKernel final : public CpuKernel {
 public:
  LpNormKernel(int64_t axis, int64_t p) : axis_(axis), p_(p) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x0 = *inputs[0];
    VITRT_ASSIGN_OR_RETURN(int axis, kernel_axis(axis_, x0.rank(), "attribute 'axis'"));
    int64_t outer = 1, n = x0.dim(axis), inner = 1;
    for (int i = 0; i < axis; ++i) outer *= x0.dim(i);
    for (int i = axis + 1; i < x0.rank(); ++i) inner *= x0.dim(i);
    const Tensor x = compute_copy(x0);
    Tensor y = Tensor::empty(x.dtype(), x.shape());
    VITRT_RETURN_IF_ERROR(visit_float_type(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x.data<T>();
      T* ys = y.data<T>();
      parallel_for(outer * inner, grain_for(2 * n), [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const int64_t base = (t / inner) * n * inner + t % inner;
          T norm = 0;
          for (int64_t r = 0; r < n; ++r) {
            const T v = xs[base + r * inner];
            norm += p_ == 1 ? std::fabs(v) : v * v;
          }
          if (p_ == 2) norm = std::sqrt(norm);
          for (int64_t r = 0; r < n; ++r) ys[base + r * inner] = xs[base + r * inner] / norm;
        }
      });
      return Status();
    }));
    outputs[0] = to_output_dtype(y, x0.dtype());
    return Status();
  }

 private:
  int64_t axis_;
  int64_t p_;
};

Result<std::unique_ptr<CpuKernel>> make_lp_norm(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(LpNormAttributes a, LpNormAttributes::parse(init.node.attrs));
  return std::unique_ptr<CpuKernel>(std::make_unique<LpNormKernel>(a.axis, a.p));
}

// ---- MeanVarianceNormalization ---------------------------------------------------------------

// (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9) over `axes`, as the ONNX function defines it.
// Rare in vision models, so one plain implementation with float64 statistics.
class MvnKernel final : public CpuKernel {
 public:
  explicit MvnKernel(std::vector<int64_t> axes) : axes_(std::move(axes)) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x0 = *inputs[0];
    const int rank = x0.rank();
    std::vector<bool> mask(rank, false);
    for (int64_t a : axes_) {
      VITRT_ASSIGN_OR_RETURN(int axis, kernel_axis(a, rank, "attribute 'axes' value"));
      mask[axis] = true;
    }
    // Group id of each element: its flat index over the kept axes.
    const int64_t count = x0.numel();
    std::vector<int64_t> group(static_cast<size_t>(count));
    int64_t groups = 1;
    for (int i = 0; i < rank; ++i) groups *= mask[i] ? 1 : x0.dim(i);
    std::vector<int64_t> idx(rank, 0);
    for (int64_t k = 0; k < count; ++k) {
      int64_t g = 0;
      for (int i = 0; i < rank; ++i) {
        if (!mask[i]) g = g * x0.dim(i) + idx[i];
      }
      group[k] = g;
      for (int i = rank - 1; i >= 0; --i) {
        if (++idx[i] < x0.dim(i)) break;
        idx[i] = 0;
      }
    }
    const Tensor x = compute_copy(x0);
    Tensor y = Tensor::empty(x.dtype(), x.shape());
    VITRT_RETURN_IF_ERROR(visit_float_type(x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x.data<T>();
      T* ys = y.data<T>();
      std::vector<double> sum(groups, 0.0), sq(groups, 0.0), n(groups, 0.0);
      for (int64_t k = 0; k < count; ++k) {
        sum[group[k]] += xs[k];
        sq[group[k]] += static_cast<double>(xs[k]) * xs[k];
        n[group[k]] += 1;
      }
      for (int64_t g = 0; g < groups; ++g) {
        const double mean = sum[g] / n[g];
        sum[g] = mean;
        sq[g] = std::sqrt(std::max(sq[g] / n[g] - mean * mean, 0.0)) + 1e-9;
      }
      for (int64_t k = 0; k < count; ++k) {
        ys[k] = static_cast<T>((xs[k] - sum[group[k]]) / sq[group[k]]);
      }
      return Status();
    }));
    outputs[0] = to_output_dtype(y, x0.dtype());
    return Status();
  }

 private:
  std::vector<int64_t> axes_;
};

Result<std::unique_ptr<CpuKernel>> make_mvn(const KernelInit& init) {
  auto axes = init.node.attrs.get_ints("axes", {0, 2, 3});
  VITRT_RETURN_IF_ERROR(axes.status());
  return std::unique_ptr<CpuKernel>(std::make_unique<MvnKernel>(*axes));
}

}  // namespace

void register_cpu_normalization_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Softmax", make_softmax<false>);
  registry.add("", "LogSoftmax", make_softmax<true>);
  registry.add("", "LayerNormalization", make_layer_norm);
  registry.add("", "RMSNormalization", make_rms_norm);
  registry.add("", "BatchNormalization", make_batch_norm);
  registry.add("", "InstanceNormalization", make_instance_norm);
  registry.add("", "GroupNormalization", make_group_norm);
  registry.add("", "LpNormalization", make_lp_norm);
  registry.add("", "MeanVarianceNormalization", make_mvn);
}

}  // namespace vitrt
