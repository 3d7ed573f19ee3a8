// CPU kernels of the reduce op family: Reduce{Mean,Sum,Max,Min,Prod,L1,L2,LogSum,LogSumExp,
// SumSquare}, ArgMax, ArgMin, CumSum and TopK.
//
// Every kernel views its input as [outer, reduced, inner]. When the reduced axes are not one
// contiguous block (after dropping size-1 dims) the input is first transposed so that they are
// last; that case is rare in exported models and a copy keeps one fast loop nest. The inner
// loops run over contiguous memory: either along a row (inner == 1, with several independent
// accumulators so they vectorise) or across `inner` columns at once.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "cpu/float_widen.h"

namespace vitrt {

namespace {

template <typename T>
struct Tag {
  using type = T;
};

// Calls fn(Tag<T>{}) for every real storage type; half types are widened by the caller.
template <typename Fn>
Status visit_real_type(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat32:
      return fn(Tag<float>{});
    case DType::kFloat64:
      return fn(Tag<double>{});
    case DType::kInt32:
      return fn(Tag<int32_t>{});
    case DType::kInt64:
      return fn(Tag<int64_t>{});
    case DType::kUInt8:
      return fn(Tag<uint8_t>{});
    case DType::kInt8:
      return fn(Tag<int8_t>{});
    case DType::kUInt16:
      return fn(Tag<uint16_t>{});
    case DType::kInt16:
      return fn(Tag<int16_t>{});
    case DType::kUInt32:
      return fn(Tag<uint32_t>{});
    case DType::kUInt64:
      return fn(Tag<uint64_t>{});
    default:
      return unsupported("input dtype ", dtype_name(dtype), " is not supported");
  }
}

// Runs `fn(float32 input) -> Result<Tensor>` on a widened copy of a half input and narrows the
// result; other dtypes pass straight through.
template <typename Fn>
Result<Tensor> with_half_widened(const Tensor& x, Fn&& fn) {
  if (!dtype_is_half(x.dtype())) return fn(x);
  VITRT_ASSIGN_OR_RETURN(Tensor y, fn(widen_to_float32(x)));
  return narrow_from_float32(y, x.dtype());
}

Status with_node(const KernelInit& init, const Status& status) {
  return status.ok() ? status : status.with_context(init.node.describe());
}

// The input viewed as [outer, reduced, inner], after an optional transpose (perm non-empty).
struct ReduceLayout {
  int64_t outer = 1;
  int64_t reduced = 1;
  int64_t inner = 1;
  std::vector<int> perm;  // empty: no transpose needed
};

ReduceLayout plan_layout(const std::vector<int64_t>& shape, const std::vector<bool>& mask) {
  ReduceLayout layout;
  const int rank = static_cast<int>(shape.size());
  // Groups of adjacent non-trivial dims with the same flag.
  std::vector<std::pair<bool, int64_t>> groups;
  for (int i = 0; i < rank; ++i) {
    if (shape[i] == 1) continue;
    if (!groups.empty() && groups.back().first == mask[i]) {
      groups.back().second *= shape[i];
    } else {
      groups.emplace_back(mask[i], shape[i]);
    }
  }
  int reduced_groups = 0;
  for (const auto& g : groups) reduced_groups += g.first ? 1 : 0;
  if (reduced_groups <= 1) {
    bool seen = false;
    for (const auto& [is_reduced, size] : groups) {
      if (is_reduced) {
        layout.reduced = size;
        seen = true;
      } else if (seen) {
        layout.inner *= size;
      } else {
        layout.outer *= size;
      }
    }
    return layout;
  }
  for (int i = 0; i < rank; ++i) {
    if (!mask[i]) {
      layout.perm.push_back(i);
      layout.outer *= shape[i];
    }
  }
  for (int i = 0; i < rank; ++i) {
    if (mask[i]) {
      layout.perm.push_back(i);
      layout.reduced *= shape[i];
    }
  }
  return layout;
}

// dst = transpose(src, perm) for a contiguous src of `shape`.
template <typename T>
void permute_copy(const T* src, const std::vector<int64_t>& shape, const std::vector<int>& perm,
                  T* dst) {
  const int rank = static_cast<int>(shape.size());
  std::vector<int64_t> src_stride(rank, 1);
  for (int i = rank - 2; i >= 0; --i) src_stride[i] = src_stride[i + 1] * shape[i + 1];
  std::vector<int64_t> out_shape(rank), stride(rank);
  for (int i = 0; i < rank; ++i) {
    out_shape[i] = shape[perm[i]];
    stride[i] = src_stride[perm[i]];
  }
  const int64_t n = shape_numel(shape);
  if (n == 0) return;
  std::vector<int64_t> idx(rank, 0);
  int64_t offset = 0;
  for (int64_t k = 0; k < n; ++k) {
    dst[k] = src[offset];
    for (int d = rank - 1; d >= 0; --d) {
      offset += stride[d];
      if (++idx[d] < out_shape[d]) break;
      offset -= stride[d] * out_shape[d];
      idx[d] = 0;
    }
  }
}

// The input, transposed if the layout asks for it.
template <typename T>
const T* laid_out(const Tensor& x, const ReduceLayout& layout, Tensor& scratch) {
  if (layout.perm.empty()) return x.data<T>();
  scratch = Tensor::empty(x.dtype(), x.shape());
  permute_copy(x.data<T>(), x.shape(), layout.perm, scratch.data<T>());
  return scratch.data<T>();
}

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Accumulation type: the float type itself, or a 64-bit integer of the same signedness.
template <typename T>
using AccOf = std::conditional_t<std::is_floating_point_v<T>, T,
                                 std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// One reduction as init / map (per element) / combine (associative) / finish (with the count).
template <ReduceKind K, typename A>
struct ReduceOp {
  static A init() {
    if constexpr (K == ReduceKind::kMax) {
      return std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity()
                                                  : std::numeric_limits<A>::lowest();
    } else if constexpr (K == ReduceKind::kMin) {
      return std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity()
                                                  : std::numeric_limits<A>::max();
    } else if constexpr (K == ReduceKind::kProd) {
      return A(1);
    } else {
      return A(0);
    }
  }
  static A map(A x) {
    if constexpr (K == ReduceKind::kL1 && std::is_signed_v<A>) {
      return x < 0 ? -x : x;
    } else if constexpr (K == ReduceKind::kL2 || K == ReduceKind::kSumSquare) {
      return x * x;
    } else {
      return x;
    }
  }
  static A combine(A a, A b) {
    if constexpr (K == ReduceKind::kMax) {
      return b > a ? b : a;
    } else if constexpr (K == ReduceKind::kMin) {
      return b < a ? b : a;
    } else if constexpr (K == ReduceKind::kProd) {
      return a * b;
    } else {
      return a + b;
    }
  }
  static A finish(A acc, int64_t n) {
    if constexpr (K == ReduceKind::kMean) {
      if (n == 0) return std::is_floating_point_v<A> ? std::numeric_limits<A>::quiet_NaN() : A(0);
      return acc / static_cast<A>(n);
    } else if constexpr (K == ReduceKind::kL2) {
      return static_cast<A>(std::sqrt(static_cast<double>(acc)));
    } else if constexpr (K == ReduceKind::kLogSum) {
      return static_cast<A>(std::log(static_cast<double>(acc)));
    } else {
      return acc;
    }
  }
};

constexpr int kLanes = 8;           // independent accumulators along a row
constexpr int64_t kColBlock = 256;  // inner columns reduced together

template <typename Op, typename A, typename T>
A reduce_row(const T* x, int64_t n) {
  A acc[kLanes];
  for (A& a : acc) a = Op::init();
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j)
      acc[j] = Op::combine(acc[j], Op::map(static_cast<A>(x[i + j])));
  }
  for (; i < n; ++i) acc[0] = Op::combine(acc[0], Op::map(static_cast<A>(x[i])));
  A r = acc[0];
  for (int j = 1; j < kLanes; ++j) r = Op::combine(r, acc[j]);
  return r;
}

