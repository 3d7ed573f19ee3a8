// vitrt.Attention on the CPU: softmax(scale * q k^T + mask) v per batch and head, heads read
// from and written to the [batch, seq, heads * head_dim] layout directly.
//
// Work is split over (batch, head, block of query rows). A task walks the keys in
// blocks with an online softmax (running row max and sum, the partial output rescaled when the
// max grows, as in FlashAttention), so no [Sq, Sk] score matrix exists for long sequences; up to
// kSingleKeyBlock keys (every ViT and CLIP length) are one block, i.e. plain softmax. Each key
// block is packed once per task, K transposed and V contiguous, zero-padded to the vector width,
// so both products are register-blocked AVX2 FMA loops: 6 query rows x 16 keys for q k^T and
// 6 rows x 16 output columns for P v.
//
// With output_scale the output rows leave as E4M3 (or, output_format int8, int8) codes of
// out / output_scale, encoded as they are stored: the float rows a QuantLinear would read back and
// quantize never exist.
//
// quant_scores / quant_probs (a quantized model's Q/DQ pairs inside attention) fake-quantize
// each raw product before the scale, and each probability as Softmax computes it (e / sum);
// the latter needs a row's final sum before P v, so such a node takes all keys as one block.
// quant_q / quant_k / quant_v (the pairs on the MatMuls' inputs) fake-quantize the operands
// first, into copies: fake_quant(x * prescale) per element.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/float8.h"
#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "cpu/exp_approx.h"
#include "cpu/quant_linear.h"
#include "ir/fake_quant.h"
#include "ir/ops/op_attributes.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace vitrt {
namespace {

constexpr int64_t kQueryBlock = 32;
// With several key blocks each task repacks every block; more rows per task amortise that.
constexpr int64_t kQueryBlockLong = 128;
constexpr int64_t kSingleKeyBlock = 1024;  // longer key sequences use blocks of kKeyBlock
constexpr int64_t kKeyBlock = 256;
constexpr int64_t kLanes = 16;  // columns per micro-kernel step (two AVX2 registers)
// Rows per micro-kernel call: 6 x 2 accumulators of the 16 AVX2 registers, leaving room for
// the two loaded vectors and the broadcast (4 rows measured slower: more loads per FMA).
constexpr int kRowTile = 6;

int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

// Where one head's rows live: element (b, s, c) of head h at
// base + b * batch_stride + s * row_stride + h * head_width + c.
struct HeadView {
  const float* base = nullptr;
  int64_t batch_stride = 0;
  int64_t row_stride = 0;
  int64_t head_width = 0;
  const float* row(int64_t b, int64_t h, int64_t s) const {
    return base + b * batch_stride + s * row_stride + h * head_width;
  }
};

// The additive mask broadcast to [B, H, Sq, Sk]: strides are 0 along broadcast axes.
struct MaskView {
  const float* data = nullptr;
  int64_t stride[4] = {0, 0, 0, 0};
  const float* row(int64_t b, int64_t h, int64_t i) const {
    return data + b * stride[0] + h * stride[1] + i * stride[2];
  }
};

struct AttentionShape {
  int64_t batch = 0, heads = 0, q_len = 0, k_len = 0, head_dim = 0, value_dim = 0;
  float scale = 1.0f;
  bool causal = false;
  bool zero_masked_rows = false;  // a row with every key masked gives 0, not NaN
  // A quantized model's fake quantization of q k^T (before the scale) and of the
  // probabilities (vitrt.Attention's quant_scores, quant_probs).
  std::optional<FakeQuant> quant_scores, quant_probs;
  // Keys per block: the whole sequence up to kSingleKeyBlock keys, and always with
  // quant_probs, whose fake quantization needs each row's final softmax sum.
  int64_t key_block() const { return k_len <= kSingleKeyBlock || quant_probs ? k_len : kKeyBlock; }
};

// Per-thread scratch of one task: packed K^T and V of the current key block, the block's scores
// and the running output, max and sum of each query row.
struct Scratch {
  std::vector<float> kt, v, scores, out, row_max, row_sum, rescale;
  int64_t packed_b = -1, packed_h = -1, packed_j0 = -1, packed_n = -1;  // what kt/v hold
};

// kt[d * ldk + j] = k[j0 + j][d] for j < n (zero up to ldk); v[j * ldv + c] = v[j0 + j][c].
void pack_key_block(const HeadView& k, const HeadView& v, int64_t b, int64_t h, int64_t j0,
                    int64_t n, const AttentionShape& s, Scratch& w) {
  const int64_t ldk = round_up(n, kLanes);
  const int64_t ldv = round_up(s.value_dim, kLanes);
  std::fill(w.kt.begin(), w.kt.begin() + s.head_dim * ldk, 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const float* kr = k.row(b, h, j0 + j);
    for (int64_t d = 0; d < s.head_dim; ++d) w.kt[d * ldk + j] = kr[d];
  }
  for (int64_t j = 0; j < n; ++j) {
    float* dst = w.v.data() + j * ldv;
    std::memcpy(dst, v.row(b, h, j0 + j), s.value_dim * sizeof(float));
    std::fill(dst + s.value_dim, dst + ldv, 0.0f);
  }
}

// c[r * ldc + j] = scale * sum_d a_r[d] * bt[d * ldb + j] for r < R, j < n (n a multiple of 16).
// a_r are R row pointers (query rows), bt is packed K^T.
template <int R>
void scores_rows(const float* const* a, int64_t depth, const float* bt, int64_t ldb, int64_t n,
                 float scale, float* c, int64_t ldc) {
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 vs = _mm256_set1_ps(scale);
  for (int64_t j = 0; j < n; j += kLanes) {
    __m256 acc[R][2];
    for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t d = 0; d < depth; ++d) {
      const __m256 b0 = _mm256_loadu_ps(bt + d * ldb + j);
      const __m256 b1 = _mm256_loadu_ps(bt + d * ldb + j + 8);
      for (int r = 0; r < R; ++r) {
        const __m256 av = _mm256_broadcast_ss(a[r] + d);
        acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(c + r * ldc + j, _mm256_mul_ps(acc[r][0], vs));
      _mm256_storeu_ps(c + r * ldc + j + 8, _mm256_mul_ps(acc[r][1], vs));
    }
  }
#else
  for (int r = 0; r < R; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t d = 0; d < depth; ++d) acc += a[r][d] * bt[d * ldb + j];
      c[r * ldc + j] = acc * scale;
    }
  }
