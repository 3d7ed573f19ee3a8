// The build steps shared by `build_plan` and `Engine::from_onnx`: import, shape inference and
// the optimizer passes.
#pragma once

#include <map>
#include <string>

#include "ir/graph.h"
#include "vitrt/builder.h"

namespace vitrt {

// Imports `onnx_path`, infers shapes, runs the optimizer passes. Fills `summary->ops_before`
// and the parameter counts when `summary` is given; logs through options.log.
Result<Graph> import_and_prepare(const std::string& onnx_path, const BuildOptions& options,
                                 BuildSummary* summary);

// Runs the optimizer (src/passes/) unless options.optimize is off, logging what it applied;
// fills `rewrites` (pass -> count) when given.
Status run_optimization_passes(Graph& graph, const BuildOptions& options,
                               std::map<std::string, int>* rewrites = nullptr);

}  // namespace vitrt
