// The CUDA engine and execution context (see cuda_engine.h).
#include "cuda/cuda_engine.h"
#include "cuda/cudnn_attention.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <utility>

#include "core/half.h"
#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "cuda/cuda_kernel.h"
#include "cuda/device_info.h"
#include "runtime/cpu_engine.h"
#include "runtime/device_backends.h"
#include "runtime/executor.h"
#include "runtime/timing_cache.h"

#ifndef VITRT_CUDA_ARCH
#define VITRT_CUDA_ARCH 90
#endif

namespace vitrt::cuda {
namespace {

constexpr size_t kAlign = 256;
constexpr size_t kWorkspaceBytes = 32u << 20;
// Inputs reach the GPU through a ring of pinned chunks (see CudaExecutionContext::upload).
constexpr size_t kStageChunk = 8u << 20;
constexpr int kStageSlots = 4;
// Bytes per CPU thread below which splitting a chunk's memcpy costs more than it saves.
constexpr int64_t kStageGrain = 256 << 10;

size_t align_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

// A value shape no device memory holds (checked_nbytes: a negative dim, an element count past
// int64, more than 2^46 bytes): an error naming the output before the arena is sized from it,
// where an overflowed size would give a too-small buffer.
Status check_device_size(const DeviceTensor& t, size_t output) {
  try {
    // An output whose dtype a kernel leaves unset still has its elements counted.
    checked_nbytes(t.dtype == DType::kUndefined ? DType::kUInt8 : t.dtype, t.shape);
  } catch (const TensorTooLarge& e) {
    return invalid_argument("output ", output, " cannot be allocated: ", e.what());
  }
  return Status::ok_status();
}

Result<DType> float_type_of(const std::string& precision) {
  if (precision == "fp32") return DType::kFloat32;
  if (precision == "fp16") return DType::kFloat16;
  if (precision == "bf16") return DType::kBFloat16;
  return unsupported("precision '", precision,
                     "' is not supported by the CUDA backend (fp32, "
                     "fp16, bf16)");
}

// The device dtype of a graph value: float32 becomes the plan's activation type.
DType device_dtype(DType d, DType float_type) {
  return d == DType::kFloat32 ? float_type : d;
}

// A host tensor's bytes in the device dtype (fp32 converted to fp16/bf16 where asked).
std::vector<uint8_t> device_bytes(const Tensor& t, DType to) {
  const int64_t n = t.numel();
  std::vector<uint8_t> out;
  if (t.dtype() == DType::kFloat32 && to != DType::kFloat32) {
    out.resize(static_cast<size_t>(n) * 2);
    auto* dst = reinterpret_cast<uint16_t*>(out.data());
    const float* src = t.data<float>();
    // Over the CPU threads: one thread converting ViT-B/16's 86 M weights was most of the
    // plan's load time.
    parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        dst[i] = to == DType::kFloat16 ? float_to_half(src[i]) : float_to_bf16(src[i]);
      }
    });
    return out;
  }
  out.resize(t.nbytes());
  if (!out.empty()) std::memcpy(out.data(), t.raw_data(), out.size());
  return out;
}

bool is_shape_only_op(const Node& n) {
  return n.domain.empty() && (n.op_type == "Shape" || n.op_type == "Size");
}

// Where each node runs, fixed at load.
struct Placement {
  std::vector<NodeId> order;
  std::vector<bool> host_node;      // by node id
  std::vector<bool> host_value;     // by value id: known on the host
  std::vector<bool> needed_on_gpu;  // by value id: a GPU node reads it
};

Result<Placement> place_nodes(const Graph& g) {
  Placement p;
  VITRT_ASSIGN_OR_RETURN(p.order, g.topological_order());
  p.host_node.assign(g.nodes.size(), false);
  p.host_value.assign(g.values.size(), false);
  p.needed_on_gpu.assign(g.values.size(), false);
  for (size_t v = 0; v < g.values.size(); ++v) p.host_value[v] = g.values[v].is_constant();
  for (NodeId id : p.order) {
    const Node& n = g.nodes[id];
    bool host = is_shape_only_op(n);
    if (!host) {
      host = true;
      for (ValueId in : n.inputs) host = host && (in == kNoValue || p.host_value[in]);
    }
    p.host_node[id] = host;
    for (ValueId out : n.outputs) {
      if (out != kNoValue) p.host_value[out] = host;
    }
    if (!host) {
      // vitrt.QuantLinear prepares its own device copy of W_q and w_scale (transposed, padded)
      // from the constants when its kernel is made: uploading them as well held the weights
      // twice. With dynamic_input it runs the integer product kernel on W_q as it is.
      const Result<int64_t> dynamic = n.attrs.get_int("dynamic_input", 0);
      const bool own_weights =
          n.op_type == "QuantLinear" && n.domain == "vitrt" && !(dynamic.ok() && *dynamic == 1);
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const ValueId in = n.inputs[i];
        if (in == kNoValue) continue;
        if (own_weights && (i == 1 || i == 2) && g.values[in].is_constant()) continue;
        p.needed_on_gpu[in] = true;
      }
    }
  }
  for (ValueId out : g.outputs) {
    if (!p.host_value[out]) p.needed_on_gpu[out] = true;
  }
  return p;
}

std::string domain_label(const std::string& d) {
  return d.empty() ? "ai.onnx" : d;
}

struct NodeKernels {
  std::vector<std::unique_ptr<CpuKernel>> cpu;   // host nodes (not Shape/Size)
  std::vector<std::unique_ptr<CudaKernel>> gpu;  // GPU nodes
};

