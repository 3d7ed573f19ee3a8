// vitrt.Attention: multi-head scaled dot-product attention with the head split and merge
// folded in, the fused form of Q/K/V reshape + transpose + QK^T + scale + mask + Softmax + PV +
// merge-heads that fuse_attention writes (contract: the shared FUSED_OPS.md).
//
//   inputs   0 query [B, Sq, H*Dh], or packed qkv [B, S, 3*H*Dh] when inputs 1 and 2 are omitted
//            1 key [B, Sk, H*Dh] (optional; present iff value is)
//            2 value [B, Sk, H*Dv]
//            3 mask (optional): additive float32, broadcastable to [B, H, Sq, Sk], rank 2 to 4
//   attrs    num_heads (required), scale (default 1/sqrt(Dh)), causal (0|1): query i sees keys
//            j <= i + (Sk - Sq); zero_masked_rows (0|1, default 0): a query row whose every key
//            is masked (-inf) gives 0 instead of softmax's NaN (fuse_attention sets it when it
//            absorbs the NaN guard HF exports put after softmax, where it cannot prove no row is
//            fully masked: SigLIP2's padded patches); output_scale (float > 0, optional): the
//            output is written as uint8 FP8 E4M3 codes of out / output_scale (nearest even,
//            saturating at +-448, out in fp32 before the division), for fp8 vitrt.QuantLinear
//            layers reading the codes directly (fuse_quant_producers), or with output_format
//            "int8" (default "fp8") as int8 codes clamp(round_half_even(out / output_scale),
//            output_qmin (default -127, in [-128, 0]), 127), NaN giving 0, for int8 readers;
//            quant_scores, quant_probs
//            (a quantized model's fake quantization of q k^T and of the probabilities, see
//            ir/fake_quant.h); quant_q, quant_k, quant_v (optional, the same form) with
//            prescale_q, prescale_k, prescale_v (floats, default 1, only with the matching
//            quant_*): the operand is read as fake_quant(x * prescale) (x * prescale in fp32),
//            the Q/DQ pairs quantizers put on both inputs of both attention MatMuls;
//            input_scale (float > 0, optional): q, k and v (or the packed qkv) are uint8 FP8
//            E4M3 codes of x / input_scale, as an fp8 vitrt.QuantLinear writes them with
//            output_scale (fp8 plans' q, k, v: the attention reads 8-bit operands); not with
//            quant_*
//   output   [B, Sq, H*Dv], heads merged: float32, or uint8 (E4M3) / int8 codes with
//            output_scale
#include <cmath>

#include "ir/fake_quant.h"
#include "ir/op_schema.h"
#include "ir/ops/op_attributes.h"

