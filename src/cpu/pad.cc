// CPU kernel of Pad (modes constant, reflect, edge, wrap; negative pads crop).
//
// Each output axis gets a map from output coordinate to source coordinate (-1: the constant
// value), built once per run; the copy then walks output rows (the second-to-last axis inside,
// so that the outer coordinates' offset is computed once per run of rows) and reads through the
// maps, a row whose last axis is unpadded as one memcpy.
#include <algorithm>
#include <cstring>

#include "core/parallel.h"
#include "cpu/data_movement.h"
#include "ir/ops/shape_rules.h"

namespace vitrt {

namespace {

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Source coordinate of output coordinate `o` on an axis of `dim` elements padded by `before`.
int64_t source_coordinate(PadMode mode, int64_t o, int64_t before, int64_t dim) {
  int64_t c = o - before;
  if (c >= 0 && c < dim) return c;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
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
  }
  return -1;
}

class PadKernel final : public CpuKernel {
 public:
  static Result<std::unique_ptr<CpuKernel>> create(const KernelInit& init) {
    VITRT_ASSIGN_OR_RETURN(std::string mode, init.node.attrs.get_string("mode", "constant"));
    PadMode m;
    if (mode == "constant") {
      m = PadMode::kConstant;
    } else if (mode == "reflect") {
      m = PadMode::kReflect;
    } else if (mode == "edge") {
      m = PadMode::kEdge;
    } else if (mode == "wrap") {
      m = PadMode::kWrap;
    } else {
      return invalid_model("attribute 'mode' is '", mode,
                           "'; expected constant, reflect, edge or wrap");
    }
    return std::unique_ptr<CpuKernel>(new PadKernel(init.node, init.opset, m));
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const int rank = x.rank();
    auto input = [&](size_t i) { return i < inputs.size() ? inputs[i] : nullptr; };
    std::vector<int64_t> pads;
    double attr_value = 0.0;
    if (opset_ < 11) {
      const char* name = node_.attrs.has("paddings") ? "paddings" : "pads";
      VITRT_ASSIGN_OR_RETURN(pads, node_.attrs.require_ints(name));
      VITRT_ASSIGN_OR_RETURN(float v, node_.attrs.get_float("value", 0.0f));
      attr_value = v;
    } else {
      VITRT_ASSIGN_OR_RETURN(pads, read_int_tensor(input(1), "pads"));
    }
    std::vector<int64_t> axes;
    if (input(3) != nullptr) {
      VITRT_ASSIGN_OR_RETURN(axes, read_int_tensor(input(3), "axes"));
    } else {
      for (int i = 0; i < rank; ++i) axes.push_back(i);
    }
    VITRT_ASSIGN_OR_RETURN(std::vector<int> norm, normalize_axes(axes, rank, "axes"));
    const size_t n = norm.size();
    if (pads.size() != 2 * n) {
      return invalid_argument("pads has ", pads.size(), " elements; expected ", 2 * n);
    }
    std::vector<int64_t> before(rank, 0), after(rank, 0);
    for (size_t i = 0; i < n; ++i) {
      before[norm[i]] = pads[i];
      after[norm[i]] = pads[i + n];
    }
    std::vector<int64_t> out_shape(rank);
    for (int a = 0; a < rank; ++a) {
      out_shape[a] = x.dim(a) + before[a] + after[a];
      if (out_shape[a] < 0) {
        return invalid_argument("pads make axis ", a, " of ", x.describe(), " negative");
      }
      if (mode_ != PadMode::kConstant && x.dim(a) == 0 && out_shape[a] > 0) {
        return invalid_argument("cannot pad the empty axis ", a, " in a non-constant mode");
      }
    }
    // The fill value, as one element of the output's dtype.
    uint64_t fill_bits = 0;
    if (mode_ == PadMode::kConstant) {
      const Tensor* value = input(2);
      if (value != nullptr && value->numel() > 0) {
        if (value->dtype() != x.dtype()) {
          return invalid_argument("constant_value is ", value->describe(), " but data is ",
                                  x.describe());
        }
        std::memcpy(&fill_bits, value->raw_data(), dtype_size(x.dtype()));
      } else {
        store_scalar(x.dtype(), attr_value, &fill_bits);
      }
    }
    std::vector<std::vector<int64_t>> maps(rank);
    for (int a = 0; a < rank; ++a) {
      maps[a].resize(out_shape[a]);
      for (int64_t o = 0; o < out_shape[a]; ++o) {
        maps[a][o] = source_coordinate(mode_, o, before[a], x.dim(a));
      }
    }
    Tensor out = Tensor::empty(x.dtype(), out_shape);
    if (out.numel() == 0) {
      outputs[0] = std::move(out);
      return Status();
    }
    if (rank == 0) {
      std::memcpy(out.raw_data(), x.raw_data(), dtype_size(x.dtype()));
      outputs[0] = std::move(out);
      return Status();
    }
    const std::vector<int64_t> strides = contiguous_strides(x.shape());
    VITRT_RETURN_IF_ERROR(dispatch_element_size(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T fill;
      std::memcpy(&fill, &fill_bits, sizeof(T));
      const T* src = x.data<T>();
      T* dst = out.data<T>();
      const int64_t len = out_shape[rank - 1];
      const std::vector<int64_t>& inner_map = maps[rank - 1];
      // The last axis unpadded: each row is one contiguous source run.
      const bool inner_whole = before[rank - 1] == 0 && after[rank - 1] == 0;
      const auto write_row = [&](T* row, int64_t offset, bool padded) {
        if (padded) {
          std::fill(row, row + len, fill);
        } else if (inner_whole) {
          std::memcpy(row, src + offset, static_cast<size_t>(len) * sizeof(T));
        } else {
          for (int64_t j = 0; j < len; ++j) {
            const int64_t c = inner_map[j];
            row[j] = c < 0 ? fill : src[offset + c];
          }
        }
      };
      if (rank == 1) {
        write_row(dst, 0, false);
        return Status();
      }
      // Rows grouped by their coordinates on the axes before the second-to-last: the offset of
      // that prefix is worked out once for the out_shape[rank - 2] rows that share it (an NHWC
      // map padded on H and W has rows of C values only).
      const int64_t run = out_shape[rank - 2];
      const std::vector<int64_t>& run_map = maps[rank - 2];
      const int64_t groups = out.numel() / (len * run);
      parallel_for(groups, std::max<int64_t>(1, 8192 / (len * run)), [&](int64_t g0, int64_t g1) {
        for (int64_t g = g0; g < g1; ++g) {
          int64_t offset = 0;
          bool padded = false;
          int64_t rem = g;
          for (int a = rank - 3; a >= 0; --a) {
            const int64_t c = maps[a][rem % out_shape[a]];
            rem /= out_shape[a];
            if (c < 0) padded = true;
            offset += c * strides[a];
          }
          T* rows = dst + g * run * len;
          for (int64_t i = 0; i < run; ++i) {
            const int64_t c = run_map[i];
            write_row(rows + i * len, padded || c < 0 ? 0 : offset + c * strides[rank - 2],
                      padded || c < 0);
          }
        }
      });
      return Status();
    }));
    outputs[0] = std::move(out);
    return Status();
  }

 private:
  PadKernel(const Node& node, int64_t opset, PadMode mode)
      : node_(node), opset_(opset), mode_(mode) {}
  const Node& node_;
  int64_t opset_;
  PadMode mode_;
};

}  // namespace

void register_cpu_pad_kernels(CpuKernelRegistry& registry) {
  registry.add("", "Pad", &PadKernel::create);
}

}  // namespace vitrt
