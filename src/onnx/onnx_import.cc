// ModelProto -> Graph: opsets, initializers, inputs with symbolic dims, nodes with attributes,
// Constant nodes folded into constant values, value_info hints, outputs; GRAPH attributes (If
// branches) become Graphs of their own, built the same way, whose outer-scope reads are bound
// as extra inputs of the owning node (see Graph::inputs).
//
// Parsing happens in two steps: the wire fields of each message are collected first (spans into
// the input buffer, never copies of tensor data), then the Graph is built from them, so the
// order of fields in the file does not matter and every error can name the node or tensor.
#include "onnx/onnx_import.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "onnx/mapped_file.h"
#include "onnx/tensor_proto.h"
#include "onnx/wire_reader.h"

namespace vitrt {

namespace {

struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

Result<Bytes> wire_message(const WireField& f, const char* what) {
  VITRT_ASSIGN_OR_RETURN(std::string_view v, wire_bytes(f, what));
  return Bytes{reinterpret_cast<const uint8_t*>(v.data()), v.size()};
}

// A dim_param. The dynamo exporter writes derived sizes as expressions over its symbols
// ("s1*s2 + 5", "((width//8))*((height//8)) + 1"): parsed, they are the polynomials shape
// inference derives, so hints and inferred shapes agree. Any other text is one symbol.
Dim dim_from_param(const std::string& param) {
  std::optional<Dim> d = Dim::parse(param);
  return d && d->is_symbolic() ? *d : Dim::symbol(param);
}

// Field names for messages ("field 5 (initializer)"), by message type.
const char* model_field_name(uint32_t n) {
  switch (n) {
    case 1:
      return "ir_version";
    case 2:
      return "producer_name";
    case 3:
      return "producer_version";
    case 7:
      return "graph";
    case 8:
      return "opset_import";
    case 14:
      return "metadata_props";
    case 25:
      return "functions";
    default:
      return nullptr;
  }
}

const char* graph_field_name(uint32_t n) {
  switch (n) {
    case 1:
      return "node";
    case 2:
      return "name";
    case 5:
      return "initializer";
    case 10:
      return "doc_string";
    case 11:
      return "input";
    case 12:
      return "output";
    case 13:
      return "value_info";
    case 15:
      return "sparse_initializer";
    default:
      return nullptr;
  }
}

const char* node_field_name(uint32_t n) {
  switch (n) {
    case 1:
      return "input";
    case 2:
      return "output";
    case 3:
      return "name";
    case 4:
      return "op_type";
    case 5:
      return "attribute";
    case 6:
      return "doc_string";
    case 7:
      return "domain";
    default:
      return nullptr;
  }
}

const char* attribute_field_name(uint32_t n) {
  switch (n) {
    case 1:
      return "name";
    case 2:
      return "f";
    case 3:
      return "i";
    case 4:
      return "s";
    case 5:
      return "t";
    case 6:
      return "g";
    case 7:
      return "floats";
    case 8:
      return "ints";
    case 9:
      return "strings";
    case 20:
      return "type";
    default:
      return nullptr;
  }
}

const char* value_info_field_name(uint32_t n) {
  return n == 1 ? "name" : n == 2 ? "type" : nullptr;
}

// ---- ValueInfoProto / TypeProto ---------------------------------------------------------------

struct DimInfo {
  enum class Kind { kNone, kValue, kParam };
  Kind kind = Kind::kNone;
  int64_t value = 0;
  std::string param;
};

struct ValueInfo {
  std::string name;
  bool has_type = false;
  const char* non_tensor_kind = nullptr;  // "a sequence", "an optional", ...: not a tensor
  int32_t elem_type = 0;
  bool has_shape = false;
  std::vector<DimInfo> dims;
};

Status parse_dim(Bytes b, DimInfo* dim) {
  WireReader r(b.data, b.size, "TensorShapeProto.Dimension");
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next(&f));
    if (f.number == 1) {
      VITRT_ASSIGN_OR_RETURN(dim->value, wire_int64(f, "dim_value"));
      dim->kind = DimInfo::Kind::kValue;
    } else if (f.number == 2) {
      VITRT_ASSIGN_OR_RETURN(dim->param, wire_string(f, "dim_param"));
      dim->kind = dim->param.empty() ? DimInfo::Kind::kNone : DimInfo::Kind::kParam;
    }
  }
  return Status();
}

Status parse_tensor_type(Bytes b, ValueInfo* info) {
  WireReader r(b.data, b.size, "TypeProto.Tensor");
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next(&f));
    if (f.number == 1) {
      VITRT_ASSIGN_OR_RETURN(info->elem_type, wire_int32(f, "elem_type"));
    } else if (f.number == 2) {
      VITRT_ASSIGN_OR_RETURN(Bytes shape, wire_message(f, "shape"));
      info->has_shape = true;
      info->dims.clear();
      WireReader sr(shape.data, shape.size, "TensorShapeProto");
      while (!sr.done()) {
        WireField d;
        VITRT_RETURN_IF_ERROR(sr.next(&d));
        if (d.number != 1) continue;
        VITRT_ASSIGN_OR_RETURN(Bytes db, wire_message(d, "dim"));
        DimInfo dim;
        VITRT_RETURN_IF_ERROR(parse_dim(db, &dim));
        info->dims.push_back(std::move(dim));
      }
    }
  }
  return Status();
}

