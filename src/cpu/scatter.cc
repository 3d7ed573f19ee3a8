// CPU kernels of ScatterND and ScatterElements (and opset 9's Scatter), with reductions
// none / add / mul / max / min.
//
// The output starts as a copy of data; updates are applied in index order, so with reduction
// none a duplicated index keeps the last update (ONNX leaves that case undefined).
#include <algorithm>
#include <cstring>

#include "core/half.h"
#include "cpu/data_movement.h"
#include "ir/ops/op_attributes.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

namespace {

using Reduction = ScatterReduction;

template <typename T>
T reduce(T a, T b, Reduction r) {
  switch (r) {
    case Reduction::kAdd:
      return static_cast<T>(a + b);
    case Reduction::kMul:
      return static_cast<T>(a * b);
    case Reduction::kMax:
      return std::max(a, b);
    case Reduction::kMin:
      return std::min(a, b);
    case Reduction::kNone:
      break;
  }
  return b;
}

// dst[i] = reduce(dst[i], src[i]) for `n` consecutive elements.
using CombineFn = void (*)(void* dst, const void* src, int64_t n, Reduction r);

template <typename T>
void combine_typed(void* dst, const void* src, int64_t n, Reduction r) {
  T* d = static_cast<T*>(dst);
  const T* s = static_cast<const T*>(src);
  for (int64_t i = 0; i < n; ++i) d[i] = reduce(d[i], s[i], r);
}

template <float (*kLoad)(uint16_t), uint16_t (*kStore)(float)>
void combine_half(void* dst, const void* src, int64_t n, Reduction r) {
  uint16_t* d = static_cast<uint16_t*>(dst);
  const uint16_t* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) d[i] = kStore(reduce(kLoad(d[i]), kLoad(s[i]), r));
}

void assign_bytes(void* dst, const void* src, int64_t n, size_t es) {
  std::memcpy(dst, src, static_cast<size_t>(n) * es);
}

Result<CombineFn> combine_fn(DType t) {
  switch (t) {
    case DType::kFloat32:
      return &combine_typed<float>;
    case DType::kFloat64:
      return &combine_typed<double>;
    case DType::kFloat16:
      return &combine_half<half_to_float, float_to_half>;
    case DType::kBFloat16:
      return &combine_half<bf16_to_float, float_to_bf16>;
    case DType::kInt8:
      return &combine_typed<int8_t>;
    case DType::kUInt8:
      return &combine_typed<uint8_t>;
    case DType::kInt16:
      return &combine_typed<int16_t>;
    case DType::kUInt16:
      return &combine_typed<uint16_t>;
    case DType::kInt32:
      return &combine_typed<int32_t>;
    case DType::kUInt32:
      return &combine_typed<uint32_t>;
    case DType::kInt64:
      return &combine_typed<int64_t>;
    case DType::kUInt64:
      return &combine_typed<uint64_t>;
    default:
      return unsupported("scatter reduction on ", dtype_name(t));
  }
}

Result<int64_t> normalize_index(int64_t i, int64_t dim) {
  if (i < -dim || i >= dim) {
    return invalid_argument("index ", i, " is out of range [", -dim, ", ", dim - 1, "]");
  }
  return i < 0 ? i + dim : i;
}