// Work items of a [outer, reduced, inner] reduction: rows when inner == 1, else column blocks.
struct ColumnBlocks {
  int64_t blocks_per_outer;
  int64_t count;
  ColumnBlocks(const ReduceLayout& l)
      : blocks_per_outer((l.inner + kColBlock - 1) / kColBlock),
        count(l.outer * blocks_per_outer) {}
};

int64_t grain_for(int64_t work_per_item) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(work_per_item, 1));
}

template <ReduceKind K, typename T>
void reduce_kernel(const T* x, T* y, const ReduceLayout& l) {
  using A = AccOf<T>;
  using Op = ReduceOp<K, A>;
  const int64_t r_len = l.reduced;
  if (l.inner == 1) {
    parallel_for(l.outer, grain_for(r_len), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        y[o] = static_cast<T>(Op::finish(reduce_row<Op, A>(x + o * r_len, r_len), r_len));
      }
    });
    return;
  }
  const ColumnBlocks cb(l);
  parallel_for(cb.count, grain_for(r_len * kColBlock), [&](int64_t begin, int64_t end) {
    A acc[kColBlock];
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / cb.blocks_per_outer;
      const int64_t j0 = (t % cb.blocks_per_outer) * kColBlock;
      const int64_t w = std::min(kColBlock, l.inner - j0);
      for (int64_t j = 0; j < w; ++j) acc[j] = Op::init();
      const T* base = x + o * r_len * l.inner + j0;
      for (int64_t r = 0; r < r_len; ++r) {
        const T* row = base + r * l.inner;
        for (int64_t j = 0; j < w; ++j)
          acc[j] = Op::combine(acc[j], Op::map(static_cast<A>(row[j])));
      }
      T* out = y + o * l.inner + j0;
      for (int64_t j = 0; j < w; ++j) out[j] = static_cast<T>(Op::finish(acc[j], r_len));
    }
  });
}

