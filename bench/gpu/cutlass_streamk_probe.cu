// Probe, not part of vitrt's build: fp16 GEMMs at ViT-B/16's batch-1 shapes (197 rows) with the
// K loop spread over more multiprocessors. At 197 rows a 128x128 tile grid has 12-48 tiles for
// 132 multiprocessors, and fc2 (K = 3072) walks 48 K steps on 12 of them. CUTLASS 3's Hopper
// cooperative kernel with its stream-K tile scheduler splits the K loop (stream-K, or split-K
// with a fixed factor) and reduces the partial tiles in a workspace inside the same kernel; the
// workspace's barrier flags must be zero before each launch, so every timed launch here is a
// memset node plus the GEMM, both in one CUDA graph, as vitrt's engine would replay them.
// Prints us per GEMM (graph replay of `iters` launches) for cuBLASLt's heuristic choice and each
// CUTLASS decomposition, with the max error against a float64 host reference on 2,000 outputs.
// Each split decomposition is timed twice: with its own workspace memset before every launch,
// and ("one memset") with every launch of the graph given a slice of one region zeroed once per
// replay, as an engine would do it. Last, CUTLASS's ping-pong kernel with 64-row tiles
// (persistent, data-parallel, no workspace).
//
// -DNDEBUG (added in session 37): without it CUTLASS's device asserts are function calls and
// ptxas serializes every wgmma (warning C7510). Session 23 measured without it; session 38
// re-measured with it (bench/gpu/RESULTS.md): still no CUTLASS form beats cuBLASLt here.
// CUTLASS is header-only on PyPI (the nvidia-cutlass wheel carries its include tree):
//   pip download nvidia-cutlass==4.2.0.0 --no-deps -d /tmp/cutl && cd /tmp/cutl && unzip -q *.whl
//   C=/tmp/cutl/cutlass_library/source
//   nvcc -std=c++20 -O3 -DNDEBUG -gencode arch=compute_90a,code=sm_90a \
//     -I$C/include \
//     --expt-relaxed-constexpr -o cutlass_streamk_probe bench/gpu/cutlass_streamk_probe.cu
//     -lcublasLt
//   ./cutlass_streamk_probe [iterations]      (on the GPU machine)
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
#include "cutlass/gemm/kernel/tile_scheduler.hpp"
#include "cutlass_probe_common.h"

using namespace cute;
using f16 = cutlass::half_t;

enum class Epi { kBias, kGelu, kResidual };

// us per launch of `body` (recorded `iters` times into one graph), replayed 5 times, best kept.
template <class F>
double graph_us(F&& body, cudaStream_t s, int iters) {
  cudaGraph_t g;
  cudaGraphExec_t ge;
  CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < iters; ++i) body();
  CK(cudaStreamEndCapture(s, &g));
  CK(cudaGraphInstantiate(&ge, g, 0));
  CK(cudaGraphLaunch(ge, s));
  CK(cudaStreamSynchronize(s));
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    cudaEventRecord(e0, s);
    CK(cudaGraphLaunch(ge, s));
    cudaEventRecord(e1, s);
    CK(cudaEventSynchronize(e1));
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    best = std::min(best, ms * 1000.0 / iters);
  }
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(g);
  return best;
}

// The arguments of D[M,N] = act(X[M,K] W[N,K]^T + bias[n] (+ R[M,N])) for a GemmUniversalAdapter:
// packed strides, alpha 1, beta 1 with R.
template <class Gemm>
typename Gemm::Arguments f16_arguments(const f16* x, const f16* w, const f16* bias, const f16* r,
                                       f16* d, int M, int N, int K) {
  typename Gemm::Arguments args = probe_arguments<Gemm>(x, w, r, d, M, N, K);
  args.epilogue.thread.alpha = 1.0f;
  args.epilogue.thread.beta = r ? 1.0f : 0.0f;
  args.epilogue.thread.bias_ptr = bias;
  return args;
}

