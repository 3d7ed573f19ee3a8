// CPU kernels that permute axes: Transpose, DepthToSpace, SpaceToDepth.
//
// All three are one strided copy. strided_copy merges axes that stay adjacent, so the ViT
// permutations reduce to two cases: [0,2,1,3] (heads split/merge) is a copy of contiguous rows,
// and [0,2,3,1] / [0,1,3,2] are batched 2-D transposes done in cache-sized tiles.
#include <memory>

#include "cpu/data_movement.h"
#include "ir/ops/depth_space.h"
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
  DepthSpaceKernel(bool to_space, DepthSpaceAttributes attrs)
      : to_space_(to_space), attrs_(attrs) {}

  template <bool kToSpace>
  static Result<std::unique_ptr<CpuKernel>> create(const KernelInit& init) {
    VITRT_ASSIGN_OR_RETURN(DepthSpaceAttributes attrs,
                           DepthSpaceAttributes::parse(init.node.attrs));
    return std::unique_ptr<CpuKernel>(new DepthSpaceKernel(kToSpace, attrs));
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& in = *inputs[0];
    VITRT_ASSIGN_OR_RETURN(DepthSpacePlan p, depth_space_plan(in.shape(), to_space_, attrs_));
    VITRT_ASSIGN_OR_RETURN(Tensor view, in.reshaped(p.split));
    VITRT_ASSIGN_OR_RETURN(outputs[0], transpose_tensor(view, p.perm).reshaped(p.out_shape));
    return Status();
  }

 private:
  bool to_space_;
  DepthSpaceAttributes attrs_;
};

}  // namespace

void register_cpu_transpose_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Transpose", &TransposeKernel::create);
  registry.add("", "DepthToSpace", &DepthSpaceKernel::create<true>);
  registry.add("", "SpaceToDepth", &DepthSpaceKernel::create<false>);
}

}  // namespace vitrt
