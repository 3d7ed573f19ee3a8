"""Writes Col2Im fixtures into tests/data/conformance_col2im/, in the ONNX node-test layout
(model.onnx + test_data_set_0/input_N.pb, output_N.pb), with outputs computed by ONNX Runtime
and checked here against a float64 loop written from the operator's definition (every column
entry added into the image position its block and offset select). Col2Im is `torch.nn.Fold`,
which VOLO's outlook attention exports (dynamo, opset 18 and up); the Debian ONNX node tests
predate it. They run under conformance_runner (ctest onnx_conformance_col2im) on the CPU and
through tests/cuda/cuda_kernels_test.cc's Col2Im cases on the GPU.

Run from the repository root: python3 python/make_col2im_fixtures.py
The files are committed; rerun this only when a fixture changes.
"""

import itertools
import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import node_test_fixtures

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "conformance_col2im")
RNG = np.random.default_rng(5)


def reference(x, image, block, strides, pads, dilations):
    """float64 Col2Im: out[n, c, p] += x[n, c*K + k, l] for p = l*stride - pad_begin + k*dilation."""
    k_dims = len(image)
    grid = [(image[d] + pads[d] + pads[d + k_dims] - dilations[d] * (block[d] - 1) - 1)
            // strides[d] + 1 for d in range(k_dims)]
    n, ck, length = x.shape
    kernel = int(np.prod(block))
    assert length == int(np.prod(grid)) and ck % kernel == 0
    out = np.zeros((n, ck // kernel, *image), np.float64)
    for k, ks in enumerate(itertools.product(*(range(b) for b in block))):
        for li, ls in enumerate(itertools.product(*(range(g) for g in grid))):
            pos = [ls[d] * strides[d] - pads[d] + ks[d] * dilations[d] for d in range(k_dims)]
            if all(0 <= pos[d] < image[d] for d in range(k_dims)):
                out[(slice(None), slice(None), *pos)] += x[:, k::kernel, li]
    return out


def case(name, batch, channels, image, block, strides=None, pads=None, dilations=None,
         symbolic_batch=True, constant_node=False):
    k_dims = len(image)
    strides = strides or [1] * k_dims
    pads = pads or [0] * (2 * k_dims)
    dilations = dilations or [1] * k_dims
    grid = [(image[d] + pads[d] + pads[d + k_dims] - dilations[d] * (block[d] - 1) - 1)
            // strides[d] + 1 for d in range(k_dims)]
    kernel = int(np.prod(block))
    shape = (batch, channels * kernel, int(np.prod(grid)))
    x_info = helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["batch", *shape[1:]] if symbolic_batch else list(shape))
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * (2 + k_dims))
    inits = [numpy_helper.from_array(np.array(image, np.int64), "image_shape"),
             numpy_helper.from_array(np.array(block, np.int64), "block_shape")]
    node = helper.make_node("Col2Im", ["x", "image_shape", "block_shape"], ["y"],
                            name="/attn/Col2Im", strides=strides, pads=pads,
                            dilations=dilations)
    nodes = [node]
    if constant_node:  # TorchScript's form: Constant nodes, not initializers
        nodes = [helper.make_node("Constant", [], [c.name], value=c) for c in inits] + nodes
        inits = []
    g = helper.make_graph(nodes, name, [x_info], [y_info], initializer=inits)
    model = node_test_fixtures.model(g, 18, ir_version=8)
    x = RNG.standard_normal(shape).astype(np.float32)
    node_test_fixtures.write_case(OUT, name, model, {"x": x})
    # ONNX Runtime's output (written above) against the float64 definition.
    out = numpy_helper.to_array(__import__("onnx").load_tensor(
        os.path.join(OUT, name, "test_data_set_0", "output_0.pb")))
    want = reference(x.astype(np.float64), image, block, strides, pads, dilations)
    err = np.abs(out - want).max() / np.abs(want).max()
    assert err < 1e-6, f"{name}: ONNX Runtime differs from the definition by {err}"
    print(f"{name}: x {shape} -> y {out.shape}, ORT vs float64 {err:.1e}")


def main():
    os.makedirs(OUT, exist_ok=True)
    # VOLO's outlook attention: 3x3 blocks, stride 2, pad 1 on an 8x8 map.
    case("test_col2im_volo_k3s2p1", 2, 6, [8, 8], [3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    # Non-overlapping blocks (kernel = stride): a pure rearrangement.
    case("test_col2im_k2s2", 3, 4, [6, 4], [2, 2], strides=[2, 2])
    # Rectangular blocks, dilation, asymmetric pads, odd image, static batch.
    case("test_col2im_dilated_asym_pads", 1, 3, [7, 9], [2, 3], strides=[1, 2],
         pads=[0, 1, 2, 1], dilations=[2, 1], symbolic_batch=False)
    # 1-D and 3-D.
    case("test_col2im_1d", 2, 5, [11], [4], strides=[3], pads=[2, 1])
    case("test_col2im_3d", 1, 2, [4, 5, 3], [2, 2, 2], strides=[1, 2, 1], pads=[1, 0, 0, 0, 1, 1])
    # VOLO again at other sizes; MobileViTV2's non-overlapping 2x2 patches.
    case("test_col2im_volo_overlap", 2, 4, [8, 8], [3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    case("test_col2im_mobilevitv2_patches", 3, 5, [6, 4], [2, 2], strides=[2, 2])
    # Dilation, uneven pads, and an image edge that no block reaches.
    case("test_col2im_dilated_uneven", 1, 2, [7, 9], [2, 3], strides=[2, 2], dilations=[2, 1],
         pads=[1, 0, 0, 2])
    # 1-D, stride 3 over 11: the last row is reached by no block.
    case("test_col2im_1d_stride", 2, 3, [11], [3], strides=[3])
    # 3-D, and image_shape / block_shape from Constant nodes.
    case("test_col2im_3d_constant_node", 1, 2, [3, 4, 5], [2, 2, 2], strides=[1, 2, 1],
         pads=[0, 1, 0, 0, 0, 1], constant_node=True)


if __name__ == "__main__":
    main()
