// Optimizer pass fuse_attention: multi-head attention subgraphs -> vitrt.Attention.
//
// Matched from each Softmax outward, on inferred shapes (never on the constant values of
// Reshape targets, so it works whether or not the clean-up passes folded them):
//
//   q [B,Sq,D] -> Reshape [B,Sq,H,Dh] -> Transpose(0,2,1,3) -> (Mul/Div by a scalar)*  -+
//   k [B,Sk,D] -> Reshape [B,Sk,H,Dh] -> Transpose(s) to [B,H,Dh,Sk] -> (Mul/Div)* ----- MatMul
//     -> (Mul/Div by a scalar | Add mask)* -> Softmax(last axis) -> (Cast)* [-> IsNaN/Where]
//     -> MatMul with v [B,H,Sk,Dv] -> Transpose(0,2,1,3) -> Reshape [B,Sq,H*Dv]
//
// Variants: HF eager (scale on the scores, or on the q projection), SDPA through TorchScript and
// dynamo (sqrt(scale) on q and on k^T; dynamo transposes k through a rank-3
// Reshape/Transpose/Reshape and guards the softmax with IsNaN/Where), timm's packed qkv
// (Reshape [B,S,3,H,Dh] -> Transpose(2,0,3,1,4) -> Split/Slice/Gather of the "3" axis, or the
// same ops in another order: the Attention reads the packed projection directly), and
// nn.MultiheadAttention's sequence-first forms: rank-3 scores (SigLIP's pooling head: heads
// folded into the batch axis) and, with SDPA (open_clip's blocks), [S, B*H, Dh] -> [B*H, S, Dh]
// unfolded to [B, H, S, Dh], the packed in_proj [S, B, 3D] split by Reshape [S, B, 3, D] ->
// Unsqueeze/Transpose/Squeeze -> Gather, heads merged by Transpose(2, 0, 1, 3) into the
// out_proj's [S*B, D] rows. The fused node reads and writes batch-first: where the projections
// are vitrt.Linear nodes reading / feeding Transpose(1, 0, 2) of a batch-first tensor
// (nn.MultiheadAttention(batch_first=True)), they are rebuilt on the batch-first tensors (a
// Linear acts on the last axis only), otherwise Transposes go in and out.
//
// q, k or v may also reach the MatMuls as a head tensor [B, H, S, Dh] (k also as [B, H, Dh, S])
// from any other producer: rotary position embeddings applied between the head split and the
// MatMul (EVA02, DINOv3, timm's RoPE ViTs; often to the patch tokens only, the prefix tokens
// sliced off and concatenated back), a q/k LayerNorm, a graph input, a head tensor something else
// reads too. The walk back stops there and the fused node reads that tensor through a Transpose
// to [B, S, H, Dh] and a Reshape to [B, S, H*Dh]; the transform itself stays as ordinary ops.
//
// Quantized models (ONNX Runtime's quantize_static in QDQ format, NVIDIA ModelOpt) put
// QuantizeLinear -> DequantizeLinear pairs inside: straight after the q k^T MatMul and after the
// Softmax. Each such per-tensor 8-bit pair, read by nothing else, is absorbed as the fused
// node's quant_scores / quant_probs (the same fake quantization, applied in the kernel). A pair
// elsewhere on the scores (after their scale, or after a mask) is a near miss. The pairs on q,
// k and v stay where they are: the walk back stops at them as at any other producer.
// Packed parts beside such a tensor (EVA's v) become Slices of the packed projection. The fused
// op keeps its one batch-first layout, which every kernel (CPU, CUDA, cuDNN, the fp8 output) and
// the passes after this one read, rather than gaining a head-layout variant: the Transpose is one
// copy of q and of k, small next to the [B, H, S, S] scores and the Softmax pass it replaces.
//
// The additive mask is evaluated at build time where it is computed from constants and shapes
// (ValueEvaluator, looking through Expand): all zero -> dropped; lower-triangular 0 / -inf (or
// < -1e9) -> causal=1 and dropped; any other constant -> kept as a constant input. A mask that
// depends on a graph input (a padding mask) is kept as input 3; when it is And-ed (boolean) or
// added (float) to an evaluable causal mask, the causal part becomes causal=1. With a dynamic
// sequence axis (Sq and Sk the same symbol) a mask computed from that length alone is evaluated
// with the symbol bound to several lengths (1 to 77) and counts as causal only if it is at each;
// a kept runtime mask must not be computed from the shape of a node the fusion removes.
//
// Shifted-window attention (Swin) adds its window mask between two Reshapes of the scores:
// [B*nW, H, S, S] -> [B, nW, H, S, S] + constant [nW, 1, S, S] -> [B*nW, H, S, S], so window w
// of every image gets mask row w. The fused op takes that constant, summed with any other
// constant mask (the relative position bias), as a [nW, H|1, S, S] block repeated over the batch:
// Expand to [B, nW, ...] by the batch rows of the fused op's input / nW, then Reshape to
// [B*nW, ...]. A few small nodes, computed once per run; the scores and Softmax they replace are
// [B*nW, H, S, S] each.
//
// Attention whose output is not merged into [B, Sq, H*Dv] as above fuses in its head layout
// (match_folded): scores [L..., Sq, Sk] over any leading dims L (SAM's heads folded into the
// batch, Hiera's mask units and Twins' windows [B, H, nW, S, S]), an output used before the
// heads merge (MViTv2's residual) or computed as v' P^T (EfficientViT-MSRA), an additive bias
// computed at run time (SAM's decomposed relative positions, from q). Each index of L is one
// attention problem, so the fused op reads q, k, v reshaped to [prod(L), S, D] with one head
// and its output is reshaped back; a bias that varies only along L's last dim makes that dim
// the head axis instead. The merge, and anything else around the scores, stays as it was.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"
#include "passes/value_evaluator.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fuse_attention";
// An additive mask value at or below this counts as "masked": exp(score + m - max) underflows
// to exactly 0 in float32 for any score below 1e8 in magnitude, as -inf does.
constexpr double kMaskedBelow = -1e9;

// A declined match: the reason for the near miss.
struct Decline {
  std::string reason;
};

bool same_dim(const Dim& a, const Dim& b) {
  return a.is_known() && b.is_known() && a.same_as(b);
}

const SymShape* shape_of(const Graph& g, ValueId v) {
  const Value& value = g.values[v];
  return value.has_shape ? &value.shape : nullptr;
}

int rank_of(const Graph& g, ValueId v) {
  const SymShape* s = shape_of(g, v);
  return s == nullptr ? -1 : static_cast<int>(s->size());
}

bool same_shape(const Graph& g, ValueId a, ValueId b) {
  const SymShape* sa = shape_of(g, a);
  const SymShape* sb = shape_of(g, b);
  if (sa == nullptr || sb == nullptr || sa->size() != sb->size()) return false;
  for (size_t i = 0; i < sa->size(); ++i) {
    if (!same_dim((*sa)[i], (*sb)[i])) return false;
  }
  return true;
}

// A float32 -> float32 Cast or an Identity: no-ops on the data path.
bool is_passthrough(const Graph& g, const Node& n) {
  if (is_onnx_op(n, "Identity")) return true;
  if (!is_onnx_op(n, "Cast")) return false;
  auto to = n.attrs.get_int("to", 0);
  return to.ok() && *to == static_cast<int64_t>(DType::kFloat32) &&
         g.values[n.inputs[0]].dtype == DType::kFloat32;
}

// A node whose result only feeds Shape: a Shape, or layout ops read only by such nodes (the
// TorchScript SDPA export transposes k a second time just to take its shape for the mask).
bool shape_only(const Graph& g, const Uses& uses, NodeId id, int depth = 0) {
  const Node& n = g.nodes[id];
  if (is_onnx_op(n, "Shape")) return true;
  if (depth > 4 ||
      !(is_onnx_op(n, "Transpose") || is_onnx_op(n, "Reshape") || is_passthrough(g, n))) {
    return false;
  }
  for (ValueId out : n.outputs) {
    if (out == kNoValue) continue;
    if (is_graph_output(g, out)) return false;
    for (NodeId r : uses.of(out)) {
      if (!shape_only(g, uses, r, depth + 1)) return false;
    }
  }
  return true;
}

// Readers of `v` that read its data. The others only take its shape; only_read_inside() checks
// that what they compute feeds the fused nodes alone.
std::vector<NodeId> data_readers(const Graph& g, const Uses& uses, ValueId v) {
  std::vector<NodeId> r;
  for (NodeId id : uses.of(v)) {
    if (!shape_only(g, uses, id)) r.push_back(id);
  }
  return r;
}

bool single_data_use(const Graph& g, const Uses& uses, ValueId v) {
  return !is_graph_output(g, v) && data_readers(g, uses, v).size() == 1;
}

const Node* single_data_consumer(const Graph& g, const Uses& uses, ValueId v) {
  return single_data_use(g, uses, v) ? &g.nodes[data_readers(g, uses, v)[0]] : nullptr;
}

// Everything the match collects; nothing in the graph changes until it is complete.
class AttentionMatcher {
 public:
  AttentionMatcher(Graph& g, const Uses& uses, ValueEvaluator& eval)
      : g_(g), uses_(uses), eval_(eval) {}

  struct Source {
    ValueId value = kNoValue;  // [B, S, D] input of the head split (or packed [B, S, 3D])
    int64_t heads = 0;
    int64_t head_dim = 0;
    int part = -1;  // packed: 0 q, 1 k, 2 v; -1 separate
    // `value` is sequence-first [S, B, D] (or packed [S, B, 3D]): nn.MultiheadAttention.
    bool seq_first = false;
    // Non-empty when `value` is a head-layout tensor computed by something other than a head
    // split (RoPE, a q/k norm, a graph input): the permutation that takes it to
    // [B, S, H, Dh], after which a Reshape merges the heads into what the fused op reads.
    std::vector<int64_t> to_split;
    // A packed part: the Split/Gather/Transpose nodes between the projection's rank-5 Reshape
    // and the head tensor, and that Reshape (absorbed; given back when q, k, v do not all read
    // the packed projection and this part becomes a Slice of it).
    std::vector<NodeId> packed_nodes;
    // A quantized model's fake quantization of this operand (a QuantizeLinear ->
    // DequantizeLinear pair between the head split and the MatMul, as ModelOpt and ONNX
    // Runtime put on every MatMul input), and the scalar factors applied before it:
    // vitrt.Attention's quant_q / quant_k / quant_v and prescale_q / prescale_k / prescale_v.
    std::optional<FakeQuant> quant;
    double prescale = 1.0;
  };

  // The fused node's pieces.
  Source q, k, v;
  double scale = 1.0;
  bool causal = false;
  // A softmax NaN guard was absorbed and some query row may have every key masked: the fused op
  // must give such a row 0, as the guard does (vitrt.Attention's zero_masked_rows).
  bool zero_masked_rows = false;
  ValueId mask = kNoValue;           // runtime mask kept as is
  std::optional<Tensor> mask_const;  // evaluated constant mask kept
  struct NewWhere {                  // runtime padding condition split from a causal And
    ValueId cond = kNoValue, on_true = kNoValue, on_false = kNoValue;
  };
  std::optional<NewWhere> new_where;
  ValueId output = kNoValue;  // the merged [B, Sq, H*Dv] value the Attention replaces
  // nn.MultiheadAttention's layout: q, k, v sources are [S, B, D] and `output` is the
  // [Sq, B*H, Dv] value (rank-3 scores) or the [Sq*B, H*Dv] / [Sq, B, H*Dv] merge of
  // [Sq, B, H, Dv] (rank-4 scores), so the rewrite transposes the sources and the result.
  bool seq_first = false;
  // The replaced output is sequence-first as above: set with seq_first, and alone where q, k, v
  // are batch-first and only the merge is sequence-first (MLCD permutes the attention's
  // [B, Sq, H, Dv] output to [Sq, B, H, Dv] for its out_proj).
  bool seq_first_output = false;
  // Rank-4 sequence-first merges: the Sq and B axes of the replaced output's element order.
  std::optional<std::pair<Dim, Dim>> merged_sq_b;
  std::vector<NodeId> nodes;  // absorbed
  bool packed_input = false;  // the fused op reads parts 0, 1, 2 of one packed projection
  // The replaced output is [B, spatial..., H*Dv]: the Reshape target (0 copies B) that takes the
  // fused op's [B, Sq, H*Dv] to it.
  std::optional<std::vector<int64_t>> spatial_output;
  // A rank-3 (heads folded into the batch) runtime mask: the Reshape target that unfolds it.
  std::vector<int64_t> folded_mask_shape;
  // Swin's window mask [nW, H|1, Sq, Sk] (other constant masks summed in), repeated over the
  // batch rows: row b reads block b % nW.
  std::optional<Tensor> window_mask;
  // A per-head factor on q k^T (SwinV2's cosine attention: normalized q k^T times a learned
  // scale per head), moved onto q's head tensor: (q * s_h) k^T = (q k^T) * s_h.
  std::vector<float> head_scale;
  // A quantized model's fake quantization (QuantizeLinear -> DequantizeLinear) of q k^T as the
  // MatMul gives it, and of the softmax's probabilities: vitrt.Attention's quant_scores and
  // quant_probs.
  std::optional<FakeQuant> quant_scores, quant_probs;
  // The same on P v before the heads merge: a vitrt.FakeQuant after the fused op.
  std::optional<FakeQuant> quant_out;

  // Attention kept in its head layout, [L..., S, D] with leading dims L (match_folded): every
  // index of L is one softmax(q k^T) v problem, so the fused op reads q, k, v as
  // [prod(L), S, D] with one head, or, where a mask varies only along L's last dim,
  // [prod(L[:-1]), S, L.back() * D] with L.back() heads.
  struct Folded {
    ValueId q = kNoValue, k = kNoValue, v = kNoValue;
    bool k_transposed = false;    // `k` is k^T [L..., Dh, Sk]
    bool v_transposed = false;    // `v` is v^T [L..., Dv, Sk] (v P^T)
    bool out_transposed = false;  // the replaced output is [L..., Dv, Sq] (v P^T)
    int64_t heads = 1;
    int64_t sq = 0, sk = 0, dh = 0, dv = 0;
    // k and v broadcast over L's dims from `kv_lead` on (size 1 there, as multi-query attention's
    // one key/value head is over q's heads): those dims of q fold into its rows, q [L..., Sq, Dh]
    // read as [prod(L[:kv_lead]), fold * Sq, Dh], since each row's softmax is its own. kv_lead
    // is L's rank when nothing is broadcast (fold 1).
    int kv_lead = 0;
    int64_t fold = 1;
    // The replaced output's [L..., Sq, Dv] as a Reshape target (-1 for L's first dim).
    std::vector<int64_t> out_shape;
  };
  std::optional<Folded> folded;
  // The match got as far as the merged output: a later decline is about q, k, v or the mask,
  // which match_folded would not improve on...
  bool output_matched = false;
  // ... unless the scores carry a run-time bias added between two Reshapes, which only
  // match_folded takes.
  bool needs_head_layout = false;
  // A run-time bias added between two Reshapes of the scores (match_reshaped_bias): its terms,
  // summed, broadcast to `expand` (1 for the first axis) and reshaped to `target`, are the
  // scores' additive mask. `shape` is that mask's shape.
  struct ReshapedBias {
    std::vector<ValueId> terms;
    std::vector<int64_t> expand;
    std::vector<int64_t> target;
    SymShape shape;
  };
  std::optional<ReshapedBias> reshaped_bias;

  std::optional<Decline> match(NodeId softmax_id);
  std::optional<Decline> match_folded(NodeId softmax_id);

