// LOCAL STUB (untracked): lets the runtime link until the ONNX importer lands.
#include "onnx/onnx_import.h"
namespace vitrt {
Result<Graph> import_onnx_file(const std::string& path) { return unsupported("ONNX import not built yet: ", path); }
Result<Graph> import_onnx_bytes(const uint8_t*, size_t, const std::string&) { return unsupported("ONNX import not built yet"); }
Result<Tensor> parse_tensor_proto(const uint8_t*, size_t, const std::string&) { return unsupported("no"); }
Result<Tensor> parse_tensor_proto_file(const std::string& path, std::string*) { return unsupported("no ", path); }
}
