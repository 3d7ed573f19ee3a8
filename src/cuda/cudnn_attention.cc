// cuDNN's SDPA_FWD operation through the backend (graph) API, loaded with dlopen: see
// cudnn_attention.h. One descriptor chain per problem: five tensors (Q, K, V, O and the scale,
// passed by value), the SDPA operation, an operation graph, the heuristic's engine
// configurations, and the first configuration that finalizes as an execution plan. Plans are
// cached per (stream, problem): a stream belongs to one execution context, so its cuDNN handle
// (bound to that stream) and plans are never used from two threads at once.
#include "cuda/cudnn_attention.h"

#if VITRT_HAVE_CUDNN
#include <cudnn_graph.h>
#include <dlfcn.h>
#endif

#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

namespace vitrt::cuda {

bool cudnn_attention_supports(const SdpaProblem& p) {
  if (p.type != Elt::kF16 && p.type != Elt::kBF16) return false;
  if (p.dh != p.dv || p.dh % 8 != 0 || p.dh > 128 || p.dh < 8) return false;
  if (!(p.scale > 0.0f) || p.batch < 1 || p.heads < 1 || p.sq < 1 || p.sk < 1) return false;
  for (const int64_t* s : {p.q_strides, p.k_strides, p.v_strides, p.o_strides}) {
    if (s[3] != 1) return false;
    for (int i = 0; i < 3; ++i) {
      if (s[i] % 8 != 0) return false;
    }
  }
  return true;
}

namespace {
std::atomic<size_t> plans_built{0};
}  // namespace

size_t cudnn_attention_plans_built() {
  return plans_built.load();
}

#if !VITRT_HAVE_CUDNN

std::string cudnn_attention_unavailable() {
  return "vitrt was built without cuDNN's headers (cudnn_graph.h)";
}
Status cudnn_attention_prepare(const SdpaProblem&, cudaStream_t, size_t*) {
  return unsupported("cuDNN attention: ", cudnn_attention_unavailable());
}
Status cudnn_attention_run(const SdpaProblem&, const void*, const void*, const void*, void*, void*,
                           size_t, cudaStream_t) {
  return unsupported("cuDNN attention: ", cudnn_attention_unavailable());
}

#else

namespace {

// The SDPA_FWD operation exists from cuDNN 9.13 on.
constexpr size_t kMinVersion = 91300;

struct Api {
  void* lib = nullptr;
  std::string error;  // why it is unusable, "" when usable
  decltype(&::cudnnGetVersion) get_version = nullptr;
  decltype(&::cudnnCreate) create = nullptr;
  decltype(&::cudnnSetStream) set_stream = nullptr;
  decltype(&::cudnnGetErrorString) error_string = nullptr;
  decltype(&::cudnnGetLastErrorString) last_error = nullptr;
  decltype(&::cudnnBackendCreateDescriptor) create_desc = nullptr;
  decltype(&::cudnnBackendDestroyDescriptor) destroy_desc = nullptr;
  decltype(&::cudnnBackendSetAttribute) set_attr = nullptr;
  decltype(&::cudnnBackendGetAttribute) get_attr = nullptr;
  decltype(&::cudnnBackendFinalize) finalize = nullptr;
  decltype(&::cudnnBackendExecute) execute = nullptr;
};

template <typename F>
bool bind(void* lib, const char* name, F* f) {
  *f = reinterpret_cast<F>(::dlsym(lib, name));
  return *f != nullptr;
}

const Api& api() {
  static const Api a = [] {
    Api x;
    const char* env = std::getenv("VITRT_CUDNN_LIBRARY");
    const std::string name = env != nullptr && *env != '\0' ? env : "libcudnn.so.9";
    x.lib = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (x.lib == nullptr) {
      const char* e = ::dlerror();
      x.error = str_cat("cannot load ", name, " (", e != nullptr ? e : "dlopen failed",
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
      x.error = str_cat(name, " lacks the backend API's entry points");
      return x;
    }
    const size_t version = x.get_version();
    if (version < kMinVersion) {
      x.error = str_cat(name, " is cuDNN ", version, "; fused attention needs ", kMinVersion,
                        " (9.13) or newer");
    }
    return x;
  }();
  return a;
}

// A failed cuDNN call as a Status with cuDNN's own last message.
Status check(cudnnStatus_t s, const char* what) {
  if (s == CUDNN_STATUS_SUCCESS) return Status::ok_status();
  char detail[512] = {0};
  api().last_error(detail, sizeof(detail));
  return unsupported("cuDNN attention: ", what, ": ", api().error_string(s),
                     detail[0] != '\0' ? str_cat(" (", detail, ")") : std::string());
}
#define VITRT_CUDNN(expr, what) VITRT_RETURN_IF_ERROR(check((expr), (what)))

// Owns one backend descriptor.
class Desc {
 public:
  Desc() = default;
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  ~Desc() {
    if (d_ != nullptr) api().destroy_desc(d_);
  }
  Status create(cudnnBackendDescriptorType_t type) {
    return check(api().create_desc(type, &d_), "creating a descriptor");
  }
  template <typename T>
  Status set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
             const T* values) {
    return check(api().set_attr(d_, name, type, count, values), "setting an attribute");
  }
  Status finalize(const char* what) { return check(api().finalize(d_), what); }
  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnBackendDescriptor_t* ptr() { return &d_; }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

enum Uid : int64_t { kQ = 1, kK, kV, kO, kScale };

Status make_tensor(Desc& t, int64_t uid, cudnnDataType_t type, const int64_t* dims,
                   const int64_t* strides, bool by_value) {
  VITRT_RETURN_IF_ERROR(t.create(CUDNN_BACKEND_TENSOR_DESCRIPTOR));
  const int64_t align = 16;
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type));
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims));
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides));
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid));
  VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align));
  if (by_value) {
    const bool yes = true;
    VITRT_RETURN_IF_ERROR(t.set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes));
  }
  return t.finalize("finalizing a tensor descriptor");
}

