// MatMul (NumPy matmul semantics: 1-D operands, broadcast batch dims).
//
// fp32 maps every case onto as few oneDNN products as possible: when B has no batch (the
// linear layers of a transformer, B a constant weight matrix) A's batch folds into M and one
// product runs against weights packed once at load; equal batches run as one batched product;
// other broadcasts run one product per output matrix.
#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu/dnnl_matmul.h"
#include "cpu/linear.h"
#include "cpu/matmul_plan.h"

namespace vitrt {

Result<MatMulPlan> plan_matmul(const std::vector<int64_t>& a_shape,
                               const std::vector<int64_t>& b_shape) {
  if (a_shape.empty() || b_shape.empty()) {
    return invalid_argument("operands must have rank >= 1, A is ", shape_to_string(a_shape),
                            ", B is ", shape_to_string(b_shape));
  }
  std::vector<int64_t> a = a_shape, b = b_shape;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  MatMulPlan p;
  p.m = a[a.size() - 2];
  p.k = a.back();
  p.n = b.back();
  if (b[b.size() - 2] != p.k) {
    return invalid_argument("inner dims differ: A is ", shape_to_string(a_shape), ", B is ",
                            shape_to_string(b_shape));
  }
  const size_t rank = std::max(a.size(), b.size()) - 2;
  p.a_batch.assign(rank, 1);
  p.b_batch.assign(rank, 1);
  std::copy(a.begin(), a.end() - 2, p.a_batch.end() - (a.size() - 2));
  std::copy(b.begin(), b.end() - 2, p.b_batch.end() - (b.size() - 2));
  p.batch.resize(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = p.a_batch[i], db = p.b_batch[i];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("batch dims do not broadcast: A is ", shape_to_string(a_shape),
                              ", B is ", shape_to_string(b_shape));
    }
    p.batch[i] = da == 1 ? db : da;
  }
  p.a_batch_numel = shape_numel(p.a_batch);
  p.b_batch_numel = shape_numel(p.b_batch);
  p.batch_numel = shape_numel(p.batch);
  p.out_shape = p.batch;
  if (a_shape.size() >= 2) p.out_shape.push_back(p.m);
  if (b_shape.size() >= 2) p.out_shape.push_back(p.n);
  return p;
}

std::pair<int64_t, int64_t> operand_matrices(const MatMulPlan& p, int64_t index) {
  int64_t a_index = 0, b_index = 0, a_stride = 1, b_stride = 1;
  for (size_t i = p.batch.size(); i-- > 0;) {
    const int64_t coord = index % p.batch[i];
    index /= p.batch[i];
    if (p.a_batch[i] != 1) a_index += coord * a_stride;
    if (p.b_batch[i] != 1) b_index += coord * b_stride;
    a_stride *= p.a_batch[i];
    b_stride *= p.b_batch[i];
  }
  return {a_index, b_index};
}

namespace {

// float64: the reference loop (accuracy over speed).
void matmul_f64(const MatMulPlan& p, const double* a, const double* b, double* y) {
  for (int64_t bi = 0; bi < p.batch_numel; ++bi) {
    const auto [ai, bj] = operand_matrices(p, bi);
    const double* am = a + ai * p.m * p.k;
    const double* bm = b + bj * p.k * p.n;
    double* ym = y + bi * p.m * p.n;
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        double sum = 0;
        for (int64_t l = 0; l < p.k; ++l) sum += am[i * p.k + l] * bm[l * p.n + j];
        ym[i * p.n + j] = sum;
      }
    }
  }
}

class MatMulKernel final : public CpuKernel {
 public:
  // Packs a constant B without batch dims (weights) for the example M: the graph's when it is
  // static, else the ViT-B/16 token count.
  Status prepare_constant_b(const Tensor& b, int64_t example_m) {
    const int64_t k = b.rank() == 1 ? b.dim(0) : b.dim(b.rank() - 2);
    const int64_t n = b.rank() == 1 ? 1 : b.dim(b.rank() - 1);
    if (k == 0 || n == 0) return Status();
    MatmulShape example;
    example.m = example_m;
    example.k = k;
    example.n = n;
    constant_b_ = true;
    return gemm_.set_constant_weights(b, example);
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& a = *inputs[0];
    const Tensor& b = *inputs[1];
    VITRT_RETURN_IF_ERROR(check_linear_dtype("MatMul", a.dtype()));
    if (b.dtype() != a.dtype()) {
      return invalid_argument("B is ", dtype_name(b.dtype()), " but A is ", dtype_name(a.dtype()));
    }
    VITRT_ASSIGN_OR_RETURN(const MatMulPlan p, plan_matmul(a.shape(), b.shape()));
    Tensor y = Tensor::empty(a.dtype(), p.out_shape);
    if (y.numel() > 0 && p.k == 0) {
      std::memset(y.raw_data(), 0, y.nbytes());
    } else if (y.numel() > 0 && a.dtype() == DType::kFloat64) {
      matmul_f64(p, a.data<double>(), b.data<double>(), y.data<double>());
    } else if (y.numel() > 0) {
      VITRT_RETURN_IF_ERROR(run_f32(p, a.data<float>(), b.data<float>(), y.data<float>()));
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  Status run_f32(const MatMulPlan& p, const float* a, const float* b, float* y) {
    MatmulShape s;
    s.k = p.k;
    s.n = p.n;
    if (p.b_batch_numel == 1) {
      // B is one matrix (the weights of a linear layer): A's batch folds into M.
      s.m = p.a_batch_numel * p.m;
      return gemm_.run(s, a, b, nullptr, y);
    }
    if (constant_b_) return internal_error("MatMul: constant B changed shape");
    if (p.a_batch == p.b_batch) {
      s.batch = p.batch_numel;
      s.m = p.m;
      return gemm_.run(s, a, b, nullptr, y);
    }
    s.m = p.m;
    for (int64_t bi = 0; bi < p.batch_numel; ++bi) {
      const auto [ai, bj] = operand_matrices(p, bi);
      VITRT_RETURN_IF_ERROR(
          gemm_.run(s, a + ai * p.m * p.k, b + bj * p.k * p.n, nullptr, y + bi * p.m * p.n));
    }
    return Status();
  }

  DnnlMatmul gemm_;
  bool constant_b_ = false;
};

}  // namespace

Result<std::unique_ptr<CpuKernel>> make_matmul_kernel(const KernelInit& init) {
  VITRT_RETURN_IF_ERROR(check_linear_dtype(init));
  auto kernel = std::make_unique<MatMulKernel>();
  const Tensor* b = init.constant_input(1);
  if (b != nullptr && b->dtype() == DType::kFloat32 && b->rank() >= 1 &&
      shape_numel(b->shape()) ==
          (b->rank() == 1 ? b->dim(0) : b->dim(b->rank() - 2) * b->dim(b->rank() - 1))) {
    // The rows of the folded product: every dim of A but the last, when static.
    const int64_t example_m = example_rows(init.graph.values[init.node.inputs[0]]);
    Status s = kernel->prepare_constant_b(*b, example_m);
    if (!s.ok()) return s.with_context(init.node.describe());
  }
  return std::unique_ptr<CpuKernel>(std::move(kernel));
}

}  // namespace vitrt
