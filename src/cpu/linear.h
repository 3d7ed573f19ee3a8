// Kernel factories of the linear op family (MatMul, Gemm, Conv), one file each; linear.cc
// registers them.
#pragma once

#include <memory>

#include "cpu/cpu_kernel.h"

namespace vitrt {

Result<std::unique_ptr<CpuKernel>> make_matmul_kernel(const KernelInit& init);
Result<std::unique_ptr<CpuKernel>> make_gemm_kernel(const KernelInit& init);

// kAuto picks the patch-embedding path (patchify + one GEMM) where it applies; kIm2col forces
// the general path so tests can compare the two.
enum class ConvPath { kAuto, kIm2col };
Result<std::unique_ptr<CpuKernel>> make_conv_kernel(const KernelInit& init, ConvPath path);

// The dtype every input of the node is declared with, when the model says: float32 and
// float64 pass; anything else is an unsupported error naming the node and dtype.
Status check_linear_dtype(const KernelInit& init);
Status check_linear_dtype(const char* op, DType dtype);

}  // namespace vitrt
