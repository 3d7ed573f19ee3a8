// A read-only memory mapping of a whole file (models and weights of several GB included).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vitrt/status.h"

namespace vitrt {

class MappedFile {
 public:
  // kNotFound naming the path when it does not exist; kIoError for other failures.
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;  // null for an empty file
  size_t size_ = 0;
};

// Opens `path` for reading as a regular file; errors as MappedFile::open. Returns the file
// descriptor and its size.
Result<int> open_regular_file(const std::string& path, uint64_t* size);

}  // namespace vitrt
