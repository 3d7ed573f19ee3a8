#!/usr/bin/env python3
"""Makes the test models ONNX Runtime writes when it optimizes a model: its com.microsoft ops.

  vit_transformers_optimizer  a tiny timm ViT (TorchScript export, opset 17) through
                              onnxruntime.transformers' optimize_model (model_type vit):
                              SkipLayerNormalization, BiasGelu
  hf_vit_session_extended     a tiny HF ViT (eager attention) saved by an InferenceSession
                              with ORT_ENABLE_EXTENDED optimizations: FusedMatMul, BiasGelu
  hf_vit_dynamic_session      that ViT through quantize_dynamic (int8 weights), then saved the
                              same way: DynamicQuantizeMatMul, MatMulIntegerToFloat (q, k and v
                              share one DynamicQuantizeLinear), SkipLayerNormalization, Gelu
  clip_text_optimizer         a tiny HF CLIP text tower (input_ids in, pooled output) through
                              optimize_model (model_type clip): SkipLayerNormalization, QuickGelu
  clip_vision_optimizer       a tiny HF CLIP vision tower (eager attention) through
                              optimize_model (model_type clip): Attention (packed weights),
                              SkipLayerNormalization, QuickGelu
  clip_vision_qattention      that tower through quantize_dynamic: QAttention (int8 weights,
                              the input quantized by DynamicQuantizeLinear)
  ms_attention_*              one com.microsoft.Attention node each (input projection inside),
                              ms_mha_* one MultiHeadAttention node each, written here with
                              onnx.helper: every mask form, attention_bias, unidirectional,
                              scale, qkv_hidden_sizes, packed and heads-layout inputs

Each OUT/<name>/ holds model.onnx, the input(s) and expected.npy: ONNX Runtime's CPU output of
that very model. `ops.txt` lists the model's com.microsoft ops, which the test checks are there.

Run from the repository root:
  python3 python/make_ort_contrib_fixtures.py [--out tests/data/ort_contrib]
"""

import argparse
import collections
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
import timm
import torch
import transformers
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model

SEED = 0


def export(model, args, names, path):
    torch.onnx.export(model, args, path, opset_version=17, dynamo=False, input_names=names,
                      output_names=["y"], dynamic_axes={n: {0: "batch"} for n in names})


class Output(torch.nn.Module):
    """An HF model with one named input, exported for one field of its output."""

    def __init__(self, model, input_name, field):
        super().__init__()
        self.m, self.input_name, self.field = model, input_name, field

    def forward(self, x):
        return getattr(self.m(**{self.input_name: x}), self.field)


def session_optimized(src, dst):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = dst
    ort.InferenceSession(src, options, providers=["CPUExecutionProvider"])


