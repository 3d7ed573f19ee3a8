// vitrt.RotaryEmbedding: rotary position embedding (RoPE) applied to q or k in one pass. Made by
// fuse_rotary from the ~10 elementwise nodes per tensor that both torch exporters write for
// HF's and timm's rotate_half / EVA's interleaved rotation, with the prefix-token Slice+Concat.
//
//   inputs   X [..., H, S, D] float32; cos, sin float32 [S - start, D'] or [1, D'] (a single
//            row for every token), optionally after a heads dim of 1 or H (per-head tables, as
//            timm's mixed-mode RoPE) and leading 1s (rank <= 4); D' even, D' <= D
//   attrs    interleaved (int, default 0): 0 pairs dims (i, i + D'/2) (rotate_half, HF and
//            timm's "cat" form), 1 pairs (2i, 2i + 1) (EVA's stack + reshape form);
//            start (int >= 0, default 0): tokens s < start (cls, register tokens) pass through;
//            token_major (int, default 0): 1 reads X as [..., S, H, D] (tokens before heads,
//            attention's layout: fold_transpose_into_rotary moves the heads Transpose past the op
//            so that it cancels against attention's)
//   output   Y of X's shape: Y = X except for s >= start and d < D', where
//            Y[d] = X[d] * cos[h, s - start, d] + rot(X)[d] * sin[h, s - start, d] with
//            rot(X)[i] = -X[i + D'/2] (i < D'/2), X[i - D'/2] (otherwise); interleaved:
//            rot(X)[2i] = -X[2i + 1], rot(X)[2i + 1] = X[2i]. Dims d >= D' pass through
//            (partial rotary).
#include "ir/ops/rotary_embedding.h"

#include <string>

#include "ir/op_schema.h"

namespace vitrt {
namespace {

constexpr const char* kTableNames[] = {"cos", "sin"};

// The symbolic counterpart of rotary_layout's table check: only what is known is checked.
Status check_table_shape(const InferContext& ctx, int input, const SymShape& x, int64_t start,
                         bool token_major) {
  // X's token and heads dims (the heads dim only exists at rank >= 3).
  const size_t s_axis = x.size() - (token_major ? 3 : 2);
  const size_t h_axis = x.size() - (token_major ? 2 : 3);
  const char* name = kTableNames[input - 1];
  const SymShape& t = ctx.input_shape(input);
  const std::string got = sym_shape_to_string(t);
  if (t.size() < 2 || t.size() > 4) {
    return ctx.error("input '", name,
                     "' must be [S - start, D'] with at most two leading dims, got ", got);
  }
  for (size_t i = 0; i + 2 < t.size(); ++i) {
    const bool one = t[i].is_static() && t[i].value() == 1;
    // The heads dim: X's, where both are known (two symbols may be equal).
    const bool heads =
        i + 3 == t.size() && x.size() >= 3 &&
        !(t[i].is_static() && x[h_axis].is_static() && t[i].value() != x[h_axis].value());
    if (!one && !heads) {
      return ctx.error("input '", name, "' ", got,
                       ": dims before the last two must be 1, or X's heads just before them");
    }
  }
  const Dim& rot = t.back();
  const Dim& d = x.back();
  if (rot.is_static() &&
      (rot.value() <= 0 || rot.value() % 2 != 0 || (d.is_static() && rot.value() > d.value()))) {
    return ctx.error("input '", name, "' ", got,
                     ": the rotary dim must be even, > 0 and <= D = ", d.to_string());
  }
  const Dim& rows = t[t.size() - 2];
  const Dim rotated_tokens = x[s_axis] - Dim(start);
  // Only static counts can be told apart here (two symbols may be equal); the kernels check the
  // rest at run time.
  if (rows.is_static() && rows.value() != 1 && rotated_tokens.is_static() &&
      rows.value() != rotated_tokens.value()) {
    return ctx.error("input '", name, "' ", got,
                     " must have S - start = ", rotated_tokens.to_string(), " rows (or 1) for X ",
                     sym_shape_to_string(x), " and start ", start);
  }
  return Status();
}

Status infer_rotary_embedding(InferContext& ctx) {
  const Result<RotaryAttributes> attrs = RotaryAttributes::parse(ctx.attrs());
  if (!attrs.ok()) return ctx.error(attrs.status().message());
  const int64_t start = attrs->start;
  const bool token_major = attrs->token_major;
  for (int i = 0; i < 3; ++i) {
    if (ctx.input_dtype(i) != DType::kFloat32) {
      return ctx.error("input '", i == 0 ? "X" : kTableNames[i - 1], "' must be float32, got ",
                       dtype_name(ctx.input_dtype(i)));
    }
  }
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, DType::kFloat32);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.size() < (token_major ? 3u : 2u)) {
    return ctx.error("input 'X' must be ", token_major ? "[..., S, H, D]" : "[..., S, D]", ", got ",
                     sym_shape_to_string(x));
  }
  const Dim& s = x[x.size() - (token_major ? 3 : 2)];
  if (s.is_static() && start > s.value()) {
    return ctx.error("attribute 'start' ", start, " exceeds the ", s.value(), " tokens of X ",
                     sym_shape_to_string(x));
  }
  for (int i : {1, 2}) {
    if (ctx.input_has_shape(i)) {
      VITRT_RETURN_IF_ERROR(check_table_shape(ctx, i, x, start, token_major));
    }
  }
  if (ctx.input_has_shape(1) && ctx.input_has_shape(2)) {
    const Dim& c = ctx.input_shape(1).back();
    const Dim& n = ctx.input_shape(2).back();
    if (c.is_known() && n.is_known() && !c.same_as(n)) {
      return ctx.error("inputs 'cos' ", sym_shape_to_string(ctx.input_shape(1)), " and 'sin' ",
                       sym_shape_to_string(ctx.input_shape(2)), " differ in the rotary dim");
    }
  }
  ctx.set_output(0, DType::kFloat32, x);
  return Status();
}

}  // namespace

