// cuDNN's convolution for channels-last (NHWC) layers, loaded at run time with dlopen like
// cuDNN's attention: Y = relu(conv(X, W) + bias + R) with the bias, the residual R and the ReLU
// each optional, one cuDNN operation graph per problem. It serves vitrt.ChannelsLastConv's
// dense layers (ResNet and CLIP RN50 trunks, hybrid ViT stems, ConvNeXt downsamplers), which
// im2col + cuBLASLt ran 5.9x slower than torch.compile on ResNet-50. Depthwise convolutions
// keep vitrt's own kernel.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda/launch.h"
#include "vitrt/status.h"

namespace vitrt::cuda {

// One convolution: X [n, h, w, c] (NHWC), W [k, r, s, c / group] (KRSC, i.e. ONNX's OIHW
// filter with its input channels innermost), Y [n, oh, ow, k], all dense; bias [k] and R
// [n, oh, ow, k] optional. X, W, bias, R and Y are all of `type`; accumulation is fp32.
struct ConvProblem {
  Elt type = Elt::kF32;     // kF32, kF16 or kBF16
  bool allow_tf32 = false;  // fp32 only: TF32 tensor-core math allowed (else true FP32 math)
  int64_t n = 0, h = 0, w = 0, c = 0;
  int64_t k = 0, r = 0, s = 0, group = 1;
  int64_t oh = 0, ow = 0;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;  // may differ
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  bool bias = false;      // + bias[k]
  bool residual = false;  // + R[n, oh, ow, k]
  bool relu = false;      // max(0, .) applied last: Y = relu(conv + bias + R)
};

// Device pointers of one execution, each 16-byte aligned (vitrt's arena aligns to 256); bias
// and residual are read only where the problem has them. No two may overlap (y may not be the
// residual: a fused engine's reads and writes of Y are not ordered).
struct ConvBuffers {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  void* y = nullptr;
};

// One of the engine configurations cuDNN's heuristic lists for a problem: the engine's index in
// cuDNN's global engine list (-1: none named, the heuristic's first) and which of that engine's
// configurations (knob settings; the heuristic lists several per engine) in the list's order.
struct ConvEngineChoice {
  int64_t engine = -1;
  int64_t ordinal = 0;
};

// Why cuDNN's convolution cannot run here ("" when it can): the library is missing (searched as
// $VITRT_CUDNN_LIBRARY, then libcudnn.so.9 on the loader's path), is not cuDNN 9, or vitrt was
// built without cuDNN's headers.
std::string cudnn_conv_unavailable();

// Whether the problem's form is one this wrapper takes (a static check; the library need not
// be loaded): fp32, fp16 or bf16; positive sizes and strides, non-negative pads; group dividing
// c and k; oh and ow as the geometry gives them; for fp16 and bf16, c / group and k / group
// multiples of 8 (16-byte channel vectors, so a c = 3 stem is refused there); every tensor
// under 2^31 elements.
bool cudnn_conv_supports(const ConvProblem& p);

// Builds (or finds in the cache of `stream`) the execution plan of `p`, and sets
// *workspace_bytes to its workspace need (at most max_workspace). Call it outside CUDA-graph
// capture: building may compile kernels (cuDNN's runtime-fusion engines take 0.1-1 s each).
// With `timing` (device buffers of the problem's sizes, 16-byte aligned; y is overwritten), it
// times up to 8 engine configurations (a few runs each) and keeps the fastest; without, it
// keeps the first that suits (the heuristic's mode A order, then its fallback list). Engines
// with nondeterministic or reduced-precision-reduction notes are never taken, nor tensor-core
// (TF32) ones for fp32 without allow_tf32. Where no engine takes bias, residual and ReLU fused
// into the convolution, the plan is the plain convolution followed by vitrt's elementwise
// kernels. The first prepare of a problem on a stream decides its plan (later ones return it,
// or an error where it needs more than their max_workspace).
//
// `choice` (without `timing`) asks for one engine configuration, as a tactic stored in a plan
// names it: where the heuristic offers that engine for p, its configuration of that ordinal (or
// its first), else the heuristic's first (the summary says so).
Status cudnn_conv_prepare(const ConvProblem& p, cudaStream_t stream, size_t max_workspace,
                          const ConvBuffers* timing, size_t* workspace_bytes,
                          ConvEngineChoice choice = {});

// The engine configuration of the plan prepared for `p` on `stream` (engine -1 when none was).
ConvEngineChoice cudnn_conv_choice(const ConvProblem& p, cudaStream_t stream);

// The loaded cuDNN's version (91900 for 9.19.0), 0 when none is loaded: timing-cache keys
// carry it, since engine indices and speeds change between versions.
size_t cudnn_conv_version();

// Whether cudnn_conv_prepare built (or found) a plan for `p` on `stream`: a kernel's launch
// takes cuDNN where its shape pass prepared it, and its own path where cuDNN declined.
bool cudnn_conv_prepared(const ConvProblem& p, cudaStream_t stream);

// The prepared plan of `p` on `stream` for build logs ("" when none): whether the epilogue is
// fused, cuDNN's engine index and numerical notes, the workspace and, when timed, each
// candidate's time ("epilogue fused, engine 42 [tensor_core], 0 bytes of workspace; fastest of
// 3 timed (engine 42 31 us, engine 7 45 us, engine 0 120 us)").
std::string cudnn_conv_plan_summary(const ConvProblem& p, cudaStream_t stream);

// How many execution plans this process has built: tests use it to check the cache.
size_t cudnn_conv_plans_built();

// Runs a prepared problem on `stream` (capturable into a CUDA graph); workspace_bytes is the
// size of `workspace`, at least what prepare reported.
Status cudnn_conv_run(const ConvProblem& p, const ConvBuffers& b, void* workspace,
                      size_t workspace_bytes, cudaStream_t stream);

}  // namespace vitrt::cuda
