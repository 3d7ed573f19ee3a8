// Writes plan files (layout in plan_format.h).
#include <cstdio>
#include <fstream>

#include "core/checksum.h"
#include "plan/plan_bytes.h"
#include "plan/plan_format.h"

namespace vitrt {
namespace {

void write_monomial(PlanByteWriter& w, const Dim::Monomial& m, int64_t coef) {
  w.i64(coef);
  w.u64(m.size());
  for (const auto& [sym, exponent] : m) {
    w.str(sym);
    w.i32(exponent);
  }
}

// Tag 0: unknown. 1: one monomial (0 and constants included), as format version 1 wrote every
// known dim. 2: a sum, its term count then each term as tag 1 writes it.
void write_dim(PlanByteWriter& w, const Dim& d) {
  const Dim::Terms& terms = d.terms();
  if (!d.is_known() || terms.size() <= 1) {
    w.u8(d.is_known() ? 1 : 0);
    if (terms.empty()) {
      write_monomial(w, {}, 0);
    } else {
      write_monomial(w, terms.begin()->first, terms.begin()->second);
    }
    return;
  }
  w.u8(2);
  w.u64(terms.size());
  for (const auto& [m, coef] : terms) write_monomial(w, m, coef);
}

void write_dims(PlanByteWriter& w, const std::vector<Dim>& dims) {
  w.u64(dims.size());
  for (const Dim& d : dims) write_dim(w, d);
}

void write_shape(PlanByteWriter& w, const std::vector<int64_t>& shape) {
  w.u64(shape.size());
  for (int64_t d : shape) w.i64(d);
}

// Attribute tensors are small (Constant values of shape ops, ConstantOfShape fills): inline.
Status write_inline_tensor(PlanByteWriter& w, const Tensor& t, const std::string& where) {
  if (!t.defined() || !dtype_is_storable(t.dtype())) {
    return unsupported(where, ": tensor of type ", dtype_name(t.dtype()),
                       " cannot be stored in a plan");
  }
  w.i32(static_cast<int32_t>(t.dtype()));
  write_shape(w, t.shape());
  w.u64(t.nbytes());
  w.raw(t.raw_data(), t.nbytes());
  return Status::ok_status();
}

Status write_attribute(PlanByteWriter& w, const std::string& name, const Attribute& a,
                       const Node& node) {
  w.str(name);
  w.u8(static_cast<uint8_t>(a.kind));
  switch (a.kind) {
    case Attribute::Kind::kFloat:
      w.f32(a.f);
      break;
    case Attribute::Kind::kInt:
      w.i64(a.i);
      break;
    case Attribute::Kind::kString:
      w.str(a.s);
      break;
    case Attribute::Kind::kTensor:
      return write_inline_tensor(w, a.t, str_cat(node.describe(), " attribute '", name, "'"));
    case Attribute::Kind::kFloats:
      w.u64(a.floats.size());
      for (float f : a.floats) w.f32(f);
      break;
    case Attribute::Kind::kInts:
      w.u64(a.ints.size());
      for (int64_t i : a.ints) w.i64(i);
      break;
    case Attribute::Kind::kStrings:
      w.u64(a.strings.size());
      for (const std::string& s : a.strings) w.str(s);
      break;
    case Attribute::Kind::kGraph:
      return unsupported(node.describe(), " attribute '", name,
                         "' is a graph; plans do not store sub-graphs");
  }
  return Status::ok_status();
}

std::vector<uint8_t> metadata_section(const Graph& graph, const PlanMetadata& m) {
  PlanByteWriter w;
  w.str(m.vitrt_version);
  w.str(m.device);
  w.str(m.precision);
  w.u64(m.build_options.size());
  for (const auto& [k, v] : m.build_options) {
    w.str(k);
    w.str(v);
  }
  w.str(graph.name);
  w.str(graph.producer_name);
  w.str(graph.producer_version);
  w.u64(graph.opset_imports.size());
  for (const auto& [domain, version] : graph.opset_imports) {
    w.str(domain);
    w.i64(version);
  }
  return std::move(w.bytes());
}

// The graph section; `weight_offsets[v]` is the offset of constant v in the weights section.
Result<std::vector<uint8_t>> graph_section(const Graph& graph,
                                           const std::vector<uint64_t>& weight_offsets) {
  PlanByteWriter w;
  w.u64(graph.values.size());
  for (size_t i = 0; i < graph.values.size(); ++i) {
    const Value& v = graph.values[i];
    w.str(v.name);
    w.i32(static_cast<int32_t>(v.dtype));
    w.u8(v.has_shape ? 1 : 0);
    write_dims(w, v.shape);
    w.u8(v.sym_value ? 1 : 0);
    if (v.sym_value) write_dims(w, *v.sym_value);
    w.u8(v.is_constant() ? 1 : 0);
    if (v.is_constant()) {
      if (!dtype_is_storable(v.constant.dtype())) {
        return unsupported("constant '", v.name, "' of type ", dtype_name(v.constant.dtype()),
                           " cannot be stored in a plan");
      }
      w.i32(static_cast<int32_t>(v.constant.dtype()));
      write_shape(w, v.constant.shape());
      w.u64(weight_offsets[i]);
      w.u64(v.constant.nbytes());
    }
  }
  std::vector<const Node*> live;
  for (const Node& n : graph.nodes) {
    if (!n.dead) live.push_back(&n);
  }
  // Dead nodes are not written; a graph with dead nodes must be compacted first so that
  // producer links stay right.
  if (live.size() != graph.nodes.size()) {
    return internal_error("serialize_plan: the graph has dead nodes; compact() it first");
  }
  w.u64(graph.nodes.size());
  for (const Node& n : graph.nodes) {
    w.str(n.name);
    w.str(n.op_type);
    w.str(n.domain);
    w.u64(n.inputs.size());
    for (ValueId id : n.inputs) w.i32(id);
    w.u64(n.outputs.size());
    for (ValueId id : n.outputs) w.i32(id);
    w.u64(n.attrs.all().size());
    for (const auto& [name, attr] : n.attrs.all()) {
      VITRT_RETURN_IF_ERROR(write_attribute(w, name, attr, n));
    }
  }
  w.u64(graph.inputs.size());
  for (ValueId id : graph.inputs) w.i32(id);
  w.u64(graph.outputs.size());
  for (ValueId id : graph.outputs) w.i32(id);
  return std::move(w.bytes());
}

void put_u32_at(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  std::memcpy(&b[at], &v, 4);
}
void put_u64_at(std::vector<uint8_t>& b, size_t at, uint64_t v) {
  std::memcpy(&b[at], &v, 8);
}

}  // namespace

Result<std::vector<uint8_t>> serialize_plan(const Graph& graph, const PlanMetadata& metadata) {
  // Weights layout first: the graph section refers to it by offset.
  std::vector<uint64_t> weight_offsets(graph.values.size(), 0);
  uint64_t weights_bytes = 0;
  for (size_t i = 0; i < graph.values.size(); ++i) {
    const Value& v = graph.values[i];
    if (!v.is_constant()) continue;
    weights_bytes =
        (weights_bytes + kPlanTensorAlignment - 1) / kPlanTensorAlignment * kPlanTensorAlignment;
    weight_offsets[i] = weights_bytes;
    weights_bytes += v.constant.nbytes();
  }
  const std::vector<uint8_t> meta = metadata_section(graph, metadata);
  VITRT_ASSIGN_OR_RETURN(std::vector<uint8_t> graph_bytes, graph_section(graph, weight_offsets));

  constexpr uint32_t kSections = 3;
  const size_t header_bytes = kPlanFixedHeaderBytes + kSections * kPlanSectionEntryBytes;
  PlanByteWriter w;
  w.raw(kPlanMagic, sizeof(kPlanMagic));
  w.u32(kPlanFormatVersion);
  w.u32(static_cast<uint32_t>(header_bytes));
  w.u32(kSections);
  w.u32(0);  // header checksum, patched below
  w.u32(0);  // body checksum, patched below
  w.u32(0);  // reserved
  w.u64(0);  // file size, patched below
  const size_t table_at = w.size();
  for (uint32_t i = 0; i < kSections * kPlanSectionEntryBytes; ++i) w.u8(0);

  struct Placed {
    PlanSection kind;
    uint64_t offset, size;
  };
  std::vector<Placed> placed;
  placed.push_back({PlanSection::kMetadata, w.size(), meta.size()});
  w.raw(meta.data(), meta.size());
  placed.push_back({PlanSection::kGraph, w.size(), graph_bytes.size()});
  w.raw(graph_bytes.data(), graph_bytes.size());
  w.pad_to(kPlanWeightsAlignment);
  const uint64_t weights_at = w.size();
  placed.push_back({PlanSection::kWeights, weights_at, weights_bytes});
  w.bytes().resize(weights_at + weights_bytes, 0);
  for (size_t i = 0; i < graph.values.size(); ++i) {
    const Value& v = graph.values[i];
    if (v.is_constant() && v.constant.nbytes() > 0) {
      std::memcpy(&w.bytes()[weights_at + weight_offsets[i]], v.constant.raw_data(),
                  v.constant.nbytes());
    }
  }

  std::vector<uint8_t>& b = w.bytes();
  for (size_t i = 0; i < placed.size(); ++i) {
    const size_t at = table_at + i * kPlanSectionEntryBytes;
    put_u32_at(b, at, static_cast<uint32_t>(placed[i].kind));
    put_u32_at(b, at + 4, 0);
    put_u64_at(b, at + 8, placed[i].offset);
    put_u64_at(b, at + 16, placed[i].size);
  }
  put_u64_at(b, 32, b.size());
  put_u32_at(b, 24, crc32c(b.data() + header_bytes, b.size() - header_bytes));
  put_u32_at(b, 20, crc32c(b.data(), header_bytes));  // field 20 is still zero here
  return std::move(b);
}

Result<uint64_t> write_plan_file(const std::string& path, const Graph& graph,
                                 const PlanMetadata& metadata) {
  VITRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, serialize_plan(graph, metadata));
  // Write to a temporary name and rename, so a failed write never leaves a half plan behind
  // under the real name.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return io_error("cannot create '", tmp, "'");
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      return io_error("writing '", tmp, "' failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return io_error("cannot rename '", tmp, "' to '", path, "'");
  }
  return static_cast<uint64_t>(bytes.size());
}

}  // namespace vitrt