Result<NodeKernels> create_kernels(const Graph& g, const Placement& p, DType float_type) {
  NodeKernels k;
  k.cpu.resize(g.nodes.size());
  k.gpu.resize(g.nodes.size());
  const int64_t opset = g.onnx_opset();
  for (NodeId id : p.order) {
    const Node& n = g.nodes[id];
    if (p.host_node[id]) {
      if (is_shape_only_op(n)) continue;
      CpuKernelFactory f = CpuKernelRegistry::global().find(n.domain, n.op_type);
      if (f == nullptr) {
        return unsupported(n.describe(), ": op '", n.op_type, "' (domain '", domain_label(n.domain),
                           "') has no kernel for host computation");
      }
      Result<std::unique_ptr<CpuKernel>> made = f(KernelInit{g, n, opset});
      if (!made.ok()) return made.status().with_context(n.describe());
      k.cpu[id] = std::move(*made);
      continue;
    }
    CudaKernelFactory f = CudaKernelRegistry::global().find(n.domain, n.op_type);
    if (f == nullptr) {
      return unsupported(n.describe(), ": op '", n.op_type, "' (domain '", domain_label(n.domain),
                         "') has no CUDA kernel");
    }
    Result<std::unique_ptr<CudaKernel>> made = f(CudaKernelInit{g, n, opset, float_type});
    if (!made.ok()) return made.status().with_context(n.describe());
    k.gpu[id] = std::move(*made);
  }
  return k;
}

// The immutable part shared by every context.
struct SharedState {
  Graph graph;
  Placement placement;
  DType float_type = DType::kFloat32;
  CudaEngineOptions options;
  std::vector<void*> constant_data;  // by value id: device copy of a constant, or null
  int64_t weight_bytes = 0;
  ~SharedState() {
    cudaSetDevice(options.device);
    for (void* p : constant_data) {
      if (p != nullptr) cudaFree(p);
    }
  }
};

// Where a value's device data lives in a shape plan.
enum class Home { kNone, kArena, kBlock, kConstant };

struct ShapePlan {
  std::vector<DeviceTensor> values;  // by value id: dtype and shape (data resolved at launch)
  std::vector<Tensor> host;          // by value id: values computed on the host
  std::vector<Home> home;
  std::vector<size_t> offset;  // in the arena or in `block`
  std::vector<ValueId> alias;  // root value of a view, else itself
  // Per GPU step: the node, and its extra scratch tensors (arena offsets).
  struct Step {
    NodeId node;
    int index;  // in the schedule
    std::vector<DeviceTensor> scratch;
    std::vector<size_t> scratch_offset;
  };
  std::vector<Step> steps;
  size_t arena_bytes = 0;
  void* block = nullptr;  // per-plan device memory: input staging, uploads, output staging
  size_t block_bytes = 0;
  std::vector<size_t> input_staging;   // by graph input index: offset in block
  std::vector<size_t> output_staging;  // by graph output index: offset in block (cast copies)
  std::vector<bool> output_cast;
  std::vector<std::pair<size_t, std::vector<uint8_t>>> uploads;  // block offset, bytes
  cudaGraphExec_t graph_exec = nullptr;
  bool graph_failed = false;
  // A kernel reads indices only the device sees: the run reads the context's flag back after.
  bool checks_indices = false;
  ~ShapePlan() {
    if (graph_exec != nullptr) cudaGraphExecDestroy(graph_exec);
    if (block != nullptr) cudaFree(block);
  }
};

// Lowest-offset-first placement of buffers with lifetimes [first, last] (steps).
struct Interval {
  int first, last;
  size_t bytes;
  size_t* offset;
};

size_t assign_offsets(std::vector<Interval>& items) {
  std::sort(items.begin(), items.end(),
            [](const Interval& a, const Interval& b) { return a.bytes > b.bytes; });
  std::vector<const Interval*> placed;
  size_t total = 0;
  for (Interval& it : items) {
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Interval* o : placed) {
      if (o->first <= it.last && it.first <= o->last)
        busy.emplace_back(*o->offset, *o->offset + o->bytes);
    }
    std::sort(busy.begin(), busy.end());
    size_t candidate = 0;
    for (const auto& [b, e] : busy) {
      if (candidate + it.bytes <= b) break;
      candidate = std::max(candidate, e);
    }
    *it.offset = candidate;
    total = std::max(total, candidate + it.bytes);
    placed.push_back(&it);
  }
  return total;
}

class CudaExecutionContext final : public ExecutionContext {
 public:
  CudaExecutionContext(std::shared_ptr<const SharedState> s, NodeKernels kernels)
      : s_(std::move(s)), kernels_(std::move(kernels)) {}

