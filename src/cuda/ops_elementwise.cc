// Elementwise ops on CUDA: the ONNX binary ops with broadcasting, Max / Min / Sum / Mean of any
// number of inputs, BitShift, unary math and activations (with their alpha/beta attributes),
// Clip, Gelu, Where, Cast, Not and IsNaN.
#include <cfloat>
#include <cmath>
#include <limits>

#include "cuda/cuda_kernel.h"
#include "ir/ops/op_attributes.h"

namespace vitrt::cuda {
namespace {

Status check_rank(const std::vector<int64_t>& shape) {
  if (shape.size() > static_cast<size_t>(kMaxRank)) {
    return unsupported("rank ", shape.size(), " exceeds the CUDA backend's ", kMaxRank);
  }
  return Status::ok_status();
}

class BinaryKernel final : public CudaKernel {
 public:
  explicit BinaryKernel(BinaryOp op) : op_(op) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& a = *in[0];
    const DeviceTensor& b = *in[1];
    if (a.dtype != b.dtype) {
      return invalid_argument("inputs have different dtypes ", dtype_name(a.dtype), " and ",
                              dtype_name(b.dtype));
    }
    const bool compare = op_ >= BinaryOp::kEqual;
    if (!ctx.launch) {
      VITRT_ASSIGN_OR_RETURN(out[0].shape, broadcast_shapes(a.shape, b.shape));
      VITRT_RETURN_IF_ERROR(check_rank(out[0].shape));
      out[0].dtype = compare ? DType::kBool : a.dtype;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(a.dtype));
    return cuda_status(launch_binary(op_, t, compare ? Elt::kBool : t, a.data,
                                     broadcast_view(a.shape, out[0].shape), b.data,
                                     broadcast_view(b.shape, out[0].shape), out[0].data,
                                     contiguous_view(out[0].shape), ctx.stream),
                       "binary op");
  }

 private:
  BinaryOp op_;
};

class UnaryKernel final : public CudaKernel {
 public:
  explicit UnaryKernel(UnaryOp op) : op_(op) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const bool to_bool = op_ == UnaryOp::kIsNaN || op_ == UnaryOp::kNot;
    if (!ctx.launch) {
      if (op_ == UnaryOp::kNot ? x.dtype != DType::kBool : !dtype_is_float(x.dtype)) {
        return unsupported("input dtype ", dtype_name(x.dtype), " is not supported on CUDA");
      }
      out[0].shape = x.shape;
      out[0].dtype = to_bool ? DType::kBool : x.dtype;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    VITRT_ASSIGN_OR_RETURN(Elt ot, elt_of(out[0].dtype));
    return cuda_status(launch_unary(op_, t, ot, x.data, out[0].data, x.numel(), ctx.stream),
                       "unary op");
  }

 private:
  UnaryOp op_;
};

// A float unary op with alpha / beta (attributes, or Clip's bounds).
class ParamUnaryKernel final : public CudaKernel {
 public:
  ParamUnaryKernel(UnaryOp op, float alpha, float beta) : op_(op), alpha_(alpha), beta_(beta) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return unsupported("input dtype ", dtype_name(x.dtype), " is not supported on CUDA");
      }
      out[0].shape = x.shape;
      out[0].dtype = op_ == UnaryOp::kIsInf ? DType::kBool : x.dtype;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(
        launch_unary_params(op_, t, x.data, out[0].data, x.numel(), alpha_, beta_, ctx.stream),
        "unary op");
  }

 private:
  UnaryOp op_;
  float alpha_, beta_;
};

