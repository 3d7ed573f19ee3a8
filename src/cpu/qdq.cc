// CPU kernels of ONNX QuantizeLinear and DequantizeLinear: the QDQ pairs that import_qdq does
// not fold run as these, in float, exactly as ONNX specifies them (and ONNX Runtime computes
// them):
//   QuantizeLinear:   y = saturate(round_half_to_even(x / scale) + zero_point)
//   DequantizeLinear: y = (x - zero_point) * scale
// with a per-tensor scale or a per-axis one (a 1-D scale along attribute `axis`). To and from
// the 8-bit floats (float8e4m3fn, float8e5m2, FP8 QDQ models):
//   QuantizeLinear:   y = fp8(x / scale + zero_point), nearest even, saturating at the format's
//                     largest finite value when saturate = 1 (the default), else to NaN / inf
//   DequantizeLinear: y = (x - zero_point) * scale in float
// (a zero point of 0, what quantizers write, is not added, so -0 stays -0 as ONNX Runtime
// keeps it).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>

#include "core/float8.h"
#include "core/half.h"
#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "cpu/dynamic_quantize.h"
#include "cpu/fake_quant_cpu.h"
#include "ir/fake_quant.h"
#include "ir/ops/op_attributes.h"

namespace vitrt {
namespace {

float load_float(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32:
      return t.data<float>()[i];
    case DType::kFloat16:
      return half_to_float(t.data<uint16_t>()[i]);
    case DType::kBFloat16:
      return bf16_to_float(t.data<uint16_t>()[i]);
    default:
      return static_cast<float>(t.element_as_double(i));
  }
}

void store_float(Tensor& t, int64_t i, float v) {
  switch (t.dtype()) {
    case DType::kFloat16:
      t.data<uint16_t>()[i] = float_to_half(v);
      break;
    case DType::kBFloat16:
      t.data<uint16_t>()[i] = float_to_bf16(v);
      break;
    default:
      t.data<float>()[i] = v;
  }
}

// Element i uses parameter (i / inner) % channels (ir/ops/op_attributes.h).
struct AxisLayout {
  int64_t channels = 1;
  int64_t inner = 1;
  int64_t param(int64_t i) const { return channels == 1 ? 0 : (i / inner) % channels; }
};

Result<AxisLayout> axis_layout(const Node& node, const Tensor& x, const Tensor& scale,
                               const Tensor* zero_point) {
  VITRT_ASSIGN_OR_RETURN(QdqLayout l, qdq_layout(node.attrs, x.shape(), scale.shape(),
                                                 zero_point != nullptr ? zero_point->numel() : -1));
  return AxisLayout{l.channels, l.inner};
}

// The common case, float32 x with one scale (the activations' Q/DQ pairs of ONNX Runtime's
// quantize_static) for 8-bit types: cpu/dynamic_quantize.h's vectorized per-tensor quantizer,
// the same arithmetic. Dequantization likewise, in parallel chunks.
template <typename Q>
void dequantize_per_tensor(const Q* q, int64_t n, float scale, float zp, float* out) {
  parallel_for(n, 1 << 14, [&](int64_t begin, int64_t end) {
    const Q* __restrict src = q;
    float* __restrict dst = out;
    const float s = scale, z = zp;
    // q - zp is exact in float32 for 8-bit values.
    for (int64_t i = begin; i < end; ++i) dst[i] = (static_cast<float>(src[i]) - z) * s;
  });
}

template <typename Q>
void quantize_typed(const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                    const AxisLayout& layout, Tensor& y) {
  constexpr float lo = static_cast<float>(std::numeric_limits<Q>::min());
  constexpr float hi = static_cast<float>(std::numeric_limits<Q>::max());
  Q* out = y.data<Q>();
  const int64_t n = x.numel();
  if constexpr (sizeof(Q) == 1) {
    if (layout.channels == 1 && x.dtype() == DType::kFloat32) {
      const int32_t zp = zero_point ? zero_point->data<Q>()[0] : 0;
      quantize_per_tensor(x.data<float>(), n, load_float(scale, 0), zp, out);
      return;
    }
  }
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = layout.param(i);
    const float zp = zero_point ? static_cast<float>(zero_point->data<Q>()[c]) : 0.0f;
    // nearbyint rounds half to even in the default rounding mode; NaN saturates to zp.
    float v = std::nearbyint(load_float(x, i) / load_float(scale, c)) + zp;
    v = std::isnan(v) ? zp : std::min(hi, std::max(lo, v));
    out[i] = static_cast<Q>(v);
  }
}