  ~CudaExecutionContext() override {
    cudaSetDevice(s_->options.device);
    // A failed run may leave staging copies in flight.
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    plans_.clear();
    for (cudaEvent_t e : phase_) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    for (StageSlot& slot : stage_) {
      if (slot.done != nullptr) cudaEventDestroy(slot.done);
      if (slot.host != nullptr) cudaFreeHost(slot.host);
    }
    if (arena_ != nullptr) cudaFree(arena_);
    if (workspace_ != nullptr) cudaFree(workspace_);
    if (index_error_ != nullptr) cudaFree(index_error_);
    if (index_error_host_ != nullptr) cudaFreeHost(index_error_host_);
    if (blas_ != nullptr) cublasLtDestroy(blas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Status init() {
    VITRT_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
                               "creating a stream");
    if (cublasLtCreate(&blas_) != CUBLAS_STATUS_SUCCESS) {
      return internal_error("cuBLASLt could not be initialised");
    }
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace_, kWorkspaceBytes), "cuBLASLt workspace");
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&index_error_, sizeof(int)), "index error flag");
    VITRT_CUDA_RETURN_IF_ERROR(cudaMemset(index_error_, 0, sizeof(int)), "index error flag");
    VITRT_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&index_error_host_, sizeof(int), cudaHostAllocDefault),
                               "index error flag");
    *index_error_host_ = 0;
    for (cudaEvent_t& e : phase_) {
      VITRT_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e), "creating a timing event");
    }
    return Status::ok_status();
  }

  RunTimes last_run_times() const override { return last_times_; }

  DeviceMemory device_memory() const override {
    DeviceMemory m;
    m.weights = s_->weight_bytes;
    m.activations = static_cast<int64_t>(arena_bytes_);
    m.workspace = workspace_ != nullptr ? static_cast<int64_t>(kWorkspaceBytes) : 0;
    for (const auto& [signature, plan] : plans_) m.io += static_cast<int64_t>(plan->block_bytes);
    return m;
  }

  Result<double> rerun_on_device() override {
    if (last_plan_ == nullptr) {
      return invalid_argument("rerun_on_device needs a successful run() first (its inputs)");
    }
    VITRT_CUDA_RETURN_IF_ERROR(cudaSetDevice(s_->options.device), "selecting the engine's GPU");
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(phase_[1], stream_), "timing event");
    VITRT_RETURN_IF_ERROR(launch_compute(*last_plan_));
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(phase_[2], stream_), "timing event");
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(phase_[2]), "running the model");
    float ms = 0.0f;
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, phase_[1], phase_[2]), "timing event");
    return static_cast<double>(ms);
  }

  // A kernel met an index out of range (IndexError): the flag is cleared for the next run and
  // this run's outputs are discarded.
  Status index_error_status() {
    const int tag = *index_error_host_;
    *index_error_host_ = 0;
    cudaMemsetAsync(index_error_, 0, sizeof(int), stream_);
    cudaStreamSynchronize(stream_);
    const Graph& g = s_->graph;
    const size_t node = static_cast<size_t>(tag - 1);
    if (node >= g.nodes.size()) return internal_error("index check: unknown node tag ", tag);
    const Node& n = g.nodes[node];
    const std::string indices =
        n.inputs.size() > 1 && n.inputs[1] != kNoValue ? g.values[n.inputs[1]].name : "";
    return invalid_argument(n.describe(), ": an index in input '", indices,
                            "' is out of range for the axis it indexes (valid: -size to size - 1);"
                            " the run's outputs are discarded");
  }

  void set_profiling(bool enabled) override {
    profiling_ = enabled;
    step_ms_.clear();
    profiled_runs_ = 0;
  }

  std::vector<NodeProfile> profile() const override {
    std::vector<NodeProfile> out;
    for (const auto& [node, ms] : step_ms_) {
      const Node& n = s_->graph.nodes[node];
      out.push_back({n.name, n.op_type, ms, profiled_runs_});
    }
    return out;
  }

  Result<std::vector<NamedTensor>> run(const std::vector<NamedTensor>& inputs) override {
    // The calling thread may have run another GPU's engine last.
    VITRT_CUDA_RETURN_IF_ERROR(cudaSetDevice(s_->options.device), "selecting the engine's GPU");
    const Graph& g = s_->graph;
    std::vector<Tensor> slots(g.values.size());
    VITRT_RETURN_IF_ERROR(bind_graph_inputs(g, inputs, slots));
    std::vector<std::vector<int64_t>> signature;
    for (ValueId id : g.inputs) signature.push_back(slots[id].shape());
    auto it = plans_.find(signature);
    if (it == plans_.end()) {
      VITRT_ASSIGN_OR_RETURN(std::unique_ptr<ShapePlan> plan, make_plan(slots));
      it = plans_.emplace(signature, std::move(plan)).first;
    }
    ShapePlan& plan = *it->second;
    VITRT_RETURN_IF_ERROR(reserve_arena(plan.arena_bytes));
    last_plan_ = nullptr;
    last_times_ = RunTimes{};
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(phase_[0], stream_), "timing event");
    for (size_t i = 0; i < g.inputs.size(); ++i) {
      const Tensor& t = slots[g.inputs[i]];
      VITRT_RETURN_IF_ERROR(
          upload(static_cast<char*>(plan.block) + plan.input_staging[i], t.raw_data(), t.nbytes()));
    }
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(phase_[1], stream_), "timing event");
    VITRT_RETURN_IF_ERROR(launch_compute(plan));
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(phase_[2], stream_), "timing event");
    if (plan.checks_indices) {
      VITRT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(index_error_host_, index_error_, sizeof(int),
                                                 cudaMemcpyDeviceToHost, stream_),
                                 "reading the index check");
    }
    std::vector<NamedTensor> outputs;
    for (size_t i = 0; i < g.outputs.size(); ++i) {
      const ValueId id = g.outputs[i];
      const Value& v = g.values[id];
      if (plan.home[id] == Home::kNone && plan.host[id].defined()) {
        outputs.push_back({v.name, plan.host[id].clone()});
        continue;
      }
      const DeviceTensor& dt = plan.values[id];
      const DType host_type = plan.output_cast[i] ? v.dtype : dt.dtype;
      Tensor t = Tensor::empty(host_type, dt.shape);
      const void* src =
          plan.output_cast[i]
              ? static_cast<const void*>(static_cast<char*>(plan.block) + plan.output_staging[i])
              : data_of(plan, id);
      VITRT_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(t.raw_data(), src, t.nbytes(), cudaMemcpyDeviceToHost, stream_),
          "copying an output from the GPU");
      outputs.push_back({v.name, std::move(t)});
    }
    VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(phase_[3], stream_), "timing event");
    VITRT_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "running the model");
    if (plan.checks_indices && *index_error_host_ != 0) return index_error_status();
    float ms[3] = {0.0f, 0.0f, 0.0f};
    bool timed = true;
    for (int k = 0; k < 3; ++k) {
      timed = timed && cudaEventElapsedTime(&ms[k], phase_[k], phase_[k + 1]) == cudaSuccess;
    }
    if (timed) last_times_ = RunTimes{true, ms[0], ms[1], ms[2]};
    cudaGetLastError();
    last_plan_ = &plan;
    return outputs;
  }

 private:
  // A pinned host chunk and the event that says the copy out of it has finished.
  struct StageSlot {
    void* host = nullptr;
    cudaEvent_t done = nullptr;
  };

  // Copies n host bytes (pageable) to the device. A pageable cudaMemcpyAsync is synchronous
  // and moves at the driver's staging speed (one thread's memcpy, then the DMA); here the CPU
  // threads fill one pinned chunk while the copy engine drains the previous ones, so the
  // transfer hides behind a parallel memcpy. The ring is a fixed 32 MiB per context whatever
  // the batch.
  Status upload(void* dst, const void* src, size_t n) {
    if (stage_[0].host == nullptr) {
      for (StageSlot& slot : stage_) {
        VITRT_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&slot.host, kStageChunk, cudaHostAllocDefault),
                                   "allocating pinned staging memory");
        VITRT_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming),
                                   "creating a staging event");
      }
    }
    for (size_t off = 0; off < n; off += kStageChunk) {
      const size_t len = std::min(kStageChunk, n - off);
      StageSlot& slot = stage_[next_stage_];
      next_stage_ = (next_stage_ + 1) % kStageSlots;
      // The slot's previous copy (this run or the last) must have left it before it is refilled.
      VITRT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(slot.done), "waiting for a staging copy");
      const char* from = static_cast<const char*>(src) + off;
      char* to = static_cast<char*>(slot.host);
      parallel_for(static_cast<int64_t>(len), kStageGrain, [&](int64_t begin, int64_t end) {
        std::memcpy(to + begin, from + begin, static_cast<size_t>(end - begin));
      });
      VITRT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(static_cast<char*>(dst) + off, slot.host, len,
                                                 cudaMemcpyHostToDevice, stream_),
                                 "copying an input to the GPU");
      VITRT_CUDA_RETURN_IF_ERROR(cudaEventRecord(slot.done, stream_), "recording a staging copy");
    }
    return Status::ok_status();
  }

  Result<std::unique_ptr<ShapePlan>> make_plan(const std::vector<Tensor>& slots) {
    const Graph& g = s_->graph;
    const Placement& pl = s_->placement;
    const DType ft = s_->float_type;
    auto plan = std::make_unique<ShapePlan>();
    const size_t nv = g.values.size();
    plan->values.resize(nv);
    plan->host.resize(nv);
    plan->home.assign(nv, Home::kNone);
    plan->offset.assign(nv, 0);
    plan->alias.resize(nv);
    for (size_t v = 0; v < nv; ++v) {
      plan->alias[v] = static_cast<ValueId>(v);
      const Value& val = g.values[v];
      if (val.is_constant()) {
        plan->values[v] = {device_dtype(val.dtype, ft), val.constant.shape(), nullptr,
                           &val.constant};
        if (s_->constant_data[v] != nullptr) plan->home[v] = Home::kConstant;
      }
    }
    size_t block = 0;
    plan->input_staging.resize(g.inputs.size());
    for (size_t i = 0; i < g.inputs.size(); ++i) {
      const ValueId id = g.inputs[i];
      plan->input_staging[i] = block;
      block += align_up(slots[id].nbytes());
      plan->values[id] = {device_dtype(slots[id].dtype(), ft), slots[id].shape(), nullptr, nullptr};
      if (slots[id].dtype() == DType::kFloat32 && ft != DType::kFloat32 &&
          readers_take_float32(id)) {
        plan->values[id].dtype = DType::kFloat32;  // read from its staging buffer, no conversion
      }
    }
    // Work out every shape, running the host nodes.
    std::vector<int> def_step(nv, -1), last_step(nv, -1);
    const int nsteps = static_cast<int>(pl.order.size());
    for (int step = 0; step < nsteps; ++step) {
      const NodeId nid = pl.order[step];
      const Node& n = g.nodes[nid];
      if (pl.host_node[nid]) {
        VITRT_RETURN_IF_ERROR(run_host_node(*plan, nid).with_context(n.describe()));
        continue;
      }
      std::vector<const DeviceTensor*> in;
      for (ValueId id : n.inputs) in.push_back(id == kNoValue ? nullptr : &plan->values[id]);
      std::vector<DeviceTensor> out(n.outputs.size());
      LaunchContext ctx = launch_context(false);
      CudaKernel& k = *kernels_.gpu[nid];
      VITRT_RETURN_IF_ERROR(k.run(in, out, ctx).with_context(n.describe()));
      for (size_t o = 0; o < out.size(); ++o) {
        VITRT_RETURN_IF_ERROR(check_device_size(out[o], o).with_context(n.describe()));
      }
      plan->checks_indices = plan->checks_indices || k.checks_indices();
      ShapePlan::Step s{nid, step, {}, {}};
      for (size_t o = n.outputs.size(); o < out.size(); ++o) s.scratch.push_back(out[o]);
      s.scratch_offset.resize(s.scratch.size());
      for (size_t o = 0; o < n.outputs.size(); ++o) {
        const ValueId id = n.outputs[o];
        if (id == kNoValue) continue;
        plan->values[id] = out[o];
        def_step[id] = step;
        last_step[id] = std::max(last_step[id], step);
      }
      if (k.alias_of() >= 0 && n.has_input(k.alias_of()) && n.outputs[0] != kNoValue) {
        plan->alias[n.outputs[0]] = plan->alias[n.inputs[k.alias_of()]];
      }
      for (ValueId id : n.inputs) {
        if (id != kNoValue) last_step[plan->alias[id]] = std::max(last_step[plan->alias[id]], step);
      }
      plan->steps.push_back(std::move(s));
    }
    // Graph outputs live to the end (their root too, for views).
    for (ValueId id : g.outputs) last_step[plan->alias[id]] = nsteps;
    // Views extend their root's life to their own last reader.
    for (int v = static_cast<int>(nv) - 1; v >= 0; --v) {
      const ValueId r = plan->alias[v];
      if (r != v) last_step[r] = std::max(last_step[r], last_step[v]);
    }
    // Graph inputs: fp32 inputs of a reduced-precision plan are converted into the arena.
    std::vector<Interval> items;
    for (size_t i = 0; i < g.inputs.size(); ++i) {
      const ValueId id = g.inputs[i];
      if (plan->values[id].dtype != slots[id].dtype()) {
        plan->home[id] = Home::kArena;
        items.push_back({-1, std::max(last_step[id], 0), align_up(plan->values[id].nbytes()),
                         &plan->offset[id]});
      } else {
        plan->home[id] = Home::kBlock;
        plan->offset[id] = plan->input_staging[i];
      }
    }
    for (size_t v = 0; v < nv; ++v) {
      if (def_step[v] < 0 || plan->alias[v] != static_cast<ValueId>(v)) continue;
      plan->home[v] = Home::kArena;
      items.push_back({def_step[v], std::max(last_step[v], def_step[v]),
                       align_up(std::max<size_t>(plan->values[v].nbytes(), 1)), &plan->offset[v]});
    }
    for (size_t si = 0; si < plan->steps.size(); ++si) {
      ShapePlan::Step& s = plan->steps[si];
      const int step = s.index;
      for (size_t k = 0; k < s.scratch.size(); ++k) {
        items.push_back({step, step, align_up(std::max<size_t>(s.scratch[k].nbytes(), 1)),
                         &s.scratch_offset[k]});
      }
    }
    plan->arena_bytes = assign_offsets(items);
    // Host values read on the GPU are uploaded once per plan.
    for (size_t v = 0; v < nv; ++v) {
      if (!pl.needed_on_gpu[v] || g.values[v].is_constant() || !pl.host_value[v]) continue;
      if (!plan->host[v].defined()) continue;
      std::vector<uint8_t> bytes = device_bytes(plan->host[v], plan->values[v].dtype);
      plan->home[v] = Home::kBlock;
      plan->offset[v] = block;
      block += align_up(std::max<size_t>(bytes.size(), 1));
      plan->uploads.emplace_back(plan->offset[v], std::move(bytes));
    }
    plan->output_staging.resize(g.outputs.size());
    plan->output_cast.resize(g.outputs.size());
    for (size_t i = 0; i < g.outputs.size(); ++i) {
      const ValueId id = g.outputs[i];
      const DType want = g.values[id].dtype;
      // A float output leaves in its declared type: fp32 from a reduced-precision plan, and
      // fp16 / bf16 (a half-precision export) from an fp32 one.
      const DType have = plan->values[id].dtype;
      plan->output_cast[i] = plan->home[plan->alias[id]] != Home::kNone && have != want &&
                             dtype_is_float(want) && want != DType::kFloat64 &&
                             dtype_is_float(have) && have != DType::kFloat64;
      if (plan->output_cast[i]) {
        plan->output_staging[i] = block;
        block += align_up(plan->values[id].numel() * dtype_size(want));
      }
    }
    for (size_t v = 0; v < nv; ++v) {
      if (plan->alias[v] != static_cast<ValueId>(v)) plan->home[v] = plan->home[plan->alias[v]];
    }
    plan->block_bytes = std::max<size_t>(block, kAlign);
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&plan->block, plan->block_bytes), "plan buffers");
    for (const auto& [off, bytes] : plan->uploads) {
      VITRT_CUDA_RETURN_IF_ERROR(cudaMemcpy(static_cast<char*>(plan->block) + off, bytes.data(),
                                            bytes.size(), cudaMemcpyHostToDevice),
                                 "uploading host-computed values");
    }
    return plan;
  }

  // Whether every reader of graph input `id` takes it as fp32 (CudaKernel::reads_float32_input),
  // shape-only host nodes aside, and it is no graph output.
  bool readers_take_float32(ValueId id) const {
    const Graph& g = s_->graph;
    if (std::find(g.outputs.begin(), g.outputs.end(), id) != g.outputs.end()) return false;
    bool read = false;
    for (NodeId nid : s_->placement.order) {
      const Node& n = g.nodes[nid];
      for (size_t slot = 0; slot < n.inputs.size(); ++slot) {
        if (n.inputs[slot] != id) continue;
        if (s_->placement.host_node[nid]) {
          if (!is_shape_only_op(n)) return false;
          continue;
        }
        if (!kernels_.gpu[nid]->reads_float32_input(static_cast<int>(slot))) return false;
        read = true;
      }
    }
    return read;
  }

  Status run_host_node(ShapePlan& plan, NodeId nid) {
    const Graph& g = s_->graph;
    const Node& n = g.nodes[nid];
    const DType ft = s_->float_type;
    std::vector<Tensor> outs(n.outputs.size());
    if (is_shape_only_op(n)) {
      const std::vector<int64_t>& shape = plan.values[n.inputs[0]].shape;
      if (n.op_type == "Size") {
        outs[0] = Tensor::from_int64({shape_numel(shape)}, true);
      } else {
        const int64_t rank = static_cast<int64_t>(shape.size());
        VITRT_ASSIGN_OR_RETURN(int64_t start, n.attrs.get_int("start", 0));
        VITRT_ASSIGN_OR_RETURN(int64_t end, n.attrs.get_int("end", rank));
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = std::clamp<int64_t>(start, 0, rank);
        end = std::clamp<int64_t>(end, start, rank);
        outs[0] =
            Tensor::from_int64(std::vector<int64_t>(shape.begin() + start, shape.begin() + end));
      }
    } else {
      std::vector<const Tensor*> ins;
      for (ValueId id : n.inputs) {
        if (id == kNoValue) {
          ins.push_back(nullptr);
        } else if (g.values[id].is_constant()) {
          ins.push_back(&g.values[id].constant);
        } else {
          ins.push_back(&plan.host[id]);
        }
      }
      VITRT_RETURN_IF_ERROR(run_cpu_kernel(*kernels_.cpu[nid], ins, outs));
    }
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      const ValueId id = n.outputs[o];
      if (id == kNoValue) continue;
      plan.host[id] = std::move(outs[o]);
      plan.values[id] = {device_dtype(plan.host[id].dtype(), ft), plan.host[id].shape(), nullptr,
                         &plan.host[id]};
    }
    return Status::ok_status();
  }

  LaunchContext launch_context(bool launch) const {
    LaunchContext c;
    c.stream = stream_;
    c.launch = launch;
    c.float_type = s_->float_type;
    c.tf32 = s_->options.tf32;
    c.blas = blas_;
    c.workspace = workspace_;
    c.workspace_bytes = kWorkspaceBytes;
    c.tuner = s_->options.tuner;
    c.index_error = index_error_;
    return c;
  }

  void* data_of(const ShapePlan& plan, ValueId id) const {
    const ValueId r = plan.alias[id];
    switch (plan.home[r]) {
      case Home::kArena:
        return static_cast<char*>(arena_) + plan.offset[r];
      case Home::kBlock:
        return static_cast<char*>(plan.block) + plan.offset[r];
      case Home::kConstant:
        return s_->constant_data[r];
      case Home::kNone:
        return nullptr;
    }
    return nullptr;
  }

  Status reserve_arena(size_t bytes) {
    if (bytes <= arena_bytes_) return Status::ok_status();
    // Captured graphs hold pointers into the old arena.
    for (auto& [sig, plan] : plans_) {
      if (plan->graph_exec != nullptr) {
        cudaGraphExecDestroy(plan->graph_exec);
        plan->graph_exec = nullptr;
      }
    }
    VITRT_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_), "growing the arena");
    if (arena_ != nullptr) cudaFree(arena_);
    arena_ = nullptr;
    arena_bytes_ = 0;
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&arena_, bytes), "allocating the activation arena");
    arena_bytes_ = bytes;
    return Status::ok_status();
  }

  // The model's kernels for one shape: one graph replay (captured on first use), or eager
  // launches (profiling, graphs off, or a capture that failed).
  Status launch_compute(ShapePlan& plan) {
    if (profiling_) return launch_all(plan, true);
    if (s_->options.cuda_graphs && !plan.graph_failed) {
      if (plan.graph_exec == nullptr) VITRT_RETURN_IF_ERROR(capture(plan));
      if (plan.graph_exec != nullptr) {
        VITRT_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(plan.graph_exec, stream_), "graph launch");
        return Status::ok_status();
      }
    }
    return launch_all(plan, false);
  }

  Status capture(ShapePlan& plan) {
    VITRT_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal),
                               "graph capture");
    Status launched = launch_all(plan, false);
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(stream_, &graph);
    if (!launched.ok()) {
      if (graph != nullptr) cudaGraphDestroy(graph);
      return launched;
    }
    if (ended != cudaSuccess || graph == nullptr) {
      cudaGetLastError();
      plan.graph_failed = true;  // run eagerly from now on
      return Status::ok_status();
    }
    const cudaError_t inst = cudaGraphInstantiate(&plan.graph_exec, graph, 0);
    cudaGraphDestroy(graph);
    if (inst != cudaSuccess) {
      cudaGetLastError();
      plan.graph_exec = nullptr;
      plan.graph_failed = true;
    }
    return Status::ok_status();
  }

  // Launches the whole plan on the stream (or records it while capturing).
  Status launch_all(ShapePlan& plan, bool timed) {
    const Graph& g = s_->graph;
    for (size_t i = 0; i < g.inputs.size(); ++i) {
      const ValueId id = g.inputs[i];
      if (plan.home[id] != Home::kArena) continue;
      const DType from =
          g.values[id].dtype == DType::kUndefined ? DType::kFloat32 : g.values[id].dtype;
      VITRT_ASSIGN_OR_RETURN(Elt fe, elt_of(from));
      VITRT_ASSIGN_OR_RETURN(Elt te, elt_of(plan.values[id].dtype));
      VITRT_CUDA_RETURN_IF_ERROR(
          launch_cast(fe, te, static_cast<char*>(plan.block) + plan.input_staging[i],
                      data_of(plan, id), plan.values[id].numel(), stream_),
          "converting an input");
    }
    const LaunchContext ctx = launch_context(true);
    std::vector<DeviceTensor> resolved(plan.values.size());
    std::vector<cudaEvent_t> events;
    if (timed) events.resize(plan.steps.size() + 1);
    for (cudaEvent_t& e : events) cudaEventCreate(&e);
    if (timed) cudaEventRecord(events[0], stream_);
    Status status;
    for (size_t si = 0; si < plan.steps.size() && status.ok(); ++si) {
      ShapePlan::Step& s = plan.steps[si];
      const Node& n = g.nodes[s.node];
      std::vector<const DeviceTensor*> in;
      for (ValueId id : n.inputs) {
        if (id == kNoValue) {
          in.push_back(nullptr);
          continue;
        }
        resolved[id] = plan.values[id];
        resolved[id].data = data_of(plan, id);
        in.push_back(&resolved[id]);
      }
      std::vector<DeviceTensor> out;
      for (ValueId id : n.outputs) {
        DeviceTensor t;
        if (id != kNoValue) {
          t = plan.values[id];
          t.data = data_of(plan, id);
        }
        out.push_back(t);
      }
      for (size_t k = 0; k < s.scratch.size(); ++k) {
        DeviceTensor t = s.scratch[k];
        t.data = static_cast<char*>(arena_) + s.scratch_offset[k];
        out.push_back(t);
      }
      LaunchContext step_ctx = ctx;
      step_ctx.node_tag = static_cast<int>(s.node) + 1;
      status = kernels_.gpu[s.node]->run(in, out, step_ctx).with_context(n.describe());
      if (timed) cudaEventRecord(events[si + 1], stream_);
    }
    for (size_t i = 0; i < g.outputs.size() && status.ok(); ++i) {
      if (!plan.output_cast[i]) continue;
      const ValueId id = g.outputs[i];
      VITRT_ASSIGN_OR_RETURN(Elt fe, elt_of(plan.values[id].dtype));
      VITRT_ASSIGN_OR_RETURN(Elt te, elt_of(g.values[id].dtype));
      status = cuda_status(launch_cast(fe, te, data_of(plan, id),
                                       static_cast<char*>(plan.block) + plan.output_staging[i],
                                       plan.values[id].numel(), stream_),
                           "converting an output");
    }
    if (timed) {
      cudaStreamSynchronize(stream_);
      for (size_t si = 0; si < plan.steps.size() && status.ok(); ++si) {
        float ms = 0.0f;
        cudaEventElapsedTime(&ms, events[si], events[si + 1]);
        step_ms_[plan.steps[si].node] += ms;
      }
      ++profiled_runs_;
    }
    for (cudaEvent_t e : events) cudaEventDestroy(e);
    return status;
  }

  std::shared_ptr<const SharedState> s_;
  NodeKernels kernels_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t blas_ = nullptr;
  StageSlot stage_[kStageSlots];
  int next_stage_ = 0;
  void* workspace_ = nullptr;
  void* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  std::map<std::vector<std::vector<int64_t>>, std::unique_ptr<ShapePlan>> plans_;
  // Events around the input copies, the compute and the output copies of a run.
  cudaEvent_t phase_[4] = {nullptr, nullptr, nullptr, nullptr};
  RunTimes last_times_;
  ShapePlan* last_plan_ = nullptr;  // the last successful run's (its inputs stay on the device)
  // IndexError's flag (device) and where a run reads it back (pinned host).
  int* index_error_ = nullptr;
  int* index_error_host_ = nullptr;
  bool profiling_ = false;
  std::map<NodeId, double> step_ms_;
  int64_t profiled_runs_ = 0;
};

