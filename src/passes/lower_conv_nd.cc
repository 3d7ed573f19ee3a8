// lower_conv_nd: Conv with 1 or 3 spatial axes as ops a backend with 2-D convolutions only runs.
//
// The CUDA backend convolves 2-D images alone (src/cuda/ops_linear.cc); vision models bring two
// other forms, which the CUDA build lowers here (the CPU runs them as they are):
//
// - A 1-D Conv (EfficientViM's and the Mamba-style mixers' Conv1d over tokens): x [B, C, L] is
//   x [B, C, 1, L], so Unsqueeze(axis 2) -> a 2-D Conv with weight [O, I/g, 1, k], kernel (1, k),
//   strides (1, s), dilations (1, d), pads (0, b, 0, e), the same group and auto_pad ->
//   Squeeze(axis 2). Exact: the 2-D kernel visits the same taps in the same order.
// - A 3-D Conv whose kernel equals its stride, without padding, dilation or groups: a video
//   ViT's tubelet embedding (VideoMAE, ViViT: kernel 2x16x16 over [B, 3, T, H, W]). Every output
//   voxel reads its own block, so with T = T'kt, H = H'kh, W = W'kw (static; the remainder
//   cropped, as the Conv does)
//
//     x -> Reshape [B, C, T', kt, H', kh, W', kw] -> Transpose to [B, T', H', W', C, kt, kh, kw]
//       -> Reshape [B, T'H'W', C kt kh kw] -> MatMul W^T [C kt kh kw, O] (+ bias)
//       -> Reshape [B, T', H', W', O] -> Transpose to [B, O, T', H', W']
//
//   The MatMul becomes a vitrt.Linear (fuse_linear), and the final Transpose cancels against the
//   flatten(2).transpose(1, 2) that follows it in every such model.
//
// Other forms stay Conv, and the CUDA build's error names them; the verbose log says why each
// was not lowered. Runs after the first shape inference (the tubelet form needs T, H, W).
#include <optional>
#include <string>
#include <vector>

#include "ir/ops/conv_attributes.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "lower_conv_nd";

// The Conv's constant float32 bias, an undefined tensor when it has none, or nullopt when it has
// one that is not a constant.
std::optional<Tensor> conv_bias(const Graph& g, const Node& n) {
  if (n.num_inputs() < 3 || n.inputs[2] == kNoValue) return Tensor();
  return constant_before_folding(g, n.inputs[2]);
}

// Lowers 1-D Conv `id` with weight `w` [O, I/g, k]; returns why not, or "".
std::string lower_1d(Graph& g, NodeId id, const Tensor& w) {
  const Node node = g.nodes[id];
  auto attrs = ConvAttributes::parse(node, 1);
  if (!attrs.ok()) return attrs.status().message();
  Tensor w2 = Tensor::empty(DType::kFloat32, {w.dim(0), w.dim(1), 1, w.dim(2)});
  std::copy(w.data<float>(), w.data<float>() + w.numel(), w2.data<float>());
  LoweringEmitter e(g, node.name);
  std::vector<ValueId> inputs = {e.with_axes("Unsqueeze", "_2d_input", node.inputs[0], {2}),
                                 add_constant_value(g, node.name + "_weight_2d", std::move(w2))};
  if (node.num_inputs() > 2 && node.inputs[2] != kNoValue) inputs.push_back(node.inputs[2]);
  Attributes a2;
  a2.set_int("group", attrs->group);
  a2.set_ints("kernel_shape", {1, w.dim(2)});
  if (attrs->auto_pad == AutoPad::kNotSet) {
    a2.set_ints("pads", {0, attrs->pads[0], 0, attrs->pads[1]});
  } else {
    auto auto_pad = node.attrs.get_string("auto_pad", "NOTSET");
    a2.set_string("auto_pad", auto_pad.ok() ? *auto_pad : "NOTSET");
  }
  a2.set_ints("strides", {1, attrs->strides[0]});
  a2.set_ints("dilations", {1, attrs->dilations[0]});
  const ValueId y = e.op("Conv", "_2d", std::move(inputs), std::move(a2));
  const ValueId out = e.with_axes("Squeeze", "_1d_output", y, {2});
  replace_uses(g, node.outputs[0], out);
  remove_nodes(g, {id});
  return "";
}

