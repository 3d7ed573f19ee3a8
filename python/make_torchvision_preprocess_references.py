"""References for timm and open_clip preprocessing configs (src/vision/preprocessor_config.cc).

For each config: the file as the Hub ships it (a timm model's config.json or its pretrained_cfg
alone; an open_clip_config.json), and for each test photo the pixel values timm's / open_clip's
own eval transform gives:
  - timm: create_transform(**resolve_data_config(pretrained_cfg=cfg)) on
    Image.open(path).convert("RGB"), as timm's documentation loads images;
  - open_clip: open_clip.transform.image_transform(size, is_train=False, **preprocess_cfg) on
    Image.open(path), as open_clip's documentation does. open_clip converts to RGB after
    resizing, so an RGBA or palette image would resize differently there; only RGB and L
    photos are used for it (for them the order does not matter), and the README says so.

Writes tests/data/vision/torchvision/ and its manifest.json. Needs pillow, numpy, torch, timm,
open_clip_torch. Run from the repository root after python/make_image_references.py:
    python3 python/make_torchvision_preprocess_references.py
"""
import json
import os

import numpy as np
import open_clip
import timm.data
from PIL import Image

ROOT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "vision")
OUT = os.path.join(ROOT, "torchvision")

# Photos of several shapes and modes from make_image_references.py (none has an EXIF rotation).
PHOTOS = ["cat_q90_420.jpg", "launch_q80_420.jpg", "face.png", "gray.png", "cup_rgba.png",
          "cat_palette.png"]
OPEN_CLIP_PHOTOS = ["cat_q90_420.jpg", "launch_q80_420.jpg", "face.png", "gray.png"]

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
HALF = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
OPENAI = {"mean": [0.48145466, 0.4578275, 0.40821073],
          "std": [0.26862954, 0.26130258, 0.27577711]}

# Small sizes keep the references small; the arithmetic is the same at 224.
TIMM = {
    # A model's config.json as timm's push_to_hf_hub writes it.
    "timm_center": {"architecture": "vit_tiny_patch16_224", "num_classes": 1000,
                    "pretrained_cfg": {"tag": "augreg_in21k_ft_in1k", "input_size": [3, 32, 32],
                                       "fixed_input_size": True, "interpolation": "bicubic",
                                       "crop_pct": 0.9, "crop_mode": "center", **HALF,
                                       "num_classes": 1000, "classifier": "head"}},
    # Non-square input: ResizeKeepRatio, then the crop.
    "timm_center_rect": {"architecture": "x", "pretrained_cfg": {
        "input_size": [3, 24, 40], "interpolation": "bilinear", "crop_pct": 0.95, **IMAGENET}},
    "timm_squash": {"architecture": "x", "pretrained_cfg": {
        "input_size": [3, 30, 30], "interpolation": "bilinear", "crop_pct": 1.0,
        "crop_mode": "squash", **HALF}},
    "timm_border": {"architecture": "x", "pretrained_cfg": {
        "input_size": [3, 28, 36], "interpolation": "bicubic", "crop_pct": 0.875,
        "crop_mode": "border", **IMAGENET}},
    # pretrained_cfg alone (model.pretrained_cfg dumped): defaults for what it leaves out
    # (ImageNet mean/std, crop_mode center) and a null crop_pct (0.875).
    "timm_bare": {"input_size": [3, 36, 36], "interpolation": "lanczos", "crop_pct": None},
}

OPEN_CLIP = {
    "open_clip_shortest": {"model_cfg": {"embed_dim": 512, "vision_cfg": {
        "image_size": 32, "layers": 12, "width": 768, "patch_size": 32}},
        "preprocess_cfg": {**OPENAI}},
    # Non-square: ResizeKeepRatio, which is always bicubic in open_clip.
    "open_clip_rect": {"model_cfg": {"vision_cfg": {"image_size": [24, 40]}},
                       "preprocess_cfg": {"interpolation": "bilinear", **HALF}},
    "open_clip_squash": {"model_cfg": {"vision_cfg": {"image_size": 30}},
                         "preprocess_cfg": {"resize_mode": "squash", "interpolation": "bilinear",
                                            **HALF}},
    "open_clip_longest": {"model_cfg": {"vision_cfg": {"image_size": [28, 36]}},
                          "preprocess_cfg": {"resize_mode": "longest", "fill_color": 128,
                                             **OPENAI}},
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    manifest = {"cases": []}
    for cname, config in {**TIMM, **OPEN_CLIP}.items():
        is_timm = cname.startswith("timm")
        with open(os.path.join(OUT, f"{cname}.json"), "w") as f:
            json.dump(config, f, indent=2)
        if is_timm:
            cfg = config.get("pretrained_cfg", config)
            transform = timm.data.create_transform(
                **timm.data.resolve_data_config(pretrained_cfg=cfg))
        else:
            pp = config.get("preprocess_cfg", {})
            size = config["model_cfg"]["vision_cfg"]["image_size"]
            transform = open_clip.transform.image_transform(
                tuple(size) if isinstance(size, list) else size, is_train=False,
                mean=pp.get("mean"), std=pp.get("std"), resize_mode=pp.get("resize_mode"),
                interpolation=pp.get("interpolation"), fill_color=pp.get("fill_color", 0))
        for photo in PHOTOS if is_timm else OPEN_CLIP_PHOTOS:
            with Image.open(os.path.join(ROOT, photo)) as im:
                im.load()
                pixels = transform(im.convert("RGB") if is_timm else im).numpy()
            ref = f"{cname}.{os.path.splitext(photo)[0]}.npy"
            np.save(os.path.join(OUT, ref), pixels.astype(np.float32)[None])
            manifest["cases"].append({"config": f"{cname}.json", "image": photo, "ref": ref})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {len(manifest['cases'])} references to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
