// Col2Im (torch.nn.Fold) as the schema, the CPU and the CUDA kernels see it: the attributes and
// the image and block shapes checked once, and the column grid they imply.
//
//   x [N, C * prod(block), L] -> y [N, C, image...],
//   y[n, c, p] = sum of x[n, c*K + k, l] over the block offsets k and grid positions l with
//   p[d] = l[d] * stride[d] - pad_begin[d] + k[d] * dilation[d] inside the image,
// where L is the number of block positions: prod over d of
//   (image[d] + pad_begin[d] + pad_end[d] - dilation[d] * (block[d] - 1) - 1) / stride[d] + 1.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt {

struct Col2ImGeometry {
  std::vector<int64_t> image;  // output spatial dims
  std::vector<int64_t> block;  // block (kernel) dims
  std::vector<int64_t> strides;
  std::vector<int64_t> pads;  // begin..., end...
  std::vector<int64_t> dilations;
  std::vector<int64_t> grid;  // block positions per spatial dim
  int64_t kernel = 1;         // prod(block)
  int64_t length = 1;         // prod(grid): L
  int spatial() const { return static_cast<int>(image.size()); }
};

// Reads strides, pads and dilations of `node` and checks them against `image` and `block` (one
// entry per spatial dim, positive; a grid of at least one position). Errors name the node.
Result<Col2ImGeometry> col2im_geometry(const Node& node, std::vector<int64_t> image,
                                       std::vector<int64_t> block);

}  // namespace vitrt
