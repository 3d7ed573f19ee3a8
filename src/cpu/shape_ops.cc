// CPU kernels of the shape-op family that reinterpret or generate tensors: Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Dropout (views of their input, never a copy), Shape, Size,
// ConstantOfShape, Range, EyeLike, Trilu. Transpose, Concat/Split, Expand/Tile and Pad live
// in their own files and are registered from here.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "core/half.h"
#include "cpu/data_movement.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

namespace {

// Reshape's output shape for a static input, computed on plain integers (the symbolic rule of
// reshape_output_shape costs more than the rest of the op, a view: ~0.5 us a node, and hybrid
// CNN-transformers run a hundred Reshapes). nullopt where the target breaks a rule: the symbolic
// path then words the error.
std::optional<std::vector<int64_t>> static_reshape(const std::vector<int64_t>& in,
                                                   std::vector<int64_t> target, bool allowzero) {
  int64_t numel = 1, others = 1;
  for (const int64_t d : in) {
    if (__builtin_mul_overflow(numel, d, &numel)) return std::nullopt;
  }
  int infer_at = -1;
  bool has_zero = false;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t& t = target[i];
    if (t == -1) {
      if (infer_at >= 0) return std::nullopt;
      infer_at = static_cast<int>(i);
      continue;
    }
    if (t < -1) return std::nullopt;
    if (t == 0) {
      has_zero = true;
      if (!allowzero) {
        if (i >= in.size()) return std::nullopt;
        t = in[i];
      }
    }
    if (__builtin_mul_overflow(others, t, &others)) return std::nullopt;
  }
  if (infer_at >= 0) {
    if ((allowzero && has_zero) || others == 0 || numel % others != 0) return std::nullopt;
    target[static_cast<size_t>(infer_at)] = numel / others;
  } else if (others != numel) {
    return std::nullopt;
  }
  return target;
}

Status run_reshape(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  VITRT_ASSIGN_OR_RETURN(int64_t allowzero, node.attrs.get_int("allowzero", 0));
  std::vector<int64_t> target;
  if (inputs.size() < 2) {
    VITRT_ASSIGN_OR_RETURN(target, node.attrs.require_ints("shape"));
  } else {
    VITRT_ASSIGN_OR_RETURN(target, read_int_tensor(inputs[1], "shape"));
  }
  if (std::optional<std::vector<int64_t>> fast =
          static_reshape(x.shape(), target, allowzero != 0)) {
    VITRT_ASSIGN_OR_RETURN(outputs[0], x.reshaped(std::move(*fast)));
    return Status();
  }
  const SymShape in = sym_shape_from_static(x.shape());
  VITRT_ASSIGN_OR_RETURN(SymShape out,
                         reshape_output_shape(&in, sym_shape_from_static(target), allowzero != 0));
  auto shape = sym_shape_to_static(out);
  if (!shape) return internal_error("Reshape of a static shape gave ", sym_shape_to_string(out));
  VITRT_ASSIGN_OR_RETURN(outputs[0], x.reshaped(std::move(*shape)));
  return Status();
}

Status run_flatten(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  VITRT_ASSIGN_OR_RETURN(int64_t axis, node.attrs.get_int("axis", 1));
  const int64_t rank = x.rank();
  if (axis < -rank || axis > rank) {
    return invalid_argument("attribute 'axis' ", axis, " is out of range for rank ", rank);
  }
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= x.dim(static_cast<int>(i));
  VITRT_ASSIGN_OR_RETURN(outputs[0], x.reshaped({outer, inner}));
  return Status();
}

// Axes of Squeeze/Unsqueeze: the attribute before opset 13, the optional input from 13.
Result<std::optional<std::vector<int64_t>>> squeeze_axes(const Node& node, int64_t opset,
                                                         const std::vector<const Tensor*>& inputs) {
  if (opset < 13 && (inputs.size() < 2 || inputs[1] == nullptr)) {
    if (!node.attrs.has("axes")) return std::optional<std::vector<int64_t>>();
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, node.attrs.get_ints("axes", {}));
    return std::optional<std::vector<int64_t>>(std::move(axes));
  }
  if (inputs.size() < 2 || inputs[1] == nullptr) return std::optional<std::vector<int64_t>>();
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, read_int_tensor(inputs[1], "axes"));
  return std::optional<std::vector<int64_t>>(std::move(axes));
}

Status run_squeeze(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                   std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  VITRT_ASSIGN_OR_RETURN(auto axes, squeeze_axes(node, opset, inputs));
  std::vector<bool> drop(x.rank(), false);
  if (!axes) {
    for (int i = 0; i < x.rank(); ++i) drop[i] = x.dim(i) == 1;
  } else {
    VITRT_ASSIGN_OR_RETURN(std::vector<int> norm, normalize_axes(*axes, x.rank(), "axes"));
    for (int a : norm) {
      if (x.dim(a) != 1) {
        return invalid_argument("cannot squeeze axis ", a, " of ", x.describe(), ": size is not 1");
      }
      drop[a] = true;
    }
  }
  std::vector<int64_t> shape;
  for (int i = 0; i < x.rank(); ++i) {
    if (!drop[i]) shape.push_back(x.dim(i));
  }
  VITRT_ASSIGN_OR_RETURN(outputs[0], x.reshaped(std::move(shape)));
  return Status();
}

