// ONNX's integer ops on CUDA (DynamicQuantizeLinear, MatMulInteger, ConvInteger, QLinearMatMul,
// QLinearConv): what ONNX Runtime's quantize_dynamic and QOperator quantize_static write. The
// products are exact int32 sums as on the CPU; scales are read in the plan's activation type,
// so an fp32 plan agrees with the CPU kernel exactly and an fp16/bf16 plan to that type's
// rounding of the scales (integer_ops.cu).
#include "cuda/cuda_kernel.h"
#include "ir/ops/conv_attributes.h"

namespace vitrt::cuda {
namespace {

Status check_8bit(const DeviceTensor* t, const char* name) {
  if (t == nullptr) return invalid_argument(name, " is missing");
  if (!dtype_is_8bit_integer(t->dtype)) {
    return unsupported(name, " of ", dtype_name(t->dtype), " has no CUDA kernel (int8, uint8)");
  }
  return Status::ok_status();
}

// A zero point or scale: one value, or `count` (one per row, column or output channel).
Status check_count(const DeviceTensor* t, int64_t count, const char* name) {
  if (t == nullptr || t->numel() == 1) return Status::ok_status();
  if (t->shape.size() != 1 || t->numel() != count) {
    return invalid_argument(name, " must be a scalar or 1-D of ", count, " values, got shape ",
                            shape_to_string(t->shape));
  }
  return Status::ok_status();
}

Result<IntRequant> requant_of(const std::vector<const DeviceTensor*>& in, int in_scale, int w_scale,
                              int64_t in_count, int64_t w_count) {
  IntRequant r;
  r.enabled = true;
  const DeviceTensor* y_scale = in[6];
  const DeviceTensor* y_zp = in[7];
  VITRT_RETURN_IF_ERROR(check_count(in[in_scale], in_count, "the input's scale"));
  VITRT_RETURN_IF_ERROR(check_count(in[w_scale], w_count, "the weights' scale"));
  if (y_scale->numel() != 1 || y_zp->numel() != 1) {
    return unsupported("a per-axis y_scale or y_zero_point has no CUDA kernel");
  }
  if (!dtype_is_float(y_scale->dtype)) {
    return invalid_argument("y_scale must be a float tensor, got ", dtype_name(y_scale->dtype));
  }
  VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(y_scale->dtype));
  if (in[in_scale]->dtype != y_scale->dtype || in[w_scale]->dtype != y_scale->dtype) {
    return invalid_argument("the scales differ in type");
  }
  r.scale_type = t;
  r.in_scale = in[in_scale]->data;
  r.in_scale_count = in[in_scale]->numel();
  r.w_scale = in[w_scale]->data;
  r.w_scale_count = in[w_scale]->numel();
  r.y_scale = y_scale->data;
  r.y_zero_point = y_zp->data;
  r.y_signed = y_zp->dtype == DType::kInt8;
  return r;
}

class DynamicQuantizeLinearKernel final : public CudaKernel {
 public:
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return invalid_argument("x must be a float tensor, got ", dtype_name(x.dtype));
      }
      out[0].dtype = DType::kUInt8;
      out[0].shape = x.shape;
      out[1].dtype = ctx.float_type;
      out[1].shape = {};
      out[2].dtype = DType::kUInt8;
      out[2].shape = {};
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(
        launch_dynamic_quantize_linear(t, x.data, x.numel(), static_cast<uint8_t*>(out[0].data),
                                       out[1].data, static_cast<uint8_t*>(out[2].data), ctx.stream),
        "DynamicQuantizeLinear");
  }
};