Status parse_type(Bytes b, ValueInfo* info) {
  WireReader r(b.data, b.size, "TypeProto");
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next(&f));
    switch (f.number) {
      case 1: {
        VITRT_ASSIGN_OR_RETURN(Bytes tb, wire_message(f, "tensor_type"));
        info->has_type = true;
        info->non_tensor_kind = nullptr;
        VITRT_RETURN_IF_ERROR(parse_tensor_type(tb, info));
        break;
      }
      case 4:
        info->has_type = true;
        info->non_tensor_kind = "a sequence";
        break;
      case 5:
        info->has_type = true;
        info->non_tensor_kind = "a map";
        break;
      case 7:
        info->has_type = true;
        info->non_tensor_kind = "an opaque";
        break;
      case 8:
        info->has_type = true;
        info->non_tensor_kind = "a sparse tensor";
        break;
      case 9:
        info->has_type = true;
        info->non_tensor_kind = "an optional";
        break;
      default:
        break;
    }
  }
  return Status();
}

Status parse_value_info(Bytes b, ValueInfo* info) {
  WireReader r(b.data, b.size, "ValueInfoProto", value_info_field_name);
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next(&f));
    if (f.number == 1) {
      VITRT_ASSIGN_OR_RETURN(info->name, wire_string(f, "ValueInfoProto.name"));
      r.set_label(str_cat("ValueInfoProto '", info->name, "'"));
    } else if (f.number == 2) {
      VITRT_ASSIGN_OR_RETURN(Bytes tb, wire_message(f, "ValueInfoProto.type"));
      Status st = parse_type(tb, info);
      if (!st.ok()) return st.with_context(r.label());
    }
  }
  return Status();
}

// ---- AttributeProto -----------------------------------------------------------------------------

// AttributeProto.AttributeType values.
enum OnnxAttrType : int32_t {
  kAttrUndefined = 0,
  kAttrFloat = 1,
  kAttrInt = 2,
  kAttrString = 3,
  kAttrTensor = 4,
  kAttrGraph = 5,
  kAttrFloats = 6,
  kAttrInts = 7,
  kAttrStrings = 8,
  kAttrTensors = 9,
  kAttrGraphs = 10,
  kAttrSparseTensor = 11,
  kAttrSparseTensors = 12,
  kAttrTypeProto = 13,
  kAttrTypeProtos = 14,
};

struct AttributeFields {
  std::string name;
  int32_t type = kAttrUndefined;
  bool has_f = false, has_i = false, has_s = false, has_t = false, has_g = false;
  bool has_other = false;  // tensors, graphs, sparse tensors, type protos
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  Bytes t;
  Bytes g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::string ref_attr_name;
};

Status read_attribute_field(const WireField& f, AttributeFields* a) {
  switch (f.number) {
    case 1: {
      VITRT_ASSIGN_OR_RETURN(a->name, wire_string(f, "AttributeProto.name"));
      return Status();
    }
    case 20: {
      VITRT_ASSIGN_OR_RETURN(a->type, wire_int32(f, "AttributeProto.type"));
      return Status();
    }
    case 2: {
      VITRT_ASSIGN_OR_RETURN(a->f, wire_float(f, "AttributeProto.f"));
      a->has_f = true;
      return Status();
    }
    case 3: {
      VITRT_ASSIGN_OR_RETURN(a->i, wire_int64(f, "AttributeProto.i"));
      a->has_i = true;
      return Status();
    }
    case 4: {
      VITRT_ASSIGN_OR_RETURN(a->s, wire_string(f, "AttributeProto.s"));
      a->has_s = true;
      return Status();
    }
    case 5: {
      VITRT_ASSIGN_OR_RETURN(a->t, wire_message(f, "AttributeProto.t"));
      a->has_t = true;
      return Status();
    }
    case 6: {
      VITRT_ASSIGN_OR_RETURN(a->g, wire_message(f, "AttributeProto.g"));
      a->has_g = true;
      return Status();
    }
    case 7:
      return append_floats(f, "AttributeProto.floats", &a->floats);
    case 8:
      return append_varints(f, "AttributeProto.ints", &a->ints);
    case 9: {
      VITRT_ASSIGN_OR_RETURN(std::string s, wire_string(f, "AttributeProto.strings"));
      a->strings.push_back(std::move(s));
      return Status();
    }
    case 10:
    case 11:
    case 14:
    case 15:
    case 22:
    case 23:
      a->has_other = true;
      return Status();
    case 21: {
      VITRT_ASSIGN_OR_RETURN(a->ref_attr_name, wire_string(f, "AttributeProto.ref_attr_name"));
      return Status();
    }
    default:
      return Status();
  }
}

