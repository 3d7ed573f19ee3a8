// libFuzzer entry point for the ONNX importer: any byte string must give an error or a graph
// that validates, never a crash, a sanitizer report or an absurd allocation.
//
//   cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
//     -DVITRT_FUZZ=ON -DVITRT_TESTS=OFF -DVITRT_CUDA=OFF && ninja -C build-fuzz onnx_import_fuzz
//   build-fuzz/onnx_import_fuzz -max_total_time=60 -rss_limit_mb=2048 corpus/ tests/data/onnx
#include <cstdint>
#include <cstdlib>

#include "onnx/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // No base folder: external data is refused, so the fuzzer never reads files.
  vitrt::Result<vitrt::Graph> graph = vitrt::import_onnx_bytes(data, size, "");
  if (graph.ok()) {
    if (!graph->validate().ok()) std::abort();  // the importer promised a valid graph
  } else if (graph.status().message().empty() ||
             graph.status().code() == vitrt::StatusCode::kInternal) {
    std::abort();
  }
  // The same bytes as a stand-alone TensorProto exercise the tensor decoder directly.
  vitrt::Result<vitrt::Tensor> tensor = vitrt::parse_tensor_proto(data, size, "");
  if (tensor.ok() && tensor->nbytes() > 8 * size + 64) std::abort();
  return 0;
}
