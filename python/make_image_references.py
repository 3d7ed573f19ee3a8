"""Small test images and PIL / HF references for the image pipeline (src/vision, tests/vision).

Writes tests/data/vision/: crops of scikit-image's sample photos saved as JPEG (4:2:0 and
4:4:4, several qualities, grayscale, CMYK), PNG (RGB, L, LA, RGBA, palette with and without
transparency, 1-bit, 16-bit grayscale), WebP (lossy, lossless with alpha) and EXIF-rotated
files (orientations 1-8), plus malformed files. For each image: PIL's upright convert('RGB')
and HF CLIPImageProcessor's pixel_values (the PIL backend) for two small configs; for the
resampler: PIL's resize of one crop with every filter, up and down, to odd sizes.
manifest.json lists it all for the C++ tests.

Needs pillow, numpy, scikit-image, transformers. Run from the repository root:
    python3 python/make_image_references.py
"""
import io
import json
import os
import struct
import zlib

import numpy as np
import skimage.data
from PIL import Image, ImageOps
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "vision")

# Two configs that exercise different steps: a CLIP-like one (shortest edge, bicubic, centre
# crop, OpenAI mean/std) and an exact-size bilinear one without crop (ViT-like).
CONFIGS = {
    "clip_small": {
        "do_convert_rgb": True, "do_resize": True, "size": {"shortest_edge": 40},
        "resample": 3, "do_center_crop": True, "crop_size": {"height": 32, "width": 32},
        "do_rescale": True, "rescale_factor": 0.00392156862745098, "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    },
    "vit_bilinear": {
        "do_resize": True, "size": {"height": 30, "width": 45}, "resample": 2,
        "do_center_crop": False, "do_rescale": True, "rescale_factor": 0.00392156862745098,
        "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    },
}


def crop(photo, top, left, height, width, scale):
    """A crop of a sample photo, shrunk by `scale` with PIL's box filter."""
    im = Image.fromarray(photo[top:top + height, left:left + width])
    return im.resize((width // scale, height // scale), Image.Resampling.BOX)


def exif_bytes(orientation):
    """A minimal little-endian EXIF block: IFD0 with one Orientation (SHORT) entry."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(path, array, color_type):
    """A 16-bit PNG written by hand (PIL cannot write 16-bit RGB, RGBA or LA)."""
    height, width = array.shape[:2]
    rows = array.astype(">u2").reshape(height, -1).tobytes()
    stride = len(rows) // height
    data = b"".join(b"\x00" + rows[y * stride:(y + 1) * stride] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                + png_chunk(b"IDAT", zlib.compress(data)) + png_chunk(b"IEND", b""))


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    astronaut = skimage.data.astronaut()
    chelsea = skimage.data.chelsea()
    coffee = skimage.data.coffee()
    rocket = skimage.data.rocket()
    camera = skimage.data.camera()

    face = crop(astronaut, 20, 140, 240, 180, 3)      # 60x80
    cat = crop(chelsea, 40, 100, 213, 301, 3)         # 100x71 (odd)
    cup = crop(coffee, 60, 150, 250, 250, 5)          # 50x50
    launch = crop(rocket, 0, 200, 427, 240, 7)        # 34x61
    gray = crop(camera, 50, 100, 300, 290, 5)         # 58x60, L
    # RGBA: the cup under an alpha ramp that covers 0..255 (fully transparent to opaque).
    ramp = np.clip(np.add.outer(np.arange(50) * 4, np.arange(50) * 3) - 20, 0, 255)
    alpha = Image.merge("RGBA", [*cup.split(), Image.fromarray(ramp.astype(np.uint8))])

    images = []  # (file name, save function)

    def add(name, save):
        path = os.path.join(OUT, name)
        save(path)
        images.append(name)

    add("face_q75_420.jpg", lambda p: face.save(p, quality=75, subsampling=2))
    add("face_q95_444.jpg", lambda p: face.save(p, quality=95, subsampling=0))
    add("cat_q90_420.jpg", lambda p: cat.save(p, quality=90, subsampling=2))
    add("cat_q85_422_progressive.jpg",
        lambda p: cat.save(p, quality=85, subsampling=1, progressive=True))
    add("cup_q60_420.jpg", lambda p: cup.save(p, quality=60, subsampling=2))
    add("launch_q80_420.jpg", lambda p: launch.save(p, quality=80, subsampling=2))
    add("gray_q90.jpg", lambda p: gray.save(p, quality=90))
    # PIL writes CMYK JPEGs with Adobe's inverted polarity and reads them back the same way.
    add("cup_cmyk.jpg", lambda p: cup.convert("CMYK").save(p, quality=90))
    add("face.png", lambda p: face.save(p))
    add("gray.png", lambda p: gray.save(p))
    add("gray_alpha.png", lambda p: Image.merge(
        "LA", [gray, gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]).save(p))
    add("cup_rgba.png", lambda p: alpha.save(p))
    add("cat_palette.png", lambda p: cat.quantize(64).save(p))
    add("cup_palette_trns.png", lambda p: cup.quantize(16).save(p, transparency=3))
    add("gray_1bit.png", lambda p: gray.convert("1").save(p))
    gray16 = (np.asarray(gray, dtype=np.uint16) * 3).astype(np.uint16)  # values up to 765
    add("gray_16bit.png", lambda p: Image.fromarray(gray16).save(p))
    # 16-bit colour: PIL keeps the high byte of each sample (its ";16B" raw modes).
    face16 = np.asarray(face, dtype=np.uint16) * 257 + np.arange(60, dtype=np.uint16)[:, None]
    add("face_16bit.png", lambda p: raw_png(p, face16, 2))
    alpha16 = np.asarray(alpha, dtype=np.uint16) * 256 + 255
    add("cup_rgba_16bit.png", lambda p: raw_png(p, alpha16, 6))
    add("face_rgb_trns.png", lambda p: face.save(p, transparency=tuple(int(v) for v in np.asarray(face)[0, 0])))
    add("launch_lossy.webp", lambda p: launch.save(p, "WEBP", quality=80))
    add("cup_rgba_lossless.webp", lambda p: alpha.save(p, "WEBP", lossless=True))
    # A non-square image in every EXIF orientation: the upright result differs for each.
    for orientation in range(1, 9):
        add(f"launch_orient{orientation}.jpg",
            lambda p, o=orientation: launch.save(p, quality=90, exif=exif_bytes(o)))
    add("face_orient6.png", lambda p: face.save(p, exif=exif_bytes(6)))
    add("cat_orient8.webp", lambda p: cat.save(p, "WEBP", quality=85, exif=exif_bytes(8)))

    manifest = {"configs": {}, "images": [], "resize": [], "bad": []}
    for cname, config in CONFIGS.items():
        with open(os.path.join(OUT, f"{cname}.json"), "w") as f:
            json.dump(config, f, indent=2)
        manifest["configs"][cname] = f"{cname}.json"

    for name in images:
        base = os.path.splitext(name)[0]
        with Image.open(os.path.join(OUT, name)) as im:
            im.load()
            mode = im.mode
            orientation = im.getexif().get(0x0112, 1)
            upright = ImageOps.exif_transpose(im)
        np.save(os.path.join(OUT, f"{base}.rgb.npy"), np.asarray(upright.convert("RGB")))
        entry = {"file": name, "pil_mode": mode, "width": upright.width,
                 "height": upright.height, "orientation": orientation,
                 "rgb": f"{base}.rgb.npy", "hf": {}}
        for cname, config in CONFIGS.items():
            processor = CLIPImageProcessorPil(**config)
            pixels = processor(upright, return_tensors="np")["pixel_values"]
            np.save(os.path.join(OUT, f"{base}.{cname}.npy"), pixels.astype(np.float32))
            entry["hf"][cname] = f"{base}.{cname}.npy"
        manifest["images"].append(entry)

    # The resampler on an odd-sized RGB crop and an L crop: down, up, one axis, tiny.
    src_rgb = cat  # 100x71
    for src_name, src in (("cat_q90_420.rgb.npy", src_rgb), ("gray.rgb.npy", gray)):
        src_arr = np.asarray(src)
        np.save(os.path.join(OUT, f"resize_src_{src.mode}.npy"), src_arr)
        # Pass order (see resample.cc): 37x29 and 90x40 from the 100x71 crop shrink the height by
        # more than twice the width's shrink (vertical first), 60x50 and 13x71 do not; 171x89 and
        # 119x83 grow; 100x40 changes one axis of the RGB crop, both of the L crop.
        sizes = [(37, 29), (90, 40), (60, 50), (171, 89), (100, 40), (13, 71), (1, 1), (119, 83)]
        for filt in ("bilinear", "bicubic", "box", "hamming", "lanczos"):
            for w, h in sizes:
                if src.mode == "L" and filt not in ("bilinear", "bicubic"):
                    continue
                out = src.resize((w, h), getattr(Image.Resampling, filt.upper()))
                ref = f"resize_{src.mode}_{filt}_{w}x{h}.npy"
                np.save(os.path.join(OUT, ref), np.asarray(out))
                manifest["resize"].append({"src": f"resize_src_{src.mode}.npy", "filter": filt,
                                           "width": w, "height": h, "ref": ref})

    # Malformed inputs: each must fail with a clear message, never crash or allocate.
    jpeg = open(os.path.join(OUT, "face_q75_420.jpg"), "rb").read()
    png = open(os.path.join(OUT, "face.png"), "rb").read()
    webp = open(os.path.join(OUT, "launch_lossy.webp"), "rb").read()
    bad = {
        "bad_truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "bad_truncated.png": (png[: len(png) // 2], "truncated"),
        "bad_truncated.webp": (webp[: len(webp) // 2], "WebP"),
        "bad_empty.png": (b"", "empty"),
        "bad_text.jpg": (b"this is not an image, just text\n", "not a JPEG, PNG or WebP"),
    }
    # Decompression bombs: valid headers declaring 100000 x 100000 (PNG) and 65000 x 65000
    # (JPEG) pixels, with almost no data behind them.
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    bad["bad_bomb.png"] = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                           + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)), "decompression bomb")
    sof = jpeg.find(b"\xff\xc0")
    bomb_jpeg = bytearray(jpeg)
    bomb_jpeg[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    bad["bad_bomb.jpg"] = (bytes(bomb_jpeg), "decompression bomb")
    for name, (data, expect) in bad.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        manifest["bad"].append({"file": name, "message": expect})

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
