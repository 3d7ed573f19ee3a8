// KServe v2 request parsing and response encoding (kserve.h).
#include "serve/kserve.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace vitrt::serve {
namespace {

using nlohmann::json;

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::kFloat32, "FP32"},  {DType::kFloat16, "FP16"},  {DType::kBFloat16, "BF16"},
    {DType::kFloat64, "FP64"},  {DType::kInt8, "INT8"},     {DType::kInt16, "INT16"},
    {DType::kInt32, "INT32"},   {DType::kInt64, "INT64"},   {DType::kUInt8, "UINT8"},
    {DType::kUInt16, "UINT16"}, {DType::kUInt32, "UINT32"}, {DType::kUInt64, "UINT64"},
    {DType::kBool, "BOOL"},
};

// Flattens nested JSON arrays ("data": [[1, 2], [3, 4]] is allowed) into `out`.
Status flatten(const json& value, std::vector<const json*>& out, const std::string& where) {
  if (value.is_array()) {
    for (const auto& v : value) VITRT_RETURN_IF_ERROR(flatten(v, out, where));
    return Status::ok_status();
  }
  if (!value.is_number() && !value.is_boolean()) {
    return invalid_argument(where, ": 'data' holds ", value.type_name(), ", expected numbers");
  }
  out.push_back(&value);
  return Status::ok_status();
}

template <typename T>
void store(const std::vector<const json*>& values, Tensor& tensor) {
  T* dst = tensor.data<T>();
  for (size_t i = 0; i < values.size(); ++i) {
    const json& v = *values[i];
    if (v.is_boolean()) {
      dst[i] = static_cast<T>(v.get<bool>());
    } else if (v.is_number_float()) {
      dst[i] = static_cast<T>(v.get<double>());
    } else if (v.is_number_unsigned()) {
      dst[i] = static_cast<T>(v.get<uint64_t>());
    } else {
      dst[i] = static_cast<T>(v.get<int64_t>());
    }
  }
}

// JSON "data" into a tensor of `dtype` (half types are not accepted as JSON numbers).
Result<Tensor> tensor_from_json(const json& data, DType dtype, const std::vector<int64_t>& shape,
                                const std::string& where) {
  std::vector<const json*> values;
  VITRT_RETURN_IF_ERROR(flatten(data, values, where));
  if (static_cast<int64_t>(values.size()) != shape_numel(shape)) {
    return invalid_argument(where, ": 'data' has ", values.size(), " elements, shape ",
                            shape_to_string(shape), " needs ", shape_numel(shape));
  }
  Tensor t = Tensor::empty(dtype, shape);
  switch (dtype) {
    case DType::kFloat32:
      store<float>(values, t);
      break;
    case DType::kFloat64:
      store<double>(values, t);
      break;
    case DType::kInt8:
      store<int8_t>(values, t);
      break;
    case DType::kInt16:
      store<int16_t>(values, t);
      break;
    case DType::kInt32:
      store<int32_t>(values, t);
      break;
    case DType::kInt64:
      store<int64_t>(values, t);
      break;
    case DType::kUInt8:
      store<uint8_t>(values, t);
      break;
    case DType::kUInt16:
      store<uint16_t>(values, t);
      break;
    case DType::kUInt32:
      store<uint32_t>(values, t);
      break;
    case DType::kUInt64:
      store<uint64_t>(values, t);
      break;
    case DType::kBool:
      store<bool>(values, t);
      break;
    default:
      return invalid_argument(where, ": datatype ", kserve_datatype(dtype),
                              " must be sent as binary data");
  }
  return t;
}

template <typename T>
void append_values(const Tensor& t, json& out) {
  const T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(p[i]);
}

Result<json> tensor_to_json(const Tensor& t, const std::string& name) {
  json data = json::array();
  switch (t.dtype()) {
    case DType::kFloat32:
      append_values<float>(t, data);
      break;
    case DType::kFloat64:
      append_values<double>(t, data);
      break;
    case DType::kInt8:
      append_values<int8_t>(t, data);
      break;
    case DType::kInt16:
      append_values<int16_t>(t, data);
      break;
    case DType::kInt32:
      append_values<int32_t>(t, data);
      break;
    case DType::kInt64:
      append_values<int64_t>(t, data);
      break;
    case DType::kUInt8:
      append_values<uint8_t>(t, data);
      break;
    case DType::kUInt16:
      append_values<uint16_t>(t, data);
      break;
    case DType::kUInt32:
      append_values<uint32_t>(t, data);
      break;
    case DType::kUInt64:
      append_values<uint64_t>(t, data);
      break;
    case DType::kBool:
      append_values<bool>(t, data);
      break;
    default:
      return invalid_argument("output '", name, "': ", dtype_name(t.dtype()),
                              " can only be returned as binary data");
  }
  return data;
}

