// cuDNN's SDPA_FWD operation through the backend (graph) API, loaded with dlopen: see
// cudnn_attention.h. One descriptor chain per problem: five tensors (Q, K, V, O and the scale,
// passed by value), the SDPA operation, an operation graph, the heuristic's engine
// configurations, and the first configuration that finalizes as an execution plan. Plans are
// cached per (stream, problem): a stream belongs to one execution context, so its cuDNN handle
// (bound to that stream) and plans are never used from two threads at once.
#include "cuda/cudnn_attention.h"

#include "cuda/cudnn_backend.h"

#include <atomic>
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

using cudnn::Desc;

constexpr const char* kWho = "cuDNN attention";

// The SDPA_FWD operation exists from cuDNN 9.13 on.
constexpr size_t kMinVersion = 91300;

const std::string& unavailable_reason() {
  static const std::string why = cudnn::unavailable_reason(kMinVersion, "fused attention");
  return why;
}

enum Uid : int64_t { kQ = 1, kK, kV, kO, kScale };

struct Plan {
  Desc plan{kWho};
  size_t workspace = 0;
};

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
// Plans per stream: a stream belongs to one execution context, so its plans are never used from
// two threads at once.
std::map<cudaStream_t, std::map<std::vector<int64_t>, std::unique_ptr<Plan> > >& streams() {
  static auto* s =
      new std::map<cudaStream_t, std::map<std::vector<int64_t>, std::unique_ptr<Plan> > >();
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
  using cudnn::make_tensor;
  using cudnn::TensorKind;
  const cudnnDataType_t type = p.type == Elt::kF16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
  const int64_t q_dims[4] = {p.batch, p.heads, p.sq, p.dh};
  const int64_t k_dims[4] = {p.batch, p.heads, p.sk, p.dh};
  const int64_t v_dims[4] = {p.batch, p.heads, p.sk, p.dv};
  const int64_t o_dims[4] = {p.batch, p.heads, p.sq, p.dv};
  const int64_t one[4] = {1, 1, 1, 1};
  Desc tq(kWho), tk(kWho), tv(kWho), to(kWho), tscale(kWho);
  VITRT_RETURN_IF_ERROR(make_tensor(tq, kQ, type, 4, q_dims, p.q_strides, TensorKind::kMemory));
  VITRT_RETURN_IF_ERROR(make_tensor(tk, kK, type, 4, k_dims, p.k_strides, TensorKind::kMemory));
  VITRT_RETURN_IF_ERROR(make_tensor(tv, kV, type, 4, v_dims, p.v_strides, TensorKind::kMemory));
  VITRT_RETURN_IF_ERROR(make_tensor(to, kO, type, 4, o_dims, p.o_strides, TensorKind::kMemory));
  VITRT_RETURN_IF_ERROR(
      make_tensor(tscale, kScale, CUDNN_DATA_FLOAT, 4, one, one, TensorKind::kByValue));
  Desc op(kWho);
  VITRT_RETURN_IF_ERROR(op.create(CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR));
  VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, tq));
  VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, tk));
  VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, tv));
  VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, to));
  VITRT_RETURN_IF_ERROR(op.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, tscale));
  VITRT_RETURN_IF_ERROR(op.finalize("the SDPA operation"));
  Desc graph(kWho);
  VITRT_RETURN_IF_ERROR(graph.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
  VITRT_RETURN_IF_ERROR(graph.set_desc(CUDNN_ATTR_OPERATIONGRAPH_OPS, op));
  VITRT_RETURN_IF_ERROR(graph.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle));
  VITRT_RETURN_IF_ERROR(graph.finalize("the operation graph"));
  VITRT_ASSIGN_OR_RETURN(std::vector<Desc> configs,
                         cudnn::heuristic_configs(graph, CUDNN_HEUR_MODE_A, 8));
  // The heuristic's order: on the H200 its first configuration was also the fastest of the
  // four it offers at every ViT and CLIP shape measured (the others 1.5-2x slower).
  Status last = unsupported("cuDNN attention: no engine configuration for this problem");
  for (const Desc& config : configs) {
    auto plan = std::make_unique<Plan>();
    last = cudnn::make_plan(plan->plan, config, handle, &plan->workspace);
    if (last.ok()) return plan;
  }
  return last;
}

}  // namespace

std::string cudnn_attention_unavailable() {
  return unavailable_reason();
}

Status cudnn_attention_prepare(const SdpaProblem& p, cudaStream_t stream, size_t* workspace_bytes) {
  if (!unavailable_reason().empty()) return unsupported("cuDNN attention: ", unavailable_reason());
  if (!cudnn_attention_supports(p)) {
    return unsupported("cuDNN attention: the problem's form is not covered");
  }
  VITRT_ASSIGN_OR_RETURN(cudnnHandle_t handle, cudnn::stream_handle(stream, kWho));
  std::lock_guard<std::mutex> lock(cache_mutex());
  auto& plans = streams()[stream];
  const std::vector<int64_t> key = key_of(p);
  auto it = plans.find(key);
  if (it == plans.end()) {
    VITRT_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, build_plan(p, handle));
    it = plans.emplace(key, std::move(plan)).first;
    ++plans_built;
  }
  *workspace_bytes = it->second->workspace;
  return Status::ok_status();
}

Status cudnn_attention_run(const SdpaProblem& p, const void* q, const void* k, const void* v,
                           void* out, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream) {
  if (!unavailable_reason().empty()) return unsupported("cuDNN attention: ", unavailable_reason());
  Plan* plan = nullptr;
  {
    std::lock_guard<std::mutex> lock(cache_mutex());
    auto s = streams().find(stream);
    if (s != streams().end()) {
      auto it = s->second.find(key_of(p));
      if (it != s->second.end()) plan = it->second.get();
    }
  }
  if (plan == nullptr) return internal_error("cuDNN attention: the problem was not prepared");
  if (plan->workspace > workspace_bytes) {
    return unsupported("cuDNN attention: needs ", plan->workspace, " bytes of workspace, has ",
                       workspace_bytes);
  }
  VITRT_ASSIGN_OR_RETURN(cudnnHandle_t handle, cudnn::stream_handle(stream, kWho));
  float scale = p.scale;  // by value: read by the execute call (and baked into a capture)
  void* ptrs[5] = {const_cast<void*>(q), const_cast<void*>(k), const_cast<void*>(v), out, &scale};
  const int64_t uids[5] = {kQ, kK, kV, kO, kScale};
  return cudnn::execute(plan->plan, handle, 5, uids, ptrs, workspace);
}

#endif  // VITRT_HAVE_CUDNN

}  // namespace vitrt::cuda