 private:
  std::optional<Decline> find_pv(ValueId probs, const Node** pv, bool* nan_guard,
                                 const Node** p_transpose);
  // `next` (a QuantizeLinear reading `v`) starts a fake quantization of `v` read by nothing
  // else: its pair, else nullopt.
  std::optional<ActivationQuant> fake_quant_after(const Node& next, ValueId v);
  ValueId skip_scalar_factors(ValueId v);
  void absorb(const Node* n) { nodes.push_back(static_cast<NodeId>(n - g_.nodes.data())); }
  std::optional<double> scalar_factor(const Node& n, ValueId* data_input);
  std::optional<Decline> trace_heads(ValueId v, const std::vector<int>& want, const char* what,
                                     bool allow_scale, Source* src);
  std::optional<Decline> cut_heads(ValueId cur, const std::vector<int>& axes,
                                   const std::vector<int>& want, const char* what, Source* src);
  std::optional<Decline> check_head_dims(const SymShape& scores);
  std::optional<Decline> analyse_mask(ValueId m, double factor_after, const Dim& sq, const Dim& sk);
  std::optional<Decline> find_qk(ValueId scores_out, const Node** qk, std::vector<ValueId>* masks,
                                 std::vector<double>* mask_factors);
  std::optional<Decline> match_seq_first(ValueId scores_out, const Node& pv);
  std::optional<Decline> match_window_mask(const Node& r2, double factor, ValueId* scores);
  std::optional<Decline> match_reshaped_bias(const Node& r2, double factor, ValueId* scores);
  bool overwrites_all(const Node& scatter);
  bool match_head_scale(const Node& mul, ValueId* scores);
  std::optional<Decline> combine_window_mask(const std::vector<ValueId>& masks,
                                             const std::vector<double>& factors,
                                             const SymShape& scores);
  std::optional<Decline> trace_seq_first(ValueId v, const std::vector<int>& want, const char* what,
                                         bool allow_scale, Source* src);
  bool is_causal(const Tensor& t, int64_t sq, int64_t sk, bool boolean) const;
  bool evaluates_causal(ValueId v, const Dim& sq, const Dim& sk, bool boolean);
  bool evaluates_zero(ValueId v);
  void trace_packed_seq_first(Source* src);

  Graph& g_;
  const Uses& uses_;
  ValueEvaluator& eval_;
  bool seq_first_nan_guard_ = false;
  // The data input of an absorbed ScatterND that overwrites all of it: read for its shape alone.
  ValueId overwritten_ = kNoValue;
};

// Mul(x, c) / Mul(c, x) / Div(x, c) with c an evaluable one-element tensor that does not change
// x's shape: the factor (1/c for Div) and the data input.
std::optional<double> AttentionMatcher::scalar_factor(const Node& n, ValueId* data_input) {
  const bool mul = is_onnx_op(n, "Mul");
  if (!mul && !is_onnx_op(n, "Div")) return std::nullopt;
  for (int side = 0; side < (mul ? 2 : 1); ++side) {
    const ValueId x = n.inputs[side];
    const ValueId c = n.inputs[1 - side];
    if (!same_shape(g_, x, n.outputs[0])) continue;
    std::optional<Tensor> t = eval_.exact(c);
    if (!t || t->numel() != 1 || !dtype_is_float(t->dtype())) continue;
    const double value = t->element_as_double(0);
    if (!std::isfinite(value) || value == 0.0) continue;
    *data_input = x;
    return mul ? value : 1.0 / value;
  }
  return std::nullopt;
}

// The axes a Reshape could be dropping as a Squeeze would: its output is its input with one
// static 1 removed (clean-up passes write such Reshapes in place of Squeeze). Empty otherwise.
std::vector<int> squeezed_axes(const Graph& g, const Node& n) {
  std::vector<int> axes;
  if (!is_onnx_op(n, "Reshape")) return axes;
  const SymShape* in = shape_of(g, n.inputs[0]);
  const SymShape* out = shape_of(g, n.outputs[0]);
  if (in == nullptr || out == nullptr || in->size() != out->size() + 1) return axes;
  for (size_t i = 0; i < in->size(); ++i) {
    if (!(*in)[i].same_as(Dim(1))) continue;
    bool same = true;
    for (size_t j = 0, k = 0; j < in->size() && same; ++j) {
      if (j == i) continue;
      same = same_dim((*in)[j], (*out)[k++]);
    }
    if (same) axes.push_back(static_cast<int>(i));
  }
  return axes;
}

// Walks from `v` (a [B,H,*,*] operand of a MatMul) back to the head split. `want` is the
// layout expected at `v` in terms of the split's axes (0 batch, 1 seq, 2 heads, 3 head_dim).
std::optional<Decline> AttentionMatcher::trace_heads(ValueId v, const std::vector<int>& want,
                                                     const char* what, bool allow_scale,
                                                     Source* src) {
  std::vector<int> axes = {0, 1, 2, 3};  // axis i of `v` is axis axes[i] of the current value
  ValueId cur = v;
  auto single = [&](ValueId x) { return single_data_use(g_, uses_, x); };
  // Where the walk meets no head split, the head tensor reached so far is what the fused op
  // reads.
  auto cut = [&] { return cut_heads(cur, axes, want, what, src); };
  for (int steps = 0; steps < 16; ++steps) {
    // A graph input, or a head tensor something else reads too (the unrotated q of a model
    // that also keeps it): the fused op reads it as it is.
    const Node* n = producer_of(g_, cur);
    if (n == nullptr || !single(cur)) return cut();
    ValueId next = kNoValue;
    if (is_passthrough(g_, *n)) {
      absorb(n);
      cur = n->inputs[0];
      continue;
    }
    // One fake quantization of the operand (per tensor, so it commutes with the data movement
    // of the head split): applied by the fused op as it reads the operand; factors met after
    // it (further from the MatMul) scale the operand before it.
    if (!src->quant && is_onnx_op(*n, "DequantizeLinear")) {
      std::string why;
      const std::optional<ActivationQuant> aq = match_activation(g_, cur, &why);
      if (aq && single(g_.nodes[aq->q].outputs[0])) {
        src->quant = aq->fake_quant();
        absorb(n);
        absorb(&g_.nodes[aq->q]);
        cur = aq->x;
        continue;
      }
    }
    if (std::optional<double> f = scalar_factor(*n, &next)) {
      if (src->quant) {
        src->prescale *= *f;
        absorb(n);
        cur = next;
        continue;
      }
      if (!allow_scale) return cut();  // v scaled: the Mul stays
      scale *= *f;
      absorb(n);
      cur = next;
      continue;
    }
    if (is_onnx_op(*n, "Transpose") && rank_of(g_, cur) == 4) {
      auto perm = n->attrs.get_ints("perm", {3, 2, 1, 0});
      if (!perm.ok() || perm->size() != 4) return Decline{str_cat(what, ": bad Transpose perm")};
      for (int& a : axes) a = static_cast<int>((*perm)[a]);
      absorb(n);
      cur = n->inputs[0];
      continue;
    }
    if (is_onnx_op(*n, "Reshape") && rank_of(g_, cur) == 4 && squeezed_axes(g_, *n).empty()) {
      const ValueId in = n->inputs[0];
      if (same_shape(g_, in, cur)) {  // a Reshape to the same shape (SDPA exports write these)
        absorb(n);
        cur = in;
        continue;
      }
      // [B,H,a,b] -> Reshape [B*H,a,b] -> Transpose(0,2,1) -> Reshape [B,H,b,a]: a transpose of
      // the last two axes, as the dynamo exporter writes k^T.
      const Node* t = producer_of(g_, in);
      const Node* r1 =
          t != nullptr && is_onnx_op(*t, "Transpose") ? producer_of(g_, t->inputs[0]) : nullptr;
      if (r1 != nullptr && is_onnx_op(*r1, "Reshape") && rank_of(g_, r1->inputs[0]) == 4 &&
          rank_of(g_, in) == 3 && single(in) && single(t->inputs[0])) {
        auto perm = t->attrs.get_ints("perm", {2, 1, 0});
        const SymShape& s4 = *shape_of(g_, r1->inputs[0]);
        const SymShape& s3 = *shape_of(g_, t->inputs[0]);
        const SymShape& out = *shape_of(g_, cur);
        if (perm.ok() && *perm == std::vector<int64_t>{0, 2, 1} && same_dim(s3[0], s4[0] * s4[1]) &&
            same_dim(s3[1], s4[2]) && same_dim(s3[2], s4[3]) && same_dim(out[0], s4[0]) &&
            same_dim(out[1], s4[1]) && same_dim(out[2], s4[3]) && same_dim(out[3], s4[2])) {
          std::swap(axes[2], axes[3]);
          absorb(n);
          absorb(t);
          absorb(r1);
          cur = r1->inputs[0];
          continue;
        }
      }
      // nn.MultiheadAttention with SDPA: [B*H, a, b] -> Reshape [B, H, a, b], the heads folded
      // into the batch axis by a sequence-first split [S, B, D] -> [S, B*H, Dh].
      if (rank_of(g_, in) == 3 && axes[0] == 0 && axes[1] == 1 && want[0] == 0 && want[1] == 2 &&
          !src->quant) {
        const SymShape& s3 = *shape_of(g_, in);
        const SymShape& s4 = *shape_of(g_, cur);
        // The role (1 seq, 3 head_dim) of `cur`'s axis c, as a label of the split's output
        // [S, B*H, Dh] (0 seq, 2 head_dim).
        auto label = [&](int c) {
          for (int i = 0; i < 4; ++i) {
            if (axes[i] == c) return want[i] == 1 ? 0 : want[i] == 3 ? 2 : -1;
          }
          return -1;
        };
        if (s4[1].is_static() && same_dim(s3[0], s4[0] * s4[1]) && same_dim(s3[1], s4[2]) &&
            same_dim(s3[2], s4[3]) && label(2) >= 0 && label(3) >= 0 && label(2) != label(3)) {
          absorb(n);
          if (auto d = trace_seq_first(in, {1, label(2), label(3)}, what, allow_scale, src)) {
            return d;
          }
          if (src->heads != s4[1].value()) {
            return Decline{str_cat(what, " splits ", src->heads, " heads but unfolds ",
                                   s4[1].value(), " from the batch axis")};
          }
          src->seq_first = true;
          trace_packed_seq_first(src);
          return std::nullopt;
        }
      }
      // The head split: [B,S,D] -> [B,S,H,Dh]. Any other Reshape computes a head tensor the
      // fused op reads as it is.
      if (rank_of(g_, in) != 3) return cut();
      const SymShape& s3 = *shape_of(g_, in);
      const SymShape& s4 = *shape_of(g_, cur);
      if (!same_dim(s4[0], s3[0]) || !same_dim(s4[1], s3[1]) || !s4[2].is_static() ||
          !s4[3].is_static() || !same_dim(s3[2], s4[2] * s4[3])) {
        return cut();
      }
      if (axes != want) {
        return Decline{std::string(what) == "k"
                           ? std::string("k is not transposed over the last two axes")
                           : str_cat(what, " is not transposed to [batch, heads, seq, head_dim]")};
      }
      absorb(n);
      src->value = in;
      src->heads = s4[2].value();
      src->head_dim = s4[3].value();
      // A scale applied to the projection before the split (older CLIP: q_proj(x) * scale).
      while ((allow_scale || src->quant) && single(src->value)) {
        const Node* p = producer_of(g_, src->value);
        ValueId unscaled = kNoValue;
        std::optional<double> f = p != nullptr ? scalar_factor(*p, &unscaled) : std::nullopt;
        if (!f) break;
        (src->quant ? src->prescale : scale) *= *f;
        absorb(p);
        src->value = unscaled;
      }
      return std::nullopt;
    }
    // timm's packed qkv: Reshape [B,S,3D] -> [B,S,3,H,Dh], then Transposes and a pick of part
    // t of the "3" axis (Split + Squeeze, Slice + Squeeze or Gather), in any order the
    // exporter or a transpose-pushing optimizer left them.
    if (!(is_onnx_op(*n, "Squeeze") || is_onnx_op(*n, "Gather") ||
          !squeezed_axes(g_, *n).empty())) {
      return cut();
    }
    std::vector<const Node*> chain;  // from `cur` back to the rank-5 Reshape, exclusive
    const Node* r5 = nullptr;
    for (ValueId x = cur; chain.size() < 8;) {
      const Node* p = producer_of(g_, x);
      if (p == nullptr) break;
      if (is_onnx_op(*p, "Reshape") && rank_of(g_, x) == 5 && rank_of(g_, p->inputs[0]) == 3) {
        r5 = p;
        break;
      }
      if (!(is_onnx_op(*p, "Transpose") || is_onnx_op(*p, "Squeeze") || is_onnx_op(*p, "Split") ||
            is_onnx_op(*p, "Slice") || is_onnx_op(*p, "Gather") ||
            !squeezed_axes(g_, *p).empty())) {
        break;
      }
      chain.push_back(p);
      x = p->inputs[0];
    }
    const SymShape* s3 = r5 != nullptr ? shape_of(g_, r5->inputs[0]) : nullptr;
    const SymShape* s5 = r5 != nullptr ? shape_of(g_, r5->outputs[0]) : nullptr;
    if (s3 == nullptr || s5 == nullptr || !same_dim((*s5)[0], (*s3)[0]) ||
        !same_dim((*s5)[1], (*s3)[1]) || !(*s5)[2].same_as(Dim(3)) || !(*s5)[3].is_static() ||
        !(*s5)[4].is_static() || !same_dim((*s3)[2], Dim(3) * (*s5)[3] * (*s5)[4])) {
      return cut();
    }
    // Replay forward, tracking which Reshape axis (0 B, 1 S, 2 the "3", 3 H, 4 Dh) each axis is.
    std::vector<int> labels = {0, 1, 2, 3, 4};
    int part = -1;
    const auto picked_axis = [&](int64_t a) -> int {
      const int r = static_cast<int>(labels.size());
      if (a < -r || a >= r) return -1;
      const int axis = static_cast<int>(a < 0 ? a + r : a);
      return labels[axis] == 2 ? axis : -1;
    };
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      const Node& c = **it;
      const ValueId out = it + 1 == chain.rend() ? cur : (*(it + 1))->inputs[0];
      if (is_onnx_op(c, "Transpose")) {
        std::vector<int64_t> rev(labels.size());
        for (size_t i = 0; i < rev.size(); ++i) rev[i] = static_cast<int64_t>(rev.size() - 1 - i);
        auto perm = c.attrs.get_ints("perm", rev);
        if (!perm.ok() || perm->size() != labels.size()) return cut();
        std::vector<int> next;
        for (int64_t a : *perm) next.push_back(labels[a]);
        labels = next;
      } else if (is_onnx_op(c, "Split")) {
        auto a = c.attrs.get_int("axis", 0);
        const int axis = a.ok() ? picked_axis(*a) : -1;
        if (axis < 0 || c.outputs.size() != 3 || part >= 0) return cut();
        for (size_t i = 0; i < c.outputs.size(); ++i) {
          if (c.outputs[i] == out) part = static_cast<int>(i);
        }
        if (!(*shape_of(g_, out))[axis].same_as(Dim(1))) return cut();
      } else if (is_onnx_op(c, "Slice")) {
        auto starts = eval_.exact(c.inputs[1]);
        auto ends = eval_.exact(c.inputs[2]);
        auto ax = c.has_input(3) ? eval_.exact(c.inputs[3]) : std::nullopt;
        auto step = c.has_input(4) ? eval_.exact(c.inputs[4]) : std::nullopt;
        if (!starts || !ends || starts->numel() != 1 || ends->numel() != 1 || part >= 0 ||
            (c.has_input(3) && (!ax || ax->numel() != 1)) ||
            (c.has_input(4) && (!step || step->numel() != 1 || step->element_as_int64(0) != 1))) {
          return cut();
        }
        if (picked_axis(c.has_input(3) ? ax->element_as_int64(0) : 0) < 0) return cut();
        const int64_t s0 = starts->element_as_int64(0);
        const int64_t e0 = std::min<int64_t>(ends->element_as_int64(0), 3);
        if (s0 < 0 || e0 != s0 + 1) return cut();
        part = static_cast<int>(s0);
      } else if (is_onnx_op(c, "Gather")) {
        auto idx = eval_.exact(c.inputs[1]);
        auto a = c.attrs.get_int("axis", 0);
        const int axis = a.ok() ? picked_axis(*a) : -1;
        if (!idx || idx->rank() != 0 || axis < 0 || part >= 0) return cut();
        const int64_t t = idx->element_as_int64(0);
        part = static_cast<int>(t < 0 ? t + 3 : t);
        labels.erase(labels.begin() + axis);
      } else if (is_onnx_op(c, "Reshape")) {  // a Reshape dropping the picked unit axis
        int axis = -1;
        for (int a : squeezed_axes(g_, c)) {
          if (picked_axis(a) >= 0) axis = a;
        }
        if (axis < 0 || part < 0) return cut();
        labels.erase(labels.begin() + axis);
      } else {  // Squeeze: axes as input (opset >= 13) or attribute
        std::optional<std::vector<int64_t>> sq;
        if (c.has_input(1)) {
          if (auto t = eval_.exact(c.inputs[1])) sq = t->to_int64_vector();
        } else if (auto a = c.attrs.get_ints("axes", {}); a.ok() && !a->empty()) {
          sq = *a;
        }
        const int axis = sq && sq->size() == 1 ? picked_axis((*sq)[0]) : -1;
        if (axis < 0 || part < 0) return cut();
        labels.erase(labels.begin() + axis);
      }
    }
    if (labels.size() != 4 || part < 0 || part > 2) return cut();
    for (int& a : axes) {
      const int l = labels[a];
      a = l < 2 ? l : l - 1;  // B, S, H, Dh -> 0, 1, 2, 3
    }
    if (axes != want) {
      return Decline{str_cat(what, " packed part is not transposed to the attention layout")};
    }
    // The shared Split/Transpose/Reshape are absorbed by each part; the set keeps one.
    for (const Node* c : chain) {
      absorb(c);
      src->packed_nodes.push_back(nodes.back());
    }
    absorb(r5);
    src->packed_nodes.push_back(nodes.back());
    src->value = r5->inputs[0];
    src->heads = (*s5)[3].value();
    src->head_dim = (*s5)[4].value();
    src->part = part;
    return std::nullopt;
  }
  return cut();
}

