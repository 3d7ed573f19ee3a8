// CPU kernel of Col2Im (torch.nn.Fold): each (image, channel) plane is zeroed and every column
// entry added at the position its block offset and grid position select (src/ir/ops/col2im.h),
// in the input's order, so the sums are those of a straight loop over the definition.
#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "cpu/data_movement.h"
#include "ir/ops/col2im.h"

namespace vitrt {
namespace {

template <typename T>
void col2im(const Col2ImGeometry& g, int64_t planes, const T* x, T* y) {
  const int k_dims = g.spatial();
  int64_t image_size = 1;
  for (int64_t d : g.image) image_size *= d;
  parallel_for(planes, 1, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> ks(k_dims), ls(k_dims);
    for (int64_t p = begin; p < end; ++p) {  // p = n * C + c
      T* out = y + p * image_size;
      std::fill(out, out + image_size, T(0));
      const T* in = x + p * g.kernel * g.length;  // rows c*K .. c*K + K - 1 of image n
      for (int64_t k = 0; k < g.kernel; ++k) {
        for (int64_t r = k, d = k_dims - 1; d >= 0; --d) {
          ks[d] = r % g.block[d];
          r /= g.block[d];
        }
        for (int64_t l = 0; l < g.length; ++l) {
          int64_t at = 0;
          bool inside = true;
          for (int64_t r = l, d = k_dims - 1; d >= 0; --d) {
            ls[d] = r % g.grid[d];
            r /= g.grid[d];
          }
          for (int d = 0; d < k_dims && inside; ++d) {
            const int64_t pos = ls[d] * g.strides[d] - g.pads[d] + ks[d] * g.dilations[d];
            inside = pos >= 0 && pos < g.image[d];
            at = at * g.image[d] + pos;
          }
          if (inside) out[at] += in[k * g.length + l];
        }
      }
    }
  });
}

class Col2ImKernel final : public CpuKernel {
 public:
  explicit Col2ImKernel(const Node& node) : node_(node) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    if (x.dtype() != DType::kFloat32 && x.dtype() != DType::kFloat64) {
      return unsupported("input is ", dtype_name(x.dtype()),
                         "; only float32 and float64 are supported on CPU");
    }
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> image, read_int_tensor(inputs[1], "image_shape"));
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> block, read_int_tensor(inputs[2], "block_shape"));
    VITRT_ASSIGN_OR_RETURN(const Col2ImGeometry g,
                           col2im_geometry(node_, std::move(image), std::move(block)));
    if (x.rank() != 3 || x.dim(1) % g.kernel != 0 || x.dim(2) != g.length) {
      return invalid_argument("input ", x.describe(), " must be [N, C * ", g.kernel, ", ", g.length,
                              "] for image_shape ", shape_to_string(g.image), " and block_shape ",
                              shape_to_string(g.block));
    }
    std::vector<int64_t> shape = {x.dim(0), x.dim(1) / g.kernel};
    shape.insert(shape.end(), g.image.begin(), g.image.end());
    Tensor y = Tensor::empty(x.dtype(), shape);
    const int64_t planes = shape[0] * shape[1];
    if (x.dtype() == DType::kFloat64) {
      col2im(g, planes, x.data<double>(), y.data<double>());
    } else {
      col2im(g, planes, x.data<float>(), y.data<float>());
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  const Node& node_;
};

Result<std::unique_ptr<CpuKernel>> make_col2im_kernel(const KernelInit& init) {
  return std::unique_ptr<CpuKernel>(new Col2ImKernel(init.node));
}

}  // namespace

void register_cpu_col2im_kernel(CpuKernelRegistry& registry) {
  registry.add("", "Col2Im", make_col2im_kernel);
}

}  // namespace vitrt
