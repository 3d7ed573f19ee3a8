// Conv and ConvTranspose attribute parsing and output-size arithmetic (ONNX opsets 1-22).
#include "ir/ops/conv_attributes.h"

#include <algorithm>

namespace vitrt {

namespace {

Result<std::vector<int64_t>> per_axis(const Node& node, const char* name, int spatial_rank,
                                      int64_t default_value, size_t count, int64_t min_value) {
  auto values = node.attrs.get_ints(name, std::vector<int64_t>(count, default_value));
  if (!values.ok()) return values.status().with_context(node.describe());
  if (values->size() != count) {
    return invalid_model(node.describe(), ": attribute '", name, "' has ", values->size(),
                         " values, expected ", count, " for ", spatial_rank, " spatial axes");
  }
  for (int64_t v : *values) {
    if (v < min_value) {
      return invalid_model(node.describe(), ": attribute '", name, "' has value ", v,
                           ", expected at least ", min_value);
    }
  }
  return values;
}

}  // namespace

Result<ConvAttributes> ConvAttributes::parse(const Node& node, int spatial_rank) {
  ConvAttributes a;
  const size_t n = static_cast<size_t>(spatial_rank);
  auto auto_pad = node.attrs.get_string("auto_pad", "NOTSET");
  if (!auto_pad.ok()) return auto_pad.status().with_context(node.describe());
  if (*auto_pad == "NOTSET") {
    a.auto_pad = AutoPad::kNotSet;
  } else if (*auto_pad == "SAME_UPPER") {
    a.auto_pad = AutoPad::kSameUpper;
  } else if (*auto_pad == "SAME_LOWER") {
    a.auto_pad = AutoPad::kSameLower;
  } else if (*auto_pad == "VALID") {
    a.auto_pad = AutoPad::kValid;
  } else {
    return invalid_model(node.describe(), ": attribute 'auto_pad' is '", *auto_pad,
                         "', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  }
  auto group = node.attrs.get_int("group", 1);
  if (!group.ok()) return group.status().with_context(node.describe());
  if (*group < 1) {
    return invalid_model(node.describe(), ": attribute 'group' is ", *group, ", expected >= 1");
  }
  a.group = *group;
  if (node.attrs.has("kernel_shape")) {
    VITRT_ASSIGN_OR_RETURN(a.kernel_shape, per_axis(node, "kernel_shape", spatial_rank, 1, n, 1));
  }
  VITRT_ASSIGN_OR_RETURN(a.strides, per_axis(node, "strides", spatial_rank, 1, n, 1));
  VITRT_ASSIGN_OR_RETURN(a.dilations, per_axis(node, "dilations", spatial_rank, 1, n, 1));
  VITRT_ASSIGN_OR_RETURN(a.pads, per_axis(node, "pads", spatial_rank, 0, 2 * n, 0));
  if (a.auto_pad != AutoPad::kNotSet) std::fill(a.pads.begin(), a.pads.end(), 0);
  return a;
}

Result<ConvAttributes::Axis> ConvAttributes::axis(const Node& node, int i, int64_t in,
                                                  int64_t kernel) const {
  const int64_t stride = strides[i];
  const int64_t extent = dilations[i] * (kernel - 1) + 1;  // the dilated kernel's span
  Axis r;
  switch (auto_pad) {
    case AutoPad::kNotSet:
      r.pad_begin = pads[i];
      r.pad_end = pads[i + strides.size()];
      r.out = (in + r.pad_begin + r.pad_end - extent) / stride + 1;
      if (in + r.pad_begin + r.pad_end < extent) r.out = 0;
      break;
    case AutoPad::kValid:
      r.out = in < extent ? 0 : (in - extent) / stride + 1;
      break;
    case AutoPad::kSameUpper:
    case AutoPad::kSameLower: {
      r.out = (in + stride - 1) / stride;
      const int64_t total = std::max<int64_t>(0, (r.out - 1) * stride + extent - in);
      // SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the beginning.
      r.pad_begin = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
      r.pad_end = total - r.pad_begin;
      break;
    }
  }
  if (r.out < 1) {
    return invalid_model(node.describe(), ": spatial axis ", i, " of size ", in, " (pads ",
                         r.pad_begin, "+", r.pad_end, ") is smaller than the kernel's extent ",
                         extent, " (kernel ", kernel, ", dilation ", dilations[i], ")");
  }
  return r;
}

Result<Dim> ConvAttributes::out_dim(const Node& node, int i, const Dim& in,
                                    const Dim& kernel) const {
  if (in.is_static() && kernel.is_static()) {
    VITRT_ASSIGN_OR_RETURN(const Axis a, axis(node, i, in.value(), kernel.value()));
    return Dim(a.out);
  }
  if (in.is_known() && strides[i] == 1 &&
      (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower)) {
    return in;  // SAME with stride 1 keeps the size, symbolic or not
  }
  if (in.is_known() && kernel.is_static() &&
      (auto_pad == AutoPad::kNotSet || auto_pad == AutoPad::kValid)) {
    // (in + pads - dilation * (kernel - 1) - 1) // stride + 1
    const int64_t total_pads = pads[i] + pads[i + strides.size()];  // zeros under VALID
    const Dim span = in + Dim(total_pads - dilations[i] * (kernel.value() - 1) - 1);
    return span.floor_div(strides[i]) + Dim(1);
  }
  return Dim::unknown();
}

Result<Dim> ConvAttributes::kernel_dim(const Node& node, int i, const SymShape& w) const {
  if (kernel_shape.empty()) return w[2 + i];
  if (static_and_differ(w[2 + i], Dim(kernel_shape[i]))) {
    return invalid_model(node.describe(), ": attribute 'kernel_shape' ", kernel_shape[i],
                         " differs from W ", sym_shape_to_string(w), " on spatial axis ", i);
  }
  return Dim(kernel_shape[i]);
}

Result<ConvTransposeAttributes> ConvTransposeAttributes::parse(const Node& node, int spatial_rank) {
  ConvTransposeAttributes a;
  VITRT_ASSIGN_OR_RETURN(a.conv, ConvAttributes::parse(node, spatial_rank));
  const size_t n = static_cast<size_t>(spatial_rank);
  VITRT_ASSIGN_OR_RETURN(a.output_padding, per_axis(node, "output_padding", spatial_rank, 0, n, 0));
  if (node.attrs.has("output_shape")) {
    auto shape = node.attrs.get_ints("output_shape", {});
    if (!shape.ok()) return shape.status().with_context(node.describe());
    // Some exporters write the whole shape (batch and channels first): keep the spatial axes.
    if (shape->size() == n + 2) shape->erase(shape->begin(), shape->begin() + 2);
    if (shape->size() != n) {
      return invalid_model(node.describe(), ": attribute 'output_shape' has ", shape->size(),
                           " values, expected ", n, " for ", spatial_rank, " spatial axes");
    }
    for (int64_t v : *shape) {
      if (v < 1) {
        return invalid_model(node.describe(), ": attribute 'output_shape' has value ", v,
                             ", expected at least 1");
      }
    }
    a.output_shape = std::move(*shape);
  }
  return a;
}

Result<ConvAttributes::Axis> ConvTransposeAttributes::axis(const Node& node, int i, int64_t in,
                                                           int64_t kernel) const {
  const int64_t stride = conv.strides[i];
  const int64_t full = stride * (in - 1) + output_padding[i] + conv.dilations[i] * (kernel - 1) + 1;
  ConvAttributes::Axis r;
  const bool same = conv.auto_pad == AutoPad::kSameUpper || conv.auto_pad == AutoPad::kSameLower;
  if (!output_shape.empty() || same) {
    r.out = !output_shape.empty() ? output_shape[i] : in * stride;
    const int64_t total = full - r.out;
    // The spec's split, with its floor division (a negative total too): SAME_UPPER puts the
    // odd unit at the end, the other cases at the begin.
    const int64_t half = total >= 0 ? total / 2 : -((1 - total) / 2);
    if (conv.auto_pad == AutoPad::kSameUpper) {
      r.pad_begin = half;
      r.pad_end = total - half;
    } else {
      r.pad_end = half;
      r.pad_begin = total - half;
    }
  } else if (conv.auto_pad == AutoPad::kValid) {
    r.out = full;
  } else {
    r.pad_begin = conv.pads[i];
    r.pad_end = conv.pads[i + conv.strides.size()];
    r.out = full - r.pad_begin - r.pad_end;
  }
  if (r.out < 1) {
    return invalid_model(node.describe(), ": spatial axis ", i, " of size ", in,
                         " gives an output of size ", r.out, " (stride ", stride, ", kernel ",
                         kernel, ", pads ", r.pad_begin, "+", r.pad_end, ")");
  }
  return r;
}

int64_t ConvTransposeAttributes::out_offset(int i, int64_t kernel) const {
  const int64_t stride = conv.strides[i];
  if (conv.auto_pad == AutoPad::kSameUpper || conv.auto_pad == AutoPad::kSameLower) return 0;
  const int64_t pads =
      conv.auto_pad == AutoPad::kValid ? 0 : conv.pads[i] + conv.pads[i + conv.strides.size()];
  return output_padding[i] + conv.dilations[i] * (kernel - 1) + 1 - stride - pads;
}

}  // namespace vitrt
