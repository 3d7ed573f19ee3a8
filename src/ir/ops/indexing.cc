// Schemas of the indexing family: Slice, Gather*, Scatter*, OneHot, NonZero, Compress.
//
// Slice and Gather pass sym_values along so that shape arithmetic (Shape -> Gather(0) ->
// Unsqueeze -> Concat) stays symbolic.
#include <limits>

#include "ir/op_schema.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

namespace {

SymShape unknown_dims(size_t rank) {
  return SymShape(rank, Dim::unknown());
}

bool is_index_type(DType t) {
  return t == DType::kInt64 || t == DType::kInt32 || t == DType::kUndefined;
}

Status check_indices(const InferContext& ctx, int i, const char* what) {
  if (!is_index_type(ctx.input_dtype(i))) {
    return ctx.error(what, " must be int64 or int32, got ", dtype_name(ctx.input_dtype(i)));
  }
  return Status();
}

// Slice of one possibly symbolic dim: static dims are resolved exactly; a symbolic dim keeps
// its Dim only when the slice provably takes all of it.
Result<Dim> slice_dim(const Dim& dim, int64_t start, int64_t end, int64_t step) {
  if (dim.is_static()) {
    VITRT_ASSIGN_OR_RETURN(std::vector<SliceRange> r,
                           resolve_slice({dim.value()}, {start}, {end}, {0}, {step}));
    return Dim(r[0].count);
  }
  if (step == 0) return invalid_model("steps value is 0");
  // Exporters write "to the end" as INT64_MAX (or INT32_MAX); no real dim comes near 2^31.
  constexpr int64_t kHuge = std::numeric_limits<int32_t>::max();
  if (step == 1 && start == 0 && end >= kHuge) return dim;
  if (step == -1 && (start == -1 || start >= kHuge) && end <= -kHuge) return dim;
  return Dim::unknown();
}

Status infer_slice(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  std::optional<std::vector<int64_t>> starts, ends, axes, steps;
  bool axes_given = false;
  if (ctx.opset() < 10) {
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> s, ctx.attrs().require_ints("starts"));
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> e, ctx.attrs().require_ints("ends"));
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> a, ctx.attrs().get_ints("axes", {}));
    starts = std::move(s);
    ends = std::move(e);
    axes_given = ctx.attrs().has("axes");
    axes = std::move(a);
    steps = std::vector<int64_t>();
  } else {
    if (ctx.num_inputs() < 3) return ctx.error("expected inputs data, starts and ends");
    const char* names[] = {"data", "starts", "ends", "axes", "steps"};
    for (int i = 1; i < 5; ++i) {
      if (ctx.has_input(i)) VITRT_RETURN_IF_ERROR(check_indices(ctx, i, names[i]));
    }
    starts = static_int_input(ctx, 1);
    ends = static_int_input(ctx, 2);
    axes_given = ctx.has_input(3);
    axes = axes_given ? static_int_input(ctx, 3) : std::vector<int64_t>();
    steps = ctx.has_input(4) ? static_int_input(ctx, 4) : std::vector<int64_t>();
  }
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  SymShape out = in;
  if (!axes) {  // any axis may be sliced
    ctx.set_output(0, dtype, unknown_dims(in.size()));
    return Status();
  }
  if (!starts || !ends || !steps) {
    // Only the named axes change; with default axes, the first len(starts) axes do.
    std::vector<int64_t> named = *axes;
    if (!axes_given) {
      const auto n = ctx.has_input(1) && ctx.input_has_shape(1) && ctx.input_rank(1) == 1 &&
                             ctx.input_shape(1)[0].is_static()
                         ? ctx.input_shape(1)[0].value()
                         : int64_t{rank};
      for (int64_t i = 0; i < n; ++i) named.push_back(i);
    }
    auto norm = normalize_axes(named, rank, "axes");
    if (!norm.ok()) return ctx.error(norm.status().message());
    for (int a : *norm) out[a] = Dim::unknown();
    ctx.set_output(0, dtype, std::move(out));
    return Status();
  }
  if (starts->size() != ends->size() || (axes_given && axes->size() != starts->size()) ||
      (!steps->empty() && steps->size() != starts->size())) {
    return ctx.error("starts, ends, axes and steps must have equal lengths (got ", starts->size(),
                     ", ", ends->size(), ", ", axes->size(), ", ", steps->size(), ")");
  }
  std::vector<int64_t> axis_list = *axes;
  if (!axes_given) {
    for (size_t i = 0; i < starts->size(); ++i) axis_list.push_back(static_cast<int64_t>(i));
  }
  auto norm = normalize_axes(axis_list, rank, "axes");
  if (!norm.ok()) return ctx.error(norm.status().message());
  for (size_t i = 0; i < norm->size(); ++i) {
    const int a = (*norm)[i];
    const int64_t step = steps->empty() ? 1 : (*steps)[i];
    auto d = slice_dim(in[a], (*starts)[i], (*ends)[i], step);
    if (!d.ok()) return ctx.error(d.status().message());
    out[a] = *d;
  }
  ctx.set_output(0, dtype, std::move(out));
  // Shape arithmetic: slicing a 1-D shape tensor picks elements of its sym_value.
  const std::vector<Dim>* sv = ctx.input_sym_value(0);
  if (sv != nullptr && rank == 1) {
    auto ranges =
        resolve_slice({static_cast<int64_t>(sv->size())}, *starts, *ends, axis_list, *steps);
    if (!ranges.ok()) return ctx.error(ranges.status().message());
    std::vector<Dim> value;
    const SliceRange& r = (*ranges)[0];
    for (int64_t k = 0; k < r.count; ++k) value.push_back((*sv)[r.start + k * r.step]);
    ctx.set_output_sym_value(0, std::move(value));
  }
  return Status();
}

