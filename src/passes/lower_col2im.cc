// lower_col2im: ONNX Col2Im (opset 18) -> Reshape + ConvTranspose + Reshape.
//
// torch.nn.Fold (F.fold) exports as Col2Im: VOLO's outlook attention folds overlapping 3x3
// windows back into the image, MobileViTV2 folds its 2x2 patches. Col2Im adds each column of
// `input` [N, C * prod(block), L] into the image position its block element lands on, L being
// the count of sliding blocks over the padded image. That is a transposed convolution with a
// one-hot weight, one image channel at a time:
//
//   x' = Reshape(input, [-1, K, L1, .., Ls])            [N * C, K, L1..Ls],  K = prod(block)
//   y' = ConvTranspose(x', W [K, 1, block...], strides, dilations, pads, output_padding)
//        with W[t, 0, tap] = (tap == t)                 [N * C, 1, image...]
//   y  = Reshape(y', [N, -1, image...])                 [N, C, image...]
//
// output_padding makes up the image rows that no block reaches when (image + pads - dilation *
// (block - 1) - 1) does not divide by the stride (it is below the stride, as ConvTranspose needs).
// ConvTranspose runs on every backend, and a non-overlapping fold (block = stride, no padding)
// becomes a 1x1 Conv + DepthToSpace in lower_conv_transpose, which runs next. This runs at import,
// before the first shape inference, optimizer or not: there is no Col2Im kernel. image_shape and
// block_shape must be constants (as every exporter writes them); the node is refused otherwise.
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "lower_col2im";

struct Col2ImGeometry {
  std::vector<int64_t> image, block, strides, dilations, pads, blocks_per_axis, output_padding;
  int64_t block_size = 1;  // K
};

Result<Col2ImGeometry> col2im_geometry(const Graph& g, const Node& n) {
  if (n.num_inputs() != 3 || !n.has_input(1) || !n.has_input(2)) {
    return invalid_argument(n.describe(), ": Col2Im takes input, image_shape and block_shape");
  }
  std::optional<Tensor> image = constant_before_folding(g, n.inputs[1]);
  std::optional<Tensor> block = constant_before_folding(g, n.inputs[2]);
  if (!image || !block || image->dtype() != DType::kInt64 || block->dtype() != DType::kInt64) {
    return unsupported(n.describe(),
                       ": Col2Im's image_shape and block_shape must be int64 constants (a shape "
                       "computed at run time is not supported)");
  }
  Col2ImGeometry geo;
  geo.image = image->to_int64_vector();
  geo.block = block->to_int64_vector();
  const size_t s = geo.image.size();
  if (s == 0 || s > 3 || geo.block.size() != s) {
    return invalid_argument(n.describe(), ": image_shape (", s, " values) and block_shape (",
                            geo.block.size(),
                            " values) must have one value per spatial axis, 1 to 3 axes");
  }
  VITRT_ASSIGN_OR_RETURN(geo.strides, n.attrs.get_ints("strides", std::vector<int64_t>(s, 1)));
  VITRT_ASSIGN_OR_RETURN(geo.dilations, n.attrs.get_ints("dilations", std::vector<int64_t>(s, 1)));
  VITRT_ASSIGN_OR_RETURN(geo.pads, n.attrs.get_ints("pads", std::vector<int64_t>(2 * s, 0)));
  if (geo.strides.size() != s || geo.dilations.size() != s || geo.pads.size() != 2 * s) {
    return invalid_argument(n.describe(), ": strides and dilations need ", s, " values and pads ",
                            2 * s, " for image_shape of ", s, " axes");
  }
  for (size_t i = 0; i < s; ++i) {
    if (geo.image[i] <= 0 || geo.block[i] <= 0 || geo.strides[i] <= 0 || geo.dilations[i] <= 0 ||
        geo.pads[i] < 0 || geo.pads[s + i] < 0) {
      return invalid_argument(n.describe(), ": axis ", i, " has image ", geo.image[i], ", block ",
                              geo.block[i], ", stride ", geo.strides[i], ", dilation ",
                              geo.dilations[i], ", pads ", geo.pads[i], "/", geo.pads[s + i],
                              " (sizes must be positive, pads non-negative)");
    }
    const int64_t span =
        geo.image[i] + geo.pads[i] + geo.pads[s + i] - geo.dilations[i] * (geo.block[i] - 1) - 1;
    if (span < 0) {
      return invalid_argument(n.describe(), ": on axis ", i, " the block (", geo.block[i],
                              ", dilation ", geo.dilations[i],
                              ") is larger than the padded image (",
                              geo.image[i] + geo.pads[i] + geo.pads[s + i], ")");
    }
    geo.blocks_per_axis.push_back(span / geo.strides[i] + 1);
    geo.output_padding.push_back(span % geo.strides[i]);
    geo.block_size *= geo.block[i];
  }
  return geo;
}