#endif
}

// o[r * ldo + c] = o[r * ldo + c] * rescale[r] + sum_j p[r * ldp + j] * v[j * ldv + c] for
// r < R, c < width (a multiple of 16).
template <int R>
void accumulate_pv(const float* p, int64_t ldp, int64_t keys, const float* v, int64_t ldv,
                   int64_t width, const float* rescale, float* o, int64_t ldo) {
#if defined(__AVX2__) && defined(__FMA__)
  for (int64_t c = 0; c < width; c += kLanes) {
    __m256 acc[R][2];
    for (int r = 0; r < R; ++r) {
      const __m256 f = _mm256_set1_ps(rescale[r]);
      acc[r][0] = _mm256_mul_ps(_mm256_loadu_ps(o + r * ldo + c), f);
      acc[r][1] = _mm256_mul_ps(_mm256_loadu_ps(o + r * ldo + c + 8), f);
    }
    for (int64_t j = 0; j < keys; ++j) {
      const __m256 v0 = _mm256_loadu_ps(v + j * ldv + c);
      const __m256 v1 = _mm256_loadu_ps(v + j * ldv + c + 8);
      for (int r = 0; r < R; ++r) {
        const __m256 pv = _mm256_broadcast_ss(p + r * ldp + j);
        acc[r][0] = _mm256_fmadd_ps(pv, v0, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(pv, v1, acc[r][1]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(o + r * ldo + c, acc[r][0]);
      _mm256_storeu_ps(o + r * ldo + c + 8, acc[r][1]);
    }
  }
#else
  for (int r = 0; r < R; ++r) {
    for (int64_t c = 0; c < width; ++c) {
      float acc = o[r * ldo + c] * rescale[r];
      for (int64_t j = 0; j < keys; ++j) acc += p[r * ldp + j] * v[j * ldv + c];
      o[r * ldo + c] = acc;
    }
  }
#endif
}

float row_max(const float* x, int64_t n) {
  float m = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  if (n >= 8) {
    __m256 mv = _mm256_loadu_ps(x);
    for (j = 8; j + 8 <= n; j += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + j));
    float lanes[8];
    _mm256_storeu_ps(lanes, mv);
    for (float l : lanes) m = std::max(m, l);
  }
#endif
  for (; j < n; ++j) m = std::max(m, x[j]);
  return m;
}

// x[j] = exp(x[j] - max) in place; returns the sum.
float exp_shifted_sum(float* x, int64_t n, float max) {
  float sum = 0.0f;
  int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 mv = _mm256_set1_ps(max);
  __m256 sv = _mm256_setzero_ps();
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv));
    _mm256_storeu_ps(x + j, e);
    sv = _mm256_add_ps(sv, e);
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, sv);
  for (float l : lanes) sum += l;
