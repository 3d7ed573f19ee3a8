// Pieces the standalone CUTLASS probes share (cutlass_probe.cu, cutlass_int8_probe.cu,
// cutlass_streamk_probe.cu, cutlass_fp8_gelu_probe.cu): error checks that stop the probe, the
// epilogue activations in CUTLASS's functor convention (one template parameter and an Array
// specialisation, as Sm90Compute wants), the hardware info, arguments and initialization of a
// CUTLASS GEMM, cuBLASLt's first heuristic algorithm, and the timer. Included by file
// name, so each probe still builds with one nvcc line (see any probe's top).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/gemm/gemm.h"
#include "cutlass/kernel_hardware_info.h"

#define CK(x)                                                                              \
  do {                                                                                     \
    cudaError_t e_ = (x);                                                                  \
    if (e_ != cudaSuccess) {                                                               \
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)
#define CL(x)                                                                   \
  do {                                                                          \
    cublasStatus_t s_ = (x);                                                    \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                          \
      std::printf("cuBLASLt error %d at %s:%d\n", int(s_), __FILE__, __LINE__); \
      std::exit(1);                                                             \
    }                                                                           \
  } while (0)

template <class T>
struct ActIdentity {
  static const bool kIsHeavy = false;
  CUTLASS_HOST_DEVICE T operator()(T const& x) const { return x; }
};
template <class T>
struct ActGeluErf {
  static const bool kIsHeavy = true;
  CUTLASS_HOST_DEVICE T operator()(T const& x) const {
    float v = float(x);
    return T(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
  }
};
#define ARRAY_ACT(Name)                                                                        \
  template <class T, int N>                                                                    \
  struct Name<cutlass::Array<T, N>> {                                                          \
    static const bool kIsHeavy = true;                                                         \
    CUTLASS_HOST_DEVICE cutlass::Array<T, N> operator()(cutlass::Array<T, N> const& v) const { \
      cutlass::Array<T, N> r;                                                                  \
      Name<T> f;                                                                               \
      for (int i = 0; i < N; ++i) r[i] = f(v[i]);                                              \
      return r;                                                                                \
    }                                                                                          \
  };
ARRAY_ACT(ActIdentity)
ARRAY_ACT(ActGeluErf)

// GPU 0 with its multiprocessor count, for a kernel's arguments.
inline cutlass::KernelHardwareInfo probe_hardware_info() {
  cutlass::KernelHardwareInfo hw;
  hw.device_id = 0;
  hw.sm_count = cutlass::KernelHardwareInfo::query_device_multiprocessor_count(0);
  return hw;
}

// The arguments of D[M,N] = epilogue(X[M,K] W[N,K]^T, C[M,N]) for a GemmUniversalAdapter: one
// batch, X, C and D packed row-major, W as [N, K] rows, C null when the epilogue reads none,
// GPU 0's hardware info. The fusion's own fields (args.epilogue.thread) are the caller's.
template <class Gemm>
typename Gemm::Arguments probe_arguments(const typename Gemm::GemmKernel::ElementA* x,
                                         const typename Gemm::GemmKernel::ElementB* w,
                                         const typename Gemm::GemmKernel::ElementC* c,
                                         typename Gemm::GemmKernel::ElementD* d, int M, int N,
                                         int K) {
  using Kernel = typename Gemm::GemmKernel;
  // Packed strides: the leading dimension first, the batch stride last (one batch).
  typename Kernel::StrideA sa{};
  typename Kernel::StrideB sb{};
  typename Kernel::StrideC sc{};
  typename Kernel::StrideD sd{};
  cute::get<0>(sa) = K;
  cute::get<0>(sb) = K;
  cute::get<0>(sc) = N;
  cute::get<0>(sd) = N;
  cute::get<2>(sa) = int64_t(M) * K;
  cute::get<2>(sb) = int64_t(N) * K;
  cute::get<2>(sc) = int64_t(M) * N;
  cute::get<2>(sd) = int64_t(M) * N;
  return {cutlass::gemm::GemmUniversalMode::kGemm,
          {M, N, K, 1},
          {x, sa, w, sb},
          {{}, c, sc, d, sd},
          probe_hardware_info()};
}

// Checks `args` and initializes `gemm` with them; the workspace the kernel needs (its size in
// *ws_bytes when given) is `ext` when given (the caller's, zeroed by the caller), else allocated
// into *ws. False, with "  can_implement failed" / "  initialize failed" printed, when the kernel
// does not take the problem.
template <class Gemm>
bool probe_initialize(Gemm& gemm, const typename Gemm::Arguments& args, void** ws,
                      size_t* ws_bytes = nullptr, void* ext = nullptr) {
  if (gemm.can_implement(args) != cutlass::Status::kSuccess) {
    std::printf("  can_implement failed\n");
    return false;
  }
  const size_t bytes = Gemm::get_workspace_size(args);
  if (ws_bytes != nullptr) *ws_bytes = bytes;
  if (ext != nullptr) {
    *ws = ext;
  } else if (bytes != 0) {
    CK(cudaMalloc(ws, bytes));
  }
  if (gemm.initialize(args, *ws) != cutlass::Status::kSuccess) {
    std::printf("  initialize failed\n");
    return false;
  }
  return true;
}

// The heuristic's first algorithm for a prepared cuBLASLt problem within ws_bytes of workspace,
// and that workspace (allocated); false, with "  <who>: no algorithm" printed, when it has none.
inline bool lt_first_algorithm(cublasLtHandle_t lt, cublasLtMatmulDesc_t op,
                               cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb,
                               cublasLtMatrixLayout_t lc, cublasLtMatrixLayout_t ld,
                               size_t ws_bytes, cublasLtMatmulHeuristicResult_t* heur, void** ws,
                               const char* who) {
  cublasLtMatmulPreference_t pref;
  CL(cublasLtMatmulPreferenceCreate(&pref));
  CL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes,
                                          sizeof(ws_bytes)));
  int n = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, ld, pref, 1, heur, &n);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || n == 0) {
    std::printf("  %s: no algorithm\n", who);
    return false;
  }
  CK(cudaMalloc(ws, ws_bytes));
  return true;
}

// us per call of f over `iters` back-to-back calls on stream s, after 5 warm-up calls.
template <class F>
double time_us(F&& f, cudaStream_t s, int iters) {
  for (int i = 0; i < 5; ++i) f();
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  cudaEventRecord(e0, s);
  for (int i = 0; i < iters; ++i) f();
  cudaEventRecord(e1, s);
  CK(cudaEventSynchronize(e1));
  float ms = 0;
  cudaEventElapsedTime(&ms, e0, e1);
  CK(cudaGetLastError());
  return ms * 1000.0 / iters;
}
