// INT8 GEMMs with the per-channel dequantization, bias, GELU or residual in the epilogue:
// CUTLASS 3's warp-specialized TMA kernels for Hopper (sm_90a), built from its CollectiveBuilder
// with the PerColLinCombPerColBiasEltAct / PerColResAddPerColBiasEltAct epilogues (fp16 D, or
// int8 codes for the next int8 layer after a GELU). See
// src/cuda/cutlass_int8.h. One tile shape (128x256x128, cooperative, 2x1 clusters): the fastest of
// three on every ViT-B/16 problem at batch 256 and within 15% of the best at batch 1
// (bench/gpu/cutlass_int8_probe.cu).
#include <cuda_fp16.h>

#include <cmath>
#include <type_traits>

#include "cuda/current_device.h"
#include "cuda/cutlass/gemm_common.cuh"
#include "cuda/cutlass_int8.h"
#include "cuda/device_common.cuh"
#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/collective_builder.hpp"
#include "cutlass/epilogue/fusion/operations.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/kernel/gemm_universal.hpp"

// The requantizing epilogues' last step. CodeAfter (below) hands the converter to the int8 D
// floats already clamped to [qmin, 127] (NaN made 0), so rounding to the nearest integer, half to
// even, is all that is left: one addition of 1.5 * 2^23 leaves the integer in the low bits, and
// two byte permutes pack four codes. CUTLASS's own converter (cvt.rni to int32, then a packing
// cvt) runs on the quarter-rate conversion pipe that the GELU's tanh also needs: at ViT-B/16's
// batch 256 the int8 fc1 spent about as long in those conversions as in its tanh. The code
// epilogues select this converter through a rounding style no other conversion of vitrt's uses
// (round_half_ulp_trunc_dntz); its other conversions (int32 and float to float) do not depend on
// the style.
namespace cutlass {
template <int N>
struct NumericArrayConverter<int8_t, float, N, FloatRoundStyle::round_half_ulp_trunc_dntz> {
  static_assert(N % 4 == 0, "whole groups of four codes");
  using result_type = Array<int8_t, N>;
  using source_type = Array<float, N>;
  static FloatRoundStyle const round_style = FloatRoundStyle::round_half_ulp_trunc_dntz;

  CUTLASS_HOST_DEVICE
  static result_type convert(source_type const& source) {
    result_type result;
#if defined(__CUDA_ARCH__)
    uint32_t* out = reinterpret_cast<uint32_t*>(&result);
    CUTLASS_PRAGMA_UNROLL
    for (int i = 0; i < N / 4; ++i) {
      uint32_t b[4];
      CUTLASS_PRAGMA_UNROLL
      for (int j = 0; j < 4; ++j) b[j] = __float_as_uint(__fadd_rn(source[4 * i + j], 12582912.0f));
      out[i] =
          __byte_perm(__byte_perm(b[0], b[1], 0x0040), __byte_perm(b[2], b[3], 0x0040), 0x5410);
    }
#else
    for (int i = 0; i < N; ++i) result[i] = static_cast<int8_t>(std::nearbyint(source[i]));
#endif
    return result;
  }

  CUTLASS_HOST_DEVICE
  result_type operator()(source_type const& s) const {
    return convert(s);
  }
};
}  // namespace cutlass

