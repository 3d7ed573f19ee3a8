// vitrt.ScaleShift on the CPU: y = act(x * scale + shift) along the last axis, float32, one pass
// over rows of C values, the activation applied to each row while it is in cache
// (cpu/activation_rows.h). Compiled without floating-point contraction (CMakeLists.txt), so the
// product and the sum round as the Mul and Add it replaces did.
#include <algorithm>
#include <memory>

#include "core/parallel.h"
#include "cpu/activation_rows.h"
#include "cpu/cpu_kernel.h"

namespace vitrt {
namespace {

void scale_shift_rows(const float* x, const float* scale, const float* shift, float* y,
                      int64_t rows, int64_t c, ConvActivation act) {
  parallel_for(rows, std::max<int64_t>(1, (1 << 14) / c), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* __restrict xs = x + r * c;
      float* __restrict ys = y + r * c;
      for (int64_t k = 0; k < c; ++k) {
        const float prod = xs[k] * scale[k];  // rounded, as the Mul was
        ys[k] = prod + shift[k];
      }
      activate_inplace(act, ys, c);
    }
  });
}

class ScaleShiftKernel final : public CpuKernel {
 public:
  explicit ScaleShiftKernel(ConvActivation act) : act_(act) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& scale = *inputs[1];
    const Tensor& shift = *inputs[2];
    if (x.rank() == 0) return invalid_argument("x must have rank >= 1");
    const int64_t c = x.shape().back();
    if (scale.numel() != c || shift.numel() != c) {
      return invalid_argument("scale and shift must have x's last dim ", c, " values, got ",
                              scale.numel(), " and ", shift.numel());
    }
    for (const Tensor* t : {&x, &scale, &shift}) {
      if (t->dtype() != DType::kFloat32) {
        return unsupported("ScaleShift of ", dtype_name(t->dtype()), " (float32 only)");
      }
    }
    outputs[0] = Tensor::empty(x.dtype(), x.shape());
    const int64_t rows = c == 0 ? 0 : x.numel() / c;
    if (rows == 0) return Status();
    scale_shift_rows(x.data<float>(), scale.data<float>(), shift.data<float>(),
                     outputs[0].data<float>(), rows, c, act_);
    return Status();
  }

 private:
  ConvActivation act_;
};

Result<std::unique_ptr<CpuKernel>> make_scale_shift(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(ConvActivation act, parse_conv_activation(init.node));
  return std::unique_ptr<CpuKernel>(std::make_unique<ScaleShiftKernel>(act));
}

}  // namespace

void register_cpu_scale_shift_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "ScaleShift", make_scale_shift);
}

}  // namespace vitrt
