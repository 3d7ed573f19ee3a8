// cuDNN's NHWC convolution through the backend (graph) API: see cudnn_conv.h. One operation
// graph per problem: CONVOLUTION_FWD (fp32 compute, cross-correlation) writing Y, or, with an
// epilogue, an fp32 virtual tensor that pointwise ADD (bias), ADD (residual) and RELU_FWD carry
// on to Y. cuDNN's dims are always in NCHW order; the strides give the NHWC / KRSC layouts.
// Plans are cached per (stream, problem): a stream belongs to one execution context, so its
// plans are never used from two threads at once.
#include "cuda/cudnn_conv.h"

#include "cuda/cuda_kernel.h"
#include "cuda/cudnn_backend.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace vitrt::cuda {

namespace {

// Elements of a [d0, d1, d2, d3] tensor if each dim is positive and the count stays under
// 2^31 (cuDNN's legacy descriptors document 2 G elements as the limit, and its engines may
// index with 32-bit offsets); else 0.
int64_t small_numel(int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  const int64_t dims[4] = {d0, d1, d2, d3};
  int64_t n = 1;
  for (const int64_t d : dims) {
    if (d < 1 || d > INT32_MAX / n) return 0;
    n *= d;
  }
  return n;
}

// The output extent of one spatial dim; 0 when the padded input is smaller than the filter.
int64_t out_extent(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t filter, int64_t stride,
                   int64_t dilation) {
  const int64_t span = in + pad_begin + pad_end - dilation * (filter - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

}  // namespace

bool cudnn_conv_supports(const ConvProblem& p) {
  if (p.type != Elt::kF32 && p.type != Elt::kF16 && p.type != Elt::kBF16) return false;
  if (p.group < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dil_h < 1 || p.dil_w < 1) return false;
  if (p.pad_top < 0 || p.pad_left < 0 || p.pad_bottom < 0 || p.pad_right < 0) return false;
  if (p.c % p.group != 0 || p.k % p.group != 0) return false;
  const int64_t cg = p.c / p.group;
  if (small_numel(p.n, p.h, p.w, p.c) == 0 || small_numel(p.k, p.r, p.s, cg) == 0 ||
      small_numel(p.n, p.oh, p.ow, p.k) == 0) {
    return false;
  }
  if (p.oh != out_extent(p.h, p.pad_top, p.pad_bottom, p.r, p.stride_h, p.dil_h) ||
      p.ow != out_extent(p.w, p.pad_left, p.pad_right, p.s, p.stride_w, p.dil_w)) {
    return false;
  }
  // cuDNN's NHWC fp16/bf16 tensor-core kernels read channels in 16-byte vectors; forms without
  // whole vectors per group (a c = 3 stem) would land on its slow generic engines or none (not
  // measured), so they stay with vitrt's path, or a caller pads the channels to 8.
  if (p.type != Elt::kF32 && (cg % 8 != 0 || (p.k / p.group) % 8 != 0)) return false;
  return true;
}

namespace {
std::atomic<size_t> plans_built{0};
}  // namespace

size_t cudnn_conv_plans_built() {
  return plans_built.load();
}

#if !VITRT_HAVE_CUDNN

std::string cudnn_conv_unavailable() {
  return "vitrt was built without cuDNN's headers (cudnn_graph.h)";
}
Status cudnn_conv_prepare(const ConvProblem&, cudaStream_t, size_t, const ConvBuffers*, size_t*,
                          ConvEngineChoice) {
  return unsupported("cuDNN convolution: ", cudnn_conv_unavailable());
}
ConvEngineChoice cudnn_conv_choice(const ConvProblem&, cudaStream_t) {
  return {};
}
size_t cudnn_conv_version() {
  return 0;
}
Status cudnn_conv_run(const ConvProblem&, const ConvBuffers&, void*, size_t, cudaStream_t) {
  return unsupported("cuDNN convolution: ", cudnn_conv_unavailable());
}
bool cudnn_conv_prepared(const ConvProblem&, cudaStream_t) {
  return false;
}
std::string cudnn_conv_plan_summary(const ConvProblem&, cudaStream_t) {
  return "";
}

#else

namespace {

using cudnn::Desc;
using cudnn::TensorKind;

constexpr const char* kWho = "cuDNN convolution";

// The backend API's convolution and pointwise operations are in every cuDNN 9.
constexpr size_t kMinVersion = 90000;

const std::string& unavailable_reason() {
  static const std::string why = cudnn::unavailable_reason(kMinVersion, "the convolution");
  return why;
}

// Tensor uids: the graph's inputs and output, then its fp32 virtual intermediates.
enum Uid : int64_t { kX = 1, kW, kY, kBias, kResidual, kFirstVirtual = 100 };

// Engine configurations read from each heuristic list, and plans timed at most.
constexpr int kMaxConfigs = 32;
constexpr size_t kMaxTimed = 8;
constexpr int kTimedRuns = 5;

cudnnDataType_t data_type(Elt t) {
  return t == Elt::kF16    ? CUDNN_DATA_HALF
         : t == Elt::kBF16 ? CUDNN_DATA_BFLOAT16
                           : CUDNN_DATA_FLOAT;
}

bool has_epilogue(const ConvProblem& p) {
  return p.bias || p.residual || p.relu;
}

std::string describe(const ConvProblem& p) {
  return str_cat(p.type == Elt::kF16    ? "fp16"
                 : p.type == Elt::kBF16 ? "bf16"
                                        : "fp32",
                 p.type == Elt::kF32 && p.allow_tf32 ? " (TF32 allowed)" : "", " X [", p.n, ",",
                 p.h, ",", p.w, ",", p.c, "] W [", p.k, ",", p.r, ",", p.s, ",", p.c / p.group,
                 "] group ", p.group, " stride ", p.stride_h, "x", p.stride_w, " dilation ",
                 p.dil_h, "x", p.dil_w, " pads ", p.pad_top, ",", p.pad_left, ",", p.pad_bottom,
                 ",", p.pad_right, p.bias ? " +bias" : "", p.residual ? " +residual" : "",
                 p.relu ? " relu" : "");
}

struct Plan {
  Desc plan{kWho};
  size_t workspace = 0;
  // false: cuDNN computes the plain convolution, vitrt's elementwise kernels the epilogue.
  bool fused = true;
  int64_t engine = -1;  // the engine's index in cuDNN's global list
  int64_t ordinal = 0;  // which of that engine's configurations in the heuristic's list
  std::string summary;  // for logs: the engine, its notes, the timings
};

// The operation graph of a problem and every descriptor it refers to.
struct OpGraph {
  std::deque<Desc> parts;  // a deque: references stay valid as parts are added
  Desc graph{kWho};
  Desc& add() { return parts.emplace_back(kWho); }
};

// Builds p's graph: the convolution alone (fused false: the epilogue runs as vitrt's kernels)
// or followed by the epilogue's pointwise operations on fp32 virtual tensors.
Status build_graph(const ConvProblem& p, bool fused, cudnnHandle_t handle, OpGraph& g) {
  const cudnnDataType_t io = data_type(p.type);
  const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
  const int64_t cg = p.c / p.group;
  // NCHW-ordered dims, NHWC strides (KRSC for the filter, whose C is per group).
  const int64_t x_dims[4] = {p.n, p.c, p.h, p.w};
  const int64_t x_strides[4] = {p.h * p.w * p.c, 1, p.w * p.c, p.c};
  const int64_t w_dims[4] = {p.k, cg, p.r, p.s};
  const int64_t w_strides[4] = {p.r * p.s * cg, 1, p.s * cg, cg};
  const int64_t y_dims[4] = {p.n, p.k, p.oh, p.ow};
  const int64_t y_strides[4] = {p.oh * p.ow * p.k, 1, p.ow * p.k, p.k};
  const int64_t b_dims[4] = {1, p.k, 1, 1};
  const int64_t b_strides[4] = {p.k, 1, p.k, p.k};
  Desc& x = g.add();
  VITRT_RETURN_IF_ERROR(cudnn::make_tensor(x, kX, io, 4, x_dims, x_strides, TensorKind::kMemory));
  Desc& w = g.add();
  VITRT_RETURN_IF_ERROR(cudnn::make_tensor(w, kW, io, 4, w_dims, w_strides, TensorKind::kMemory));
  Desc& y = g.add();
  VITRT_RETURN_IF_ERROR(cudnn::make_tensor(y, kY, io, 4, y_dims, y_strides, TensorKind::kMemory));

  const size_t op_count =
      1 + (fused ? size_t{p.bias} + size_t{p.residual} + size_t{p.relu} : size_t{0});
  std::vector<cudnnBackendDescriptor_t> ops;
  int64_t next_virtual = kFirstVirtual;
  // The tensor the operation being added writes: Y for the last, else an fp32 intermediate.
  const auto output = [&](Desc** out) -> Status {
    if (ops.size() + 1 == op_count) {
      *out = &y;
      return Status::ok_status();
    }
    Desc& t = g.add();
    *out = &t;
    return cudnn::make_tensor(t, next_virtual++, f32, 4, y_dims, y_strides, TensorKind::kVirtual);
  };

  Desc& conv = g.add();
  VITRT_RETURN_IF_ERROR(conv.create(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR));
  VITRT_RETURN_IF_ERROR(conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32));
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  VITRT_RETURN_IF_ERROR(
      conv.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
  const int64_t spatial = 2;
  const int64_t dilations[2] = {p.dil_h, p.dil_w};
  const int64_t strides[2] = {p.stride_h, p.stride_w};
  const int64_t pre[2] = {p.pad_top, p.pad_left};
  const int64_t post[2] = {p.pad_bottom, p.pad_right};
  VITRT_RETURN_IF_ERROR(
      conv.set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial));
  VITRT_RETURN_IF_ERROR(
      conv.set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, spatial, dilations));
  VITRT_RETURN_IF_ERROR(
      conv.set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, spatial, strides));
  VITRT_RETURN_IF_ERROR(
      conv.set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, spatial, pre));
  VITRT_RETURN_IF_ERROR(
      conv.set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, spatial, post));
  VITRT_RETURN_IF_ERROR(conv.finalize("the convolution descriptor"));

  Desc* current = nullptr;
  VITRT_RETURN_IF_ERROR(output(&current));
  Desc& fwd = g.add();
  VITRT_RETURN_IF_ERROR(fwd.create(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR));
  const float alpha = 1.0f, beta = 0.0f;
  VITRT_RETURN_IF_ERROR(
      fwd.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
  VITRT_RETURN_IF_ERROR(
      fwd.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
  VITRT_RETURN_IF_ERROR(fwd.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv));
  VITRT_RETURN_IF_ERROR(fwd.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x));
  VITRT_RETURN_IF_ERROR(fwd.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w));
  VITRT_RETURN_IF_ERROR(fwd.set_desc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, *current));
  VITRT_RETURN_IF_ERROR(fwd.finalize("the convolution operation"));
  ops.push_back(fwd.get());

  // current = op(current[, operand]) in fp32.
  const auto pointwise = [&](cudnnPointwiseMode_t pw_mode, const Desc* operand,
                             const char* what) -> Status {
    Desc& pw = g.add();
    VITRT_RETURN_IF_ERROR(pw.create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR));
    VITRT_RETURN_IF_ERROR(
        pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &pw_mode));
    VITRT_RETURN_IF_ERROR(pw.set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &f32));
    VITRT_RETURN_IF_ERROR(pw.finalize(what));
    Desc* out = nullptr;
    VITRT_RETURN_IF_ERROR(output(&out));
    Desc& op = g.add();
    VITRT_RETURN_IF_ERROR(op.create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR));
    VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw));
    VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, *current));
    if (operand != nullptr) {
      VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *operand));
    }
    VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, *out));
    VITRT_RETURN_IF_ERROR(op.finalize(what));
    ops.push_back(op.get());
    current = out;
    return Status::ok_status();
  };
  if (fused && p.bias) {
    Desc& bias = g.add();
    VITRT_RETURN_IF_ERROR(
        cudnn::make_tensor(bias, kBias, io, 4, b_dims, b_strides, TensorKind::kMemory));
    VITRT_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_ADD, &bias, "the bias addition"));
  }
  if (fused && p.residual) {
    Desc& residual = g.add();
    VITRT_RETURN_IF_ERROR(
        cudnn::make_tensor(residual, kResidual, io, 4, y_dims, y_strides, TensorKind::kMemory));
    VITRT_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_ADD, &residual, "the residual addition"));
  }
  if (fused && p.relu) {
    VITRT_RETURN_IF_ERROR(pointwise(CUDNN_POINTWISE_RELU_FWD, nullptr, "the ReLU"));
  }

  VITRT_RETURN_IF_ERROR(g.graph.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
  VITRT_RETURN_IF_ERROR(g.graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                    static_cast<int64_t>(ops.size()), ops.data()));
  VITRT_RETURN_IF_ERROR(
      g.graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle));
  return g.graph.finalize("the operation graph");
}

