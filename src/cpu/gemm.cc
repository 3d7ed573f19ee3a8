// Gemm: Y = alpha * op(A) * op(B) + beta * C (ONNX Gemm, opset 11+: C optional and
// broadcasting unidirectionally to [M, N]).
//
// fp32 runs one oneDNN product. A constant B (a classifier head's weights) is packed once at
// load. A row-vector C (a bias) is fused into the product; any other C is written into Y
// first and the product accumulates onto it.
#include <vector>

#include "cpu/dnnl_matmul.h"
#include "cpu/linear.h"

namespace vitrt {

namespace {

struct GemmAttributes {
  bool trans_a = false;
  bool trans_b = false;
  float alpha = 1.0f;
  float beta = 1.0f;
};

// C's element for output (i, j) under unidirectional broadcasting: C's shape is right-aligned
// with [M, N], and its dims of size 1 repeat.
struct CBroadcast {
  int64_t row_stride = 0;
  int64_t col_stride = 0;
};

Result<CBroadcast> c_broadcast(const std::vector<int64_t>& c, int64_t m, int64_t n) {
  const std::vector<int64_t> mn = {m, n};
  if (c.size() > 2) {
    return invalid_argument("C ", shape_to_string(c), " does not broadcast to [", m, ", ", n, "]");
  }
  std::vector<int64_t> full(2 - c.size(), 1);
  full.insert(full.end(), c.begin(), c.end());
  for (int i = 0; i < 2; ++i) {
    if (full[i] != 1 && full[i] != mn[i]) {
      return invalid_argument("C ", shape_to_string(c), " does not broadcast to [", m, ", ", n,
                              "]");
    }
  }
  return CBroadcast{full[0] == 1 ? 0 : full[1], full[1] == 1 ? 0 : 1};
}

class GemmKernel final : public CpuKernel {
 public:
  explicit GemmKernel(GemmAttributes attrs) : attrs_(attrs) {}

  Status prepare_constant_b(const Tensor& b, int64_t example_m) {
    if (b.rank() != 2 || b.numel() == 0) return Status();  // run() reports the bad shape
    MatmulShape example =
        product_shape(example_m, b.dim(attrs_.trans_b ? 1 : 0), b.dim(attrs_.trans_b ? 0 : 1));
    constant_b_ = true;
    return gemm_.set_constant_weights(b, example);
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    const Tensor* c = inputs.size() > 2 ? inputs[2] : nullptr;
    VITRT_RETURN_IF_ERROR(check_linear_dtype("Gemm", a.dtype()));
    if (b.dtype() != a.dtype() || (c != nullptr && c->dtype() != a.dtype())) {
      return invalid_argument("A, B and C must have one dtype, got ", a.describe(), ", ",
                              b.describe(), c != nullptr ? ", " + c->describe() : "");
    }
    if (a.rank() != 2 || b.rank() != 2) {
      return invalid_argument("A and B must be 2-D, got A ", shape_to_string(a.shape()), ", B ",
                              shape_to_string(b.shape()));
    }
    const int64_t m = a.dim(attrs_.trans_a ? 1 : 0);
    const int64_t k = a.dim(attrs_.trans_a ? 0 : 1);
    const int64_t kb = b.dim(attrs_.trans_b ? 1 : 0);
    const int64_t n = b.dim(attrs_.trans_b ? 0 : 1);
    if (k != kb) {
      return invalid_argument("inner dims differ: A is ", shape_to_string(a.shape()),
                              attrs_.trans_a ? " (transposed)" : "", ", B is ",
                              shape_to_string(b.shape()), attrs_.trans_b ? " (transposed)" : "");
    }
    // beta == 0 drops C entirely (ONNX Runtime does the same).
    const bool use_c = c != nullptr && attrs_.beta != 0.0f;
    CBroadcast cb;
    if (use_c) {
      VITRT_ASSIGN_OR_RETURN(cb, c_broadcast(c->shape(), m, n));
    }
    Tensor y = Tensor::empty(a.dtype(), {m, n});
    if (y.numel() > 0) {
      if (a.dtype() == DType::kFloat64) {
        gemm_f64(a, b, use_c ? c : nullptr, cb, m, k, n, y.data<double>());
      } else {
        VITRT_RETURN_IF_ERROR(run_f32(a, b, use_c ? c : nullptr, cb, m, k, n, y.data<float>()));
      }
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  MatmulShape product_shape(int64_t m, int64_t k, int64_t n) const {
    MatmulShape s;
    s.m = m;
    s.k = k;
    s.n = n;
    s.trans_src = attrs_.trans_a;
    s.trans_weights = attrs_.trans_b;
    s.alpha = attrs_.alpha;
    return s;
  }

  Status run_f32(const Tensor& a, const Tensor& b, const Tensor* c, CBroadcast cb, int64_t m,
                 int64_t k, int64_t n, float* y) {
    if (k == 0) {  // the product is zero; Y is beta * C
      fill_beta_c(c, cb, m, n, y);
      return Status();
    }
    MatmulShape s = product_shape(m, k, n);
    const float* bias = nullptr;
    std::vector<float> scaled_bias;
    if (c != nullptr && cb.row_stride == 0 && attrs_.alpha == 1.0f) {
      // A bias row: fused into the product (scaled by beta, or broadcast from one value).
      s.has_bias = true;
      if (attrs_.beta == 1.0f && cb.col_stride == 1) {
        bias = c->data<float>();
      } else {
        scaled_bias.resize(n);
        for (int64_t j = 0; j < n; ++j) {
          scaled_bias[j] = attrs_.beta * c->data<float>()[j * cb.col_stride];
        }
        bias = scaled_bias.data();
      }
    } else if (c != nullptr) {
      fill_beta_c(c, cb, m, n, y);
      s.accumulate = true;
    }
    return gemm_.run(s, a.data<float>(), constant_b_ ? nullptr : b.data<float>(), bias, y);
  }

  // Y = beta * C broadcast (Y zero when there is no C).
  void fill_beta_c(const Tensor* c, CBroadcast cb, int64_t m, int64_t n, float* y) const {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        y[i * n + j] = c == nullptr
                           ? 0.0f
                           : attrs_.beta * c->data<float>()[i * cb.row_stride + j * cb.col_stride];
      }
    }
  }

