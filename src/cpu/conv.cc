// Conv (1-D, 2-D, 3-D; groups incl. depthwise; strides, dilations, pads, auto_pad; bias).
//
// fp32 has three paths:
//  * depthwise and narrow grouped convs (few input channels per group): a direct loop
//    (cpu/conv_direct.h);
//  * patch embedding (ViT's first layer: 2-D, stride == kernel, no padding or dilation, one
//    group): the image is cut into patch rows and one product with the weights (packed once
//    at load, bias fused) gives [patches, M], transposed into NCHW; a 1x1 conv (stride 1) is
//    the same product with each image's [C, H*W] read as the transposed rows, no copy; a small
//    one (below kSmallPointwiseMacs) is a loop over output rows instead;
//  * the general path: im2col per image, then one oneDNN product per group, batched.
// float64 runs a direct reference loop.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"
#include "cpu/conv_direct.h"
#include "cpu/conv_geometry.h"
#include "cpu/dnnl_matmul.h"
#include "cpu/linear.h"
#include "cpu/patchify.h"
#include "ir/ops/conv_attributes.h"

namespace vitrt {

Result<ConvGeometry> conv_geometry(const Node& node, const ConvAttributes& attrs, const Tensor& x,
                                   const Tensor& w, const Tensor* bias) {
  const int spatial = static_cast<int>(attrs.strides.size());
  if (x.rank() != spatial + 2 || w.rank() != spatial + 2) {
    return invalid_argument("X ", shape_to_string(x.shape()), " and W ", shape_to_string(w.shape()),
                            " must have rank ", spatial + 2);
  }
  if (spatial > 3) return unsupported("Conv with ", spatial, " spatial axes (at most 3)");
  ConvGeometry g;
  g.spatial_rank = spatial;
  g.batch = x.dim(0);
  g.channels = x.dim(1);
  g.out_channels = w.dim(0);
  g.group = attrs.group;
  if (g.channels != w.dim(1) * g.group || g.out_channels % g.group != 0) {
    return invalid_argument("X ", shape_to_string(x.shape()), " and W ", shape_to_string(w.shape()),
                            " do not match for group ", g.group);
  }
  if (bias != nullptr && (bias->rank() != 1 || bias->dim(0) != g.out_channels)) {
    return invalid_argument("B must be [", g.out_channels, "], got ",
                            shape_to_string(bias->shape()));
  }
  for (int i = 0; i < spatial; ++i) {
    const int j = 3 - spatial + i;
    g.in[j] = x.dim(2 + i);
    g.kernel[j] = w.dim(2 + i);
    if (!attrs.kernel_shape.empty() && attrs.kernel_shape[i] != g.kernel[j]) {
      return invalid_argument("attribute 'kernel_shape' ", attrs.kernel_shape[i],
                              " differs from W ", shape_to_string(w.shape()));
    }
    auto axis = attrs.axis(node, i, g.in[j], g.kernel[j]);
    if (!axis.ok()) return invalid_argument(axis.status().message());
    g.out[j] = axis->out;
    g.pad[j] = axis->pad_begin;
    g.pad_end[j] = axis->pad_end;
    g.stride[j] = attrs.strides[i];
    g.dilation[j] = attrs.dilations[i];
  }
  return g;
}

namespace {

// float64: the direct reference loop.
void conv_f64(const ConvGeometry& g, const double* x, const double* w, const double* bias,
              double* y) {
  const int64_t cg = g.group_in(), mg = g.group_out();
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t m = 0; m < g.out_channels; ++m) {
      const int64_t group = m / mg;
      for (int64_t od = 0; od < g.out[0]; ++od) {
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            double sum = bias != nullptr ? bias[m] : 0.0;
            for (int64_t c = 0; c < cg; ++c) {
              const double* xc = x + (n * g.channels + group * cg + c) * g.in_size();
              const double* wc = w + (m * cg + c) * g.kernel_size();
              for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
                const int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dilation[0];
                if (id < 0 || id >= g.in[0]) continue;
                for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
                  const int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dilation[1];
                  if (ih < 0 || ih >= g.in[1]) continue;
                  for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                    const int64_t iw = ow * g.stride[2] - g.pad[2] + kw * g.dilation[2];
                    if (iw < 0 || iw >= g.in[2]) continue;
                    sum += xc[(id * g.in[1] + ih) * g.in[2] + iw] *
                           wc[(kd * g.kernel[1] + kh) * g.kernel[2] + kw];
                  }
                }
              }
            }
            y[(n * g.out_channels + m) * g.out_size() + (od * g.out[1] + oh) * g.out[2] + ow] = sum;
          }
        }
      }
    }
  }
}

