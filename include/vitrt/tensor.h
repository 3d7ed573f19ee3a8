// Tensor: a dense, row-major, typed n-dimensional array with shared storage.
//
// Storage is reference counted, so reshaping or binding an input never copies. Storage is
// either owned (64-byte aligned heap memory) or borrowed from an owner that outlives it (an
// mmap-ed plan file, a caller's buffer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "vitrt/status.h"

namespace vitrt {

// Values match ONNX TensorProto.DataType so that import and plan files need no mapping table.
enum class DType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,  // recognised so errors can name it; never stored
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
  // 8-bit floats (OCP FP8) as FP8 Q/DQ models (NVIDIA ModelOpt, ONNX Runtime's quantizer)
  // store their quantized tensors: raw codes, one byte each, converted by src/core/float8.h.
  // Only the Q/DQ ops, Cast and data movement take them; arithmetic does not.
  kFloat8E4M3FN = 17,
  kFloat8E5M2 = 19,
};

// Bytes per element; 0 for kUndefined and kString.
size_t dtype_size(DType dtype);
// "float32", "int64", ... as NumPy spells them ("bfloat16" for kBFloat16).
const char* dtype_name(DType dtype);
// True for the types a Tensor can hold.
bool dtype_is_storable(DType dtype);
bool dtype_is_float(DType dtype);  // f16, bf16, f32, f64
// int8 or uint8: the operands of ONNX's integer ops (MatMulInteger, QLinearConv, ...).
inline bool dtype_is_8bit_integer(DType dtype) {
  return dtype == DType::kInt8 || dtype == DType::kUInt8;
}
bool dtype_is_integer(DType dtype);  // signed and unsigned integers (not bool)
inline bool dtype_is_float8(DType dtype) {
  return dtype == DType::kFloat8E4M3FN || dtype == DType::kFloat8E5M2;
}
// Maps an ONNX TensorProto.DataType number to a DType; kUndefined if unknown.
DType dtype_from_onnx(int32_t onnx_type);

// "[2, 3, 224]" for messages.
std::string shape_to_string(const std::vector<int64_t>& shape);
// Product of dims; 1 for a scalar (rank 0).
int64_t shape_numel(const std::vector<int64_t>& shape);

// Thrown by Tensor::zeros / Tensor::empty for a shape no memory holds (a negative dim, more
// than 2^46 bytes): a kernel that computes its output shape from a model's data (Range, Expand,
// ConstantOfShape, Tile, ...) gets one from a malformed model. Kernel runners catch it and
// report the node; std::bad_alloc likewise for a shape that merely exceeds this machine.
class TensorTooLarge : public std::length_error {
 public:
  using std::length_error::length_error;
};

// The bytes of a `dtype` tensor of `shape` (0 when a dim is 0), what Tensor::zeros / empty
// allocate; throws TensorTooLarge for a shape no memory holds.
size_t checked_nbytes(DType dtype, const std::vector<int64_t>& shape);

class Tensor {
 public:
  Tensor() = default;

  // Allocates zero-initialised, 64-byte aligned storage; throws TensorTooLarge (above).
  static Tensor zeros(DType dtype, std::vector<int64_t> shape);
  // Allocates uninitialised, 64-byte aligned storage (for outputs a kernel fully writes); throws
  // TensorTooLarge (above).
  static Tensor empty(DType dtype, std::vector<int64_t> shape);
  // Borrows `data`; `owner` keeps it alive (an mmap, a caller's buffer). Not copied.
  static Tensor borrow(DType dtype, std::vector<int64_t> shape, std::shared_ptr<const void> owner,
                       const void* data);
  // Copies `nbytes` from `data` into fresh storage; nbytes must equal the tensor's size.
  static Result<Tensor> copy_from(DType dtype, std::vector<int64_t> shape, const void* data,
                                  size_t nbytes);
  // A rank-0 or rank-1 tensor holding `values`.
  static Tensor from_int64(const std::vector<int64_t>& values, bool as_scalar = false);
  static Tensor from_float(const std::vector<float>& values, bool as_scalar = false);

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const { return shape_[axis]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }

  // Same storage, new shape; the element count must match.
  Result<Tensor> reshaped(std::vector<int64_t> shape) const;
  // A deep copy with its own storage.
  Tensor clone() const;
  // Element i converted to double / int64 (for small shape tensors and tests; slow).
  double element_as_double(int64_t i) const;
  int64_t element_as_int64(int64_t i) const;
  // All elements of an integer tensor as int64 (shape tensors, axes, ...).
  std::vector<int64_t> to_int64_vector() const;

  std::string describe() const;  // "float32[1, 3, 224, 224]"

 private:
  DType dtype_ = DType::kUndefined;
  std::vector<int64_t> shape_;
  std::shared_ptr<const void> storage_;
  void* data_ = nullptr;
};

}  // namespace vitrt
