// vitrt.Attention on Hopper's warpgroup MMA (wgmma), for the short sequences of vision and text
// towers (src/cuda/cutlass/attention_sm90.cu, built for sm_90a beside the CUTLASS GEMMs, whose
// CuTe headers give the wgmma instructions: VITRT_HAVE_CUTLASS). One warpgroup per 64 query
// rows of one head; every key of the sequence sits in shared memory and the whole row of
// scores in registers, so the softmax takes one pass with no running rescale.
#pragma once

#include <cuda_runtime.h>

#include "cuda/launch.h"

namespace vitrt::cuda {

// The longest key sequence the kernel holds (one wgmma's N).
inline constexpr int64_t kSm90AttentionMaxKeys = 256;

// Whether the kernel is built and this GPU runs it (compute capability 9.0).
bool attention_sm90_available();

// Whether `a` is in the kernel's range: fp16/bf16, head dims 64 (q, k and v), at most 256 keys,
// no fake quantization, scale > 0, rows and pointers in whole 16-byte chunks. Masks, the causal
// form, zero_masked_rows, E4M3 codes out (out_scale) and E4M3 q, k, v in (in_scale; rows of
// whole 16-code chunks) are all taken.
bool attention_sm90_supports(Elt type, const AttentionArgs& a);

// cudaErrorNotSupported where !attention_sm90_available() or !attention_sm90_supports(): the
// caller runs another form.
cudaError_t launch_attention_sm90(Elt type, const AttentionArgs& a, cudaStream_t stream);

}  // namespace vitrt::cuda
