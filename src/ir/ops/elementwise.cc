// Schemas of the elementwise op family: unary math and activations, broadcasting binary and
// variadic ops, comparisons, logical ops, Where, Clip, Cast/CastLike, and the com.microsoft
// Gelu family that ONNX Runtime's optimizer writes.
//
// Besides dtypes and symbolic shapes, integer arithmetic on shape values (Shape -> Gather ->
// Mul/Div/Add -> Concat -> Reshape, as exporters write it) propagates sym_value, so Reshape
// targets computed from input shapes stay symbolic.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/op_schema.h"

namespace vitrt {
namespace {

// Sets of dtypes, as bit masks over the ONNX type numbers.
constexpr uint32_t bit(DType d) {
  return 1u << static_cast<int>(d);
}
constexpr uint32_t kFloat =
    bit(DType::kFloat16) | bit(DType::kBFloat16) | bit(DType::kFloat32) | bit(DType::kFloat64);
constexpr uint32_t kSignedInt =
    bit(DType::kInt8) | bit(DType::kInt16) | bit(DType::kInt32) | bit(DType::kInt64);
constexpr uint32_t kUnsignedInt =
    bit(DType::kUInt8) | bit(DType::kUInt16) | bit(DType::kUInt32) | bit(DType::kUInt64);
constexpr uint32_t kBool = bit(DType::kBool);
constexpr uint32_t kSigned = kFloat | kSignedInt;
constexpr uint32_t kNumeric = kFloat | kSignedInt | kUnsignedInt;
constexpr uint32_t kAll = kNumeric | kBool;
constexpr uint32_t kPowBase = kFloat | bit(DType::kInt32) | bit(DType::kInt64);

std::string dtype_set_names(uint32_t set) {
  std::string out;
  for (int d = 0; d < 32; ++d) {
    if (set & (1u << d)) out += str_cat(out.empty() ? "" : ", ", dtype_name(static_cast<DType>(d)));
  }
  return out;
}

// An input's dtype must be in `allowed` (an unknown dtype passes: nothing to check yet).
Status check_dtype(const InferContext& ctx, int i, uint32_t allowed) {
  const DType d = ctx.input_dtype(i);
  if (d == DType::kUndefined || (allowed & bit(d))) return Status();
  return ctx.error("input ", i, " has dtype ", dtype_name(d), "; expected one of ",
                   dtype_set_names(allowed));
}

Status check_same_dtype(const InferContext& ctx, int i, int j) {
  const DType a = ctx.input_dtype(i);
  const DType b = ctx.input_dtype(j);
  if (a == DType::kUndefined || b == DType::kUndefined || a == b) return Status();
  return ctx.error("input ", j, " has dtype ", dtype_name(b), " but input ", i, " has ",
                   dtype_name(a), "; they must match");
}

// Output 0 gets `dtype` and the broadcast of the given inputs' shapes (rank unknown when any
// input's is).
Status set_broadcast_output(InferContext& ctx, const std::vector<int>& inputs, DType dtype) {
  SymShape shape;
  for (int i : inputs) {
    if (!ctx.input_has_shape(i)) {
      ctx.set_output_unknown_shape(0, dtype);
      return Status();
    }
    VITRT_ASSIGN_OR_RETURN(shape, broadcast_shapes(ctx, shape, ctx.input_shape(i)));
  }
  ctx.set_output(0, dtype, std::move(shape));
  return Status();
}

void set_same_shape_output(InferContext& ctx, DType dtype) {
  if (ctx.input_has_shape(0)) {
    ctx.set_output(0, dtype, ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(0, dtype);
  }
}

// ---- sym_value propagation -------------------------------------------------------------------

// fn over a and b elementwise, a 1-element side repeating; nullopt when the sizes do not match.
template <typename Fn>
std::optional<std::vector<Dim>> combine_sym(const std::vector<Dim>& a, const std::vector<Dim>& b,
                                            Fn fn) {
  size_t n;
  if (a.size() == b.size()) {
    n = a.size();
  } else if (a.size() == 1) {
    n = b.size();
  } else if (b.size() == 1) {
    n = a.size();
  } else {
    return std::nullopt;
  }
  std::vector<Dim> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(fn(a[a.size() == 1 ? 0 : i], b[b.size() == 1 ? 0 : i]));
  }
  return out;
}

Dim max_dims(const Dim& a, const Dim& b, bool take_max) {
  if (a.same_as(b)) return a;
  if (a.is_static() && b.is_static()) {
    return take_max ? std::max(a.value(), b.value()) : std::min(a.value(), b.value());
  }
  return Dim();
}

// The sign a symbolic dim must have: its symbols are dims, so never negative, and a sum whose
// coefficients are all positive is >= 0 (all negative: <= 0). 0 when undecided or static.
int symbolic_sign(const Dim& d) {
  if (!d.is_symbolic()) return 0;
  bool positive = true, negative = true;
  for (const auto& [monomial, coef] : d.terms()) {
    positive = positive && coef > 0;
    negative = negative && coef < 0;
  }
  return positive ? 1 : negative ? -1 : 0;
}

// Integer division of shape values: statics divide exactly as the kernel does (truncating);
// symbolic dims exactly, or by a positive constant when the dividend cannot be negative
// (truncation is then floor division: (height // 8) of a patch grid).
Dim divide_dims(const Dim& a, const Dim& b) {
  if (a.is_static() && b.is_static()) {
    if (b.value() == 0) return Dim();
    if (b.value() == -1) return a.value() == INT64_MIN ? Dim() : Dim(-a.value());
    return Dim(a.value() / b.value());
  }
  const Dim exact = a / b;
  if (exact.is_known() || !b.is_static() || b.value() <= 0 || symbolic_sign(a) <= 0) return exact;
  return a.floor_div(b.value());
}

// 1 / 0 when decidable: equal statics or identical polynomials, and a symbolic dim against a
// constant of the opposite strict sign. The last case is what exporters emit for Expand:
// Where(Equal(shape, -1), 1, shape) with shape = [batch, 1, 768].
Dim equal_dims(const Dim& a, const Dim& b) {
  if (a.same_as(b)) return Dim(1);
  if (a.is_static() && b.is_static()) return Dim(0);
  const auto opposite = [](const Dim& sym, const Dim& c) {
    return c.is_static() &&
           ((symbolic_sign(sym) > 0 && c.value() < 0) || (symbolic_sign(sym) < 0 && c.value() > 0));
  };
  if (opposite(a, b) || opposite(b, a)) return Dim(0);
  return Dim();
}

void propagate_binary_sym_value(InferContext& ctx) {
  const std::string& op = ctx.node().op_type;
  if (ctx.num_inputs() != 2) return;
  const std::vector<Dim>* a = ctx.input_sym_value(0);
  const std::vector<Dim>* b = ctx.input_sym_value(1);
  if (a == nullptr || b == nullptr) return;
  if (!dtype_is_integer(ctx.input_dtype(0))) return;
  std::optional<std::vector<Dim>> out;
  if (op == "Add") {
    out = combine_sym(*a, *b, [](const Dim& x, const Dim& y) { return x + y; });
  } else if (op == "Sub") {
    out = combine_sym(*a, *b, [](const Dim& x, const Dim& y) { return x - y; });
  } else if (op == "Mul") {
    out = combine_sym(*a, *b, [](const Dim& x, const Dim& y) { return x * y; });
  } else if (op == "Div") {
    out = combine_sym(*a, *b, divide_dims);
  } else if (op == "Max" || op == "Min") {
    const bool take_max = op == "Max";
    out = combine_sym(*a, *b,
                      [take_max](const Dim& x, const Dim& y) { return max_dims(x, y, take_max); });
  } else if (op == "Equal") {
    out = combine_sym(*a, *b, equal_dims);
  }
  if (out) ctx.set_output_sym_value(0, std::move(*out));
}

// ---- inference functions ---------------------------------------------------------------------

template <uint32_t kAllowed>
Status infer_unary(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 0, kAllowed));
  set_same_shape_output(ctx, ctx.input_dtype(0));
  return Status();
}

