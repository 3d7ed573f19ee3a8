"""Writes the If fixtures into tests/data/conformance_if/, in the ONNX node-test layout
(model.onnx + test_data_set_0/input_N.pb, output_N.pb), with outputs computed by ONNX Runtime.

Run from the repository root: python3 python/make_if_fixtures.py
The files are committed; rerun this only when a fixture changes. The test_if_* cases have
conditions known at build time (an initializer, a Constant node, static dims read through Shape
or Size with a symbolic batch) and run under conformance_runner and tests/passes/inline_if_test.cc;
the refuse_* models must be refused (data-dependent or dynamic-dim condition) and the
malformed_* ones rejected at import, by that test.
"""

import os

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import node_test_fixtures

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "conformance_if")
RNG = np.random.default_rng(7)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def model_of(graph, opset=17):
    return node_test_fixtures.model(graph, opset, ir_version=8)


def write_case(name, model, inputs):
    node_test_fixtures.write_case(OUT, name, model, inputs)


def write_model(name, model):
    node_test_fixtures.write_model(OUT, name, model)


def shape_dim_equals(x, axis, value, prefix, out):
    """Nodes computing out = (Shape(x)[axis] == value), as TorchScript writes it."""
    return [
        helper.make_node("Shape", [x], [prefix + "_shape"]),
        helper.make_node("Constant", [], [prefix + "_axis"],
                         value=numpy_helper.from_array(np.array(axis, np.int64))),
        helper.make_node("Gather", [prefix + "_shape", prefix + "_axis"], [prefix + "_dim"], axis=0),
        helper.make_node("Constant", [], [prefix + "_value"],
                         value=numpy_helper.from_array(np.array(value, np.int64))),
        helper.make_node("Equal", [prefix + "_dim", prefix + "_value"], [out]),
    ]


def outer_refs_case():
    # cond = (x.shape[1] == 8) with a symbolic batch: true. The then branch reads the outer x
    # and the outer initializer w; the else branch reads x and b (a different capture set) and
    # has an initializer of its own.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])
    w = numpy_helper.from_array(rand(8, 8), "w")
    b = numpy_helper.from_array(rand(8), "b")
    then_out = helper.make_tensor_value_info("then_y", TensorProto.FLOAT, None)
    then_branch = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["then_mm"]),
         helper.make_node("Relu", ["then_mm"], ["then_y"])], "then", [], [then_out])
    else_out = helper.make_tensor_value_info("else_y", TensorProto.FLOAT, None)
    else_branch = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["else_add"]),
         helper.make_node("Mul", ["else_add", "else_scale"], ["else_y"])], "else", [], [else_out],
        initializer=[numpy_helper.from_array(np.array([3.0], np.float32), "else_scale")])
    nodes = shape_dim_equals("x", 1, 8, "c", "cond")
    nodes.append(helper.make_node("If", ["cond"], ["if_y"], name="/block/If",
                                  then_branch=then_branch, else_branch=else_branch))
    nodes.append(helper.make_node("Add", ["if_y", "x"], ["y"]))
    g = helper.make_graph(nodes, "if_outer_refs", [x], [y], initializer=[w, b])
    write_case("test_if_const_outer_refs", model_of(g), {"x": rand(3, 8)})

    # The same with the other dim: the else branch, with its own initializer, is taken.
    x9 = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 9])
    y9 = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 9])
    w9 = numpy_helper.from_array(rand(9, 9), "w")
    b9 = numpy_helper.from_array(rand(9), "b")
    g = helper.make_graph(nodes, "if_else_initializer", [x9], [y9], initializer=[w9, b9])
    write_case("test_if_const_else_initializer", model_of(g), {"x": rand(2, 9)})


