#!/usr/bin/env python3
"""Exports the tiny golden-model fixtures under tests/golden/.

Each fixture is a small, randomly initialised vision/text transformer (the model families vitrt
targets) exported to ONNX, plus inputs and PyTorch fp32 outputs for batch 1 and batch 3:

  tests/golden/<name>/model.onnx
  tests/golden/<name>/manifest.json          what it is (class, config, exporter, opset, versions)
  tests/golden/<name>/case<k>/input.<onnx_input_name>.npy
  tests/golden/<name>/case<k>/output.<index>.<onnx_output_name>.npy   ('/' in names -> '_')

Every export is also run with ONNX Runtime and compared with PyTorch, so a broken export stops
the script instead of becoming a fixture. Run from the repository root:

  python3 python/make_fixtures.py [--only NAME_SUBSTRING] [--out tests/golden]
"""

import argparse
import copy
import json
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch

BATCHES = (1, 3)
# The dynamo exporter specialises a dim whose example size is 0 or 1, so it traces with 2.
EXPORT_BATCH = 2
# The image height and width dynamic-size exports trace with.
EXPORT_IMAGE_SIZE = (48, 40)
SEED = 0
# Relative tolerance (to the output's scale) for ONNX Runtime vs PyTorch; the golden test uses
# the same bound for vitrt.
ORT_REL_TOL = 1e-4


class TupleOutputs(torch.nn.Module):
    """Wraps a model so that forward returns a fixed tuple of tensors (HF returns ModelOutput)."""

    def __init__(self, model, output_keys, call):
        super().__init__()
        self.model = model
        self.output_keys = output_keys
        self.call = call

    def forward(self, *args):
        out = self.call(self.model, *args)
        if isinstance(out, torch.Tensor):
            return out
        return tuple(out[k] for k in self.output_keys)


# ---- model definitions ------------------------------------------------------------------------
# Each builder returns (module, input_specs, output_names, description dict). An input spec is
# (onnx_name, kind, static_shape_without_batch).


def image_input(channels, size):
    return ("pixel_values", "image", (channels, size, size))


def hf_vit(attn):
    from transformers import ViTConfig, ViTForImageClassification

    cfg = ViTConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                    intermediate_size=96, image_size=32, patch_size=8, num_labels=10)
    model = ViTForImageClassification._from_config(cfg, attn_implementation=attn)
    module = TupleOutputs(model, ["logits"], lambda m, x: m(pixel_values=x))
    return module, [image_input(3, 32)], ["logits"], {
        "model_class": "transformers.ViTForImageClassification", "attn_implementation": attn,
        "config": cfg.to_diff_dict()}


def hf_clip_vision(attn):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, projection_dim=24,
                           num_hidden_layers=2, num_attention_heads=2, image_size=32,
                           patch_size=8)
    model = CLIPVisionModelWithProjection._from_config(cfg, attn_implementation=attn)
    module = TupleOutputs(model, ["image_embeds", "last_hidden_state"],
                          lambda m, x: m(pixel_values=x))
    return module, [image_input(3, 32)], ["image_embeds", "last_hidden_state"], {
        "model_class": "transformers.CLIPVisionModelWithProjection", "attn_implementation": attn,
        "config": cfg.to_diff_dict()}


CLIP_TEXT_VOCAB = 500
CLIP_TEXT_SEQ = 16


def hf_clip_text(attn, with_mask, seq=CLIP_TEXT_SEQ, case_seqs=None):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    # eos_token_id != 2, so the pooled token is the first eos (Equal -> Cast -> ArgMax), as in
    # current CLIP checkpoints.
    cfg = CLIPTextConfig(vocab_size=CLIP_TEXT_VOCAB, hidden_size=32, intermediate_size=64,
                         projection_dim=24, num_hidden_layers=2, num_attention_heads=2,
                         max_position_embeddings=77, pad_token_id=1,
                         bos_token_id=CLIP_TEXT_VOCAB - 2, eos_token_id=CLIP_TEXT_VOCAB - 1)
    model = CLIPTextModelWithProjection._from_config(cfg, attn_implementation=attn)
    if with_mask:
        call = lambda m, ids, mask: m(input_ids=ids, attention_mask=mask)  # noqa: E731
        inputs = [("input_ids", "token_ids", (seq,)), ("attention_mask", "token_mask", (seq,))]
    else:
        call = lambda m, ids: m(input_ids=ids)  # noqa: E731
        inputs = [("input_ids", "token_ids", (seq,))]
    module = TupleOutputs(model, ["text_embeds", "last_hidden_state"], call)
    info = {"model_class": "transformers.CLIPTextModelWithProjection", "attn_implementation": attn,
            "attention_mask_input": with_mask, "config": cfg.to_diff_dict()}
    if case_seqs:
        # The sequence axis is exported symbolic too; each case runs at its own length.
        info["case_seqs"] = list(case_seqs)
    return module, inputs, ["text_embeds", "last_hidden_state"], info


