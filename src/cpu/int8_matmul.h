// Exact int8 matrix products through oneDNN (u8 or s8 rows x s8 weights, int32 sums) on CPUs
// with VNNI: vitrt.QuantLinear's int8 path (fp32 output scaled per column, bias, activation,
// residual as post-ops) and MatMulInteger's (the int32 sums themselves). Without VNNI oneDNN
// sums u8 x s8 pairs into saturating int16 first, which is not exact: callers check
// cpu_has_vnni() and keep their reference loops otherwise.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "cpu/dnnl_common.h"
#include "cpu/linear.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

bool cpu_has_vnni();

// dst = act(float(src x W) * scale[n] + bias[n] (+ residual)), or with int32_out the int32
// sums src x W alone (scales, bias, residual and act unused). W: int8 [K, N], packed once per
// layout; one primitive per row count. With `runtime_quantization` (u8 src only), each run
// gives the scales and a src zero point z: dst = act(float((src - z) x W) * scale[n] + ...),
// the int32 sums still exact (oneDNN's zero-point compensation is integer).
class Int8Matmul {
 public:
  // `src_unsigned`: src rows are u8 (else s8).
  Int8Matmul(const Tensor& w_q, std::vector<float> scales, bool has_bias, bool has_residual,
             MatmulActivation act, bool src_unsigned, bool int32_out = false,
             bool runtime_quantization = false);

  // `scales` [N] and `src_zero_point`: with runtime_quantization only.
  Status run(int64_t m, const void* src, const float* bias, const float* residual, void* dst,
             const float* scales = nullptr, int32_t src_zero_point = 0);

 private:
  struct Entry {
    dnnl::matmul primitive;
    dnnl::memory::desc src_md, dst_md, bias_md, scratchpad_md;
    size_t scratchpad_bytes = 0;
    dnnl::memory weights;  // W_q in the primitive's layout
  };
  Result<std::shared_ptr<const Entry>> entry_for(int64_t m);

  Tensor w_q_;
  std::vector<float> scales_;
  bool has_bias_;
  bool has_residual_;
  MatmulActivation act_;
  dnnl::memory::data_type src_type_;
  bool int32_out_;
  bool runtime_quantization_;
  int64_t k_, n_;
  std::mutex mutex_;  // guards cache_ and packed_: kernels may run from several contexts
  std::map<int64_t, std::shared_ptr<const Entry>> cache_;
  std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed_;
};

}  // namespace vitrt
