# Writes the fixture of tests/tools/cli_test.cc: a tiny MLP head (MatMul -> Add -> Relu) with a
# symbolic batch, an input batch and onnxruntime's output for it. Run from this folder.
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)
w = rng.standard_normal((5, 3)).astype(np.float32)
b = rng.standard_normal(3).astype(np.float32)
graph = helper.make_graph(
    [
        helper.make_node("MatMul", ["pixel_values", "w"], ["mm"], name="/head/MatMul"),
        helper.make_node("Add", ["mm", "b"], ["biased"], name="/head/Add"),
        helper.make_node("Relu", ["biased"], ["head/logits"], name="/head/Relu"),
    ],
    "tiny_head",
    [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 5])],
    [helper.make_tensor_value_info("head/logits", TensorProto.FLOAT, ["batch", 3])],
    [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="make_cli_fixture")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, "tiny_head.onnx")

x = rng.standard_normal((4, 5)).astype(np.float32)
np.save("pixel_values.npy", x)
(y,) = ort.InferenceSession("tiny_head.onnx").run(None, {"pixel_values": x})
np.save("expected_head_logits.npy", y)
