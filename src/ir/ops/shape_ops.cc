// Schemas of the shape-op family: ops that move, reinterpret or generate data without
// arithmetic on it (Reshape, Transpose, Concat, Split, Expand, Pad, Shape, Range, ...).
//
// Shape inference here is symbolic: Shape publishes its input's Dims as the output's sym_value
// and the ops below pass sym_values along, so an export's Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape chain resolves to a shape such as [batch, 197, 12, 64].
#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/op_schema.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

namespace {

constexpr int kManyInputs = std::numeric_limits<int>::max();
// sym_values are kept for small tensors only: shape arithmetic, not data.
constexpr int64_t kMaxSymValueElements = 64;

bool is_static_value(const Dim& d, int64_t v) {
  return d.is_static() && d.value() == v;
}

std::vector<Dim> dims_from_ints(const std::vector<int64_t>& v) {
  return std::vector<Dim>(v.begin(), v.end());
}

SymShape unknown_dims(size_t rank) {
  return SymShape(rank, Dim::unknown());
}

// The output carries the input's sym_value unchanged (ops that only reinterpret the shape).
void forward_sym_value(InferContext& ctx, int input, int output) {
  if (const std::vector<Dim>* sv = ctx.input_sym_value(input)) {
    ctx.set_output_sym_value(output, *sv);
  }
}

// Length of a 1-D input whose length is static (a shape or axes tensor), else nullopt.
std::optional<int64_t> static_length(const InferContext& ctx, int i) {
  if (!ctx.input_has_shape(i) || ctx.input_rank(i) != 1) return std::nullopt;
  const Dim& d = ctx.input_shape(i)[0];
  if (!d.is_static()) return std::nullopt;
  return d.value();
}

// A shape-valued input (Reshape, Expand, ConstantOfShape targets): its elements as Dims, or
// all-unknown Dims when only its length is known.
std::optional<std::vector<Dim>> shape_input_dims(const InferContext& ctx, int i) {
  if (const std::vector<Dim>* sv = ctx.input_sym_value(i)) return *sv;
  if (auto n = static_length(ctx, i)) return unknown_dims(static_cast<size_t>(*n));
  return std::nullopt;
}

Status check_int_input(const InferContext& ctx, int i, const char* what) {
  if (!ctx.has_input(i)) return Status();
  const DType t = ctx.input_dtype(i);
  if (t != DType::kUndefined && t != DType::kInt64 && t != DType::kInt32) {
    return ctx.error(what, " input must be int64 (or int32), got ", dtype_name(t));
  }
  return Status();
}

// Axes from the attribute (before `input_from_opset`) or from input `input`.
// Returns nullopt in `axes` when they come from a non-constant input.
Status read_axes(const InferContext& ctx, int input, int64_t input_from_opset,
                 std::optional<std::vector<int64_t>>& axes, bool& given) {
  if (ctx.opset() < input_from_opset && !ctx.has_input(input)) {
    given = ctx.attrs().has("axes");
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> a, ctx.attrs().get_ints("axes", {}));
    axes = std::move(a);
    return Status();
  }
  VITRT_RETURN_IF_ERROR(check_int_input(ctx, input, "axes"));
  given = ctx.has_input(input);
  if (!given) {
    axes = std::vector<int64_t>{};
    return Status();
  }
  axes = static_int_input(ctx, input);
  return Status();
}

Status infer_reshape(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t allowzero, ctx.attrs().get_int("allowzero", 0));
  const DType dtype = ctx.input_dtype(0);
  std::optional<std::vector<Dim>> target;
  if (ctx.num_inputs() < 2) {  // Reshape-1: the target is an attribute
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ctx.attrs().require_ints("shape"));
    target = dims_from_ints(shape);
  } else {
    VITRT_RETURN_IF_ERROR(check_int_input(ctx, 1, "shape"));
    target = shape_input_dims(ctx, 1);
  }
  if (!target) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape* in = ctx.input_has_shape(0) ? &ctx.input_shape(0) : nullptr;
  auto out = reshape_output_shape(in, *target, allowzero != 0);
  if (!out.ok()) return ctx.error(out.status().message());
  ctx.set_output(0, dtype, std::move(*out));
  forward_sym_value(ctx, 0, 0);
  return Status();
}

