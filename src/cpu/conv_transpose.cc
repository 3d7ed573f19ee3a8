// ConvTranspose (1-D, 2-D, 3-D; groups; strides, dilations, pads, output_padding, output_shape,
// auto_pad; bias): the upsampling layers of dense-prediction ViTs (DPT's reassemble stage,
// segmentation necks).
//
// fp32: per image, one oneDNN product per group gives every input position's contribution to
// every (output channel, kernel tap), cols[g] [Mg * taps, P] = W[g]^T [Mg * taps, Cg] x X[g]
// [Cg, P] (W is stored [C, Mg, taps], so W[g]^T is the product's transposed source as it lies);
// col2im then adds each column into the output position its tap lands on. float64 runs a direct
// reference loop.
#include <algorithm>
#include <array>
#include <vector>

#include "core/parallel.h"
#include "cpu/conv_geometry.h"
#include "cpu/dnnl_matmul.h"
#include "cpu/linear.h"
#include "ir/ops/conv_attributes.h"

namespace vitrt {

namespace {

Result<ConvGeometry> transpose_geometry(const Node& node, const ConvTransposeAttributes& attrs,
                                        const Tensor& x, const Tensor& w, const Tensor* bias) {
  const int spatial = static_cast<int>(attrs.conv.strides.size());
  if (x.rank() != spatial + 2 || w.rank() != spatial + 2) {
    return invalid_argument("X ", shape_to_string(x.shape()), " and W ", shape_to_string(w.shape()),
                            " must have rank ", spatial + 2);
  }
  if (spatial > 3) return unsupported("ConvTranspose with ", spatial, " spatial axes (at most 3)");
  ConvGeometry g;
  g.spatial_rank = spatial;
  g.batch = x.dim(0);
  g.channels = x.dim(1);
  g.group = attrs.conv.group;
  g.out_channels = w.dim(1) * g.group;
  if (w.dim(0) != g.channels || g.channels % g.group != 0) {
    return invalid_argument("X ", shape_to_string(x.shape()), " and W ", shape_to_string(w.shape()),
                            " do not match for group ", g.group, " (W is [C, M/group, kernel...])");
  }
  if (bias != nullptr && (bias->rank() != 1 || bias->dim(0) != g.out_channels)) {
    return invalid_argument("B must be [", g.out_channels, "], got ",
                            shape_to_string(bias->shape()));
  }
  for (int i = 0; i < spatial; ++i) {
    const int j = 3 - spatial + i;
    g.in[j] = x.dim(2 + i);
    g.kernel[j] = w.dim(2 + i);
    if (!attrs.conv.kernel_shape.empty() && attrs.conv.kernel_shape[i] != g.kernel[j]) {
      return invalid_argument("attribute 'kernel_shape' ", attrs.conv.kernel_shape[i],
                              " differs from W ", shape_to_string(w.shape()));
    }
    auto axis = attrs.axis(node, i, g.in[j], g.kernel[j]);
    if (!axis.ok()) return invalid_argument(axis.status().message());
    g.out[j] = axis->out;
    g.pad[j] = axis->pad_begin;
    g.stride[j] = attrs.conv.strides[i];
    g.dilation[j] = attrs.conv.dilations[i];
  }
  return g;
}

// The output position input position `i` reaches through tap `k` on axis `a`, or -1 outside.
inline int64_t landing(const ConvGeometry& g, int a, int64_t i, int64_t k) {
  const int64_t o = i * g.stride[a] - g.pad[a] + k * g.dilation[a];
  return o >= 0 && o < g.out[a] ? o : -1;
}

// float64: the direct reference loop (scatter form).
void conv_transpose_f64(const ConvGeometry& g, const double* x, const double* w, const double* bias,
                        double* y) {
  const int64_t cg = g.group_in(), mg = g.group_out(), os = g.out_size();
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t m = 0; m < g.out_channels; ++m) {
      double* ym = y + (n * g.out_channels + m) * os;
      for (int64_t p = 0; p < os; ++p) ym[p] = bias != nullptr ? bias[m] : 0.0;
      const int64_t group = m / mg, mm = m % mg;
      for (int64_t c = 0; c < cg; ++c) {
        const int64_t ci = group * cg + c;
        const double* xc = x + (n * g.channels + ci) * g.in_size();
        const double* wc = w + (ci * mg + mm) * g.kernel_size();
        for (int64_t id = 0; id < g.in[0]; ++id) {
          for (int64_t ih = 0; ih < g.in[1]; ++ih) {
            for (int64_t iw = 0; iw < g.in[2]; ++iw) {
              const double v = xc[(id * g.in[1] + ih) * g.in[2] + iw];
              for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
                const int64_t od = landing(g, 0, id, kd);
                if (od < 0) continue;
                for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
                  const int64_t oh = landing(g, 1, ih, kh);
                  if (oh < 0) continue;
                  for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                    const int64_t ow = landing(g, 2, iw, kw);
                    if (ow < 0) continue;
                    ym[(od * g.out[1] + oh) * g.out[2] + ow] +=
                        v * wc[(kd * g.kernel[1] + kh) * g.kernel[2] + kw];
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

// col2im of one image: y[m, landing(i, k)] += cols[(m, k), i], bias first. Each task owns output
// channels, so no two threads write one value.
void col2im(const ConvGeometry& g, const float* cols, const float* bias, float* y) {
  const int64_t ks = g.kernel_size(), is = g.in_size(), os = g.out_size();
  parallel_for(g.out_channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t m = begin; m < end; ++m) {
      float* ym = y + m * os;
      const float b = bias != nullptr ? bias[m] : 0.0f;
      for (int64_t p = 0; p < os; ++p) ym[p] = b;
      // cols is [group][Mg * taps, P]: channel m's rows are consecutive, one per tap.
      const float* cm = cols + m * ks * is;
      for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
        for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
          for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
            const float* row = cm + ((kd * g.kernel[1] + kh) * g.kernel[2] + kw) * is;
            for (int64_t id = 0; id < g.in[0]; ++id) {
              const int64_t od = landing(g, 0, id, kd);
              if (od < 0) continue;
              for (int64_t ih = 0; ih < g.in[1]; ++ih) {
                const int64_t oh = landing(g, 1, ih, kh);
                if (oh < 0) continue;
                const float* src = row + (id * g.in[1] + ih) * g.in[2];
                float* dst = ym + (od * g.out[1] + oh) * g.out[2];
                for (int64_t iw = 0; iw < g.in[2]; ++iw) {
                  const int64_t ow = landing(g, 2, iw, kw);
                  if (ow >= 0) dst[ow] += src[iw];
                }
              }
            }
          }
        }
      }
    }
  });
}

class ConvTransposeKernel final : public CpuKernel {
 public:
  ConvTransposeKernel(const Node& node, ConvTransposeAttributes attrs)
      : node_(node), attrs_(std::move(attrs)) {}

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& w = *inputs[1];
    const Tensor* bias = inputs.size() > 2 ? inputs[2] : nullptr;
    VITRT_RETURN_IF_ERROR(check_linear_dtype("ConvTranspose", x.dtype()));
    if (w.dtype() != x.dtype() || (bias != nullptr && bias->dtype() != x.dtype())) {
      return invalid_argument("X, W and B must have one dtype, got ", x.describe(), ", ",
                              w.describe(), bias != nullptr ? ", " + bias->describe() : "");
    }
    VITRT_ASSIGN_OR_RETURN(const ConvGeometry g, transpose_geometry(node_, attrs_, x, w, bias));
    Tensor y = Tensor::empty(x.dtype(), g.out_shape());
    if (y.numel() > 0) {
      if (x.dtype() == DType::kFloat64) {
        conv_transpose_f64(g, x.data<double>(), w.data<double>(),
                           bias != nullptr ? bias->data<double>() : nullptr, y.data<double>());
      } else {
        VITRT_RETURN_IF_ERROR(run_f32(g, x, w, bias, y.data<float>()));
      }
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  Status run_f32(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* bias,
                 float* y) {
    const int64_t ks = g.kernel_size(), is = g.in_size(), os = g.out_size();
    const float* b = bias != nullptr ? bias->data<float>() : nullptr;
    if (g.in_size() == 0 || g.channels == 0) {  // nothing reaches the output: the bias alone
      for (int64_t t = 0; t < g.batch * g.out_channels; ++t) {
        std::fill(y + t * os, y + (t + 1) * os, b != nullptr ? b[t % g.out_channels] : 0.0f);
      }
      return Status();
    }
    Tensor cols = Tensor::empty(DType::kFloat32, {g.out_channels * ks, is});
    MatmulShape s;
    s.batch = g.group;
    s.m = g.group_out() * ks;
    s.k = g.group_in();
    s.n = is;
    s.trans_src = true;  // W[g] lies [Cg, Mg * taps]: the source [K, M]
    for (int64_t n = 0; n < g.batch; ++n) {
      const float* xn = x.data<float>() + n * g.channels * is;
      VITRT_RETURN_IF_ERROR(gemm_.run(s, w.data<float>(), xn, nullptr, cols.data<float>()));
      col2im(g, cols.data<float>(), b, y + n * g.out_channels * os);
    }
    return Status();
  }

  const Node& node_;
  ConvTransposeAttributes attrs_;
  DnnlMatmul gemm_;
};

}  // namespace

Result<std::unique_ptr<CpuKernel>> make_conv_transpose_kernel(const KernelInit& init) {
  VITRT_RETURN_IF_ERROR(check_linear_dtype(init));
  const Value& x = init.graph.values[init.node.inputs[0]];
  const Value& wv = init.graph.values[init.node.inputs[1]];
  int rank = 0;
  if (wv.has_shape) {
    rank = static_cast<int>(wv.shape.size());
  } else if (x.has_shape) {
    rank = static_cast<int>(x.shape.size());
  } else {
    return unsupported(init.node.describe(), ": the rank of X and W is unknown at load time");
  }
  if (rank < 3 || rank > 5) {
    return unsupported(init.node.describe(), ": rank ", rank,
                       " (1 to 3 spatial axes are supported)");
  }
  VITRT_ASSIGN_OR_RETURN(ConvTransposeAttributes attrs,
                         ConvTransposeAttributes::parse(init.node, rank - 2));
  return std::unique_ptr<CpuKernel>(new ConvTransposeKernel(init.node, std::move(attrs)));
}

}  // namespace vitrt
