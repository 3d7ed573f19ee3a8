// A tiny protobuf wire-format writer for the importer tests: builds messages byte by byte so
// that tests can produce encodings the onnx package never writes (unpacked repeated fields,
// groups, unknown fields, hostile lengths).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace vitrt::testing {

class ProtoWriter {
 public:
  ProtoWriter& varint(uint32_t field, uint64_t v) {
    tag(field, 0);
    raw_varint(v);
    return *this;
  }
  ProtoWriter& fixed32(uint32_t field, uint32_t v) {
    tag(field, 5);
    for (int i = 0; i < 4; ++i) buf_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  ProtoWriter& fixed64(uint32_t field, uint64_t v) {
    tag(field, 1);
    for (int i = 0; i < 8; ++i) buf_.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  ProtoWriter& float32(uint32_t field, float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return fixed32(field, bits);
  }
  ProtoWriter& bytes(uint32_t field, std::string_view data) {
    tag(field, 2);
    raw_varint(data.size());
    buf_.append(data);
    return *this;
  }
  ProtoWriter& message(uint32_t field, const ProtoWriter& m) { return bytes(field, m.str()); }
  ProtoWriter& packed_varints(uint32_t field, const std::vector<int64_t>& values) {
    ProtoWriter payload;
    for (int64_t v : values) payload.raw_varint(static_cast<uint64_t>(v));
    return bytes(field, payload.str());
  }
  ProtoWriter& start_group(uint32_t field) {
    tag(field, 3);
    return *this;
  }
  ProtoWriter& end_group(uint32_t field) {
    tag(field, 4);
    return *this;
  }
  void tag(uint32_t field, int type) { raw_varint((static_cast<uint64_t>(field) << 3) | type); }
  void raw_varint(uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<char>(v));
  }
  void raw(std::string_view data) { buf_.append(data); }

  const std::string& str() const { return buf_; }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(buf_.data()); }
  size_t size() const { return buf_.size(); }

 private:
  std::string buf_;
};

}  // namespace vitrt::testing
