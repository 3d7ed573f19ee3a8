// One Conv or ConvTranspose call's geometry with every axis count normalised to 3 spatial axes
// (leading axes of size 1): what conv.cc and conv_transpose.cc work out from the attributes and
// shapes, and what their paths read (ConvTranspose reads only the begin padding, pad).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

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

}  // namespace vitrt
