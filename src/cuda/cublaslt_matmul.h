// cuBLASLt plumbing shared by the GEMM ops (ops_linear.cc, ops_quant_linear.cc): status
// conversion, descriptors freed on every path, heuristic candidates, and the text form of an
// algorithm that the timing cache stores.
#pragma once

#include <cublasLt.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda/cuda_kernel.h"

namespace vitrt::cuda {

Status blas_status(cublasStatus_t s, const char* what);
#define VITRT_BLAS(expr, what) VITRT_RETURN_IF_ERROR(::vitrt::cuda::blas_status((expr), (what)))

// Descriptors of one matmul: "A", "B" and C/D (one layout for both), freed on every path out.
struct LtObjects {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t layouts[3] = {nullptr, nullptr, nullptr};
  cublasLtMatmulPreference_t pref = nullptr;
  LtObjects() = default;
  LtObjects(const LtObjects&) = delete;
  LtObjects& operator=(const LtObjects&) = delete;
  ~LtObjects();
};

// A column-major rows x cols layout with leading dimension ld (strided batches when batch > 1).
Status make_layout(cublasLtMatrixLayout_t* l, cudaDataType_t dt, int64_t rows, int64_t cols,
                   int64_t ld, int64_t batch, int64_t stride);
// Creates lt.pref with the context's workspace limit.
Status make_preference(const LaunchContext& ctx, LtObjects& lt);

// Up to `count` algorithms for the prepared problem, best first by cuBLASLt's heuristic (none
// when cuBLASLt has no kernel for the combination of types, layouts and attributes).
Result<std::vector<cublasLtMatmulAlgo_t>> heuristic_algos(const LaunchContext& ctx,
                                                          const LtObjects& lt, int count);

// Whether `algo` runs the prepared problem within the workspace (a plan's stored algorithm
// may not, after a cuBLASLt upgrade or on another GPU of the same architecture).
bool algo_fits(const LaunchContext& ctx, const LtObjects& lt, const cublasLtMatmulAlgo_t& algo);

// The algorithm's opaque words as 128 hex digits, and back.
std::string algo_hex(const cublasLtMatmulAlgo_t& a);
bool parse_algo_hex(const std::string& hex, cublasLtMatmulAlgo_t* a);

}  // namespace vitrt::cuda
