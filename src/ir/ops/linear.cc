// Schemas of the linear op family: MatMul, Gemm, Conv and ConvTranspose, with symbolic shape
// inference, and their integer forms (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv,
// and DynamicQuantizeLinear before them) as ONNX Runtime's quantizers write them.
#include <string>

#include "ir/op_schema.h"
#include "ir/ops/conv_attributes.h"

namespace vitrt {

namespace {

Status check_same_dtype(const InferContext& ctx, int a, int b) {
  if (ctx.input_dtype(a) != ctx.input_dtype(b)) {
    return ctx.error("input ", b, " is ", dtype_name(ctx.input_dtype(b)), " but input ", a, " is ",
                     dtype_name(ctx.input_dtype(a)));
  }
  return Status();
}

// MatMul: NumPy matmul semantics. A 1-D operand gains a unit dim that the output drops; the
// dims before the last two broadcast. Inputs `ia` and `ib` are the operands; the output is
// `dtype`.
Status matmul_output(InferContext& ctx, int ia, int ib, DType dtype) {
  if (!ctx.input_has_shape(ia) || !ctx.input_has_shape(ib)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& a = ctx.input_shape(ia);
  const SymShape& b = ctx.input_shape(ib);
  if (a.empty() || b.empty()) {
    return ctx.error("operands must have rank >= 1, A is ", sym_shape_to_string(a), ", B is ",
                     sym_shape_to_string(b));
  }
  const Dim ka = a.back();
  const Dim kb = b.size() == 1 ? b[0] : b[b.size() - 2];
  if (static_and_differ(ka, kb)) {
    return ctx.error("inner dims differ: A is ", sym_shape_to_string(a), ", B is ",
                     sym_shape_to_string(b));
  }
  const SymShape batch_a(a.begin(), a.end() - std::min<size_t>(a.size(), 2));
  const SymShape batch_b(b.begin(), b.end() - std::min<size_t>(b.size(), 2));
  auto batch = broadcast_shapes(ctx, batch_a, batch_b);
  if (!batch.ok()) {
    return ctx.error("batch dims do not broadcast: A is ", sym_shape_to_string(a), ", B is ",
                     sym_shape_to_string(b));
  }
  SymShape out = std::move(*batch);
  if (a.size() >= 2) out.push_back(a[a.size() - 2]);
  if (b.size() >= 2) out.push_back(b.back());
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status infer_matmul(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  return matmul_output(ctx, 0, 1, ctx.input_dtype(0));
}

// Gemm: Y = alpha * op(A) * op(B) + beta * C, C broadcasting unidirectionally to [M, N].
Status infer_gemm(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  if (ctx.has_input(2)) VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 2));
  auto trans_a = ctx.attrs().get_int("transA", 0);
  if (!trans_a.ok()) return trans_a.status().with_context(ctx.node().describe());
  auto trans_b = ctx.attrs().get_int("transB", 0);
  if (!trans_b.ok()) return trans_b.status().with_context(ctx.node().describe());
  if (!ctx.input_has_shape(0) || !ctx.input_has_shape(1)) {
    ctx.set_output(0, dtype, {Dim::unknown(), Dim::unknown()});
    return Status();
  }
  const SymShape& a = ctx.input_shape(0);
  const SymShape& b = ctx.input_shape(1);
  if (a.size() != 2 || b.size() != 2) {
    return ctx.error("A and B must be 2-D, A is ", sym_shape_to_string(a), ", B is ",
                     sym_shape_to_string(b));
  }
  const Dim m = *trans_a ? a[1] : a[0];
  const Dim ka = *trans_a ? a[0] : a[1];
  const Dim kb = *trans_b ? b[1] : b[0];
  const Dim n = *trans_b ? b[0] : b[1];
  if (static_and_differ(ka, kb)) {
    return ctx.error("inner dims differ: A is ", sym_shape_to_string(a),
                     *trans_a ? " (transposed)" : "", ", B is ", sym_shape_to_string(b),
                     *trans_b ? " (transposed)" : "");
  }
  if (ctx.input_has_shape(2)) {
    const SymShape& c = ctx.input_shape(2);
    const SymShape mn = {m, n};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      const Dim& target = mn[2 - c.size() + i];
      ok = !(c[i].is_static() && c[i].value() != 1 && static_and_differ(c[i], target));
    }
    if (!ok) {
      return ctx.error("C ", sym_shape_to_string(c), " does not broadcast to the output [",
                       m.to_string(), ", ", n.to_string(), "]");
    }
  }
  ctx.set_output(0, dtype, {m, n});
  return Status();
}

// What Conv's and ConvTranspose's inference share: X, W (and B) of one dtype, X and W of one rank
// >= 3, a missing shape standing as unknown dims. Returns false, with the output set to an
// unknown shape, when neither shape is known.
// X (input ix) and W (input iw) of a convolution; false (output unknown, in `dtype`) when
// neither shape is known.
Result<bool> conv_operands(InferContext& ctx, SymShape& x, SymShape& w, int ix = 0, int iw = 1,
                           DType dtype = DType::kUndefined) {
  if (dtype == DType::kUndefined) {
    dtype = ctx.input_dtype(0);
    VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
    if (ctx.has_input(2)) VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 2));
  }
  if (!ctx.input_has_shape(ix) && !ctx.input_has_shape(iw)) {
    ctx.set_output_unknown_shape(0, dtype);
    return false;
  }
  const int rank = ctx.input_has_shape(ix) ? ctx.input_rank(ix) : ctx.input_rank(iw);
  if (rank < 3) {
    return ctx.error("X and W must have rank >= 3 (batch, channels, spatial axes), got rank ",
                     rank);
  }
  x = ctx.input_has_shape(ix) ? ctx.input_shape(ix) : SymShape(rank);
  w = ctx.input_has_shape(iw) ? ctx.input_shape(iw) : SymShape(rank);
  if (static_cast<int>(x.size()) != rank || static_cast<int>(w.size()) != rank) {
    return ctx.error("X ", sym_shape_to_string(x), " and W ", sym_shape_to_string(w),
                     " must have the same rank");
  }
  return true;
}

