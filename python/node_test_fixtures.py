"""Writes fixtures in the ONNX node-test layout (NAME/model.onnx + test_data_set_0/input_K.pb,
output_K.pb) with outputs computed by ONNX Runtime; shared by make_if_fixtures.py and
make_attention_fixtures.py (tests/testing/node_test_data.h and conformance_runner read them).
"""

import os
import shutil

import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper


def model(graph, opset, ir_version):
    """The fixtures' ModelProto around `graph`: ai.onnx at `opset`, our producer name."""
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="vitrt-fixtures", producer_version="1.0")
    m.ir_version = ir_version
    return m


def write_case(out_dir, name, model, inputs):
    """Checks the model, runs it in ORT and writes the node-test folder out_dir/name."""
    onnx.checker.check_model(model, full_check=True)
    folder = os.path.join(out_dir, name)
    shutil.rmtree(folder, ignore_errors=True)
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: inputs[i.name] for i in sess.get_inputs()}
    outputs = sess.run(None, feeds)
    for k, i in enumerate(sess.get_inputs()):
        with open(os.path.join(data, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(feeds[i.name], i.name).SerializeToString())
    for k, (o, value) in enumerate(zip(sess.get_outputs(), outputs)):
        with open(os.path.join(data, f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(value, o.name).SerializeToString())


def write_model(out_dir, name, model):
    """Writes out_dir/name.onnx as it is (unchecked: malformed models are fixtures too)."""
    with open(os.path.join(out_dir, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())