// Old IR versions did not write `type`; deduce it from the field that is set.
int32_t deduce_attribute_type(const AttributeFields& a) {
  if (a.has_f) return kAttrFloat;
  if (a.has_i) return kAttrInt;
  if (a.has_s) return kAttrString;
  if (a.has_t) return kAttrTensor;
  if (a.has_g) return kAttrGraph;
  if (!a.floats.empty()) return kAttrFloats;
  if (!a.ints.empty()) return kAttrInts;
  if (!a.strings.empty()) return kAttrStrings;
  if (a.has_other) return kAttrGraphs;
  return kAttrUndefined;
}

// `where` is "node 'x' (Op)". A GRAPH attribute comes back as kind kGraph without its graph:
// `graph` receives the GraphProto's bytes and `label` the attribute's name for messages, and the
// caller builds the sub-graph in its own scope.
Status parse_attribute(Bytes b, const std::string& where, const std::string& base_dir,
                       std::string* name, Attribute* out, std::optional<Bytes>* graph,
                       std::string* label_out) {
  AttributeFields a;
  WireReader r(b.data, b.size, str_cat("AttributeProto of ", where), attribute_field_name);
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next(&f));
    Status st = read_attribute_field(f, &a);
    if (!st.ok()) return st.with_context(r.label());
    if (f.number == 1) r.set_label(str_cat("attribute '", a.name, "' of ", where));
  }
  const std::string label = r.label();
  *label_out = label;
  graph->reset();
  if (a.name.empty()) return invalid_model(where, ": an attribute has no name");
  if (!a.ref_attr_name.empty()) {
    return invalid_model(label, " refers to function attribute '", a.ref_attr_name,
                         "', which only functions may do");
  }
  const int32_t type = a.type != kAttrUndefined ? a.type : deduce_attribute_type(a);
  *name = a.name;
  *out = Attribute();
  switch (type) {
    case kAttrFloat:
      out->kind = Attribute::Kind::kFloat;
      out->f = a.f;
      break;
    case kAttrInt:
      out->kind = Attribute::Kind::kInt;
      out->i = a.i;
      break;
    case kAttrString:
      out->kind = Attribute::Kind::kString;
      out->s = std::move(a.s);
      break;
    case kAttrTensor: {
      if (!a.has_t) return invalid_model(label, " has type TENSOR but no tensor");
      out->kind = Attribute::Kind::kTensor;
      VITRT_ASSIGN_OR_RETURN(out->t,
                             decode_tensor_proto(a.t.data, a.t.size, base_dir, label, nullptr));
      break;
    }
    case kAttrFloats:
      out->kind = Attribute::Kind::kFloats;
      out->floats = std::move(a.floats);
      break;
    case kAttrInts:
      out->kind = Attribute::Kind::kInts;
      out->ints = std::move(a.ints);
      break;
    case kAttrStrings:
      out->kind = Attribute::Kind::kStrings;
      out->strings = std::move(a.strings);
      break;
    case kAttrGraph:
      if (!a.has_g) return invalid_model(label, " has type GRAPH but no graph");
      out->kind = Attribute::Kind::kGraph;
      *graph = a.g;
      break;
    case kAttrGraphs:
    case kAttrTensors:
    case kAttrSparseTensor:
    case kAttrSparseTensors:
    case kAttrTypeProto:
    case kAttrTypeProtos:
      // Kept without content: no supported op takes these, so the op's schema rejects it with
      // a message that names the op.
      out->kind = Attribute::Kind::kGraph;
      break;
    case kAttrUndefined:
      return invalid_model(label, " has no type and no value");
    default:
      return invalid_model(label, " has unknown type ", type);
  }
  return Status();
}

// ---- NodeProto ----------------------------------------------------------------------------------

struct NodeFields {
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::string name;
  std::string op_type;
  std::string domain;
  std::vector<Bytes> attributes;
};

Status parse_node(Bytes b, const std::string& label, NodeFields* n) {
  WireReader r(b.data, b.size, label, node_field_name);
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next(&f));
    Status st;
    switch (f.number) {
      case 1: {
        auto s = wire_string(f, "NodeProto.input");
        st = s.status();
        if (s.ok()) n->inputs.push_back(std::move(s).value());
        break;
      }
      case 2: {
        auto s = wire_string(f, "NodeProto.output");
        st = s.status();
        if (s.ok()) n->outputs.push_back(std::move(s).value());
        break;
      }
      case 3: {
        auto s = wire_string(f, "NodeProto.name");
        st = s.status();
        if (s.ok()) n->name = std::move(s).value();
        if (s.ok()) r.set_label(str_cat(label, " ('", n->name, "')"));
        break;
      }
      case 4: {
        auto s = wire_string(f, "NodeProto.op_type");
        st = s.status();
        if (s.ok()) n->op_type = std::move(s).value();
        break;
      }
      case 7: {
        auto s = wire_string(f, "NodeProto.domain");
        st = s.status();
        if (s.ok()) n->domain = std::move(s).value();
        break;
      }
      case 5: {
        auto m = wire_message(f, "NodeProto.attribute");
        st = m.status();
        if (m.ok()) n->attributes.push_back(*m);
        break;
      }
      default:
        break;
    }
    if (!st.ok()) return st.with_context(r.label());
  }
  return Status();
}