// Conv: X [N, C, D1..Dk], W [M, C/group, K1..Kk], optional B [M] -> Y [N, M, O1..Ok]. The
// integer forms pass their inputs' positions (ix, iw, ibias: -1 for none) and output dtype.
Status conv_output(InferContext& ctx, int ix, int iw, int ibias, DType dtype) {
  SymShape x, w;
  VITRT_ASSIGN_OR_RETURN(const bool known, conv_operands(ctx, x, w, ix, iw, dtype));
  if (!known) return Status();
  const int spatial = static_cast<int>(x.size()) - 2;
  VITRT_ASSIGN_OR_RETURN(const ConvAttributes attrs, ConvAttributes::parse(ctx.node(), spatial));
  const Dim& channels = x[1];
  if (channels.is_static() && w[1].is_static() && channels.value() != w[1].value() * attrs.group) {
    return ctx.error("X has ", channels.value(), " channels but W ", sym_shape_to_string(w),
                     " expects ", w[1].value() * attrs.group, " (", w[1].value(), " x group ",
                     attrs.group, ")");
  }
  if (w[0].is_static() && w[0].value() % attrs.group != 0) {
    return ctx.error("W has ", w[0].value(), " output channels, not divisible by group ",
                     attrs.group);
  }
  if (ibias >= 0 && ctx.input_has_shape(ibias)) {
    const SymShape& bias = ctx.input_shape(ibias);
    if (bias.size() != 1 || static_and_differ(bias[0], w[0])) {
      return ctx.error("B must be [", w[0].to_string(), "], got ", sym_shape_to_string(bias));
    }
  }
  SymShape out = {x[0], w[0]};
  for (int i = 0; i < spatial; ++i) {
    VITRT_ASSIGN_OR_RETURN(const Dim kernel, attrs.kernel_dim(ctx.node(), i, w));
    VITRT_ASSIGN_OR_RETURN(Dim o, attrs.out_dim(ctx.node(), i, x[2 + i], kernel));
    out.push_back(std::move(o));
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

Status infer_conv(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 1));
  if (ctx.has_input(2)) VITRT_RETURN_IF_ERROR(check_same_dtype(ctx, 0, 2));
  return conv_output(ctx, 0, 1, 2, ctx.input_dtype(0));
}

// ---- integer forms ---------------------------------------------------------------------------

