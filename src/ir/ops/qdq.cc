// Schemas of ONNX QuantizeLinear and DequantizeLinear (opsets 13-21), as quantization tools
// (ONNX Runtime's quantize_static in QDQ format, NVIDIA ModelOpt) write them around MatMul and
// Gemm. import_qdq folds the pairs it can into vitrt.QuantLinear; the rest run as these ops.
//
// vitrt.FakeQuant (fuse_fake_quant writes it): a QuantizeLinear -> DequantizeLinear pair with one
// per-tensor 8-bit scale and zero point as one float -> float op (ir/fake_quant.h), optionally
// with the bias add and the pair after it that ONNX Runtime's QDQ models put behind a product:
//   inputs 0 x, float; 1 bias [N] (optional), float32 constant, N = x's last dim
//   output y, x's type and shape
//   attrs  quant: the four floats [scale, zero_point, lo, hi] (lo and hi the 8-bit type's
//          range); quant_out (optional, only with bias): the same for the pair after the add
//   y = fake_quant(x, quant), then + bias[n] and fake_quant(., quant_out) when given; each step
//   rounded to x's type, as the separate nodes would store it
//
// Supported: per-tensor and per-axis scales, 8- and 16-bit integer types, 32-bit integers for
// DequantizeLinear (bias), and the 8-bit floats float8e4m3fn and float8e5m2 (opset 19: FP8 QDQ
// models; QuantizeLinear's attribute saturate, 0 or 1). Blocked quantization (block_size,
// opset 21), the fnuz float8 types and int4 are kUnsupported errors naming the node.
#include "ir/fake_quant.h"
#include "ir/op_schema.h"

namespace vitrt {
namespace {

bool is_quantized_type(DType t) {
  return t == DType::kInt8 || t == DType::kUInt8 || t == DType::kInt16 || t == DType::kUInt16 ||
         dtype_is_float8(t);
}

// The scale (input 1) and zero point (input 2) are scalars, [1], or 1-D per-axis vectors whose
// length matches the quantized axis; returns an error naming the node otherwise.
Status check_scale_and_zero_point(const InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t block_size, ctx.attrs().get_int("block_size", 0));
  if (block_size != 0) {
    return unsupported(ctx.node().describe(), ": blocked quantization (block_size ", block_size,
                       ") is not supported");
  }
  if (!ctx.input_has_shape(1)) return Status();
  const SymShape& scale = ctx.input_shape(1);
  if (scale.size() > 1) {
    return ctx.error("the scale must be a scalar or 1-D (per axis), got shape ",
                     sym_shape_to_string(scale));
  }
  // One value either way (a scalar beside a [1]: ONNX Runtime's quantize_static writes that pair
  // for LayerNormalization biases) is the same per-tensor parameter.
  const auto one_value = [](const SymShape& s) {
    return s.empty() || (s.size() == 1 && s[0].is_static() && s[0].value() == 1);
  };
  if (ctx.input_has_shape(2) && ctx.input_shape(2) != scale &&
      !(one_value(ctx.input_shape(2)) && one_value(scale))) {
    return ctx.error("the zero point's shape ", sym_shape_to_string(ctx.input_shape(2)),
                     " differs from the scale's ", sym_shape_to_string(scale));
  }
  // axis matters for a per-axis scale only (ONNX ignores it for one value).
  if (scale.size() == 1 && !one_value(scale) && ctx.input_has_shape(0) && ctx.input_rank(0) > 0) {
    VITRT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().get_int("axis", 1));
    VITRT_ASSIGN_OR_RETURN(int a, normalize_axis(ctx, axis, ctx.input_rank(0), "axis"));
    const Dim& d = ctx.input_shape(0)[a];
    if (d.is_static() && scale[0].is_static() && scale[0].value() != 1 &&
        scale[0].value() != d.value()) {
      return ctx.error("per-axis scale of length ", scale[0].value(), " for axis ", a, " of size ",
                       d.value());
    }
  }
  return Status();
}

