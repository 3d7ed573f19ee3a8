// TensorProto decoding: dims, data_type, raw_data, the typed *_data fields and external data.
#include "onnx/tensor_proto.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "onnx/mapped_file.h"
#include "onnx/onnx_import.h"
#include "onnx/wire_reader.h"

namespace vitrt {

namespace {

// TensorProto field numbers (onnx.proto).
enum TensorField : uint32_t {
  kDims = 1,
  kDataType = 2,
  kSegment = 3,
  kFloatData = 4,
  kInt32Data = 5,
  kStringData = 6,
  kInt64Data = 7,
  kName = 8,
  kRawData = 9,
  kDoubleData = 10,
  kUInt64Data = 11,
  kExternalData = 13,
  kDataLocation = 14,
};

const char* tensor_field_name(uint32_t number) {
  switch (number) {
    case kDims:
      return "dims";
    case kDataType:
      return "data_type";
    case kFloatData:
      return "float_data";
    case kInt32Data:
      return "int32_data";
    case kInt64Data:
      return "int64_data";
    case kName:
      return "name";
    case kRawData:
      return "raw_data";
    case kDoubleData:
      return "double_data";
    case kUInt64Data:
      return "uint64_data";
    case kExternalData:
      return "external_data";
    case kDataLocation:
      return "data_location";
    default:
      return nullptr;
  }
}

constexpr int32_t kOnnxString = 8;
constexpr int64_t kDataLocationExternal = 1;

// Fields as read from the wire, before they are checked against each other.
struct TensorFields {
  std::string name;
  std::vector<int64_t> dims;
  int32_t data_type = 0;
  bool has_raw = false;
  std::string_view raw;
  std::vector<float> float_data;
  std::vector<int64_t> int32_data;  // varints; low bits carry narrower types
  std::vector<int64_t> int64_data;
  std::vector<uint64_t> double_data;  // bit patterns
  std::vector<int64_t> uint64_data;
  bool has_string_data = false;
  bool has_segment = false;
  int64_t data_location = 0;
  std::vector<std::pair<std::string, std::string>> external;
};

std::string tensor_label(const std::string& name, const std::string& where) {
  std::string s = name.empty() ? std::string("TensorProto") : str_cat("TensorProto '", name, "'");
  return where.empty() ? s : str_cat(s, " in ", where);
}

Status read_key_value(const WireField& f, std::pair<std::string, std::string>* out) {
  VITRT_ASSIGN_OR_RETURN(std::string_view bytes, wire_bytes(f, "TensorProto.external_data"));
  WireReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
               "StringStringEntryProto");
  while (!r.done()) {
    WireField kv;
    VITRT_RETURN_IF_ERROR(r.next(&kv));
    if (kv.number == 1) {
      VITRT_ASSIGN_OR_RETURN(out->first, wire_string(kv, "external_data key"));
    } else if (kv.number == 2) {
      VITRT_ASSIGN_OR_RETURN(out->second, wire_string(kv, "external_data value"));
    }
  }
  return Status();
}

Status read_field(const WireField& f, TensorFields* t) {
  switch (f.number) {
    case kDims:
      return append_varints(f, "TensorProto.dims", &t->dims);
    case kDataType: {
      VITRT_ASSIGN_OR_RETURN(t->data_type, wire_int32(f, "TensorProto.data_type"));
      return Status();
    }
    case kSegment:
      t->has_segment = true;
      return Status();
    case kFloatData:
      return append_floats(f, "TensorProto.float_data", &t->float_data);
    case kInt32Data:
      return append_varints(f, "TensorProto.int32_data", &t->int32_data);
    case kStringData:
      t->has_string_data = true;
      return Status();
    case kInt64Data:
      return append_varints(f, "TensorProto.int64_data", &t->int64_data);
    case kName: {
      VITRT_ASSIGN_OR_RETURN(t->name, wire_string(f, "TensorProto.name"));
      return Status();
    }
    case kRawData: {
      VITRT_ASSIGN_OR_RETURN(t->raw, wire_bytes(f, "TensorProto.raw_data"));
      t->has_raw = true;
      return Status();
    }
    case kDoubleData:
      return append_fixed64(f, "TensorProto.double_data", &t->double_data);
    case kUInt64Data:
      return append_varints(f, "TensorProto.uint64_data", &t->uint64_data);
    case kExternalData: {
      std::pair<std::string, std::string> kv;
      VITRT_RETURN_IF_ERROR(read_key_value(f, &kv));
      t->external.push_back(std::move(kv));
      return Status();
    }
    case kDataLocation: {
      VITRT_ASSIGN_OR_RETURN(t->data_location, wire_int64(f, "TensorProto.data_location"));
      return Status();
    }
    default:
      return Status();  // doc_string, metadata_props and fields of newer versions
  }
}

// The element count of `dims`, or an error when a dim is negative or the byte size overflows.
Result<int64_t> checked_numel(const std::vector<int64_t>& dims, size_t elem_size) {
  int64_t n = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] < 0) return invalid_model("dims[", i, "] is negative (", dims[i], ")");
    if (__builtin_mul_overflow(n, dims[i], &n)) {
      return invalid_model("dims ", shape_to_string(dims), " overflow the element count");
    }
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(elem_size), &bytes)) {
    return invalid_model("dims ", shape_to_string(dims), " overflow the byte size");
  }
  return n;
}

