"""Writes ConvTranspose fixtures into tests/data/conformance_conv_transpose/, in the ONNX
node-test layout (model.onnx + test_data_set_0/input_N.pb, output_N.pb), with outputs computed
by ONNX Runtime: the forms dense-prediction ViTs export (DPT's kernel = stride upsampling,
grouped and depthwise, output_padding, SAME_UPPER, 1-D and 3-D) that the ONNX node tests do not
cover. They run under conformance_runner (ctest onnx_conformance_conv_transpose) on the CPU and
through tests/cuda/cuda_kernels_test.cc's ConvTranspose cases on the GPU.

Run from the repository root: python3 python/make_conv_transpose_fixtures.py
The files are committed; rerun this only when a fixture changes.
"""

import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import node_test_fixtures

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "conformance_conv_transpose")
RNG = np.random.default_rng(11)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def case(name, x_shape, w_shape, bias=True, batch_symbolic=True, **attrs):
    spatial = len(x_shape) - 2
    x_dims = ["batch"] + list(x_shape[1:]) if batch_symbolic else list(x_shape)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * len(x_shape))
    inits = [numpy_helper.from_array(rand(*w_shape) * 0.5, "w")]
    inputs = ["x", "w"]
    if bias:
        group = attrs.get("group", 1)
        inits.append(numpy_helper.from_array(rand(w_shape[1] * group), "b"))
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="/neck/up/ConvTranspose",
                            **attrs)
    g = helper.make_graph([node], name, [x], [y], initializer=inits)
    model = node_test_fixtures.model(g, 17, ir_version=8)
    assert spatial in (1, 2, 3)
    node_test_fixtures.write_case(OUT, name, model, {"x": rand(*x_shape)})


def main():
    os.makedirs(OUT, exist_ok=True)
    # DPT's reassemble stage: kernel = stride (4 and 2), no padding, bias.
    case("test_convtranspose_upsample_k4s4", (2, 6, 5, 7), (6, 4, 4, 4), strides=[4, 4])
    case("test_convtranspose_upsample_k2s2", (3, 8, 4, 4), (8, 8, 2, 2), strides=[2, 2])
    # Groups, stride, dilation, pads and output_padding together.
    case("test_convtranspose_group2_dilated_padded", (2, 4, 5, 6), (4, 3, 3, 2), group=2,
         strides=[2, 3], dilations=[2, 1], pads=[1, 0, 2, 1], output_padding=[1, 2])
    # Depthwise (group = channels), no bias.
    case("test_convtranspose_depthwise", (1, 5, 6, 6), (5, 1, 3, 3), bias=False, group=5,
         strides=[2, 2], pads=[1, 1, 1, 1])
    # SAME_UPPER with an odd total padding, 1-D.
    case("test_convtranspose_1d_same_upper", (2, 3, 7), (3, 2, 4), strides=[2],
         auto_pad="SAME_UPPER")
    # output_shape (pads derived from it), 2-D, and a static batch.
    case("test_convtranspose_output_shape_odd", (1, 2, 4, 5), (2, 3, 3, 3), strides=[2, 2],
         output_shape=[9, 12], batch_symbolic=False)
    # 3-D, grouped.
    case("test_convtranspose_3d_group2", (1, 4, 3, 4, 2), (4, 2, 2, 3, 2), group=2,
         strides=[1, 2, 2], pads=[0, 1, 0, 0, 1, 1])


if __name__ == "__main__":
    main()