def hf_dinov2(attn, case_image_sizes=None):
    from transformers import Dinov2Config, Dinov2Model

    # image_size 32 / patch 8 gives 16 patches; position embeddings are interpolated (bicubic
    # Resize) only when the input differs from the config's size, which the export traces anyway.
    cfg = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                       image_size=32, patch_size=8)
    model = Dinov2Model._from_config(cfg, attn_implementation=attn)
    module = TupleOutputs(model, ["last_hidden_state", "pooler_output"],
                          lambda m, x: m(pixel_values=x))
    info = {"model_class": "transformers.Dinov2Model", "attn_implementation": attn,
            "config": cfg.to_diff_dict()}
    if case_image_sizes:
        info["case_image_sizes"] = case_image_sizes
    return module, [image_input(3, 32)], ["last_hidden_state", "pooler_output"], info


def hf_dinov3(attn, case_image_sizes=None):
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    # Rotary position embeddings over the patch grid and register tokens. TorchScript exports
    # the rope's tile() as two If nodes on the rank of a shape (vitrt inlines them at build time);
    # dynamo resolves them itself.
    cfg = DINOv3ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, image_size=32, patch_size=8,
                          num_register_tokens=2)
    model = DINOv3ViTModel._from_config(cfg, attn_implementation=attn)
    module = TupleOutputs(model, ["last_hidden_state", "pooler_output"],
                          lambda m, x: m(pixel_values=x))
    info = {"model_class": "transformers.DINOv3ViTModel", "attn_implementation": attn,
            "config": cfg.to_diff_dict()}
    if case_image_sizes:
        info["case_image_sizes"] = case_image_sizes
    return module, [image_input(3, 32)], ["last_hidden_state", "pooler_output"], info


def hf_siglip_vision(attn):
    from transformers import SiglipVisionConfig, SiglipVisionModel

    cfg = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=2, image_size=32, patch_size=8)
    model = SiglipVisionModel._from_config(cfg, attn_implementation=attn)
    module = TupleOutputs(model, ["pooler_output", "last_hidden_state"],
                          lambda m, x: m(pixel_values=x))
    return module, [image_input(3, 32)], ["pooler_output", "last_hidden_state"], {
        "model_class": "transformers.SiglipVisionModel", "attn_implementation": attn,
        "config": cfg.to_diff_dict()}


class MultiQueryNet(torch.nn.Module):
    """MobileNetV5's (Gemma 3n's vision encoder's) multi-query attention block on a small conv
    stem: 4 query heads against one key/value head computed at half the resolution
    (timm's MultiQueryAttention2d, kv_stride 2), a residual, pooling and a classifier."""

    def __init__(self):
        super().__init__()
        from timm.layers import MultiQueryAttention2d

        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 4, stride=4), torch.nn.GELU())
        self.attn = MultiQueryAttention2d(16, num_heads=4, key_dim=8, value_dim=8, kv_stride=2)
        self.head = torch.nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.attn(x)
        return self.head(x.mean((2, 3)))


def timm_multi_query():
    model = MultiQueryNet()
    randomize_batch_norm(model)
    module = TupleOutputs(model, None, lambda m, x: m(x))
    return module, [image_input(3, 32)], ["logits"], {
        "model_class": "MultiQueryNet (timm.layers.MultiQueryAttention2d)"}


class RecurrentNet(torch.nn.Module):
    """Sequencer2D's mixing on a small conv stem: timm's LSTM2d runs a bidirectional LSTM over
    each row and each column of the feature map (ONNX LSTM nodes, batch-first or not as the
    exporter writes them), then a two-layer GRU reads the 64 tokens in order and its last state
    feeds the classifier (GRU with linear_before_reset, as PyTorch's cell computes)."""

    def __init__(self):
        super().__init__()
        from timm.models.sequencer import LSTM2d

        self.stem = torch.nn.Conv2d(3, 16, 4, stride=4)
        self.mix = LSTM2d(16, 8, bidirectional=True, union="cat", with_fc=True)
        self.gru = torch.nn.GRU(16, 12, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(12, 10)

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)  # [B, H, W, C], as Sequencer2D's blocks take it
        x = x + self.mix(x)
        _, h = self.gru(x.flatten(1, 2))
        return self.head(h[-1])


def timm_recurrent():
    model = RecurrentNet()
    module = TupleOutputs(model, None, lambda m, x: m(x))
    return module, [image_input(3, 32)], ["logits"], {
        "model_class": "RecurrentNet (timm.models.sequencer.LSTM2d, torch.nn.GRU)"}