template <uint32_t kAllowed>
Status infer_unary_to_bool(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 0, kAllowed));
  set_same_shape_output(ctx, DType::kBool);
  return Status();
}

// Broadcasting ops whose inputs share one dtype; the output has it, or bool.
template <uint32_t kAllowed, bool kBoolOutput>
Status infer_broadcast(InferContext& ctx) {
  std::vector<int> inputs;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.error("input ", i, " is missing");
    VITRT_RETURN_IF_ERROR(check_dtype(ctx, i, kAllowed));
    VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, i));
    inputs.push_back(i);
  }
  VITRT_RETURN_IF_ERROR(
      set_broadcast_output(ctx, inputs, kBoolOutput ? DType::kBool : ctx.input_dtype(0)));
  propagate_binary_sym_value(ctx);
  return Status();
}

Status infer_mod(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t fmod, ctx.attrs().get_int("fmod", 0));
  if (fmod != 0 && fmod != 1) return ctx.error("attribute 'fmod' must be 0 or 1, got ", fmod);
  if (fmod == 0 && dtype_is_float(ctx.input_dtype(0))) {
    return ctx.error("attribute 'fmod' must be 1 for floating-point inputs (",
                     dtype_name(ctx.input_dtype(0)), ")");
  }
  return infer_broadcast<kNumeric, false>(ctx);
}