// The fp16 GEMM's kernel types: D[M,N] = act(X[M,K] W[N,K]^T + bias[n] (+ R[M,N])), fp32
// accumulation, for a main-loop / epilogue schedule pair and a tile scheduler.
template <template <class> class ActFn, class Tile, class Cluster, class MainSchedule,
          class EpiSchedule, class Sched = void>
struct F16Types {
  using Fusion =
      cutlass::epilogue::fusion::LinCombPerColBiasEltAct<ActFn, f16, float, f16, f16, float>;
  using EpiOp = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, f16, cutlass::layout::RowMajor,
      8, f16, cutlass::layout::RowMajor, 8, EpiSchedule, Fusion>::CollectiveOp;
  using Main = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, f16, cutlass::layout::RowMajor, 8, f16,
      cutlass::layout::ColumnMajor, 8, float, Tile, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename EpiOp::SharedStorage))>,
      MainSchedule>::CollectiveOp;
  using Kernel =
      cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Main, EpiOp, Sched>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;
};

// The cooperative kernel with a stream-K capable tile scheduler.
template <template <class> class ActFn, class Tile, class Cluster, class Sched>
struct CutlassF16 {
  using Types = F16Types<ActFn, Tile, Cluster, cutlass::gemm::KernelTmaWarpSpecializedCooperative,
                         cutlass::epilogue::TmaWarpSpecializedCooperative, Sched>;
  using Kernel = typename Types::Kernel;
  using Gemm = typename Types::Gemm;
  Gemm gemm;
  void* ws = nullptr;
  size_t ws_bytes = 0;

  // splits > 1: split-K by that factor; 0: stream-K; 1: data-parallel (no split).
  // ext: a caller-owned workspace (zeroed by the caller) instead of one of its own.
  bool setup(const f16* x, const f16* w, const f16* bias, const f16* r, f16* d, int M, int N, int K,
             int splits, char* ext = nullptr) {
    typename Gemm::Arguments args = f16_arguments<Gemm>(x, w, bias, r, d, M, N, K);
    using Mode =
        cutlass::gemm::kernel::detail::PersistentTileSchedulerSm90StreamKParams::DecompositionMode;
    if constexpr (requires { args.scheduler.decomposition_mode; }) {
      args.scheduler.splits = std::max(splits, 1);
      args.scheduler.decomposition_mode =
          splits == 0 ? Mode::StreamK : (splits == 1 ? Mode::DataParallel : Mode::SplitK);
    }
    own = ext == nullptr;
    return probe_initialize(gemm, args, &ws, &ws_bytes, ext);
  }
  bool own = true;
  void run(cudaStream_t s, bool zero = true) {
    if (ws_bytes && zero) CK(cudaMemsetAsync(ws, 0, ws_bytes, s));
    gemm.run(s);
  }
  ~CutlassF16() {
    if (own) cudaFree(ws);
  }
};

// Ping-pong (two consumer warp groups on alternate tiles, 64-row tiles allowed), persistent
// data-parallel tiles.
template <template <class> class ActFn, class Tile, class Cluster>
struct CutlassF16PingPong {
  using Types = F16Types<ActFn, Tile, Cluster, cutlass::gemm::KernelTmaWarpSpecializedPingpong,
                         cutlass::epilogue::TmaWarpSpecialized>;
  using Kernel = typename Types::Kernel;
  using Gemm = typename Types::Gemm;
  Gemm gemm;
  void* ws = nullptr;
  bool setup(const f16* x, const f16* w, const f16* bias, const f16* r, f16* d, int M, int N,
             int K) {
    typename Gemm::Arguments args = f16_arguments<Gemm>(x, w, bias, r, d, M, N, K);
    return probe_initialize(gemm, args, &ws);
  }
  void run(cudaStream_t s) { gemm.run(s); }
  ~CutlassF16PingPong() { cudaFree(ws); }
};

