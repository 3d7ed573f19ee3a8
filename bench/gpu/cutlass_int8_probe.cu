// Probe, not part of vitrt's build: INT8 GEMMs with the dequantization fused into the epilogue.
// cuBLASLt's int8 (IMMA) kernels write int32 or int8 D only, so vitrt.QuantLinear's int8 mode
// writes int32 accumulators and dequantizes them in a second kernel: y = act(acc * x_scale *
// w_scale[n] + bias[n]) in fp16. At ViT-B/16's batch 256 that round trip moves 4 bytes out and
// back per output. CUTLASS 3's Hopper kernels (PerColLinCombPerColBiasEltAct: a per-column alpha
// vector, bias and activation in the epilogue) write the fp16 result directly. This prints, per
// ViT-B/16 GEMM, us for cuBLASLt's int32 GEMM, the dequantize kernel, their sum, and CUTLASS's
// fused kernels, with the max error against a float64 host reference on 3,000 sampled outputs.
// Result and analysis: bench/gpu/RESULTS.md, session 21.
//
// -DNDEBUG (added in session 37): without it CUTLASS's device asserts are function calls and
// ptxas serializes every wgmma (warning C7510); the results recorded for this probe in
// bench/gpu/RESULTS.md were measured without it, so its CUTLASS rows there are pessimistic.
// CUTLASS is header-only on PyPI (the nvidia-cutlass wheel carries its include tree):
//   pip download nvidia-cutlass==4.2.0.0 --no-deps -d /tmp/cutl && cd /tmp/cutl && unzip -q *.whl
//   C=/tmp/cutl/cutlass_library/source
//   nvcc -std=c++20 -O3 -DNDEBUG -gencode arch=compute_90a,code=sm_90a \
//     -I$C/include \
//     --expt-relaxed-constexpr -o cutlass_int8_probe bench/gpu/cutlass_int8_probe.cu -lcublasLt
//   ./cutlass_int8_probe [iterations]      (on the GPU machine)
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass_probe_common.h"

using namespace cute;

double act_ref(bool gelu, double x) {
  return gelu ? 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))) : x;
}

// D[M,N] (row-major, fp16) = act(alpha[n] * (X[M,K] W[N,K]^T) + bias[n]), int8 operands.
template <template <class> class ActFn, class Tile, class Cluster, class KSched, class ESched>
struct CutlassInt8 {
  using Fusion = cutlass::epilogue::fusion::PerColLinCombPerColBiasEltAct<
      ActFn, cutlass::half_t, float, cutlass::half_t, cutlass::half_t, float>;
  using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster,
      cutlass::epilogue::collective::EpilogueTileAuto, int32_t, float, void,
      cutlass::layout::RowMajor, 8, cutlass::half_t, cutlass::layout::RowMajor, 8, ESched,
      Fusion>::CollectiveOp;
  using Main = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, int8_t, cutlass::layout::RowMajor, 16,
      int8_t, cutlass::layout::ColumnMajor, 16, int32_t, Tile, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename Epi::SharedStorage))>,
      KSched>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Main, Epi>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
  Gemm gemm;
  void* ws = nullptr;

  bool setup(const int8_t* x, const int8_t* w, const cutlass::half_t* bias, const float* alpha,
             cutlass::half_t* d, int M, int N, int K) {
    typename Gemm::Arguments args = probe_arguments<Gemm>(x, w, nullptr, d, M, N, K);
    args.epilogue.thread.alpha_ptr = alpha;
    args.epilogue.thread.beta = 0.0f;
    args.epilogue.thread.bias_ptr = bias;
    return probe_initialize(gemm, args, &ws);
  }
  void run(cudaStream_t s) { gemm.run(s); }
};

