// Schemas of the pooling op family: MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool,
// with symbolic shape inference; PoolAttributes (shared with the CPU kernels).
#include <string>

#include "ir/op_schema.h"
#include "ir/ops/pooling_attributes.h"

namespace vitrt {

Result<PoolAttributes> PoolAttributes::parse(const Node& node, int spatial_rank) {
  PoolAttributes a;
  if (!node.attrs.has("kernel_shape")) {
    return invalid_model(node.describe(), ": attribute 'kernel_shape' is required");
  }
  if (node.attrs.has("group")) {
    return invalid_model(node.describe(), ": unexpected attribute 'group'");
  }
  VITRT_ASSIGN_OR_RETURN(a.geometry, ConvAttributes::parse(node, spatial_rank));
  auto ceil_mode = node.attrs.get_int("ceil_mode", 0);
  if (!ceil_mode.ok()) return ceil_mode.status().with_context(node.describe());
  if (*ceil_mode != 0 && *ceil_mode != 1) {
    return invalid_model(node.describe(), ": attribute 'ceil_mode' is ", *ceil_mode,
                         ", expected 0 or 1");
  }
  a.ceil_mode = *ceil_mode == 1;
  auto include_pad = node.attrs.get_int("count_include_pad", 0);
  if (!include_pad.ok()) return include_pad.status().with_context(node.describe());
  if (*include_pad != 0 && *include_pad != 1) {
    return invalid_model(node.describe(), ": attribute 'count_include_pad' is ", *include_pad,
                         ", expected 0 or 1");
  }
  a.count_include_pad = *include_pad == 1;
  auto storage_order = node.attrs.get_int("storage_order", 0);
  if (!storage_order.ok()) return storage_order.status().with_context(node.describe());
  if (*storage_order != 0 && *storage_order != 1) {
    return invalid_model(node.describe(), ": attribute 'storage_order' is ", *storage_order,
                         ", expected 0 or 1");
  }
  a.storage_order = *storage_order;
  return a;
}

Result<ConvAttributes::Axis> PoolAttributes::axis(const Node& node, int i, int64_t in) const {
  const ConvAttributes& g = geometry;
  const int64_t kernel = g.kernel_shape[i];
  if (!ceil_mode || g.auto_pad != AutoPad::kNotSet) return g.axis(node, i, in, kernel);
  ConvAttributes::Axis r;
  r.pad_begin = g.pads[i];
  r.pad_end = g.pads[i + g.strides.size()];
  const int64_t stride = g.strides[i];
  const int64_t extent = g.dilations[i] * (kernel - 1) + 1;
  // ONNX's ceil((in + pads - extent) / stride) + 1. The span may be negative: a kernel larger
  // than the padded input still makes one window, the input it covers (PyTorch's
  // AvgPool2d(k, ceil_mode=True) with k beyond the map as a global pool, as in HF EfficientNet's
  // pooler: kernel 1280 over 7x7). Integer division truncates toward zero, the ceiling of a
  // negative quotient.
  const int64_t span = in + r.pad_begin + r.pad_end - extent;
  r.out = (span >= 0 ? (span + stride - 1) / stride : span / stride) + 1;
  // The last window must start inside the input or the begin padding.
  if (r.out > 1 && (r.out - 1) * stride >= in + r.pad_begin) --r.out;
  if (r.out < 1) {
    return invalid_model(node.describe(), ": spatial axis ", i, " of size ", in, " (pads ",
                         r.pad_begin, "+", r.pad_end, ") is smaller than the kernel's extent ",
                         extent, " (kernel ", kernel, ", dilation ", g.dilations[i],
                         ") by a stride or more, even with ceil_mode");
  }
  return r;
}

namespace {

Status check_float_or_int8(const InferContext& ctx, bool allow_int8) {
  const DType t = ctx.input_dtype(0);
  if (t == DType::kFloat32 || t == DType::kFloat64 || t == DType::kFloat16 ||
      t == DType::kBFloat16 || (allow_int8 && (t == DType::kInt8 || t == DType::kUInt8))) {
    return Status();
  }
  return ctx.error("X is ", dtype_name(t), ", expected a float type",
                   allow_int8 ? " or int8/uint8" : "");
}

// MaxPool / AveragePool: X [N, C, D1..Dk] -> Y [N, C, O1..Ok] (MaxPool's optional Indices:
// int64, same shape).
Status infer_pool(InferContext& ctx) {
  const bool is_max = ctx.node().op_type == "MaxPool";
  const DType dtype = ctx.input_dtype(0);
  VITRT_RETURN_IF_ERROR(check_float_or_int8(ctx, is_max));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    ctx.set_output_unknown_shape(1, DType::kInt64);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.size() < 3) {
    return ctx.error("X must have rank >= 3 (batch, channels, spatial axes), got ",
                     sym_shape_to_string(x));
  }
  const int spatial = static_cast<int>(x.size()) - 2;
  VITRT_ASSIGN_OR_RETURN(const PoolAttributes attrs, PoolAttributes::parse(ctx.node(), spatial));
  const AutoPad auto_pad = attrs.geometry.auto_pad;
  SymShape out = {x[0], x[1]};
  for (int i = 0; i < spatial; ++i) {
    const Dim& in = x[2 + i];
    if (in.is_static()) {
      VITRT_ASSIGN_OR_RETURN(const ConvAttributes::Axis axis,
                             attrs.axis(ctx.node(), i, in.value()));
      out.push_back(axis.out);
    } else if (in.is_known() && attrs.geometry.strides[i] == 1 &&
               (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower)) {
      out.push_back(in);  // SAME with stride 1 keeps the size, symbolic or not
    } else {
      out.push_back(Dim::unknown());
    }
  }
  ctx.set_output(1, DType::kInt64, out);
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

// GlobalMaxPool / GlobalAveragePool: X [N, C, D1..Dk] -> Y [N, C, 1..1].
Status infer_global_pool(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  VITRT_RETURN_IF_ERROR(check_float_or_int8(ctx, false));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_shape(0, dtype);
    return Status();
  }
  const SymShape& x = ctx.input_shape(0);
  if (x.size() < 2) {
    return ctx.error("X must have rank >= 2 (batch, channels, spatial axes), got ",
                     sym_shape_to_string(x));
  }
  SymShape out = x;
  for (size_t i = 2; i < out.size(); ++i) out[i] = Dim(1);
  ctx.set_output(0, dtype, std::move(out));
  return Status();
}

}  // namespace

void register_pooling_schemas(OpRegistry& registry) {
  registry.add({"", "MaxPool", 1, 1, 1, 2, infer_pool});
  registry.add({"", "AveragePool", 1, 1, 1, 1, infer_pool});
  registry.add({"", "GlobalMaxPool", 1, 1, 1, 1, infer_global_pool});
  registry.add({"", "GlobalAveragePool", 1, 1, 1, 1, infer_global_pool});
}

}  // namespace vitrt
