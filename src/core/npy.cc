// .npy reading and writing. The header is a Python dict literal; we parse exactly the subset
// NumPy writes ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }) with a small
// recursive-descent reader so that malformed headers give a message instead of a crash.
#include "core/npy.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>

namespace vitrt {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct DescrEntry {
  const char* descr;
  DType dtype;
};
// The spelling NumPy writes for each dtype; '<' and '|' are both accepted for one-byte types.
constexpr DescrEntry kDescrs[] = {
    {"<f4", DType::kFloat32}, {"<f8", DType::kFloat64}, {"<f2", DType::kFloat16},
    {"<i8", DType::kInt64},   {"<i4", DType::kInt32},   {"<i2", DType::kInt16},
    {"|i1", DType::kInt8},    {"|u1", DType::kUInt8},   {"<u2", DType::kUInt16},
    {"<u4", DType::kUInt32},  {"<u8", DType::kUInt64},  {"|b1", DType::kBool},
};

std::optional<DType> dtype_from_descr(std::string descr) {
  if (descr.size() == 3 && descr[0] == '<' && descr[2] == '1') descr[0] = '|';
  if (descr == "|?" || descr == "?") return DType::kBool;  // another spelling of bool
  for (const DescrEntry& e : kDescrs) {
    if (descr == e.descr) return e.dtype;
  }
  return std::nullopt;
}

const char* descr_from_dtype(DType dtype) {
  for (const DescrEntry& e : kDescrs) {
    if (e.dtype == dtype) return e.descr;
  }
  return nullptr;
}

// Reads the header dict. Each method returns false on a syntax error; `error_` says where.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& source) : text_(text), source_(source) {}

  Status parse(std::string* descr, bool* fortran_order, std::vector<int64_t>* shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    if (!consume('{')) return error("header does not start with '{'");
    while (true) {
      skip_space();
      if (consume('}')) break;
      std::string key;
      if (!parse_string(&key)) return error("expected a quoted key");
      skip_space();
      if (!consume(':')) return error(str_cat("expected ':' after key '", key, "'"));
      skip_space();
      if (key == "descr") {
        if (!parse_string(descr)) {
          return error("field 'descr' is not a string (structured dtypes are unsupported)");
        }
        have_descr = true;
      } else if (key == "fortran_order") {
        if (match_word("True")) {
          *fortran_order = true;
        } else if (match_word("False")) {
          *fortran_order = false;
        } else {
          return error("field 'fortran_order' is not True or False");
        }
        have_order = true;
      } else if (key == "shape") {
        Status s = parse_shape(shape);
        if (!s.ok()) return s;
        have_shape = true;
      } else {
        return error(str_cat("unexpected field '", key, "'"));
      }
      skip_space();
      if (consume(',')) continue;
      skip_space();
      if (consume('}')) break;
      return error(str_cat("expected ',' or '}' after field '", key, "'"));
    }
    if (!have_descr) return error("missing field 'descr'");
    if (!have_order) return error("missing field 'fortran_order'");
    if (!have_shape) return error("missing field 'shape'");
    return Status::ok_status();
  }

 private:
  Status error(const std::string& what) const {
    return invalid_argument("'", source_, "': bad .npy header: ", what, " (at offset ", pos_,
                            " of header \"", text_, "\")");
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool match_word(const char* word) {
    const size_t n = std::strlen(word);
    if (text_.compare(pos_, n, word) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }
  bool parse_string(std::string* out) {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return false;
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string::npos) return false;
    *out = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return true;
  }
  Status parse_shape(std::vector<int64_t>* shape) {
    shape->clear();
    if (!consume('(')) return error("field 'shape' is not a tuple");
    while (true) {
      skip_space();
      if (consume(')')) break;
      if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        return error("field 'shape' holds something other than non-negative integers");
      }
      int64_t v = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        const int digit = text_[pos_++] - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) {
          return error("field 'shape' has a dimension that overflows int64");
        }
        v = v * 10 + digit;
      }
      if (consume('L')) {  // Python 2 long suffix
      }
      shape->push_back(v);
      skip_space();
      if (consume(',')) continue;
      skip_space();
      if (consume(')')) break;
      return error("field 'shape' is not a well-formed tuple");
    }
    return Status::ok_status();
  }

  const std::string& text_;
  const std::string& source_;
  size_t pos_ = 0;
};

