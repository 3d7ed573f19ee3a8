// The shared cuDNN loader and backend-API helpers: see cudnn_backend.h.
#include "cuda/cudnn_backend.h"

#if VITRT_HAVE_CUDNN

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

namespace vitrt::cuda::cudnn {

namespace {

template <typename F>
bool bind(void* lib, const char* name, F* f) {
  *f = reinterpret_cast<F>(::dlsym(lib, name));
  return *f != nullptr;
}

}  // namespace

const Api& api() {
  static const Api a = [] {
    Api x;
    const char* env = std::getenv("VITRT_CUDNN_LIBRARY");
    x.name = env != nullptr && *env != '\0' ? env : "libcudnn.so.9";
    x.lib = ::dlopen(x.name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (x.lib == nullptr) {
      const char* e = ::dlerror();
      x.error = str_cat("cannot load ", x.name, " (", e != nullptr ? e : "dlopen failed",
                        "); set VITRT_CUDNN_LIBRARY or LD_LIBRARY_PATH");
      return x;
    }
    const bool bound = bind(x.lib, "cudnnGetVersion", &x.get_version) &&
                       bind(x.lib, "cudnnCreate", &x.create) &&
                       bind(x.lib, "cudnnSetStream", &x.set_stream) &&
                       bind(x.lib, "cudnnGetErrorString", &x.error_string) &&
                       bind(x.lib, "cudnnGetLastErrorString", &x.last_error) &&
                       bind(x.lib, "cudnnBackendCreateDescriptor", &x.create_desc) &&
                       bind(x.lib, "cudnnBackendDestroyDescriptor", &x.destroy_desc) &&
                       bind(x.lib, "cudnnBackendSetAttribute", &x.set_attr) &&
                       bind(x.lib, "cudnnBackendGetAttribute", &x.get_attr) &&
                       bind(x.lib, "cudnnBackendFinalize", &x.finalize) &&
                       bind(x.lib, "cudnnBackendExecute", &x.execute);
    if (!bound) {
      x.error = str_cat(x.name, " lacks the backend API's entry points");
      return x;
    }
    x.version = x.get_version();
    return x;
  }();
  return a;
}

std::string unavailable_reason(size_t min_version, const char* feature) {
  const Api& a = api();
  if (!a.error.empty()) return a.error;
  if (a.version < min_version) {
    return str_cat(a.name, " is cuDNN ", a.version, "; ", feature, " needs ", min_version, " (",
                   min_version / 10000, ".", min_version / 100 % 100, ") or newer");
  }
  return std::string();
}

Status check(cudnnStatus_t s, const char* who, const char* what) {
  if (s == CUDNN_STATUS_SUCCESS) return Status::ok_status();
  char detail[512] = {0};
  api().last_error(detail, sizeof(detail));
  return unsupported(who, ": ", what, ": ", api().error_string(s),
                     detail[0] != '\0' ? str_cat(" (", detail, ")") : std::string());
}

Desc::~Desc() {
  if (d_ != nullptr) api().destroy_desc(d_);
}

Status Desc::create(cudnnBackendDescriptorType_t type) {
  return check(api().create_desc(type, &d_), who_, "creating a descriptor");
}

Status make_tensor(Desc& t, int64_t uid, cudnnDataType_t type, int rank, const int64_t* dims,
                   const int64_t* strides, TensorKind kind) {
  VITRT_RETURN_IF_ERROR(t.create(CUDNN_BACKEND_TENSOR_DESCRIPTOR));
  const int64_t align = 16;
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type));
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, rank, dims));
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, rank, strides));
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
  const bool yes = true;
  if (kind == TensorKind::kByValue) {
    VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes));
  } else if (kind == TensorKind::kVirtual) {
    VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes));
  }
  return t.finalize("finalizing a tensor descriptor");
}

Result<std::vector<Desc>> heuristic_configs(const Desc& graph, cudnnBackendHeurMode_t mode,
                                            int max_count) {
  const char* who = graph.who();
  Desc heur(who);
  VITRT_RETURN_IF_ERROR(heur.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR));
  VITRT_RETURN_IF_ERROR(heur.set_desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph));
  VITRT_RETURN_IF_ERROR(heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode));
  VITRT_RETURN_IF_ERROR(heur.finalize("the engine heuristic"));
  std::vector<Desc> configs;
  configs.reserve(static_cast<size_t>(max_count));
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int i = 0; i < max_count; ++i) {
    VITRT_RETURN_IF_ERROR(configs.emplace_back(who).create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw.push_back(configs.back().get());
  }
  int64_t count = 0;
  VITRT_RETURN_IF_ERROR(
      check(api().get_attr(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                           max_count, &count, raw.data()),
            who, "reading the heuristic's engine configurations"));
  // The descriptors past `count` were not filled: drop them.
  while (static_cast<int64_t>(configs.size()) > count) configs.pop_back();
  return configs;
}

