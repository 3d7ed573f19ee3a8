// Probe, not part of vitrt's build: CUTLASS 3 (Hopper warp-specialized TMA kernels built by its
// CollectiveBuilder, epilogue visitor trees) against cuBLASLt on ViT-B/16 and CLIP GEMM shapes,
// with the activation epilogues cuBLASLt lacks (CLIP's quick GELU, exact erf GELU, a fast tanh GELU
// into an E4M3 D). Prints us per GEMM over back-to-back launches and the max error against a
// float64 host reference on 3,000 sampled entries. Result and analysis: bench/gpu/RESULTS.md,
// session 9.
//
// -DNDEBUG (added in session 37): without it CUTLASS's device asserts are function calls and
// ptxas serializes every wgmma (warning C7510); the results recorded for this probe in
// bench/gpu/RESULTS.md were measured without it, so its CUTLASS rows there are pessimistic.
// CUTLASS is header-only on PyPI (the nvidia-cutlass wheel carries its include tree):
//   pip download nvidia-cutlass==4.2.0.0 --no-deps -d /tmp/cutl && cd /tmp/cutl && unzip -q *.whl
//   C=/tmp/cutl/cutlass_library/source
//   nvcc -std=c++17 -O3 -DNDEBUG -gencode arch=compute_90a,code=sm_90a \
//     -I$C/include \
//     --expt-relaxed-constexpr -o cutlass_probe bench/gpu/cutlass_probe.cu -lcublasLt
//   ./cutlass_probe [iterations]      (on the GPU machine)
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cmath>
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

// ---- the activations the common header lacks ----
template <class T>
struct ActQuickGelu {
  static const bool kIsHeavy = true;
  CUTLASS_HOST_DEVICE T operator()(T const& x) const {
    float v = float(x);
#if defined(__CUDA_ARCH__)
    return T(__fdividef(v, 1.0f + __expf(-1.702f * v)));
#else
    return T(v / (1.0f + std::exp(-1.702f * v)));
#endif
  }
};
template <class T>
struct ActGeluFast {  // tanh form with the hardware tanh
  static const bool kIsHeavy = true;
  CUTLASS_HOST_DEVICE T operator()(T const& x) const {
    float v = float(x);
    float u = 0.7978845608028654f * v * (1.0f + 0.044715f * v * v);
#if defined(__CUDA_ARCH__)
    float t;
    asm("tanh.approx.f32 %0, %1;" : "=f"(t) : "f"(u));
#else
    float t = std::tanh(u);
#endif
    return T(0.5f * v * (1.0f + t));
  }
};
ARRAY_ACT(ActQuickGelu)
ARRAY_ACT(ActGeluFast)

enum class Act { kIdentity, kQuickGelu, kGeluErf, kGeluFast };
double act_ref(Act a, double x) {
  switch (a) {
    case Act::kIdentity:
      return x;
    case Act::kQuickGelu:
      return x / (1.0 + std::exp(-1.702 * x));
    case Act::kGeluErf:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Act::kGeluFast:
      return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
  }
  return x;
}

// ---- CUTLASS GEMM: D[M,N] (row-major) = act(scale * X[M,K] W[N,K]^T + bias[N]) ----
template <class EIn, class EOut, template <class> class ActFn, class Tile, class Cluster,
          class KSched, class ESched>