def write_case(out, name, path, feeds, reference=None):
    """reference: (model path, feeds) that ONNX Runtime's CPU runs in place of the case's own
    model, for forms its CPU kernels lack (MultiHeadAttention's packed inputs): the same
    attention on the unpacked tensors."""
    case = os.path.join(out, name)
    os.makedirs(case, exist_ok=True)
    model_path = os.path.join(case, "model.onnx")
    model = onnx.load(path)
    onnx.save(model, model_path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    ref_path, ref_feeds = reference or (model_path, feeds)
    expected = ort.InferenceSession(ref_path, options, providers=["CPUExecutionProvider"]).run(
        None, ref_feeds)[0]
    for key, value in feeds.items():
        np.save(os.path.join(case, f"{key}.npy"), value)
    np.save(os.path.join(case, "expected.npy"), expected)
    contrib = collections.Counter(n.op_type for n in model.graph.node if n.domain == "com.microsoft")
    with open(os.path.join(case, "ops.txt"), "w") as f:
        for op in sorted(contrib):
            f.write(f"{op}\n")
    print(f"{name}: com.microsoft {dict(contrib)}; output scale {np.abs(expected).max():.3g}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/data/ort_contrib")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    torch.manual_seed(SEED)
    tmp = tempfile.mkdtemp()

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8,
                            depth=2, embed_dim=32, num_heads=2, num_classes=10).eval()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    float_path = os.path.join(tmp, "vit.onnx")
    export(vit, torch.from_numpy(x), ["x"], float_path)
    optimized = os.path.join(tmp, "vit_opt.onnx")
    optimize_model(float_path, model_type="vit", num_heads=2, hidden_size=32).save_model_to_file(
        optimized)
    write_case(args.out, "vit_transformers_optimizer", optimized, {"x": x})

    hf_config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32,
                                       num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=64, attn_implementation="eager")
    hf_vit = transformers.ViTModel(hf_config, add_pooling_layer=False).eval()

    hf_path = os.path.join(tmp, "hf_vit.onnx")
    export(Output(hf_vit, "pixel_values", "last_hidden_state"), torch.from_numpy(x), ["x"],
           hf_path)
    extended = os.path.join(tmp, "hf_vit_ext.onnx")
    session_optimized(hf_path, extended)
    write_case(args.out, "hf_vit_session_extended", extended, {"x": x})
    quantized = os.path.join(tmp, "hf_vit_q.onnx")
    quantize_dynamic(hf_path, quantized, weight_type=QuantType.QInt8)
    quantized_ext = os.path.join(tmp, "hf_vit_q_ext.onnx")
    session_optimized(quantized, quantized_ext)
    write_case(args.out, "hf_vit_dynamic_session", quantized_ext, {"x": x})

    config = transformers.CLIPTextConfig(vocab_size=1000, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2,
                                         max_position_embeddings=77, eos_token_id=2)
    text = transformers.CLIPTextModel(config).eval()

    ids = rng.integers(3, 1000, size=(2, 16)).astype(np.int64)
    ids[:, -1] = 2
    text_path = os.path.join(tmp, "text.onnx")
    export(Output(text, "input_ids", "pooler_output"), torch.from_numpy(ids), ["input_ids"],
           text_path)
    text_opt = os.path.join(tmp, "text_opt.onnx")
    optimize_model(text_path, model_type="clip", num_heads=2, hidden_size=32).save_model_to_file(
        text_opt)
    write_case(args.out, "clip_text_optimizer", text_opt, {"input_ids": ids})

    vision_config = transformers.CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32,
                                                  intermediate_size=64, num_hidden_layers=2,
                                                  num_attention_heads=2,
                                                  attn_implementation="eager")
    vision = transformers.CLIPVisionModel(vision_config).eval()

    vision_path = os.path.join(tmp, "vision.onnx")
    export(Output(vision, "pixel_values", "pooler_output"), torch.from_numpy(x), ["x"],
           vision_path)
    vision_opt = os.path.join(tmp, "vision_opt.onnx")
    optimize_model(vision_path, model_type="clip", num_heads=2,
                   hidden_size=32).save_model_to_file(vision_opt)
    write_case(args.out, "clip_vision_optimizer", vision_opt, {"x": x})
    # quantize_dynamic on the optimized tower: Attention becomes QAttention (its own shape
    # inference cannot type the com.microsoft outputs, hence DefaultTensorType).
    vision_q = os.path.join(tmp, "vision_q.onnx")
    quantize_dynamic(vision_opt, vision_q, weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})
    write_case(args.out, "clip_vision_qattention", vision_q, {"x": x})

    attention_cases(args.out, rng, tmp)


