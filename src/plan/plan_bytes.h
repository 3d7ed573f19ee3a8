// Little-endian byte encoding for the plan's sections: an appending writer and a reader whose
// every read is bounds-checked (a corrupt count or length yields an error, never an overrun).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "vitrt/status.h"

namespace vitrt {

class PlanByteWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(v); }
  void u32(uint32_t v) { put(&v, 4); }
  void i32(int32_t v) { put(&v, 4); }
  void u64(uint64_t v) { put(&v, 8); }
  void i64(int64_t v) { put(&v, 8); }
  void f32(float v) { put(&v, 4); }
  void str(const std::string& s) {
    u64(s.size());
    put(s.data(), s.size());
  }
  void raw(const void* data, size_t n) { put(data, n); }
  void pad_to(size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(0);
  }
  size_t size() const { return bytes_.size(); }
  std::vector<uint8_t>& bytes() { return bytes_; }

 private:
  // The plan is little-endian; so are all the machines vitrt targets (x86-64, aarch64).
  void put(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + n);
  }
  std::vector<uint8_t> bytes_;
};

class PlanByteReader {
 public:
  // `what` names the section in messages ("graph section").
  PlanByteReader(const uint8_t* data, size_t size, std::string source, std::string what)
      : data_(data), size_(size), source_(std::move(source)), what_(std::move(what)) {}

  Result<uint8_t> u8(const char* field) {
    uint8_t v = 0;
    VITRT_RETURN_IF_ERROR(get(&v, 1, field));
    return v;
  }
  Result<uint32_t> u32(const char* field) {
    uint32_t v = 0;
    VITRT_RETURN_IF_ERROR(get(&v, 4, field));
    return v;
  }
  Result<int32_t> i32(const char* field) {
    int32_t v = 0;
    VITRT_RETURN_IF_ERROR(get(&v, 4, field));
    return v;
  }
  Result<uint64_t> u64(const char* field) {
    uint64_t v = 0;
    VITRT_RETURN_IF_ERROR(get(&v, 8, field));
    return v;
  }
  Result<int64_t> i64(const char* field) {
    int64_t v = 0;
    VITRT_RETURN_IF_ERROR(get(&v, 8, field));
    return v;
  }
  Result<float> f32(const char* field) {
    float v = 0;
    VITRT_RETURN_IF_ERROR(get(&v, 4, field));
    return v;
  }
  Result<std::string> str(const char* field) {
    VITRT_ASSIGN_OR_RETURN(uint64_t n, u64(field));
    if (n > remaining()) return error(field, "length ", n, " runs past the end");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  // A count of items that each take at least `min_item_bytes`: rejects counts the remaining
  // bytes cannot hold, so a corrupt count cannot trigger a huge allocation.
  Result<uint64_t> count(const char* field, size_t min_item_bytes) {
    VITRT_ASSIGN_OR_RETURN(uint64_t n, u64(field));
    if (min_item_bytes > 0 && n > remaining() / min_item_bytes) {
      return error(field, "count ", n, " is larger than the section can hold");
    }
    return n;
  }
  const uint8_t* take(size_t n, const char* field, Status* status) {
    if (n > remaining()) {
      *status = error(field, n, " bytes run past the end");
      return nullptr;
    }
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  size_t remaining() const { return size_ - pos_; }
  size_t position() const { return pos_; }

  template <typename... Args>
  Status error(const char* field, const Args&... args) const {
    return corrupt_plan("plan '", source_, "': ", what_, " at byte ", pos_, ": field '", field,
                        "': ", args...);
  }

 private:
  Status get(void* out, size_t n, const char* field) {
    if (n > remaining())
      return error(field, "truncated (needs ", n, " bytes, ", remaining(), " left)");
    std::memcpy(out, data_ + pos_, n);
    pos_ += n;
    return Status::ok_status();
  }

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string source_;
  std::string what_;
};

}  // namespace vitrt
