"""Writes Col2Im (opset 18) fixtures into tests/data/conformance_col2im/, in the ONNX node-test
layout (model.onnx + test_data_set_0/input_N.pb, output_N.pb), with outputs computed by ONNX
Runtime: the folds torch.nn.Fold exports (VOLO's overlapping 3x3 stride-2 windows, MobileViTV2's
non-overlapping 2x2 patches) and the corners of the spec (dilation, uneven pads, image sizes
that no block reaches to the edge, 1-D and 3-D, image_shape from a Constant node). The ONNX
node-test data vitrt is checked against predates the op. They run under conformance_runner
(ctest onnx_conformance_col2im).

Run from the repository root: python3 python/make_col2im_fixtures.py
The files are committed; rerun this only when a fixture changes.
"""

import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import node_test_fixtures

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "conformance_col2im")
RNG = np.random.default_rng(18)


def blocks(image, block, strides, dilations, pads):
    s = len(image)
    count = 1
    for i in range(s):
        span = image[i] + pads[i] + pads[s + i] - dilations[i] * (block[i] - 1) - 1
        count *= span // strides[i] + 1
    return count


def case(name, batch, channels, image, block, strides=None, dilations=None, pads=None,
         constant_node=False):
    s = len(image)
    strides = strides or [1] * s
    dilations = dilations or [1] * s
    pads = pads or [0] * (2 * s)
    k = int(np.prod(block))
    shape = (batch, channels * k, blocks(image, block, strides, dilations, pads))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *shape[1:]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * (2 + s))
    consts = [numpy_helper.from_array(np.array(image, np.int64), "image_shape"),
              numpy_helper.from_array(np.array(block, np.int64), "block_shape")]
    nodes, inits = [], []
    if constant_node:  # TorchScript's form: Constant nodes, not initializers
        nodes = [helper.make_node("Constant", [], [c.name], value=c) for c in consts]
    else:
        inits = consts
    nodes.append(helper.make_node("Col2Im", ["x", "image_shape", "block_shape"], ["y"],
                                  name="/blocks.0/attn/Col2Im", strides=strides,
                                  dilations=dilations, pads=pads))
    g = helper.make_graph(nodes, name, [x], [y], initializer=inits)
    model = node_test_fixtures.model(g, 18, ir_version=8)
    node_test_fixtures.write_case(OUT, name, model,
                                  {"x": RNG.standard_normal(shape).astype(np.float32)})


def main():
    os.makedirs(OUT, exist_ok=True)
    # VOLO's outlook attention: 3x3 windows, stride 2, padding 1, overlapping.
    case("test_col2im_volo_overlap", 2, 4, [8, 8], [3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    # MobileViTV2: 2x2 patches, stride 2 (non-overlapping; becomes 1x1 Conv + DepthToSpace).
    case("test_col2im_mobilevitv2_patches", 3, 5, [6, 4], [2, 2], strides=[2, 2])
    # Dilation, uneven pads, and an image edge that no block reaches (output_padding).
    case("test_col2im_dilated_uneven", 1, 2, [7, 9], [2, 3], strides=[2, 2], dilations=[2, 1],
         pads=[1, 0, 0, 2])
    # 1-D, stride 3 over 11: the last row is reached by no block.
    case("test_col2im_1d_stride", 2, 3, [11], [3], strides=[3])
    # 3-D, and image_shape / block_shape from Constant nodes.
    case("test_col2im_3d_constant_node", 1, 2, [3, 4, 5], [2, 2, 2], strides=[1, 2, 1],
         pads=[0, 1, 0, 0, 0, 1], constant_node=True)


if __name__ == "__main__":
    main()