// log(sum(exp(x))) as m + log(sum(exp(x - m))) with m the maximum, so it cannot overflow.
template <typename T>
void log_sum_exp_kernel(const T* x, T* y, const ReduceLayout& l) {
  using MaxOp = ReduceOp<ReduceKind::kMax, T>;
  const int64_t r_len = l.reduced;
  if (l.inner == 1) {
    parallel_for(l.outer, grain_for(r_len), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        const T* row = x + o * r_len;
        const T m = reduce_row<MaxOp, T>(row, r_len);
        if (!std::isfinite(m)) {
          y[o] = m;  // empty or all -inf: -inf; any +inf: +inf; NaN stays NaN
          continue;
        }
        T s = 0;
        for (int64_t i = 0; i < r_len; ++i) s += std::exp(row[i] - m);
        y[o] = m + std::log(s);
      }
    });
    return;
  }
  const ColumnBlocks cb(l);
  parallel_for(cb.count, grain_for(2 * r_len * kColBlock), [&](int64_t begin, int64_t end) {
    T m[kColBlock], s[kColBlock];
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / cb.blocks_per_outer;
      const int64_t j0 = (t % cb.blocks_per_outer) * kColBlock;
      const int64_t w = std::min(kColBlock, l.inner - j0);
      const T* base = x + o * r_len * l.inner + j0;
      for (int64_t j = 0; j < w; ++j) {
        m[j] = MaxOp::init();
        s[j] = 0;
      }
      for (int64_t r = 0; r < r_len; ++r) {
        for (int64_t j = 0; j < w; ++j) m[j] = MaxOp::combine(m[j], base[r * l.inner + j]);
      }
      for (int64_t j = 0; j < w; ++j) {
        if (!std::isfinite(m[j])) continue;
        for (int64_t r = 0; r < r_len; ++r) s[j] += std::exp(base[r * l.inner + j] - m[j]);
      }
      T* out = y + o * l.inner + j0;
      for (int64_t j = 0; j < w; ++j) out[j] = std::isfinite(m[j]) ? m[j] + std::log(s[j]) : m[j];
    }
  });
}

