// Direct fp32 convolution for depthwise and narrow grouped convs.
//
// Per (image, group) the group's input planes are copied once into a zero-padded buffer whose
// columns are split by phase (padded column j lives in phase j % stride_w at index
// j / stride_w). Every output plane is then cut into blocks of 2 rows x 32 columns, 4 x 16 or
// 8 x 8 whose 8 vectors of sums stay in registers while the kernel window slides over them,
// and every read of a block is a contiguous, unchecked load: the padding is in the buffer, a
// stride along the row is a phase offset, and the blocks past the last row or column read the
// buffer's zero tail instead of a bounds check (their extra sums are not stored). Planes of one
// output row (1-D convs) take 1 x 64 blocks.
#include "cpu/conv_direct.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"

namespace vitrt {

namespace {

// Input channels per group up to which the direct loop is used (measured against im2col in
// bench/NOTES.md).
constexpr int64_t kMaxGroupChannels = 16;

// The widest output block (4 AVX2 vectors of sums) and the tallest (8 rows of one vector);
// planes of one output row use 1 x 64 blocks (8 vectors).
constexpr int64_t kMaxBlock = 32;
constexpr int64_t kMaxRows = 8;
constexpr int64_t kSingleRowBlock = 64;

// The padded copy of one input plane: `rows` padded rows (padded row r holds input row
// r - pad_top), each `phases` phase rows of `phase_len` floats. Large enough that every block
// may read its whole extent (see plane_sums).
struct PaddedPlane {
  int64_t rows = 0, phases = 1, phase_len = 0;
  int64_t row_floats() const { return phases * phase_len; }
  int64_t floats() const { return rows * row_floats(); }
};

PaddedPlane padded_plane(const ConvGeometry& g) {
  PaddedPlane p;
  // Row blocks cover the output rows in multiples of kMaxRows at most (the rows past the
  // last are computed from zeros and not stored).
  const bool single_row = g.out[1] == 1;
  const int64_t rows_cover = single_row ? 1 : (g.out[1] + kMaxRows - 1) / kMaxRows * kMaxRows;
  p.rows = (rows_cover - 1) * g.stride[1] + (g.kernel[1] - 1) * g.dilation[1] + 1;
  p.phases = g.stride[2];
  // Blocks cover the row in whole multiples of the block width at most; the kernel reaches
  // (kernel - 1) * dilation padded columns further, that is this many phase positions.
  const int64_t block = single_row ? kSingleRowBlock : kMaxBlock;
  const int64_t out_cover = (g.out[2] + block - 1) / block * block;
  p.phase_len = out_cover + (g.kernel[2] - 1) * g.dilation[2] / g.stride[2];
  return p;
}

// Writes input plane `x` into the interior of padded plane `buf`; the rest of `buf` is left as
// it is (zero, from the caller). Input rows and columns that no output reads are skipped.
void copy_plane(const ConvGeometry& g, const PaddedPlane& p, const float* x, float* buf) {
  const int64_t sw = g.stride[2], pad_w = g.pad[2];
  const int64_t iw_end = std::min(g.in[2], p.phases * p.phase_len - pad_w);
  const int64_t ih_end = std::min(g.in[1], p.rows - g.pad[1]);
  if (iw_end <= 0) return;
  for (int64_t ih = 0; ih < ih_end; ++ih) {
    float* row = buf + (ih + g.pad[1]) * p.row_floats();
    const float* src = x + ih * g.in[2];
    if (sw == 1) {
      std::memcpy(row + pad_w, src, static_cast<size_t>(iw_end) * sizeof(float));
      continue;
    }
    // Phase ph holds padded columns j = q * sw + ph, that is input columns j - pad_w.
    for (int64_t ph = 0; ph < sw; ++ph) {
      float* dst = row + ph * p.phase_len;
      const int64_t q_begin = (pad_w - ph + sw - 1) / sw;  // the first q with j >= pad_w
      const int64_t q_end = (iw_end + pad_w - ph + sw - 1) / sw;
      const float* from = src + ph - pad_w;
      if (sw == 2) {  // the common stride, as a constant: a vectorised deinterleave
        for (int64_t q = q_begin; q < q_end; ++q) dst[q] = from[2 * q];
      } else {
        for (int64_t q = q_begin; q < q_end; ++q) dst[q] = from[q * sw];
      }
    }
  }
}

// What one output plane's loop reads besides the padded planes.
struct PlaneArgs {
  int64_t group_channels = 1;   // padded planes to sum over
  int64_t plane_floats = 0;     // distance between them
  int64_t kernel_h = 1;         // kernel rows
  int64_t kernel_w = 1;         // kernel columns (the runtime count when kKw == 0)
  int64_t kernel_row_step = 0;  // floats between the padded rows of consecutive kernel rows
  int64_t out_row_step = 0;     // floats between the padded rows of consecutive output rows
  int64_t out_h = 0, out_w = 0;
  const int64_t* column_offset = nullptr;  // kernel column -> offset in the padded row
};

typedef float Vec8 __attribute__((vector_size(32)));

Vec8 load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// A block of kRows output rows x 8 * kVecs output columns whose top-left output reads padded
// position `src` (phase 0 of the padded row under the first kernel row); the sums stay in
// registers while the kernel window slides. kRows * kVecs = 8 independent sums keep both FMA
// ports busy through the FMA latency, and one weight broadcast serves all of them. kKw > 0 is
// the kernel width known at compile time; kUnitW: kernel column kw reads at offset kw (stride
// and dilation 1 along the row). `rows` and `count` say how much of the block is stored.
template <int kRows, int kVecs, int kKw, bool kUnitW>
inline void block_sums(const PlaneArgs& a, const float* src, const float* w, float bias, float* out,
                       int64_t rows, int64_t count) {
  Vec8 acc[kRows][kVecs];
  for (int r = 0; r < kRows; ++r) {
    for (int v = 0; v < kVecs; ++v) acc[r][v] = Vec8{} + bias;
  }
  const int64_t kernel_w = kKw > 0 ? kKw : a.kernel_w;
  for (int64_t c = 0; c < a.group_channels; ++c) {
    for (int64_t kh = 0; kh < a.kernel_h; ++kh) {
      const float* row = src + c * a.plane_floats + kh * a.kernel_row_step;
      const float* wr = w + (c * a.kernel_h + kh) * kernel_w;
      for (int64_t kw = 0; kw < kernel_w; ++kw) {
        const float weight = wr[kw];
        const float* s = row + (kUnitW ? kw : a.column_offset[kw]);
        for (int r = 0; r < kRows; ++r) {
          for (int v = 0; v < kVecs; ++v) {
            acc[r][v] += weight * load8(s + r * a.out_row_step + 8 * v);
          }
        }
      }
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(out + r * a.out_w, acc[r], static_cast<size_t>(count) * sizeof(float));
  }
}

// Output columns [ow, ow + count) of every row, in blocks of kRows rows.
template <int kRows, int kVecs, int kKw, bool kUnitW>
void column_sums(const PlaneArgs& a, const float* buf, const float* w, float bias, float* y,
                 int64_t ow, int64_t count) {
  for (int64_t oh = 0; oh < a.out_h; oh += kRows) {
    block_sums<kRows, kVecs, kKw, kUnitW>(a, buf + oh * a.out_row_step + ow, w, bias,
                                          y + oh * a.out_w + ow,
                                          std::min<int64_t>(kRows, a.out_h - oh), count);
  }
}

// One output plane from the padded planes at `buf`: columns in blocks of 32, the rest in one
// block of 32, 16 or 8 (the narrowest that covers it). A single output row (every 1-D conv)
// goes in blocks of 1 x 64 instead, where the 2-row blocks would compute a row of zeros.
template <int kKw, bool kUnitW>
void plane_sums(const PlaneArgs& a, const float* buf, const float* w, float bias, float* y) {
  if (a.out_h == 1) {
    for (int64_t ow = 0; ow < a.out_w; ow += kSingleRowBlock) {
      column_sums<1, kSingleRowBlock / 8, kKw, kUnitW>(
          a, buf, w, bias, y, ow, std::min<int64_t>(kSingleRowBlock, a.out_w - ow));
    }
    return;
  }
  int64_t ow = 0;
  for (; a.out_w - ow > 16; ow += 32) {
    column_sums<2, 4, kKw, kUnitW>(a, buf, w, bias, y, ow, std::min<int64_t>(32, a.out_w - ow));
  }
  const int64_t rest = a.out_w - ow;
  if (rest > 8) {
    column_sums<4, 2, kKw, kUnitW>(a, buf, w, bias, y, ow, rest);
  } else if (rest > 0) {
    column_sums<8, 1, kKw, kUnitW>(a, buf, w, bias, y, ow, rest);
  }
}

using PlaneFn = void (*)(const PlaneArgs&, const float*, const float*, float, float*);

template <bool kUnitW>
PlaneFn plane_fn(int64_t kernel_w) {
  switch (kernel_w) {
    case 3:
      return plane_sums<3, kUnitW>;
    case 5:
      return plane_sums<5, kUnitW>;
    case 7:
      return plane_sums<7, kUnitW>;
    default:
      return plane_sums<0, kUnitW>;
  }
}

}  // namespace

bool conv_direct_applies(const ConvGeometry& g) {
  return g.group > 1 && g.group_in() <= kMaxGroupChannels && g.in[0] == 1 && g.kernel[0] == 1 &&
         g.out[0] == 1;
}

void conv_direct(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                 float* y) {
  const PaddedPlane p = padded_plane(g);
  const int64_t cg = g.group_in(), mg = g.group_out();
  std::vector<int64_t> column_offset(static_cast<size_t>(g.kernel[2]));
  for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
    const int64_t j = kw * g.dilation[2];
    column_offset[kw] = (j % g.stride[2]) * p.phase_len + j / g.stride[2];
  }
  PlaneArgs a;
  a.group_channels = cg;
  a.plane_floats = p.floats();
  a.kernel_h = g.kernel[1];
  a.kernel_w = g.kernel[2];
  a.kernel_row_step = g.dilation[1] * p.row_floats();
  a.out_row_step = g.stride[1] * p.row_floats();
  a.out_h = g.out[1];
  a.out_w = g.out[2];
  a.column_offset = column_offset.data();
  const bool unit_w = g.stride[2] == 1 && g.dilation[2] == 1;
  const PlaneFn fn = unit_w ? plane_fn<true>(g.kernel[2]) : plane_fn<false>(g.kernel[2]);
  const int64_t ks = g.kernel_size(), os = g.out_size();
  // Enough (image, group) tasks per thread to be worth a thread: ~64k multiply-adds.
  const int64_t task_macs = std::max<int64_t>(1, mg * cg * ks * os);
  parallel_for(g.batch * g.group, std::max<int64_t>(1, 65536 / task_macs),
               [&](int64_t begin, int64_t end) {
                 // Zeroed once: every task rewrites the same interior positions.
                 std::vector<float> buf(static_cast<size_t>(cg * p.floats()), 0.0f);
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t n = t / g.group, group = t % g.group;
                   for (int64_t c = 0; c < cg; ++c) {
                     copy_plane(g, p, x + (n * g.channels + group * cg + c) * g.in_size(),
                                buf.data() + c * p.floats());
                   }
                   for (int64_t j = 0; j < mg; ++j) {
                     const int64_t m = group * mg + j;
                     fn(a, buf.data(), w + m * cg * ks, bias != nullptr ? bias[m] : 0.0f,
                        y + (n * g.out_channels + m) * os);
                   }
                 }
               });
}

}  // namespace vitrt