#endif
  for (; j < n; ++j) {
    x[j] = exp_approx(x[j] - max);
    sum += x[j];
  }
  return sum;
}

// Calls f(std::integral_constant<int, R>, r) over [0, rows) in tiles of kRowTile rows and one
// smaller tail tile: the micro-kernels' row count is a compile-time constant.
template <typename F>
void for_row_tiles(int64_t rows, F&& f) {
  int64_t r = 0;
  for (; r + kRowTile <= rows; r += kRowTile) f(std::integral_constant<int, kRowTile>{}, r);
  switch (rows - r) {
    case 5:
      f(std::integral_constant<int, 5>{}, r);
      break;
    case 4:
      f(std::integral_constant<int, 4>{}, r);
      break;
    case 3:
      f(std::integral_constant<int, 3>{}, r);
      break;
    case 2:
      f(std::integral_constant<int, 2>{}, r);
      break;
    case 1:
      f(std::integral_constant<int, 1>{}, r);
      break;
    default:
      break;
  }
}

// Where the output rows go: float32, or (codes != nullptr) uint8 E4M3 codes of
// value / code_scale, the encoding vitrt.QuantLinear's quantize step applies to the float row.
struct OutRows {
  float* floats = nullptr;
  uint8_t* codes = nullptr;
  // Or int8 codes clamp(round_half_even(value / code_scale), code_qmin, 127), NaN 0.
  int8_t* int8_codes = nullptr;
  float code_scale = 1.0f;
  int32_t code_qmin = -127;
  int64_t row_stride = 0;  // elements between consecutive (b, s) rows
};

