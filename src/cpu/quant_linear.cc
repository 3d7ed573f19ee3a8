// vitrt.QuantLinear on the CPU. X may be float32, float16 or bfloat16 (converted to fp32 rows
// and the result rounded back to X's type, so a CUDA fp16 plan's layers can be checked
// against this kernel); the product is quant_linear_reference().
#include <vector>

#include "core/half.h"
#include "cpu/linear.h"
#include "cpu/quant_linear.h"

namespace vitrt {
namespace {

// X's elements as fp32 (borrowed when X already is fp32).
const float* float_rows(const Tensor& x, std::vector<float>& converted) {
  if (x.dtype() == DType::kFloat32) return x.data<float>();
  converted.resize(static_cast<size_t>(x.numel()));
  const uint16_t* bits = x.data<uint16_t>();
  const bool half = x.dtype() == DType::kFloat16;
  for (int64_t i = 0; i < x.numel(); ++i) {
    converted[i] = half ? half_to_float(bits[i]) : bf16_to_float(bits[i]);
  }
  return converted.data();
}

class QuantLinearKernel final : public CpuKernel {
 public:
  QuantLinearKernel(QuantLinearParams params, Tensor w_q, Tensor w_scale, Tensor bias)
      : p_(params),
        w_q_(std::move(w_q)),
        w_scale_(std::move(w_scale)),
        bias_(std::move(bias)),
        k_(w_q_.dim(0)),
        n_(w_q_.dim(1)) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const DType dtype = x.dtype();
    if (dtype != DType::kFloat32 && dtype != DType::kFloat16 && dtype != DType::kBFloat16) {
      return invalid_argument("X must be float32, float16 or bfloat16, got ", dtype_name(dtype));
    }
    if (x.rank() < 1 || x.dim(x.rank() - 1) != k_) {
      return invalid_argument("X is ", x.describe(), "; its last dim must be K = ", k_);
    }
    std::vector<int64_t> out_shape = x.shape();
    out_shape.back() = n_;
    Tensor y = Tensor::empty(dtype, out_shape);
    const int64_t m = x.numel() / k_;
    if (m > 0) {
      std::vector<float> x_converted;
      const float* rows = float_rows(x, x_converted);
      std::vector<float> y_float;
      float* out = y.data<float>();
      if (dtype != DType::kFloat32) {
        y_float.resize(static_cast<size_t>(m * n_));
        out = y_float.data();
      }
      quant_linear_reference(p_, rows, m, k_, n_, w_q_.raw_data(), w_scale_.data<float>(),
                             bias_.defined() ? bias_.data<float>() : nullptr, out);
      if (dtype != DType::kFloat32) {
        uint16_t* bits = y.data<uint16_t>();
        for (int64_t i = 0; i < m * n_; ++i) {
          bits[i] = dtype == DType::kFloat16 ? float_to_half(out[i]) : float_to_bf16(out[i]);
        }
      }
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  QuantLinearParams p_;
  Tensor w_q_, w_scale_, bias_;
  int64_t k_, n_;
};

Result<std::unique_ptr<CpuKernel>> make_quant_linear_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(QuantLinearParams params, parse_quant_linear_params(init.node.attrs));
  const DType w_dtype = params.format == QuantFormat::kInt8 ? DType::kInt8 : DType::kUInt8;
  const Tensor* w = init.constant_input(1);
  if (w == nullptr || w->dtype() != w_dtype || w->rank() != 2) {
    return invalid_argument("W_q must be a constant ", dtype_name(w_dtype), " [K, N] matrix");
  }
  const Tensor* w_scale = init.constant_input(2);
  if (w_scale == nullptr || w_scale->dtype() != DType::kFloat32 || w_scale->numel() != w->dim(1)) {
    return invalid_argument("w_scale must be a constant float32 [", w->dim(1), "]");
  }
  const Tensor* bias = init.constant_input(3);
  if (init.node.has_input(3) &&
      (bias == nullptr || bias->dtype() != DType::kFloat32 || bias->numel() != w->dim(1))) {
    return invalid_argument("bias must be a constant float32 [", w->dim(1), "]");
  }
  return std::unique_ptr<CpuKernel>(std::make_unique<QuantLinearKernel>(
      params, *w, *w_scale, bias != nullptr ? *bias : Tensor()));
}

}  // namespace

void register_cpu_quant_linear_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "QuantLinear", make_quant_linear_kernel);
}

}  // namespace vitrt
