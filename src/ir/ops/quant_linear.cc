// vitrt.QuantLinear: a linear layer whose GEMM runs on quantized operands (int8 or FP8 E4M3).
// The contract shared by every backend (the CPU kernel, src/cpu/quant_linear_reference.cc, is
// its exact reference):
//
//   inputs   X [..., K] float (float32, float16 or bfloat16: the plan's activation type), or
//            (format fp8 only) uint8 E4M3 codes already quantized: xq = X, which encodes
//            X_real = decode(X) * input_scale (what a producer with output_scale writes), or
//            (format int8, input_zero_point 0, input_qmax 127 only) int8 values already
//            quantized: xq = X, X_real = X * input_scale (an int8 producer's codes)
//            W_q [K, N] constant: int8 values (format int8) or uint8 raw E4M3 codes (fp8)
//            w_scale [N] constant float32 > 0, per output channel
//            bias [N] optional constant float32
//            residual [..., N] optional: exactly Y's shape and dtype, only with activation
//            "none" (fuse_residual_into_linear): added after the bias, y_n += residual_n
//   attrs    format "int8" | "fp8"; input_scale float > 0 (per tensor);
//            input_zero_point int (default 0), input_qmin / input_qmax ints (default -127 /
//            127): int8 only; activation as vitrt.Linear's;
//            output_scale float > 0 (optional): Y leaves as codes, E4M3 (fp8) or int8 (int8),
//            see below; output_qmin int in [-128, 0] (int8 with output_scale only, default
//            -127): the lower clamp of the int8 codes (the upper is 127)
//            dynamic_input int 0 | 1 (int8 only, default 0): 1 quantizes X per run as ONNX's
//            DynamicQuantizeLinear does (uint8 over the whole tensor: scale = (max(0, max x) -
//            min(0, min x)) / 255, zp = round(-min / scale)), which then stand for input_scale
//            and input_zero_point with qmin / qmax 0 / 255; input_scale, input_zero_point,
//            input_qmin, input_qmax and output_scale are then absent. What import_dynamic_quant
//            makes of ONNX Runtime's quantize_dynamic chains; a NaN in X has no range: an error.
//   output   Y [..., N], X's dtype (float32, the plan's activation type, for codes X); with
//            output_scale: uint8 E4M3 codes (fp8) or int8 codes (int8)
//
//   int8  xq = clamp(round_half_even(x / input_scale) + zp, qmin, qmax) - zp; exact integer
//         products and sums
//   fp8   xq = e4m3(x / input_scale), round to nearest even, saturating at +-448 (xq = X when
//         X is uint8 codes); fp32 sums of xq * decode(W_q)
//   y_n = act(acc_n * input_scale * w_scale[n] + bias[n]) (+ residual_n, in fp32, then rounded
//   once to Y's type)
//   with output_scale: Y_n = e4m3(y_n / output_scale) of the fp32 y_n (nearest even,
//         saturating), so an fp8 QuantLinear with input_scale = output_scale reading Y sees the
//         codes its own quantize step would have made from a float32 Y (pass
//         fuse_quant_producers). The CPU kernel computes exactly that. A GPU computes y_n with the
//         bias in its 16-bit activation type, may run an erf GELU in its tanh form (mode 2, as
//         for a float Y) and multiplies by 1 / output_scale: its codes agree with these in the
//         dequantized domain, |decode(a) - decode(b)| * output_scale within one E4M3 step at
//         the value's magnitude plus the bias's rounding error, not code for code (near zero
//         that error alone spans several subnormal steps). Not with a residual input (whose
//         sum feeds a LayerNorm, never an fp8 layer).
//   int8 with output_scale: Y_n = clamp(round_half_even(y_n / output_scale), output_qmin, 127),
//         the int8 step above with input_scale = output_scale, zero point 0, qmin =
//         output_qmin, qmax 127: an int8 QuantLinear with those input attributes reading Y sees
//         the values its own quantize step would have made from a float32 Y (a requantizing
//         epilogue). A GPU's y_n differs from the fp32 one as for a float Y (16-bit bias, the
//         tanh form of GELU): its codes agree within one step.
#include <cmath>

#include "ir/op_schema.h"
#include "ir/ops/linear_rules.h"

