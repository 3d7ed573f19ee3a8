// vitrt.AddLayerNorm: LayerNorm of a residual sum, with the sum itself as an optional second
// output (the residual stream the next block adds to). Made by fuse_residual_layer_norm.
//
//   inputs   a [..., C] float32; b broadcastable to a (usually the same shape; [N, C] for a
//            position embedding); gamma [C]; beta [C] optional
//   attrs    epsilon (float, default 1e-5); output_scale (float > 0, optional): y is written
//            as codes of y / output_scale (y in fp32 before the division) for a quantized
//            vitrt.QuantLinear reading them directly (fuse_quant_producers): with
//            output_format "fp8" (the default) uint8 FP8 E4M3 codes (nearest even, saturating
//            at +-448), with "int8" int8 clamp(round_half_even(.), output_qmin, 127)
//            (output_qmin in [-128, 0], default -127: the reader's input_qmin); sum stays
//            float;
//            quant_a, quant_b, quant_sum (optional, a quantized model's Q/DQ pairs, the floats
//            of ir/fake_quant.h; fuse_fake_quant_norm): a and b are read as fake_quant(a),
//            fake_quant(b), and the LayerNorm normalizes fake_quant(sum)
//   outputs  y = LayerNorm(a + b) over the last axis (biased variance); sum = a + b (optional;
//            with quant_a / quant_b of the fake-quantized addends, never itself quantized)
#include <cmath>

#include "ir/fake_quant.h"
#include "ir/op_schema.h"
#include "ir/ops/op_attributes.h"

namespace vitrt {
namespace {

Status infer_add_layer_norm(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(float eps, ctx.attrs().get_float("epsilon", 1e-5f));
  if (!(eps >= 0.0f)) return ctx.error("attribute 'epsilon' must be >= 0, got ", eps);
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i) && ctx.input_dtype(i) != DType::kFloat32) {
      return ctx.error("input ", i, " must be float32, got ", dtype_name(ctx.input_dtype(i)));
    }
  }
  for (const char* name : {"quant_a", "quant_b", "quant_sum"}) {
    if (!ctx.attrs().has(name)) continue;
    VITRT_ASSIGN_OR_RETURN(std::vector<float> v, ctx.attrs().get_floats(name, {}));
    const char* why = nullptr;
    if (!fake_quant_from_floats(v, &why)) return ctx.error("attribute '", name, "' ", why);
  }
  const DType dtype = DType::kFloat32;
  DType y_dtype = dtype;
  Result<OutputCodes> codes = OutputCodes::parse(ctx.attrs());
  if (!codes.ok()) return ctx.error(codes.status().message());
  if (codes->any()) y_dtype = codes->int8 ? DType::kInt8 : DType::kUInt8;
  if (!ctx.input_has_shape(0) || !ctx.input_has_shape(1)) {
    for (int i = 0; i < ctx.num_outputs(); ++i) {
      ctx.set_output_unknown_shape(i, i == 0 ? y_dtype : dtype);
    }
    return Status();
  }
  const SymShape& out = ctx.input_shape(0);
  if (out.empty()) return ctx.error("a must have rank >= 1");
  VITRT_ASSIGN_OR_RETURN(SymShape both, broadcast_shapes(ctx, out, ctx.input_shape(1)));
  for (size_t i = 0; i < both.size(); ++i) {
    // The sum has a's shape: b may repeat along a's dims, never widen them.
    const Dim& bd = both[i];
    const bool a_has_dim = i + out.size() >= both.size();
    const Dim& ad = a_has_dim ? out[i + out.size() - both.size()] : Dim(int64_t{1});
    if (!a_has_dim || (bd.is_known() && ad.is_known() && !bd.same_as(ad))) {
      return ctx.error("b ", sym_shape_to_string(ctx.input_shape(1)), " does not broadcast to a ",
                       sym_shape_to_string(out));
    }
  }
  const Dim& c = out.back();
  for (int i : {2, 3}) {
    if (!ctx.input_has_shape(i)) continue;
    const SymShape& p = ctx.input_shape(i);
    if (p.size() != 1 || (c.is_known() && p[0].is_known() && !p[0].same_as(c))) {
      return ctx.error(i == 2 ? "gamma" : "beta", " must be [C] = [", c.to_string(), "], got ",
                       sym_shape_to_string(p));
    }
  }
  ctx.set_output(0, y_dtype, out);
  ctx.set_output(1, dtype, out);
  return Status();
}

}  // namespace

void register_fused_norm_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "AddLayerNorm", 3, 4, 1, 2, infer_add_layer_norm});
}

}  // namespace vitrt
