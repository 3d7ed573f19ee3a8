// MatMul kernel against a float64 reference written from NumPy's definition: 1-D operands,
// batch broadcasting, constant (pre-packed) and streamed B, fp32 and float64.
#include <gtest/gtest.h>

#include <thread>

#include "cpu/single_node.h"
#include "testing/compare.h"

namespace vitrt {
namespace {

using testing::NodeInput;
using testing::random_tensor;
using testing::run_single_node;
using testing::tensors_close;

// NumPy matmul, element by element in float64: every output index is unravelled and mapped
// back onto A's and B's (broadcast) indices.
Tensor reference_matmul(const Tensor& a_in, const Tensor& b_in, DType out_dtype) {
  std::vector<int64_t> as = a_in.shape(), bs = b_in.shape();
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const size_t rank = std::max(as.size(), bs.size());
  while (as.size() < rank) as.insert(as.begin(), 1);
  while (bs.size() < rank) bs.insert(bs.begin(), 1);
  std::vector<int64_t> full(rank);
  // NumPy broadcasting: a 1 takes the other side's size, a 0 included.
  for (size_t i = 0; i + 2 < rank; ++i) full[i] = as[i] == 1 ? bs[i] : as[i];
  const int64_t m = as[rank - 2], k = as[rank - 1], n = bs[rank - 1];
  full[rank - 2] = m;
  full[rank - 1] = n;
  std::vector<int64_t> out_shape(full.begin(), full.end() - 2);
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);
  Tensor y = Tensor::empty(out_dtype, out_shape);
  const int64_t total = shape_numel(full);
  std::vector<int64_t> idx(rank);
  for (int64_t flat = 0; flat < total; ++flat) {
    int64_t rest = flat;
    for (size_t d = rank; d-- > 0;) {
      idx[d] = rest % full[d];
      rest /= full[d];
    }
    double sum = 0;
    for (int64_t l = 0; l < k; ++l) {
      int64_t ai = 0, bi = 0;
      for (size_t d = 0; d + 2 < rank; ++d) {
        ai = ai * as[d] + (as[d] == 1 ? 0 : idx[d]);
        bi = bi * bs[d] + (bs[d] == 1 ? 0 : idx[d]);
      }
      ai = (ai * m + idx[rank - 2]) * k + l;
      bi = (bi * k + l) * n + idx[rank - 1];
      sum += a_in.element_as_double(ai) * b_in.element_as_double(bi);
    }
    if (out_dtype == DType::kFloat32) {
      y.data<float>()[flat] = static_cast<float>(sum);
    } else {
      y.data<double>()[flat] = sum;
    }
  }
  return y;
}

struct Case {
  std::vector<int64_t> a, b;
};

void check_matmul(const Case& c, DType dtype, bool constant_b, uint64_t seed) {
  SCOPED_TRACE(str_cat("A ", shape_to_string(c.a), " B ", shape_to_string(c.b), " ",
                       dtype_name(dtype), constant_b ? " constant B" : ""));
  const Tensor a = random_tensor(dtype, c.a, seed);
  const Tensor b = random_tensor(dtype, c.b, seed + 1);
  auto out = run_single_node("MatMul", {}, {{a}, {b, constant_b}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const testing::Tolerance tol =
      dtype == DType::kFloat32 ? testing::Tolerance{1e-4, 1e-5} : testing::Tolerance{1e-12, 1e-12};
  EXPECT_TRUE(tensors_close((*out)[0], reference_matmul(a, b, dtype), tol));
}

const std::vector<Case> kCases = {
    {{3, 5, 7}, {7, 11}},          // batch folds into M
    {{2, 1, 4, 5}, {3, 5, 6}},     // both sides broadcast
    {{2, 3, 4, 5}, {2, 3, 5, 6}},  // equal batches: one batched product
    {{4, 5}, {3, 5, 6}},           // A broadcast over B's batch
    {{1, 4, 5}, {1, 1, 5, 6}},     // B batch of ones: still one matrix
    {{7}, {7}},                    // dot product -> scalar
    {{7}, {3, 7, 4}},              // 1-D A
    {{2, 5, 7}, {7}},              // 1-D B
    {{7}, {7, 4}},                 // vector x matrix
    {{2, 197, 64}, {64, 50}},      // token-shaped
    {{3, 17, 9}, {3, 9, 13}},      // attention-shaped (batched, odd)
};

TEST(MatMulKernel, Float32AgainstReference) {
  uint64_t seed = 10;
  for (const Case& c : kCases) {
    check_matmul(c, DType::kFloat32, /*constant_b=*/false, seed += 2);
    check_matmul(c, DType::kFloat32, /*constant_b=*/true, seed += 2);
  }
}

// Rows of 1024 floats (4 KiB) make DnnlMatmul copy constant weights into padded rows.
TEST(MatMulKernel, ConstantWeightsWithPageSizedRows) {
  check_matmul({{3, 7, 5}, {5, 1024}}, DType::kFloat32, /*constant_b=*/true, 40);
  check_matmul({{2, 9}, {9, 2048}}, DType::kFloat32, /*constant_b=*/true, 42);
}

// Empty dims (a malformed or degenerate model's): no rows, no columns or an empty batch give an
// empty output, never a fault in oneDNN (an empty inner dimension: EmptyInnerDimGivesZeros).
TEST(MatMulKernel, EmptyDimsGiveEmptyOutputs) {
  uint64_t seed = 60;
  for (const Case& c : std::vector<Case>{
           {{0, 5}, {5, 3}}, {{4, 5}, {5, 0}}, {{0, 4, 5}, {5, 3}}, {{2, 0, 5}, {2, 5, 3}}}) {
    check_matmul(c, DType::kFloat32, /*constant_b=*/false, seed += 2);
    check_matmul(c, DType::kFloat32, /*constant_b=*/true, seed += 2);
  }
}

TEST(MatMulKernel, Float64AgainstReference) {
  uint64_t seed = 100;
  for (const Case& c : kCases) check_matmul(c, DType::kFloat64, false, seed += 2);
}

TEST(MatMulKernel, EmptyInnerDimGivesZeros) {
  const Tensor a = random_tensor(DType::kFloat32, {3, 0}, 1);
  const Tensor b = random_tensor(DType::kFloat32, {0, 4}, 2);
  auto out = run_single_node("MatMul", {}, {{a}, {b}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(tensors_close((*out)[0], Tensor::zeros(DType::kFloat32, {3, 4})));
}

// One kernel with constant weights, run from two threads at once with different M (the
// engine shares kernels between execution contexts).
TEST(MatMulKernel, ConcurrentRunsWithDifferentShapes) {
  const Tensor w = random_tensor(DType::kFloat32, {48, 40}, 7);
  Graph graph = testing::single_node_graph(
      "MatMul", {}, {{random_tensor(DType::kFloat32, {5, 48}, 1)}, {w, true}});
  ASSERT_TRUE(infer_shapes(graph).ok());
  auto kernel =
      CpuKernelRegistry::global().find("", "MatMul")(KernelInit{graph, graph.nodes[0], 17});
  ASSERT_TRUE(kernel.ok()) << kernel.status().to_string();
  bool ok[2] = {true, true};
  auto worker = [&](int t) {
    for (int iter = 0; iter < 20; ++iter) {
      const Tensor a = random_tensor(DType::kFloat32, {3 + t * 8 + iter % 3, 48}, iter * 2 + t);
      std::vector<Tensor> out(1);
      if (!(*kernel)->run({&a, &w}, out).ok() ||
          !tensors_close(out[0], reference_matmul(a, w, DType::kFloat32), {1e-4, 1e-5})) {
        ok[t] = false;
      }
    }
  };
  std::thread t0(worker, 0), t1(worker, 1);
  t0.join();
  t1.join();
  EXPECT_TRUE(ok[0]);
  EXPECT_TRUE(ok[1]);
}

TEST(MatMulKernel, InnerDimMismatchAtRunTimeNamesShapes) {
  // The graph says [?, 8] x [8, 4]; the call brings K = 6.
  Graph graph = testing::single_node_graph(
      "MatMul", {},
      {{random_tensor(DType::kFloat32, {2, 8}, 1)}, {random_tensor(DType::kFloat32, {8, 4}, 2)}});
  ASSERT_TRUE(infer_shapes(graph).ok());
  auto kernel =
      CpuKernelRegistry::global().find("", "MatMul")(KernelInit{graph, graph.nodes[0], 17});
  ASSERT_TRUE(kernel.ok());
  const Tensor a = random_tensor(DType::kFloat32, {2, 6}, 3);
  const Tensor b = random_tensor(DType::kFloat32, {8, 4}, 4);
  std::vector<Tensor> out(1);
  const Status s = (*kernel)->run({&a, &b}, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("inner dims differ: A is [2, 6], B is [8, 4]"), std::string::npos)
      << s.message();
}

TEST(MatMulKernel, IntegerDtypeIsUnsupportedNamingNodeAndDtype) {
  const Tensor a = random_tensor(DType::kInt32, {2, 3}, 1, -5, 5);
  const Tensor b = random_tensor(DType::kInt32, {3, 2}, 2, -5, 5);
  auto out = run_single_node("MatMul", {}, {{a}, {b}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(out.status().message().find("node 'n0' (MatMul)"), std::string::npos)
      << out.status().message();
  EXPECT_NE(out.status().message().find("int32"), std::string::npos) << out.status().message();
}

}  // namespace
}  // namespace vitrt
