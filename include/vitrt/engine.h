// The runtime: load a plan (or an ONNX model directly), bind inputs, run.
//
// One Engine is shared; each concurrent caller creates its own ExecutionContext. The engine is
// immutable after load; a context owns its scratch memory and is used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vitrt/builder.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  // One entry per dim: a number ("224") or a symbol ("batch"); empty when the rank is unknown.
  std::vector<std::string> dims;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

class Engine;

// Time spent in one node over the runs made while profiling was on.
struct NodeProfile {
  std::string node_name;
  std::string op_type;
  double total_ms = 0.0;
  int64_t runs = 0;
};

// Where the device time of one run went (trtexec's H2D / GPU compute / D2H), in ms; measured
// with GPU events by backends that have a device, `measured` false elsewhere.
struct RunTimes {
  bool measured = false;
  double upload_ms = 0.0;    // inputs from host memory to the device
  double compute_ms = 0.0;   // the model's kernels
  double download_ms = 0.0;  // outputs back to host memory
};

// Device memory this context uses, in bytes (zero for backends without a device): the
// engine's weights (shared by its contexts) and what the context holds itself.
struct DeviceMemory {
  int64_t weights = 0;
  int64_t activations = 0;  // the activation arena, sized for the largest shape run so far
  int64_t workspace = 0;    // GEMM library workspace
  int64_t io = 0;           // input/output staging and per-shape buffers
};

class ExecutionContext {
 public:
  virtual ~ExecutionContext() = default;
  virtual DeviceMemory device_memory() const { return {}; }
  // The phases of the last successful run().
  virtual RunTimes last_run_times() const { return {}; }
  // Runs the model again on the inputs of the last run() that are still on the device, copying
  // nothing in or out (trtexec's --noDataTransfers: what the compute alone costs, as when a
  // pipeline keeps its tensors on the GPU), and returns the GPU time in ms. Backends without
  // device memory say so.
  virtual Result<double> rerun_on_device() {
    return Status(StatusCode::kUnsupported, "this backend has no device-resident inputs to rerun");
  }
  // Per-node timing (like trtexec's --dumpProfile). Off by default: it adds a clock read per
  // node. Turning it on clears what was collected.
  virtual void set_profiling(bool enabled) = 0;
  // One entry per node, in execution order.
  virtual std::vector<NodeProfile> profile() const = 0;
  // Runs the model on `inputs` (each graph input exactly once, by name) and returns the graph
  // outputs in graph order. Errors name the input (wrong dtype, rank or dim) or the node.
  virtual Result<std::vector<NamedTensor>> run(const std::vector<NamedTensor>& inputs) = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Loads a plan file written by `build_plan` (weights are memory-mapped, not copied).
  static Result<std::shared_ptr<Engine>> load_plan(const std::string& plan_path);
  // The same on CUDA device `device` (0-based, as cudaSetDevice counts; CPU plans ignore it):
  // the weights go to that GPU and every context of the engine runs there, whichever thread
  // calls it. One engine per GPU is how a host's GPUs share a model's load.
  static Result<std::shared_ptr<Engine>> load_plan(const std::string& plan_path, int device);
  // CUDA devices this process can use; 0 without a CUDA backend, driver or GPU.
  static int cuda_device_count();
  // Imports and prepares an ONNX model in memory, without a plan file (tests, quick runs).
  static Result<std::shared_ptr<Engine>> from_onnx(const std::string& onnx_path);
  // ... with build options (options.optimize = false runs the graph as imported).
  static Result<std::shared_ptr<Engine>> from_onnx(const std::string& onnx_path,
                                                   const BuildOptions& options);

  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;
  virtual std::unique_ptr<ExecutionContext> create_context() const = 0;
  // "cpu" or "cuda".
  virtual std::string device() const = 0;
};

}  // namespace vitrt
