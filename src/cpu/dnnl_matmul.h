// Matrix products through oneDNN's matmul primitive: the GEMM every linear kernel (MatMul,
// Gemm, Conv, vitrt.Linear) runs on. Operands and results are fp32 in memory; a product may
// compute in bf16 (MatmulShape::bf16) and may end in a fused activation. bench/NOTES.md records why
// oneDNN (measured against OpenBLAS and Eigen on ViT-B/16 shapes).
//
// A DnnlMatmul belongs to one kernel object. It creates a primitive the first time it sees a
// shape and reuses it afterwards, so the per-call cost is a map lookup under a mutex plus
// oneDNN's execute. When the right-hand operand is a constant (weights), it is reordered once
// into the layout the primitive prefers (oneDNN's 'any' format: blocked on AVX-512 machines,
// plain on AVX2 ones, where the copy is skipped).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

// An activation applied to the finished product (after bias and accumulation) by the
// primitive itself, while the result is still in registers: a oneDNN eltwise post-op.
enum class MatmulActivation : uint8_t {
  kNone,
  kGelu,       // x * Phi(x), erf form
  kGeluTanh,   // the tanh approximation
  kQuickGelu,  // x * sigmoid(1.702 x) (oneDNN's swish with alpha 1.702)
  kRelu,
  kSilu,       // x * sigmoid(x) (swish with alpha 1: EfficientNet, MobileNetV3)
  kHardSwish,  // x * min(1, max(0, x / 6 + 1 / 2)) (MobileNetV3, LCNet)
  kRelu6,      // min(max(x, 0), 6) (MobileNetV2)
};

// dst[b] = act(alpha * op(src[b]) x op(weights[b]) (+ bias) (+ dst when accumulate)
//              (+ residual[b])), b < batch.
// Operands are dense row-major; op() transposes when the trans_ flag is set. Bias is not
// combined with alpha != 1 (callers fold it into dst and accumulate instead).
struct MatmulShape {
  int64_t batch = 1;  // independent products; src, weights and dst hold `batch` matrices each
  int64_t m = 0;
  int64_t k = 0;
  int64_t n = 0;
  bool trans_src = false;      // src stored [batch, K, M]
  bool trans_weights = false;  // weights stored [N, K] (per batch)
  bool has_bias = false;       // bias: N floats added to every row
  bool accumulate = false;     // adds the product to what dst holds
  // Adds a dense [batch,] m x n fp32 matrix laid out like dst (a oneDNN binary post-op, in the
  // same pass as the bias): vitrt.Linear's residual. dst may not be that matrix.
  bool has_residual = false;
  float alpha = 1.0f;
  MatmulActivation activation = MatmulActivation::kNone;
  // Rounds src and weights to bfloat16 (round to nearest even) and multiplies those with fp32
  // accumulation; bias, dst and the activation stay fp32. Needs constant weights, which are
  // converted once when packed; src is converted per call.
  bool bf16 = false;

  auto key() const {
    return std::make_tuple(batch, m, k, n, trans_src, trans_weights, has_bias, accumulate,
                           has_residual, alpha, activation, bf16);
  }
};

class DnnlMatmul {
 public:
  DnnlMatmul();
  ~DnnlMatmul();
  DnnlMatmul(const DnnlMatmul&) = delete;
  DnnlMatmul& operator=(const DnnlMatmul&) = delete;

  // Declares `weights` (fp32, kept alive by this object) the constant right-hand operand of
  // every later run(); run() then ignores its `weights` argument. `example` is a shape to
  // prepare (and pack the weights for) right away, so the first inference does not pay for it.
  Status set_constant_weights(const Tensor& weights, const MatmulShape& example);

  // Runs one product. `weights` may be null when constant weights were set; `residual` is read
  // when shape.has_residual.
  Status run(const MatmulShape& shape, const float* src, const float* weights, const float* bias,
             float* dst, const float* residual = nullptr);

 private:
  struct Entry;
  Result<std::shared_ptr<const Entry>> entry_for(const MatmulShape& shape);

  std::mutex mutex_;  // guards cache_ and packed_; kernels may run from several contexts
  std::map<decltype(MatmulShape().key()), std::shared_ptr<const Entry>> cache_;
  Tensor constant_weights_;
  struct Packed;
  std::unique_ptr<Packed> packed_;
};

}  // namespace vitrt
