// The CPU Engine: Engine::load_plan / Engine::from_onnx and per-context kernel creation.
#include "runtime/cpu_engine.h"

#include <sys/mman.h>
#include <unistd.h>

#include <mutex>
#include <utility>

#include "plan/plan_format.h"
#include "runtime/build_pipeline.h"
#include "runtime/device_backends.h"
#include "runtime/executor.h"
#include "runtime/profiles.h"

namespace vitrt {
namespace {

std::string domain_label(const std::string& domain) {
  return domain.empty() ? "ai.onnx" : domain;
}

// The factory of every live node (indexed by node id; null for dead nodes).
Result<std::vector<CpuKernelFactory>> resolve_factories(const Graph& graph,
                                                        const CpuKernelRegistry& registry) {
  std::vector<CpuKernelFactory> factories(graph.nodes.size(), nullptr);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    if (n.dead) continue;
    factories[i] = registry.find(n.domain, n.op_type);
    if (factories[i] == nullptr) {
      return unsupported(n.describe(), ": op '", n.op_type, "' (domain '", domain_label(n.domain),
                         "') has no CPU kernel");
    }
  }
  return factories;
}

// Drops the whole pages of `node`'s constant inputs that lie inside `mapping`. Only a private,
// unmodified file mapping may be treated so: its dropped pages read back the file's bytes
// (MADV_DONTNEED on heap memory would zero it instead).
void drop_mapped_constant_pages(const Graph& graph, const Node& node, MappedFileRange mapping) {
  if (mapping.data == nullptr) return;
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t map_begin = reinterpret_cast<uintptr_t>(mapping.data);
  const uintptr_t map_end = map_begin + mapping.bytes;
  for (ValueId id : node.inputs) {
    if (id == kNoValue || !graph.values[id].is_constant()) continue;
    const Tensor& t = graph.values[id].constant;
    const uintptr_t begin = reinterpret_cast<uintptr_t>(t.raw_data());
    const uintptr_t end = begin + t.nbytes();
    if (begin < map_begin || end > map_end) continue;
    const uintptr_t first = (begin + page - 1) / page * page;  // whole pages only: a neighbour
    const uintptr_t last = end / page * page;                  // may be in use
    if (first < last) {
      // Advice, not a requirement: on failure the pages simply stay resident.
      (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
    }
  }
}

Result<std::vector<std::unique_ptr<CpuKernel>>> create_kernels(
    const Graph& graph, const std::vector<CpuKernelFactory>& factories, MappedFileRange mapping) {
  std::vector<std::unique_ptr<CpuKernel>> kernels(graph.nodes.size());
  const int64_t opset = graph.onnx_opset();
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (factories[i] == nullptr) continue;
    const Node& node = graph.nodes[i];
    Result<std::unique_ptr<CpuKernel>> k = factories[i](KernelInit{graph, node, opset});
    if (!k.ok()) {
      // Factories that already name the node keep their message as it is.
      const std::string where = node.describe();
      return k.status().message().rfind(where, 0) == 0 ? k.status()
                                                       : k.status().with_context(where);
    }
    if (*k == nullptr) return internal_error(node.describe(), ": kernel factory returned null");
    kernels[i] = std::move(*k);
    drop_mapped_constant_pages(graph, node, mapping);
  }
  return kernels;
}

class CpuEngine final : public Engine {
 public:
  CpuEngine(std::shared_ptr<const Graph> graph, std::shared_ptr<const ExecutionSchedule> schedule,
            std::vector<CpuKernelFactory> factories,
            std::vector<std::unique_ptr<CpuKernel>> first_kernels, MappedFileRange mapping)
      : graph_(std::move(graph)),
        schedule_(std::move(schedule)),
        factories_(std::move(factories)),
        mapping_(mapping),
        spare_kernels_(std::move(first_kernels)) {
    for (ValueId id : graph_->inputs) inputs_.push_back(tensor_info_of(graph_->values[id]));
    for (ValueId id : graph_->outputs) outputs_.push_back(tensor_info_of(graph_->values[id]));
  }

  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  std::string device() const override { return "cpu"; }

  // Each context gets its own kernels: a kernel may keep scratch state between runs, so two
  // threads must never share one. The kernels made at load to validate the graph go to the
  // first context, so the common one-context case creates them once.
  std::unique_ptr<ExecutionContext> create_context() const override {
    std::vector<std::unique_ptr<CpuKernel>> kernels;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      kernels = std::move(spare_kernels_);
      spare_kernels_.clear();
    }
    Status error;
    if (kernels.empty() && !graph_->nodes.empty()) {
      Result<std::vector<std::unique_ptr<CpuKernel>>> made =
          create_kernels(*graph_, factories_, mapping_);
      if (made.ok()) {
        kernels = std::move(*made);
      } else {
        error = made.status();
      }
    }
    return std::make_unique<CpuExecutionContext>(graph_, schedule_, std::move(kernels),
                                                 std::move(error));
  }