def hf_mlcd():
    from transformers import MLCDVisionConfig, MLCDVisionModel

    # 2-D rotary embeddings on q and k, attention output permuted sequence-first for out_proj.
    cfg = MLCDVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=32, patch_size=8)
    model = MLCDVisionModel._from_config(cfg, attn_implementation="sdpa")
    module = TupleOutputs(model, ["pooler_output", "last_hidden_state"],
                          lambda m, x: m(pixel_values=x))
    return module, [image_input(3, 32)], ["pooler_output", "last_hidden_state"], {
        "model_class": "transformers.MLCDVisionModel", "attn_implementation": "sdpa",
        "config": cfg.to_diff_dict()}


def hf_videomae():
    from transformers import VideoMAEConfig, VideoMAEModel

    # A video ViT: 2x8x8 tubelets (a 3-D Conv, kernel = stride) over 4 frames of 32x32.
    cfg = VideoMAEConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, image_size=32, patch_size=8, num_frames=4,
                         tubelet_size=2)
    model = VideoMAEModel._from_config(cfg, attn_implementation="sdpa")
    module = TupleOutputs(model, ["last_hidden_state"], lambda m, x: m(pixel_values=x))
    return module, [("pixel_values", "image", (4, 3, 32, 32))], ["last_hidden_state"], {
        "model_class": "transformers.VideoMAEModel", "attn_implementation": "sdpa",
        "config": cfg.to_diff_dict()}


# SigLIP2's NaFlex input: each image as up to NAFLEX_PATCHES flattened 8x8 RGB patches of its own
# grid (spatial_shapes), padded, with pixel_attention_mask marking the real ones.
NAFLEX_PATCHES, NAFLEX_PATCH = 16, 8
NAFLEX_GRIDS = ((4, 4), (3, 4), (2, 3), (4, 2), (3, 5))


def hf_siglip2_naflex(attn):
    from transformers import Siglip2VisionConfig, Siglip2VisionModel

    # The position embedding is resized to each image's grid (bilinear, antialiased) and the
    # padded patches are masked out of attention, with HF's NaN guard after the softmax.
    cfg = Siglip2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_patches=NAFLEX_PATCHES,
                              patch_size=NAFLEX_PATCH)
    model = Siglip2VisionModel._from_config(cfg, attn_implementation=attn)
    module = TupleOutputs(
        model, ["pooler_output", "last_hidden_state"],
        lambda m, x, mask, shapes: m(pixel_values=x, pixel_attention_mask=mask,
                                     spatial_shapes=shapes))
    specs = [("pixel_values", "naflex_patches", (NAFLEX_PATCHES, 3 * NAFLEX_PATCH ** 2)),
             ("pixel_attention_mask", "naflex_mask", (NAFLEX_PATCHES,)),
             ("spatial_shapes", "naflex_shapes", (2,))]
    return module, specs, ["pooler_output", "last_hidden_state"], {
        "model_class": "transformers.Siglip2VisionModel", "attn_implementation": attn,
        "config": cfg.to_diff_dict()}


def hf_deit_distilled(attn):
    from transformers import DeiTConfig, DeiTForImageClassificationWithTeacher

    cfg = DeiTConfig(hidden_size=48, num_hidden_layers=2, num_attention_heads=3,
                     intermediate_size=96, image_size=32, patch_size=8, num_labels=10)
    model = DeiTForImageClassificationWithTeacher._from_config(cfg, attn_implementation=attn)
    module = TupleOutputs(model, ["logits", "cls_logits", "distillation_logits"],
                          lambda m, x: m(pixel_values=x))
    return module, [image_input(3, 32)], ["logits", "cls_logits", "distillation_logits"], {
        "model_class": "transformers.DeiTForImageClassificationWithTeacher",
        "attn_implementation": attn, "config": cfg.to_diff_dict()}


def randomize_batch_norm(model):
    """Random BatchNorm statistics and affine parameters: fresh ones (mean 0, var 1, weight 1,
    bias 0) make every BatchNorm an identity, which would test nothing of its folding."""
    import torch
    generator = torch.Generator().manual_seed(SEED + 1)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(c, generator=generator) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=generator) + 0.75)
                m.weight.copy_(torch.rand(c, generator=generator) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(c, generator=generator) * 0.2)


