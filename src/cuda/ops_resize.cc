// Resize (opset 10+), Upsample and GridSample on CUDA. Resize's attributes and output lengths
// come from the CPU kernel's parser and plan (src/cpu/resize.h), so both backends accept the
// same models; the device kernel resizes up to two axes at once (every image resize and
// position-embedding interpolation: the last two axes of NCHW). GridSample's come from
// src/ir/ops/grid_sample.h, as the CPU kernel's.
#include "cpu/resize.h"
#include "cuda/cuda_kernel.h"
#include "ir/ops/grid_sample.h"

namespace vitrt::cuda {
namespace {

// resize.cu reads the modes as ints.
static_assert(static_cast<int>(resize::Mode::kNearest) == 0 &&
              static_cast<int>(resize::Mode::kCubic) == 2);
static_assert(static_cast<int>(resize::Coord::kHalfPixel) == 0 &&
              static_cast<int>(resize::Coord::kTfCropAndResize) == 5 &&
              static_cast<int>(resize::Coord::kTfHalfPixelForNn) == 6);
static_assert(static_cast<int>(resize::NearestMode::kRoundPreferFloor) == 0 &&
              static_cast<int>(resize::NearestMode::kSimple) == 4);

class ResizeKernel final : public CudaKernel {
 public:
  explicit ResizeKernel(resize::ResizeParams p) : p_(std::move(p)) {}

  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    if (!dtype_is_float(x.dtype)) {
      return unsupported("input X of dtype ", dtype_name(x.dtype),
                         " has no CUDA Resize kernel (float only)");
    }
    // Scales, sizes and roi are read on the host: constants, or computed from shapes.
    std::vector<const Tensor*> host(in.size(), nullptr);
    for (size_t i = 1; i < in.size(); ++i) {
      if (in[i] == nullptr || in[i]->numel() == 0) continue;
      const bool roi_unused =
          static_cast<int>(i) == p_.roi_input && p_.coord != resize::Coord::kTfCropAndResize;
      if (roi_unused) continue;  // as the CPU plan, which reads roi only for tf_crop_and_resize
      if (in[i]->host == nullptr) {
        const int k = static_cast<int>(i);
        const char* name = k == p_.scales_input  ? "scales"
                           : k == p_.sizes_input ? "sizes"
                           : k == p_.roi_input   ? "roi"
                                                 : "?";
        return unsupported("input ", name,
                           " must be a constant or computed from shapes (it is computed on the "
                           "GPU here)");
      }
      host[i] = in[i]->host;
    }
    VITRT_ASSIGN_OR_RETURN(std::vector<resize::AxisPlan> plan,
                           resize::make_resize_plan(p_, x.shape, host));
    std::vector<int> axes;
    for (size_t i = 0; i < plan.size(); ++i) {
      if (!resize::axis_is_identity(p_, plan[i])) axes.push_back(static_cast<int>(i));
    }
    if (axes.size() > 2) {
      return unsupported("Resize changes ", axes.size(), " axes of ", shape_to_string(x.shape),
                         "; the CUDA kernel resizes at most 2");
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape.resize(plan.size());
      for (size_t i = 0; i < plan.size(); ++i) out[0].shape[i] = plan[i].out_len;
      return Status::ok_status();
    }
    if (axes.empty()) {
      return cuda_status(
          cudaMemcpyAsync(out[0].data, x.data, x.nbytes(), cudaMemcpyDeviceToDevice, ctx.stream),
          "Resize");
    }
    ResizeArgs args;
    args.mode = static_cast<int>(p_.mode);
    args.coord = static_cast<int>(p_.coord);
    args.nearest = static_cast<int>(p_.nearest);
    args.cubic_a = p_.cubic_a;
    args.exclude_outside = p_.exclude_outside;
    args.antialias = p_.antialias;
    args.extrapolation = static_cast<float>(p_.extrapolation);
    // [outer, in0, mid, in1, inner]; a single resized axis leaves axis[1] a copied length 1.
    const int a0 = axes[0];
    const int a1 = axes.size() > 1 ? axes[1] : -1;
    const int rank = static_cast<int>(x.shape.size());
    for (int i = 0; i < rank; ++i) {
      if (i < a0) {
        args.outer *= x.shape[i];
      } else if (i > a0 && (a1 < 0 || i < a1)) {
        args.mid *= x.shape[i];
      } else if (a1 >= 0 && i > a1) {
        args.inner *= x.shape[i];
      }
    }
    int slot = 0;
    for (int a : axes) {
      const resize::AxisPlan& ap = plan[a];
      ResizeAxisArgs& r = args.axis[slot++];
      r.resize = true;
      r.in_len = ap.in_len;
      r.out_len = ap.out_len;
      r.scale = ap.scale;
      r.output_width = ap.output_width;
      r.roi_start = ap.roi_start;
      r.roi_end = ap.roi_end;
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_resize(t, args, x.data, out[0].data, ctx.stream), "Resize");
  }

