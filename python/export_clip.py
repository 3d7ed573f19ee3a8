#!/usr/bin/env python3
"""Exports a CLIP model into the two ONNX towers vitrt builds as separate plans.

  python3 python/export_clip.py --hf openai/clip-vit-base-patch32 --out models/clip-b32
  python3 python/export_clip.py --hf-random [--hf-config config.json] --out /tmp/clip-random
  python3 python/export_clip.py --open-clip ViT-B-32 [--pretrained laion2b_s34b_b79k] --out DIR

writes into DIR:

  vision.onnx                 pixel_values float32 [batch, 3, H, W] -> image_embeds [batch, D]
  text.onnx                   input_ids int64 [batch, seq] -> text_embeds [batch, D]
                              (seq is dynamic: the text tower may run only up to each end token)
  preprocessor_config.json    HF image-processor settings (size, crop, mean, std, resample)
  clip.json                   logit_scale, embedding size, tower files, tokenizer settings

Embeddings are the projected, *unnormalised* tower outputs (as HF's *WithProjection models and
open_clip's encode_image/encode_text return them); consumers L2-normalise before the dot
product and multiply by logit_scale.

Every export is checked against PyTorch with ONNX Runtime, and the text tower is checked to give
the same embedding when a prompt is run up to its end token as when it is padded to the full
context length (the causal mask makes the padding irrelevant to the pooled token).
"""

import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch

OPSET = 17
SEED = 0


class Tower(torch.nn.Module):
    """One tower of a CLIP model: `encode(model, x)` with the model as a registered submodule,
    so the exporter sees its weights as parameters (initializers), not captured constants."""

    def __init__(self, model, encode):
        super().__init__()
        self.model = model
        self.encode = encode

    def forward(self, x):
        return self.encode(self.model, x)


# ---- model sources -----------------------------------------------------------------------------
# Each returns a dict: vision (module), text (module), logit_scale (float, exp applied),
# embed_dim, image_size, context_length, vocab_size, sot/eot/pad ids, preprocessor (dict),
# source (dict describing where the weights came from).


def hf_processor_config(image_size, mean, std, crop=None):
    return {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": image_size},
        "resample": 3,  # PIL bicubic
        "do_center_crop": True,
        "crop_size": {"height": crop or image_size, "width": crop or image_size},
        "do_rescale": True,
        "rescale_factor": 1.0 / 255.0,
        "do_normalize": True,
        "image_mean": list(mean),
        "image_std": list(std),
        "do_convert_rgb": True,
    }


CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def hf_position_ids(ids):
    """Position ids 0..seq-1 computed from the input's length. HF's default slices its 77-entry
    position_ids buffer ([:, :seq]), which exports as a Slice whose length min(seq, 77) no shape
    rule can name, so the residual stream loses its sequence dim and no block fuses; arange(seq)
    exports as Range(0, seq, 1) of length exactly seq."""
    return torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)


def from_hf(args):
    import transformers
    from transformers import CLIPModel

    if args.hf_random:
        config = (transformers.CLIPConfig.from_json_file(args.hf_config)
                  if args.hf_config else transformers.CLIPConfig())
        torch.manual_seed(SEED)
        model = CLIPModel(config)
        source = {"kind": "hf-random", "config": args.hf_config or "CLIPConfig() defaults"}
        preprocessor = hf_processor_config(config.vision_config.image_size, CLIP_MEAN, CLIP_STD)
    else:
        model = CLIPModel.from_pretrained(args.hf)
        source = {"kind": "hf", "model": args.hf}
        try:
            from transformers import CLIPImageProcessor
            preprocessor = CLIPImageProcessor.from_pretrained(args.hf).to_dict()
        except Exception as e:  # a local folder without the processor file
            print(f"note: no image processor config ({e}); using CLIP's defaults", file=sys.stderr)
            preprocessor = hf_processor_config(model.config.vision_config.image_size, CLIP_MEAN,
                                               CLIP_STD)
    model.eval().requires_grad_(False)
    tc = model.config.text_config

    def features(out):
        # transformers 5 returns a ModelOutput holding the projected embeddings; 4.x a tensor.
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    # HF pools the text tower at argmax(input_ids) when eos_token_id is the legacy 2, else at
    # the first eos_token_id; CLIP's end-of-text token (49407) is the largest id either way.
    eot = 49407 if tc.eos_token_id == 2 else tc.eos_token_id
    return {
        "vision": Tower(model, lambda m, x: features(m.get_image_features(pixel_values=x))),
        "text": Tower(model, lambda m, ids: features(m.get_text_features(
            input_ids=ids, position_ids=hf_position_ids(ids)))),
        "logit_scale": float(model.logit_scale.exp()),
        "embed_dim": model.config.projection_dim,
        "image_size": model.config.vision_config.image_size,
        "context_length": tc.max_position_embeddings,
        "vocab_size": tc.vocab_size,
        "sot_token_id": 49406 if tc.bos_token_id == 0 else tc.bos_token_id,
        "eot_token_id": eot,
        "pad_token_id": 0,
        "preprocessor": preprocessor,
        "source": source,
        "modules": [model],
    }