// MatMulInteger (a, b, a_zp, b_zp) or QLinearMatMul (a, a_scale, a_zp, b, b_scale, b_zp,
// y_scale, y_zp).
class IntegerMatmulKernel final : public CudaKernel {
 public:
  explicit IntegerMatmulKernel(bool qlinear) : qlinear_(qlinear) {}

  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const int ia = 0, ib = qlinear_ ? 3 : 1, iaz = 2, ibz = qlinear_ ? 5 : 3;
    const DeviceTensor* a = in[ia];
    const DeviceTensor* b = in[ib];
    const DeviceTensor* a_zp = static_cast<int>(in.size()) > iaz ? in[iaz] : nullptr;
    const DeviceTensor* b_zp = static_cast<int>(in.size()) > ibz ? in[ibz] : nullptr;
    VITRT_RETURN_IF_ERROR(check_8bit(a, "A"));
    VITRT_RETURN_IF_ERROR(check_8bit(b, "B"));
    std::vector<int64_t> as = a->shape, bs = b->shape;
    if (as.empty() || bs.empty()) return invalid_argument("A and B must have rank >= 1");
    const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
    if (a_vec) as.insert(as.begin(), 1);
    if (b_vec) bs.push_back(1);
    IntMatmulArgs args;
    args.m = as[as.size() - 2];
    args.k = as.back();
    args.n = bs.back();
    if (bs[bs.size() - 2] != args.k) {
      return invalid_argument("inner dims differ: A ", shape_to_string(a->shape), ", B ",
                              shape_to_string(b->shape));
    }
    const std::vector<int64_t> ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> batch, broadcast_shapes(ab, bb));
    if (batch.size() > static_cast<size_t>(kMaxIntBatchRank)) {
      return unsupported("more than ", kMaxIntBatchRank, " batch dims have no CUDA kernel");
    }
    std::vector<int64_t> shape = batch;
    if (!a_vec) shape.push_back(args.m);
    if (!b_vec) shape.push_back(args.n);
    VITRT_RETURN_IF_ERROR(check_count(a_zp, args.m, "the zero point of A"));
    VITRT_RETURN_IF_ERROR(check_count(b_zp, args.n, "the zero point of B"));
    if (!ctx.launch) {
      if (qlinear_) VITRT_RETURN_IF_ERROR(check_8bit(in[7], "y_zero_point"));
      out[0].dtype = qlinear_ ? in[7]->dtype : DType::kInt32;
      out[0].shape = shape;
      return Status::ok_status();
    }
    args.a = a->data;
    args.b = b->data;
    args.a_signed = a->dtype == DType::kInt8;
    args.b_signed = b->dtype == DType::kInt8;
    args.a_zp = a_zp != nullptr ? a_zp->data : nullptr;
    args.a_zp_count = a_zp != nullptr ? a_zp->numel() : 1;
    args.b_zp = b_zp != nullptr ? b_zp->data : nullptr;
    args.b_zp_count = b_zp != nullptr ? b_zp->numel() : 1;
    args.batch_rank = static_cast<int>(batch.size());
    args.batches = 1;
    int64_t a_stride = 1, b_stride = 1;
    // A's and B's batch dims align with the output's at the right (NumPy broadcasting).
    const int off_a = args.batch_rank - static_cast<int>(ab.size());
    const int off_b = args.batch_rank - static_cast<int>(bb.size());
    for (int d = args.batch_rank - 1; d >= 0; --d) {
      const int64_t xa = d >= off_a ? ab[d - off_a] : 1;
      const int64_t xb = d >= off_b ? bb[d - off_b] : 1;
      args.batch_dims[d] = batch[d];
      args.a_batch_strides[d] = xa == 1 ? 0 : a_stride;
      args.b_batch_strides[d] = xb == 1 ? 0 : b_stride;
      a_stride *= xa;
      b_stride *= xb;
      args.batches *= batch[d];
    }
    args.y = out[0].data;
    if (qlinear_) {
      VITRT_ASSIGN_OR_RETURN(args.requant, requant_of(in, 1, 4, args.m, args.n));
    }
    return cuda_status(launch_integer_matmul(args, ctx.stream),
                       qlinear_ ? "QLinearMatMul" : "MatMulInteger");
  }

 private:
  bool qlinear_;
};

