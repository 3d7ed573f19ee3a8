// vitrt.ScaleShift: a per-channel affine map and an activation, y = act(x * scale + shift), over
// the last axis: a BatchNormalization that no convolution before it absorbs (DenseNet's
// BN -> ReLU before each conv, CoAtNet's and MaxViT's BN -> SiLU after the squeeze-and-excite
// gate), or HGNetV2's learnable affine block (one scale and one shift for every channel), once
// the trunk is stored channels-last. Made by fuse_scale_shift from Mul -> Add (-> activation).
//
//   inputs   x [..., C] float32; scale [C] and shift [C] float32 (constants in the plans the
//            pass writes)
//   attrs    activation: "none" (default) | "relu" | "relu6" | "silu" | "hard_swish" | "gelu"
//            | "gelu_tanh", as vitrt.ChannelsLastConv names them, applied after the shift
//   output   y [..., C] float32: y[..., c] = act(x[..., c] * scale[c] + shift[c]), the product
//            and the sum each rounded to float32 as the Mul and Add were
#include "ir/op_schema.h"
#include "ir/ops/channels_last_conv.h"

namespace vitrt {
namespace {

Status infer_scale_shift(InferContext& ctx) {
  Result<ConvActivation> act = parse_conv_activation(ctx.node());
  if (!act.ok()) return ctx.error(act.status().message());
  for (int i = 0; i < 3; ++i) {
    if (ctx.input_dtype(i) != DType::kFloat32) {
      return ctx.error("input ", i, " must be float32, got ", dtype_name(ctx.input_dtype(i)));
    }
  }
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, DType::kFloat32);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.empty()) return ctx.error("x must have rank >= 1 (its last axis is the channels)");
  for (int i : {1, 2}) {
    if (!ctx.input_has_shape(i)) continue;
    const SymShape& v = ctx.input_shape(i);
    if (v.size() != 1 || (v[0].is_known() && x.back().is_known() && !v[0].same_as(x.back()))) {
      return ctx.error(i == 1 ? "scale" : "shift", " must be [", x.back().to_string(),
                       "] (x's last dim), got ", sym_shape_to_string(v));
    }
  }
  ctx.set_output(0, DType::kFloat32, x);
  return Status();
}

}  // namespace

void register_scale_shift_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "ScaleShift", 3, 3, 1, 1, infer_scale_shift});
}

}  // namespace vitrt
