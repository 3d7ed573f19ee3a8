// Protobuf wire-format reading with every length checked against the remaining bytes.
#include "onnx/wire_reader.h"

#include <bit>
#include <cstring>

namespace vitrt {

namespace {

constexpr int kMaxVarintBytes = 10;
// Groups are obsolete; a file nesting them this deep is hostile, not a model.
constexpr int kMaxGroupDepth = 64;

// Reads a varint from [*pos, size); false when it is truncated or longer than 10 bytes.
bool decode_varint(const uint8_t* data, size_t size, size_t* pos, uint64_t* value) {
  uint64_t result = 0;
  for (int i = 0; i < kMaxVarintBytes; ++i) {
    if (*pos >= size) return false;
    const uint8_t byte = data[(*pos)++];
    result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      *value = result;
      return true;
    }
  }
  return false;
}

Status wrong_type(const WireField& f, const char* what, const char* expected) {
  return invalid_model(what, " (field ", f.number, ") has wire type ", wire_type_name(f.type),
                       ", expected ", expected);
}

}  // namespace

const char* wire_type_name(WireType type) {
  switch (type) {
    case WireType::kVarint:
      return "varint";
    case WireType::kFixed64:
      return "fixed64";
    case WireType::kLengthDelimited:
      return "length-delimited";
    case WireType::kStartGroup:
      return "start-group";
    case WireType::kEndGroup:
      return "end-group";
    case WireType::kFixed32:
      return "fixed32";
  }
  return "unknown";
}

Status WireReader::error(uint32_t field_number, size_t at, const std::string& what) const {
  if (field_number == 0) {
    return invalid_model("malformed ", label_, " at offset ", at, ": ", what);
  }
  return invalid_model("malformed ", label_, ": field ", field_number, " at offset ", at, ": ",
                       what);
}

Status WireReader::read_varint(uint64_t* value, uint32_t field_number) {
  const size_t start = pos_;
  if (!decode_varint(data_, size_, &pos_, value)) {
    const bool truncated = pos_ >= size_;
    pos_ = start;
    if (truncated) {
      return invalid_model("truncated ", label_, ": varint",
                           field_number ? str_cat(" of field ", field_number) : std::string(),
                           " at offset ", start, " runs past the end (", size_ - start,
                           " bytes remain)");
    }
    return error(field_number, start, "varint longer than 10 bytes");
  }
  return Status();
}

Status WireReader::skip_group(uint32_t field_number) {
  // Iterative, so that deep nesting cannot exhaust the stack.
  std::vector<uint32_t> open = {field_number};
  while (!open.empty()) {
    const size_t at = pos_;
    if (done()) {
      return invalid_model("truncated ", label_, ": group field ", open.back(),
                           " has no end-group tag");
    }
    uint64_t tag = 0;
    VITRT_RETURN_IF_ERROR(read_varint(&tag, 0));
    const uint64_t number = tag >> 3;
    const uint64_t type = tag & 7;
    if (number == 0 || number > 0x1fffffff) {
      return error(0, at, str_cat("invalid field number ", number));
    }
    switch (type) {
      case 0: {
        uint64_t ignored = 0;
        VITRT_RETURN_IF_ERROR(read_varint(&ignored, static_cast<uint32_t>(number)));
        break;
      }
      case 1:
      case 5: {
        const size_t n = type == 1 ? 8 : 4;
        if (remaining() < n) {
          return invalid_model("truncated ", label_, ": field ", number, " at offset ", at,
                               " needs ", n, " bytes, ", remaining(), " remain");
        }
        pos_ += n;
        break;
      }
      case 2: {
        uint64_t len = 0;
        VITRT_RETURN_IF_ERROR(read_varint(&len, static_cast<uint32_t>(number)));
        if (len > remaining()) {
          return invalid_model("truncated ", label_, ": field ", number, " at offset ", at,
                               ": length ", len, " exceeds remaining ", remaining(), " bytes");
        }
        pos_ += static_cast<size_t>(len);
        break;
      }
      case 3:
        if (open.size() >= kMaxGroupDepth) {
          return error(static_cast<uint32_t>(number), at, "groups nested too deeply");
        }
        open.push_back(static_cast<uint32_t>(number));
        break;
      case 4:
        if (number != open.back()) {
          return error(static_cast<uint32_t>(number), at,
                       str_cat("end-group tag does not match start-group field ", open.back()));
        }
        open.pop_back();
        break;
      default:
        return error(static_cast<uint32_t>(number), at, str_cat("invalid wire type ", type));
    }
  }
  return Status();
}

