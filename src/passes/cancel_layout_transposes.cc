// Optimizer pass cancel_layout_transposes: stores a region of the graph permuted when that makes
// the layout Transposes around it cancel. ConvNeXt-style blocks (timm ConvNeXt and ConvNeXt-V2,
// open_clip's ConvNeXt towers, ...) run their LayerNorm and MLP on [N, H, W, C] but keep the
// trunk in NCHW, so every block pays two Transposes:
//
//   t -> Conv(depthwise) -> Transpose(0,2,3,1) -> LayerNorm -> Linear -> Linear
//     -> Transpose(0,3,1,2) -> Mul(gamma [1,C,1,1]) -> Add(t) -> next t
//
// Stored as NHWC, the trunk needs neither: the depthwise Conv becomes vitrt.ChannelsLastConv,
// gamma becomes [1,1,1,C], and fold_scale_into_weights and fuse_residual_into_linear (which run
// after this pass) then take the layer scale and the residual into fc2.
//
// A CNN trunk (ResNet, a hybrid ViT's stem) has no Transposes at all, but each of its dense
// NCHW convolutions pays a layout copy inside (the GEMM's rows are output pixels); stored NHWC,
// a 3x3 convolution is an im2col of contiguous channel runs (or cuDNN's implicit GEMM) with
// nothing to copy back, and a 1x1 convolution is a plain vitrt.Linear of the channel axis, whose
// bias, ReLU and residual then go into the GEMM's epilogue.
//
// A region, for a permutation p of rank r, is a connected set of rank-r values joined by
// layout-agnostic ops: Add, Sub, Mul, Div, Pow, Min and Max whose other operands are constants
// (permuted with them) or region values, unary elementwise ops (Relu, Sigmoid, Clip with scalar
// bounds, ...), Concat and Split (their axis moved), Slice with constant parameters (its axes
// moved), Resize with constant roi / scales / sizes (permuted with the data, or its axes
// attribute moved: multi-scale feature fusion), Pad with constant pads (permuted: HGNetV2's stem),
// GroupNormalization with one group and uniform scale and bias (elementwise given its per-sample
// statistics, which do not depend on the layout: PoolFormer's norm, after fuse_group_norm),
// GlobalAveragePool (a ReduceMean over the permuted spatial axes, so a pooled head joins the
// trunk's region), reductions (ReduceMean, ReduceMax, ReduceL2, ReduceSum, ...) with keepdims
// and axes known at build time (a squeeze-and-excitation block's pooling: EfficientNet,
// MobileNetV3, RegNetY; ConvNeXt-V2's global response norm) and, for the
// channels-last p = (0,2,3,1), 2-D Convs with constant weights (dense, grouped: ResNeXt, RegNet;
// depthwise) and 2-D MaxPool / AveragePool (vitrt.ChannelsLastPool: a ResNet stem's pool joins the
// trunk). Storing the region as Transpose(v, p) is priced before anything changes: a Transpose(p)
// reading a region value and a Transpose(p^-1) making one disappear; a value made outside the
// region needs a Transpose(p) and one read outside it (or a graph output) a Transpose(p^-1); other
// Transposes at the border only change their permutation; each dense or grouped Conv counts as one
// Transpose removed (its own layout copy). A region is stored permuted only when that count falls;
// graph outputs keep their layout and name. The candidates p are the permutations of the graph's
// Transposes and their inverses, and channels-last where a dense or grouped Conv qualifies; regions
// are priced again after each change, so one region's change can enable the next.
//
// Once no region changes, a Transpose reading a Reshape that splits one axis of another
// Transpose's output (or merges axes that the other Transpose keeps together and in order) is
// rewritten so the Reshape comes first and the two permutations meet: a patch convolution's
// tokens [B, H*W, D] -> Transpose(0,2,1) -> Reshape [B, D, H, W] -> Transpose(0,2,3,1) into a
// channels-last region is one Reshape to [B, H, W, D], and the way back to tokens likewise. The
// pricing counts a region border that will collapse so (the Transposes on both sides gone) as
// one Transpose removed: PVTv2's and SegFormer's MLPs then run their depthwise Conv on the
// tokens reshaped, with no Transpose left.
//
// Transposes, Reshapes and elementwise ops are exact; only the convolution's summation order may
// differ (ChannelsLastConv and the Linear are the same sum over the same taps).
#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cpu/data_movement.h"
#include "ir/op_schema.h"
#include "ir/ops/conv_attributes.h"
#include "ir/ops/pooling_attributes.h"
#include "passes/cancel_layout_transposes.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "cancel_layout_transposes";

using Perm = std::vector<int>;

const Perm kChannelsLast = {0, 2, 3, 1};

Perm inverse(const Perm& p) {
  Perm q(p.size());
  for (size_t i = 0; i < p.size(); ++i) q[p[i]] = static_cast<int>(i);
  return q;
}

// Transpose(Transpose(x, a), b) == Transpose(x, then(a, b)).
Perm then(const Perm& a, const Perm& b) {
  Perm c(b.size());
  for (size_t k = 0; k < b.size(); ++k) c[k] = a[b[k]];
  return c;
}

bool is_identity(const Perm& p) {
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != static_cast<int>(i)) return false;
  }
  return true;
}

std::string perm_text(const Perm& p) {
  return shape_to_string(std::vector<int64_t>(p.begin(), p.end()));
}

bool has_rank(const Value& v, size_t rank) {
  return v.has_shape && v.shape.size() == rank;
}

// A 2-D Conv that vitrt.ChannelsLastConv computes: X [N, C, H, W] with C static and a constant
// weight W [D, C/group, KH, KW] (dense, grouped or depthwise). `why` says what differs.
bool is_channels_last_conv(const Graph& graph, const Node& node, std::string* why) {
  const Value& x = graph.values[node.inputs[0]];
  if (!has_rank(x, 4) || !x.shape[1].is_static() || !node.has_input(1)) {
    *why = "X is not a 4-D tensor with a static channel count";
    return false;
  }
  Result<ConvAttributes> attrs = ConvAttributes::parse(node, 2);
  if (!attrs.ok()) {
    *why = attrs.status().message();
    return false;
  }
  const int64_t c = x.shape[1].value();
  const Value& w = graph.values[node.inputs[1]];
  if (!w.is_constant() || w.constant.rank() != 4 || w.constant.dtype() != DType::kFloat32) {
    *why = "its weight is not a constant 4-D float32 tensor";
    return false;
  }
  if (node.has_input(2) && !graph.values[node.inputs[2]].is_constant()) {
    *why = "its bias is not a constant";
    return false;
  }
  const int64_t group = attrs->group;
  if (group < 1 || c % group != 0 || w.constant.dim(1) * group != c ||
      w.constant.dim(0) % group != 0) {
    *why = str_cat("its group count ", group, " does not fit ", c, " input channels and W ",
                   shape_to_string(w.constant.shape()));
    return false;
  }
  return has_rank(graph.values[node.outputs[0]], 4);
}