def open_clip_encode_text(m, text):
    """open_clip's CLIP.encode_text with the positional embedding and the causal mask sized to the
    input's length, so the text tower exports with a dynamic sequence axis (open_clip adds the
    full 77-row buffers, which fixes the length at export). Both are computed from the length
    rather than sliced from the 77-row buffers: a Slice(:seq) has length min(seq, 77), which no
    shape rule can name, and that unknown dim keeps every attention and residual LayerNorm of the
    tower from fusing; a Gather by arange(seq) has length seq, and the mask built from seq alone
    (Trilu of a [seq, seq] fill) is recognised as causal by vitrt."""
    from open_clip.transformer import text_global_pool
    seq = text.shape[1]
    cast_dtype = m.transformer.get_cast_dtype()
    x = m.token_embedding(text).to(cast_dtype)
    positions = torch.arange(seq, device=text.device)
    x = x + m.positional_embedding[positions].to(cast_dtype)
    mask = None
    if m.attn_mask is not None:
        # open_clip's build_causal_mask: -inf above the diagonal, 0 on and below it.
        mask = torch.full((seq, seq), float("-inf"), device=text.device).triu(1)
        mask = mask.to(m.attn_mask.dtype)
    x = m.transformer(x, attn_mask=mask)
    x = m.ln_final(x)
    x = text_global_pool(x, text, m.text_pool_type, eos_token_id=getattr(m, "text_eos_id", None))
    if m.text_projection is not None:
        x = m.text_projection(x) if isinstance(m.text_projection, torch.nn.Linear) \
            else x @ m.text_projection
    return x


def from_open_clip(args):
    import open_clip

    torch.manual_seed(SEED)
    model, _, preprocess = open_clip.create_model_and_transforms(args.open_clip,
                                                                 pretrained=args.pretrained)
    model.eval().requires_grad_(False)
    image_size = model.visual.image_size
    image_size = image_size[0] if isinstance(image_size, (tuple, list)) else image_size
    mean = getattr(model.visual, "image_mean", None) or CLIP_MEAN
    std = getattr(model.visual, "image_std", None) or CLIP_STD
    tokenizer = open_clip.get_tokenizer(args.open_clip)
    context_length = getattr(tokenizer, "context_length", 77)
    if not hasattr(tokenizer, "encoder"):
        raise SystemExit(f"model '{args.open_clip}' does not use CLIP's BPE tokenizer "
                         f"({type(tokenizer).__name__}); vitrt's tokenizer supports CLIP BPE only")
    return {
        "vision": Tower(model, lambda m, x: m.encode_image(x)),
        "text": Tower(model, open_clip_encode_text),
        "logit_scale": float(model.logit_scale.exp()),
        "embed_dim": int(model.text_projection.shape[1]) if hasattr(model, "text_projection")
        else None,
        "image_size": int(image_size),
        "context_length": int(context_length),
        "vocab_size": int(model.vocab_size),
        "sot_token_id": int(tokenizer.sot_token_id),
        "eot_token_id": int(tokenizer.eot_token_id),
        "pad_token_id": 0,
        "preprocessor": hf_processor_config(int(image_size), mean, std),
        "source": {"kind": "open_clip", "model": args.open_clip, "pretrained": args.pretrained},
        "modules": [model],
    }


# ---- export and checks -----------------------------------------------------------------------


def export(module, example, path, input_name, output_name, dynamic_axes, dynamo):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=4096)
            shapes = {input_name: {0: batch}}
            if 1 in dynamic_axes:
                shapes[input_name][1] = torch.export.Dim("seq", min=2, max=example.shape[1])
            torch.onnx.export(module, (example,), path, input_names=[input_name],
                              output_names=[output_name], dynamo=True,
                              dynamic_shapes=({k: v for k, v in shapes[input_name].items()},),
                              external_data=False)
        else:
            torch.onnx.export(module, (example,), path, input_names=[input_name],
                              output_names=[output_name], opset_version=OPSET, dynamo=False,
                              dynamic_axes={input_name: dynamic_axes, output_name: {0: "batch"}})


def ort_run(path, name, x):
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {name: x})[0]


def check_close(what, got, want, rel=1e-4):
    scale = max(float(np.abs(want).max()), 1e-6)
    err = float(np.abs(got - want).max())
    status = "ok" if err <= rel * scale else "FAILED"
    print(f"  {what}: max |ONNX Runtime - PyTorch| {err:.2e} (scale {scale:.3g}) {status}")
    if status != "ok":
        raise SystemExit(f"export check failed: {what}")