def timm_model(name, fused_attn=True, image_size=None, random_batch_norm=False, **overrides):
    """image_size: for models that take no img_size (convolutional trunks); default img_size."""
    import timm

    def build():
        model = timm.create_model(name, pretrained=False, **overrides)
        if random_batch_norm:
            randomize_batch_norm(model)
        # Unfused attention is explicit MatMul/Softmax; the opset-13 exporter cannot export SDPA.
        for m in model.modules():
            if hasattr(m, "fused_attn"):
                m.fused_attn = fused_attn
        size = image_size or overrides.get("img_size", 224)
        module = TupleOutputs(model, None, lambda m, x: m(x))
        return module, [image_input(3, size)], ["logits"], {
            "model_class": f"timm.create_model('{name}')", "overrides": overrides,
            "fused_attn": fused_attn}

    return build


TIMM_SMALL = dict(img_size=32, patch_size=8, depth=2, embed_dim=48, num_heads=3, num_classes=10)

# Relative tolerance of half-precision fixtures (written to tolerance.txt, which the golden tests
# read): the float16 outputs' own rounding (2^-11 of a value) plus the float16 constants the
# exporter folds (1/sqrt(d) and the like), against PyTorch in float32 on the float16 weights.
HALF_TOLERANCE = 2e-3


def half_inputs(inputs):
    """A half fixture's inputs: the float32 arrays as float16, the others as they are."""
    return {n: a.astype(np.float16) if a.dtype == np.float32 else a for n, a in inputs.items()}


def float32_args(inputs, specs):
    """The module's arguments in spec order, float16 arrays widened to float32 (the reference of
    a half fixture is PyTorch in float32 on the float16 weights and inputs)."""
    return [torch.from_numpy(inputs[n]).float() if inputs[n].dtype == np.float16
            else torch.from_numpy(inputs[n]) for n, _, _ in specs]


def half(builder):
    """The fixture exported after model.half(): float16 weights, inputs and outputs."""
    def build():
        module, specs, outputs, info = builder()
        return module.half(), specs, outputs, {**info, "half": True}

    return build

