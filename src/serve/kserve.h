// KServe v2 / Open Inference Protocol request and response bodies, as NVIDIA Triton speaks
// them, including the binary tensor data extension: the body is a JSON header of
// `Inference-Header-Content-Length` bytes followed by the raw tensors, in order, each input or
// output naming its byte size in parameters.binary_data_size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vitrt/engine.h"
#include "vitrt/status.h"

namespace vitrt::serve {

// "FP32", "INT64", ... (the protocol's names); nullptr for types it cannot carry.
const char* kserve_datatype(DType dtype);
DType dtype_from_kserve(std::string_view name);  // kUndefined when unknown

struct RequestedOutput {
  std::string name;
  bool binary = false;
};

struct InferRequest {
  std::string id;
  std::vector<NamedTensor> inputs;       // in the model's input order
  std::vector<RequestedOutput> outputs;  // empty: every output
  bool binary_outputs = false;           // parameters.binary_data_output
};

// Parses and checks a request against the model's inputs: each given exactly once, datatype,
// rank and fixed dims as declared, element count or byte size matching the shape. With
// max_batch_size > 0 the first dim is the batch and may be 1..max_batch_size.
// `header_length` is the Inference-Header-Content-Length header, when present.
Result<InferRequest> parse_infer_request(std::string_view body, std::optional<size_t> header_length,
                                         const std::vector<TensorInfo>& model_inputs,
                                         int64_t max_batch_size);

struct InferResponseBody {
  std::string body;
  std::optional<size_t> header_length;  // set when binary data follows the JSON
};

// Encodes outputs; those requested in binary (or all, with binary_outputs) go after the JSON.
// Errors when a requested output does not exist.
Result<InferResponseBody> encode_infer_response(const std::string& model_name,
                                                const InferRequest& request,
                                                const std::vector<NamedTensor>& outputs);

// {"name": ..., "versions": ["1"], "platform": "vitrt_plan", "inputs": [...], "outputs": [...]}
std::string model_metadata_json(const std::string& name, const std::vector<TensorInfo>& inputs,
                                const std::vector<TensorInfo>& outputs, int64_t max_batch_size);

}  // namespace vitrt::serve
