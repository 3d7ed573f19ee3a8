// The CPU engine: an immutable, shared, prepared graph plus the kernel factory of every node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cpu/cpu_kernel.h"
#include "ir/graph.h"
#include "vitrt/engine.h"

namespace vitrt {

// Creates the kernel of every live node once (which validates their attributes) and returns
// the first failure: kUnsupported naming op type, domain and node when no CPU kernel exists.
Status check_cpu_kernels(const Graph& graph,
                         const CpuKernelRegistry& registry = CpuKernelRegistry::global());

// A read-only file mapping that constants of the graph may point into (a plan file).
struct MappedFileRange {
  const uint8_t* data = nullptr;
  size_t bytes = 0;
};

// Wraps a shape-inferred graph as an Engine. Tests pass their own registry. With `mapping`,
// the pages of each node's constant inputs inside it are dropped from memory once the node's
// kernel exists: kernels that packed their weights into their own layout never touch them
// again, so the process holds one copy of the weights, not two; a kernel that reads a constant
// in place faults its pages back in from the file.
Result<std::shared_ptr<Engine>> create_cpu_engine(
    Graph graph, const CpuKernelRegistry& registry = CpuKernelRegistry::global(),
    MappedFileRange mapping = {});

// The TensorInfo of a value: dims from its symbolic shape ("batch", "224", "?").
TensorInfo tensor_info_of(const Value& value);

}  // namespace vitrt
