// The CPU executor: binds and checks inputs, runs node kernels in topological order, and drops
// each intermediate tensor right after its last reader, which returns its buffer to the
// context's BufferPool for the next node of the same size (and the next run) to reuse.
#pragma once

#include <memory>
#include <vector>

#include "core/buffer_pool.h"
#include "cpu/cpu_kernel.h"
#include "ir/graph.h"
#include "vitrt/engine.h"

namespace vitrt {

// What the engine computes once at load: the order to run nodes in and when values die.
struct ExecutionSchedule {
  std::vector<NodeId> order;
  // release_after[step]: values whose last reader is step `step` (or that nobody reads); their
  // tensors are dropped right after that step. Never constants or graph outputs.
  std::vector<std::vector<ValueId>> release_after;
};

Result<ExecutionSchedule> make_execution_schedule(const Graph& graph);

// Checks `inputs` against the graph inputs (each exactly once, dtype, rank, static dims,
// symbolic dims bound consistently across inputs) and stores them in `slots` (one per value).
Status bind_graph_inputs(const Graph& graph, const std::vector<NamedTensor>& inputs,
                         std::vector<Tensor>& slots);

class CpuExecutionContext final : public ExecutionContext {
 public:
  // `kernels[node_id]` runs node `node_id`; `creation_error` (when not ok) is returned by
  // every run (kernel creation failed for this context).
  CpuExecutionContext(std::shared_ptr<const Graph> graph,
                      std::shared_ptr<const ExecutionSchedule> schedule,
                      std::vector<std::unique_ptr<CpuKernel>> kernels, Status creation_error);

  Result<std::vector<NamedTensor>> run(const std::vector<NamedTensor>& inputs) override;
  void set_profiling(bool enabled) override;
  std::vector<NodeProfile> profile() const override;

  BufferPoolStats buffer_pool_stats() const { return pool_->stats(); }

 private:
  Result<std::vector<NamedTensor>> run_steps(const std::vector<NamedTensor>& inputs);

  std::shared_ptr<const Graph> graph_;
  std::shared_ptr<const ExecutionSchedule> schedule_;
  std::vector<std::unique_ptr<CpuKernel>> kernels_;
  Status creation_error_;
  std::vector<Tensor> slots_;  // one per value; reused across runs
  // Storage of every tensor allocated on the calling thread while this context runs. Buffers
  // outlive the run (the second run with the same shapes allocates nothing); a graph output
  // holds its buffer until the caller drops it, so no later run can overwrite it.
  std::shared_ptr<BufferPool> pool_ = BufferPool::create();
  bool profiling_ = false;
  std::vector<double> step_ms_;  // per schedule step, while profiling
  int64_t profiled_runs_ = 0;
};

}  // namespace vitrt
