#!/usr/bin/env python3
"""Exports the structure fixtures under tests/data/structure/: full-depth, narrow models.

ViT-B/16 and the CLIP text tower have 12 layers; the optimizer's promise ("12 Attention, 25
LayerNorm, no Softmax or Transpose left outside fused ops") is about that depth, so these keep
the real layer count and shrink only the width (hidden 32, 2 heads) to stay small. They carry no
reference outputs: tests/passes/model_structure_test.cc checks the optimized graph's op counts,
and the golden fixtures (python/make_fixtures.py) check numbers.

  tests/data/structure/<name>.onnx

Run from the repository root: python3 python/make_structure_fixtures.py [--only NAME_SUBSTRING]
"""

import argparse
import os
import sys
import warnings

import onnx
import torch

sys.path.insert(0, os.path.dirname(__file__))
import export_clip  # noqa: E402
import make_fixtures as fx  # noqa: E402

LAYERS = 12


def hf_vit_12():
    from transformers import ViTConfig, ViTForImageClassification

    def build(attn):
        cfg = ViTConfig(hidden_size=32, num_hidden_layers=LAYERS, num_attention_heads=2,
                        intermediate_size=64, image_size=32, patch_size=8, num_labels=10)
        model = ViTForImageClassification._from_config(cfg, attn_implementation=attn)
        module = fx.TupleOutputs(model, ["logits"], lambda m, x: m(pixel_values=x))
        return module, [fx.image_input(3, 32)], ["logits"]

    return build


def hf_clip_text_12(attn):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(vocab_size=fx.CLIP_TEXT_VOCAB, hidden_size=32, intermediate_size=64,
                         projection_dim=24, num_hidden_layers=LAYERS, num_attention_heads=2,
                         max_position_embeddings=77, pad_token_id=1,
                         bos_token_id=fx.CLIP_TEXT_VOCAB - 2, eos_token_id=fx.CLIP_TEXT_VOCAB - 1)
    model = CLIPTextModelWithProjection._from_config(cfg, attn_implementation=attn)
    module = fx.TupleOutputs(model, ["text_embeds", "last_hidden_state"],
                             lambda m, ids: m(input_ids=ids))
    return module, [("input_ids", "token_ids", (77,))], ["text_embeds", "last_hidden_state"]


def hf_clip_text_dynseq_12(attn):
    """The HF text tower as python/export_clip.py exports it: position ids from arange(seq), so
    the sequence axis stays dynamic (exporter "clip_ts_seq"). Eager attention builds the causal
    mask with Range/LessOrEqual, SDPA (CLIPModel's default) with Trilu over the shape of k."""
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(vocab_size=fx.CLIP_TEXT_VOCAB, hidden_size=32, intermediate_size=64,
                         projection_dim=24, num_hidden_layers=LAYERS, num_attention_heads=2,
                         max_position_embeddings=77, pad_token_id=1,
                         bos_token_id=fx.CLIP_TEXT_VOCAB - 2, eos_token_id=fx.CLIP_TEXT_VOCAB - 1)
    model = CLIPTextModelWithProjection._from_config(cfg, attn_implementation=attn)
    module = export_clip.Tower(model, lambda m, ids: m(
        input_ids=ids, position_ids=export_clip.hf_position_ids(ids)).text_embeds)
    return module, [("input_ids", "token_ids", (77,))], ["text_embeds"]


def timm_vit_12():
    import timm

    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8,
                              depth=LAYERS, embed_dim=32, num_heads=2, num_classes=10)
    module = fx.TupleOutputs(model, None, lambda m, x: m(x))
    return module, [fx.image_input(3, 32)], ["logits"]