// A context that could not be set up answers every run with the reason.
class FailedContext final : public ExecutionContext {
 public:
  explicit FailedContext(Status s) : status_(std::move(s)) {}
  void set_profiling(bool) override {}
  std::vector<NodeProfile> profile() const override { return {}; }
  Result<std::vector<NamedTensor>> run(const std::vector<NamedTensor>&) override { return status_; }

 private:
  Status status_;
};

class CudaEngine final : public Engine {
 public:
  explicit CudaEngine(std::shared_ptr<const SharedState> s) : s_(std::move(s)) {
    for (ValueId id : s_->graph.inputs) inputs_.push_back(tensor_info_of(s_->graph.values[id]));
    for (ValueId id : s_->graph.outputs) outputs_.push_back(tensor_info_of(s_->graph.values[id]));
  }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  std::string device() const override { return "cuda"; }

  std::unique_ptr<ExecutionContext> create_context() const override {
    if (cudaSetDevice(s_->options.device) != cudaSuccess) {
      return std::make_unique<FailedContext>(
          internal_error("cannot select CUDA device ", s_->options.device));
    }
    Result<NodeKernels> kernels = create_kernels(s_->graph, s_->placement, s_->float_type);
    if (!kernels.ok()) return std::make_unique<FailedContext>(kernels.status());
    auto ctx = std::make_unique<CudaExecutionContext>(s_, std::move(*kernels));
    Status st = ctx->init();
    if (!st.ok()) return std::make_unique<FailedContext>(st);
    return ctx;
  }

