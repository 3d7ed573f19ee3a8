// Switches read from the environment once, for comparing a kernel's forms on a GPU (README:
// VITRT_PATCHIFY_PIECES, VITRT_LN_HALF2_CODES, VITRT_ATTN_DEAD_WARPS). Header-only, so that
// src/cuda/cutlass/ (built apart) and the rest of src/cuda/ read them alike.
#pragma once

#include <cstdlib>

namespace vitrt::cuda {

// Whether the switch `name` is on: unset, or set to a nonzero number (0, or text that is no
// number, turns it off). Callers keep the answer in a function-local static.
inline bool env_switch_on(const char* name) {
  const char* e = std::getenv(name);
  return e == nullptr || std::atoi(e) != 0;
}

}  // namespace vitrt::cuda
