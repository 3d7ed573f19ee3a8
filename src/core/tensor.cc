// Tensor storage, dtype tables and small conversions.
#include "vitrt/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/buffer_pool.h"
#include "core/float8.h"
#include "core/half.h"

namespace vitrt {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kInt32:
    case DType::kUInt32:
      return 4;
    case DType::kUInt8:
    case DType::kInt8:
    case DType::kBool:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E5M2:
      return 1;
    case DType::kUInt16:
    case DType::kInt16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    case DType::kInt64:
    case DType::kFloat64:
    case DType::kUInt64:
      return 8;
    case DType::kUndefined:
    case DType::kString:
      return 0;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kUndefined:
      return "undefined";
    case DType::kFloat32:
      return "float32";
    case DType::kUInt8:
      return "uint8";
    case DType::kInt8:
      return "int8";
    case DType::kUInt16:
      return "uint16";
    case DType::kInt16:
      return "int16";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kString:
      return "string";
    case DType::kBool:
      return "bool";
    case DType::kFloat16:
      return "float16";
    case DType::kFloat64:
      return "float64";
    case DType::kUInt32:
      return "uint32";
    case DType::kUInt64:
      return "uint64";
    case DType::kBFloat16:
      return "bfloat16";
    case DType::kFloat8E4M3FN:
      return "float8e4m3fn";
    case DType::kFloat8E5M2:
      return "float8e5m2";
  }
  return "unknown";
}

bool dtype_is_storable(DType dtype) {
  return dtype_size(dtype) != 0;
}

bool dtype_is_float(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat16 || dtype == DType::kBFloat16 ||
         dtype == DType::kFloat64;
}

bool dtype_is_integer(DType dtype) {
  switch (dtype) {
    case DType::kUInt8:
    case DType::kInt8:
    case DType::kUInt16:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt32:
    case DType::kUInt64:
      return true;
    default:
      return false;
  }
}

