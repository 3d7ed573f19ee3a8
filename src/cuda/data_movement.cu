// Data movement kernels: the strided copy behind Transpose/Slice/Expand/Tile/Concat/Split,
// Gather, ArgMax, Pad, MaxPool, and the patch layouts of a convolution (patchify, im2col).
#include <algorithm>
#include <type_traits>

#include "cuda/device_common.cuh"
#include "cuda/env_switch.h"

namespace vitrt::cuda {
namespace {

// kDstFlat: the destination is contiguous (Transpose, Slice, Expand, Tile), so only the
// source needs index math.
template <typename T, typename I, bool kDstFlat>
__global__ void copy_strided_kernel(const T* src, StridedView vsrc, T* dst, StridedView vdst,
                                    int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const int64_t d = kDstFlat ? i : view_offset_t<I>(vdst, static_cast<I>(i));
    dst[d] = src[view_offset_t<I>(vsrc, static_cast<I>(i))];
  }
}

// A batch of 2-D transposes through shared memory: src [batch, q, p] contiguous to dst
// [batch, p, q] contiguous (NCHW <-> NHWC, [B, S, C] <-> [B, C, S]). The strided copy would read
// one of the two sides with a stride; here both sides move whole 32-element rows.
constexpr int kTile = 32, kTileRows = 8;

template <typename T>
__global__ void transpose_tiled_kernel(const T* __restrict__ src, T* __restrict__ dst,
                                       int64_t batch, int64_t q, int64_t p) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t p0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t q0 = static_cast<int64_t>(blockIdx.y) * kTile;
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z) {
    const T* s = src + b * q * p;
    T* d = dst + b * q * p;
    for (int j = threadIdx.y; j < kTile; j += kTileRows) {
      const int64_t qi = q0 + j, pi = p0 + threadIdx.x;
      if (qi < q && pi < p) tile[j][threadIdx.x] = s[qi * p + pi];
    }
    __syncthreads();
    for (int j = threadIdx.y; j < kTile; j += kTileRows) {
      const int64_t pi = p0 + j, qi = q0 + threadIdx.x;
      if (pi < p && qi < q) d[pi * q + qi] = tile[threadIdx.x][j];
    }
    __syncthreads();
  }
}

// Whether the copy of (coalesced) source view `s` into a contiguous destination is such a batch
// of transposes: dims [batch?, p, q] with strides [q * p, 1, p]. Sets batch, q, p.
bool is_batched_transpose(const StridedView& s, int64_t* batch, int64_t* q, int64_t* p) {
  if (s.rank < 2 || s.rank > 3) return false;
  const int r = s.rank;
  *p = s.dims[r - 2];
  *q = s.dims[r - 1];
  *batch = r == 3 ? s.dims[0] : 1;
  if (s.strides[r - 2] != 1 || s.strides[r - 1] != *p) return false;
  if (r == 3 && s.strides[0] != *p * *q) return false;
  // Tiles along p and q must fit the grid; tiny inner dims gain nothing from tiling.
  return *p >= 8 && *q >= 8 && (*q + kTile - 1) / kTile <= 65535;
}

bool is_flat(const StridedView& v) {
  int64_t s = 1;
  for (int d = v.rank - 1; d >= 0; --d) {
    if (v.strides[d] != s) return false;
    s *= v.dims[d];
  }
  return v.base == 0;
}

template <typename T, typename I>
__global__ void gather_kernel(const T* data, int64_t axis_dim, int64_t inner, const I* idx,
                              int64_t n_idx, T* out, int64_t n, IndexError err) {
  VITRT_GRID_STRIDE(i, n) {
    const int64_t in_i = i % inner;
    const int64_t j = (i / inner) % n_idx;
    const int64_t o = i / (inner * n_idx);
    int64_t k = static_cast<int64_t>(idx[j]);
    if (k < 0) k += axis_dim;
    const bool ok = k >= 0 && k < axis_dim;
    out[i] = ok ? data[(o * axis_dim + k) * inner + in_i] : T{};
    if (!ok) report_index_error(err);
  }
}

template <typename T>
__global__ void gather_nd_kernel(const T* data, const int64_t* idx, GatherNdArgs a, T* out,
                                 IndexError err) {
  VITRT_GRID_STRIDE(i, a.n_tuples * a.slice) {
    const int64_t t = i / a.slice, e = i % a.slice;
    int64_t off = (t / a.per_batch) * a.batch_stride;
    bool ok = true;
    for (int j = 0; j < a.k; ++j) {
      int64_t x = idx[t * a.k + j];
      if (x < 0) x += a.dims[j];
      ok = ok && x >= 0 && x < a.dims[j];
      off += x * a.strides[j];
    }
    out[i] = ok ? data[off + e] : T{};
    if (!ok) report_index_error(err);
  }
}

// kMin: ArgMin. The first extremum wins, as in the CPU kernel.
template <typename T, bool kMin>
__global__ void argmax_kernel(const T* in, int64_t outer, int64_t r, int64_t inner, int64_t* out) {
  VITRT_GRID_STRIDE(i, outer * inner) {
    const int64_t o = i / inner;
    const int64_t in_i = i % inner;
    const T* p = in + o * r * inner + in_i;
    int64_t best = 0;
    float best_v = to_f(p[0]);
    for (int64_t k = 1; k < r; ++k) {
      const float v = to_f(p[k * inner]);
      if (kMin ? v < best_v : v > best_v) {
        best_v = v;
        best = k;
      }
    }
    out[i] = best;
  }
}