// True when `location` stays inside the base folder: relative, no '..' component, no NUL.
bool is_contained_relative_path(const std::string& location) {
  if (location.empty() || location[0] == '/' || location[0] == '\\') return false;
  if (location.find('\0') != std::string::npos) return false;
  if (location.size() >= 2 && location[1] == ':') return false;  // "C:..."
  size_t start = 0;
  while (start <= location.size()) {
    size_t end = location.find_first_of("/\\", start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

Result<uint64_t> parse_decimal(const std::string& key, const std::string& text) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return invalid_model("external_data '", key, "' is '", text,
                         "', expected a non-negative integer");
  }
  return v;
}

// Reads external data; the file's size is checked before the tensor is allocated.
Result<Tensor> read_external(const TensorFields& f, const std::string& base_dir, DType dt,
                             uint64_t nbytes) {
  std::string location;
  std::optional<uint64_t> offset, length;
  for (const auto& [key, value] : f.external) {
    if (key == "location") {
      location = value;
    } else if (key == "offset") {
      VITRT_ASSIGN_OR_RETURN(offset, parse_decimal(key, value));
    } else if (key == "length") {
      VITRT_ASSIGN_OR_RETURN(length, parse_decimal(key, value));
    }
  }
  if (location.empty()) return invalid_model("external data has no 'location'");
  if (base_dir.empty()) {
    return invalid_model("external data '", location,
                         "' cannot be resolved: the model was not loaded from a folder");
  }
  if (!is_contained_relative_path(location)) {
    return invalid_model("external data location '", location,
                         "' must be a relative path inside the model's folder");
  }
  if (length && *length != nbytes) {
    return invalid_model("external data length ", *length, " does not match the ", nbytes,
                         " bytes of ", dtype_name(dt), shape_to_string(f.dims));
  }
  const std::string path = base_dir + "/" + location;
  uint64_t file_size = 0;
  VITRT_ASSIGN_OR_RETURN(int fd, open_regular_file(path, &file_size));
  const uint64_t begin = offset.value_or(0);
  if (begin > file_size || nbytes > file_size - begin) {
    ::close(fd);
    return invalid_model("external data '", location, "': offset ", begin, " + length ", nbytes,
                         " exceeds the file size ", file_size);
  }
  Tensor t = Tensor::empty(dt, f.dims);
  auto* dst = static_cast<uint8_t*>(t.raw_data());
  uint64_t done = 0;
  while (done < nbytes) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(nbytes - done, 1u << 30));
    const ssize_t got = ::pread(fd, dst + done, chunk, static_cast<off_t>(begin + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int err = errno;
      ::close(fd);
      return io_error("reading external data '", path, "' failed",
                      got < 0 ? str_cat(": ", std::strerror(err)) : std::string(": short read"));
    }
    done += static_cast<uint64_t>(got);
  }
  ::close(fd);
  return t;
}

template <typename Dst, typename Src>
void narrow_copy(const std::vector<Src>& src, Tensor* t) {
  Dst* dst = t->data<Dst>();
  for (size_t i = 0; i < src.size(); ++i) dst[i] = static_cast<Dst>(src[i]);
}

// The typed field that carries values of `dt`, and how many values it holds.
size_t typed_field_count(const TensorFields& f, DType dt, const char** field) {
  switch (dt) {
    case DType::kFloat32:
      *field = "float_data";
      return f.float_data.size();
    case DType::kInt64:
      *field = "int64_data";
      return f.int64_data.size();
    case DType::kFloat64:
      *field = "double_data";
      return f.double_data.size();
    case DType::kUInt32:
    case DType::kUInt64:
      *field = "uint64_data";
      return f.uint64_data.size();
    default:  // int32_data also carries the narrower integers, bool, float16 and bfloat16
      *field = "int32_data";
      return f.int32_data.size();
  }
}