Status infer_gather(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_indices(ctx, 1, "indices"));
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0) || !ctx.input_has_shape(1)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& data = ctx.input_shape(0);
  const SymShape& indices = ctx.input_shape(1);
  const int rank = static_cast<int>(data.size());
  if (rank == 0) return ctx.error("data must have rank >= 1");
  VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(ctx, axis_attr, rank, "attribute 'axis'"));
  SymShape out(data.begin(), data.begin() + axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  const size_t out_rank = out.size();
  ctx.set_output(0, dtype, std::move(out));
  const std::vector<Dim>* sv = ctx.input_sym_value(0);
  auto idx = static_int_input(ctx, 1);
  if (sv != nullptr && rank == 1 && idx && out_rank <= 1) {
    const int64_t n = static_cast<int64_t>(sv->size());
    std::vector<Dim> value;
    for (int64_t i : *idx) {
      if (i < -n || i >= n) {
        return ctx.error("index ", i, " is out of range [", -n, ", ", n - 1, "]");
      }
      value.push_back((*sv)[i < 0 ? i + n : i]);
    }
    ctx.set_output_sym_value(0, std::move(value));
  }
  return Status();
}

Status infer_gather_nd(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_indices(ctx, 1, "indices"));
  VITRT_ASSIGN_OR_RETURN(int64_t b, ctx.attrs().get_int("batch_dims", 0));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0) || !ctx.input_has_shape(1)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& data = ctx.input_shape(0);
  const SymShape& indices = ctx.input_shape(1);
  const int64_t r = static_cast<int64_t>(data.size());
  const int64_t q = static_cast<int64_t>(indices.size());
  if (q < 1) return ctx.error("indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q)) {
    return ctx.error("attribute 'batch_dims' ", b, " must be in [0, min(rank(data), rank(indices))",
                     " - 1 = ", std::min(r, q) - 1, "]");
  }
  const Dim& last = indices.back();
  if (!last.is_static()) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const int64_t k = last.value();
  if (k < 1 || b + k > r) {
    return ctx.error("indices' last dim is ", k, "; expected 1..", r - b,
                     " (rank(data) - batch_dims)");
  }
  SymShape out(indices.begin(), indices.end() - 1);
  out.insert(out.end(), data.begin() + b + k, data.end());
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status infer_gather_elements(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_indices(ctx, 1, "indices"));
  VITRT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().get_int("axis", 0));
  const DType dtype = ctx.input_dtype(0);
  if (ctx.input_has_shape(0)) {
    const int rank = ctx.input_rank(0);
    VITRT_ASSIGN_OR_RETURN(int a, normalize_axis(ctx, axis, rank, "attribute 'axis'"));
    (void)a;
    if (ctx.input_has_shape(1) && ctx.input_rank(1) != rank) {
      return ctx.error("indices have rank ", ctx.input_rank(1), " but data has rank ", rank);
    }
  }
  if (ctx.input_has_shape(1)) {
    ctx.set_output(0, dtype, ctx.input_shape(1));
  } else {
    ctx.set_output_unknown_shape(0, dtype);
  }
  return Status();
}