// Integer inputs (token ids) compare as integers: float would lose ids above 2^24.
template <typename T, bool kMin>
__global__ void argmax_int_kernel(const T* in, int64_t outer, int64_t r, int64_t inner,
                                  int64_t* out) {
  VITRT_GRID_STRIDE(i, outer * inner) {
    const T* p = in + (i / inner) * r * inner + (i % inner);
    int64_t best = 0;
    for (int64_t k = 1; k < r; ++k) {
      if (kMin ? p[k * inner] < p[best * inner] : p[k * inner] > p[best * inner]) best = k;
    }
    out[i] = best;
  }
}

// i enumerates the output's elements, each image's `prefix` zero rows included. TI -> TO
// converts (the plan's fp32 input read directly by a 16-bit plan).
template <typename TI, typename TO>
__global__ void patchify_kernel(const TI* in, TO* out, int64_t c, int64_t h, int64_t w, int64_t ph,
                                int64_t pw, int64_t prefix, int64_t n) {
  const int64_t gw = w / pw;
  const int64_t k = c * ph * pw;
  const int64_t p = (h / ph) * gw;
  VITRT_GRID_STRIDE(i, n) {
    const int64_t f = i % k;
    const int64_t row = (i / k) % (prefix + p);
    const int64_t b = i / (k * (prefix + p));
    if (row < prefix) {
      out[i] = from_f<TO>(0.0f);
      continue;
    }
    const int64_t patch = row - prefix;
    const int64_t ch = f / (ph * pw);
    const int64_t pi = (f / pw) % ph;
    const int64_t pj = f % pw;
    const int64_t y = (patch / gw) * ph + pi;
    const int64_t x = (patch % gw) * pw + pj;
    out[i] = from_f<TO>(to_f(in[((b * c + ch) * h + y) * w + x]));
  }
}

// 16 bytes of TI (at most 8 elements) as TO, stored in one piece.
template <typename TI, typename TO>
__device__ __forceinline__ void convert_chunk(const TI* src, TO* dst) {
  constexpr int kN = 16 / sizeof(TI);
  if constexpr (std::is_same_v<TI, TO>) {
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
  } else {
    const uint4 raw = *reinterpret_cast<const uint4*>(src);
    const TI* v = reinterpret_cast<const TI*>(&raw);
    struct alignas(kN * sizeof(TO)) Out {
      TO e[kN];
    } o;
#pragma unroll
    for (int j = 0; j < kN; ++j) o.e[j] = from_f<TO>(to_f(v[j]));
    *reinterpret_cast<Out*>(dst) = o;
  }
}

// Each image's `prefix` zero rows of k elements (before its p patch rows), over the grid.
template <typename TO>
__device__ __forceinline__ void zero_prefix_rows(TO* out, uint32_t batch, uint32_t prefix,
                                                 uint32_t p, uint32_t k) {
  const uint32_t zeros = prefix * k;  // per image
  for (uint32_t z = blockIdx.x * blockDim.x + threadIdx.x; z < batch * zeros;
       z += gridDim.x * blockDim.x) {
    out[int64_t(z / zeros) * (prefix + p) * k + z % zeros] = from_f<TO>(0.0f);
  }
}

// The same with one thread per patch row (pw contiguous elements in both layouts): the index
// math is paid once per row instead of once per element, and rows of whole 16-byte vectors of
// the input move as vectors (converted on the way when TI is not TO).
// Each image's `prefix` zero rows come first: threads past the patch rows write them.
template <typename TI, typename TO, bool kVec16>
__global__ void patchify_rows_kernel(const TI* in, TO* out, uint32_t c, uint32_t h, uint32_t w,
                                     uint32_t ph, uint32_t pw, uint32_t rows, uint32_t prefix,
                                     uint32_t batch) {
  const uint32_t gw = w / pw, p = (h / ph) * gw;
  const uint32_t k = c * ph * pw;
  zero_prefix_rows(out, batch, prefix, p, k);
  for (uint32_t r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x) {
    // r enumerates (b, patch, ch, pi) in the output's order.
    const uint32_t pi = r % ph;
    const uint32_t ch = (r / ph) % c;
    const uint32_t patch = (r / (ph * c)) % p;
    const uint32_t b = r / (ph * c * p);
    const uint32_t y = (patch / gw) * ph + pi, x = (patch % gw) * pw;
    const TI* src = in + ((int64_t(b) * c + ch) * h + y) * w + x;
    TO* dst = out + (int64_t(r) + int64_t(b + 1) * prefix * c * ph) * pw;
    if constexpr (kVec16) {
      constexpr uint32_t kPer = 16 / sizeof(TI);
      for (uint32_t j = 0; j < pw; j += kPer) convert_chunk(src + j, dst + j);
    } else {
      for (uint32_t j = 0; j < pw; ++j) dst[j] = from_f<TO>(to_f(src[j]));
    }
  }
}