template <typename Q>
void dequantize_typed(const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                      const AxisLayout& layout, Tensor& y) {
  const Q* in = x.data<Q>();
  const int64_t n = x.numel();
  if constexpr (sizeof(Q) == 1) {
    if (layout.channels == 1 && y.dtype() == DType::kFloat32) {
      const float zp = zero_point ? static_cast<float>(zero_point->data<Q>()[0]) : 0.0f;
      dequantize_per_tensor(in, n, load_float(scale, 0), zp, y.data<float>());
      return;
    }
  }
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = layout.param(i);
    const int64_t zp = zero_point ? static_cast<int64_t>(zero_point->data<Q>()[c]) : 0;
    store_float(y, i, static_cast<float>(static_cast<int64_t>(in[i]) - zp) * load_float(scale, c));
  }
}

void quantize_float8(const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                     const AxisLayout& layout, bool saturate, Tensor& y) {
  const DType t = y.dtype();
  uint8_t* out = y.data<uint8_t>();
  const int64_t n = x.numel();
  parallel_for(n, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t c = layout.param(i);
      float v = load_float(x, i) / load_float(scale, c);
      if (zero_point != nullptr) {
        const float zp = float8_to_float(t, zero_point->data<uint8_t>()[c]);
        if (zp != 0.0f) v += zp;
      }
      out[i] = float_to_float8(t, v, saturate);
    }
  });
}

void dequantize_float8(const Tensor& x, const Tensor& scale, const Tensor* zero_point,
                       const AxisLayout& layout, Tensor& y) {
  const DType t = x.dtype();
  const uint8_t* in = x.data<uint8_t>();
  parallel_for(x.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t c = layout.param(i);
      float v = float8_to_float(t, in[i]);
      if (zero_point != nullptr) {
        const float zp = float8_to_float(t, zero_point->data<uint8_t>()[c]);
        if (zp != 0.0f) v -= zp;
      }
      store_float(y, i, v * load_float(scale, c));
    }
  });
}

template <typename Fn>
Status dispatch_quantized(DType t, Fn fn) {
  switch (t) {
    case DType::kInt8:
      fn(int8_t{});
      return Status();
    case DType::kUInt8:
      fn(uint8_t{});
      return Status();
    case DType::kInt16:
      fn(int16_t{});
      return Status();
    case DType::kUInt16:
      fn(uint16_t{});
      return Status();
    case DType::kInt32:
      fn(int32_t{});
      return Status();
    default:
      return unsupported("quantized type ", dtype_name(t), " is not supported");
  }
}

class QuantizeLinearKernel final : public CpuKernel {
 public:
  QuantizeLinearKernel(const Node& node, DType out, bool saturate)
      : node_(node), out_(out), saturate_(saturate) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& scale = *inputs[1];
    const Tensor* zp = inputs.size() > 2 ? inputs[2] : nullptr;
    VITRT_ASSIGN_OR_RETURN(AxisLayout layout, axis_layout(node_, x, scale, zp));
    outputs[0] = Tensor::empty(out_, x.shape());
    if (out_ == DType::kInt32) return unsupported("QuantizeLinear to int32 is not supported");
    if (dtype_is_float8(out_)) {
      quantize_float8(x, scale, zp, layout, saturate_, outputs[0]);
      return Status();
    }
    return dispatch_quantized(
        out_, [&](auto tag) { quantize_typed<decltype(tag)>(x, scale, zp, layout, outputs[0]); });
  }

 private:
  const Node& node_;
  DType out_;
  bool saturate_;
};

class DequantizeLinearKernel final : public CpuKernel {
 public:
  DequantizeLinearKernel(const Node& node, DType out) : node_(node), out_(out) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& scale = *inputs[1];
    const Tensor* zp = inputs.size() > 2 ? inputs[2] : nullptr;
    VITRT_ASSIGN_OR_RETURN(AxisLayout layout, axis_layout(node_, x, scale, zp));
    outputs[0] = Tensor::empty(out_, x.shape());
    if (dtype_is_float8(x.dtype())) {
      dequantize_float8(x, scale, zp, layout, outputs[0]);
      return Status();
    }
    return dispatch_quantized(x.dtype(), [&](auto tag) {
      dequantize_typed<decltype(tag)>(x, scale, zp, layout, outputs[0]);
    });
  }

 private:
  const Node& node_;
  DType out_;
};