// "" and "ai.onnx" both name the default domain; the IR spells it "".
std::string canonical_domain(const std::string& domain) {
  return domain == "ai.onnx" ? std::string() : domain;
}

// ---- GraphProto / ModelProto --------------------------------------------------------------------

struct GraphFields {
  std::string name;
  std::vector<Bytes> nodes;
  std::vector<Bytes> initializers;
  std::vector<Bytes> inputs;
  std::vector<Bytes> outputs;
  std::vector<Bytes> value_infos;
  int sparse_initializers = 0;
};

// The buffer ends inside `f` (item `index` of its kind): parse what is there, so that the
// error names the item and the field it ends in ("truncated TensorProto 'w' in graph initializer
// 12: field 9 ..."), falling back to the reader's own message.
Status diagnose_truncated_item(const WireField& f, size_t index, const Status& truncation) {
  const Bytes part{f.data, f.size};
  Status inner;
  std::string where;
  switch (f.number) {
    case 1: {
      where = str_cat("graph node ", index);
      NodeFields node;
      inner = parse_node(part, where, &node);
      break;
    }
    case 5: {
      where = str_cat("graph initializer ", index);
      inner = decode_tensor_proto(part.data, part.size, "", where, nullptr).status();
      break;
    }
    case 11:
    case 12:
    case 13: {
      where = str_cat(f.number == 11   ? "graph input "
                      : f.number == 12 ? "graph output "
                                       : "graph value_info ",
                      index);
      ValueInfo info;
      inner = parse_value_info(part, &info).with_context(where);
      break;
    }
    default:
      return truncation;
  }
  if (!inner.ok() && inner.message().find("truncated ") != std::string::npos) return inner;
  return truncation.with_context(str_cat("the data ends inside ", where));
}

Status parse_graph_fields(Bytes b, GraphFields* g) {
  WireReader r(b.data, b.size, "GraphProto", graph_field_name);
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next_or_truncated(&f));
    std::vector<Bytes>* list = nullptr;
    const char* what = nullptr;
    switch (f.number) {
      case 1:
        list = &g->nodes;
        what = "GraphProto.node";
        break;
      case 5:
        list = &g->initializers;
        what = "GraphProto.initializer";
        break;
      case 11:
        list = &g->inputs;
        what = "GraphProto.input";
        break;
      case 12:
        list = &g->outputs;
        what = "GraphProto.output";
        break;
      case 13:
        list = &g->value_infos;
        what = "GraphProto.value_info";
        break;
      case 15:
        ++g->sparse_initializers;
        break;
      case 2: {
        auto s = wire_string(f, "GraphProto.name");
        if (!s.ok()) return s.status().with_context("GraphProto");
        g->name = std::move(s).value();
        break;
      }
      default:
        break;
    }
    if (f.truncated) {
      return diagnose_truncated_item(f, list ? list->size() : 0, r.truncation());
    }
    if (list) {
      auto m = wire_message(f, what);
      if (!m.ok()) return m.status().with_context("GraphProto");
      list->push_back(*m);
    }
  }
  return Status();
}

struct ModelFields {
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::vector<Bytes> graphs;  // a repeated message field merges; normally exactly one
  std::map<std::string, int64_t> opsets;
  bool has_training_info = false;
  std::set<std::pair<std::string, std::string>> functions;  // (domain, name)
};

Status parse_opset(Bytes b, ModelFields* m) {
  WireReader r(b.data, b.size, "OperatorSetIdProto");
  std::string domain;
  int64_t version = 0;
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next(&f));
    if (f.number == 1) {
      VITRT_ASSIGN_OR_RETURN(domain, wire_string(f, "OperatorSetIdProto.domain"));
    } else if (f.number == 2) {
      VITRT_ASSIGN_OR_RETURN(version, wire_int64(f, "OperatorSetIdProto.version"));
    }
  }
  m->opsets[canonical_domain(domain)] = version;
  return Status();
}

Status parse_function_name(Bytes b, ModelFields* m) {
  WireReader r(b.data, b.size, "FunctionProto");
  std::string name, domain;
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next(&f));
    if (f.number == 1) {
      VITRT_ASSIGN_OR_RETURN(name, wire_string(f, "FunctionProto.name"));
    } else if (f.number == 10) {
      VITRT_ASSIGN_OR_RETURN(domain, wire_string(f, "FunctionProto.domain"));
    }
  }
  m->functions.emplace(canonical_domain(domain), name);
  return Status();
}

