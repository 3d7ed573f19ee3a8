// Resize's attribute parsing and per-axis plan (see resize.h).
#include <algorithm>
#include <cmath>
#include <string>

#include "cpu/resize.h"

namespace vitrt::resize {

namespace {

// Parses a string attribute against a table of names.
template <typename E>
Result<E> parse_choice(const Node& node, const char* attr, const std::string& default_value,
                       const std::vector<std::pair<const char*, E>>& table) {
  auto value = node.attrs.get_string(attr, default_value);
  if (!value.ok()) return value.status();
  std::string known;
  for (const auto& [name, e] : table) {
    if (*value == name) return e;
    known += known.empty() ? name : std::string(", ") + name;
  }
  return unsupported("attribute '", attr, "' value '", *value,
                     "' is not supported (expected one of: ", known, ")");
}

}  // namespace

Result<ResizeParams> parse_resize_params(const Node& node, int64_t opset, bool upsample) {
  const Attributes& attrs = node.attrs;
  ResizeParams p;
  // Before opset 11 (and for Upsample) the mapping is fixed: asymmetric, nearest rounds down
  // when upsampling.
  const bool legacy = upsample || opset < 11;
  VITRT_ASSIGN_OR_RETURN(p.mode, parse_choice<Mode>(node, "mode", "nearest",
                                                    {{"nearest", Mode::kNearest},
                                                     {"linear", Mode::kLinear},
                                                     {"bilinear", Mode::kLinear},
                                                     {"cubic", Mode::kCubic},
                                                     {"bicubic", Mode::kCubic}}));
  if (legacy) {
    p.coord = Coord::kAsymmetric;
    p.nearest = NearestMode::kSimple;
    if (upsample) {
      p.scales_input = 1;
      auto scales = attrs.get_floats("scales", {});
      if (!scales.ok()) return scales.status();
      p.attr_scales = *scales;
    } else {
      p.scales_input = 1;
    }
  } else {
    p.roi_input = 1;
    p.scales_input = 2;
    p.sizes_input = 3;
    VITRT_ASSIGN_OR_RETURN(
        p.coord, parse_choice<Coord>(node, "coordinate_transformation_mode", "half_pixel",
                                     {{"half_pixel", Coord::kHalfPixel},
                                      {"half_pixel_symmetric", Coord::kHalfPixelSymmetric},
                                      {"pytorch_half_pixel", Coord::kPytorchHalfPixel},
                                      {"align_corners", Coord::kAlignCorners},
                                      {"asymmetric", Coord::kAsymmetric},
                                      {"tf_crop_and_resize", Coord::kTfCropAndResize},
                                      {"tf_half_pixel_for_nn", Coord::kTfHalfPixelForNn}}));
    VITRT_ASSIGN_OR_RETURN(p.nearest, parse_choice<NearestMode>(
                                          node, "nearest_mode", "round_prefer_floor",
                                          {{"round_prefer_floor", NearestMode::kRoundPreferFloor},
                                           {"round_prefer_ceil", NearestMode::kRoundPreferCeil},
                                           {"floor", NearestMode::kFloor},
                                           {"ceil", NearestMode::kCeil}}));
    VITRT_ASSIGN_OR_RETURN(
        p.policy, parse_choice<AspectPolicy>(node, "keep_aspect_ratio_policy", "stretch",
                                             {{"stretch", AspectPolicy::kStretch},
                                              {"not_larger", AspectPolicy::kNotLarger},
                                              {"not_smaller", AspectPolicy::kNotSmaller}}));
    auto a = attrs.get_float("cubic_coeff_a", -0.75f);
    auto exclude = attrs.get_int("exclude_outside", 0);
    auto extrapolation = attrs.get_float("extrapolation_value", 0.0f);
    auto antialias = attrs.get_int("antialias", 0);
    auto axes = attrs.get_ints("axes", {});
    for (const Status& s : {a.status(), exclude.status(), extrapolation.status(),
                            antialias.status(), axes.status()}) {
      if (!s.ok()) return s;
    }
    p.cubic_a = *a;
    p.exclude_outside = *exclude != 0;
    p.extrapolation = *extrapolation;
    p.antialias = *antialias != 0;
    p.axes = *axes;
    if (p.antialias && p.mode == Mode::kNearest) {
      return unsupported("attribute 'antialias' = 1 is not defined for mode 'nearest'");
    }
  }
  return p;
}

Result<std::vector<AxisPlan>> make_resize_plan(const ResizeParams& p,
                                               const std::vector<int64_t>& shape,
                                               const std::vector<const Tensor*>& inputs) {
  const int rank = static_cast<int>(shape.size());
  auto dim = [&](int i) { return shape[i]; };
  std::vector<int> axes;
  for (int64_t a : p.axes) {
    if (a < -rank || a >= rank) {
      return invalid_argument("attribute 'axes' value ", a, " is out of range [", -rank, ", ",
                              rank - 1, "] for input rank ", rank);
    }
    axes.push_back(static_cast<int>(a < 0 ? a + rank : a));
  }
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  }
  const int n = static_cast<int>(axes.size());
  auto input = [&](int i) -> const Tensor* {
    if (i < 0 || i >= static_cast<int>(inputs.size()) || inputs[i] == nullptr) return nullptr;
    return inputs[i]->numel() == 0 ? nullptr : inputs[i];  // empty means "not given"
  };
  std::vector<AxisPlan> plan(rank);
  for (int i = 0; i < rank; ++i) {
    plan[i].in_len = plan[i].out_len = dim(i);
    plan[i].output_width = static_cast<double>(dim(i));
  }
  const Tensor* sizes = input(p.sizes_input);
  const Tensor* scales = input(p.scales_input);
  if (sizes != nullptr) {
    if (sizes->numel() != n) {
      return invalid_argument("sizes input has ", sizes->numel(), " elements, expected ", n);
    }
    std::vector<double> ratio(n);
    for (int k = 0; k < n; ++k) {
      const int64_t s = sizes->element_as_int64(k);
      if (s < 0) return invalid_argument("sizes[", k, "] = ", s, " is negative");
      ratio[k] = dim(axes[k]) == 0 ? 1.0 : static_cast<double>(s) / dim(axes[k]);
      plan[axes[k]].out_len = s;
    }
    if (p.policy != AspectPolicy::kStretch) {
      double s = ratio[0];
      for (double r : ratio)
        s = p.policy == AspectPolicy::kNotLarger ? std::min(s, r) : std::max(s, r);
      for (int k = 0; k < n; ++k) {
        ratio[k] = s;
        plan[axes[k]].out_len = static_cast<int64_t>(s * dim(axes[k]) + 0.5);
      }
    }
    for (int k = 0; k < n; ++k) {
      plan[axes[k]].scale = ratio[k];
      plan[axes[k]].output_width = static_cast<double>(plan[axes[k]].out_len);
    }
  } else {
    std::vector<double> values;
    if (scales != nullptr) {
      for (int64_t k = 0; k < scales->numel(); ++k) values.push_back(scales->element_as_double(k));
    } else {
      values.assign(p.attr_scales.begin(), p.attr_scales.end());
    }
    if (values.empty()) return invalid_argument("neither scales nor sizes is given");
    if (static_cast<int>(values.size()) != n) {
      return invalid_argument("scales input has ", values.size(), " elements, expected ", n);
    }
    for (int k = 0; k < n; ++k) {
      if (!(values[k] > 0)) {
        return invalid_argument("scales[", k, "] = ", values[k], " is not positive");
      }
      AxisPlan& a = plan[axes[k]];
      a.scale = values[k];
      a.output_width = values[k] * static_cast<double>(a.in_len);
      a.out_len = static_cast<int64_t>(std::floor(a.output_width));
    }
  }
  if (p.coord == Coord::kTfCropAndResize) {
    if (const Tensor* roi = input(p.roi_input)) {
      if (roi->numel() != 2 * n) {
        return invalid_argument("roi input has ", roi->numel(), " elements, expected ", 2 * n);
      }
      for (int k = 0; k < n; ++k) {
        plan[axes[k]].roi_start = roi->element_as_double(k);
        plan[axes[k]].roi_end = roi->element_as_double(n + k);
      }
    }
  }
  return plan;
}

bool axis_is_identity(const ResizeParams& p, const AxisPlan& a) {
  const bool roi_identity =
      p.coord != Coord::kTfCropAndResize || (a.roi_start == 0.0 && a.roi_end == 1.0);
  return a.out_len == a.in_len && std::fabs(a.scale - 1.0) <= 1e-9 && roi_identity;
}

}  // namespace vitrt::resize