Status infer_transpose(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ctx.attrs().get_ints("perm", {}));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    if (perm.empty()) {
      ctx.set_output_unknown_shape(0, dtype);
    } else {
      ctx.set_output(0, dtype, unknown_dims(perm.size()));
    }
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  auto p = transpose_perm(perm, static_cast<int>(in.size()));
  if (!p.ok()) return ctx.error(p.status().message());
  SymShape out;
  for (int axis : *p) out.push_back(in[axis]);
  ctx.set_output(0, dtype, std::move(out));
  if (in.size() <= 1) forward_sym_value(ctx, 0, 0);
  return Status();
}

Status infer_flatten(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis, ctx.attrs().get_int("axis", 1));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output(0, dtype, unknown_dims(2));
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const int64_t rank = static_cast<int64_t>(in.size());
  if (axis < -rank || axis > rank) {
    return ctx.error("attribute 'axis' ", axis, " is out of range [", -rank, ", ", rank,
                     "] for rank ", rank);
  }
  if (axis < 0) axis += rank;
  const SymShape outer(in.begin(), in.begin() + axis);
  const SymShape inner(in.begin() + axis, in.end());
  ctx.set_output(0, dtype, {sym_shape_numel(outer), sym_shape_numel(inner)});
  forward_sym_value(ctx, 0, 0);
  return Status();
}

Status infer_squeeze(InferContext& ctx) {
  std::optional<std::vector<int64_t>> axes;
  bool given = false;
  VITRT_RETURN_IF_ERROR(read_axes(ctx, 1, 13, axes, given));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  if (!axes) {
    if (auto n = static_length(ctx, 1)) {
      ctx.set_output(0, dtype, unknown_dims(static_cast<size_t>(std::max<int64_t>(rank - *n, 0))));
    } else {
      ctx.set_output_unknown_shape(0, dtype);
    }
    return Status();
  }
  std::vector<bool> drop(rank, false);
  if (!given) {
    // Without axes every dim of size 1 goes; a symbolic dim might be 1, so the rank is known
    // only when every dim is static.
    for (int i = 0; i < rank; ++i) {
      if (!in[i].is_static()) {
        ctx.set_output_unknown_shape(0, dtype);
        return Status();
      }
      drop[i] = in[i].value() == 1;
    }
  } else {
    auto norm = normalize_axes(*axes, rank, "axes");
    if (!norm.ok()) return ctx.error(norm.status().message());
    for (int a : *norm) {
      if (in[a].is_static() && in[a].value() != 1) {
        return ctx.error("cannot squeeze axis ", a, " of shape ", sym_shape_to_string(in),
                         ": its size is ", in[a].value(), ", not 1");
      }
      drop[a] = true;
    }
  }
  SymShape out;
  for (int i = 0; i < rank; ++i) {
    if (!drop[i]) out.push_back(in[i]);
  }
  ctx.set_output(0, dtype, std::move(out));
  forward_sym_value(ctx, 0, 0);
  return Status();
}

Status infer_unsqueeze(InferContext& ctx) {
  std::optional<std::vector<int64_t>> axes;
  bool given = false;
  VITRT_RETURN_IF_ERROR(read_axes(ctx, 1, 13, axes, given));
  const DType dtype = ctx.input_dtype(0);
  if (!given) return ctx.error("axes are required");
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  if (!axes) {
    if (auto n = static_length(ctx, 1)) {
      ctx.set_output(0, dtype, unknown_dims(in.size() + static_cast<size_t>(*n)));
    } else {
      ctx.set_output_unknown_shape(0, dtype);
    }
    return Status();
  }
  const int out_rank = static_cast<int>(in.size() + axes->size());
  auto norm = normalize_axes(*axes, out_rank, "axes");
  if (!norm.ok()) return ctx.error(norm.status().message());
  std::vector<bool> inserted(out_rank, false);
  for (int a : *norm) inserted[a] = true;
  SymShape out;
  size_t next = 0;
  for (int i = 0; i < out_rank; ++i) out.push_back(inserted[i] ? Dim(1) : in[next++]);
  ctx.set_output(0, dtype, std::move(out));
  forward_sym_value(ctx, 0, 0);
  return Status();
}