// Clip from opset 11 takes its bounds as inputs: read on the host (constants in every export),
// so the launch is the attribute form's.
class ClipKernel final : public CudaKernel {
 public:
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    float lo = -std::numeric_limits<float>::infinity();
    float hi = std::numeric_limits<float>::infinity();
    for (size_t i = 1; i < in.size() && i <= 2; ++i) {
      if (in[i] == nullptr) continue;
      const char* name = i == 1 ? "min" : "max";
      if (in[i]->host == nullptr) {
        return unsupported("input ", name,
                           " must be a constant or computed from shapes (it is computed on "
                           "the GPU here)");
      }
      if (in[i]->host->numel() != 1) {
        return invalid_argument("input ", name, " must be a scalar, got ", in[i]->host->describe());
      }
      (i == 1 ? lo : hi) = static_cast<float>(in[i]->host->element_as_double(0));
    }
    ParamUnaryKernel k(UnaryOp::kClip, lo, hi);
    return k.run(in, out, ctx);
  }
};

// com.microsoft FastGelu / BiasGelu: act(x + bias), bias broadcast (optional for FastGelu):
// the add into the output, then the activation in place.
class BiasActKernel final : public CudaKernel {
 public:
  explicit BiasActKernel(UnaryOp act) : act_(act) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor* bias = in.size() > 1 ? in[1] : nullptr;
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return unsupported("input dtype ", dtype_name(x.dtype), " is not supported on CUDA");
      }
      if (bias != nullptr && bias->dtype != x.dtype) {
        return invalid_argument("bias has dtype ", dtype_name(bias->dtype), ", input has ",
                                dtype_name(x.dtype));
      }
      out[0].dtype = x.dtype;
      if (bias == nullptr) {
        out[0].shape = x.shape;
      } else {
        VITRT_ASSIGN_OR_RETURN(out[0].shape, broadcast_shapes(x.shape, bias->shape));
        VITRT_RETURN_IF_ERROR(check_rank(out[0].shape));
      }
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    const void* src = x.data;
    if (bias != nullptr) {
      const auto& os = out[0].shape;
      VITRT_RETURN_IF_ERROR(
          cuda_status(launch_binary(BinaryOp::kAdd, t, t, x.data, broadcast_view(x.shape, os),
                                    bias->data, broadcast_view(bias->shape, os), out[0].data,
                                    contiguous_view(os), ctx.stream),
                      "bias add"));
      src = out[0].data;
    }
    return cuda_status(launch_unary(act_, t, t, src, out[0].data, out[0].numel(), ctx.stream),
                       "activation");
  }

 private:
  UnaryOp act_;
};

// vitrt.ScaleShift: act(x * scale + shift) along the last axis, one kernel.
class ScaleShiftKernel final : public CudaKernel {
 public:
  explicit ScaleShiftKernel(UnaryOp act) : act_(act) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& scale = *in[1];
    const DeviceTensor& shift = *in[2];
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype) || x.dtype == DType::kFloat64) {
        return unsupported("ScaleShift of ", dtype_name(x.dtype), " has no CUDA kernel");
      }
      if (scale.dtype != x.dtype || shift.dtype != x.dtype) {
        return invalid_argument("scale and shift must have x's dtype ", dtype_name(x.dtype));
      }
      if (x.shape.empty() || scale.numel() != x.shape.back() || shift.numel() != x.shape.back()) {
        return invalid_argument("scale and shift must have x's last dim of values, x is ",
                                shape_to_string(x.shape));
      }
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    const int64_t cols = x.shape.back();
    const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
    return cuda_status(launch_scale_shift(t, x.data, scale.data, shift.data, out[0].data, rows,
                                          cols, act_, ctx.stream),
                       "ScaleShift");
  }

 private:
  UnaryOp act_;
};

Result<std::unique_ptr<CudaKernel>> make_scale_shift(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(ConvActivation act, parse_conv_activation(init.node));
  return std::unique_ptr<CudaKernel>(new ScaleShiftKernel(conv_activation_op(act)));
}