// The same with one thread per 16 bytes of output (16 / sizeof(TO) elements of one patch row),
// threads in the input's order: consecutive threads read consecutive pieces of an image row (the
// rows kernel above had a warp's loads on 32 image rows and 8-byte stores 32 bytes apart), and
// each patch row's pieces are stored whole. Needs pw a multiple of the piece and image rows of
// whole 16-byte vectors; `rows` counts (b, ch, y) image rows inside whole patches.
template <typename TI, typename TO>
__global__ void patchify_pieces_kernel(const TI* in, TO* out, uint32_t c, uint32_t h, uint32_t w,
                                       uint32_t ph, uint32_t pw, uint32_t rows, uint32_t prefix,
                                       uint32_t batch) {
  constexpr uint32_t kPiece = 16 / sizeof(TO);
  const uint32_t gw = w / pw, gh = h / ph, p = gh * gw;
  const uint32_t k = c * ph * pw;
  zero_prefix_rows(out, batch, prefix, p, k);
  const uint32_t per_row = gw * pw / kPiece;  // pieces of one image row inside whole patches
  const uint32_t n = rows * per_row;
  for (uint32_t q = blockIdx.x * blockDim.x + threadIdx.x; q < n; q += gridDim.x * blockDim.x) {
    const uint32_t r = q / per_row, x = (q % per_row) * kPiece;
    const uint32_t y = r % (gh * ph), ch = (r / (gh * ph)) % c, b = r / (gh * ph * c);
    const uint32_t patch = (y / ph) * gw + x / pw;
    const TI* src = in + ((int64_t(b) * c + ch) * h + y) * w + x;
    TO* dst =
        out + (int64_t(b) * (prefix + p) + prefix + patch) * k + (ch * ph + y % ph) * pw + x % pw;
    if constexpr (std::is_same_v<TI, TO>) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    } else {  // fp32 in, 16-bit out: two 16-byte input vectors a piece
      static_assert(sizeof(TI) == 2 * sizeof(TO));
      convert_chunk(src, dst);
      convert_chunk(src + 16 / sizeof(TI), dst + 16 / sizeof(TI));
    }
  }
}

// Whether launch_patchify takes patchify_pieces_kernel where it applies: on unless
// VITRT_PATCHIFY_PIECES=0 (for comparisons; bench/gpu/RESULTS.md, session 44: ViT-B/16's
// batch-256 image 0.150 -> 0.103 ms against the rows kernel).
bool patchify_pieces_enabled() {
  static const bool on = env_switch_on("VITRT_PATCHIFY_PIECES");
  return on;
}

template <typename T>
__global__ void patch_to_nchw_kernel(const T* in, const T* bias, T* out, int64_t p, int64_t d,
                                     int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    const int64_t pp = i % p;
    const int64_t dd = (i / p) % d;
    const int64_t b = i / (p * d);
    float v = to_f(in[(b * p + pp) * d + dd]);
    if (bias != nullptr) v += to_f(bias[dd]);
    out[i] = from_f<T>(v);
  }
}

template <typename F>
cudaError_t dispatch_bytes(int elem_bytes, F&& f) {
  switch (elem_bytes) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
    case 16:
      return f(uint4{});
    default:
      return cudaErrorInvalidValue;
  }
}

// Widens the element of a copy whose innermost dim is contiguous on both sides to up to 16
// bytes (a [B, 196, 768] fp16 block copied into [B, 197, 768] moves as 16-byte vectors, not
// 2-byte elements): every stride, base and the inner length must be whole wide elements, and
// both pointers aligned to them. Returns the new element size.
int widen_copy(int elem_bytes, const void* src, StridedView& s, const void* dst, StridedView& d) {
  if (s.rank == 0 || s.strides[s.rank - 1] != 1 || d.strides[d.rank - 1] != 1) return elem_bytes;
  for (int wide = 16; wide > elem_bytes; wide /= 2) {
    const int64_t k = wide / elem_bytes;
    bool ok = s.dims[s.rank - 1] % k == 0 && s.base % k == 0 && d.base % k == 0 &&
              reinterpret_cast<uintptr_t>(src) % wide == 0 &&
              reinterpret_cast<uintptr_t>(dst) % wide == 0;
    for (int i = 0; i + 1 < s.rank && ok; ++i) ok = s.strides[i] % k == 0 && d.strides[i] % k == 0;
    if (!ok) continue;
    for (StridedView* v : {&s, &d}) {
      v->dims[v->rank - 1] /= k;
      for (int i = 0; i + 1 < v->rank; ++i) v->strides[i] /= k;
      v->base /= k;
    }
    return wide;
  }
  return elem_bytes;
}

// The source coordinate of output coordinate o on an axis of `dim` elements padded by
// `before`, or -1 for the fill value (the CPU kernel's source_coordinate, src/cpu/pad.cc).
__device__ __forceinline__ int64_t pad_source(PadMode mode, int64_t o, int64_t before,
                                              int64_t dim) {
  int64_t c = o - before;
  if (c >= 0 && c < dim) return c;
  switch (mode) {
    case PadMode::kEdge:
      return c < 0 ? 0 : dim - 1;
    case PadMode::kWrap:
      return ((c % dim) + dim) % dim;
    case PadMode::kReflect: {
      if (dim == 1) return 0;
      const int64_t period = 2 * (dim - 1);
      c = ((c % period) + period) % period;
      return c < dim ? c : period - c;
    }
    default:
      return -1;
  }
}

template <typename T>
__global__ void pad_kernel(PadArgs a, const T* in, T* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    int64_t rem = i, off = 0, stride = 1;
    bool fill = false;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int64_t o = rem % a.out_dims[d];
      rem /= a.out_dims[d];
      const int64_t c = pad_source(a.mode, o, a.before[d], a.in_dims[d]);
      fill = fill || c < 0;
      off += c * stride;
      stride *= a.in_dims[d];
    }
    out[i] = fill ? from_f<T>(a.fill) : in[off];
  }
}

