// The CPU engine: an immutable, shared, prepared graph plus the kernel factory of every node.
#pragma once

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

// Wraps a shape-inferred graph as an Engine. Tests pass their own registry.
Result<std::shared_ptr<Engine>> create_cpu_engine(
    Graph graph, const CpuKernelRegistry& registry = CpuKernelRegistry::global());

// The TensorInfo of a value: dims from its symbolic shape ("batch", "224", "?").
TensorInfo tensor_info_of(const Value& value);

}  // namespace vitrt
