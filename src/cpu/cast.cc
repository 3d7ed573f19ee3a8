// CPU kernels of Cast and CastLike between every pair of storable dtypes.
//
// Conversions go through the source's compute type (float for float16/bfloat16); float ->
// integer truncates and saturates with NaN -> 0 (see element_types.h), anything -> bool is
// "!= 0". The saturate attribute (opset 19) only concerns float8 types, which vitrt does not
// store, so it is ignored.
#include <memory>

#include "cpu/elementwise.h"

namespace vitrt::cpu {
namespace {

Result<Tensor> cast_tensor(const Tensor& in, DType to, const char* op) {
  if (in.dtype() == to) return in.clone();
  Tensor out;
  VITRT_RETURN_IF_ERROR(dispatch(kAllTypes, in.dtype(), op, [&]<typename TI>(TypeTag<TI>) {
    return dispatch(kAllTypes, to, op, [&]<typename TO>(TypeTag<TO>) -> Status {
      out = unary_map<TI, TO>(
          in, [](auto v) { return v; }, kArithmeticGrain);
      return Status();
    });
  }));
  return out;
}

class CastKernel final : public CpuKernel {
 public:
  explicit CastKernel(DType to) : to_(to) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    VITRT_ASSIGN_OR_RETURN(outputs[0], cast_tensor(*inputs[0], to_, "Cast"));
    return Status();
  }

 private:
  DType to_;
};

class CastLikeKernel final : public CpuKernel {
 public:
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    VITRT_ASSIGN_OR_RETURN(outputs[0], cast_tensor(*inputs[0], inputs[1]->dtype(), "CastLike"));
    return Status();
  }
};

Result<std::unique_ptr<CpuKernel>> make_cast_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t to, init.node.attrs.require_int("to"));
  const DType dtype = dtype_from_onnx(static_cast<int32_t>(to));
  if (!dtype_is_storable(dtype)) {
    return unsupported("Cast to ", dtype == DType::kString ? "string" : "ONNX type ",
                       dtype == DType::kString ? "" : std::to_string(to), " is not supported");
  }
  return std::unique_ptr<CpuKernel>(std::make_unique<CastKernel>(dtype));
}

Result<std::unique_ptr<CpuKernel>> make_cast_like_kernel(const KernelInit&) {
  return std::unique_ptr<CpuKernel>(std::make_unique<CastLikeKernel>());
}

}  // namespace

void register_cpu_cast_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Cast", make_cast_kernel);
  registry.add("", "CastLike", make_cast_like_kernel);
}

}  // namespace vitrt::cpu
