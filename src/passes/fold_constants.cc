// Optimizer pass fold_constants: computes at build time what does not depend on the inputs.
//
// Three kinds of folding, in one walk over the graph in topological order:
//  1. a node whose inputs are all constants runs once on the CPU kernels (the reference) and its
//     outputs become constants: Transposes of weights, Identity/Cast/Reshape of constants, ...;
//  2. a value whose sym_value (shape arithmetic from shape inference) is fully static becomes a
//     constant: Shape of a static shape, Gather of that, Concat of such pieces, ...;
//  3. shape arithmetic under symbolic dims: a Reshape whose target is computed (Shape -> Gather
//     -> Unsqueeze -> Concat) but known symbolically, e.g. [batch, 197, 12, 64], gets a constant
//     target that copies symbolic dims from the input (0) or infers one (-1), so the chain that
//     computed it dies.
// Expand, ConstantOfShape, Tile and Range targets cannot use 0 or -1, so a symbolic one stays
// computed. A node whose folded output would be much larger than its inputs is not folded: it
// would bloat the plan file and the memory of every engine that loads it.
#include "cpu/cpu_kernel.h"
#include "passes/graph_rewrite.h"
#include "passes/pass.h"

namespace vitrt {
namespace {

constexpr const char* kPass = "fold_constants";

// Above this many elements a folded output must not be larger than the node's inputs.
constexpr int64_t kMaxGrownElements = 64 * 1024;

bool is_nondeterministic(const Node& node) {
  static const char* const kRandom[] = {"RandomNormal",      "RandomNormalLike", "RandomUniform",
                                        "RandomUniformLike", "Multinomial",      "Bernoulli"};
  for (const char* op : kRandom) {
    if (is_onnx_op(node, op)) return true;
  }
  return false;
}

// Whether `node` is a DequantizeLinear whose output only a convolution reads, as its weight:
// quantization tools (ONNX Runtime's quantize_static, ModelOpt) store a Conv's weight as int8
// codes behind such a node. No pass turns DQ -> Conv into an integer layer, so the weight would
// be dequantized on every run, and the CUDA backend (and fuse_patch_embedding) need a constant
// weight: it folds whatever its size (4x the codes' bytes at most).
bool dequantizes_conv_weight(const Graph& graph, const Node& node) {
  if (!is_onnx_op(node, "DequantizeLinear") || is_graph_output(graph, node.outputs[0])) {
    return false;
  }
  bool any = false;
  for (const Node& n : graph.nodes) {
    if (n.dead) continue;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i] != node.outputs[0]) continue;
      if (i != 1 || !(is_onnx_op(n, "Conv") || is_onnx_op(n, "ConvTranspose"))) return false;
      any = true;
    }
  }
  return any;
}

// Turns the node's outputs into the given constants and removes the node. Values keep their
// ids and names, so readers and graph outputs need no rewiring.
void make_outputs_constant(Graph& graph, NodeId id, std::vector<Tensor> tensors) {
  Node& node = graph.nodes[id];
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i] == kNoValue) continue;
    Value& v = graph.values[node.outputs[i]];
    v.dtype = tensors[i].dtype();
    v.has_shape = true;
    v.shape = sym_shape_from_static(tensors[i].shape());
    v.constant = std::move(tensors[i]);
    v.producer = -1;
    v.sym_value.reset();  // re-seeded from the constant by shape inference
  }
  node.dead = true;
}