def open_clip_12(tower):
    """open_clip's CLIP (nn.MultiheadAttention blocks, packed in_proj), exported by
    python/export_clip.py's own functions (exporter "clip_dynamo" / "clip_ts"): its Tower
    wrappers, the text tower with the length-cut mask and a dynamic sequence axis."""
    import open_clip

    # nn.MultiheadAttention's eval fast path is not exportable; the plain path computes the same.
    torch.backends.mha.set_fastpath_enabled(False)
    model = open_clip.CLIP(
        embed_dim=16,
        vision_cfg=dict(layers=LAYERS, width=32, head_width=16, patch_size=8, image_size=32,
                        mlp_ratio=2),
        text_cfg=dict(layers=LAYERS, width=32, heads=2, context_length=77,
                      vocab_size=fx.CLIP_TEXT_VOCAB, mlp_ratio=2))
    model.eval().requires_grad_(False)
    if tower == "vision":
        module = export_clip.Tower(model, lambda m, x: m.encode_image(x))
        return module, [fx.image_input(3, 32)], ["image_embeds"]
    module = export_clip.Tower(model, export_clip.open_clip_encode_text)
    return module, [("input_ids", "token_ids", (77,))], ["text_embeds"]


def export_open_clip(module, specs, output_names, exporter, path):
    (name, kind, shape), = specs
    example = torch.from_numpy(fx.make_input(kind, fx.EXPORT_BATCH, shape,
                                             fx.np.random.default_rng(1234)))
    # "_seq": a dynamic sequence axis as python/export_clip.py exports the text towers.
    axes = {0: "batch", 1: "seq"} if exporter.endswith("_seq") else {0: "batch"}
    export_clip.export(module, example, path, name, output_names[0], axes,
                       dynamo=exporter.startswith("clip_dynamo"))
    return onnx.load(path)


# name -> (builder, exporter, opset); exporters as in make_fixtures.py.
FIXTURES = {
    "hf_vit_12l_eager_ts17": (lambda: hf_vit_12()("eager"), "ts", 17),
    "hf_vit_12l_sdpa_dynamo": (lambda: hf_vit_12()("sdpa"), "dynamo", None),
    "hf_clip_text_12l_eager_ts17": (lambda: hf_clip_text_12("eager"), "ts", 17),
    "hf_clip_text_12l_sdpa_dynamo": (lambda: hf_clip_text_12("sdpa"), "dynamo", None),
    "timm_vit_12l_ts17": (timm_vit_12, "ts", 17),
    # python/export_clip.py exports open_clip with dynamo; TorchScript is fine for the vision
    # tower (fixed sequence length), so both exporters' nn.MultiheadAttention forms are covered.
    "open_clip_vision_12l_dynamo": (lambda: open_clip_12("vision"), "clip_dynamo", None),
    "open_clip_vision_12l_ts": (lambda: open_clip_12("vision"), "clip_ts", None),
    "open_clip_text_12l_dynamo": (lambda: open_clip_12("text"), "clip_dynamo", None),
    # The text towers with export_clip.py's dynamic sequence axis (input_ids [batch, seq]).
    "hf_clip_text_12l_dynseq_ts": (lambda: hf_clip_text_dynseq_12("eager"), "clip_ts_seq", None),
    "hf_clip_text_12l_dynseq_sdpa_ts": (lambda: hf_clip_text_dynseq_12("sdpa"), "clip_ts_seq",
                                        None),
    "open_clip_text_12l_dynseq_dynamo": (lambda: open_clip_12("text"), "clip_dynamo_seq", None),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                      "data", "structure"))
    parser.add_argument("--only", default="", help="only fixtures whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name, (builder, exporter, opset) in FIXTURES.items():
        if args.only and args.only not in name:
            continue
        torch.manual_seed(fx.SEED)
        module, specs, output_names = builder()
        module.eval()
        path = os.path.join(args.out, f"{name}.onnx")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exporter.startswith("clip_"):
                model = export_open_clip(module, specs, output_names, exporter, path)
            else:
                model = fx.export(module, specs, output_names, exporter, opset, path)
        # The dynamo exporter records a stack trace per node; dropping it keeps the files small.
        for node in model.graph.node:
            node.ClearField("metadata_props")
        onnx.save(model, path)
        print(f"{name}: {os.path.getsize(path) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
