"""Writes ONNX's own node test cases for ops newer than the ONNX test data vitrt's CI has
(Debian's libonnx-testdata predates them) into tests/data/conformance_onnx_cases/, in the
node-test layout (NAME/model.onnx + test_data_set_N/input_K.pb, output_K.pb).

The models, inputs and expected outputs are ONNX's: the cases that the `onnx` package defines in
onnx.backend.test.case.node, with outputs from its numpy reference implementations, written as
`python -m onnx.backend.test.cmd_tools generate-data` would (vitrt adds nothing of its own). The
`_expanded` forms (the op's function body in primitive ops) come along: vitrt's fusion passes
must turn them back into the op or run them as they are, with the same results.

Run from the repository root: python3 python/make_onnx_case_fixtures.py
The files are committed; rerun this when OPS changes.
"""

import os
import shutil
import warnings

import onnx
from onnx import numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "conformance_onnx_cases")

# Op types whose cases are written, and the case-name prefixes they go by.
OPS = {
    "RMSNormalization": "test_rms_normalization",
    "Swish": "test_swish",
}


def write_case(case):
    folder = os.path.join(OUT, case.name)
    os.makedirs(folder)
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    graph = case.model.graph
    for i, (inputs, outputs) in enumerate(case.data_sets):
        data = os.path.join(folder, f"test_data_set_{i}")
        os.makedirs(data)
        for k, (value, info) in enumerate(zip(inputs, graph.input)):
            with open(os.path.join(data, f"input_{k}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(value, info.name).SerializeToString())
        for k, (value, info) in enumerate(zip(outputs, graph.output)):
            with open(os.path.join(data, f"output_{k}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(value, info.name).SerializeToString())


def main():
    from onnx.backend.test.case import node  # imports every case module once

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = node.collect_testcases()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    written = {op: 0 for op in OPS}
    for case in cases:
        for op, prefix in OPS.items():
            if case.name.startswith(prefix) and case.kind == "node":
                onnx.checker.check_model(case.model)
                write_case(case)
                written[op] += 1
    for op, n in written.items():
        if n == 0:
            raise SystemExit(f"onnx {onnx.__version__} defines no {op} cases")
        print(f"{op}: {n} cases")


if __name__ == "__main__":
    main()
