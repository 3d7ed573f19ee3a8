// One Conv or ConvTranspose call's geometry with every axis count normalised to 3 spatial axes
// (leading axes of size 1): what conv.cc and conv_transpose.cc work out from the attributes and
// shapes, and what their paths read (ConvTranspose reads only the begin padding, pad).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "core/parallel.h"
#include "ir/graph.h"
#include "ir/ops/conv_attributes.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

struct ConvGeometry {
  int64_t batch = 0, channels = 0, out_channels = 0, group = 1;
  std::array<int64_t, 3> in{1, 1, 1}, kernel{1, 1, 1}, out{1, 1, 1};
  std::array<int64_t, 3> stride{1, 1, 1}, dilation{1, 1, 1}, pad{0, 0, 0}, pad_end{0, 0, 0};
  int spatial_rank = 0;

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t kernel_size() const { return kernel[0] * kernel[1] * kernel[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t group_in() const { return channels / group; }
  int64_t group_out() const { return out_channels / group; }

  std::vector<int64_t> out_shape() const {
    std::vector<int64_t> shape = {batch, out_channels};
    for (int i = 3 - spatial_rank; i < 3; ++i) shape.push_back(out[i]);
    return shape;
  }
  bool is_patch_embedding() const {
    if (spatial_rank != 2 || group != 1) return false;
    for (int i = 0; i < 3; ++i) {
      if (stride[i] != kernel[i] || dilation[i] != 1 || pad[i] != 0 || pad_end[i] != 0) {
        return false;
      }
    }
    return true;
  }
};

// A Conv call's geometry from its attributes and operands (bias may be null); errors say what
// does not match.
Result<ConvGeometry> conv_geometry(const Node& node, const ConvAttributes& attrs, const Tensor& x,
                                   const Tensor& w, const Tensor* bias);

// im2col of one image: col[(c * kernel_size + kernel offset), output position], zero where the
// kernel reads padding.
template <typename T>
void im2col(const ConvGeometry& g, const T* x, T* col) {
  const int64_t ks = g.kernel_size(), os = g.out_size();
  parallel_for(g.channels * ks, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t c = r / ks;
      int64_t rest = r % ks;
      const int64_t kw = rest % g.kernel[2];
      rest /= g.kernel[2];
      const int64_t kh = rest % g.kernel[1];
      const int64_t kd = rest / g.kernel[1];
      const T* xc = x + c * g.in_size();
      T* dst = col + r * os;
      for (int64_t od = 0; od < g.out[0]; ++od) {
        const int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dilation[0];
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          const int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dilation[1];
          T* row = dst + (od * g.out[1] + oh) * g.out[2];
          if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
            std::fill(row, row + g.out[2], T{0});
            continue;
          }
          const T* xrow = xc + (id * g.in[1] + ih) * g.in[2];
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            const int64_t iw = ow * g.stride[2] - g.pad[2] + kw * g.dilation[2];
            row[ow] = iw >= 0 && iw < g.in[2] ? xrow[iw] : T{0};
          }
        }
      }
    }
  });
}

}  // namespace vitrt