class ScatterKernel final : public CpuKernel {
 public:
  template <bool kNd>
  static Result<std::unique_ptr<CpuKernel>> create(const KernelInit& init) {
    VITRT_ASSIGN_OR_RETURN(Reduction r, parse_scatter_reduction(init.node.attrs));
    VITRT_ASSIGN_OR_RETURN(int64_t axis, init.node.attrs.get_int("axis", 0));
    return std::unique_ptr<CpuKernel>(new ScatterKernel(kNd, r, axis));
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& data = *inputs[0];
    const Tensor& indices = *inputs[1];
    const Tensor& updates = *inputs[2];
    if (updates.dtype() != data.dtype()) {
      return invalid_argument("updates ", updates.describe(), " must have the dtype of data ",
                              data.describe());
    }
    CombineFn combine = nullptr;
    if (reduction_ != Reduction::kNone) {
      VITRT_ASSIGN_OR_RETURN(combine, combine_fn(data.dtype()));
    }
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> idx, read_int_tensor(&indices, "indices"));
    Tensor out = data.clone();
    const size_t es = dtype_size(data.dtype());
    auto* dst = static_cast<uint8_t*>(out.raw_data());
    const auto* src = static_cast<const uint8_t*>(updates.raw_data());
    auto apply = [&](int64_t dst_offset, int64_t src_offset, int64_t n) {
      if (combine == nullptr) {
        assign_bytes(dst + dst_offset * es, src + src_offset * es, n, es);
      } else {
        combine(dst + dst_offset * es, src + src_offset * es, n, reduction_);
      }
    };
    const std::vector<int64_t> strides = contiguous_strides(data.shape());
    if (nd_) {
      const int q = indices.rank();
      if (q < 1) return invalid_argument("indices must have rank >= 1");
      const int64_t k = indices.dim(q - 1);
      if (k < 1 || k > data.rank()) {
        return invalid_argument("indices' last dim ", k, " must be in [1, ", data.rank(), "]");
      }
      std::vector<int64_t> expected(indices.shape().begin(), indices.shape().end() - 1);
      int64_t slice = 1;
      for (int d = static_cast<int>(k); d < data.rank(); ++d) {
        expected.push_back(data.dim(d));
        slice *= data.dim(d);
      }
      if (updates.shape() != expected) {
        return invalid_argument("updates are ", updates.describe(), "; expected shape ",
                                shape_to_string(expected));
      }
      const int64_t tuples = static_cast<int64_t>(idx.size()) / k;
      for (int64_t t = 0; t < tuples; ++t) {
        int64_t offset = 0;
        for (int64_t j = 0; j < k; ++j) {
          VITRT_ASSIGN_OR_RETURN(int64_t c, normalize_index(idx[t * k + j], data.dim(j)));
          offset += c * strides[j];
        }
        apply(offset, t * slice, slice);
      }
    } else {
      const int rank = data.rank();
      VITRT_ASSIGN_OR_RETURN(std::vector<int> axes, normalize_axes({axis_}, rank, "axis"));
      const int axis = axes[0];
      if (indices.shape() != updates.shape() || indices.rank() != rank) {
        return invalid_argument("indices ", indices.describe(), " and updates ", updates.describe(),
                                " must have one shape of the rank of data ", data.describe());
      }
      for (int d = 0; d < rank; ++d) {
        if (d != axis && indices.dim(d) > data.dim(d)) {
          return invalid_argument("indices ", indices.describe(), " exceed data ", data.describe(),
                                  " in dim ", d);
        }
      }
      for (int64_t flat = 0; flat < indices.numel(); ++flat) {
        int64_t rem = flat, offset = 0;
        for (int d = rank - 1; d >= 0; --d) {
          const int64_t c = rem % indices.dim(d);
          rem /= indices.dim(d);
          if (d != axis) offset += c * strides[d];
        }
        VITRT_ASSIGN_OR_RETURN(int64_t i, normalize_index(idx[flat], data.dim(axis)));
        apply(offset + i * strides[axis], flat, 1);
      }
    }
    outputs[0] = std::move(out);
    return Status();
  }

 private:
  ScatterKernel(bool nd, Reduction r, int64_t axis) : nd_(nd), reduction_(r), axis_(axis) {}
  bool nd_;
  Reduction reduction_;
  int64_t axis_;
};

}  // namespace

void register_cpu_scatter_kernels(CpuKernelRegistry& registry) {
  registry.add("", "ScatterND", &ScatterKernel::create<true>);
  registry.add("", "ScatterElements", &ScatterKernel::create<false>);
  registry.add("", "Scatter", &ScatterKernel::create<false>);
}

}  // namespace vitrt
