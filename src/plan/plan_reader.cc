// Reads plan files (layout in plan_format.h). Nothing here trusts the file: every offset,
// length and count is checked against the bytes that exist before it is used, and all
// failures are kCorruptPlan errors naming the plan and the field.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <limits>

#include "core/checksum.h"
#include "plan/plan_bytes.h"
#include "plan/plan_format.h"

namespace vitrt {
namespace {

uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

const char* section_name(PlanSection kind) {
  switch (kind) {
    case PlanSection::kMetadata:
      return "metadata";
    case PlanSection::kGraph:
      return "graph";
    case PlanSection::kWeights:
      return "weights";
  }
  return "unknown";
}

// Largest exponent a symbol may have in a stored Dim; real models use 1 or 2.
constexpr int32_t kMaxSymbolExponent = 64;

// One term as plan_writer's write_monomial stores it.
Result<Dim> read_monomial(PlanByteReader& r) {
  VITRT_ASSIGN_OR_RETURN(int64_t coef, r.i64("dim.coefficient"));
  VITRT_ASSIGN_OR_RETURN(uint64_t nsyms, r.count("dim.symbol_count", 12));
  Dim d(coef);
  for (uint64_t i = 0; i < nsyms; ++i) {
    VITRT_ASSIGN_OR_RETURN(std::string sym, r.str("dim.symbol"));
    VITRT_ASSIGN_OR_RETURN(int32_t exponent, r.i32("dim.exponent"));
    if (sym.empty() || exponent < 1 || exponent > kMaxSymbolExponent) {
      return r.error("dim.exponent", "symbol '", sym, "' with exponent ", exponent);
    }
    for (int32_t e = 0; e < exponent; ++e) d = d * Dim::symbol(sym);
  }
  if (!d.is_known()) return r.error("dim.exponent", "the term is out of range");
  if (nsyms != 0 && coef == 0) return r.error("dim.coefficient", "is 0 with symbols");
  return d;
}

// Tags as plan_writer's write_dim writes them: 0 unknown, 1 a monomial, 2 a sum of terms.
Result<Dim> read_dim(PlanByteReader& r) {
  VITRT_ASSIGN_OR_RETURN(uint8_t tag, r.u8("dim.known"));
  if (tag > 2) return r.error("dim.known", "is ", int(tag), ", expected 0, 1 or 2");
  if (tag == 0) {
    VITRT_ASSIGN_OR_RETURN(int64_t coef, r.i64("dim.coefficient"));
    VITRT_ASSIGN_OR_RETURN(uint64_t nsyms, r.count("dim.symbol_count", 12));
    (void)coef;
    if (nsyms != 0) return r.error("dim.symbol_count", "an unknown dim has symbols");
    return Dim::unknown();
  }
  if (tag == 1) return read_monomial(r);
  VITRT_ASSIGN_OR_RETURN(uint64_t nterms, r.count("dim.term_count", 16));
  Dim sum(int64_t{0});
  for (uint64_t i = 0; i < nterms; ++i) {
    VITRT_ASSIGN_OR_RETURN(Dim term, read_monomial(r));
    sum = sum + term;
  }
  if (!sum.is_known() || sum.terms().size() != nterms) {
    return r.error("dim.term_count", "the terms are not a canonical sum");
  }
  return sum;
}

Result<std::vector<Dim>> read_dims(PlanByteReader& r, const char* field) {
  VITRT_ASSIGN_OR_RETURN(uint64_t n, r.count(field, 17));
  std::vector<Dim> dims;
  for (uint64_t i = 0; i < n; ++i) {
    VITRT_ASSIGN_OR_RETURN(Dim d, read_dim(r));
    dims.push_back(std::move(d));
  }
  return dims;
}

Result<DType> read_dtype(PlanByteReader& r, const char* field, bool must_be_storable) {
  VITRT_ASSIGN_OR_RETURN(int32_t raw, r.i32(field));
  const DType dtype = dtype_from_onnx(raw);
  if (raw != 0 && dtype == DType::kUndefined) return r.error(field, "unknown dtype ", raw);
  if (must_be_storable && !dtype_is_storable(dtype)) {
    return r.error(field, "dtype ", raw, " cannot hold tensor data");
  }
  return dtype;
}

// Reads a tensor shape and returns it with the tensor's byte size (overflow-checked).
Result<std::vector<int64_t>> read_tensor_shape(PlanByteReader& r, DType dtype, uint64_t* nbytes) {
  VITRT_ASSIGN_OR_RETURN(uint64_t rank, r.count("tensor.rank", 8));
  std::vector<int64_t> shape;
  uint64_t n = dtype_size(dtype);
  for (uint64_t i = 0; i < rank; ++i) {
    VITRT_ASSIGN_OR_RETURN(int64_t d, r.i64("tensor.dim"));
    if (d < 0) return r.error("tensor.dim", "negative dimension ", d);
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) {
      return r.error("tensor.dim", "tensor size overflows");
    }
    n *= static_cast<uint64_t>(d);
    shape.push_back(d);
  }
  *nbytes = n;
  return shape;
}

Result<Tensor> read_inline_tensor(PlanByteReader& r) {
  VITRT_ASSIGN_OR_RETURN(DType dtype, read_dtype(r, "tensor.dtype", true));
  uint64_t expected = 0;
  VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape, read_tensor_shape(r, dtype, &expected));
  VITRT_ASSIGN_OR_RETURN(uint64_t nbytes, r.u64("tensor.nbytes"));
  if (nbytes != expected) {
    return r.error("tensor.nbytes", nbytes, " but shape ", shape_to_string(shape), " of ",
                   dtype_name(dtype), " needs ", expected);
  }
  Status status;
  const uint8_t* p = r.take(nbytes, "tensor.data", &status);
  if (p == nullptr) return status;
  return Tensor::copy_from(dtype, std::move(shape), p, nbytes);
}

