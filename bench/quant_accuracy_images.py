"""Calibration and evaluation images for bench/quant_accuracy.sh: real photographs from
scikit-image's bundled data (skimage.data, no download), split so that no photo is in both
sets. Each photo gives several images (the whole photo, its mirror image, crops), written as
PNG (lossless) for vitrt's own image pipeline to decode and preprocess.

  python3 quant_accuracy_images.py OUT_DIR   ->  OUT_DIR/calib (16 images), OUT_DIR/eval (32)
"""
import os
import sys

import numpy as np
from PIL import Image
import skimage.data

# Photographs only (no synthetic patterns), a mix of colour and grey, near and far.
CALIB = ["astronaut", "coffee", "camera", "brick", "moon", "coins", "immunohistochemistry",
         "stereo_motorcycle"]
EVAL = ["chelsea", "rocket", "hubble_deep_field", "retina", "grass", "gravel", "clock", "text"]


def load(name):
    a = getattr(skimage.data, name)()
    if isinstance(a, tuple):  # stereo_motorcycle: (left, right, disparity)
        a = a[0]
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(a[..., :3].astype(np.uint8))


def variants(img, count):
    """The photo, mirrored, and centre / corner crops of 60-80% of each side."""
    w, h = img.size
    out = [img, img.transpose(Image.FLIP_LEFT_RIGHT)]
    crops = [(0.2, 0.2, 0.8, 0.8), (0.0, 0.0, 0.7, 0.7), (0.3, 0.3, 1.0, 1.0),
             (0.1, 0.25, 0.9, 0.95)]
    for x0, y0, x1, y1 in crops:
        out.append(img.crop((int(x0 * w), int(y0 * h), int(x1 * w), int(y1 * h))))
    return out[:count]


def write(names, folder, per_photo):
    os.makedirs(folder, exist_ok=True)
    for name in names:
        for i, v in enumerate(variants(load(name), per_photo)):
            v.save(os.path.join(folder, f"{name}_{i}.png"))


if __name__ == "__main__":
    out = sys.argv[1]
    write(CALIB, os.path.join(out, "calib"), 2)
    write(EVAL, os.path.join(out, "eval"), 4)
