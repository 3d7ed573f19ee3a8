// Shared by both load-test servers: parse a v2 infer request, sum its float tensor and answer
// with a v2 response, so the JSON work per request is the same on both sides.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

inline std::string infer_echo(const std::string& body) {
  const nlohmann::json request = nlohmann::json::parse(body, nullptr, false);
  double sum = 0;
  if (request.is_object() && request.contains("inputs")) {
    for (const auto& v : request["inputs"][0]["data"]) sum += v.get<double>();
  }
  nlohmann::json response = {
      {"model_name", "m"},
      {"outputs", {{{"name", "y"}, {"datatype", "FP32"}, {"shape", {1}}, {"data", {sum}}}}}};
  return response.dump();
}
