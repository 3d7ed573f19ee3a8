// The CUDA backend's kernel interface (host side). A CudaKernel works out its outputs' dtypes
// and shapes from its inputs' and, when asked, launches its device work on the context's stream.
// Shapes are worked out once per input-shape signature (then the launches are captured into a
// CUDA graph), so run() must be deterministic given the input shapes and host values.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/launch.h"
#include "ir/graph.h"
#include "ir/ops/channels_last_conv.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {
class TimingCache;
}

namespace vitrt::cuda {

// A value as a device kernel sees it. Float values are stored in the plan's activation type
// (dtype says which). Values computed on the host from shapes (Reshape targets, Slice bounds,
// masks built from Range) and constants also carry their host tensor (fp32/int64, as the CPU
// backend computed them), so kernels read parameters without a device round trip.
struct DeviceTensor {
  DType dtype = DType::kUndefined;
  std::vector<int64_t> shape;
  void* data = nullptr;          // device memory; null while shapes are being worked out
  const Tensor* host = nullptr;  // the host copy, when the value has one
  int64_t numel() const { return shape_numel(shape); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }
};

// One GEMM tactic of a vitrt.Linear node: for the row count m it was timed at, how bias and
// activation run (mode) and which cuBLASLt algorithm multiplies.
struct GemmTactic {
  int64_t m = 0;
  // 0: bias (and ReLU / tanh GELU) in cuBLASLt's epilogue, other activations in a pass after;
  // 1: plain GEMM, then one bias + activation kernel; 2: an erf GELU computed by cuBLASLt's
  // bias + tanh-form GELU epilogue (fp16/bf16 builds that allow it: see TacticTuner);
  // 3 (QuantLinear with output_scale only): mode 0's GEMM with a 16-bit D, then one pass that
  // writes E4M3 codes; 4 and 5 (QuantLinear): CUTLASS's int8 kernels (ops_quant_linear.cc);
  // 6 (QuantLinear): CUTLASS's FP8 kernels; 7 (Linear, fp16 / bf16): vitrt's kernel for a few
  // rows (cuda/gemv_linear.cu, the LayerNorm prologue included), its variant in algo.data[0].
  int mode = 0;
  // FP8 QuantLinear, modes 0, 2 and 3: cuBLASLt's fast accumulation
  // (CUBLASLT_MATMUL_DESC_FAST_ACCUM). Stored in the plan and the timing cache as bit 3 of the mode
  // (encoded_mode).
  bool fast_accum = false;
  cublasLtMatmulAlgo_t algo{};