template <typename T>
__global__ void merge_groups_kernel(MergeGroupsArgs a, const T* in, T* out, int64_t n) {
  const int64_t width = a.m * a.cg;
  VITRT_GRID_STRIDE(i, n) {
    const int64_t row = i / width, slot = (i % width) / a.cg, c = i % a.cg;
    const int64_t o = row / a.taps;
    out[i] = slot == (o / a.dg) % a.m ? in[row * a.cg + c] : from_f<T>(0.0f);
  }
}

template <typename T>
__global__ void max_pool_kernel(MaxPoolArgs a, const T* in, T* out, int64_t n) {
  VITRT_GRID_STRIDE(i, n) {
    int64_t o[3] = {0, 0, 0};
    int64_t rem = i;
    for (int d = a.spatial - 1; d >= 0; --d) {
      o[d] = rem % a.out_dims[d];
      rem /= a.out_dims[d];
    }
    const int64_t in_plane = a.in_dims[0] * a.in_dims[1] * a.in_dims[2];
    const T* x = in + rem * in_plane;
    float best = -INFINITY, sum = 0.0f;
    int64_t count = 0;
    for (int64_t k0 = 0; k0 < a.kernel[0]; ++k0) {
      const int64_t i0 = o[0] * a.stride[0] - a.pad_begin[0] + k0 * a.dilation[0];
      if (i0 < 0 || i0 >= a.in_dims[0]) continue;
      for (int64_t k1 = 0; k1 < a.kernel[1]; ++k1) {
        const int64_t i1 = o[1] * a.stride[1] - a.pad_begin[1] + k1 * a.dilation[1];
        if (i1 < 0 || i1 >= a.in_dims[1]) continue;
        for (int64_t k2 = 0; k2 < a.kernel[2]; ++k2) {
          const int64_t i2 = o[2] * a.stride[2] - a.pad_begin[2] + k2 * a.dilation[2];
          if (i2 < 0 || i2 >= a.in_dims[2]) continue;
          const float v = to_f(x[(i0 * a.in_dims[1] + i1) * a.in_dims[2] + i2]);
          if (v > best) best = v;  // as the CPU kernel: a NaN never replaces the maximum
          sum += v;
          ++count;
        }
      }
    }
    if (!a.average) {
      out[i] = from_f<T>(best);
      continue;
    }
    if (a.count_include_pad) {
      // Taps inside the padded input, axis by axis (the window is a box).
      count = 1;
      for (int d = 0; d < 3; ++d) {
        int64_t c = 0;
        for (int64_t k = 0; k < a.kernel[d]; ++k) {
          const int64_t p = o[d] * a.stride[d] - a.pad_begin[d] + k * a.dilation[d];
          c += p >= -a.pad_begin[d] && p < a.in_dims[d] + a.pad_end[d];
        }
        count *= c;
      }
    }
    out[i] = from_f<T>(count > 0 ? sum / static_cast<float>(count) : 0.0f);
  }
}

template <typename T>
__global__ void im2col_kernel(Im2colArgs a, const T* in, T* out, int64_t n) {
  const int64_t k = a.c * a.kh * a.kw;
  VITRT_GRID_STRIDE(i, n) {
    const int64_t f = i % k;
    const int64_t p = (i / k) % (a.oh * a.ow);
    const int64_t b = i / (k * a.oh * a.ow);
    const int64_t ch = f / (a.kh * a.kw);
    const int64_t y = (p / a.ow) * a.sh - a.ph + ((f / a.kw) % a.kh) * a.dh;
    const int64_t x = (p % a.ow) * a.sw - a.pw + (f % a.kw) * a.dw;
    const bool inside = y >= 0 && y < a.h && x >= 0 && x < a.w;
    out[i] = inside ? in[((b * a.c + ch) * a.h + y) * a.w + x] : from_f<T>(0.0f);
  }
}

// NHWC im2col in units of V (a vector of elements: 16 bytes where the channel runs allow, else
// one element): out[r, (i * kw + j) * cg + k] = x[n, iy, ix, c0 + k] for output pixel
// p = p0 + r, zero outside the image.
template <typename V>
__global__ void im2col_nhwc_kernel(Im2colNhwcArgs a, const V* in, V* out, int64_t n) {
  const int64_t cg = a.cg, taps = a.geom.kh * a.geom.kw;
  const Im2colArgs& g = a.geom;
  VITRT_GRID_STRIDE(i, n) {
    const int64_t k = i % cg;
    const int64_t tap = (i / cg) % taps;
    const int64_t p = a.p0 + i / (cg * taps);
    const int64_t ox = p % g.ow, oy = (p / g.ow) % g.oh, b = p / (g.ow * g.oh);
    const int64_t y = oy * g.sh - g.ph + (tap / g.kw) * g.dh;
    const int64_t x = ox * g.sw - g.pw + (tap % g.kw) * g.dw;
    if (y >= 0 && y < g.h && x >= 0 && x < g.w) {
      out[i] = in[((b * g.h + y) * g.w + x) * a.c_stride + a.c0 + k];
    } else {
      out[i] = V{};
    }
  }
}

// Floor division for a possibly negative numerator and a positive divisor.
__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((b - 1 - a) / b);
}