DType dtype_from_onnx(int32_t onnx_type) {
  switch (onnx_type) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 8:
    case 9:
    case 10:
    case 11:
    case 12:
    case 13:
    case 16:
    case 17:
    case 19:
      return static_cast<DType>(onnx_type);
    default:
      return DType::kUndefined;
  }
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Throws for a negative dim, an element count past int64 or more than 2^46 bytes (64 TiB: no
// machine's memory), which a kernel computing an output shape from a model's data can produce.
// The kernel runners (run_cpu_node, the executor, the CUDA engine's shape planning) turn it into
// a Status naming the node.
size_t checked_nbytes(DType dtype, const std::vector<int64_t>& shape) {
  constexpr int64_t kMaxBytes = int64_t{1} << 46;
  for (int64_t d : shape) {
    if (d < 0) throw TensorTooLarge("negative dimension in shape " + shape_to_string(shape));
  }
  // Any 0 makes the tensor empty, whatever the other dims (the file importer hands such shapes
  // over: [8, 134151, 10955, 0] holds nothing).
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  int64_t bytes = static_cast<int64_t>(dtype_size(dtype));
  for (int64_t d : shape) {
    if (bytes > kMaxBytes / d) {
      throw TensorTooLarge("a tensor of shape " + shape_to_string(shape) + " and " +
                           dtype_name(dtype) + " would take more than 2^46 bytes");
    }
    bytes *= d;
  }
  return static_cast<size_t>(bytes);
}

namespace {

constexpr size_t kAlignment = 64;

std::shared_ptr<void> allocate(size_t nbytes, bool zero) {
  // Round up so that vectorised kernels may read a full vector past the last element.
  const size_t padded = ((nbytes + kAlignment - 1) / kAlignment + 1) * kAlignment;
  if (BufferPool* pool = active_buffer_pool()) {
    std::shared_ptr<void> storage = pool->acquire(padded);
    if (zero) std::memset(storage.get(), 0, padded);
    return storage;
  }
  void* p = std::aligned_alloc(kAlignment, padded);
  if (p == nullptr) throw std::bad_alloc();
  if (zero) std::memset(p, 0, padded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

}  // namespace

Tensor Tensor::zeros(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  auto storage = allocate(checked_nbytes(dtype, t.shape_), /*zero=*/true);
  t.data_ = storage.get();
  t.storage_ = std::move(storage);
  return t;
}

Tensor Tensor::empty(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  auto storage = allocate(checked_nbytes(dtype, t.shape_), /*zero=*/false);
  t.data_ = storage.get();
  t.storage_ = std::move(storage);
  return t;
}

Tensor Tensor::borrow(DType dtype, std::vector<int64_t> shape, std::shared_ptr<const void> owner,
                      const void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = std::move(owner);
  // Borrowed storage is read-only by contract; kernels never write their inputs.
  t.data_ = const_cast<void*>(data);
  return t;
}

Result<Tensor> Tensor::copy_from(DType dtype, std::vector<int64_t> shape, const void* data,
                                 size_t nbytes) {
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("negative dimension in shape ", shape_to_string(shape));
  }
  Tensor t = empty(dtype, std::move(shape));
  if (t.nbytes() != nbytes) {
    return invalid_argument("tensor ", t.describe(), " needs ", t.nbytes(), " bytes, got ", nbytes);
  }
  if (nbytes) std::memcpy(t.data_, data, nbytes);
  return t;
}

Tensor Tensor::from_int64(const std::vector<int64_t>& values, bool as_scalar) {
  std::vector<int64_t> shape;
  if (!as_scalar) shape.push_back(static_cast<int64_t>(values.size()));
  Tensor t = empty(DType::kInt64, shape);
  if (!values.empty()) std::memcpy(t.data_, values.data(), values.size() * sizeof(int64_t));
  return t;
}

Tensor Tensor::from_float(const std::vector<float>& values, bool as_scalar) {
  std::vector<int64_t> shape;
  if (!as_scalar) shape.push_back(static_cast<int64_t>(values.size()));
  Tensor t = empty(DType::kFloat32, shape);
  if (!values.empty()) std::memcpy(t.data_, values.data(), values.size() * sizeof(float));
  return t;
}

Result<Tensor> Tensor::reshaped(std::vector<int64_t> shape) const {
  if (shape_numel(shape) != numel()) {
    return invalid_argument("cannot reshape ", describe(), " to ", shape_to_string(shape));
  }
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return Tensor();
  Tensor t = empty(dtype_, shape_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

double Tensor::element_as_double(int64_t i) const {
  switch (dtype_) {
    case DType::kFloat32:
      return data<float>()[i];
    case DType::kFloat64:
      return data<double>()[i];
    case DType::kFloat16:
      return half_to_float(data<uint16_t>()[i]);
    case DType::kBFloat16:
      return bf16_to_float(data<uint16_t>()[i]);
    case DType::kFloat8E4M3FN:
      return e4m3_to_float(data<uint8_t>()[i]);
    case DType::kFloat8E5M2:
      return e5m2_to_float(data<uint8_t>()[i]);
    case DType::kUInt8:
      return data<uint8_t>()[i];
    case DType::kInt8:
      return data<int8_t>()[i];
    case DType::kUInt16:
      return data<uint16_t>()[i];
    case DType::kInt16:
      return data<int16_t>()[i];
    case DType::kInt32:
      return data<int32_t>()[i];
    case DType::kInt64:
      return static_cast<double>(data<int64_t>()[i]);
    case DType::kUInt32:
      return data<uint32_t>()[i];
    case DType::kUInt64:
      return static_cast<double>(data<uint64_t>()[i]);
    case DType::kBool:
      return data<uint8_t>()[i] ? 1.0 : 0.0;
    default:
      return 0.0;
  }
}

int64_t Tensor::element_as_int64(int64_t i) const {
  switch (dtype_) {
    case DType::kInt64:
      return data<int64_t>()[i];
    case DType::kInt32:
      return data<int32_t>()[i];
    case DType::kUInt64:
      return static_cast<int64_t>(data<uint64_t>()[i]);
    default:
      return static_cast<int64_t>(element_as_double(i));
  }
}

std::vector<int64_t> Tensor::to_int64_vector() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) out[static_cast<size_t>(i)] = element_as_int64(i);
  return out;
}

std::string Tensor::describe() const {
  return str_cat(dtype_name(dtype_), shape_to_string(shape_));
}

}  // namespace vitrt
