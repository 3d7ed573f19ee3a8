// The hook through which the CUDA backend (vitrt_cuda, built only where nvcc is present) plugs
// into the library: vitrt_lib never links it, so a CPU-only build has no CUDA dependency. A
// program that links vitrt_cuda calls vitrt::cuda::register_cuda_backend() once at start.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "plan/plan_format.h"
#include "vitrt/engine.h"

namespace vitrt {

// What build-time tactic selection runs on and where it reports.
struct TacticOptions {
  using ShapeSet = std::vector<std::pair<std::string, std::vector<int64_t>>>;  // input -> shape
  using ShapeSets = std::vector<ShapeSet>;
  // Input shapes to tune for, one set per run (each profile's opt shapes, or default batches).
  ShapeSets shape_sets;
  std::string timing_cache;        // file path, or empty
  bool tanh_gelu_epilogue = true;  // fp16/bf16: erf GELU may run as the tanh-form epilogue
  bool fp8_fast_accum = true;      // fp8: GEMMs may run with FP8 fast accumulation
  bool verbose = false;
  std::function<void(const std::string&)> log;
};

struct CudaBackendHooks {
  // The GPU architecture the backend's kernels were compiled for ("sm_90").
  std::string arch;
  // At build time (no GPU needed): every node has a kernel for `metadata`'s precision.
  Status (*check_graph)(const Graph& graph, const PlanMetadata& metadata) = nullptr;
  // At build time, on the GPU at hand: times candidate kernels for each shape set and records
  // the fastest in the graph's nodes; without a usable GPU it logs why and leaves the graph.
  Status (*select_tactics)(Graph& graph, const PlanMetadata& metadata,
                           const TacticOptions& options) = nullptr;
  // At load time: checks GPU `device` against the plan and prepares the engine there.
  Result<std::shared_ptr<Engine>> (*create_engine)(Graph graph, const PlanMetadata& metadata,
                                                   int device) = nullptr;
  // Visible CUDA devices (0 without a driver or GPU).
  int (*device_count)() = nullptr;
};

void set_cuda_backend(const CudaBackendHooks& hooks);
// Null when this program was linked without the CUDA backend.
const CudaBackendHooks* cuda_backend();

}  // namespace vitrt
