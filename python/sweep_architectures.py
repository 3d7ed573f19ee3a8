#!/usr/bin/env python3
"""Architecture sweep: tiny random-weight models of many families through both exporters and vitrt.

For each architecture (timm with pretrained=False and small depth/width, or an HF transformers
class from a small config) and each exporter (TorchScript `dynamo=False` at opset 17, dynamo at
its default opset), with a dynamic batch dim:

  1. export to ONNX (an exporter that refuses the model is "export failed": PyTorch's limit);
  2. `vitrt build model.onnx -o m.plan --verbose` (CPU) and `--device cuda --no-tactics` (a CUDA
     plan builds without a GPU; it is only built here, not run);
  3. `vitrt run m.plan` at batch 1 and 3, compared with ONNX Runtime on the same ONNX and with
     PyTorch: max |difference| over the outputs, relative to the reference output's max |value|;
  3b. with --cuda-run (a machine with a GPU): fp32 and fp16 CUDA plans, tactics timed on that
     GPU, run at the same batches against ONNX Runtime (fp32 within --tolerance of scale, fp16
     within --fp16-tolerance with cosine >= --fp16-cosine); bench/gpu/sweep_cuda.sh runs this;
  4. `vitrt inspect m.plan --nodes`: vitrt.Attention nodes against the attention layers of the
     export (its Softmax and Attention nodes), Softmax left in the plan, plan node count.

--half exports each model after `.half()` (float16 weights, inputs and outputs, as users export
for GPU runtimes); the reference is then PyTorch in float32 on those float16 weights and inputs.

One row per model x exporter; `--json` writes every row with its messages. Run from the
repository root after building vitrt:

  python3 python/sweep_architectures.py [--only PATTERN[,PATTERN...]] [--exporter ts|dynamo|both]
      [--jobs 1] [--vitrt build/vitrt] [--json sweep.json] [--work /tmp/vitrt_sweep]
      [--no-cuda | --cuda-run] [--half] [--quant int8,fp8]

Statuses: ok; mismatch (vitrt vs ONNX Runtime above --tolerance of the output's scale); build
failed / run failed (vitrt's message); export failed (PyTorch's exporter); ort failed / ort
mismatch (ONNX Runtime cannot run the export, or differs from PyTorch: the export is wrong, not
vitrt); cuda build failed / cuda run failed / cuda mismatch (--cuda-run); int8|fp8 build failed
/ run failed / no reference / ref mismatch / low cosine (--quant int8,fp8: CPU plans calibrated
on random inputs, held to python/quant_reference.py's ONNX Runtime reference of the same
quantization, and compared with PyTorch fp32 by cosine); timeout (a step over --step-timeout
seconds); model failed (the constructor refused the small config).
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (TupleOutputs, export, inputs of the golden fixtures)

BATCHES = (1, 3)
DEFAULT_TOL = 1e-4  # the golden fixtures' bound (of the output's scale), fp32 on the CPU


# ---- models -----------------------------------------------------------------------------------
# Each entry: name -> builder returning (module, input_specs, output_names). Input specs as in
# make_fixtures: (onnx_name, kind, shape_without_batch).


def he_init(model):
    """Some models draw conv and BatchNorm weights from N(0, 0.02) like linear ones, or use
    PyTorch's default init over many layers: a random input then shrinks to exact zeros (or to
    a constant). He init by fan-in keeps it (BatchNorm at eval does not renormalise: its running
    statistics are 0 and 1)."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()


def unzero_linears(model):
    """Classifier heads initialised to zero (timm's SAM2 Hiera, Sequencer) give all-zero logits:
    drawn from N(0, 0.02) instead."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and not torch.any(m.weight):
            torch.nn.init.normal_(m.weight, std=0.02)


def timm_arch(name, size=32, pass_size=True, cnn_init=False, **overrides):
    def build():
        import timm

        kwargs = dict(overrides)
        kwargs.setdefault("num_classes", 10)
        if "img_size" not in kwargs and size is not None and pass_size:
            kwargs["img_size"] = size
        model = timm.create_model(name, pretrained=False, **kwargs)
        unzero_linears(model)
        if cnn_init:
            he_init(model)
        module = mf.TupleOutputs(model, None, lambda m, x: m(x))
        return module, [mf.image_input(3, size or 224)], ["logits"]

    return build


def timm_vit_like(name, **extra):
    return timm_arch(name, **{**mf.TIMM_SMALL, **extra})


def hf_arch(config_cls, model_cls, outputs, size=32, call=None, cnn_init=False, shape=None, **cfg):
    """shape: the input's shape without the batch, where it is not (3, size, size) (video)."""
    def build():
        import transformers

        cls = getattr(transformers, model_cls)
        try:
            model = cls._from_config(getattr(transformers, config_cls)(**cfg),
                                     attn_implementation="sdpa")
        except (ValueError, ImportError):  # no SDPA form: the eager one
            model = cls._from_config(getattr(transformers, config_cls)(**cfg),
                                     attn_implementation="eager")
        if cnn_init:
            he_init(model)
        fn = call or (lambda m, x: m(pixel_values=x))
        module = mf.TupleOutputs(model, outputs, fn)
        spec = ("pixel_values", "image", tuple(shape)) if shape else mf.image_input(3, size)
        return module, [spec], list(outputs)

    return build


def from_fixture(fn, *args, **kwargs):
    def build():
        module, specs, outputs, _ = fn(*args, **kwargs)
        return module, specs, outputs

    return build


HF_SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                image_size=32, patch_size=8)


def hf_vit_interpolate():
    from transformers import ViTConfig, ViTModel

    # Built for 16x16 and run at 32x32: interpolate_pos_encoding resizes the position grid.
    cfg = ViTConfig(**{**HF_SMALL, "image_size": 16})
    model = ViTModel._from_config(cfg, attn_implementation="sdpa")
    module = mf.TupleOutputs(model, ["last_hidden_state"],
                             lambda m, x: m(pixel_values=x, interpolate_pos_encoding=True))
    return module, [mf.image_input(3, 32)], ["last_hidden_state"]


def hf_vitmae():
    from transformers import ViTMAEConfig, ViTMAEModel

    # mask_ratio 0 and noise 0..L-1 (so argsort keeps the order): the encoder, deterministic.
    cfg = ViTMAEConfig(**HF_SMALL, mask_ratio=0.0)
    model = ViTMAEModel._from_config(cfg, attn_implementation="sdpa")
    tokens = (32 // 8) ** 2

    def call(m, x):
        noise = torch.arange(tokens, dtype=torch.float32).unsqueeze(0).expand(x.shape[0], -1)
        return m(pixel_values=x, noise=noise)

    module = mf.TupleOutputs(model, ["last_hidden_state"], call)
    return module, [mf.image_input(3, 32)], ["last_hidden_state"]


def hf_clip_text_model():
    module, specs, outputs, _ = mf.hf_clip_text("sdpa", False)
    return module, specs, outputs


def timm_class(module_path, class_name, size=64, make_kwargs=None, **kwargs):
    """A timm model class built directly: for depths/widths its named variants fix.
    make_kwargs(module) adds arguments that name the module's own classes."""

    def build():
        import importlib

        mod = importlib.import_module(module_path)
        extra = make_kwargs(mod) if make_kwargs else {}
        model = getattr(mod, class_name)(**{"num_classes": 10, **kwargs, **extra})
        module = mf.TupleOutputs(model, None, lambda m, x: m(x))
        return module, [mf.image_input(3, size)], ["logits"]

    return build


def mha_slow_path():
    """nn.MultiheadAttention at eval under no_grad takes its fused fast path, which the
    TorchScript exporter cannot export (aten::_native_multi_head_attention): users export it
    with the fast path off (or with grad enabled), as here, so both exporters see the
    in-projection, the per-head reshapes and the softmax. (The dynamo exporter decomposes the
    fast path too: session 26 checked torchvision's ViT and open_clip's towers that way, all
    attention fused.)"""
    torch.backends.mha.set_fastpath_enabled(False)


def tv_arch(name, size=64, cnn_init=False, **kwargs):
    """A torchvision model: a builder function of torchvision.models (resnet18, ...) or a class
    of one of its modules ("swin_transformer.SwinTransformer") given a small config. Their
    attention is nn.MultiheadAttention (ViT, MaxViT's) or torchvision's own (Swin)."""

    def build():
        import importlib

        import torchvision.models as tvm

        mha_slow_path()

        if "." in name:
            module_name, cls = name.rsplit(".", 1)
            ctor = getattr(importlib.import_module("torchvision.models." + module_name), cls)
        else:
            ctor = getattr(tvm, name)
        # NAME_fn=f passes NAME=f(importlib): arguments that are torchvision's own classes,
        # imported only when the model is built.
        extra = {(k[:-3] if k.endswith("_fn") else k): (v(importlib) if k.endswith("_fn") else v)
                 for k, v in kwargs.items()}
        model = ctor(**{"num_classes": 10, **extra})
        unzero_linears(model)
        if cnn_init:
            he_init(model)
        module = mf.TupleOutputs(model, None, lambda m, x: m(x))
        return module, [mf.image_input(3, size)], ["logits"]

    return build


def open_clip_tower(tower, **vision):
    """open_clip's CLIP (nn.MultiheadAttention blocks, or its custom block with scaled cosine
    attention / qk-norm), small: the image tower on pixels or the text tower on token ids."""

    def build():
        from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

        mha_slow_path()
        seq = 16
        vcfg = CLIPVisionCfg(**{"layers": 2, "width": 32, "head_width": 16, "patch_size": 8,
                                "image_size": 32, **vision})
        tcfg = CLIPTextCfg(context_length=seq, vocab_size=mf.CLIP_TEXT_VOCAB, width=32, heads=2,
                           layers=2)
        model = CLIP(embed_dim=16, vision_cfg=vcfg, text_cfg=tcfg)
        if tower == "vision":
            module = mf.TupleOutputs(model, None, lambda m, x: m.encode_image(x))
            return module, [mf.image_input(3, 32)], ["image_embeds"]
        module = mf.TupleOutputs(model, None, lambda m, ids: m.encode_text(ids))
        return module, [("input_ids", "token_ids", (seq,))], ["text_embeds"]

    return build


def hf_detr(config_cls="DetrConfig", model_cls="DetrForObjectDetection"):
    """DETR, or a DETR variant that takes the same config (Conditional DETR)."""

    def build():
        import transformers
        from transformers import ResNetConfig

        # A transformers ResNet backbone (no timm), one encoder and one decoder layer.
        backbone = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                                out_features=["stage2"])
        cfg = getattr(transformers, config_cls)(
            use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False,
            d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=5,
            num_labels=4)
        model = getattr(transformers, model_cls)._from_config(cfg)
        module = mf.TupleOutputs(model, ["logits", "pred_boxes"], lambda m, x: m(pixel_values=x))
        return module, [mf.image_input(3, 64)], ["logits", "pred_boxes"]

    return build