// `cur` is a head tensor whose producer is not a head split: RoPE (rotating q and k, often only
// the patch tokens, between the split and the MatMul), a q/k norm, or a graph input. Axis
// axes[i] of `cur` is axis i of the MatMul operand, whose roles `want` names (0 batch, 1 seq,
// 2 heads, 3 head_dim). The fused op reads it transposed to [B, S, H, Dh] and reshaped to
// [B, S, H*Dh]: per (batch, head) the product is the same. check_head_dims() checks that the
// axes line up with the scores' (no broadcasting MatMul).
std::optional<Decline> AttentionMatcher::cut_heads(ValueId cur, const std::vector<int>& axes,
                                                   const std::vector<int>& want, const char* what,
                                                   Source* src) {
  const SymShape* s = shape_of(g_, cur);
  if (s == nullptr || s->size() != 4) {
    return Decline{str_cat(what, " is not a rank-4 [batch, heads, seq, head_dim] tensor")};
  }
  std::vector<int64_t> perm(4);
  for (int i = 0; i < 4; ++i) perm[want[i]] = axes[i];
  const Dim& heads = (*s)[perm[2]];
  const Dim& head_dim = (*s)[perm[3]];
  if (!heads.is_static() || !head_dim.is_static()) {
    return Decline{str_cat(what, " head tensor ", sym_shape_to_string(*s),
                           " has no static heads and head_dim axes")};
  }
  src->value = cur;
  src->heads = heads.value();
  src->head_dim = head_dim.value();
  src->to_split = perm;
  return std::nullopt;
}

// With a head tensor read as it is, nothing above checked that q, k and v share the scores'
// batch and heads (a MatMul broadcasts them) and that k and v have the keys' length.
std::optional<Decline> AttentionMatcher::check_head_dims(const SymShape& scores) {
  struct Want {
    const Source* src;
    const char* what;
    const Dim& seq;
  };
  for (const Want& w :
       {Want{&q, "q", scores[2]}, Want{&k, "k", scores[3]}, Want{&v, "v", scores[3]}}) {
    const SymShape& s = *shape_of(g_, w.src->value);
    const bool cut = !w.src->to_split.empty();
    const Dim& b = cut ? s[w.src->to_split[0]] : s[w.src->seq_first ? 1 : 0];
    const Dim& seq = cut ? s[w.src->to_split[1]] : s[w.src->seq_first ? 0 : 1];
    if (!same_dim(b, scores[0]) || !same_dim(seq, w.seq) ||
        !same_dim(Dim(w.src->heads), scores[1])) {
      return Decline{str_cat(w.what, " (", sym_shape_to_string(s),
                             ") does not have the batch, heads and length of the scores ",
                             sym_shape_to_string(scores))};
    }
  }
  return std::nullopt;
}

// nn.MultiheadAttention's packed in_proj: [S, B, 3D] -> Reshape [S, B, 3, D] (with unit axes)
// -> Unsqueeze / Transpose / Squeeze -> Gather of part t of the "3" axis -> [S, B, D]. When
// `src->value` is such a part, the source becomes the packed projection; otherwise (separate
// projections) it stays as it is.
void AttentionMatcher::trace_packed_seq_first(Source* src) {
  std::vector<const Node*> chain;  // from src->value back to the packing Reshape, exclusive
  const Node* root = nullptr;
  std::vector<int> labels;  // per axis of the root's output: 0 S, 1 B, 2 the "3", 3 D, -1 unit
  for (ValueId x = src->value; chain.size() < 8 && root == nullptr;) {
    const Node* p = producer_of(g_, x);
    if (p == nullptr) return;
    const SymShape* in = shape_of(g_, p->inputs[0]);
    const SymShape* out = shape_of(g_, x);
    if (is_onnx_op(*p, "Reshape") && in != nullptr && out != nullptr && in->size() == 3) {
      std::vector<int> l;
      std::vector<Dim> kept;
      for (const Dim& d : *out) {
        l.push_back(d.same_as(Dim(1)) ? -1 : static_cast<int>(kept.size()));
        if (!d.same_as(Dim(1))) kept.push_back(d);
      }
      if (kept.size() == 4 && same_dim(kept[0], (*in)[0]) && same_dim(kept[1], (*in)[1]) &&
          kept[2].same_as(Dim(3)) && kept[3].is_static() && same_dim((*in)[2], Dim(3) * kept[3])) {
        root = p;
        labels = l;
        break;
      }
    }
    if (!(is_onnx_op(*p, "Transpose") || is_onnx_op(*p, "Squeeze") || is_onnx_op(*p, "Unsqueeze") ||
          is_onnx_op(*p, "Gather") || !squeezed_axes(g_, *p).empty())) {
      return;
    }
    chain.push_back(p);
    x = p->inputs[0];
  }
  if (root == nullptr) return;
  int part = -1;
  auto axes_of = [&](const Node& c) -> std::optional<std::vector<int64_t>> {
    if (c.has_input(1)) {
      if (auto t = eval_.exact(c.inputs[1])) return t->to_int64_vector();
      return std::nullopt;
    }
    auto a = c.attrs.get_ints("axes", {});
    if (!a.ok() || a->empty()) return std::nullopt;
    return *a;
  };
  // Replay forward from the root, tracking each axis's label.
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const Node& c = **it;
    const int r = static_cast<int>(labels.size());
    if (is_onnx_op(c, "Transpose")) {
      std::vector<int64_t> rev(r);
      for (int i = 0; i < r; ++i) rev[i] = r - 1 - i;
      auto perm = c.attrs.get_ints("perm", rev);
      if (!perm.ok() || static_cast<int>(perm->size()) != r) return;
      std::vector<int> next;
      for (int64_t a : *perm) {
        if (a < 0 || a >= r) return;
        next.push_back(labels[a]);
      }
      labels = next;
    } else if (is_onnx_op(c, "Unsqueeze")) {
      auto axes = axes_of(c);
      if (!axes) return;
      const int out_rank = r + static_cast<int>(axes->size());
      std::vector<int64_t> sorted;
      for (int64_t a : *axes) sorted.push_back(a < 0 ? a + out_rank : a);
      std::sort(sorted.begin(), sorted.end());
      for (int64_t a : sorted) {
        if (a < 0 || a > static_cast<int64_t>(labels.size())) return;
        labels.insert(labels.begin() + a, -1);
      }
    } else if (is_onnx_op(c, "Gather")) {
      auto idx = eval_.exact(c.inputs[1]);
      auto a = c.attrs.get_int("axis", 0);
      if (!idx || idx->rank() != 0 || !a.ok() || *a < -r || *a >= r || part >= 0) return;
      const int axis = static_cast<int>(*a < 0 ? *a + r : *a);
      const int64_t t = idx->element_as_int64(0);
      if (labels[axis] != 2 || t < -3 || t > 2) return;
      part = static_cast<int>(t < 0 ? t + 3 : t);
      labels.erase(labels.begin() + axis);
    } else {  // Squeeze, or a Reshape dropping unit axes: only unit axes may go
      std::vector<int64_t> drop;
      if (is_onnx_op(c, "Reshape")) {
        const std::vector<int> sq = squeezed_axes(g_, c);
        for (int a : sq) {
          if (labels[a] == -1) {
            drop.push_back(a);
            break;
          }
        }
      } else if (auto axes = axes_of(c)) {
        for (int64_t a : *axes) drop.push_back(a < 0 ? a + r : a);
      }
      if (drop.empty()) return;
      std::sort(drop.rbegin(), drop.rend());
      for (int64_t a : drop) {
        if (a < 0 || a >= static_cast<int64_t>(labels.size()) || labels[a] != -1) return;
        labels.erase(labels.begin() + a);
      }
    }
  }
  if (part < 0 || labels != std::vector<int>{0, 1, 3}) return;
  for (const Node* c : chain) absorb(c);
  absorb(root);
  src->value = root->inputs[0];
  src->part = part;
}

// True when `t` (rank <= 4, last two axes [sq, sk]) is the causal pattern: for a float mask 0
// where key j <= i + sk - sq and masked elsewhere; for a boolean one true exactly there.
bool AttentionMatcher::is_causal(const Tensor& t, int64_t sq, int64_t sk, bool boolean) const {
  if (t.rank() < 2 || t.dim(t.rank() - 2) != sq || t.dim(t.rank() - 1) != sk) return false;
  // With more queries than keys the first rows see no key: a finite "masked" value gives them a
  // uniform softmax where the causal flag gives NaN.
  if (sq > sk) return false;
  const int64_t off = sk - sq;
  for (int64_t e = 0; e < t.numel(); ++e) {
    const int64_t j = e % sk;
    const int64_t i = (e / sk) % sq;
    const double x = t.element_as_double(e);
    const bool visible = j <= i + off;
    if (boolean ? (x != 0.0) != visible : (visible ? x != 0.0 : !(x <= kMaskedBelow))) {
      return false;
    }
  }
  return true;
}

// Lengths a dynamic sequence axis is bound to when checking a mask built from shapes: the
// smallest cases (one and two tokens), odd and even lengths, and CLIP's context length.
constexpr int64_t kProbeLengths[] = {1, 2, 3, 4, 7, 16, 77};

// True when `v` evaluates (up to broadcast) to the causal pattern over [sq, sk]. With static
// lengths this is one evaluation. With a symbolic length (sq and sk the same single symbol, a
// dynamic sequence axis) the mask must be computed from that length alone, no input data: it is
// evaluated with the symbol bound to each probe length and must be causal at every one.
bool AttentionMatcher::evaluates_causal(ValueId v, const Dim& sq, const Dim& sk, bool boolean) {
  const DType want = boolean ? DType::kBool : DType::kFloat32;
  if (sq.is_static() && sk.is_static()) {
    std::optional<Tensor> c = eval_.up_to_broadcast(v);
    return c && c->dtype() == want && is_causal(*c, sq.value(), sk.value(), boolean);
  }
  const std::set<std::string> symbols = sq.symbols();
  if (!sq.is_symbolic() || !sq.same_as(sk) || symbols.size() != 1) return false;
  const std::string& sym = *symbols.begin();
  for (int64_t n : kProbeLengths) {
    const std::map<std::string, int64_t> bindings = {{sym, n}};
    const std::optional<int64_t> len = sq.evaluate(bindings);
    if (!len) return false;
    ValueEvaluator bound(g_, bindings);
    std::optional<Tensor> c = bound.up_to_broadcast(v);
    if (!c || c->dtype() != want || !is_causal(*c, *len, *len, boolean)) return false;
  }
  return true;
}

// Sizes the graph inputs' symbols are bound to when proving a mask built from shapes is all
// zero: the causal probes plus common image sides (224, 448 pixels: up to 1,025 tokens at patch
// 14), so that a mask hiding keys only beyond some window (a local-attention band) shows up
// unless its window is wider than every probe. Dropping a mask is a silent change, so it is
// probed more widely than the causal check, whose result the kernel's flag re-imposes anyway.
constexpr int64_t kZeroProbeLengths[] = {1, 2, 3, 4, 7, 16, 77, 224, 448};

// True when float `v`, computed from shapes alone (no input data), is all zero at every probe:
// the graph inputs' symbols bound to the probe lengths, each probe a different mix. The
// symbolic-size counterpart of a constant zero mask: DINOv2's dynamo export adds
// Where(arange(T) >= 0, 0, -inf) over its (height//14)*(width//14)+1 tokens.
bool AttentionMatcher::evaluates_zero(ValueId v) {
  std::set<std::string> symbols;
  for (ValueId in : g_.inputs) {
    for (const Dim& d : g_.values[in].shape) {
      for (const std::string& s : d.symbols()) symbols.insert(s);
    }
  }
  if (symbols.empty()) return false;
  constexpr size_t kProbes = std::size(kZeroProbeLengths);
  for (size_t p = 0; p < kProbes; ++p) {
    std::map<std::string, int64_t> bindings;
    size_t j = 0;
    for (const std::string& s : symbols) bindings[s] = kZeroProbeLengths[(p + j++) % kProbes];
    ValueEvaluator bound(g_, bindings);
    std::optional<Tensor> c = bound.up_to_broadcast(v);
    if (!c || c->dtype() != DType::kFloat32) return false;
    for (int64_t e = 0; e < c->numel(); ++e) {
      if (c->data<float>()[e] != 0.0f) return false;
    }
  }
  return true;
}

std::optional<Decline> AttentionMatcher::analyse_mask(ValueId m, double factor_after,
                                                      const Dim& sq_dim, const Dim& sk_dim) {
  if (g_.values[m].dtype != DType::kFloat32) return Decline{"mask is not float32"};
  const int64_t sq = sq_dim.is_static() ? sq_dim.value() : -1;
  const int64_t sk = sk_dim.is_static() ? sk_dim.value() : -1;
  if (std::optional<Tensor> r = eval_.up_to_broadcast(m)) {
    if (r->dtype() != DType::kFloat32 || r->rank() > 4)
      return Decline{"constant mask has rank > 4"};
    bool zero = true;
    for (int64_t e = 0; e < r->numel() && zero; ++e) zero = r->data<float>()[e] == 0.0f;
    if (zero) return std::nullopt;
    if (sq > 0 && sk > 0 && is_causal(*r, sq, sk, false)) {
      causal = true;
      return std::nullopt;
    }
    // Any other constant: kept, scaled like the scores it is added to, at rank >= 2.
    std::vector<int64_t> shape = r->shape();
    while (shape.size() < 2) shape.insert(shape.begin(), 1);
    Tensor c = Tensor::empty(DType::kFloat32, shape);
    for (int64_t e = 0; e < r->numel(); ++e) {
      c.data<float>()[e] = static_cast<float>(r->data<float>()[e] * factor_after);
    }
    mask_const = c;
    return std::nullopt;
  }
  if (!sq_dim.is_static() && evaluates_causal(m, sq_dim, sk_dim, false)) {
    causal = true;
    return std::nullopt;
  }
  if (!sq_dim.is_static() && evaluates_zero(m)) return std::nullopt;
  if (factor_after != 1.0) return Decline{"the scores are scaled after a runtime mask is added"};
  const int mrank = rank_of(g_, m);
  // Where(And(causal, padding), 0, masked): the causal half becomes the flag and the padding half
  // the mask input. Identical results except in a row whose causally visible keys are all
  // padding (left padding): with a finite "masked" value (HF's float32 lowest) the unfused
  // softmax spreads evenly over every key, the fused one over the visible keys only.
  const Node* where = producer_if(g_, m, "Where");
  const bool lengths_known = sq_dim.is_known() && sk_dim.is_known();
  if (where != nullptr && lengths_known) {
    auto on_true = eval_.exact(where->inputs[1]);
    auto on_false = eval_.exact(where->inputs[2]);
    ValueId cond = where->inputs[0];
    for (const Node* p = producer_of(g_, cond);
         p != nullptr && (is_onnx_op(*p, "Expand") || is_onnx_op(*p, "Cast"));
         p = producer_of(g_, cond)) {
      cond = p->inputs[0];
    }
    const Node* conj = producer_if(g_, cond, "And");
    if (on_true && on_false && on_true->numel() == 1 && on_false->numel() == 1 &&
        on_true->element_as_double(0) == 0.0 && on_false->element_as_double(0) <= kMaskedBelow &&
        conj != nullptr) {
      for (int side = 0; side < 2; ++side) {
        const ValueId other = conj->inputs[1 - side];
        const int orank = rank_of(g_, other);
        if (evaluates_causal(conj->inputs[side], sq_dim, sk_dim, true) && orank >= 2 &&
            orank <= 4 && !eval_.up_to_broadcast(other)) {
          causal = true;
          new_where = NewWhere{other, where->inputs[1], where->inputs[2]};
          return std::nullopt;
        }
      }
    }
  }
  // causal + padding as a float sum.
  if (const Node* add = producer_if(g_, m, "Add"); add != nullptr && lengths_known) {
    for (int side = 0; side < 2; ++side) {
      const ValueId other = add->inputs[1 - side];
      const int orank = rank_of(g_, other);
      if (evaluates_causal(add->inputs[side], sq_dim, sk_dim, false) && orank >= 2 && orank <= 4 &&
          g_.values[other].dtype == DType::kFloat32) {
        causal = true;
        mask = other;
        return std::nullopt;
      }
    }
  }
  if (mrank < 2 || mrank > 4) {
    return Decline{str_cat("mask has rank ", mrank, "; the fused op takes rank 2 to 4")};
  }
  mask = m;
  return std::nullopt;
}