// vitrt.FakeQuant: DequantizeLinear(QuantizeLinear(x)) in one pass, the same float32 arithmetic
// as the two kernels above (ir/fake_quant.h), without the 8-bit codes in between; with a bias,
// then + bias[n] and the second pair (quant_out), each step stored in x's type as the separate
// nodes would.
class FakeQuantKernel final : public CpuKernel {
 public:
  FakeQuantKernel(FakeQuant fq, std::optional<FakeQuant> fq_out) : fq_(fq), fq_out_(fq_out) {}
  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor* bias = inputs.size() > 1 ? inputs[1] : nullptr;
    outputs[0] = Tensor::empty(x.dtype(), x.shape());
    Tensor& y = outputs[0];
    const int64_t n = x.numel();
    const int64_t cols = bias != nullptr ? bias->numel() : 1;
    if (bias != nullptr && (x.rank() == 0 || x.shape().back() != cols)) {
      return invalid_argument("FakeQuant: bias of ", cols, " values for x of shape ",
                              shape_to_string(x.shape()));
    }
    const float* b = bias != nullptr ? bias->data<float>() : nullptr;
    const FakeQuant f = fq_;
    const FakeQuant fo = fq_out_.value_or(FakeQuant{});
    const bool out_quant = fq_out_.has_value();
    if (x.dtype() == DType::kFloat32) {
      const float tiny = fake_quant_flush_below(f);
      const float* src = x.data<float>();
      float* dst = y.data<float>();
      if (b == nullptr) {
        parallel_for(n, 1 << 14, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            dst[i] = cpu_fake_quant(src[i], f, tiny);
          }
        });
        return Status();
      }
      parallel_for(n / cols, std::max<int64_t>(1, (1 << 14) / cols), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const float* __restrict xs = src + r * cols;
          const float* __restrict bs = b;
          float* __restrict ys = dst + r * cols;
          for (int64_t c = 0; c < cols; ++c) {
            ys[c] = cpu_fake_quant(xs[c], f, tiny) + bs[c];
          }
          if (!out_quant) continue;
          // The sum is no subnormal unless the bias is: |q * scale| >= scale for q != 0.
          for (int64_t c = 0; c < cols; ++c) ys[c] = fake_quant(ys[c], fo);
        }
      });
      return Status();
    }
    parallel_for(n, 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        store_float(y, i, fake_quant(load_float(x, i), f));
        if (b == nullptr) continue;
        store_float(y, i, load_float(y, i) + b[i % cols]);
        if (out_quant) store_float(y, i, fake_quant(load_float(y, i), fo));
      }
    });
    return Status();
  }

 private:
  FakeQuant fq_;
  std::optional<FakeQuant> fq_out_;
};

Result<std::unique_ptr<CpuKernel>> make_fake_quant(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> fq, parse_fake_quant(init.node.attrs, "quant"));
  if (!fq) return invalid_model(init.node.describe(), ": attribute 'quant' is missing");
  VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> fq_out,
                         parse_fake_quant(init.node.attrs, "quant_out"));
  return std::unique_ptr<CpuKernel>(std::make_unique<FakeQuantKernel>(*fq, fq_out));
}

// The output types come from shape inference (the graph values), so the kernels need not
// repeat the rules for zero points and output_dtype.
DType output_dtype(const KernelInit& init) {
  return init.graph.values[init.node.outputs[0]].dtype;
}

Result<std::unique_ptr<CpuKernel>> make_quantize_linear(const KernelInit& init) {
  VITRT_RETURN_IF_ERROR(check_qdq_block_size(init.node.attrs));
  VITRT_ASSIGN_OR_RETURN(int64_t saturate, init.node.attrs.get_int("saturate", 1));
  return std::unique_ptr<CpuKernel>(
      std::make_unique<QuantizeLinearKernel>(init.node, output_dtype(init), saturate != 0));
}

Result<std::unique_ptr<CpuKernel>> make_dequantize_linear(const KernelInit& init) {
  VITRT_RETURN_IF_ERROR(check_qdq_block_size(init.node.attrs));
  return std::unique_ptr<CpuKernel>(
      std::make_unique<DequantizeLinearKernel>(init.node, output_dtype(init)));
}

}  // namespace

void register_cpu_qdq_kernels(CpuKernelRegistry& registry) {
  registry.add("", "QuantizeLinear", make_quantize_linear);
  registry.add("", "DequantizeLinear", make_dequantize_linear);
  registry.add("vitrt", "FakeQuant", make_fake_quant);
}

}  // namespace vitrt