// ConvInteger (x, w, x_zp, w_zp) or QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale,
// y_zp, B).
class IntegerConvKernel final : public CudaKernel {
 public:
  IntegerConvKernel(const Node& node, ConvAttributes attrs, bool qlinear)
      : node_(node), attrs_(std::move(attrs)), qlinear_(qlinear) {}

  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const int iw = qlinear_ ? 3 : 1, ixz = 2, iwz = qlinear_ ? 5 : 3;
    const DeviceTensor* x = in[0];
    const DeviceTensor* w = in[iw];
    const DeviceTensor* x_zp = static_cast<int>(in.size()) > ixz ? in[ixz] : nullptr;
    const DeviceTensor* w_zp = static_cast<int>(in.size()) > iwz ? in[iwz] : nullptr;
    const DeviceTensor* bias = qlinear_ && in.size() > 8 ? in[8] : nullptr;
    VITRT_RETURN_IF_ERROR(check_8bit(x, "x"));
    VITRT_RETURN_IF_ERROR(check_8bit(w, "w"));
    const int spatial = static_cast<int>(attrs_.strides.size());
    if (static_cast<int>(x->shape.size()) != spatial + 2 ||
        static_cast<int>(w->shape.size()) != spatial + 2 || spatial > 3) {
      return invalid_argument("x ", shape_to_string(x->shape), " and w ", shape_to_string(w->shape),
                              " must have rank ", spatial + 2, " (1 to 3 spatial axes)");
    }
    IntConvArgs args;
    args.batch = x->shape[0];
    args.channels = x->shape[1];
    args.out_channels = w->shape[0];
    args.group = attrs_.group;
    if (args.channels != w->shape[1] * args.group || args.out_channels % args.group != 0) {
      return invalid_argument("x ", shape_to_string(x->shape), " and w ", shape_to_string(w->shape),
                              " do not match for group ", args.group);
    }
    std::vector<int64_t> shape = {args.batch, args.out_channels};
    for (int i = 0; i < spatial; ++i) {
      const int j = 3 - spatial + i;
      args.in[j] = x->shape[2 + i];
      args.kernel[j] = w->shape[2 + i];
      VITRT_ASSIGN_OR_RETURN(ConvAttributes::Axis axis,
                             attrs_.axis(node_, i, args.in[j], args.kernel[j]));
      args.out[j] = axis.out;
      args.pad[j] = axis.pad_begin;
      args.stride[j] = attrs_.strides[i];
      args.dilation[j] = attrs_.dilations[i];
      shape.push_back(axis.out);
    }
    if (x_zp != nullptr && x_zp->numel() != 1) {
      return unsupported("a per-channel zero point for x (only a scalar is defined)");
    }
    VITRT_RETURN_IF_ERROR(check_count(w_zp, args.out_channels, "the zero point of w"));
    if (bias != nullptr && (bias->dtype != DType::kInt32 || bias->numel() != args.out_channels)) {
      return invalid_argument("B must be int32 [", args.out_channels, "]");
    }
    if (!ctx.launch) {
      if (qlinear_) VITRT_RETURN_IF_ERROR(check_8bit(in[7], "y_zero_point"));
      out[0].dtype = qlinear_ ? in[7]->dtype : DType::kInt32;
      out[0].shape = shape;
      return Status::ok_status();
    }
    args.x = x->data;
    args.w = w->data;
    args.x_signed = x->dtype == DType::kInt8;
    args.w_signed = w->dtype == DType::kInt8;
    args.x_zp = x_zp != nullptr ? x_zp->data : nullptr;
    args.w_zp = w_zp != nullptr ? w_zp->data : nullptr;
    args.w_zp_count = w_zp != nullptr ? w_zp->numel() : 1;
    args.bias = bias != nullptr ? static_cast<const int32_t*>(bias->data) : nullptr;
    args.y = out[0].data;
    if (qlinear_) {
      if (in[1]->numel() != 1) {
        return unsupported("a per-channel x_scale (only a scalar is defined)");
      }
      VITRT_ASSIGN_OR_RETURN(args.requant, requant_of(in, 1, 4, 1, args.out_channels));
    }
    return cuda_status(launch_integer_conv(args, ctx.stream),
                       qlinear_ ? "QLinearConv" : "ConvInteger");
  }

 private:
  const Node& node_;
  ConvAttributes attrs_;
  bool qlinear_;
};