Status infer_concat(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().require_int("axis"));
  const DType dtype = ctx.input_dtype(0);
  int rank = -1;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.input_has_shape(i)) continue;
    if (rank >= 0 && ctx.input_rank(i) != rank) {
      return ctx.error("input ", i, " has rank ", ctx.input_rank(i), " but input 0..", i - 1,
                       " have rank ", rank);
    }
    rank = ctx.input_rank(i);
  }
  if (rank < 0) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(ctx, axis_attr, rank, "attribute 'axis'"));
  SymShape out(rank);
  Dim total(int64_t{0});
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.input_has_shape(i)) {
      total = Dim::unknown();
      continue;
    }
    const SymShape& s = ctx.input_shape(i);
    total = total + s[axis];
    for (int d = 0; d < rank; ++d) {
      if (d == axis) continue;
      if (out[d].is_known() && s[d].is_known() && !out[d].same_as(s[d]) && out[d].is_static() &&
          s[d].is_static()) {
        return ctx.error("input ", i, " has shape ", sym_shape_to_string(s),
                         " which differs from the others in dim ", d, " (", s[d].value(), " vs ",
                         out[d].value(), ")");
      }
      if (!out[d].is_known() || (!out[d].is_static() && s[d].is_static())) out[d] = s[d];
    }
  }
  out[axis] = total;
  ctx.set_output(0, dtype, std::move(out));
  if (rank <= 1) {
    std::vector<Dim> value;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const std::vector<Dim>* sv = ctx.input_sym_value(i);
      if (sv == nullptr) return Status();
      value.insert(value.end(), sv->begin(), sv->end());
    }
    ctx.set_output_sym_value(0, std::move(value));
  }
  return Status();
}

Status infer_split(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.attrs().get_int("axis", 0));
  const DType dtype = ctx.input_dtype(0);
  const int n_out = ctx.num_outputs();
  if (!ctx.input_has_shape(0)) {
    for (int i = 0; i < n_out; ++i) ctx.set_output_unknown_shape(i, dtype);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  VITRT_ASSIGN_OR_RETURN(
      int axis, normalize_axis(ctx, axis_attr, static_cast<int>(in.size()), "attribute 'axis'"));
  const Dim& dim = in[axis];
  // Sizes of the chunks as Dims (unknown where not knowable).
  std::vector<Dim> sizes;
  std::optional<std::vector<int64_t>> split;
  bool split_known = true;
  if (ctx.opset() < 13 && !ctx.has_input(1)) {
    if (ctx.attrs().has("split")) {
      VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> s, ctx.attrs().get_ints("split", {}));
      split = std::move(s);
    }
  } else if (ctx.has_input(1)) {
    VITRT_RETURN_IF_ERROR(check_int_input(ctx, 1, "split"));
    split = static_int_input(ctx, 1);
    split_known = split.has_value();
  }
  if (split) {
    if (static_cast<int>(split->size()) != n_out) {
      return ctx.error("split has ", split->size(), " sizes but the node has ", n_out, " outputs");
    }
    int64_t sum = 0;
    for (int64_t s : *split) {
      if (s < 0) return ctx.error("split size ", s, " is negative");
      sum += s;
      sizes.emplace_back(s);
    }
    if (dim.is_static() && sum != dim.value()) {
      return ctx.error("split sizes sum to ", sum, " but axis ", axis, " has size ", dim.value());
    }
  } else if (!split_known) {
    sizes.assign(n_out, Dim::unknown());
  } else {
    VITRT_ASSIGN_OR_RETURN(int64_t num, ctx.attrs().get_int("num_outputs", n_out));
    if (num != n_out) {
      return ctx.error("attribute 'num_outputs' is ", num, " but the node has ", n_out, " outputs");
    }
    if (dim.is_static()) {
      auto even = even_split_sizes(dim.value(), num);
      if (!even.ok()) return ctx.error(even.status().message());
      sizes = dims_from_ints(*even);
    } else {
      sizes.assign(n_out, dim / Dim(num));  // exact only when the quotient is a polynomial
    }
  }
  const std::vector<Dim>* sv = in.size() == 1 ? ctx.input_sym_value(0) : nullptr;
  int64_t offset = 0;
  for (int i = 0; i < n_out; ++i) {
    SymShape out = in;
    out[axis] = sizes[i];
    ctx.set_output(i, dtype, std::move(out));
    if (sv != nullptr && sizes[i].is_static() && offset >= 0) {
      const int64_t n = sizes[i].value();
      if (offset + n <= static_cast<int64_t>(sv->size())) {
        ctx.set_output_sym_value(i,
                                 std::vector<Dim>(sv->begin() + offset, sv->begin() + offset + n));
      }
      offset += n;
    } else {
      offset = -1;
    }
  }
  return Status();
}