Result<Attribute> read_attribute(PlanByteReader& r) {
  Attribute a;
  VITRT_ASSIGN_OR_RETURN(uint8_t kind, r.u8("attribute.kind"));
  if (kind > static_cast<uint8_t>(Attribute::Kind::kStrings)) {
    return r.error("attribute.kind", "unknown attribute kind ", int(kind));
  }
  a.kind = static_cast<Attribute::Kind>(kind);
  switch (a.kind) {
    case Attribute::Kind::kFloat: {
      VITRT_ASSIGN_OR_RETURN(a.f, r.f32("attribute.f"));
      break;
    }
    case Attribute::Kind::kInt: {
      VITRT_ASSIGN_OR_RETURN(a.i, r.i64("attribute.i"));
      break;
    }
    case Attribute::Kind::kString: {
      VITRT_ASSIGN_OR_RETURN(a.s, r.str("attribute.s"));
      break;
    }
    case Attribute::Kind::kTensor: {
      VITRT_ASSIGN_OR_RETURN(a.t, read_inline_tensor(r));
      break;
    }
    case Attribute::Kind::kFloats: {
      VITRT_ASSIGN_OR_RETURN(uint64_t n, r.count("attribute.floats", 4));
      for (uint64_t i = 0; i < n; ++i) {
        VITRT_ASSIGN_OR_RETURN(float f, r.f32("attribute.floats"));
        a.floats.push_back(f);
      }
      break;
    }
    case Attribute::Kind::kInts: {
      VITRT_ASSIGN_OR_RETURN(uint64_t n, r.count("attribute.ints", 8));
      for (uint64_t i = 0; i < n; ++i) {
        VITRT_ASSIGN_OR_RETURN(int64_t v, r.i64("attribute.ints"));
        a.ints.push_back(v);
      }
      break;
    }
    case Attribute::Kind::kStrings: {
      VITRT_ASSIGN_OR_RETURN(uint64_t n, r.count("attribute.strings", 8));
      for (uint64_t i = 0; i < n; ++i) {
        VITRT_ASSIGN_OR_RETURN(std::string s, r.str("attribute.strings"));
        a.strings.push_back(std::move(s));
      }
      break;
    }
    case Attribute::Kind::kGraph:
      return r.error("attribute.kind", "graph attributes are not stored in plans");
  }
  return a;
}

Result<std::vector<ValueId>> read_value_ids(PlanByteReader& r, const char* field, size_t num_values,
                                            bool allow_none) {
  VITRT_ASSIGN_OR_RETURN(uint64_t n, r.count(field, 4));
  std::vector<ValueId> ids;
  for (uint64_t i = 0; i < n; ++i) {
    VITRT_ASSIGN_OR_RETURN(int32_t id, r.i32(field));
    const bool none = id == kNoValue && allow_none;
    if (!none && (id < 0 || static_cast<size_t>(id) >= num_values)) {
      return r.error(field, "value id ", id, " out of range (", num_values, " values)");
    }
    ids.push_back(id);
  }
  return ids;
}

