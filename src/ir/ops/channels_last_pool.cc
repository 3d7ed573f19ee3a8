// Schema of vitrt.ChannelsLastPool (see channels_last_pool.h): attribute parsing, the concrete
// geometry the kernels share, and symbolic shape inference.
#include "ir/ops/channels_last_pool.h"

#include <string>

#include "ir/op_schema.h"

namespace vitrt {

namespace {

Status infer_channels_last_pool(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  if (dtype != DType::kFloat32 && dtype != DType::kFloat64 && dtype != DType::kFloat16 &&
      dtype != DType::kBFloat16) {
    return ctx.error("X is ", dtype_name(dtype), ", expected a float type");
  }
  VITRT_ASSIGN_OR_RETURN(const ChannelsLastPoolAttributes attrs,
                         parse_channels_last_pool(ctx.node()));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.size() != 4) return ctx.error("X must be [N, H, W, C], got ", sym_shape_to_string(x));
  const PoolAttributes& pool = attrs.pool;
  SymShape out = {x[0]};
  for (int i = 0; i < 2; ++i) {
    const Dim& in = x[1 + i];
    if (in.is_static()) {
      VITRT_ASSIGN_OR_RETURN(const ConvAttributes::Axis axis, pool.axis(ctx.node(), i, in.value()));
      out.push_back(axis.out);
    } else if (!pool.ceil_mode || pool.geometry.auto_pad != AutoPad::kNotSet) {
      // Without ceil_mode the size is Conv's (PoolAttributes::axis defers to it): a symbol
      // such as "((H - 1)//2 + 1)", or H itself under SAME with stride 1.
      VITRT_ASSIGN_OR_RETURN(
          Dim o, pool.geometry.out_dim(ctx.node(), i, in, Dim(pool.geometry.kernel_shape[i])));
      out.push_back(std::move(o));
    } else {
      out.push_back(Dim::unknown());  // ceil_mode's last-window rule has no symbolic form
    }
  }
  out.push_back(x[3]);
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

}  // namespace

Result<ChannelsLastPoolAttributes> parse_channels_last_pool(const Node& node) {
  ChannelsLastPoolAttributes a;
  if (!node.attrs.has("mode")) {
    return invalid_model(node.describe(), ": attribute 'mode' is required ('max' or 'average')");
  }
  const Result<std::string> mode = node.attrs.get_string("mode", "");
  if (!mode.ok()) return mode.status().with_context(node.describe());
  if (*mode != "max" && *mode != "average") {
    return invalid_model(node.describe(), ": attribute 'mode' is '", *mode,
                         "', expected 'max' or 'average'");
  }
  a.average = *mode == "average";
  VITRT_ASSIGN_OR_RETURN(a.pool, PoolAttributes::parse(node, 2));
  if (a.average) {
    const std::vector<int64_t>& d = a.pool.geometry.dilations;
    if (d[0] != 1 || d[1] != 1) {
      return invalid_model(node.describe(), ": attribute 'dilations' is [", d[0], ", ", d[1],
                           "], but mode 'average' takes no dilation");
    }
  } else if (a.pool.count_include_pad) {
    return invalid_model(node.describe(),
                         ": attribute 'count_include_pad' applies to mode 'average' only");
  }
  return a;
}

Result<ChannelsLastPoolGeometry> channels_last_pool_geometry(
    const Node& node, const ChannelsLastPoolAttributes& attrs, const std::vector<int64_t>& x) {
  if (x.size() != 4) {
    return invalid_argument("X must be [N, H, W, C], got ", shape_to_string(x));
  }
  ChannelsLastPoolGeometry g;
  g.batch = x[0];
  g.height = x[1];
  g.width = x[2];
  g.channels = x[3];
  const PoolAttributes& pool = attrs.pool;
  // PoolAttributes::axis's errors are invalid_model; at run time the input is what is wrong.
  Result<ConvAttributes::Axis> ay = pool.axis(node, 0, g.height);
  if (!ay.ok()) return invalid_argument(ay.status().message());
  Result<ConvAttributes::Axis> ax = pool.axis(node, 1, g.width);
  if (!ax.ok()) return invalid_argument(ax.status().message());
  g.out_h = ay->out;
  g.out_w = ax->out;
  g.ph = ay->pad_begin;
  g.pw = ax->pad_begin;
  g.ph_end = ay->pad_end;
  g.pw_end = ax->pad_end;
  g.kh = pool.geometry.kernel_shape[0];
  g.kw = pool.geometry.kernel_shape[1];
  g.sh = pool.geometry.strides[0];
  g.sw = pool.geometry.strides[1];
  g.dh = pool.geometry.dilations[0];
  g.dw = pool.geometry.dilations[1];
  g.average = attrs.average;
  g.count_include_pad = pool.count_include_pad;
  return g;
}

void register_channels_last_pool_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "ChannelsLastPool", 1, 1, 1, 1, infer_channels_last_pool});
}

}  // namespace vitrt