Result<RotaryAttributes> RotaryAttributes::parse(const Attributes& attrs) {
  RotaryAttributes a;
  VITRT_ASSIGN_OR_RETURN(int64_t interleaved, attrs.get_int("interleaved", 0));
  VITRT_ASSIGN_OR_RETURN(a.start, attrs.get_int("start", 0));
  if (interleaved != 0 && interleaved != 1) {
    return invalid_model("attribute 'interleaved' must be 0 or 1, got ", interleaved);
  }
  if (a.start < 0) return invalid_model("attribute 'start' must be >= 0, got ", a.start);
  VITRT_ASSIGN_OR_RETURN(int64_t token_major, attrs.get_int("token_major", 0));
  if (token_major != 0 && token_major != 1) {
    return invalid_model("attribute 'token_major' must be 0 or 1, got ", token_major);
  }
  a.interleaved = interleaved == 1;
  a.token_major = token_major == 1;
  return a;
}

Result<RotaryLayout> rotary_layout(const std::vector<int64_t>& x, const std::vector<int64_t>& cos,
                                   const std::vector<int64_t>& sin, int64_t start, bool interleaved,
                                   bool token_major) {
  if (x.size() < (token_major ? 3u : 2u)) {
    return invalid_argument("X must be ", token_major ? "[..., S, H, D]" : "[..., S, D]", ", got ",
                            shape_to_string(x));
  }
  RotaryLayout l;
  l.dim = x.back();
  if (token_major) {
    l.seq = x[x.size() - 3];
    l.heads = x[x.size() - 2];
    l.token_div = l.heads;
    l.head_div = 1;
  } else {
    l.seq = x[x.size() - 2];
    l.heads = x.size() >= 3 ? x[x.size() - 3] : 1;
    l.token_div = 1;
    l.head_div = l.seq;
  }
  l.outer = 1;
  for (size_t i = 0; i + 1 < x.size(); ++i) l.outer *= x[i];
  l.outer = l.seq > 0 ? l.outer / l.seq : 0;
  l.start = start;
  l.interleaved = interleaved;
  if (start < 0 || start > l.seq) {
    return invalid_argument("start ", start, " is outside the ", l.seq, " tokens of X ",
                            shape_to_string(x));
  }
  int64_t* head_strides[] = {&l.cos_head_stride, &l.sin_head_stride};
  int64_t* row_strides[] = {&l.cos_row_stride, &l.sin_row_stride};
  const std::vector<int64_t>* tables[] = {&cos, &sin};
  for (int i = 0; i < 2; ++i) {
    const std::vector<int64_t>& t = *tables[i];
    bool ok = t.size() >= 2 && t.size() <= 4;
    for (size_t k = 0; ok && k + 3 < t.size(); ++k) ok = t[k] == 1;
    if (ok) {
      const int64_t table_heads = t.size() >= 3 ? t[t.size() - 3] : 1;
      const int64_t rows = t[t.size() - 2];
      const int64_t d = t.back();
      ok = (table_heads == 1 || table_heads == l.heads) && (rows == l.seq - start || rows == 1) &&
           d > 0 && d % 2 == 0 && d <= l.dim && (i == 0 || d == l.rotary_dim);
      l.rotary_dim = d;
      *row_strides[i] = rows == 1 ? 0 : d;
      *head_strides[i] = table_heads == 1 ? 0 : rows * d;
    }
    if (!ok) {
      return invalid_argument(
          kTableNames[i], " ", shape_to_string(t), " must be [", l.seq - start,
          " or 1, D'] (after 1 or ", l.heads, " heads and leading 1s) with D' even and <= ", l.dim,
          i == 1 ? " and equal to cos's" : "", " for X ", shape_to_string(x), " and start ", start);
    }
  }
  return l;
}

void register_rotary_embedding_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "RotaryEmbedding", 3, 3, 1, 1, infer_rotary_embedding});
}

}  // namespace vitrt