Status read_metadata(PlanByteReader& r, LoadedPlan& plan) {
  PlanMetadata& m = plan.metadata;
  VITRT_ASSIGN_OR_RETURN(m.vitrt_version, r.str("vitrt_version"));
  VITRT_ASSIGN_OR_RETURN(m.device, r.str("device"));
  VITRT_ASSIGN_OR_RETURN(m.precision, r.str("precision"));
  VITRT_ASSIGN_OR_RETURN(uint64_t nopts, r.count("build_options", 16));
  for (uint64_t i = 0; i < nopts; ++i) {
    VITRT_ASSIGN_OR_RETURN(std::string k, r.str("build_option.key"));
    VITRT_ASSIGN_OR_RETURN(std::string v, r.str("build_option.value"));
    m.build_options[k] = v;
  }
  Graph& g = plan.graph;
  VITRT_ASSIGN_OR_RETURN(g.name, r.str("graph_name"));
  VITRT_ASSIGN_OR_RETURN(g.producer_name, r.str("producer_name"));
  VITRT_ASSIGN_OR_RETURN(g.producer_version, r.str("producer_version"));
  VITRT_ASSIGN_OR_RETURN(uint64_t nopsets, r.count("opset_imports", 16));
  for (uint64_t i = 0; i < nopsets; ++i) {
    VITRT_ASSIGN_OR_RETURN(std::string domain, r.str("opset.domain"));
    VITRT_ASSIGN_OR_RETURN(int64_t version, r.i64("opset.version"));
    g.opset_imports[domain] = version;
  }
  if (r.remaining() != 0) return r.error("end", r.remaining(), " unexpected trailing bytes");
  return Status::ok_status();
}

struct WeightsView {
  const uint8_t* data;
  uint64_t size;
  std::shared_ptr<const void> owner;
};

Status read_graph(PlanByteReader& r, const WeightsView& weights, Graph& g) {
  VITRT_ASSIGN_OR_RETURN(uint64_t nvalues, r.count("value_count", 24));
  for (uint64_t i = 0; i < nvalues; ++i) {
    Value v;
    VITRT_ASSIGN_OR_RETURN(v.name, r.str("value.name"));
    VITRT_ASSIGN_OR_RETURN(v.dtype, read_dtype(r, "value.dtype", false));
    VITRT_ASSIGN_OR_RETURN(uint8_t has_shape, r.u8("value.has_shape"));
    v.has_shape = has_shape != 0;
    VITRT_ASSIGN_OR_RETURN(v.shape, read_dims(r, "value.shape"));
    VITRT_ASSIGN_OR_RETURN(uint8_t has_sym_value, r.u8("value.has_sym_value"));
    if (has_sym_value) {
      VITRT_ASSIGN_OR_RETURN(std::vector<Dim> sym, read_dims(r, "value.sym_value"));
      v.sym_value = std::move(sym);
    }
    VITRT_ASSIGN_OR_RETURN(uint8_t has_constant, r.u8("value.has_constant"));
    if (has_constant) {
      VITRT_ASSIGN_OR_RETURN(DType dtype, read_dtype(r, "constant.dtype", true));
      uint64_t expected = 0;
      VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape, read_tensor_shape(r, dtype, &expected));
      VITRT_ASSIGN_OR_RETURN(uint64_t offset, r.u64("constant.offset"));
      VITRT_ASSIGN_OR_RETURN(uint64_t nbytes, r.u64("constant.nbytes"));
      if (nbytes != expected) {
        return r.error("constant.nbytes", "constant '", v.name, "' has ", nbytes,
                       " bytes but shape ", shape_to_string(shape), " needs ", expected);
      }
      if (offset % kPlanTensorAlignment != 0) {
        return r.error("constant.offset", "constant '", v.name, "' at weights offset ", offset,
                       " is not ", kPlanTensorAlignment, "-byte aligned");
      }
      if (offset > weights.size || nbytes > weights.size - offset) {
        return r.error("constant.offset", "constant '", v.name, "' (", nbytes, " bytes at offset ",
                       offset, ") lies outside the weights section (", weights.size, " bytes)");
      }
      const uint8_t* p = weights.data + offset;
      if (reinterpret_cast<uintptr_t>(p) % kPlanTensorAlignment == 0) {
        v.constant = Tensor::borrow(dtype, std::move(shape), weights.owner, p);
      } else {
        // Plans parsed from an unaligned buffer (not an mmap) get copies, never misaligned data.
        VITRT_ASSIGN_OR_RETURN(v.constant, Tensor::copy_from(dtype, std::move(shape), p, nbytes));
      }
    }
    g.add_value(std::move(v));
  }
  VITRT_ASSIGN_OR_RETURN(uint64_t nnodes, r.count("node_count", 48));
  for (uint64_t i = 0; i < nnodes; ++i) {
    Node n;
    VITRT_ASSIGN_OR_RETURN(n.name, r.str("node.name"));
    VITRT_ASSIGN_OR_RETURN(n.op_type, r.str("node.op_type"));
    VITRT_ASSIGN_OR_RETURN(n.domain, r.str("node.domain"));
    VITRT_ASSIGN_OR_RETURN(n.inputs, read_value_ids(r, "node.inputs", nvalues, true));
    VITRT_ASSIGN_OR_RETURN(n.outputs, read_value_ids(r, "node.outputs", nvalues, true));
    VITRT_ASSIGN_OR_RETURN(uint64_t nattrs, r.count("node.attribute_count", 9));
    for (uint64_t k = 0; k < nattrs; ++k) {
      VITRT_ASSIGN_OR_RETURN(std::string name, r.str("attribute.name"));
      VITRT_ASSIGN_OR_RETURN(Attribute a, read_attribute(r));
      if (n.attrs.has(name)) {
        return r.error("attribute.name", "node '", n.name, "' has attribute '", name, "' twice");
      }
      n.attrs.set(name, std::move(a));
    }
    g.add_node(std::move(n));
  }
  VITRT_ASSIGN_OR_RETURN(g.inputs, read_value_ids(r, "graph.inputs", nvalues, false));
  VITRT_ASSIGN_OR_RETURN(g.outputs, read_value_ids(r, "graph.outputs", nvalues, false));
  if (r.remaining() != 0) return r.error("end", r.remaining(), " unexpected trailing bytes");
  return Status::ok_status();
}