// Why an engine with these numerical notes may not compute p (nullptr when it may): the
// results must be deterministic, reductions must run in fp32 at least, and fp32 without
// allow_tf32 must be true FP32 math (no TF32 tensor cores, no inputs rounded down).
const char* rejection(const ConvProblem& p, const std::vector<cudnnBackendNumericalNote_t>& notes) {
  for (const cudnnBackendNumericalNote_t note : notes) {
    if (note == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) return "nondeterministic";
    if (note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) {
      return "reduced-precision reduction";
    }
    if (p.type == Elt::kF32 && !p.allow_tf32 &&
        (note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE ||
         note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)) {
      return "TF32 tensor cores";
    }
  }
  return nullptr;
}

// What a search for plans met, for the error when it found none.
struct Search {
  int configs = 0, rejected = 0, unfinalized = 0, too_big = 0;
  std::string last_rejection, last_failure;

  std::string summary() const {
    return str_cat(configs, " engine configurations: ", rejected, " ruled out by their notes",
                   last_rejection.empty() ? "" : str_cat(" (", last_rejection, ")"), ", ",
                   unfinalized, " not finalized",
                   last_failure.empty() ? "" : str_cat(" (last: ", last_failure, ")"), ", ",
                   too_big, " over the workspace limit");
  }
};

