// NumPy .npy files (format versions 1.0, 2.0 and 3.0): the tensor exchange format of the CLI.
//
// Reads little-endian, C-order arrays of the numeric dtypes a Tensor holds. Everything else
// (Fortran order, big-endian, object or structured dtypes, truncated data, malformed headers)
// is an error whose message names the file and the header field at fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

// Parses .npy bytes; `source` names them in messages (usually the file path).
Result<Tensor> parse_npy(const uint8_t* data, size_t size, const std::string& source);
Result<Tensor> read_npy_file(const std::string& path);

// Serialises a tensor as .npy (version 1.0, or 2.0 when the header needs more than 64 KiB).
// bfloat16 has no NumPy dtype and is an unsupported error.
Result<std::vector<uint8_t>> npy_bytes(const Tensor& tensor);
Status write_npy_file(const std::string& path, const Tensor& tensor);

}  // namespace vitrt