 private:
  std::shared_ptr<const SharedState> s_;
  std::vector<TensorInfo> inputs_, outputs_;
};

Status check_device(int device) {
  const int count = device_count();
  if (count == 0) return unsupported("no CUDA device is visible to this process");
  if (device < 0 || device >= count) {
    return invalid_argument("CUDA device ", device, " does not exist: this process sees ", count,
                            " (0 to ", count - 1, ")");
  }
  VITRT_ASSIGN_OR_RETURN(DeviceInfo info, device_info(device));
  const int sm = info.sm_major * 10 + info.sm_minor;
  if (sm != VITRT_CUDA_ARCH) {
    return unsupported("GPU ", device, " (", info.name, ") is sm_", sm,
                       " but this vitrt's CUDA kernels "
                       "are built for ",
                       compiled_arch(), ": rebuild vitrt for sm_", sm);
  }
  return Status::ok_status();
}

Result<CudaEngineOptions> options_of(const PlanMetadata& m) {
  CudaEngineOptions o;
  o.precision = m.precision;
  auto tf32 = m.build_options.find("tf32");
  o.tf32 = tf32 != m.build_options.end() && tf32->second == "true";
  auto arch = m.build_options.find("arch");
  if (arch != m.build_options.end() && arch->second != compiled_arch()) {
    return unsupported("the plan was built for ", arch->second,
                       " but this vitrt's CUDA kernels "
                       "are for ",
                       compiled_arch());
  }
  return o;
}