struct CutlassGemm {
  static constexpr bool kFp8Out = std::is_same_v<EOut, cutlass::float_e4m3_t>;
  static constexpr int kAlignIn = 16 / sizeof(EIn);
  static constexpr int kAlignOut = 16 / sizeof(EOut);
  using Fusion = std::conditional_t<kFp8Out,
                                    cutlass::epilogue::fusion::ScaledLinCombPerColBiasEltAct<
                                        ActFn, EOut, float, cutlass::half_t, EOut, float>,
                                    cutlass::epilogue::fusion::LinCombPerColBiasEltAct<
                                        ActFn, EOut, float, cutlass::half_t, EOut, float>>;
  using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster,
      cutlass::epilogue::collective::EpilogueTileAuto, float, float, void,
      cutlass::layout::RowMajor, kAlignOut, EOut, cutlass::layout::RowMajor, kAlignOut, ESched,
      Fusion>::CollectiveOp;
  using Main = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, EIn, cutlass::layout::RowMajor, kAlignIn,
      EIn, cutlass::layout::ColumnMajor, kAlignIn, float, Tile, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename Epi::SharedStorage))>,
      KSched>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<Shape<int, int, int, int>, Main, Epi>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  Gemm gemm;
  void* ws = nullptr;
  bool ok = false;

  bool setup(const void* x, const void* w, const void* bias, void* d, int M, int N, int K,
             float scale, float scale_d) {
    typename Gemm::Arguments args =
        probe_arguments<Gemm>(static_cast<const EIn*>(x), static_cast<const EIn*>(w), nullptr,
                              static_cast<EOut*>(d), M, N, K);
    args.epilogue.thread.alpha = kFp8Out ? 1.0f : scale;
    args.epilogue.thread.beta = 0.0f;
    args.epilogue.thread.bias_ptr = static_cast<const cutlass::half_t*>(bias);
    if constexpr (kFp8Out) {
      args.epilogue.thread.scale_a = scale;
      args.epilogue.thread.scale_b = 1.0f;
      args.epilogue.thread.scale_d = scale_d;
    }
    ok = probe_initialize(gemm, args, &ws);
    return ok;
  }
  void run(cudaStream_t s) { gemm.run(s); }
};

// ---- cuBLASLt reference GEMM in the same layout (TN, column-major D^T) ----
struct LtGemm {
  cublasLtHandle_t lt;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la, lb, lc, ld;
  cublasLtMatmulHeuristicResult_t heur{};
  void* ws = nullptr;
  size_t ws_bytes = 32 << 20;
  const void *a, *b;
  void *c, *d;
  float alpha = 1, beta = 0;
  bool ok = false;

  bool setup(cublasLtHandle_t h, bool fp8, const void* x, const void* w, const void* bias,
             void* out, void* cbuf, int M, int N, int K, cublasLtEpilogue_t epi,
             const float* dscale_dev, const float* ascale_dev) {
    lt = h;
    a = w;
    b = x;
    c = cbuf;
    d = out;
    cudaDataType_t tin = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16F;
    cudaDataType_t tout = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16F;
    CL(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    if (fp8) {
      cudaDataType_t bt = CUDA_R_16F;
      CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
      int8_t fast = 1;
      CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof(fast)));
      CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &ascale_dev,
                                        sizeof(ascale_dev)));
      CL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, &dscale_dev,
                                        sizeof(dscale_dev)));
    }
    CL(cublasLtMatrixLayoutCreate(&la, tin, K, N, K));
    CL(cublasLtMatrixLayoutCreate(&lb, tin, K, M, K));
    CL(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16F, N, M, N));
    CL(cublasLtMatrixLayoutCreate(&ld, tout, N, M, N));
    if (!lt_first_algorithm(lt, op, la, lb, lc, ld, ws_bytes, &heur, &ws, "cuBLASLt")) {
      return false;
    }
    ok = true;
    return true;
  }
  void run(cudaStream_t s) {
    CL(cublasLtMatmul(lt, op, &alpha, a, la, b, lb, &beta, c, lc, d, ld, &heur.algo, ws, ws_bytes,
                      s));
  }
};

struct Problem {
  const char* name;
  int M, N, K;
};

// Host data for one problem: X [M,K], W [N,K], bias [N], as float values exactly representable in
// the input type.
struct Data {
  std::vector<float> x, w, bias;
};

float round_in(float v, bool fp8) {
  if (fp8) return float(__nv_fp8_e4m3(v));
  return __half2float(__float2half(v));
}

Data make_data(const Problem& p, bool fp8, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Data d;
  d.x.resize(size_t(p.M) * p.K);
  d.w.resize(size_t(p.N) * p.K);
  d.bias.resize(p.N);
  float ws = 1.0f / std::sqrt(float(p.K));
  for (auto& v : d.x) v = round_in(nd(rng) * (fp8 ? 1.0f : 1.0f), fp8);
  for (auto& v : d.w) v = round_in(nd(rng) * (fp8 ? 1.0f : ws), fp8);
  for (auto& v : d.bias) v = __half2float(__float2half(nd(rng) * 0.5f));
  return d;
}

