#!/usr/bin/env python3
"""Trains a small ViT on scikit-learn's 8x8 digits and exports it as a real-weights eval fixture.

Random-weight models show that two engines agree, not that a lower precision keeps a model's
accuracy; this one is trained, so `vitrt eval` reports a top-1 accuracy that means something.

The images go through exactly the preprocessing `vitrt eval --config` applies to image files:
HF's ViTImageProcessor (resize to 32x32 bilinear, rescale 1/255, normalize mean 0.5 std 0.5) of
the 8x8 digit as an RGB PNG whose grey level is value * 255 / 16. vitrt's image pipeline
reproduces that preprocessing (to ~6e-8), so evaluating the PNGs evaluates the held-out split.

Writes to OUT (default tests/data/digits_vit):
  model.onnx                  timm VisionTransformer, TorchScript exporter, opset 17, batch symbolic
  preprocessor_config.json    HF ViTImageProcessor settings for the PNGs
  labels.npy                  int64 [N] held-out labels
  images/NNNN.png             the held-out digits as 8x8 PNGs (same order as labels.npy)
  manifest.json               training settings and measured accuracies (PyTorch, ONNX Runtime)

Run from the repository root (CPU; a few minutes on a busy 2-core machine):
  python3 python/train_digits_vit.py [--out tests/data/digits_vit]
"""

import argparse
import json
import os
import shutil

import numpy as np
import onnxruntime as ort
import timm
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from transformers import ViTImageProcessor

SEED = 0
IMAGE_SIZE = 32
CONFIG = {
    "do_resize": True,
    "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    "resample": 2,  # PIL bilinear, ViTImageProcessor's default
    "do_center_crop": False,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "do_convert_rgb": True,
    "image_processor_type": "ViTImageProcessor",
}


def digit_images(values):
    """8x8 digit values 0..16 -> RGB PIL images (grey level value * 255 / 16, rounded)."""
    grey = np.round(values.reshape(-1, 8, 8) * (255.0 / 16.0)).astype(np.uint8)
    return [Image.fromarray(g, mode="L").convert("RGB") for g in grey]


def preprocess(images):
    processor = ViTImageProcessor(**{k: v for k, v in CONFIG.items() if k != "image_processor_type"})
    return processor(images=images, return_tensors="np")["pixel_values"].astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/data/digits_vit")
    parser.add_argument("--epochs", type=int, default=30)
    # Head dim 64 (e.g. --embed-dim 128 --heads 2) reaches the fp8 plans' E4M3 attention, which
    # takes ViT-B's head dim only; the fixture's 96 / 4 = 24 does not.
    parser.add_argument("--embed-dim", type=int, default=96)
    parser.add_argument("--heads", type=int, default=4)
    args = parser.parse_args()

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(2)
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.2, random_state=SEED, stratify=digits.target)
    test_images = digit_images(x_test)
    train_x = torch.from_numpy(preprocess(digit_images(x_train)))
    test_x = preprocess(test_images)
    train_y = torch.from_numpy(y_train.astype(np.int64))

    model = timm.models.vision_transformer.VisionTransformer(
        img_size=IMAGE_SIZE, patch_size=8, in_chans=3, num_classes=10, embed_dim=args.embed_dim,
        depth=4, num_heads=args.heads, mlp_ratio=2.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    steps_per_epoch = (len(train_x) + 63) // 64
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=2e-3, total_steps=args.epochs * steps_per_epoch)
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_x))
        for start in range(0, len(train_x), 64):
            idx = order[start:start + 64]
            xb = train_x[idx]
            # Small random shifts (up to one 8x8-pixel, i.e. 4 upsampled pixels) against overfitting.
            dx, dy = np.random.randint(-4, 5, size=2)
            xb = torch.roll(xb, shifts=(int(dy), int(dx)), dims=(2, 3))
            loss = torch.nn.functional.cross_entropy(model(xb), train_y[idx], label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            model.eval()
            with torch.no_grad():
                acc = (model(torch.from_numpy(test_x)).argmax(1).numpy() == y_test).mean()
            print(f"epoch {epoch + 1}: loss {loss.item():.3f}, held-out top-1 {acc:.4f}", flush=True)

    model.eval()
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(test_x)).numpy()
    torch_acc = float((torch_logits.argmax(1) == y_test).mean())

    out = args.out
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "images"))
    onnx_path = os.path.join(out, "model.onnx")
    torch.onnx.export(model, (torch.from_numpy(test_x[:2]),), onnx_path, dynamo=False,
                      opset_version=17, input_names=["pixel_values"], output_names=["logits"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}})
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    ort_logits = session.run(None, {"pixel_values": test_x})[0]
    max_err = float(np.abs(ort_logits - torch_logits).max())
    assert max_err < 1e-3 * np.abs(torch_logits).max(), f"ONNX Runtime differs by {max_err}"
    ort_acc = float((ort_logits.argmax(1) == y_test).mean())

    np.save(os.path.join(out, "labels.npy"), y_test.astype(np.int64))
    digits_grey = np.round(x_test.reshape(-1, 8, 8) * (255.0 / 16.0)).astype(np.uint8)
    for i, g in enumerate(digits_grey):
        Image.fromarray(g, mode="L").convert("RGB").save(os.path.join(out, "images", f"{i:04d}.png"))
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    manifest = {
        "what": "timm VisionTransformer trained on sklearn load_digits (8x8 -> 32x32)",
        "model": {"img_size": IMAGE_SIZE, "patch_size": 8, "embed_dim": args.embed_dim, "depth": 4,
                  "num_heads": args.heads, "mlp_ratio": 2.0, "num_classes": 10},
        "training": {"seed": SEED, "epochs": args.epochs, "optimizer": "AdamW lr 2e-3 onecycle",
                     "train_items": int(len(x_train)), "held_out_items": int(len(x_test))},
        "exporter": "torch.onnx.export dynamo=False opset 17",
        "versions": {"torch": torch.__version__, "timm": timm.__version__},
        "held_out_top1": {"pytorch": torch_acc, "onnxruntime": ort_acc},
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"held-out top-1: PyTorch {torch_acc:.4f}, ONNX Runtime {ort_acc:.4f} "
          f"({len(y_test)} items); wrote {out}")


if __name__ == "__main__":
    main()