class WhereKernel final : public CudaKernel {
 public:
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& c = *in[0];
    const DeviceTensor& x = *in[1];
    const DeviceTensor& y = *in[2];
    if (!ctx.launch) {
      if (c.dtype != DType::kBool) return invalid_argument("condition must be bool");
      if (x.dtype != y.dtype) return invalid_argument("X and Y have different dtypes");
      VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> s, broadcast_shapes(c.shape, x.shape));
      VITRT_ASSIGN_OR_RETURN(out[0].shape, broadcast_shapes(s, y.shape));
      VITRT_RETURN_IF_ERROR(check_rank(out[0].shape));
      out[0].dtype = x.dtype;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    const auto& os = out[0].shape;
    return cuda_status(
        launch_where(t, c.data, broadcast_view(c.shape, os), x.data, broadcast_view(x.shape, os),
                     y.data, broadcast_view(y.shape, os), out[0].data, contiguous_view(os),
                     ctx.stream),
        "Where");
  }
};

class CastKernel final : public CudaKernel {
 public:
  explicit CastKernel(DType to) : to_(to) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const bool from8 = dtype_is_8bit_integer(x.dtype);
    if (!ctx.launch) {
      // Float targets become the plan's activation type: a Cast to float32 in an fp16 plan
      // keeps fp16 storage.
      out[0].dtype = dtype_is_float(to_) ? ctx.float_type : to_;
      out[0].shape = x.shape;
      if (!dtype_is_8bit_integer(out[0].dtype))
        VITRT_RETURN_IF_ERROR(elt_of(out[0].dtype).status());
      return from8 ? Status::ok_status() : elt_of(x.dtype).status();
    }
    const bool to8 = dtype_is_8bit_integer(out[0].dtype);
    if (x.dtype == out[0].dtype) {
      return cuda_status(
          cudaMemcpyAsync(out[0].data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream),
          "Cast");
    }
    if (from8 || to8) {
      // uint8 images into a model that casts them to float, and back: Elt has no 8-bit types.
      const DType eight = to8 ? out[0].dtype : x.dtype;
      const DType other = to8 ? x.dtype : out[0].dtype;
      Elt other_elt = Elt::kF32;
      if (!dtype_is_8bit_integer(other)) {
        VITRT_ASSIGN_OR_RETURN(other_elt, elt_of(other));
      }
      return cuda_status(
          launch_cast_8bit(to8, eight == DType::kInt8, other_elt, dtype_is_8bit_integer(other),
                           x.data, out[0].data, x.numel(), ctx.stream),
          "Cast");
    }
    VITRT_ASSIGN_OR_RETURN(Elt from, elt_of(x.dtype));
    VITRT_ASSIGN_OR_RETURN(Elt to, elt_of(out[0].dtype));
    if (from == to) {
      return cuda_status(
          cudaMemcpyAsync(out[0].data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream),
          "Cast");
    }
    return cuda_status(launch_cast(from, to, x.data, out[0].data, x.numel(), ctx.stream), "Cast");
  }

 private:
  DType to_;
};

// CastLike: Cast to the dtype of input 1 (a float target is the plan's float type, as Cast's).
class CastLikeKernel final : public CudaKernel {
 public:
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    if (in.size() < 2 || in[1] == nullptr) return invalid_model("input target_type is missing");
    CastKernel cast(in[1]->dtype);
    return cast.run(in, out, ctx);
  }
};

template <BinaryOp kOp>
Result<std::unique_ptr<CudaKernel>> make_binary(const CudaKernelInit& init) {
  if (init.node.num_inputs() != 2) return invalid_model("expects 2 inputs");
  return std::unique_ptr<CudaKernel>(new BinaryKernel(kOp));
}