Status check_reduction(const InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::string reduction, ctx.attrs().get_string("reduction", "none"));
  if (reduction != "none" && reduction != "add" && reduction != "mul" && reduction != "max" &&
      reduction != "min") {
    return ctx.error("attribute 'reduction' is '", reduction,
                     "'; expected none, add, mul, max or min");
  }
  return Status();
}

Status infer_scatter(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_indices(ctx, 1, "indices"));
  VITRT_RETURN_IF_ERROR(check_reduction(ctx));
  const DType dtype = ctx.input_dtype(0);
  if (ctx.input_dtype(2) != dtype && ctx.input_dtype(2) != DType::kUndefined) {
    return ctx.error("updates are ", dtype_name(ctx.input_dtype(2)), " but data is ",
                     dtype_name(dtype));
  }
  if (ctx.input_has_shape(0)) {
    ctx.set_output(0, dtype, ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(0, dtype);
  }
  return Status();
}

Status infer_one_hot(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", -1));
  const DType dtype = ctx.input_dtype(2);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  SymShape out = ctx.input_shape(0);
  const int rank = static_cast<int>(out.size()) + 1;
  VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(ctx, axis_attr, rank, "attribute 'axis'"));
  Dim depth = Dim::unknown();
  if (const std::vector<Dim>* sv = ctx.input_sym_value(1); sv != nullptr && sv->size() == 1) {
    depth = (*sv)[0];
  } else if (const Tensor* c = ctx.input_constant(1); c != nullptr && c->numel() == 1) {
    depth = Dim(static_cast<int64_t>(c->element_as_double(0)));
  }
  if (depth.is_static() && depth.value() < 1) return ctx.error("depth ", depth.value(), " < 1");
  out.insert(out.begin() + axis, depth);
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status infer_non_zero(InferContext& ctx) {
  const Dim rank = ctx.input_has_shape(0) ? Dim(int64_t{ctx.input_rank(0)}) : Dim::unknown();
  // The count of non-zero elements depends on the data.
  ctx.set_output(0, DType::kInt64, {rank, Dim::unknown()});
  return Status();
}

Status infer_compress(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  if (ctx.input_dtype(1) != DType::kBool && ctx.input_dtype(1) != DType::kUndefined) {
    return ctx.error("condition must be bool, got ", dtype_name(ctx.input_dtype(1)));
  }
  if (!ctx.attrs().has("axis")) {
    ctx.set_output(0, dtype, {Dim::unknown()});
    return Status();
  }
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().require_int("axis"));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  SymShape out = ctx.input_shape(0);
  VITRT_ASSIGN_OR_RETURN(
      int axis, normalize_axis(ctx, axis_attr, static_cast<int>(out.size()), "attribute 'axis'"));
  out[axis] = Dim::unknown();
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

}  // namespace

void register_indexing_schemas(OpRegistry& registry) {
  registry.add({"", "Slice", 1, 5, 1, 1, infer_slice});
  registry.add({"", "Gather", 2, 2, 1, 1, infer_gather});
  registry.add({"", "GatherND", 2, 2, 1, 1, infer_gather_nd});
  registry.add({"", "GatherElements", 2, 2, 1, 1, infer_gather_elements});
  registry.add({"", "ScatterND", 3, 3, 1, 1, infer_scatter});
  registry.add({"", "ScatterElements", 3, 3, 1, 1, infer_scatter});
  registry.add({"", "Scatter", 3, 3, 1, 1, infer_scatter});  // opset 9-10 name
  registry.add({"", "OneHot", 3, 3, 1, 1, infer_one_hot});
  registry.add({"", "NonZero", 1, 1, 1, 1, infer_non_zero});
  registry.add({"", "Compress", 2, 2, 1, 1, infer_compress});
}

}  // namespace vitrt
