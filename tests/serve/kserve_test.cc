// KServe v2 request parsing and response encoding: JSON and binary tensors, and the errors a
// client gets for malformed requests (each naming the input and what was expected).
#include "serve/kserve.h"

#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace vitrt::serve {
namespace {

const std::vector<TensorInfo> kInputs = {
    {"pixels", DType::kFloat32, {"batch", "2", "3"}},
    {"ids", DType::kInt64, {"batch", "seq"}},
};

std::string error_of(const std::string& body, int64_t max_batch = 4) {
  Result<InferRequest> r = parse_infer_request(body, std::nullopt, kInputs, max_batch);
  return r.ok() ? "" : r.status().message();
}

TEST(ServeKserve, ParsesJsonTensorsIntoModelInputOrder) {
  const std::string body = R"({"id": "r1", "inputs": [
      {"name": "ids", "datatype": "INT64", "shape": [1, 2], "data": [[7, 9]]},
      {"name": "pixels", "datatype": "FP32", "shape": [1, 2, 3], "data": [0, 1, 2, 3, 4, 5.5]}],
      "outputs": [{"name": "y", "parameters": {"binary_data": true}}]})";
  Result<InferRequest> r = parse_infer_request(body, std::nullopt, kInputs, 4);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->id, "r1");
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].name, "pixels");
  EXPECT_EQ(r->inputs[0].tensor.data<float>()[5], 5.5f);
  EXPECT_EQ(r->inputs[1].tensor.data<int64_t>()[1], 9);
  ASSERT_EQ(r->outputs.size(), 1u);
  EXPECT_TRUE(r->outputs[0].binary);
}

TEST(ServeKserve, ParsesBinaryTensorsAfterTheJsonHeader) {
  const float pixels[6] = {1, 2, 3, 4, 5, 6};
  const int64_t ids[3] = {4, 5, 6};
  const std::string header = R"({"inputs": [
      {"name": "pixels", "datatype": "FP32", "shape": [1, 2, 3],
       "parameters": {"binary_data_size": 24}},
      {"name": "ids", "datatype": "INT64", "shape": [1, 3],
       "parameters": {"binary_data_size": 24}}],
      "parameters": {"binary_data_output": true}})";
  std::string body = header;
  body.append(reinterpret_cast<const char*>(pixels), sizeof(pixels));
  body.append(reinterpret_cast<const char*>(ids), sizeof(ids));
  Result<InferRequest> r = parse_infer_request(body, header.size(), kInputs, 4);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->binary_outputs);
  EXPECT_EQ(std::memcmp(r->inputs[0].tensor.raw_data(), pixels, sizeof(pixels)), 0);
  EXPECT_EQ(r->inputs[1].tensor.data<int64_t>()[2], 6);

  // One byte short: the second tensor is truncated.
  Result<InferRequest> short_body =
      parse_infer_request(body.substr(0, body.size() - 1), header.size(), kInputs, 4);
  ASSERT_FALSE(short_body.ok());
  EXPECT_NE(short_body.status().message().find("input 'ids': binary data truncated"),
            std::string::npos)
      << short_body.status().message();
}

TEST(ServeKserve, RejectsMalformedRequestsWithMessagesNamingTheFault) {
  const std::string ids = R"({"name": "ids", "datatype": "INT64", "shape": [1, 1], "data": [1]})";
  auto with_pixels = [&ids](const std::string& pixels) {
    return R"({"inputs": [)" + pixels + ", " + ids + "]}";
  };
  EXPECT_EQ(error_of("{bad"), "request body is not valid JSON");
  EXPECT_EQ(error_of(R"({"inputs": 3})"), "request has no 'inputs' list");
  EXPECT_NE(error_of(R"({"inputs": [)" + ids + "]}").find("input 'pixels' is missing"),
            std::string::npos);
  EXPECT_NE(error_of(with_pixels(R"({"name": "pixels", "datatype": "FP16", "shape": [1, 2, 3],
      "data": [0,0,0,0,0,0]})"))
                .find("input 'pixels': datatype FP16, the model expects FP32"),
            std::string::npos);
  EXPECT_NE(error_of(with_pixels(R"({"name": "pixels", "datatype": "FP32", "shape": [1, 3, 2],
      "data": [0,0,0,0,0,0]})"))
                .find("dim 1 is 3, the model expects 2"),
            std::string::npos);
  EXPECT_NE(error_of(with_pixels(R"({"name": "pixels", "datatype": "FP32", "shape": [1, 2, 3],
      "data": [0,0,0]})"))
                .find("'data' has 3 elements, shape [1, 2, 3] needs 6"),
            std::string::npos);
  EXPECT_NE(error_of(with_pixels(R"({"name": "pixels", "datatype": "FP32", "shape": [5, 2, 3],
      "data": []})"))
                .find("batch size 5 is outside [1, 4]"),
            std::string::npos);
  EXPECT_NE(error_of(with_pixels(R"({"name": "pixels", "datatype": "FP32", "shape": [1, 2, 3],
      "data": ["a",0,0,0,0,0]})"))
                .find("holds string, expected numbers"),
            std::string::npos);
  EXPECT_NE(error_of(with_pixels(R"({"name": "pixels", "datatype": "FP32", "shape": [1, 2, 3],
      "parameters": {"binary_data_size": "x"}})"))
                .find("binary_data_size must be a non-negative integer"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"inputs": [{"name": "nope", "datatype": "FP32", "shape": [1]}]})")
                .find("the model has no such input (it has 'pixels', 'ids')"),
            std::string::npos);
  // A value of the wrong JSON type is an error value, not an exception.
  EXPECT_NE(error_of(R"({"inputs": [], "parameters": {"binary_data_output": 3}})")
                .find("malformed request"),
            std::string::npos);
}

TEST(ServeKserve, EncodesJsonAndBinaryOutputs) {
  InferRequest request;
  request.id = "abc";
  request.outputs = {{"a", false}, {"b", true}};
  const std::vector<NamedTensor> outputs = {
      {"a", Tensor::from_float({1.5f, -2.0f})},
      {"b", Tensor::from_int64({3, 4, 5})},
  };
  Result<InferResponseBody> r = encode_infer_response("m", request, outputs);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->header_length.has_value());
  const auto doc = nlohmann::json::parse(r->body.substr(0, *r->header_length));
  EXPECT_EQ(doc["id"], "abc");
  EXPECT_EQ(doc["outputs"][0]["data"], nlohmann::json({1.5, -2.0}));
  EXPECT_EQ(doc["outputs"][1]["parameters"]["binary_data_size"], 24);
  ASSERT_EQ(r->body.size(), *r->header_length + 24);
  int64_t b[3];
  std::memcpy(b, r->body.data() + *r->header_length, sizeof(b));
  EXPECT_EQ(b[2], 5);

  request.outputs = {{"zzz", false}};
  EXPECT_FALSE(encode_infer_response("m", request, outputs).ok());
}

TEST(ServeKserve, MetadataReportsSymbolicDimsAsMinusOne) {
  const auto doc = nlohmann::json::parse(
      model_metadata_json("m", kInputs, {{"y", DType::kFloat32, {"batch", "10"}}}, 4));
  EXPECT_EQ(doc["inputs"][0]["shape"], nlohmann::json({-1, 2, 3}));
  EXPECT_EQ(doc["inputs"][1]["datatype"], "INT64");
  EXPECT_EQ(doc["outputs"][0]["shape"], nlohmann::json({-1, 10}));
}

}  // namespace
}  // namespace vitrt::serve
