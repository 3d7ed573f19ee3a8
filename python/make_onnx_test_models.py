"""Writes the tiny ONNX fixtures of the importer tests into tests/data/onnx/.

Run from the repository root: python3 python/make_onnx_test_models.py
The files are committed; rerun this only when a fixture changes. Every value a test checks is
computed here with the `onnx` package (helper, numpy_helper), independently of vitrt.
"""

import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "onnx")
CONFORMANCE = "/usr/share/libonnx-testdata/data/node"


def save(model, name):
    path = os.path.join(OUT, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    return path


def model_of(graph, opset=17, ir_version=8):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name="vitrt-fixtures", producer_version="1.0")
    m.ir_version = ir_version
    return m


def attributes_model():
    # Symbolic dims (dim_param), concrete dims and dims with neither; an unnamed node, two nodes
    # sharing a name, an omitted optional input, every attribute kind on one custom node, a
    # value_info hint and a second opset domain spelled "ai.onnx".
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, None])
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, None])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, None)
    body = helper.make_graph([], "body", [], [])
    all_attrs = helper.make_node(
        "AllAttrs", ["x", "", "ids"], ["a", ""], name="dup", domain="test.domain",
        f=0.25, i=-7, s="hello", t=numpy_helper.from_array(np.array([1.5, -2.0], np.float32)),
        floats=[1.0, 2.5], ints=[3, -4, 5], strings=["p", "q"], g=body)
    relu = helper.make_node("Relu", ["a"], ["r"], name="dup")
    neg = helper.make_node("Neg", ["r"], ["y"])
    ident = helper.make_node("Identity", ["y"], ["z"])
    hint = helper.make_tensor_value_info("r", TensorProto.FLOAT, ["batch", 3, "w"])
    g = helper.make_graph([all_attrs, relu, neg, ident], "attrs", [x, ids], [y, z],
                          value_info=[hint])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("ai.onnx", 17),
                                            helper.make_opsetid("test.domain", 1)],
                          producer_name="vitrt-fixtures", producer_version="1.0")
    m.ir_version = 8
    save(m, "attributes.onnx")


def constants_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    nodes = [
        helper.make_node("Constant", [], ["c_tensor"],
                         value=numpy_helper.from_array(
                             np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5 - 1.0)),
        helper.make_node("Constant", [], ["c_float"], value_float=2.5),
        helper.make_node("Constant", [], ["c_floats"], value_floats=[1.0, -1.0, 0.125]),
        helper.make_node("Constant", [], ["c_int"], value_int=-3),
        helper.make_node("Constant", [], ["c_ints"], value_ints=[2, 3]),
        helper.make_node("Add", ["x", "c_tensor"], ["s1"]),
        helper.make_node("Mul", ["s1", "c_float"], ["s2"]),
        helper.make_node("Add", ["s2", "c_floats"], ["s3"]),
        helper.make_node("Reshape", ["s3", "c_ints"], ["y"]),
    ]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    c = helper.make_tensor_value_info("c_int", TensorProto.INT64, [])
    save(model_of(helper.make_graph(nodes, "constants", [x], [y, c])), "constants.onnx")


def external_model():
    # Weights in a sub-folder, both in one file so that the second has a non-zero offset.
    w1 = numpy_helper.from_array(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), "w1")
    w2 = numpy_helper.from_array(np.arange(5, dtype=np.int64) * 1000 - 7, "w2")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w1"], ["y"])], "external", [x], [y],
                          initializer=[w1, w2])
    m = model_of(g)
    folder = os.path.join(OUT, "external")
    shutil.rmtree(folder, ignore_errors=True)
    onnx.external_data_helper.convert_model_to_external_data(
        m, all_tensors_to_one_file=True, location="data/weights.bin", size_threshold=0)
    os.makedirs(os.path.join(folder, "data"))
    onnx.save_model(m, os.path.join(folder, "model.onnx"))


def external_bad_models():
    # Same tensor, locations that must be refused, and a length past the end of the file.
    def with_location(location, name, offset=None, length=None):
        t = TensorProto()
        t.name = "w"
        t.data_type = TensorProto.FLOAT
        t.dims.extend([2, 2])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", offset), ("length", length)):
            if v is not None:
                e = t.external_data.add()
                e.key, e.value = k, str(v)
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])
        g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y],
                              initializer=[t])
        save(model_of(g), os.path.join("external", name))

    with_location("../attributes.onnx", "escape.onnx")
    with_location("/etc/hostname", "absolute.onnx")
    with_location("data/weights.bin", "past_end.onnx", offset=80)
    with_location("data/weights.bin", "bad_length.onnx", length=8)
    with_location("data/missing.bin", "missing.onnx")


def initializer_as_input_model():
    # IR version 3 exporters list every initializer among the graph inputs.
    w = numpy_helper.from_array(np.array([[1, 2], [3, 4]], np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])
    wi = helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "init_as_input",
                          [x, wi], [y], initializer=[w])
    save(model_of(g, opset=9, ir_version=3), "initializer_as_input.onnx")


