// Conv's geometry attributes (auto_pad, strides, pads, dilations, group, kernel_shape), parsed
// and checked once, and the output-size arithmetic that shape inference and the kernels share;
// likewise for ConvTranspose (the same attributes plus output_padding and output_shape).
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"
#include "vitrt/status.h"

namespace vitrt {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct ConvAttributes {
  AutoPad auto_pad = AutoPad::kNotSet;
  int64_t group = 1;
  std::vector<int64_t> kernel_shape;  // empty when absent (then the weights' spatial dims)
  std::vector<int64_t> strides;       // one per spatial axis
  std::vector<int64_t> dilations;     // one per spatial axis
  std::vector<int64_t> pads;          // begins then ends (2 * spatial axes); NOTSET only

  // Reads the attributes of a Conv node with `spatial_rank` spatial axes; errors name the node
  // and attribute.
  static Result<ConvAttributes> parse(const Node& node, int spatial_rank);

  struct Axis {
    int64_t out = 0;
    int64_t pad_begin = 0;
    int64_t pad_end = 0;
  };
  // Output size and padding of spatial axis `i` for input size `in` and kernel size `kernel`;
  // an error naming the node when the (dilated) kernel does not fit the padded input.
  Result<Axis> axis(const Node& node, int i, int64_t in, int64_t kernel) const;
  // The output size of spatial axis `i` for a possibly symbolic input size and kernel, for shape
  // inference: axis()'s when both are static (with its error), the input size itself under
  // SAME with stride 1, a floor-division symbol under NOTSET and VALID ((H - 16) // 16 + 1 is
  // "(H//16)"), else unknown.
  Result<Dim> out_dim(const Node& node, int i, const Dim& in, const Dim& kernel) const;
  // The kernel size of spatial axis `i` for shape inference: W's dim w[2 + i], or the
  // attribute 'kernel_shape' where given, with an error naming the node when the two differ.
  Result<Dim> kernel_dim(const Node& node, int i, const SymShape& w) const;
};

// Whether two dims are both static and differ (a certain mismatch; symbolic dims may agree).
inline bool static_and_differ(const Dim& a, const Dim& b) {
  return a.is_static() && b.is_static() && a.value() != b.value();
}

// ConvTranspose (ONNX, opsets 1-22): Conv's attributes with the roles of input and output
// swapped, plus output_padding and output_shape.
struct ConvTransposeAttributes {
  ConvAttributes conv;                  // auto_pad, group, kernel_shape, strides, dilations, pads
  std::vector<int64_t> output_padding;  // one per spatial axis (0 when absent)
  std::vector<int64_t> output_shape;    // one per spatial axis, or empty when absent

  static Result<ConvTransposeAttributes> parse(const Node& node, int spatial_rank);

  // Output size of spatial axis `i` for input size `in` and kernel size `kernel`, and the
  // padding taken off the begin and end of the full transposed result
  // stride * (in - 1) + output_padding + dilation * (kernel - 1) + 1:
  //   output_shape given, or auto_pad SAME_*: out = output_shape[i] (or in * stride), the
  //     difference split with the odd unit at the begin, except SAME_UPPER (at the end);
  //   VALID: no padding; NOTSET: pads.
  // The padding may be negative where output_shape asks for more than the full result (the
  // extra positions see only the bias). An error naming the node when out < 1.
  Result<ConvAttributes::Axis> axis(const Node& node, int i, int64_t in, int64_t kernel) const;

  // out - stride * in, when it does not depend on `in` (NOTSET, VALID and SAME_* without
  // output_shape): the constant term of the output size, for symbolic shape inference.
  int64_t out_offset(int i, int64_t kernel) const;
};

}  // namespace vitrt