// Max / Min / Sum / Mean of any number of inputs with multidirectional broadcasting (Mean
// divides by the count at the end, in fp32). Two-input Max / Min / Sum take the binary kernels'
// fast paths instead.
class NaryKernel final : public CudaKernel {
 public:
  NaryKernel(BinaryOp op, bool mean) : op_(op), mean_(mean) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& first = *in[0];
    if (!ctx.launch) {
      std::vector<int64_t> shape = first.shape;
      for (size_t i = 1; i < in.size(); ++i) {
        if (in[i]->dtype != first.dtype) {
          return invalid_argument("input ", i, " has dtype ", dtype_name(in[i]->dtype),
                                  ", input 0 has ", dtype_name(first.dtype));
        }
        VITRT_ASSIGN_OR_RETURN(shape, broadcast_shapes(shape, in[i]->shape));
      }
      VITRT_RETURN_IF_ERROR(check_rank(shape));
      const bool float_only = mean_ || op_ == BinaryOp::kAdd;
      if (float_only ? !dtype_is_float(first.dtype)
                     : first.dtype == DType::kBool || !elt_of(first.dtype).ok()) {
        return unsupported("input dtype ", dtype_name(first.dtype), " is not supported on CUDA");
      }
      out[0].dtype = first.dtype;
      out[0].shape = shape;
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(first.dtype));
    const StridedView vout = contiguous_view(out[0].shape);
    // Chunks of kMaxNary inputs; after the first, the output so far is the chunk's input 0.
    size_t next = 0;
    while (next < in.size()) {
      NaryArgs args;
      if (next > 0) {
        args.in[0] = out[0].data;
        args.views[0] = vout;
        args.count = 1;
      }
      while (args.count < kMaxNary && next < in.size()) {
        args.in[args.count] = in[next]->data;
        args.views[args.count] = broadcast_view(in[next]->shape, out[0].shape);
        ++args.count;
        ++next;
      }
      const bool last = next == in.size();
      const float scale = mean_ && last ? 1.0f / static_cast<float>(in.size()) : 1.0f;
      VITRT_CUDA_RETURN_IF_ERROR(launch_nary(op_, t, args, out[0].data, vout, scale, ctx.stream),
                                 "n-ary op");
    }
    return Status::ok_status();
  }

 private:
  BinaryOp op_;
  bool mean_;
};

// BitShift of unsigned integers (the CPU kernel's types), broadcast like the binary ops.
class BitShiftKernel final : public CudaKernel {
 public:
  explicit BitShiftKernel(bool left) : left_(left) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& a = *in[0];
    const DeviceTensor& b = *in[1];
    if (!ctx.launch) {
      const DType t = a.dtype;
      if (t != DType::kUInt8 && t != DType::kUInt16 && t != DType::kUInt32 && t != DType::kUInt64) {
        return unsupported("BitShift of ", dtype_name(t), " (unsigned integers only)");
      }
      if (b.dtype != t) {
        return invalid_argument("inputs have different dtypes ", dtype_name(t), " and ",
                                dtype_name(b.dtype));
      }
      VITRT_ASSIGN_OR_RETURN(out[0].shape, broadcast_shapes(a.shape, b.shape));
      VITRT_RETURN_IF_ERROR(check_rank(out[0].shape));
      out[0].dtype = t;
      return Status::ok_status();
    }
    return cuda_status(launch_bit_shift(static_cast<int>(dtype_size(a.dtype)), left_, a.data,
                                        broadcast_view(a.shape, out[0].shape), b.data,
                                        broadcast_view(b.shape, out[0].shape), out[0].data,
                                        contiguous_view(out[0].shape), ctx.stream),
                       "BitShift");
  }

 private:
  bool left_;
};

Result<std::unique_ptr<CudaKernel>> make_bit_shift(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(bool left, parse_bit_shift_left(init.node.attrs));
  return std::unique_ptr<CudaKernel>(new BitShiftKernel(left));
}

template <BinaryOp kOp, bool kMean = false>
Result<std::unique_ptr<CudaKernel>> make_variadic(const CudaKernelInit& init) {
  for (int i = 0; i < init.node.num_inputs(); ++i) {
    if (!init.node.has_input(i)) return invalid_model("input ", i, " is missing");
  }
  if (init.node.num_inputs() < 1) return invalid_model(init.node.op_type, " needs an input");
  if (init.node.num_inputs() == 2 && !kMean) {
    return std::unique_ptr<CudaKernel>(new BinaryKernel(kOp));
  }
  return std::unique_ptr<CudaKernel>(new NaryKernel(kOp, kMean));
}