// Backward from the softmax input: scalar factors (into `scale`) and additive masks down to
// the q k^T MatMul.
std::optional<Decline> AttentionMatcher::find_qk(ValueId scores_out, const Node** qk,
                                                 std::vector<ValueId>* masks,
                                                 std::vector<double>* mask_factors) {
  ValueId cur = scores_out;
  double factor_after_mask = 1.0;
  for (int steps = 0; steps < 8 && *qk == nullptr; ++steps) {
    const Node* n = producer_of(g_, cur);
    if (n == nullptr) return Decline{"scores are not computed by a MatMul"};
    std::vector<NodeId> readers = data_readers(g_, uses_, cur);
    if (cur == overwritten_) {  // the ScatterND writing over it reads only its shape
      readers.erase(std::remove_if(readers.begin(), readers.end(),
                                   [&](NodeId r) { return is_onnx_op(g_.nodes[r], "ScatterND"); }),
                    readers.end());
    }
    if (is_graph_output(g_, cur) || readers.size() != 1) {
      return Decline{"scores are used outside the attention"};
    }
    ValueId next = kNoValue;
    std::string why;
    if (is_onnx_op(*n, "MatMul")) {
      *qk = n;
    } else if (is_onnx_op(*n, "DequantizeLinear")) {
      // A quantized model's Q/DQ pair on q k^T, taken where it reads the product itself.
      const std::optional<ActivationQuant> aq = match_activation(g_, cur, &why);
      if (!aq) return Decline{str_cat("scores come from ", n->describe(), ": ", why)};
      const Node* mm = producer_of(g_, aq->x);
      if (mm == nullptr || !is_onnx_op(*mm, "MatMul") || quant_scores ||
          !fake_quant_after(g_.nodes[aq->q], aq->x)) {
        return Decline{str_cat("scores are fake-quantized by ", g_.nodes[aq->q].describe(),
                               " elsewhere than straight after the q k^T MatMul")};
      }
      quant_scores = aq->fake_quant();
      absorb(&g_.nodes[aq->q]);
      cur = aq->x;
    } else if (is_passthrough(g_, *n)) {
      cur = n->inputs[0];
    } else if (std::optional<double> f = scalar_factor(*n, &next)) {
      scale *= *f;
      factor_after_mask *= *f;
      cur = next;
    } else if (is_onnx_op(*n, "Add")) {
      // The scores side is the one of the sum's shape whose producer continues the chain.
      int side = -1;
      for (int s = 0; s < 2 && side < 0; ++s) {
        const Node* p = producer_of(g_, n->inputs[s]);
        if (p != nullptr && same_shape(g_, n->inputs[s], n->outputs[0]) &&
            (is_onnx_op(*p, "MatMul") || is_onnx_op(*p, "Mul") || is_onnx_op(*p, "Div"))) {
          side = s;
        }
      }
      if (side < 0) return Decline{"no q k^T operand in the mask Add"};
      masks->push_back(n->inputs[1 - side]);
      mask_factors->push_back(factor_after_mask);
      cur = n->inputs[side];
    } else if (is_onnx_op(*n, "ScatterND") && overwritten_ == kNoValue && overwrites_all(*n)) {
      // TorchScript's attn[:, :, i:, j:] = ... with i = j = 0 (MViTv2): the updates replace the
      // whole scores, which the updates are computed from.
      overwritten_ = n->inputs[0];
      cur = n->inputs[2];
    } else if (is_onnx_op(*n, "Mul") && head_scale.empty() && match_head_scale(*n, &next)) {
      cur = next;
    } else if (is_onnx_op(*n, "Reshape") && !window_mask && !reshaped_bias) {
      const size_t absorbed = nodes.size();
      if (auto d = match_window_mask(*n, factor_after_mask, &next)) {
        nodes.resize(absorbed);
        if (match_reshaped_bias(*n, factor_after_mask, &next)) return d;
        masks->push_back(kNoValue);  // reshaped_bias, built at the rewrite
        mask_factors->push_back(1.0);
      }
      cur = next;
    } else {
      return Decline{str_cat("scores come from ", n->describe(), ", not q k^T")};
    }
    if (*qk == nullptr) absorb(n);
  }
  if (*qk == nullptr) return Decline{"scores are not computed by a MatMul"};
  return std::nullopt;
}

// A Transpose that swaps the last two axes of its rank >= 2 input and keeps the others.
bool swaps_last_two(const Graph& g, const Node& n) {
  if (!is_onnx_op(n, "Transpose")) return false;
  const int r = rank_of(g, n.inputs[0]);
  if (r < 2) return false;
  auto perm = n.attrs.get_ints("perm", {});
  if (!perm.ok() || static_cast<int>(perm->size()) != r) return false;
  for (int i = 0; i < r; ++i) {
    const int want = i < r - 2 ? i : (i == r - 2 ? r - 1 : r - 2);
    if ((*perm)[i] != want) return false;
  }
  return true;
}

// Forward from the softmax output: probabilities -> (Cast)* -> [IsNaN/Where guard] -> MatMul
// with v. With `p_transpose`, also v' P^T: the probabilities transposed over their last two
// axes as the MatMul's second operand (EfficientViT-MSRA's v @ attn^T, [.., Dv, Sq]).
std::optional<Decline> AttentionMatcher::find_pv(ValueId probs, const Node** pv, bool* nan_guard,
                                                 const Node** p_transpose) {
  for (int steps = 0; steps < 8 && *pv == nullptr; ++steps) {
    const std::vector<NodeId> readers = data_readers(g_, uses_, probs);
    if (is_graph_output(g_, probs)) return Decline{"attention probabilities are a graph output"};
    if (readers.size() == 2) {
      // IsNaN(p) and Where(IsNaN(p), 0, p): SDPA's guard against fully masked rows.
      const Node* a = &g_.nodes[readers[0]];
      const Node* b = &g_.nodes[readers[1]];
      if (is_onnx_op(*a, "Where")) std::swap(a, b);
      if (!is_onnx_op(*a, "IsNaN") || !is_onnx_op(*b, "Where") || b->inputs[0] != a->outputs[0] ||
          b->inputs[2] != probs || !single_data_use(g_, uses_, a->outputs[0])) {
        return Decline{"attention probabilities are used elsewhere"};
      }
      auto zero = eval_.exact(b->inputs[1]);
      if (!zero || zero->numel() != 1 || zero->element_as_double(0) != 0.0) {
        return Decline{"softmax NaN guard does not replace NaN by 0"};
      }
      *nan_guard = true;
      absorb(a);
      absorb(b);
      probs = b->outputs[0];
      continue;
    }
    const Node* next = single_data_consumer(g_, uses_, probs);
    if (next == nullptr) return Decline{"attention probabilities are used elsewhere"};
    std::optional<ActivationQuant> aq;
    if (is_passthrough(g_, *next)) {
      absorb(next);
      probs = next->outputs[0];
    } else if (!quant_probs && (aq = fake_quant_after(*next, probs))) {
      // A quantized model's Q/DQ pair on the probabilities.
      quant_probs = aq->fake_quant();
      absorb(next);
      absorb(&g_.nodes[aq->dq]);
      probs = g_.nodes[aq->dq].outputs[0];
    } else if (is_onnx_op(*next, "MatMul") && next->inputs[0] == probs) {
      *pv = next;
    } else if (p_transpose != nullptr && swaps_last_two(g_, *next)) {
      const Node* mm = single_data_consumer(g_, uses_, next->outputs[0]);
      if (mm == nullptr || !is_onnx_op(*mm, "MatMul") || mm->inputs[1] != next->outputs[0] ||
          mm->inputs[0] == next->outputs[0]) {
        return Decline{"transposed probabilities do not feed a v P^T MatMul"};
      }
      *p_transpose = next;
      *pv = mm;
    } else {
      return Decline{str_cat("softmax output feeds ", next->describe(), ", not the P v MatMul")};
    }
  }
  if (*pv == nullptr) return Decline{"no P v MatMul after the softmax"};
  return std::nullopt;
}

std::optional<ActivationQuant> AttentionMatcher::fake_quant_after(const Node& next, ValueId v) {
  if (!is_onnx_op(next, "QuantizeLinear") || next.inputs[0] != v) return std::nullopt;
  const Node* dq = single_data_consumer(g_, uses_, next.outputs[0]);
  if (dq == nullptr || !is_onnx_op(*dq, "DequantizeLinear") || !single_data_use(g_, uses_, v)) {
    return std::nullopt;
  }
  std::string why;
  return match_activation(g_, dq->outputs[0], &why);
}

// What both matches ask of the Softmax: over the last of the scores' `rank` axes, in float32.
std::optional<Decline> check_softmax(const Graph& g, const Node& sm, int rank) {
  auto axis = sm.attrs.get_int("axis", g.onnx_opset() >= 13 ? -1 : 1);
  if (!axis.ok() || (*axis != -1 && *axis != rank - 1)) {
    return Decline{"softmax axis is not the last"};
  }
  if (g.values[sm.inputs[0]].dtype != DType::kFloat32) return Decline{"scores are not float32"};
  return std::nullopt;
}

std::optional<Decline> AttentionMatcher::match(NodeId softmax_id) {
  const Node& sm = g_.nodes[softmax_id];
  const ValueId scores_out = sm.inputs[0];
  const int rank = rank_of(g_, scores_out);
  if (rank != 3 && rank != 4) {
    return Decline{str_cat("scores have rank ", rank, ", not [batch, heads, q_len, k_len]")};
  }
  if (auto d = check_softmax(g_, sm, rank)) return d;
  absorb(&sm);

  const Node* pv = nullptr;
  bool nan_guard = false;
  if (auto d = find_pv(sm.outputs[0], &pv, &nan_guard, nullptr)) return d;
  absorb(pv);
  if (rank == 3) {
    seq_first_nan_guard_ = nan_guard;
    return match_seq_first(scores_out, *pv);
  }

  // Merge heads: [B,H,Sq,Dv] -> (same-shape Reshape)* -> Transpose(0,2,1,3) -> Reshape [B,Sq,H*Dv].
  ValueId o = pv->outputs[0];
  const Node* merge_t = nullptr;
  for (int steps = 0; steps < 4 && merge_t == nullptr; ++steps) {
    const Node* next = single_data_consumer(g_, uses_, o);
    if (next == nullptr)
      return Decline{"attention output (before merging heads) is used elsewhere"};
    std::optional<ActivationQuant> oq;
    if (is_passthrough(g_, *next) ||
        (is_onnx_op(*next, "Reshape") && same_shape(g_, next->outputs[0], o))) {
      absorb(next);
      o = next->outputs[0];
    } else if (!quant_out && (oq = fake_quant_after(*next, o))) {
      // A quantized model's Q/DQ pair on P v (ONNX Runtime quantizes every MatMul output):
      // per tensor, so it moves past the merge onto the fused op's output.
      quant_out = oq->fake_quant();
      absorb(next);
      absorb(&g_.nodes[oq->dq]);
      o = g_.nodes[oq->dq].outputs[0];
    } else if (is_onnx_op(*next, "Transpose")) {
      merge_t = next;
    } else {
      return Decline{
          str_cat("heads are not merged by Transpose + Reshape (", next->describe(), ")")};
    }
  }
  if (merge_t == nullptr) return Decline{"heads are not merged by Transpose + Reshape"};
  auto mperm = merge_t->attrs.get_ints("perm", {});
  // (2, 0, 1, 3): nn.MultiheadAttention merges heads sequence-first, [Sq, B, H, Dv].
  const bool merge_seq_first = mperm.ok() && *mperm == std::vector<int64_t>{2, 0, 1, 3};
  if (!mperm.ok() || (*mperm != std::vector<int64_t>{0, 2, 1, 3} && !merge_seq_first)) {
    return Decline{"merge-heads Transpose is not (0, 2, 1, 3) or (2, 0, 1, 3)"};
  }
  absorb(merge_t);
  const Node* merge_r = single_data_consumer(g_, uses_, merge_t->outputs[0]);
  if (merge_r != nullptr && !quant_out) {
    // The pair ONNX Runtime's QDQ format repeats after the Transpose.
    if (std::optional<ActivationQuant> oq = fake_quant_after(*merge_r, merge_t->outputs[0])) {
      quant_out = oq->fake_quant();
      absorb(merge_r);
      absorb(&g_.nodes[oq->dq]);
      merge_r = single_data_consumer(g_, uses_, g_.nodes[oq->dq].outputs[0]);
    }
  }
  if (merge_r == nullptr || !is_onnx_op(*merge_r, "Reshape")) {
    return Decline{"merged heads are not reshaped to [batch, seq, features]"};
  }
  const SymShape* o4 = shape_of(g_, merge_t->outputs[0]);
  const SymShape* o3 = shape_of(g_, merge_r->outputs[0]);
  // Sequence-first merges may also flatten [Sq, B] into the rows of the out_proj's Gemm.
  const bool merged_rows = merge_seq_first && o3 != nullptr && o3->size() == 2;
  // Channels-last windows (MaxViT's block and grid attention) merge into [B, h, w, H*Dv]: the
  // fused op's [B, h*w, H*Dv] is reshaped to it afterwards.
  if (!merge_seq_first && o4 != nullptr && o3 != nullptr && o3->size() > 3 &&
      same_dim((*o3)[0], (*o4)[0])) {
    Dim rows = (*o3)[1];
    bool all_static = rows.is_static();
    for (size_t a = 2; a + 1 < o3->size(); ++a) {
      rows = rows * (*o3)[a];
      all_static = all_static && (*o3)[a].is_static();
    }
    if (!all_static || !o3->back().is_static() || !same_dim(rows, (*o4)[1]) ||
        !same_dim(o3->back(), (*o4)[2] * (*o4)[3])) {
      return Decline{
          "merged heads are not reshaped to [batch, spatial..., heads * head_dim] "
          "with static spatial dims"};
    }
    spatial_output = std::vector<int64_t>{0};
    for (size_t a = 1; a < o3->size(); ++a) spatial_output->push_back((*o3)[a].value());
  } else if (o4 == nullptr || o3 == nullptr ||
             !(merged_rows ? same_dim((*o3)[0], (*o4)[0] * (*o4)[1]) && (*o3)[1].is_static()
                           : o3->size() == 3 && same_dim((*o3)[0], (*o4)[0]) &&
                                 same_dim((*o3)[1], (*o4)[1])) ||
             !same_dim(o3->back(), (*o4)[2] * (*o4)[3])) {
    return Decline{"merged heads are not reshaped to [batch, seq, heads * head_dim]"};
  }
  absorb(merge_r);
  output = merge_r->outputs[0];
  output_matched = true;

  const Node* qk = nullptr;
  std::vector<ValueId> masks;
  std::vector<double> mask_factors;
  if (auto d = find_qk(scores_out, &qk, &masks, &mask_factors)) return d;
  if (reshaped_bias) return Decline{"a run-time bias is added between Reshapes of the scores"};
  absorb(qk);
  const SymShape& ss = *shape_of(g_, scores_out);

  if (auto d = trace_heads(qk->inputs[0], {0, 2, 1, 3}, "q", true, &q)) return d;
  if (auto d = trace_heads(qk->inputs[1], {0, 2, 3, 1}, "k", true, &k)) return d;
  if (auto d = trace_heads(pv->inputs[1], {0, 2, 1, 3}, "v", false, &v)) return d;
  if (!head_scale.empty() &&
      (q.to_split.empty() || static_cast<int64_t>(head_scale.size()) != q.heads)) {
    return Decline{"the scores' per-head scale is moved onto q, which is not a head tensor here"};
  }
  if (q.heads != k.heads || q.heads != v.heads || q.head_dim != k.head_dim) {
    // Multi-query attention (k and v with one head, broadcast by the MatMuls over q's heads)
    // fuses in the head layout, with q's heads folded into its rows (match_folded).
    needs_head_layout = k.heads == 1 && v.heads == 1 && q.heads > 1;
    return Decline{str_cat("q, k, v head splits differ (", q.heads, "x", q.head_dim, ", ", k.heads,
                           "x", k.head_dim, ", ", v.heads, "x", v.head_dim, ")")};
  }
  // Sequence-first q, k and v need a sequence-first merge; batch-first ones take either.
  if (q.seq_first != k.seq_first || q.seq_first != v.seq_first ||
      (q.seq_first && !merge_seq_first)) {
    return Decline{"q, k, v and the merged output mix sequence-first and batch-first layouts"};
  }
  if (merge_seq_first) {
    if (q.seq_first) {
      // The fused node reads [B, S, D]: q, k, v share the batch axis (axis 1 sequence-first).
      const Dim& bq = (*shape_of(g_, q.value))[1];
      if (!same_dim(bq, (*shape_of(g_, k.value))[1]) ||
          !same_dim(bq, (*shape_of(g_, v.value))[1])) {
        return Decline{"q, k, v batch dims differ"};
      }
    }
    seq_first = q.seq_first;
    seq_first_output = true;
    merged_sq_b = std::make_pair((*o4)[0], (*o4)[1]);
  }
  const bool any_packed = q.part >= 0 || k.part >= 0 || v.part >= 0;
  packed_input =
      q.part == 0 && k.part == 1 && v.part == 2 && q.value == k.value && k.value == v.value;
  if (any_packed && !packed_input) {
    if (merge_seq_first) return Decline{"q, k, v are not parts 0, 1, 2 of one packed projection"};
    // Some of q, k, v are transformed after a packed split (timm's EVA rotates q and k, v is
    // part 2): each packed part is read as a Slice of the projection, whose split stays for
    // the others.
    std::set<NodeId> given_back;
    for (const Source* s : {&q, &k, &v})
      given_back.insert(s->packed_nodes.begin(), s->packed_nodes.end());
    nodes.erase(std::remove_if(nodes.begin(), nodes.end(),
                               [&](NodeId n) { return given_back.count(n) != 0; }),
                nodes.end());
  }
  if (!q.to_split.empty() || !k.to_split.empty() || !v.to_split.empty()) {
    if (auto d = check_head_dims(ss)) return d;
  }
  if ((*o4)[2].is_static() && (*o4)[2].value() != q.heads) {
    return Decline{"merged head count differs from the split"};
  }

  if (window_mask) {
    if (auto d = combine_window_mask(masks, mask_factors, ss)) return d;
    if (nan_guard) return Decline{"a window mask and a softmax NaN guard"};
    return std::nullopt;
  }
  if (masks.size() > 1) return Decline{"more than one additive mask"};
  if (!masks.empty()) {
    if (auto d = analyse_mask(masks[0], mask_factors[0], ss[2], ss[3])) return d;
  }
  if (nan_guard) {
    // With the guard a fully masked row gives 0 where softmax gives NaN: where a row may be
    // fully masked, the fused op is told to give 0 too.
    const bool rows_safe =
        mask == kNoValue && !new_where &&
        (!causal || ss[2].same_as(ss[3]) ||
         (ss[2].is_static() && ss[3].is_static() && ss[2].value() <= ss[3].value()));
    bool const_safe = true;
    if (mask_const) {
      const Tensor& t = *mask_const;
      const int64_t kl = t.dim(t.rank() - 1);
      for (int64_t r0 = 0; r0 < t.numel() && const_safe; r0 += kl) {
        bool any = false;
        for (int64_t j = 0; j < kl; ++j) any |= t.data<float>()[r0 + j] > kMaskedBelow;
        const_safe = any && kl > 1;  // broadcast keys (kl == 1) would need the causal check too
      }
      const_safe = const_safe && !causal;
    }
    zero_masked_rows = !rows_safe || !const_safe;
  }
  return std::nullopt;
}