class ConvKernel final : public CpuKernel {
 public:
  ConvKernel(const Node& node, ConvAttributes attrs, ConvPath path)
      : node_(node), attrs_(std::move(attrs)), path_(path) {}

  // Packs constant weights for the patch-embedding product ([patches, C*kh*kw] x W^T).
  Status prepare_patch_weights(const Tensor& w, int64_t example_rows) {
    if (w.rank() < 3 || w.numel() == 0) return Status();
    MatmulShape example;
    example.m = example_rows;
    example.n = w.dim(0);
    example.k = w.numel() / w.dim(0);
    example.trans_weights = true;
    example.has_bias = true;
    constant_w_ = true;
    return patch_gemm_.set_constant_weights(w, example);
  }

  Status run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs) override {
    const Tensor& x = *inputs[0];
    const Tensor& w = *inputs[1];
    const Tensor* bias = inputs.size() > 2 ? inputs[2] : nullptr;
    VITRT_RETURN_IF_ERROR(check_linear_dtype("Conv", x.dtype()));
    if (w.dtype() != x.dtype() || (bias != nullptr && bias->dtype() != x.dtype())) {
      return invalid_argument("X, W and B must have one dtype, got ", x.describe(), ", ",
                              w.describe(), bias != nullptr ? ", " + bias->describe() : "");
    }
    VITRT_ASSIGN_OR_RETURN(const ConvGeometry g, conv_geometry(node_, attrs_, x, w, bias));
    Tensor y = Tensor::empty(x.dtype(), g.out_shape());
    if (y.numel() > 0) {
      if (x.dtype() == DType::kFloat64) {
        conv_f64(g, x.data<double>(), w.data<double>(),
                 bias != nullptr ? bias->data<double>() : nullptr, y.data<double>());
      } else if (path_ == ConvPath::kAuto && is_small_pointwise(g)) {
        pointwise_small(g, x.data<float>(), w.data<float>(),
                        bias != nullptr ? bias->data<float>() : nullptr, y.data<float>());
      } else if (path_ == ConvPath::kAuto && g.is_patch_embedding()) {
        VITRT_RETURN_IF_ERROR(run_patch_embedding(g, x, w, bias, y.data<float>()));
      } else if (path_ == ConvPath::kAuto && conv_direct_applies(g)) {
        conv_direct(g, x.data<float>(), w.data<float>(),
                    bias != nullptr ? bias->data<float>() : nullptr, y.data<float>());
      } else {
        VITRT_RETURN_IF_ERROR(run_im2col(g, x, w, bias, y.data<float>()));
      }
    }
    outputs[0] = std::move(y);
    return Status();
  }

 private:
  // A 1x1 conv (stride 1, one group) of at most this many multiply-adds runs as a loop over
  // output rows: the oneDNN product and the transpose back to NCHW cost several microseconds
  // per image, more than the arithmetic. EfficientViT's per-head qkv convs (4 windows of 16x7x7
  // to 48 channels, 150 thousand) took 30-40 us each that way, not a layout region's Linear
  // since they sit between the attention's reshapes.
  static constexpr int64_t kSmallPointwiseMacs = int64_t{1} << 20;

  static bool is_small_pointwise(const ConvGeometry& g) {
    // is_patch_embedding: 2-D, one group, stride == kernel, no padding or dilation.
    return g.is_patch_embedding() && g.kernel[1] == 1 && g.kernel[2] == 1 &&
           g.batch * g.out_channels * g.channels * g.in_size() <= kSmallPointwiseMacs;
  }

  // y[n, m, :] = b[m] + sum_c W[m, c] x[n, c, :], one output row at a time (the inner loop over
  // the row's positions vectorizes).
  static void pointwise_small(const ConvGeometry& g, const float* x, const float* w, const float* b,
                              float* y) {
    const int64_t c_n = g.channels, m_n = g.out_channels, p_n = g.in_size();
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, c_n * p_n));
    parallel_for(g.batch * m_n, grain, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t n = t / m_n, m = t % m_n;
        float* row = y + t * p_n;
        const float* xn = x + n * c_n * p_n;
        const float* wm = w + m * c_n;
        const float bv = b != nullptr ? b[m] : 0.0f;
        for (int64_t p = 0; p < p_n; ++p) row[p] = bv;
        for (int64_t c = 0; c < c_n; ++c) {
          const float wv = wm[c];
          const float* xr = xn + c * p_n;
          for (int64_t p = 0; p < p_n; ++p) row[p] += wv * xr[p];
        }
      }
    });
  }

  Status run_patch_embedding(const ConvGeometry& g, const Tensor& x, const Tensor& w,
                             const Tensor* bias, float* y) {
    const int64_t ph = g.kernel[1], pw = g.kernel[2];
    const int64_t oh_n = g.out[1], ow_n = g.out[2];
    const int64_t patches = oh_n * ow_n;  // per image
    const int64_t k = g.channels * ph * pw;
    const int64_t m = g.out_channels;
    PatchGeometry pg;
    pg.batch = g.batch;
    pg.channels = g.channels;
    pg.height = g.in[1];
    pg.width = g.in[2];
    pg.ph = ph;
    pg.pw = pw;
    Tensor tokens_t = Tensor::empty(DType::kFloat32, {g.batch * patches, m});
    const float* tokens = tokens_t.data<float>();
    std::vector<float> zero_bias;
    const float* b = bias != nullptr ? bias->data<float>() : nullptr;
    if (b == nullptr) {
      zero_bias.assign(m, 0.0f);
      b = zero_bias.data();
    }
    MatmulShape s;
    s.k = k;
    s.n = m;
    s.trans_weights = true;
    s.has_bias = true;
    const float* weights = constant_w_ ? nullptr : w.data<float>();
    if (ph == 1 && pw == 1) {
      // A pointwise conv (an NCHW 1x1 layer: PoolFormer's MLP, a CNN's projection outside a
      // channels-last region): each image's [C, H*W] is already the rows' transpose, read as
      // such by the product; no patch copy.
      s.m = patches;
      s.trans_src = true;
      for (int64_t n = 0; n < g.batch; ++n) {
        VITRT_RETURN_IF_ERROR(patch_gemm_.run(s, x.data<float>() + n * k * patches, weights, b,
                                              tokens_t.data<float>() + n * patches * m));
      }
    } else {
      Tensor rows_t = Tensor::empty(DType::kFloat32, {g.batch * patches, k});
      patchify(pg, x.data<float>(), rows_t.data<float>());
      // tokens[(n, p), m] = rows x W^T + bias
      s.m = g.batch * patches;
      VITRT_RETURN_IF_ERROR(
          patch_gemm_.run(s, rows_t.data<float>(), weights, b, tokens_t.data<float>()));
    }
    // y[n, m, p] = tokens[n, p, m], in tiles so reads and writes both stay in cache.
    constexpr int64_t kTile = 32;
    const int64_t p_tiles = (patches + kTile - 1) / kTile;
    parallel_for(g.batch * p_tiles, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t n = t / p_tiles, p0 = (t % p_tiles) * kTile;
        const int64_t p1 = std::min(patches, p0 + kTile);
        const float* src = tokens + n * patches * m;
        float* dst = y + n * m * patches;
        for (int64_t c = 0; c < m; ++c) {
          for (int64_t p = p0; p < p1; ++p) dst[c * patches + p] = src[p * m + c];
        }
      }
    });
    return Status();
  }

  Status run_im2col(const ConvGeometry& g, const Tensor& x, const Tensor& w, const Tensor* bias,
                    float* y) {
    const int64_t ks = g.kernel_size(), os = g.out_size();
    // A 1x1 kernel with stride 1 and no padding reads the image as it is.
    bool direct = true;
    for (int i = 0; i < 3; ++i) {
      direct = direct && g.kernel[i] == 1 && g.stride[i] == 1 && g.pad[i] == 0 && g.pad_end[i] == 0;
    }
    Tensor col = direct ? Tensor() : Tensor::empty(DType::kFloat32, {g.channels * ks, os});
    // Per group: y[group] [Mg, P] = W[group] [Mg, Cg*ks] x col[group] [Cg*ks, P].
    MatmulShape s;
    s.batch = g.group;
    s.m = g.group_out();
    s.k = g.group_in() * ks;
    s.n = os;
    for (int64_t n = 0; n < g.batch; ++n) {
      const float* xn = x.data<float>() + n * g.channels * g.in_size();
      if (!direct) im2col(g, xn, col.data<float>());
      float* yn = y + n * g.out_channels * os;
      VITRT_RETURN_IF_ERROR(
          im2col_gemm_.run(s, w.data<float>(), direct ? xn : col.data<float>(), nullptr, yn));
    }
    if (bias != nullptr) {
      const float* b = bias->data<float>();
      parallel_for(g.batch * g.out_channels, 8, [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          float* row = y + t * os;
          const float v = b[t % g.out_channels];
          for (int64_t p = 0; p < os; ++p) row[p] += v;
        }
      });
    }
    return Status();
  }

  const Node& node_;
  ConvAttributes attrs_;
  ConvPath path_;
  DnnlMatmul patch_gemm_;   // [patches, C*kh*kw] x W^T, W constant when the model says so
  DnnlMatmul im2col_gemm_;  // W[group] x col[group]
  bool constant_w_ = false;
};

}  // namespace

