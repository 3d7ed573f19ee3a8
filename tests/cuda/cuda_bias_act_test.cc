// The Linear bias + activation pass (launch_bias_act) against float64: vectorized rows (cols a
// whole number of 16-byte vectors) and the element-wise fallback, every activation, with and
// without a bias, in fp32, fp16 and bf16.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/half.h"
#include "cuda/launch.h"
#include "cuda_test_util.h"

namespace vitrt::testing {
namespace {

using cuda::Elt;
using cuda::UnaryOp;

double activate64(UnaryOp act, double x) {
  switch (act) {
    case UnaryOp::kRelu:
      return x > 0 ? x : 0;
    case UnaryOp::kGelu:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case UnaryOp::kGeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryOp::kQuickGelu:
      return x / (1 + std::exp(-1.702 * x));
    case UnaryOp::kSilu:
      return x / (1 + std::exp(-x));
    default:
      return x;
  }
}

// Host values rounded to the element type, and their bytes.
struct Typed {
  std::vector<double> values;
  std::vector<uint8_t> bytes;
};

Typed make(Elt t, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-4.0f, 4.0f);
  Typed r;
  r.bytes.resize(static_cast<size_t>(n) * (t == Elt::kF32 ? 4 : 2));
  for (int64_t i = 0; i < n; ++i) {
    const float f = dist(rng);
    if (t == Elt::kF32) {
      std::memcpy(r.bytes.data() + 4 * i, &f, 4);
      r.values.push_back(f);
    } else {
      const uint16_t h = t == Elt::kF16 ? float_to_half(f) : float_to_bf16(f);
      std::memcpy(r.bytes.data() + 2 * i, &h, 2);
      r.values.push_back(t == Elt::kF16 ? half_to_float(h) : bf16_to_float(h));
    }
  }
  return r;
}

double element(Elt t, const std::vector<uint8_t>& bytes, int64_t i) {
  if (t == Elt::kF32) {
    float f;
    std::memcpy(&f, bytes.data() + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, bytes.data() + 2 * i, 2);
  return t == Elt::kF16 ? half_to_float(h) : bf16_to_float(h);
}

// type, activation, cols, with bias
using Param = std::tuple<Elt, UnaryOp, int64_t, bool>;
class CudaBiasAct : public ::testing::TestWithParam<Param> {};

TEST_P(CudaBiasAct, MatchesFloat64) {
  VITRT_REQUIRE_GPU();
  const auto [type, act, cols, with_bias] = GetParam();
  const int64_t rows = 37, n = rows * cols;
  const Typed x = make(type, n, 7), bias = make(type, cols, 8);
  void* d_x = nullptr;
  void* d_b = nullptr;
  ASSERT_EQ(cudaMalloc(&d_x, x.bytes.size()), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_b, bias.bytes.size()), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_x, x.bytes.data(), x.bytes.size(), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_b, bias.bytes.data(), bias.bytes.size(), cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cuda::launch_bias_act(type, d_x, with_bias ? d_b : nullptr, rows, cols, act, nullptr),
            cudaSuccess);
  std::vector<uint8_t> out(x.bytes.size());
  ASSERT_EQ(cudaMemcpy(out.data(), d_x, out.size(), cudaMemcpyDeviceToHost), cudaSuccess);
  cudaFree(d_x);
  cudaFree(d_b);
  // fp32: the kernel's float math (erff, tanhf, expf) within a few ulp; fp16/bf16: one rounding
  // of the float result to the type.
  const double rel = type == Elt::kF32 ? 1e-6 : (type == Elt::kF16 ? 1e-3 : 8e-3);
  for (int64_t i = 0; i < n; ++i) {
    const double v = x.values[i] + (with_bias ? bias.values[i % cols] : 0.0);
    const double want = activate64(act, v);
    const double got = element(type, out, i);
    ASSERT_NEAR(got, want, rel * std::max(1.0, std::fabs(want)) + 1e-6)
        << "element " << i << " (row " << i / cols << ", col " << i % cols << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(
    cuda, CudaBiasAct,
    ::testing::Combine(::testing::Values(Elt::kF32, Elt::kF16, Elt::kBF16),
                       ::testing::Values(UnaryOp::kIdentity, UnaryOp::kRelu, UnaryOp::kGelu,
                                         UnaryOp::kGeluTanh, UnaryOp::kQuickGelu, UnaryOp::kSilu),
                       // 24 and 3072: whole vectors in every type; 13: the element-wise path
                       ::testing::Values(int64_t{24}, int64_t{13}, int64_t{3072}),
                       ::testing::Bool()));

}  // namespace
}  // namespace vitrt::testing