Status hook_check(const Graph& graph, const PlanMetadata& m) {
  VITRT_ASSIGN_OR_RETURN(CudaEngineOptions o, options_of(m));
  return check_cuda_graph(graph, o);
}

// Inputs of the given shapes (named in `set`, else the graph's static shape): small random
// floats, zero integers (token ids, valid for any vocabulary).
Result<std::vector<NamedTensor>> tuning_inputs(const Graph& g, const TacticOptions::ShapeSet& set) {
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<NamedTensor> inputs;
  for (ValueId id : g.inputs) {
    const Value& v = g.values[id];
    std::vector<int64_t> shape;
    bool named = false;
    for (const auto& [name, dims] : set) {
      if (name == v.name) {
        shape = dims;
        named = true;
      }
    }
    if (!named) {
      std::optional<std::vector<int64_t>> fixed =
          v.has_shape ? sym_shape_to_static(v.shape) : std::nullopt;
      if (!fixed) return invalid_argument("input '", v.name, "' has no shape to tune for");
      shape = *fixed;
    }
    Tensor t = Tensor::zeros(v.dtype == DType::kUndefined ? DType::kFloat32 : v.dtype, shape);
    if (t.dtype() == DType::kFloat32) {
      float* p = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
    }
    inputs.push_back({v.name, std::move(t)});
  }
  return inputs;
}