def contrib_model(op, inputs, initializers, attrs, out_width, path):
    """One com.microsoft `op` node; inputs are (name, numpy array) feeds, "" for an omitted one."""
    names = [name for name, _ in inputs]
    graph_inputs = [helper.make_tensor_value_info(
        name, helper.np_dtype_to_tensor_dtype(value.dtype),
        ["batch" if i == 0 and value.ndim > 1 and d > 1 else d for i, d in enumerate(value.shape)])
        for name, value in inputs if name]
    inits = [onnx.numpy_helper.from_array(value, name) for name, value in initializers]
    node_inputs = names + [name for name, _ in initializers]
    order = {"Attention": ["input", "weights", "bias", "mask_index", "past", "attention_bias"],
             "MultiHeadAttention": ["query", "key", "value", "bias", "key_padding_mask",
                                    "attention_bias"]}[op]
    present = dict(zip(node_inputs, node_inputs))
    ordered = [present.get(n, "") for n in order]
    while ordered and not ordered[-1]:
        ordered.pop()
    node = helper.make_node(op, ordered, ["y"], domain="com.microsoft", name="attn", **attrs)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", None, out_width])
    graph = helper.make_graph([node], "g", graph_inputs, [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, path)
    return {name: value for name, value in inputs if name}


def attention_cases(out, rng, tmp):
    """com.microsoft.Attention and MultiHeadAttention forms, one node a case."""
    b, s, hidden, heads = 2, 5, 16, 2
    f32 = np.float32

    def normal(*shape):
        return rng.standard_normal(shape).astype(f32)

    x = normal(b, s, hidden)
    w, bias = normal(hidden, 3 * hidden) * 0.5, normal(3 * hidden)
    raw = np.ones((b, s), np.int32)
    raw[1, 3:] = 0  # the second sequence is 3 long
    cases = {
        "ms_attention_plain": ([("input", x)], [("weights", w), ("bias", bias)],
                               {"num_heads": heads}),
        "ms_attention_raw_mask": ([("input", x), ("mask_index", raw)],
                                  [("weights", w), ("bias", bias)], {"num_heads": heads}),
        "ms_attention_end_positions": ([("input", x), ("mask_index", np.array([5, 2], np.int32))],
                                       [("weights", w), ("bias", bias)], {"num_heads": heads}),
        "ms_attention_end_start_positions": (
            [("input", x), ("mask_index", np.array([5, 4, 0, 1], np.int32))],
            [("weights", w), ("bias", bias)], {"num_heads": heads}),
        "ms_attention_3d_mask_bias_causal": (
            [("input", x), ("mask_index", (rng.random((b, s, s)) > 0.3).astype(np.int32)),
             ("attention_bias", normal(1, heads, s, s))],
            [("weights", w), ("bias", bias)],
            {"num_heads": heads, "unidirectional": 1, "mask_filter_value": -1000.0}),
        "ms_attention_sizes_scale": (
            [("input", x)], [("weights", normal(hidden, 16 + 16 + 8)), ("bias", normal(40))],
            {"num_heads": heads, "qkv_hidden_sizes": [16, 16, 8], "scale": 0.2}),
    }
    for name, (inputs, inits, attrs) in cases.items():
        width = attrs.get("qkv_hidden_sizes", [hidden] * 3)[2]
        path = os.path.join(tmp, name + ".onnx")
        feeds = contrib_model("Attention", inputs, inits, attrs, width, path)
        write_case(out, name, path, feeds)

    L = 7
    q, k, v = normal(b, s, hidden), normal(b, L, hidden), normal(b, L, 8)
    kpm = np.ones((b, L), np.int32)
    kpm[0, 5:] = 0
    head = hidden // heads
    packed_qkv, packed_kv = normal(b, s, heads, 3, head), normal(b, L, heads, 2, head)

    def unpacked(p, i):
        return np.ascontiguousarray(p[:, :, :, i, :]).reshape(p.shape[0], p.shape[1], -1)

    # Packed forms: ONNX Runtime's CPU runs the same attention on the unpacked tensors.
    references = {
        "ms_mha_packed_qkv": [("query", unpacked(packed_qkv, 0)), ("key", unpacked(packed_qkv, 1)),
                              ("value", unpacked(packed_qkv, 2))],
        "ms_mha_packed_kv": [("query", q), ("key", unpacked(packed_kv, 0)),
                             ("value", unpacked(packed_kv, 1))],
    }
    mha = {
        "ms_mha_cross_bias_mask": (
            [("query", q), ("key", k), ("value", v), ("key_padding_mask", kpm),
             ("attention_bias", normal(b, heads, s, L))],
            [("bias", normal(hidden + hidden + 8))], {"num_heads": heads}, 8),
        "ms_mha_self_causal": ([("query", q), ("key", normal(b, s, hidden)),
                                ("value", normal(b, s, hidden))], [],
                               {"num_heads": heads, "unidirectional": 1, "scale": 0.3}, hidden),
        "ms_mha_packed_qkv": ([("query", packed_qkv)], [],
                              {"num_heads": heads}, hidden),
        "ms_mha_packed_kv": ([("query", q), ("key", packed_kv)], [],
                             {"num_heads": heads}, hidden),
        "ms_mha_heads_layout_kv": ([("query", q), ("key", normal(b, heads, L, head)),
                                    ("value", normal(b, heads, L, head))], [],
                                   {"num_heads": heads}, hidden),
    }
    for name, (inputs, inits, attrs, width) in mha.items():
        path = os.path.join(tmp, name + ".onnx")
        feeds = contrib_model("MultiHeadAttention", inputs, inits, attrs, width, path)
        reference = None
        if name in references:
            ref_path = os.path.join(tmp, name + "_reference.onnx")
            reference = (ref_path, contrib_model("MultiHeadAttention", references[name], inits,
                                                 attrs, width, ref_path))
        write_case(out, name, path, feeds, reference)


if __name__ == "__main__":
    main()