// Format 2 plans stored vitrt.ChannelsLastConv's (then depthwise only) weight as ONNX's
// [D, 1, KH, KW]; format 3 has [D, KH, KW, C/group]. For a depthwise weight the bytes are the
// same, so the upgrade is a reshape.
Status upgrade_channels_last_conv(Graph& g) {
  for (const Node& node : g.nodes) {
    if (node.domain != "vitrt" || node.op_type != "ChannelsLastConv" || !node.has_input(1)) {
      continue;
    }
    Value& w = g.values[node.inputs[1]];
    if (!w.is_constant() || w.constant.rank() != 4 || w.constant.dim(1) != 1) continue;
    const std::vector<int64_t> shape = {w.constant.dim(0), w.constant.dim(2), w.constant.dim(3), 1};
    VITRT_ASSIGN_OR_RETURN(w.constant, w.constant.reshaped(shape));
    w.shape = SymShape(shape.begin(), shape.end());
  }
  return Status::ok_status();
}

}  // namespace

Result<LoadedPlan> parse_plan(std::shared_ptr<const void> owner, const uint8_t* data, size_t size,
                              const std::string& source, bool private_file_mapping) {
  auto bad = [&](const auto&... args) { return corrupt_plan("plan '", source, "': ", args...); };
  if (size < sizeof(kPlanMagic) || std::memcmp(data, kPlanMagic, sizeof(kPlanMagic)) != 0) {
    return bad("not a vitrt plan (the file does not start with \"VITRTPLN\")");
  }
  if (size < kPlanFixedHeaderBytes) {
    return bad("truncated: ", size, " bytes, shorter than the ", kPlanFixedHeaderBytes,
               "-byte header");
  }
  LoadedPlan plan;
  plan.format_version = get_u32(data + 8);
  if (plan.format_version > kPlanFormatVersion) {
    return bad("plan format version ", plan.format_version, " is newer than this vitrt (max ",
               kPlanFormatVersion, "): rebuild the plan or upgrade vitrt");
  }
  if (plan.format_version == 0) return bad("format version 0 is invalid");
  const uint32_t header_bytes = get_u32(data + 12);
  const uint32_t section_count = get_u32(data + 16);
  const uint32_t header_crc = get_u32(data + 20);
  const uint32_t body_crc = get_u32(data + 24);
  plan.file_bytes = get_u64(data + 32);
  if (plan.file_bytes != size) {
    return bad("truncated or extended: the header says ", plan.file_bytes, " bytes, the file has ",
               size);
  }
  if (section_count > 64 ||
      header_bytes != kPlanFixedHeaderBytes + section_count * kPlanSectionEntryBytes ||
      header_bytes > size) {
    return bad("header size ", header_bytes, " does not fit ", section_count,
               " sections in a file of ", size, " bytes");
  }
  {
    std::vector<uint8_t> header(data, data + header_bytes);
    std::memset(&header[20], 0, 4);
    const uint32_t actual = crc32c(header.data(), header.size());
    if (actual != header_crc) {
      return bad("header checksum mismatch (stored ", header_crc, ", computed ", actual,
                 "): the file is corrupt");
    }
  }
  // The check reads every byte of the mapping; each checked chunk's pages are dropped right
  // away (the mapping is private and read-only, so they read back from the file when a kernel
  // needs them). Otherwise the whole plan would sit in the process's memory at once, on top of
  // the copies the kernels pack from it: a peak ONNX Runtime does not have.
  uint32_t actual_body = 0;
  {
    static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    constexpr size_t kChunk = size_t{16} << 20;
    for (size_t at = header_bytes; at < size;) {
      const size_t n = std::min(kChunk, size - at);
      actual_body = crc32c(data + at, n, actual_body);
      const uintptr_t first = (reinterpret_cast<uintptr_t>(data + at) + page - 1) / page * page;
      const uintptr_t last = reinterpret_cast<uintptr_t>(data + at + n) / page * page;
      if (private_file_mapping && first < last) {
        (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
      }
      at += n;
    }
  }
  if (actual_body != body_crc) {
    return bad("checksum mismatch over the sections (stored ", body_crc, ", computed ", actual_body,
               "): the file is corrupt or was modified");
  }

  const PlanSectionInfo* found[4] = {nullptr, nullptr, nullptr, nullptr};
  plan.sections.reserve(section_count);
  for (uint32_t i = 0; i < section_count; ++i) {
    const uint8_t* e = data + kPlanFixedHeaderBytes + i * kPlanSectionEntryBytes;
    PlanSectionInfo s{static_cast<PlanSection>(get_u32(e)), get_u64(e + 8), get_u64(e + 16)};
    const uint32_t kind = get_u32(e);
    if (kind < 1 || kind > 3) return bad("section ", i, " has unknown kind ", kind);
    if (found[kind]) return bad("section '", section_name(s.kind), "' appears twice");
    if (s.offset < header_bytes || s.offset > size || s.size > size - s.offset) {
      return bad("section '", section_name(s.kind), "' (", s.size, " bytes at offset ", s.offset,
                 ") lies outside the file (", size, " bytes)");
    }
    plan.sections.push_back(s);
    found[kind] = &plan.sections.back();
  }
  for (uint32_t kind = 1; kind <= 3; ++kind) {
    if (!found[kind]) {
      return bad("missing the '", section_name(static_cast<PlanSection>(kind)), "' section");
    }
  }
  const PlanSectionInfo& w = *found[static_cast<int>(PlanSection::kWeights)];
  if (w.offset % kPlanWeightsAlignment != 0) {
    return bad("weights section offset ", w.offset, " is not ", kPlanWeightsAlignment,
               "-byte aligned");
  }

  const PlanSectionInfo& m = *found[static_cast<int>(PlanSection::kMetadata)];
  PlanByteReader meta_reader(data + m.offset, m.size, source, "metadata section");
  VITRT_RETURN_IF_ERROR(read_metadata(meta_reader, plan));

  const PlanSectionInfo& gs = *found[static_cast<int>(PlanSection::kGraph)];
  PlanByteReader graph_reader(data + gs.offset, gs.size, source, "graph section");
  VITRT_RETURN_IF_ERROR(read_graph(graph_reader, {data + w.offset, w.size, owner}, plan.graph));
  if (plan.format_version < 3) VITRT_RETURN_IF_ERROR(upgrade_channels_last_conv(plan.graph));
  Status valid = plan.graph.validate();
  if (!valid.ok()) return bad("the stored graph is inconsistent: ", valid.message());
  return plan;
}

Result<LoadedPlan> read_plan_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found("cannot open plan '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return io_error("'", path, "' is not a regular file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return corrupt_plan("plan '", path, "': the file is empty");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return io_error("cannot map plan '", path, "': ", std::strerror(errno));
  // The mapping lives as long as any Tensor borrowed from it.
  std::shared_ptr<const void> owner(
      map, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  Result<LoadedPlan> plan = parse_plan(owner, static_cast<const uint8_t*>(map), size, path,
                                       /*private_file_mapping=*/true);
  if (plan.ok()) {
    plan->mapped_data = static_cast<const uint8_t*>(map);
    plan->mapped_bytes = size;
  }
  return plan;
}

bool file_has_plan_magic(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[sizeof(kPlanMagic)] = {};
  const size_t n = std::fread(magic, 1, sizeof(magic), f);
  std::fclose(f);
  return n == sizeof(magic) && std::memcmp(magic, kPlanMagic, sizeof(magic)) == 0;
}

}  // namespace vitrt
