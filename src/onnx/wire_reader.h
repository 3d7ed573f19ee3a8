// A small, bounds-checked reader of the protobuf wire format.
//
// vitrt parses ONNX files with this reader instead of generated protobuf code: every varint,
// length and offset is checked against the bytes that remain, so a truncated or hostile file
// produces a Status that says what was being read, never a crash or an absurd allocation.
// The reader knows nothing about ONNX; callers dispatch on field numbers and use the typed
// accessors below, which check the wire type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vitrt/status.h"

namespace vitrt {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,  // deprecated groups: skipped whole, handed back without content
  kEndGroup = 4,
  kFixed32 = 5,
};

const char* wire_type_name(WireType type);

// One field as read from the wire.
struct WireField {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  uint64_t scalar = 0;            // kVarint, kFixed64, kFixed32: the value's bits
  const uint8_t* data = nullptr;  // kLengthDelimited: the payload (inside the reader's buffer)
  size_t size = 0;
};

class WireReader {
 public:
  // `label` names the message being read ("TensorProto 'w' in graph initializer 12") for error
  // texts; callers refine it as they learn more (the tensor's name).
  WireReader(const uint8_t* data, size_t size, std::string label)
      : data_(data), size_(size), label_(std::move(label)) {}

  const std::string& label() const { return label_; }
  void set_label(std::string label) { label_ = std::move(label); }

  bool done() const { return pos_ >= size_; }
  size_t offset() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  // Reads the next field; a group is skipped whole and handed back as a kStartGroup field. Errors
  // say which field and offset were being read and why ("truncated TensorProto: field 9
  // (length-delimited) at offset 20: length 4000 exceeds remaining 12 bytes").
  Status next(WireField* field);

 private:
  Status read_varint(uint64_t* value, uint32_t field_number);
  Status skip_group(uint32_t field_number);
  Status error(uint32_t field_number, size_t at, const std::string& what) const;

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string label_;
};

// Typed views of a field. `what` names the field ("TensorProto.dims") in the error raised when
// the wire type does not fit.
Result<int64_t> wire_int64(const WireField& f, const char* what);  // varint, two's complement
Result<int32_t> wire_int32(const WireField& f, const char* what);  // varint, truncated to 32
Result<float> wire_float(const WireField& f, const char* what);    // fixed32
Result<std::string_view> wire_bytes(const WireField& f, const char* what);
Result<std::string> wire_string(const WireField& f, const char* what);

// Repeated scalars arrive either one per field or packed in one length-delimited field; both
// are accepted (protobuf parsers must). Values are appended to `out`.
Status append_varints(const WireField& f, const char* what, std::vector<int64_t>* out);
Status append_fixed32(const WireField& f, const char* what, std::vector<uint32_t>* out);
Status append_fixed64(const WireField& f, const char* what, std::vector<uint64_t>* out);
Status append_floats(const WireField& f, const char* what, std::vector<float>* out);

}  // namespace vitrt