// One task: query rows [i0, i0 + rows) of head h in batch b.
void attend_block(const AttentionShape& s, const HeadView& q, const HeadView& k, const HeadView& v,
                  const MaskView* mask, int64_t b, int64_t h, int64_t i0, int64_t rows,
                  const OutRows& out, Scratch& w) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const int64_t key_block = s.key_block();
  const int64_t ldo = round_up(s.value_dim, kLanes);
  const int64_t causal_offset = s.k_len - s.q_len;  // row i sees keys j <= i + offset
  std::fill(w.out.begin(), w.out.begin() + rows * ldo, 0.0f);
  std::fill(w.row_max.begin(), w.row_max.begin() + rows, kNegInf);
  std::fill(w.row_sum.begin(), w.row_sum.begin() + rows, 0.0f);
  // Keys any row of the block may see.
  const int64_t key_end =
      s.causal ? std::clamp<int64_t>(i0 + rows - 1 + causal_offset + 1, 0, s.k_len) : s.k_len;
  std::vector<float>& rescale = w.rescale;
  for (int64_t j0 = 0; j0 < key_end; j0 += key_block) {
    const int64_t n = std::min(key_block, key_end - j0);
    const int64_t ld = round_up(n, kLanes);
    // Consecutive tasks of a thread are consecutive query blocks of one head: with a single
    // key block they reuse the packing.
    if (w.packed_b != b || w.packed_h != h || w.packed_j0 != j0 || w.packed_n != n) {
      pack_key_block(k, v, b, h, j0, n, s, w);
      w.packed_b = b;
      w.packed_h = h;
      w.packed_j0 = j0;
      w.packed_n = n;
    }
    // Scores of the block, kRowTile rows at a time.
    for_row_tiles(rows, [&](auto tile, int64_t r) {
      constexpr int R = decltype(tile)::value;
      const float* qrows[R];
      for (int t = 0; t < R; ++t) qrows[t] = q.row(b, h, i0 + r + t);
      scores_rows<R>(qrows, s.head_dim, w.kt.data(), ld, ld, s.quant_scores ? 1.0f : s.scale,
                     w.scores.data() + r * ld, ld);
    });
    // Mask, causal limit and the online-softmax update of each row.
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = i0 + r;
      float* sr = w.scores.data() + r * ld;
      int64_t valid = n;
      if (s.causal) valid = std::clamp<int64_t>(i + causal_offset + 1 - j0, 0, n);
      if (s.quant_scores) {
        for (int64_t j = 0; j < valid; ++j) sr[j] = fake_quant(sr[j], *s.quant_scores) * s.scale;
      }
      if (mask != nullptr) {
        const float* mr = mask->row(b, h, i);
        const int64_t ms = mask->stride[3];
        for (int64_t j = 0; j < valid; ++j) sr[j] += mr[(j0 + j) * ms];
      }
      std::fill(sr + valid, sr + ld, 0.0f);  // P is zero past the causal limit and padding
      const float block_max = row_max(sr, valid);
      const float new_max = std::max(w.row_max[r], block_max);
      if (new_max == kNegInf) {
        // Every key so far is masked: nothing to add (a row masked to the end gives 0/0 = NaN,
        // as PyTorch's softmax does for an all -inf row, or 0 with zero_masked_rows).
        std::fill(sr, sr + valid, 0.0f);
        rescale[r] = 1.0f;
        continue;
      }
      rescale[r] = w.row_max[r] == kNegInf ? 0.0f : exp_approx(w.row_max[r] - new_max);
      w.row_sum[r] = w.row_sum[r] * rescale[r] + exp_shifted_sum(sr, valid, new_max);
      w.row_max[r] = new_max;
      if (s.quant_probs) {
        // One block holds every key: the probabilities as Softmax computes them (times
        // 1 / sum), fake-quantized; the row is then complete (sum 1).
        const float inv = 1.0f / w.row_sum[r];
        for (int64_t j = 0; j < valid; ++j) sr[j] = fake_quant(sr[j] * inv, *s.quant_probs);
        w.row_sum[r] = 1.0f;
      }
    }
    for_row_tiles(rows, [&](auto tile, int64_t r) {
      accumulate_pv<decltype(tile)::value>(w.scores.data() + r * ld, ld, n, w.v.data(), ldo, ldo,
                                           rescale.data() + r, w.out.data() + r * ldo, ldo);
    });
  }
  for (int64_t r = 0; r < rows; ++r) {
    // 0 keys seen: 1/0 = inf, times 0 = NaN, unless the node asks for 0. With quant_probs the
    // row is 0 too: fake quantization turns Softmax's NaN into the zero point, i.e. 0.
    const bool zero_row = (s.zero_masked_rows || s.quant_probs) && w.row_sum[r] == 0.0f;
    const float inv = zero_row ? 0.0f : 1.0f / w.row_sum[r];
    const float* src = w.out.data() + r * ldo;
    const int64_t at = (b * s.q_len + i0 + r) * out.row_stride + h * s.value_dim;
    if (out.codes != nullptr) {
      uint8_t* dst = out.codes + at;
      // The float value first, then the division: bit for bit the codes QuantLinear makes from
      // the float output.
      for (int64_t c = 0; c < s.value_dim; ++c) {
        const float value = src[c] * inv;
        dst[c] = float_to_e4m3(value / out.code_scale);
      }
    } else if (out.int8_codes != nullptr) {
      // The float row, then QuantLinear's own int8 quantize step on it (w.out is this task's
      // scratch: the row is scaled in place).
      float* row = w.out.data() + r * ldo;
      for (int64_t c = 0; c < s.value_dim; ++c) row[c] *= inv;
      encode_int8_rows(row, s.value_dim, out.code_scale, out.code_qmin, out.int8_codes + at);
    } else {
      float* dst = out.floats + at;
      for (int64_t c = 0; c < s.value_dim; ++c) dst[c] = src[c] * inv;
    }
  }
}