// Appends to *plans up to `want` finalized plans of g's engine configurations that p may use,
// in the heuristic's order: mode A's list, then (only if that gave none) the fallback list.
// With wanted.engine >= 0, only that engine's configuration of ordinal wanted.ordinal (any of
// its configurations where the ordinal is negative) is taken; the others are not counted.
Status collect_plans(const ConvProblem& p, const OpGraph& g, bool fused, cudnnHandle_t handle,
                     size_t max_workspace, size_t want, ConvEngineChoice wanted,
                     std::vector<std::unique_ptr<Plan> >* plans, Search* search) {
  for (const cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    Result<std::vector<Desc> > configs = cudnn::heuristic_configs(g.graph, mode, kMaxConfigs);
    if (!configs.ok()) {
      search->last_failure = configs.status().message();
      continue;
    }
    std::map<int64_t, int64_t> seen;  // configurations met so far, per engine
    for (const Desc& config : *configs) {
      Result<cudnn::EngineInfo> engine = cudnn::engine_info(config);
      const int64_t ordinal = engine.ok() ? seen[engine->global_index]++ : 0;
      if (wanted.engine >= 0 && (!engine.ok() || engine->global_index != wanted.engine ||
                                 (wanted.ordinal >= 0 && ordinal != wanted.ordinal))) {
        continue;
      }
      ++search->configs;
      if (!engine.ok()) {
        ++search->unfinalized;
        search->last_failure = engine.status().message();
        continue;
      }
      if (const char* why = rejection(p, engine->notes); why != nullptr) {
        ++search->rejected;
        search->last_rejection = why;
        continue;
      }
      auto plan = std::make_unique<Plan>();
      plan->fused = fused;
      const Status made = cudnn::make_plan(plan->plan, config, handle, &plan->workspace);
      if (!made.ok()) {
        ++search->unfinalized;
        search->last_failure = made.message();
        continue;
      }
      if (plan->workspace > max_workspace) {
        ++search->too_big;
        continue;
      }
      plan->engine = engine->global_index;
      plan->ordinal = ordinal;
      plan->summary = str_cat(!has_epilogue(p) ? ""
                              : fused          ? "epilogue fused, "
                                               : "epilogue by vitrt's kernels, ",
                              "engine ", engine->global_index, ".", ordinal);
      for (size_t i = 0; i < engine->notes.size(); ++i) {
        plan->summary += str_cat(i == 0 ? " [" : ", ", cudnn::note_name(engine->notes[i]),
                                 i + 1 == engine->notes.size() ? "]" : "");
      }
      plan->summary += str_cat(", ", plan->workspace, " bytes of workspace");
      plans->push_back(std::move(plan));
      if (plans->size() >= want) return Status::ok_status();
    }
    if (!plans->empty()) return Status::ok_status();
  }
  return Status::ok_status();
}