// vitrt.QuantLinear with dynamic_input (import_dynamic_quant's layers): the steps of the chain
// it replaces, on the kernels of that chain's ops: DynamicQuantizeLinear's kernel quantizes X
// into scratch (scale in X's type, as that op's GPU kernel keeps it), the integer product
// kernel forms the exact int32 sums of (xq - zp) x W_q, and one pass applies fp32(scale *
// w_scale[n]), the bias, the activation or the residual. Exact, not fast: GPU plans quantize
// with --precision int8 / fp8 instead.
class DynamicQuantLinearKernel final : public CudaKernel {
 public:
  DynamicQuantLinearKernel(int64_t k, int64_t n, UnaryOp act, std::vector<float> w_scale,
                           std::vector<float> bias)
      : k_(k), n_(n), act_(act), host_w_scale_(std::move(w_scale)), host_bias_(std::move(bias)) {}
  DynamicQuantLinearKernel(const DynamicQuantLinearKernel&) = delete;
  DynamicQuantLinearKernel& operator=(const DynamicQuantLinearKernel&) = delete;
  ~DynamicQuantLinearKernel() override {
    if (dev_ != nullptr) cudaFree(dev_);
  }

  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& w = *in[1];
    const DeviceTensor* residual = in.size() > 4 ? in[4] : nullptr;
    if (!dtype_is_float(x.dtype)) {
      return invalid_argument("X must be a float tensor, got ", dtype_name(x.dtype));
    }
    if (x.shape.empty() || x.shape.back() != k_) {
      return invalid_argument("X ", shape_to_string(x.shape), " does not end in K = ", k_);
    }
    if (w.dtype != DType::kInt8 || w.numel() != k_ * n_) {
      return invalid_argument("W_q must be int8 [", k_, ", ", n_, "]");
    }
    const int64_t m = x.numel() / k_;
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      out[0].shape.back() = n_;
      if (residual != nullptr && (residual->dtype != x.dtype || residual->shape != out[0].shape)) {
        return invalid_argument("residual ", dtype_name(residual->dtype), " ",
                                shape_to_string(residual->shape), " must be ", dtype_name(x.dtype),
                                " ", shape_to_string(out[0].shape), " like Y");
      }
      VITRT_RETURN_IF_ERROR(upload());
      // Scratch: xq, the int32 sums, X's scale (in X's type) and zero point, the column scales.
      out.resize(6);
      out[1].dtype = DType::kUInt8;
      out[1].shape = {std::max<int64_t>(m, 1), k_};
      out[2].dtype = DType::kInt32;
      out[2].shape = {std::max<int64_t>(m, 1), n_};
      out[3].dtype = x.dtype;
      out[3].shape = {1};
      out[4].dtype = DType::kUInt8;
      out[4].shape = {1};
      out[5].dtype = DType::kFloat32;
      out[5].shape = {n_};
      return Status::ok_status();
    }
    if (m == 0 || n_ == 0) return Status::ok_status();
    if (w.data == nullptr) return internal_error("QuantLinear: W_q is not on the GPU");
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    auto* xq = static_cast<uint8_t*>(out[1].data);
    auto* zp = static_cast<uint8_t*>(out[4].data);
    VITRT_RETURN_IF_ERROR(cuda_status(
        launch_dynamic_quantize_linear(t, x.data, m * k_, xq, out[3].data, zp, ctx.stream),
        "QuantLinear: quantizing X"));
    IntMatmulArgs mm;
    mm.a = xq;
    mm.b = w.data;
    mm.a_signed = false;
    mm.b_signed = true;
    mm.a_zp = zp;
    mm.m = m;
    mm.k = k_;
    mm.n = n_;
    mm.y = out[2].data;
    VITRT_RETURN_IF_ERROR(
        cuda_status(launch_integer_matmul(mm, ctx.stream), "QuantLinear: integer product"));
    auto* scales = static_cast<float*>(out[5].data);
    VITRT_RETURN_IF_ERROR(
        cuda_status(launch_scale_by_device_scalar(t, out[3].data, w_scale_, n_, scales, ctx.stream),
                    "QuantLinear: column scales"));
    DequantArgs d;
    d.rows = m;
    d.n = n_;
    d.acc_ld = n_;
    d.acc_int32 = true;
    d.scale = scales;
    d.bias = bias_;
    d.residual = residual != nullptr ? residual->data : nullptr;
    d.act = act_;
    return cuda_status(launch_dequantize_bias_act(t, d, out[2].data, out[0].data, ctx.stream),
                       "QuantLinear: scales and bias");
  }

 private:
  // The fp32 column scales and bias on the device, once per kernel.
  Status upload() {
    if (dev_ != nullptr) return Status::ok_status();
    const size_t bytes = (host_w_scale_.size() + host_bias_.size()) * sizeof(float);
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&dev_, std::max<size_t>(bytes, 4)),
                               "QuantLinear: allocating scales");
    auto* f = static_cast<float*>(dev_);
    VITRT_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(f, host_w_scale_.data(), host_w_scale_.size() * sizeof(float),
                   cudaMemcpyHostToDevice),
        "QuantLinear: uploading scales");
    w_scale_ = f;
    if (!host_bias_.empty()) {
      VITRT_CUDA_RETURN_IF_ERROR(
          cudaMemcpy(f + n_, host_bias_.data(), host_bias_.size() * sizeof(float),
                     cudaMemcpyHostToDevice),
          "QuantLinear: uploading the bias");
      bias_ = f + n_;
    }
    return Status::ok_status();
  }

  int64_t k_, n_;
  UnaryOp act_;
  std::vector<float> host_w_scale_, host_bias_;
  void* dev_ = nullptr;
  const float* w_scale_ = nullptr;
  const float* bias_ = nullptr;
};

Result<std::unique_ptr<CudaKernel>> make_dynamic_quantize_linear(const CudaKernelInit&) {
  return std::unique_ptr<CudaKernel>(new DynamicQuantizeLinearKernel());
}

