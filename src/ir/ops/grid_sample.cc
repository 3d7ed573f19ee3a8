// Schema of GridSample (opsets 16-22): X [N, C, H, W] sampled at grid [N, Ho, Wo, 2] (x, y in
// [-1, 1]) -> Y [N, C, Ho, Wo]; the attributes shared with the kernels. The deformable attention
// of RT-DETR, Deformable DETR and Mask2Former samples its value maps this way.
#include "ir/ops/grid_sample.h"

#include <string>

#include "ir/op_schema.h"

namespace vitrt {

Result<GridSampleAttributes> GridSampleAttributes::parse(const Node& node) {
  GridSampleAttributes a;
  auto mode = node.attrs.get_string("mode", "bilinear");
  if (!mode.ok()) return mode.status().with_context(node.describe());
  if (*mode == "bilinear" || *mode == "linear") {
    a.mode = grid_sample::kLinear;
  } else if (*mode == "nearest") {
    a.mode = grid_sample::kNearest;
  } else if (*mode == "bicubic" || *mode == "cubic") {
    return unsupported(node.describe(), ": GridSample mode '", *mode,
                       "' (linear and nearest are supported)");
  } else {
    return invalid_model(node.describe(), ": attribute 'mode' is '", *mode,
                         "', expected bilinear/linear, nearest or bicubic/cubic");
  }
  auto padding = node.attrs.get_string("padding_mode", "zeros");
  if (!padding.ok()) return padding.status().with_context(node.describe());
  if (*padding == "zeros") {
    a.padding = grid_sample::kZeros;
  } else if (*padding == "border") {
    a.padding = grid_sample::kBorder;
  } else if (*padding == "reflection") {
    a.padding = grid_sample::kReflection;
  } else {
    return invalid_model(node.describe(), ": attribute 'padding_mode' is '", *padding,
                         "', expected zeros, border or reflection");
  }
  auto align = node.attrs.get_int("align_corners", 0);
  if (!align.ok()) return align.status().with_context(node.describe());
  if (*align != 0 && *align != 1) {
    return invalid_model(node.describe(), ": attribute 'align_corners' is ", *align,
                         ", expected 0 or 1");
  }
  a.align_corners = *align == 1;
  return a;
}

namespace {

bool is_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
         t == DType::kBFloat16;
}

Status infer_grid_sample(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  if (!is_float(dtype) || !is_float(ctx.input_dtype(1))) {
    return ctx.error("X (", dtype_name(dtype), ") and grid (", dtype_name(ctx.input_dtype(1)),
                     ") must be float tensors");
  }
  VITRT_RETURN_IF_ERROR(GridSampleAttributes::parse(ctx.node()).status());
  if (!ctx.input_has_shape(0) && !ctx.input_has_shape(1)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape x = ctx.input_has_shape(0) ? ctx.input_shape(0) : SymShape(4);
  const SymShape grid = ctx.input_has_shape(1) ? ctx.input_shape(1) : SymShape(4);
  if (x.size() != 4 || grid.size() != 4) {
    return ctx.error("X ", sym_shape_to_string(x), " and grid ", sym_shape_to_string(grid),
                     " must have rank 4 ([N, C, H, W] and [N, Ho, Wo, 2]; the volumetric form "
                     "is not supported)");
  }
  if (grid[3].is_static() && grid[3].value() != 2) {
    return ctx.error("grid ", sym_shape_to_string(grid), " must end in 2 (x, y)");
  }
  if (x[0].is_static() && grid[0].is_static() && x[0].value() != grid[0].value()) {
    return ctx.error("X ", sym_shape_to_string(x), " and grid ", sym_shape_to_string(grid),
                     " differ in batch");
  }
  ctx.set_output(0, dtype, {x[0].is_known() ? x[0] : grid[0], x[1], grid[1], grid[2]});
  return Status();
}

}  // namespace

void register_grid_sample_schemas(OpRegistry& registry) {
  registry.add({"", "GridSample", 2, 2, 1, 1, infer_grid_sample});
}

}  // namespace vitrt