def random_prompts(rng, n, context_length, sot, eot, vocab_size):
    """Token ids shaped like real prompts: start, 3..20 BPE ids, end, zero padding."""
    ids = np.zeros((n, context_length), dtype=np.int64)
    lengths = rng.integers(3, min(20, context_length - 2), size=n)
    for i, length in enumerate(lengths):
        ids[i, 0] = sot
        ids[i, 1:1 + length] = rng.integers(1, min(vocab_size, eot) - 2, size=length)
        ids[i, 1 + length] = eot
    return ids, lengths + 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--hf", help="HF CLIPModel name or local folder")
    src.add_argument("--hf-random", action="store_true", help="random-init HF CLIPModel")
    src.add_argument("--open-clip", help="open_clip model name, e.g. ViT-B-32")
    ap.add_argument("--hf-config", help="CLIPConfig JSON for --hf-random (default: ViT-B/32)")
    ap.add_argument("--pretrained", default=None, help="open_clip pretrained tag")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--dynamo", action="store_true",
                    help="use the dynamo exporter (always for --open-clip: TorchScript tracing "
                         "bakes nn.MultiheadAttention's sequence length into the text tower)")
    args = ap.parse_args()
    if args.open_clip:
        args.dynamo = True

    torch.manual_seed(SEED)
    # nn.MultiheadAttention (open_clip's towers) takes a fused fast path in eval mode that the
    # ONNX exporters cannot export (aten::_native_multi_head_attention); the plain path is the
    # same computation.
    torch.backends.mha.set_fastpath_enabled(False)
    m = from_open_clip(args) if args.open_clip else from_hf(args)
    os.makedirs(args.out, exist_ok=True)
    vision_path = os.path.join(args.out, "vision.onnx")
    text_path = os.path.join(args.out, "text.onnx")
    rng = np.random.default_rng(SEED)
    size = m["image_size"]
    ctx = m["context_length"]

    pixels = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    ids, lengths = random_prompts(rng, 2, ctx, m["sot_token_id"], m["eot_token_id"],
                                  m["vocab_size"])
    with torch.no_grad():
        print(f"exporting vision tower -> {vision_path}")
        export(m["vision"], torch.from_numpy(pixels), vision_path, "pixel_values", "image_embeds",
               {0: "batch"}, args.dynamo)
        print(f"exporting text tower -> {text_path}")
        export(m["text"], torch.from_numpy(ids), text_path, "input_ids", "text_embeds",
               {0: "batch", 1: "seq"}, args.dynamo)

        want_img = m["vision"](torch.from_numpy(pixels)).numpy()
        check_close("image_embeds", ort_run(vision_path, "pixel_values", pixels), want_img)
        want_txt = m["text"](torch.from_numpy(ids)).numpy()
        check_close("text_embeds (padded to context length)",
                    ort_run(text_path, "input_ids", ids), want_txt)
        # Run up to the longest end token only: the pooled embeddings must not change.
        trimmed = ids[:, :int(lengths.max())]
        got = ort_run(text_path, "input_ids", trimmed)
        cos = (got * want_txt).sum(1) / (np.linalg.norm(got, axis=1) *
                                         np.linalg.norm(want_txt, axis=1))
        print(f"  text_embeds up to the end token vs padded: min cosine {cos.min():.8f}")
        if cos.min() < 0.99999:
            raise SystemExit("the text tower's pooled output depends on padding; "
                             "vitrt's end-token truncation would change embeddings")

    with open(os.path.join(args.out, "preprocessor_config.json"), "w") as f:
        json.dump(m["preprocessor"], f, indent=2, default=str)
    meta = {
        "format": "vitrt-clip/1",
        "logit_scale": m["logit_scale"],
        "embed_dim": m["embed_dim"] or int(want_img.shape[1]),
        "vision": {"onnx": "vision.onnx", "input": "pixel_values", "output": "image_embeds",
                   "image_size": size, "preprocessor_config": "preprocessor_config.json"},
        "text": {"onnx": "text.onnx", "input": "input_ids", "output": "text_embeds",
                 "context_length": ctx, "dynamic_sequence": True},
        "tokenizer": {"type": "clip_bpe", "vocab": "bpe_simple_vocab_16e6.txt.gz",
                      "context_length": ctx, "sot_token_id": m["sot_token_id"],
                      "eot_token_id": m["eot_token_id"], "pad_token_id": m["pad_token_id"],
                      "lower_case": True},
        "source": m["source"],
        "exporter": "dynamo" if args.dynamo else f"torchscript opset {OPSET}",
        "versions": {"torch": torch.__version__},
    }
    with open(os.path.join(args.out, "clip.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"wrote {args.out}/clip.json (logit_scale {m['logit_scale']:.4g}, "
          f"embed_dim {meta['embed_dim']})")


if __name__ == "__main__":
    main()