json dims_json(const TensorInfo& info, int64_t max_batch_size) {
  json shape = json::array();
  for (size_t i = 0; i < info.dims.size(); ++i) {
    // Symbolic dims are -1, as Triton reports variable dims.
    const std::string& d = info.dims[i];
    const bool numeric = !d.empty() && d.find_first_not_of("0123456789") == std::string::npos;
    shape.push_back(numeric && !(i == 0 && max_batch_size > 0) ? std::stoll(d) : -1);
  }
  return shape;
}

Result<InferRequest> parse_checked(std::string_view body, std::optional<size_t> header_length,
                                   const std::vector<TensorInfo>& model_inputs,
                                   int64_t max_batch_size);

}  // namespace

const char* kserve_datatype(DType dtype) {
  for (const auto& e : kDTypeNames) {
    if (e.dtype == dtype) return e.name;
  }
  return nullptr;
}

DType dtype_from_kserve(std::string_view name) {
  for (const auto& e : kDTypeNames) {
    if (name == e.name) return e.dtype;
  }
  return DType::kUndefined;
}

Result<InferRequest> parse_infer_request(std::string_view body, std::optional<size_t> header_length,
                                         const std::vector<TensorInfo>& model_inputs,
                                         int64_t max_batch_size) {
  // nlohmann::json throws on a value of the wrong type (a string "binary_data_size", ...);
  // every such case is the client's malformed request.
  try {
    return parse_checked(body, header_length, model_inputs, max_batch_size);
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument("malformed request: ", e.what());
  }
}

namespace {

Result<InferRequest> parse_checked(std::string_view body, std::optional<size_t> header_length,
                                   const std::vector<TensorInfo>& model_inputs,
                                   int64_t max_batch_size) {
  const size_t json_length = header_length.value_or(body.size());
  if (json_length > body.size()) {
    return invalid_argument("Inference-Header-Content-Length ", json_length, " exceeds the body's ",
                            body.size(), " bytes");
  }
  const json doc = json::parse(body.substr(0, json_length), nullptr, false);
  if (doc.is_discarded()) return invalid_argument("request body is not valid JSON");
  if (!doc.is_object()) return invalid_argument("request body must be a JSON object");
  if (!doc.contains("inputs") || !doc["inputs"].is_array()) {
    return invalid_argument("request has no 'inputs' list");
  }
  InferRequest request;
  if (doc.contains("id") && doc["id"].is_string()) request.id = doc["id"].get<std::string>();
  if (doc.contains("parameters") && doc["parameters"].is_object()) {
    request.binary_outputs = doc["parameters"].value("binary_data_output", false);
  }
  std::string_view binary = body.substr(json_length);
  std::vector<std::optional<Tensor>> by_index(model_inputs.size());
  for (const json& in : doc["inputs"]) {
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string()) {
      return invalid_argument("every entry of 'inputs' needs a 'name'");
    }
    const std::string name = in["name"].get<std::string>();
    const std::string where = "input '" + name + "'";
    size_t index = 0;
    while (index < model_inputs.size() && model_inputs[index].name != name) ++index;
    if (index == model_inputs.size()) {
      std::string known;
      for (const auto& m : model_inputs) known += (known.empty() ? "'" : ", '") + m.name + "'";
      return invalid_argument(where, ": the model has no such input (it has ", known, ")");
    }
    if (by_index[index]) return invalid_argument(where, ": given twice");
    const TensorInfo& info = model_inputs[index];
    if (!in.contains("datatype") || !in["datatype"].is_string()) {
      return invalid_argument(where, ": needs a 'datatype'");
    }
    const DType dtype = dtype_from_kserve(in["datatype"].get<std::string>());
    if (dtype != info.dtype) {
      return invalid_argument(where, ": datatype ", in["datatype"].get<std::string>(),
                              ", the model expects ",
                              kserve_datatype(info.dtype) ? kserve_datatype(info.dtype) : "?");
    }
    if (!in.contains("shape") || !in["shape"].is_array()) {
      return invalid_argument(where, ": needs a 'shape' list");
    }
    std::vector<int64_t> shape;
    for (const auto& d : in["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        return invalid_argument(where, ": shape ", in["shape"].dump(),
                                " must list non-negative integers");
      }
      shape.push_back(d.get<int64_t>());
    }
    if (!info.dims.empty()) {
      if (shape.size() != info.dims.size()) {
        return invalid_argument(where, ": shape ", shape_to_string(shape), " has rank ",
                                shape.size(), ", the model expects rank ", info.dims.size());
      }
      for (size_t i = 0; i < shape.size(); ++i) {
        const std::string& d = info.dims[i];
        const bool numeric = !d.empty() && d.find_first_not_of("0123456789") == std::string::npos;
        if (numeric && std::stoll(d) != shape[i]) {
          return invalid_argument(where, ": shape ", shape_to_string(shape), " dim ", i, " is ",
                                  shape[i], ", the model expects ", d);
        }
      }
    }
    if (max_batch_size > 0 && (shape.empty() || shape[0] < 1 || shape[0] > max_batch_size)) {
      return invalid_argument(where, ": batch size ", shape.empty() ? 0 : shape[0],
                              " is outside [1, ", max_batch_size, "]");
    }
    const json params = in.value("parameters", json::object());
    if (params.contains("binary_data_size")) {
      const json& size_json = params["binary_data_size"];
      if (!size_json.is_number_unsigned()) {
        return invalid_argument(where, ": binary_data_size must be a non-negative integer");
      }
      const size_t size = size_json.get<size_t>();
      const size_t expected = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
      if (size != expected) {
        return invalid_argument(where, ": binary_data_size ", size, ", shape ",
                                shape_to_string(shape), " of ", kserve_datatype(dtype), " needs ",
                                expected, " bytes");
      }
      if (size > binary.size()) {
        return invalid_argument(where, ": binary data truncated (", binary.size(), " bytes left, ",
                                size, " needed)");
      }
      VITRT_ASSIGN_OR_RETURN(Tensor t, Tensor::copy_from(dtype, shape, binary.data(), size));
      binary.remove_prefix(size);
      by_index[index] = std::move(t);
    } else {
      if (!in.contains("data")) return invalid_argument(where, ": has neither 'data' nor binary");
      VITRT_ASSIGN_OR_RETURN(Tensor t, tensor_from_json(in["data"], dtype, shape, where));
      by_index[index] = std::move(t);
    }
  }
  if (!binary.empty()) {
    return invalid_argument(binary.size(), " bytes of binary data after the last input");
  }
  for (size_t i = 0; i < model_inputs.size(); ++i) {
    if (!by_index[i]) {
      return invalid_argument("input '", model_inputs[i].name, "' is missing");
    }
    request.inputs.push_back({model_inputs[i].name, std::move(*by_index[i])});
  }
  if (doc.contains("outputs")) {
    if (!doc["outputs"].is_array()) return invalid_argument("'outputs' must be a list");
    for (const json& out : doc["outputs"]) {
      if (!out.is_object() || !out.contains("name") || !out["name"].is_string()) {
        return invalid_argument("every entry of 'outputs' needs a 'name'");
      }
      const json params = out.value("parameters", json::object());
      request.outputs.push_back({out["name"].get<std::string>(),
                                 params.is_object() && params.value("binary_data", false)});
    }
  }
  return request;
}

}  // namespace

