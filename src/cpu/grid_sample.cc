// GridSample (opsets 16-22) on the CPU, the reference: X [N, C, H, W] float32 or float64 sampled
// at grid [N, Ho, Wo, 2] (float32 or float64; x then y) with linear or nearest interpolation,
// zeros / border / reflection padding and either align_corners. Each output pixel's source
// position comes from src/ir/ops/grid_sample_math.h (shared with the CUDA kernel); taps outside
// the image read 0. Linear interpolation accumulates in float64.
#include <cmath>
#include <memory>

#include "core/parallel.h"
#include "cpu/cpu_kernel.h"
#include "ir/ops/grid_sample.h"

namespace vitrt {

namespace {

struct Geometry {
  int64_t n = 0, c = 0, h = 0, w = 0, ho = 0, wo = 0;
};

template <typename TX, typename TG>
void grid_sample(const Geometry& g, const GridSampleAttributes& a, const TX* x, const TG* grid,
                 TX* y) {
  const int64_t plane = g.h * g.w, out_plane = g.ho * g.wo;
  parallel_for(g.n * out_plane, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / out_plane, p = i % out_plane;
      const double sx = grid_sample::source_position(static_cast<double>(grid[2 * i]), g.w,
                                                     a.align_corners, a.padding);
      const double sy = grid_sample::source_position(static_cast<double>(grid[2 * i + 1]), g.h,
                                                     a.align_corners, a.padding);
      const TX* xn = x + n * g.c * plane;
      TX* yn = y + n * g.c * out_plane + p;
      auto inside = [&](int64_t r, int64_t col) {
        return r >= 0 && r < g.h && col >= 0 && col < g.w;
      };
      if (a.mode == grid_sample::kNearest) {
        // Half-way positions round to even, as std::nearbyint in PyTorch and ONNX Runtime.
        const int64_t col = static_cast<int64_t>(std::nearbyint(sx));
        const int64_t r = static_cast<int64_t>(std::nearbyint(sy));
        const bool in = inside(r, col);
        for (int64_t c = 0; c < g.c; ++c) {
          yn[c * out_plane] = in ? xn[c * plane + r * g.w + col] : TX(0);
        }
        continue;
      }
      const double fx = std::floor(sx), fy = std::floor(sy);
      const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
      const double wx1 = sx - fx, wy1 = sy - fy;
      const double wx[2] = {1 - wx1, wx1}, wy[2] = {1 - wy1, wy1};
      for (int64_t c = 0; c < g.c; ++c) {
        const TX* xc = xn + c * plane;
        double acc = 0.0;
        for (int dy = 0; dy < 2; ++dy) {
          for (int dx = 0; dx < 2; ++dx) {
            if (inside(y0 + dy, x0 + dx)) {
              acc += wy[dy] * wx[dx] * static_cast<double>(xc[(y0 + dy) * g.w + x0 + dx]);
            }
          }
        }
        yn[c * out_plane] = static_cast<TX>(acc);
      }
    }
  });
}

template <typename TX>
void dispatch_grid(const Geometry& g, const GridSampleAttributes& a, const Tensor& x,
                   const Tensor& grid, Tensor& y) {
  if (grid.dtype() == DType::kFloat64) {
    grid_sample(g, a, x.data<TX>(), grid.data<double>(), y.data<TX>());
  } else {
    grid_sample(g, a, x.data<TX>(), grid.data<float>(), y.data<TX>());
  }
}

class GridSampleKernel final : public CpuKernel {
 public:
  explicit GridSampleKernel(GridSampleAttributes a) : a_(a) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& grid = *inputs[1];
    auto supported = [](DType t) { return t == DType::kFloat32 || t == DType::kFloat64; };
    if (!supported(x.dtype()) || !supported(grid.dtype())) {
      return unsupported("GridSample of X ", x.describe(), " at grid ", grid.describe(),
                         " (float32 and float64 are supported)");
    }
    if (x.rank() != 4 || grid.rank() != 4 || grid.dim(3) != 2 || grid.dim(0) != x.dim(0)) {
      return invalid_argument("X ", shape_to_string(x.shape()), " and grid ",
                              shape_to_string(grid.shape()),
                              " must be [N, C, H, W] and [N, Ho, Wo, 2]");
    }
    Geometry g{x.dim(0), x.dim(1), x.dim(2), x.dim(3), grid.dim(1), grid.dim(2)};
    Tensor y = Tensor::empty(x.dtype(), {g.n, g.c, g.ho, g.wo});
    if (y.numel() > 0 && (g.h == 0 || g.w == 0)) {
      return invalid_argument("X ", shape_to_string(x.shape()), " has an empty image to sample");
    }
    if (y.numel() > 0) {
      if (x.dtype() == DType::kFloat64) {
        dispatch_grid<double>(g, a_, x, grid, y);
      } else {
        dispatch_grid<float>(g, a_, x, grid, y);
      }
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  GridSampleAttributes a_;
};

Result<std::unique_ptr<CpuKernel>> make_grid_sample(const KernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(GridSampleAttributes a, GridSampleAttributes::parse(init.node));
  return std::unique_ptr<CpuKernel>(std::make_unique<GridSampleKernel>(a));
}

}  // namespace

void register_cpu_grid_sample_kernels(CpuKernelRegistry& registry) {
  registry.add("", "GridSample", make_grid_sample);
}

}  // namespace vitrt