template <ReduceKind K>
Status run_reduce_typed(const Tensor& x, const ReduceLayout& layout, Tensor& y) {
  return visit_real_type(x.dtype(), [&](auto tag) -> Status {
    using T = typename decltype(tag)::type;
    Tensor scratch;
    const T* src = laid_out<T>(x, layout, scratch);
    if constexpr (K == ReduceKind::kLogSumExp) {
      if constexpr (std::is_floating_point_v<T>) {
        log_sum_exp_kernel<T>(src, y.data<T>(), layout);
        return Status();
      } else {
        return unsupported("ReduceLogSumExp of ", dtype_name(x.dtype()), " is not supported");
      }
    } else {
      reduce_kernel<K, T>(src, y.data<T>(), layout);
      return Status();
    }
  });
}

// Normalises reduce axes against `rank` into a mask; empty axes reduce everything.
Result<std::vector<bool>> axes_mask(const std::vector<int64_t>& axes, int rank) {
  std::vector<bool> mask(rank, axes.empty());
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) {
      return invalid_argument("axes value ", a, " is out of range [", -rank, ", ", rank - 1,
                              "] for input rank ", rank);
    }
    const int axis = static_cast<int>(a < 0 ? a + rank : a);
    if (mask[axis]) return invalid_argument("axes lists axis ", axis, " more than once");
    mask[axis] = true;
  }
  return mask;
}

template <ReduceKind K>
class ReduceKernel final : public CpuKernel {
 public:
  ReduceKernel(bool keepdims, bool noop_with_empty_axes, std::vector<int64_t> attr_axes)
      : keepdims_(keepdims), noop_(noop_with_empty_axes), attr_axes_(std::move(attr_axes)) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    std::vector<int64_t> axes = attr_axes_;
    if (inputs.size() > 1 && inputs[1] != nullptr) {
      if (!dtype_is_integer(inputs[1]->dtype()) || inputs[1]->rank() > 1) {
        return invalid_argument("axes input must be a 1-D integer tensor, got ",
                                inputs[1]->describe());
      }
      axes = inputs[1]->to_int64_vector();
    }
    if (axes.empty() && noop_) {
      outputs[0] = x.clone();
      return Status();
    }
    VITRT_ASSIGN_OR_RETURN(std::vector<bool> mask, axes_mask(axes, x.rank()));
    std::vector<int64_t> out_shape;
    for (int i = 0; i < x.rank(); ++i) {
      if (!mask[i]) {
        out_shape.push_back(x.dim(i));
      } else if (keepdims_) {
        out_shape.push_back(1);
      }
    }
    const ReduceLayout layout = plan_layout(x.shape(), mask);
    VITRT_ASSIGN_OR_RETURN(outputs[0],
                           with_half_widened(x, [&](const Tensor& xw) -> Result<Tensor> {
                             Tensor y = Tensor::empty(xw.dtype(), out_shape);
                             VITRT_RETURN_IF_ERROR(run_reduce_typed<K>(xw, layout, y));
                             return y;
                           }));
    return Status();
  }

 private:
  bool keepdims_;
  bool noop_;
  std::vector<int64_t> attr_axes_;
};

template <ReduceKind K>
Result<std::unique_ptr<CpuKernel>> make_reduce(const KernelInit& init) {
  const Attributes& attrs = init.node.attrs;
  auto keepdims = attrs.get_int("keepdims", 1);
  auto noop = attrs.get_int("noop_with_empty_axes", 0);
  auto axes = attrs.get_ints("axes", {});
  for (const Status& s : {keepdims.status(), noop.status(), axes.status()}) {
    VITRT_RETURN_IF_ERROR(with_node(init, s));
  }
  return std::unique_ptr<CpuKernel>(
      std::make_unique<ReduceKernel<K>>(*keepdims != 0, *noop != 0, *axes));
}

// ---- ArgMax / ArgMin ----------------------------------------------------------------------

