"""Writes ONNX Attention (opset 23) fixtures into tests/data/conformance_attention/, in the ONNX
node-test layout (model.onnx + test_data_set_0/input_N.pb, output_N.pb), with outputs computed by
ONNX Runtime.

Run from the repository root: python3 python/make_attention_fixtures.py
The files are committed; rerun this only when a fixture changes. The test_attention_* cases are
the forms torch.onnx.export(dynamo=True) writes for scaled_dot_product_attention at opset 23 and
the ones vitrt lowers (rank-4 and rank-3 inputs, explicit scale, float and boolean masks, causal
with static and with symbolic lengths, grouped heads, softcap); they run under
conformance_runner --strict. The refuse_* models (a key/value cache, causal between dynamic
query and key lengths) must be refused by name, by tests/passes/lower_onnx_attention_test.cc.
"""

import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import node_test_fixtures

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "data", "conformance_attention")
RNG = np.random.default_rng(23)
F = TensorProto.FLOAT


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def model_of(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "attention", inputs, outputs, initializer=list(initializers))
    return node_test_fixtures.model(graph, 23, ir_version=10)


def write_case(name, model, inputs):
    node_test_fixtures.write_case(OUT, name, model, inputs)


def write_model(name, model):
    onnx.checker.check_model(model, full_check=True)
    node_test_fixtures.write_model(OUT, name, model)


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    # The exporter's form: rank-4 heads, no mask, default scale.
    m = model_of([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], name="sdpa")],
                 [vi("Q", ["batch", 3, 7, 8]), vi("K", ["batch", 3, 7, 8]),
                  vi("V", ["batch", 3, 7, 8])], [vi("Y", ["batch", 3, 7, 8])])
    write_case("test_attention_4d", m, {"Q": rand(2, 3, 7, 8), "K": rand(2, 3, 7, 8),
                                        "V": rand(2, 3, 7, 8)})
    # Explicit scale, query and key lengths differ, V's head size differs from Q's.
    m = model_of([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], name="sdpa", scale=0.3)],
                 [vi("Q", [2, 2, 4, 8]), vi("K", [2, 2, 6, 8]), vi("V", [2, 2, 6, 5])],
                 [vi("Y", [2, 2, 4, 5])])
    write_case("test_attention_4d_scale_cross", m, {"Q": rand(2, 2, 4, 8), "K": rand(2, 2, 6, 8),
                                                    "V": rand(2, 2, 6, 5)})
    # A float additive mask [Sq, Sk] and a boolean one [B, 1, Sq, Sk].
    m = model_of([helper.make_node("Attention", ["Q", "K", "V", "mask"], ["Y"], name="sdpa")],
                 [vi("Q", [2, 2, 5, 4]), vi("K", [2, 2, 5, 4]), vi("V", [2, 2, 5, 4]),
                  vi("mask", [5, 5])], [vi("Y", [2, 2, 5, 4])])
    write_case("test_attention_4d_float_mask", m,
               {"Q": rand(2, 2, 5, 4), "K": rand(2, 2, 5, 4), "V": rand(2, 2, 5, 4),
                "mask": rand(5, 5)})
    keep = RNG.random((2, 1, 5, 5)) > 0.3
    keep[..., 0] = True  # every query sees at least one key
    m = model_of([helper.make_node("Attention", ["Q", "K", "V", "mask"], ["Y"], name="sdpa")],
                 [vi("Q", [2, 2, 5, 4]), vi("K", [2, 2, 5, 4]), vi("V", [2, 2, 5, 4]),
                  vi("mask", [2, 1, 5, 5], TensorProto.BOOL)], [vi("Y", [2, 2, 5, 4])])
    write_case("test_attention_4d_bool_mask", m,
               {"Q": rand(2, 2, 5, 4), "K": rand(2, 2, 5, 4), "V": rand(2, 2, 5, 4),
                "mask": keep})
    # Causal, static lengths (a constant mask the fusion recognises).
    m = model_of([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], name="sdpa",
                                   is_causal=1)],
                 [vi("Q", [1, 2, 6, 4]), vi("K", [1, 2, 6, 4]), vi("V", [1, 2, 6, 4])],
                 [vi("Y", [1, 2, 6, 4])])
    write_case("test_attention_4d_causal", m,
               {"Q": rand(1, 2, 6, 4), "K": rand(1, 2, 6, 4), "V": rand(1, 2, 6, 4)})
    # Heads merged after the op, as exporters write it ([B, H, S, Dv] -> [B, S, H*Dv]): the
    # form the fused attention replaces whole; causal over static lengths.
    for causal in (0, 1):
        shape = numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "merged_shape")
        m = model_of([helper.make_node("Attention", ["Q", "K", "V"], ["heads"], name="sdpa",
                                       is_causal=causal),
                      helper.make_node("Transpose", ["heads"], ["bshd"], perm=[0, 2, 1, 3]),
                      helper.make_node("Reshape", ["bshd", "merged_shape"], ["Y"])],
                     [vi("Q", ["batch", 4, 6, 8]), vi("K", ["batch", 4, 6, 8]),
                      vi("V", ["batch", 4, 6, 8])], [vi("Y", ["batch", 6, 32])], [shape])
        write_case("test_attention_4d_merged" + ("_causal" if causal else ""), m,
                   {"Q": rand(3, 4, 6, 8), "K": rand(3, 4, 6, 8), "V": rand(3, 4, 6, 8)})
    # Rank 3 with q_num_heads / kv_num_heads; causal over a symbolic length (direct lowering).
    for causal in (0, 1):
        m = model_of([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], name="sdpa",
                                       q_num_heads=3, kv_num_heads=3, is_causal=causal)],
                     [vi("Q", ["batch", "seq", 12]), vi("K", ["batch", "seq", 12]),
                      vi("V", ["batch", "seq", 9])], [vi("Y", ["batch", "seq", 9])])
        write_case("test_attention_3d" + ("_causal" if causal else ""), m,
                   {"Q": rand(2, 6, 12), "K": rand(2, 6, 12), "V": rand(2, 6, 9)})
    # Grouped heads (each key/value head serves two query heads), rank 4 and rank 3.
    m = model_of([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], name="gqa")],
                 [vi("Q", [2, 4, 5, 8]), vi("K", [2, 2, 5, 8]), vi("V", [2, 2, 5, 6])],
                 [vi("Y", [2, 4, 5, 6])])
    write_case("test_attention_4d_gqa", m,
               {"Q": rand(2, 4, 5, 8), "K": rand(2, 2, 5, 8), "V": rand(2, 2, 5, 6)})
    m = model_of([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], name="gqa",
                                   q_num_heads=4, kv_num_heads=2)],
                 [vi("Q", ["batch", 5, 32]), vi("K", ["batch", 5, 16]),
                  vi("V", ["batch", 5, 16])], [vi("Y", ["batch", 5, 32])])
    write_case("test_attention_3d_gqa", m,
               {"Q": rand(2, 5, 32), "K": rand(2, 5, 16), "V": rand(2, 5, 16)})
    # Softcap before a float mask; causal between a shorter query and longer keys (top left).
    m = model_of([helper.make_node("Attention", ["Q", "K", "V", "mask"], ["Y"], name="capped",
                                   softcap=2.0)],
                 [vi("Q", [2, 2, 5, 4]), vi("K", [2, 2, 5, 4]), vi("V", [2, 2, 5, 4]),
                  vi("mask", [5, 5])], [vi("Y", [2, 2, 5, 4])])
    write_case("test_attention_4d_softcap", m,
               {"Q": 3 * rand(2, 2, 5, 4), "K": rand(2, 2, 5, 4), "V": rand(2, 2, 5, 4),
                "mask": rand(5, 5)})
    m = model_of([helper.make_node("Attention", ["Q", "K", "V"], ["Y"], name="sdpa",
                                   is_causal=1)],
                 [vi("Q", [1, 2, 4, 8]), vi("K", [1, 2, 6, 8]), vi("V", [1, 2, 6, 8])],
                 [vi("Y", [1, 2, 4, 8])])
    write_case("test_attention_4d_causal_cross", m,
               {"Q": rand(1, 2, 4, 8), "K": rand(1, 2, 6, 8), "V": rand(1, 2, 6, 8)})
    # Refused: a key/value cache; causal between dynamic query and key lengths.
    write_model("refuse_past_key", model_of(
        [helper.make_node("Attention", ["Q", "K", "V", "", "past_k", "past_v"],
                          ["Y", "present_k", "present_v"], name="cached")],
        [vi("Q", [1, 2, 1, 8]), vi("K", [1, 2, 1, 8]), vi("V", [1, 2, 1, 8]),
         vi("past_k", [1, 2, 4, 8]), vi("past_v", [1, 2, 4, 8])],
        [vi("Y", [1, 2, 1, 8]), vi("present_k", [1, 2, 5, 8]), vi("present_v", [1, 2, 5, 8])]))
    write_model("refuse_causal_dynamic_cross", model_of(
        [helper.make_node("Attention", ["Q", "K", "V"], ["Y"], name="cross", is_causal=1,
                          q_num_heads=2, kv_num_heads=2)],
        [vi("Q", [1, "q_len", 16]), vi("K", [1, "k_len", 16]), vi("V", [1, "k_len", 16])],
        [vi("Y", [1, "q_len", 16])]))


if __name__ == "__main__":
    main()