namespace vitrt::cuda {

// The epilogue's activations, by CUTLASS's functor convention (kIsHeavy, an Array
// specialisation). Not in an anonymous namespace: nvcc warns of their unread kIsHeavy members
// there.
namespace int8_gemm_detail {

// Applies Scalar<T> to each element of an Array.
template <template <class> class Scalar, class T, int N>
struct OnArray {
  static const bool kIsHeavy = Scalar<T>::kIsHeavy;
  __device__ cutlass::Array<T, N> operator()(cutlass::Array<T, N> const& v) const {
    cutlass::Array<T, N> r;
    Scalar<T> f;
    CUTLASS_PRAGMA_UNROLL
    for (int i = 0; i < N; ++i) r[i] = f(v[i]);
    return r;
  }
};

using cutlass_gemm::Identity;

// erf GELU: activate_fixed's, as vitrt's other GELU kernels compute it.
template <class T>
struct GeluErf {
  static const bool kIsHeavy = true;
  __device__ T operator()(T const& x) const { return T(activate_fixed<UnaryOp::kGelu>(float(x))); }
};
template <class T, int N>
struct GeluErf<cutlass::Array<T, N>> : OnArray<GeluErf, T, N> {};

// GELU's tanh form with tanh.approx.f32: one special-function instruction where erff takes
// about twenty (erf GELU cost the int8 fc1 of ViT-B/16 a third of its time). Arguments below
// -9 give 0 (1 + tanh there is below 1e-7; the approximate tanh need not reach -1 exactly).
template <class T>
struct GeluTanhFast {
  static const bool kIsHeavy = true;
  __device__ T operator()(T const& x) const {
    const float v = float(x);
    const float u = 0.79788456080286536f * fmaf(0.044715f * v * v, v, v);
    float t;
    asm("tanh.approx.f32 %0, %1;\n" : "=f"(t) : "f"(u));
    return T(u < -9.0f ? 0.0f : 0.5f * v * (1.0f + t));
  }
};
template <class T, int N>
struct GeluTanhFast<cutlass::Array<T, N>> : OnArray<GeluTanhFast, T, N> {};

// The same activations, then the int8 code of the result (a requantizing epilogue). CUTLASS
// passes the Arguments (the code's scale and lower clamp) to the functor, which scales by the
// reciprocal (the contract allows the GPU's codes one step; device_common's exact division
// cost this epilogue another 8 instructions an element) and clamps; the converter to the int8
// D at the top of this file rounds half to even. NaN gives 0, as the CPU's quantizer.
template <template <class> class Act, class T>
struct CodeAfter {
  using Arguments = Int8Code;
  static const bool kIsHeavy = true;
  __device__ T operator()(T const& x, Arguments const& code) const {
    const float q = quotient_by_reciprocal(float(Act<T>{}(x)), code.div);
    return T(isnan(q) ? 0.0f : fminf(fmaxf(q, code.qmin), 127.0f));
  }
};
// The same over a fragment, with the choice between the reciprocal and the division made once
// (per element it cost a branch and its bookkeeping each).
template <template <class> class Act, class T, int N>
struct CodeAfterOnArray {
  using Arguments = Int8Code;
  static const bool kIsHeavy = true;
  __device__ cutlass::Array<T, N> operator()(cutlass::Array<T, N> const& v,
                                             Arguments const& code) const {
    cutlass::Array<T, N> r;
    Act<T> act;
    const auto clamp = [&code](float q) {
      return T(isnan(q) ? 0.0f : fminf(fmaxf(q, code.qmin), 127.0f));
    };
    if (code.div.r != 0.0f) {
      CUTLASS_PRAGMA_UNROLL
      for (int i = 0; i < N; ++i) r[i] = clamp(float(act(v[i])) * code.div.r);
    } else {
      CUTLASS_PRAGMA_UNROLL
      for (int i = 0; i < N; ++i) r[i] = clamp(__fdiv_rn(float(act(v[i])), code.div.s));
    }
    return r;
  }
};
template <class T>
struct GeluErfCode : CodeAfter<GeluErf, T> {};
template <class T, int N>
struct GeluErfCode<cutlass::Array<T, N>> : CodeAfterOnArray<GeluErf, T, N> {};
template <class T>
struct GeluTanhFastCode : CodeAfter<GeluTanhFast, T> {};
template <class T, int N>
struct GeluTanhFastCode<cutlass::Array<T, N>> : CodeAfterOnArray<GeluTanhFast, T, N> {};

using Tile = cute::Shape<cute::_128, cute::_256, cute::_128>;
using Cluster = cute::Shape<cute::_2, cute::_1, cute::_1>;

// One kernel: Fusion the epilogue, ElementC void without a residual (no source operand), half_t
// with one; ElementD half_t, or int8_t for codes.
template <class Fusion, class ElementC, class ElementD = cutlass::half_t,
          class EpiTile = cutlass::epilogue::collective::EpilogueTileAuto>
struct Int8Gemm {
  using Element = int8_t;
  using Accumulator = int32_t;
  static constexpr int kAlignD = 128 / cutlass::sizeof_bits<ElementD>::value;
  using Epi = typename cutlass::epilogue::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Tile, Cluster, EpiTile, Accumulator,
      float, ElementC, cutlass::layout::RowMajor, 8, ElementD, cutlass::layout::RowMajor, kAlignD,
      cutlass::epilogue::TmaWarpSpecializedCooperative, Fusion>::CollectiveOp;
  using Main = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Element, cutlass::layout::RowMajor, 16,
      Element, cutlass::layout::ColumnMajor, 16, Accumulator, Tile, Cluster,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(
          sizeof(typename Epi::SharedStorage))>,
      cutlass::gemm::KernelTmaWarpSpecializedCooperative>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, Main, Epi>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  static cudaError_t run(const CutlassInt8Gemm& g, void* workspace, size_t workspace_bytes,
                         cudaStream_t stream) {
    const cutlass_gemm::Strides<Kernel> st(g.m, g.n, g.k, g.ldx);
    auto* y = static_cast<ElementD*>(g.y);
    using C = std::conditional_t<std::is_void_v<ElementC>, void, cutlass::half_t>;
    const auto* c = static_cast<const C*>(g.residual);
    typename Gemm::Arguments args{
        cutlass::gemm::GemmUniversalMode::kGemm,
        {static_cast<int>(g.m), static_cast<int>(g.n), static_cast<int>(g.k), 1},
        {g.x, st.a, g.w, st.b},
        {{}, c, st.c, y, st.d},
        cutlass_gemm::hardware_info()};
    args.epilogue.thread.alpha_ptr = g.alpha;
    args.epilogue.thread.beta = c != nullptr ? 1.0f : 0.0f;
    args.epilogue.thread.bias_ptr = g.bias;
    if constexpr (std::is_same_v<ElementD, int8_t>) {
      args.epilogue.thread.activation = int8_code_of(g.code_scale, g.code_qmin);
    }
    return cutlass_gemm::launch<Gemm>(args, workspace, workspace_bytes, stream);
  }
};

// The six kernels: no activation, erf GELU, fast tanh-form GELU, residual, and the two GELUs
// writing int8 codes.
cudaError_t run_int8_gemm(const CutlassInt8Gemm& g, void* workspace, size_t workspace_bytes,
                          cudaStream_t stream) {
  using cutlass::half_t;
  using cutlass::epilogue::fusion::PerColLinCombPerColBiasEltAct;
  using cutlass::epilogue::fusion::PerColResAddPerColBiasEltAct;
  if (g.residual != nullptr) {
    return Int8Gemm<PerColResAddPerColBiasEltAct<Identity, half_t, float, float, half_t, float>,
                    half_t>::run(g, workspace, workspace_bytes, stream);
  }
  if (g.code_scale > 0.0f) {
    // A 128 x 128 epilogue tile: 128-byte rows of codes in shared memory for the TMA store
    // (the builder's default, 128 x 32, made the fc1 of ViT-B/16 3% slower).
    using CodeTile = cute::Shape<cute::_128, cute::_128>;
    // The whole-number floats' converter (see the top of this file).
    constexpr auto kWhole = cutlass::FloatRoundStyle::round_half_ulp_trunc_dntz;
    if (g.act == CutlassAct::kGeluTanhFast) {
      return Int8Gemm<PerColLinCombPerColBiasEltAct<GeluTanhFastCode, int8_t, float, float, half_t,
                                                    float, 4, 4, kWhole>,
                      void, int8_t, CodeTile>::run(g, workspace, workspace_bytes, stream);
    }
    return Int8Gemm<PerColLinCombPerColBiasEltAct<GeluErfCode, int8_t, float, float, half_t, float,
                                                  4, 4, kWhole>,
                    void, int8_t, CodeTile>::run(g, workspace, workspace_bytes, stream);
  }
  switch (g.act) {
    case CutlassAct::kGeluErf:
      return Int8Gemm<PerColLinCombPerColBiasEltAct<GeluErf, half_t, float, float, half_t, float>,
                      void>::run(g, workspace, workspace_bytes, stream);
    case CutlassAct::kGeluTanhFast:
      return Int8Gemm<
          PerColLinCombPerColBiasEltAct<GeluTanhFast, half_t, float, float, half_t, float>,
          void>::run(g, workspace, workspace_bytes, stream);
    case CutlassAct::kNone:
      break;
  }
  return Int8Gemm<PerColLinCombPerColBiasEltAct<Identity, half_t, float, float, half_t, float>,
                  void>::run(g, workspace, workspace_bytes, stream);
}

}  // namespace int8_gemm_detail

bool cutlass_int8_available() {
  return current_device_is_sm90();
}

cudaError_t launch_cutlass_int8(const CutlassInt8Gemm& g, void* workspace, size_t workspace_bytes,
                                cudaStream_t stream) {
  if (!cutlass_int8_available() || g.k % 16 != 0 || g.ldx % 16 != 0 || g.n % 8 != 0 ||
      g.m > (int64_t(1) << 30) || g.n > (int64_t(1) << 30) || g.k > (int64_t(1) << 30) ||
      !aligned16(g.x) || !aligned16(g.w) || !aligned16(g.y) || !aligned16(g.alpha) ||
      !aligned16(g.bias) || !aligned16(g.residual) ||
      (g.residual != nullptr && g.act != CutlassAct::kNone) ||
      (g.code_scale > 0.0f && (g.act == CutlassAct::kNone || g.residual != nullptr ||
                               g.n % 16 != 0 || g.code_qmin < -128 || g.code_qmin > 0))) {
    return cudaErrorNotSupported;
  }
  if (g.m == 0 || g.n == 0) return cudaSuccess;
  return int8_gemm_detail::run_int8_gemm(g, workspace, workspace_bytes, stream);
}

}  // namespace vitrt::cuda