namespace vitrt {
namespace {

Status check_int8_range(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t zp, ctx.attrs().get_int("input_zero_point", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t qmin, ctx.attrs().get_int("input_qmin", -127));
  VITRT_ASSIGN_OR_RETURN(int64_t qmax, ctx.attrs().get_int("input_qmax", 127));
  // The quantized activation is an int8 or a uint8 value: anything wider would not be a
  // QuantizeLinear output, and backends store xq in 8 bits.
  if (qmin < -128 || qmax > 255 || qmin >= qmax) {
    return ctx.error("input_qmin/input_qmax = ", qmin, "/", qmax,
                     " must satisfy -128 <= qmin < qmax <= 255");
  }
  if (zp < qmin || zp > qmax) {
    return ctx.error("input_zero_point ", zp, " lies outside [input_qmin, input_qmax] = [", qmin,
                     ", ", qmax, "]");
  }
  return Status();
}

Status infer_quant_linear(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::string format, ctx.attrs().get_string("format", ""));
  if (format != "int8" && format != "fp8") {
    return ctx.error("format '", format, "' is not one of int8, fp8");
  }
  VITRT_ASSIGN_OR_RETURN(int64_t dynamic, ctx.attrs().get_int("dynamic_input", 0));
  if (dynamic != 0 && dynamic != 1) return ctx.error("dynamic_input must be 0 or 1, got ", dynamic);
  if (dynamic == 1) {
    if (format != "int8") return ctx.error("dynamic_input applies to format int8 only");
    for (const char* name :
         {"input_scale", "input_zero_point", "input_qmin", "input_qmax", "output_scale"}) {
      if (ctx.attrs().has(name)) return ctx.error(name, " does not go with dynamic_input");
    }
  } else {
    VITRT_ASSIGN_OR_RETURN(float input_scale, ctx.attrs().get_float("input_scale", 0.0f));
    if (!(input_scale > 0.0f) || !std::isfinite(input_scale)) {
      return ctx.error("input_scale must be a finite float > 0, got ", input_scale);
    }
  }
  if (format == "int8" && dynamic == 0) {
    VITRT_RETURN_IF_ERROR(check_int8_range(ctx));
  } else {
    for (const char* name : {"input_zero_point", "input_qmin", "input_qmax"}) {
      if (ctx.attrs().has(name)) return ctx.error(name, " applies to format int8 only");
    }
  }
  VITRT_RETURN_IF_ERROR(check_linear_activation(ctx));
  const bool codes_out = ctx.attrs().has("output_scale");
  if (codes_out) {
    if (dynamic != 0) return ctx.error("output_scale does not go with dynamic_input");
    VITRT_ASSIGN_OR_RETURN(float output_scale, ctx.attrs().get_float("output_scale", 0.0f));
    if (!(output_scale > 0.0f) || !std::isfinite(output_scale)) {
      return ctx.error("output_scale must be a finite float > 0, got ", output_scale);
    }
  }
  if (ctx.attrs().has("output_qmin")) {
    if (format != "int8" || !codes_out) {
      return ctx.error("output_qmin applies to format int8 with output_scale only");
    }
    VITRT_ASSIGN_OR_RETURN(int64_t output_qmin, ctx.attrs().get_int("output_qmin", -127));
    if (output_qmin < -128 || output_qmin > 0) {
      return ctx.error("output_qmin must lie in [-128, 0], got ", output_qmin);
    }
  }
  if (codes_out && ctx.has_input(4)) {
    return ctx.error("output_scale (codes out) does not go with a residual input");
  }

  DType dtype = ctx.input_dtype(0);
  if (dtype == DType::kUInt8) {
    if (format != "fp8") {
      return ctx.error("X of uint8 (E4M3 codes) needs format fp8, got format ", format);
    }
    dtype = DType::kFloat32;  // Y in the plan's float type
  } else if (dtype == DType::kInt8) {
    VITRT_ASSIGN_OR_RETURN(int64_t zp, ctx.attrs().get_int("input_zero_point", 0));
    VITRT_ASSIGN_OR_RETURN(int64_t qmax, ctx.attrs().get_int("input_qmax", 127));
    if (format != "int8" || dynamic != 0 || zp != 0 || qmax > 127) {
      return ctx.error(
          "X of int8 (codes) needs format int8 with input_zero_point 0 and "
          "input_qmax <= 127, without dynamic_input");
    }
    dtype = DType::kFloat32;
  } else if (dtype != DType::kFloat32 && dtype != DType::kFloat16 && dtype != DType::kBFloat16) {
    return ctx.error(
        "X must be float32, float16, bfloat16, (fp8) uint8 E4M3 codes or (int8) int8 codes, "
        "got ",
        dtype_name(dtype));
  }
  if (codes_out) dtype = format == "int8" ? DType::kInt8 : DType::kUInt8;
  const DType w_dtype = format == "int8" ? DType::kInt8 : DType::kUInt8;
  if (ctx.input_dtype(1) != w_dtype) {
    return ctx.error("W_q of format ", format, " must be ", dtype_name(w_dtype), ", got ",
                     dtype_name(ctx.input_dtype(1)));
  }
  if (ctx.input_constant(1) == nullptr || !ctx.input_has_shape(1) || ctx.input_rank(1) != 2) {
    return ctx.error("W_q must be a constant 2-D [K, N] matrix");
  }
  const Dim k = ctx.input_shape(1)[0];
  const Dim n = ctx.input_shape(1)[1];
  const Tensor* w_scale = ctx.input_constant(2);
  if (w_scale == nullptr || w_scale->dtype() != DType::kFloat32 || w_scale->rank() != 1 ||
      !n.is_static() || w_scale->numel() != n.value()) {
    return ctx.error("w_scale must be a constant float32 [N] = [", n.to_string(), "]");
  }
  for (int64_t i = 0; i < w_scale->numel(); ++i) {
    const float s = w_scale->data<float>()[i];
    if (!(s > 0.0f) || !std::isfinite(s)) {
      return ctx.error("w_scale[", i, "] = ", s, " must be a finite float > 0");
    }
  }
  if (ctx.has_input(3)) {
    if (ctx.input_dtype(3) != DType::kFloat32 || !ctx.input_has_shape(3) ||
        ctx.input_rank(3) != 1 || !ctx.input_shape(3)[0].same_as(n)) {
      return ctx.error("bias must be float32 [N] = [", n.to_string(), "]");
    }
  }
  VITRT_RETURN_IF_ERROR(check_linear_residual(ctx, 4, dtype, n));
  return infer_linear_output(ctx, dtype, k, n, "W_q");
}

}  // namespace

void register_quant_linear_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "QuantLinear", 3, 5, 1, 1, infer_quant_linear});
}

}  // namespace vitrt
