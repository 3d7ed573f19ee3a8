// The CUDA engine: a shared, immutable graph with its weights on the GPU (in the plan's
// precision); each ExecutionContext has its own stream, cuBLASLt workspace, activation arena
// and, per input-shape signature, a memory plan and a captured CUDA graph.
//
// Nodes whose inputs are all known on the host (constants, and values computed from shapes:
// Shape -> Gather -> Concat -> Reshape, masks built with Range/Where) run on the host through
// the CPU kernels, once per shape signature; everything else runs on the GPU.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "vitrt/engine.h"

namespace vitrt::cuda {

struct TacticTuner;

struct CudaEngineOptions {
  std::string precision = "fp32";  // fp32 | fp16 | bf16: the activation and weight type
  bool tf32 = false;               // fp32 GEMMs may use TF32 tensor cores
  bool cuda_graphs = true;         // capture each shape signature's launches once, then replay
  TacticTuner* tuner = nullptr;    // build time only: kernels time and record tactics
  // The GPU (cudaSetDevice's index) holding the weights; each context sets it on the calling
  // thread before it allocates or runs, so one thread may drive engines on several GPUs.
  int device = 0;
};

// Every node has a kernel (CPU for host nodes, CUDA for the rest); needs no GPU.
Status check_cuda_graph(const Graph& graph, const CudaEngineOptions& options);
// Needs a GPU; the graph must be shape-inferred.
Result<std::shared_ptr<Engine>> create_cuda_engine(Graph graph, const CudaEngineOptions& options);
// The architecture the kernels were compiled for ("sm_90").
std::string compiled_arch();
// Lets Engine::load_plan and build_plan use this backend (see runtime/device_backends.h).
void register_cuda_backend();

}  // namespace vitrt::cuda