template <UnaryOp kOp>
Result<std::unique_ptr<CudaKernel>> make_unary(const CudaKernelInit& init) {
  return std::unique_ptr<CudaKernel>(new UnaryKernel(kOp));
}

Result<std::unique_ptr<CudaKernel>> make_mod(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t fmod, init.node.attrs.get_int("fmod", 0));
  if (fmod != 0) return unsupported("Mod with fmod=1 has no CUDA kernel");
  return std::unique_ptr<CudaKernel>(new BinaryKernel(BinaryOp::kMod));
}

Result<std::unique_ptr<CudaKernel>> make_gelu(const CudaKernelInit& init) {
  // The Result is read in place: a moved-out std::string trips GCC 12's maybe-uninitialized.
  const Result<std::string> approx = init.node.attrs.get_string("approximate", "none");
  if (!approx.ok()) return approx.status();
  const bool tanh = *approx == "tanh";
  if (!tanh && *approx != "none") {
    return invalid_model("attribute 'approximate' must be \"none\" or \"tanh\", got \"", *approx,
                         "\"");
  }
  return std::unique_ptr<CudaKernel>(new UnaryKernel(tanh ? UnaryOp::kGeluTanh : UnaryOp::kGelu));
}

// Ops whose attributes are alpha (default a) and beta (default b).
template <UnaryOp kOp>
Result<std::unique_ptr<CudaKernel>> make_param_unary(const CudaKernelInit& init, float a, float b,
                                                     const char* beta_name = "beta") {
  VITRT_ASSIGN_OR_RETURN(float alpha, init.node.attrs.get_float("alpha", a));
  VITRT_ASSIGN_OR_RETURN(float beta, init.node.attrs.get_float(beta_name, b));
  return std::unique_ptr<CudaKernel>(new ParamUnaryKernel(kOp, alpha, beta));
}

template <UnaryOp kOp>
Result<std::unique_ptr<CudaKernel>> make_plain_unary(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new ParamUnaryKernel(kOp, 0.0f, 0.0f));
}

Result<std::unique_ptr<CudaKernel>> make_hard_sigmoid(const CudaKernelInit& init) {
  return make_param_unary<UnaryOp::kHardSigmoid>(init, 0.2f, 0.5f);
}
Result<std::unique_ptr<CudaKernel>> make_leaky_relu(const CudaKernelInit& init) {
  return make_param_unary<UnaryOp::kLeakyRelu>(init, 0.01f, 0.0f);
}
Result<std::unique_ptr<CudaKernel>> make_elu(const CudaKernelInit& init) {
  return make_param_unary<UnaryOp::kElu>(init, 1.0f, 0.0f);
}
Result<std::unique_ptr<CudaKernel>> make_selu(const CudaKernelInit& init) {
  return make_param_unary<UnaryOp::kSelu>(init, 1.67326319217681884765625f,
                                          1.05070102214813232421875f, "gamma");
}
Result<std::unique_ptr<CudaKernel>> make_celu(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(float alpha, init.node.attrs.get_float("alpha", 1.0f));
  if (alpha == 0.0f) return invalid_model("attribute 'alpha' must not be 0");
  return std::unique_ptr<CudaKernel>(new ParamUnaryKernel(UnaryOp::kCelu, alpha, 0.0f));
}
Result<std::unique_ptr<CudaKernel>> make_thresholded_relu(const CudaKernelInit& init) {
  return make_param_unary<UnaryOp::kThresholdedRelu>(init, 1.0f, 0.0f);
}

Result<std::unique_ptr<CudaKernel>> make_shrink(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(float bias, init.node.attrs.get_float("bias", 0.0f));
  VITRT_ASSIGN_OR_RETURN(float lambd, init.node.attrs.get_float("lambd", 0.5f));
  return std::unique_ptr<CudaKernel>(new ParamUnaryKernel(UnaryOp::kShrink, bias, lambd));
}