Status infer_bit_shift(InferContext& ctx) {
  const Attribute* dir = ctx.attrs().find("direction");
  if (dir == nullptr || (dir->s != "LEFT" && dir->s != "RIGHT")) {
    return ctx.error("attribute 'direction' must be \"LEFT\" or \"RIGHT\"");
  }
  return infer_broadcast<kUnsignedInt, false>(ctx);
}

Status infer_pow(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 0, kPowBase));
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 1, kNumeric));
  return set_broadcast_output(ctx, {0, 1}, ctx.input_dtype(0));
}

// PRelu: slope broadcasts unidirectionally to X; the output has X's shape.
Status infer_prelu(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 0, kNumeric));
  VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  if (ctx.input_has_shape(0) && ctx.input_has_shape(1)) {
    const SymShape& x = ctx.input_shape(0);
    const SymShape& slope = ctx.input_shape(1);
    VITRT_ASSIGN_OR_RETURN(SymShape b, broadcast_shapes(ctx, x, slope));
    const auto xs = sym_shape_to_static(x);
    const auto bs = sym_shape_to_static(b);
    if (slope.size() > x.size() || (xs && bs && *xs != *bs)) {
      return ctx.error("slope of shape ", sym_shape_to_string(slope),
                       " does not broadcast to X of shape ", sym_shape_to_string(x));
    }
  }
  set_same_shape_output(ctx, ctx.input_dtype(0));
  return Status();
}

Status infer_where(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 0, kBool));
  VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 1, 2));
  VITRT_RETURN_IF_ERROR(set_broadcast_output(ctx, {0, 1, 2}, ctx.input_dtype(1)));
  const std::vector<Dim>* cond = ctx.input_sym_value(0);
  const std::vector<Dim>* x = ctx.input_sym_value(1);
  const std::vector<Dim>* y = ctx.input_sym_value(2);
  if (cond == nullptr || x == nullptr || y == nullptr) return Status();
  const size_t n = std::max({cond->size(), x->size(), y->size()});
  for (size_t size : {cond->size(), x->size(), y->size()}) {
    if (size != n && size != 1) return Status();
  }
  std::vector<Dim> out;
  for (size_t i = 0; i < n; ++i) {
    const Dim& c = (*cond)[cond->size() == 1 ? 0 : i];
    const Dim& a = (*x)[x->size() == 1 ? 0 : i];
    const Dim& b = (*y)[y->size() == 1 ? 0 : i];
    if (c.is_static()) {
      out.push_back(c.value() != 0 ? a : b);
    } else {
      out.push_back(a.same_as(b) ? a : Dim());
    }
  }
  ctx.set_output_sym_value(0, std::move(out));
  return Status();
}

