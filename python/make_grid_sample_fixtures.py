"""Writes GridSample fixtures into tests/data/conformance_grid_sample/, in the ONNX node-test
layout (model.onnx + test_data_set_0/input_N.pb, output_N.pb), with outputs computed by ONNX
Runtime: deformable attention's form (RT-DETR, Deformable DETR, Mask2Former: bilinear, zeros,
align_corners 0, sampling points spilling past the map) and every padding mode with and without
align_corners, on odd image sizes, with grids reaching well outside [-1, 1] and a symbolic
batch; opset 20's 'linear' spelling too. The ONNX node-test data holds only a few 1x1 and 4x4
cases. They run under conformance_runner (ctest onnx_conformance_grid_sample).

Run from the repository root: python3 python/make_grid_sample_fixtures.py
The files are committed; rerun this only when a fixture changes.
"""

import os

import numpy as np
from onnx import TensorProto, helper

import node_test_fixtures

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "conformance_grid_sample")
RNG = np.random.default_rng(16)


def case(name, x_shape, grid_hw, reach=1.3, opset=16, **attrs):
    n, c, h, w = x_shape
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", c, h, w])
    grid = helper.make_tensor_value_info("grid", TensorProto.FLOAT, ["batch", *grid_hw, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)
    node = helper.make_node("GridSample", ["x", "grid"], ["y"],
                            name="/decoder/layers.0/attn/GridSample", **attrs)
    g = helper.make_graph([node], name, [x, grid], [y])
    model = node_test_fixtures.model(g, opset, ir_version=8)
    values = RNG.uniform(-reach, reach, (n, *grid_hw, 2)).astype(np.float32)
    # A few exact pixel centres and half-way points (nearest's ties round to even).
    values[0, 0, 0] = [-1.0, 1.0]
    values[0, 0, 1] = [0.0, 0.0]
    node_test_fixtures.write_case(OUT, name, model, {
        "x": RNG.standard_normal(x_shape).astype(np.float32), "grid": values})


def main():
    os.makedirs(OUT, exist_ok=True)
    case("test_gridsample_deformable_zeros", (2, 8, 5, 7), (6, 4), mode="bilinear",
         padding_mode="zeros", align_corners=0)
    for padding in ("zeros", "border", "reflection"):
        for align in (0, 1):
            for mode in ("bilinear", "nearest"):
                case(f"test_gridsample_{mode}_{padding}_align{align}", (1, 3, 6, 9), (5, 3),
                     reach=2.7, mode=mode, padding_mode=padding, align_corners=align)
    case("test_gridsample_opset20_linear_border", (2, 2, 4, 3), (3, 5), opset=20, mode="linear",
         padding_mode="border", align_corners=0)
    case("test_gridsample_single_row_reflection", (1, 2, 1, 6), (2, 4), reach=3.0,
         mode="bilinear", padding_mode="reflection", align_corners=1)


if __name__ == "__main__":
    main()
