// Schemas of the normalization op family: Softmax, LogSoftmax, LayerNormalization,
// RMSNormalization, BatchNormalization (inference), InstanceNormalization, GroupNormalization,
// LpNormalization and MeanVarianceNormalization. All keep the input's shape; LayerNormalization's
// optional Mean and InvStdDev outputs have the reduced shape X.shape[:axis] + [1] * (rank - axis).
#include "ir/op_schema.h"

namespace vitrt {

namespace {

void set_same_as_input(InferContext& ctx, int output = 0) {
  if (ctx.input_has_shape(0)) {
    ctx.set_output(output, ctx.input_dtype(0), ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(output, ctx.input_dtype(0));
  }
}

// Checks an integer `axis` attribute against the input rank when the rank is known.
Status check_axis_attr(const InferContext& ctx, int64_t default_axis) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().get_int("axis", default_axis));
  if (!ctx.input_has_shape(0)) return Status();
  return normalize_axis(ctx, axis, ctx.input_rank(0), "attribute 'axis'").status();
}

Status require_float(const InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  if (dtype != DType::kUndefined && !dtype_is_float(dtype)) {
    return ctx.error("input X must be a float tensor, got ", dtype_name(dtype));
  }
  return Status();
}

Status infer_softmax(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(require_float(ctx));
  // Opset 13 made Softmax act along one axis (default -1); before, it flattened to 2-D at
  // `axis` (default 1).
  VITRT_RETURN_IF_ERROR(check_axis_attr(ctx, ctx.opset() >= 13 ? -1 : 1));
  set_same_as_input(ctx);
  return Status();
}

Status infer_layer_norm(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(require_float(ctx));
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", -1));
  VITRT_ASSIGN_OR_RETURN(int64_t stash, ctx.attrs().get_int("stash_type", 1));
  const DType stash_dtype = dtype_from_onnx(static_cast<int32_t>(stash));
  if (!dtype_is_float(stash_dtype)) {
    return ctx.error("attribute 'stash_type' ", stash, " is not a float type");
  }
  set_same_as_input(ctx);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(1, stash_dtype);
    ctx.set_output_unknown_shape(2, stash_dtype);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  const int rank = static_cast<int>(x.size());
  VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(ctx, axis_attr, rank, "attribute 'axis'"));
  for (int i = 1; i <= 2; ++i) {
    if (!ctx.input_has_shape(i)) continue;
    // Scale and B broadcast to X (unidirectionally, as ONNX allows); the kernels take them over
    // X.shape[axis:], and lower_norm_params moves wider ones into a Mul / Add after the op.
    const SymShape& p = ctx.input_shape(i);
    if (static_cast<int>(p.size()) > rank) {
      return ctx.error("input ", i == 1 ? "Scale" : "B", " has rank ", p.size(), ", more than X's ",
                       rank);
    }
    for (size_t k = 0; k < p.size(); ++k) {
      const Dim& d = p[p.size() - 1 - k];
      const Dim& xd = x[rank - 1 - k];
      if (d.is_static() && xd.is_static() && d.value() != 1 && d.value() != xd.value()) {
        return ctx.error("input ", i == 1 ? "Scale" : "B", " shape ", sym_shape_to_string(p),
                         " does not broadcast to X ", sym_shape_to_string(x));
      }
    }
  }
  SymShape stat(x.begin(), x.begin() + axis);
  stat.resize(rank, Dim(1));
  ctx.set_output(1, stash_dtype, stat);
  ctx.set_output(2, stash_dtype, stat);
  return Status();
}

// BatchNormalization, InstanceNormalization, GroupNormalization: X is [N, C, D1, ...].
Status infer_channel_norm(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(require_float(ctx));
  if (ctx.input_has_shape(0) && ctx.input_rank(0) < 2) {
    return ctx.error("input X must have rank >= 2 ([N, C, ...]), got rank ", ctx.input_rank(0));
  }
  set_same_as_input(ctx);
  // Training-mode statistics outputs of BatchNormalization have shape [C].
  for (int i = 1; i < ctx.num_outputs(); ++i) {
    if (ctx.input_has_shape(0)) {
      ctx.set_output(i, ctx.input_dtype(3 < ctx.num_inputs() ? 3 : 0), {ctx.input_shape(0)[1]});
    }
  }
  return Status();
}

Status infer_group_norm(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t groups, ctx.attrs().require_int("num_groups"));
  if (groups <= 0) return ctx.error("attribute 'num_groups' must be positive, got ", groups);
  if (ctx.input_has_shape(0) && ctx.input_rank(0) >= 2) {
    const Dim& c = ctx.input_shape(0)[1];
    if (c.is_static() && c.value() % groups != 0) {
      return ctx.error("channel count ", c.value(), " is not divisible by attribute 'num_groups' ",
                       groups);
    }
  }
  return infer_channel_norm(ctx);
}

Status infer_lp_norm(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(require_float(ctx));
  VITRT_ASSIGN_OR_RETURN(int64_t p, ctx.attrs().get_int("p", 2));
  if (p != 1 && p != 2) return ctx.error("attribute 'p' must be 1 or 2, got ", p);
  VITRT_RETURN_IF_ERROR(check_axis_attr(ctx, -1));
  set_same_as_input(ctx);
  return Status();
}

Status infer_mvn(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(require_float(ctx));
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.attrs().get_ints("axes", {0, 2, 3}));
  if (ctx.input_has_shape(0)) {
    for (int64_t a : axes) {
      VITRT_RETURN_IF_ERROR(normalize_axis(ctx, a, ctx.input_rank(0), "axes value").status());
    }
  }
  set_same_as_input(ctx);
  return Status();
}

}  // namespace

void register_normalization_schemas(OpRegistry& registry) {
  registry.add({"", "Softmax", 1, 1, 1, 1, infer_softmax});
  registry.add({"", "LogSoftmax", 1, 1, 1, 1, infer_softmax});
  registry.add({"", "LayerNormalization", 2, 3, 1, 3, infer_layer_norm});
  // Opset 23: X, scale; the same attributes and broadcast rule as LayerNormalization, no bias
  // and no statistics outputs.
  registry.add({"", "RMSNormalization", 2, 2, 1, 1, infer_layer_norm});
  registry.add({"", "BatchNormalization", 5, 5, 1, 5, infer_channel_norm});
  registry.add({"", "InstanceNormalization", 3, 3, 1, 1, infer_channel_norm});
  registry.add({"", "GroupNormalization", 3, 3, 1, 1, infer_group_norm});
  registry.add({"", "LpNormalization", 1, 1, 1, 1, infer_lp_norm});
  registry.add({"", "MeanVarianceNormalization", 1, 1, 1, 1, infer_mvn});
}

}  // namespace vitrt
