// CPU kernels that permute axes: Transpose, DepthToSpace, SpaceToDepth.
//
// All three are one strided copy. strided_copy merges axes that stay adjacent, so the ViT
// permutations reduce to two cases: [0,2,1,3] (heads split/merge) is a copy of contiguous rows,
// and [0,2,3,1] / [0,1,3,2] are batched 2-D transposes done in cache-sized tiles.
#include <memory>

#include "cpu/data_movement.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

namespace {

class TransposeKernel final : public CpuKernel {
 public:
  explicit TransposeKernel(std::vector<int64_t> perm) : perm_(std::move(perm)) {}

  static Result<std::unique_ptr<CpuKernel>> create(const KernelInit& init) {
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> perm, init.node.attrs.get_ints("perm", {}));
    return std::unique_ptr<CpuKernel>(new TransposeKernel(std::move(perm)));
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& in = *inputs[0];
    VITRT_ASSIGN_OR_RETURN(std::vector<int> perm, transpose_perm(perm_, in.rank()));
    outputs[0] = transpose_tensor(in, perm);
    return Status();
  }

 private:
  std::vector<int64_t> perm_;
};

// DepthToSpace and SpaceToDepth as reshape -> transpose -> reshape on NCHW input.
class DepthSpaceKernel final : public CpuKernel {
 public:
  DepthSpaceKernel(bool to_space, bool crd, int64_t block)
      : to_space_(to_space), crd_(crd), block_(block) {}

  template <bool kToSpace>
  static Result<std::unique_ptr<CpuKernel>> create(const KernelInit& init) {
    VITRT_ASSIGN_OR_RETURN(int64_t block, init.node.attrs.require_int("blocksize"));
    VITRT_ASSIGN_OR_RETURN(std::string mode, init.node.attrs.get_string("mode", "DCR"));
    if (block <= 0) return invalid_model("attribute 'blocksize' must be positive, got ", block);
    if (mode != "DCR" && mode != "CRD") {
      return invalid_model("attribute 'mode' must be DCR or CRD, got '", mode, "'");
    }
    return std::unique_ptr<CpuKernel>(new DepthSpaceKernel(kToSpace, mode == "CRD", block));
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& in = *inputs[0];
    if (in.rank() != 4) return invalid_argument("input must be NCHW (rank 4), got ", in.describe());
    const int64_t n = in.dim(0), c = in.dim(1), h = in.dim(2), w = in.dim(3), b = block_;
    std::vector<int64_t> split;
    std::vector<int> perm;
    std::vector<int64_t> out_shape;
    if (to_space_) {
      if (c % (b * b) != 0) {
        return invalid_argument("channels ", c, " are not a multiple of blocksize^2 = ", b * b);
      }
      const int64_t oc = c / (b * b);
      if (crd_) {
        split = {n, oc, b, b, h, w};
        perm = {0, 1, 4, 2, 5, 3};
      } else {
        split = {n, b, b, oc, h, w};
        perm = {0, 3, 4, 1, 5, 2};
      }
      out_shape = {n, oc, h * b, w * b};
    } else {
      if (h % b != 0 || w % b != 0) {
        return invalid_argument("spatial dims ", h, "x", w, " are not multiples of blocksize ", b);
      }
      split = {n, c, h / b, b, w / b, b};
      perm = {0, 3, 5, 1, 2, 4};
      out_shape = {n, c * b * b, h / b, w / b};
    }
    VITRT_ASSIGN_OR_RETURN(Tensor view, in.reshaped(split));
    VITRT_ASSIGN_OR_RETURN(outputs[0], transpose_tensor(view, perm).reshaped(out_shape));
    return Status();
  }

 private:
  bool to_space_;
  bool crd_;
  int64_t block_;
};

}  // namespace

void register_cpu_transpose_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Transpose", &TransposeKernel::create);
  registry.add("", "DepthToSpace", &DepthSpaceKernel::create<true>);
  registry.add("", "SpaceToDepth", &DepthSpaceKernel::create<false>);
}

}  // namespace vitrt