struct Plan {
  Desc plan;
  size_t workspace = 0;
};

struct StreamState {
  cudnnHandle_t handle = nullptr;
  std::map<std::vector<int64_t>, std::unique_ptr<Plan> > plans;
};

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
// Handles are not destroyed: a stream's handle lives as long as the process, like cuBLASLt's
// library state (a handle costs a few hundred KB; processes create few streams).
std::map<cudaStream_t, StreamState>& streams() {
  static auto* s = new std::map<cudaStream_t, StreamState>();
  return *s;
}

std::vector<int64_t> key_of(const SdpaProblem& p) {
  std::vector<int64_t> k = {static_cast<int64_t>(p.type), p.batch, p.heads, p.sq, p.sk, p.dh, p.dv};
  for (const int64_t* s : {p.q_strides, p.k_strides, p.v_strides, p.o_strides}) {
    k.insert(k.end(), s, s + 4);
  }
  int32_t bits = 0;
  static_assert(sizeof(bits) == sizeof(p.scale));
  __builtin_memcpy(&bits, &p.scale, sizeof(bits));
  k.push_back(bits);
  return k;
}

Result<std::unique_ptr<Plan> > build_plan(const SdpaProblem& p, cudnnHandle_t handle) {
  const cudnnDataType_t type = p.type == Elt::kF16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
  const int64_t q_dims[4] = {p.batch, p.heads, p.sq, p.dh};
  const int64_t k_dims[4] = {p.batch, p.heads, p.sk, p.dh};
  const int64_t v_dims[4] = {p.batch, p.heads, p.sk, p.dv};
  const int64_t o_dims[4] = {p.batch, p.heads, p.sq, p.dv};
  const int64_t one[4] = {1, 1, 1, 1};
  Desc tq, tk, tv, to, tscale;
  VITRT_RETURN_IF_ERROR(make_tensor(tq, kQ, type, q_dims, p.q_strides, false));
  VITRT_RETURN_IF_ERROR(make_tensor(tk, kK, type, k_dims, p.k_strides, false));
  VITRT_RETURN_IF_ERROR(make_tensor(tv, kV, type, v_dims, p.v_strides, false));
  VITRT_RETURN_IF_ERROR(make_tensor(to, kO, type, o_dims, p.o_strides, false));
  VITRT_RETURN_IF_ERROR(make_tensor(tscale, kScale, CUDNN_DATA_FLOAT, one, one, true));
  Desc op;
  VITRT_RETURN_IF_ERROR(op.create(CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR));
  const auto set_desc = [&](cudnnBackendAttributeName_t name, const Desc& d) {
    const cudnnBackendDescriptor_t v = d.get();
    return op.set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
  };
  VITRT_RETURN_IF_ERROR(set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, tq));
  VITRT_RETURN_IF_ERROR(set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, tk));
  VITRT_RETURN_IF_ERROR(set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, tv));
  VITRT_RETURN_IF_ERROR(set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, to));
  VITRT_RETURN_IF_ERROR(set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, tscale));
  VITRT_RETURN_IF_ERROR(op.finalize("the SDPA operation"));
  Desc graph;
  VITRT_RETURN_IF_ERROR(graph.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
  const cudnnBackendDescriptor_t ops = op.get();
  VITRT_RETURN_IF_ERROR(
      graph.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &ops));
  VITRT_RETURN_IF_ERROR(graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle));
  VITRT_RETURN_IF_ERROR(graph.finalize("the operation graph"));
  Desc heur;
  VITRT_RETURN_IF_ERROR(heur.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR));
  const cudnnBackendDescriptor_t g = graph.get();
  VITRT_RETURN_IF_ERROR(
      heur.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g));
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  VITRT_RETURN_IF_ERROR(heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode));
  VITRT_RETURN_IF_ERROR(heur.finalize("the engine heuristic"));
  constexpr int kConfigs = 8;
  Desc configs[kConfigs];
  std::vector<cudnnBackendDescriptor_t> raw(kConfigs);
  for (int i = 0; i < kConfigs; ++i) {
    VITRT_RETURN_IF_ERROR(configs[i].create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw[i] = configs[i].get();
  }
  int64_t count = 0;
  VITRT_CUDNN(api().get_attr(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                             CUDNN_TYPE_BACKEND_DESCRIPTOR, kConfigs, &count, raw.data()),
              "reading the heuristic's engine configurations");
  // The heuristic's order: on the H200 its first configuration was also the fastest of the
  // four it offers at every ViT and CLIP shape measured (the others 1.5-2x slower).
  Status last = unsupported("cuDNN attention: no engine configuration for this problem");
  for (int64_t i = 0; i < count && i < kConfigs; ++i) {
    auto plan = std::make_unique<Plan>();
    VITRT_RETURN_IF_ERROR(plan->plan.create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR));
    VITRT_RETURN_IF_ERROR(
        plan->plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle));
    const cudnnBackendDescriptor_t cfg = raw[static_cast<size_t>(i)];
    VITRT_RETURN_IF_ERROR(plan->plan.set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                         CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg));
    last = plan->plan.finalize("finalizing an execution plan");
    if (!last.ok()) continue;
    int64_t ws = 0, got = 0;
    VITRT_CUDNN(api().get_attr(plan->plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                               CUDNN_TYPE_INT64, 1, &got, &ws),
                "reading the workspace size");
    plan->workspace = static_cast<size_t>(ws);
    return plan;
  }
  return last;
}