// Fills `t` from the typed field that carries its dtype; the count was checked.
Status copy_typed_fields(const TensorFields& f, Tensor* t) {
  const DType dt = t->dtype();
  const size_t count = static_cast<size_t>(t->numel());
  if (count == 0) return Status();
  switch (dt) {
    case DType::kFloat32:
      std::memcpy(t->raw_data(), f.float_data.data(), count * sizeof(float));
      break;
    case DType::kInt64:
      std::memcpy(t->raw_data(), f.int64_data.data(), count * sizeof(int64_t));
      break;
    case DType::kFloat64:
      std::memcpy(t->raw_data(), f.double_data.data(), count * sizeof(double));
      break;
    case DType::kUInt64:
      narrow_copy<uint64_t>(f.uint64_data, t);
      break;
    case DType::kUInt32:
      narrow_copy<uint32_t>(f.uint64_data, t);
      break;
    case DType::kInt32:
      narrow_copy<int32_t>(f.int32_data, t);
      break;
    case DType::kInt16:
      narrow_copy<int16_t>(f.int32_data, t);
      break;
    case DType::kInt8:
      narrow_copy<int8_t>(f.int32_data, t);
      break;
    case DType::kUInt16:
    case DType::kFloat16:  // int32_data holds the 16-bit patterns
    case DType::kBFloat16:
      narrow_copy<uint16_t>(f.int32_data, t);
      break;
    case DType::kUInt8:
    case DType::kFloat8E4M3FN:  // int32_data holds the 8-bit patterns
    case DType::kFloat8E5M2:
      narrow_copy<uint8_t>(f.int32_data, t);
      break;
    case DType::kBool: {
      uint8_t* dst = t->data<uint8_t>();
      for (size_t i = 0; i < count; ++i) dst[i] = f.int32_data[i] != 0 ? 1 : 0;
      break;
    }
    default:
      return internal_error("no typed field for ", dtype_name(dt));
  }
  return Status();
}

Result<Tensor> build_tensor(const TensorFields& f, const std::string& base_dir) {
  if (f.has_segment) return unsupported("segmented tensors are not supported");
  if (f.data_type == kOnnxString) return unsupported("string tensors are not supported");
  if (f.data_type == 0) return invalid_model("data_type is not set");
  const DType dt = dtype_from_onnx(f.data_type);
  if (!dtype_is_storable(dt)) {
    return unsupported("data type ", onnx_dtype_name(f.data_type), " is not supported");
  }
  VITRT_ASSIGN_OR_RETURN(int64_t numel, checked_numel(f.dims, dtype_size(dt)));
  const size_t nbytes = static_cast<size_t>(numel) * dtype_size(dt);
  const bool external = f.data_location == kDataLocationExternal;
  // Inline data must already be in the buffer and external data in its file, so hostile dims
  // cannot make us allocate more than the input holds.
  if (!external && f.has_raw && f.raw.size() != nbytes) {
    return invalid_model(dtype_name(dt), shape_to_string(f.dims), " needs ", nbytes,
                         " bytes but raw_data holds ", f.raw.size());
  }
  if (f.has_raw && !external) {
    return Tensor::copy_from(dt, f.dims, f.raw.data(), f.raw.size());
  }
  if (!external) {
    // Check the count before allocating: a hostile dims field must not make us allocate more
    // than the values the buffer really holds.
    const char* field = nullptr;
    const size_t count = typed_field_count(f, dt, &field);
    if (count != static_cast<size_t>(numel)) {
      return invalid_model(dtype_name(dt), shape_to_string(f.dims), " has ", numel,
                           " elements but ", field, " holds ", count, " values",
                           count == 0 ? " (and there is no raw_data)" : "");
    }
  }
  if (external) return read_external(f, base_dir, dt, nbytes);
  Tensor t = Tensor::empty(dt, f.dims);
  VITRT_RETURN_IF_ERROR(copy_typed_fields(f, &t));
  return t;
}

}  // namespace

std::string onnx_dtype_name(int32_t onnx_type) {
  switch (onnx_type) {
    case 8:
      return "string";
    case 14:
      return "complex64";
    case 15:
      return "complex128";
    case 17:
      return "float8e4m3fn";
    case 18:
      return "float8e4m3fnuz";
    case 19:
      return "float8e5m2";
    case 20:
      return "float8e5m2fnuz";
    case 21:
      return "uint4";
    case 22:
      return "int4";
    case 23:
      return "float4e2m1";
    default: {
      const DType dt = dtype_from_onnx(onnx_type);
      if (dt != DType::kUndefined) return dtype_name(dt);
      return str_cat("type ", onnx_type);
    }
  }
}

Result<Tensor> decode_tensor_proto(const uint8_t* data, size_t size, const std::string& base_dir,
                                   const std::string& where, std::string* name) {
  TensorFields f;
  WireReader reader(data, size, tensor_label("", where), tensor_field_name);
  while (!reader.done()) {
    WireField field;
    VITRT_RETURN_IF_ERROR(reader.next(&field));
    Status st = read_field(field, &f);
    if (!st.ok()) return st.with_context(reader.label());
    if (field.number == kName) reader.set_label(tensor_label(f.name, where));
  }
  if (name) *name = f.name;
  auto tensor = build_tensor(f, base_dir);
  if (!tensor.ok()) return tensor.status().with_context(tensor_label(f.name, where));
  return tensor;
}

Result<Tensor> parse_tensor_proto(const uint8_t* data, size_t size, const std::string& base_dir) {
  return decode_tensor_proto(data, size, base_dir, "", nullptr);
}

Result<Tensor> parse_tensor_proto_file(const std::string& path, std::string* name) {
  VITRT_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  const size_t slash = path.find_last_of('/');
  const std::string base_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  auto t =
      decode_tensor_proto(file.data(), file.size(), base_dir.empty() ? "/" : base_dir, "", name);
  if (!t.ok()) return t.status().with_context(str_cat("'", path, "'"));
  return t;
}

}  // namespace vitrt
