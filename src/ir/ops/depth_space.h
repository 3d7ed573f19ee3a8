// DepthToSpace / SpaceToDepth as the CPU and CUDA kernels run them: the attributes, checked once,
// and the reshape of NCHW to 6 axes, the transpose and the reshape back to 4 that move the data.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/attribute.h"
#include "vitrt/status.h"

namespace vitrt {

struct DepthSpaceAttributes {
  int64_t block = 0;
  bool crd = false;  // mode "CRD" (DepthToSpace only); "DCR" otherwise

  // Reads blocksize (required, positive) and mode (DCR or CRD).
  static Result<DepthSpaceAttributes> parse(const Attributes& attrs);
};

struct DepthSpacePlan {
  std::vector<int64_t> split;      // the input viewed with 6 axes
  std::vector<int> perm;           // the transpose of that view
  std::vector<int64_t> out_shape;  // the output, NCHW
};

// The plan for an NCHW input `shape`; an error when its channels (to_space) or spatial dims
// (space to depth) do not divide by the block.
Result<DepthSpacePlan> depth_space_plan(const std::vector<int64_t>& shape, bool to_space,
                                        const DepthSpaceAttributes& a);

}  // namespace vitrt
