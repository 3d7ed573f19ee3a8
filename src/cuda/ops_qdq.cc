// Standalone ONNX QuantizeLinear / DequantizeLinear on CUDA: the Q/DQ nodes the optimizer leaves
// (most pairs fold into vitrt.QuantLinear, and those on weights run on the host at load). The
// scale and zero point must be known on the host (constants in every quantization tool's
// output): they travel as launch parameters in fp32, so a plan in fp16 quantizes with the same
// scale as the CPU kernel.
#include <optional>

#include "cuda/cuda_kernel.h"
#include "ir/fake_quant.h"
#include "ir/ops/op_attributes.h"

namespace vitrt::cuda {
namespace {

Result<QdqType> qdq_type_of(DType t, bool quantize) {
  switch (t) {
    case DType::kInt8:
      return QdqType::kI8;
    case DType::kUInt8:
      return QdqType::kU8;
    case DType::kInt16:
      return QdqType::kI16;
    case DType::kUInt16:
      return QdqType::kU16;
    case DType::kInt32:
      if (!quantize) return QdqType::kI32;
      break;
    default:
      break;
  }
  return unsupported(quantize ? "QuantizeLinear to " : "DequantizeLinear of ", dtype_name(t),
                     " has no CUDA kernel (8- and 16-bit integers", quantize ? "" : ", int32",
                     " only)");
}

class QdqKernel final : public CudaKernel {
 public:
  QdqKernel(const Node& node, bool quantize, DType out_dtype)
      : node_(node), quantize_(quantize), out_dtype_(out_dtype) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor* scale = in[1];
    const DeviceTensor* zp = in.size() > 2 ? in[2] : nullptr;
    for (const DeviceTensor* p : {scale, zp}) {
      if (p != nullptr && p->host == nullptr) {
        return unsupported("input ", p == scale ? "'y_scale'/'x_scale'" : "'zero_point'",
                           " must be a constant or computed from shapes (it is computed on the "
                           "GPU here)");
      }
    }
    if (scale == nullptr) return invalid_model("the scale input is missing");
    VITRT_ASSIGN_OR_RETURN(QdqLayout layout, qdq_layout(node_.attrs, x.shape, scale->host->shape(),
                                                        zp != nullptr ? zp->host->numel() : -1));
    if (layout.channels > kMaxQdqChannels) {
      return unsupported("a per-axis scale of ", layout.channels,
                         " elements has no CUDA kernel (at most ", kMaxQdqChannels, ")");
    }
    // The quantized side's type: the output's for QuantizeLinear, x's for DequantizeLinear.
    const DType qdtype = quantize_ ? out_dtype_ : x.dtype;
    VITRT_ASSIGN_OR_RETURN(QdqType qt, qdq_type_of(qdtype, quantize_));
    if (!ctx.launch) {
      if (quantize_ ? !dtype_is_float(x.dtype) : !dtype_is_float(out_dtype_)) {
        return unsupported(node_.op_type, " between ", dtype_name(x.dtype), " and ",
                           dtype_name(out_dtype_), " has no CUDA kernel");
      }
      if (zp != nullptr && zp->host->dtype() != qdtype) {
        return invalid_argument("the zero point is ", dtype_name(zp->host->dtype()),
                                ", the quantized side ", dtype_name(qdtype));
      }
      // Float outputs are stored in the plan's activation type, as every float value.
      out[0].dtype = quantize_ ? out_dtype_ : ctx.float_type;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    QdqArgs a;
    a.n = x.numel();
    a.channels = layout.channels;
    a.inner = layout.inner;
    for (int64_t c = 0; c < layout.channels; ++c) {
      a.scale[c] = static_cast<float>(scale->host->element_as_double(c));
      a.zero_point[c] = zp != nullptr ? static_cast<int32_t>(zp->host->element_as_double(c)) : 0;
    }
    const DeviceTensor& fside = quantize_ ? x : out[0];
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(fside.dtype));
    return cuda_status(quantize_
                           ? launch_quantize_linear(t, qt, x.data, out[0].data, a, ctx.stream)
                           : launch_dequantize_linear(t, qt, x.data, out[0].data, a, ctx.stream),
                       node_.op_type.c_str());
  }

 private:
  const Node& node_;
  bool quantize_;
  DType out_dtype_;
};

template <bool kQuantize>
Result<std::unique_ptr<CudaKernel>> make_qdq(const CudaKernelInit& init) {
  VITRT_RETURN_IF_ERROR(check_qdq_block_size(init.node.attrs));
  if (!init.node.has_input(0) || !init.node.has_input(1)) {
    return invalid_model("the input x or the scale is missing");
  }
  // The output type comes from shape inference (zero point type, output_dtype), as the CPU
  // kernel takes it.
  const DType out = init.graph.values[init.node.outputs[0]].dtype;
  // The quantized side's type is known at build time: refuse unsupported ones there.
  const DType quantized = kQuantize ? out : init.graph.values[init.node.inputs[0]].dtype;
  if (quantized != DType::kUndefined) {
    VITRT_RETURN_IF_ERROR(qdq_type_of(quantized, kQuantize).status());
  }
  return std::unique_ptr<CudaKernel>(new QdqKernel(init.node, kQuantize, out));
}

// vitrt.FakeQuant: one pass in the activation type, float32 arithmetic inside (the bias, a
// constant, is uploaded in the activation type like every float constant).
class FakeQuantKernel final : public CudaKernel {
 public:
  FakeQuantKernel(FakeQuant fq, std::optional<FakeQuant> fq_out) : fq_(fq), fq_out_(fq_out) {}
  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor* bias = in.size() > 1 ? in[1] : nullptr;
    if (!ctx.launch) {
      if (!dtype_is_float(x.dtype)) {
        return unsupported("FakeQuant of ", dtype_name(x.dtype), " has no CUDA kernel");
      }
      if (bias != nullptr && (bias->dtype != x.dtype || bias->shape.size() != 1 ||
                              x.shape.empty() || bias->shape[0] != x.shape.back())) {
        return invalid_argument("the bias ", shape_to_string(bias->shape), " ",
                                dtype_name(bias->dtype), " does not match x ",
                                shape_to_string(x.shape), " ", dtype_name(x.dtype));
      }
      out[0].dtype = x.dtype;
      out[0].shape = x.shape;
      return Status::ok_status();
    }
    FakeQuantArgs a;
    a.quant = fq_;
    a.has_out = fq_out_.has_value();
    if (fq_out_) a.quant_out = *fq_out_;
    if (bias != nullptr) {
      a.bias = bias->data;
      a.cols = bias->shape[0];
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_fake_quant(t, x.data, out[0].data, x.numel(), a, ctx.stream),
                       "FakeQuant");
  }

 private:
  FakeQuant fq_;
  std::optional<FakeQuant> fq_out_;
};

Result<std::unique_ptr<CudaKernel>> make_fake_quant(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> fq, parse_fake_quant(init.node.attrs, "quant"));
  if (!fq) return invalid_model("attribute 'quant' is missing");
  VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> fq_out,
                         parse_fake_quant(init.node.attrs, "quant_out"));
  return std::unique_ptr<CudaKernel>(new FakeQuantKernel(*fq, fq_out));
}

}  // namespace

void register_cuda_qdq_kernels(CudaKernelRegistry& r) {
  r.add("", "QuantizeLinear", make_qdq<true>);
  r.add("", "DequantizeLinear", make_qdq<false>);
  r.add("vitrt", "FakeQuant", make_fake_quant);
}

}  // namespace vitrt::cuda