// cuBLASLt's int8 GEMM into int32 D (TN, column-major D^T = row-major D[M,N]).
struct LtInt8 {
  cublasLtHandle_t lt;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulHeuristicResult_t heur{};
  void* ws = nullptr;
  size_t ws_bytes = 32 << 20;
  const void *a, *b;
  void* d;
  int32_t alpha = 1, beta = 0;
  bool setup(cublasLtHandle_t h, const int8_t* x, const int8_t* w, int32_t* acc, int M, int N,
             int K) {
    lt = h;
    a = w;
    b = x;
    d = acc;
    CL(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32I, CUDA_R_32I));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    CL(cublasLtMatrixLayoutCreate(&la, CUDA_R_8I, K, N, K));
    CL(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8I, K, M, K));
    CL(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32I, N, M, N));
    return lt_first_algorithm(lt, op, la, lb, lc, lc, ws_bytes, &heur, &ws, "cuBLASLt int8");
  }
  void run(cudaStream_t s) {
    CL(cublasLtMatmul(lt, op, &alpha, a, la, b, lb, &beta, d, lc, d, lc, &heur.algo, ws, ws_bytes,
                      s));
  }
};

// The second kernel of the int32 route: 4 accumulators per thread.
__global__ void dequant_kernel(const int4* acc, const float* alpha, const __half* bias, __half2* y,
                               int n_cols, int64_t n4, bool gelu) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int4 a = acc[i];
    const int c = static_cast<int>((i * 4) % n_cols);
    float v[4] = {float(a.x), float(a.y), float(a.z), float(a.w)};
    for (int j = 0; j < 4; ++j) {
      v[j] = v[j] * alpha[c + j] + __half2float(bias[c + j]);
      if (gelu) v[j] = 0.5f * v[j] * (1.0f + erff(v[j] * 0.70710678118654752f));
    }
    y[2 * i] = __floats2half2_rn(v[0], v[1]);
    y[2 * i + 1] = __floats2half2_rn(v[2], v[3]);
  }
}