// Broadcasts a small sym_value of shape `in` to the static shape `out`.
std::optional<std::vector<Dim>> broadcast_sym_value(const std::vector<Dim>& value,
                                                    const std::vector<int64_t>& in,
                                                    const std::vector<int64_t>& out) {
  const int64_t n = shape_numel(out);
  if (n > kMaxSymValueElements) return std::nullopt;
  const size_t rank = out.size();
  std::vector<Dim> result;
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t rem = flat;
    int64_t src = 0;
    int64_t stride = 1;
    for (size_t k = rank; k-- > 0;) {
      const int64_t idx = rem % out[k];
      rem /= out[k];
      const size_t lead = rank - in.size();
      if (k < lead) continue;
      const int64_t d = in[k - lead];
      src += (d == 1 ? 0 : idx) * stride;
      stride *= d;
    }
    result.push_back(value[static_cast<size_t>(src)]);
  }
  return result;
}

Status infer_expand(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_int_input(ctx, 1, "shape"));
  const DType dtype = ctx.input_dtype(0);
  auto target = shape_input_dims(ctx, 1);
  if (!target || !ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  for (const Dim& d : *target) {
    if (d.is_static() && d.value() < 0) {
      return ctx.error("shape input has negative dim ", d.value());
    }
  }
  VITRT_ASSIGN_OR_RETURN(SymShape out, broadcast_shapes(ctx, ctx.input_shape(0), *target));
  const std::vector<Dim>* sv = ctx.input_sym_value(0);
  auto in_static = sym_shape_to_static(ctx.input_shape(0));
  auto out_static = sym_shape_to_static(out);
  ctx.set_output(0, dtype, std::move(out));
  if (sv != nullptr && in_static && out_static && out_static->size() <= 1) {
    if (auto v = broadcast_sym_value(*sv, *in_static, *out_static)) {
      ctx.set_output_sym_value(0, std::move(*v));
    }
  }
  return Status();
}

