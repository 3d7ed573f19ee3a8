// lower_conv_transpose: ConvTranspose as an upsampler -> 1x1 Conv + DepthToSpace.
//
// Vision transformers' dense heads upsample with a transposed convolution whose kernel equals
// its stride (DPT's reassemble stage: 4x4 stride 4 and 2x2 stride 2; SAM's mask decoder: 2x2
// stride 2). Every input pixel then writes its own k x k output block, no two overlapping:
//
//   y[n, o, i*k + a, j*k + b] = bias[o] + sum_c x[n, c, i, j] * W[c, o, a, b]
//
// which is a 1x1 Conv to Cout*k*k channels (weight W'[(o*k + a)*k + b, c] = W[c, o, a, b], bias
// repeated k*k times) followed by DepthToSpace(blocksize k, mode CRD). Both run on every backend,
// so the lowering happens at import, before the first shape inference, optimizer or not: a 1x1
// Conv is one GEMM on both backends, cheaper than the general ConvTranspose kernels. Other
// transposed convolutions (overlapping kernels, padding, dilation, groups, output_padding or
// output_shape, non-constant weights, other than 2 spatial axes) stay ConvTranspose, which both
// backends run as it is (src/cpu/conv_transpose.cc, src/cuda/ops_linear.cc); the verbose log
// says why each was not lowered.
#include <optional>
#include <string>
#include <vector>

#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "lower_conv_transpose";

// Why `n` is not an upsampling ConvTranspose this lowering takes, or "" when it is; else the
// weight and bias (undefined when there is none).
std::string refusal(const Graph& g, const Node& n, int64_t* k, Tensor* weight, Tensor* bias) {
  std::optional<Tensor> w =
      n.num_inputs() > 1 ? constant_before_folding(g, n.inputs[1]) : std::nullopt;
  if (!w) return "a weight that is not a constant";
  const Tensor& wt = *w;
  if (wt.dtype() != DType::kFloat32 || wt.rank() != 4) {
    return "a weight that is not float32 [C_in, C_out, kH, kW]";
  }
  if (n.num_inputs() > 2 && n.inputs[2] != kNoValue) {
    std::optional<Tensor> b = constant_before_folding(g, n.inputs[2]);
    if (!b) return "a bias that is not a constant";
    if (b->dtype() != DType::kFloat32 || b->numel() != wt.dim(1)) return "a bias not of C_out";
    *bias = *b;
  }
  *weight = wt;
  const int64_t kh = wt.dim(2), kw = wt.dim(3);
  auto ints = [&](const char* name, std::vector<int64_t> def) {
    auto v = n.attrs.get_ints(name, def);
    return v.ok() ? *v : std::vector<int64_t>{-1};
  };
  auto all = [](const std::vector<int64_t>& v, int64_t x) {
    for (int64_t e : v) {
      if (e != x) return false;
    }
    return true;
  };
  auto group = n.attrs.get_int("group", 1);
  if (!group.ok() || *group != 1) return "groups";
  auto auto_pad = n.attrs.get_string("auto_pad", "NOTSET");
  if (!auto_pad.ok() || (*auto_pad != "NOTSET" && *auto_pad != "VALID")) return "auto_pad";
  if (!all(ints("pads", {0, 0, 0, 0}), 0)) return "padding";
  if (!all(ints("dilations", {1, 1}), 1)) return "dilation";
  if (!all(ints("output_padding", {0, 0}), 0)) return "output_padding";
  if (n.attrs.has("output_shape")) return "output_shape";
  const std::vector<int64_t> kernel = ints("kernel_shape", {kh, kw});
  if (kernel != std::vector<int64_t>{kh, kw}) return "a kernel_shape unlike the weight's";
  if (kh != kw) return "a non-square kernel";
  if (ints("strides", {1, 1}) != std::vector<int64_t>{kh, kw}) {
    return "strides unlike the kernel (overlapping or gapped blocks)";
  }
  *k = kh;
  return "";
}

// Lowers node `id` and returns "", or returns why it is not an upsampler (the node unchanged).
std::string lower_one(Graph& g, NodeId id) {
  const Node node = g.nodes[id];
  int64_t k = 0;
  Tensor w, b;
  const std::string why = refusal(g, node, &k, &w, &b);
  if (!why.empty()) return why;
  const int64_t cin = w.dim(0), cout = w.dim(1), kk = k * k;
  Tensor w1 = Tensor::empty(DType::kFloat32, {cout * kk, cin, 1, 1});
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t ab = 0; ab < kk; ++ab) {
      for (int64_t c = 0; c < cin; ++c) {
        w1.data<float>()[(o * kk + ab) * cin + c] = w.data<float>()[(c * cout + o) * kk + ab];
      }
    }
  }
  std::vector<ValueId> conv_in = {node.inputs[0],
                                  add_constant_value(g, node.name + "_weight_1x1", std::move(w1))};
  if (b.defined()) {
    Tensor b1 = Tensor::empty(DType::kFloat32, {cout * kk});
    for (int64_t e = 0; e < cout * kk; ++e) b1.data<float>()[e] = b.data<float>()[e / kk];
    conv_in.push_back(add_constant_value(g, node.name + "_bias_1x1", std::move(b1)));
  }
  Attributes conv_attrs;
  conv_attrs.set_ints("kernel_shape", {1, 1});
  const NodeId conv = add_node(g, "", "Conv", node.name + "_1x1", std::move(conv_in),
                               {node.name + "_1x1"}, std::move(conv_attrs));
  Attributes d2s;
  d2s.set_int("blocksize", k);
  d2s.set_string("mode", "CRD");
  const NodeId up =
      add_node(g, "", "DepthToSpace", node.name + "_depth_to_space", {g.nodes[conv].outputs[0]},
               {node.name + "_upsampled"}, std::move(d2s));
  replace_uses(g, node.outputs[0], g.nodes[up].outputs[0]);
  remove_nodes(g, {id});
  return "";
}

}  // namespace

Status lower_conv_transpose(Graph& graph, PassContext& ctx) {
  const size_t count = graph.nodes.size();
  for (NodeId id = 0; id < static_cast<NodeId>(count); ++id) {
    const Node& n = graph.nodes[id];
    if (n.dead || !n.domain.empty() || n.op_type != "ConvTranspose") continue;
    const std::string name = n.name;
    const std::string why = lower_one(graph, id);
    if (!why.empty()) {
      ctx.near_miss(kPass, name,
                    str_cat("ConvTranspose with ", why,
                            " runs as it is (only a 2-D upsampler, kernel = stride with no "
                            "padding, dilation, groups or output_padding, becomes a 1x1 Conv)"));
      continue;
    }
    ctx.applied(kPass, str_cat("ConvTranspose '", name, "' as 1x1 Conv + DepthToSpace"), {name});
  }
  return Status::ok_status();
}

}  // namespace vitrt