Result<int> normalize_kernel_axis(int64_t axis, int rank, const char* what) {
  if (axis < -rank || axis >= rank) {
    return invalid_argument(what, " ", axis, " is out of range [", -rank, ", ", rank - 1,
                            "] for input rank ", rank);
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

ReduceLayout single_axis_layout(const std::vector<int64_t>& shape, int axis) {
  ReduceLayout l;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    if (i < axis) l.outer *= shape[i];
    if (i == axis) l.reduced = shape[i];
    if (i > axis) l.inner *= shape[i];
  }
  return l;
}

// Whether `v` replaces `best`: strictly better, or equal when the last index is wanted.
template <bool kMax, typename T>
inline bool arg_better(T v, T best, bool last) {
  if constexpr (kMax) {
    return last ? v >= best : v > best;
  } else {
    return last ? v <= best : v < best;
  }
}

template <bool kMax, typename T>
void arg_reduce_kernel(const T* x, int64_t* y, const ReduceLayout& l, bool last) {
  const int64_t r_len = l.reduced;
  const ColumnBlocks cb(l);
  parallel_for(cb.count, grain_for(r_len * std::min(kColBlock, l.inner)),
               [&](int64_t begin, int64_t end) {
                 T best[kColBlock];
                 int64_t idx[kColBlock];
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t o = t / cb.blocks_per_outer;
                   const int64_t j0 = (t % cb.blocks_per_outer) * kColBlock;
                   const int64_t w = std::min(kColBlock, l.inner - j0);
                   const T* base = x + o * r_len * l.inner + j0;
                   for (int64_t j = 0; j < w; ++j) {
                     best[j] = base[j];
                     idx[j] = 0;
                   }
                   for (int64_t r = 1; r < r_len; ++r) {
                     const T* row = base + r * l.inner;
                     for (int64_t j = 0; j < w; ++j) {
                       if (arg_better<kMax>(row[j], best[j], last)) {
                         best[j] = row[j];
                         idx[j] = r;
                       }
                     }
                   }
                   std::copy(idx, idx + w, y + o * l.inner + j0);
                 }
               });
}

template <bool kMax>
class ArgReduceKernel final : public CpuKernel {
 public:
  ArgReduceKernel(int64_t axis, bool keepdims, bool last)
      : axis_(axis), keepdims_(keepdims), last_(last) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x0 = *inputs[0];
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_kernel_axis(axis_, x0.rank(), "attribute 'axis'"));
    if (x0.dim(axis) == 0) {
      return invalid_argument("cannot take ", kMax ? "ArgMax" : "ArgMin", " over axis ", axis,
                              " of size 0 (input ", x0.describe(), ")");
    }
    std::vector<int64_t> out_shape = x0.shape();
    if (keepdims_) {
      out_shape[axis] = 1;
    } else {
      out_shape.erase(out_shape.begin() + axis);
    }
    const Tensor x = dtype_is_half(x0.dtype()) ? widen_to_float32(x0) : x0;
    Tensor y = Tensor::empty(DType::kInt64, out_shape);
    const ReduceLayout layout = single_axis_layout(x.shape(), axis);
    VITRT_RETURN_IF_ERROR(visit_real_type(x.dtype(), [&](auto tag) -> Status {
      using T = typename decltype(tag)::type;
      arg_reduce_kernel<kMax, T>(x.data<T>(), y.data<int64_t>(), layout, last_);
      return Status();
    }));
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  int64_t axis_;
  bool keepdims_;
  bool last_;
};

template <bool kMax>
Result<std::unique_ptr<CpuKernel>> make_arg_reduce(const KernelInit& init) {
  const Attributes& attrs = init.node.attrs;
  auto axis = attrs.get_int("axis", 0);
  auto keepdims = attrs.get_int("keepdims", 1);
  auto last = attrs.get_int("select_last_index", 0);
  for (const Status& s : {axis.status(), keepdims.status(), last.status()}) {
    VITRT_RETURN_IF_ERROR(with_node(init, s));
  }
  return std::unique_ptr<CpuKernel>(
      std::make_unique<ArgReduceKernel<kMax>>(*axis, *keepdims != 0, *last != 0));
}

// ---- CumSum ----------------------------------------------------------------------------------