 private:
  std::shared_ptr<const Graph> graph_;
  std::shared_ptr<const ExecutionSchedule> schedule_;
  std::vector<CpuKernelFactory> factories_;
  // May outlive the mapping when no constant borrows from it; harmless, as the graph's constants
  // were all allocated while it was mapped, so none can lie in its range unless borrowed.
  MappedFileRange mapping_;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<CpuKernel>> spare_kernels_;
};

}  // namespace

TensorInfo tensor_info_of(const Value& value) {
  TensorInfo info;
  info.name = value.name;
  info.dtype = value.dtype;
  if (value.has_shape) {
    for (const Dim& d : value.shape) info.dims.push_back(d.to_string());
  }
  return info;
}

Status check_cpu_kernels(const Graph& graph, const CpuKernelRegistry& registry) {
  VITRT_ASSIGN_OR_RETURN(std::vector<CpuKernelFactory> factories,
                         resolve_factories(graph, registry));
  return create_kernels(graph, factories, MappedFileRange()).status();
}

Result<std::shared_ptr<Engine>> create_cpu_engine(Graph graph, const CpuKernelRegistry& registry,
                                                  MappedFileRange mapping) {
  VITRT_RETURN_IF_ERROR(graph.validate());
  auto shared_graph = std::make_shared<const Graph>(std::move(graph));
  VITRT_ASSIGN_OR_RETURN(ExecutionSchedule schedule, make_execution_schedule(*shared_graph));
  VITRT_ASSIGN_OR_RETURN(std::vector<CpuKernelFactory> factories,
                         resolve_factories(*shared_graph, registry));
  VITRT_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<CpuKernel>> kernels,
                         create_kernels(*shared_graph, factories, mapping));
  return std::shared_ptr<Engine>(std::make_shared<CpuEngine>(
      shared_graph, std::make_shared<const ExecutionSchedule>(std::move(schedule)),
      std::move(factories), std::move(kernels), mapping));
}

Result<std::shared_ptr<Engine>> Engine::load_plan(const std::string& plan_path) {
  return load_plan(plan_path, 0);
}

int Engine::cuda_device_count() {
  const CudaBackendHooks* cuda = cuda_backend();
  return cuda != nullptr && cuda->device_count != nullptr ? cuda->device_count() : 0;
}

Result<std::shared_ptr<Engine>> Engine::load_plan(const std::string& plan_path, int device) {
  if (device < 0) return invalid_argument("device ", device, " is negative");
  VITRT_ASSIGN_OR_RETURN(LoadedPlan plan, read_plan_file(plan_path));
  std::vector<OptimizationProfile> profiles;
  auto stored = plan.metadata.build_options.find(kProfilesMetadataKey);
  if (stored != plan.metadata.build_options.end()) {
    Result<std::vector<OptimizationProfile>> parsed = parse_profiles(stored->second);
    if (!parsed.ok()) {
      return corrupt_plan("plan '", plan_path,
                          "': its optimization profiles do not parse: ", parsed.status().message());
    }
    profiles = std::move(*parsed);
  }
  Result<std::shared_ptr<Engine>> engine = unsupported("no engine");
  if (plan.metadata.device == "cuda") {
    const CudaBackendHooks* cuda = cuda_backend();
    if (cuda == nullptr) {
      return unsupported("plan '", plan_path,
                         "' was built for device 'cuda' but this vitrt has "
                         "no CUDA backend: rebuild the plan with --device cpu");
    }
    engine = cuda->create_engine(std::move(plan.graph), plan.metadata, device);
  } else if (plan.metadata.device == "cpu") {
    engine = create_cpu_engine(std::move(plan.graph), CpuKernelRegistry::global(),
                               MappedFileRange{plan.mapped_data, plan.mapped_bytes});
  } else {
    return unsupported("plan '", plan_path, "' was built for device '", plan.metadata.device,
                       "'; this vitrt runs plans built for 'cpu' and 'cuda'");
  }
  if (!engine.ok()) return engine.status().with_context(str_cat("plan '", plan_path, "'"));
  return engine_with_profiles(std::move(*engine), std::move(profiles));
}

Result<std::shared_ptr<Engine>> Engine::from_onnx(const std::string& onnx_path) {
  return from_onnx(onnx_path, BuildOptions());
}

Result<std::shared_ptr<Engine>> Engine::from_onnx(const std::string& onnx_path,
                                                  const BuildOptions& options) {
  VITRT_ASSIGN_OR_RETURN(Graph graph, import_and_prepare(onnx_path, options, nullptr));
  return create_cpu_engine(std::move(graph));
}

}  // namespace vitrt