// cuBLASLt's heuristic choice for the same problem (TN, column-major D^T = row-major D[M,N]).
struct LtF16 {
  cublasLtHandle_t lt;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulHeuristicResult_t heur{};
  void* ws = nullptr;
  size_t ws_bytes = 32 << 20;
  const void *a, *b, *c;
  void* d;
  float alpha = 1, beta = 0;
  bool setup(cublasLtHandle_t h, const f16* x, const f16* w, const f16* bias, const f16* r,
             f16* out, int M, int N, int K, Epi epi) {
    lt = h;
    a = w;
    b = x;
    c = r ? static_cast<const void*>(r) : out;
    d = out;
    beta = r ? 1.0f : 0.0f;
    CL(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    cublasLtEpilogue_t e = epi == Epi::kGelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof(e)));
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    CL(cublasLtMatrixLayoutCreate(&la, CUDA_R_16F, K, N, K));
    CL(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16F, K, M, K));
    CL(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16F, N, M, N));
    return lt_first_algorithm(lt, op, la, lb, lc, lc, ws_bytes, &heur, &ws, "cuBLASLt fp16");
  }
  void run(cudaStream_t s) {
    CL(cublasLtMatmul(lt, op, &alpha, a, la, b, lb, &beta, c, lc, d, lc, &heur.algo, ws, ws_bytes,
                      s));
  }
};