Status check_8bit(const InferContext& ctx, int i, const char* name) {
  if (!dtype_is_8bit_integer(ctx.input_dtype(i))) {
    return ctx.error(name, " must be int8 or uint8, got ", dtype_name(ctx.input_dtype(i)));
  }
  return Status();
}

// A zero point (input `i`) of operand `operand`: that operand's dtype, a scalar or 1-D.
Status check_zero_point(const InferContext& ctx, int i, int operand, const char* name) {
  if (!ctx.has_input(i)) return Status();
  if (ctx.input_dtype(i) != ctx.input_dtype(operand)) {
    return ctx.error(name, " is ", dtype_name(ctx.input_dtype(i)), " but its operand is ",
                     dtype_name(ctx.input_dtype(operand)));
  }
  if (ctx.input_has_shape(i) && ctx.input_rank(i) > 1) {
    return ctx.error(name, " must be a scalar or 1-D, got ",
                     sym_shape_to_string(ctx.input_shape(i)));
  }
  return Status();
}

// A float scale (input `i`): a scalar or 1-D.
Status check_scale(const InferContext& ctx, int i, const char* name) {
  if (ctx.input_dtype(i) != DType::kFloat32) {
    return ctx.error(name, " must be float32, got ", dtype_name(ctx.input_dtype(i)));
  }
  if (ctx.input_has_shape(i) && ctx.input_rank(i) > 1) {
    return ctx.error(name, " must be a scalar or 1-D, got ",
                     sym_shape_to_string(ctx.input_shape(i)));
  }
  return Status();
}

// MatMulInteger(A, B, a_zero_point?, b_zero_point?) -> int32 (A - a_zp) x (B - b_zp).
Status infer_matmul_integer(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_8bit(ctx, 0, "A"));
  VITRT_RETURN_IF_ERROR(check_8bit(ctx, 1, "B"));
  VITRT_RETURN_IF_ERROR(check_zero_point(ctx, 2, 0, "a_zero_point"));
  VITRT_RETURN_IF_ERROR(check_zero_point(ctx, 3, 1, "b_zero_point"));
  return matmul_output(ctx, 0, 1, DType::kInt32);
}

// ConvInteger(x, w, x_zero_point?, w_zero_point?) -> int32 Conv(x - x_zp, w - w_zp).
Status infer_conv_integer(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_8bit(ctx, 0, "x"));
  VITRT_RETURN_IF_ERROR(check_8bit(ctx, 1, "w"));
  VITRT_RETURN_IF_ERROR(check_zero_point(ctx, 2, 0, "x_zero_point"));
  VITRT_RETURN_IF_ERROR(check_zero_point(ctx, 3, 1, "w_zero_point"));
  return conv_output(ctx, 0, 1, -1, DType::kInt32);
}

// QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) -> y_zp's type.
// QLinearMatMul's and QLinearConv's shared inputs: (x, x_scale, x_zp, w, w_scale, w_zp,
// y_scale, y_zp), named `x`/`w` as each op names them.
Status check_qlinear_inputs(const InferContext& ctx, const char* x, const char* w) {
  const std::string xs = x, ws = w;
  VITRT_RETURN_IF_ERROR(check_8bit(ctx, 0, x));
  VITRT_RETURN_IF_ERROR(check_8bit(ctx, 3, w));
  VITRT_RETURN_IF_ERROR(check_8bit(ctx, 7, "y_zero_point"));
  VITRT_RETURN_IF_ERROR(check_scale(ctx, 1, (xs + "_scale").c_str()));
  VITRT_RETURN_IF_ERROR(check_scale(ctx, 4, (ws + "_scale").c_str()));
  VITRT_RETURN_IF_ERROR(check_scale(ctx, 6, "y_scale"));
  VITRT_RETURN_IF_ERROR(check_zero_point(ctx, 2, 0, (xs + "_zero_point").c_str()));
  return check_zero_point(ctx, 5, 3, (ws + "_zero_point").c_str());
}

Status infer_qlinear_matmul(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_qlinear_inputs(ctx, "a", "b"));
  return matmul_output(ctx, 0, 3, ctx.input_dtype(7));
}

// QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?) -> y_zp's type; B int32.
Status infer_qlinear_conv(InferContext& ctx) {
  VITRT_RETURN_IF_ERROR(check_qlinear_inputs(ctx, "x", "w"));
  if (ctx.has_input(8) && ctx.input_dtype(8) != DType::kInt32) {
    return ctx.error("B must be int32, got ", dtype_name(ctx.input_dtype(8)));
  }
  return conv_output(ctx, 0, 3, 8, ctx.input_dtype(7));
}

// DynamicQuantizeLinear(x) -> y uint8 (x's shape), y_scale float32 [], y_zero_point uint8 [].
Status infer_dynamic_quantize_linear(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kFloat32) {
    return ctx.error("x must be float32, got ", dtype_name(ctx.input_dtype(0)));
  }
  if (ctx.input_has_shape(0)) {
    ctx.set_output(0, DType::kUInt8, ctx.input_shape(0));
  } else {
    ctx.set_output_unknown_shape(0, DType::kUInt8);
  }
  ctx.set_output(1, DType::kFloat32, {});
  ctx.set_output(2, DType::kUInt8, {});
  return Status();
}

// ConvTranspose: X [N, C, D1..Dk], W [C, M/group, K1..Kk], optional B [M] -> Y [N, M, O1..Ok].
Status infer_conv_transpose(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  SymShape x, w;
  VITRT_ASSIGN_OR_RETURN(const bool known, conv_operands(ctx, x, w));
  if (!known) return Status();
  const int spatial = static_cast<int>(x.size()) - 2;
  VITRT_ASSIGN_OR_RETURN(const ConvTransposeAttributes attrs,
                         ConvTransposeAttributes::parse(ctx.node(), spatial));
  const int64_t group = attrs.conv.group;
  if (static_and_differ(x[1], w[0])) {
    return ctx.error("X has ", x[1].to_string(), " channels but W ", sym_shape_to_string(w),
                     " expects ", w[0].to_string(), " (W is [C, M/group, kernel...])");
  }
  if (w[0].is_static() && w[0].value() % group != 0) {
    return ctx.error("W has ", w[0].value(), " input channels, not divisible by group ", group);
  }
  const Dim out_channels = w[1] * Dim(group);
  if (ctx.input_has_shape(2)) {
    const SymShape& bias = ctx.input_shape(2);
    if (bias.size() != 1 || static_and_differ(bias[0], out_channels)) {
      return ctx.error("B must be [", out_channels.to_string(), "], got ",
                       sym_shape_to_string(bias));
    }
  }
  SymShape out = {x[0], out_channels};
  for (int i = 0; i < spatial; ++i) {
    VITRT_ASSIGN_OR_RETURN(const Dim kernel, attrs.conv.kernel_dim(ctx.node(), i, w));
    const Dim& in = x[2 + i];
    if (!attrs.output_shape.empty()) {
      out.push_back(Dim(attrs.output_shape[i]));
    } else if (in.is_static() && kernel.is_static()) {
      VITRT_ASSIGN_OR_RETURN(const ConvAttributes::Axis axis,
                             attrs.axis(ctx.node(), i, in.value(), kernel.value()));
      out.push_back(axis.out);
    } else if (in.is_known() && kernel.is_static()) {
      // stride * in + a constant (0 for the usual upsampling: kernel = stride, no padding).
      out.push_back(in * Dim(attrs.conv.strides[i]) + Dim(attrs.out_offset(i, kernel.value())));
    } else {
      out.push_back(Dim::unknown());
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

}  // namespace

void register_linear_schemas(OpRegistry& registry) {
  registry.add({"", "MatMul", 2, 2, 1, 1, infer_matmul});
  registry.add({"", "Gemm", 2, 3, 1, 1, infer_gemm});
  registry.add({"", "Conv", 2, 3, 1, 1, infer_conv});
  registry.add({"", "ConvTranspose", 2, 3, 1, 1, infer_conv_transpose});
  registry.add({"", "MatMulInteger", 2, 4, 1, 1, infer_matmul_integer});
  registry.add({"", "ConvInteger", 2, 4, 1, 1, infer_conv_integer});
  registry.add({"", "QLinearMatMul", 8, 8, 1, 1, infer_qlinear_matmul});
  registry.add({"", "QLinearConv", 8, 9, 1, 1, infer_qlinear_conv});
  registry.add({"", "DynamicQuantizeLinear", 1, 1, 3, 3, infer_dynamic_quantize_linear});
}

}  // namespace vitrt