// Lowers 3-D Conv `id` with weight `w` [O, C, kt, kh, kw] when its kernel equals its stride;
// returns why not, or "".
std::string lower_tubelet(Graph& g, NodeId id, const Tensor& w) {
  const Node node = g.nodes[id];
  auto attrs = ConvAttributes::parse(node, 3);
  if (!attrs.ok()) return attrs.status().message();
  const int64_t o = w.dim(0), c = w.dim(1), k[3] = {w.dim(2), w.dim(3), w.dim(4)};
  if (attrs->group != 1) return "groups";
  for (int i = 0; i < 3; ++i) {
    if (attrs->strides[i] != k[i])
      return "strides unlike the kernel (overlapping or gapped blocks)";
    if (attrs->dilations[i] != 1) return "dilation";
  }
  if (attrs->auto_pad != AutoPad::kNotSet && attrs->auto_pad != AutoPad::kValid) return "auto_pad";
  for (int64_t p : attrs->pads) {
    if (p != 0) return "padding";
  }
  std::optional<Tensor> bias = conv_bias(g, node);
  if (!bias) return "a bias that is not a constant";
  if (bias->defined() && (bias->dtype() != DType::kFloat32 || bias->numel() != o)) {
    return "a bias not of the output channels";
  }
  const Value& x = g.values[node.inputs[0]];
  if (!x.has_shape || x.shape.size() != 5) return "an input of unknown rank";
  int64_t blocks[3] = {};
  for (int i = 0; i < 3; ++i) {
    const Dim& d = x.shape[2 + i];
    if (!d.is_static()) return "a time or spatial size known only at run time";
    blocks[i] = d.value() / k[i];
    if (blocks[i] < 1) return "a kernel larger than the input";
  }
  const std::string& base = node.name;
  LoweringEmitter e(g, base);
  ValueId in = node.inputs[0];
  if (blocks[0] * k[0] != x.shape[2].value() || blocks[1] * k[1] != x.shape[3].value() ||
      blocks[2] * k[2] != x.shape[4].value()) {
    // The Conv ignores the last voxels that do not fill a block.
    in = e.op("Slice", "_cropped",
              {in, e.int64s("_crop_starts", {0, 0, 0}),
               e.int64s("_crop_ends", {blocks[0] * k[0], blocks[1] * k[1], blocks[2] * k[2]}),
               e.int64s("_crop_axes", {2, 3, 4})});
  }
  const int64_t patch = c * k[0] * k[1] * k[2], tokens = blocks[0] * blocks[1] * blocks[2];
  ValueId t = e.op(
      "Reshape", "_blocks",
      {in, e.int64s("_blocks_shape", {0, c, blocks[0], k[0], blocks[1], k[1], blocks[2], k[2]})});
  t = e.transpose(t, {0, 2, 4, 6, 1, 3, 5, 7}, "_block_major");
  t = e.op("Reshape", "_patches", {t, e.int64s("_patches_shape", {0, tokens, patch})});
  // W [O, C*kt*kh*kw] (row-major over c, a, b, e, as the patches' columns) transposed.
  Tensor wt = Tensor::empty(DType::kFloat32, {patch, o});
  for (int64_t r = 0; r < o; ++r) {
    for (int64_t col = 0; col < patch; ++col) {
      wt.data<float>()[col * o + r] = w.data<float>()[r * patch + col];
    }
  }
  t = e.op("MatMul", "_embed", {t, add_constant_value(g, base + "_weight_t", std::move(wt))});
  if (bias->defined()) {
    t = e.op("Add", "_embed_bias", {t, add_constant_value(g, base + "_bias", *bias)});
  }
  t = e.op("Reshape", "_grid",
           {t, e.int64s("_grid_shape", {0, blocks[0], blocks[1], blocks[2], o})});
  t = e.transpose(t, {0, 4, 1, 2, 3}, "_channels_first");
  replace_uses(g, node.outputs[0], t);
  remove_nodes(g, {id});
  return "";
}

}  // namespace

Status lower_conv_nd(Graph& graph, PassContext& ctx) {
  const size_t count = graph.nodes.size();
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    const Node& n = graph.nodes[id];
    if (n.dead || !n.domain.empty() || n.op_type != "Conv" || n.num_inputs() < 2) continue;
    std::optional<Tensor> w = constant_before_folding(graph, n.inputs[1]);
    if (!w || w->dtype() != DType::kFloat32 || (w->rank() != 3 && w->rank() != 5)) continue;
    const std::string name = n.name;
    const int spatial = static_cast<int>(w->rank()) - 2;
    const std::string why = spatial == 1 ? lower_1d(graph, id, *w) : lower_tubelet(graph, id, *w);
    if (!why.empty()) {
      ctx.near_miss(kPass, str_cat("'", name, "'"),
                    spatial == 1
                        ? str_cat("1-D Conv stays Conv: ", why)
                        : str_cat("3-D Conv with ", why,
                                  " stays Conv (only a 3-D Conv whose kernel equals its stride, "
                                  "without padding, dilation or groups, over static sizes, is "
                                  "lowered)"));
      continue;
    }
    ctx.applied(kPass,
                spatial == 1 ? str_cat("1-D Conv '", name, "' as a 2-D Conv of height 1")
                             : str_cat("3-D Conv '", name, "' as blocks x MatMul (tubelets)"),
                {name});
  }
  return Status::ok_status();
}

}  // namespace vitrt