  static constexpr int kFastAccumBit = 8;
  int encoded_mode() const { return mode | (fast_accum ? kFastAccumBit : 0); }
  // False (nothing set) for a value no encoded_mode() gives: negative, or a bit above the flag.
  bool set_encoded_mode(int64_t encoded) {
    if (encoded < 0 || encoded >= 2 * kFastAccumBit) return false;
    mode = static_cast<int>(encoded & (kFastAccumBit - 1));
    fast_accum = (encoded & kFastAccumBit) != 0;
    return true;
  }
};
// The entry timed at the size nearest (by ratio) to `size`, or nullptr without entries: the
// runtime uses the opt shape's choice across its profile, as the tuner cannot time every size.
// `size_of(entry)` is the size it was timed at (a GEMM's m, an Attention's batch).
template <typename T, typename SizeOf>
const T* nearest_by_ratio(const std::vector<T>& entries, int64_t size, SizeOf size_of) {
  const T* best = nullptr;
  double best_d = 0.0;
  for (const T& t : entries) {
    const double d =
        std::fabs(std::log(static_cast<double>(size) / static_cast<double>(size_of(t))));
    if (best == nullptr || d < best_d) {
      best = &t;
      best_d = d;
    }
  }
  return best;
}

// Puts `entry` into a node's tactics per batch size, replacing the one timed at its batch.
template <typename T>
void set_batch_entry(std::vector<T>& entries, const T& entry) {
  std::erase_if(entries, [&](const T& e) { return e.batch == entry.batch; });
  entries.push_back(entry);
}

// The node attribute that carries a Linear node's tactics in a CUDA plan.
inline constexpr const char* kGemmTacticsAttr = "cuda_gemm_tactics";
std::vector<int64_t> encode_gemm_tactics(const std::vector<GemmTactic>& tactics);
// Modes above max_mode are refused (QuantLinear's mode 3 is no Linear mode).
Result<std::vector<GemmTactic>> decode_gemm_tactics(const std::vector<int64_t>& ints,
                                                    int max_mode = 2);

// The implementation a vitrt.Attention node runs at a batch size, timed at build time:
// 0 vitrt's own kernels, 1 cuDNN's fused attention (cuda/cudnn_attention.h).
struct AttentionTactic {
  int64_t batch = 0;
  int impl = 0;
};
inline constexpr int kAttentionOwn = 0;
inline constexpr int kAttentionCudnn = 1;
inline constexpr const char* kAttentionTacticsAttr = "cuda_attention_tactics";
std::vector<int64_t> encode_attention_tactics(const std::vector<AttentionTactic>& tactics);
Result<std::vector<AttentionTactic>> decode_attention_tactics(const std::vector<int64_t>& ints);

// How a dense or grouped vitrt.ChannelsLastConv node runs at a batch size, timed at build time:
// impl 0 vitrt's path (NHWC im2col or the input itself, times the weights through cuBLASLt),
// 1 cuDNN's convolution (cuda/cudnn_conv.h) with `engine` of cuDNN's global engine list (-1:
// the heuristic's first) in its configuration `ordinal` (ConvEngineChoice).
struct ConvTactic {
  int64_t batch = 0;
  int impl = 0;
  int64_t engine = -1;
  int64_t ordinal = 0;
};
inline constexpr int kConvOwn = 0;
inline constexpr int kConvCudnn = 1;
inline constexpr const char* kConvTacticsAttr = "cuda_conv_tactics";
std::vector<int64_t> encode_conv_tactics(const std::vector<ConvTactic>& tactics);
Result<std::vector<ConvTactic>> decode_conv_tactics(const std::vector<int64_t>& ints);

// Build-time tactic selection (see select_tactics in cuda_engine.cc): kernels that have
// tactics time their candidates when a context runs with a tuner and record the fastest.
struct TacticTuner {
  vitrt::TimingCache* cache = nullptr;  // consulted before timing, filled after
  std::string device_key;               // GPU name, architecture, cuBLASLt version
  bool verbose = false;
  // fp16/bf16 Linear layers with an erf GELU may time mode 2 (the tanh form, at most 4.7e-4
  // from erf: below the rounding of fp16 GELU outputs), and fp8 QuantLinear layers writing codes
  // may compute that form on fp16 pairs (mode 6); off with `vitrt build --exact-gelu`.
  bool tanh_gelu = false;
  // FP8 GEMMs may time candidates with cuBLASLt's fast accumulation; off with
  // `vitrt build --no-fp8-fast-accum`.
  bool fp8_fast_accum = false;
  std::function<void(const std::string&)> log;
  std::map<std::string, GemmTactic> by_problem;       // timed this build, by cache key
  std::map<NodeId, std::vector<GemmTactic>> by_node;  // chosen per node, per m
  std::map<NodeId, std::vector<AttentionTactic>> attention_by_node;  // per node, per batch
  std::map<NodeId, std::vector<ConvTactic>> conv_by_node;            // per node, per batch
  std::map<std::string, ConvTactic> conv_by_problem;  // decided this build, by cache key
  int timed = 0, from_cache = 0, attention_timed = 0, conv_timed = 0, conv_from_cache = 0;
};

// What a kernel launch needs from its execution context.
struct LaunchContext {
  cudaStream_t stream = nullptr;
  bool launch = false;  // false: set output dtypes and shapes only
  DType float_type = DType::kFloat32;
  bool tf32 = false;
  cublasLtHandle_t blas = nullptr;
  void* workspace = nullptr;  // cuBLASLt workspace
  size_t workspace_bytes = 0;
  TacticTuner* tuner = nullptr;  // set only while the builder selects tactics
  // The execution context's device flag for indices out of range (IndexError in launch.h) and
  // this node's tag in it (its id + 1).
  int* index_error = nullptr;
  int node_tag = 0;
};

class CudaKernel {
 public:
  virtual ~CudaKernel() = default;
  // `in` has one entry per node input (nullptr when omitted); `out` is sized to the node's
  // outputs. When ctx.launch is false, set every output's dtype and shape; when true, outputs
  // arrive with dtype, shape and data set, and the kernel launches into them.
  virtual Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
                     const LaunchContext& ctx) = 0;
  // For views (Reshape, Squeeze, ...): output 0 shares the storage of this input.
  virtual int alias_of() const { return -1; }
  // Whether the kernel reads indices the GPU computes or receives (so that only the device can
  // see one out of range and report it through LaunchContext::index_error); known after the
  // shape pass.
  virtual bool checks_indices() const { return false; }
  // Whether input `slot` may arrive as float32 in a 16-bit plan, the kernel converting it as it
  // reads (outputs still in the plan's type): the engine then hands a graph input's fp32 staging
  // buffer straight to its readers instead of converting it into the arena in a pass of its own.
  virtual bool reads_float32_input(int /*slot*/) const { return false; }
};