Status WireReader::next(WireField* field) {
  const size_t at = pos_;
  if (done()) return internal_error("WireReader::next called at the end of ", label_);
  uint64_t tag = 0;
  VITRT_RETURN_IF_ERROR(read_varint(&tag, 0));
  const uint64_t number = tag >> 3;
  const uint64_t type = tag & 7;
  if (number == 0 || number > 0x1fffffff) {
    return error(0, at, str_cat("invalid field number ", number));
  }
  *field = WireField();
  field->number = static_cast<uint32_t>(number);
  field->type = static_cast<WireType>(type);
  switch (type) {
    case 0:
      return read_varint(&field->scalar, field->number);
    case 1:
    case 5: {
      const size_t n = type == 1 ? 8 : 4;
      if (remaining() < n) {
        return invalid_model("truncated ", label_, ": field ", number, " (",
                             wire_type_name(field->type), ") at offset ", at, " needs ", n,
                             " bytes, ", remaining(), " remain");
      }
      uint64_t bits = 0;
      for (size_t i = 0; i < n; ++i) bits |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
      field->scalar = bits;
      pos_ += n;
      return Status();
    }
    case 2: {
      uint64_t len = 0;
      VITRT_RETURN_IF_ERROR(read_varint(&len, field->number));
      if (len > remaining()) {
        return invalid_model("truncated ", label_, ": field ", number,
                             " (length-delimited) at offset ", at, ": length ", len,
                             " exceeds remaining ", remaining(), " bytes");
      }
      field->data = data_ + pos_;
      field->size = static_cast<size_t>(len);
      pos_ += field->size;
      return Status();
    }
    case 3:
      // Handed back without content: callers ignore it as an unknown field, and the typed
      // accessors reject it where a known field number is expected.
      return skip_group(field->number);
    case 4:
      return error(field->number, at, "end-group tag without a start-group tag");
    default:
      return error(field->number, at, str_cat("invalid wire type ", type));
  }
}

Result<int64_t> wire_int64(const WireField& f, const char* what) {
  if (f.type != WireType::kVarint) return wrong_type(f, what, "varint");
  return static_cast<int64_t>(f.scalar);
}

Result<int32_t> wire_int32(const WireField& f, const char* what) {
  if (f.type != WireType::kVarint) return wrong_type(f, what, "varint");
  // int32 fields are written sign-extended to 64 bits; keep the low 32 like protobuf does.
  return static_cast<int32_t>(static_cast<uint32_t>(f.scalar));
}

Result<float> wire_float(const WireField& f, const char* what) {
  if (f.type != WireType::kFixed32) return wrong_type(f, what, "fixed32");
  const uint32_t bits = static_cast<uint32_t>(f.scalar);
  float v;
  std::memcpy(&v, &bits, sizeof(v));
  return v;
}

Result<std::string_view> wire_bytes(const WireField& f, const char* what) {
  if (f.type != WireType::kLengthDelimited) return wrong_type(f, what, "length-delimited");
  return std::string_view(reinterpret_cast<const char*>(f.data), f.size);
}

Result<std::string> wire_string(const WireField& f, const char* what) {
  VITRT_ASSIGN_OR_RETURN(std::string_view view, wire_bytes(f, what));
  return std::string(view);
}

Status append_varints(const WireField& f, const char* what, std::vector<int64_t>* out) {
  if (f.type == WireType::kVarint) {
    out->push_back(static_cast<int64_t>(f.scalar));
    return Status();
  }
  if (f.type != WireType::kLengthDelimited) return wrong_type(f, what, "varint or packed");
  size_t pos = 0;
  while (pos < f.size) {
    uint64_t v = 0;
    const size_t start = pos;
    if (!decode_varint(f.data, f.size, &pos, &v)) {
      return invalid_model("malformed ", what, " (field ", f.number, "): packed varint at byte ",
                           start, " of ", f.size, " is truncated or too long");
    }
    out->push_back(static_cast<int64_t>(v));
  }
  return Status();
}

namespace {

template <typename T>
Status append_fixed(const WireField& f, const char* what, WireType single, std::vector<T>* out) {
  if (f.type == single) {
    out->push_back(static_cast<T>(f.scalar));
    return Status();
  }
  if (f.type != WireType::kLengthDelimited) {
    return wrong_type(f, what,
                      single == WireType::kFixed32 ? "fixed32 or packed" : "fixed64 or packed");
  }
  if (f.size % sizeof(T) != 0) {
    return invalid_model("malformed ", what, " (field ", f.number, "): packed length ", f.size,
                         " is not a multiple of ", sizeof(T));
  }
  const size_t n = f.size / sizeof(T);
  const size_t old = out->size();
  out->resize(old + n);
  // The wire is little-endian, as is every host vitrt builds for.
  static_assert(std::endian::native == std::endian::little);
  if (n) std::memcpy(out->data() + old, f.data, f.size);
  return Status();
}

}  // namespace

Status append_fixed32(const WireField& f, const char* what, std::vector<uint32_t>* out) {
  return append_fixed(f, what, WireType::kFixed32, out);
}

Status append_fixed64(const WireField& f, const char* what, std::vector<uint64_t>* out) {
  return append_fixed(f, what, WireType::kFixed64, out);
}

Status append_floats(const WireField& f, const char* what, std::vector<float>* out) {
  if (f.type == WireType::kFixed32) {
    VITRT_ASSIGN_OR_RETURN(float v, wire_float(f, what));
    out->push_back(v);
    return Status();
  }
  if (f.type != WireType::kLengthDelimited) return wrong_type(f, what, "fixed32 or packed");
  if (f.size % sizeof(float) != 0) {
    return invalid_model("malformed ", what, " (field ", f.number, "): packed length ", f.size,
                         " is not a multiple of 4");
  }
  const size_t old = out->size();
  out->resize(old + f.size / sizeof(float));
  if (f.size) std::memcpy(out->data() + old, f.data, f.size);
  return Status();
}

}  // namespace vitrt
