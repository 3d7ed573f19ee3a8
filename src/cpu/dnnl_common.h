// The oneDNN objects every CPU kernel that calls oneDNN shares (src/cpu/dnnl_matmul.cc defines
// them): one engine, one stream per calling thread, and per-thread scratch buffers.
#pragma once

#include <cstddef>
#include <tuple>

#include "cpu/dnnl_matmul.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace vitrt {

dnnl::engine& dnnl_cpu_engine();

// oneDNN streams are cheap but not free to create; one per calling thread suffices (a CPU
// stream only orders the primitives submitted through it).
dnnl::stream& dnnl_thread_stream();

// Scratch memory is user-managed so that one primitive can execute from several threads at
// once; each thread keeps its own buffers and grows them when a primitive needs more.
// kScratchpad holds oneDNN's scratchpad, kBf16Src the bf16 copy of src for bf16 products,
// kQuantizedSrc the 8-bit activations of vitrt.QuantLinear. Null when out of memory.
enum DnnlBufferSlot { kScratchpad = 0, kBf16Src = 1, kQuantizedSrc = 2, kNumDnnlBufferSlots };
void* dnnl_thread_buffer(DnnlBufferSlot slot, size_t bytes);

// The eltwise post-op that computes `act` (kNone: algorithm undef) as (algorithm, alpha, beta).
std::tuple<dnnl::algorithm, float, float> dnnl_eltwise_of(MatmulActivation act);

}  // namespace vitrt