Result<std::unique_ptr<CudaKernel>> make_is_inf(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t pos, init.node.attrs.get_int("detect_positive", 1));
  VITRT_ASSIGN_OR_RETURN(int64_t neg, init.node.attrs.get_int("detect_negative", 1));
  return std::unique_ptr<CudaKernel>(
      new ParamUnaryKernel(UnaryOp::kIsInf, pos != 0 ? 1.0f : 0.0f, neg != 0 ? 1.0f : 0.0f));
}

// com.microsoft QuickGelu: x * sigmoid(alpha * x).
Result<std::unique_ptr<CudaKernel>> make_ms_quick_gelu(const CudaKernelInit& init) {
  return make_param_unary<UnaryOp::kQuickGelu>(init, 1.702f, 0.0f);
}

// ONNX Swish (opset 24): the same with alpha 1 by default.
Result<std::unique_ptr<CudaKernel>> make_swish(const CudaKernelInit& init) {
  return make_param_unary<UnaryOp::kQuickGelu>(init, 1.0f, 0.0f);
}

template <UnaryOp kAct>
Result<std::unique_ptr<CudaKernel>> make_bias_act(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new BiasActKernel(kAct));
}

Result<std::unique_ptr<CudaKernel>> make_clip(const CudaKernelInit& init) {
  if (init.opset >= 11) return std::unique_ptr<CudaKernel>(new ClipKernel());
  VITRT_ASSIGN_OR_RETURN(float lo, init.node.attrs.get_float("min", -FLT_MAX));
  VITRT_ASSIGN_OR_RETURN(float hi, init.node.attrs.get_float("max", FLT_MAX));
  return std::unique_ptr<CudaKernel>(new ParamUnaryKernel(UnaryOp::kClip, lo, hi));
}

Result<std::unique_ptr<CudaKernel>> make_where(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new WhereKernel());
}

Result<std::unique_ptr<CudaKernel>> make_cast_like(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new CastLikeKernel());
}

Result<std::unique_ptr<CudaKernel>> make_cast(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t to, init.node.attrs.require_int("to"));
  const DType dtype = dtype_from_onnx(static_cast<int32_t>(to));
  if (!dtype_is_8bit_integer(dtype)) {
    VITRT_RETURN_IF_ERROR(elt_of(dtype == DType::kFloat64 ? DType::kUndefined : dtype).status());
  }
  return std::unique_ptr<CudaKernel>(new CastKernel(dtype));
}

}  // namespace