Status infer_quantize_linear(InferContext& ctx) {
  if (!dtype_is_float(ctx.input_dtype(0)) || !dtype_is_float(ctx.input_dtype(1))) {
    return ctx.error("expects float input and scale, got ", dtype_name(ctx.input_dtype(0)), " and ",
                     dtype_name(ctx.input_dtype(1)));
  }
  DType out = DType::kUInt8;  // ONNX's default without a zero point
  if (ctx.has_input(2)) {
    out = ctx.input_dtype(2);
  } else {
    VITRT_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.attrs().get_int("output_dtype", 0));
    if (output_dtype != 0) out = dtype_from_onnx(static_cast<int32_t>(output_dtype));
  }
  if (!is_quantized_type(out)) {
    return unsupported(ctx.node().describe(), ": quantizing to ",
                       out == DType::kUndefined ? std::string("this type") : dtype_name(out),
                       " is not supported (int8, uint8, int16, uint16, float8e4m3fn, "
                       "float8e5m2 are)");
  }
  VITRT_ASSIGN_OR_RETURN(int64_t saturate, ctx.attrs().get_int("saturate", 1));
  if (saturate != 0 && saturate != 1) return ctx.error("saturate must be 0 or 1, got ", saturate);
  VITRT_RETURN_IF_ERROR(check_scale_and_zero_point(ctx));
  if (ctx.input_has_shape(0)) {
    ctx.set_output(0, out, ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(0, out);
  }
  return Status();
}

Status infer_dequantize_linear(InferContext& ctx) {
  const DType in = ctx.input_dtype(0);
  if (!is_quantized_type(in) && in != DType::kInt32) {
    return unsupported(ctx.node().describe(), ": dequantizing ",
                       in == DType::kUndefined ? std::string("this type") : dtype_name(in),
                       " is not supported (int8, uint8, int16, uint16, int32, float8e4m3fn, "
                       "float8e5m2 are)");
  }
  if (ctx.has_input(2) && ctx.input_dtype(2) != in) {
    return ctx.error("zero point type ", dtype_name(ctx.input_dtype(2)), " differs from input ",
                     dtype_name(in));
  }
  if (!dtype_is_float(ctx.input_dtype(1)) || ctx.input_dtype(1) == DType::kFloat64) {
    return ctx.error("expects a float32, float16 or bfloat16 scale, got ",
                     dtype_name(ctx.input_dtype(1)));
  }
  VITRT_RETURN_IF_ERROR(check_scale_and_zero_point(ctx));
  if (ctx.input_has_shape(0)) {
    ctx.set_output(0, ctx.input_dtype(1), ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(0, ctx.input_dtype(1));
  }
  return Status();
}

Status infer_fake_quant(InferContext& ctx) {
  if (!dtype_is_float(ctx.input_dtype(0)) || ctx.input_dtype(0) == DType::kFloat64) {
    return ctx.error("expects a float32, float16 or bfloat16 input, got ",
                     dtype_name(ctx.input_dtype(0)));
  }
  for (const char* name : {"quant", "quant_out"}) {
    if (std::string(name) == "quant_out" && !ctx.attrs().has(name)) continue;
    VITRT_ASSIGN_OR_RETURN(std::vector<float> v, ctx.attrs().get_floats(name, {}));
    const char* why = nullptr;
    if (!fake_quant_from_floats(v, &why)) return ctx.error("attribute '", name, "' ", why);
  }
  if (ctx.attrs().has("quant_out") && !ctx.has_input(1)) {
    return ctx.error("attribute 'quant_out' needs the bias input");
  }
  if (ctx.has_input(1)) {
    if (ctx.input_dtype(1) != DType::kFloat32) {
      return ctx.error("the bias must be float32, got ", dtype_name(ctx.input_dtype(1)));
    }
    if (ctx.input_has_shape(1) && ctx.input_has_shape(0)) {
      const SymShape& b = ctx.input_shape(1);
      const SymShape& x = ctx.input_shape(0);
      if (b.size() != 1 || x.empty() || !b[0].is_static() || !x.back().is_static() ||
          b[0].value() != x.back().value()) {
        return ctx.error("the bias must be [N] with N x's last dim, got ", sym_shape_to_string(b),
                         " for x ", sym_shape_to_string(x));
      }
    }
  }
  if (ctx.input_has_shape(0)) {
    ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(0, ctx.input_dtype(0));
  }
  return Status();
}

}  // namespace

void register_qdq_schemas(OpRegistry& registry) {
  registry.add({"", "QuantizeLinear", 2, 3, 1, 1, infer_quantize_linear});
  registry.add({"", "DequantizeLinear", 2, 3, 1, 1, infer_dequantize_linear});
  registry.add({"vitrt", "FakeQuant", 1, 2, 1, 1, infer_fake_quant});
}

}  // namespace vitrt