// A dense or grouped Conv: several input channels per group (a depthwise one has one, and its
// NCHW kernel needs no layout copy).
bool is_dense(const Graph& graph, const Node& node) {
  Result<ConvAttributes> attrs = ConvAttributes::parse(node, 2);
  return attrs.ok() && graph.values[node.inputs[1]].constant.dim(1) > 1;
}

// A 1x1 Conv with unit strides and no padding: a product over the channel axis.
bool is_pointwise(const Graph& graph, const Node& node) {
  Result<ConvAttributes> attrs = ConvAttributes::parse(node, 2);
  if (!attrs.ok() || attrs->group != 1) return false;
  const Tensor& w = graph.values[node.inputs[1]].constant;
  if (w.dim(2) != 1 || w.dim(3) != 1 || attrs->strides != std::vector<int64_t>{1, 1}) {
    return false;
  }
  return std::all_of(attrs->pads.begin(), attrs->pads.end(), [](int64_t p) { return p == 0; });
}

// Unary elementwise ops (extra inputs, such as Clip's bounds, are scalars and stay as they are).
bool is_unary_elementwise(const Node& node) {
  static const char* const kOps[] = {
      "Relu",       "Sigmoid", "Tanh",     "LeakyRelu", "HardSigmoid", "HardSwish",
      "Elu",        "Selu",    "Gelu",     "Erf",       "Softplus",    "Mish",
      "Neg",        "Abs",     "Sqrt",     "Exp",       "Clip",        "Identity",
      "Reciprocal", "Log",     "Softsign", "Sign",      "Floor",       "Ceil",
      "Round",      "Sin",     "Cos",      "Celu",      "Shrink",      "ThresholdedRelu"};
  for (const char* op : kOps) {
    if (is_onnx_op(node, op)) return true;
  }
  // fuse_gelu's QuickGelu (SiLU with alpha 1) and ONNX Runtime's Gelu.
  return node.domain == "com.microsoft" && (node.op_type == "QuickGelu" || node.op_type == "Gelu");
}

enum class Role {
  kNone,
  kElementwise,
  kUnary,
  kConv,
  kPool,
  kGlobalPool,
  kReduce,
  kConcat,
  kResize,
  kSplit,
  kSlice,
  kPad
};

// The constant 1-D int64 / float tensor at input `i` of `node`, or nullptr (absent inputs and
// empty tensors included: the caller checks numel).
const Tensor* constant_input(const Graph& graph, const Node& node, int i) {
  if (!node.has_input(i)) return nullptr;
  const Value& v = graph.values[node.inputs[i]];
  return v.is_constant() ? &v.constant : nullptr;
}

// The elements of 1-D `t` at `order`, in that order.
Tensor gather_elements(const Tensor& t, const std::vector<int64_t>& order) {
  Tensor out = Tensor::empty(t.dtype(), {static_cast<int64_t>(order.size())});
  const size_t size = dtype_size(t.dtype());
  const char* src = static_cast<const char*>(t.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < order.size(); ++i) {
    std::memcpy(dst + i * size, src + order[i] * size, size);
  }
  return out;
}

// The order that lays out per-axis values (`halves` runs of one value per axis: a Resize's roi
// starts then ends, a Pad's begins then ends) for the values stored permuted by `p`: stored
// axis i is the original axis p[i].
std::vector<int64_t> permuted_order(const Perm& p, int halves) {
  const int64_t n = static_cast<int64_t>(p.size());
  std::vector<int64_t> order;
  for (int h = 0; h < halves; ++h) {
    for (int64_t i = 0; i < n; ++i) order.push_back(h * n + p[i]);
  }
  return order;
}

// A Resize whose roi, scales and sizes are constants (or absent), so that they can be permuted
// with the data: the multi-scale features of MobileNetV5's fusion adapter, an FPN's upsampling.
bool is_permutable_resize(const Graph& graph, const Node& node, size_t rank) {
  if (!is_onnx_op(node, "Resize") || !node.has_input(0)) return false;
  const Value& x = graph.values[node.inputs[0]];
  if (x.is_constant() || !has_rank(x, rank) || !has_rank(graph.values[node.outputs[0]], rank)) {
    return false;
  }
  const Attribute* axes = node.attrs.find("axes");
  const size_t n = axes != nullptr ? axes->ints.size() : rank;
  if (axes != nullptr) {
    for (int64_t a : axes->ints) {
      if (a < -static_cast<int64_t>(rank) || a >= static_cast<int64_t>(rank)) return false;
    }
  }
  for (int i = 1; i < node.num_inputs(); ++i) {
    if (!node.has_input(i)) continue;
    const Tensor* t = constant_input(graph, node, i);
    if (t == nullptr || t->rank() != 1) return false;
    if (t->dtype() != DType::kFloat32 && t->dtype() != DType::kInt64) return false;
    // roi holds starts and ends (2n), scales and sizes n values; an empty one is "not given".
    const int64_t want = static_cast<int64_t>(i == 1 ? 2 * n : n);
    if (t->numel() != 0 && t->numel() != want) return false;
  }
  return true;
}