// The stream's state (handle created on first use); the caller holds cache_mutex().
Result<StreamState*> stream_state(cudaStream_t stream) {
  StreamState& s = streams()[stream];
  if (s.handle == nullptr) {
    VITRT_CUDNN(api().create(&s.handle), "creating a handle");
    VITRT_CUDNN(api().set_stream(s.handle, stream), "binding the handle to the stream");
  }
  return &s;
}

}  // namespace

std::string cudnn_attention_unavailable() {
  return api().error;
}

Status cudnn_attention_prepare(const SdpaProblem& p, cudaStream_t stream, size_t* workspace_bytes) {
  if (!api().error.empty()) return unsupported("cuDNN attention: ", api().error);
  if (!cudnn_attention_supports(p)) {
    return unsupported("cuDNN attention: the problem's form is not covered");
  }
  std::lock_guard<std::mutex> lock(cache_mutex());
  VITRT_ASSIGN_OR_RETURN(StreamState * s, stream_state(stream));
  const std::vector<int64_t> key = key_of(p);
  auto it = s->plans.find(key);
  if (it == s->plans.end()) {
    VITRT_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, build_plan(p, s->handle));
    it = s->plans.emplace(key, std::move(plan)).first;
    ++plans_built;
  }
  *workspace_bytes = it->second->workspace;
  return Status::ok_status();
}

Status cudnn_attention_run(const SdpaProblem& p, const void* q, const void* k, const void* v,
                           void* out, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream) {
  if (!api().error.empty()) return unsupported("cuDNN attention: ", api().error);
  Plan* plan = nullptr;
  cudnnHandle_t handle = nullptr;
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    auto s = streams().find(stream);
    if (s != streams().end()) {
      auto it = s->second.plans.find(key_of(p));
      if (it != s->second.plans.end()) plan = it->second.get();
      handle = s->second.handle;
    }
  }
  if (plan == nullptr) return internal_error("cuDNN attention: the problem was not prepared");
  if (plan->workspace > workspace_bytes) {
    return unsupported("cuDNN attention: needs ", plan->workspace, " bytes of workspace, has ",
                       workspace_bytes);
  }
  float scale = p.scale;  // by value: read by the execute call (and baked into a capture)
  void* ptrs[5] = {const_cast<void*>(q), const_cast<void*>(k), const_cast<void*>(v), out, &scale};
  const int64_t uids[5] = {kQ, kK, kV, kO, kScale};
  Desc pack;
  VITRT_RETURN_IF_ERROR(pack.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR));
  VITRT_RETURN_IF_ERROR(
      pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 5, ptrs));
  VITRT_RETURN_IF_ERROR(pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 5, uids));
  VITRT_RETURN_IF_ERROR(
      pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace));
  VITRT_RETURN_IF_ERROR(pack.finalize("finalizing the variant pack"));
  return check(api().execute(handle, plan->plan.get(), pack.get()), "executing");
}

#endif  // VITRT_HAVE_CUDNN

}  // namespace vitrt::cuda