// `view`'s rows (batch x len rows of `width` floats) fake-quantized into `buffer`, and the view
// of the copy.
HeadView fake_quantized_copy(const HeadView& view, int64_t batch, int64_t len, int64_t width,
                             const InputFakeQuant& iq, std::vector<float>& buffer) {
  buffer.resize(static_cast<size_t>(batch * len * width));
  parallel_for(batch * len, std::max<int64_t>(1, (1 << 14) / width), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* src = view.row(r / len, 0, r % len);
      float* dst = buffer.data() + r * width;
      for (int64_t c = 0; c < width; ++c) dst[c] = fake_quant(src[c] * iq.prescale, iq.quant);
    }
  });
  return {buffer.data(), len * width, width, view.head_width};
}

class AttentionKernel final : public CpuKernel {
 public:
  // codes (output_scale): the output as E4M3 or int8 codes of out / output_scale. input_scale
  // > 0: q, k and v are E4M3 codes of x / input_scale, decoded (exactly, in float32) before
  // anything else.
  AttentionKernel(int64_t heads, std::optional<float> scale, bool causal, bool zero_masked_rows,
                  OutputCodes codes, float input_scale, std::optional<FakeQuant> quant_scores,
                  std::optional<FakeQuant> quant_probs,
                  std::array<std::optional<InputFakeQuant>, 3> input_quant)
      : heads_(heads),
        scale_(scale),
        causal_(causal),
        zero_masked_rows_(zero_masked_rows),
        codes_(codes),
        input_scale_(input_scale),
        quant_scores_(quant_scores),
        quant_probs_(quant_probs),
        input_quant_(input_quant) {}

