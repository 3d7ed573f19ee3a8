// Schema of vitrt.ChannelsLastConv (see channels_last_conv.h): attribute parsing, the concrete
// geometry the kernels share, and symbolic shape inference.
#include "ir/ops/channels_last_conv.h"

#include <string>

#include "ir/op_schema.h"

namespace vitrt {

namespace {

constexpr const char* kDepthwiseOnly =
    "vitrt.ChannelsLastConv is depthwise only: X [N, H, W, C] with group = C and W [D, 1, KH, "
    "KW], D a multiple of C";

Status infer_channels_last_conv(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    if (ctx.has_input(i) && ctx.input_dtype(i) != dtype) {
      return ctx.error(i == 1 ? "W" : "B", " is ", dtype_name(ctx.input_dtype(i)), " but X is ",
                       dtype_name(dtype));
    }
  }
  VITRT_ASSIGN_OR_RETURN(const ConvAttributes attrs, parse_channels_last_conv(ctx.node()));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.size() != 4) return ctx.error("X must be [N, H, W, C], got ", sym_shape_to_string(x));
  const SymShape w = ctx.input_has_shape(1) ? ctx.input_shape(1) : SymShape(4);
  if (w.size() != 4) {
    return ctx.error("W must be [D, 1, KH, KW], got ", sym_shape_to_string(w));
  }
  if (static_and_differ(x[3], Dim(attrs.group)) || static_and_differ(w[1], Dim(1)) ||
      (w[0].is_static() && w[0].value() % attrs.group != 0)) {
    return ctx.error(kDepthwiseOnly, "; got X ", sym_shape_to_string(x), ", W ",
                     sym_shape_to_string(w), ", group ", attrs.group);
  }
  if (ctx.input_has_shape(2)) {
    const SymShape& bias = ctx.input_shape(2);
    if (bias.size() != 1 || static_and_differ(bias[0], w[0])) {
      return ctx.error("B must be [", w[0].to_string(), "], got ", sym_shape_to_string(bias));
    }
  }
  SymShape out = {x[0]};
  for (int i = 0; i < 2; ++i) {
    VITRT_ASSIGN_OR_RETURN(const Dim kernel, attrs.kernel_dim(ctx.node(), i, w));
    VITRT_ASSIGN_OR_RETURN(Dim o, attrs.out_dim(ctx.node(), i, x[1 + i], kernel));
    out.push_back(std::move(o));
  }
  out.push_back(w[0]);
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

}  // namespace

Result<ConvAttributes> parse_channels_last_conv(const Node& node) {
  return ConvAttributes::parse(node, 2);
}

Result<ChannelsLastConvGeometry> channels_last_conv_geometry(const Node& node,
                                                             const ConvAttributes& attrs,
                                                             const std::vector<int64_t>& x,
                                                             const std::vector<int64_t>& w,
                                                             const std::vector<int64_t>* bias) {
  if (x.size() != 4) {
    return invalid_argument("X must be [N, H, W, C], got ", shape_to_string(x));
  }
  if (w.size() != 4) {
    return invalid_argument("W must be [D, 1, KH, KW], got ", shape_to_string(w));
  }
  ChannelsLastConvGeometry g;
  g.batch = x[0];
  g.height = x[1];
  g.width = x[2];
  g.channels = x[3];
  g.out_channels = w[0];
  g.kh = w[2];
  g.kw = w[3];
  if (g.channels != attrs.group || w[1] != 1 || g.channels < 1 || g.out_channels % g.channels) {
    return invalid_argument(kDepthwiseOnly, "; got X ", shape_to_string(x), ", W ",
                            shape_to_string(w), ", group ", attrs.group);
  }
  if (!attrs.kernel_shape.empty() &&
      (attrs.kernel_shape[0] != g.kh || attrs.kernel_shape[1] != g.kw)) {
    return invalid_argument("W ", shape_to_string(w), " does not match attribute 'kernel_shape'");
  }
  if (bias != nullptr && (bias->size() != 1 || (*bias)[0] != g.out_channels)) {
    return invalid_argument("B must be [", g.out_channels, "], got ", shape_to_string(*bias));
  }
  VITRT_ASSIGN_OR_RETURN(const ConvAttributes::Axis ay, attrs.axis(node, 0, g.height, g.kh));
  VITRT_ASSIGN_OR_RETURN(const ConvAttributes::Axis ax, attrs.axis(node, 1, g.width, g.kw));
  g.out_h = ay.out;
  g.out_w = ax.out;
  g.ph = ay.pad_begin;
  g.pw = ax.pad_begin;
  g.sh = attrs.strides[0];
  g.sw = attrs.strides[1];
  g.dh = attrs.dilations[0];
  g.dw = attrs.dilations[1];
  return g;
}

void register_channels_last_conv_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "ChannelsLastConv", 2, 3, 1, 1, infer_channels_last_conv});
}

}  // namespace vitrt