template <typename T>
__global__ void conv_transpose_kernel(ConvDirectArgs a, const T* x, const T* w, const T* bias, T* y,
                                      int64_t n) {
  const Im2colArgs& g = a.geom;
  const int64_t cpg = g.c / a.group, dpg = a.d / a.group;
  VITRT_GRID_STRIDE(i, n) {
    const int64_t ox = i % g.ow;
    const int64_t oy = (i / g.ow) % g.oh;
    const int64_t o = (i / (g.ow * g.oh)) % a.d;
    const int64_t b = i / (g.ow * g.oh * a.d);
    const int64_t c0 = (o / dpg) * cpg, om = o % dpg;
    float acc = bias != nullptr ? to_f(bias[o]) : 0.0f;
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const int64_t ty = oy + g.ph - ki * g.dh;  // = iy * sh when a tap lands here
      const int64_t iy = floor_div(ty, g.sh);
      if (iy * g.sh != ty || iy < 0 || iy >= g.h) continue;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const int64_t tx = ox + g.pw - kj * g.dw;
        const int64_t ix = floor_div(tx, g.sw);
        if (ix * g.sw != tx || ix < 0 || ix >= g.w) continue;
        const T* xp = x + ((b * g.c + c0) * g.h + iy) * g.w + ix;
        const T* wp = w + ((c0 * dpg + om) * g.kh + ki) * g.kw + kj;
        for (int64_t ci = 0; ci < cpg; ++ci) {
          acc += to_f(xp[ci * g.h * g.w]) * to_f(wp[ci * dpg * g.kh * g.kw]);
        }
      }
    }
    y[i] = from_f<T>(acc);
  }
}

template <typename T>
__global__ void col2im_kernel(Col2ImArgs a, const T* x, T* y, int64_t n) {
  const int64_t image_size = a.image[0] * a.image[1] * a.image[2];
  VITRT_GRID_STRIDE(i, n) {
    const int64_t p = i / image_size;
    const int64_t pos[3] = {(i / (a.image[1] * a.image[2])) % a.image[0],
                            (i / a.image[2]) % a.image[1], i % a.image[2]};
    const T* xp = x + p * a.kernel * a.length;
    float acc = 0.0f;
    int64_t k = 0;
    for (int64_t k0 = 0; k0 < a.block[0]; ++k0) {
      for (int64_t k1 = 0; k1 < a.block[1]; ++k1) {
        for (int64_t k2 = 0; k2 < a.block[2]; ++k2, ++k) {
          const int64_t ks[3] = {k0, k1, k2};
          int64_t l = 0;
          bool hit = true;
          for (int d = 0; d < 3 && hit; ++d) {
            const int64_t t = pos[d] + a.pad[d] - ks[d] * a.dil[d];  // = l[d] * stride[d]
            const int64_t ld = floor_div(t, a.stride[d]);
            hit = ld * a.stride[d] == t && ld >= 0 && ld < a.grid[d];
            l = l * a.grid[d] + ld;
          }
          if (hit) acc += to_f(xp[k * a.length + l]);
        }
      }
    }
    y[i] = from_f<T>(acc);
  }
}

template <typename T, typename I>
__global__ void gather_elements_kernel(const T* data, const I* indices, GatherElementsArgs a,
                                       T* out, int64_t n, IndexError err) {
  VITRT_GRID_STRIDE(i, n) {
    int64_t rest = i, off = 0;
    for (int d = a.rank - 1; d >= 0; --d) {
      const int64_t c = rest % a.dims[d];
      rest /= a.dims[d];
      if (d != a.axis) off += c * a.data_strides[d];
    }
    int64_t j = static_cast<int64_t>(indices[i]);
    if (j < 0) j += a.axis_dim;
    const bool ok = j >= 0 && j < a.axis_dim;
    out[i] = ok ? data[off + j * a.data_strides[a.axis]] : T{};
    if (!ok) report_index_error(err);
  }
}

// Whether (va, ia) comes before (vb, ib) in TopK's order.
__device__ __forceinline__ bool topk_before(float va, int64_t ia, float vb, int64_t ib,
                                            bool largest) {
  if (va != vb) return largest ? va > vb : va < vb;
  return ia < ib;
}

// One thread per (outer, inner) column: k selection scans, each picking the first element in
// TopK's order after the previous pick (k is small: detection heads, top-5 labels).
template <typename T>
__global__ void topk_kernel(const T* in, T* values, int64_t* indices, int64_t outer, int64_t r,
                            int64_t inner, int64_t k, bool largest) {
  VITRT_GRID_STRIDE(i, outer * inner) {
    const int64_t o = i / inner, j = i % inner;
    const T* x = in + o * r * inner + j;
    float pv = 0.0f;
    int64_t pi = -1;
    for (int64_t s = 0; s < k; ++s) {
      float bv = 0.0f;
      int64_t bi = -1;
      for (int64_t t = 0; t < r; ++t) {
        const float v = to_f(x[t * inner]);
        if (pi >= 0 && !topk_before(pv, pi, v, t, largest)) continue;
        if (bi < 0 || topk_before(v, t, bv, bi, largest)) {
          bv = v;
          bi = t;
        }
      }
      values[(o * k + s) * inner + j] = x[bi * inner];
      indices[(o * k + s) * inner + j] = bi;
      pv = bv;
      pi = bi;
    }
  }
}