// MatMulInteger's / ConvInteger's int32 sums reach 10^5-10^7 in real models, past fp16's
// largest value (65504): in an fp16 plan the Cast to float that follows them (quantize_dynamic's
// chain) would give inf. Refused at build time, naming the precisions that hold them.
Status check_int32_sums_fit(const CudaKernelInit& init) {
  if (init.float_type != DType::kFloat16) return Status::ok_status();
  const ValueId sums = init.node.outputs[0];
  for (const Node& n : init.graph.nodes) {
    if (n.op_type != "Cast" || n.inputs.empty() || n.inputs[0] != sums) continue;
    const DType to = init.graph.values[n.outputs[0]].dtype;
    if (dtype_is_float(to)) {
      return unsupported(init.node.describe(), ": its int32 sums are cast to float by '", n.name,
                         "', and in an fp16 plan they would overflow fp16 (largest 65504); build "
                         "this model with --precision fp32 or bf16");
    }
  }
  return Status::ok_status();
}

template <bool kQLinear>
Result<std::unique_ptr<CudaKernel>> make_integer_matmul(const CudaKernelInit& init) {
  if (!kQLinear) VITRT_RETURN_IF_ERROR(check_int32_sums_fit(init));
  return std::unique_ptr<CudaKernel>(new IntegerMatmulKernel(kQLinear));
}

template <bool kQLinear>
Result<std::unique_ptr<CudaKernel>> make_integer_conv(const CudaKernelInit& init) {
  if (!kQLinear) VITRT_RETURN_IF_ERROR(check_int32_sums_fit(init));
  const Value& w = init.graph.values[init.node.inputs[kQLinear ? 3 : 1]];
  if (!w.has_shape || w.shape.size() < 3 || w.shape.size() > 5) {
    return unsupported(init.node.describe(),
                       ": w's rank must be known at build time and 3 to 5 (1 to 3 spatial axes)");
  }
  VITRT_ASSIGN_OR_RETURN(ConvAttributes attrs,
                         ConvAttributes::parse(init.node, static_cast<int>(w.shape.size()) - 2));
  return std::unique_ptr<CudaKernel>(new IntegerConvKernel(init.node, std::move(attrs), kQLinear));
}

}  // namespace

Result<std::unique_ptr<CudaKernel>> make_dynamic_quant_linear(const CudaKernelInit& init) {
  const Node& node = init.node;
  const Tensor* w = constant_input(init, 1);
  const Tensor* w_scale = constant_input(init, 2);
  const Tensor* bias = constant_input(init, 3);
  if (w == nullptr || w->rank() != 2 || w->dtype() != DType::kInt8) {
    return unsupported(
        "QuantLinear with dynamic_input on CUDA needs W_q as a constant int8 [K, N]");
  }
  const int64_t k = w->dim(0), n = w->dim(1);
  if (k * 255 * 128 >= (int64_t{1} << 31)) {
    return unsupported("QuantLinear with dynamic_input on CUDA supports K up to 65792, got ", k);
  }
  if (w_scale == nullptr || w_scale->dtype() != DType::kFloat32 || w_scale->numel() != n) {
    return unsupported(
        "QuantLinear with dynamic_input on CUDA needs w_scale as a constant float32 [", n, "]");
  }
  if (node.has_input(3) &&
      (bias == nullptr || bias->dtype() != DType::kFloat32 || bias->numel() != n)) {
    return unsupported(
        "QuantLinear with dynamic_input on CUDA needs the bias as a constant float32 [", n, "]");
  }
  VITRT_ASSIGN_OR_RETURN(UnaryOp act, linear_activation(node.attrs));
  if (node.has_input(4) && act != UnaryOp::kIdentity) {
    return invalid_model("QuantLinear: a residual input (4) needs activation 'none'");
  }
  std::vector<float> scales(w_scale->data<float>(), w_scale->data<float>() + n);
  std::vector<float> b;
  if (bias != nullptr) b.assign(bias->data<float>(), bias->data<float>() + n);
  return std::unique_ptr<CudaKernel>(
      new DynamicQuantLinearKernel(k, n, act, std::move(scales), std::move(b)));
}

void register_cuda_integer_kernels(CudaKernelRegistry& r) {
  r.add("", "DynamicQuantizeLinear", make_dynamic_quantize_linear);
  r.add("", "MatMulInteger", make_integer_matmul<false>);
  r.add("", "QLinearMatMul", make_integer_matmul<true>);
  r.add("", "ConvInteger", make_integer_conv<false>);
  r.add("", "QLinearConv", make_integer_conv<true>);
}

}  // namespace vitrt::cuda
