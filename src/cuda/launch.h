// Launchers of the CUDA kernels: a plain C++17 interface between the op logic (cuda_ops_*.cc,
// C++20, which works out shapes, strides and attributes) and the .cu files that hold the device
// code. Every launcher is asynchronous on `stream` and returns the launch error.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "ir/fake_quant.h"

namespace vitrt::cuda {

// Element types the device kernels handle. Float activations are stored as kF32, kF16 or kBF16
// (the plan's precision); arithmetic is always fp32.
enum class Elt : int { kF32, kF16, kBF16, kI64, kI32, kBool };

inline constexpr int kMaxRank = 8;

// A view of n-dimensional data: element offset of index (i0..i{r-1}) is base + sum(ik*strides[k]).
// Strides are in elements and may be 0 (broadcast) or negative (reversed slices).
struct StridedView {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
  int64_t base = 0;
};

enum class BinaryOp : int {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMod,
  kMax,
  kMin,
  kPRelu,  // a < 0 ? a * b : a (b the slope)
  // Comparisons from here on (they write kBool).
  kEqual,
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual,
  kAnd,
  kOr,
  kXor
};
enum class UnaryOp : int {
  kIdentity,
  kNeg,
  kAbs,
  kSqrt,
  kReciprocal,
  kExp,
  kLog,
  kErf,
  kTanh,
  kSigmoid,
  kRelu,
  kGelu,
  kGeluTanh,
  kQuickGelu,
  kSilu,   // x * sigmoid(x)
  kRelu6,  // min(max(x, 0), 6)
  kIsNaN,
  kNot,
  kFloor,
  kCeil,
  kSin,
  kCos,
  // With parameters (launch_unary_params): alpha and beta as the ONNX attributes of the same
  // name; kClip clamps to [alpha, beta], kSelu's gamma is beta.
  kHardSigmoid,
  kHardSwish,
  kClip,
  kLeakyRelu,
  kElu,
  kSelu,
  kCelu,
  kThresholdedRelu,
  kSoftplus,
  kSoftsign,
  kMish,
  kSign,
  kRound,
  kTan,
  kAsin,
  kAcos,
  kAtan,
  kSinh,
  kCosh,
  kAsinh,
  kAcosh,
  kAtanh,
  // kIsInf writes kBool: alpha != 0 detects +inf, beta != 0 -inf.
  kIsInf,
  // x < -beta ? x + alpha : x > beta ? x - alpha : 0 (alpha the bias, beta lambd).
  kShrink
};

// out[i] = a[i] op b[i] over the index space of `out` (contiguous, out.rank dims); a and b are
// read through their views (broadcast strides). Comparisons write kBool.
cudaError_t launch_binary(BinaryOp op, Elt in_type, Elt out_type, const void* a,
                          const StridedView& va, const void* b, const StridedView& vb, void* out,
                          const StridedView& vout, cudaStream_t stream);
cudaError_t launch_unary(UnaryOp op, Elt in_type, Elt out_type, const void* in, void* out,
                         int64_t n, cudaStream_t stream);
// BitShift of unsigned integers of elem_bytes bytes (left or right), with broadcasting as
// launch_binary; shifts by the bit width or more give 0.
cudaError_t launch_bit_shift(int elem_bytes, bool left, const void* a, const StridedView& va,
                             const void* b, const StridedView& vb, void* out,
                             const StridedView& vout, cudaStream_t stream);
// Max / Min / Sum / Mean of up to kMaxNary inputs (op kMax, kMin or kAdd): out (through vout)
// [i] = in[0][i] op in[1][i] op ..., each input read through its (broadcast) view, NaN
// propagating through Max and Min; floats in fp32, times `scale` at the end (Mean: 1 / count).
// More inputs run as several launches, each later one reading the output as its first input.
inline constexpr int kMaxNary = 8;
struct NaryArgs {
  int count = 0;
  const void* in[kMaxNary] = {};
  StridedView views[kMaxNary];
};
cudaError_t launch_nary(BinaryOp op, Elt type, const NaryArgs& args, void* out,
                        const StridedView& vout, float scale, cudaStream_t stream);

// The unary ops with parameters (every UnaryOp; alpha/beta as the enum says; kQuickGelu's
// alpha is its sigmoid's factor), float types; kIsInf writes bool.
cudaError_t launch_unary_params(UnaryOp op, Elt type, const void* in, void* out, int64_t n,
                                float alpha, float beta, cudaStream_t stream);
// out = cond ? x : y with broadcasting (cond is kBool).
cudaError_t launch_where(Elt type, const void* cond, const StridedView& vc, const void* x,
                         const StridedView& vx, const void* y, const StridedView& vy, void* out,
                         const StridedView& vout, cudaStream_t stream);
// Casts to or from an 8-bit integer type (int8 or uint8: `signed8`), which Elt does not name:
// `to_8bit` says the direction, `other` the other side's type (Elt), or, when other8 is set,
// the other side is the other 8-bit type. Float -> integer truncates and saturates (NaN -> 0),
// integer -> integer wraps, as on the CPU.
cudaError_t launch_cast_8bit(bool to_8bit, bool signed8, Elt other, bool other8, const void* in,
                             void* out, int64_t n, cudaStream_t stream);
// Converts n elements between any two element types.
cudaError_t launch_cast(Elt from, Elt to, const void* in, void* out, int64_t n,
                        cudaStream_t stream);
// Copies elements of size `elem_bytes` from `src` read through `vsrc` into `dst` written through
// `vdst` (same dims): transpose, slice, expand, tile, concat and split are all this copy.
cudaError_t launch_copy_strided(int elem_bytes, const void* src, const StridedView& vsrc, void* dst,
                                const StridedView& vdst, cudaStream_t stream);
// Where a kernel reading indices from the data reports one out of range: `flag` (a device int,
// the execution context's) takes the largest `tag` (the node's id + 1) that met one, and the
// context fails the run naming that node once the run has finished (a kernel cannot stop the
// run itself). A null flag: the indices were checked on the host (constants).
struct IndexError {
  int* flag = nullptr;
  int tag = 0;
};
// out[o, j, i] = data[o, idx[j], i] for data [outer, axis_dim, inner], indices int64 or int32
// (negative ones wrap); an index out of range writes zeros and is reported through `err`.
cudaError_t launch_gather(int elem_bytes, const void* data, int64_t outer, int64_t axis_dim,
                          int64_t inner, const void* indices, bool indices_i64, int64_t n_idx,
                          void* out, IndexError err, cudaStream_t stream);
// GatherND: tuple t (of n_tuples, `per_batch` per batch item) picks the slice of `slice`
// elements at batch(t) * batch_stride + sum_j idx[t*k + j] * strides[j] (j < k, negative
// indices wrap against dims[j]; out of range writes zeros and is reported through `err`). Indices
// are int64.
struct GatherNdArgs {
  int64_t n_tuples = 0, per_batch = 1, k = 0, slice = 1, batch_stride = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
};
cudaError_t launch_gather_nd(int elem_bytes, const void* data, const void* indices,
                             const GatherNdArgs& args, void* out, IndexError err,
                             cudaStream_t stream);
// GatherElements: out (contiguous, dims) [i] = data[i with its `axis` coordinate replaced by
// indices[i]] (negative indices wrap against axis_dim; out of range writes zeros, reported through
// `err`); data is contiguous with strides data_strides.
struct GatherElementsArgs {
  int rank = 0, axis = 0;
  int64_t axis_dim = 0;
  int64_t dims[kMaxRank] = {};
  int64_t data_strides[kMaxRank] = {};
};
cudaError_t launch_gather_elements(int elem_bytes, const void* data, const void* indices,
                                   bool indices_i64, const GatherElementsArgs& args, void* out,
                                   IndexError err, cudaStream_t stream);
// TopK over the middle axis of [outer, r, inner]: values (in `type`) and int64 indices of the
// k largest (or smallest) as [outer, k, inner], sorted, ties in index order.
cudaError_t launch_topk(Elt type, const void* in, void* values, void* indices, int64_t outer,
                        int64_t r, int64_t inner, int64_t k, bool largest, cudaStream_t stream);
// CumSum along the middle axis of [outer, r, inner] (exclusive: each sum leaves its own element
// out; reverse: from the end). Floats accumulate in fp32, integers in their own type.
cudaError_t launch_cumsum(Elt type, const void* in, void* out, int64_t outer, int64_t r,
                          int64_t inner, bool exclusive, bool reverse, cudaStream_t stream);
// ArgMax (min: ArgMin) over the middle axis of [outer, r, inner] (first extremum), output int64.
cudaError_t launch_argmax(Elt type, const void* in, int64_t outer, int64_t r, int64_t inner,
                          void* out, cudaStream_t stream, bool min = false);

// Trilu over the last two axes of n elements ([..., rows, cols], contiguous, any element size):
// keeps j - i >= k (upper) or j - i <= k (lower), zero elsewhere.
cudaError_t launch_trilu(int elem_bytes, const void* in, void* out, int64_t n, int64_t rows,
                         int64_t cols, bool upper, int64_t k, cudaStream_t stream);
// EyeLike: out [rows, cols] is 1 where j - i == k, 0 elsewhere.
cudaError_t launch_eye_like(Elt type, void* out, int64_t rows, int64_t cols, int64_t k,
                            cudaStream_t stream);
// OneHot: out [outer, depth, inner] = values[1] where the index at [outer, inner] (negative ones
// wrap, floats truncate) equals the depth coordinate, else values[0]; values is on the device.
// index_type kI64, kI32 or a float type.
cudaError_t launch_one_hot(Elt index_type, Elt type, const void* indices, const void* values,
                           void* out, int64_t outer, int64_t depth, int64_t inner,
                           cudaStream_t stream);
// ScatterElements / ScatterND reductions (the values of ir/ops/op_attributes.h's enum).
enum class ScatterReduction : int { kNone, kAdd, kMul, kMax, kMin };
// ScatterElements into out (already a copy of data, contiguous, out_dims): each element of
// indices / updates (contiguous, idx_dims) goes to its own position with the axis coordinate
// replaced by the index (negative ones wrap; out of range is skipped and reported through `err`),
// applied in index order.
struct ScatterElementsArgs {
  int rank = 0, axis = 0;
  int64_t idx_dims[kMaxRank] = {};
  int64_t out_dims[kMaxRank] = {};
  int64_t out_strides[kMaxRank] = {};
};
cudaError_t launch_scatter_elements(Elt type, ScatterReduction r, void* out, const void* indices,
                                    bool indices_i64, const void* updates,
                                    const ScatterElementsArgs& args, IndexError err,
                                    cudaStream_t stream);
// ScatterND into out (a copy of data): tuple t of k int64 indices (negative ones wrap against
// dims[j]; a tuple out of range is skipped and reported through `err`) selects the slice at sum
// idx[j] * strides[j], which updates[t * slice ...] replaces (or is reduced into), tuples in order.
struct ScatterNdArgs {
  int64_t n_tuples = 0, k = 0, slice = 1;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
};
cudaError_t launch_scatter_nd(Elt type, ScatterReduction r, void* out, const void* indices,
                              const void* updates, const ScatterNdArgs& args, IndexError err,
                              cudaStream_t stream);

// Pad: out (contiguous, dims out_dims) reads in (contiguous, dims in_dims) at o - before on
// each axis; outside the input, kConstant writes `fill`, kReflect mirrors (edge excluded),
// kEdge repeats the edge, kWrap wraps around. Float element types only.
enum class PadMode : int { kConstant, kReflect, kEdge, kWrap };
struct PadArgs {
  int rank = 0;
  PadMode mode = PadMode::kConstant;
  float fill = 0.0f;
  int64_t in_dims[kMaxRank] = {};
  int64_t out_dims[kMaxRank] = {};
  int64_t before[kMaxRank] = {};
};
cudaError_t launch_pad(Elt type, const PadArgs& args, const void* in, void* out,
                       cudaStream_t stream);

// MaxPool / AveragePool over [n*c, spatial...] (1 to 3 spatial axes): each output element is
// the maximum (average) of its window (in = o * stride - pad_begin + k * dilation, positions
// outside the input skipped). The average divides by the taps inside the input, or with
// count_include_pad by those inside the padded input [-pad_begin, in + pad_end).
struct MaxPoolArgs {
  int spatial = 0;
  int64_t planes = 0;  // n * c
  int64_t in_dims[3] = {1, 1, 1};
  int64_t out_dims[3] = {1, 1, 1};
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t dilation[3] = {1, 1, 1};
  int64_t pad_begin[3] = {0, 0, 0};
  int64_t pad_end[3] = {0, 0, 0};
  bool average = false, count_include_pad = false;
};
cudaError_t launch_max_pool(Elt type, const MaxPoolArgs& args, const void* in, void* out,
                            cudaStream_t stream);
// vitrt.ChannelsLastPool: MaxPool (average = false) / AveragePool of x [b, h, w, c] into
// y [b, oh, ow, c]. Window tap (ki, kj) of output pixel (oy, ox) reads input pixel
// (oy * sh - ph + ki * dh, ox * sw - pw + kj * dw) when inside the image; max keeps the largest
// (a NaN never replaces it), average divides the fp32 sum by the taps inside the image, or with
// count_include_pad by those inside the padded image [-ph, h + ph_end) x [-pw, w + pw_end).
// A window with no tap gives -inf (max) or 0 (average), as launch_max_pool. One thread per
// output pixel and 16-byte vector of channels (c a multiple of the vector and x, y 16-byte
// aligned), else per channel.
struct ChannelsLastPoolArgs {
  int64_t b = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t ph = 0, pw = 0, ph_end = 0, pw_end = 0;
  bool average = false, count_include_pad = false;
};
cudaError_t launch_channels_last_pool(Elt type, const ChannelsLastPoolArgs& args, const void* x,
                                      void* y, cudaStream_t stream);

// Softmax (log: LogSoftmax) over the middle axis of [outer, r, inner].
cudaError_t launch_softmax(Elt type, const void* in, void* out, int64_t outer, int64_t r,
                           int64_t inner, cudaStream_t stream, bool log = false);
// Mean over the middle axis of [outer, r, inner].
cudaError_t launch_reduce_mean(Elt type, const void* in, void* out, int64_t outer, int64_t r,
                               int64_t inner, cudaStream_t stream);
// The ONNX reduces over the middle axis of [outer, r, inner] (fp32 accumulation): Sum, Mean,
// Max, Min, Prod, L1 (sum |x|), L2 (sqrt sum x^2), LogSum, LogSumExp (max-shifted), SumSquare.
enum class ReduceOp : int {
  kSum,
  kMean,
  kMax,
  kMin,
  kProd,
  kL1,
  kL2,
  kLogSum,
  kLogSumExp,
  kSumSquare
};
cudaError_t launch_reduce(ReduceOp op, Elt type, const void* in, void* out, int64_t outer,
                          int64_t r, int64_t inner, cudaStream_t stream);
// The same over any set of axes and on integers too: output element i reduces the elements
// kept(i) + reduced(j) of the input (two strided views of it), one thread per output element.
// Integers accumulate in 64 bits (Mean divides with truncation, as the CPU kernel); LogSumExp
// takes float types only.
cudaError_t launch_reduce_strided(ReduceOp op, Elt type, const void* in, void* out,
                                  const StridedView& kept, const StridedView& reduced,
                                  cudaStream_t stream);
// BatchNormalization (inference): y = (x - mean[c]) * scale[c] / sqrt(var[c] + epsilon) + b[c]
// over x [n, channels, spatial] (parameters in the activation type).
cudaError_t launch_batch_norm(Elt type, const void* x, const void* scale, const void* bias,
                              const void* mean, const void* var, void* y, int64_t n,
                              int64_t channels, int64_t spatial, float epsilon,
                              cudaStream_t stream);
// InstanceNormalization of x [rows = n * c, spatial]: each row normalized by its own mean and
// (biased) variance, then y = x_hat * scale[row % channels] + bias[row % channels] (scale and
// bias in the activation type). partials: as launch_group_norm's (groups = channels).
cudaError_t launch_instance_norm(Elt type, const void* x, const void* scale, const void* bias,
                                 void* y, int64_t rows, int64_t channels, int64_t spatial,
                                 float epsilon, cudaStream_t stream, float* partials = nullptr);
// GroupNormalization of x [n, channels, spatial]: each (sample, group of channels / groups
// channels) normalized by its own mean and (biased) variance in fp32, then
// y = x_hat * scale[p] + bias[p] with p the channel, or the group when params_per_group
// (GroupNormalization-18's per-group scale and bias). Few long rows are split over several
// blocks per row: then `partials` is device scratch of group_norm_chunks(n * groups,
// channels / groups * spatial) * n * groups * 2 floats (unused, may be null, when that is 1).
int64_t group_norm_chunks(int64_t rows, int64_t len);
cudaError_t launch_group_norm(Elt type, const void* x, const void* scale, const void* bias, void* y,
                              int64_t n, int64_t channels, int64_t groups, int64_t spatial,
                              bool params_per_group, float epsilon, cudaStream_t stream,
                              float* partials = nullptr);
// LpNormalization (p = 1 or 2) over the middle axis of [outer, r, inner]: x / ||x||_p.
cudaError_t launch_lp_norm(Elt type, const void* in, void* out, int64_t outer, int64_t r,
                           int64_t inner, int p, cudaStream_t stream);
// MeanVarianceNormalization: for each index of `kept` (the kept axes with x's strides), the
// elements at that offset plus each index of `reduced` (the normalized axes) become
// (x - mean) / (sqrt(var) + 1e-9); out has x's layout.
cudaError_t launch_mvn(Elt type, const void* in, void* out, const StridedView& kept,
                       const StridedView& reduced, cudaStream_t stream);
// y = LayerNorm(a (+ b)) over rows of `cols`; b (optional) is read through row index
// (row % b_rows), sum (optional) receives a + b. gamma/beta in the activation type (beta
// optional). code_scale > 0: y is codes of y / code_scale (AddLayerNorm's output_scale), uint8
// E4M3, or with code_int8 int8 clamp(round_half_even(.), code_qmin, 127); else y is in the
// activation type. rms: RMSNormalization (no mean is taken
// off: y = a / sqrt(mean(a^2) + epsilon) * gamma (+ beta)).
// quant (vitrt.AddLayerNorm's quant_a / quant_b / quant_sum, a quantized model's Q/DQ pairs on
// the residual stream): a and b are read as fake_quant(a), fake_quant(b), the sum output holds
// their sum, and the LayerNorm normalizes fake_quant(sum), each step rounded to the activation
// type as the separate FakeQuant, Add and LayerNorm nodes would store it (fp16/bf16 by the
// inverse scales, as launch_fake_quant).
struct NormQuant {
  FakeQuant a, b, sum;
  bool has_a = false, has_b = false, has_sum = false;
  float inv_a = 1.0f, inv_b = 1.0f, inv_sum = 1.0f;  // set by launch_layer_norm
  bool any() const { return has_a || has_b || has_sum; }
};
cudaError_t launch_layer_norm(Elt type, const void* a, const void* b, int64_t b_rows,
                              const void* gamma, const void* beta, void* y, void* sum, int64_t rows,
                              int64_t cols, float epsilon, cudaStream_t stream,
                              float code_scale = 0.0f, bool rms = false,
                              const NormQuant& quant = NormQuant{}, bool code_int8 = false,
                              int code_qmin = -127, bool half2_codes = false);
// Whether a LayerNorm of `cols` columns that writes E4M3 codes at output_scale `code_scale` from
// fp16 may compute them on fp16 pairs (launch_layer_norm's half2_codes): (t gamma + beta) /
// code_scale stays within fp16's range for every |t| <= sqrt(cols) + 2, given the largest
// |gamma| and |beta|, and 1 / code_scale is a normal fp16 value. VITRT_LN_HALF2_CODES=0 turns
// it off.
bool ln_half2_codes_ok(int64_t cols, float max_abs_gamma, float max_abs_beta, float code_scale);
// vitrt.Linear for a few rows (cuda/gemv_linear.cu): y[m, n] = act(f(x)[m, :] w[:, n] + bias[n]
// + residual[m, n]), f a LayerNorm of each row (gamma, beta, epsilon) when gamma is set, else
// the identity; x [m, k], w [k, n] row-major, gamma / beta / bias / residual in the activation
// type (each optional; beta only with gamma), fp16 or bf16 only. `variant` picks the columns a
// block (0 .. gemv_linear_variants() - 1), timed by the build's tactic search for a few rows; any
// row count runs, every 8 rows streaming W again.
struct GemvLinearArgs {
  const void* x = nullptr;
  const void* gamma = nullptr;
  const void* beta = nullptr;
  float epsilon = 1e-5f;
  const void* w = nullptr;
  const void* bias = nullptr;
  const void* residual = nullptr;
  void* y = nullptr;
  bool y_float32 = false;  // y in fp32 instead of the activation type
  int64_t m = 0, n = 0, k = 0;
  UnaryOp act = UnaryOp::kIdentity;
};
int gemv_linear_variants();
std::string gemv_linear_variant_name(int variant);
// Whether `variant` takes this type and shape: fp16 / bf16, K and N multiples of 8, the rows a
// block keeps within its shared memory (pointers must also be 16-byte aligned: else the launch
// fails).
bool gemv_linear_supports(Elt type, int variant, int64_t m, int64_t n, int64_t k);
cudaError_t launch_gemv_linear(Elt type, int variant, const GemvLinearArgs& args,
                               cudaStream_t stream);
// out[row, col] += bias[col] for a [rows, cols] matrix, then the activation (kIdentity,
// kGelu, ...); bias may be null.
cudaError_t launch_bias_act(Elt type, void* data, const void* bias, int64_t rows, int64_t cols,
                            UnaryOp act, cudaStream_t stream);
// vitrt.ScaleShift: y[row, col] = act(x[row, col] * scale[col] + shift[col]) for a [rows, cols]
// matrix (the activation kIdentity, kRelu, kRelu6, kSilu, kHardSwish, kGelu or kGeluTanh),
// scale and shift in the activation type, computed in fp32.
cudaError_t launch_scale_shift(Elt type, const void* x, const void* scale, const void* shift,
                               void* y, int64_t rows, int64_t cols, UnaryOp act,
                               cudaStream_t stream);
// vitrt.RotaryEmbedding: x, y [outer, seq, dim] (outer = batch * heads); the cos/sin row of
// token s >= start in head h = row / seq % heads starts at h * head_stride + (s - start) *
// row_stride (strides in elements, 0 where the table is shared), in the activation type.
struct RotaryTables {
  const void* cos = nullptr;
  const void* sin = nullptr;
  int64_t cos_head_stride = 0, cos_row_stride = 0;
  int64_t sin_head_stride = 0, sin_row_stride = 0;
};
cudaError_t launch_rotary_embedding(Elt type, const void* x, const RotaryTables& tables, void* y,
                                    int64_t outer, int64_t heads, int64_t seq, int64_t dim,
                                    int64_t rotary_dim, int64_t start, bool interleaved,
                                    int64_t token_div, int64_t head_div, cudaStream_t stream);
// [B, C, H, W] -> [B, prefix + (H/ph)*(W/pw), C*ph*pw] (vitrt.Patchify's layout), each image's
// first `prefix` rows zero. out_type is type, or fp16 / bf16 for an fp32 input (a 16-bit plan
// reading its fp32 input directly, converting on the way).
cudaError_t launch_patchify(Elt type, Elt out_type, const void* in, void* out, int64_t b, int64_t c,
                            int64_t h, int64_t w, int64_t ph, int64_t pw, cudaStream_t stream,
                            int64_t prefix = 0);
// im2col of a 2-D convolution: in [B, C, H, W] -> out [B, OH*OW, C*KH*KW] (vitrt.Patchify's
// layout), element (b, oy*OW + ox, (c*KH + i)*KW + j) = in[b, c, oy*SH - PH + i*DH,
// ox*SW - PW + j*DW], zero outside the image.
struct Im2colArgs {
  int64_t b = 0, c = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};
cudaError_t launch_im2col(Elt type, const Im2colArgs& args, const void* in, void* out,
                          cudaStream_t stream);
// Grouped convolution weights [k, taps, cg] (k = groups * dg output channels, cg input channels
// per group) rewritten for the same convolution with groups merged m at a time: [k, taps, m * cg],
// block-diagonal (output channel o keeps its cg weights at slot (o / dg) % m of its merged group's
// m * cg inputs, zeros elsewhere). The same sums, in groups whose channel counts cuDNN's fp16 and
// bf16 engines take (whole 8-element vectors).
struct MergeGroupsArgs {
  int64_t k = 0, taps = 0, cg = 0, dg = 0, m = 1;
};
cudaError_t launch_merge_groups(Elt type, const MergeGroupsArgs& args, const void* in, void* out,
                                cudaStream_t stream);
// im2col of an NHWC image [b, h, w, c_stride] for vitrt.ChannelsLastConv: rows [p0, p0 + rows)
// of the output pixels (p = (b * oh + oy) * ow + ox), each [kh * kw * cg]: per tap, the cg
// channels from c0 of the pixel it reads (zero outside the image). geom.c is unused.
struct Im2colNhwcArgs {
  Im2colArgs geom;
  int64_t c_stride = 0, c0 = 0, cg = 0;
  int64_t p0 = 0, rows = 0;
};
cudaError_t launch_im2col_nhwc(Elt type, const Im2colNhwcArgs& args, const void* in, void* out,
                               cudaStream_t stream);
// A grouped (depthwise when group = c) 2-D convolution computed directly:
// y[b, o, oy, ox] = bias[o] + sum over the group's input channels and the window of x * w,
// w [d, c / group, kh, kw] (args.c = input channels), zero outside the image.
// channels_last: x is [b, h, w, c] and y [b, oh, ow, d] (vitrt.ChannelsLastConv); depthwise
// only (group = c, any channel multiplier d / c), else cudaErrorInvalidValue.
struct ConvDirectArgs {
  Im2colArgs geom;
  int64_t d = 0, group = 1;
  bool channels_last = false;
  // launch_conv_direct: an activation of device_common.cuh's activate() applied to each output
  // (after the bias); kIdentity for none. launch_conv_transpose takes none.
  UnaryOp act = UnaryOp::kIdentity;
};
cudaError_t launch_conv_direct(Elt type, const ConvDirectArgs& args, const void* x, const void* w,
                               const void* bias, void* y, cudaStream_t stream);
// 2-D ConvTranspose, one thread per output element (a gather: the taps whose input position
// lands on it): y[b, o, oy, ox] = bias[o] + sum over the group's input channels c and the taps
// (ki, kj) with iy = (oy + ph - ki * dh) / sh and ix = (ox + pw - kj * dw) / sw whole and inside
// the input of x[b, c, iy, ix] * w[c, o % (d / group), ki, kj]; w [c, d / group, kh, kw].
// geom: b, c, h, w (input), oh, ow (output), kh, kw, sh, sw, ph, pw (padding taken off the
// begin; negative where output_shape asks for more), dh, dw; d = output channels.
cudaError_t launch_conv_transpose(Elt type, const ConvDirectArgs& args, const void* x,
                                  const void* w, const void* bias, void* y, cudaStream_t stream);
// Col2Im (torch.nn.Fold), up to 3 spatial dims (fewer padded with leading 1s), one thread per
// output element (a gather over the block offsets whose grid position lands on it):
// y[p, pos] = sum over k of x[p, k, l] with l[d] = (pos[d] + pad[d] - k[d] * dil[d]) / stride[d]
// whole and inside the grid; p runs over N * C planes, x [planes, kernel, length].
struct Col2ImArgs {
  int64_t planes = 0, kernel = 1, length = 1;
  int64_t image[3] = {1, 1, 1}, block[3] = {1, 1, 1}, grid[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dil[3] = {1, 1, 1};
};
cudaError_t launch_col2im(Elt type, const Col2ImArgs& args, const void* x, void* y,
                          cudaStream_t stream);
// out[b, d, p] = in[b, p, d] + bias[d]: the GEMM result of a patch convolution back to NCHW.
cudaError_t launch_patch_to_nchw(Elt type, const void* in, const void* bias, void* out, int64_t b,
                                 int64_t p, int64_t d, cudaStream_t stream);

// Resize of up to two axes (resize::Mode/Coord/NearestMode as ints, src/cpu/resize.h): x viewed
// as [outer, in0, mid, in1, inner] -> [outer, out0, mid, out1, inner]. Each output element
// works out its taps and weights per axis in float64 with the CPU kernel's formulas and sums
// the tensor product of both filters in fp32. An axis with resize = false is copied.
struct ResizeAxisArgs {
  bool resize = false;
  int64_t in_len = 1, out_len = 1;
  double scale = 1.0, output_width = 1.0, roi_start = 0.0, roi_end = 1.0;
};
struct ResizeArgs {
  int mode = 0, coord = 0, nearest = 0;
  double cubic_a = -0.75;
  bool exclude_outside = false, antialias = false;
  float extrapolation = 0.0f;
  int64_t outer = 1, mid = 1, inner = 1;
  ResizeAxisArgs axis[2];
};
cudaError_t launch_resize(Elt type, const ResizeArgs& args, const void* in, void* out,
                          cudaStream_t stream);

// GridSample of x [n, c, h, w] at grid [n, ho, wo, 2] (same element type) -> y [n, c, ho, wo];
// mode and padding as grid_sample::Mode / Padding (src/ir/ops/grid_sample_math.h).
struct GridSampleArgs {
  int64_t n = 0, c = 0, h = 0, w = 0, ho = 0, wo = 0;
  int mode = 0, padding = 0;
  bool align_corners = false;
};
cudaError_t launch_grid_sample(Elt type, const GridSampleArgs& args, const void* x,
                               const void* grid, void* y, cudaStream_t stream);

// ---- standalone QuantizeLinear / DequantizeLinear (qdq.cu) ----
// The integer types of the quantized side (kI32: DequantizeLinear only).
enum class QdqType : int { kI8, kU8, kI16, kU16, kI32 };
// Per-tensor (channels = 1) or per-axis parameters, passed by value: element i uses parameter
// (i / inner) % channels.
inline constexpr int kMaxQdqChannels = 256;
struct QdqArgs {
  int64_t n = 0, channels = 1, inner = 1;
  float scale[kMaxQdqChannels] = {};
  int32_t zero_point[kMaxQdqChannels] = {};
};
// q = saturate(round_half_even(x / scale) + zero_point) (NaN gives zero_point), x in `type`.
cudaError_t launch_quantize_linear(Elt type, QdqType qtype, const void* x, void* q,
                                   const QdqArgs& args, cudaStream_t stream);
// y = float(q - zero_point) * scale, y in `type`.
cudaError_t launch_dequantize_linear(Elt type, QdqType qtype, const void* q, void* y,
                                     const QdqArgs& args, cudaStream_t stream);
// vitrt.FakeQuant: y = fake_quant(x, quant) (ir/fake_quant.h) over n elements of `type`; with a
// bias (cols values of `type`, x's last dim), then + bias[n] and fake_quant(., quant_out) when
// has_out; each step rounded to `type`. fp32 divides by the scales as the CPU kernel does;
// fp16/bf16 multiply by their inverses (at most one step apart where x / scale is within an ulp
// of a rounding boundary).
struct FakeQuantArgs {
  FakeQuant quant, quant_out;
  bool has_out = false;
  float inv_scale = 1.0f, inv_scale_out = 1.0f;  // set by launch_fake_quant
  const void* bias = nullptr;
  int64_t cols = 1;
};
cudaError_t launch_fake_quant(Elt type, const void* x, void* y, int64_t n, const FakeQuantArgs& a,
                              cudaStream_t stream);

// vitrt.Attention's quant_q / quant_k / quant_v: y[r, c] = fake_quant(x[r * x_stride + c] *
// prescale) for rows x cols, y contiguous (x * prescale in fp32; fp16/bf16 by the inverse
// scale, as launch_fake_quant).
cudaError_t launch_fake_quant_rows(Elt type, const void* x, int64_t x_stride, void* y, int64_t rows,
                                   int64_t cols, const FakeQuant& quant, float prescale,
                                   cudaStream_t stream);
// y[i] = e4m3(codes[i]) * scale rounded to `type`, n values: E4M3 codes widened (vitrt.Attention's
// input_scale where the wgmma form does not run).
cudaError_t launch_decode_e4m3(Elt type, const uint8_t* codes, int64_t n, float scale, void* y,
                               cudaStream_t stream);

// ---- ONNX's integer ops (integer_ops.cu) ----
// DynamicQuantizeLinear of n values of `type`: one block finds the range (always holding 0) and
// writes y_scale = (max - min) / 255 (in `type`) and y_zero_point, then y = saturate(
// round_half_even(x / y_scale) + y_zero_point), with y_scale as stored. NaN values are left out
// of the range and quantize to 0 (the CPU kernel refuses them).
cudaError_t launch_dynamic_quantize_linear(Elt type, const void* x, int64_t n, uint8_t* y,
                                           void* y_scale, uint8_t* y_zero_point,
                                           cudaStream_t stream);

// out[i] = fp32(s * w[i]) for i < n, s one device value in `type` (a DynamicQuantizeLinear's
// scale): the per-column scales of a QuantLinear with dynamic_input.
cudaError_t launch_scale_by_device_scalar(Elt type, const void* s, const float* w, int64_t n,
                                          float* out, cudaStream_t stream);

// Requantization of int32 sums for QLinearMatMul / QLinearConv: y = saturate(round_half_even(
// double(sum) * float(s_in[i] * s_w[j] / y_scale) + y_zero_point)), scales in `scale_type`
// (one value, or one per row i / column j when the count is above 1).
struct IntRequant {
  bool enabled = false;  // false: the int32 sums are the output
  Elt scale_type = Elt::kF32;
  const void* in_scale = nullptr;
  int64_t in_scale_count = 1;
  const void* w_scale = nullptr;
  int64_t w_scale_count = 1;
  const void* y_scale = nullptr;
  const void* y_zero_point = nullptr;
  bool y_signed = false;
};

inline constexpr int kMaxIntBatchRank = 6;
// y[b] = (a[b] - a_zp[row]) x (b[b] - b_zp[col]) for 8-bit a [.., m, k] and b [.., k, n], batch
// dims broadcast (strides in whole matrices, 0 where broadcast). A null zero point is 0.
struct IntMatmulArgs {
  const void* a = nullptr;
  const void* b = nullptr;
  bool a_signed = false, b_signed = false;
  const void* a_zp = nullptr;
  int64_t a_zp_count = 1;
  const void* b_zp = nullptr;
  int64_t b_zp_count = 1;
  int64_t m = 0, k = 0, n = 0;
  int64_t batches = 1;
  int batch_rank = 0;
  int64_t batch_dims[kMaxIntBatchRank] = {};
  int64_t a_batch_strides[kMaxIntBatchRank] = {};
  int64_t b_batch_strides[kMaxIntBatchRank] = {};
  void* y = nullptr;
  IntRequant requant;
};
cudaError_t launch_integer_matmul(const IntMatmulArgs& args, cudaStream_t stream);

// y[n, m, ...] = sum over the group's channels and the kernel of (x - x_zp) (w[m] - w_zp[m])
// (+ bias[m]), 1-3 spatial axes given as 3 (leading ones of size 1), zero padding in x - x_zp.
struct IntConvArgs {
  const void* x = nullptr;
  const void* w = nullptr;
  bool x_signed = false, w_signed = false;
  const void* x_zp = nullptr;
  const void* w_zp = nullptr;
  int64_t w_zp_count = 1;
  const int32_t* bias = nullptr;
  int64_t batch = 0, channels = 0, out_channels = 0, group = 1;
  int64_t in[3] = {1, 1, 1}, kernel[3] = {1, 1, 1}, out[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1}, dilation[3] = {1, 1, 1}, pad[3] = {0, 0, 0};
  void* y = nullptr;
  IntRequant requant;
};
cudaError_t launch_integer_conv(const IntConvArgs& args, cudaStream_t stream);

// ---- vitrt.QuantLinear (quantize.cu) ----
enum class QuantFormat : int { kInt8, kFp8E4M3 };
// Quantizes x [rows, k] (in `type`) into q [rows, k_pad] bytes, columns k..k_pad-1 zero.
// kInt8: clamp(round_half_even(x / scale) + zero_point, qmin, qmax) - offset as int8 (NaN gives
// zero_point - offset; the caller picks offset so that the range fits int8). kFp8E4M3: E4M3 of
// x / scale, nearest even, saturating to +-448.
struct QuantizeArgs {
  QuantFormat format = QuantFormat::kInt8;
  int64_t rows = 0, k = 0, k_pad = 0;
  float scale = 1.0f;
  int zero_point = 0, qmin = -127, qmax = 127, offset = 0;
};
// 8-bit codes x [rows, k] -> q [rows_out, k_pad] (rows_out >= rows, k_pad >= k): each row
// copied with zeros after column k, and the rows from `rows` on zero: a QuantLinear's X codes
// staged for a GEMM over padded rows and K, in one kernel (a 2-D memcpy and a memset were two
// graph nodes, the copy engine's the slower, at batch 1).
cudaError_t launch_copy_codes_padded(const void* x, int64_t rows, int64_t k, void* q,
                                     int64_t rows_out, int64_t k_pad, cudaStream_t stream);
cudaError_t launch_quantize_rows(Elt type, const QuantizeArgs& args, const void* x, void* q,
                                 cudaStream_t stream);
// y[r, j] = act(float(acc[r * acc_ld + j] (+ acc_offset[j])) * scale[j] + bias[j]) for j < n:
// GEMM accumulators (int32, or fp32 without acc_offset) to activations [rows, n] in `type`.
// scale and bias are fp32 [n], acc_offset int32 [n]; bias and acc_offset may be null. act is
// kIdentity, kRelu, kGelu, kGeluTanh, kQuickGelu or kSilu. code_scale > 0: y is uint8 E4M3 codes of
// the fp32 result / code_scale (QuantLinear's output_scale), and `type` is not read.
struct DequantArgs {
  int64_t rows = 0, n = 0, acc_ld = 0;
  bool acc_int32 = true;
  const int32_t* acc_offset = nullptr;
  const float* scale = nullptr;
  const float* bias = nullptr;
  // [rows, n] in Y's type or null: added after the bias (activation kIdentity only), in the
  // same pass: vitrt.QuantLinear's residual where the GEMM writes int32 / fp32 accumulators.
  const void* residual = nullptr;
  UnaryOp act = UnaryOp::kIdentity;
  // > 0: y is codes of the result / code_scale: E4M3 (uint8), or with code_int8 (int32
  // accumulators only) int8 clamp(round_half_even(.), code_qmin, 127).
  float code_scale = 0.0f;
  bool code_int8 = false;
  int code_qmin = -127;
};
cudaError_t launch_dequantize_bias_act(Elt type, const DequantArgs& args, const void* acc, void* y,
                                       cudaStream_t stream);
// codes[i] = E4M3 code of act(d[i]) / code_scale for d [rows, n] in `type` (act kIdentity,
// kGelu, kQuickGelu or kSilu; true division, nearest even, saturating): a QuantLinear's
// output_scale after a GEMM that wrote its D in the activation type.
cudaError_t launch_act_quantize_fp8(Elt type, const void* d, int64_t rows, int64_t n, UnaryOp act,
                                    float code_scale, void* codes, cudaStream_t stream);

// Fused attention. q/k/v rows are read at ptr + ((b * S + s) * row_stride + h * head_dim);
// the mask (additive, fp activation type, optional) at mask[b*ms0 + h*ms1 + i*ms2 + j*ms3].
struct AttentionArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* mask = nullptr;
  void* out = nullptr;  // [B, Sq, H*Dv]
  int64_t batch = 0, heads = 0, sq = 0, sk = 0, dh = 0, dv = 0;
  int64_t q_row_stride = 0, k_row_stride = 0, v_row_stride = 0;
  int64_t mask_strides[4] = {};
  float scale = 1.0f;
  bool causal = false;
  bool zero_masked_rows = false;  // a row with every key masked gives 0, not NaN
  // > 0: out is uint8 E4M3 codes of the fp32 result / out_scale (vitrt.Attention's
  // output_scale), else the activation type.
  float out_scale = 0.0f;
  // With out_scale: int8 codes clamp(round_half_even(result / out_scale), out_qmin, 127)
  // instead (output_format int8). Only the wgmma form writes them: where attention_takes_codes
  // is false launch_attention returns cudaErrorNotSupported, and the caller encodes a 16-bit
  // output itself.
  bool out_int8 = false;
  int out_qmin = -127;
  // > 0: q, k and v are uint8 E4M3 codes of x / in_scale (vitrt.Attention's input_scale; row
  // strides in codes). Only the wgmma form (cuda/attention_sm90.h) takes them: where
  // attention_takes_codes is false launch_attention returns cudaErrorNotSupported, and the
  // caller widens them first (launch_decode_e4m3).
  float in_scale = 0.0f;
  // vitrt.Attention's quant_scores / quant_probs: fake quantization of q k^T before the scale
  // and of the probabilities (ir/fake_quant.h). The kernels take the keys twice with
  // quant_probs: once for each row's max and sum, once for P v. fp16/bf16 run the tensor-core
  // whole form where every key fits in shared memory; fp32 and longer sequences the scalar one.
  bool quant_scores = false, quant_probs = false;
  FakeQuant scores_quant, probs_quant;
  // > 0: the wgmma form's query tiles a block (1 to 4; tests cover its multi-tile pipeline at
  // small shapes with it); 0: the launcher's choice.
  int sm90_tiles_per_block = 0;
};
// Supports head dims up to 128 (E4M3 codes in: see in_scale). fp16/bf16 run on the tensor cores
// when head dims, row strides and pointers are whole 16-byte chunks (every fused export);
// otherwise, and for fp32 (exact), a scalar fp32 kernel.
cudaError_t launch_attention(Elt type, const AttentionArgs& args, cudaStream_t stream);
// Whether launch_attention takes `args` with in_scale > 0 (E4M3 q, k, v) or out_int8 as they
// are: the wgmma form runs here, takes the shape, and VITRT_ATTENTION does not force another
// form.
bool attention_takes_codes(Elt type, const AttentionArgs& args);

}  // namespace vitrt::cuda
