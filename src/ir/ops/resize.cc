// Schemas of Resize (opset 10: X, scales; 11+: X, roi, scales, sizes; 18+: axes,
// keep_aspect_ratio_policy, antialias) and Upsample (7: scales attribute; 9: scales input).
//
// Output dims: from a constant `sizes` when given, else floor(dim * scale) from a constant
// `scales`. A symbolic dim stays symbolic under scale 1 and becomes k * dim under an integer
// scale k; anything else is unknown.
#include <cmath>

#include "ir/op_schema.h"

namespace vitrt {

namespace {

// A constant float tensor's values; nullopt when the input is absent, empty or not constant.
std::optional<std::vector<double>> constant_floats(const InferContext& ctx, int i) {
  const Tensor* t = ctx.input_constant(i);
  if (t == nullptr || t->numel() == 0) return std::nullopt;
  std::vector<double> out;
  for (int64_t k = 0; k < t->numel(); ++k) out.push_back(t->element_as_double(k));
  return out;
}

Dim scaled_dim(const Dim& d, double scale) {
  if (d.is_static()) return Dim(static_cast<int64_t>(std::floor(d.value() * scale)));
  if (scale == 1.0) return d;
  if (d.is_known() && scale == std::floor(scale) && scale > 0) {
    return d * Dim(static_cast<int64_t>(scale));
  }
  return Dim::unknown();
}

Status infer_resize_like(InferContext& ctx, int scales_input, int sizes_input) {
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& in = ctx.input_shape(0);
  const int rank = static_cast<int>(in.size());
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes_attr, ctx.attrs().get_ints("axes", {}));
  std::vector<int> axes;
  for (int64_t a : axes_attr) {
    VITRT_ASSIGN_OR_RETURN(int axis, normalize_axis(ctx, a, rank, "attribute 'axes' value"));
    axes.push_back(axis);
  }
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  }
  const int n = static_cast<int>(axes.size());
  SymShape out = in;
  // An empty constant sizes (or scales) tensor means "not given" (opset 11 requires the input).
  const Tensor* sizes_const = sizes_input >= 0 ? ctx.input_constant(sizes_input) : nullptr;
  const bool sizes_empty = sizes_const != nullptr && sizes_const->numel() == 0;
  if (sizes_input >= 0 && ctx.has_input(sizes_input) && !sizes_empty) {
    const std::vector<Dim>* sizes = ctx.input_sym_value(sizes_input);
    const Tensor* t = ctx.input_constant(sizes_input);
    if (t != nullptr && t->numel() != n) {
      return ctx.error("sizes input has ", t->numel(), " elements, expected ", n);
    }
    VITRT_ASSIGN_OR_RETURN(std::string policy,
                           ctx.attrs().get_string("keep_aspect_ratio_policy", "stretch"));
    if (sizes == nullptr || static_cast<int>(sizes->size()) != n || policy != "stretch") {
      // Unknown sizes, or a policy that needs the input's static dims: keep only the rank.
      for (int a : axes) out[a] = Dim::unknown();
      if (sizes != nullptr && policy != "stretch") {
        std::optional<double> scale;
        bool all_static = true;
        for (int k = 0; k < n; ++k) {
          const Dim& d = in[axes[k]];
          if (!d.is_static() || !(*sizes)[k].is_static() || d.value() == 0) {
            all_static = false;
            break;
          }
          const double s = static_cast<double>((*sizes)[k].value()) / d.value();
          if (!scale) scale = s;
          scale = policy == "not_larger" ? std::min(*scale, s) : std::max(*scale, s);
        }
        if (all_static && scale) {
          for (int a : axes) {
            out[a] = Dim(static_cast<int64_t>(*scale * in[a].value() + 0.5));
          }
        }
      }
    } else {
      for (int k = 0; k < n; ++k) out[axes[k]] = (*sizes)[k];
    }
    ctx.set_output(0, dtype, out);
    return Status();
  }
  if (const auto scales = constant_floats(ctx, scales_input)) {
    if (static_cast<int>(scales->size()) != n) {
      return ctx.error("scales input has ", scales->size(), " elements, expected ", n);
    }
    for (int k = 0; k < n; ++k) {
      if (!((*scales)[k] > 0))
        return ctx.error("scales[", k, "] = ", (*scales)[k], " is not positive");
      out[axes[k]] = scaled_dim(in[axes[k]], (*scales)[k]);
    }
    ctx.set_output(0, dtype, out);
    return Status();
  }
  if (ctx.has_input(scales_input) && ctx.input_constant(scales_input) == nullptr) {
    for (int a : axes) out[a] = Dim::unknown();
    ctx.set_output(0, dtype, out);
    return Status();
  }
  return ctx.error("neither scales nor sizes is given");
}

Status infer_resize(InferContext& ctx) {
  // Opset 10 takes (X, scales); 11 and later (X, roi, scales, sizes).
  if (ctx.opset() < 11) return infer_resize_like(ctx, 1, -1);
  return infer_resize_like(ctx, 2, 3);
}

Status infer_upsample(InferContext& ctx) {
  if (ctx.has_input(1)) return infer_resize_like(ctx, 1, -1);
  VITRT_ASSIGN_OR_RETURN(std::vector<float> scales, ctx.attrs().get_floats("scales", {}));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, ctx.input_dtype(0));
    return Status();
  }
  SymShape out = ctx.input_shape(0);
  if (scales.size() != out.size()) {
    return ctx.error("attribute 'scales' has ", scales.size(), " values for input rank ",
                     out.size());
  }
  for (size_t k = 0; k < out.size(); ++k) out[k] = scaled_dim(out[k], scales[k]);
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status();
}

}  // namespace

void register_resize_schemas(OpRegistry& registry) {
  registry.add({"", "Resize", 1, 4, 1, 1, infer_resize});
  registry.add({"", "Upsample", 1, 2, 1, 1, infer_upsample});
}

}  // namespace vitrt
