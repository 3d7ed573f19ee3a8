// The CUDA backend hook (see device_backends.h).
#include "runtime/device_backends.h"

namespace vitrt {
namespace {

CudaBackendHooks& hooks_storage() {
  static CudaBackendHooks hooks;
  return hooks;
}

}  // namespace

void set_cuda_backend(const CudaBackendHooks& hooks) {
  hooks_storage() = hooks;
}

const CudaBackendHooks* cuda_backend() {
  const CudaBackendHooks& h = hooks_storage();
  return h.create_engine != nullptr ? &h : nullptr;
}

}  // namespace vitrt
