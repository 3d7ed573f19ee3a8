// FP8 (E4M3) GEMMs that write E4M3 codes or add a residual, from NVIDIA CUTLASS's Hopper ping-pong
// kernels (src/cuda/cutlass/fp8_gemm.cu, built when scripts/setup.sh found CUTLASS's headers:
// VITRT_HAVE_CUTLASS). vitrt.QuantLinear's mode 6 (ops_quant_linear.cc), timed against cuBLASLt's
// FP8 GEMMs by the tactic search.
//
// Why: cuBLASLt's GELU epilogue is fixed, and at ViT-B/16's batch 256 it cost the fp8 fc1 about
// 40 us of its 245 (bias alone: 205). CUTLASS's ping-pong schedule runs one warp group's
// epilogue while the other's products run, and here the epilogue computes the tanh-form GELU on
// pairs of fp16 values (HFMA2, tanh.approx.f16x2, and one cvt to two E4M3 codes): 221 us on the
// H100 (bench/gpu/cutlass_fp8_gelu_probe.cu; bench/gpu/RESULTS.md, session 37). Without an
// activation (qkv writing E4M3 q, k, v) the kernel took 149 us against cuBLASLt's 155, and with
// a residual in fp16 (proj) 76 against 83.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/cutlass_gemm_operands.h"

namespace vitrt::cuda {

// Y[m, n] (row-major E4M3 codes) = code(act(alpha[n] * (Xq[m, k] . Wt[n, k]^T) + bias[n]) * r),
// Xq and Wt E4M3 codes (Xq rows ldx apart, Wt rows k apart), the products summed with Hopper's
// fast FP8 accumulation (as cuBLASLt's CUBLASLT_MATMUL_DESC_FAST_ACCUM), alpha and bias float
// [n] (bias may be null), code() rounding to nearest even and saturating at +-448 (NaN stays NaN).
//   act none: the sum in fp32, times r.
//   act GELU: the tanh form 0.5 z (1 + tanh(0.79788456 (z + 0.044715 z^3))) computed on fp16
//   pairs: z = alpha acc + bias rounded to fp16 (saturating at +-65504), y = z (r/2 + r/2 t) with
//   t = tanh.approx.f16x2(z (k + k c z^2)). Against the tanh form in fp32 that adds at most
//   about 2^-10 |y| (fp16 rounding) and 2^-10 (r/2) |z| (tanh's error near +-1, where y is
//   small): a layer may choose it only where the build allows GELU's tanh form (`--exact-gelu`
//   refuses it). Needs 2^-14 <= r/2 <= 65504.
// With residual (fp16 [m, n], act none): Y is fp16 instead, alpha[n] acc + bias[n] + residual
// (r unused).
// k and ldx multiples of 16, n of 16, pointers 16-byte aligned.
// y: E4M3 codes, or fp16 with residual.
struct CutlassFp8Gemm : CutlassGemmOperands<uint8_t> {
  bool gelu = false;
  float r = 1.0f;  // 1 / output_scale
};

// Whether the kernels are built and this GPU runs them (compute capability 9.0).
bool cutlass_fp8_available();
// Whether a problem's r suits the GELU kernel (r / 2 a normal fp16 value).
bool cutlass_fp8_gelu_scale_ok(float r);
// cudaErrorNotSupported for a problem the kernels do not take (alignment, r out of range) or
// when they are not built; the caller runs another form.
cudaError_t launch_cutlass_fp8(const CutlassFp8Gemm& g, void* workspace, size_t workspace_bytes,
                               cudaStream_t stream);

}  // namespace vitrt::cuda