// The static tensor a sym_value stands for, when every element is a known integer and the
// value's shape is static; nullopt otherwise.
std::optional<Tensor> tensor_from_sym_value(const Value& v) {
  if (!v.sym_value || !v.has_shape) return std::nullopt;
  const auto shape = sym_shape_to_static(v.shape);
  if (!shape || shape_numel(*shape) != static_cast<int64_t>(v.sym_value->size())) {
    return std::nullopt;
  }
  for (const Dim& d : *v.sym_value) {
    if (!d.is_static()) return std::nullopt;
  }
  Tensor t;
  switch (v.dtype) {
    case DType::kInt64:
      t = Tensor::empty(DType::kInt64, *shape);
      for (size_t i = 0; i < v.sym_value->size(); ++i)
        t.data<int64_t>()[i] = (*v.sym_value)[i].value();
      return t;
    case DType::kInt32:
      t = Tensor::empty(DType::kInt32, *shape);
      for (size_t i = 0; i < v.sym_value->size(); ++i) {
        t.data<int32_t>()[i] = static_cast<int32_t>((*v.sym_value)[i].value());
      }
      return t;
    case DType::kBool:
      t = Tensor::empty(DType::kBool, *shape);
      for (size_t i = 0; i < v.sym_value->size(); ++i)
        t.data<bool>()[i] = (*v.sym_value)[i].value() != 0;
      return t;
    default:
      return std::nullopt;
  }
}

// Kind 2: every present output of the node has a static sym_value.
bool fold_sym_values(Graph& graph, PassContext& ctx, NodeId id) {
  const Node& node = graph.nodes[id];
  std::vector<Tensor> tensors(node.outputs.size());
  bool any = false;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i] == kNoValue) continue;
    auto t = tensor_from_sym_value(graph.values[node.outputs[i]]);
    if (!t) return false;
    tensors[i] = std::move(*t);
    any = true;
  }
  if (!any) return false;
  std::string what = str_cat(node.describe(), " is the static shape value ");
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (tensors[i].defined()) {
      what += str_cat(i ? " " : "", sym_shape_to_string(*graph.values[node.outputs[i]].sym_value));
    }
  }
  ctx.applied(kPass, what, {node.name});
  make_outputs_constant(graph, id, std::move(tensors));
  return true;
}

// Kind 1: runs the node on the CPU kernels when all its inputs are constants.
Status fold_constant_inputs(Graph& graph, PassContext& ctx, NodeId id) {
  const Node& node = graph.nodes[id];
  if (node.inputs.empty() || is_nondeterministic(node)) return Status();
  std::vector<const Tensor*> inputs;
  int64_t input_bytes = 0;
  bool any_input = false;
  for (ValueId in : node.inputs) {
    if (in == kNoValue) {
      inputs.push_back(nullptr);
      continue;
    }
    if (!graph.values[in].is_constant()) return Status();
    inputs.push_back(&graph.values[in].constant);
    input_bytes += static_cast<int64_t>(graph.values[in].constant.nbytes());
    any_input = true;
  }
  if (!any_input) return Status();
  // Whether outputs of these sizes would grow the plan; checked on the inferred shapes before
  // running (so a huge Expand is never materialised) and on the results after.
  const bool conv_weight = dequantizes_conv_weight(graph, node);
  auto too_large = [&](int64_t elements, int64_t bytes) {
    return !conv_weight && elements > kMaxGrownElements && bytes > input_bytes;
  };
  auto decline_size = [&](int64_t elements) {
    ctx.near_miss(
        kPass, node.describe(),
        str_cat("not folded: its output would be a constant of ", elements, " elements from ",
                input_bytes, " bytes of inputs; it stays computed at run time"));
  };
  for (ValueId out : node.outputs) {
    if (out == kNoValue || !graph.values[out].has_shape) continue;
    const Value& v = graph.values[out];
    const auto shape = sym_shape_to_static(v.shape);
    if (!shape) continue;
    const int64_t n = shape_numel(*shape);
    if (too_large(n, n * static_cast<int64_t>(dtype_size(v.dtype)))) {
      decline_size(n);
      return Status();
    }
  }
  Result<std::vector<Tensor>> ran = run_cpu_node(graph, node, inputs);
  if (!ran.ok()) {
    if (ran.status().code() == StatusCode::kNotFound) return Status();  // no CPU kernel
    if (ran.status().code() == StatusCode::kInternal) return ran.status();
    // The same error would stop every run of the model; the runtime reports it then.
    ctx.near_miss(kPass, node.describe(), str_cat("not folded: ", ran.status().message()));
    return Status();
  }
  std::vector<Tensor> outputs = std::move(*ran);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (node.outputs[i] == kNoValue) continue;
    if (too_large(outputs[i].numel(), static_cast<int64_t>(outputs[i].nbytes()))) {
      decline_size(outputs[i].numel());
      return Status();
    }
  }
  std::string what = str_cat("folded ", node.describe(), " into ");
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (node.outputs[i] != kNoValue) {
      what +=
          str_cat(i ? ", '" : "'", graph.values[node.outputs[i]].name, "' ", outputs[i].describe());
    }
  }
  ctx.applied(kPass, what, {node.name});
  make_outputs_constant(graph, id, std::move(outputs));
  return Status();
}