Status lower_one(Graph& g, NodeId id) {
  const Node node = g.nodes[id];
  VITRT_ASSIGN_OR_RETURN(const Col2ImGeometry geo, col2im_geometry(g, node));
  // The one-hot weight is float32: a float16 / bfloat16 export computes in float32 too once
  // widen_half_floats has run (after this lowering, before shape inference).
  const DType dtype = g.values[node.inputs[0]].dtype;
  if (dtype == DType::kFloat64) {
    return unsupported(node.describe(), ": Col2Im of ", dtype_name(dtype),
                       " (float32, float16 and bfloat16 are supported)");
  }
  const int64_t k = geo.block_size;
  const std::string& base = node.name;

  std::vector<int64_t> blocks_target = {-1, k};
  blocks_target.insert(blocks_target.end(), geo.blocks_per_axis.begin(), geo.blocks_per_axis.end());
  const NodeId blocks =
      add_node(g, "", "Reshape", base + "_blocks",
               {node.inputs[0],
                add_constant_value(g, base + "_blocks_shape", Tensor::from_int64(blocks_target))},
               {base + "_blocks"});

  std::vector<int64_t> w_shape = {k, 1};
  w_shape.insert(w_shape.end(), geo.block.begin(), geo.block.end());
  Tensor w = Tensor::empty(DType::kFloat32, w_shape);
  float* wd = w.data<float>();
  for (int64_t t = 0; t < k * k; ++t) wd[t] = t / k == t % k ? 1.0f : 0.0f;
  Attributes conv;
  conv.set_ints("kernel_shape", geo.block);
  conv.set_ints("strides", geo.strides);
  conv.set_ints("dilations", geo.dilations);
  conv.set_ints("pads", geo.pads);
  conv.set_ints("output_padding", geo.output_padding);
  const NodeId folded =
      add_node(g, "", "ConvTranspose", base + "_fold",
               {g.nodes[blocks].outputs[0], add_constant_value(g, base + "_one_hot", std::move(w))},
               {base + "_fold"}, std::move(conv));

  // [N * C, 1, image...] -> [N, C, image...]: N from the input's shape.
  Attributes first;
  first.set_int("start", 0);
  first.set_int("end", 1);
  const NodeId batch = add_node(g, "", "Shape", base + "_batch", {node.inputs[0]},
                                {base + "_batch"}, std::move(first));
  std::vector<int64_t> rest = {-1};
  rest.insert(rest.end(), geo.image.begin(), geo.image.end());
  Attributes axis0;
  axis0.set_int("axis", 0);
  const NodeId target =
      add_node(g, "", "Concat", base + "_image_shape",
               {g.nodes[batch].outputs[0],
                add_constant_value(g, base + "_channels_image", Tensor::from_int64(rest))},
               {base + "_image_shape"}, std::move(axis0));
  const NodeId image =
      add_node(g, "", "Reshape", base + "_image",
               {g.nodes[folded].outputs[0], g.nodes[target].outputs[0]}, {base + "_image"});
  replace_uses(g, node.outputs[0], g.nodes[image].outputs[0]);
  remove_nodes(g, {id});
  return Status::ok_status();
}

}  // namespace

Status lower_col2im(Graph& graph, PassContext& ctx) {
  const size_t count = graph.nodes.size();
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    const Node& n = graph.nodes[id];
    if (n.dead || !n.domain.empty() || n.op_type != "Col2Im") continue;
    const std::string name = n.name;
    VITRT_RETURN_IF_ERROR(lower_one(graph, id));
    ctx.applied(kPass, str_cat("Col2Im '", name, "' as a one-hot ConvTranspose"), {name});
  }
  return Status::ok_status();
}

}  // namespace vitrt