  Status run(const std::vector<const Tensor*>& given, std::vector<Tensor>& outputs) override {
    const bool packed = given.size() < 3 || given[1] == nullptr;
    if (!packed && given[2] == nullptr) return invalid_argument("key given without value");
    const int last = packed ? 0 : 2;
    std::vector<const Tensor*> inputs = given;
    std::array<Tensor, 3> decoded;
    if (input_scale_ > 0.0f) {
      const std::array<float, 256>& table = e4m3_decode_table();
      for (int i = 0; i <= last; ++i) {
        const Tensor& t = *given[i];
        if (t.dtype() != DType::kUInt8) {
          return invalid_argument("input ", i, " must be uint8 E4M3 codes (input_scale), got ",
                                  t.describe());
        }
        decoded[i] = Tensor::empty(DType::kFloat32, t.shape());
        const uint8_t* src = t.data<uint8_t>();
        float* dst = decoded[i].data<float>();
        const float scale = input_scale_;
        parallel_for(t.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
          for (int64_t e = begin; e < end; ++e) dst[e] = table[src[e]] * scale;
        });
        inputs[i] = &decoded[i];
      }
    }
    const Tensor& q = *inputs[0];
    for (int i = 0; i <= last; ++i) {
      const Tensor& t = *inputs[i];
      if (t.dtype() != DType::kFloat32 || t.rank() != 3) {
        return invalid_argument("input ", i, " must be float32 [batch, seq, features], got ",
                                t.describe());
      }
    }
    AttentionShape s;
    s.batch = q.dim(0);
    s.heads = heads_;
    s.q_len = q.dim(1);
    s.causal = causal_;
    s.zero_masked_rows = zero_masked_rows_;
    s.quant_scores = quant_scores_;
    s.quant_probs = quant_probs_;
    HeadView qv, kv, vv;
    if (packed) {
      if (q.dim(2) % (3 * heads_) != 0) {
        return invalid_argument("packed qkv ", q.describe(), ": width is not a multiple of 3 * ",
                                heads_, " heads");
      }
      const int64_t d = q.dim(2) / 3;
      s.k_len = s.q_len;
      s.head_dim = s.value_dim = d / heads_;
      const float* base = q.data<float>();
      qv = {base, s.q_len * q.dim(2), q.dim(2), s.head_dim};
      kv = {base + d, s.q_len * q.dim(2), q.dim(2), s.head_dim};
      vv = {base + 2 * d, s.q_len * q.dim(2), q.dim(2), s.head_dim};
    } else {
      const Tensor& k = *inputs[1];
      const Tensor& v = *inputs[2];
      if (k.dim(0) != s.batch || v.dim(0) != s.batch || k.dim(1) != v.dim(1) ||
          k.dim(2) != q.dim(2) || q.dim(2) % heads_ != 0 || v.dim(2) % heads_ != 0) {
        return invalid_argument("query ", q.describe(), ", key ", k.describe(), " and value ",
                                v.describe(), " do not fit ", heads_, " heads");
      }
      s.k_len = k.dim(1);
      s.head_dim = q.dim(2) / heads_;
      s.value_dim = v.dim(2) / heads_;
      qv = {q.data<float>(), s.q_len * q.dim(2), q.dim(2), s.head_dim};
      kv = {k.data<float>(), s.k_len * k.dim(2), k.dim(2), s.head_dim};
      vv = {v.data<float>(), s.k_len * v.dim(2), v.dim(2), s.value_dim};
    }
    s.scale = scale_ ? *scale_ : 1.0f / std::sqrt(static_cast<float>(s.head_dim));
    std::array<std::vector<float>, 3> quantized;
    HeadView* views[3] = {&qv, &kv, &vv};
    const int64_t lens[3] = {s.q_len, s.k_len, s.k_len};
    const int64_t widths[3] = {s.heads * s.head_dim, s.heads * s.head_dim, s.heads * s.value_dim};
    for (size_t i = 0; i < 3; ++i) {
      if (!input_quant_[i]) continue;
      *views[i] = fake_quantized_copy(*views[i], s.batch, lens[i], widths[i], *input_quant_[i],
                                      quantized[i]);
    }

    MaskView mask;
    const bool has_mask = inputs.size() > 3 && inputs[3] != nullptr;
    if (has_mask) {
      const Tensor& m = *inputs[3];
      if (m.dtype() != DType::kFloat32 || m.rank() < 2 || m.rank() > 4) {
        return invalid_argument("mask must be float32 of rank 2 to 4, got ", m.describe());
      }
      const int64_t full[4] = {s.batch, s.heads, s.q_len, s.k_len};
      int64_t stride = 1;
      for (int i = 0; i < m.rank(); ++i) {
        const int axis = 3 - i;
        const int64_t md = m.dim(m.rank() - 1 - i);
        if (md != 1 && md != full[axis]) {
          return invalid_argument("mask ", m.describe(), " does not broadcast to [", full[0], ", ",
                                  full[1], ", ", full[2], ", ", full[3], "]");
        }
        mask.stride[axis] = md == 1 ? 0 : stride;
        stride *= md;
      }
      mask.data = m.data<float>();
    }