Status check_pointer(const void* ptr, const char* name) {
  if (ptr == nullptr) return invalid_argument(kWho, ": the ", name, " pointer is null");
  if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) {
    return invalid_argument(kWho, ": the ", name, " pointer is not 16-byte aligned");
  }
  return Status::ok_status();
}

Status check_buffers(const ConvProblem& p, const ConvBuffers& b) {
  VITRT_RETURN_IF_ERROR(check_pointer(b.x, "X"));
  VITRT_RETURN_IF_ERROR(check_pointer(b.w, "W"));
  VITRT_RETURN_IF_ERROR(check_pointer(b.y, "Y"));
  if (p.bias) VITRT_RETURN_IF_ERROR(check_pointer(b.bias, "bias"));
  if (p.residual) VITRT_RETURN_IF_ERROR(check_pointer(b.residual, "residual"));
  return Status::ok_status();
}

// One execution of a plan, with the epilogue as vitrt's kernels where it is not fused.
Status execute(const Plan& plan, const ConvProblem& p, const ConvBuffers& b, void* workspace,
               cudnnHandle_t handle, cudaStream_t stream) {
  int64_t uids[5] = {kX, kW, kY};
  void* ptrs[5] = {const_cast<void*>(b.x), const_cast<void*>(b.w), b.y};
  int count = 3;
  if (plan.fused && p.bias) {
    uids[count] = kBias;
    ptrs[count++] = const_cast<void*>(b.bias);
  }
  if (plan.fused && p.residual) {
    uids[count] = kResidual;
    ptrs[count++] = const_cast<void*>(b.residual);
  }
  VITRT_RETURN_IF_ERROR(cudnn::execute(plan.plan, handle, count, uids, ptrs, workspace));
  if (plan.fused || !has_epilogue(p)) return Status::ok_status();
  const int64_t rows = p.n * p.oh * p.ow;
  if (p.residual) {
    StridedView flat;
    flat.rank = 1;
    flat.dims[0] = rows * p.k;
    flat.strides[0] = 1;
    VITRT_CUDA_RETURN_IF_ERROR(launch_binary(BinaryOp::kAdd, p.type, p.type, b.y, flat, b.residual,
                                             flat, b.y, flat, stream),
                               "cuDNN convolution: the residual addition");
  }
  if (p.bias || p.relu) {
    VITRT_CUDA_RETURN_IF_ERROR(
        launch_bias_act(p.type, b.y, p.bias ? b.bias : nullptr, rows, p.k,
                        p.relu ? UnaryOp::kRelu : UnaryOp::kIdentity, stream),
        "cuDNN convolution: the bias and ReLU");
  }
  return Status::ok_status();
}