Status infer_clip(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 0, kNumeric));
  for (int i = 1; i <= 2 && i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, i));
    if (ctx.input_has_shape(i)) {
      const Dim n = sym_shape_numel(ctx.input_shape(i));
      if (n.is_static() && n.value() != 1) {
        return ctx.error(i == 1 ? "min" : "max", " must be a scalar, got shape ",
                         sym_shape_to_string(ctx.input_shape(i)));
      }
    }
  }
  set_same_shape_output(ctx, ctx.input_dtype(0));
  return Status();
}

Status infer_cast(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t to, ctx.attrs().require_int("to"));
  const DType dtype = dtype_from_onnx(static_cast<int32_t>(to));
  if (!dtype_is_storable(dtype)) {
    return unsupported(ctx.node().describe(), ": Cast to ",
                       dtype == DType::kString ? std::string("string") : str_cat("ONNX type ", to),
                       " is not supported");
  }
  if (ctx.input_dtype(0) == DType::kString) {
    return unsupported(ctx.node().describe(), ": Cast from string is not supported");
  }
  set_same_shape_output(ctx, dtype);
  // Shape values survive casts between integer types (int64 <-> int32 in exported graphs).
  const std::vector<Dim>* value = ctx.input_sym_value(0);
  if (value && dtype_is_integer(ctx.input_dtype(0)) &&
      (dtype == DType::kInt64 || dtype == DType::kInt32)) {
    ctx.set_output_sym_value(0, *value);
  }
  return Status();
}

Status infer_cast_like(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 0, kAll));
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 1, kAll));
  set_same_shape_output(ctx, ctx.input_dtype(1));
  return Status();
}

// com.microsoft FastGelu(X, bias?) and BiasGelu(X, bias): gelu(X + bias).
Status infer_bias_gelu(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_dtype(ctx, 0, kFloat));
  if (!ctx.has_input(1)) {
    set_same_shape_output(ctx, ctx.input_dtype(0));
    return Status();
  }
  VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  return set_broadcast_output(ctx, {0, 1}, ctx.input_dtype(0));
}

struct Entry {
  const char* domain;
  const char* op_type;
  int min_inputs;
  int max_inputs;
  ShapeInferFn infer;
};

}  // namespace