# name -> (builder, exporter, opset). exporter "ts" is torch.onnx.export(dynamo=False),
# "dynamo" is torch.onnx.export(dynamo=True) with its default opset (or the one given).
FIXTURES = {
    "hf_vit_eager_ts17": (lambda: hf_vit("eager"), "ts", 17),
    "hf_vit_sdpa_ts17": (lambda: hf_vit("sdpa"), "ts", 17),
    "hf_vit_eager_ts13": (lambda: hf_vit("eager"), "ts", 13),
    "hf_vit_sdpa_dynamo": (lambda: hf_vit("sdpa"), "dynamo", None),
    "hf_vit_eager_dynamo": (lambda: hf_vit("eager"), "dynamo", None),
    "hf_deit_distilled_sdpa_ts17": (lambda: hf_deit_distilled("sdpa"), "ts", 17),
    "hf_deit_distilled_eager_dynamo": (lambda: hf_deit_distilled("eager"), "dynamo", None),
    "hf_clip_vision_eager_ts17": (lambda: hf_clip_vision("eager"), "ts", 17),
    "hf_clip_vision_sdpa_ts17": (lambda: hf_clip_vision("sdpa"), "ts", 17),
    "hf_clip_vision_sdpa_dynamo": (lambda: hf_clip_vision("sdpa"), "dynamo", None),
    "hf_clip_text_eager_ts17": (lambda: hf_clip_text("eager", False), "ts", 17),
    "hf_clip_text_sdpa_ts17": (lambda: hf_clip_text("sdpa", False), "ts", 17),
    "hf_clip_text_seq77_ts17": (lambda: hf_clip_text("sdpa", False, seq=77), "ts", 17),
    "hf_clip_text_mask_eager_ts17": (lambda: hf_clip_text("eager", True), "ts", 17),
    "hf_clip_text_sdpa_dynamo": (lambda: hf_clip_text("sdpa", False), "dynamo", None),
    "hf_clip_text_eager_ts13": (lambda: hf_clip_text("eager", False), "ts", 13),
    # Symbolic sequence length through dynamo: its value_info names the derived sizes that shape
    # inference alone cannot equate (the causal mask's, the heads' reshapes); cases at 16 and 9.
    "hf_clip_text_dynseq_sdpa_dynamo":
        (lambda: hf_clip_text("sdpa", False, case_seqs=(CLIP_TEXT_SEQ, 9)), "dynamo", None),
    "hf_dinov2_eager_ts17": (lambda: hf_dinov2("eager"), "ts", 17),
    "hf_dinov2_sdpa_dynamo": (lambda: hf_dinov2("sdpa"), "dynamo", None),
    # Dynamic batch, height and width (one plan for many resolutions): the token count is
    # (height//8)*(width//8) + 1 in the value_info; cases at 40x56 and 64x48, neither the
    # config's 32 (the position embeddings are interpolated), 56 no multiple of the patch.
    "hf_dinov2_dynhw_sdpa_dynamo":
        (lambda: hf_dinov2("sdpa", case_image_sizes=((40, 58), (64, 48))), "dynamo", None),
    "hf_dinov3_sdpa_ts17": (lambda: hf_dinov3("sdpa"), "ts", 17),
    # dynamo writes the rope's rotate_half and prefix slices in its own form (fuse_rotary).
    "hf_dinov3_sdpa_dynamo": (lambda: hf_dinov3("sdpa"), "dynamo", None),
    # Dynamic height and width with rope and 2 registers: (height//8)*(width//8) + 3 tokens; the
    # rope tables' value_info sizes are calls (CeilToInt(...)) the importer keeps as symbols.
    "hf_dinov3_dynhw_sdpa_dynamo":
        (lambda: hf_dinov3("sdpa", case_image_sizes=((40, 58), (64, 48))), "dynamo", None),
    "hf_siglip_vision_eager_ts17": (lambda: hf_siglip_vision("eager"), "ts", 17),
    "hf_siglip_vision_sdpa_dynamo": (lambda: hf_siglip_vision("sdpa"), "dynamo", None),
    # SigLIP2 NaFlex (padded patch sequences): the attention mask may hide whole rows, so the
    # softmax's NaN guard becomes the fused op's zero_masked_rows.
    "hf_siglip2_naflex_sdpa_ts17": (lambda: hf_siglip2_naflex("sdpa"), "ts", 17),
    "timm_vit_tiny_ts17": (timm_model("vit_tiny_patch16_224", **TIMM_SMALL), "ts", 17),
    "timm_vit_tiny_unfused_ts13":
        (timm_model("vit_tiny_patch16_224", fused_attn=False, **TIMM_SMALL), "ts", 13),
    "timm_vit_tiny_dynamo": (timm_model("vit_tiny_patch16_224", **TIMM_SMALL), "dynamo", None),
    # model.half() exports (float16 weights, inputs and outputs), as users make for GPU
    # runtimes: vitrt computes them in the build's precision (widen_half_floats); the outputs
    # are PyTorch's in float32 on the float16 weights and inputs.
    "timm_vit_tiny_fp16_ts17":
        (half(timm_model("vit_tiny_patch16_224", **TIMM_SMALL)), "ts", 17),
    "hf_clip_vision_fp16_dynamo": (half(lambda: hf_clip_vision("sdpa")), "dynamo", None),
    # Opset 23: SDPA as ONNX's Attention op (lower_onnx_attention).
    "timm_vit_tiny_dynamo_o23":
        (timm_model("vit_tiny_patch16_224", **TIMM_SMALL), "dynamo", 23),
    # RMSNorm instead of LayerNorm (timm's norm_layer="rmsnorm", torch's F.rms_norm): dynamo's
    # default opset spells it Pow/ReduceMean/Add/Sqrt/Reciprocal/Mul (fuse_rms_norm); opset 23
    # writes ONNX's RMSNormalization. TorchScript cannot export aten::rms_norm.
    "timm_vit_rmsnorm_dynamo":
        (timm_model("vit_tiny_patch16_224", norm_layer="rmsnorm", **TIMM_SMALL), "dynamo", None),
    "timm_vit_rmsnorm_dynamo_o23":
        (timm_model("vit_tiny_patch16_224", norm_layer="rmsnorm", **TIMM_SMALL), "dynamo", 23),
    "timm_deit_tiny_distilled_ts17":
        (timm_model("deit_tiny_distilled_patch16_224", **TIMM_SMALL), "ts", 17),
    "timm_deit_tiny_distilled_dynamo":
        (timm_model("deit_tiny_distilled_patch16_224", **TIMM_SMALL), "dynamo", None),
    # EVA02: rotary position embeddings on q and k (patch tokens only, the cls token sliced off
    # and concatenated back) after timm's packed qkv split, SwiGLU MLP. head_init_scale=1 keeps
    # the logits at a usual scale (EVA's default 0.001 makes them ~1e-3 of the features).
    "timm_eva02_tiny_ts17":
        (timm_model("eva02_tiny_patch14_224", head_init_scale=1.0, **TIMM_SMALL), "ts", 17),
    # Hybrid ViT with a ResNetV2 stem: StdConv2dSame's weight standardization exports through
    # TorchScript as BatchNormalization(training_mode=1) on the constant weight, then GroupNorm,
    # "same" padding and MaxPool. Patch 2 on the stem's 8x8 map keeps the fixture small.
    "timm_vit_hybrid_stdconv_ts17":
        (timm_model("vit_tiny_r_s16_p8_224", img_size=32, patch_size=2, depth=2, embed_dim=48,
                    num_heads=3, num_classes=10), "ts", 17),
    # SAM's image encoder (timm's samvit): windowed and global attention with the decomposed
    # relative-position bias computed from q at run time (Einsum), the heads folded into the
    # batch ([B*H, S, S] scores), SDPA through TorchScript: fused in its head layout.
    "timm_samvit_ts17":
        (timm_model("samvit_base_patch16", img_size=64, patch_size=8, depth=2, embed_dim=48,
                    num_heads=3, global_attn_indexes=(1,), window_size=4, neck_chans=32,
                    use_rel_pos=True), "ts", 17),
    # Hiera (SAM2's image encoder): mask-unit attention, scores [B, H, units, S, S]; the
    # classifier is zero-initialised, so the pooled features are the output.
    "timm_hiera_ts17":
        (timm_model("hiera_tiny_224", img_size=64, embed_dim=16, num_heads=1,
                    stages=(1, 1, 1, 1), num_classes=0), "ts", 17),
    # ConvNeXt: an NCHW trunk with each block's LayerNorm and MLP channels-last between two
    # Transposes, LayerNorm2d stem and downsamplers, a layer scale (large here, so the blocks
    # count) and the pooled head; cancel_layout_transposes keeps the trunk NHWC.
    "timm_convnext_ts17":
        (timm_model("convnext_tiny", image_size=64, depths=(1, 1, 2, 1), dims=(16, 24, 32, 40),
                    ls_init_value=0.5, num_classes=10), "ts", 17),
    # ResNet-50's form (bottlenecks with a strided 3x3 and a 1x1 projection shortcut, the 7x7
    # stem and its MaxPool) at small width, BatchNorm statistics random: TorchScript folds the
    # BatchNorms into the Convs, dynamo keeps them (fold_batch_norm). cancel_layout_transposes
    # keeps the trunk NHWC: 1x1 convs as Linear layers, 3x3 as ChannelsLastConv.
    "timm_resnet_ts17":
        (timm_model("resnet50", image_size=64, layers=(1, 2, 1, 1), channels=(8, 16, 24, 32),
                    stem_width=8, num_classes=10, random_batch_norm=True), "ts", 17),
    "timm_resnet_dynamo":
        (timm_model("resnet50", image_size=64, layers=(1, 2, 1, 1), channels=(8, 16, 24, 32),
                    stem_width=8, num_classes=10, random_batch_norm=True), "dynamo", None),
    # Swin: shifted windows (Roll as Slice+Concat, window partition reshapes, the shift mask),
    # window padding (Pad), patch merging; two stages of two blocks on a 16x16 token grid.
    "timm_swin_dynamo":
        (timm_model("swin_tiny_patch4_window7_224", img_size=32, patch_size=2, window_size=4,
                    embed_dim=24, depths=(2, 2), num_heads=(2, 4), num_classes=10),
         "dynamo", None),
    # The same Swin as timm exports it by default (WindowAttention's fused_attn is experimental,
    # off): explicit scores, the shift mask added between two Reshapes of them
    # ([B*nW, H, N, N] -> [B, nW, H, N, N] + mask [nW, 1, N, N] -> back), which fuse_attention
    # turns into a window mask repeated over the batch.
    "timm_swin_eager_ts17":
        (timm_model("swin_tiny_patch4_window7_224", fused_attn=False, img_size=32, patch_size=2,
                    window_size=4, embed_dim=24, depths=(2, 2), num_heads=(2, 4),
                    num_classes=10), "ts", 17),
    # Multi-query attention (MobileNetV5 / Gemma 3n): one key/value head broadcast over q's 4
    # heads; fuse_attention folds q's heads into its rows.
    "timm_multi_query_ts17": (timm_multi_query, "ts", 17),
    "timm_multi_query_dynamo": (timm_multi_query, "dynamo", None),
    # Sequencer2D's bidirectional LSTMs over rows and columns and a GRU: ONNX's recurrent ops,
    # unrolled at build time (src/passes/lower_recurrent.cc).
    "timm_recurrent_ts17": (timm_recurrent, "ts", 17),
    "timm_recurrent_dynamo": (timm_recurrent, "dynamo", None),
    # MLCD: batch-first heads merged sequence-first for the out_proj, 2-D rotary q and k.
    "hf_mlcd_sdpa_dynamo": (hf_mlcd, "dynamo", None),
    # VideoMAE: a 5-D video input and a tubelet 3-D Conv (lower_conv_nd on CUDA).
    "hf_videomae_sdpa_ts17": (hf_videomae, "ts", 17),
}