// Owns the CUDA resources of one timing session.
struct Timer {
  cudaEvent_t start = nullptr, stop = nullptr;
  void* workspace = nullptr;
  ~Timer() {
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
    if (workspace != nullptr) cudaFree(workspace);
  }
};

// The index of the fastest of `plans` on the timing buffers (milliseconds per run from a few
// runs after one that loads the kernels), with each plan's time in the chosen one's summary.
// Plans that fail to execute are not chosen; if all fail, the error of the last.
Result<size_t> fastest(const std::vector<std::unique_ptr<Plan> >& plans, const ConvProblem& p,
                       const ConvBuffers& b, cudnnHandle_t handle, cudaStream_t stream) {
  Timer t;
  size_t ws = 0;
  for (const auto& plan : plans) ws = std::max(ws, plan->workspace);
  if (ws > 0) {
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&t.workspace, ws),
                               "cuDNN convolution: the timing workspace");
  }
  VITRT_CUDA_RETURN_IF_ERROR(cudaEventCreate(&t.start), "cuDNN convolution: a timing event");
  VITRT_CUDA_RETURN_IF_ERROR(cudaEventCreate(&t.stop), "cuDNN convolution: a timing event");
  size_t best = plans.size();
  float best_ms = 0.0f;
  Status last = Status::ok_status();
  std::string times;
  for (size_t i = 0; i < plans.size(); ++i) {
    times += str_cat(i == 0 ? "" : ", ", "engine ", plans[i]->engine, ".", plans[i]->ordinal, " ");
    last = execute(*plans[i], p, b, t.workspace, handle, stream);
    if (!last.ok()) {
      times += "failed";
      continue;
    }
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(t.start, stream), "cuDNN convolution: timing");
    for (int run = 0; run < kTimedRuns && last.ok(); ++run) {
      last = execute(*plans[i], p, b, t.workspace, handle, stream);
    }
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(t.stop, stream), "cuDNN convolution: timing");
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(t.stop), "cuDNN convolution: timing");
    if (!last.ok()) {
      times += "failed";
      continue;
    }
    float ms = 0.0f;
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, t.start, t.stop),
                               "cuDNN convolution: timing");
    ms /= kTimedRuns;
    times += str_cat(static_cast<int64_t>(ms * 1000.0f + 0.5f), " us");
    if (best == plans.size() || ms < best_ms) {
      best = i;
      best_ms = ms;
    }
  }
  if (best == plans.size()) return last;
  plans[best]->summary += str_cat("; fastest of ", plans.size(), " timed (", times, ")");
  return best;
}