Status parse_model_fields(const uint8_t* data, size_t size, ModelFields* m) {
  WireReader r(data, size, "ModelProto", model_field_name);
  while (!r.done()) {
    WireField f;
    VITRT_RETURN_IF_ERROR(r.next_or_truncated(&f));
    if (f.truncated) {
      if (f.number != 7) return r.truncation();
      // Say where inside the graph the data ends; the graph's own messages name the item.
      GraphFields partial;
      Status inner = parse_graph_fields(Bytes{f.data, f.size}, &partial);
      return inner.ok() ? r.truncation() : inner;
    }
    Status st;
    switch (f.number) {
      case 1: {
        auto v = wire_int64(f, "ModelProto.ir_version");
        st = v.status();
        if (v.ok()) m->ir_version = *v;
        break;
      }
      case 2: {
        auto s = wire_string(f, "ModelProto.producer_name");
        st = s.status();
        if (s.ok()) m->producer_name = std::move(s).value();
        break;
      }
      case 3: {
        auto s = wire_string(f, "ModelProto.producer_version");
        st = s.status();
        if (s.ok()) m->producer_version = std::move(s).value();
        break;
      }
      case 7: {
        auto g = wire_message(f, "ModelProto.graph");
        st = g.status();
        if (g.ok()) m->graphs.push_back(*g);
        break;
      }
      case 8: {
        auto o = wire_message(f, "ModelProto.opset_import");
        st = o.ok() ? parse_opset(*o, m) : o.status();
        break;
      }
      case 20:
        m->has_training_info = true;
        break;
      case 25: {
        auto fn = wire_message(f, "ModelProto.functions");
        st = fn.ok() ? parse_function_name(*fn, m) : fn.status();
        break;
      }
      default:
        break;
    }
    if (!st.ok()) return st.with_context("ModelProto");
  }
  return Status();
}

// ---- building the Graph -------------------------------------------------------------------------

// Sub-graphs inside sub-graphs are legal; the bound keeps a hostile file from exhausting the
// stack (real exports nest two or three deep).
constexpr int kMaxSubgraphDepth = 32;

class GraphBuilder {
 public:
  GraphBuilder(const ModelFields& model, std::string base_dir, int depth = 0)
      : model_(model), base_dir_(std::move(base_dir)), depth_(depth) {}

  // The model's main graph.
  Result<Graph> build();
  // A sub-graph (GraphProto `b` of an attribute): names it reads but does not define become its
  // inputs after the formal ones, and are listed in `captures` for the owning node to bind.
  Result<Graph> build_subgraph(Bytes b, std::vector<std::string>* captures);

 private:
  Status build_body();
  Status add_initializers();
  Status add_inputs();
  Status collect_value_infos();
  Status add_nodes();
  Status add_outputs();

  // The value named `name`, created without a producer when absent (validate() then reports
  // it as undefined, naming its reader).
  ValueId value_for(const std::string& name);
  void apply_hint(const ValueInfo& info, Value* v) const;
  Status add_constant_node(const NodeFields& n, const std::string& where, Attributes attrs);
  // Parses the attributes of node `where`; builds its sub-graphs and fills `captures` with the
  // outer-scope names they read, which the node then takes as extra inputs.
  Status add_attributes(const NodeFields& n, const std::string& where, Attributes* attrs,
                        std::vector<std::string>* captures);

  const ModelFields& model_;
  std::string base_dir_;
  int depth_;
  GraphFields fields_;
  Graph graph_;
  std::unordered_map<std::string, ValueId> by_name_;
  std::unordered_map<std::string, ValueInfo> hints_;
};

ValueId GraphBuilder::value_for(const std::string& name) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return it->second;
  Value v;
  v.name = name;
  const ValueId id = graph_.add_value(std::move(v));
  by_name_.emplace(name, id);
  return id;
}

Status GraphBuilder::add_initializers() {
  for (size_t i = 0; i < fields_.initializers.size(); ++i) {
    const Bytes b = fields_.initializers[i];
    std::string name;
    VITRT_ASSIGN_OR_RETURN(Tensor t, decode_tensor_proto(b.data, b.size, base_dir_,
                                                         str_cat("graph initializer ", i), &name));
    if (name.empty()) return invalid_model("graph initializer ", i, " has no name");
    if (by_name_.count(name)) {
      return invalid_model("graph initializer ", i, ": name '", name, "' is used twice");
    }
    by_name_.emplace(name, graph_.add_constant(name, std::move(t)));
  }
  return Status();
}