// Swin's windowed mask, walking back from the Reshape `r2` of the scores: r2's input is
// Add(Reshape r1 of [B*nW, H, Sq, Sk] to [B, nW, H, Sq, Sk], constant), or a chain of such Adds
// (HF's SwinV2 adds its mask twice). Absorbs r2, the Adds and r1, keeps the constants' sum (times
// `factor`, the scale applied after it) as window_mask [nW, H|1, Sq, Sk], and sets *scores to
// r1's input.
std::optional<Decline> AttentionMatcher::match_window_mask(const Node& r2, double factor,
                                                           ValueId* scores) {
  const SymShape* out = shape_of(g_, r2.outputs[0]);
  const Node* add = producer_if(g_, r2.inputs[0], "Add");
  const SymShape* mid = add != nullptr ? shape_of(g_, add->outputs[0]) : nullptr;
  if (out == nullptr || out->size() != 4 || mid == nullptr || mid->size() != 5) {
    return Decline{str_cat("scores come from ", r2.describe(), ", not q k^T")};
  }
  const Dim& windows = (*mid)[1];
  for (int a = 1; a < 4; ++a) {
    if (!(*out)[a].is_static() || !same_dim((*mid)[a + 1], (*out)[a])) {
      return Decline{
          "windowed scores are not reshaped to [batch, windows, heads, q_len, k_len] "
          "with static heads and lengths"};
    }
  }
  if (!windows.is_static()) return Decline{"the window count of the window mask is not static"};
  // [1, nW, H, Sq, Sk]: every constant aligned at the right must broadcast to it.
  const std::vector<int64_t> full = {1, windows.value(), (*out)[1].value(), (*out)[2].value(),
                                     (*out)[3].value()};
  std::vector<std::pair<Tensor, std::vector<int64_t>>> constants;  // with the aligned shape
  for (int steps = 0; steps < 4 && add != nullptr; ++steps) {
    if (!single_data_use(g_, uses_, add->outputs[0])) {
      return Decline{"windowed scores are used outside the attention"};
    }
    const Node* next_add = nullptr;
    const Node* r1 = nullptr;
    int side = 0;
    for (; side < 2; ++side) {
      const Node* p = producer_of(g_, add->inputs[side]);
      if (p == nullptr || !single_data_use(g_, uses_, add->inputs[side])) continue;
      if (is_onnx_op(*p, "Reshape") && same_shape(g_, p->inputs[0], r2.outputs[0])) {
        r1 = p;
        break;
      }
      if (is_onnx_op(*p, "Add") && same_shape(g_, add->inputs[side], add->outputs[0])) {
        next_add = p;
        break;
      }
    }
    if (r1 == nullptr && next_add == nullptr) break;
    std::optional<Tensor> m = eval_.up_to_broadcast(add->inputs[1 - side]);
    if (!m || m->dtype() != DType::kFloat32 || m->rank() > 5) {
      return Decline{"the window mask is not a float32 constant"};
    }
    std::vector<int64_t> ms = m->shape();
    while (ms.size() < 5) ms.insert(ms.begin(), 1);
    for (int a = 0; a < 5; ++a) {
      if (ms[a] != 1 && ms[a] != full[a]) {
        return Decline{str_cat("the window mask does not repeat over the batch (its shape is ",
                               m->describe(), ")")};
      }
    }
    constants.emplace_back(*m, ms);
    absorb(add);
    if (r1 != nullptr) {
      // Sum the constants into [nW, H|1, Sq, Sk].
      int64_t hm = 1;
      for (const auto& c : constants) hm = std::max(hm, c.second[2]);
      const int64_t nw = full[1], sq = full[3], sk = full[4];
      Tensor w = Tensor::zeros(DType::kFloat32, {nw, hm, sq, sk});
      for (const auto& [c, cs] : constants) {
        float* dst = w.data<float>();
        for (int64_t b = 0; b < nw; ++b)
          for (int64_t h = 0; h < hm; ++h)
            for (int64_t i = 0; i < sq; ++i)
              for (int64_t j = 0; j < sk; ++j) {
                const int64_t e = (((cs[1] == 1 ? 0 : b) * cs[2] + (cs[2] == 1 ? 0 : h)) * cs[3] +
                                   (cs[3] == 1 ? 0 : i)) *
                                      cs[4] +
                                  (cs[4] == 1 ? 0 : j);
                *dst++ += static_cast<float>(c.data<float>()[e] * factor);
              }
      }
      window_mask = std::move(w);
      absorb(r1);
      *scores = r1->inputs[0];
      return std::nullopt;
    }
    add = next_add;
  }
  return Decline{"windowed scores: no Reshape of [batch, heads, q_len, k_len] scores in the Add"};
}

// Whether ScatterND `scatter` writes every element of its data input, each once, in order:
// updates of the data's shape at indices [..., rank] that are the identity grid. The indices are
// computed from shapes (aranges expanded over the batch): evaluated with the graph inputs'
// symbols bound to a few small sizes, they must be the identity at each. Indices concatenated
// from one part per axis (TorchScript's form) are checked part by part up to broadcast (part j
// an arange along axis j), so that the probes stay small when the scores are large.
bool AttentionMatcher::overwrites_all(const Node& scatter) {
  auto reduction = scatter.attrs.get_string("reduction", "none");
  if (!reduction.ok() || *reduction != "none") return false;
  const SymShape* data = shape_of(g_, scatter.inputs[0]);
  const SymShape* index_shape = shape_of(g_, scatter.inputs[1]);
  if (data == nullptr || index_shape == nullptr ||
      !same_shape(g_, scatter.inputs[0], scatter.inputs[2])) {
    return false;
  }
  const int64_t r = static_cast<int64_t>(data->size());
  if (static_cast<int64_t>(index_shape->size()) != r + 1 || !(*index_shape)[r].same_as(Dim(r))) {
    return false;
  }
  for (int64_t a = 0; a < r; ++a) {
    if (!same_dim((*index_shape)[a], (*data)[a])) return false;
  }
  // The per-axis parts: Concat over the last axis of r [..., 1] parts (each maybe an Unsqueeze
  // of a rank-r value).
  std::vector<std::pair<ValueId, int64_t>> parts;  // (value, its rank)
  if (const Node* cat = producer_if(g_, scatter.inputs[1], "Concat")) {
    auto axis = cat->attrs.get_int("axis", 0);
    if (axis.ok() && (*axis == -1 || *axis == r) && static_cast<int64_t>(cat->inputs.size()) == r) {
      for (ValueId in : cat->inputs) {
        const SymShape* ps = shape_of(g_, in);
        if (ps == nullptr || static_cast<int64_t>(ps->size()) != r + 1 ||
            !(*ps)[r].same_as(Dim(1))) {
          parts.clear();
          break;
        }
        const Node* u = producer_if(g_, in, "Unsqueeze");
        std::optional<Tensor> axes =
            u != nullptr && u->has_input(1) ? eval_.exact(u->inputs[1]) : std::nullopt;
        const bool last = axes && axes->numel() == 1 &&
                          (axes->element_as_int64(0) == -1 || axes->element_as_int64(0) == r);
        parts.emplace_back(last ? u->inputs[0] : in, last ? r : r + 1);
      }
    }
  }
  std::set<std::string> symbols;
  for (ValueId in : g_.inputs) {
    for (const Dim& d : g_.values[in].shape) {
      for (const std::string& sym : d.symbols()) symbols.insert(sym);
    }
  }
  for (int64_t n : {1, 2, 3, 5}) {
    std::map<std::string, int64_t> bindings;
    for (const std::string& sym : symbols) bindings[sym] = n;
    std::vector<int64_t> dims;
    for (const Dim& d : *data) {
      std::optional<int64_t> v = d.evaluate(bindings);
      if (!v) return false;
      dims.push_back(*v);
    }
    ValueEvaluator bound(g_, bindings);
    if (!parts.empty()) {
      for (int64_t j = 0; j < r; ++j) {
        std::optional<Tensor> t = bound.up_to_broadcast(parts[j].first);
        const int64_t pr = parts[j].second;
        if (!t || t->rank() > pr) return false;
        std::vector<int64_t> ts(pr - t->rank(), 1);
        for (int64_t d : t->shape()) ts.push_back(d);
        for (int64_t a = 0; a < pr; ++a) {
          if (ts[a] != (a == j ? dims[j] : 1)) return false;
        }
        for (int64_t e = 0; e < t->numel(); ++e) {
          if (t->element_as_int64(e) != e) return false;
        }
      }
      continue;
    }
    std::optional<Tensor> idx = bound.exact(scatter.inputs[1]);
    if (!idx || idx->rank() != r + 1 || idx->dim(r) != r) return false;
    int64_t count = 1;
    for (int64_t a = 0; a < r; ++a) {
      if (idx->dim(a) != dims[a]) return false;
      count *= dims[a];
    }
    std::vector<int64_t> at(r, 0);
    for (int64_t e = 0; e < count; ++e) {
      for (int64_t a = 0; a < r; ++a) {
        if (idx->element_as_int64(e * r + a) != at[a]) return false;
      }
      for (int64_t a = r - 1; a >= 0 && ++at[a] == dims[a]; --a) at[a] = 0;
    }
  }
  return true;
}

// A run-time bias added to the scores between two Reshapes, walking back from `r2`: MViTv2's
// decomposed relative positions as dynamo writes them, [B, H, Sq, Sk] -> Reshape r1
// [B, H, qh, qw, kh, kw] + rel_h [B, H, qh, qw, kh, 1] + rel_w [B, H, qh, qw, 1, kw] -> Reshape
// r2 [B, H, Sq, Sk]. A Reshape only relabels elements, so the terms summed, broadcast to r1's
// shape and reshaped to r2's are the same bias added to the scores (one pass that materialises
// it, as large as the scores it joins). Records reshaped_bias and sets *scores to r1's input.
std::optional<Decline> AttentionMatcher::match_reshaped_bias(const Node& r2, double factor,
                                                             ValueId* scores) {
  const SymShape* out = shape_of(g_, r2.outputs[0]);
  if (out == nullptr || factor != 1.0) return Decline{"no bias between Reshapes"};
  std::vector<const Node*> adds;
  std::vector<ValueId> terms;
  ValueId cur = r2.inputs[0];
  const Node* r1 = nullptr;
  for (int steps = 0; steps < 4 && r1 == nullptr; ++steps) {
    const Node* add = producer_if(g_, cur, "Add");
    if (add == nullptr || !single_data_use(g_, uses_, cur)) return Decline{"no bias Add"};
    int side = -1;
    for (int s = 0; s < 2 && side < 0; ++s) {
      const ValueId x = add->inputs[s];
      const Node* p = producer_of(g_, x);
      if (p == nullptr || !single_data_use(g_, uses_, x) || !same_shape(g_, x, cur)) continue;
      if (is_onnx_op(*p, "Add")) side = s;
      if (is_onnx_op(*p, "Reshape") && same_shape(g_, p->inputs[0], r2.outputs[0])) {
        side = s;
        r1 = p;
      }
    }
    if (side < 0) return Decline{"no scores Reshape under the bias Adds"};
    adds.push_back(add);
    terms.push_back(add->inputs[1 - side]);
    cur = add->inputs[side];
  }
  if (r1 == nullptr) return Decline{"no scores Reshape under the bias Adds"};
  const SymShape& full = *shape_of(g_, r1->outputs[0]);
  std::vector<int64_t> expand = {1};
  for (size_t a = 1; a < full.size(); ++a) {
    if (!full[a].is_static()) return Decline{"reshaped scores have symbolic dims after the first"};
    expand.push_back(full[a].value());
  }
  std::vector<int64_t> target = {-1};
  for (size_t a = 1; a < out->size(); ++a) {
    if (!(*out)[a].is_static()) return Decline{"scores have symbolic dims after the first"};
    target.push_back((*out)[a].value());
  }
  // The first axis must be the same on both sides of the Reshapes (B), so that a term's batch
  // rows stay the scores' batch rows (Swin's windows fold into it: match_window_mask).
  int64_t inner_r1 = 1, inner_r2 = 1;
  for (size_t a = 1; a < expand.size(); ++a) inner_r1 *= expand[a];
  for (size_t a = 1; a < target.size(); ++a) inner_r2 *= target[a];
  if (inner_r1 != inner_r2 || !same_dim(full[0], (*out)[0])) {
    return Decline{"the Reshapes around the bias regroup the scores' first axis"};
  }
  // Every term broadcasts to r1's shape; the first axis of the sum is B or 1.
  Dim first = Dim(1);
  for (ValueId t : terms) {
    const SymShape* ts = shape_of(g_, t);
    if (g_.values[t].dtype != DType::kFloat32 || ts == nullptr || ts->size() > full.size()) {
      return Decline{"a bias term between the scores' Reshapes is not float32 of known shape"};
    }
    for (size_t i = 0; i < ts->size(); ++i) {
      const Dim& d = (*ts)[ts->size() - 1 - i];
      const Dim& f = full[full.size() - 1 - i];
      if (d.same_as(Dim(1))) continue;
      if (!same_dim(d, f)) return Decline{"a bias term does not broadcast to the reshaped scores"};
      if (i == full.size() - 1) first = f;
    }
  }
  for (const Node* a : adds) absorb(a);
  absorb(r1);
  ReshapedBias b;
  b.terms = terms;
  b.expand = expand;
  b.target = target;
  b.shape = *out;
  b.shape[0] = first;
  reshaped_bias = std::move(b);
  needs_head_layout = true;
  *scores = r1->inputs[0];
  return std::nullopt;
}