struct Problem {
  const char* name;
  int M, N, K;
  Epi epi;
};

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 20;
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  cublasLtHandle_t lt;
  CL(cublasLtCreate(&lt));
  const Problem problems[] = {
      {"fc2 b1", 197, 768, 3072, Epi::kResidual},  {"proj b1", 197, 768, 768, Epi::kResidual},
      {"fc1 b1", 197, 3072, 768, Epi::kGelu},      {"qkv b1", 197, 2304, 768, Epi::kBias},
      {"fc2 b8", 1576, 768, 3072, Epi::kResidual}, {"qkv b8", 1576, 2304, 768, Epi::kBias},
  };
  for (const Problem& p : problems) {
    std::mt19937 rng(1234 + p.N + p.M);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<f16> x(size_t(p.M) * p.K), w(size_t(p.N) * p.K), bias(p.N), r(size_t(p.M) * p.N);
    const float ws = 1.0f / std::sqrt(float(p.K));
    for (auto& v : x) v = f16(nd(rng));
    for (auto& v : w) v = f16(nd(rng) * ws);
    for (auto& v : bias) v = f16(nd(rng) * 0.1f);
    for (auto& v : r) v = f16(nd(rng));
    f16 *dx, *dw, *db, *dr, *dy;
    CK(cudaMalloc(&dx, x.size() * 2));
    CK(cudaMalloc(&dw, w.size() * 2));
    CK(cudaMalloc(&db, bias.size() * 2));
    CK(cudaMalloc(&dr, r.size() * 2));
    CK(cudaMalloc(&dy, r.size() * 2));
    CK(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(db, bias.data(), bias.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dr, r.data(), r.size() * 2, cudaMemcpyHostToDevice));
    const f16* res = p.epi == Epi::kResidual ? dr : nullptr;
    const auto check = [&]() {
      std::vector<f16> y(r.size());
      CK(cudaMemcpy(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost));
      std::mt19937 g(7);
      double max_err = 0;
      for (int t = 0; t < 2000; ++t) {
        const int m = g() % p.M, n = g() % p.N;
        double acc = double(bias[n]);
        for (int k = 0; k < p.K; ++k)
          acc += double(x[size_t(m) * p.K + k]) * double(w[size_t(n) * p.K + k]);
        if (res) acc += double(r[size_t(m) * p.N + n]);
        if (p.epi == Epi::kGelu) acc = 0.5 * acc * (1.0 + std::erf(acc / std::sqrt(2.0)));
        max_err = std::max(max_err, std::fabs(double(y[size_t(m) * p.N + n]) - acc));
      }
      return max_err;
    };
    const auto report = [&](const std::string& what, double us, double err) {
      std::printf("%-8s %-36s %8.2f us  err %.2e\n", p.name, what.c_str(), us, err);
    };
    {
      LtF16 g;
      if (g.setup(lt, dx, dw, db, res, dy, p.M, p.N, p.K, p.epi)) {
        CK(cudaMemset(dy, 0, r.size() * 2));
        const double us = graph_us([&] { g.run(s); }, s, iters);
        report("cuBLASLt heuristic", us, check());
      }
    }
    {
      void* tmp;
      CK(cudaMalloc(&tmp, 4096));
      report("memset 4 KB alone", graph_us([&] { CK(cudaMemsetAsync(tmp, 0, 4096, s)); }, s, iters),
             0);
      cudaFree(tmp);
    }
    const auto variant = [&]<template <class> class Act, class Tile, class Cluster>(
                             const char* what) {
      for (int splits : {1, 0, 2, 3, 4, 6, 8}) {
        CutlassF16<Act, Tile, Cluster, cutlass::gemm::StreamKScheduler> c;
        if (!c.setup(dx, dw, db, res, dy, p.M, p.N, p.K, splits)) continue;
        CK(cudaMemset(dy, 0, r.size() * 2));
        const double us = graph_us([&] { c.run(s); }, s, iters);
        const std::string name = std::string(what) +
                                 (splits == 0   ? " stream-K"
                                  : splits == 1 ? " data-parallel"
                                                : " split " + std::to_string(splits)) +
                                 " ws " + std::to_string(c.ws_bytes >> 10) + "K";
        report(name, us, check());
        if (c.ws_bytes == 0 || splits == 1) continue;
        // One memset for all `iters` GEMMs of the graph, each with its own slice: what an
        // engine would do with one zeroed region per graph replay for every split GEMM.
        const size_t stride = (c.ws_bytes + 255) / 256 * 256;
        char* arena = nullptr;
        CK(cudaMalloc(&arena, stride * iters));
        std::vector<CutlassF16<Act, Tile, Cluster, cutlass::gemm::StreamKScheduler>> many(iters);
        bool ok = true;
        for (int i = 0; i < iters && ok; ++i)
          ok = many[i].setup(dx, dw, db, res, dy, p.M, p.N, p.K, splits, arena + stride * i);
        if (ok) {
          CK(cudaMemset(dy, 0, r.size() * 2));
          int next = 0;
          const double us2 = graph_us(
              [&] {
                if (next == 0) CK(cudaMemsetAsync(arena, 0, stride * iters, s));
                many[next].run(s, false);
                next = (next + 1) % iters;
              },
              s, iters);
          report(name + " one memset", us2, check());
        }
        cudaFree(arena);
      }
    };
    const auto pingpong =
        [&]<template <class> class Act, class Tile, class Cluster>(const char* what) {
          CutlassF16PingPong<Act, Tile, Cluster> c;
          if (!c.setup(dx, dw, db, res, dy, p.M, p.N, p.K)) return;
          CK(cudaMemset(dy, 0, r.size() * 2));
          const double us = graph_us([&] { c.run(s); }, s, iters);
          report(std::string(what) + " ping-pong", us, check());
        };
    using T128 = Shape<_128, _128, _64>;
    using T64 = Shape<_128, _64, _64>;
    using C1 = Shape<_1, _1, _1>;
    using C2 = Shape<_1, _2, _1>;
    const auto all = [&]<template <class> class Act>() {
      variant.template operator()<Act, T128, C1>("128x128 c1");
      variant.template operator()<Act, T64, C1>("128x64 c1");
      variant.template operator()<Act, T128, C2>("128x128 c1x2");
      pingpong.template operator()<Act, Shape<_64, _128, _64>, C1>("64x128 c1");
      pingpong.template operator()<Act, Shape<_64, _64, _64>, C1>("64x64 c1");
      pingpong.template operator()<Act, Shape<_64, _128, _64>, Shape<_2, _1, _1>>("64x128 c2x1");
      pingpong.template operator()<Act, Shape<_64, _64, _128>, Shape<_2, _1, _1>>("64x64x128 c2x1");
    };
    if (p.epi == Epi::kGelu) {
      all.template operator()<cutlass::epilogue::thread::GELU_taylor>();
    } else {
      all.template operator()<ActIdentity>();
    }
    cudaFree(dx);
    cudaFree(dw);
    cudaFree(db);
    cudaFree(dr);
    cudaFree(dy);
  }
  std::printf("done\n");
  return 0;
}