template <typename T>
void cumsum_kernel(const T* x, T* y, const ReduceLayout& l, bool exclusive, bool reverse) {
  using A = AccOf<T>;
  const int64_t r_len = l.reduced;
  const ColumnBlocks cb(l);
  parallel_for(cb.count, grain_for(r_len * std::min(kColBlock, l.inner)),
               [&](int64_t begin, int64_t end) {
                 A acc[kColBlock];
                 for (int64_t t = begin; t < end; ++t) {
                   const int64_t o = t / cb.blocks_per_outer;
                   const int64_t j0 = (t % cb.blocks_per_outer) * kColBlock;
                   const int64_t w = std::min(kColBlock, l.inner - j0);
                   const int64_t base = o * r_len * l.inner + j0;
                   std::fill(acc, acc + w, A(0));
                   for (int64_t k = 0; k < r_len; ++k) {
                     const int64_t r = reverse ? r_len - 1 - k : k;
                     const T* in = x + base + r * l.inner;
                     T* out = y + base + r * l.inner;
                     for (int64_t j = 0; j < w; ++j) {
                       const A next = acc[j] + static_cast<A>(in[j]);
                       out[j] = static_cast<T>(exclusive ? acc[j] : next);
                       acc[j] = next;
                     }
                   }
                 }
               });
}

class CumSumKernel final : public CpuKernel {
 public:
  CumSumKernel(bool exclusive, bool reverse) : exclusive_(exclusive), reverse_(reverse) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& axis_t = *inputs[1];
    if (!dtype_is_integer(axis_t.dtype()) || axis_t.numel() != 1 || axis_t.rank() > 1) {
      return invalid_argument("axis input must be an integer scalar, got ", axis_t.describe());
    }
    VITRT_ASSIGN_OR_RETURN(
        int axis, normalize_kernel_axis(axis_t.element_as_int64(0), x.rank(), "axis input value"));
    const ReduceLayout layout = single_axis_layout(x.shape(), axis);
    VITRT_ASSIGN_OR_RETURN(
        outputs[0], with_half_widened(x, [&](const Tensor& xw) -> Result<Tensor> {
          Tensor y = Tensor::empty(xw.dtype(), xw.shape());
          VITRT_RETURN_IF_ERROR(visit_real_type(xw.dtype(), [&](auto tag) {
            using T = typename decltype(tag)::type;
            cumsum_kernel<T>(xw.data<T>(), y.data<T>(), layout, exclusive_, reverse_);
            return Status();
          }));
          return y;
        }));
    return Status();
  }

 private:
  bool exclusive_;
  bool reverse_;
};

Result<std::unique_ptr<CpuKernel>> make_cumsum(const KernelInit& init) {
  auto exclusive = init.node.attrs.get_int("exclusive", 0);
  auto reverse = init.node.attrs.get_int("reverse", 0);
  VITRT_RETURN_IF_ERROR(with_node(init, exclusive.status()));
  VITRT_RETURN_IF_ERROR(with_node(init, reverse.status()));
  return std::unique_ptr<CpuKernel>(std::make_unique<CumSumKernel>(*exclusive, *reverse));
}

// ---- TopK ------------------------------------------------------------------------------------

template <typename T>
void topk_kernel(const T* x, T* values, int64_t* indices, const ReduceLayout& l, int64_t k,
                 bool largest) {
  const int64_t r_len = l.reduced;
  parallel_for(l.outer * l.inner, grain_for(r_len * 4), [&](int64_t begin, int64_t end) {
    std::vector<std::pair<T, int64_t>> line(r_len);
    for (int64_t t = begin; t < end; ++t) {
      const int64_t o = t / l.inner;
      const int64_t j = t % l.inner;
      const T* in = x + o * r_len * l.inner + j;
      for (int64_t r = 0; r < r_len; ++r) line[r] = {in[r * l.inner], r};
      // Ties keep the lower index first, as ONNX specifies.
      auto cmp = [largest](const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) {
        if (a.first != b.first) return largest ? a.first > b.first : a.first < b.first;
        return a.second < b.second;
      };
      std::partial_sort(line.begin(), line.begin() + k, line.end(), cmp);
      T* vo = values + o * k * l.inner + j;
      int64_t* io = indices + o * k * l.inner + j;
      for (int64_t r = 0; r < k; ++r) {
        vo[r * l.inner] = line[r].first;
        io[r * l.inner] = line[r].second;
      }
    }
  });
}