// Mul(q k^T, c) with c a constant [H, 1, 1] (rank 3 or 4, only the head axis > 1): records c
// in head_scale and sets *scores to the MatMul's output.
bool AttentionMatcher::match_head_scale(const Node& mul, ValueId* scores) {
  const SymShape* out = shape_of(g_, mul.outputs[0]);
  if (out == nullptr || out->size() != 4 || !(*out)[1].is_static()) return false;
  for (int side = 0; side < 2; ++side) {
    const ValueId x = mul.inputs[side];
    if (producer_if(g_, x, "MatMul") == nullptr || !same_shape(g_, x, mul.outputs[0])) continue;
    std::optional<Tensor> c = eval_.exact(mul.inputs[1 - side]);
    if (!c || c->dtype() != DType::kFloat32 || c->rank() > 4 || c->rank() < 3) return false;
    const int64_t heads = (*out)[1].value();
    std::vector<int64_t> cs = c->shape();
    while (cs.size() < 4) cs.insert(cs.begin(), 1);
    if (cs != std::vector<int64_t>{1, heads, 1, 1}) return false;
    head_scale.assign(c->data<float>(), c->data<float>() + heads);
    *scores = x;
    return true;
  }
  return false;
}

// Sums the other additive masks (constants broadcasting over the batch) into window_mask.
std::optional<Decline> AttentionMatcher::combine_window_mask(const std::vector<ValueId>& masks,
                                                             const std::vector<double>& factors,
                                                             const SymShape& scores) {
  if (seq_first) return Decline{"a window mask in sequence-first attention"};
  if (!scores[1].is_static() || scores[1].value() != q.heads) {
    return Decline{"windowed scores' head axis is not the head count"};
  }
  for (size_t k = 0; k < masks.size(); ++k) {
    std::optional<Tensor> o = eval_.up_to_broadcast(masks[k]);
    if (!o || o->dtype() != DType::kFloat32 || o->rank() > 4) {
      return Decline{"a mask beside the window mask is not a float32 constant"};
    }
    std::vector<int64_t> os = o->shape();
    while (os.size() < 4) os.insert(os.begin(), 1);
    const Tensor& w = *window_mask;
    const int64_t nw = w.dim(0), sq = w.dim(2), sk = w.dim(3);
    const int64_t heads = std::max(w.dim(1), os[1]);
    if (os[0] != 1 || (os[1] != 1 && os[1] != q.heads) || (os[2] != 1 && os[2] != sq) ||
        (os[3] != 1 && os[3] != sk)) {
      return Decline{str_cat("a mask beside the window mask has shape ", o->describe())};
    }
    Tensor sum = Tensor::empty(DType::kFloat32, {nw, heads, sq, sk});
    float* dst = sum.data<float>();
    for (int64_t b = 0; b < nw; ++b)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < sq; ++i)
          for (int64_t j = 0; j < sk; ++j) {
            const float wv =
                w.data<float>()[((b * w.dim(1) + (w.dim(1) == 1 ? 0 : h)) * sq + i) * sk + j];
            const int64_t oe = ((os[1] == 1 ? 0 : h) * os[2] + (os[2] == 1 ? 0 : i)) * os[3] +
                               (os[3] == 1 ? 0 : j);
            *dst++ = wv + static_cast<float>(o->data<float>()[oe] * factors[k]);
          }
    window_mask = std::move(sum);
  }
  return std::nullopt;
}

// [S, B*H, Dh] heads of nn.MultiheadAttention (sequence first): from `v` back through scalar
// factors and rank-3 Transposes to the Reshape [S, B, D] -> [S, B*H, Dh]. `want` is the layout at
// `v` in the Reshape output's axes (0 seq, 1 batch*heads, 2 head_dim).
std::optional<Decline> AttentionMatcher::trace_seq_first(ValueId v, const std::vector<int>& want,
                                                         const char* what, bool allow_scale,
                                                         Source* src) {
  std::vector<int> axes = {0, 1, 2};
  ValueId cur = v;
  for (int steps = 0; steps < 8; ++steps) {
    const Node* n = producer_of(g_, cur);
    if (n == nullptr || !single_data_use(g_, uses_, cur)) break;
    ValueId next = kNoValue;
    if (is_passthrough(g_, *n)) {
      absorb(n);
      cur = n->inputs[0];
      continue;
    }
    if (std::optional<double> f = scalar_factor(*n, &next)) {
      if (!allow_scale) return Decline{str_cat(what, " is scaled")};
      scale *= *f;
      absorb(n);
      cur = next;
      continue;
    }
    if (is_onnx_op(*n, "Transpose") && rank_of(g_, cur) == 3) {
      auto perm = n->attrs.get_ints("perm", {2, 1, 0});
      if (!perm.ok() || perm->size() != 3) break;
      for (int& a : axes) a = static_cast<int>((*perm)[a]);
      absorb(n);
      cur = n->inputs[0];
      continue;
    }
    if (!is_onnx_op(*n, "Reshape") || rank_of(g_, cur) != 3 || rank_of(g_, n->inputs[0]) != 3) {
      break;
    }
    const SymShape& in = *shape_of(g_, n->inputs[0]);
    const SymShape& out = *shape_of(g_, cur);
    if (!same_dim(out[0], in[0]) || !in[2].is_static() || !out[2].is_static() ||
        out[2].value() <= 0 || in[2].value() % out[2].value() != 0 ||
        !same_dim(out[1], in[1] * Dim(in[2].value() / out[2].value()))) {
      return Decline{str_cat(what, " Reshape ", sym_shape_to_string(in), " -> ",
                             sym_shape_to_string(out), " is not a head split")};
    }
    if (axes != want) {
      return Decline{str_cat(what, " is not transposed to [batch*heads, seq, head_dim]")};
    }
    absorb(n);
    src->value = n->inputs[0];
    src->heads = in[2].value() / out[2].value();
    src->head_dim = out[2].value();
    return std::nullopt;
  }
  return Decline{str_cat(what, " is not computed by a [seq, batch*heads, head_dim] head split")};
}

// nn.MultiheadAttention (SigLIP's pooling head): scores [B*H, Sq, Sk] from q [B*H, Sq, Dh] and
// k^T [B*H, Dh, Sk], heads split from sequence-first [S, B, D] projections, the output
// transposed to [Sq, B*H, Dv] and reshaped (element order [Sq, B, H*Dv]).
std::optional<Decline> AttentionMatcher::match_seq_first(ValueId scores_out, const Node& pv) {
  const ValueId o = pv.outputs[0];
  const Node* t = single_data_consumer(g_, uses_, o);
  auto perm = t != nullptr && is_onnx_op(*t, "Transpose")
                  ? t->attrs.get_ints("perm", {})
                  : Result<std::vector<int64_t>>(invalid_argument("no Transpose"));
  if (uses_.of(o).size() != 1 || !perm.ok() || *perm != std::vector<int64_t>{1, 0, 2}) {
    return Decline{"rank-3 attention output is not transposed to [q_len, batch*heads, head_dim]"};
  }
  // The Transpose's reader sees only the element order, which the replacement keeps; it must
  // not take the replaced value's shape.
  const ValueId merged = t->outputs[0];
  if (uses_.of(merged).size() != 1 || is_graph_output(g_, merged) ||
      !is_onnx_op(g_.nodes[uses_.of(merged)[0]], "Reshape")) {
    return Decline{"rank-3 attention output is not merged by a Reshape"};
  }
  absorb(t);
  output = merged;
  seq_first = true;
  seq_first_output = true;
  output_matched = true;

  const Node* qk = nullptr;
  std::vector<ValueId> masks;
  std::vector<double> mask_factors;
  if (auto d = find_qk(scores_out, &qk, &masks, &mask_factors)) return d;
  if (reshaped_bias) return Decline{"a run-time bias is added between Reshapes of the scores"};
  absorb(qk);
  if (masks.size() > 1) return Decline{"more than one additive mask"};
  if (auto d = trace_seq_first(qk->inputs[0], {1, 0, 2}, "q", true, &q)) return d;
  if (auto d = trace_seq_first(qk->inputs[1], {1, 2, 0}, "k", true, &k)) return d;
  if (auto d = trace_seq_first(pv.inputs[1], {1, 0, 2}, "v", false, &v)) return d;
  if (q.heads != k.heads || q.heads != v.heads || q.head_dim != k.head_dim) {
    return Decline{"q, k, v head splits differ"};
  }
  if (!masks.empty()) {
    // A padding mask over the folded [B*H, Sq|1, Sk] scores (SigLIP2's pooling head): the fused
    // op reads it as [B, H, Sq|1, Sk] (heads are the inner factor of B*H, as in the q, k, v
    // splits), or [1, 1, Sq|1, Sk] when it is shared by every row.
    const ValueId m = masks[0];
    const SymShape* ms = shape_of(g_, m);
    const SymShape& ss = *shape_of(g_, scores_out);
    if (mask_factors[0] != 1.0)
      return Decline{"the scores are scaled after a runtime mask is added"};
    if (seq_first_nan_guard_) return Decline{"a masked rank-3 attention with a NaN guard"};
    if (g_.values[m].dtype != DType::kFloat32 || ms == nullptr || ms->size() != 3 ||
        !(*ms)[1].is_static() || !(*ms)[2].is_static() ||
        (!((*ms)[0].is_static() && (*ms)[0].value() == 1) && !same_dim((*ms)[0], ss[0]))) {
      return Decline{"rank-3 mask is not float32 [batch*heads | 1, q_len | 1, k_len]"};
    }
    const bool shared = (*ms)[0].is_static() && (*ms)[0].value() == 1;
    mask = m;
    folded_mask_shape = {shared ? 1 : -1, shared ? 1 : q.heads, (*ms)[1].value(), (*ms)[2].value()};
  }
  const Dim& bq = (*shape_of(g_, q.value))[1];
  if (!same_dim(bq, (*shape_of(g_, k.value))[1]) || !same_dim(bq, (*shape_of(g_, v.value))[1])) {
    return Decline{"q, k, v batch dims differ"};
  }
  return std::nullopt;
}

// Back from a MatMul operand through single-use scalar factors (into `scale`) and no-op Casts.
ValueId AttentionMatcher::skip_scalar_factors(ValueId v) {
  for (int steps = 0; steps < 8; ++steps) {
    const Node* n = producer_of(g_, v);
    if (n == nullptr || !single_data_use(g_, uses_, v)) return v;
    ValueId next = kNoValue;
    if (is_passthrough(g_, *n)) {
      next = n->inputs[0];
    } else if (std::optional<double> f = scalar_factor(*n, &next)) {
      scale *= *f;
    } else {
      return v;
    }
    absorb(n);
    v = next;
  }
  return v;
}