Status run_unsqueeze(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                     std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  VITRT_ASSIGN_OR_RETURN(auto axes, squeeze_axes(node, opset, inputs));
  if (!axes) return invalid_argument("axes are required");
  const int out_rank = x.rank() + static_cast<int>(axes->size());
  VITRT_ASSIGN_OR_RETURN(std::vector<int> norm, normalize_axes(*axes, out_rank, "axes"));
  std::vector<bool> inserted(out_rank, false);
  for (int a : norm) inserted[a] = true;
  std::vector<int64_t> shape;
  int next = 0;
  for (int i = 0; i < out_rank; ++i) shape.push_back(inserted[i] ? 1 : x.dim(next++));
  VITRT_ASSIGN_OR_RETURN(outputs[0], x.reshaped(std::move(shape)));
  return Status();
}

Status run_identity(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  outputs[0] = *inputs[0];
  return Status();
}

// Inference-mode Dropout: the identity, with an all-true mask when the mask is asked for.
class DropoutKernel final : public CpuKernel {
 public:
  static Result<std::unique_ptr<CpuKernel>> create(const KernelInit& init) {
    if (const Tensor* training = init.constant_input(2)) {
      if (training->numel() == 1 && training->element_as_double(0) != 0.0) {
        return unsupported("training_mode is true; vitrt runs inference only");
      }
    } else if (init.node.has_input(2)) {
      // A training_mode bound at run time makes this a training graph: refuse it at load
      // rather than ignore a true value and return un-dropped outputs.
      return unsupported(
          "training_mode is a runtime input; vitrt runs inference only and needs "
          "it omitted or a constant false");
    }
    const bool want_mask = init.node.outputs.size() > 1 && init.node.outputs[1] != kNoValue;
    return std::unique_ptr<CpuKernel>(new DropoutKernel(want_mask));
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    outputs[0] = *inputs[0];
    if (want_mask_ && outputs.size() > 1) {
      Tensor mask = Tensor::empty(DType::kBool, inputs[0]->shape());
      std::memset(mask.raw_data(), 1, mask.nbytes());
      outputs[1] = std::move(mask);
    }
    return Status();
  }

 private:
  explicit DropoutKernel(bool want_mask) : want_mask_(want_mask) {}
  bool want_mask_;
};

Status run_shape(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  VITRT_ASSIGN_OR_RETURN(int64_t start, node.attrs.get_int("start", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t end,
                         node.attrs.get_int("end", std::numeric_limits<int64_t>::max()));
  const int64_t rank = x.rank();
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(x.dim(static_cast<int>(i)));
  outputs[0] = Tensor::from_int64(dims);
  return Status();
}

Status run_size(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                std::vector<Tensor>& outputs) {
  outputs[0] = Tensor::from_int64({inputs[0]->numel()}, /*as_scalar=*/true);
  return Status();
}

Status run_constant_of_shape(const Node& node, int64_t opset,
                             const std::vector<const Tensor*>& inputs,
                             std::vector<Tensor>& outputs) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape, read_int_tensor(inputs[0], "shape"));
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("shape input has negative dim ", d);
  }
  const Attribute* value = node.attrs.find("value");
  if (value == nullptr) {
    outputs[0] = Tensor::zeros(DType::kFloat32, std::move(shape));
    return Status();
  }
  if (value->kind != Attribute::Kind::kTensor || value->t.numel() != 1) {
    return invalid_model("attribute 'value' must be a tensor of one element");
  }
  const Tensor& v = value->t;
  Tensor out = Tensor::empty(v.dtype(), std::move(shape));
  return dispatch_element_size(v.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T fill;
    std::memcpy(&fill, v.raw_data(), sizeof(T));
    std::fill(out.data<T>(), out.data<T>() + out.numel(), fill);
    outputs[0] = std::move(out);
    return Status();
  });
}

// Range's element count, or an error when it is not a finite count a tensor can hold (a NaN or
// infinite bound, a span past int64, more than 2^31 elements).
template <typename T>
Result<int64_t> range_count(T start, T limit, T delta) {
  constexpr double kMaxElements = 2147483648.0;
  double n;
  if constexpr (std::is_floating_point_v<T>) {
    n = std::ceil((static_cast<double>(limit) - static_cast<double>(start)) /
                  static_cast<double>(delta));
    if (std::isnan(n)) {
      return invalid_argument("start ", start, ", limit ", limit, " and delta ", delta,
                              " give no element count");
    }
  } else {
    // In long double: an int64 span may overflow int64 itself.
    const long double span = static_cast<long double>(limit) - static_cast<long double>(start);
    n = static_cast<double>(std::ceil(span / static_cast<long double>(delta)));
  }
  n = std::max(n, 0.0);
  if (!(n <= kMaxElements)) {
    return invalid_argument("start ", start, ", limit ", limit, " and delta ", delta, " give ", n,
                            " elements, more than the 2^31 a Range may produce");
  }
  return static_cast<int64_t>(n);
}