Status GraphBuilder::add_inputs() {
  for (size_t i = 0; i < fields_.inputs.size(); ++i) {
    ValueInfo info;
    Status st = parse_value_info(fields_.inputs[i], &info);
    if (!st.ok()) return st.with_context(str_cat("graph input ", i));
    if (info.name.empty()) return invalid_model("graph input ", i, " has no name");
    auto it = by_name_.find(info.name);
    if (it != by_name_.end()) {
      // Exporters before IR version 4 list initializers among the inputs; they stay constants.
      if (graph_.values[it->second].is_constant()) continue;
      return invalid_model("graph input ", i, ": name '", info.name, "' is used twice");
    }
    const std::string where = str_cat("graph input '", info.name, "'");
    if (depth_ > 0 && (!info.has_type || info.non_tensor_kind || info.elem_type == 0)) {
      // A sub-graph's formal inputs (a Loop body's iteration count and carried values) take
      // their types from the owning node and may leave them out; vitrt runs no such op.
      Value v;
      v.name = info.name;
      const ValueId id = graph_.add_value(std::move(v));
      by_name_.emplace(info.name, id);
      graph_.inputs.push_back(id);
      continue;
    }
    if (!info.has_type) return invalid_model(where, " has no type");
    if (info.non_tensor_kind) {
      return unsupported(where, " has ", info.non_tensor_kind, " type; only tensors are supported");
    }
    const DType dt = dtype_from_onnx(info.elem_type);
    if (info.elem_type == 0) return invalid_model(where, " has no element type");
    if (!dtype_is_storable(dt)) {
      return unsupported(where, " has element type ", onnx_dtype_name(info.elem_type),
                         ", which is not supported");
    }
    Value v;
    v.name = info.name;
    v.dtype = dt;
    v.has_shape = info.has_shape;
    for (size_t d = 0; d < info.dims.size(); ++d) {
      const DimInfo& dim = info.dims[d];
      if (dim.kind == DimInfo::Kind::kValue && dim.value >= 0) {
        v.shape.push_back(Dim(dim.value));
      } else if (dim.kind == DimInfo::Kind::kParam) {
        v.shape.push_back(dim_from_param(dim.param));
      } else {
        v.shape.push_back(Dim::symbol(str_cat(info.name, "_dim", d)));
      }
    }
    const ValueId id = graph_.add_value(std::move(v));
    by_name_.emplace(info.name, id);
    graph_.inputs.push_back(id);
  }
  return Status();
}

Status GraphBuilder::collect_value_infos() {
  for (size_t i = 0; i < fields_.value_infos.size(); ++i) {
    ValueInfo info;
    Status st = parse_value_info(fields_.value_infos[i], &info);
    if (!st.ok()) return st.with_context(str_cat("graph value_info ", i));
    if (!info.name.empty()) hints_[info.name] = std::move(info);
  }
  return Status();
}

// value_info and graph-output types are hints for shape inference: a known tensor type fills in
// what is still unknown; dims without value or param stay unknown.
void GraphBuilder::apply_hint(const ValueInfo& info, Value* v) const {
  if (!info.has_type || info.non_tensor_kind) return;
  const DType dt = dtype_from_onnx(info.elem_type);
  if (v->dtype == DType::kUndefined && dtype_is_storable(dt)) v->dtype = dt;
  if (!info.has_shape) return;
  SymShape hint;
  for (const DimInfo& dim : info.dims) {
    if (dim.kind == DimInfo::Kind::kValue && dim.value >= 0) {
      hint.push_back(Dim(dim.value));
    } else if (dim.kind == DimInfo::Kind::kParam) {
      hint.push_back(dim_from_param(dim.param));
    } else {
      hint.push_back(Dim::unknown());
    }
  }
  if (!v->has_shape) {
    v->has_shape = true;
    v->shape = hint;
  }
  v->shape_hint = std::move(hint);
}

Status GraphBuilder::add_constant_node(const NodeFields& n, const std::string& where,
                                       Attributes attrs) {
  if (n.outputs.size() != 1 || n.outputs[0].empty()) {
    return invalid_model(where, ": a Constant has exactly one output, found ", n.outputs.size());
  }
  if (attrs.all().size() != 1) {
    return invalid_model(where, ": a Constant has exactly one value attribute, found ",
                         attrs.all().size());
  }
  const auto& [attr_name, attr] = *attrs.all().begin();
  Tensor t;
  if (attr_name == "value" && attr.kind == Attribute::Kind::kTensor) {
    t = attr.t;
  } else if (attr_name == "value_float" && attr.kind == Attribute::Kind::kFloat) {
    t = Tensor::from_float({attr.f}, /*as_scalar=*/true);
  } else if (attr_name == "value_floats" && attr.kind == Attribute::Kind::kFloats) {
    t = Tensor::from_float(attr.floats);
  } else if (attr_name == "value_int" && attr.kind == Attribute::Kind::kInt) {
    t = Tensor::from_int64({attr.i}, /*as_scalar=*/true);
  } else if (attr_name == "value_ints" && attr.kind == Attribute::Kind::kInts) {
    t = Tensor::from_int64(attr.ints);
  } else if (attr_name == "value_string" || attr_name == "value_strings") {
    return unsupported(where, ": string constants ('", attr_name, "') are not supported");
  } else if (attr_name == "sparse_value") {
    return unsupported(where, ": sparse constants ('sparse_value') are not supported");
  } else {
    return invalid_model(where, ": attribute '", attr_name, "' of kind ",
                         attribute_kind_name(attr.kind), " is not a Constant value");
  }
  const std::string& out = n.outputs[0];
  if (by_name_.count(out)) {
    return invalid_model(where, ": output '", out, "' is already defined");
  }
  by_name_.emplace(out, graph_.add_constant(out, std::move(t)));
  return Status();
}

