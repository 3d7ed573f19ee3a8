"""Full-photo check of `vitrt clip preprocess` against HF CLIPImageProcessor (PIL backend).

Saves scikit-image's sample photos as JPEG (quality 75 4:2:0, quality 95 4:4:4), PNG and
WebP, runs vitrt on all of them with the CLIP ViT-B/32 preprocessor config, and reports per
photo and format the share of values within 1/255 of HF's before normalization (the uint8
pixels) and the largest difference of the normalized float output. Also reports, for
information, how far transformers' default torchvision-backend CLIPImageProcessor is from
its own PIL backend on the same files.

    python3 python/check_clip_preprocess.py --vitrt "build/vitrt clip preprocess"
"""
import argparse
import json
import os
import shlex
import subprocess
import tempfile

import numpy as np
import skimage.data
from PIL import Image, ImageOps
from transformers import CLIPImageProcessor
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

CONFIG = {
    "crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
    "do_normalize": True, "do_rescale": True, "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3,
    "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224},
}
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
          "hubble_deep_field", "retina", "colorwheel", "camera", "moon", "page", "brick"]
FORMATS = {
    "jpg_q75_420": lambda im, p: im.save(p + ".jpg", quality=75, subsampling=2) or p + ".jpg",
    "jpg_q95_444": lambda im, p: im.save(p + ".jpg", quality=95, subsampling=0) or p + ".jpg",
    "png": lambda im, p: im.save(p + ".png") or p + ".png",
    "webp_q80": lambda im, p: im.save(p + ".webp", quality=80) or p + ".webp",
}


def run_vitrt(vitrt, files, config_path, out, extra=()):
    cmd = shlex.split(vitrt) + list(files) + ["--config", config_path, "-o", out, *extra]
    subprocess.run(cmd, check=True)
    return np.load(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vitrt", default="build/vitrt clip preprocess")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="vitrt_photos_")
    config_path = os.path.join(tmp, "preprocessor_config.json")
    with open(config_path, "w") as f:
        json.dump(CONFIG, f)
    pil_processor = CLIPImageProcessorPil(**CONFIG)
    pil_u8 = CLIPImageProcessorPil(**{**CONFIG, "do_rescale": False, "do_normalize": False})
    tv_processor = CLIPImageProcessor(**CONFIG)

    files, names = [], []
    for photo in PHOTOS:
        im = Image.fromarray(getattr(skimage.data, photo)())
        for fmt, save in FORMATS.items():
            files.append(save(im, os.path.join(tmp, f"{photo}_{fmt}")))
            names.append((photo, fmt))
    # Other modes and orientations on full photos: CMYK JPEG, EXIF-rotated JPEGs, RGBA PNG
    # with transparency (composited onto white by HF).
    coffee = Image.fromarray(skimage.data.coffee())
    files.append(os.path.join(tmp, "coffee_cmyk.jpg"))
    coffee.convert("CMYK").save(files[-1], quality=90)
    names.append(("coffee", "jpg_cmyk"))
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        files.append(os.path.join(tmp, f"rocket_orient{orientation}.jpg"))
        Image.fromarray(skimage.data.rocket()).save(files[-1], quality=90, exif=exif)
        names.append(("rocket", f"jpg_orient{orientation}"))
    chelsea = np.asarray(skimage.data.chelsea())
    ramp = np.clip(np.arange(chelsea.shape[1]) * 255 // (chelsea.shape[1] - 1), 0, 255)
    rgba = np.dstack([chelsea, np.broadcast_to(ramp, chelsea.shape[:2])]).astype(np.uint8)
    files.append(os.path.join(tmp, "chelsea_rgba.png"))
    Image.fromarray(rgba, "RGBA").save(files[-1])
    names.append(("chelsea", "png_rgba"))
    # One batch call: also exercises the multi-threaded loader.
    ours_u8 = run_vitrt(args.vitrt, files, config_path, os.path.join(tmp, "u8.npy"), ["--uint8"])
    ours = run_vitrt(args.vitrt, files, config_path, os.path.join(tmp, "f32.npy"))

    total_within = total = 0
    worst_float = 0.0
    print(f"{'photo':22s} {'format':12s} {'within 1/255':>13s} {'exact u8':>9s} "
          f"{'max |float diff|':>17s} {'torchvision vs PIL backend':>27s}")
    for i, ((photo, fmt), path) in enumerate(zip(names, files)):
        with Image.open(path) as im:
            upright = ImageOps.exif_transpose(im)
            ref_u8 = pil_u8(upright, return_tensors="np")["pixel_values"][0]
            ref = pil_processor(upright, return_tensors="np")["pixel_values"][0]
            tv = tv_processor(upright, return_tensors="np")["pixel_values"][0]
        diff = np.abs(ours_u8[i].astype(np.float64) / 255 - ref_u8.astype(np.float64) / 255)
        within = int((diff <= 1 / 255 + 1e-9).sum())
        exact = float((ours_u8[i] == ref_u8.astype(np.uint8)).mean())
        float_diff = float(np.abs(ours[i] - ref).max())
        tv_within = float((np.abs(tv - ref) * np.array(CONFIG["image_std"])[:, None, None]
                           <= 1 / 255 + 1e-6).mean())
        total_within += within
        total += diff.size
        worst_float = max(worst_float, float_diff)
        print(f"{photo:22s} {fmt:12s} {100 * within / diff.size:12.4f}% {100 * exact:8.3f}% "
              f"{float_diff:17.3g} {100 * tv_within:25.2f}% within 1/255")
    print(f"all: {100 * total_within / total:.4f}% of {total} values within 1/255; "
          f"max |float diff| {worst_float:.3g}")


if __name__ == "__main__":
    main()