Result<std::unique_ptr<CpuKernel>> make_conv_kernel(const KernelInit& init, ConvPath path) {
  VITRT_RETURN_IF_ERROR(check_linear_dtype(init));
  const Tensor* w = init.constant_input(1);
  const Value& x = init.graph.values[init.node.inputs[0]];
  const Value& wv = init.graph.values[init.node.inputs[1]];
  int rank = 0;
  if (w != nullptr) {
    rank = w->rank();
  } else if (wv.has_shape) {
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
  VITRT_ASSIGN_OR_RETURN(ConvAttributes attrs, ConvAttributes::parse(init.node, rank - 2));
  auto kernel = std::make_unique<ConvKernel>(init.node, std::move(attrs), path);
  if (path == ConvPath::kAuto && w != nullptr && w->dtype() == DType::kFloat32) {
    // The patch-embedding product's rows: batch x patches, when the graph says; else one
    // 224x224 image cut into 16x16 patches.
    int64_t example_rows = 196;
    if (x.has_shape && x.shape.size() == 4 && rank == 4) {
      const Dim rows = x.shape[0] * (x.shape[2] / Dim(w->dim(2))) * (x.shape[3] / Dim(w->dim(3)));
      if (rows.is_static() && rows.value() > 0) example_rows = rows.value();
    }
    Status s = kernel->prepare_patch_weights(*w, example_rows);
    if (!s.ok()) return s.with_context(init.node.describe());
  }
  return std::unique_ptr<CpuKernel>(std::move(kernel));
}

}  // namespace vitrt
