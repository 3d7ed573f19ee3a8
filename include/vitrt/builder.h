// The builder: ONNX model in, plan file out.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "vitrt/status.h"

namespace vitrt {

struct BuildOptions {
  std::string device = "cpu";  // cpu | cuda (the plan runs only on this device kind)
  // cpu: fp32, bf16, int8, fp8; cuda: fp32, fp16, bf16, int8, fp8. int8 and fp8 quantize
  // the encoder's linear layers after calibration (the fields below); the rest of the graph
  // stays in the float type (cpu fp32, cuda fp16).
  std::string precision = "fp32";
  bool tf32 = false;  // cuda fp32 plans: GEMMs may use TF32 tensor cores
  bool verbose = false;
  // Run the graph optimizer (clean-up and fusions). Off only to compare against the raw graph.
  bool optimize = true;
  // Optimization profiles, one "INPUT:min=AxB..,opt=AxB..,max=AxB.." each; a second range for
  // the same input starts a second profile. Stored in the plan; the runtime refuses inputs
  // outside every profile; CUDA builds tune GEMMs for each profile's opt shapes.
  std::vector<std::string> profiles;
  // CUDA builds: time GEMM algorithms on the GPU at hand and store the fastest in the plan
  // (off: cuBLASLt's heuristic at run time, a faster build).
  bool select_tactics = true;
  // CUDA builds: file of earlier tactic timings (read, then rewritten); empty: none.
  std::string timing_cache;
  // CUDA fp16/bf16 builds: never let an erf GELU run as cuBLASLt's tanh-form GELU epilogue.
  // (Off by default: the tanh form differs from erf by at most 4.7e-4, below fp16's own
  // rounding of GELU outputs, and the tactic timing takes it only where it is faster.)
  bool exact_gelu = false;
  // CUDA fp8 builds: let the tactic timing choose FP8 GEMMs with fast accumulation (the tensor
  // cores' accumulator, not promoted to fp32 every few products, as torch._scaled_mm's
  // use_fast_accum). Off: every FP8 GEMM promotes (slower).
  bool fp8_fast_accum = true;
  // CUDA fp8 builds: the qkv layers write E4M3 codes and the attention reads them (Q K^T on
  // 8-bit tensor cores; P and P V stay 16-bit), where the kernel takes the shapes (head dims
  // 64, up to 256 tokens). Off: q, k, v stay 16-bit.
  bool fp8_attention = true;
  // int8 / fp8 builds (src/quant/calibrator.h explains each).
  std::string calib_data;           // folder of images, .npy files or NAME.npy folders
  std::string calib_config;         // HF preprocessor_config.json for images
  std::string calib_method;         // entropy|mse|percentile|minmax; empty: percentile (int8),
                                    // minmax (fp8)
  double calib_percentile = 99.99;  // for calib_method percentile
  int calib_batches = 0;            // at most this many runs; 0: all the data
  int calib_batch_size = 8;         // images per run
  std::string calib_cache;          // reused when it matches the model, else written
  std::vector<std::string> layer_precision;  // "GLOB=fp32|fp16|bf16|int8|fp8", last match wins
  // Calibration progress (runs done, runs in all).
  std::function<void(int, int)> calib_progress;
  // Receives the build log line by line (what was imported, folded, fused, and why not).
  std::function<void(const std::string&)> log;
};

struct BuildSummary {
  std::map<std::string, int> ops_before;  // op type -> count in the imported graph
  std::map<std::string, int> ops_after;   // ... in the graph written to the plan
  std::map<std::string, int> rewrites;    // optimizer pass -> rewrites it applied
  int64_t parameter_count = 0;
  int64_t parameter_bytes = 0;
  int64_t plan_bytes = 0;
};

Result<BuildSummary> build_plan(const std::string& onnx_path, const std::string& plan_path,
                                const BuildOptions& options);

}  // namespace vitrt