template <typename T>
Result<Tensor> range_of(DType dtype, T start, T limit, T delta) {
  VITRT_ASSIGN_OR_RETURN(int64_t n, range_count(start, limit, delta));
  Tensor out = Tensor::empty(dtype, {n});
  T* p = out.data<T>();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(start + static_cast<T>(i) * delta);
  return out;
}

Status run_range(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const DType dtype = inputs[0]->dtype();
  for (int i = 0; i < 3; ++i) {
    if (inputs[i]->dtype() != dtype || inputs[i]->numel() != 1) {
      return invalid_argument("start, limit and delta must be scalars of one type, got ",
                              inputs[0]->describe(), ", ", inputs[1]->describe(), ", ",
                              inputs[2]->describe());
    }
  }
  if (inputs[2]->element_as_double(0) == 0.0) return invalid_argument("delta is 0");
  auto make = [&](auto tag) {
    using T = decltype(tag);
    VITRT_ASSIGN_OR_RETURN(outputs[0],
                           range_of<T>(dtype, inputs[0]->data<T>()[0], inputs[1]->data<T>()[0],
                                       inputs[2]->data<T>()[0]));
    return Status();
  };
  switch (dtype) {
    case DType::kFloat32:
      return make(float{});
    case DType::kFloat64:
      return make(double{});
    case DType::kInt16:
      return make(int16_t{});
    case DType::kInt32:
      return make(int32_t{});
    case DType::kInt64:
      return make(int64_t{});
    default:
      return unsupported("Range of ", dtype_name(dtype),
                         "; expected float32, float64, int16, int32 or int64");
  }
}

Status run_eye_like(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  if (x.rank() != 2) return invalid_argument("input must have rank 2, got ", x.describe());
  DType dtype = x.dtype();
  if (node.attrs.has("dtype")) {
    VITRT_ASSIGN_OR_RETURN(int64_t t, node.attrs.get_int("dtype", 0));
    dtype = dtype_from_onnx(static_cast<int32_t>(t));
    if (!dtype_is_storable(dtype)) return unsupported("attribute 'dtype' ", t);
  }
  VITRT_ASSIGN_OR_RETURN(int64_t k, node.attrs.get_int("k", 0));
  Tensor out = Tensor::zeros(dtype, x.shape());
  const int64_t rows = x.dim(0), cols = x.dim(1);
  const size_t es = dtype_size(dtype);
  auto* base = static_cast<uint8_t*>(out.raw_data());
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t j = i + k;
    if (j >= 0 && j < cols) store_scalar(dtype, 1.0, base + static_cast<size_t>(i * cols + j) * es);
  }
  outputs[0] = std::move(out);
  return Status();
}

Status run_trilu(const Node& node, int64_t opset, const std::vector<const Tensor*>& inputs,
                 std::vector<Tensor>& outputs) {
  const Tensor& x = *inputs[0];
  if (x.rank() < 2) return invalid_argument("input must have rank >= 2, got ", x.describe());
  VITRT_ASSIGN_OR_RETURN(int64_t upper, node.attrs.get_int("upper", 1));
  int64_t k = 0;
  if (inputs.size() > 1 && inputs[1] != nullptr) {
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> kv, read_int_tensor(inputs[1], "k"));
    if (kv.size() != 1) return invalid_argument("k must be a scalar");
    k = kv[0];
  }
  const int64_t rows = x.dim(x.rank() - 2), cols = x.dim(x.rank() - 1);
  const int64_t matrices = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  Tensor out = Tensor::empty(x.dtype(), x.shape());
  return dispatch_element_size(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = out.data<T>();
    for (int64_t m = 0; m < matrices; ++m) {
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t row = (m * rows + i) * cols;
        for (int64_t j = 0; j < cols; ++j) {
          const bool keep = upper ? j - i >= k : j - i <= k;
          dst[row + j] = keep ? src[row + j] : T{0};
        }
      }
    }
    outputs[0] = std::move(out);
    return Status();
  });
}

}  // namespace

void register_cpu_shape_op_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Reshape", &make_function_kernel<run_reshape>);
  registry.add("", "Flatten", &make_function_kernel<run_flatten>);
  registry.add("", "Squeeze", &make_function_kernel<run_squeeze>);
  registry.add("", "Unsqueeze", &make_function_kernel<run_unsqueeze>);
  registry.add("", "Identity", &make_function_kernel<run_identity>);
  registry.add("", "Dropout", &DropoutKernel::create);
  registry.add("", "Shape", &make_function_kernel<run_shape>);
  registry.add("", "Size", &make_function_kernel<run_size>);
  registry.add("", "ConstantOfShape", &make_function_kernel<run_constant_of_shape>);
  registry.add("", "Range", &make_function_kernel<run_range>);
  registry.add("", "EyeLike", &make_function_kernel<run_eye_like>);
  registry.add("", "Trilu", &make_function_kernel<run_trilu>);
  register_cpu_transpose_kernels(registry);
  register_cpu_concat_split_kernels(registry);
  register_cpu_expand_tile_kernels(registry);
  register_cpu_pad_kernels(registry);
}

}  // namespace vitrt