  // float64: the reference loop.
  void gemm_f64(const Tensor& a, const Tensor& b, const Tensor* c, CBroadcast cb, int64_t m,
                int64_t k, int64_t n, double* y) const {
    const double* ad = a.data<double>();
    const double* bd = b.data<double>();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t l = 0; l < k; ++l) {
          const double av = attrs_.trans_a ? ad[l * m + i] : ad[i * k + l];
          const double bv = attrs_.trans_b ? bd[j * k + l] : bd[l * n + j];
          sum += av * bv;
        }
        y[i * n + j] = attrs_.alpha * sum;
        if (c != nullptr) {
          y[i * n + j] += attrs_.beta * c->data<double>()[i * cb.row_stride + j * cb.col_stride];
        }
      }
    }
  }

  GemmAttributes attrs_;
  DnnlMatmul gemm_;
  bool constant_b_ = false;
};

}  // namespace

Result<std::unique_ptr<CpuKernel>> make_gemm_kernel(const KernelInit& init) {
  VITRT_RETURN_IF_ERROR(check_linear_dtype(init));
  const Attributes& attrs = init.node.attrs;
  GemmAttributes ga;
  auto trans_a = attrs.get_int("transA", 0);
  auto trans_b = attrs.get_int("transB", 0);
  auto alpha = attrs.get_float("alpha", 1.0f);
  auto beta = attrs.get_float("beta", 1.0f);
  for (const Status* s : {&trans_a.status(), &trans_b.status(), &alpha.status(), &beta.status()}) {
    if (!s->ok()) return s->with_context(init.node.describe());
  }
  ga.trans_a = *trans_a != 0;
  ga.trans_b = *trans_b != 0;
  ga.alpha = *alpha;
  ga.beta = *beta;
  auto kernel = std::make_unique<GemmKernel>(ga);
  const Tensor* b = init.constant_input(1);
  if (b != nullptr && b->dtype() == DType::kFloat32) {
    int64_t example_m = 1;  // Gemm in a ViT export is the classifier head: one row per image
    const Value& a = init.graph.values[init.node.inputs[0]];
    if (a.has_shape && a.shape.size() == 2 && a.shape[ga.trans_a ? 1 : 0].is_static()) {
      example_m = std::max<int64_t>(1, a.shape[ga.trans_a ? 1 : 0].value());
    }
    Status s = kernel->prepare_constant_b(*b, example_m);
    if (!s.ok()) return s.with_context(init.node.describe());
  }
  return std::unique_ptr<CpuKernel>(std::move(kernel));
}

}  // namespace vitrt
