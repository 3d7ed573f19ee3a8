// INT8 GEMMs with the dequantization in the epilogue, from NVIDIA CUTLASS's Hopper kernels
// (src/cuda/cutlass/int8_gemm.cu, built when scripts/setup.sh found CUTLASS's headers:
// VITRT_HAVE_CUTLASS). cuBLASLt's int8 kernels write int32 or int8 only, so vitrt.QuantLinear's
// cuBLASLt form writes int32 accumulators and dequantizes them in a second kernel; at ViT-B/16's
// batch 256 that round trip made each int8 GEMM 1.3-2.1x slower than CUTLASS's fused one
// (bench/gpu/RESULTS.md, session 21). The same kernels with E4M3 inputs (CUTLASS's FP8 mainloop
// without fast accumulation) measured 2.2-2.9x slower than cuBLASLt's FP8 GEMMs with their
// scales and epilogues (session 22), so FP8 layers keep cuBLASLt.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/cutlass_gemm_operands.h"

namespace vitrt::cuda {

// The epilogue's activation: none, erf GELU, or GELU's tanh form with a hardware tanh (vitrt's
// cheaper stand-in for erf GELU in 16-bit plans that allow it: the tanh form is at most 4.7e-4
// from erf, tanh.approx.f32 adds at most 2^-11 of tanh, so at most 2.5e-4 |x| more).
enum class CutlassAct { kNone, kGeluErf, kGeluTanhFast };

// Y[m, n] (row-major, fp16) = act(alpha[n] * (Xq[m, k] . Wt[n, k]^T) + bias[n]) (+ residual[m, n]
// when given, with act none). Xq rows are ldx int8 apart, Wt rows k apart; k and ldx multiples of
// 16, n of 8, pointers 16-byte aligned. alpha and bias are float [n] (bias may be null).
// code_scale > 0 (a GELU, no residual, n a multiple of 16): Y is int8 codes instead,
// clamp(round_half_even(act(.) / code_scale), code_qmin, 127) of the fp32 result (device_common's
// int8_code: a requantizing epilogue for the next int8 layer).
// y: fp16 [m, n], or int8 with code_scale.
struct CutlassInt8Gemm : CutlassGemmOperands<int8_t> {
  CutlassAct act = CutlassAct::kNone;
  float code_scale = 0.0f;
  int code_qmin = -127;
};

// Whether the kernels are built and this GPU runs them (compute capability 9.0).
bool cutlass_int8_available();
// cudaErrorNotSupported for a problem the kernels do not take (alignment, residual with an
// activation) or when they are not built; the caller runs another form.
cudaError_t launch_cutlass_int8(const CutlassInt8Gemm& g, void* workspace, size_t workspace_bytes,
                                cudaStream_t stream);

}  // namespace vitrt::cuda