Status GraphBuilder::add_nodes() {
  const size_t count = fields_.nodes.size();
  std::vector<NodeFields> nodes(count);
  for (size_t i = 0; i < count; ++i) {
    VITRT_RETURN_IF_ERROR(parse_node(fields_.nodes[i], str_cat("graph node ", i), &nodes[i]));
  }
  // Unique names: a node keeps its name when it is the first to use it; unnamed and duplicate
  // nodes become "<op_type>_<index>" (with a suffix should that be taken too).
  std::unordered_set<std::string> used;
  for (const NodeFields& n : nodes) used.insert(n.name);
  std::unordered_set<std::string> taken;
  std::vector<std::string> names(count);
  for (size_t i = 0; i < count; ++i) {
    const std::string& name = nodes[i].name;
    if (!name.empty() && taken.insert(name).second) {
      names[i] = name;
      continue;
    }
    std::string base = str_cat(nodes[i].op_type.empty() ? "node" : nodes[i].op_type, "_", i);
    std::string candidate = base;
    for (int k = 1; used.count(candidate) || taken.count(candidate); ++k) {
      candidate = str_cat(base, "_", k);
    }
    taken.insert(candidate);
    names[i] = candidate;
  }

  // Outputs first, so that nodes may come in any order (validate() checks for cycles).
  std::vector<int> kept(count, 0);
  std::vector<std::vector<std::string>> captures(count);
  for (size_t i = 0; i < count; ++i) {
    NodeFields& n = nodes[i];
    const std::string where = str_cat("node '", names[i], "' (", n.op_type, ")");
    if (n.op_type.empty())
      return invalid_model("graph node ", i, " ('", names[i], "') has no op_type");
    Attributes attrs;
    VITRT_RETURN_IF_ERROR(add_attributes(n, where, &attrs, &captures[i]));
    const std::string domain = canonical_domain(n.domain);
    if (domain.empty() && n.op_type == "Constant") {
      VITRT_RETURN_IF_ERROR(add_constant_node(n, where, std::move(attrs)));
      continue;
    }
    if (model_.functions.count({domain, n.op_type})) {
      return unsupported(where, " calls the model-local function '",
                         domain.empty() ? n.op_type : domain + "." + n.op_type,
                         "'; functions are not inlined, export with them inlined");
    }
    Node node;
    node.name = names[i];
    node.op_type = n.op_type;
    node.domain = domain;
    node.attrs = std::move(attrs);
    for (const std::string& out : n.outputs) {
      if (out.empty()) {
        node.outputs.push_back(kNoValue);
        continue;
      }
      const ValueId id = value_for(out);
      auto hint = hints_.find(out);
      if (hint != hints_.end()) apply_hint(hint->second, &graph_.values[id]);
      node.outputs.push_back(id);
    }
    // A value produced twice keeps its first producer here; validate() reports the second.
    std::vector<ValueId> outs = node.outputs;
    const NodeId id = static_cast<NodeId>(graph_.nodes.size());
    graph_.nodes.push_back(std::move(node));
    for (ValueId out : outs) {
      if (out != kNoValue && graph_.values[out].producer < 0) graph_.values[out].producer = id;
    }
    kept[i] = 1;
  }
  NodeId id = 0;
  for (size_t i = 0; i < count; ++i) {
    if (!kept[i]) continue;
    Node& node = graph_.nodes[id++];
    for (const std::string& in : nodes[i].inputs) {
      node.inputs.push_back(in.empty() ? kNoValue : value_for(in));
    }
    for (const std::string& name : captures[i]) {
      // The main graph is the outermost scope: a name it lacks is defined nowhere.
      if (depth_ == 0 && !by_name_.count(name)) {
        return invalid_model("node '", names[i], "' (", nodes[i].op_type, "): a sub-graph reads '",
                             name, "', which no enclosing graph defines");
      }
      node.inputs.push_back(value_for(name));
    }
  }
  return Status();
}

