// Schemas of the reduce op family: Reduce{Mean,Sum,Max,Min,Prod,L1,L2,LogSum,LogSumExp,
// SumSquare}, ArgMax, ArgMin, CumSum and TopK.
//
// Reduce axes are an attribute before opset 18 (ReduceSum: 13) and an optional input after;
// shape inference accepts either form at any opset, as the kernels do, so a model that mixes
// them still imports.
#include <algorithm>

#include "ir/op_schema.h"

namespace vitrt {

namespace {

// The reduce axes of a node; `known` is false when they come from an input whose value is
// not known at build time.
struct ReduceAxes {
  bool known = true;
  std::vector<int64_t> axes;
};

Result<ReduceAxes> reduce_axes(const InferContext& ctx) {
  ReduceAxes out;
  if (ctx.has_input(1)) {
    if (const Tensor* t = ctx.input_constant(1)) {
      if (!dtype_is_integer(t->dtype()) || t->rank() > 1) {
        return ctx.error("axes input must be a 1-D integer tensor, got ", t->describe());
      }
      out.axes = t->to_int64_vector();
      return out;
    }
    const std::vector<Dim>* sv = ctx.input_sym_value(1);
    out.known = sv != nullptr;
    for (size_t i = 0; sv && i < sv->size(); ++i) {
      if (!(*sv)[i].is_static()) out.known = false;
      out.axes.push_back((*sv)[i].value());
    }
    return out;
  }
  VITRT_ASSIGN_OR_RETURN(out.axes, ctx.attrs().get_ints("axes", {}));
  return out;
}

// The axes as a per-dim mask; errors name an out-of-range or repeated axis.
Result<std::vector<bool>> reduced_axis_mask(const InferContext& ctx,
                                            const std::vector<int64_t>& axes, int rank) {
  std::vector<bool> mask(rank, false);
  for (int64_t a : axes) {
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(ctx, a, rank, "axes value"));
    if (mask[axis]) return ctx.error("axes lists axis ", axis, " more than once");
    mask[axis] = true;
  }
  return mask;
}

Status infer_reduce(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  VITRT_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attrs().get_int("keepdims", 1));
  VITRT_ASSIGN_OR_RETURN(int64_t noop, ctx.attrs().get_int("noop_with_empty_axes", 0));
  VITRT_ASSIGN_OR_RETURN(ReduceAxes axes, reduce_axes(ctx));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  if (!axes.known) {
    // Each dim is either kept or 1; only the rank is known, and only with keepdims.
    if (keepdims) {
      ctx.set_output(0, dtype, SymShape(rank, Dim::unknown()));
    } else {
      ctx.set_output_unknown_shape(0, dtype);
    }
    return Status();
  }
  if (axes.axes.empty() && noop) {
    ctx.set_output(0, dtype, in);
    return Status();
  }
  std::vector<bool> mask(rank, true);
  if (!axes.axes.empty()) {
    VITRT_ASSIGN_OR_RETURN(mask, reduced_axis_mask(ctx, axes.axes, rank));
  }
  SymShape out;
  for (int i = 0; i < rank; ++i) {
    if (!mask[i]) {
      out.push_back(in[i]);
    } else if (keepdims) {
      out.push_back(Dim(1));
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status infer_arg_reduce(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attrs().get_int("keepdims", 1));
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, DType::kInt64);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(ctx, axis_attr, rank, "attribute 'axis'"));
  SymShape out;
  for (int i = 0; i < rank; ++i) {
    if (i != axis) {
      out.push_back(in[i]);
    } else if (keepdims) {
      out.push_back(Dim(1));
    }
  }
  ctx.set_output(0, DType::kInt64, std::move(out));
  return Status();
}

Status infer_cumsum(InferContext& ctx) {
  if (ctx.input_has_shape(1) && ctx.input_rank(1) > 1) {
    return ctx.error("axis input must be a scalar or a 1-element tensor, got rank ",
                     ctx.input_rank(1));
  }
  if (const Tensor* axis = ctx.input_constant(1); axis && ctx.input_has_shape(0)) {
    if (axis->numel() != 1) return ctx.error("axis input must hold one value");
    VITRT_RETURN_IF_ERROR(
        normalize_axis(ctx, axis->element_as_int64(0), ctx.input_rank(0), "axis input value")
            .status());
  }
  if (ctx.input_has_shape(0)) {
    ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(0, ctx.input_dtype(0));
  }
  return Status();
}

Status infer_topk(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", -1));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    ctx.set_output_unknown_shape(1, DType::kInt64);
    return Status();
  }
  SymShape out = ctx.input_shape(0);
  const int rank = static_cast<int>(out.size());
  VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(ctx, axis_attr, rank, "attribute 'axis'"));
  Dim k = Dim::unknown();
  if (ctx.has_input(1)) {
    if (const std::vector<Dim>* sv = ctx.input_sym_value(1); sv && sv->size() == 1) k = (*sv)[0];
  } else {
    VITRT_ASSIGN_OR_RETURN(int64_t k_attr, ctx.attrs().require_int("k"));
    k = Dim(k_attr);
  }
  if (k.is_static() && k.value() < 0) return ctx.error("K is negative (", k.value(), ")");
  if (k.is_static() && out[axis].is_static() && k.value() > out[axis].value()) {
    return ctx.error("K = ", k.value(), " exceeds the size ", out[axis].value(), " of axis ", axis);
  }
  out[axis] = k;
  ctx.set_output(0, dtype, out);
  ctx.set_output(1, DType::kInt64, out);
  return Status();
}

}  // namespace

void register_reduce_schemas(OpRegistry& registry) {
  for (const char* op :
       {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}) {
    registry.add({"", op, 1, 2, 1, 1, infer_reduce});
  }
  registry.add({"", "ArgMax", 1, 1, 1, 1, infer_arg_reduce});
  registry.add({"", "ArgMin", 1, 1, 1, 1, infer_arg_reduce});
  registry.add({"", "CumSum", 2, 2, 1, 1, infer_cumsum});
  registry.add({"", "TopK", 1, 2, 2, 2, infer_topk});
}

}  // namespace vitrt
