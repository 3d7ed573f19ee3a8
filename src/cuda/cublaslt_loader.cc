// cuBLASLt, loaded on first use instead of when the program starts.
//
// Linking libcublasLt.so makes every vitrt process pay for it at start-up: its initialisers
// leave about 150 MB resident (measured: a program that only links it has 153 MB RSS, against
// 1 MB without), even when the process runs CPU plans only. So vitrt does not link it: this
// file defines the cuBLASLt entry points the CUDA backend calls, each forwarding to the real
// function, which the first call looks up with dlopen/dlsym. Without the library, every entry
// point fails with CUBLAS_STATUS_NOT_INITIALIZED (the callers turn that into an error that
// names cuBLASLt) and cublasLtGetStatusString says why.
#include <cublasLt.h>
#include <dlfcn.h>

#include <string>

namespace {

struct Library {
  void* handle = nullptr;
  std::string error;
};

const Library& library() {
  static const Library lib = [] {
    Library l;
    // The soname of the CUDA 13 toolkit vitrt is built with; the plain name as a fallback.
    for (const char* name : {"libcublasLt.so.13", "libcublasLt.so"}) {
      l.handle = ::dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (l.handle != nullptr) return l;
      const char* e = ::dlerror();
      l.error = e != nullptr ? e : "dlopen failed";
    }
    return l;
  }();
  return lib;
}

// The real function `name`, or nullptr when the library or the symbol is missing.
template <typename F>
F real(const char* name) {
  const Library& lib = library();
  if (lib.handle == nullptr) return nullptr;
  return reinterpret_cast<F>(::dlsym(lib.handle, name));
}

}  // namespace

#define VITRT_CUBLASLT_FORWARD(name, ...)                \
  static const auto fn = real<decltype(&::name)>(#name); \
  return fn != nullptr ? fn(__VA_ARGS__) : CUBLAS_STATUS_NOT_INITIALIZED

extern "C" {

cublasStatus_t CUBLASWINAPI cublasLtCreate(cublasLtHandle_t* handle) {
  VITRT_CUBLASLT_FORWARD(cublasLtCreate, handle);
}

cublasStatus_t CUBLASWINAPI cublasLtDestroy(cublasLtHandle_t handle) {
  VITRT_CUBLASLT_FORWARD(cublasLtDestroy, handle);
}

size_t CUBLASWINAPI cublasLtGetVersion(void) {
  static const auto fn = real<decltype(&::cublasLtGetVersion)>("cublasLtGetVersion");
  return fn != nullptr ? fn() : 0;
}

const char* CUBLASWINAPI cublasLtGetStatusString(cublasStatus_t status) {
  static const auto fn = real<decltype(&::cublasLtGetStatusString)>("cublasLtGetStatusString");
  if (fn != nullptr) return fn(status);
  static const std::string message = "cuBLASLt could not be loaded: " + library().error;
  return message.c_str();
}

const char* CUBLASWINAPI cublasLtGetStatusName(cublasStatus_t status) {
  static const auto fn = real<decltype(&::cublasLtGetStatusName)>("cublasLtGetStatusName");
  return fn != nullptr ? fn(status) : "CUBLAS_STATUS_NOT_INITIALIZED (libcublasLt not loaded)";
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* desc,
                                                     cublasComputeType_t compute_type,
                                                     cudaDataType_t scale_type) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulDescCreate, desc, compute_type, scale_type);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulDescDestroy, desc);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                                                           cublasLtMatmulDescAttributes_t attr,
                                                           const void* buf, size_t size) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulDescSetAttribute, desc, attr, buf, size);
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* layout,
                                                       cudaDataType type, uint64_t rows,
                                                       uint64_t cols, int64_t ld) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatrixLayoutCreate, layout, type, rows, cols, ld);
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatrixLayoutDestroy, layout);
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout,
                                                             cublasLtMatrixLayoutAttribute_t attr,
                                                             const void* buf, size_t size) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatrixLayoutSetAttribute, layout, attr, buf, size);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* pref) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulPreferenceCreate, pref);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulPreferenceDestroy, pref);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulPreferenceSetAttribute(
    cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr, const void* buf,
    size_t size) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulPreferenceSetAttribute, pref, attr, buf, size);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t handle, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
    cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
    cublasLtMatmulPreference_t pref, int requested, cublasLtMatmulHeuristicResult_t results[],
    int* returned) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulAlgoGetHeuristic, handle, op, a, b, c, d, pref, requested,
                         results, returned);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoCheck(
    cublasLtHandle_t handle, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
    cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
    const cublasLtMatmulAlgo_t* algo, cublasLtMatmulHeuristicResult_t* result) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulAlgoCheck, handle, op, a, b, c, d, algo, result);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulDescGetAttribute(cublasLtMatmulDesc_t desc,
                                                           cublasLtMatmulDescAttributes_t attr,
                                                           void* buf, size_t size,
                                                           size_t* written) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulDescGetAttribute, desc, attr, buf, size, written);
}

cublasStatus_t CUBLASWINAPI cublasLtMatrixLayoutGetAttribute(cublasLtMatrixLayout_t layout,
                                                             cublasLtMatrixLayoutAttribute_t attr,
                                                             void* buf, size_t size,
                                                             size_t* written) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatrixLayoutGetAttribute, layout, attr, buf, size, written);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoGetIds(
    cublasLtHandle_t handle, cublasComputeType_t compute, cudaDataType_t scale, cudaDataType_t a,
    cudaDataType_t b, cudaDataType_t c, cudaDataType_t d, int requested, int ids[], int* returned) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulAlgoGetIds, handle, compute, scale, a, b, c, d, requested,
                         ids, returned);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoInit(
    cublasLtHandle_t handle, cublasComputeType_t compute, cudaDataType_t scale, cudaDataType_t a,
    cudaDataType_t b, cudaDataType_t c, cudaDataType_t d, int id, cublasLtMatmulAlgo_t* algo) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulAlgoInit, handle, compute, scale, a, b, c, d, id, algo);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoCapGetAttribute(
    const cublasLtMatmulAlgo_t* algo, cublasLtMatmulAlgoCapAttributes_t attr, void* buf,
    size_t size, size_t* written) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulAlgoCapGetAttribute, algo, attr, buf, size, written);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoConfigSetAttribute(
    cublasLtMatmulAlgo_t* algo, cublasLtMatmulAlgoConfigAttributes_t attr, const void* buf,
    size_t size) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulAlgoConfigSetAttribute, algo, attr, buf, size);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmulAlgoConfigGetAttribute(
    const cublasLtMatmulAlgo_t* algo, cublasLtMatmulAlgoConfigAttributes_t attr, void* buf,
    size_t size, size_t* written) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmulAlgoConfigGetAttribute, algo, attr, buf, size, written);
}

cublasStatus_t CUBLASWINAPI cublasLtMatmul(cublasLtHandle_t handle, cublasLtMatmulDesc_t op,
                                           const void* alpha, const void* a,
                                           cublasLtMatrixLayout_t a_desc, const void* b,
                                           cublasLtMatrixLayout_t b_desc, const void* beta,
                                           const void* c, cublasLtMatrixLayout_t c_desc, void* d,
                                           cublasLtMatrixLayout_t d_desc,
                                           const cublasLtMatmulAlgo_t* algo, void* workspace,
                                           size_t workspace_bytes, cudaStream_t stream) {
  VITRT_CUBLASLT_FORWARD(cublasLtMatmul, handle, op, alpha, a, a_desc, b, b_desc, beta, c, c_desc,
                         d, d_desc, algo, workspace, workspace_bytes, stream);
}

}  // extern "C"
