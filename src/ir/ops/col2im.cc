// Col2Im: the geometry (see col2im.h) and the schema's shape inference.
#include "ir/ops/col2im.h"

#include <optional>

#include "ir/op_schema.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

Result<Col2ImGeometry> col2im_geometry(const Node& node, std::vector<int64_t> image,
                                       std::vector<int64_t> block) {
  const size_t k = image.size();
  if (k == 0 || block.size() != k) {
    return invalid_model(node.describe(), ": image_shape ", shape_to_string(image),
                         " and block_shape ", shape_to_string(block),
                         " must have one entry per spatial dim, and the same count");
  }
  Col2ImGeometry g;
  g.image = std::move(image);
  g.block = std::move(block);
  VITRT_ASSIGN_OR_RETURN(g.strides, node.attrs.get_ints("strides", std::vector<int64_t>(k, 1)));
  VITRT_ASSIGN_OR_RETURN(g.pads, node.attrs.get_ints("pads", std::vector<int64_t>(2 * k, 0)));
  VITRT_ASSIGN_OR_RETURN(g.dilations, node.attrs.get_ints("dilations", std::vector<int64_t>(k, 1)));
  if (g.strides.size() != k || g.dilations.size() != k || g.pads.size() != 2 * k) {
    return invalid_model(node.describe(), ": strides and dilations need ", k, " entries and pads ",
                         2 * k, " for a ", k, "-D image");
  }
  for (size_t d = 0; d < k; ++d) {
    if (g.image[d] <= 0 || g.block[d] <= 0 || g.strides[d] <= 0 || g.dilations[d] <= 0 ||
        g.pads[d] < 0 || g.pads[d + k] < 0) {
      return invalid_model(node.describe(), ": image_shape ", shape_to_string(g.image),
                           ", block_shape ", shape_to_string(g.block),
                           ", strides, dilations must be positive and pads non-negative");
    }
    const int64_t span =
        g.image[d] + g.pads[d] + g.pads[d + k] - g.dilations[d] * (g.block[d] - 1) - 1;
    if (span < 0) {
      return invalid_model(node.describe(), ": block ", g.block[d], " (dilation ", g.dilations[d],
                           ") does not fit the padded image on spatial dim ", d);
    }
    g.grid.push_back(span / g.strides[d] + 1);
    g.kernel *= g.block[d];
    g.length *= g.grid.back();
  }
  return g;
}

namespace {

// The static values of input `i`, or an error saying they must be known at build time.
Result<std::vector<int64_t>> static_ints(InferContext& ctx, int i, const char* what) {
  if (std::optional<std::vector<int64_t>> v = static_int_input(ctx, i)) return *std::move(v);
  return Result<std::vector<int64_t>>(
      ctx.error(what,
                " must be known when the plan is built (a constant), got a value "
                "computed at run time"));
}

// Col2Im: x [N, C*K, L], image_shape [k], block_shape [k] -> y [N, C, image...].
Status infer_col2im(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  if (!dtype_is_float(dtype) && dtype != DType::kFloat64) {
    return ctx.error("input must be a float tensor, got ", dtype_name(dtype));
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> image, static_ints(ctx, 1, "image_shape"));
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> block, static_ints(ctx, 2, "block_shape"));
  VITRT_ASSIGN_OR_RETURN(const Col2ImGeometry g,
                         col2im_geometry(ctx.node(), std::move(image), std::move(block)));
  if (!ctx.input_has_shape(0)) {
    SymShape out = {Dim::unknown(), Dim::unknown()};
    for (int64_t d : g.image) out.push_back(Dim(d));
    ctx.set_output(0, dtype, std::move(out));
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.size() != 3) {
    return ctx.error("input must be [N, C * prod(block_shape), L], got ", sym_shape_to_string(x));
  }
  if (x[1].is_static() && x[1].value() % g.kernel != 0) {
    return ctx.error("input has ", x[1].value(), " channels, not a multiple of prod(block_shape) ",
                     g.kernel);
  }
  if (x[2].is_static() && x[2].value() != g.length) {
    return ctx.error("input has ", x[2].value(), " columns (L) but image_shape ",
                     shape_to_string(g.image), " with block_shape ", shape_to_string(g.block),
                     ", strides, pads and dilations make ", g.length, " block positions");
  }
  SymShape out = {x[0], x[1].is_static() ? Dim(x[1].value() / g.kernel) : Dim::unknown()};
  for (int64_t d : g.image) out.push_back(Dim(d));
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

}  // namespace

void register_col2im_schema(OpRegistry& registry) {
  registry.add({"", "Col2Im", 3, 3, 1, 1, infer_col2im});
}

}  // namespace vitrt
