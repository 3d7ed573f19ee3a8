// Kernel factories of the linear op family (MatMul, Gemm, Conv), one file each; linear.cc
// registers them.
#pragma once

#include <memory>

#include "cpu/cpu_kernel.h"

namespace vitrt {

Result<std::unique_ptr<CpuKernel>> make_matmul_kernel(const KernelInit& init);
Result<std::unique_ptr<CpuKernel>> make_gemm_kernel(const KernelInit& init);

// kAuto picks the patch-embedding path (patchify + one GEMM) or the direct depthwise/grouped
// loop (cpu/conv_direct.h) where one applies; kIm2col forces the general path so tests can
// compare them.
enum class ConvPath { kAuto, kIm2col };
Result<std::unique_ptr<CpuKernel>> make_conv_kernel(const KernelInit& init, ConvPath path);
Result<std::unique_ptr<CpuKernel>> make_conv_transpose_kernel(const KernelInit& init);

// The dtype every input of the node is declared with, when the model says: float32 and
// float64 pass; anything else is an unsupported error naming the node and dtype.
Status check_linear_dtype(const KernelInit& init);
Status check_linear_dtype(const char* op, DType dtype);

// The row count to pack constant weights for at load: the rows X's shape states, with every
// symbolic dim (batch, seq) taken as 1. Packing for the rows a batch-1 run really has matters:
// oneDNN may want another layout for another row count, and a second packed copy of the
// weights costs memory (CLIP B/32 vision's 50 tokens against a guessed 197 did).
inline int64_t example_rows(const Value& x) {
  if (!x.has_shape || x.shape.empty()) return 197;
  const Dim rows = sym_shape_numel(SymShape(x.shape.begin(), x.shape.end() - 1));
  std::map<std::string, int64_t> ones;
  for (const std::string& symbol : rows.symbols()) ones[symbol] = 1;
  const std::optional<int64_t> m = rows.evaluate(ones);
  return m && *m > 0 ? *m : 197;
}

}  // namespace vitrt
