// vitrt.Linear on the CPU: one oneDNN product over all rows of X against weights packed once
// at load, with the bias, the residual and the activation applied by the primitive as post-ops
// (no second pass over the output). compute_precision "bf16" packs the weights as bf16 and rounds X
// to bf16 per call; accumulation, bias, activation and the output stay fp32. A LayerNorm
// prologue (norm_scale, norm_bias) normalizes X's rows into a scratch tensor first, as the
// LayerNormalization kernel would (the CUDA backend may fuse it into its GEMM kernel).
#include "cpu/dnnl_matmul.h"
#include "cpu/layer_norm_rows.h"
#include "cpu/linear.h"

namespace vitrt {
namespace {

Result<MatmulActivation> parse_activation(const std::string& name) {
  if (name == "none") return MatmulActivation::kNone;
  if (name == "gelu") return MatmulActivation::kGelu;
  if (name == "gelu_tanh") return MatmulActivation::kGeluTanh;
  if (name == "quick_gelu") return MatmulActivation::kQuickGelu;
  if (name == "relu") return MatmulActivation::kRelu;
  if (name == "silu") return MatmulActivation::kSilu;
  if (name == "hard_swish") return MatmulActivation::kHardSwish;
  if (name == "relu6") return MatmulActivation::kRelu6;
  return invalid_argument("activation '", name, "' is not one of none, gelu, gelu_tanh, ",
                          "quick_gelu, relu, silu, hard_swish, relu6");
}

Result<bool> parse_bf16(const std::string& precision) {
  if (precision == "fp32") return false;
  if (precision == "bf16") return true;
  return invalid_argument("compute_precision '", precision, "' is not one of fp32, bf16");
}

class LinearKernel final : public CpuKernel {
 public:
  LinearKernel(MatmulActivation act, bool bf16, bool has_bias, bool has_residual, int64_t k,
               int64_t n)
      : act_(act), bf16_(bf16), has_bias_(has_bias), has_residual_(has_residual), k_(k), n_(n) {}

  // The LayerNorm prologue: norm_scale (input 4), norm_bias (input 5) when has_bias.
  void set_norm(bool has_bias, float epsilon) {
    norm_ = true;
    norm_has_bias_ = has_bias;
    norm_epsilon_ = epsilon;
  }

  Status prepare(const Tensor& weights, int64_t example_m) {
    return matmul_.set_constant_weights(weights, shape_for(example_m));
  }

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
    const float* residual = nullptr;
    if (has_residual_) {
      const Tensor* r = inputs.size() > 3 ? inputs[3] : nullptr;
      if (r == nullptr || r->dtype() != DType::kFloat32 || r->shape() != out_shape) {
        return invalid_argument("residual must be float32 ", shape_to_string(out_shape), ", got ",
                                r != nullptr ? r->describe() : std::string("none"));
      }
      residual = r->data<float>();
    }
    Tensor y = Tensor::empty(DType::kFloat32, out_shape);
    const int64_t m = x.numel() / k_;
    if (m > 0) {
      const float* bias = has_bias_ ? inputs[2]->data<float>() : nullptr;
      const float* a = x.data<float>();
      Tensor normalized;
      if (norm_) {
        normalized = Tensor::empty(DType::kFloat32, {m, k_});
        LayerNormRowsArgs ln;
        ln.a = a;
        ln.gamma = inputs[4]->data<float>();
        ln.beta = norm_has_bias_ ? inputs[5]->data<float>() : nullptr;
        ln.y = normalized.data<float>();
        ln.rows = m;
        ln.n = k_;
        ln.epsilon = norm_epsilon_;
        layer_norm_rows(ln);
        a = normalized.data<float>();
      }
      VITRT_RETURN_IF_ERROR(matmul_.run(shape_for(m), a, nullptr, bias, y.data<float>(), residual));
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  MatmulShape shape_for(int64_t m) const {
    MatmulShape shape;
    shape.m = m;
    shape.k = k_;
    shape.n = n_;
    shape.has_bias = has_bias_;
    shape.has_residual = has_residual_;
    shape.activation = act_;
    shape.bf16 = bf16_;
    return shape;
  }

  MatmulActivation act_;
  bool bf16_;
  bool has_bias_;
  bool has_residual_;
  int64_t k_, n_;
  bool norm_ = false;
  bool norm_has_bias_ = false;
  float norm_epsilon_ = 1e-5f;
  DnnlMatmul matmul_;
};

Result<std::unique_ptr<CpuKernel>> make_linear_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(std::string act_name, init.node.attrs.get_string("activation", "none"));
  VITRT_ASSIGN_OR_RETURN(MatmulActivation act, parse_activation(act_name));
  VITRT_ASSIGN_OR_RETURN(std::string precision,
                         init.node.attrs.get_string("compute_precision", "fp32"));
  VITRT_ASSIGN_OR_RETURN(bool bf16, parse_bf16(precision));
  const Tensor* w = init.constant_input(1);
  if (w == nullptr || w->dtype() != DType::kFloat32 || w->rank() != 2) {
    return invalid_argument("W must be a constant float32 [K, N] matrix");
  }
  const Tensor* bias = init.constant_input(2);
  if (init.node.has_input(2) &&
      (bias == nullptr || bias->dtype() != DType::kFloat32 || bias->numel() != w->dim(1))) {
    return invalid_argument("bias must be a constant float32 [", w->dim(1), "]");
  }
  const bool has_residual = init.node.has_input(3);
  if (has_residual && act != MatmulActivation::kNone && act != MatmulActivation::kRelu) {
    return invalid_argument("a residual input needs activation 'none' or 'relu', got '", act_name,
                            "'");
  }
  auto kernel = std::make_unique<LinearKernel>(act, bf16, bias != nullptr, has_residual, w->dim(0),
                                               w->dim(1));
  if (init.node.has_input(4)) {
    for (int slot = 4; slot <= 5 && init.node.has_input(slot); ++slot) {
      const Tensor* t = init.constant_input(slot);
      if (t == nullptr || t->dtype() != DType::kFloat32 || t->numel() != w->dim(0)) {
        return invalid_argument(slot == 4 ? "norm_scale" : "norm_bias",
                                " must be a constant float32 [", w->dim(0), "]");
      }
    }
    if (has_residual) return invalid_argument("a LayerNorm prologue takes no residual");
    VITRT_ASSIGN_OR_RETURN(float eps, init.node.attrs.get_float("norm_epsilon", 1e-5f));
    kernel->set_norm(init.node.has_input(5), eps);
  }
  // The weights are packed now for a batch-1 run's rows; another row count reuses that copy
  // when its primitive wants the same layout and packs its own once otherwise.
  VITRT_RETURN_IF_ERROR(kernel->prepare(*w, example_rows(init.graph.values[init.node.inputs[0]])));
  return std::unique_ptr<CpuKernel>(std::move(kernel));
}

}  // namespace

void register_cpu_fused_linear_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "Linear", make_linear_kernel);
}

}  // namespace vitrt
