// cuDNN's fused attention (the SDPA_FWD backend operation of cuDNN 9.13 and newer,
// O = softmax(Q K^T * scale) V without a mask), loaded at run time with dlopen like cuBLASLt,
// as a second Attention tactic beside vitrt's own kernels: the build times both per shape
// and stores the faster in the plan. On the H200 (cuDNN 9.19) it takes ViT-B/16's 197-token
// attention at batch 256 in 1.96 ms per tower against 3.3-3.6 ms for vitrt's kernel, while
// vitrt's kernel wins at 50 tokens (CLIP B/32 vision). Plans that chose it run vitrt's kernel
// where cuDNN cannot be loaded (same function; see cudnn_attention_unavailable()).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda/launch.h"
#include "vitrt/status.h"

namespace vitrt::cuda {

// One attention problem in cuDNN's terms: Q [batch, heads, sq, dh], K [.., sk, dh],
// V [.., sk, dv] and O [.., sq, dv] as strided views (element strides, innermost 1).
struct SdpaProblem {
  Elt type = Elt::kF16;
  int64_t batch = 0, heads = 0, sq = 0, sk = 0, dh = 0, dv = 0;
  int64_t q_strides[4] = {}, k_strides[4] = {}, v_strides[4] = {}, o_strides[4] = {};
  float scale = 1.0f;
};

// Why cuDNN's attention cannot run here ("" when it can): the library is missing (searched as
// $VITRT_CUDNN_LIBRARY, then libcudnn.so.9 on the loader's path), older than 9.13, or built
// without cuDNN's headers.
std::string cudnn_attention_unavailable();

// Whether cuDNN's operation covers the problem's form: fp16/bf16, dh == dv, head dims in whole
// 8-element (16-byte) chunks up to 128, 16-byte aligned strides.
bool cudnn_attention_supports(const SdpaProblem& p);

// Builds (or finds in a per-stream cache) the execution plan for `p` on `stream`. Call it
// outside CUDA-graph capture: building may compile and load kernels. *workspace_bytes gets the
// plan's workspace need.
Status cudnn_attention_prepare(const SdpaProblem& p, cudaStream_t stream, size_t* workspace_bytes);

// How many execution plans this process has built (each about half a second on the H200):
// tests use it to check that batch sizes share plans.
size_t cudnn_attention_plans_built();

// Runs a prepared problem on `stream` (capturable into a CUDA graph).
Status cudnn_attention_run(const SdpaProblem& p, const void* q, const void* k, const void* v,
                           void* out, void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace vitrt::cuda
