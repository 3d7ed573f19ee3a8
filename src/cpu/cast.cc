// CPU kernels of Cast and CastLike between every pair of storable dtypes.
//
// Conversions go through the source's compute type (float for float16/bfloat16); float ->
// integer truncates and saturates with NaN -> 0 (see element_types.h), anything -> bool is
// "!= 0". To and from the 8-bit floats (float8e4m3fn, float8e5m2) through float32: to them with
// round to nearest even and, by the saturate attribute (opset 19, default 1), saturation at the
// largest finite value or overflow to NaN (E4M3) / inf (E5M2), src/core/float8.h. (A float64
// or a large integer is rounded to float32 first: twice, where ONNX rounds once.)
#include <memory>

#include "core/float8.h"
#include "core/parallel.h"
#include "cpu/elementwise.h"

namespace vitrt::cpu {
namespace {

Result<Tensor> cast_tensor(const Tensor& in, DType to, const char* op, bool saturate = true);

Result<Tensor> cast_float8(const Tensor& in, DType to, const char* op, bool saturate) {
  if (dtype_is_float8(in.dtype())) {
    Tensor f = Tensor::empty(DType::kFloat32, in.shape());
    const uint8_t* src = in.data<uint8_t>();
    float* dst = f.data<float>();
    parallel_for(in.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dst[i] = float8_to_float(in.dtype(), src[i]);
    });
    return to == DType::kFloat32 ? f : cast_tensor(f, to, op, saturate);
  }
  Tensor f;
  if (in.dtype() == DType::kFloat32) {
    f = in;
  } else {
    VITRT_ASSIGN_OR_RETURN(f, cast_tensor(in, DType::kFloat32, op));
  }
  Tensor out = Tensor::empty(to, in.shape());
  const float* src = f.data<float>();
  uint8_t* dst = out.data<uint8_t>();
  parallel_for(in.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = float_to_float8(to, src[i], saturate);
  });
  return out;
}

Result<Tensor> cast_tensor(const Tensor& in, DType to, const char* op, bool saturate) {
  if (in.dtype() == to) return in.clone();
  if (dtype_is_float8(in.dtype()) || dtype_is_float8(to)) {
    return cast_float8(in, to, op, saturate);
  }
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
  CastKernel(DType to, bool saturate) : to_(to), saturate_(saturate) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    VITRT_ASSIGN_OR_RETURN(outputs[0], cast_tensor(*inputs[0], to_, "Cast", saturate_));
    return Status();
  }

 private:
  DType to_;
  bool saturate_;
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
  VITRT_ASSIGN_OR_RETURN(int64_t saturate, init.node.attrs.get_int("saturate", 1));
  return std::unique_ptr<CpuKernel>(std::make_unique<CastKernel>(dtype, saturate != 0));
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
