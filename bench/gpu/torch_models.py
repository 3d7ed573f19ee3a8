"""The issue's GPU table models with random weights (seed 0): ViT-B/16 224 (timm), CLIP ViT-B/32
vision (HF CLIPVisionModelWithProjection, default config) and CLIP text at 77 tokens (HF
CLIPTextModelWithProjection, default config); and DINOv3 ViT-B/16 (HF DINOv3ViTModel, 4 register
tokens, 2-D rotary attention; its pooled output), the rotary model users bring; DINOv2 ViT-B/14 at
224 (HF Dinov2Model, 257 tokens, LayerScale) and SigLIP B/16 vision (HF SiglipVisionModel, 196
tokens, tanh GELU, attention-pooling head), the other backbones users bring; and, for breadth,
Swin-T and ConvNeXt-T (timm, windowed attention and a depthwise-conv CNN), DeiT-S/16 (timm) and
CLIP ViT-L/14 vision at 224 (HF, 257 tokens, 24 layers of width 1024), and ResNet-50 (timm: the
dense convolutions of hybrid stems). Exports the ONNX model
vitrt builds from and times
PyTorch fp16 eager and torch.compile (reduce-overhead at batch <= 8, default or max-autotune
above: --large-mode).

  python3 torch_models.py export MODEL OUT.onnx
  python3 torch_models.py time MODEL --batches 1 256 [--compile] [--no-eager] > torch.json
  MODEL: one of MODELS below
"""
import argparse
import json
import statistics
import sys
import time

import torch


class FirstOutput(torch.nn.Module):
    """Returns one tensor (the embedding or the logits) so exporters and compile see no dicts."""

    def __init__(self, inner, key):
        super().__init__()
        self.inner, self.key = inner, key

    def forward(self, x):
        out = self.inner(x)
        return out if self.key is None else out[self.key]


MODELS = ["vit_b16", "clip_vision", "clip_text", "dinov3_b16", "dinov2_b14", "siglip_b16",
          "swin_t", "convnext_t", "deit_s", "clip_l14", "resnet50", "resnext50", "regnety_016"]
TIMM = {"vit_b16": "vit_base_patch16_224", "swin_t": "swin_tiny_patch4_window7_224",
        "convnext_t": "convnext_tiny", "deit_s": "deit_small_patch16_224", "resnet50": "resnet50",
        "resnext50": "resnext50_32x4d", "regnety_016": "regnety_016"}


def model(name):
    torch.manual_seed(0)
    if name in TIMM:
        import timm
        return FirstOutput(timm.create_model(TIMM[name], pretrained=False), None).eval()
    if name == "clip_l14":
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
        cfg = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                               num_attention_heads=16, patch_size=14, image_size=224,
                               projection_dim=768)
        return FirstOutput(CLIPVisionModelWithProjection(cfg), "image_embeds").eval()
    if name == "dinov3_b16":
        from transformers import DINOv3ViTConfig, DINOv3ViTModel
        cfg = DINOv3ViTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                              intermediate_size=3072, num_register_tokens=4, patch_size=16,
                              image_size=224)
        return FirstOutput(DINOv3ViTModel(cfg), "pooler_output").eval()
    if name == "dinov2_b14":
        from transformers import Dinov2Config, Dinov2Model
        cfg = Dinov2Config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                           patch_size=14, image_size=224)
        return FirstOutput(Dinov2Model(cfg), "pooler_output").eval()
    if name == "siglip_b16":
        from transformers import SiglipVisionConfig, SiglipVisionModel
        cfg = SiglipVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                 num_attention_heads=12, image_size=224, patch_size=16)
        return FirstOutput(SiglipVisionModel(cfg), "pooler_output").eval()
    if name == "clip_vision":
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
        m = CLIPVisionModelWithProjection(CLIPVisionConfig())
        return FirstOutput(m, "image_embeds").eval()
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection
    return FirstOutput(CLIPTextModelWithProjection(CLIPTextConfig()), "text_embeds").eval()


def example(name, batch, device="cpu", half=False):
    if name == "clip_text":
        return torch.randint(0, 49408, (batch, 77), device=device)
    x = torch.randn(batch, 3, 224, 224, device=device)
    return x.half() if half else x


def export(name, path):
    in_name = "input_ids" if name == "clip_text" else "pixel_values"
    torch.onnx.export(model(name), (example(name, 2),), path, input_names=[in_name],
                      output_names=["out"], dynamic_axes={in_name: {0: "batch"}, "out": {0: "batch"}},
                      opset_version=17, dynamo=False)


def time_fn(fn, x, iters, warmup):
    for _ in range(warmup):
        fn(x)
    torch.cuda.synchronize()
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn(x)
        torch.cuda.synchronize()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def time_all(name, batches, with_eager, with_compile, large_mode="default"):
    m = model(name).cuda().half()
    rows = []
    with torch.inference_mode():
        for b in batches:
            x = example(name, b, "cuda", half=True)
            iters = 50 if b <= 8 else 20
            if with_eager:
                torch.cuda.reset_peak_memory_stats()
                rows.append({"model": name, "impl": "torch eager", "batch": b,
                             "median_ms": time_fn(m, x, iters, 5),
                             "peak_mb": torch.cuda.max_memory_allocated() / 2**20})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
            if with_compile:
                mode = "reduce-overhead" if b <= 8 else large_mode
                c = torch.compile(m, mode=mode)
                t0 = time.perf_counter()
                c(x)
                compile_s = time.perf_counter() - t0
                rows.append({"model": name, "impl": f"torch.compile {mode}", "batch": b,
                             "median_ms": time_fn(c, x, iters, 5), "compile_s": compile_s})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["export", "time"])
    p.add_argument("model", choices=MODELS)
    p.add_argument("path", nargs="?")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--no-eager", action="store_true", help="time torch.compile only")
    # The batch-256 peer is max-autotune (GPU.md: 115-150 s of compiling per model);
    # "default" compiles in seconds.
    p.add_argument("--large-mode", choices=["default", "max-autotune"], default="default",
                   help="torch.compile mode above batch 8")
    a = p.parse_args()
    if a.what == "export":
        export(a.model, a.path)
    else:
        print(json.dumps(time_all(a.model, a.batches, not a.no_eager, a.compile, a.large_mode)))