struct Problem {
  const char* name;
  int M, N, K;
  bool gelu;
};

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 30;
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  cublasLtHandle_t lt;
  CL(cublasLtCreate(&lt));
  const Problem problems[] = {
      {"vit qkv b256", 50432, 2304, 768, false}, {"vit proj b256", 50432, 768, 768, false},
      {"vit fc1 b256", 50432, 3072, 768, true},  {"vit fc2 b256", 50432, 768, 3072, false},
      {"vit fc1 b1", 208, 3072, 768, true},      {"vit qkv b1", 208, 2304, 768, false},
  };
  for (const Problem& p : problems) {
    std::mt19937 rng(1234 + p.N);
    std::normal_distribution<float> nd(0.0f, 40.0f);
    std::uniform_real_distribution<float> u(0.5f, 1.5f);
    std::vector<int8_t> x(size_t(p.M) * p.K), w(size_t(p.N) * p.K);
    for (auto& v : x) v = static_cast<int8_t>(std::clamp(std::lrint(nd(rng)), -127l, 127l));
    for (auto& v : w) v = static_cast<int8_t>(std::clamp(std::lrint(nd(rng)), -127l, 127l));
    std::vector<float> alpha(p.N);
    std::vector<__half> bias(p.N);
    for (int n = 0; n < p.N; ++n) {
      alpha[n] = u(rng) / (1600.0f * std::sqrt(float(p.K)));  // outputs O(1)
      bias[n] = __float2half(nd(rng) / 80.0f);
    }
    int8_t *dx, *dw;
    float* dalpha;
    __half *dbias, *dy;
    int32_t* dacc;
    CK(cudaMalloc(&dx, x.size()));
    CK(cudaMalloc(&dw, w.size()));
    CK(cudaMalloc(&dalpha, p.N * sizeof(float)));
    CK(cudaMalloc(&dbias, p.N * sizeof(__half)));
    CK(cudaMalloc(&dy, size_t(p.M) * p.N * sizeof(__half)));
    CK(cudaMalloc(&dacc, size_t(p.M) * p.N * sizeof(int32_t)));
    CK(cudaMemcpy(dx, x.data(), x.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w.data(), w.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dalpha, alpha.data(), p.N * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dbias, bias.data(), p.N * sizeof(__half), cudaMemcpyHostToDevice));
    const auto check = [&]() {
      std::vector<__half> y(size_t(p.M) * p.N);
      CK(cudaMemcpy(y.data(), dy, y.size() * sizeof(__half), cudaMemcpyDeviceToHost));
      std::mt19937 r(7);
      double max_err = 0, max_ref = 1e-30;
      for (int t = 0; t < 3000; ++t) {
        const int m = r() % p.M, n = r() % p.N;
        double acc = 0;
        for (int k = 0; k < p.K; ++k)
          acc += double(x[size_t(m) * p.K + k]) * w[size_t(n) * p.K + k];
        const double ref = act_ref(p.gelu, acc * alpha[n] + __half2float(bias[n]));
        max_err = std::max(max_err, std::fabs(__half2float(y[size_t(m) * p.N + n]) - ref));
        max_ref = std::max(max_ref, std::fabs(ref));
      }
      return max_err / max_ref;
    };
    const double ops = 2.0 * p.M * p.N * p.K;
    const auto report = [&](const char* what, double us, double err) {
      std::printf("%-14s %-40s %9.2f us %7.1f TOP/s  err %.2e\n", p.name, what, us, ops / us * 1e-6,
                  err);
    };
    LtInt8 g;
    if (g.setup(lt, dx, dw, dacc, p.M, p.N, p.K)) {
      const int64_t n4 = int64_t(p.M) * p.N / 4;
      const auto deq = [&] {
        dequant_kernel<<<528, 256, 0, s>>>(reinterpret_cast<const int4*>(dacc), dalpha, dbias,
                                           reinterpret_cast<__half2*>(dy), p.N, n4, p.gelu);
      };
      const double t_gemm = time_us([&] { g.run(s); }, s, iters);
      const double t_deq = time_us(deq, s, iters);
      const double t_both = time_us(
          [&] {
            g.run(s);
            deq();
          },
          s, iters);
      const double err = check();
      report("cublasLt int32 D", t_gemm, 0);
      report("dequantize kernel", t_deq, 0);
      report("cublasLt + dequantize", t_both, err);
    }
    const auto try_cutlass = [&](auto& c, const char* what) {
      if (!c.setup(dx, dw, reinterpret_cast<const cutlass::half_t*>(dbias), dalpha,
                   reinterpret_cast<cutlass::half_t*>(dy), p.M, p.N, p.K)) {
        return;
      }
      CK(cudaMemset(dy, 0, size_t(p.M) * p.N * sizeof(__half)));
      const double us = time_us([&] { c.run(s); }, s, iters);
      report(what, us, check());
    };
    using T256 = Shape<_128, _256, _128>;
    using T128 = Shape<_128, _128, _128>;
    using C2 = Shape<_2, _1, _1>;
    using C1 = Shape<_1, _1, _1>;
    using KCoop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
    using KPing = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
    using ECoop = cutlass::epilogue::TmaWarpSpecializedCooperative;
    using EPing = cutlass::epilogue::TmaWarpSpecialized;
    // The three tile / schedule configurations with the problem's activation.
    const auto configurations = [&]<template <class> class Act>(const char* suffix) {
      {
        CutlassInt8<Act, T256, C2, KCoop, ECoop> c;
        try_cutlass(c, (std::string("cutlass coop 128x256 c2") + suffix).c_str());
      }
      {
        CutlassInt8<Act, T128, C2, KPing, EPing> c;
        try_cutlass(c, (std::string("cutlass ping 128x128 c2") + suffix).c_str());
      }
      {
        CutlassInt8<Act, T128, C1, KPing, EPing> c;
        try_cutlass(c, (std::string("cutlass ping 128x128 c1") + suffix).c_str());
      }
    };
    if (p.gelu) {
      configurations.template operator()<ActGeluErf>(" gelu");
    } else {
      configurations.template operator()<ActIdentity>("");
    }
    cudaFree(dx);
    cudaFree(dw);
    cudaFree(dalpha);
    cudaFree(dbias);
    cudaFree(dy);
    cudaFree(dacc);
  }
  std::printf("done\n");
  return 0;
}