def hf_sam2_vision():
    from transformers import Sam2HieraDetConfig, Sam2VisionConfig, Sam2VisionModel

    # SAM2's Hiera: windowed attention with query pooling at each stage change, one global block.
    backbone = Sam2HieraDetConfig(
        hidden_size=16, num_attention_heads=1, blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 2, 2],
        window_size_per_stage=[8, 4, 4, 2], global_attention_blocks=[3], image_size=[64, 64],
        patch_stride=[4, 4], window_positional_embedding_background_size=[4, 4])
    cfg = Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16],
                           fpn_hidden_size=32)
    model = Sam2VisionModel._from_config(cfg)
    module = mf.TupleOutputs(model, ["last_hidden_state"], lambda m, x: m(pixel_values=x))
    return module, [mf.image_input(3, 64)], ["last_hidden_state"]


def hf_vitpose():
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation

    # A non-square input (64x48, as the pose models' 256x192) and the heatmap head's deconvs.
    backbone = VitPoseBackboneConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     mlp_ratio=2, image_size=[64, 48], patch_size=[16, 16],
                                     out_indices=[2])
    model = VitPoseForPoseEstimation._from_config(VitPoseConfig(backbone_config=backbone,
                                                                num_labels=5))
    module = mf.TupleOutputs(model, ["heatmaps"], lambda m, x: m(pixel_values=x))
    return module, [("pixel_values", "image", (3, 64, 48))], ["heatmaps"]


def hf_depth_anything():
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                            mlp_ratio=2, image_size=28, patch_size=14,
                            out_indices=[1, 2, 3, 4], reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32,
                              patch_size=14, neck_hidden_sizes=[8, 16, 16, 32],
                              fusion_hidden_size=16, head_hidden_size=8)
    model = DepthAnythingForDepthEstimation._from_config(cfg)
    module = mf.TupleOutputs(model, ["predicted_depth"], lambda m, x: m(pixel_values=x))
    return module, [mf.image_input(3, 28)], ["predicted_depth"]


def hf_siglip_text():
    from transformers import SiglipTextConfig, SiglipTextModel

    # SigLIP pools the last token (no eos search); ids padded to the full length as it trains.
    cfg = SiglipTextConfig(vocab_size=mf.CLIP_TEXT_VOCAB, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2,
                           max_position_embeddings=mf.CLIP_TEXT_SEQ)
    model = SiglipTextModel._from_config(cfg, attn_implementation="sdpa")
    module = mf.TupleOutputs(model, ["last_hidden_state", "pooler_output"],
                             lambda m, ids: m(input_ids=ids))
    return module, [("input_ids", "token_ids", (mf.CLIP_TEXT_SEQ,))], ["last_hidden_state",
                                                                        "pooler_output"]


def hf_clip_full(model_cls="CLIPModel", config_cls="CLIPConfig"):
    """The whole dual encoder as users export it for zero-shot classification: images and
    texts in, logits_per_image (scaled cosine similarities) out."""

    def build():
        import transformers

        text = dict(vocab_size=mf.CLIP_TEXT_VOCAB, hidden_size=32, intermediate_size=64,
                    num_hidden_layers=2, num_attention_heads=2,
                    max_position_embeddings=mf.CLIP_TEXT_SEQ)
        if model_cls == "CLIPModel":
            text.update(pad_token_id=1, bos_token_id=mf.CLIP_TEXT_VOCAB - 2,
                        eos_token_id=mf.CLIP_TEXT_VOCAB - 1)
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, image_size=32, patch_size=8)
        cfg = getattr(transformers, config_cls)(text_config=text, vision_config=vision,
                                                **({"projection_dim": 16}
                                                   if model_cls == "CLIPModel" else {}))
        model = getattr(transformers, model_cls)._from_config(cfg, attn_implementation="sdpa")
        module = mf.TupleOutputs(model, ["logits_per_image"],
                                 lambda m, x, ids: m(pixel_values=x, input_ids=ids))
        return module, [mf.image_input(3, 32), ("input_ids", "token_ids", (mf.CLIP_TEXT_SEQ,))], \
            ["logits_per_image"]

    return build


def hf_clipseg():
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation

    text = dict(vocab_size=mf.CLIP_TEXT_VOCAB, hidden_size=32, intermediate_size=64,
                num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=77,
                pad_token_id=1, bos_token_id=mf.CLIP_TEXT_VOCAB - 2,
                eos_token_id=mf.CLIP_TEXT_VOCAB - 1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                  num_attention_heads=2, image_size=32, patch_size=8)
    cfg = CLIPSegConfig(text_config=text, vision_config=vision, projection_dim=16,
                        extract_layers=[1, 2], reduce_dim=16, decoder_num_attention_heads=2,
                        decoder_intermediate_size=32)
    model = CLIPSegForImageSegmentation._from_config(cfg, attn_implementation="sdpa")
    module = mf.TupleOutputs(model, ["logits"],
                             lambda m, x, ids: m(pixel_values=x, input_ids=ids))
    return module, [mf.image_input(3, 32), ("input_ids", "token_ids", (mf.CLIP_TEXT_SEQ,))], \
        ["logits"]


def hf_rt_detr():
    from transformers import ResNetConfig, RTDetrConfig, RTDetrForObjectDetection

    # Deformable attention (grid_sample over 3 feature levels), TopK query selection.
    backbone = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 32], depths=[1, 1, 1],
                            out_features=["stage1", "stage2", "stage3"])
    cfg = RTDetrConfig(backbone_config=backbone, use_timm_backbone=False,
                       use_pretrained_backbone=False, encoder_hidden_dim=32,
                       encoder_in_channels=[16, 32, 32], feat_strides=[8, 16, 32], d_model=32,
                       encoder_ffn_dim=64, decoder_ffn_dim=64, encoder_attention_heads=2,
                       decoder_attention_heads=2, decoder_layers=1, num_queries=10, num_labels=4,
                       num_feature_levels=3, decoder_in_channels=[32, 32, 32],
                       decoder_n_points=2, anchor_image_size=None, num_denoising=0)
    model = RTDetrForObjectDetection._from_config(cfg)
    module = mf.TupleOutputs(model, ["logits", "pred_boxes"], lambda m, x: m(pixel_values=x))
    return module, [mf.image_input(3, 64)], ["logits", "pred_boxes"]


def hf_deformable_detr():
    from transformers import DeformableDetrConfig, DeformableDetrForObjectDetection, ResNetConfig

    # Multi-scale deformable attention (grid_sample over 3 levels). Two decoder layers: with one,
    # transformers' weight tying of the box heads refuses the config.
    backbone = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 32, 32], depths=[1, 1, 1, 1],
                            out_features=["stage2", "stage3", "stage4"])
    cfg = DeformableDetrConfig(backbone_config=backbone, use_timm_backbone=False,
                               use_pretrained_backbone=False, d_model=32, encoder_layers=1,
                               decoder_layers=2, encoder_attention_heads=2,
                               decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                               num_queries=10, num_labels=4, encoder_n_points=2,
                               decoder_n_points=2)
    model = DeformableDetrForObjectDetection._from_config(cfg)
    module = mf.TupleOutputs(model, ["logits", "pred_boxes"], lambda m, x: m(pixel_values=x))
    # 128: the extra level (stride 64) keeps 2x2 cells; at 1x1 its GroupNorm sees one value.
    return module, [mf.image_input(3, 128)], ["logits", "pred_boxes"]


def hf_mask2former():
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    # Swin backbone, deformable pixel decoder (grid_sample), masked-attention decoder. The
    # constructor needs scipy (the training loss's Hungarian matcher): "model failed" without it.
    backbone = SwinConfig(image_size=64, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4],
                          window_size=2, out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = Mask2FormerConfig(backbone_config=backbone, use_pretrained_backbone=False,
                            feature_size=32, mask_feature_size=32, hidden_dim=32,
                            encoder_feedforward_dim=64, dim_feedforward=64, encoder_layers=1,
                            decoder_layers=2, num_attention_heads=2, num_queries=10, num_labels=4)
    model = Mask2FormerForUniversalSegmentation._from_config(cfg)
    outputs = ["class_queries_logits", "masks_queries_logits"]
    module = mf.TupleOutputs(model, outputs, lambda m, x: m(pixel_values=x))
    return module, [mf.image_input(3, 64)], outputs


def hf_upernet():
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

    # UperNet over ConvNeXt: the pyramid pooling module pools to 1, 2, 3 and 6 cells.
    backbone = ConvNextConfig(hidden_sizes=[16, 32, 32, 64], depths=[1, 1, 1, 1],
                              out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = UperNetConfig(backbone_config=backbone, hidden_size=32, auxiliary_in_channels=32,
                        num_labels=5, use_pretrained_backbone=False)
    model = UperNetForSemanticSegmentation._from_config(cfg)
    module = mf.TupleOutputs(model, ["logits"], lambda m, x: m(pixel_values=x))
    return module, [mf.image_input(3, 64)], ["logits"]


HF_CNN = dict(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], num_labels=10)