void register_elementwise_schemas(OpRegistry& registry) {
  constexpr int kMany = INT_MAX;
  const Entry entries[] = {
      // Broadcasting arithmetic and variadic ops.
      {"", "Add", 2, 2, infer_broadcast<kNumeric, false>},
      {"", "Sub", 2, 2, infer_broadcast<kNumeric, false>},
      {"", "Mul", 2, 2, infer_broadcast<kNumeric, false>},
      {"", "Div", 2, 2, infer_broadcast<kNumeric, false>},
      {"", "Mod", 2, 2, infer_mod},
      {"", "Pow", 2, 2, infer_pow},
      {"", "PRelu", 2, 2, infer_prelu},
      {"", "BitShift", 2, 2, infer_bit_shift},
      {"", "Max", 1, kMany, infer_broadcast<kNumeric, false>},
      {"", "Min", 1, kMany, infer_broadcast<kNumeric, false>},
      {"", "Sum", 1, kMany, infer_broadcast<kFloat, false>},
      {"", "Mean", 1, kMany, infer_broadcast<kFloat, false>},
      // Comparisons and logic.
      {"", "Equal", 2, 2, infer_broadcast<kAll, true>},
      {"", "Less", 2, 2, infer_broadcast<kNumeric, true>},
      {"", "Greater", 2, 2, infer_broadcast<kNumeric, true>},
      {"", "LessOrEqual", 2, 2, infer_broadcast<kNumeric, true>},
      {"", "GreaterOrEqual", 2, 2, infer_broadcast<kNumeric, true>},
      {"", "And", 2, 2, infer_broadcast<kBool, true>},
      {"", "Or", 2, 2, infer_broadcast<kBool, true>},
      {"", "Xor", 2, 2, infer_broadcast<kBool, true>},
      {"", "Not", 1, 1, infer_unary<kBool>},
      {"", "Where", 3, 3, infer_where},
      // Unary math.
      {"", "Neg", 1, 1, infer_unary<kSigned>},
      {"", "Abs", 1, 1, infer_unary<kNumeric>},
      {"", "Sign", 1, 1, infer_unary<kNumeric>},
      {"", "Sqrt", 1, 1, infer_unary<kFloat>},
      {"", "Reciprocal", 1, 1, infer_unary<kFloat>},
      {"", "Exp", 1, 1, infer_unary<kFloat>},
      {"", "Log", 1, 1, infer_unary<kFloat>},
      {"", "Erf", 1, 1, infer_unary<kFloat>},
      {"", "Tanh", 1, 1, infer_unary<kFloat>},
      {"", "Sigmoid", 1, 1, infer_unary<kFloat>},
      {"", "Sin", 1, 1, infer_unary<kFloat>},
      {"", "Cos", 1, 1, infer_unary<kFloat>},
      {"", "Tan", 1, 1, infer_unary<kFloat>},
      {"", "Asin", 1, 1, infer_unary<kFloat>},
      {"", "Acos", 1, 1, infer_unary<kFloat>},
      {"", "Atan", 1, 1, infer_unary<kFloat>},
      {"", "Sinh", 1, 1, infer_unary<kFloat>},
      {"", "Cosh", 1, 1, infer_unary<kFloat>},
      {"", "Asinh", 1, 1, infer_unary<kFloat>},
      {"", "Acosh", 1, 1, infer_unary<kFloat>},
      {"", "Atanh", 1, 1, infer_unary<kFloat>},
      {"", "Floor", 1, 1, infer_unary<kFloat>},
      {"", "Ceil", 1, 1, infer_unary<kFloat>},
      {"", "Round", 1, 1, infer_unary<kFloat>},
      {"", "IsNaN", 1, 1, infer_unary_to_bool<kFloat>},
      {"", "IsInf", 1, 1, infer_unary_to_bool<kFloat>},
      // Activations.
      {"", "Relu", 1, 1, infer_unary<kSigned>},
      {"", "LeakyRelu", 1, 1, infer_unary<kFloat>},
      {"", "Elu", 1, 1, infer_unary<kFloat>},
      {"", "Selu", 1, 1, infer_unary<kFloat>},
      {"", "Celu", 1, 1, infer_unary<kFloat>},
      {"", "HardSigmoid", 1, 1, infer_unary<kFloat>},
      {"", "HardSwish", 1, 1, infer_unary<kFloat>},
      {"", "Softplus", 1, 1, infer_unary<kFloat>},
      {"", "Softsign", 1, 1, infer_unary<kFloat>},
      {"", "ThresholdedRelu", 1, 1, infer_unary<kFloat>},
      {"", "Mish", 1, 1, infer_unary<kFloat>},
      {"", "Swish", 1, 1, infer_unary<kFloat>},  // opset 24: x * sigmoid(alpha * x)
      {"", "Shrink", 1, 1, infer_unary<kNumeric>},
      {"", "Gelu", 1, 1, infer_unary<kFloat>},
      {"", "Clip", 1, 3, infer_clip},
      {"com.microsoft", "Gelu", 1, 1, infer_unary<kFloat>},
      {"com.microsoft", "QuickGelu", 1, 1, infer_unary<kFloat>},
      {"com.microsoft", "FastGelu", 1, 2, infer_bias_gelu},
      {"com.microsoft", "BiasGelu", 2, 2, infer_bias_gelu},
      // Type conversion.
      {"", "Cast", 1, 1, infer_cast},
      {"", "CastLike", 2, 2, infer_cast_like},
  };
  for (const Entry& e : entries) {
    OpSchema schema;
    schema.domain = e.domain;
    schema.op_type = e.op_type;
    schema.min_inputs = e.min_inputs;
    schema.max_inputs = e.max_inputs;
    schema.infer = e.infer;
    registry.add(std::move(schema));
  }
}

}  // namespace vitrt
