// Cutting NCHW images into flattened patch rows: vitrt.Patchify's kernel and the first step of
// Conv's patch-embedding path (conv.cc).
#pragma once

#include <cstdint>

namespace vitrt {

struct PatchGeometry {
  int64_t batch = 0, channels = 0, height = 0, width = 0;  // X [batch, channels, height, width]
  int64_t ph = 1, pw = 1;   // patch size; the rows and columns past the last whole patch are cut
  int64_t prefix_rows = 0;  // zero rows before each image's patches
  int64_t patches_h() const { return height / ph; }
  int64_t patches_w() const { return width / pw; }
  int64_t patches() const { return patches_h() * patches_w(); }  // per image
  int64_t row_length() const { return channels * ph * pw; }
};

// rows[(n, prefix_rows + oh * patches_w + ow), (c, i, j)] = x[n, c, oh * ph + i, ow * pw + j]:
// `rows` is [batch * (prefix_rows + patches), channels * ph * pw], each image's prefix rows zero,
// patches in row-major order, features in the order of a Conv weight [D, C, ph, pw] flattened
// to [D, C*ph*pw]. Parallel over image rows of patches.
void patchify(const PatchGeometry& g, const float* x, float* rows);

}  // namespace vitrt