// Attention whose output stays in its head layout [L..., Sq, Dv] (or [L..., Dv, Sq] for v P^T)
// instead of being merged into [B, Sq, H*Dv] by the forms above: SAM's rank-3 scores with the
// heads folded into the batch ([B*H, S, S], its decomposed relative-position bias computed from q
// at run time), Hiera's mask units and Twins' local windows ([B, H, nW, S, S]), MViTv2's residual
// pooling (o + q before the merge), EfficientViT-MSRA's per-head v P^T. Every index of the leading
// dims L is its own softmax(scale q k^T + mask) v, so the fused op reads q, k, v reshaped to
// [prod(L), S, D] with one head (Reshapes of contiguous tensors, no copies) and its output is
// reshaped back. k^T and v^T are read through the Transpose that made them, or transposed. A mask
// must broadcast over L as a whole (one shared by every index, or one per index) or vary only
// along L's last dim (a bias per head: that dim becomes the fused op's head axis, and q, k, v and
// the output are transposed to and from the [B, S, H*D] layout).
std::optional<Decline> AttentionMatcher::match_folded(NodeId softmax_id) {
  const Node& sm = g_.nodes[softmax_id];
  const ValueId scores_out = sm.inputs[0];
  const int rank = rank_of(g_, scores_out);
  if (rank < 3) return Decline{str_cat("scores have rank ", rank)};
  if (auto d = check_softmax(g_, sm, rank)) return d;
  absorb(&sm);
  const Node* pv = nullptr;
  const Node* pt = nullptr;
  bool nan_guard = false;
  if (auto d = find_pv(sm.outputs[0], &pv, &nan_guard, &pt)) return d;
  absorb(pv);
  if (pt != nullptr) absorb(pt);
  output = pv->outputs[0];
  const Node* qk = nullptr;
  std::vector<ValueId> masks;
  std::vector<double> mask_factors;
  if (auto d = find_qk(scores_out, &qk, &masks, &mask_factors)) return d;
  absorb(qk);
  if (window_mask) return Decline{"a window mask on scores kept in the head layout"};

  Folded f;
  f.q = skip_scalar_factors(qk->inputs[0]);
  f.k = skip_scalar_factors(qk->inputs[1]);
  f.k_transposed = true;
  if (const Node* t = producer_of(g_, f.k);
      t != nullptr && swaps_last_two(g_, *t) && single_data_use(g_, uses_, f.k)) {
    absorb(t);
    f.k = skip_scalar_factors(t->inputs[0]);
    f.k_transposed = false;
  }
  f.out_transposed = pt != nullptr;
  f.v = pt != nullptr ? pv->inputs[0] : pv->inputs[1];
  f.v_transposed = pt != nullptr;
  if (const Node* t = producer_of(g_, f.v);
      f.v_transposed && t != nullptr && swaps_last_two(g_, *t) && single_data_use(g_, uses_, f.v)) {
    absorb(t);
    f.v = t->inputs[0];
    f.v_transposed = false;
  }

  // q [L..., Sq, Dh], k [L..., Sk, Dh], v [L..., Sk, Dv]: the scores' L, except that k and v
  // may hold 1 in L's trailing dims (the MatMuls broadcast them: multi-query attention).
  const SymShape& ss = *shape_of(g_, scores_out);
  const Dim& sq = ss[rank - 2];
  const Dim& sk = ss[rank - 1];
  const auto is_one = [](const Dim& d) { return d.is_static() && d.value() == 1; };
  f.kv_lead = rank - 2;
  if (const SymShape* ks = shape_of(g_, f.k);
      ks != nullptr && static_cast<int>(ks->size()) == rank) {
    while (f.kv_lead > 0 && is_one((*ks)[f.kv_lead - 1]) && !is_one(ss[f.kv_lead - 1])) {
      --f.kv_lead;
    }
  }
  Dim dh, dv;
  struct Operand {
    const char* what;
    ValueId value;
    bool transposed;
    const Dim& seq;
    Dim* width;
    int lead;  // L's dims before this one broadcasts
  };
  for (const Operand& o : {Operand{"q", f.q, false, sq, &dh, rank - 2},
                           Operand{"k", f.k, f.k_transposed, sk, &dh, f.kv_lead},
                           Operand{"v", f.v, f.v_transposed, sk, &dv, f.kv_lead}}) {
    const SymShape* s = shape_of(g_, o.value);
    bool fits = s != nullptr && static_cast<int>(s->size()) == rank;
    for (int a = 0; fits && a < rank - 2; ++a) {
      fits = a < o.lead ? same_dim((*s)[a], ss[a]) : is_one((*s)[a]);
    }
    if (fits) {
      const Dim& seq = (*s)[o.transposed ? rank - 1 : rank - 2];
      const Dim& width = (*s)[o.transposed ? rank - 2 : rank - 1];
      fits = same_dim(seq, o.seq) && width.is_static() &&
             (o.width->is_known() ? same_dim(width, *o.width) : true);
      if (fits && !o.width->is_known()) *o.width = width;
    }
    if (!fits) {
      return Decline{str_cat(o.what, " (", s != nullptr ? sym_shape_to_string(*s) : "unknown",
                             ") does not have the leading dims and length of the scores ",
                             sym_shape_to_string(ss))};
    }
  }
  bool statics = sq.is_static() && sk.is_static();
  for (int a = 1; a < rank - 2; ++a) statics = statics && ss[a].is_static();
  if (!statics) {
    return Decline{str_cat("scores ", sym_shape_to_string(ss),
                           " kept in the head layout need static dims after the first")};
  }
  // The CUDA kernel's limit: a plan built here runs on either device.
  if (dh.value() > 128 || dv.value() > 128) {
    return Decline{str_cat("head dims ", dh.value(), " and ", dv.value(),
                           " of attention kept in the head layout exceed 128")};
  }
  f.sq = sq.value();
  f.sk = sk.value();
  f.dh = dh.value();
  f.dv = dv.value();
  for (int a = f.kv_lead; a < rank - 2; ++a) {
    f.fold = ss[a].is_static() && f.fold > 0 ? f.fold * ss[a].value() : -1;  // -1: the batch
  }
  f.out_shape = {-1};
  for (int a = 1; a < rank - 2; ++a) f.out_shape.push_back(ss[a].value());
  f.out_shape.push_back(f.sq);
  f.out_shape.push_back(f.dv);
  if (!head_scale.empty() && rank != 4) {
    return Decline{"a per-head scale on scores kept in the head layout of rank other than 4"};
  }

  if (masks.size() > 1) return Decline{"more than one additive mask"};
  if (!masks.empty()) {
    const ValueId m = masks[0];
    if (m != kNoValue && g_.values[m].dtype != DType::kFloat32) {
      return Decline{"mask is not float32"};
    }
    std::optional<Tensor> c = m != kNoValue ? eval_.up_to_broadcast(m) : std::nullopt;
    std::vector<Dim> ms;
    if (reshaped_bias) {
      ms = reshaped_bias->shape;
    } else if (c) {
      bool zero = true;
      for (int64_t e = 0; e < c->numel() && zero; ++e) zero = c->data<float>()[e] == 0.0f;
      if (zero) {
        masks.clear();
      } else {
        for (int64_t d : c->shape()) ms.push_back(Dim(d));
      }
    } else {
      if (mask_factors[0] != 1.0) {
        return Decline{"the scores are scaled after a runtime mask is added"};
      }
      const SymShape* s = shape_of(g_, m);
      if (s == nullptr) return Decline{"the mask's shape is unknown"};
      ms = *s;
    }
    if (!masks.empty()) {
      if (static_cast<int>(ms.size()) > rank) {
        return Decline{
            str_cat("mask ", sym_shape_to_string(ms), " has a higher rank than the scores")};
      }
      while (static_cast<int>(ms.size()) < rank) ms.insert(ms.begin(), Dim(1));
      const auto one = [](const Dim& d) { return d.is_static() && d.value() == 1; };
      bool all_one = true, all_full = true,
           last_only = one(ms[rank - 3]) || same_dim(ms[rank - 3], ss[rank - 3]);
      for (int a = 0; a < rank - 2; ++a) {
        all_one = all_one && one(ms[a]);
        all_full = all_full && same_dim(ms[a], ss[a]);
        if (a < rank - 3) last_only = last_only && one(ms[a]);
      }
      const bool rows_ok = one(ms[rank - 2]) || same_dim(ms[rank - 2], sq);
      const bool keys_ok = one(ms[rank - 1]) || same_dim(ms[rank - 1], sk);
      if (f.fold != 1) {
        // q's folded dims and rows share one mask row: one per index of the dims before them.
        bool lead_one = true, lead_full = true, folded_one = one(ms[rank - 2]);
        for (int a = 0; a < rank - 2; ++a) {
          if (a < f.kv_lead) {
            lead_one = lead_one && one(ms[a]);
            lead_full = lead_full && same_dim(ms[a], ss[a]);
          } else {
            folded_one = folded_one && one(ms[a]);
          }
        }
        if (!keys_ok || !folded_one || !(lead_one || lead_full)) {
          return Decline{str_cat("mask ", sym_shape_to_string(ms), " of attention whose k and v ",
                                 "broadcast over the scores ", sym_shape_to_string(ss),
                                 " is not one row of keys per index of the dims before ",
                                 "the broadcast")};
        }
        all_one = lead_one;
        all_full = !lead_one;
      }
      if (!rows_ok || !keys_ok || !(all_one || all_full || last_only)) {
        return Decline{str_cat("mask ", sym_shape_to_string(ms),
                               " does not broadcast to the scores ", sym_shape_to_string(ss),
                               " as one block, one per leading index, or one per head")};
      }
      const int64_t msq = ms[rank - 2].value(), msk = ms[rank - 1].value();
      std::vector<int64_t> target;
      if (all_one) {
        target = {1, 1, msq, msk};
      } else if (all_full) {
        target = {-1, 1, msq, msk};
      } else {
        f.heads = ss[rank - 3].value();
        target = {1, f.heads, msq, msk};
      }
      if (c) {
        std::vector<int64_t> shape = target;
        if (shape[0] == -1) shape[0] = c->numel() / (msq * msk);
        Tensor t = Tensor::empty(DType::kFloat32, shape);
        for (int64_t e = 0; e < c->numel(); ++e) {
          t.data<float>()[e] = static_cast<float>(c->data<float>()[e] * mask_factors[0]);
        }
        mask_const = std::move(t);
      } else {
        mask = m;  // kNoValue for a reshaped bias: the rewrite builds it
        folded_mask_shape = target;
      }
      // With the guard a fully masked row gives 0 where softmax gives NaN.
      zero_masked_rows = nan_guard;
    }
  }
  folded = f;
  return std::nullopt;
}

// The bias of match_reshaped_bias as the scores' mask: its terms summed, broadcast to the
// reshaped scores' shape (1 for the first axis: the terms' own batch, or 1) and reshaped back.
ValueId build_reshaped_bias(Graph& g, const AttentionMatcher::ReshapedBias& b,
                            const std::string& base) {
  ValueId sum = b.terms[0];
  for (size_t t = 1; t < b.terms.size(); ++t) {
    const std::string name = str_cat(base, "_bias_sum", t);
    sum = g.nodes[add_node(g, "", "Add", name, {sum, b.terms[t]}, {name})].outputs[0];
  }
  const std::string expand = base + "_bias_expand";
  sum = g.nodes[add_node(
                    g, "", "Expand", expand,
                    {sum, add_constant_value(g, expand + "_shape", Tensor::from_int64(b.expand))},
                    {expand})]
            .outputs[0];
  const std::string reshape = base + "_bias";
  return g
      .nodes[add_node(
          g, "", "Reshape", reshape,
          {sum, add_constant_value(g, reshape + "_shape", Tensor::from_int64(b.target))},
          {reshape})]
      .outputs[0];
}

// A Reshape of `in` to the constant `target`, and a Transpose of `in` by `perm`, each node and
// its output named `name`: the layout ops around an attention fused in its head layout.
ValueId add_reshape(Graph& g, ValueId in, std::vector<int64_t> target, const std::string& name) {
  const NodeId n =
      add_node(g, "", "Reshape", name,
               {in, add_constant_value(g, name + "_shape", Tensor::from_int64(target))}, {name});
  return g.nodes[n].outputs[0];
}

ValueId add_transpose(Graph& g, ValueId in, std::vector<int64_t> perm, const std::string& name) {
  Attributes a;
  a.set_ints("perm", std::move(perm));
  const NodeId t = add_node(g, "", "Transpose", name, {in}, {name}, std::move(a));
  return g.nodes[t].outputs[0];
}

// The permutation of rank `r` that swaps the last two axes.
std::vector<int64_t> swap_last_two(int r) {
  std::vector<int64_t> perm(r);
  for (int i = 0; i < r; ++i) perm[i] = i;
  std::swap(perm[r - 1], perm[r - 2]);
  return perm;
}

// The fused op's input for a [L..., S, D] operand of attention kept in its head layout
// ([L..., D, S] when `transposed`): [prod(L), S, D] for one head, or [prod(L[:-1]), S, H*D] with
// L's last dim as the H heads. With k and v broadcast over L's trailing dims, q (`rows`) is
// [prod(L[:kv_lead]), fold * Sq, Dh] and k and v are [prod(L[:kv_lead]), Sk, D].
ValueId folded_input(Graph& g, ValueId x, bool transposed, const AttentionMatcher::Folded& f,
                     int64_t seq, int64_t width, const std::string& name, bool rows = false) {
  const int r = rank_of(g, x);
  if (rows && f.fold != 1) {
    return add_reshape(g, x,
                       f.fold > 0 ? std::vector<int64_t>{-1, f.fold * seq, width}
                                  : std::vector<int64_t>{1, -1, width},
                       name + "_folded_rows");
  }
  if (transposed) x = add_transpose(g, x, swap_last_two(r), name + "_untransposed");
  if (f.heads == 1) return r == 3 ? x : add_reshape(g, x, {-1, seq, width}, name + "_folded");
  if (r != 4) x = add_reshape(g, x, {-1, f.heads, seq, width}, name + "_heads");
  x = add_transpose(g, x, {0, 2, 1, 3}, name + "_split_heads");
  return add_reshape(g, x, {0, 0, f.heads * width}, name + "_merged");
}

// The fused op's [B', Sq, H*Dv] back in the replaced output's head layout.
ValueId folded_output(Graph& g, ValueId out, const AttentionMatcher::Folded& f, int rank,
                      const std::string& name) {
  if (f.heads > 1) {
    out = add_reshape(g, out, {0, 0, f.heads, f.dv}, name + "_heads");
    out = add_transpose(g, out, {0, 2, 1, 3}, name + "_head_layout");  // [B', H, Sq, Dv]
  }
  if (rank != (f.heads > 1 ? 4 : 3) || f.fold != 1) {
    out = add_reshape(g, out, f.out_shape, name + "_unfolded");
  }
  if (f.out_transposed) out = add_transpose(g, out, swap_last_two(rank), name + "_transposed");
  return out;
}

bool is_vitrt_linear(const Node& n) {
  return n.domain == "vitrt" && n.op_type == "Linear";
}

// A copy of vitrt.Linear `id` reading `x`: a Linear acts on the last axis alone, so it
// commutes with transposes of the leading ones.
ValueId relinear(Graph& g, NodeId id, ValueId x, const std::string& suffix) {
  std::vector<ValueId> inputs = g.nodes[id].inputs;
  inputs[0] = x;
  const std::string name = g.nodes[id].name + suffix;
  const std::string out = g.values[g.nodes[id].outputs[0]].name + suffix;
  Attributes attrs = g.nodes[id].attrs;
  const NodeId n = add_node(g, "vitrt", "Linear", name, std::move(inputs), {out}, std::move(attrs));
  return g.nodes[n].outputs[0];
}

// What the fused op reads for `src` when q, k, v are not the three parts of one packed
// projection: the projection itself, a Slice of a packed one, or a head tensor transposed to
// [B, S, H, Dh] and reshaped to [B, S, H*Dh]. `made` shares the last two between q, k and v.
ValueId batch_first_input(Graph& g, const AttentionMatcher::Source& src, const std::string& name,
                          std::map<std::pair<ValueId, std::vector<int64_t>>, ValueId>* made) {
  if (src.part < 0 && src.to_split.empty()) return src.value;
  const auto key =
      std::make_pair(src.value, src.part >= 0 ? std::vector<int64_t>{src.part} : src.to_split);
  if (auto it = made->find(key); it != made->end()) return it->second;
  const int64_t width = src.heads * src.head_dim;
  ValueId out = kNoValue;
  if (src.part >= 0) {
    auto ints = [&](const char* what, int64_t x) {
      return g.add_constant(g.unique_value_name(str_cat(name, "_", what)), Tensor::from_int64({x}));
    };
    const NodeId n = add_node(g, "", "Slice", name + "_slice",
                              {src.value, ints("start", src.part * width),
                               ints("end", (src.part + 1) * width), ints("axis", 2)},
                              {name + "_slice"});
    out = g.nodes[n].outputs[0];
  } else {
    ValueId x = src.value;
    if (src.to_split != std::vector<int64_t>{0, 1, 2, 3}) {
      Attributes perm;
      perm.set_ints("perm", src.to_split);
      const NodeId t = add_node(g, "", "Transpose", name + "_split_heads", {x},
                                {name + "_split_heads"}, std::move(perm));
      x = g.nodes[t].outputs[0];
    }
    const ValueId target = g.add_constant(g.unique_value_name(name + "_merged_shape"),
                                          Tensor::from_int64({0, 0, width}));
    const NodeId r =
        add_node(g, "", "Reshape", name + "_merge_heads", {x, target}, {name + "_merged"});
    out = g.nodes[r].outputs[0];
  }
  made->emplace(key, out);
  return out;
}

Attributes transpose_102() {
  Attributes a;
  a.set_ints("perm", {1, 0, 2});
  return a;
}

// Nodes that read only values nothing live reads any more, from `start` upwards: the Shape
// arithmetic and mask computations left behind by a fusion.
void remove_orphans(Graph& g, std::vector<ValueId> start) {
  std::vector<std::vector<NodeId>> readers = g.consumers();
  while (!start.empty()) {
    const ValueId v = start.back();
    start.pop_back();
    if (v == kNoValue) continue;
    Node* p = producer_of(g, v);
    if (p == nullptr) continue;
    bool used = false;
    for (ValueId out : p->outputs) {
      if (out == kNoValue) continue;
      if (is_graph_output(g, out)) used = true;
      for (NodeId r : readers[out]) used |= !g.nodes[r].dead;
    }
    if (used) continue;
    p->dead = true;
    for (ValueId in : p->inputs) start.push_back(in);
  }
}

// Every reader of the absorbed nodes' outputs (other than the replaced output) is absorbed too,
// or is a Shape-computation chain that only feeds absorbed nodes and computes none of `kept` (the
// runtime mask values the fused node still reads: computed from an absorbed node's shape, they
// would lose their input when the absorbed nodes go).
bool only_read_inside(const Graph& g, const Uses& uses, const std::set<NodeId>& absorbed,
                      ValueId replaced, const std::set<ValueId>& kept) {
  for (NodeId id : absorbed) {
    for (ValueId out : g.nodes[id].outputs) {
      if (out == kNoValue || out == replaced) continue;
      if (is_graph_output(g, out)) return false;
      for (NodeId r : uses.of(out)) {
        if (absorbed.count(r) != 0) continue;
        if (!shape_only(g, uses, r)) return false;
        // A shape reader: its whole forward closure must end in absorbed nodes.
        std::vector<NodeId> stack = {r};
        std::set<NodeId> seen;
        while (!stack.empty()) {
          const NodeId s = stack.back();
          stack.pop_back();
          if (!seen.insert(s).second) continue;
          for (ValueId so : g.nodes[s].outputs) {
            if (so == kNoValue) continue;
            if (is_graph_output(g, so) || kept.count(so) != 0) return false;
            for (NodeId rr : uses.of(so)) {
              if (absorbed.count(rr) == 0) stack.push_back(rr);
            }
          }
          if (seen.size() > 64) return false;
        }
      }
    }
  }
  return true;
}