// Builds p's plan: fused if an engine takes the whole graph, else the plain convolution (whose
// epilogue then runs as vitrt's kernels).
// With choice.engine >= 0 (and no timing), that engine configuration where the heuristic
// offers it: the configuration of that ordinal, else the engine's first, else the heuristic's
// first.
Result<std::unique_ptr<Plan> > build_plan(const ConvProblem& p, cudnnHandle_t handle,
                                          size_t max_workspace, const ConvBuffers* timing,
                                          ConvEngineChoice choice, cudaStream_t stream) {
  const size_t want = timing != nullptr ? kMaxTimed : 1;
  std::vector<std::unique_ptr<Plan> > plans;
  std::string tried;
  const auto search_graphs = [&](ConvEngineChoice wanted) -> Status {
    for (const bool fused : {true, false}) {
      if (!fused && !has_epilogue(p)) break;
      OpGraph g;
      Search search;
      const Status built = build_graph(p, fused, handle, g);
      if (built.ok()) {
        VITRT_RETURN_IF_ERROR(
            collect_plans(p, g, fused, handle, max_workspace, want, wanted, &plans, &search));
        if (!plans.empty()) break;
      }
      if (wanted.engine < 0) {
        tried += str_cat(tried.empty() ? "" : "; ",
                         has_epilogue(p) ? (fused ? "fused: " : "convolution alone: ") : "",
                         built.ok() ? search.summary() : built.message());
      }
    }
    return Status::ok_status();
  };
  if (timing == nullptr && choice.engine >= 0) {
    VITRT_RETURN_IF_ERROR(search_graphs(choice));
    if (plans.empty()) VITRT_RETURN_IF_ERROR(search_graphs({choice.engine, -1}));
    if (plans.empty()) {
      VITRT_RETURN_IF_ERROR(search_graphs({}));
      if (!plans.empty()) {
        plans[0]->summary +=
            str_cat("; engine ", choice.engine, " (the plan's tactic) not offered here");
      }
    }
  } else {
    VITRT_RETURN_IF_ERROR(search_graphs({}));
  }
  if (plans.empty()) {
    return unsupported(kWho, ": no engine for ", describe(p), " within ", max_workspace,
                       " bytes of workspace (", tried, ")");
  }
  size_t chosen = 0;
  if (plans.size() > 1) {
    VITRT_ASSIGN_OR_RETURN(chosen, fastest(plans, p, *timing, handle, stream));
  }
  return std::move(plans[chosen]);
}

std::vector<int64_t> key_of(const ConvProblem& p) {
  return {static_cast<int64_t>(p.type),
          p.allow_tf32,
          p.n,
          p.h,
          p.w,
          p.c,
          p.k,
          p.r,
          p.s,
          p.group,
          p.oh,
          p.ow,
          p.pad_top,
          p.pad_left,
          p.pad_bottom,
          p.pad_right,
          p.stride_h,
          p.stride_w,
          p.dil_h,
          p.dil_w,
          p.bias,
          p.residual,
          p.relu};
}

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
// Plans per stream and problem.
std::map<cudaStream_t, std::map<std::vector<int64_t>, std::unique_ptr<Plan> > >& streams() {
  static auto* s =
      new std::map<cudaStream_t, std::map<std::vector<int64_t>, std::unique_ptr<Plan> > >();
  return *s;
}

}  // namespace

