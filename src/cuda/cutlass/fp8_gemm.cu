// FP8 GEMMs (see src/cuda/cutlass_fp8.h): CUTLASS 3's ping-pong warp-specialized TMA kernel for
// Hopper (sm_90a) with the fast-accumulation FP8 mainloop and 128x128x128 tiles, in the forms
// that were fastest in bench/gpu/cutlass_fp8_gelu_probe.cu on ViT-B/16's layers at batch 256:
//   - E4M3 codes out: 2x1 clusters and 64x128 epilogue tiles (fc1 with its GELU: cooperative
//     128x256 tiles took 236-242 us, ping-pong with the builder's epilogue tile 229-231, with
//     64x128 ones 219-221). CUTLASS's PerColLinCombPerColBiasEltAct (alpha[n] acc + bias[n]),
//     then one of the two functors below; CUTLASS converts their result to E4M3 two values an
//     instruction (cvt.rn.satfinite.e4m3x2 from f32 or f16x2).
//   - fp16 out with a residual: 1x2 clusters and 64x64 epilogue tiles (proj: 76 us against
//     cuBLASLt's 83; 64x128 tiles 100, the builder's 87), PerColResAddPerColBiasEltAct.
#include <cuda_fp16.h>

#include <cmath>
#include <type_traits>

#include "cuda/current_device.h"
#include "cuda/cutlass/gemm_common.cuh"
#include "cuda/cutlass_fp8.h"
#include "cuda/device_common.cuh"
#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/kernel/gemm_universal.hpp"

namespace vitrt::cuda {

// The epilogue functors, by CUTLASS's convention (kIsHeavy, an Array specialisation, Arguments
// handed to the call). Not in an anonymous namespace: nvcc warns of their unread kIsHeavy members
// there.
namespace fp8_gemm_detail {

struct CodeScale {
  float r = 1.0f;  // 1 / output_scale
};

// No activation: y * r in fp32.
template <class T>
struct ScaleCode {
  using Arguments = CodeScale;
  static const bool kIsHeavy = false;
  __device__ T operator()(T const& x, Arguments const& a) const { return T(float(x) * a.r); }
};
template <int N>
struct ScaleCode<cutlass::Array<float, N>> {
  using Arguments = CodeScale;
  static const bool kIsHeavy = false;
  __device__ cutlass::Array<float, N> operator()(cutlass::Array<float, N> const& v,
                                                 Arguments const& a) const {
    cutlass::Array<float, N> o;
    CUTLASS_PRAGMA_UNROLL
    for (int i = 0; i < N; ++i) o[i] = v[i] * a.r;
    return o;
  }
};

__device__ __forceinline__ uint32_t half2_bits(__half2 h) {
  return *reinterpret_cast<const uint32_t*>(&h);
}
__device__ __forceinline__ __half2 bits_half2(uint32_t b) {
  return *reinterpret_cast<const __half2*>(&b);
}

// GELU's tanh form on a pair of fp32 values, times r, as fp16 (the header states the formula and
// its error). z^2 overflows fp16 only where |z| > 256: u is then +-inf, t = +-1, and y = z r
// (the code saturates) or -0, as the GELU gives there; z itself saturates at +-65504, so no
// inf - inf arises. NaN stays NaN.
__device__ __forceinline__ uint32_t gelu_tanh_half2(float lo, float hi, __half2 half_r) {
  uint32_t zb;
  asm("cvt.rn.satfinite.f16x2.f32 %0, %1, %2;\n" : "=r"(zb) : "f"(hi), "f"(lo));
  const __half2 z = bits_half2(zb);
  const __half2 k = __float2half2_rn(0.79788456080286536f);
  const __half2 kc = __float2half2_rn(0.79788456080286536f * 0.044715f);
  const __half2 u = __hmul2(z, __hfma2(__hmul2(z, z), kc, k));
  uint32_t tb;
  asm("tanh.approx.f16x2 %0, %1;\n" : "=r"(tb) : "r"(half2_bits(u)));
  return half2_bits(__hmul2(z, __hfma2(half_r, bits_half2(tb), half_r)));
}

template <class T>
struct GeluTanhHalfCode {
  using Arguments = CodeScale;
  static const bool kIsHeavy = true;
  __device__ cutlass::half_t operator()(T const& x, Arguments const& a) const {
    const uint32_t b = gelu_tanh_half2(float(x), 0.0f, __float2half2_rn(0.5f * a.r));
    return cutlass::half_t::bitcast(static_cast<uint16_t>(b & 0xffffu));
  }
};
// Returns fp16: CUTLASS's Sm90Compute converts the functor's result type to E4M3, here with
// cvt.rn.satfinite.e4m3x2.f16x2.
template <int N>
struct GeluTanhHalfCode<cutlass::Array<float, N>> {
  using Arguments = CodeScale;
  static const bool kIsHeavy = true;
  __device__ cutlass::Array<cutlass::half_t, N> operator()(cutlass::Array<float, N> const& v,
                                                           Arguments const& a) const {
    static_assert(N % 2 == 0, "pairs of values");
    cutlass::Array<cutlass::half_t, N> o;
    uint32_t* out = reinterpret_cast<uint32_t*>(&o);
    const __half2 half_r = __float2half2_rn(0.5f * a.r);
    CUTLASS_PRAGMA_UNROLL
    for (int i = 0; i < N / 2; ++i) out[i] = gelu_tanh_half2(v[2 * i], v[2 * i + 1], half_r);
    return o;
  }
};

using E4 = cutlass::float_e4m3_t;
using Tile = cute::Shape<cute::_128, cute::_128, cute::_128>;

using cutlass_gemm::Identity;

// One kernel: Fusion the epilogue; ElementD E4M3 (codes, ElementC void) or half_t (with the
// residual as a half_t C).
template <class Fusion, class ElementD, class ElementC, class Cluster, class EpiTile>
struct Fp8Gemm {
  static constexpr int kAlignD = 128 / cutlass::sizeof_bits<ElementD>::value;
  using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, EpiTile, float, float,
      ElementC, cutlass::layout::RowMajor, kAlignD, ElementD, cutlass::layout::RowMajor, kAlignD,
      cutlass::epilogue::TmaWarpSpecialized, Fusion>::CollectiveOp;
  using Main = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, E4, cutlass::layout::RowMajor, 16, E4,
      cutlass::layout::ColumnMajor, 16, float, Tile, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename Epi::SharedStorage))>,
      cutlass::gemm::KernelTmaWarpSpecializedPingpongFP8FastAccum>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, Main, Epi>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  static cudaError_t run(const CutlassFp8Gemm& g, void* workspace, size_t workspace_bytes,
                         cudaStream_t stream) {
    const cutlass_gemm::Strides<Kernel> st(g.m, g.n, g.k, g.ldx);
    using C = std::conditional_t<std::is_void_v<ElementC>, void, cutlass::half_t>;
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), 1},
        {reinterpret_cast<const E4*>(g.x), st.a, reinterpret_cast<const E4*>(g.w), st.b},
        {{}, static_cast<const C*>(g.residual), st.c, static_cast<ElementD*>(g.y), st.d},
        cutlass_gemm::hardware_info()};
    args.epilogue.thread.alpha_ptr = g.alpha;
    args.epilogue.thread.beta = std::is_void_v<ElementC> ? 0.0f : 1.0f;
    args.epilogue.thread.bias_ptr = g.bias;
    if constexpr (std::is_same_v<ElementD, E4>) args.epilogue.thread.activation.r = g.r;
    return cutlass_gemm::launch<Gemm>(args, workspace, workspace_bytes, stream);
  }
};

}  // namespace fp8_gemm_detail