uint32_t read_le(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

Result<Tensor> parse_npy(const uint8_t* data, size_t size, const std::string& source) {
  if (size < kMagicSize + 2 || std::memcmp(data, kMagic, kMagicSize) != 0) {
    return invalid_argument("'", source, "' is not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = data[6];
  const int minor = data[7];
  size_t header_len = 0;
  size_t header_start = 0;
  if (major == 1) {
    if (size < 10) return invalid_argument("'", source, "': .npy file truncated in its preamble");
    header_len = read_le(data + 8, 2);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return invalid_argument("'", source, "': .npy file truncated in its preamble");
    header_len = read_le(data + 8, 4);
    header_start = 12;
  } else {
    return unsupported("'", source, "': .npy format version ", major, ".", minor,
                       " is not supported (1.0, 2.0 and 3.0 are)");
  }
  if (header_len > size - header_start) {
    return invalid_argument("'", source, "': .npy header length ", header_len,
                            " runs past the end of the file (", size, " bytes)");
  }
  const std::string header(reinterpret_cast<const char*>(data + header_start), header_len);
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  VITRT_RETURN_IF_ERROR(HeaderParser(header, source).parse(&descr, &fortran_order, &shape));

  if (!descr.empty() && descr[0] == '>' && descr.size() == 3 && descr[2] != '1') {
    return unsupported("'", source, "': field 'descr' is '", descr,
                       "' (big-endian); save the array as little-endian (arr.astype('<",
                       descr.substr(1), "'))");
  }
  const std::optional<DType> dtype = dtype_from_descr(descr);
  if (!dtype) {
    return unsupported("'", source, "': field 'descr' is '", descr,
                       "'; supported dtypes are <f4 <f8 <f2 <i8 <i4 <i2 |i1 |u1 <u2 <u4 <u8 |b1");
  }
  if (fortran_order) {
    return unsupported("'", source,
                       "': field 'fortran_order' is True; save a C-order array "
                       "(np.ascontiguousarray)");
  }
  // Element count with overflow checks: a corrupt shape must not wrap around.
  const size_t elem = dtype_size(*dtype);
  size_t nbytes = elem;
  for (int64_t d : shape) {
    if (d != 0 && nbytes > std::numeric_limits<size_t>::max() / static_cast<size_t>(d)) {
      return invalid_argument("'", source, "': field 'shape' ", shape_to_string(shape),
                              " is too large");
    }
    nbytes *= static_cast<size_t>(d);
  }
  const size_t data_start = header_start + header_len;
  const size_t available = size - data_start;
  if (available < nbytes) {
    return invalid_argument("'", source, "': data truncated: shape ", shape_to_string(shape),
                            " of ", descr, " needs ", nbytes, " bytes, the file holds ", available);
  }
  if (available > nbytes) {
    return invalid_argument("'", source, "': ", available - nbytes,
                            " unexpected bytes after the data of shape ", shape_to_string(shape));
  }
  if (*dtype == DType::kBool) {
    for (size_t i = 0; i < nbytes; ++i) {
      if (data[data_start + i] > 1) {
        return invalid_argument("'", source, "': bool element ", i, " has byte value ",
                                static_cast<int>(data[data_start + i]), " (expected 0 or 1)");
      }
    }
  }
  return Tensor::copy_from(*dtype, shape, data + data_start, nbytes);
}

Result<Tensor> read_npy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open '", path, "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) return io_error("reading '", path, "' failed");
  return parse_npy(bytes.data(), bytes.size(), path);
}

Result<std::vector<uint8_t>> npy_bytes(const Tensor& tensor) {
  const char* descr = descr_from_dtype(tensor.dtype());
  if (descr == nullptr) {
    return unsupported("cannot write a ", dtype_name(tensor.dtype()),
                       " tensor as .npy: NumPy has no such dtype");
  }
  std::string shape = "(";
  for (int i = 0; i < tensor.rank(); ++i) {
    shape += std::to_string(tensor.dim(i));
    shape += tensor.rank() == 1 ? ",)" : (i + 1 < tensor.rank() ? ", " : ")");
  }
  if (tensor.rank() == 0) shape += ")";
  std::string header =
      str_cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': ", shape, ", }");
  // NumPy pads the header with spaces and a newline so the data starts 64-byte aligned.
  int version = 1;
  size_t preamble = 10;
  if (header.size() + 1 + preamble > 65535) {
    version = 2;
    preamble = 12;
  }
  const size_t total = (preamble + header.size() + 1 + 63) / 64 * 64;
  header.append(total - preamble - header.size() - 1, ' ');
  header.push_back('\n');

  std::vector<uint8_t> out;
  out.reserve(total + tensor.nbytes());
  out.insert(out.end(), kMagic, kMagic + kMagicSize);
  out.push_back(static_cast<uint8_t>(version));
  out.push_back(0);
  const size_t len = header.size();
  for (size_t i = 0; i < preamble - 8; ++i) out.push_back(static_cast<uint8_t>(len >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  const auto* bytes = static_cast<const uint8_t*>(tensor.raw_data());
  if (tensor.nbytes() > 0) out.insert(out.end(), bytes, bytes + tensor.nbytes());
  return out;
}

Status write_npy_file(const std::string& path, const Tensor& tensor) {
  VITRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, npy_bytes(tensor));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return io_error("cannot create '", path, "'");
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return io_error("writing '", path, "' failed");
  return Status::ok_status();
}

}  // namespace vitrt
