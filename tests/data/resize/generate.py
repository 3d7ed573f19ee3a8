"""Generates the Resize reference data that tests/cpu/resize_test.cc checks against.

Each case is one Resize node (opset 19) run by the ONNX reference implementation (the spec's
formulas); onnxruntime is run too and its largest difference printed, as a second opinion.
For the position-embedding case, torch's F.interpolate(bicubic, align_corners=False) is also
compared. Writes <case>.in.bin and <case>.out.bin (raw little-endian float32) next to this file.
The case table must match kCases in resize_test.cc.

    python3 tests/data/resize/generate.py
"""
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

HERE = os.path.dirname(os.path.abspath(__file__))

# name, input shape, attributes, roi, scales, sizes
CASES = [
    ("posembed_cubic", [1, 24, 14, 14], dict(mode="cubic", coordinate_transformation_mode="half_pixel"),
     None, None, [1, 24, 16, 16]),
    ("cubic_align_corners_up", [1, 2, 5, 7], dict(mode="cubic", coordinate_transformation_mode="align_corners"),
     None, [1.0, 1.0, 1.8, 1.5], None),
    ("cubic_exclude_symmetric", [2, 3, 9, 7],
     dict(mode="cubic", cubic_coeff_a=-0.5, exclude_outside=1,
          coordinate_transformation_mode="half_pixel_symmetric"),
     None, None, [2, 3, 5, 11]),
    ("cubic_antialias_down", [1, 3, 17, 23], dict(mode="cubic", antialias=1),
     None, [1.0, 1.0, 0.5, 0.35], None),
    ("linear_antialias_down", [2, 3, 20, 15], dict(mode="linear", antialias=1),
     None, None, [2, 3, 7, 6]),
    ("linear_pytorch_half_pixel", [1, 2, 6, 5],
     dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
     None, None, [1, 2, 1, 9]),
    ("linear_asymmetric_3d", [3, 7, 5], dict(mode="linear", coordinate_transformation_mode="asymmetric"),
     None, [1.0, 0.7, 2.2], None),
    ("linear_tf_crop", [1, 1, 6, 8],
     dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-3.0),
     [0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3], None, [1, 1, 5, 7]),
    ("nearest_round_prefer_floor", [1, 2, 5, 6], dict(mode="nearest"), None, [1.0, 1.0, 1.7, 0.6], None),
    ("nearest_round_prefer_ceil_asym", [1, 2, 5, 6],
     dict(mode="nearest", nearest_mode="round_prefer_ceil", coordinate_transformation_mode="asymmetric"),
     None, [1.0, 1.0, 2.5, 0.5], None),
    ("nearest_floor_align", [1, 2, 5, 6],
     dict(mode="nearest", nearest_mode="floor", coordinate_transformation_mode="align_corners"),
     None, None, [1, 2, 8, 4]),
    ("nearest_ceil_half_pixel", [1, 2, 5, 6], dict(mode="nearest", nearest_mode="ceil"),
     None, None, [1, 2, 3, 13]),
    ("cubic_axes_not_larger", [1, 3, 10, 8],
     dict(mode="cubic", axes=[2, 3], keep_aspect_ratio_policy="not_larger"), None, None, [7, 9]),
]


def make_model(shape, attrs, roi, scales, sizes):
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, shape)]
    inits = []
    names = ["X", "", "", ""]
    if roi is not None:
        inits.append(helper.make_tensor("roi", TensorProto.FLOAT, [len(roi)], roi))
        names[1] = "roi"
    if scales is not None:
        inits.append(helper.make_tensor("scales", TensorProto.FLOAT, [len(scales)], scales))
        names[2] = "scales"
    if sizes is not None:
        inits.append(helper.make_tensor("sizes", TensorProto.INT64, [len(sizes)], sizes))
        names[3] = "sizes"
    while names[-1] == "":
        names.pop()
    node = helper.make_node("Resize", names, ["Y"], **attrs)
    graph = helper.make_graph([node], "resize", inputs,
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


ort.set_default_logger_severity(3)


def main():
    rng = np.random.default_rng(1234)
    for name, shape, attrs, roi, scales, sizes in CASES:
        x = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
        model = make_model(shape, attrs, roi, scales, sizes)
        onnx.checker.check_model(model, full_check=False)
        ref = ReferenceEvaluator(model).run(None, {"X": x})[0].astype(np.float32)
        note = ""
        try:
            sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            got = sess.run(None, {"X": x})[0]
            note = f"ort max diff {np.abs(got - ref).max():.2e}" if got.shape == ref.shape else \
                f"ort shape {got.shape}"
        except Exception as e:  # noqa: BLE001 - a second opinion only
            note = f"ort failed: {str(e)[:60]}"
        if name == "posembed_cubic":
            import torch
            t = torch.nn.functional.interpolate(torch.from_numpy(x), size=sizes[2:], mode="bicubic",
                                                align_corners=False).numpy()
            note += f", torch max diff {np.abs(t - ref).max():.2e}"
        x.tofile(os.path.join(HERE, f"{name}.in.bin"))
        ref.tofile(os.path.join(HERE, f"{name}.out.bin"))
        print(f"{name}: {list(x.shape)} -> {list(ref.shape)}; {note}")


if __name__ == "__main__":
    main()