std::string cudnn_conv_unavailable() {
  return unavailable_reason();
}

namespace {
// The plan of `p` on `stream`, or null; the caller holds cache_mutex().
const Plan* cached_plan(const ConvProblem& p, cudaStream_t stream) {
  auto s = streams().find(stream);
  if (s == streams().end()) return nullptr;
  auto it = s->second.find(key_of(p));
  return it == s->second.end() ? nullptr : it->second.get();
}
}  // namespace

bool cudnn_conv_prepared(const ConvProblem& p, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  return cached_plan(p, stream) != nullptr;
}

std::string cudnn_conv_plan_summary(const ConvProblem& p, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  const Plan* plan = cached_plan(p, stream);
  return plan == nullptr ? "" : plan->summary;
}

ConvEngineChoice cudnn_conv_choice(const ConvProblem& p, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  const Plan* plan = cached_plan(p, stream);
  return plan == nullptr ? ConvEngineChoice{} : ConvEngineChoice{plan->engine, plan->ordinal};
}

size_t cudnn_conv_version() {
  return unavailable_reason().empty() ? cudnn::api().version : 0;
}

Status cudnn_conv_prepare(const ConvProblem& p, cudaStream_t stream, size_t max_workspace,
                          const ConvBuffers* timing, size_t* workspace_bytes,
                          ConvEngineChoice choice) {
  if (!unavailable_reason().empty()) return unsupported(kWho, ": ", unavailable_reason());
  if (!cudnn_conv_supports(p)) {
    return unsupported(kWho, ": the problem's form is not covered (", describe(p), ")");
  }
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  VITRT_CUDA_RETURN_IF_ERROR(cudaStreamIsCapturing(stream, &capture),
                             "cuDNN convolution: querying the stream");
  if (capture != cudaStreamCaptureStatusNone) {
    return internal_error(kWho, ": prepare was called during CUDA-graph capture");
  }
  if (timing != nullptr) VITRT_RETURN_IF_ERROR(check_buffers(p, *timing));
  VITRT_ASSIGN_OR_RETURN(cudnnHandle_t handle, cudnn::stream_handle(stream, kWho));
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto& plans = streams()[stream];
  const std::vector<int64_t> key = key_of(p);
  auto it = plans.find(key);
  if (it == plans.end()) {
    VITRT_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan,
                           build_plan(p, handle, max_workspace, timing, choice, stream));
    it = plans.emplace(key, std::move(plan)).first;
    ++plans_built;
  }
  // A cached plan is never replaced: CUDA graphs captured from it may still run its kernels.
  if (it->second->workspace > max_workspace) {
    return unsupported(
        kWho, ": ", describe(p), " was prepared on this stream with a plan that needs ",
        it->second->workspace, " bytes of workspace, over the ", max_workspace, " now allowed");
  }
  *workspace_bytes = it->second->workspace;
  return Status::ok_status();
}

Status cudnn_conv_run(const ConvProblem& p, const ConvBuffers& b, void* workspace,
                      size_t workspace_bytes, cudaStream_t stream) {
  if (!unavailable_reason().empty()) return unsupported(kWho, ": ", unavailable_reason());
  VITRT_RETURN_IF_ERROR(check_buffers(p, b));
  const Plan* plan = nullptr;
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    plan = cached_plan(p, stream);
  }
  if (plan == nullptr) {
    return internal_error(kWho, ": the problem was not prepared on this stream (", describe(p),
                          ")");
  }
  if (plan->workspace > workspace_bytes) {
    return unsupported(kWho, ": needs ", plan->workspace, " bytes of workspace, has ",
                       workspace_bytes);
  }
  VITRT_ASSIGN_OR_RETURN(cudnnHandle_t handle, cudnn::stream_handle(stream, kWho));
  return execute(*plan, p, b, workspace, handle, stream);
}

#endif  // VITRT_HAVE_CUDNN

}  // namespace vitrt::cuda
