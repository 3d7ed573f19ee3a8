// The schema registry, the shape-inference driver and helpers shared by schema files.
#include <algorithm>

#include "ir/op_schema.h"
#include "ir/ops/channels_last_conv.h"
#include "ir/ops/channels_last_pool.h"

namespace vitrt {

const Tensor* InferContext::input_constant(int i) const {
  if (!has_input(i)) return nullptr;
  const Value& v = input(i);
  return v.is_constant() ? &v.constant : nullptr;
}

const std::vector<Dim>* InferContext::input_sym_value(int i) const {
  if (!has_input(i)) return nullptr;
  const Value& v = input(i);
  return v.sym_value ? &*v.sym_value : nullptr;
}

bool InferContext::has_output(int i) const {
  return i < num_outputs() && node().outputs[i] != kNoValue;
}

void InferContext::set_output(int i, DType dtype, SymShape shape) {
  if (!has_output(i)) return;
  Value& v = graph_.values[node().outputs[i]];
  // Only the exporter's named sizes fill a dim inference left unknown, never a number: a
  // TorchScript export records traced sizes, and one taken for a dynamic dim would let folding
  // bake the example input's size into the plan.
  if (v.shape_hint.size() == shape.size()) {
    for (size_t d = 0; d < shape.size(); ++d) {
      if (!shape[d].is_known() && v.shape_hint[d].is_symbolic()) shape[d] = v.shape_hint[d];
    }
  }
  v.dtype = dtype;
  v.has_shape = true;
  v.shape = std::move(shape);
}

void InferContext::set_output_unknown_shape(int i, DType dtype) {
  if (!has_output(i)) return;
  Value& v = graph_.values[node().outputs[i]];
  v.dtype = dtype;
  v.has_shape = false;
  v.shape.clear();
}

void InferContext::set_output_sym_value(int i, std::vector<Dim> value) {
  if (!has_output(i)) return;
  graph_.values[node().outputs[i]].sym_value = std::move(value);
}

const OpRegistry& OpRegistry::global() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    register_elementwise_schemas(r);
    register_reduce_schemas(r);
    register_normalization_schemas(r);
    register_shape_op_schemas(r);
    register_indexing_schemas(r);
    register_linear_schemas(r);
    register_col2im_schema(r);
    register_resize_schemas(r);
    register_grid_sample_schemas(r);
    register_pooling_schemas(r);
    register_attention_schemas(r);
    register_fused_linear_schemas(r);
    register_fused_norm_schemas(r);
    register_scale_shift_schemas(r);
    register_patchify_schemas(r);
    register_channels_last_conv_schemas(r);
    register_channels_last_pool_schemas(r);
    register_rotary_embedding_schemas(r);
    register_quant_linear_schemas(r);
    register_qdq_schemas(r);
    register_recurrent_schemas(r);
    return r;
  }();
  return registry;
}

void OpRegistry::add(OpSchema schema) {
  auto key = std::make_pair(schema.domain, schema.op_type);
  schemas_[key] = std::move(schema);
}

const OpSchema* OpRegistry::find(const std::string& domain, const std::string& op_type) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  auto it = schemas_.find({d, op_type});
  return it == schemas_.end() ? nullptr : &it->second;
}

std::vector<std::string> OpRegistry::op_types() const {
  std::vector<std::string> out;
  for (const auto& [key, schema] : schemas_) {
    out.push_back(key.first.empty() ? key.second : key.first + "." + key.second);
  }
  return out;
}

namespace {

// Fills sym_value for constant integer tensors so shape arithmetic can start from them.
void seed_constant_sym_value(Value& v) {
  if (!v.is_constant() || v.sym_value) return;
  if (v.dtype != DType::kInt64 && v.dtype != DType::kInt32) return;
  if (v.constant.rank() > 1 || v.constant.numel() > 64) return;
  std::vector<Dim> dims;
  for (int64_t x : v.constant.to_int64_vector()) dims.emplace_back(x);
  v.sym_value = std::move(dims);
}

}  // namespace

Status infer_shapes(Graph& graph) {
  const OpRegistry& registry = OpRegistry::global();
  for (Value& v : graph.values) seed_constant_sym_value(v);
  VITRT_ASSIGN_OR_RETURN(std::vector<NodeId> order, graph.topological_order());
  for (NodeId id : order) {
    const Node& node = graph.nodes[id];
    const OpSchema* schema = registry.find(node.domain, node.op_type);
    if (schema == nullptr) {
      const std::string domain = node.domain.empty() ? "ai.onnx" : node.domain;
      auto it = graph.opset_imports.find(node.domain);
      const int64_t opset = it != graph.opset_imports.end() ? it->second : graph.onnx_opset();
      return unsupported("op '", node.op_type, "' (domain '", domain, "', opset ", opset,
                         ") of node '", node.name, "' is not supported by vitrt");
    }
    const int n_in = node.num_inputs();
    const int n_out = static_cast<int>(node.outputs.size());
    if (n_in < schema->min_inputs || n_in > schema->max_inputs) {
      return invalid_model(node.describe(), ": expected ", schema->min_inputs, " to ",
                           schema->max_inputs, " inputs, got ", n_in);
    }
    if (n_out < schema->min_outputs || n_out > schema->max_outputs) {
      return invalid_model(node.describe(), ": expected ", schema->min_outputs, " to ",
                           schema->max_outputs, " outputs, got ", n_out);
    }
    for (int i = 0; i < schema->min_inputs; ++i) {
      if (!node.has_input(i)) {
        return invalid_model(node.describe(), ": required input ", i, " is missing");
      }
    }
    InferContext ctx(graph, id);
    if (schema->infer != nullptr) VITRT_RETURN_IF_ERROR(schema->infer(ctx));
  }
  return Status();
}

Result<int> normalize_axis(const InferContext& ctx, int64_t axis, int rank, const char* what) {
  const int64_t lo = -static_cast<int64_t>(rank);
  const int64_t hi = rank - 1;
  if (axis < lo || axis > hi) {
    return ctx.error(what, " ", axis, " is out of range [", lo, ", ", hi, "] for rank ", rank);
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

Result<SymShape> broadcast_shapes(const InferContext& ctx, const SymShape& a, const SymShape& b) {
  const size_t rank = std::max(a.size(), b.size());
  SymShape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const Dim da = i < rank - a.size() ? Dim(int64_t{1}) : a[i - (rank - a.size())];
    const Dim db = i < rank - b.size() ? Dim(int64_t{1}) : b[i - (rank - b.size())];
    if (da.is_static() && da.value() == 1) {
      out[i] = db;
    } else if (db.is_static() && db.value() == 1) {
      out[i] = da;
    } else if (da.same_as(db)) {
      out[i] = da;
    } else if (da.is_static() && db.is_static()) {
      return ctx.error("shapes ", sym_shape_to_string(a), " and ", sym_shape_to_string(b),
                       " cannot be broadcast (dim ", i, ": ", da.value(), " vs ", db.value(), ")");
    } else if (da.is_static()) {
      out[i] = da;  // the symbolic one must equal it (or be 1, which a valid model excludes)
    } else if (db.is_static()) {
      out[i] = db;
    } else {
      out[i] = Dim::unknown();
    }
  }
  return out;
}

}  // namespace vitrt