    Tensor out = Tensor::empty(
        !codes_.any() ? DType::kFloat32 : (codes_.int8 ? DType::kInt8 : DType::kUInt8),
        {s.batch, s.q_len, s.heads * s.value_dim});
    OutRows out_rows;
    out_rows.row_stride = s.heads * s.value_dim;
    if (codes_.any()) {
      out_rows.code_scale = codes_.scale;
      out_rows.code_qmin = codes_.qmin;
      if (codes_.int8) {
        out_rows.int8_codes = out.data<int8_t>();
      } else {
        out_rows.codes = out.data<uint8_t>();
      }
    } else {
      out_rows.floats = out.data<float>();
    }
    const int64_t q_block = s.k_len <= kSingleKeyBlock ? kQueryBlock : kQueryBlockLong;
    const int64_t q_blocks = (s.q_len + q_block - 1) / q_block;
    const int64_t tasks = s.batch * s.heads * q_blocks;
    const int64_t key_block = s.key_block();
    const int64_t ld = round_up(std::max<int64_t>(key_block, 1), kLanes);
    const int64_t ldo = round_up(s.value_dim, kLanes);
    const MaskView* mask_ptr = has_mask ? &mask : nullptr;
    parallel_for(tasks, 1, [&](int64_t begin, int64_t end) {
      Scratch w;
      w.kt.resize(s.head_dim * ld);
      w.v.resize(ld * ldo);
      w.scores.resize(q_block * ld);
      w.out.resize(q_block * ldo);
      w.row_max.resize(q_block);
      w.row_sum.resize(q_block);
      w.rescale.resize(q_block);
      for (int64_t t = begin; t < end; ++t) {
        const int64_t qb = t % q_blocks;
        const int64_t h = (t / q_blocks) % s.heads;
        const int64_t b = t / (q_blocks * s.heads);
        const int64_t i0 = qb * q_block;
        attend_block(s, qv, kv, vv, mask_ptr, b, h, i0, std::min(q_block, s.q_len - i0), out_rows,
                     w);
      }
    });
    outputs[0] = std::move(out);
    return Status();
  }

 private:
  int64_t heads_;
  std::optional<float> scale_;
  bool causal_;
  bool zero_masked_rows_;
  OutputCodes codes_;
  float input_scale_;
  std::optional<FakeQuant> quant_scores_, quant_probs_;
  std::array<std::optional<InputFakeQuant>, 3> input_quant_;
};

Result<std::unique_ptr<CpuKernel>> make_attention_kernel(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(int64_t heads, init.node.attrs.require_int("num_heads"));
  VITRT_ASSIGN_OR_RETURN(int64_t causal, init.node.attrs.get_int("causal", 0));
  if (heads < 1) return invalid_argument("num_heads must be >= 1, got ", heads);
  if (causal != 0 && causal != 1) return invalid_argument("causal must be 0 or 1, got ", causal);
  VITRT_ASSIGN_OR_RETURN(int64_t zero_rows, init.node.attrs.get_int("zero_masked_rows", 0));
  std::optional<float> scale;
  if (init.node.attrs.has("scale")) {
    VITRT_ASSIGN_OR_RETURN(float f, init.node.attrs.get_float("scale", 1.0f));
    scale = f;
  }
  VITRT_ASSIGN_OR_RETURN(OutputCodes codes, OutputCodes::parse(init.node.attrs));
  VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> quant_scores,
                         parse_fake_quant(init.node.attrs, "quant_scores"));
  VITRT_ASSIGN_OR_RETURN(std::optional<FakeQuant> quant_probs,
                         parse_fake_quant(init.node.attrs, "quant_probs"));
  VITRT_ASSIGN_OR_RETURN(auto input_quant, parse_attention_input_quant(init.node.attrs));
  float input_scale = 0.0f;
  if (init.node.attrs.has("input_scale")) {
    VITRT_ASSIGN_OR_RETURN(input_scale, init.node.attrs.get_float("input_scale", 0.0f));
    if (!(input_scale > 0.0f) || !std::isfinite(input_scale)) {
      return invalid_argument("input_scale must be a finite float > 0, got ", input_scale);
    }
    if (quant_scores || quant_probs || input_quant[0] || input_quant[1] || input_quant[2]) {
      return invalid_argument("input_scale (E4M3 inputs) does not combine with quant_*");
    }
  }
  return std::unique_ptr<CpuKernel>(
      std::make_unique<AttentionKernel>(heads, scale, causal == 1, zero_rows == 1, codes,
                                        input_scale, quant_scores, quant_probs, input_quant));
}

}  // namespace

void register_cpu_attention_kernels(CpuKernelRegistry& registry) {
  registry.add("vitrt", "Attention", make_attention_kernel);
}

}  // namespace vitrt
