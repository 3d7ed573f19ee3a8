// vitrt.Linear on the CPU: one oneDNN product over all rows of X against weights packed once
// at load, bias added by the primitive, the activation applied to the product in place.
#include <cmath>
#include <numbers>

#include "core/parallel.h"
#include "cpu/dnnl_matmul.h"
#include "cpu/linear.h"

namespace vitrt {
namespace {

enum class Activation { kNone, kGelu, kGeluTanh, kQuickGelu, kRelu };

Result<Activation> parse_activation(const std::string& name) {
  if (name == "none") return Activation::kNone;
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_tanh") return Activation::kGeluTanh;
  if (name == "quick_gelu") return Activation::kQuickGelu;
  if (name == "relu") return Activation::kRelu;
  return invalid_argument("activation '", name, "' is not one of none, gelu, gelu_tanh, ",
                          "quick_gelu, relu");
}

void apply_activation(Activation act, float* y, int64_t count) {
  if (act == Activation::kNone) return;
  parallel_for(count, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float x = y[i];
      switch (act) {
        case Activation::kGelu:
          y[i] = 0.5f * x * (1.0f + std::erf(x * static_cast<float>(std::numbers::sqrt2 / 2)));
          break;
        case Activation::kGeluTanh:
          y[i] = 0.5f * x * (1.0f + std::tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
          break;
        case Activation::kQuickGelu:
          y[i] = x / (1.0f + std::exp(-1.702f * x));
          break;
        case Activation::kRelu:
          y[i] = x > 0.0f ? x : 0.0f;
          break;
        case Activation::kNone:
          break;
      }
    }
  });
}

class LinearKernel final : public CpuKernel {
 public:
  LinearKernel(Activation act, int64_t k, int64_t n) : act_(act), k_(k), n_(n) {}

  Status prepare(const Tensor& weights, int64_t example_m) {
    MatmulShape shape;
    shape.m = example_m;
    shape.k = k_;
    shape.n = n_;
    shape.has_bias = has_bias_;
    return matmul_.set_constant_weights(weights, shape);
  }
  void set_has_bias(bool b) { has_bias_ = b; }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    if (x.dtype() != DType::kFloat32) {
      return invalid_argument("X must be float32, got ", dtype_name(x.dtype()));
    }
    if (x.rank() < 1 || x.dim(x.rank() - 1) != k_) {
      return invalid_argument("X is ", x.describe(), "; its last dim must be K = ", k_);
    }
    std::vector<int64_t> out_shape = x.shape();
    out_shape.back() = n_;
    Tensor y = Tensor::empty(DType::kFloat32, out_shape);
    MatmulShape shape;
    shape.m = x.numel() / k_;
    shape.k = k_;
    shape.n = n_;
    shape.has_bias = has_bias_;
    if (shape.m > 0) {
      const float* bias = has_bias_ ? inputs[2]->data<float>() : nullptr;
      VITRT_RETURN_IF_ERROR(matmul_.run(shape, x.data<float>(), nullptr, bias, y.data<float>()));
      apply_activation(act_, y.data<float>(), y.numel());
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  Activation act_;
  int64_t k_, n_;
  bool has_bias_ = false;
  DnnlMatmul matmul_;
};

Result<std::unique_ptr<CpuKernel>> make_linear_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(std::string act_name, init.node.attrs.get_string("activation", "none"));
  VITRT_ASSIGN_OR_RETURN(Activation act, parse_activation(act_name));
  const Tensor* w = init.constant_input(1);
  if (w == nullptr || w->dtype() != DType::kFloat32 || w->rank() != 2) {
    return invalid_argument("W must be a constant float32 [K, N] matrix");
  }
  const Tensor* bias = init.constant_input(2);
  if (init.node.has_input(2) &&
      (bias == nullptr || bias->dtype() != DType::kFloat32 || bias->numel() != w->dim(1))) {
    return invalid_argument("bias must be a constant float32 [", w->dim(1), "]");
  }
  auto kernel = std::make_unique<LinearKernel>(act, w->dim(0), w->dim(1));
  kernel->set_has_bias(bias != nullptr);
  int64_t example_m = 197;
  const Value& x = init.graph.values[init.node.inputs[0]];
  if (x.has_shape && !x.shape.empty()) {
    const Dim rows = sym_shape_numel(SymShape(x.shape.begin(), x.shape.end() - 1));
    if (rows.is_static() && rows.value() > 0) example_m = rows.value();
  }
  VITRT_RETURN_IF_ERROR(kernel->prepare(*w, example_m));
  return std::unique_ptr<CpuKernel>(std::move(kernel));
}

}  // namespace

void register_cpu_fused_linear_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "Linear", make_linear_kernel);
}

}  // namespace vitrt