# ---- inputs -----------------------------------------------------------------------------------


def make_input(kind, batch, shape, rng):
    if kind == "image":
        return rng.standard_normal((batch, *shape)).astype(np.float32)
    seq = shape[0]
    if kind == "token_ids":
        # bos, random tokens, eos, then padding: each row a different length (odd lengths too).
        ids = np.full((batch, seq), 1, dtype=np.int64)
        for b in range(batch):
            length = int(rng.integers(3, seq + 1))
            ids[b, 0] = CLIP_TEXT_VOCAB - 2
            ids[b, 1:length - 1] = rng.integers(2, CLIP_TEXT_VOCAB - 2, size=length - 2)
            ids[b, length - 1] = CLIP_TEXT_VOCAB - 1
        return ids
    raise ValueError(kind)


def mask_from_ids(ids):
    mask = np.zeros_like(ids)
    for b in range(ids.shape[0]):
        eos = int(np.argmax(ids[b] == CLIP_TEXT_VOCAB - 1))
        mask[b, :eos + 1] = 1
    return mask


def make_inputs(specs, batch, rng):
    arrays = {}
    grids = []
    if any(kind.startswith("naflex") for _, kind, _ in specs):
        grids = [NAFLEX_GRIDS[int(rng.integers(len(NAFLEX_GRIDS)))] for _ in range(batch)]
    for name, kind, shape in specs:
        if kind == "token_mask":
            arrays[name] = mask_from_ids(arrays["input_ids"])
        elif kind == "naflex_patches":
            arrays[name] = rng.standard_normal((batch, *shape)).astype(np.float32)
        elif kind == "naflex_mask":
            arrays[name] = np.array([[1 if p < h * w else 0 for p in range(shape[0])]
                                     for h, w in grids], dtype=np.int64)
        elif kind == "naflex_shapes":
            arrays[name] = np.array(grids, dtype=np.int64)
        else:
            arrays[name] = make_input(kind, batch, shape, rng)
    return arrays