ARCHS = {
    # ViT family
    "timm_vit": timm_vit_like("vit_tiny_patch16_224"),
    "hf_vit": hf_arch("ViTConfig", "ViTForImageClassification", ["logits"], num_labels=10,
                      **HF_SMALL),
    "hf_vit_interpolate_pos": hf_vit_interpolate,
    "timm_deit_distilled": timm_vit_like("deit_tiny_distilled_patch16_224"),
    "hf_deit_distilled": from_fixture(mf.hf_deit_distilled, "sdpa"),
    "timm_deit3": timm_vit_like("deit3_small_patch16_224"),
    "timm_flexivit": timm_vit_like("flexivit_small"),
    "timm_vit_rope": timm_vit_like("vit_small_patch16_rope_224"),
    # relative position bias
    "timm_beit": timm_vit_like("beit_base_patch16_224"),
    "hf_beit": hf_arch("BeitConfig", "BeitModel", ["last_hidden_state", "pooler_output"],
                       use_relative_position_bias=True, **HF_SMALL),
    "hf_data2vec_vision": hf_arch("Data2VecVisionConfig", "Data2VecVisionModel",
                                  ["last_hidden_state"], use_relative_position_bias=True,
                                  **HF_SMALL),
    # self-supervised backbones
    "timm_dinov2_reg": timm_vit_like("vit_small_patch14_reg4_dinov2"),
    "hf_dinov2": from_fixture(mf.hf_dinov2, "sdpa"),
    "hf_dinov2_reg": hf_arch("Dinov2WithRegistersConfig", "Dinov2WithRegistersModel",
                             ["last_hidden_state", "pooler_output"], hidden_size=32,
                             num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                             image_size=32, patch_size=8, num_register_tokens=2),
    "hf_dinov3": from_fixture(mf.hf_dinov3, "sdpa"),
    "timm_dinov3": timm_vit_like("vit_small_patch16_dinov3"),
    "timm_eva02": timm_vit_like("eva02_tiny_patch14_224", head_init_scale=1.0),
    "hf_vitmae": hf_vitmae,
    # image-text towers
    "hf_clip_vision": from_fixture(mf.hf_clip_vision, "sdpa"),
    "hf_clip_text": hf_clip_text_model,
    "hf_siglip_vision": from_fixture(mf.hf_siglip_vision, "sdpa"),
    "hf_siglip2_naflex": from_fixture(mf.hf_siglip2_naflex, "sdpa"),
    "timm_vit_siglip": timm_vit_like("vit_base_patch16_siglip_224"),
    "hf_blip_vision": hf_arch("BlipVisionConfig", "BlipVisionModel",
                              ["last_hidden_state", "pooler_output"], **HF_SMALL),
    "hf_owlvit_vision": hf_arch("OwlViTVisionConfig", "OwlViTVisionModel",
                                ["last_hidden_state", "pooler_output"], **HF_SMALL),
    "hf_owlv2_vision": hf_arch("Owlv2VisionConfig", "Owlv2VisionModel",
                               ["last_hidden_state", "pooler_output"], **HF_SMALL),
    # hierarchical / windowed
    "timm_swin": timm_arch("swin_tiny_patch4_window7_224", patch_size=2, window_size=4,
                           embed_dim=24, depths=(2, 2), num_heads=(2, 4)),
    "hf_swin": hf_arch("SwinConfig", "SwinModel", ["last_hidden_state", "pooler_output"],
                       image_size=32, patch_size=2, embed_dim=24, depths=[2, 2],
                       num_heads=[2, 4], window_size=4),
    "timm_swinv2": timm_arch("swinv2_tiny_window8_256", patch_size=2, window_size=4,
                             embed_dim=24, depths=(2, 2), num_heads=(2, 4)),
    "hf_swinv2": hf_arch("Swinv2Config", "Swinv2Model", ["last_hidden_state", "pooler_output"],
                         image_size=32, patch_size=2, embed_dim=24, depths=[2, 2],
                         num_heads=[2, 4], window_size=4),
    "timm_maxvit": timm_arch("maxvit_rmlp_nano_rw_256", size=64),
    # Hiera zero-initialises its classifier: the pooled features are the output.
    "timm_hiera": timm_arch("hiera_tiny_224", size=64, embed_dim=32, num_heads=1,
                            stages=(1, 1, 1, 1), num_classes=0),
    "timm_mvitv2": timm_arch("mvitv2_tiny", size=64),
    "timm_samvit": timm_arch("samvit_base_patch16", size=64, patch_size=8, depth=2,
                             embed_dim=48, num_heads=3, global_attn_indexes=(1,), window_size=4,
                             neck_chans=32, use_rel_pos=True),
    "timm_tiny_vit": timm_arch("tiny_vit_5m_224", size=224, pass_size=False,
                               depths=(1, 1, 1, 1)),
    # pyramid / token mixing
    "timm_pit": timm_arch("pit_ti_224", size=64, depth=(1, 1, 1)),
    "timm_levit": timm_arch("levit_128s", size=64, depth=(1, 1, 1)),
    "timm_xcit": timm_vit_like("xcit_nano_12_p16_224"),
    "timm_cait": timm_vit_like("cait_xxs24_224"),
    "timm_crossvit": timm_arch("crossvit_tiny_240", size=None, depth=((1, 1, 0),)),
    "timm_twins_svt": timm_arch("twins_svt_small", size=64, depths=(1, 1, 1, 1)),
    "timm_twins_pcpvt": timm_arch("twins_pcpvt_small", size=64, depths=(1, 1, 1, 1)),
    "timm_pvt_v2": timm_arch("pvt_v2_b0", size=64, pass_size=False, depths=(1, 1, 1, 1)),
    "timm_coat_lite": timm_arch("coat_lite_tiny", size=64, serial_depths=(1, 1, 1, 1)),
    "timm_volo": timm_arch("volo_d1_224", size=64),
    "timm_convnext": timm_arch("convnext_atto", size=64, pass_size=False),
    "timm_vit_hybrid": timm_arch("vit_tiny_r_s16_p8_224", patch_size=2, depth=2, embed_dim=48,
                                 num_heads=3),
    # mobile hybrids
    "timm_mobilevit": timm_arch("mobilevit_xxs", size=64),
    "timm_mobilevitv2": timm_arch("mobilevitv2_050", size=64),
    "timm_efficientformer": timm_arch("efficientformer_l1", size=224, depths=(1, 1, 1, 2)),
    "timm_fastvit": timm_arch("fastvit_t8", size=64, pass_size=False),
    "timm_efficientvit_mit": timm_arch("efficientvit_b0", size=64, pass_size=False),
    "timm_efficientvit_msra": timm_arch("efficientvit_m0", size=64),
    # detection / dense heads
    "hf_yolos": hf_arch("YolosConfig", "YolosModel", ["last_hidden_state"], image_size=[32, 32],
                        num_detection_tokens=4, **{k: v for k, v in HF_SMALL.items()
                                                   if k != "image_size"}),
    "hf_segformer": hf_arch("SegformerConfig", "SegformerForSemanticSegmentation", ["logits"],
                            size=64, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                            hidden_sizes=[16, 32], patch_sizes=[7, 3], strides=[4, 2],
                            num_attention_heads=[1, 2], mlp_ratios=[2, 2],
                            decoder_hidden_size=32, num_labels=5),
    "hf_dpt": hf_arch("DPTConfig", "DPTForDepthEstimation", ["predicted_depth"],
                      hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                      intermediate_size=64, image_size=32, patch_size=8,
                      backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 16, 32],
                      fusion_hidden_size=16, head_hidden_size=8),
    # classic CNNs (timm)
    "timm_resnet18": timm_arch("resnet18", size=64, pass_size=False, layers=(1, 1, 1, 1)),
    "timm_resnet50d": timm_arch("resnet50d", size=64, pass_size=False, layers=(1, 1, 1, 1)),
    "timm_efficientnet_b0": timm_arch("efficientnet_b0", size=64, pass_size=False),
    "timm_mobilenetv3": timm_arch("mobilenetv3_small_100", size=64, pass_size=False),
    "timm_mobilenetv4": timm_arch("mobilenetv4_conv_small", size=64, pass_size=False),
    "timm_regnety": timm_arch("regnety_002", size=64, pass_size=False),
    "timm_ghostnet": timm_arch("ghostnet_050", size=64, pass_size=False),
    "timm_ghostnetv2": timm_arch("ghostnetv2_100", size=64, pass_size=False),
    "timm_rexnet": timm_arch("rexnet_100", size=64, pass_size=False),
    "timm_densenet": timm_class("timm.models.densenet", "DenseNet", growth_rate=8,
                                block_config=(2, 2, 2, 2)),
    "timm_inception_v3": timm_arch("inception_v3", size=96, pass_size=False),
    "timm_convnextv2": timm_arch("convnextv2_atto", size=64, pass_size=False),
    "timm_efficientnetv2": timm_arch("efficientnetv2_rw_t", size=64, pass_size=False),
    "timm_hgnetv2": timm_arch("hgnetv2_b0", size=64, pass_size=False),
    "timm_resnest": timm_arch("resnest14d", size=64, pass_size=False),
    "timm_res2net": timm_arch("res2net50_14w_8s", size=64, pass_size=False, layers=(1, 1, 1, 1)),
    "timm_nfnet": timm_arch("nfnet_f0", size=64, pass_size=False, depths=(1, 1, 1, 1)),
    "timm_dla": timm_arch("dla34", size=64, pass_size=False),
    "timm_hrnet": timm_arch("hrnet_w18_small", size=64, pass_size=False),
    # VGG's ConvMlp head (a 7x7 conv as fc6) over a 2x2 map: timm pools it up to 7x7 first.
    "timm_vgg": timm_class("timm.models.vgg", "VGG", cfg=[16, "M", 32, "M", 64, 64, "M", 64, "M",
                                                          64, "M"], mlp_ratio=0.25),
    "timm_tresnet": timm_arch("tresnet_m", size=64, pass_size=False, layers=(1, 1, 1, 1)),
    "timm_repvit": timm_arch("repvit_m0_9", size=64, pass_size=False),
    "timm_fasternet": timm_arch("fasternet_t0", size=64, pass_size=False),
    "timm_starnet": timm_arch("starnet_s050", size=64, pass_size=False),
    "timm_mambaout": timm_arch("mambaout_femto", size=64, pass_size=False, depths=(1, 1, 1, 1)),
    # classic CNNs (transformers)
    "hf_resnet": hf_arch("ResNetConfig", "ResNetForImageClassification", ["logits"], size=64,
                         **HF_CNN),
    "hf_convnext": hf_arch("ConvNextConfig", "ConvNextForImageClassification", ["logits"],
                           size=64, num_stages=2, hidden_sizes=[16, 32], depths=[1, 1],
                           num_labels=10),
    "hf_convnextv2": hf_arch("ConvNextV2Config", "ConvNextV2ForImageClassification", ["logits"],
                             size=64, num_stages=2, hidden_sizes=[16, 32], depths=[1, 1],
                             num_labels=10),
    "hf_regnet": hf_arch("RegNetConfig", "RegNetForImageClassification", ["logits"], size=64,
                         embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], groups_width=8,
                         num_labels=10),
    "hf_bit": hf_arch("BitConfig", "BitForImageClassification", ["logits"], size=64,
                      embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], num_groups=8,
                      num_labels=10),
    "hf_mobilenet_v2": hf_arch("MobileNetV2Config", "MobileNetV2ForImageClassification",
                               ["logits"], size=64, depth_multiplier=0.35, num_labels=10),
    "hf_efficientnet": hf_arch("EfficientNetConfig", "EfficientNetForImageClassification",
                               ["logits"], size=64, image_size=64, width_coefficient=0.5,
                               depth_coefficient=0.5, hidden_dim=640, num_labels=10,
                               cnn_init=True),
    # ViT variants (timm)
    "timm_beitv2": timm_vit_like("beitv2_base_patch16_224"),
    "timm_vit_map": timm_vit_like("vit_tiny_patch16_224", global_pool="map"),
    "timm_vit_noclass_avg": timm_vit_like("vit_tiny_patch16_224", class_token=False,
                                          global_pool="avg"),
    "timm_vit_reg_gap": timm_vit_like("vit_base_patch16_reg4_gap_256"),
    "timm_vit_rope_reg_gap": timm_vit_like("vit_medium_patch16_rope_reg1_gap_256"),
    "timm_eva": timm_vit_like("eva_large_patch14_196"),
    # The mixers zero-initialise their classifier: the pooled features are the output.
    "timm_mixer": timm_class("timm.models.mlp_mixer", "MlpMixer", size=32, img_size=32,
                             patch_size=8, num_blocks=2, embed_dim=48, num_classes=0),
    # ResMLP: the mixer with affine norms and a token-mixing Linear inside a residual.
    "timm_resmlp": timm_class("timm.models.mlp_mixer", "MlpMixer", size=32, img_size=32,
                              patch_size=8, num_blocks=2, embed_dim=48, mlp_ratio=4,
                              stem_norm=False, num_classes=0,
                              make_kwargs=lambda m: dict(block_layer=m.ResBlock,
                                                         norm_layer=m.Affine, mlp_layer=m.Mlp)),
    # metaformers and other hybrids (timm)
    "timm_poolformerv2": timm_class("timm.models.metaformer", "MetaFormer", depths=(1, 1, 1, 1),
                                    dims=(16, 32, 48, 64), use_mlp_head=False,
                                    make_kwargs=lambda m: dict(norm_layers=m.GroupNorm1NoBias)),
    "timm_caformer": timm_class("timm.models.metaformer", "MetaFormer", depths=(1, 1, 1, 1),
                                dims=(16, 32, 64, 64), make_kwargs=lambda m: dict(
                                    token_mixers=[m.SepConv] * 2 + [m.Attention] * 2,
                                    norm_layers=[m.LayerNorm2dNoBias] * 2
                                    + [m.LayerNormNoBias] * 2)),
    "timm_convformer": timm_class("timm.models.metaformer", "MetaFormer", depths=(1, 1, 1, 1),
                                  dims=(16, 32, 48, 64),
                                  make_kwargs=lambda m: dict(token_mixers=m.SepConv)),
    "timm_nextvit": timm_arch("nextvit_small", size=64, pass_size=False),
    "timm_edgenext": timm_arch("edgenext_xx_small", size=64, pass_size=False),
    "timm_davit": timm_arch("davit_tiny", size=64, pass_size=False, depths=(1, 1, 1, 1),
                            window_size=2),
    "timm_gcvit": timm_arch("gcvit_xxtiny", size=64),
    "timm_focalnet": timm_arch("focalnet_tiny_srf", size=64, pass_size=False),
    "timm_inception_next": timm_arch("inception_next_atto", size=64, pass_size=False),
    "timm_efficientvit_l1": timm_arch("efficientvit_l1", size=64, pass_size=False),
    "timm_coatnet": timm_arch("coatnet_nano_rw_224", size=64),
    "timm_botnet": timm_arch("botnet26t_256", size=64),
    "timm_halonet": timm_arch("halonet26t", size=256),
    # transformers hybrids and pyramids
    "hf_poolformer": hf_arch("PoolFormerConfig", "PoolFormerForImageClassification", ["logits"],
                             size=64, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 32, 64],
                             num_labels=10),
    "hf_levit": hf_arch("LevitConfig", "LevitForImageClassification", ["logits"], size=64,
                        image_size=64, hidden_sizes=[32, 48, 64], num_attention_heads=[2, 3, 4],
                        depths=[1, 1, 1], key_dim=[8, 8, 8], num_labels=10),
    "hf_pvt": hf_arch("PvtConfig", "PvtForImageClassification", ["logits"], size=64,
                      image_size=64, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 32, 64],
                      num_attention_heads=[1, 2, 2, 4], num_labels=10),
    "hf_pvt_v2": hf_arch("PvtV2Config", "PvtV2ForImageClassification", ["logits"], size=64,
                         depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 32, 64],
                         num_attention_heads=[1, 2, 2, 4], num_labels=10),
    "hf_mobilevit": hf_arch("MobileViTConfig", "MobileViTForImageClassification", ["logits"],
                            size=64, image_size=64, hidden_sizes=[32, 48, 64],
                            neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64], num_labels=10,
                            cnn_init=True),
    "hf_mobilevitv2": hf_arch("MobileViTV2Config", "MobileViTV2ForImageClassification",
                              ["logits"], size=64, image_size=64, width_multiplier=0.5,
                              num_labels=10, cnn_init=True),
    "hf_vitmsn": hf_arch("ViTMSNConfig", "ViTMSNModel", ["last_hidden_state"], **HF_SMALL),
    "hf_cvt": hf_arch("CvtConfig", "CvtForImageClassification", ["logits"], size=64,
                      embed_dim=[16, 32, 48], num_heads=[1, 2, 3], depth=[1, 2, 3],
                      num_labels=10),
    "hf_swiftformer": hf_arch("SwiftFormerConfig", "SwiftFormerForImageClassification",
                              ["logits"], size=64, depths=[1, 1, 1, 1],
                              embed_dims=[16, 32, 48, 64], num_labels=10),
    "hf_focalnet": hf_arch("FocalNetConfig", "FocalNetModel", ["last_hidden_state",
                                                              "pooler_output"],
                           size=64, image_size=64, embed_dim=16, depths=[1, 1],
                           focal_levels=[2, 2], focal_windows=[3, 3]),
    # dense heads and other tasks (transformers)
    "hf_detr": hf_detr(),
    "hf_swin2sr": hf_arch("Swin2SRConfig", "Swin2SRForImageSuperResolution", ["reconstruction"],
                          size=16, image_size=16, embed_dim=16, depths=[1, 1], num_heads=[2, 2],
                          window_size=4, upscale=2, upsampler="pixelshuffle"),
    "hf_depth_anything": hf_depth_anything,
    "hf_glpn": hf_arch("GLPNConfig", "GLPNForDepthEstimation", ["predicted_depth"], size=64,
                       num_encoder_blocks=4, depths=[1, 1, 1, 1], sr_ratios=[8, 4, 2, 1],
                       hidden_sizes=[16, 32, 32, 64], num_attention_heads=[1, 2, 2, 4],
                       decoder_hidden_size=16),
    "hf_clipseg": hf_clipseg,
    "hf_siglip_text": hf_siglip_text,
    "hf_clip_full": hf_clip_full(),
    "hf_siglip_full": hf_clip_full("SiglipModel", "SiglipConfig"),
    "hf_rt_detr": hf_rt_detr,
    "hf_deformable_detr": hf_deformable_detr,
    "hf_mask2former": hf_mask2former,
    "hf_upernet_convnext": hf_upernet,
    "hf_sam_vision": hf_arch("SamVisionConfig", "SamVisionModel", ["last_hidden_state"], size=64,
                             hidden_size=32, output_channels=16, num_hidden_layers=2,
                             num_attention_heads=2, image_size=64, patch_size=8, mlp_dim=64,
                             window_size=4, global_attn_indexes=[1]),
    "hf_vitdet": hf_arch("VitDetConfig", "VitDetModel", ["last_hidden_state"], size=64,
                         hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2,
                         image_size=64, pretrain_image_size=64, patch_size=8,
                         window_block_indices=[0], window_size=4,
                         use_relative_position_embeddings=True),
    "hf_hiera": hf_arch("HieraConfig", "HieraModel", ["last_hidden_state", "pooler_output"],
                        size=64, embed_dim=16, image_size=[64, 64], patch_size=[7, 7],
                        patch_stride=[4, 4], patch_padding=[3, 3], depths=[1, 1, 1, 1],
                        num_heads=[1, 1, 2, 2], query_stride=[2, 2], masked_unit_size=[8, 8]),
    "hf_dinov2_cls": hf_arch("Dinov2Config", "Dinov2ForImageClassification", ["logits"],
                             hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             mlp_ratio=2, image_size=32, patch_size=8, num_labels=10),
    "hf_aimv2_vision": hf_arch("Aimv2VisionConfig", "Aimv2VisionModel",
                               ["last_hidden_state", "pooler_output"], hidden_size=32,
                               intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               image_size=32, patch_size=8),
    "hf_ijepa": hf_arch("IJepaConfig", "IJepaModel", ["last_hidden_state"], **HF_SMALL),
    # more timm families
    "timm_convit": timm_vit_like("convit_tiny", local_up_to_layer=1),
    "timm_nest": timm_class("timm.models.nest", "Nest", size=32, img_size=32, patch_size=2,
                            num_levels=2, embed_dims=(32, 64), num_heads=(1, 2), depths=(1, 1),
                            drop_path_rate=0.0),
    "timm_tnt": timm_class("timm.models.tnt", "TNT", size=32, img_size=32, patch_size=8,
                           embed_dim=48, inner_dim=12, depth=2, num_heads_outer=3,
                           num_heads_inner=2),
    "timm_visformer": timm_arch("visformer_tiny", size=64, depth=(1, 1, 1)),
    "timm_vovnet": timm_arch("ese_vovnet19b_dw", size=64, pass_size=False),
    "timm_cspdarknet": timm_arch("cspdarknet53", size=64, pass_size=False),
    "timm_xception": timm_arch("xception41", size=64, pass_size=False),
    "timm_lcnet": timm_arch("lcnet_050", size=64, pass_size=False),
    "timm_efficientformerv2": timm_arch("efficientformerv2_s0", size=64,
                                        depths=(1, 1, 1, 2)),
    "timm_fastvit_mci": timm_arch("fastvit_mci0", size=64, pass_size=False),
    "timm_vit_quickgelu": timm_vit_like("vit_base_patch16_clip_quickgelu_224"),
    # timm families added in session 25 (timm 1.0.31): relative-position and NaFlex ViTs,
    # SwinV2-CR, SAM2's Hiera, the VLM towers (Qwen3, Gemma 4, DeepSeek), hybrids and CNNs
    "timm_naflexvit": timm_arch("naflexvit_base_patch16_gap", size=32, patch_size=8, depth=2,
                                embed_dim=48, num_heads=3),
    "timm_vit_relpos": timm_vit_like("vit_relpos_base_patch16_224"),
    "timm_vit_relpos_cls": timm_vit_like("vit_relpos_base_patch16_clsgap_224"),
    "timm_vit_srelpos": timm_vit_like("vit_srelpos_small_patch16_224"),
    "timm_swinv2_cr": timm_arch("swinv2_cr_tiny_224", size=64, pass_size=True, depths=(1,1,1,1),
                                embed_dim=32, num_heads=(2,2,2,2), window_size=4),
    "timm_sam2_hiera": timm_arch("sam2_hiera_tiny", size=64, pass_size=False),
    "timm_vitamin": timm_arch("vitamin_small_224", size=64, depth=2),
    "timm_qwen3_vit": timm_arch("qwen3_vit_88m", size=64, patch_size=8, embed_dim=48, depth=2,
                                num_heads=3, pos_embed_grid_size=8),
    "timm_gemma4_vit": timm_arch("gemma4_vit_167m", size=64, patch_size=8, embed_dim=48, depth=2,
                                 num_heads=2, head_dim=24, intermediate_size=96,
                                 position_embedding_size=64),
    "timm_deepseek_vit": timm_arch("deepseek_vit_412m", size=56, patch_size=14, embed_dim=48,
                                   depth=2, num_heads=3),
    "timm_shvit": timm_arch("shvit_s1", size=64, pass_size=False),
    "timm_efficientvim": timm_arch("efficientvim_m1", size=64, pass_size=False),
    "timm_iformer": timm_arch("iformer_t", size=64, pass_size=False),
    "timm_lowformer": timm_arch("lowformer_b0", size=64, pass_size=False),
    "timm_csatv2": timm_arch("csatv2", size=64, pass_size=False),
    "timm_sequencer": timm_arch("sequencer2d_s", size=64, layers=[1,1,1,1]),
    "timm_convmixer": timm_class("timm.models.convmixer", "ConvMixer", dim=64, depth=4,
                                 kernel_size=5, patch_size=4),
    "timm_resnetv2": timm_arch("resnetv2_50d", size=64, pass_size=False, layers=(1,1,1,1)),
    "timm_seresnet": timm_arch("legacy_seresnet18", size=64, pass_size=False),
    "timm_skresnet": timm_arch("skresnet18", size=64, pass_size=False),
    "timm_dpn": timm_arch("dpn48b", size=64, pass_size=False),
    "timm_selecsls": timm_arch("selecsls42b", size=64, pass_size=False),
    "timm_inception_v4": timm_arch("inception_v4", size=96, pass_size=False, cnn_init=True),
    "timm_inception_resnet_v2": timm_arch("inception_resnet_v2", size=96, pass_size=False),
    "timm_cspnext": timm_arch("cspnext_tiny", size=64, pass_size=False, cnn_init=True),
    "timm_rdnet": timm_arch("rdnet_tiny", size=64, pass_size=False),
    "timm_repghost": timm_arch("repghostnet_050", size=64, pass_size=False),
    "timm_mobilenetv5": timm_arch("mobilenetv5_base", size=64, pass_size=False),
    "timm_lcnetv2": timm_arch("lcnetv2_small", size=64, pass_size=False),
    "timm_hardcorenas": timm_arch("hardcorenas_a", size=64, pass_size=False),
    "timm_cpubone": timm_arch("cpubone_b0_bfrobust", size=64, pass_size=False),
    "timm_byob_bat": timm_arch("bat_resnext26ts", size=256, pass_size=False),
    "timm_byob_gc": timm_arch("gcresnet33ts", size=64, pass_size=False),
    "timm_nasnet": timm_arch("nasnetalarge", size=96, pass_size=False),
    # transformers families added in session 25: VLM vision towers, video, pose, matting, DETRs
    "hf_mlcd": hf_arch("MLCDVisionConfig", "MLCDVisionModel",
                       ["last_hidden_state", "pooler_output"], **HF_SMALL),
    "hf_pixtral": hf_arch("PixtralVisionConfig", "PixtralVisionModel", ["last_hidden_state"],
                          head_dim=16, **HF_SMALL),
    "hf_idefics3_vision": hf_arch("Idefics3VisionConfig", "Idefics3VisionTransformer",
                                  ["last_hidden_state"], **HF_SMALL),
    "hf_chinese_clip_vision": hf_arch("ChineseCLIPVisionConfig", "ChineseCLIPVisionModel",
                                      ["last_hidden_state", "pooler_output"], **HF_SMALL),
    "hf_altclip_vision": hf_arch("AltCLIPVisionConfig", "AltCLIPVisionModel",
                                 ["last_hidden_state", "pooler_output"], **HF_SMALL),
    "hf_groupvit_vision": hf_arch("GroupViTVisionConfig", "GroupViTVisionModel",
                                  ["last_hidden_state", "pooler_output"], hidden_size=32,
                                  num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                                  image_size=32, patch_size=8, depths=[1, 1, 1],
                                  num_group_tokens=[8, 4, 0], num_output_groups=[8, 4, 4]),
    "hf_blip2_vision": hf_arch("Blip2VisionConfig", "Blip2VisionModel",
                               ["last_hidden_state", "pooler_output"], **HF_SMALL),
    "hf_git_vision": hf_arch("GitVisionConfig", "GitVisionModel", ["last_hidden_state"],
                             **HF_SMALL),
    "hf_internvl_vision": hf_arch("InternVLVisionConfig", "InternVLVisionModel",
                                  ["last_hidden_state"], hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64, image_size=[32, 32],
                                  patch_size=[8, 8]),
    "hf_eomt": hf_arch("EomtConfig", "EomtForUniversalSegmentation",
                       ["class_queries_logits", "masks_queries_logits"], hidden_size=32,
                       num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                       image_size=32, patch_size=8, num_blocks=1, num_queries=5, num_labels=4),
    "hf_dinov3_convnext": hf_arch("DINOv3ConvNextConfig", "DINOv3ConvNextModel",
                                  ["last_hidden_state", "pooler_output"], size=64,
                                  hidden_sizes=[16, 32, 48, 64], depths=[1, 1, 1, 1]),
    "hf_donut_swin": hf_arch("DonutSwinConfig", "DonutSwinModel",
                             ["last_hidden_state", "pooler_output"], size=64, embed_dim=16,
                             depths=[1, 1], num_heads=[2, 2], window_size=4, patch_size=4,
                             image_size=64),
    "hf_mobilenet_v1": hf_arch("MobileNetV1Config", "MobileNetV1ForImageClassification", ["logits"],
                               size=64, depth_multiplier=0.25, num_labels=10),
    "hf_textnet": hf_arch("TextNetConfig", "TextNetForImageClassification", ["logits"], size=64,
                          num_labels=10),
    "hf_videomae": hf_arch("VideoMAEConfig", "VideoMAEModel", ["last_hidden_state"],
                           shape=(4, 3, 32, 32), num_frames=4, tubelet_size=2, **HF_SMALL),
    "hf_timesformer": hf_arch("TimesformerConfig", "TimesformerModel", ["last_hidden_state"],
                              shape=(2, 3, 32, 32), num_frames=2, **HF_SMALL),
    "hf_vivit": hf_arch("VivitConfig", "VivitModel", ["last_hidden_state"], shape=(4, 3, 32, 32),
                        hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, image_size=32, num_frames=4, tubelet_size=[2, 8, 8]),
    "hf_sam2_vision": hf_sam2_vision,
    "hf_vitpose": hf_vitpose,
    "hf_conditional_detr": hf_detr("ConditionalDetrConfig", "ConditionalDetrForObjectDetection"),
    # torchvision (session 26): its ViT and MaxViT attend through nn.MultiheadAttention, its Swin
    # through its own shifted-window function; the CNNs users still deploy beside them.
    "tv_vit": tv_arch("vision_transformer.VisionTransformer", size=32, image_size=32,
                      patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64),
    "tv_swin": tv_arch("swin_transformer.SwinTransformer", size=32, patch_size=[2, 2],
                       embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4]),
    "tv_swin_v2": tv_arch("swin_transformer.SwinTransformer", size=32, patch_size=[2, 2],
                          embed_dim=16, depths=[2, 2], num_heads=[2, 2], window_size=[4, 4],
                          block_fn=lambda il: il.import_module(
                              "torchvision.models.swin_transformer").SwinTransformerBlockV2,
                          downsample_layer_fn=lambda il: il.import_module(
                              "torchvision.models.swin_transformer").PatchMergingV2),
    "tv_maxvit": tv_arch("maxvit.MaxVit", input_size=(64, 64), stem_channels=16,
                         partition_size=4, block_channels=[16, 32], block_layers=[1, 1],
                         head_dim=8, stochastic_depth_prob=0.0),
    "tv_convnext": tv_arch("convnext.ConvNeXt", block_setting_fn=lambda il: [
        il.import_module("torchvision.models.convnext").CNBlockConfig(16, 32, 1),
        il.import_module("torchvision.models.convnext").CNBlockConfig(32, None, 1)]),
    "tv_resnet18": tv_arch("resnet18"),
    "tv_mobilenet_v3": tv_arch("mobilenet_v3_small"),
    "tv_efficientnet": tv_arch("efficientnet_b0"),
    "tv_regnet": tv_arch("regnet_y_400mf"),
    "tv_shufflenet": tv_arch("shufflenet_v2_x0_5"),
    "tv_squeezenet": tv_arch("squeezenet1_1"),
    "tv_googlenet": tv_arch("googlenet", cnn_init=True, aux_logits=False, init_weights=True),
    "tv_mnasnet": tv_arch("mnasnet0_5"),
    "tv_densenet": tv_arch("densenet.DenseNet", growth_rate=8, block_config=(2, 2),
                           num_init_features=16),
    # open_clip (session 26): the towers its users export, its attentional pooler, and the
    # custom block with qk-norm (its scaled cosine attention does not run in PyTorch itself in
    # open_clip 3.3: a 4-D bmm).
    "openclip_vision": open_clip_tower("vision"),
    "openclip_text": open_clip_tower("text"),
    "openclip_vision_attn_pool": open_clip_tower("vision", attentional_pool=True,
                                                 attn_pooler_queries=4, attn_pooler_heads=2),
    "openclip_vision_qk_norm": open_clip_tower("vision", block_type="custom", qk_norm=True),
}