std::string shape_set_text(const TacticOptions::ShapeSet& set) {
  std::string s;
  for (const auto& [name, dims] : set) {
    s += str_cat(s.empty() ? "" : ", ", name, " ", shape_to_string(dims));
  }
  return s;
}

Status hook_select_tactics(Graph& graph, const PlanMetadata& m, const TacticOptions& t) {
  auto log = [&](const std::string& line) {
    if (t.log) t.log(line);
  };
  if (t.shape_sets.empty()) return Status::ok_status();
  const Status device = check_device(0);
  if (!device.ok()) {
    log(str_cat("tactics: not timed (", device.message(),
                "); cuBLASLt's heuristic picks GEMM algorithms at run time"));
    return Status::ok_status();
  }
  VITRT_ASSIGN_OR_RETURN(DeviceInfo info, device_info(0));
  std::string warning;
  TimingCache cache =
      t.timing_cache.empty() ? TimingCache() : TimingCache::load(t.timing_cache, &warning);
  if (!warning.empty()) log("tactics: warning: " + warning);
  TacticTuner tuner;
  tuner.cache = &cache;
  tuner.device_key = str_cat(info.name, "|", compiled_arch(), "|cublasLt ", cublasLtGetVersion());
  tuner.verbose = t.verbose;
  tuner.tanh_gelu = t.tanh_gelu_epilogue;
  tuner.fp8_fast_accum = t.fp8_fast_accum;
  tuner.log = t.log;
  VITRT_ASSIGN_OR_RETURN(CudaEngineOptions o, options_of(m));
  o.cuda_graphs = false;  // timing runs eagerly, outside any capture
  o.tuner = &tuner;
  const auto start = std::chrono::steady_clock::now();
  {
    VITRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, create_cuda_engine(graph, o));
    std::unique_ptr<ExecutionContext> ctx = engine->create_context();
    for (const TacticOptions::ShapeSet& set : t.shape_sets) {
      Result<std::vector<NamedTensor>> inputs = tuning_inputs(graph, set);
      Result<std::vector<NamedTensor>> ran =
          inputs.ok() ? ctx->run(*inputs) : Result<std::vector<NamedTensor>>(inputs.status());
      if (ran.ok()) continue;
      // A kernel that refuses what the plan gives it (a dtype, an axis set, a rank: kUnsupported)
      // or an internal error would fail the plan's first run on this GPU too, so the build fails
      // now, naming the node, as TensorRT fails a build that has no implementation for a layer.
      // Other failures may come from the random inputs themselves (an index or a size computed
      // from zeros) or from memory at a large profile shape: those stay warnings.
      const StatusCode code = ran.status().code();
      if (code == StatusCode::kUnsupported || code == StatusCode::kInternal) {
        return Status(
            ran.status().code(),
            str_cat("the CUDA plan cannot run on ", info.name, " (run once at ",
                    shape_set_text(set), " to time its kernels): ", ran.status().message(),
                    "; --no-tactics skips that run, not the failure"));
      }
      log(str_cat("tactics: warning: tuning run at ", shape_set_text(set), " failed (",
                  ran.status().message(), "); its GEMMs use the heuristic"));
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int nodes = 0;
  for (const auto& [node, tactics] : tuner.by_node) {
    graph.nodes[node].attrs.set_ints(kGemmTacticsAttr, encode_gemm_tactics(tactics));
    ++nodes;
  }
  int attention_nodes = 0, cudnn_choices = 0;
  for (const auto& [node, tactics] : tuner.attention_by_node) {
    graph.nodes[node].attrs.set_ints(kAttentionTacticsAttr, encode_attention_tactics(tactics));
    ++attention_nodes;
    for (const AttentionTactic& a : tactics) cudnn_choices += a.impl == kAttentionCudnn ? 1 : 0;
  }
  int conv_nodes = 0, conv_cudnn = 0;
  for (const auto& [node, tactics] : tuner.conv_by_node) {
    graph.nodes[node].attrs.set_ints(kConvTacticsAttr, encode_conv_tactics(tactics));
    ++conv_nodes;
    for (const ConvTactic& c : tactics) conv_cudnn += c.impl == kConvCudnn ? 1 : 0;
  }
  log(str_cat(
      "tactics: ", info.name, ", shapes ",
      [&] {
        std::string s;
        for (const auto& set : t.shape_sets)
          s += str_cat(s.empty() ? "" : " | ", shape_set_text(set));
        return s;
      }(),
      ": ", tuner.timed, " GEMM problems timed, ", tuner.from_cache, " from the timing cache, in ",
      seconds, " s; ", nodes, " Linear nodes carry tactics; ", attention_nodes,
      " Attention nodes carry tactics (", tuner.attention_timed, " timed, ", cudnn_choices,
      " choose cuDNN",
      [] {
        const std::string why = cudnn_attention_unavailable();
        return why.empty() ? std::string() : "; cuDNN unavailable: " + why;
      }(),
      ")",
      conv_nodes == 0 ? std::string()
                      : str_cat("; ", conv_nodes, " ChannelsLastConv nodes carry tactics (",
                                tuner.conv_timed, " timed, ", tuner.conv_from_cache,
                                " from the timing cache, ", conv_cudnn, " choose cuDNN)")));
  if (!t.timing_cache.empty() && (tuner.timed > 0 || tuner.conv_timed > 0)) {
    Status saved = cache.save(t.timing_cache);
    if (!saved.ok()) {
      log("tactics: warning: " + saved.message());
    } else {
      log(str_cat("tactics: timing cache '", t.timing_cache, "' now holds ", cache.size(),
                  " entries"));
    }
  }
  return Status::ok_status();
}

Result<std::shared_ptr<Engine>> hook_create(Graph graph, const PlanMetadata& m, int device) {
  VITRT_ASSIGN_OR_RETURN(CudaEngineOptions o, options_of(m));
  o.device = device;
  return create_cuda_engine(std::move(graph), o);
}

}  // namespace