// nn.MultiheadAttention(batch_first=True) after a rank-4 sequence-first merge: the out_proj
// vitrt.Linear -> (Reshape [Sq, B, N] when the merge flattened the rows) -> Transpose(1, 0, 2),
// each the only reader of the one before: those nodes, or nullopt.
std::optional<std::vector<NodeId>> out_proj_tail(const Graph& g, const Uses& uses,
                                                 const AttentionMatcher& m) {
  if (!m.merged_sq_b) return std::nullopt;
  auto only_reader = [&](ValueId v) -> std::optional<NodeId> {
    if (v == kNoValue || is_graph_output(g, v) || uses.of(v).size() != 1) return std::nullopt;
    return uses.of(v)[0];
  };
  std::vector<NodeId> tail;
  std::optional<NodeId> lin = only_reader(m.output);
  if (!lin || !is_vitrt_linear(g.nodes[*lin]) || g.nodes[*lin].inputs[0] != m.output) {
    return std::nullopt;
  }
  tail.push_back(*lin);
  ValueId cur = g.nodes[*lin].outputs[0];
  std::optional<NodeId> next = only_reader(cur);
  if (rank_of(g, cur) == 2) {
    if (!next || !is_onnx_op(g.nodes[*next], "Reshape")) return std::nullopt;
    const ValueId r = g.nodes[*next].outputs[0];
    const SymShape* rs = shape_of(g, r);
    if (rs == nullptr || rs->size() != 3 || !same_dim((*rs)[0], m.merged_sq_b->first) ||
        !same_dim((*rs)[1], m.merged_sq_b->second) || !same_dim((*rs)[2], (*shape_of(g, cur))[1])) {
      return std::nullopt;
    }
    tail.push_back(*next);
    cur = r;
    next = only_reader(cur);
  }
  if (rank_of(g, cur) != 3 || !next || !is_onnx_op(g.nodes[*next], "Transpose")) {
    return std::nullopt;
  }
  auto perm = g.nodes[*next].attrs.get_ints("perm", {});
  if (!perm.ok() || *perm != std::vector<int64_t>{1, 0, 2}) {
    return std::nullopt;
  }
  tail.push_back(*next);
  return tail;
}

// The window mask [nW, H|1, Sq, Sk] repeated to the [B*nW, H|1, Sq, Sk] rows of `rows_input`
// (the fused op's first input, [B*nW, S, D]): Expand of [1, nW, ...] to [B, nW, ...] and Reshape.
ValueId repeat_window_mask(Graph& graph, const Tensor& window, ValueId rows_input,
                           const std::string& base) {
  const int64_t nw = window.dim(0);
  std::vector<int64_t> shape5 = window.shape();
  shape5.insert(shape5.begin(), 1);
  Tensor w5 = Tensor::empty(DType::kFloat32, shape5);
  std::copy(window.data<float>(), window.data<float>() + window.numel(), w5.data<float>());
  auto constant = [&](const std::string& suffix, Tensor t) {
    return add_constant_value(graph, base + suffix, std::move(t));
  };
  auto node = [&](const char* op, const std::string& suffix, std::vector<ValueId> in,
                  Attributes attrs = {}) {
    const NodeId n =
        add_node(graph, "", op, base + suffix, std::move(in), {base + suffix}, std::move(attrs));
    return graph.nodes[n].outputs[0];
  };
  const ValueId shape = node("Shape", "_window_rows_shape", {rows_input});
  const ValueId rows = node("Slice", "_window_rows",
                            {shape, constant("_window_zero", Tensor::from_int64({0})),
                             constant("_window_one", Tensor::from_int64({1}))});
  const ValueId images =
      node("Div", "_window_images", {rows, constant("_windows", Tensor::from_int64({nw}))});
  Attributes axis0;
  axis0.set_int("axis", 0);
  const ValueId target =
      node("Concat", "_window_expand_shape",
           {images, constant("_window_ones", Tensor::from_int64({1, 1, 1, 1}))}, std::move(axis0));
  const ValueId expanded =
      node("Expand", "_window_mask_expanded", {constant("_window_mask", std::move(w5)), target});
  return node(
      "Reshape", "_window_mask",
      {expanded, constant("_window_mask_shape",
                          Tensor::from_int64({-1, window.dim(1), window.dim(2), window.dim(3)}))});
}

}  // namespace

Status fuse_attention(Graph& graph, PassContext& ctx) {
  ValueEvaluator eval(graph);
  Uses uses(graph);
  // Every layer reads the same padding condition: one Where serves them all.
  std::map<std::tuple<ValueId, ValueId, ValueId>, ValueId> padding_masks;
  for (NodeId id = 0; id < static_cast<NodeId>(graph.nodes.size()); ++id) {
    if (graph.nodes[id].dead || !is_onnx_op(graph.nodes[id], "Softmax")) continue;
    const std::string where = str_cat("'", graph.nodes[id].name, "'");
    std::optional<AttentionMatcher> merged, head_layout;
    merged.emplace(graph, uses, eval);
    AttentionMatcher* matched = &*merged;
    if (std::optional<Decline> d = merged->match(id)) {
      // Attention whose output is not merged into [B, S, H*D] may still fuse in its head layout.
      std::string reason = d->reason;
      if (!merged->output_matched || merged->needs_head_layout) {
        head_layout.emplace(graph, uses, eval);
        if (std::optional<Decline> d2 = head_layout->match_folded(id)) {
          reason += str_cat(" (kept in the head layout: ", d2->reason, ")");
          matched = nullptr;
        } else {
          matched = &*head_layout;
          ctx.near_miss(kPass, where,
                        str_cat("the heads' split and merge stay outside the fused op: ", reason));
        }
      } else {
        matched = nullptr;
      }
      if (matched == nullptr) {
        ctx.near_miss(kPass, where, reason);
        continue;
      }
    }
    AttentionMatcher& m = *matched;
    const std::set<NodeId> absorbed(m.nodes.begin(), m.nodes.end());
    std::set<ValueId> kept = {m.mask};
    if (m.new_where) kept.insert(m.new_where->cond);
    if (m.reshaped_bias) kept.insert(m.reshaped_bias->terms.begin(), m.reshaped_bias->terms.end());
    if (!only_read_inside(graph, uses, absorbed, m.output, kept)) {
      ctx.near_miss(kPass, where,
                    "an intermediate of the attention is used outside it (by a graph output, a "
                    "data reader, or the computation of the mask the fused op would keep)");
      continue;
    }

    // Rewrite.
    const std::string base = graph.nodes[id].name;
    if (!m.head_scale.empty() && !m.folded) {
      // q's head axis, in q's own layout, takes the per-head factors.
      std::vector<int64_t> shape(4, 1);
      shape[static_cast<size_t>(m.q.to_split[2])] = static_cast<int64_t>(m.head_scale.size());
      Tensor c = Tensor::empty(DType::kFloat32, shape);
      std::copy(m.head_scale.begin(), m.head_scale.end(), c.data<float>());
      const NodeId mul =
          add_node(graph, "", "Mul", base + "_q_head_scale",
                   {m.q.value, add_constant_value(graph, base + "_head_scale", std::move(c))},
                   {base + "_q_head_scale"});
      m.q.value = graph.nodes[mul].outputs[0];
    }
    if (m.reshaped_bias) m.mask = build_reshaped_bias(graph, *m.reshaped_bias, base);
    std::vector<ValueId> inputs;
    if (m.folded) {
      const AttentionMatcher::Folded& f = *m.folded;
      ValueId q = f.q;
      if (!m.head_scale.empty()) {
        // q [B, H, Sq, Dh] takes the per-head factors.
        Tensor c =
            Tensor::empty(DType::kFloat32, {static_cast<int64_t>(m.head_scale.size()), 1, 1});
        std::copy(m.head_scale.begin(), m.head_scale.end(), c.data<float>());
        const NodeId mul =
            add_node(graph, "", "Mul", base + "_q_head_scale",
                     {q, add_constant_value(graph, base + "_head_scale", std::move(c))},
                     {base + "_q_head_scale"});
        q = graph.nodes[mul].outputs[0];
      }
      inputs = {folded_input(graph, q, false, f, f.sq, f.dh, base + "_q", true),
                folded_input(graph, f.k, f.k_transposed, f, f.sk, f.dh, base + "_k"),
                folded_input(graph, f.v, f.v_transposed, f, f.sk, f.dv, base + "_v")};
    } else if (m.packed_input) {
      inputs = {m.q.value, kNoValue, kNoValue};
    } else {
      std::map<std::pair<ValueId, std::vector<int64_t>>, ValueId> made;
      inputs = {batch_first_input(graph, m.q, base + "_q", &made),
                batch_first_input(graph, m.k, base + "_k", &made),
                batch_first_input(graph, m.v, base + "_v", &made)};
    }
    if (m.seq_first) {
      // [S, B, D] -> [B, S, D]; one per distinct source. nn.MultiheadAttention(batch_first=True)
      // projects Transpose(1, 0, 2) of its batch-first input: the projection then reads that
      // input, and neither transpose is left.
      std::map<ValueId, ValueId> batch_first;
      for (ValueId& in : inputs) {
        if (in == kNoValue) continue;
        auto it = batch_first.find(in);
        if (it == batch_first.end()) {
          const Node* lin = producer_of(graph, in);
          const Node* t = lin != nullptr && is_vitrt_linear(*lin)
                              ? producer_if(graph, lin->inputs[0], "Transpose")
                              : nullptr;
          auto perm = t != nullptr ? t->attrs.get_ints("perm", {})
                                   : Result<std::vector<int64_t>>(invalid_argument("none"));
          bool only_inside = !is_graph_output(graph, in);
          for (NodeId r : uses.of(in)) only_inside &= absorbed.count(r) != 0;
          ValueId bf = kNoValue;
          if (only_inside && perm.ok() && *perm == std::vector<int64_t>{1, 0, 2}) {
            const NodeId lin_id = static_cast<NodeId>(lin - graph.nodes.data());
            bf = relinear(graph, lin_id, t->inputs[0], "_batch_first");
          } else {
            const NodeId tn = add_node(graph, "", "Transpose", base + "_batch_first", {in},
                                       {graph.values[in].name + "_batch_first"}, transpose_102());
            bf = graph.nodes[tn].outputs[0];
          }
          it = batch_first.emplace(in, bf).first;
        }
        in = it->second;
      }
    }
    if (m.window_mask) {
      inputs.push_back(repeat_window_mask(graph, *m.window_mask, inputs[0], base));
    } else if (m.mask_const) {
      inputs.push_back(graph.add_constant(graph.unique_value_name(base + "_mask"), *m.mask_const));
    } else if (m.new_where) {
      const auto key =
          std::make_tuple(m.new_where->cond, m.new_where->on_true, m.new_where->on_false);
      auto it = padding_masks.find(key);
      if (it == padding_masks.end()) {
        const NodeId w = add_node(graph, "", "Where", base + "_padding_mask",
                                  {m.new_where->cond, m.new_where->on_true, m.new_where->on_false},
                                  {base + "_padding_mask"});
        it = padding_masks.emplace(key, graph.nodes[w].outputs[0]).first;
      }
      inputs.push_back(it->second);
    } else if (m.mask != kNoValue && !m.folded_mask_shape.empty()) {
      const NodeId r =
          add_node(graph, "", "Reshape", base + "_unfold_mask",
                   {m.mask, add_constant_value(graph, base + "_unfold_mask_shape",
                                               Tensor::from_int64(m.folded_mask_shape))},
                   {base + "_mask"});
      inputs.push_back(graph.nodes[r].outputs[0]);
    } else if (m.mask != kNoValue) {
      inputs.push_back(m.mask);
    }
    Attributes attrs;
    const int64_t heads = m.folded ? m.folded->heads : m.q.heads;
    attrs.set_int("num_heads", heads);
    attrs.set_float("scale", static_cast<float>(m.scale));
    if (m.causal) attrs.set_int("causal", 1);
    if (m.zero_masked_rows) attrs.set_int("zero_masked_rows", 1);
    for (const auto& [name, fq] :
         {std::pair{"quant_scores", m.quant_scores}, std::pair{"quant_probs", m.quant_probs}}) {
      if (fq) attrs.set_floats(name, fake_quant_floats(*fq));
    }
    if (!m.folded) {
      for (const auto& [part, src] :
           {std::pair{"q", &m.q}, std::pair{"k", &m.k}, std::pair{"v", &m.v}}) {
        if (!src->quant) continue;
        attrs.set_floats(str_cat("quant_", part), fake_quant_floats(*src->quant));
        if (src->prescale != 1.0) {
          attrs.set_float(str_cat("prescale_", part), static_cast<float>(src->prescale));
        }
      }
    }
    std::vector<std::string> names;
    std::vector<ValueId> freed;
    for (NodeId n : absorbed) {
      names.push_back(graph.nodes[n].name);
      for (ValueId in : graph.nodes[n].inputs) freed.push_back(in);
    }
    const NodeId fused = add_node(graph, "vitrt", "Attention", base + "_attention", inputs,
                                  {graph.values[m.output].name + "_attention"}, std::move(attrs));
    ValueId fused_out = graph.nodes[fused].outputs[0];
    if (m.quant_out) {
      Attributes fq;
      fq.set_floats("quant", fake_quant_floats(*m.quant_out));
      const NodeId q = add_node(graph, "vitrt", "FakeQuant", base + "_quant_out", {fused_out},
                                {graph.values[fused_out].name + "_quant_out"}, std::move(fq));
      fused_out = graph.nodes[q].outputs[0];
    }
    ValueId replaced = m.output;
    std::vector<NodeId> removed(absorbed.begin(), absorbed.end());
    if (m.seq_first_output) {
      if (std::optional<std::vector<NodeId>> tail = out_proj_tail(graph, uses, m)) {
        // out_proj -> (Reshape [Sq, B, N]) -> Transpose(1, 0, 2): the out_proj reads the
        // batch-first result and replaces the Transpose.
        replaced = graph.nodes[tail->back()].outputs[0];
        fused_out = relinear(graph, tail->front(), fused_out, "_batch_first");
        removed.insert(removed.end(), tail->begin(), tail->end());
      } else {
        // [B, Sq, D] -> [Sq, B, D]: the element order of the replaced [Sq, B*H, Dv] (rank-3
        // scores) or [Sq*B, D] / [Sq, B, D] (rank-4).
        const NodeId t = add_node(graph, "", "Transpose", base + "_seq_first", {fused_out},
                                  {graph.values[fused_out].name + "_seq_first"}, transpose_102());
        fused_out = graph.nodes[t].outputs[0];
        const SymShape& os = graph.values[m.output].shape;
        if (m.merged_sq_b && os.size() == 2) {
          Tensor target = Tensor::empty(DType::kInt64, {2});
          target.data<int64_t>()[0] = -1;
          target.data<int64_t>()[1] = os[1].value();
          const ValueId tv = graph.add_constant(graph.unique_value_name(base + "_rows"), target);
          const NodeId r = add_node(graph, "", "Reshape", base + "_rows", {fused_out, tv},
                                    {graph.values[fused_out].name + "_rows"});
          fused_out = graph.nodes[r].outputs[0];
        }
      }
    }
    if (m.folded) {
      fused_out = folded_output(graph, fused_out, *m.folded, rank_of(graph, m.output), base);
    }
    if (m.spatial_output) {
      const NodeId r =
          add_node(graph, "", "Reshape", base + "_spatial",
                   {fused_out, add_constant_value(graph, base + "_spatial_shape",
                                                  Tensor::from_int64(*m.spatial_output))},
                   {graph.values[fused_out].name + "_spatial"});
      fused_out = graph.nodes[r].outputs[0];
    }
    replace_uses(graph, replaced, fused_out);
    remove_nodes(graph, removed);
    remove_orphans(graph, freed);
    ctx.applied(kPass,
                str_cat("Attention ", where, " (", heads, " heads",
                        m.q.part >= 0 ? ", packed qkv" : "", m.folded ? ", head layout" : "",
                        m.causal ? ", causal" : "", inputs.size() > 3 ? ", mask" : "", ")"),
                names);
    uses.refresh();
  }
  return Status::ok_status();
}

}  // namespace vitrt