bool cutlass_fp8_available() {
  return current_device_is_sm90();
}

bool cutlass_fp8_gelu_scale_ok(float r) {
  const float half_r = 0.5f * r;
  return std::isfinite(half_r) && half_r >= 0x1p-14f && half_r <= 65504.0f;
}

cudaError_t launch_cutlass_fp8(const CutlassFp8Gemm& g, void* workspace, size_t workspace_bytes,
                               cudaStream_t stream) {
  if (!cutlass_fp8_available() || g.k % 16 != 0 || g.ldx % 16 != 0 || g.n % 16 != 0 ||
      g.m > (int64_t(1) << 30) || g.n > (int64_t(1) << 30) || g.k > (int64_t(1) << 30) ||
      !aligned16(g.x) || !aligned16(g.w) || !aligned16(g.y) || !aligned16(g.alpha) ||
      !aligned16(g.bias) || !aligned16(g.residual) || !std::isfinite(g.r) ||
      (g.gelu && (g.residual != nullptr || !cutlass_fp8_gelu_scale_ok(g.r)))) {
    return cudaErrorNotSupported;
  }
  if (g.m == 0 || g.n == 0) return cudaSuccess;
  using namespace fp8_gemm_detail;
  using cute::_1;
  using cute::_128;
  using cute::_2;
  using cute::_64;
  using cute::Shape;
  using cutlass::half_t;
  using cutlass::epilogue::fusion::PerColLinCombPerColBiasEltAct;
  using cutlass::epilogue::fusion::PerColResAddPerColBiasEltAct;
  if (g.residual != nullptr) {
    return Fp8Gemm<PerColResAddPerColBiasEltAct<Identity, half_t, float, float, half_t, float>,
                   half_t, half_t, Shape<_1, _2, _1>, Shape<_64, _64>>::run(g, workspace,
                                                                            workspace_bytes,
                                                                            stream);
  }
  using CodeCluster = Shape<_2, _1, _1>;
  using CodeTile = Shape<_64, _128>;
  if (g.gelu) {
    return Fp8Gemm<PerColLinCombPerColBiasEltAct<GeluTanhHalfCode, E4, float, float, E4, float>, E4,
                   void, CodeCluster, CodeTile>::run(g, workspace, workspace_bytes, stream);
  }
  return Fp8Gemm<PerColLinCombPerColBiasEltAct<ScaleCode, E4, float, float, E4, float>, E4, void,
                 CodeCluster, CodeTile>::run(g, workspace, workspace_bytes, stream);
}

}  // namespace vitrt::cuda