 private:
  resize::ResizeParams p_;
};

Result<std::unique_ptr<CudaKernel>> make_resize(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(resize::ResizeParams p,
                         resize::parse_resize_params(init.node, init.opset, false));
  return std::unique_ptr<CudaKernel>(new ResizeKernel(std::move(p)));
}

Result<std::unique_ptr<CudaKernel>> make_upsample(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(resize::ResizeParams p,
                         resize::parse_resize_params(init.node, init.opset, true));
  return std::unique_ptr<CudaKernel>(new ResizeKernel(std::move(p)));
}

class GridSampleKernel final : public CudaKernel {
 public:
  explicit GridSampleKernel(GridSampleAttributes a) : a_(a) {}

  Status run(const std::vector<const DeviceTensor*>& in, std::vector<DeviceTensor>& out,
             const LaunchContext& ctx) override {
    const DeviceTensor& x = *in[0];
    const DeviceTensor& grid = *in[1];
    if (!dtype_is_float(x.dtype) || grid.dtype != x.dtype) {
      return unsupported("GridSample of X ", dtype_name(x.dtype), " at grid ",
                         dtype_name(grid.dtype),
                         " has no CUDA kernel (float X and grid of one dtype)");
    }
    if (x.shape.size() != 4 || grid.shape.size() != 4 || grid.shape[3] != 2 ||
        grid.shape[0] != x.shape[0]) {
      return invalid_argument("X ", shape_to_string(x.shape), " and grid ",
                              shape_to_string(grid.shape),
                              " must be [N, C, H, W] and [N, Ho, Wo, 2]");
    }
    GridSampleArgs args;
    args.n = x.shape[0];
    args.c = x.shape[1];
    args.h = x.shape[2];
    args.w = x.shape[3];
    args.ho = grid.shape[1];
    args.wo = grid.shape[2];
    args.mode = a_.mode;
    args.padding = a_.padding;
    args.align_corners = a_.align_corners;
    if (args.n * args.c * args.ho * args.wo > 0 && (args.h == 0 || args.w == 0)) {
      return invalid_argument("X ", shape_to_string(x.shape), " has an empty image to sample");
    }
    if (!ctx.launch) {
      out[0].dtype = x.dtype;
      out[0].shape = {args.n, args.c, args.ho, args.wo};
      return Status::ok_status();
    }
    VITRT_ASSIGN_OR_RETURN(Elt t, elt_of(x.dtype));
    return cuda_status(launch_grid_sample(t, args, x.data, grid.data, out[0].data, ctx.stream),
                       "GridSample");
  }

 private:
  GridSampleAttributes a_;
};

Result<std::unique_ptr<CudaKernel>> make_grid_sample(const CudaKernelInit& init) {
  VITRT_ASSIGN_OR_RETURN(GridSampleAttributes a, GridSampleAttributes::parse(init.node));
  return std::unique_ptr<CudaKernel>(new GridSampleKernel(a));
}

}  // namespace

void register_cuda_resize_kernels(CudaKernelRegistry& r) {
  r.add("", "Resize", make_resize);
  r.add("", "Upsample", make_upsample);
  r.add("", "GridSample", make_grid_sample);
}

}  // namespace vitrt::cuda