# dtype, onnx type, values: the same values are stored once in the typed field and once in
# raw_data; the test recomputes them with the same formulas.
TYPED = [
    ("float32", TensorProto.FLOAT, lambda i: i * 0.75 - 2.0),
    ("float64", TensorProto.DOUBLE, lambda i: i * 0.1 - 1.0),
    ("float16", TensorProto.FLOAT16, lambda i: i * 0.5 - 1.5),
    ("bfloat16", TensorProto.BFLOAT16, lambda i: i * 0.25 - 1.0),
    ("int8", TensorProto.INT8, lambda i: i * 37 % 256 - 128),
    ("uint8", TensorProto.UINT8, lambda i: i * 53 % 256),
    ("int16", TensorProto.INT16, lambda i: i * 4099 % 65536 - 32768),
    ("uint16", TensorProto.UINT16, lambda i: i * 4099 % 65536),
    ("int32", TensorProto.INT32, lambda i: (i * 123456789) % (1 << 32) - (1 << 31)),
    ("uint32", TensorProto.UINT32, lambda i: (i * 123456789) % (1 << 32)),
    ("int64", TensorProto.INT64, lambda i: (i * 1234567890123) % (1 << 63) - (1 << 62)),
    ("uint64", TensorProto.UINT64, lambda i: (i * 1234567890123456789) % (1 << 64)),
    ("bool", TensorProto.BOOL, lambda i: i % 3 == 1),
]
TYPED_SHAPE = [3, 5]


def typed_tensors_model():
    import ml_dtypes  # noqa: F401  (numpy_helper needs it for bfloat16)
    inits = []
    n = int(np.prod(TYPED_SHAPE))
    for name, onnx_type, fn in TYPED:
        vals = [fn(i) for i in range(n)]
        np_type = helper.tensor_dtype_to_np_dtype(onnx_type)
        exact = np.float64 if name in ("float16", "bfloat16") else np_type
        arr = np.array(vals, dtype=exact).astype(np_type).reshape(TYPED_SHAPE)
        raw = numpy_helper.from_array(arr, name + "_raw")
        assert raw.HasField("raw_data")
        typed = helper.make_tensor(name + "_typed", onnx_type, TYPED_SHAPE, arr.flatten().tolist()
                                   if name not in ("float16", "bfloat16") else arr.flatten(),
                                   raw=False)
        assert not typed.HasField("raw_data")
        np.testing.assert_array_equal(numpy_helper.to_array(typed), arr)
        inits += [typed, raw]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "typed", [x], [y],
                          initializer=inits)
    save(model_of(g), "typed_tensors.onnx")


def error_models():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    # A node reading a value nobody defines.
    g = helper.make_graph([helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")], "g",
                          [x], [y])
    save(model_of(g), "errors/undefined_input.onnx")
    # A string initializer.
    s = helper.make_tensor("words", TensorProto.STRING, [2], [b"a", b"b"])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y],
                          initializer=[s])
    save(model_of(g), "errors/string_initializer.onnx")
    # A string Constant.
    g = helper.make_graph([helper.make_node("Constant", [], ["c"], name="strconst",
                                            value_string="hi"),
                           helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    save(model_of(g), "errors/string_constant.onnx")
    # A sparse initializer.
    sp = helper.make_sparse_tensor(numpy_helper.from_array(np.array([1.0], np.float32), "v"),
                                   numpy_helper.from_array(np.array([1], np.int64), "i"), [2])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y],
                          sparse_initializer=[sp])
    save(model_of(g), "errors/sparse_initializer.onnx")
    # Element count that does not match dims.
    bad = helper.make_tensor("short", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0])
    del bad.dims[:]
    bad.dims.extend([2, 2])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y],
                          initializer=[bad])
    save(model_of(g), "errors/count_mismatch.onnx")
    # An output nobody produces.
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                          [y, helper.make_tensor_value_info("nowhere", TensorProto.FLOAT, [2])])
    save(model_of(g), "errors/undefined_output.onnx")


# Conformance cases whose tensors the tests parse: one per storable dtype at least.
CONFORMANCE_CASES = [
    "test_cast_FLOAT_to_FLOAT16", "test_cast_FLOAT_to_BFLOAT16", "test_cast_FLOAT_to_DOUBLE",
    "test_add_uint8", "test_max_int8", "test_max_int16", "test_max_uint16", "test_max_uint32",
    "test_max_uint64", "test_min_int32", "test_and2d", "test_argmax_default_axis_random",
    "test_gather_0", "test_layer_normalization_2d_axis0",
]


def conformance_references():
    # One text file per .pb: name, dtype, shape, then the values (float64 repr or integers),
    # as onnx.numpy_helper reads them.
    import glob
    folder = os.path.join(OUT, "conformance")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for case in CONFORMANCE_CASES:
        for pb in sorted(glob.glob(os.path.join(CONFORMANCE, case, "test_data_set_0", "*.pb"))):
            t = TensorProto()
            with open(pb, "rb") as f:
                t.ParseFromString(f.read())
            arr = numpy_helper.to_array(t)
            dtype = helper.tensor_dtype_to_np_dtype(t.data_type).name
            if t.data_type == TensorProto.BFLOAT16:
                dtype = "bfloat16"
            flat = arr.flatten()
            if arr.dtype.kind in "iub":
                vals = " ".join(str(int(v)) for v in flat)
            else:
                vals = " ".join(repr(float(v)) for v in flat.astype(np.float64))
            stem = os.path.splitext(os.path.basename(pb))[0]
            with open(os.path.join(folder, f"{case}.{stem}.txt"), "w") as f:
                f.write(f"{t.name}\n{dtype}\n{' '.join(str(d) for d in arr.shape)}\n{vals}\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    attributes_model()
    constants_model()
    external_model()
    external_bad_models()
    initializer_as_input_model()
    typed_tensors_model()
    error_models()
    conformance_references()


if __name__ == "__main__":
    main()
