// TensorProto -> Tensor: typed fields, raw_data and external data, always copied into fresh,
// aligned storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

// Decodes one serialized TensorProto. `where` says where it sits ("graph initializer 12",
// "attribute 'value' of node 'c'"; empty for a stand-alone file) and prefixes every error
// together with the tensor's name. External data is resolved against `base_dir` (empty: an
// error). `name`, when given, receives the tensor's name field.
Result<Tensor> decode_tensor_proto(const uint8_t* data, size_t size, const std::string& base_dir,
                                   const std::string& where, std::string* name);

// "float8e4m3fn", "int4", ... for the ONNX data types vitrt does not store; "type N" otherwise.
std::string onnx_dtype_name(int32_t onnx_type);

}  // namespace vitrt