void register_cuda_elementwise_kernels(CudaKernelRegistry& r) {
  r.add("vitrt", "ScaleShift", make_scale_shift);
  r.add("", "Add", make_binary<BinaryOp::kAdd>);
  r.add("", "Sub", make_binary<BinaryOp::kSub>);
  r.add("", "Mul", make_binary<BinaryOp::kMul>);
  r.add("", "Div", make_binary<BinaryOp::kDiv>);
  r.add("", "Pow", make_binary<BinaryOp::kPow>);
  r.add("", "Mod", make_mod);
  r.add("", "Max", make_variadic<BinaryOp::kMax>);
  r.add("", "Min", make_variadic<BinaryOp::kMin>);
  r.add("", "Sum", make_variadic<BinaryOp::kAdd>);
  r.add("", "Mean", make_variadic<BinaryOp::kAdd, true>);
  r.add("", "BitShift", make_bit_shift);
  r.add("", "PRelu", make_binary<BinaryOp::kPRelu>);
  r.add("", "Equal", make_binary<BinaryOp::kEqual>);
  r.add("", "Less", make_binary<BinaryOp::kLess>);
  r.add("", "LessOrEqual", make_binary<BinaryOp::kLessEqual>);
  r.add("", "Greater", make_binary<BinaryOp::kGreater>);
  r.add("", "GreaterOrEqual", make_binary<BinaryOp::kGreaterEqual>);
  r.add("", "And", make_binary<BinaryOp::kAnd>);
  r.add("", "Or", make_binary<BinaryOp::kOr>);
  r.add("", "Xor", make_binary<BinaryOp::kXor>);
  r.add("", "Neg", make_unary<UnaryOp::kNeg>);
  r.add("", "Abs", make_unary<UnaryOp::kAbs>);
  r.add("", "Sqrt", make_unary<UnaryOp::kSqrt>);
  r.add("", "Reciprocal", make_unary<UnaryOp::kReciprocal>);
  r.add("", "Exp", make_unary<UnaryOp::kExp>);
  r.add("", "Log", make_unary<UnaryOp::kLog>);
  r.add("", "Erf", make_unary<UnaryOp::kErf>);
  r.add("", "Tanh", make_unary<UnaryOp::kTanh>);
  r.add("", "Sigmoid", make_unary<UnaryOp::kSigmoid>);
  r.add("", "Relu", make_unary<UnaryOp::kRelu>);
  r.add("", "Floor", make_unary<UnaryOp::kFloor>);
  r.add("", "Ceil", make_unary<UnaryOp::kCeil>);
  r.add("", "Sin", make_unary<UnaryOp::kSin>);
  r.add("", "Cos", make_unary<UnaryOp::kCos>);
  r.add("", "IsNaN", make_unary<UnaryOp::kIsNaN>);
  r.add("", "Not", make_unary<UnaryOp::kNot>);
  r.add("", "Gelu", make_gelu);
  r.add("", "HardSigmoid", make_hard_sigmoid);
  r.add("", "HardSwish", make_plain_unary<UnaryOp::kHardSwish>);
  r.add("", "Clip", make_clip);
  r.add("", "IsInf", make_is_inf);
  r.add("", "Shrink", make_shrink);
  r.add("com.microsoft", "Gelu", make_unary<UnaryOp::kGelu>);
  r.add("com.microsoft", "QuickGelu", make_ms_quick_gelu);
  r.add("", "Swish", make_swish);
  r.add("com.microsoft", "FastGelu", make_bias_act<UnaryOp::kGeluTanh>);
  r.add("com.microsoft", "BiasGelu", make_bias_act<UnaryOp::kGelu>);
  r.add("", "LeakyRelu", make_leaky_relu);
  r.add("", "Elu", make_elu);
  r.add("", "Selu", make_selu);
  r.add("", "Celu", make_celu);
  r.add("", "ThresholdedRelu", make_thresholded_relu);
  r.add("", "Softplus", make_plain_unary<UnaryOp::kSoftplus>);
  r.add("", "Softsign", make_plain_unary<UnaryOp::kSoftsign>);
  r.add("", "Mish", make_plain_unary<UnaryOp::kMish>);
  r.add("", "Sign", make_plain_unary<UnaryOp::kSign>);
  r.add("", "Round", make_plain_unary<UnaryOp::kRound>);
  r.add("", "Tan", make_plain_unary<UnaryOp::kTan>);
  r.add("", "Asin", make_plain_unary<UnaryOp::kAsin>);
  r.add("", "Acos", make_plain_unary<UnaryOp::kAcos>);
  r.add("", "Atan", make_plain_unary<UnaryOp::kAtan>);
  r.add("", "Sinh", make_plain_unary<UnaryOp::kSinh>);
  r.add("", "Cosh", make_plain_unary<UnaryOp::kCosh>);
  r.add("", "Asinh", make_plain_unary<UnaryOp::kAsinh>);
  r.add("", "Acosh", make_plain_unary<UnaryOp::kAcosh>);
  r.add("", "Atanh", make_plain_unary<UnaryOp::kAtanh>);
  r.add("", "Where", make_where);
  r.add("", "Cast", make_cast);
  r.add("", "CastLike", make_cast_like);
}

}  // namespace vitrt::cuda
