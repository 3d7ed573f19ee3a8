// vitrt.RotaryEmbedding on the CPU: the reference the fusion and the CUDA kernel are checked
// against. Each rotated element is computed as the unfused graph computes it, x * cos plus the
// rotated partner (negated on the first of the pair) times sin, in float32 and rounded after
// each operation (CMakeLists.txt compiles this file without FMA contraction), so the fused op
// equals the Mul, Mul and Add it replaces bit for bit.
#include <cstring>

#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "ir/ops/rotary_embedding.h"

namespace vitrt {
namespace {

// One token's row of D values; the first D' are rotated with the given table rows.
void rotate_row(const RotaryLayout& l, const float* x, const float* c, const float* s, float* y) {
  const int64_t half = l.rotary_dim / 2;
  if (l.interleaved) {
    for (int64_t i = 0; i < half; ++i) {
      const float x0 = x[2 * i], x1 = x[2 * i + 1];
      y[2 * i] = x0 * c[2 * i] + (-x1) * s[2 * i];
      y[2 * i + 1] = x1 * c[2 * i + 1] + x0 * s[2 * i + 1];
    }
  } else {
    for (int64_t i = 0; i < half; ++i) {
      const float x0 = x[i], x1 = x[i + half];
      y[i] = x0 * c[i] + (-x1) * s[i];
      y[i + half] = x1 * c[i + half] + x0 * s[i + half];
    }
  }
  if (l.dim > l.rotary_dim) {
    std::memcpy(y + l.rotary_dim, x + l.rotary_dim, sizeof(float) * (l.dim - l.rotary_dim));
  }
}

class RotaryEmbeddingKernel final : public CpuKernel {
 public:
  explicit RotaryEmbeddingKernel(RotaryAttributes attrs) : attrs_(attrs) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& cos = *inputs[1];
    const Tensor& sin = *inputs[2];
    for (const Tensor* t : {&x, &cos, &sin}) {
      if (t->dtype() != DType::kFloat32) {
        return invalid_argument("inputs must be float32, got ", t->describe());
      }
    }
    VITRT_ASSIGN_OR_RETURN(RotaryLayout l,
                           rotary_layout(x.shape(), cos.shape(), sin.shape(), attrs_.start,
                                         attrs_.interleaved, attrs_.token_major));
    Tensor y = Tensor::empty(DType::kFloat32, x.shape());
    const float* xp = x.data<float>();
    const float* cp = cos.data<float>();
    const float* sp = sin.data<float>();
    float* yp = y.data<float>();
    const int64_t rows = l.outer * l.seq;
    parallel_for(rows, 64, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t s = r / l.token_div % l.seq;
        const float* xr = xp + r * l.dim;
        float* yr = yp + r * l.dim;
        if (s < l.start) {
          std::memcpy(yr, xr, sizeof(float) * l.dim);
          continue;
        }
        const int64_t t = s - l.start;
        const int64_t h = r / l.head_div % l.heads;
        rotate_row(l, xr, cp + h * l.cos_head_stride + t * l.cos_row_stride,
                   sp + h * l.sin_head_stride + t * l.sin_row_stride, yr);
      }
    });
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  RotaryAttributes attrs_;
};

Result<std::unique_ptr<CpuKernel>> make_rotary_embedding(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(RotaryAttributes attrs, RotaryAttributes::parse(init.node.attrs));
  return std::unique_ptr<CpuKernel>(new RotaryEmbeddingKernel(attrs));
}

}  // namespace

void register_cpu_rotary_embedding_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "RotaryEmbedding", make_rotary_embedding);
}

}  // namespace vitrt
