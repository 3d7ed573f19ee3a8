// Schema of vitrt.ChannelsLastConv (see channels_last_conv.h): attribute parsing, the concrete
// geometry the kernels share, and symbolic shape inference.
#include "ir/ops/channels_last_conv.h"

#include <string>

#include "ir/op_schema.h"

namespace vitrt {

namespace {

// W [D, KH, KW, Cg] as ONNX's [D, Cg, KH, KW], for ConvAttributes::kernel_dim.
SymShape onnx_weight_order(const SymShape& w) {
  return {w[0], w[3], w[1], w[2]};
}

Status infer_channels_last_conv(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i) && ctx.input_dtype(i) != dtype) {
      return ctx.error(i == 1 ? "W" : "B", " is ", dtype_name(ctx.input_dtype(i)), " but X is ",
                       dtype_name(dtype));
    }
  }
  VITRT_ASSIGN_OR_RETURN(const ChannelsLastConvAttributes attrs,
                         parse_channels_last_conv(ctx.node()));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.size() != 4) return ctx.error("X must be [N, H, W, C], got ", sym_shape_to_string(x));
  const SymShape w = ctx.input_has_shape(1) ? ctx.input_shape(1) : SymShape(4);
  if (w.size() != 4) {
    return ctx.error("W must be [D, KH, KW, C/group], got ", sym_shape_to_string(w));
  }
  const int64_t group = attrs.conv.group;
  if ((x[3].is_static() && w[3].is_static() && x[3].value() != w[3].value() * group) ||
      (w[0].is_static() && w[0].value() % group != 0)) {
    return ctx.error("X ", sym_shape_to_string(x), " and W ", sym_shape_to_string(w),
                     " do not fit group ", group,
                     ": W must be [D, KH, KW, C/group] with D a multiple of group");
  }
  if (ctx.input_has_shape(2)) {
    const SymShape& bias = ctx.input_shape(2);
    if (bias.size() != 1 || static_and_differ(bias[0], w[0])) {
      return ctx.error("B must be [", w[0].to_string(), "], got ", sym_shape_to_string(bias));
    }
  }
  SymShape out = {x[0]};
  const SymShape onnx_w = onnx_weight_order(w);
  for (int i = 0; i < 2; ++i) {
    VITRT_ASSIGN_OR_RETURN(const Dim kernel, attrs.conv.kernel_dim(ctx.node(), i, onnx_w));
    VITRT_ASSIGN_OR_RETURN(Dim o, attrs.conv.out_dim(ctx.node(), i, x[1 + i], kernel));
    out.push_back(std::move(o));
  }
  out.push_back(w[0]);
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

}  // namespace

Result<ChannelsLastConvAttributes> parse_channels_last_conv(const Node& node) {
  ChannelsLastConvAttributes a;
  VITRT_ASSIGN_OR_RETURN(a.conv, ConvAttributes::parse(node, 2));
  VITRT_ASSIGN_OR_RETURN(a.activation, parse_conv_activation(node));
  return a;
}

Result<ConvActivation> parse_conv_activation(const Node& node) {
  const Result<std::string> act = node.attrs.get_string("activation", "none");
  if (!act.ok()) return act.status();
  static constexpr std::pair<const char*, ConvActivation> kNames[] = {
      {"none", ConvActivation::kNone},          {"relu", ConvActivation::kRelu},
      {"silu", ConvActivation::kSilu},          {"hard_swish", ConvActivation::kHardSwish},
      {"relu6", ConvActivation::kRelu6},        {"gelu", ConvActivation::kGelu},
      {"gelu_tanh", ConvActivation::kGeluTanh},
  };
  for (const auto& [name, value] : kNames) {
    if (*act == name) return value;
  }
  return invalid_model(node.describe(), ": attribute 'activation' is '", *act,
                       "', expected 'none', 'relu', 'silu', 'hard_swish', 'relu6', 'gelu' "
                       "or 'gelu_tanh'");
}

Result<ChannelsLastConvGeometry> channels_last_conv_geometry(
    const Node& node, const ChannelsLastConvAttributes& attrs, const std::vector<int64_t>& x,
    const std::vector<int64_t>& w, const std::vector<int64_t>* bias) {
  if (x.size() != 4) {
    return invalid_argument("X must be [N, H, W, C], got ", shape_to_string(x));
  }
  if (w.size() != 4) {
    return invalid_argument("W must be [D, KH, KW, C/group], got ", shape_to_string(w));
  }
  ChannelsLastConvGeometry g;
  g.batch = x[0];
  g.height = x[1];
  g.width = x[2];
  g.channels = x[3];
  g.out_channels = w[0];
  g.kh = w[1];
  g.kw = w[2];
  g.group = attrs.conv.group;
  g.activation = attrs.activation;
  if (g.group < 1 || g.channels < 1 || g.channels % g.group != 0 || w[3] * g.group != g.channels ||
      g.out_channels % g.group != 0) {
    return invalid_argument("X ", shape_to_string(x), " and W ", shape_to_string(w),
                            " do not fit group ", g.group,
                            ": W must be [D, KH, KW, C/group] with D a multiple of group");
  }
  if (!attrs.conv.kernel_shape.empty() &&
      (attrs.conv.kernel_shape[0] != g.kh || attrs.conv.kernel_shape[1] != g.kw)) {
    return invalid_argument("W ", shape_to_string(w), " does not match attribute 'kernel_shape'");
  }
  if (bias != nullptr && (bias->size() != 1 || (*bias)[0] != g.out_channels)) {
    return invalid_argument("B must be [", g.out_channels, "], got ", shape_to_string(*bias));
  }
  VITRT_ASSIGN_OR_RETURN(const ConvAttributes::Axis ay, attrs.conv.axis(node, 0, g.height, g.kh));
  VITRT_ASSIGN_OR_RETURN(const ConvAttributes::Axis ax, attrs.conv.axis(node, 1, g.width, g.kw));
  g.out_h = ay.out;
  g.out_w = ax.out;
  g.ph = ay.pad_begin;
  g.pw = ax.pad_begin;
  g.ph_end = ay.pad_end;
  g.pw_end = ax.pad_end;
  g.sh = attrs.conv.strides[0];
  g.sw = attrs.conv.strides[1];
  g.dh = attrs.conv.dilations[0];
  g.dw = attrs.conv.dilations[1];
  return g;
}

void register_channels_last_conv_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "ChannelsLastConv", 2, 3, 1, 1, infer_channels_last_conv});
}

}  // namespace vitrt