namespace vitrt {
namespace {

// Whether `d` may split into `parts` equal parts: false for a static dim that does not divide,
// and for a monomial whose coefficient does not (a width like 2*heads_dim; the symbols are
// taken as free). Sums cannot be told apart this way: the kernel checks at run time.
bool divisible(const Dim& d, int64_t parts) {
  if (!d.is_known() || d.terms().size() > 1) return true;
  return d.terms().empty() || d.terms().begin()->second % parts == 0;
}

Status infer_attention(InferContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(int64_t heads, ctx.attrs().require_int("num_heads"));
  VITRT_ASSIGN_OR_RETURN(int64_t causal, ctx.attrs().get_int("causal", 0));
  VITRT_ASSIGN_OR_RETURN(float scale, ctx.attrs().get_float("scale", 1.0f));
  (void)scale;  // any float is valid; read here so a wrong attribute kind is reported
  if (heads < 1) return ctx.error("num_heads must be >= 1, got ", heads);
  if (causal != 0 && causal != 1) return ctx.error("causal must be 0 or 1, got ", causal);
  VITRT_ASSIGN_OR_RETURN(int64_t zero_rows, ctx.attrs().get_int("zero_masked_rows", 0));
  if (zero_rows != 0 && zero_rows != 1) {
    return ctx.error("zero_masked_rows must be 0 or 1, got ", zero_rows);
  }
  Result<OutputCodes> codes = OutputCodes::parse(ctx.attrs());
  if (!codes.ok()) return ctx.error(codes.status().message());
  const DType out_dtype =
      !codes->any() ? DType::kFloat32 : (codes->int8 ? DType::kInt8 : DType::kUInt8);
  for (const char* name : kAttentionFakeQuantAttrs) {
    if (!ctx.attrs().has(name)) continue;
    VITRT_ASSIGN_OR_RETURN(std::vector<float> v, ctx.attrs().get_floats(name, {}));
    const char* why = nullptr;
    if (!fake_quant_from_floats(v, &why)) return ctx.error("attribute '", name, "' ", why);
  }
  for (const char* part : {"q", "k", "v"}) {
    const std::string name = std::string("prescale_") + part;
    if (!ctx.attrs().has(name)) continue;
    VITRT_ASSIGN_OR_RETURN(float f, ctx.attrs().get_float(name, 1.0f));
    if (!std::isfinite(f)) return ctx.error("attribute '", name, "' must be finite, got ", f);
    if (!ctx.attrs().has(std::string("quant_") + part)) {
      return ctx.error("attribute '", name, "' needs quant_", part);
    }
  }
  const bool packed = !ctx.has_input(1) && !ctx.has_input(2);
  if (ctx.has_input(1) != ctx.has_input(2)) {
    return ctx.error("key and value must be given together (inputs 1 and 2)");
  }
  const int last_qkv = packed ? 0 : 2;
  DType in_dtype = DType::kFloat32;
  if (ctx.attrs().has("input_scale")) {
    VITRT_ASSIGN_OR_RETURN(float input_scale, ctx.attrs().get_float("input_scale", 0.0f));
    if (!(input_scale > 0.0f) || !std::isfinite(input_scale)) {
      return ctx.error("attribute 'input_scale' must be a finite float > 0, got ", input_scale);
    }
    for (const char* name : kAttentionFakeQuantAttrs) {
      if (ctx.attrs().has(name)) {
        return ctx.error("attribute 'input_scale' (E4M3 inputs) does not combine with '", name,
                         "'");
      }
    }
    in_dtype = DType::kUInt8;
  }
  for (int i = 0; i <= last_qkv; ++i) {
    if (ctx.input_dtype(i) != in_dtype) {
      return ctx.error(
          "input ", i, " must be ",
          in_dtype == DType::kUInt8 ? "uint8 E4M3 codes (input_scale is set)" : "float32", ", got ",
          dtype_name(ctx.input_dtype(i)));
    }
  }
  if (ctx.has_input(3) && ctx.input_dtype(3) != DType::kFloat32) {
    return ctx.error("mask (input 3) must be float32, got ", dtype_name(ctx.input_dtype(3)));
  }
  for (int i = 0; i <= last_qkv; ++i) {
    if (!ctx.input_has_shape(i)) {
      ctx.set_output_unknown_shape(0, out_dtype);
      return Status();
    }
    if (ctx.input_rank(i) != 3) {
      return ctx.error("input ", i, " must be [batch, seq, features], got ",
                       sym_shape_to_string(ctx.input_shape(i)));
    }
  }
  const SymShape& q = ctx.input_shape(0);
  Dim value_width;
  Dim sq = q[1];
  Dim sk = q[1];
  if (packed) {
    if (!divisible(q[2], 3 * heads)) {
      return ctx.error("packed qkv width ", q[2].to_string(), " is not a multiple of 3 * ", heads,
                       " heads");
    }
    value_width = q[2].is_known() ? q[2] / Dim(3) : Dim::unknown();
  } else {
    const SymShape& k = ctx.input_shape(1);
    const SymShape& v = ctx.input_shape(2);
    if (q[2].is_known() && k[2].is_known() && !q[2].same_as(k[2])) {
      return ctx.error("query width ", q[2].to_string(), " differs from key width ",
                       k[2].to_string());
    }
    if (k[1].is_known() && v[1].is_known() && !k[1].same_as(v[1])) {
      return ctx.error("key length ", k[1].to_string(), " differs from value length ",
                       v[1].to_string());
    }
    if (!divisible(q[2], heads) || !divisible(v[2], heads)) {
      return ctx.error("query width ", q[2].to_string(), " and value width ", v[2].to_string(),
                       " must be multiples of num_heads ", heads);
    }
    value_width = v[2];
    sk = k[1];
  }
  if (ctx.has_input(3) && ctx.input_has_shape(3)) {
    const SymShape& m = ctx.input_shape(3);
    if (m.size() < 2 || m.size() > 4) {
      return ctx.error("mask must have rank 2 to 4, got ", sym_shape_to_string(m));
    }
    // Broadcast against [B, H, Sq, Sk], aligned at the right.
    const SymShape full = {q[0], Dim(heads), sq, sk};
    for (size_t i = 0; i < m.size(); ++i) {
      const Dim& md = m[m.size() - 1 - i];
      const Dim& fd = full[3 - i];
      if (md.is_static() && md.value() == 1) continue;
      if (md.is_known() && fd.is_known() && !md.same_as(fd)) {
        return ctx.error("mask ", sym_shape_to_string(m), " does not broadcast to [batch, heads, ",
                         "q_len, k_len] = ", sym_shape_to_string(full));
      }
    }
  }
  ctx.set_output(0, out_dtype, {q[0], sq, value_width});
  return Status();
}

// ONNX Attention (opset 23; torch's dynamo exporter writes it for scaled_dot_product_attention
// from opset 23 on): Q [B, Hq, Sq, D] or [B, Sq, Hq*D] (q_num_heads), K and V likewise with
// kv_num_heads, optional attn_mask, past_key and past_value; Y like Q with V's head size. Only
// its shapes are inferred here: lower_onnx_attention turns it into vitrt.Attention at import.
Status infer_onnx_attention(InferContext& ctx) {
  for (int i = 0; i < 3; ++i) {
    if (!ctx.has_input(i)) return ctx.error("Q, K and V (inputs 0-2) are required");
  }
  const DType t = ctx.input_dtype(0);
  for (int o = 1; o < ctx.num_outputs(); ++o) {
    if (ctx.has_output(o)) ctx.set_output_unknown_shape(o, t);
  }
  if (!ctx.input_has_shape(0) || !ctx.input_has_shape(2)) {
    ctx.set_output_unknown_shape(0, t);
    return Status();
  }
  const SymShape& q = ctx.input_shape(0);
  const SymShape& v = ctx.input_shape(2);
  if (q.size() != v.size() || (q.size() != 3 && q.size() != 4)) {
    return ctx.error("Q ", sym_shape_to_string(q), " and V ", sym_shape_to_string(v),
                     " must both be rank 3 or both rank 4");
  }
  if (q.size() == 4) {
    ctx.set_output(0, t, {q[0], q[1], q[2], v[3]});
    return Status();
  }
  VITRT_ASSIGN_OR_RETURN(int64_t qh, ctx.attrs().get_int("q_num_heads", 0));
  VITRT_ASSIGN_OR_RETURN(int64_t kvh, ctx.attrs().get_int("kv_num_heads", 0));
  if (qh < 1 || kvh < 1) {
    return ctx.error("rank-3 Q, K and V need q_num_heads and kv_num_heads >= 1, got ", qh, " and ",
                     kvh);
  }
  if (!v[2].is_static() || v[2].value() % kvh != 0) {
    return ctx.error("V's width ", v[2].to_string(), " is not a known multiple of kv_num_heads ",
                     kvh);
  }
  ctx.set_output(0, t, {q[0], q[1], Dim(qh * (v[2].value() / kvh))});
  return Status();
}

}  // namespace

void register_attention_schemas(OpRegistry& registry) {
  registry.add({"vitrt", "Attention", 1, 4, 1, 1, infer_attention});
  registry.add({"", "Attention", 3, 6, 1, 4, infer_onnx_attention});
}

}  // namespace vitrt
