// vitrt.Patchify on the CPU, and the patch gathering Conv's patch-embedding path shares.
#include "cpu/patchify.h"

#include <cstring>

#include "core/parallel.h"
#include "cpu/cpu_kernel.h"

namespace vitrt {

void patchify(const PatchGeometry& g, const float* x, float* rows) {
  const int64_t oh_n = g.patches_h(), ow_n = g.patches_w();
  const int64_t k = g.row_length();
  const int64_t image_rows = g.prefix_rows + g.patches();
  for (int64_t n = 0; n < g.batch && g.prefix_rows > 0; ++n) {
    std::memset(rows + n * image_rows * k, 0, sizeof(float) * g.prefix_rows * k);
  }
  // One task per row of patches: it reads ph whole image rows per channel, contiguous runs of
  // pw floats that land contiguously in the patch rows.
  parallel_for(g.batch * oh_n, 4, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t n = t / oh_n, oh = t % oh_n;
      for (int64_t c = 0; c < g.channels; ++c) {
        for (int64_t i = 0; i < g.ph; ++i) {
          const float* src = x + ((n * g.channels + c) * g.height + oh * g.ph + i) * g.width;
          float* dst =
              rows + (n * image_rows + g.prefix_rows + oh * ow_n) * k + (c * g.ph + i) * g.pw;
          for (int64_t ow = 0; ow < ow_n; ++ow) {
            std::memcpy(dst + ow * k, src + ow * g.pw, sizeof(float) * g.pw);
          }
        }
      }
    }
  });
}

namespace {

class PatchifyKernel final : public CpuKernel {
 public:
  PatchifyKernel(int64_t ph, int64_t pw, int64_t prefix) : ph_(ph), pw_(pw), prefix_(prefix) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    if (x.dtype() != DType::kFloat32 || x.rank() != 4) {
      return invalid_argument("X must be float32 [B, C, H, W], got ", x.describe());
    }
    PatchGeometry g;
    g.batch = x.dim(0);
    g.channels = x.dim(1);
    g.height = x.dim(2);
    g.width = x.dim(3);
    g.ph = ph_;
    g.pw = pw_;
    g.prefix_rows = prefix_;
    Tensor y = Tensor::empty(DType::kFloat32, {g.batch, prefix_ + g.patches(), g.row_length()});
    if (y.numel() > 0) patchify(g, x.data<float>(), y.data<float>());
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  int64_t ph_, pw_, prefix_;
};

Result<std::unique_ptr<CpuKernel>> make_patchify(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> patch, init.node.attrs.require_ints("patch"));
  if (patch.size() != 2 || patch[0] <= 0 || patch[1] <= 0) {
    return invalid_model("attribute 'patch' must be two positive ints [ph, pw]");
  }
  VITRT_ASSIGN_OR_RETURN(int64_t prefix, init.node.attrs.get_int("prefix_rows", 0));
  if (prefix < 0) return invalid_model("attribute 'prefix_rows' must be >= 0, got ", prefix);
  return std::unique_ptr<CpuKernel>(std::make_unique<PatchifyKernel>(patch[0], patch[1], prefix));
}

}  // namespace

void register_cpu_patchify_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "Patchify", make_patchify);
}

}  // namespace vitrt