Status infer_tile(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_int_input(ctx, 1, "repeats"));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const std::vector<Dim>* repeats = ctx.input_sym_value(1);
  if (repeats == nullptr) {
    ctx.set_output(0, dtype, unknown_dims(in.size()));
    return Status();
  }
  if (repeats->size() != in.size()) {
    return ctx.error("repeats has ", repeats->size(), " elements but the input has rank ",
                     in.size());
  }
  SymShape out;
  for (size_t i = 0; i < in.size(); ++i) {
    const Dim& r = (*repeats)[i];
    if (r.is_static() && r.value() < 0) return ctx.error("repeats[", i, "] is negative");
    out.push_back(in[i] * r);
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status infer_shape(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t start, ctx.attrs().get_int("start", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t end,
                         ctx.attrs().get_int("end", std::numeric_limits<int64_t>::max()));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output(0, DType::kInt64, {Dim::unknown()});
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const int64_t rank = static_cast<int64_t>(in.size());
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<Dim> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(in[i]);
  ctx.set_output(0, DType::kInt64, {Dim(static_cast<int64_t>(dims.size()))});
  ctx.set_output_sym_value(0, std::move(dims));
  return Status();
}

Status infer_size(InferContext& ctx) {
  ctx.set_output(0, DType::kInt64, {});
  if (ctx.input_has_shape(0)) ctx.set_output_sym_value(0, {sym_shape_numel(ctx.input_shape(0))});
  return Status();
}

Status infer_constant_of_shape(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_int_input(ctx, 0, "shape"));
  DType dtype = DType::kFloat32;
  int64_t fill = 0;
  bool fill_is_int = true;
  if (const Attribute* a = ctx.attrs().find("value")) {
    if (a->kind != Attribute::Kind::kTensor || a->t.numel() != 1) {
      return ctx.error("attribute 'value' must be a tensor of one element");
    }
    dtype = a->t.dtype();
    fill_is_int = dtype_is_integer(dtype);
    if (fill_is_int) fill = a->t.element_as_int64(0);
  }
  auto target = shape_input_dims(ctx, 0);
  if (!target) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  for (const Dim& d : *target) {
    if (d.is_static() && d.value() < 0)
      return ctx.error("shape input has negative dim ", d.value());
  }
  auto out_static = sym_shape_to_static(*target);
  ctx.set_output(0, dtype, *target);
  if (fill_is_int && out_static && out_static->size() <= 1 &&
      shape_numel(*out_static) <= kMaxSymValueElements) {
    ctx.set_output_sym_value(0, std::vector<Dim>(shape_numel(*out_static), Dim(fill)));
  }
  return Status();
}

// A scalar input's value as a double when constant (any numeric type), else nullopt.
std::optional<double> constant_scalar(const InferContext& ctx, int i) {
  const Tensor* c = ctx.input_constant(i);
  if (c == nullptr || c->numel() != 1) return std::nullopt;
  return c->element_as_double(0);
}

// The most elements a Range may produce (the CPU kernel's limit too).
constexpr double kMaxRangeCount = 2147483648.0;

Status infer_range(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  for (int i = 1; i < 3; ++i) {
    if (ctx.input_dtype(i) != dtype && ctx.input_dtype(i) != DType::kUndefined) {
      return ctx.error("input ", i, " is ", dtype_name(ctx.input_dtype(i)), " but start is ",
                       dtype_name(dtype), "; all three must have one type");
    }
  }
  if (dtype_is_integer(dtype)) {
    const std::vector<Dim>* start = ctx.input_sym_value(0);
    const std::vector<Dim>* limit = ctx.input_sym_value(1);
    const std::vector<Dim>* delta = ctx.input_sym_value(2);
    if (start && limit && delta && start->size() == 1 && limit->size() == 1 && delta->size() == 1) {
      const Dim& s = (*start)[0];
      const Dim& l = (*limit)[0];
      const Dim& d = (*delta)[0];
      if (is_static_value(d, 0)) return ctx.error("delta is 0");
      if (s.is_static() && l.is_static() && d.is_static()) {
        // In long double: an int64 span may overflow int64 itself. A count past 2^31 is left
        // unknown here; the kernel refuses it with the values named.
        const long double span =
            static_cast<long double>(l.value()) - static_cast<long double>(s.value());
        const long double count =
            std::max(std::ceil(span / static_cast<long double>(d.value())), 0.0L);
        if (!(count <= kMaxRangeCount)) {
          ctx.set_output(0, dtype, {Dim::unknown()});
          return Status();
        }
        const int64_t n = static_cast<int64_t>(count);
        const int64_t step = d.value();
        ctx.set_output(0, dtype, {Dim(n)});
        if (n <= kMaxSymValueElements) {
          std::vector<Dim> v;
          for (int64_t i = 0; i < n; ++i) v.emplace_back(s.value() + i * step);
          ctx.set_output_sym_value(0, std::move(v));
        }
        return Status();
      }
      if (is_static_value(s, 0) && is_static_value(d, 1)) {  // arange(n)
        ctx.set_output(0, dtype, {l});
        return Status();
      }
    }
  } else {
    auto s = constant_scalar(ctx, 0);
    auto l = constant_scalar(ctx, 1);
    auto d = constant_scalar(ctx, 2);
    if (s && l && d) {
      if (*d == 0) return ctx.error("delta is 0");
      const double n = std::max(std::ceil((*l - *s) / *d), 0.0);
      // NaN or a count past 2^31 (the kernel refuses those, naming the values): unknown here.
      ctx.set_output(0, dtype,
                     {n <= kMaxRangeCount ? Dim(static_cast<int64_t>(n)) : Dim::unknown()});
      return Status();
    }
  }
  ctx.set_output(0, dtype, {Dim::unknown()});
  return Status();
}