// Kind 3: a Reshape whose target is computed but symbolically known.
void fold_reshape_target(Graph& graph, PassContext& ctx, NodeId id) {
  Node& node = graph.nodes[id];
  if (!is_onnx_op(node, "Reshape") || !node.has_input(1)) return;
  const Value& target = graph.values[node.inputs[1]];
  if (target.is_constant() || !target.sym_value) return;
  auto allowzero = node.attrs.get_int("allowzero", 0);
  if (!allowzero.ok()) return;
  const Value& data = graph.values[node.inputs[0]];
  const Value& out = graph.values[node.outputs[0]];
  const SymShape input = data.has_shape ? data.shape : SymShape();
  // Where shape inference knows an output dim statically (e.g. heads = 12 behind a -1 in the
  // target), that number replaces the target's entry, leaving the one -1 free for a dim that
  // is neither static nor copyable (the token count under symbolic height and width).
  std::vector<Dim> dims = *target.sym_value;
  if (out.has_shape && out.shape.size() == dims.size()) {
    for (size_t i = 0; i < dims.size(); ++i) {
      if (out.shape[i].is_static() && out.shape[i].value() > 0) dims[i] = out.shape[i];
    }
  }
  // allowzero=1 (the dynamo exporter's view) only changes what a 0 in the target means. A target
  // without a static 0 reads the same either way, so it may copy dims with 0 once the node drops
  // allowzero: batch and a symbolic token count then both fold (one 0, one -1). With a static 0
  // (a zero-sized dim) the target would need allowzero and could not also hold a -1.
  bool static_zero = false;
  for (const Dim& d : dims) static_zero = static_zero || (d.is_static() && d.value() == 0);
  if (*allowzero != 0 && static_zero) {
    ctx.near_miss(kPass, node.describe(),
                  str_cat("target ", sym_shape_to_string(*target.sym_value),
                          " stays computed: allowzero is set and the target has a zero-sized dim"));
    return;
  }
  auto folded = constant_reshape_target(input, dims);
  if (!folded) {
    ctx.near_miss(kPass, node.describe(),
                  str_cat("target ", sym_shape_to_string(*target.sym_value),
                          " stays computed: more than one of its dims is neither static nor "
                          "provably the input's dim at the same position (input ",
                          data.has_shape ? sym_shape_to_string(data.shape) : "rank unknown", ")"));
    return;
  }
  const std::string description =
      str_cat(node.describe(), " target ", sym_shape_to_string(*target.sym_value), " -> constant ",
              shape_to_string(*folded));
  node.inputs[1] = add_constant_value(graph, node.name + "_shape", Tensor::from_int64(*folded));
  node.attrs.erase("allowzero");
  ctx.applied(kPass, description);
}

}  // namespace

Status fold_constants(Graph& graph, PassContext& ctx) {
  VITRT_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.topological_order());
  for (NodeId id : order) {
    if (fold_sym_values(graph, ctx, id)) continue;
    VITRT_RETURN_IF_ERROR(fold_constant_inputs(graph, ctx, id));
    if (!graph.nodes[id].dead) fold_reshape_target(graph, ctx, id);
  }
  return Status::ok_status();
}

}  // namespace vitrt