# ---- running one model x exporter --------------------------------------------------------------


def ort_crash_signal(ort, path, so):
    """The signal that kills a child process creating an ONNX Runtime session on `path`, or 0.
    ONNX Runtime 1.2x segfaults loading some float16 exports (torchvision's ViT at opset 17):
    the sweep reports that as ONNX Runtime's failure instead of losing the whole run."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        except BaseException:  # noqa: BLE001  the parent sees Python errors itself
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0


class StepTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise StepTimeout()


class QuietStdout:
    """Sends fd 1 to /dev/null: TorchScript's exporter prints the whole graph when it fails."""

    def __enter__(self):
        sys.stdout.flush()
        self.saved = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)

    def __exit__(self, *exc):
        sys.stdout.flush()
        os.dup2(self.saved, 1)
        os.close(self.saved)


def run_cmd(args, timeout):
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout


def last_error(text):
    lines = [l for l in text.strip().splitlines() if l.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "unsupported" in line.lower() or "refus" in line.lower():
            return line.strip()[:300]
    return (lines[-1].strip() if lines else "")[:300]


def onnx_attention_count(model):
    """Softmax and Attention nodes of the export: its attention layers (subgraphs included)."""
    count = 0

    def walk(graph):
        nonlocal count
        for n in graph.node:
            if n.op_type in ("Softmax", "Attention") and n.domain in ("", "ai.onnx"):
                count += 1
            for a in n.attribute:
                if a.g is not None and a.g.node:
                    walk(a.g)

    walk(model.graph)
    return count


def plan_counts(text):
    """Op counts of `vitrt inspect PLAN`: 'nodes: N' then '  OP  COUNT' lines."""
    counts, total, in_counts = {}, None, False
    for line in text.splitlines():
        m = re.match(r"nodes: (\d+)", line)
        if m:
            total, in_counts = int(m.group(1)), True
            continue
        if in_counts:
            m = re.match(r"\s+(\S+)\s+(\d+)$", line)
            if not m:
                break
            counts[m.group(1)] = int(m.group(2))
    return total, counts


def rel_err(got, ref):
    """max |got - ref| over max |ref|; inf for a shape mismatch or a non-finite value in GOT."""
    if got.shape != ref.shape or not np.isfinite(got).all():
        return float("inf")
    scale = float(np.abs(ref).max()) or 1.0
    return float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max()) / scale


