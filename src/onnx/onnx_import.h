// ONNX -> IR import.
//
// vitrt reads the ONNX protobuf wire format with a small reader of its own (see
// wire_reader.h): every length and offset is bounds-checked, so a malformed or truncated file
// gives an error that names what was being read, never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ir/graph.h"
#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt {

// Imports a model file. Tensors stored as external data are read relative to the model's
// folder (paths that escape it are rejected). Constant nodes become constant values;
// initializers listed among the graph inputs (old exporters) are not graph inputs; dims with a
// dim_param become the symbolic dim it spells ("batch", "s1*s2 + 5"; text that is no
// expression becomes one symbol of that name), dims with neither value nor param become symbols
// named "<input>_dim<i>". The result passes Graph::validate(); it is not yet shape-inferred.
Result<Graph> import_onnx_file(const std::string& path);

// Imports a serialized ModelProto held in memory. `base_dir` is the folder external data is
// resolved against; empty means external data is an error.
Result<Graph> import_onnx_bytes(const uint8_t* data, size_t size, const std::string& base_dir);

// Parses one serialized TensorProto (the conformance data's input_N.pb / output_N.pb files).
Result<Tensor> parse_tensor_proto(const uint8_t* data, size_t size, const std::string& base_dir);
// Same, also returning the tensor's name field.
Result<Tensor> parse_tensor_proto_file(const std::string& path, std::string* name = nullptr);

}  // namespace vitrt