// One thread per (outer, inner) column.
template <typename T>
__global__ void cumsum_kernel(const T* in, T* out, int64_t outer, int64_t r, int64_t inner,
                              bool exclusive, bool reverse) {
  using A = std::conditional_t<kIsFloat<T>, float, T>;
  VITRT_GRID_STRIDE(i, outer * inner) {
    const int64_t base = (i / inner) * r * inner + (i % inner);
    A acc = A(0);
    for (int64_t k = 0; k < r; ++k) {
      const int64_t at = base + (reverse ? r - 1 - k : k) * inner;
      A v;
      if constexpr (kIsFloat<T>) {
        v = to_f(in[at]);
      } else {
        v = in[at];
      }
      const A next = acc + v;
      const A y = exclusive ? acc : next;
      if constexpr (kIsFloat<T>) {
        out[at] = from_f<T>(y);
      } else {
        out[at] = y;
      }
      acc = next;
    }
  }
}

}  // namespace

cudaError_t launch_copy_strided(int elem_bytes, const void* src, const StridedView& vsrc, void* dst,
                                const StridedView& vdst, cudaStream_t stream) {
  const int64_t n = view_numel(vsrc);
  if (n == 0) return cudaSuccess;
  StridedView s = vsrc, d = vdst;
  StridedView* views[] = {&s, &d};
  coalesce(views, 2);
  const int wide = widen_copy(elem_bytes, src, s, dst, d);
  return dispatch_bytes(wide, [&](auto tag) {
    using T = decltype(tag);
    const T* in = static_cast<const T*>(src);
    T* out = static_cast<T*>(dst);
    const int64_t count = view_numel(s);  // in wide elements
    const bool flat = is_flat(d);
    int64_t batch = 0, q = 0, p = 0;
    if (flat && is_batched_transpose(s, &batch, &q, &p)) {
      const dim3 grid(static_cast<unsigned>((p + kTile - 1) / kTile),
                      static_cast<unsigned>((q + kTile - 1) / kTile),
                      static_cast<unsigned>(std::min<int64_t>(batch, 65535)));
      transpose_tiled_kernel<T>
          <<<grid, dim3(kTile, kTileRows), 0, stream>>>(in + s.base, out, batch, q, p);
    } else if (fits_u32(count) && flat) {
      copy_strided_kernel<T, uint32_t, true>
          <<<grid_for(count, 256), 256, 0, stream>>>(in, s, out, d, count);
    } else if (fits_u32(count)) {
      copy_strided_kernel<T, uint32_t, false>
          <<<grid_for(count, 256), 256, 0, stream>>>(in, s, out, d, count);
    } else {
      copy_strided_kernel<T, int64_t, false>
          <<<grid_for(count, 256), 256, 0, stream>>>(in, s, out, d, count);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_gather(int elem_bytes, const void* data, int64_t outer, int64_t axis_dim,
                          int64_t inner, const void* indices, bool indices_i64, int64_t n_idx,
                          void* out, IndexError err, cudaStream_t stream) {
  if (outer * n_idx * inner == 0) return cudaSuccess;
  // Whole rows move as the widest unit (up to 16 bytes) that divides the row and both
  // pointers' alignment: CLIP text's token embedding (19,712 rows of 512 fp16 at batch 256)
  // took 0.1 ms as 2-byte elements.
  const auto addr = [](const void* p) { return reinterpret_cast<uintptr_t>(p); };
  int unit = elem_bytes;
  for (int w = 16; w > elem_bytes; w /= 2) {
    if ((inner * elem_bytes) % w == 0 && addr(data) % w == 0 && addr(out) % w == 0) {
      unit = w;
      break;
    }
  }
  inner = inner * elem_bytes / unit;
  const int64_t n = outer * n_idx * inner;
  return dispatch_bytes(unit, [&](auto tag) {
    using T = decltype(tag);
    if (indices_i64) {
      gather_kernel<T, int64_t><<<grid_for(n, 256), 256, 0, stream>>>(
          static_cast<const T*>(data), axis_dim, inner, static_cast<const int64_t*>(indices), n_idx,
          static_cast<T*>(out), n, err);
    } else {
      gather_kernel<T, int32_t><<<grid_for(n, 256), 256, 0, stream>>>(
          static_cast<const T*>(data), axis_dim, inner, static_cast<const int32_t*>(indices), n_idx,
          static_cast<T*>(out), n, err);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_gather_nd(int elem_bytes, const void* data, const void* indices,
                             const GatherNdArgs& args, void* out, IndexError err,
                             cudaStream_t stream) {
  const int64_t n = args.n_tuples * args.slice;
  if (n == 0) return cudaSuccess;
  return dispatch_bytes(elem_bytes, [&](auto tag) {
    using T = decltype(tag);
    gather_nd_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(static_cast<const T*>(data),
                                                              static_cast<const int64_t*>(indices),
                                                              args, static_cast<T*>(out), err);
    return cudaGetLastError();
  });
}

template <bool kMin>
cudaError_t launch_arg_extremum(Elt type, const void* in, int64_t outer, int64_t r, int64_t inner,
                                void* out, cudaStream_t stream) {
  const int64_t n = outer * inner;
  if (n == 0 || r == 0) return cudaSuccess;
  if (type == Elt::kI64) {
    argmax_int_kernel<int64_t, kMin><<<grid_for(n, 256), 256, 0, stream>>>(
        static_cast<const int64_t*>(in), outer, r, inner, static_cast<int64_t*>(out));
    return cudaGetLastError();
  }
  if (type == Elt::kI32) {
    argmax_int_kernel<int32_t, kMin><<<grid_for(n, 256), 256, 0, stream>>>(
        static_cast<const int32_t*>(in), outer, r, inner, static_cast<int64_t*>(out));
    return cudaGetLastError();
  }
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    argmax_kernel<T, kMin><<<grid_for(n, 256), 256, 0, stream>>>(
        static_cast<const T*>(in), outer, r, inner, static_cast<int64_t*>(out));
    return cudaGetLastError();
  });
}

cudaError_t launch_argmax(Elt type, const void* in, int64_t outer, int64_t r, int64_t inner,
                          void* out, cudaStream_t stream, bool min) {
  return min ? launch_arg_extremum<true>(type, in, outer, r, inner, out, stream)
             : launch_arg_extremum<false>(type, in, outer, r, inner, out, stream);
}

cudaError_t launch_patchify(Elt type, Elt out_type, const void* in, void* out, int64_t b, int64_t c,
                            int64_t h, int64_t w, int64_t ph, int64_t pw, cudaStream_t stream,
                            int64_t prefix) {
  // Patch elements: the rows and columns past the last whole patch are cut, as Conv does.
  const int64_t n = b * c * (h / ph * ph) * (w / pw * pw);
  const int64_t total = n + b * prefix * c * ph * pw;  // with the prefix rows
  if (total == 0) return cudaSuccess;
  // Only fp32 -> a 16-bit type converts; otherwise the two types are one.
  if (out_type != type && (type != Elt::kF32 || out_type == Elt::kF32)) {
    return cudaErrorInvalidValue;
  }
  return dispatch_float(type, [&](auto in_tag) {
    using TI = decltype(in_tag);
    return dispatch_float(out_type, [&](auto out_tag) -> cudaError_t {
      using TO = decltype(out_tag);
      if constexpr (!std::is_same_v<TI, TO> && !std::is_same_v<TI, float>) {
        return cudaErrorInvalidValue;
      } else {
        const int64_t rows = n / pw;
        const TI* x = static_cast<const TI*>(in);
        TO* y = static_cast<TO*>(out);
        constexpr int64_t kPiece = 16 / int64_t(sizeof(TO));
        const int64_t image_rows = b * c * (h / ph * ph);
        if (patchify_pieces_enabled() && n > 0 && total < (int64_t(1) << 31) && pw % kPiece == 0 &&
            (w * int64_t(sizeof(TI))) % 16 == 0 && aligned16(in) && aligned16(out)) {
          const auto u = [](int64_t v) { return static_cast<uint32_t>(v); };
          patchify_pieces_kernel<TI, TO>
              <<<grid_for(std::max(n / kPiece, b * prefix * c * ph * pw), 256), 256, 0, stream>>>(
                  x, y, u(c), u(h), u(w), u(ph), u(pw), u(image_rows), u(prefix), u(b));
          return cudaGetLastError();
        }
        if (n > 0 && total < (int64_t(1) << 31)) {
          // Whole 16-byte input vectors, each stored as one piece of 16 / sizeof(TI) outputs.
          constexpr int64_t kOutChunk = 16 / int64_t(sizeof(TI)) * int64_t(sizeof(TO));
          const bool vec = (pw * int64_t(sizeof(TI))) % 16 == 0 &&
                           (w * int64_t(sizeof(TI))) % 16 == 0 && aligned16(in) &&
                           (pw * int64_t(sizeof(TO))) % kOutChunk == 0 &&
                           reinterpret_cast<uintptr_t>(out) % kOutChunk == 0;
          const unsigned grid = grid_for(rows, 256);
          const auto u = [](int64_t v) { return static_cast<uint32_t>(v); };
          if (vec) {
            patchify_rows_kernel<TI, TO, true><<<grid, 256, 0, stream>>>(
                x, y, u(c), u(h), u(w), u(ph), u(pw), u(rows), u(prefix), u(b));
          } else {
            patchify_rows_kernel<TI, TO, false><<<grid, 256, 0, stream>>>(
                x, y, u(c), u(h), u(w), u(ph), u(pw), u(rows), u(prefix), u(b));
          }
          return cudaGetLastError();
        }
        patchify_kernel<TI, TO>
            <<<grid_for(total, 256), 256, 0, stream>>>(x, y, c, h, w, ph, pw, prefix, total);
        return cudaGetLastError();
      }
    });
  });
}

cudaError_t launch_patch_to_nchw(Elt type, const void* in, const void* bias, void* out, int64_t b,
                                 int64_t p, int64_t d, cudaStream_t stream) {
  const int64_t n = b * p * d;
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    patch_to_nchw_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(
        static_cast<const T*>(in), static_cast<const T*>(bias), static_cast<T*>(out), p, d, n);
    return cudaGetLastError();
  });
}

cudaError_t launch_pad(Elt type, const PadArgs& args, const void* in, void* out,
                       cudaStream_t stream) {
  int64_t n = 1;
  for (int d = 0; d < args.rank; ++d) n *= args.out_dims[d];
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    pad_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(args, static_cast<const T*>(in),
                                                        static_cast<T*>(out), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_merge_groups(Elt type, const MergeGroupsArgs& args, const void* in, void* out,
                                cudaStream_t stream) {
  if (args.m < 1 || args.cg < 1 || args.dg < 1 || args.taps < 1) return cudaErrorInvalidValue;
  const int64_t n = args.k * args.taps * args.m * args.cg;
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    merge_groups_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(args, static_cast<const T*>(in),
                                                                 static_cast<T*>(out), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_max_pool(Elt type, const MaxPoolArgs& args, const void* in, void* out,
                            cudaStream_t stream) {
  const int64_t n = args.planes * args.out_dims[0] * args.out_dims[1] * args.out_dims[2];
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    max_pool_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(args, static_cast<const T*>(in),
                                                             static_cast<T*>(out), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_im2col(Elt type, const Im2colArgs& args, const void* in, void* out,
                          cudaStream_t stream) {
  const int64_t n = args.b * args.oh * args.ow * args.c * args.kh * args.kw;
  if (n == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    im2col_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(args, static_cast<const T*>(in),
                                                           static_cast<T*>(out), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_im2col_nhwc(Elt type, const Im2colNhwcArgs& args, const void* in, void* out,
                               cudaStream_t stream) {
  const int64_t taps = args.geom.kh * args.geom.kw;
  if (args.rows == 0 || taps == 0 || args.cg == 0) return cudaSuccess;
  const int64_t elt = type == Elt::kF32 ? 4 : (type == Elt::kF16 || type == Elt::kBF16 ? 2 : 0);
  if (elt == 0) return cudaErrorInvalidValue;
  const int64_t per_vector = 16 / elt;
  const bool vectors =
      args.cg % per_vector == 0 && args.c0 % per_vector == 0 && args.c_stride % per_vector == 0 &&
      reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
  if (vectors) {
    Im2colNhwcArgs v = args;
    v.cg /= per_vector;
    v.c0 /= per_vector;
    v.c_stride /= per_vector;
    const int64_t n = args.rows * taps * v.cg;
    im2col_nhwc_kernel<uint4><<<grid_for(n, 256), 256, 0, stream>>>(
        v, static_cast<const uint4*>(in), static_cast<uint4*>(out), n);
    return cudaGetLastError();
  }
  const int64_t n = args.rows * taps * args.cg;
  switch (elt) {
    case 2:
      im2col_nhwc_kernel<uint16_t><<<grid_for(n, 256), 256, 0, stream>>>(
          args, static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), n);
      break;
    case 4:
      im2col_nhwc_kernel<uint32_t><<<grid_for(n, 256), 256, 0, stream>>>(
          args, static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), n);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_conv_transpose(Elt type, const ConvDirectArgs& args, const void* x,
                                  const void* w, const void* bias, void* y, cudaStream_t stream) {
  const Im2colArgs& g = args.geom;
  const int64_t n = g.b * args.d * g.oh * g.ow;
  if (n == 0) return cudaSuccess;
  if (args.group <= 0 || g.c % args.group != 0 || args.d % args.group != 0 || g.sh < 1 ||
      g.sw < 1) {
    return cudaErrorInvalidValue;
  }
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    conv_transpose_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(
        args, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias),
        static_cast<T*>(y), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_col2im(Elt type, const Col2ImArgs& args, const void* x, void* y,
                          cudaStream_t stream) {
  const int64_t n = args.planes * args.image[0] * args.image[1] * args.image[2];
  if (n == 0) return cudaSuccess;
  for (int d = 0; d < 3; ++d) {
    if (args.stride[d] < 1 || args.dil[d] < 1) return cudaErrorInvalidValue;
  }
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    col2im_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(args, static_cast<const T*>(x),
                                                           static_cast<T*>(y), n);
    return cudaGetLastError();
  });
}

cudaError_t launch_gather_elements(int elem_bytes, const void* data, const void* indices,
                                   bool indices_i64, const GatherElementsArgs& args, void* out,
                                   IndexError err, cudaStream_t stream) {
  int64_t n = 1;
  for (int d = 0; d < args.rank; ++d) n *= args.dims[d];
  if (n == 0) return cudaSuccess;
  return dispatch_bytes(elem_bytes, [&](auto tag) {
    using T = decltype(tag);
    if (indices_i64) {
      gather_elements_kernel<T, int64_t><<<grid_for(n, 256), 256, 0, stream>>>(
          static_cast<const T*>(data), static_cast<const int64_t*>(indices), args,
          static_cast<T*>(out), n, err);
    } else {
      gather_elements_kernel<T, int32_t><<<grid_for(n, 256), 256, 0, stream>>>(
          static_cast<const T*>(data), static_cast<const int32_t*>(indices), args,
          static_cast<T*>(out), n, err);
    }
    return cudaGetLastError();
  });
}

cudaError_t launch_topk(Elt type, const void* in, void* values, void* indices, int64_t outer,
                        int64_t r, int64_t inner, int64_t k, bool largest, cudaStream_t stream) {
  if (outer * inner * k == 0) return cudaSuccess;
  return dispatch_float(type, [&](auto tag) {
    using T = decltype(tag);
    topk_kernel<T><<<grid_for(outer * inner, 256), 256, 0, stream>>>(
        static_cast<const T*>(in), static_cast<T*>(values), static_cast<int64_t*>(indices), outer,
        r, inner, k, largest);
    return cudaGetLastError();
  });
}

cudaError_t launch_cumsum(Elt type, const void* in, void* out, int64_t outer, int64_t r,
                          int64_t inner, bool exclusive, bool reverse, cudaStream_t stream) {
  const int64_t n = outer * inner;
  if (n == 0 || r == 0) return cudaSuccess;
  if (type == Elt::kBool) return cudaErrorInvalidValue;
  return dispatch_any(type, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same<T, bool>::value) {
      return cudaErrorInvalidValue;
    } else {
      cumsum_kernel<T><<<grid_for(n, 256), 256, 0, stream>>>(
          static_cast<const T*>(in), static_cast<T*>(out), outer, r, inner, exclusive, reverse);
      return cudaGetLastError();
    }
  });
}

}  // namespace vitrt::cuda
