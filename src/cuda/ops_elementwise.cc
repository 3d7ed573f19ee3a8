// Elementwise ops on CUDA: the ONNX binary ops with broadcasting, unary math, Gelu, Where,
// Cast, Not and IsNaN.
#include <cmath>

#include "cuda/cuda_kernel.h"

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
    if (!ctx.launch) {
      // Float targets become the plan's activation type: a Cast to float32 in an fp16 plan
      // keeps fp16 storage.
      out[0].dtype = dtype_is_float(to_) ? ctx.float_type : to_;
      out[0].shape = x.shape;
      VITRT_RETURN_IF_ERROR(elt_of(out[0].dtype).status());
      return elt_of(x.dtype).status();
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

template <BinaryOp kOp>
Result<std::unique_ptr<CudaKernel>> make_binary(const CudaKernelInit& init) {
  if (init.node.num_inputs() != 2) return invalid_model("expects 2 inputs");
  return std::unique_ptr<CudaKernel>(new BinaryKernel(kOp));
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
  VITRT_ASSIGN_OR_RETURN(std::string approx, init.node.attrs.get_string("approximate", "none"));
  if (approx != "none" && approx != "tanh") {
    return invalid_model("attribute 'approximate' must be \"none\" or \"tanh\", got \"", approx,
                         "\"");
  }
  return std::unique_ptr<CudaKernel>(
      new UnaryKernel(approx == "tanh" ? UnaryOp::kGeluTanh : UnaryOp::kGelu));
}

Result<std::unique_ptr<CudaKernel>> make_where(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new WhereKernel());
}

Result<std::unique_ptr<CudaKernel>> make_cast(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t to, init.node.attrs.require_int("to"));
  const DType dtype = dtype_from_onnx(static_cast<int32_t>(to));
  VITRT_RETURN_IF_ERROR(elt_of(dtype == DType::kFloat64 ? DType::kUndefined : dtype).status());
  return std::unique_ptr<CudaKernel>(new CastKernel(dtype));
}

}  // namespace

void register_cuda_elementwise_kernels(CudaKernelRegistry& r) {
  r.add("", "Add", make_binary<BinaryOp::kAdd>);
  r.add("", "Sub", make_binary<BinaryOp::kSub>);
  r.add("", "Mul", make_binary<BinaryOp::kMul>);
  r.add("", "Div", make_binary<BinaryOp::kDiv>);
  r.add("", "Pow", make_binary<BinaryOp::kPow>);
  r.add("", "Mod", make_mod);
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
  r.add("", "Where", make_where);
  r.add("", "Cast", make_cast);
}

}  // namespace vitrt::cuda