def sweep_one(name, exporter, opts):
    row = {"model": name, "exporter": exporter, "status": "", "message": "", "err_ort": None,
           "err_torch": None, "ort_vs_torch": None, "attn_fused": None, "attn_layers": None,
           "softmax_left": None, "plan_nodes": None, "cuda_build": None, "cuda_status": None,
           "err_cuda_fp32": None, "cos_cuda_fp16": None, "err_cuda_fp16": None,
           "err_torch_fp16": None, "cos_torch_fp16": None, "seconds": 0.0}
    start = time.time()
    work = os.path.join(opts.work, f"{name}_{exporter}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(opts.threads)
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        signal.alarm(opts.step_timeout)
        try:
            module, specs, outputs = ARCHS[name]()
            module.eval()
            if opts.half:
                module = module.half()
        except StepTimeout:
            raise
        except Exception as e:  # noqa: BLE001  a constructor refusing the small config
            row.update(status="model failed", message=f"{type(e).__name__}: {e}"[:300])
            return row
        path = os.path.join(work, "model.onnx")
        try:
            with torch.no_grad(), warnings.catch_warnings(), QuietStdout():
                warnings.simplefilter("ignore")
                model = mf.export(module, specs, outputs, exporter,
                                  opts.ts_opset if exporter == "ts" else opts.dynamo_opset, path,
                                  half=opts.half)
        except StepTimeout:
            raise
        except Exception as e:  # noqa: BLE001  PyTorch's exporter: not vitrt's bug
            # The dynamo exporter wraps the cause in a ConversionError of generic text.
            cause = e.__cause__ or e
            msg = re.sub(r"\x1b\[[0-9;]*m", "", str(cause)).strip().splitlines()
            row.update(status="export failed",
                       message=f"{type(cause).__name__}: {msg[0] if msg else ''}"[:300])
            return row
        signal.alarm(0)
        row["attn_layers"] = onnx_attention_count(model)
        output_names = [o.name for o in model.graph.output]

        # References: PyTorch and ONNX Runtime, batch 1 and 3.
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = opts.threads
        so.log_severity_level = 3  # ORT warns of every fp16 node it cannot constant-fold
        rng = np.random.default_rng(0)
        cases = []
        ort_vs_torch = 0.0
        session = None
        crash = ort_crash_signal(ort, path, so)
        try:
            if crash:
                raise RuntimeError(f"ONNX Runtime crashes loading it (signal {crash})")
            session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            if not opts.half:
                row.update(status="ort failed", message=str(e).splitlines()[0][:300])
                return row
            row["message"] = "ONNX Runtime refuses the float16 export: " + str(e).splitlines()[0][:200]
        # --half: the reference is PyTorch in float32 on the float16 weights and inputs (what
        # the export holds): vitrt computes half models in float32; ONNX Runtime's float16
        # kernels are reported beside it, not used as the reference.
        reference = module
        if opts.half:
            import copy

            reference = copy.deepcopy(module).float()
        for batch in BATCHES:
            inputs = mf.make_inputs(specs, batch, rng)
            if opts.half:
                inputs = mf.half_inputs(inputs)
            with torch.no_grad():
                out = reference(*mf.float32_args(inputs, specs))
            if isinstance(out, torch.Tensor):
                out = (out,)
            torch_out = [o.detach().numpy().astype(np.float32) for o in out]
            try:
                if session is None:
                    raise RuntimeError("no session")
                ort_out = session.run(None, inputs)
            except Exception as e:  # noqa: BLE001
                if not opts.half:
                    row.update(status="ort failed", message=str(e).splitlines()[0][:300])
                    return row
                ort_out = [np.full_like(t, np.nan) for t in torch_out]
            for oname, t, o in zip(output_names, torch_out, ort_out):
                if t.size == 0:
                    row.update(status="degenerate", message=(
                        f"PyTorch output '{oname}' is empty {list(t.shape)} at batch {batch}"))
                    return row
                if not np.abs(t).max() > 0:
                    row.update(status="degenerate", message=f"PyTorch output '{oname}' is all 0")
                    return row
                if opts.half and np.abs(t).max() * opts.tolerance < 2.0**-25:
                    # The tolerance is finer than float16's rounding at its smallest step
                    # (2^-25): no float16 output can meet it.
                    row.update(status="degenerate", message=(
                        f"PyTorch output '{oname}' peaks at {np.abs(t).max():.1e}: "
                        "the tolerance is below float16's rounding there"))
                    return row
                ort_vs_torch = max(ort_vs_torch, rel_err(o.astype(np.float32), t))
            # Random weights can shrink the signal to nothing: then every image gives the same
            # output (the last bias) and a comparison says nothing.
            # (Outputs whose first axis is not the batch, as Pixtral's one sequence of every
            # image's patches, are left out of that check.)
            per_image = [t for t in torch_out if t.ndim > 0 and t.shape[0] == batch]
            if batch > 1 and per_image and all(
                    rel_err(t[1:], np.broadcast_to(t[:1], t[1:].shape)) < 1e-6
                    for t in per_image):
                row.update(status="degenerate",
                           message="PyTorch's outputs do not depend on the input")
                return row
            cases.append((batch, inputs, torch_out, torch_out if opts.half else ort_out))
        row["ort_vs_torch"] = ort_vs_torch

        plan = os.path.join(work, "m.plan")
        rc, text = run_cmd([opts.vitrt, "build", path, "-o", plan, "--verbose"], opts.step_timeout)
        with open(os.path.join(work, "build.log"), "w") as f:
            f.write(text)
        if rc != 0:
            row.update(status="build failed", message=last_error(text))
            return row
        rc, text = run_cmd([opts.vitrt, "inspect", plan, "--nodes"], opts.step_timeout)
        total, counts = plan_counts(text)
        row["plan_nodes"] = total
        row["attn_fused"] = counts.get("vitrt.Attention", 0)
        row["softmax_left"] = counts.get("Softmax", 0)
        row["plan_ops"] = counts

        err_ort = err_torch = 0.0
        for batch, inputs, torch_out, ort_out in cases:
            case_dir = os.path.join(work, f"b{batch}")
            os.makedirs(case_dir, exist_ok=True)
            args = [opts.vitrt, "run", plan, "--output-dir", os.path.join(case_dir, "out")]
            for n, arr in inputs.items():
                np.save(os.path.join(case_dir, f"{n}.npy"), arr)
                args += ["--input", f"{n}={os.path.join(case_dir, n + '.npy')}"]
            rc, text = run_cmd(args, opts.step_timeout)
            if rc != 0:
                row.update(status="run failed", message=f"batch {batch}: {last_error(text)}")
                return row
            written = dict(re.findall(r"^(.*?): .* -> (\S+\.npy)$", text, re.M))
            for oname, t, o in zip(output_names, torch_out, ort_out):
                if oname not in written:
                    row.update(status="run failed", message=f"output '{oname}' not written")
                    return row
                got = np.load(written[oname])
                err_ort = max(err_ort, rel_err(got, o))
                err_torch = max(err_torch, rel_err(got, t))
        row["err_ort"], row["err_torch"] = err_ort, err_torch

        if opts.quant:
            quant_run(row, path, work, specs, cases, output_names, opts)

        if opts.cuda_run:
            cuda_run(row, path, work, module, cases, output_names, opts)
        elif not opts.no_cuda:
            rc, text = run_cmd([opts.vitrt, "build", path, "-o", os.path.join(work, "cuda.plan"),
                                "--device", "cuda", "--no-tactics"], opts.step_timeout)
            row["cuda_build"] = "ok" if rc == 0 else last_error(text)

        if opts.half and session is not None:
            row["message"] = (f"ONNX Runtime's float16 kernels: {ort_vs_torch:.1e} of scale"
                              + (f"; {row['message']}" if row["message"] else ""))
        if ort_vs_torch > opts.tolerance and not opts.half:
            row["status"] = "ort mismatch"
            row["message"] = f"ONNX Runtime differs from PyTorch by {ort_vs_torch:.1e} of scale"
        elif err_ort > opts.tolerance:
            row["status"] = "mismatch"
        elif row.get("quant_status") not in (None, "ok"):
            row["status"] = row["quant_status"]
        elif row["cuda_build"] not in (None, "ok"):
            row["status"] = "cuda build failed"
            row["message"] = row["cuda_build"]
        elif row["cuda_status"] not in (None, "ok"):
            row["status"] = row["cuda_status"]
        else:
            row["status"] = "ok"
        return row
    except (StepTimeout, subprocess.TimeoutExpired):
        row.update(status="timeout", message=f"a step took over {opts.step_timeout} s")
        return row
    except Exception as e:  # noqa: BLE001  the sweep goes on; the row says what broke
        row.update(status="sweep error", message=f"{type(e).__name__}: {e}"[:300])
        traceback.print_exc()
        return row
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        row["seconds"] = round(time.time() - start, 1)
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


def run_plan(plan, case_dir, inputs, output_names, opts):
    """Runs PLAN on the inputs saved in CASE_DIR: (None, {output name: array}) or (message, None)."""
    out_dir = os.path.join(case_dir, "out_" + os.path.splitext(os.path.basename(plan))[0])
    args = [opts.vitrt, "run", plan, "--output-dir", out_dir]
    for n in inputs:
        args += ["--input", f"{n}={os.path.join(case_dir, n + '.npy')}"]
    rc, text = run_cmd(args, opts.step_timeout)
    if rc != 0:
        return last_error(text), None
    written = dict(re.findall(r"^(.*?): .* -> (\S+\.npy)$", text, re.M))
    missing = [o for o in output_names if o not in written]
    if missing:
        return f"output '{missing[0]}' not written", None
    return None, {o: np.load(written[o]) for o in output_names}


def cosine(a, b):
    """Cosine similarity; 1 for two all-zero tensors, 0 where only one is, -1 for non-finite."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return -1.0
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))


def torch_fp16_errors(module, cases, output_names):
    """PyTorch's own half-precision error against ONNX Runtime's fp32 outputs (max relative error,
    lowest cosine), on the GPU where there is one: what fp16 costs the model itself. A random
    tiny model can lose most of its output in fp16 (values under fp16's range, layer scales of
    1e-5): vitrt's fp16 plan is then held to PyTorch's fp16, not to a fixed bound."""
    import copy

    device = "cuda" if torch.cuda.is_available() else "cpu"
    half = copy.deepcopy(module).half().to(device)
    err, cos = 0.0, 1.0
    with torch.no_grad():
        for _batch, inputs, _torch_out, ort_out in cases:
            args = [torch.from_numpy(a).to(device) for a in inputs.values()]
            args = [a.half() if a.is_floating_point() else a for a in args]
            out = half(*args)
            if isinstance(out, torch.Tensor):
                out = (out,)
            for o, ref in zip(out, ort_out):
                got = o.detach().float().cpu().numpy()
                err = max(err, rel_err(got, ref))
                cos = min(cos, cosine(got, ref))
    return err, cos


def quant_run(row, path, work, specs, cases, output_names, opts):
    """Post-training quantization on the CPU: for each precision of --quant (int8, fp8), builds
    a plan calibrated on --quant-calib random input sets (batch 2, another seed than the test
    inputs), runs it at every batch of CASES and compares it with PyTorch's float32 outputs by
    cosine (the lowest over outputs and batches) and max error of scale. Random tiny models say
    little of quantization accuracy; the row catches what must not happen: a build or run that
    fails, a non-finite or wrongly shaped output, or an output no longer like the model's
    (cosine under --quant-cosine). The quantized reference (python/quant_reference.py: the ONNX
    model with the build log's quantization written in as float ops, run by ONNX Runtime)
    checks the plan itself: it must agree with the reference about as well as the reference
    agrees with itself when its input scales move by their logging's rounding or its quantized
    inputs by float32-sized noise (quant_references). Fills quant
    ({precision: [cosine with PyTorch, error, layers quantized, cosine with the reference, the
    reference's own noise, the reference's cosine with PyTorch]}) and quant_status ("ok", "P
    build failed", "P run failed", "P no reference", "P ref mismatch", "P low cosine": under
    --quant-cosine with PyTorch where the reference is not)."""
    calib = os.path.join(work, "calib")
    rng = np.random.default_rng(1)
    for i in range(opts.quant_calib):
        run_dir = os.path.join(calib, f"run{i}")
        os.makedirs(run_dir, exist_ok=True)
        for n, arr in mf.make_inputs(specs, 2, rng).items():
            np.save(os.path.join(run_dir, f"{n}.npy"), arr)
    row["quant"] = {}
    row["quant_status"] = "ok"
    for precision in opts.quant:
        plan = os.path.join(work, f"{precision}.plan")
        rc, text = run_cmd([opts.vitrt, "build", path, "-o", plan, "--precision", precision,
                            "--calib-data", calib, "--verbose"], opts.step_timeout)
        with open(os.path.join(work, f"build_{precision}.log"), "w") as f:
            f.write(text)
        if rc != 0:
            row.update(quant_status=f"{precision} build failed",
                       message=f"{precision}: {last_error(text)}")
            return
        found = re.search(rf"quantization: (\d+) linear layers in {precision}", text)
        layers = int(found.group(1)) if found else 0
        try:
            references = quant_references(path, text, opts)
        except Exception as e:  # noqa: BLE001  a layer the reference cannot place
            row.update(quant_status=f"{precision} no reference",
                       message=f"{precision}: {type(e).__name__}: {e}"[:300])
            return
        err, cos, cos_ref, floor, ref_cost = 0.0, 1.0, 1.0, 1.0, 1.0
        for batch, inputs, torch_out, _ort_out in cases:
            msg, got = run_plan(plan, os.path.join(work, f"b{batch}"), inputs, output_names, opts)
            if msg is not None:
                row.update(quant_status=f"{precision} run failed",
                           message=f"{precision} batch {batch}: {msg}")
                return
            refs = [sess.run(None, inputs) for sess in references]
            for i, (oname, t) in enumerate(zip(output_names, torch_out)):
                g = got[oname].astype(np.float32)
                if g.shape != t.shape:
                    row.update(quant_status=f"{precision} run failed", message=(
                        f"{precision} batch {batch}: '{oname}' shape {g.shape} != {t.shape}"))
                    return
                err = max(err, rel_err(g, t))
                cos = min(cos, cosine(g, t))
                cos_ref = min(cos_ref, cosine(g, refs[0][i]))
                ref_cost = min(ref_cost, cosine(refs[0][i], t))
                for other in refs[1:]:
                    floor = min(floor, cosine(refs[0][i], other[i]))
        row["quant"][precision] = [cos, err, layers, cos_ref, floor, ref_cost]
        # vitrt against the reference: as close as the reference is to its own perturbed copies
        # (a chaotic random model turns float32 noise into a visible change through the
        # rounding steps), or within 1e-4 of cosine 1.
        if cos_ref < 0.9999 and 1.0 - cos_ref > 2.0 * (1.0 - floor):
            row.update(quant_status=f"{precision} ref mismatch", message=(
                f"{precision}: cosine {cos_ref:.6f} with the quantized reference (its own "
                f"rounding noise: {floor:.6f}); {cos:.4f} with PyTorch fp32"))
            return
        # Far from PyTorch, where the reference is not: what the reference cannot show.
        if cos < opts.quant_cosine and ref_cost >= opts.quant_cosine:
            row.update(quant_status=f"{precision} low cosine", message=(
                f"{precision}: cosine {cos:.4f} with PyTorch fp32 (error {err:.1e} of scale), "
                f"the quantized reference {ref_cost:.4f}"))
            return


def quant_references(path, build_log, opts):
    """ONNX Runtime sessions of python/quant_reference.py's model for BUILD_LOG's layers: as
    logged, with every input scale moved by +-2e-6 (the logged six digits' rounding), and with
    random offsets of 1e-6 of each quantized input's range (float32 noise: another summation
    order moves values across rounding steps as vitrt's kernels do against ONNX Runtime's)."""
    import onnx
    import onnxruntime as ort
    import quant_reference

    so = ort.SessionOptions()
    so.intra_op_num_threads = opts.threads
    so.log_severity_level = 3
    original = onnx.load(path)
    sessions = []
    for factor, seed in ((1.0, None), (1.0 + 2e-6, None), (1.0 - 2e-6, None), (1.0, 1),
                         (1.0, 2)):
        model = onnx.ModelProto()
        model.CopyFrom(original)
        quant_reference.rewrite(model, build_log, factor, jitter_seed=seed)
        sessions.append(ort.InferenceSession(model.SerializeToString(), so,
                                             providers=["CPUExecutionProvider"]))
    return sessions


def cuda_run(row, path, work, module, cases, output_names, opts):
    """On a machine with a GPU: builds fp32 and fp16 CUDA plans (tactics timed on the GPU) and
    runs them at every batch of CASES against ONNX Runtime's outputs. fp32 (true fp32, no TF32)
    must stay within --tolerance of the output's scale like the CPU plan; fp16 within
    --fp16-tolerance of scale with cosine >= --fp16-cosine (the golden CUDA tests' bounds).
    Fills cuda_build, cuda_status ("ok", "cuda build failed", "cuda run failed", "cuda
    mismatch") and the error columns."""
    row["cuda_build"] = "ok"
    row["cuda_status"] = "ok"
    errs = {}
    for precision in ("fp32", "fp16"):
        plan = os.path.join(work, f"cuda_{precision}.plan")
        rc, text = run_cmd([opts.vitrt, "build", path, "-o", plan, "--device", "cuda",
                            "--precision", precision], opts.step_timeout)
        if rc != 0:
            row["cuda_build"] = f"{precision}: {last_error(text)}"
            return
        err, cos = 0.0, 1.0
        for batch, _inputs, _torch_out, ort_out in cases:
            case_dir = os.path.join(work, f"b{batch}")
            msg, got = run_plan(plan, case_dir, _inputs, output_names, opts)
            if msg is not None:
                row.update(cuda_status="cuda run failed",
                           message=f"{precision} batch {batch}: {msg}")
                return
            for oname, o in zip(output_names, ort_out):
                g = got[oname].astype(np.float32)
                if g.shape != o.shape:
                    row.update(cuda_status="cuda mismatch", message=(
                        f"{precision} batch {batch}: '{oname}' shape {g.shape} != {o.shape}"))
                    return
                err = max(err, rel_err(g, o))
                cos = min(cos, cosine(g, o))
        errs[precision] = (err, cos)
    row["err_cuda_fp32"] = errs["fp32"][0]
    row["err_cuda_fp16"], row["cos_cuda_fp16"] = errs["fp16"]
    if errs["fp32"][0] > opts.tolerance:
        row.update(cuda_status="cuda mismatch",
                   message=f"fp32 differs from ONNX Runtime by {errs['fp32'][0]:.1e} of scale")
    elif errs["fp16"][0] > opts.fp16_tolerance or errs["fp16"][1] < opts.fp16_cosine:
        # Outside the fixed bounds: allowed only as far as PyTorch's own fp16 goes (1.5x its
        # error, its cosine less a quarter of its distance from 1).
        try:
            t_err, t_cos = torch_fp16_errors(module, cases, output_names)
        except Exception as e:  # noqa: BLE001  a model without a half-precision path
            t_err, t_cos = 0.0, 1.0
            row["message"] = f"PyTorch fp16 failed ({type(e).__name__}); "
        row["err_torch_fp16"], row["cos_torch_fp16"] = t_err, t_cos
        note = (f"fp16 {errs['fp16'][0]:.1e} of scale, cosine {errs['fp16'][1]:.6f}; PyTorch's "
                f"own fp16 {t_err:.1e}, cosine {t_cos:.6f}")
        if (errs["fp16"][0] <= max(opts.fp16_tolerance, 1.5 * t_err)
                and errs["fp16"][1] >= min(opts.fp16_cosine, 1.0 - 1.25 * (1.0 - t_cos))):
            row["message"] += f"within PyTorch's fp16: {note}"
        else:
            row.update(cuda_status="cuda mismatch", message=row["message"] + note)


# ---- table ------------------------------------------------------------------------------------


def fmt_err(v):
    return "-" if v is None else f"{v:.1e}"


HEADER = (f"{'model':26} {'exp':6} {'status':17} {'err/ort':>8} {'err/pt':>8} {'attn':>6} "
          f"{'smax':>4} {'nodes':>5} {'cuda':>4} {'s':>5}  message")


def format_row(r):
    attn = "-" if r["attn_fused"] is None else f"{r['attn_fused']}/{r['attn_layers']}"
    cuda = {None: "-", "ok": "ok"}.get(r["cuda_build"], "FAIL")
    if r.get("cuda_status") not in (None, "ok"):
        cuda = "FAIL"
    return (f"{r['model']:26} {r['exporter']:6} {r['status']:17} {fmt_err(r['err_ort']):>8} "
            f"{fmt_err(r['err_torch']):>8} {attn:>6} "
            f"{'-' if r['softmax_left'] is None else r['softmax_left']:>4} "
            f"{'-' if r['plan_nodes'] is None else r['plan_nodes']:>5} {cuda:>4} "
            f"{r['seconds']:5.0f}  {r['message']}{cuda_errors(r)}")


def cuda_errors(r):
    if r.get("quant"):
        return ("; " if r["message"] else "") + ", ".join(
            f"{p} cos {q[0]:.4f} (ref {q[3]:.6f}, noise {q[4]:.6f}, {q[2]} layers)"
            for p, q in r["quant"].items())
    if r.get("err_cuda_fp32") is None:
        return ""
    return (f"{'; ' if r['message'] else ''}cuda fp32 {fmt_err(r['err_cuda_fp32'])}, fp16 "
            f"{fmt_err(r['err_cuda_fp16'])} cos {r['cos_cuda_fp16']:.6f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="fnmatch patterns or substrings of model names, comma-separated")
    parser.add_argument("--exporter", choices=("ts", "dynamo", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch/ORT threads per job")
    parser.add_argument("--vitrt", default="build/vitrt")
    parser.add_argument("--work", default="/tmp/vitrt_sweep")
    parser.add_argument("--json", default="", help="write the rows here")
    parser.add_argument("--tolerance", type=float, default=None,
                        help=f"of the output's scale (default {DEFAULT_TOL:g}, --half 3e-3)")
    parser.add_argument("--step-timeout", type=int, default=60,
                        help="seconds for one step (model+export, each vitrt command)")
    parser.add_argument("--ts-opset", type=int, default=17,
                        help="opset of the TorchScript exporter (users bring 11 to 20)")
    parser.add_argument("--dynamo-opset", type=int, default=None,
                        help="opset of the dynamo exporter (default: its own, 20 in torch 2.15; "
                             "23 writes ONNX's Attention and RMSNormalization ops)")
    parser.add_argument("--half", action="store_true",
                        help="export model.half() (float16 weights, inputs and outputs); the "
                        "reference is PyTorch in float32 on those weights, --tolerance defaults "
                        "to 3e-3 (the float16 rounding of outputs and of folded constants)")
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA plan build")
    parser.add_argument("--cuda-run", action="store_true",
                        help="(a machine with a GPU) build fp32 and fp16 CUDA plans with tactics "
                        "and run them against ONNX Runtime too")
    parser.add_argument("--fp16-tolerance", type=float, default=0.05,
                        help="--cuda-run: fp16 max |error| bound, of the output's scale")
    parser.add_argument("--fp16-cosine", type=float, default=0.9999,
                        help="--cuda-run: fp16 lowest cosine against ONNX Runtime")
    parser.add_argument("--quant", default="",
                        help="comma-separated int8,fp8: also build CPU plans of these precisions "
                        "calibrated on random inputs and compare them with PyTorch by cosine")
    parser.add_argument("--quant-calib", type=int, default=4,
                        help="--quant: calibration runs (random inputs at batch 2)")
    parser.add_argument("--quant-cosine", type=float, default=0.98,
                        help="--quant: lowest cosine with PyTorch fp32 before 'low cosine'")
    parser.add_argument("--keep", action="store_true", help="keep each model's work folder")
    parser.add_argument("--list", action="store_true", help="list the architectures and exit")
    opts = parser.parse_args()
    opts.vitrt = os.path.abspath(opts.vitrt)
    opts.quant = [p for p in opts.quant.split(",") if p]
    bad = [p for p in opts.quant if p not in ("int8", "fp8")]
    if bad:
        parser.error(f"--quant takes int8 and fp8, not {bad[0]}")
    if opts.tolerance is None:
        opts.tolerance = 3e-3 if opts.half else DEFAULT_TOL
    if opts.list:
        print("\n".join(ARCHS))
        return 0
    patterns = [p for p in opts.only.split(",") if p]
    names = [n for n in ARCHS
             if not patterns or any(p in n or fnmatch.fnmatch(n, p) for p in patterns)]
    exporters = ("ts", "dynamo") if opts.exporter == "both" else (opts.exporter,)
    tasks = [(n, e) for n in names for e in exporters]
    os.makedirs(opts.work, exist_ok=True)
    print(HEADER, flush=True)
    rows = []
    if opts.jobs <= 1:
        for n, e in tasks:
            rows.append(sweep_one(n, e, opts))
            print(format_row(rows[-1]), flush=True)
    else:
        with concurrent.futures.ProcessPoolExecutor(opts.jobs) as pool:
            futures = [pool.submit(sweep_one, n, e, opts) for n, e in tasks]
            for fut in concurrent.futures.as_completed(futures):
                rows.append(fut.result())
                print(format_row(rows[-1]), flush=True)
        order = {t: i for i, t in enumerate(tasks)}
        rows.sort(key=lambda r: order[(r["model"], r["exporter"])])
    statuses = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    print("summary: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"tolerance": opts.tolerance, "rows": rows}, f, indent=1, default=str)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