std::string compiled_arch() {
  return str_cat("sm_", VITRT_CUDA_ARCH);
}

Status check_cuda_graph(const Graph& graph, const CudaEngineOptions& options) {
  VITRT_ASSIGN_OR_RETURN(DType ft, float_type_of(options.precision));
  VITRT_ASSIGN_OR_RETURN(Placement p, place_nodes(graph));
  return create_kernels(graph, p, ft).status();
}

Result<std::shared_ptr<Engine>> create_cuda_engine(Graph graph, const CudaEngineOptions& options) {
  VITRT_RETURN_IF_ERROR(graph.validate());
  VITRT_ASSIGN_OR_RETURN(DType ft, float_type_of(options.precision));
  VITRT_RETURN_IF_ERROR(check_device(options.device));
  VITRT_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device), "selecting the engine's GPU");
  auto s = std::make_shared<SharedState>();
  s->graph = std::move(graph);
  s->float_type = ft;
  s->options = options;
  VITRT_ASSIGN_OR_RETURN(s->placement, place_nodes(s->graph));
  VITRT_RETURN_IF_ERROR(create_kernels(s->graph, s->placement, ft).status());
  // Weights go to the GPU once, in the plan's precision.
  s->constant_data.assign(s->graph.values.size(), nullptr);
  for (size_t v = 0; v < s->graph.values.size(); ++v) {
    const Value& val = s->graph.values[v];
    if (!val.is_constant() || !s->placement.needed_on_gpu[v]) continue;
    const std::vector<uint8_t> bytes = device_bytes(val.constant, device_dtype(val.dtype, ft));
    VITRT_CUDA_RETURN_IF_ERROR(cudaMalloc(&s->constant_data[v], std::max<size_t>(bytes.size(), 1)),
                               "allocating weights");
    s->weight_bytes += static_cast<int64_t>(bytes.size());
    VITRT_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(s->constant_data[v], bytes.data(), bytes.size(), cudaMemcpyHostToDevice),
        "uploading weights");
  }
  return std::shared_ptr<Engine>(std::make_shared<CudaEngine>(std::move(s)));
}

void register_cuda_backend() {
  CudaBackendHooks hooks;
  hooks.arch = compiled_arch();
  hooks.check_graph = hook_check;
  hooks.select_tactics = hook_select_tactics;
  hooks.create_engine = hook_create;
  hooks.device_count = device_count;
  set_cuda_backend(hooks);
}

}  // namespace vitrt::cuda
