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
import timm
import torch
import transformers
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.optimizer import optimize_model

SEED = 0


def export(model, args, names, path):
    torch.onnx.export(model, args, path, opset_version=17, dynamo=False, input_names=names,
                      output_names=["y"], dynamic_axes={n: {0: "batch"} for n in names})


def session_optimized(src, dst):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = dst
    ort.InferenceSession(src, options, providers=["CPUExecutionProvider"])


def write_case(out, name, path, feeds):
    case = os.path.join(out, name)
    os.makedirs(case, exist_ok=True)
    model_path = os.path.join(case, "model.onnx")
    model = onnx.load(path)
    onnx.save(model, model_path)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    expected = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"]).run(
        None, feeds)[0]
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

    class LastHidden(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(pixel_values=x).last_hidden_state

    hf_path = os.path.join(tmp, "hf_vit.onnx")
    export(LastHidden(hf_vit), torch.from_numpy(x), ["x"], hf_path)
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

    class Pooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids):
            return self.m(input_ids=input_ids).pooler_output

    ids = rng.integers(3, 1000, size=(2, 16)).astype(np.int64)
    ids[:, -1] = 2
    text_path = os.path.join(tmp, "text.onnx")
    export(Pooled(text), torch.from_numpy(ids), ["input_ids"], text_path)
    text_opt = os.path.join(tmp, "text_opt.onnx")
    optimize_model(text_path, model_type="clip", num_heads=2, hidden_size=32).save_model_to_file(
        text_opt)
    write_case(args.out, "clip_text_optimizer", text_opt, {"input_ids": ids})


if __name__ == "__main__":
    main()