struct CudaKernelInit {
  const Graph& graph;
  const Node& node;
  int64_t opset;
  DType float_type;  // the activation type of the plan
};

using CudaKernelFactory = Result<std::unique_ptr<CudaKernel>> (*)(const CudaKernelInit& init);

class CudaKernelRegistry {
 public:
  static const CudaKernelRegistry& global();
  void add(const std::string& domain, const std::string& op_type, CudaKernelFactory factory);
  CudaKernelFactory find(const std::string& domain, const std::string& op_type) const;

 private:
  std::map<std::pair<std::string, std::string>, CudaKernelFactory> factories_;
};

void register_cuda_elementwise_kernels(CudaKernelRegistry& registry);
void register_cuda_data_movement_kernels(CudaKernelRegistry& registry);
void register_cuda_normalization_kernels(CudaKernelRegistry& registry);
void register_cuda_linear_kernels(CudaKernelRegistry& registry);
void register_cuda_quant_linear_kernels(CudaKernelRegistry& registry);
void register_cuda_resize_kernels(CudaKernelRegistry& registry);
void register_cuda_indexing_kernels(CudaKernelRegistry& registry);
void register_cuda_qdq_kernels(CudaKernelRegistry& registry);
void register_cuda_integer_kernels(CudaKernelRegistry& registry);
void register_cuda_rotary_kernels(CudaKernelRegistry& registry);
// vitrt.QuantLinear with dynamic_input (ops_integer.cc): QuantLinear's factory hands it on.
Result<std::unique_ptr<CudaKernel>> make_dynamic_quant_linear(const CudaKernelInit& init);

// ---- helpers for kernel implementations ----------------------------------------------------

// The `activation` attribute of vitrt.Linear and vitrt.QuantLinear (none, gelu, gelu_tanh,
// quick_gelu, relu) as the UnaryOp the kernels apply.
Result<UnaryOp> linear_activation(const Attributes& attrs);
// A ChannelsLastConv or ScaleShift activation (ir/ops/channels_last_conv.h) as the UnaryOp the
// kernels apply (kIdentity for none).
UnaryOp conv_activation_op(ConvActivation act);

Result<Elt> elt_of(DType dtype);

// The node's input i when it is a constant (its host tensor), else nullptr (omitted or computed).
const Tensor* constant_input(const CudaKernelInit& init, int i);
// A launch error as a Status ("what: CUDA error text").
Status cuda_status(cudaError_t err, const char* what);
#define VITRT_CUDA_RETURN_IF_ERROR(expr, what) \
  VITRT_RETURN_IF_ERROR(::vitrt::cuda::cuda_status((expr), (what)))

// Numpy broadcasting of two shapes; an error naming both when they do not broadcast.
Result<std::vector<int64_t>> broadcast_shapes(const std::vector<int64_t>& a,
                                              const std::vector<int64_t>& b);
// The view that reads a contiguous tensor of `shape` at the index space of `out_shape`
// (broadcast dims get stride 0).
StridedView broadcast_view(const std::vector<int64_t>& shape,
                           const std::vector<int64_t>& out_shape);
StridedView contiguous_view(const std::vector<int64_t>& shape);
// Row-major strides of `shape`.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);
// The values of an integer input that must be known on the host (a shape, axes, bounds).
Result<std::vector<int64_t>> host_ints(const DeviceTensor* t, const char* what);
// Normalises a possibly negative axis against `rank`.
Result<int> normalize_axis(int64_t axis, int rank);

}  // namespace vitrt::cuda
