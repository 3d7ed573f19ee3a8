// One data set of an ONNX node test (test_data_set_N/input_K.pb, output_K.pb in numeric order),
// as the fixture generators in python/ write them with ONNX Runtime's outputs.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "onnx/onnx_import.h"
#include "vitrt/engine.h"

namespace vitrt::testing {

struct NodeTestData {
  std::vector<NamedTensor> inputs;  // named as the TensorProtos name them
  std::vector<Tensor> outputs;      // the expected outputs
};

inline Result<NodeTestData> read_node_test_data(const std::filesystem::path& dir) {
  NodeTestData d;
  for (const char* kind : {"input_", "output_"}) {
    for (int k = 0;; ++k) {
      const std::filesystem::path file = dir / (kind + std::to_string(k) + ".pb");
      if (!std::filesystem::exists(file)) break;
      std::string name;
      VITRT_ASSIGN_OR_RETURN(Tensor t, parse_tensor_proto_file(file.string(), &name));
      if (kind[0] == 'i') {
        d.inputs.push_back({name, std::move(t)});
      } else {
        d.outputs.push_back(std::move(t));
      }
    }
  }
  return d;
}

}  // namespace vitrt::testing