class TopKKernel final : public CpuKernel {
 public:
  TopKKernel(int64_t axis, bool largest, std::optional<int64_t> attr_k)
      : axis_(axis), largest_(largest), attr_k_(attr_k) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    int64_t k = attr_k_.value_or(0);
    if (!attr_k_) {
      if (inputs.size() < 2 || inputs[1] == nullptr) return invalid_argument("K input is missing");
      const Tensor& kt = *inputs[1];
      if (!dtype_is_integer(kt.dtype()) || kt.numel() != 1) {
        return invalid_argument("K input must hold one integer, got ", kt.describe());
      }
      k = kt.element_as_int64(0);
    }
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_kernel_axis(axis_, x.rank(), "attribute 'axis'"));
    if (k < 0 || k > x.dim(axis)) {
      return invalid_argument("K = ", k, " is outside [0, ", x.dim(axis), "] (size of axis ", axis,
                              ")");
    }
    std::vector<int64_t> out_shape = x.shape();
    out_shape[axis] = k;
    const ReduceLayout layout = single_axis_layout(x.shape(), axis);
    Tensor indices = Tensor::empty(DType::kInt64, out_shape);
    VITRT_ASSIGN_OR_RETURN(outputs[0],
                           with_half_widened(x, [&](const Tensor& xw) -> Result<Tensor> {
                             Tensor values = Tensor::empty(xw.dtype(), out_shape);
                             VITRT_RETURN_IF_ERROR(visit_real_type(xw.dtype(), [&](auto tag) {
                               using T = typename decltype(tag)::type;
                               topk_kernel<T>(xw.data<T>(), values.data<T>(),
                                              indices.data<int64_t>(), layout, k, largest_);
                               return Status();
                             }));
                             return values;
                           }));
    if (outputs.size() > 1) outputs[1] = std::move(indices);
    return Status();
  }

 private:
  int64_t axis_;
  bool largest_;
  std::optional<int64_t> attr_k_;  // opset 1 took K as an attribute
};

Result<std::unique_ptr<CpuKernel>> make_topk(const KernelInit& init) {
  const Attributes& attrs = init.node.attrs;
  auto axis = attrs.get_int("axis", -1);
  auto largest = attrs.get_int("largest", 1);
  VITRT_RETURN_IF_ERROR(with_node(init, axis.status()));
  VITRT_RETURN_IF_ERROR(with_node(init, largest.status()));
  std::optional<int64_t> attr_k;
  if (!init.node.has_input(1)) {
    auto k = attrs.require_int("k");
    VITRT_RETURN_IF_ERROR(with_node(init, k.status()));
    attr_k = *k;
  }
  // `sorted` = 0 allows any order; the sorted order is one of them.
  return std::unique_ptr<CpuKernel>(std::make_unique<TopKKernel>(*axis, *largest != 0, attr_k));
}

}  // namespace

void register_cpu_reduce_kernels(CpuKernelRegistry& registry) {
  registry.add("", "ReduceSum", make_reduce<ReduceKind::kSum>);
  registry.add("", "ReduceMean", make_reduce<ReduceKind::kMean>);
  registry.add("", "ReduceMax", make_reduce<ReduceKind::kMax>);
  registry.add("", "ReduceMin", make_reduce<ReduceKind::kMin>);
  registry.add("", "ReduceProd", make_reduce<ReduceKind::kProd>);
  registry.add("", "ReduceL1", make_reduce<ReduceKind::kL1>);
  registry.add("", "ReduceL2", make_reduce<ReduceKind::kL2>);
  registry.add("", "ReduceLogSum", make_reduce<ReduceKind::kLogSum>);
  registry.add("", "ReduceLogSumExp", make_reduce<ReduceKind::kLogSumExp>);
  registry.add("", "ReduceSumSquare", make_reduce<ReduceKind::kSumSquare>);
  registry.add("", "ArgMax", make_arg_reduce<true>);
  registry.add("", "ArgMin", make_arg_reduce<false>);
  registry.add("", "CumSum", make_cumsum);
  registry.add("", "TopK", make_topk);
}

}  // namespace vitrt
