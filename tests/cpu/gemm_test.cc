// Gemm kernel against a float64 reference: every transA/transB, alpha, beta and C broadcast
// (none, scalar, [1], [N], [1, N], [M, 1], [M, N]), with B streamed and constant (pre-packed).
#include <gtest/gtest.h>

#include "cpu/single_node.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::NodeInput;
using testing::random_tensor;
using testing::run_single_node;
using testing::tensors_close;

// Y[i, j] = alpha * sum_l A'[i, l] B'[l, j] + beta * C[i or 0, j or 0].
Tensor reference_gemm(const Tensor& a, const Tensor& b, const Tensor* c, bool ta, bool tb,
                      double alpha, double beta, DType dtype) {
  const int64_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1);
  const int64_t n = tb ? b.dim(0) : b.dim(1);
  Tensor y = Tensor::empty(dtype, {m, n});
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t l = 0; l < k; ++l) {
        sum += a.element_as_double(ta ? l * m + i : i * k + l) *
               b.element_as_double(tb ? j * k + l : l * n + j);
      }
      double v = alpha * sum;
      if (c != nullptr) {
        const std::vector<int64_t>& cs = c->shape();
        const int64_t rows = cs.size() == 2 ? cs[0] : 1;
        const int64_t cols = cs.empty() ? 1 : cs.back();
        v += beta * c->element_as_double((rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j));
      }
      if (dtype == DType::kFloat32) {
        y.data<float>()[i * n + j] = static_cast<float>(v);
      } else {
        y.data<double>()[i * n + j] = v;
      }
    }
  }
  return y;
}

void check_all_combinations(DType dtype, int64_t m, int64_t k, int64_t n, int ta) {
  const std::vector<std::vector<int64_t>> c_shapes = {{}, {1}, {n}, {1, n}, {m, 1}, {m, n}};
  uint64_t seed = 1;
  for (int tb = 0; tb < 2; ++tb) {
    for (float alpha : {1.0f, 0.5f}) {
      for (float beta : {1.0f, 0.0f, -1.5f}) {
        for (int ci = -1; ci < static_cast<int>(c_shapes.size()); ++ci) {
          for (bool constant_b : {false, true}) {
            SCOPED_TRACE(str_cat("transA ", ta, " transB ", tb, " alpha ", alpha, " beta ", beta,
                                 " C ", ci < 0 ? "none" : shape_to_string(c_shapes[ci]),
                                 constant_b ? " constant B" : ""));
            const Tensor a = random_tensor(
                dtype, ta ? std::vector<int64_t>{k, m} : std::vector<int64_t>{m, k}, ++seed);
            const Tensor b = random_tensor(
                dtype, tb ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n}, ++seed);
            Tensor c;
            if (ci >= 0) c = random_tensor(dtype, c_shapes[ci], ++seed);
            Attributes attrs;
            attrs.set_int("transA", ta);
            attrs.set_int("transB", tb);
            attrs.set_float("alpha", alpha);
            attrs.set_float("beta", beta);
            auto out = run_single_node("Gemm", attrs, {{a}, {b, constant_b}, {c}});
            ASSERT_TRUE(out.ok()) << out.status().to_string();
            const Tensor expected =
                reference_gemm(a, b, ci >= 0 ? &c : nullptr, ta, tb, alpha, beta, dtype);
            const testing::Tolerance tol = dtype == DType::kFloat32
                                               ? testing::Tolerance{1e-4, 1e-5}
                                               : testing::Tolerance{1e-12, 1e-12};
            EXPECT_TRUE(tensors_close((*out)[0], expected, tol));
          }
        }
      }
    }
  }
}

TEST(GemmKernel, Float32EveryTransBAlphaBetaAndCBroadcast) {
  check_all_combinations(DType::kFloat32, 5, 7, 6, /*ta=*/0);
}

TEST(GemmKernel, Float32TransposedAEveryTransBAlphaBetaAndCBroadcast) {
  check_all_combinations(DType::kFloat32, 5, 7, 6, /*ta=*/1);
}

TEST(GemmKernel, Float64EveryTransAlphaBetaAndCBroadcast) {
  check_all_combinations(DType::kFloat64, 3, 4, 5, 0);
  check_all_combinations(DType::kFloat64, 3, 4, 5, 1);
}

TEST(GemmKernel, ClassifierHeadShape) {
  // [batch, 768] x W^T [1000, 768] + b [1000], the ViT head, at an odd width.
  const Tensor a = random_tensor(DType::kFloat32, {3, 193}, 1);
  const Tensor w = random_tensor(DType::kFloat32, {101, 193}, 2);
  const Tensor bias = random_tensor(DType::kFloat32, {101}, 3);
  Attributes attrs;
  attrs.set_int("transB", 1);
  auto out = run_single_node("Gemm", attrs, {{a}, {w, true}, {bias, true}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(tensors_close(
      (*out)[0], reference_gemm(a, w, &bias, false, true, 1, 1, DType::kFloat32), {1e-4, 1e-5}));
}

// Transposed constant weights, N = 1024: the primitive's [K, N] copy gets padded 4 KiB rows.
TEST(GemmKernel, TransposedWeightsWithPageSizedRows) {
  const Tensor a = random_tensor(DType::kFloat32, {3, 9}, 1);
  const Tensor w = random_tensor(DType::kFloat32, {1024, 9}, 2);
  const Tensor bias = random_tensor(DType::kFloat32, {1024}, 3);
  Attributes attrs;
  attrs.set_int("transB", 1);
  auto out = run_single_node("Gemm", attrs, {{a}, {w, true}, {bias, true}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(tensors_close(
      (*out)[0], reference_gemm(a, w, &bias, false, true, 1, 1, DType::kFloat32), {1e-4, 1e-5}));
}

TEST(GemmKernel, BadCBroadcastIsAnErrorNamingTheNode) {
  const Tensor a = random_tensor(DType::kFloat32, {5, 7}, 1);
  const Tensor b = random_tensor(DType::kFloat32, {7, 6}, 2);
  const Tensor c = random_tensor(DType::kFloat32, {5, 3}, 3);
  auto out = run_single_node("Gemm", {}, {{a}, {b}, {c}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("node 'n0' (Gemm)"), std::string::npos)
      << out.status().message();
  EXPECT_NE(out.status().message().find("C [5, 3] does not broadcast"), std::string::npos)
      << out.status().message();
}

TEST(GemmKernel, InnerDimMismatchNamesTransposedOperands) {
  const Tensor a = random_tensor(DType::kFloat32, {7, 5}, 1);
  const Tensor b = random_tensor(DType::kFloat32, {6, 7}, 2);
  Attributes attrs;
  attrs.set_int("transA", 1);
  auto out = run_single_node("Gemm", attrs, {{a}, {b}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("inner dims differ: A is [7, 5] (transposed), B is [6, 7]"),
            std::string::npos)
      << out.status().message();
}

}  // namespace
}  // namespace vitrt