// The axes a reduction (ReduceMean, ReduceMax, ReduceL2, ...) with keepdims = 1 reduces over a
// rank-`rank` input, each in [0, rank) and sorted (every axis where none are given), when they are
// known at build time (the attribute before opset 18, a constant input from 18); nullopt otherwise.
std::optional<std::vector<int64_t>> static_reduce_axes(const Graph& graph, const Node& node,
                                                       size_t rank) {
  static const char* const kReductions[] = {"ReduceMean", "ReduceMax",       "ReduceMin",
                                            "ReduceSum",  "ReduceSumSquare", "ReduceL1",
                                            "ReduceL2",   "ReduceProd",      "ReduceLogSumExp"};
  if (std::none_of(std::begin(kReductions), std::end(kReductions),
                   [&](const char* op) { return is_onnx_op(node, op); })) {
    return std::nullopt;
  }
  Result<int64_t> keepdims = node.attrs.get_int("keepdims", 1);
  if (!keepdims.ok() || *keepdims != 1) return std::nullopt;
  std::vector<int64_t> axes;
  if (node.has_input(1)) {
    const Value& a = graph.values[node.inputs[1]];
    if (!a.is_constant() || a.constant.dtype() != DType::kInt64 || a.constant.rank() != 1) {
      return std::nullopt;
    }
    const int64_t* d = a.constant.data<int64_t>();
    axes.assign(d, d + a.constant.numel());
  } else if (const Attribute* at = node.attrs.find("axes")) {
    axes = at->ints;
  }
  if (axes.empty()) {
    Result<int64_t> noop = node.attrs.get_int("noop_with_empty_axes", 0);
    if (!noop.ok() || *noop != 0) return std::nullopt;
    for (size_t a = 0; a < rank; ++a) axes.push_back(static_cast<int64_t>(a));
  }
  for (int64_t& a : axes) {
    if (a < -static_cast<int64_t>(rank) || a >= static_cast<int64_t>(rank)) return std::nullopt;
    if (a < 0) a += static_cast<int64_t>(rank);
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

// A 2-D MaxPool / AveragePool that vitrt.ChannelsLastPool computes (float, no dilated average).
bool is_channels_last_pool(const Graph& graph, const Node& node) {
  if (!is_onnx_op(node, "MaxPool") && !is_onnx_op(node, "AveragePool")) return false;
  const Value& x = graph.values[node.inputs[0]];
  if (!has_rank(x, 4) || x.dtype != DType::kFloat32 || x.is_constant()) return false;
  Result<PoolAttributes> attrs = PoolAttributes::parse(node, 2);
  if (!attrs.ok()) return false;
  if (is_onnx_op(node, "AveragePool") &&
      std::any_of(attrs->geometry.dilations.begin(), attrs->geometry.dilations.end(),
                  [](int64_t d) { return d != 1; })) {
    return false;
  }
  return has_rank(graph.values[node.outputs[0]], 4);
}

// A Slice (opset 10 on: starts, ends, axes and steps inputs) whose parameters are constants, on
// a rank-`rank` tensor: with its axes moved it slices the permuted value alike (a channel slice:
// GhostNet's modules, a Split written as slices).
bool is_permutable_slice(const Graph& graph, const Node& node, size_t rank) {
  if (!is_onnx_op(node, "Slice") || node.num_inputs() < 3 || !node.has_input(0)) return false;
  const Value& x = graph.values[node.inputs[0]];
  if (x.is_constant() || !has_rank(x, rank) || !has_rank(graph.values[node.outputs[0]], rank)) {
    return false;
  }
  const Tensor* starts = constant_input(graph, node, 1);
  if (starts == nullptr || starts->rank() != 1) return false;
  for (int i = 2; i < node.num_inputs(); ++i) {
    if (!node.has_input(i)) continue;
    const Tensor* t = constant_input(graph, node, i);
    if (t == nullptr || t->rank() != 1 || t->numel() != starts->numel()) return false;
    if (t->dtype() != DType::kInt64 && t->dtype() != DType::kInt32) return false;
  }
  if (const Tensor* axes = constant_input(graph, node, 3)) {
    for (int64_t i = 0; i < axes->numel(); ++i) {
      const int64_t a = axes->element_as_int64(i);
      if (a < -static_cast<int64_t>(rank) || a >= static_cast<int64_t>(rank)) return false;
    }
  } else if (starts->numel() > static_cast<int64_t>(rank)) {
    return false;
  }
  return true;
}

// A Pad whose pads are a constant (the attribute before opset 11, an int64 input from 11) over
// every axis (no axes input): the stored axis i is padded as the original axis p[i] was, in any
// mode, so the pads permute with the data (HGNetV2's stem pads its feature map before a 2x2 conv
// and a max pool).
bool is_permutable_pad(const Graph& graph, const Node& node, size_t rank) {
  if (!is_onnx_op(node, "Pad") || !node.has_input(0) || node.has_input(3)) return false;
  const Value& x = graph.values[node.inputs[0]];
  if (x.is_constant() || !has_rank(x, rank) || !has_rank(graph.values[node.outputs[0]], rank)) {
    return false;
  }
  const size_t want = 2 * rank;
  if (graph.onnx_opset() < 11) {
    const Attribute* pads = node.attrs.find("pads");
    return pads != nullptr && pads->ints.size() == want;
  }
  const Tensor* pads = constant_input(graph, node, 1);
  return pads != nullptr && pads->rank() == 1 && pads->dtype() == DType::kInt64 &&
         static_cast<size_t>(pads->numel()) == want;
}

// A GroupNormalization with one group and one scale and one bias for every channel
// (fuse_group_norm's F.group_norm(x, 1), PoolFormer's norm): its statistics span a whole sample
// however it is laid out, so under a permutation that keeps the batch axis first it is
// elementwise (a unary op).
bool is_one_group_norm(const Graph& graph, const Node& node, const Perm& p) {
  if (!is_onnx_op(node, "GroupNormalization") || node.num_inputs() != 3 || p.empty() || p[0] != 0) {
    return false;
  }
  Result<int64_t> groups = node.attrs.get_int("num_groups", 0);
  if (!groups.ok() || *groups != 1) return false;
  for (int i : {1, 2}) {
    const Tensor* t = constant_input(graph, node, i);
    if (t == nullptr || t->numel() < 1) return false;
    for (int64_t j = 1; j < t->numel(); ++j) {
      if (t->element_as_double(j) != t->element_as_double(0)) return false;
    }
  }
  const Value& x = graph.values[node.inputs[0]];
  return !x.is_constant() && has_rank(x, p.size()) &&
         has_rank(graph.values[node.outputs[0]], p.size());
}

// Whether `node` computes the same thing on values stored permuted by `p`.
Role role_of(const Graph& graph, const Node& node, const Perm& p) {
  const size_t rank = p.size();
  if (!node.dead && is_onnx_op(node, "Split") && node.has_input(0)) {
    // Along its axis moved; the sizes (an attribute or an input) stay.
    const Value& x = graph.values[node.inputs[0]];
    Result<int64_t> axis = node.attrs.get_int("axis", 0);
    const int64_t r = static_cast<int64_t>(rank);
    if (x.is_constant() || !has_rank(x, rank) || !axis.ok() || *axis < -r || *axis >= r) {
      return Role::kNone;
    }
    for (ValueId out : node.outputs) {
      if (out == kNoValue || !has_rank(graph.values[out], rank)) return Role::kNone;
    }
    return Role::kSplit;
  }
  if (node.dead || node.outputs.size() != 1) return Role::kNone;
  // Binary elementwise ops (an RMSNorm2d's Pow(x, 2) among them: MobileNetV5, Gemma 3n).
  if (is_onnx_op(node, "Add") || is_onnx_op(node, "Sub") || is_onnx_op(node, "Mul") ||
      is_onnx_op(node, "Div") || is_onnx_op(node, "Pow") || is_onnx_op(node, "Min") ||
      is_onnx_op(node, "Max")) {
    if (node.num_inputs() != 2 || !has_rank(graph.values[node.outputs[0]], rank)) {
      return Role::kNone;
    }
    int variable = 0;
    for (ValueId in : node.inputs) {
      if (in == kNoValue) return Role::kNone;
      const Value& v = graph.values[in];
      if (v.is_constant()) {
        if (v.constant.rank() > static_cast<int>(rank)) return Role::kNone;
      } else {
        if (!has_rank(v, rank)) return Role::kNone;  // a lower-rank operand broadcasts by layout
        ++variable;
      }
    }
    return variable > 0 ? Role::kElementwise : Role::kNone;
  }
  if (is_unary_elementwise(node)) {
    if (node.inputs.empty() || node.inputs[0] == kNoValue) return Role::kNone;
    const Value& x = graph.values[node.inputs[0]];
    for (size_t i = 1; i < node.inputs.size(); ++i) {
      const ValueId in = node.inputs[i];
      if (in != kNoValue && (!graph.values[in].has_shape || !graph.values[in].shape.empty())) {
        return Role::kNone;  // a bound that is no scalar
      }
    }
    return !x.is_constant() && has_rank(x, rank) && has_rank(graph.values[node.outputs[0]], rank)
               ? Role::kUnary
               : Role::kNone;
  }
  if (is_one_group_norm(graph, node, p)) return Role::kUnary;
  if (is_onnx_op(node, "GlobalAveragePool")) {
    const Value& x = graph.values[node.inputs[0]];
    return rank >= 3 && !x.is_constant() && has_rank(x, rank) &&
                   has_rank(graph.values[node.outputs[0]], rank)
               ? Role::kGlobalPool
               : Role::kNone;
  }
  if (static_reduce_axes(graph, node, rank)) {
    const Value& x = graph.values[node.inputs[0]];
    return !x.is_constant() && has_rank(x, rank) && has_rank(graph.values[node.outputs[0]], rank)
               ? Role::kReduce
               : Role::kNone;
  }
  if (is_onnx_op(node, "Concat")) {
    int variable = 0;
    for (ValueId in : node.inputs) {
      if (in == kNoValue || !has_rank(graph.values[in], rank)) return Role::kNone;
      if (!graph.values[in].is_constant()) ++variable;
    }
    Result<int64_t> axis = node.attrs.get_int("axis", 0);
    const int64_t r = static_cast<int64_t>(rank);
    return variable > 0 && axis.ok() && *axis >= -r && *axis < r &&
                   has_rank(graph.values[node.outputs[0]], rank)
               ? Role::kConcat
               : Role::kNone;
  }
  if (is_permutable_resize(graph, node, rank)) return Role::kResize;
  if (is_permutable_slice(graph, node, rank)) return Role::kSlice;
  if (is_permutable_pad(graph, node, rank)) return Role::kPad;
  if (is_onnx_op(node, "Conv") && p == kChannelsLast) {
    std::string why;
    return is_channels_last_conv(graph, node, &why) ? Role::kConv : Role::kNone;
  }
  if (p == kChannelsLast && is_channels_last_pool(graph, node)) return Role::kPool;
  return Role::kNone;
}

// The region operands of a node of role `role`: the values that are stored permuted.
std::vector<ValueId> region_operands(const Graph& graph, const Node& node, Role role) {
  if (role == Role::kSplit) {
    std::vector<ValueId> out = node.outputs;
    out.push_back(node.inputs[0]);
    return out;
  }
  std::vector<ValueId> out = {node.outputs[0]};
  if (role == Role::kConv || role == Role::kUnary || role == Role::kPool ||
      role == Role::kGlobalPool || role == Role::kReduce || role == Role::kResize ||
      role == Role::kSlice || role == Role::kPad) {
    out.push_back(node.inputs[0]);
  } else {
    for (ValueId in : node.inputs) {
      if (!graph.values[in].is_constant()) out.push_back(in);
    }
  }
  return out;
}

struct UnionFind {
  std::vector<ValueId> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  ValueId find(ValueId v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  }
  void unite(ValueId a, ValueId b) { parent[find(a)] = find(b); }
};

struct Region {
  std::vector<NodeId> nodes;
  std::vector<ValueId> values;
};

// Where a region value comes from, who reads it, and what storing it permuted costs.
struct ValuePlan {
  ValueId value = kNoValue;
  enum Source { kRegionNode, kTranspose, kOutside } source = kOutside;
  NodeId producer_transpose = -1;  // kTranspose
  Perm producer_perm;              // kTranspose: the producer's permutation
  std::vector<NodeId> readers;     // region nodes reading it
  std::vector<NodeId> transposes;  // Transposes reading it (their output no graph output)
  std::vector<NodeId> others;      // other readers: they need the value as it is
  bool graph_output = false;
  bool needs_original() const { return graph_output || !others.empty(); }
};

class LayoutRewriter {
 public:
  LayoutRewriter(Graph& graph, PassContext& ctx) : graph_(graph), ctx_(ctx) {}

  // Stores the first region whose Transpose count falls permuted; false when none does.
  Result<bool> flip_one() {
    for (const Perm& p : candidate_perms()) {
      if (p == kChannelsLast) report_convs_kept();
      for (Region& region : regions(p)) {
        std::vector<ValuePlan> plans;
        int cost = 0;
        std::string why;
        if (!price(region, p, &plans, &cost, &why)) {
          report_decline(region, p, why);
          continue;
        }
        if (cost >= 0) {
          report_decline(
              region, p,
              str_cat("storing it permuted would change the Transpose count by +", cost));
          continue;
        }
        rewrite(region, p, plans, cost);
        VITRT_RETURN_IF_ERROR(infer_shapes(graph_));
        return true;
      }
    }
    return false;
  }

 private:
  // The permutations of the live Transposes and their inverses, in a fixed order.
  std::vector<Perm> candidate_perms() const {
    std::set<Perm> perms;
    // A CNN has no Transposes to start from: its convolutions make channels-last a candidate
    // (a depthwise one too: a token MLP's, between Reshapes).
    for (const Node& node : graph_.nodes) {
      std::string why;
      if (!node.dead && is_onnx_op(node, "Conv") && is_channels_last_conv(graph_, node, &why)) {
        perms.insert(kChannelsLast);
        break;
      }
    }
    for (const Node& node : graph_.nodes) {
      if (node.dead || !is_onnx_op(node, "Transpose")) continue;
      std::optional<Perm> perm = transpose_perm_of(graph_, node);
      if (!perm || perm->size() < 2 || is_identity(*perm)) continue;
      perms.insert(*perm);
      perms.insert(inverse(*perm));
    }
    return {perms.begin(), perms.end()};
  }

  // Concat, Split, Slice, Resize and Pad join the regions around them: one is a member only where
  // every value it reads comes from a member (or a Transpose) and every reader of its outputs is
  // one (or a Transpose). Otherwise it would join a region to ops that stay in the old layout
  // and charge it Transposes at each of its borders (EfficientViT's heads split off channels
  // and flatten them to tokens at once).
  static bool is_connector(Role role) {
    return role == Role::kConcat || role == Role::kSplit || role == Role::kSlice ||
           role == Role::kResize || role == Role::kPad;
  }

  bool connector_fits(NodeId id, const std::vector<Role>& roles,
                      const std::vector<std::vector<NodeId>>& consumers) const {
    const auto member_or_transpose = [&](NodeId n) {
      return n >= 0 && (roles[n] != Role::kNone || is_onnx_op(graph_.nodes[n], "Transpose"));
    };
    const Node& node = graph_.nodes[id];
    for (ValueId in : region_operands(graph_, node, roles[id])) {
      const bool output =
          std::find(node.outputs.begin(), node.outputs.end(), in) != node.outputs.end();
      if (output) {
        if (is_graph_output(graph_, in)) return false;
        for (NodeId c : consumers[in]) {
          if (!member_or_transpose(c)) return false;
        }
      } else if (!member_or_transpose(graph_.values[in].producer)) {
        return false;
      }
    }
    return true;
  }

  std::vector<Region> regions(const Perm& p) {
    UnionFind uf(graph_.values.size());
    std::vector<Role> roles(graph_.nodes.size(), Role::kNone);
    for (NodeId id = 0; id < static_cast<NodeId>(graph_.nodes.size()); ++id) {
      roles[id] = role_of(graph_, graph_.nodes[id], p);
    }
    const std::vector<std::vector<NodeId>> consumers = graph_.consumers();
    std::vector<std::pair<NodeId, Role>> members;
    for (NodeId id = 0; id < static_cast<NodeId>(graph_.nodes.size()); ++id) {
      const Role role = roles[id];
      if (role == Role::kNone) continue;
      if (is_connector(role) && !connector_fits(id, roles, consumers)) continue;
      members.emplace_back(id, role);
      const std::vector<ValueId> ops = region_operands(graph_, graph_.nodes[id], role);
      for (ValueId v : ops) uf.unite(v, ops[0]);
    }
    std::map<ValueId, Region> by_root;
    std::set<ValueId> seen;
    for (const auto& [id, role] : members) {
      const std::vector<ValueId> ops = region_operands(graph_, graph_.nodes[id], role);
      Region& r = by_root[uf.find(ops[0])];
      r.nodes.push_back(id);
      for (ValueId v : ops) {
        if (seen.insert(v).second) r.values.push_back(v);
      }
    }
    std::vector<Region> out;
    for (auto& [root, r] : by_root) out.push_back(std::move(r));
    return out;
  }

  // Classifies every region value and sums the change in the Transpose count; false (with
  // `why`) for a region this pass does not handle.
  bool price(const Region& region, const Perm& p, std::vector<ValuePlan>* plans, int* cost,
             std::string* why) {
    const std::set<NodeId> nodes(region.nodes.begin(), region.nodes.end());
    const std::set<ValueId> values(region.values.begin(), region.values.end());
    const std::vector<std::vector<NodeId>> consumers = graph_.consumers();
    const Perm pinv = inverse(p);
    *cost = 0;
    for (ValueId v : region.values) {
      ValuePlan plan;
      plan.value = v;
      plan.graph_output = is_graph_output(graph_, v);
      const NodeId producer = graph_.values[v].producer;
      if (producer >= 0 && nodes.count(producer) != 0) {
        plan.source = ValuePlan::kRegionNode;
      } else if (producer >= 0 && is_onnx_op(graph_.nodes[producer], "Transpose") &&
                 transpose_perm_of(graph_, graph_.nodes[producer])) {
        plan.source = ValuePlan::kTranspose;
        plan.producer_transpose = producer;
        plan.producer_perm = *transpose_perm_of(graph_, graph_.nodes[producer]);
      }
      for (NodeId c : consumers[v]) {
        const Node& reader = graph_.nodes[c];
        if (nodes.count(c) != 0) {
          plan.readers.push_back(c);
          continue;
        }
        // A Transpose reading the value reads the permuted one instead. One whose output is a
        // graph output can vanish only where the permuted value is a fresh or internal one,
        // which then takes the output's name.
        const bool output = is_graph_output(graph_, reader.outputs[0]);
        if (is_onnx_op(reader, "Transpose") && transpose_perm_of(graph_, reader) &&
            (!output || plan.source != ValuePlan::kTranspose)) {
          if (values.count(reader.outputs[0]) != 0) {
            *why = str_cat("Transpose '", reader.name, "' reads and makes values of it");
            return false;
          }
          plan.transposes.push_back(c);
          if (is_identity(then(pinv, *transpose_perm_of(graph_, reader)))) --*cost;
        } else {
          plan.others.push_back(c);
        }
      }
      switch (plan.source) {
        case ValuePlan::kRegionNode:
          // A Transpose back for the readers outside, unless it collapses with a Reshape and
          // the Transpose after it (both then gone).
          if (plan.needs_original()) *cost += collapses_out(plan, p, consumers) ? -1 : 1;
          break;
        case ValuePlan::kTranspose: {
          const bool cancels = is_identity(then(plan.producer_perm, p));
          *cost += (cancels ? 0 : 1) - (plan.needs_original() ? 0 : 1);
          break;
        }
        case ValuePlan::kOutside:
          *cost += collapses_in(plan, p, consumers) ? -1 : 1;
          break;
      }
      plans->push_back(std::move(plan));
    }
    // A dense NCHW Conv pays a layout copy of its own (the GEMM's rows are pixels, so its
    // result goes back to channels-first); channels-last it has none.
    for (NodeId id : region.nodes) {
      const Node& node = graph_.nodes[id];
      if (is_onnx_op(node, "Conv") && is_dense(graph_, node)) --*cost;
    }
    return true;
  }

  // Verbose near miss, only for regions with a Transpose at their border (the others are
  // every elementwise chain of the graph and never a candidate).
  void report_decline(const Region& region, const Perm& p, const std::string& why) {
    if (!ctx_.verbose()) return;
    const std::vector<std::vector<NodeId>> consumers = graph_.consumers();
    bool touches_transpose = false;
    for (ValueId v : region.values) {
      const NodeId producer = graph_.values[v].producer;
      if (producer >= 0 && is_onnx_op(graph_.nodes[producer], "Transpose")) {
        touches_transpose = true;
      }
      for (NodeId c : consumers[v]) {
        if (is_onnx_op(graph_.nodes[c], "Transpose")) touches_transpose = true;
      }
    }
    if (!touches_transpose) return;
    ctx_.near_miss(kPass,
                   str_cat("the region of ", region.values.size(), " values around ",
                           graph_.nodes[region.nodes[0]].describe()),
                   str_cat("kept in its layout for permutation ", perm_text(p), ": ", why));
  }

 public:
  // Transpose(q) of a Reshape that splits one axis of Transpose(t)(x): the Reshape can split x
  // first (the axis t moved there), the two permutations then meet and, where they compose to
  // the identity, nothing is left but one Reshape. A patch embedding's tokens go back to an
  // image this way (Linear -> Transpose(0,2,1) -> Reshape [B, D, H, W]) and straight on to a
  // channels-last region (Transpose(0,2,3,1)): that is Reshape(tokens, [B, H, W, D]).
  Result<bool> collapse_one() {
    const std::vector<std::vector<NodeId>> consumers = graph_.consumers();
    for (NodeId id = 0; id < static_cast<NodeId>(graph_.nodes.size()); ++id) {
      const Node& outer = graph_.nodes[id];
      if (outer.dead || !is_onnx_op(outer, "Transpose")) continue;
      const Node* reshape = producer_if(graph_, outer.inputs[0], "Reshape");
      if (reshape == nullptr) continue;
      const Node* inner = producer_if(graph_, reshape->inputs[0], "Transpose");
      if (inner == nullptr) continue;
      const std::optional<Perm> q = transpose_perm_of(graph_, outer);
      const std::optional<Perm> t = transpose_perm_of(graph_, *inner);
      const Value& x = graph_.values[inner->inputs[0]];
      const Value& y = graph_.values[reshape->inputs[0]];
      const Value& z = graph_.values[reshape->outputs[0]];
      if (!q || !t || !x.has_shape || !y.has_shape || !z.has_shape) continue;
      const std::optional<Collapse> c =
          collapse_through(*reshape, *t, x.shape, y.shape, z.shape, *q);
      if (!c) continue;
      const bool single_use = consumers[inner->outputs[0]].size() == 1 &&
                              consumers[reshape->outputs[0]].size() == 1 &&
                              !is_graph_output(graph_, inner->outputs[0]) &&
                              !is_graph_output(graph_, reshape->outputs[0]);
      // Without the identity the outer Transpose stays (permuted anew): a gain only when the
      // inner one dies with it.
      if (!is_identity(c->composed) && !single_use) continue;
      // Ids, not pointers: adding nodes below may move them.
      const std::string name = outer.name;
      const ValueId out = outer.outputs[0], source = inner->inputs[0];
      const NodeId reshape_id = graph_.values[outer.inputs[0]].producer;
      const NodeId inner_id = graph_.values[reshape->inputs[0]].producer;
      const ValueId target_id =
          add_constant_value(graph_, name + "_shape", Tensor::from_int64(c->target));
      const NodeId split = add_node(graph_, "", "Reshape", name + "_reshape", {source, target_id},
                                    {graph_.values[out].name + "_reshaped"});
      ValueId result = graph_.nodes[split].outputs[0];
      if (!is_identity(c->composed)) {
        result = add_transpose(result, c->composed, name + "_composed");
      }
      std::vector<NodeId> dead = {id};
      if (single_use) dead.insert(dead.end(), {reshape_id, inner_id});
      remove_nodes(graph_, dead);
      replace_uses(graph_, out, result);
      ctx_.applied(kPass,
                   str_cat("Transpose '", name, "' and the Transpose before the Reshape it reads ",
                           is_identity(c->composed) ? "cancel: one Reshape is left"
                                                    : "compose into one after the Reshape"));
      VITRT_RETURN_IF_ERROR(infer_shapes(graph_));
      return true;
    }
    return false;
  }

 private:
  // Transpose(q)(Reshape(Transpose(t)(x))) as Transpose(composed)(Reshape(x, target)): the
  // Reshape y = t(x) -> z either splits one axis of y into several or merges consecutive axes of
  // y whose sources in x are consecutive and in order; the Reshape then applies to x itself (the
  // axis or axes t moved there) and t, adjusted for the changed rank, meets q.
  struct Collapse {
    Perm composed;
    std::vector<int64_t> target;
  };
  std::optional<Collapse> collapse_through(const Node& reshape, const Perm& t, const SymShape& x,
                                           const SymShape& y, const SymShape& z,
                                           const Perm& q) const {
    const Result<int64_t> allowzero = reshape.attrs.get_int("allowzero", 0);
    if (!allowzero.ok() || *allowzero != 0 || x.size() != t.size() || y.size() != t.size() ||
        z.size() != q.size() || z.size() == y.size()) {
      return std::nullopt;
    }
    Perm t2;
    std::vector<Dim> dims;
    if (z.size() > y.size()) {
      const size_t n = y.size(), m = z.size() - n;
      const std::optional<size_t> k = split_axis(y, z);
      if (!k) return std::nullopt;
      // x' is x with axis a = t[k] split like y's axis k; z = Transpose(x', t2).
      const int a = t[*k];
      for (size_t j = 0; j < z.size(); ++j) {
        if (j >= *k && j <= *k + m) {
          t2.push_back(a + static_cast<int>(j - *k));
        } else {
          const int b = t[j < *k ? j : j - m];
          t2.push_back(b < a ? b : b + static_cast<int>(m));
        }
      }
      dims.assign(x.begin(), x.begin() + a);
      dims.insert(dims.end(), z.begin() + *k, z.begin() + *k + m + 1);
      dims.insert(dims.end(), x.begin() + a + 1, x.end());
    } else {
      // z's axis k is y's axes k..k+m; x holds them at a..a+m, in order.
      const size_t m = y.size() - z.size();
      const std::optional<size_t> k = split_axis(z, y);
      if (!k) return std::nullopt;
      const int a = t[*k];
      for (size_t j = 1; j <= m; ++j) {
        if (t[*k + j] != a + static_cast<int>(j)) return std::nullopt;
      }
      for (size_t j = 0; j < z.size(); ++j) {
        if (j == *k) {
          t2.push_back(a);
        } else {
          const int b = t[j < *k ? j : j + m];
          t2.push_back(b < a ? b : b - static_cast<int>(m));
        }
      }
      dims.assign(x.begin(), x.begin() + a);
      dims.push_back(z[*k]);
      dims.insert(dims.end(), x.begin() + a + static_cast<long>(m) + 1, x.end());
    }
    bool positive = true;
    for (const Dim& d : dims) positive = positive && (!d.is_static() || d.value() > 0);
    const std::optional<std::vector<int64_t>> target =
        positive ? constant_reshape_target(x, dims) : std::nullopt;
    if (!target) return std::nullopt;
    return Collapse{then(t2, q), *target};
  }

  // The axis k of `in` that a Reshape to `out` splits into out[k..k+m] (the dims before and
  // after it provably kept, the pieces' product provably in[k]); nullopt otherwise.
  static std::optional<size_t> split_axis(const SymShape& in, const SymShape& out) {
    const size_t n = in.size(), m = out.size() - n;
    for (size_t k = 0; k < n; ++k) {
      if (k > 0 && !in[k - 1].same_as(out[k - 1])) return std::nullopt;
      bool tail = true;
      for (size_t i = k + 1; i < n && tail; ++i) tail = in[i].same_as(out[i + m]);
      if (!tail) continue;
      Dim product = out[k];
      for (size_t j = 1; j <= m; ++j) product = product * out[k + j];
      if (product.same_as(in[k])) return k;
    }
    return std::nullopt;
  }

  // Pricing: region value v (`plan`), stored permuted by p, produced outside by a Reshape that
  // collapse_one will fold with the Transpose before it and the Transpose(p) this pass puts after
  // it into one Reshape (the tokens of PVTv2's or SegFormer's MLP going back to an image for
  // their depthwise Conv), the inner Transpose dying with them.
  bool collapses_in(const ValuePlan& plan, const Perm& p,
                    const std::vector<std::vector<NodeId>>& consumers) const {
    if (plan.graph_output || !plan.others.empty() || !plan.transposes.empty()) return false;
    const Node* reshape = producer_if(graph_, plan.value, "Reshape");
    if (reshape == nullptr) return false;
    const Node* inner = producer_if(graph_, reshape->inputs[0], "Transpose");
    if (inner == nullptr || consumers[inner->outputs[0]].size() != 1 ||
        is_graph_output(graph_, inner->outputs[0])) {
      return false;
    }
    const std::optional<Perm> t = transpose_perm_of(graph_, *inner);
    const Value& x = graph_.values[inner->inputs[0]];
    const Value& y = graph_.values[reshape->inputs[0]];
    const Value& z = graph_.values[plan.value];
    if (!t || !x.has_shape || !y.has_shape || !z.has_shape) return false;
    const std::optional<Collapse> c = collapse_through(*reshape, *t, x.shape, y.shape, z.shape, p);
    return c && is_identity(c->composed);
  }

  // The mirror: a region value whose one reader outside is a Reshape read by one Transpose (the
  // image flattened back to tokens): the Transpose(p^-1) this pass puts before the Reshape, the
  // Reshape and that Transpose collapse into one Reshape of the permuted value.
  bool collapses_out(const ValuePlan& plan, const Perm& p,
                     const std::vector<std::vector<NodeId>>& consumers) const {
    if (plan.graph_output || plan.others.size() != 1) return false;
    const Node& reshape = graph_.nodes[plan.others[0]];
    if (!is_onnx_op(reshape, "Reshape") || reshape.inputs[0] != plan.value ||
        consumers[reshape.outputs[0]].size() != 1 || is_graph_output(graph_, reshape.outputs[0])) {
      return false;
    }
    const Node& outer = graph_.nodes[consumers[reshape.outputs[0]][0]];
    if (!is_onnx_op(outer, "Transpose")) return false;
    const std::optional<Perm> q = transpose_perm_of(graph_, outer);
    const Value& y = graph_.values[plan.value];
    const Value& z = graph_.values[reshape.outputs[0]];
    if (!q || !y.has_shape || !z.has_shape || y.shape.size() != p.size()) return false;
    SymShape x;  // the value as stored permuted
    for (int axis : p) x.push_back(y.shape[axis]);
    const std::optional<Collapse> c =
        collapse_through(reshape, inverse(p), x, y.shape, z.shape, *q);
    return c && is_identity(c->composed);
  }

  // A Conv whose output goes channels-last but that ChannelsLastConv cannot take: verbose only.
  void report_convs_kept() {
    if (!ctx_.verbose()) return;
    const std::vector<std::vector<NodeId>> consumers = graph_.consumers();
    for (const Node& node : graph_.nodes) {
      if (node.dead || !is_onnx_op(node, "Conv")) continue;
      std::string why;
      if (is_channels_last_conv(graph_, node, &why)) continue;
      for (NodeId c : consumers[node.outputs[0]]) {
        const Node& reader = graph_.nodes[c];
        if (is_onnx_op(reader, "Transpose") && transpose_perm_of(graph_, reader) == kChannelsLast) {
          ctx_.near_miss(kPass, node.describe(),
                         str_cat("its output is read channels-last but it is ", why,
                                 ": it stays an NCHW Conv"));
        }
      }
    }
  }

  ValueId add_transpose(ValueId input, const Perm& perm, const std::string& name) {
    Attributes attrs;
    attrs.set_ints("perm", std::vector<int64_t>(perm.begin(), perm.end()));
    const NodeId id = add_node(graph_, "", "Transpose", name, {input},
                               {graph_.values[input].name + "_permuted"}, std::move(attrs));
    return graph_.nodes[id].outputs[0];
  }

  void replace_input(NodeId node, ValueId from, ValueId to) {
    for (ValueId& in : graph_.nodes[node].inputs) {
      if (in == from) in = to;
    }
  }

  void rewrite(const Region& region, const Perm& p, const std::vector<ValuePlan>& plans, int cost) {
    const Perm pinv = inverse(p);
    int added = 0, removed = 0;
    std::vector<NodeId> dead;
    std::vector<ValueId> changed;
    for (const ValuePlan& plan : plans) {
      const ValueId v = plan.value;
      ValueId permuted = v;  // the value as the region now stores it
      switch (plan.source) {
        case ValuePlan::kRegionNode:
          changed.push_back(v);
          if (plan.needs_original()) {
            // The region node now makes the permuted value; the readers outside get it back.
            const std::string name = graph_.values[v].name;
            const ValueId original = add_transpose(v, pinv, name + "_layout");
            ++added;
            for (NodeId c : plan.others) replace_input(c, v, original);
            if (plan.graph_output) {
              for (ValueId& out : graph_.outputs) {
                if (out == v) out = original;
              }
              graph_.rename_value(v, graph_.unique_value_name(name + "_permuted"));
              graph_.rename_value(original, name);
            }
          }
          break;
        case ValuePlan::kTranspose: {
          Node& producer = graph_.nodes[plan.producer_transpose];
          const Perm composed = then(plan.producer_perm, p);
          if (is_identity(composed)) {
            permuted = producer.inputs[0];
            if (!plan.needs_original()) {
              dead.push_back(plan.producer_transpose);
              ++removed;
            }
          } else if (!plan.needs_original()) {
            changed.push_back(v);
            producer.attrs.set_ints("perm", std::vector<int64_t>(composed.begin(), composed.end()));
          } else {
            permuted = add_transpose(producer.inputs[0], composed, producer.name + "_permuted");
            ++added;
          }
          break;
        }
        case ValuePlan::kOutside:
          permuted = add_transpose(v, p, graph_.values[v].name + "_to_region");
          ++added;
          break;
      }
      if (permuted != v) {
        for (NodeId c : plan.readers) replace_input(c, v, permuted);
      }
      for (NodeId t : plan.transposes) {
        Node& reader = graph_.nodes[t];
        const Perm composed = then(pinv, *transpose_perm_of(graph_, reader));
        reader.inputs[0] = permuted;
        if (is_identity(composed) && can_replace_uses(graph_, reader.outputs[0], permuted)) {
          dead.push_back(t);
          ++removed;
          replace_uses(graph_, reader.outputs[0], permuted);
        } else {  // (an identity kept only where a second graph output needs its own name)
          reader.attrs.set_ints("perm", std::vector<int64_t>(composed.begin(), composed.end()));
        }
      }
    }
    int convs = 0, linears = 0, pools = 0;
    for (NodeId id : region.nodes) {
      Node& node = graph_.nodes[id];
      if (is_onnx_op(node, "Conv")) {
        // W [D, C/group, KH, KW] -> [D, KH, KW, C/group]; a pointwise one becomes a Linear of
        // the channel axis, W [C, D].
        const Value& w = graph_.values[node.inputs[1]];
        if (is_pointwise(graph_, node)) {
          const Tensor& wc = w.constant;
          const Tensor wt =
              transpose_tensor(*wc.reshaped({wc.dim(0), wc.dim(1)}), std::vector<int>{1, 0});
          node.inputs[1] = add_constant_value(graph_, w.name + "_linear", wt);
          node.op_type = "Linear";
          node.domain = "vitrt";
          node.attrs = Attributes();
          ++linears;
          continue;
        }
        node.inputs[1] = add_constant_value(graph_, w.name + "_channels_last",
                                            transpose_tensor(w.constant, kChannelsLast));
        node.op_type = "ChannelsLastConv";
        node.domain = "vitrt";
        ++convs;
        continue;
      }
      if (is_unary_elementwise(node)) continue;
      if (is_onnx_op(node, "MaxPool") || is_onnx_op(node, "AveragePool")) {
        node.attrs.set_string("mode", is_onnx_op(node, "MaxPool") ? "max" : "average");
        node.op_type = "ChannelsLastPool";
        node.domain = "vitrt";
        ++pools;
        continue;
      }
      if (is_onnx_op(node, "GlobalAveragePool")) {
        // The mean over the spatial axes (2 and up), wherever the permutation put them.
        std::vector<int64_t> axes;
        for (size_t a = 2; a < p.size(); ++a) axes.push_back(pinv[a]);
        std::sort(axes.begin(), axes.end());
        node.op_type = "ReduceMean";
        node.attrs = Attributes();
        node.attrs.set_int("keepdims", 1);
        if (graph_.onnx_opset() >= 18) {  // axes became an input in opset 18
          node.inputs.push_back(
              add_constant_value(graph_, node.name + "_axes", Tensor::from_int64(axes)));
        } else {
          node.attrs.set_ints("axes", axes);
        }
        ++pools;
        continue;
      }
      if (is_onnx_op(node, "Resize")) {
        // The stored axis i is the original axis p[i]: roi, scales and sizes follow it, or,
        // with an axes attribute, the axes move and their values stay in order.
        if (const Attribute* axes = node.attrs.find("axes")) {
          std::vector<int64_t> moved;
          for (int64_t a : axes->ints) {
            moved.push_back(pinv[a < 0 ? a + static_cast<int64_t>(p.size()) : a]);
          }
          node.attrs.set_ints("axes", moved);
          continue;
        }
        for (int i = 1; i < node.num_inputs(); ++i) {
          const Tensor* t = constant_input(graph_, node, i);
          if (t == nullptr || t->numel() == 0) continue;
          node.inputs[i] =
              add_constant_value(graph_, graph_.values[node.inputs[i]].name + "_permuted",
                                 gather_elements(*t, permuted_order(p, i == 1 ? 2 : 1)));
        }
        continue;
      }
      if (is_onnx_op(node, "Pad")) {
        // Begins then ends, each in the stored axes' order.
        const std::vector<int64_t> order = permuted_order(p, 2);
        if (graph_.onnx_opset() < 11) {
          const std::vector<int64_t> pads = node.attrs.find("pads")->ints;
          std::vector<int64_t> moved;
          for (int64_t o : order) moved.push_back(pads[o]);
          node.attrs.set_ints("pads", moved);
        } else {
          node.inputs[1] =
              add_constant_value(graph_, graph_.values[node.inputs[1]].name + "_permuted",
                                 gather_elements(*constant_input(graph_, node, 1), order));
        }
        continue;
      }
      if (is_onnx_op(node, "Split")) {
        Result<int64_t> axis = node.attrs.get_int("axis", 0);
        const int64_t a = *axis < 0 ? *axis + static_cast<int64_t>(p.size()) : *axis;
        node.attrs.set_int("axis", pinv[a]);
        continue;
      }
      if (is_onnx_op(node, "Slice")) {
        // Explicit axes (the first starts.size() ones when absent), each moved.
        const Tensor& starts = *constant_input(graph_, node, 1);
        const Tensor* axes = constant_input(graph_, node, 3);
        std::vector<int64_t> moved;
        for (int64_t i = 0; i < starts.numel(); ++i) {
          int64_t a = axes != nullptr ? axes->element_as_int64(i) : i;
          if (a < 0) a += static_cast<int64_t>(p.size());
          moved.push_back(pinv[a]);
        }
        Tensor axes_t = Tensor::from_int64(moved);
        if (starts.dtype() == DType::kInt32) {
          axes_t = Tensor::empty(DType::kInt32, {static_cast<int64_t>(moved.size())});
          for (size_t i = 0; i < moved.size(); ++i) {
            axes_t.data<int32_t>()[i] = static_cast<int32_t>(moved[i]);
          }
        }
        if (node.inputs.size() < 4) node.inputs.resize(4, kNoValue);
        node.inputs[3] = add_constant_value(graph_, node.name + "_axes", std::move(axes_t));
        continue;
      }
      if (is_onnx_op(node, "Concat")) {
        Result<int64_t> axis = node.attrs.get_int("axis", 0);
        const int64_t a = *axis < 0 ? *axis + static_cast<int64_t>(p.size()) : *axis;
        node.attrs.set_int("axis", pinv[a]);  // constant inputs are permuted below
      }
      if (std::optional<std::vector<int64_t>> axes = static_reduce_axes(graph_, node, p.size())) {
        // The same reduction over the axes where the permutation put them (a squeeze-and-
        // excitation block's spatial mean stays in the trunk's region).
        std::vector<int64_t> moved;
        for (int64_t a : *axes) moved.push_back(pinv[a]);
        std::sort(moved.begin(), moved.end());
        node.attrs.erase("noop_with_empty_axes");
        // Axes are an input from opset 18 (ReduceSum's from 13).
        if (graph_.onnx_opset() >= (is_onnx_op(node, "ReduceSum") ? 13 : 18)) {
          if (node.inputs.size() < 2) node.inputs.resize(2, kNoValue);
          node.inputs[1] =
              add_constant_value(graph_, node.name + "_axes", Tensor::from_int64(moved));
          node.attrs.erase("axes");
        } else {
          node.attrs.set_ints("axes", moved);
        }
        ++pools;
        continue;
      }
      for (ValueId& in : node.inputs) {
        const Value& c = graph_.values[in];
        if (!c.is_constant()) continue;
        std::vector<int64_t> padded(p.size() - c.constant.rank(), 1);
        padded.insert(padded.end(), c.constant.shape().begin(), c.constant.shape().end());
        const Tensor permuted = transpose_tensor(*c.constant.reshaped(padded), p);
        in = add_constant_value(graph_, c.name + "_permuted", permuted);
      }
    }
    remove_nodes(graph_, dead);
    // The values now stored permuted lose their shapes, and the exporter's shape hints, which
    // describe the old layout: the next shape inference fills them.
    for (ValueId v : changed) {
      graph_.values[v].has_shape = false;
      graph_.values[v].shape.clear();
      graph_.values[v].shape_hint.clear();
    }
    ctx_.applied(kPass, str_cat("stores ", region.values.size(), " values around ",
                                graph_.nodes[region.nodes[0]].describe(), " permuted by ",
                                perm_text(p), " (", convs, " Conv -> ChannelsLastConv, ", linears,
                                " 1x1 Conv -> Linear): ", removed, " Transposes removed, ", added,
                                " added (", cost, ")"));
  }

  Graph& graph_;
  PassContext& ctx_;
};

}  // namespace

Status cancel_layout_transposes(Graph& graph, PassContext& ctx) {
  LayoutRewriter rewriter(graph, ctx);
  // Every change removes at least one Transpose, so this ends; the bound only guards that.
  for (size_t round = 0; round <= graph.nodes.size(); ++round) {
    VITRT_ASSIGN_OR_RETURN(bool changed, rewriter.flip_one());
    if (!changed) {
      VITRT_ASSIGN_OR_RETURN(changed, rewriter.collapse_one());
    }
    if (!changed) break;
  }
  return Status::ok_status();
}

}  // namespace vitrt