template <class T>
T* upload(const std::vector<float>& h, bool fp8) {
  std::vector<uint8_t> bytes;
  if (fp8) {
    bytes.resize(h.size());
    for (size_t i = 0; i < h.size(); ++i) bytes[i] = __nv_fp8_e4m3(h[i]).__x;
  } else {
    bytes.resize(h.size() * 2);
    auto* p = reinterpret_cast<__half*>(bytes.data());
    for (size_t i = 0; i < h.size(); ++i) p[i] = __float2half(h[i]);
  }
  void* dptr;
  CK(cudaMalloc(&dptr, bytes.size()));
  CK(cudaMemcpy(dptr, bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
  return static_cast<T*>(dptr);
}

// Max |error| / max |reference| over sampled entries of D.
double check(const Problem& p, const Data& d, Act act, float scale, float scale_d, bool out_fp8,
             const void* dev_d) {
  size_t n = size_t(p.M) * p.N;
  std::vector<uint8_t> raw(n * (out_fp8 ? 1 : 2));
  CK(cudaMemcpy(raw.data(), dev_d, raw.size(), cudaMemcpyDeviceToHost));
  std::mt19937 rng(7);
  double max_err = 0, max_ref = 1e-30;
  for (int s = 0; s < 3000; ++s) {
    int m = rng() % p.M, nn = rng() % p.N;
    double acc = 0;
    for (int k = 0; k < p.K; ++k)
      acc += double(d.x[size_t(m) * p.K + k]) * d.w[size_t(nn) * p.K + k];
    double ref = act_ref(act, acc * scale + d.bias[nn]) * scale_d;
    double got;
    size_t i = size_t(m) * p.N + nn;
    if (out_fp8) {
      __nv_fp8_e4m3 v;
      v.__x = raw[i];
      got = float(v);
    } else {
      got = __half2float(reinterpret_cast<const __half*>(raw.data())[i]);
    }
    max_err = std::max(max_err, std::fabs(got - ref));
    max_ref = std::max(max_ref, std::fabs(ref));
  }
  return max_err / max_ref;
}

using T128x256x64 = Shape<_128, _256, _64>;
using T128x128x64 = Shape<_128, _128, _64>;
using T128x256x128 = Shape<_128, _256, _128>;
using T128x128x128 = Shape<_128, _128, _128>;
using C2x1 = Shape<_2, _1, _1>;
using C1x1 = Shape<_1, _1, _1>;
using KCoop = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
using KPing = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
using KCoop8 = cutlass::gemm::KernelTmaWarpSpecializedCooperativeFP8FastAccum;
using KPing8 = cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum;
using ECoop = cutlass::epilogue::TmaWarpSpecializedCooperative;
using EPing = cutlass::epilogue::TmaWarpSpecialized;
using H = cutlass::half_t;
using E4 = cutlass::float_e4m3_t;

int main(int argc, char** argv) {
  int iters = argc > 1 ? std::atoi(argv[1]) : 30;
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  cublasLtHandle_t lt;
  CL(cublasLtCreate(&lt));
  float* scales_dev;  // [0] a scale, [1] d scale
  CK(cudaMalloc(&scales_dev, 2 * sizeof(float)));

  const Problem problems[] = {
      {"vit fc1 b256", 50432, 3072, 768},   {"vit fc2 b256", 50432, 768, 3072},
      {"vit qkv b256", 50432, 2304, 768},   {"clipv fc1 b256", 12800, 3072, 768},
      {"clipt fc1 b256", 19712, 2048, 512}, {"vit fc1 b1", 197, 3072, 768},
      {"vit qkv b1", 197, 2304, 768},
  };
  for (const Problem& p : problems) {
    const double flops = 2.0 * p.M * p.N * p.K;
    for (int fp8 = 0; fp8 < 2; ++fp8) {
      Data d = make_data(p, fp8, 1234 + p.N);
      void* x = fp8 ? (void*)upload<uint8_t>(d.x, true) : (void*)upload<__half>(d.x, false);
      void* w = fp8 ? (void*)upload<uint8_t>(d.w, true) : (void*)upload<__half>(d.w, false);
      void* bias = upload<__half>(d.bias, false);
      void* out;
      CK(cudaMalloc(&out, size_t(p.M) * p.N * 2));
      void* cbuf;
      CK(cudaMalloc(&cbuf, size_t(p.M) * p.N * 2));
      const float scale = fp8 ? 1.0f / 16.0f : 1.0f;  // x*w sums ~ sqrt(K): bring to O(1..2)
      const float scale_d = fp8 ? 4.0f : 1.0f;
      float hs[2] = {scale, scale_d};
      CK(cudaMemcpy(scales_dev, hs, sizeof(hs), cudaMemcpyHostToDevice));
      auto report = [&](const char* what, double us, double err) {
        std::printf("%-15s %-4s %-34s %9.2f us %7.1f TFLOP/s  err %.2e\n", p.name,
                    fp8 ? "fp8" : "fp16", what, us, flops / us * 1e-6, err);
      };
      // cuBLASLt
      const cublasLtEpilogue_t epis[2] = {CUBLASLT_EPILOGUE_BIAS, CUBLASLT_EPILOGUE_GELU_BIAS};
      for (int e = 0; e < 2; ++e) {
        LtGemm g;
        if (g.setup(lt, fp8, x, w, bias, out, cbuf, p.M, p.N, p.K, epis[e], scales_dev + 1,
                    scales_dev)) {
          double us = time_us([&] { g.run(s); }, s, iters);
          double err = check(p, d, e ? Act::kGeluFast : Act::kIdentity, scale, scale_d, fp8, out);
          report(e ? "cublasLt bias+gelu(tanh)" : "cublasLt bias", us, err);
        }
      }
      auto try_cutlass = [&](auto& g, const char* what, Act act) {
        if (!g.setup(x, w, bias, out, p.M, p.N, p.K, scale, scale_d)) return;
        double us = time_us([&] { g.run(s); }, s, iters);
        double err = check(p, d, act, scale, scale_d, fp8, out);
        report(what, us, err);
      };
      if (!fp8) {
        {
          CutlassGemm<H, H, ActIdentity, T128x256x64, C2x1, KCoop, ECoop> g;
          try_cutlass(g, "cutlass coop 128x256 bias", Act::kIdentity);
        }
        {
          CutlassGemm<H, H, ActGeluErf, T128x256x64, C2x1, KCoop, ECoop> g;
          try_cutlass(g, "cutlass coop 128x256 gelu erf", Act::kGeluErf);
        }
        {
          CutlassGemm<H, H, ActQuickGelu, T128x256x64, C2x1, KCoop, ECoop> g;
          try_cutlass(g, "cutlass coop 128x256 quickgelu", Act::kQuickGelu);
        }
        {
          CutlassGemm<H, H, ActQuickGelu, T128x128x64, C2x1, KPing, EPing> g;
          try_cutlass(g, "cutlass ping 128x128 quickgelu", Act::kQuickGelu);
        }
        {
          CutlassGemm<H, H, ActGeluErf, T128x128x64, C1x1, KPing, EPing> g;
          try_cutlass(g, "cutlass ping 128x128 c1 gelu erf", Act::kGeluErf);
        }
      } else {
        {
          CutlassGemm<E4, E4, ActIdentity, T128x256x128, C2x1, KCoop8, ECoop> g;
          try_cutlass(g, "cutlass coop 128x256 bias", Act::kIdentity);
        }
        {
          CutlassGemm<E4, E4, ActGeluFast, T128x256x128, C2x1, KCoop8, ECoop> g;
          try_cutlass(g, "cutlass coop 128x256 gelu fast", Act::kGeluFast);
        }
        {
          CutlassGemm<E4, E4, ActGeluFast, T128x128x128, C2x1, KPing8, EPing> g;
          try_cutlass(g, "cutlass ping 128x128 gelu fast", Act::kGeluFast);
        }
        {
          CutlassGemm<E4, E4, ActGeluErf, T128x128x128, C2x1, KPing8, EPing> g;
          try_cutlass(g, "cutlass ping 128x128 gelu erf", Act::kGeluErf);
        }
      }
      cudaFree(x);
      cudaFree(w);
      cudaFree(bias);
      cudaFree(out);
      cudaFree(cbuf);
    }
  }
  std::printf("done\n");
  return 0;
}