Status infer_identity(InferContext& ctx) {
  if (ctx.input_has_shape(0)) {
    ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(0, ctx.input_dtype(0));
  }
  forward_sym_value(ctx, 0, 0);
  return Status();
}

Status infer_dropout(InferContext& ctx) {
  if (const Tensor* training = ctx.input_constant(2)) {
    if (training->numel() == 1 && training->element_as_double(0) != 0.0) {
      return unsupported(ctx.node().describe(),
                         ": training_mode is true; vitrt runs inference only (Dropout must be "
                         "the identity)");
    }
  }
  VITRT_RETURN_IF_ERROR(infer_identity(ctx));
  if (ctx.input_has_shape(0)) {
    ctx.set_output(1, DType::kBool, ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(1, DType::kBool);
  }
  return Status();
}

Status infer_pad(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::string mode, ctx.attrs().get_string("mode", "constant"));
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap") {
    return ctx.error("attribute 'mode' is '", mode, "'; expected constant, reflect, edge or wrap");
  }
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  std::optional<std::vector<int64_t>> pads;
  if (ctx.opset() < 11) {
    const char* name = ctx.attrs().has("paddings") ? "paddings" : "pads";
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> p, ctx.attrs().require_ints(name));
    pads = std::move(p);
  } else {
    VITRT_RETURN_IF_ERROR(check_int_input(ctx, 1, "pads"));
    pads = static_int_input(ctx, 1);
  }
  std::optional<std::vector<int64_t>> axes;
  if (ctx.has_input(3)) {
    axes = static_int_input(ctx, 3);
  } else {
    axes = std::vector<int64_t>();
    for (int i = 0; i < rank; ++i) axes->push_back(i);
  }
  if (!pads || !axes) {
    ctx.set_output(0, dtype, unknown_dims(in.size()));
    return Status();
  }
  auto norm = normalize_axes(*axes, rank, "axes");
  if (!norm.ok()) return ctx.error(norm.status().message());
  const size_t n = norm->size();
  if (pads->size() != 2 * n) {
    return ctx.error("pads has ", pads->size(), " elements; expected ", 2 * n,
                     " (begin and end for each of ", n, " axes)");
  }
  SymShape out = in;
  for (size_t i = 0; i < n; ++i) {
    const int a = (*norm)[i];
    out[a] = in[a] + Dim((*pads)[i] + (*pads)[i + n]);
    if (out[a].is_static() && out[a].value() < 0) {
      return ctx.error("pads make axis ", a, " negative (", in[a].value(), " + ", (*pads)[i], " + ",
                       (*pads)[i + n], ")");
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status infer_depth_space(InferContext& ctx, bool to_space) {
  VITRT_ASSIGN_OR_RETURN(int64_t b, ctx.attrs().require_int("blocksize"));
  VITRT_ASSIGN_OR_RETURN(std::string mode, ctx.attrs().get_string("mode", "DCR"));
  if (b <= 0) return ctx.error("attribute 'blocksize' must be positive, got ", b);
  if (mode != "DCR" && mode != "CRD") return ctx.error("attribute 'mode' must be DCR or CRD");
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output(0, dtype, unknown_dims(4));
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  if (in.size() != 4) return ctx.error("input must have rank 4 (NCHW), got ", in.size());
  const Dim bb(b);
  SymShape out;
  if (to_space) {
    if (in[1].is_static() && in[1].value() % (b * b) != 0) {
      return ctx.error("channels ", in[1].value(), " are not a multiple of blocksize^2 = ", b * b);
    }
    out = {in[0], in[1] / Dim(b * b), in[2] * bb, in[3] * bb};
  } else {
    for (int a = 2; a < 4; ++a) {
      if (in[a].is_static() && in[a].value() % b != 0) {
        return ctx.error("dim ", a, " (", in[a].value(), ") is not a multiple of blocksize ", b);
      }
    }
    out = {in[0], in[1] * Dim(b * b), in[2] / bb, in[3] / bb};
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status infer_depth_to_space(InferContext& ctx) {
  return infer_depth_space(ctx, true);
}
Status infer_space_to_depth(InferContext& ctx) {
  return infer_depth_space(ctx, false);
}

Status infer_eye_like(InferContext& ctx) {
  DType dtype = ctx.input_dtype(0);
  if (ctx.attrs().has("dtype")) {
    VITRT_ASSIGN_OR_RETURN(int64_t t, ctx.attrs().get_int("dtype", 0));
    dtype = dtype_from_onnx(static_cast<int32_t>(t));
    if (!dtype_is_storable(dtype)) return ctx.error("attribute 'dtype' ", t, " is not supported");
  }
  if (!ctx.input_has_shape(0)) {
    ctx.set_output(0, dtype, unknown_dims(2));
    return Status();
  }
  if (ctx.input_rank(0) != 2) return ctx.error("input must have rank 2, got ", ctx.input_rank(0));
  ctx.set_output(0, dtype, ctx.input_shape(0));
  return Status();
}

Status infer_trilu(InferContext& ctx) {
  if (ctx.input_has_shape(0) && ctx.input_rank(0) < 2) {
    return ctx.error("input must have rank >= 2, got ", ctx.input_rank(0));
  }
  return infer_identity(ctx);
}

}  // namespace

void register_shape_op_schemas(OpRegistry& registry) {
  registry.add({"", "Reshape", 1, 2, 1, 1, infer_reshape});
  registry.add({"", "Transpose", 1, 1, 1, 1, infer_transpose});
  registry.add({"", "Flatten", 1, 1, 1, 1, infer_flatten});
  registry.add({"", "Squeeze", 1, 2, 1, 1, infer_squeeze});
  registry.add({"", "Unsqueeze", 1, 2, 1, 1, infer_unsqueeze});
  registry.add({"", "Concat", 1, kManyInputs, 1, 1, infer_concat});
  registry.add({"", "Split", 1, 2, 1, kManyInputs, infer_split});
  registry.add({"", "Expand", 2, 2, 1, 1, infer_expand});
  registry.add({"", "Tile", 2, 2, 1, 1, infer_tile});
  registry.add({"", "Shape", 1, 1, 1, 1, infer_shape});
  registry.add({"", "Size", 1, 1, 1, 1, infer_size});
  registry.add({"", "ConstantOfShape", 1, 1, 1, 1, infer_constant_of_shape});
  registry.add({"", "Range", 3, 3, 1, 1, infer_range});
  registry.add({"", "Identity", 1, 1, 1, 1, infer_identity});
  registry.add({"", "Dropout", 1, 3, 1, 2, infer_dropout});
  registry.add({"", "Pad", 1, 4, 1, 1, infer_pad});
  registry.add({"", "DepthToSpace", 1, 1, 1, 1, infer_depth_to_space});
  registry.add({"", "SpaceToDepth", 1, 1, 1, 1, infer_space_to_depth});
  registry.add({"", "EyeLike", 1, 1, 1, 1, infer_eye_like});
  registry.add({"", "Trilu", 1, 2, 1, 1, infer_trilu});
}

}  // namespace vitrt