Result<InferResponseBody> encode_infer_response(const std::string& model_name,
                                                const InferRequest& request,
                                                const std::vector<NamedTensor>& outputs) {
  std::vector<RequestedOutput> wanted = request.outputs;
  if (wanted.empty()) {
    for (const auto& o : outputs) wanted.push_back({o.name, request.binary_outputs});
  }
  json doc = {{"model_name", model_name}, {"model_version", "1"}};
  if (!request.id.empty()) doc["id"] = request.id;
  json outs = json::array();
  std::string binary;
  for (const auto& w : wanted) {
    const NamedTensor* found = nullptr;
    for (const auto& o : outputs) {
      if (o.name == w.name) found = &o;
    }
    if (!found) return invalid_argument("requested output '", w.name, "' does not exist");
    const Tensor& t = found->tensor;
    const char* datatype = kserve_datatype(t.dtype());
    if (!datatype) return internal_error("output '", w.name, "' has unsupported dtype");
    json entry = {{"name", w.name}, {"datatype", datatype}, {"shape", t.shape()}};
    if (w.binary) {
      entry["parameters"] = {{"binary_data_size", t.nbytes()}};
      binary.append(static_cast<const char*>(t.raw_data()), t.nbytes());
    } else {
      VITRT_ASSIGN_OR_RETURN(entry["data"], tensor_to_json(t, w.name));
    }
    outs.push_back(std::move(entry));
  }
  doc["outputs"] = std::move(outs);
  InferResponseBody response;
  response.body = doc.dump();
  if (!binary.empty()) {
    response.header_length = response.body.size();
    response.body += binary;
  }
  return response;
}

std::string model_metadata_json(const std::string& name, const std::vector<TensorInfo>& inputs,
                                const std::vector<TensorInfo>& outputs, int64_t max_batch_size) {
  auto describe = [max_batch_size](const std::vector<TensorInfo>& infos) {
    json list = json::array();
    for (const auto& info : infos) {
      const char* datatype = kserve_datatype(info.dtype);
      list.push_back({{"name", info.name},
                      {"datatype", datatype ? datatype : "BYTES"},
                      {"shape", dims_json(info, max_batch_size)}});
    }
    return list;
  };
  json doc = {{"name", name},
              {"versions", {"1"}},
              {"platform", "vitrt_plan"},
              {"inputs", describe(inputs)},
              {"outputs", describe(outputs)}};
  return doc.dump();
}

}  // namespace vitrt::serve