Result<EngineInfo> engine_info(const Desc& config) {
  const char* who = config.who();
  Desc engine(who);
  VITRT_RETURN_IF_ERROR(engine.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
  cudnnBackendDescriptor_t e = engine.get();
  int64_t got = 0;
  VITRT_RETURN_IF_ERROR(check(api().get_attr(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE,
                                             CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &e),
                              who, "reading a configuration's engine"));
  EngineInfo info;
  VITRT_RETURN_IF_ERROR(check(api().get_attr(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                             &got, &info.global_index),
                              who, "reading an engine's index"));
  info.notes.resize(CUDNN_NUMERICAL_NOTE_TYPE_COUNT);
  int64_t count = 0;
  VITRT_RETURN_IF_ERROR(
      check(api().get_attr(e, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                           static_cast<int64_t>(info.notes.size()), &count, info.notes.data()),
            who, "reading an engine's numerical notes"));
  info.notes.resize(static_cast<size_t>(std::min<int64_t>(count, CUDNN_NUMERICAL_NOTE_TYPE_COUNT)));
  return info;
}

const char* note_name(cudnnBackendNumericalNote_t note) {
  switch (note) {
    case CUDNN_NUMERICAL_NOTE_TENSOR_CORE:
      return "tensor_core";
    case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
      return "down_convert_inputs";
    case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
      return "reduced_precision_reduction";
    case CUDNN_NUMERICAL_NOTE_FFT:
      return "fft";
    case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC:
      return "nondeterministic";
    case CUDNN_NUMERICAL_NOTE_WINOGRAD:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6:
    case CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13:
      return "winograd";
    default:
      return "other";
  }
}

Status make_plan(Desc& plan, const Desc& config, cudnnHandle_t handle, size_t* workspace_bytes) {
  VITRT_RETURN_IF_ERROR(plan.create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR));
  VITRT_RETURN_IF_ERROR(plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle));
  VITRT_RETURN_IF_ERROR(plan.set_desc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, config));
  VITRT_RETURN_IF_ERROR(plan.finalize("finalizing an execution plan"));
  int64_t ws = 0, got = 0;
  VITRT_RETURN_IF_ERROR(check(api().get_attr(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                             CUDNN_TYPE_INT64, 1, &got, &ws),
                              plan.who(), "reading the workspace size"));
  *workspace_bytes = static_cast<size_t>(ws);
  return Status::ok_status();
}

Status execute(const Desc& plan, cudnnHandle_t handle, int count, const int64_t* uids,
               void* const* ptrs, void* workspace) {
  Desc pack(plan.who());
  VITRT_RETURN_IF_ERROR(pack.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR));
  VITRT_RETURN_IF_ERROR(
      pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, count, ptrs));
  VITRT_RETURN_IF_ERROR(
      pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, count, uids));
  VITRT_RETURN_IF_ERROR(
      pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace));
  VITRT_RETURN_IF_ERROR(pack.finalize("finalizing the variant pack"));
  return check(api().execute(handle, plan.get(), pack.get()), plan.who(), "executing");
}

Result<cudnnHandle_t> stream_handle(cudaStream_t stream, const char* who) {
  static std::mutex m;
  static auto* handles = new std::map<cudaStream_t, cudnnHandle_t>();
  std::lock_guard<std::mutex> lock(m);
  cudnnHandle_t& h = (*handles)[stream];
  if (h == nullptr) {
    cudnnHandle_t created = nullptr;
    VITRT_RETURN_IF_ERROR(check(api().create(&created), who, "creating a handle"));
    VITRT_RETURN_IF_ERROR(
        check(api().set_stream(created, stream), who, "binding the handle to the stream"));
    h = created;
  }
  return h;
}

}  // namespace vitrt::cuda::cudnn

#endif  // VITRT_HAVE_CUDNN