# ---- export -----------------------------------------------------------------------------------


def rename_symbol(model, old, new):
    """Renames a dim_param everywhere it appears (inputs, outputs, value_info)."""
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        if not vi.type.HasField("tensor_type"):
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param == old:
                d.dim_param = new


def export(module, specs, output_names, exporter, opset, path, dynamic_seq=False,
           dynamic_hw=False, half=False):
    if dynamic_hw:
        # Traced at a non-square size other than the config's: HF takes the position embeddings
        # uninterpolated at the config's square size, a branch torch.export would specialise.
        specs = [(n, kind, (shape[0], *EXPORT_IMAGE_SIZE)) for n, kind, shape in specs]
    example = make_inputs(specs, EXPORT_BATCH, np.random.default_rng(1234))
    args = tuple(torch.from_numpy(example[name]) for name, _, _ in specs)
    if half:  # a model.half() export: float inputs are float16 too
        args = tuple(a.half() if a.is_floating_point() else a for a in args)
    input_names = [name for name, _, _ in specs]
    if exporter == "ts":
        dynamic_axes = {n: {0: "batch"} for n in input_names + output_names}
        if dynamic_seq:
            for n in input_names:
                dynamic_axes[n][1] = "seq"
        torch.onnx.export(module, args, path, dynamo=False, opset_version=opset,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    else:
        batch = torch.export.Dim("batch", min=1, max=1024)
        # forward(*args): the varargs tuple is the one positional argument torch.export sees.
        axes = {0: batch}
        if dynamic_seq:
            axes[1] = torch.export.Dim("seq", min=2, max=77)
        if dynamic_hw:
            axes[2] = torch.export.Dim("height", min=16, max=1024)
            axes[3] = torch.export.Dim("width", min=16, max=1024)
        dynamic_shapes = (tuple(dict(axes) for _ in specs),)
        # opset None: the exporter's default; 23 and up write SDPA as ONNX's Attention op.
        extra = {"opset_version": opset} if opset is not None else {}
        program = torch.onnx.export(module, args, dynamo=True, input_names=input_names,
                                    output_names=output_names, dynamic_shapes=dynamic_shapes,
                                    optimize=True, verbose=False, **extra)
        program.save(path, external_data=False)
    model = onnx.load(path)
    # The dynamo exporter names the batch symbol after the Dim or "s0"-style; make every fixture
    # call it "batch" so tests and profiles see one name.
    first_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    if first_dim.HasField("dim_param") and first_dim.dim_param != "batch":
        rename_symbol(model, first_dim.dim_param, "batch")
    if first_dim.HasField("dim_value"):
        raise RuntimeError(f"{path}: batch dim was exported as the constant {first_dim.dim_value}")
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model


def sanitize(name):
    return name.replace("/", "_")


def run_fixture(name, builder, exporter, opset, out_dir):
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    module, specs, output_names, info = builder()
    module.eval()
    fixture_dir = os.path.join(out_dir, name)
    shutil.rmtree(fixture_dir, ignore_errors=True)
    os.makedirs(fixture_dir)
    model_path = os.path.join(fixture_dir, "model.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = export(module, specs, output_names, exporter, opset, model_path,
                       dynamic_seq="case_seqs" in info, dynamic_hw="case_image_sizes" in info,
                       half=info.get("half", False))
    is_half = info.get("half", False)
    reference = copy.deepcopy(module).float() if is_half else module
    ort_tolerance = 1e-2 if is_half else ORT_REL_TOL  # ORT's own float16 kernels
    graph_inputs = [i.name for i in model.graph.input]
    graph_outputs = [o.name for o in model.graph.output]
    if graph_inputs != [s[0] for s in specs]:
        raise RuntimeError(f"{name}: graph inputs {graph_inputs}, expected {[s[0] for s in specs]}")
    opsets = {imp.domain or "ai.onnx": imp.version for imp in model.opset_import}
    ops = sorted({n.op_type if not n.domain else f"{n.domain}.{n.op_type}"
                  for n in model.graph.node})

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(SEED)
    cases = []
    for k, batch in enumerate(BATCHES):
        case_specs = specs
        if "case_seqs" in info:
            case_specs = [(n, kind, (info["case_seqs"][k],)) for n, kind, _ in specs]
        if "case_image_sizes" in info:
            case_specs = [(n, kind, (shape[0], *info["case_image_sizes"][k]))
                          for n, kind, shape in specs]
        inputs = make_inputs(case_specs, batch, rng)
        if is_half:
            inputs = half_inputs(inputs)
        with torch.no_grad():
            out = reference(*float32_args(inputs, specs))
        if isinstance(out, torch.Tensor):
            out = (out,)
        expected = [o.detach().numpy().astype(np.float32) for o in out]
        got = session.run(None, inputs)
        case_dir = os.path.join(fixture_dir, f"case{k}")
        os.makedirs(case_dir)
        for n, arr in inputs.items():
            np.save(os.path.join(case_dir, f"input.{sanitize(n)}.npy"), arr)
        diffs = []
        for i, (oname, e, g) in enumerate(zip(graph_outputs, expected, got)):
            if e.shape != g.shape:
                raise RuntimeError(f"{name} case{k} output {oname}: ORT shape {g.shape}, "
                                   f"PyTorch {e.shape}")
            scale = float(np.abs(e).max())
            diff = float(np.abs(e - g.astype(np.float32)).max())
            if not scale > 0:
                raise RuntimeError(f"{name} case{k} output {oname} is all zeros")
            if diff > ort_tolerance * scale:
                raise RuntimeError(f"{name} case{k} output {oname}: ORT differs by {diff} "
                                   f"(scale {scale})")
            diffs.append(diff)
            # A half fixture's outputs are float16, as the model's (PyTorch's float32, rounded).
            np.save(os.path.join(case_dir, f"output.{i}.{sanitize(oname)}.npy"),
                    e.astype(np.float16) if is_half else e)
        cases.append({"dir": f"case{k}", "batch": batch, "ort_max_abs_diff": diffs})
        print(f"  {name} case{k} (batch {batch}): ORT max |diff| vs PyTorch "
              + ", ".join(f"{o}={d:.2e}" for o, d in zip(graph_outputs, diffs)))

    manifest = {
        "name": name,
        **info,
        "exporter": ("torch.onnx.export(dynamo=False)" if exporter == "ts"
                     else "torch.onnx.export(dynamo=True)"),
        "opset_imports": opsets,
        "inputs": graph_inputs,
        "outputs": graph_outputs,
        "ops": ops,
        "cases": cases,
        "seed": SEED,
        "versions": {"torch": torch.__version__, "transformers": transformers_version(),
                     "timm": timm_version(), "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__},
    }
    if is_half:
        with open(os.path.join(fixture_dir, "tolerance.txt"), "w") as f:
            f.write(f"{HALF_TOLERANCE}\n")
    with open(os.path.join(fixture_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True, default=str)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(r, fn)) for r, _, fs in os.walk(fixture_dir)
               for fn in fs)
    print(f"{name}: {exporter} opset {opsets.get('ai.onnx')}, {len(ops)} op types, "
          f"{size / 1024:.0f} KiB")
    return size


def transformers_version():
    import transformers
    return transformers.__version__


def timm_version():
    import timm
    return timm.__version__


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests",
                                                      "golden"))
    parser.add_argument("--only", default="", help="only fixtures whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    total = 0
    for name, (builder, exporter, opset) in FIXTURES.items():
        if args.only and args.only not in name:
            continue
        total += run_fixture(name, builder, exporter, opset, args.out)
    print(f"total {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
