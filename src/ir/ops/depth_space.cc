#include "ir/ops/depth_space.h"

#include <string>

#include "vitrt/tensor.h"

namespace vitrt {

Result<DepthSpaceAttributes> DepthSpaceAttributes::parse(const Attributes& attrs) {
  DepthSpaceAttributes a;
  VITRT_ASSIGN_OR_RETURN(a.block, attrs.require_int("blocksize"));
  VITRT_ASSIGN_OR_RETURN(std::string mode, attrs.get_string("mode", "DCR"));
  if (a.block <= 0) return invalid_model("attribute 'blocksize' must be positive, got ", a.block);
  if (mode != "DCR" && mode != "CRD") {
    return invalid_model("attribute 'mode' must be DCR or CRD, got '", mode, "'");
  }
  a.crd = mode == "CRD";
  return a;
}

Result<DepthSpacePlan> depth_space_plan(const std::vector<int64_t>& shape, bool to_space,
                                        const DepthSpaceAttributes& a) {
  if (shape.size() != 4) {
    return invalid_argument("input must be NCHW (rank 4), got ", shape_to_string(shape));
  }
  const int64_t n = shape[0], c = shape[1], h = shape[2], w = shape[3], b = a.block;
  DepthSpacePlan p;
  if (to_space) {
    if (c % (b * b) != 0) {
      return invalid_argument("channels ", c, " are not a multiple of blocksize^2 = ", b * b);
    }
    const int64_t oc = c / (b * b);
    if (a.crd) {
      p.split = {n, oc, b, b, h, w};
      p.perm = {0, 1, 4, 2, 5, 3};
    } else {
      p.split = {n, b, b, oc, h, w};
      p.perm = {0, 3, 4, 1, 5, 2};
    }
    p.out_shape = {n, oc, h * b, w * b};
  } else {
    if (h % b != 0 || w % b != 0) {
      return invalid_argument("spatial dims ", h, "x", w, " are not multiples of blocksize ", b);
    }
    p.split = {n, c, h / b, b, w / b, b};
    p.perm = {0, 3, 5, 1, 2, 4};
    p.out_shape = {n, c * b * b, h / b, w / b};
  }
  return p;
}

}  // namespace vitrt