def nested_case():
    # An If on an initializer whose then branch holds an If on Size(x) (a Constant node inside
    # the branch), whose branches read x from two scopes up; the taken inner branch outputs a
    # constant, which the inliner must copy into the If's output.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])
    flag = numpy_helper.from_array(np.array(True), "flag")
    inner_then = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["inner_neg"]),
         helper.make_node("Constant", [], ["inner_const"],
                          value=numpy_helper.from_array(np.array([1.5, -2.5], np.float32)))],
        "inner_then", [],
        [helper.make_tensor_value_info("inner_neg", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("inner_const", TensorProto.FLOAT, None)])
    inner_else = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["inner_x"]),
         helper.make_node("Constant", [], ["inner_zero"],
                          value=numpy_helper.from_array(np.zeros(2, np.float32)))],
        "inner_else", [],
        [helper.make_tensor_value_info("inner_x", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("inner_zero", TensorProto.FLOAT, None)])
    outer_then = helper.make_graph(
        [helper.make_node("Size", ["x4"], ["size"]),
         helper.make_node("Constant", [], ["sixteen"],
                          value=numpy_helper.from_array(np.array(16, np.int64))),
         helper.make_node("Greater", ["size", "sixteen"], ["inner_cond"]),
         helper.make_node("If", ["inner_cond"], ["inner_a", "inner_b"], name="/inner/If",
                          then_branch=inner_then, else_branch=inner_else),
         helper.make_node("Mul", ["inner_a", "x"], ["outer_then_y"])],
        "outer_then", [],
        [helper.make_tensor_value_info("outer_then_y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("inner_b", TensorProto.FLOAT, None)])
    outer_else = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["outer_else_y"]),
         helper.make_node("Constant", [], ["outer_else_z"],
                          value=numpy_helper.from_array(np.ones(2, np.float32)))],
        "outer_else", [],
        [helper.make_tensor_value_info("outer_else_y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("outer_else_z", TensorProto.FLOAT, None)])
    # x4 = a static [2, 4] view of nothing in particular: Size reads a static shape (8 < 16), so
    # the inner condition is false whatever the batch is.
    x4 = numpy_helper.from_array(rand(2, 4), "x4")
    nodes = [helper.make_node("If", ["flag"], ["if_y", "z"], name="/outer/If",
                              then_branch=outer_then, else_branch=outer_else),
             helper.make_node("Add", ["if_y", "x"], ["y"])]
    g = helper.make_graph(nodes, "if_nested", [x], [y, z], initializer=[flag, x4])
    write_case("test_if_const_nested", model_of(g), {"x": rand(3, 4)})


def chained_case():
    # The second If's condition reads the shape of the first If's output, so it is known only
    # once the first is inlined (a second round). First: flag is false, the else branch doubles
    # the width with Concat; second: (width == 8) is then true.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])
    flag = numpy_helper.from_array(np.array([False]), "flag")
    first_then = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["first_relu"])], "first_then", [],
        [helper.make_tensor_value_info("first_relu", TensorProto.FLOAT, None)])
    first_else = helper.make_graph(
        [helper.make_node("Concat", ["x", "x"], ["first_cat"], axis=1)], "first_else", [],
        [helper.make_tensor_value_info("first_cat", TensorProto.FLOAT, None)])
    second_then = helper.make_graph(
        [helper.make_node("Tanh", ["first_y"], ["second_tanh"])], "second_then", [],
        [helper.make_tensor_value_info("second_tanh", TensorProto.FLOAT, None)])
    second_else = helper.make_graph(
        [helper.make_node("Neg", ["first_y"], ["second_neg"])], "second_else", [],
        [helper.make_tensor_value_info("second_neg", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("If", ["flag"], ["first_y"], name="/first/If",
                              then_branch=first_then, else_branch=first_else)]
    nodes += shape_dim_equals("first_y", 1, 8, "c", "second_cond")
    nodes.append(helper.make_node("If", ["second_cond"], ["y"], name="/second/If",
                                  then_branch=second_then, else_branch=second_else))
    g = helper.make_graph(nodes, "if_chained", [x], [y], initializer=[flag])
    write_case("test_if_const_chained", model_of(g), {"x": rand(2, 4)})


def einsum_case():
    # The condition reads the shape of an Einsum's output (VitDet's TorchScript export: layer 0's
    # relative-position Einsum feeds layer 1's Ifs), so the Einsum is lowered before the If is
    # resolved; the branch taken holds an Einsum of its own, lowered once it is inlined.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 5])
    w = numpy_helper.from_array(rand(8, 6), "w")
    w2 = numpy_helper.from_array(rand(6, 5), "w2")
    then_branch = helper.make_graph(
        [helper.make_node("Einsum", ["e", "w2"], ["then_e"], equation="bik,kl->bil"),
         helper.make_node("Relu", ["then_e"], ["then_y"])], "then", [],
        [helper.make_tensor_value_info("then_y", TensorProto.FLOAT, None)])
    else_branch = helper.make_graph(
        [helper.make_node("Slice", ["e", "starts", "ends", "axes"], ["else_y"])], "else", [],
        [helper.make_tensor_value_info("else_y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.array([v], np.int64), n)
                     for n, v in (("starts", 0), ("ends", 5), ("axes", 2))])
    nodes = [helper.make_node("Einsum", ["x", "w"], ["e"], name="/layer.0/attn/Einsum",
                              equation="bij,jk->bik")]
    nodes += shape_dim_equals("e", 2, 6, "c", "cond")
    nodes.append(helper.make_node("If", ["cond"], ["y"], name="/layer.1/attn/If",
                                  then_branch=then_branch, else_branch=else_branch))
    g = helper.make_graph(nodes, "if_after_einsum", [x], [y], initializer=[w, w2])
    write_case("test_if_const_after_einsum", model_of(g), {"x": rand(2, 4, 8)})


def refusal_models():
    # Data-dependent: the condition is a graph input.
    c = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    then_branch = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [],
                                    [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    else_branch = helper.make_graph([helper.make_node("Abs", ["x"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    g = helper.make_graph([helper.make_node("If", ["c"], ["y"], name="/data/If",
                                            then_branch=then_branch, else_branch=else_branch)],
                          "refuse_data", [c, x], [y])
    write_model("refuse_data_condition", model_of(g))

    # Dynamic dim: the condition compares the symbolic 'height' with 8.
    xh = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "height"])
    yh = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "height"])
    nodes = shape_dim_equals("x", 1, 8, "c", "cond")
    nodes.append(helper.make_node("If", ["cond"], ["y"], name="/dyn/If",
                                  then_branch=then_branch, else_branch=else_branch))
    g = helper.make_graph(nodes, "refuse_dynamic", [xh], [yh])
    write_model("refuse_dynamic_dim", model_of(g))

    # Malformed: a branch node without op_type.
    bad_then = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [],
                                 [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    bad_then.node[0].op_type = ""
    flag = numpy_helper.from_array(np.array(True), "flag")
    g = helper.make_graph([helper.make_node("If", ["flag"], ["y"], name="/bad/If",
                                            then_branch=bad_then, else_branch=else_branch)],
                          "malformed", [x], [y], initializer=[flag])
    write_model("malformed_branch_no_op_type", model_of(g))

    # Malformed: the branch reads a name no scope defines.
    dangling = helper.make_graph([helper.make_node("Neg", ["nowhere"], ["t"])], "then", [],
                                 [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    g = helper.make_graph([helper.make_node("If", ["flag"], ["y"], name="/dangling/If",
                                            then_branch=dangling, else_branch=else_branch)],
                          "malformed", [x], [y], initializer=[flag])
    write_model("malformed_branch_undefined_name", model_of(g))

    # Malformed: the then branch defines 'x2', which the else branch reads from the main graph.
    shadow = helper.make_graph([helper.make_node("Abs", ["x"], ["x2"])], "then", [],
                               [helper.make_tensor_value_info("x2", TensorProto.FLOAT, None)])
    reads = helper.make_graph([helper.make_node("Identity", ["x2"], ["e2"])], "else", [],
                              [helper.make_tensor_value_info("e2", TensorProto.FLOAT, None)])
    g = helper.make_graph([helper.make_node("Neg", ["x"], ["x2"]),
                           helper.make_node("If", ["flag"], ["y"], name="/shadow/If",
                                            then_branch=shadow, else_branch=reads)],
                          "malformed", [x], [y], initializer=[flag])
    write_model("malformed_branch_shadows_outer_name", model_of(g))

    # Malformed: the taken branch has two outputs, the If one.
    two = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [],
                            [helper.make_tensor_value_info("t", TensorProto.FLOAT, None),
                             helper.make_tensor_value_info("x", TensorProto.FLOAT, None)])
    g = helper.make_graph([helper.make_node("If", ["flag"], ["y"], name="/arity/If",
                                            then_branch=two, else_branch=else_branch)],
                          "malformed", [x], [y], initializer=[flag])
    write_model("malformed_branch_output_count", model_of(g))


def main():
    os.makedirs(OUT, exist_ok=True)
    outer_refs_case()
    nested_case()
    chained_case()
    einsum_case()
    refusal_models()


if __name__ == "__main__":
    main()