Status GraphBuilder::add_attributes(const NodeFields& n, const std::string& where,
                                    Attributes* attrs, std::vector<std::string>* captures) {
  std::vector<std::pair<std::string, Graph>> subgraphs;
  std::vector<size_t> formal_inputs;
  for (const Bytes& ab : n.attributes) {
    std::string attr_name, label;
    Attribute attr;
    std::optional<Bytes> graph_bytes;
    VITRT_RETURN_IF_ERROR(
        parse_attribute(ab, where, base_dir_, &attr_name, &attr, &graph_bytes, &label));
    if (attrs->has(attr_name)) {
      return invalid_model(where, ": attribute '", attr_name, "' appears twice");
    }
    if (graph_bytes) {
      if (depth_ + 1 > kMaxSubgraphDepth) {
        return unsupported(label, ": sub-graphs nest more than ", kMaxSubgraphDepth,
                           " levels deep");
      }
      GraphBuilder sub(model_, base_dir_, depth_ + 1);
      std::vector<std::string> names;
      Result<Graph> g = sub.build_subgraph(*graph_bytes, &names);
      if (!g.ok()) return g.status().with_context(label);
      formal_inputs.push_back(g->inputs.size() - names.size());
      for (const std::string& name : names) {
        if (std::find(captures->begin(), captures->end(), name) == captures->end()) {
          captures->push_back(name);
        }
      }
      subgraphs.emplace_back(attr_name, std::move(g).value());
    }
    attrs->set(attr_name, std::move(attr));
  }
  // Every sub-graph of the node takes the union of the captures, in the node's order, so that
  // its capture k is the node's extra input k whichever branch reads it.
  for (size_t k = 0; k < subgraphs.size(); ++k) {
    Graph& g = subgraphs[k].second;
    std::vector<ValueId> inputs(g.inputs.begin(), g.inputs.begin() + formal_inputs[k]);
    const std::set<ValueId> own_captures(g.inputs.begin() + formal_inputs[k], g.inputs.end());
    for (const std::string& name : *captures) {
      std::optional<ValueId> id = g.find_value(name);
      if (id && !own_captures.count(*id)) {
        // ONNX names are unique across scopes; binding one branch's own value to the outer one
        // would give it two producers.
        return invalid_model(where, ": sub-graph '", subgraphs[k].first, "' defines '", name,
                             "', which another sub-graph of the node reads from the outer scope");
      }
      if (!id) {
        Value v;
        v.name = name;
        id = g.add_value(std::move(v));
      }
      inputs.push_back(*id);
    }
    g.inputs = std::move(inputs);
    Attribute attr = *attrs->find(subgraphs[k].first);
    attr.g = std::make_shared<const Graph>(std::move(g));
    attrs->set(subgraphs[k].first, std::move(attr));
  }
  return Status();
}

Status GraphBuilder::add_outputs() {
  for (size_t i = 0; i < fields_.outputs.size(); ++i) {
    ValueInfo info;
    Status st = parse_value_info(fields_.outputs[i], &info);
    if (!st.ok()) return st.with_context(str_cat("graph output ", i));
    if (info.name.empty()) return invalid_model("graph output ", i, " has no name");
    const ValueId id = value_for(info.name);
    apply_hint(info, &graph_.values[id]);
    graph_.outputs.push_back(id);
  }
  return Status();
}

Status GraphBuilder::build_body() {
  if (fields_.sparse_initializers > 0) {
    return unsupported("the graph has ", fields_.sparse_initializers,
                       " sparse initializer(s); sparse tensors are not supported");
  }
  graph_.name = fields_.name;
  graph_.opset_imports = model_.opsets;
  graph_.producer_name = model_.producer_name;
  graph_.producer_version = model_.producer_version;
  VITRT_RETURN_IF_ERROR(add_initializers());
  VITRT_RETURN_IF_ERROR(add_inputs());
  VITRT_RETURN_IF_ERROR(collect_value_infos());
  VITRT_RETURN_IF_ERROR(add_nodes());
  return add_outputs();
}

Result<Graph> GraphBuilder::build() {
  if (model_.has_training_info) {
    return unsupported("the model has training_info; only inference graphs are supported");
  }
  if (model_.graphs.empty()) return invalid_model("ModelProto has no graph");
  for (const Bytes& g : model_.graphs) VITRT_RETURN_IF_ERROR(parse_graph_fields(g, &fields_));
  VITRT_RETURN_IF_ERROR(build_body());
  VITRT_RETURN_IF_ERROR(graph_.validate());
  return std::move(graph_);
}

Result<Graph> GraphBuilder::build_subgraph(Bytes b, std::vector<std::string>* captures) {
  VITRT_RETURN_IF_ERROR(parse_graph_fields(b, &fields_));
  VITRT_RETURN_IF_ERROR(build_body());
  // What is read but neither produced, initialized nor a formal input comes from an outer scope
  // (the owning graph reports a name no scope defines, naming the node that reads it).
  const std::set<ValueId> formal(graph_.inputs.begin(), graph_.inputs.end());
  for (ValueId id = 0; id < static_cast<ValueId>(graph_.values.size()); ++id) {
    const Value& v = graph_.values[id];
    if (v.producer >= 0 || v.is_constant() || formal.count(id)) continue;
    graph_.inputs.push_back(id);
    captures->push_back(v.name);
  }
  VITRT_RETURN_IF_ERROR(graph_.validate());
  return std::move(graph_);
}

std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<Graph> import_onnx_bytes(const uint8_t* data, size_t size, const std::string& base_dir) {
  if (size == 0) return invalid_model("the model is empty (0 bytes)");
  ModelFields model;
  VITRT_RETURN_IF_ERROR(parse_model_fields(data, size, &model));
  GraphBuilder builder(model, base_dir);
  return builder.build();
}

Result<Graph> import_onnx_file(const std::string& path) {
  VITRT_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  auto graph = import_onnx_bytes(file.data(), file.size(), parent_dir(path));
  if (!graph.ok()) return graph.status().with_context(str_cat("model '", path, "'"));
  return graph;
}

}  // namespace vitrt
