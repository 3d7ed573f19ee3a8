// cuDNN's backend (graph) API loaded at run time with dlopen, like cuBLASLt, for vitrt's cuDNN
// users (cudnn_attention.cc, cudnn_conv.cc): the library's entry points and version, a
// descriptor owner, tensor descriptors, the heuristic's engine configurations, execution plans
// and one handle per stream. The loader records the version; each user checks its own minimum.
// Only built where cuDNN's headers are (VITRT_HAVE_CUDNN); nothing here is public.
#pragma once

#if VITRT_HAVE_CUDNN

#include <cuda_runtime.h>
#include <cudnn_graph.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::cuda::cudnn {

struct Api {
  void* lib = nullptr;
  std::string name;    // the library searched: $VITRT_CUDNN_LIBRARY or libcudnn.so.9
  std::string error;   // why it cannot be used at all, "" when loaded
  size_t version = 0;  // cudnnGetVersion(): 91300 for 9.13.0
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

// The library, loaded on first use (thread-safe); check error before calling through it.
const Api& api();

// Why `feature` cannot use the library ("" when it can): api().error, or a version below
// `min_version` ("libcudnn.so.9 is cuDNN 91200; fused attention needs 91300 (9.13) or newer").
std::string unavailable_reason(size_t min_version, const char* feature);

// A failed cuDNN call as a Status: "<who>: <what>: <cuDNN's status> (<cuDNN's last message>)".
Status check(cudnnStatus_t s, const char* who, const char* what);

// Owns one backend descriptor; `who` ("cuDNN attention") starts the messages of its errors.
class Desc {
 public:
  explicit Desc(const char* who) : who_(who) {}
  Desc(Desc&& other) noexcept : who_(other.who_), d_(std::exchange(other.d_, nullptr)) {}
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  Desc& operator=(Desc&&) = delete;
  ~Desc();

  Status create(cudnnBackendDescriptorType_t type);
  template <typename T>
  Status set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
             const T* values) {
    return check(api().set_attr(d_, name, type, count, values), who_, "setting an attribute");
  }
  // Sets a descriptor-valued attribute to `value`.
  Status set_desc(cudnnBackendAttributeName_t name, const Desc& value) {
    const cudnnBackendDescriptor_t v = value.get();
    return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
  }
  Status finalize(const char* what) { return check(api().finalize(d_), who_, what); }
  cudnnBackendDescriptor_t get() const { return d_; }
  const char* who() const { return who_; }

 private:
  const char* who_;
  cudnnBackendDescriptor_t d_ = nullptr;
};

// How a tensor of an operation graph is bound: to device memory through the variant pack, to
// a host value read at execution (a scalar such as attention's scale), or not at all (an
// intermediate between two operations of one graph that never reaches memory).
enum class TensorKind { kMemory, kByValue, kVirtual };

// Creates and finalizes a tensor descriptor of `rank` dims; kMemory tensors promise 16-byte
// aligned pointers.
Status make_tensor(Desc& t, int64_t uid, cudnnDataType_t type, int rank, const int64_t* dims,
                   const int64_t* strides, TensorKind kind);

// The finalized operation graph's engine configurations in the heuristic's order, at most
// `max_count` of them.
Result<std::vector<Desc>> heuristic_configs(const Desc& graph, cudnnBackendHeurMode_t mode,
                                            int max_count);

// A configuration's engine: its index in cuDNN's global engine list and its numerical notes
// (CUDNN_NUMERICAL_NOTE_TENSOR_CORE, ...).
struct EngineInfo {
  int64_t global_index = -1;
  std::vector<cudnnBackendNumericalNote_t> notes;
};
Result<EngineInfo> engine_info(const Desc& config);

// A note's name for logs ("tensor_core", "winograd", ...).
const char* note_name(cudnnBackendNumericalNote_t note);

// Finalizes `plan` (created here) as the execution plan of `config` on `handle`, and reads its
// workspace need. The error is the finalize's (engines that do not take the graph fail there).
Status make_plan(Desc& plan, const Desc& config, cudnnHandle_t handle, size_t* workspace_bytes);

// Runs a finalized plan with the variant pack of `count` tensors (uids[i] bound to ptrs[i]).
Status execute(const Desc& plan, cudnnHandle_t handle, int count, const int64_t* uids,
               void* const* ptrs, void* workspace);

// The handle bound to `stream`, created on first use. Handles are not destroyed: a stream's
// handle lives as long as the process, like cuBLASLt's library state (a handle costs a few
// hundred KB; processes create few streams).
Result<cudnnHandle_t> stream_handle(cudaStream_t stream, const char* who);

}  // namespace vitrt::cuda::cudnn

#endif  // VITRT_HAVE_CUDNN
