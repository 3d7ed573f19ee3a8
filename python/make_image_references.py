"""Small test images and PIL / HF references for the image pipeline (src/vision, tests/vision).

Writes tests/data/vision/: crops of scikit-image's sample photos saved as JPEG (4:2:0 and
4:4:4, several qualities, grayscale, CMYK), PNG (RGB, L, LA, RGBA, palette with and without
transparency, 1-bit, 16-bit grayscale), WebP (lossy, lossless with alpha), GIF (interlaced or
not, transparency, grey, an animation, a first frame placed inside a larger screen), BMP (every
depth and header PIL reads, RLE8/RLE4, bitfields, top-down rows), TIFF (compressions, modes,
tiles, separate planes, 16-bit, premultiplied alpha) and EXIF-rotated files (orientations 1-8),
plus malformed files. For each image: PIL's upright convert('RGB')
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


def bmp_file(width, height, bits, rows, palette=None, compression=0, header_size=40,
             masks=None, top_down=False, pixel_data=None):
    """A BMP written by hand: `rows` are the packed pixel rows top to bottom (or `pixel_data`,
    already encoded, for RLE); `palette` a list of (r, g, b); `masks` bitfield masks."""
    if pixel_data is None:
        stride = ((width * bits + 31) >> 3) & ~3
        ordered = rows if top_down else rows[::-1]
        pixel_data = b"".join(r + b"\x00" * (stride - len(r)) for r in ordered)
    entry = 3 if header_size == 12 else 4
    pal = b"".join(bytes([b, g, r]) + b"\x00" * (entry - 3) for r, g, b in (palette or []))
    if header_size == 12:
        header = struct.pack("<IHHHH", 12, width, height, 1, bits)
    else:
        header = struct.pack("<IiiHHIIiiII", header_size, width, -height if top_down else height,
                             1, bits, compression, len(pixel_data), 2835, 2835,
                             len(palette or []), 0)
        if header_size > 40:
            extra = struct.pack("<4I", *(masks or (0, 0, 0, 0)))
            header += (extra + b"\x00" * header_size)[:header_size - 40]
        elif masks is not None:
            header += struct.pack("<3I", *masks[:3])
    offset = 14 + len(header) + len(pal)
    return (b"BM" + struct.pack("<IHHI", offset + len(pixel_data), 0, 0, offset) + header + pal
            + pixel_data)


def rle_encode(indices, rle4):
    """RLE8/RLE4 of a 2-D index array (bottom-up rows): runs, absolute stretches for three or
    more distinct pixels, a delta on one row, end of line and end of bitmap."""
    out = bytearray()
    height, width = indices.shape
    for n, row in enumerate(indices[::-1]):
        x = 0
        while x < width:
            if n == 3 and x == 4:  # a delta: skip 3 pixels right (they read as index 0)
                out += bytes([0, 2, 3, 0])
                x += 3
                continue
            run = 1
            while x + run < width and run < 255 and row[x + run] == row[x]:
                run += 1
            if run == 1:
                end = x
                while end < width and end - x < 255 and (end + 1 >= width or row[end + 1] != row[end]):
                    end += 1
                count = end - x
                if count >= 3 and not (n == 3 and x < 4 <= end):
                    values = row[x:end]
                    if rle4:
                        packed = bytes(((values[i] << 4) | (values[i + 1] if i + 1 < count else 0))
                                       for i in range(0, count, 2))
                    else:
                        packed = bytes(values)
                    out += bytes([0, count]) + packed + (b"\x00" if len(packed) % 2 else b"")
                    x = end
                    continue
            value = (row[x] << 4) | row[x] if rle4 else row[x]
            out += bytes([run, value])
            x += run
        out += b"\x00\x00"
    return bytes(out[:-2] + b"\x00\x01")


def tiff_file(width, height, tags, blocks, tiled=False):
    """A little-endian TIFF written by hand: `tags` {tag: (type, values)} without the data
    offsets and byte counts, which follow `blocks` (strips, or tiles when tiled)."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    offsets = []
    for block in blocks:
        offsets.append(len(out))
        out += block + (b"\x00" if len(block) % 2 else b"")
    tags = dict(tags)
    tags[256] = (4, [width])
    tags[257] = (4, [height])
    tags[324 if tiled else 273] = (4, offsets)
    tags[325 if tiled else 279] = (4, [len(b) for b in blocks])
    ifd_at = len(out)
    extra_at = ifd_at + 2 + 12 * len(tags) + 4
    entries, extra = b"", bytearray()
    for tag in sorted(tags):
        kind, values = tags[tag]
        packed = b"".join(struct.pack("<H" if kind == 3 else "<I", v) for v in values)
        if len(packed) <= 4:
            field = packed + b"\x00" * (4 - len(packed))
        else:
            field = struct.pack("<I", extra_at + len(extra))
            extra += packed
        entries += struct.pack("<HHI", tag, kind, len(values)) + field
    out += struct.pack("<H", len(tags)) + entries + struct.pack("<I", 0) + extra
    out[4:8] = struct.pack("<I", ifd_at)
    return bytes(out)


def gif_first_frame_offset(data, screen_extra, left, top):
    """A GIF whose logical screen grows by `screen_extra` and whose first frame moves to
    (left, top): the canvas around the frame is filled as PIL fills it."""
    data = bytearray(data)
    width, height = struct.unpack("<HH", data[6:10])
    data[6:10] = struct.pack("<HH", width + screen_extra[0], height + screen_extra[1])
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[pos] == 0x21:  # extensions: introducer, label, sub-blocks
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    assert data[pos] == 0x2C, "image descriptor expected"
    data[pos + 1:pos + 5] = struct.pack("<HH", left, top)
    return bytes(data)


def add_gif_bmp_tiff(add, face, cat, cup, launch, gray, alpha):
    def write(data):
        def save(path):
            with open(path, "wb") as f:
                f.write(data)
        return save

    # GIF: PIL writes interlaced frames by default.
    add("cat_palette.gif", lambda p: cat.quantize(64).save(p))
    add("cat_flat.gif", lambda p: cat.quantize(200).save(p, interlace=False))
    add("cup_trns.gif", lambda p: cup.quantize(16).save(p, transparency=3))
    add("gray.gif", lambda p: gray.save(p))
    ramp = Image.frombytes("P", gray.size, gray.tobytes())  # an identity grey palette: PIL's L
    ramp.putpalette(bytes(i for i in range(256) for _ in range(3)))
    add("gray_ramp.gif", lambda p: ramp.save(p, optimize=False))
    frames = [launch.quantize(32), launch.transpose(Image.Transpose.ROTATE_180).quantize(32)]
    add("launch_anim.gif", lambda p: frames[0].save(p, save_all=True, append_images=frames[1:],
                                                    duration=100, loop=0))
    buffer = io.BytesIO()
    face.quantize(48).save(buffer, "GIF", interlace=False)
    add("face_offset.gif", write(gif_first_frame_offset(buffer.getvalue(), (9, 6), 5, 4)))
    buffer = io.BytesIO()
    cup.quantize(16).save(buffer, "GIF", transparency=5)
    add("cup_offset_trns.gif", write(gif_first_frame_offset(buffer.getvalue(), (7, 3), 2, 3)))

    # BMP: PIL's writer (24-bit, 8-bit grey and palette, 1-bit, 32-bit BGRA read back as RGB).
    add("face.bmp", lambda p: face.save(p))
    add("gray.bmp", lambda p: gray.save(p))
    add("cat_palette.bmp", lambda p: cat.quantize(64).save(p))
    add("gray_1bit.bmp", lambda p: gray.convert("1").save(p))
    add("cup_rgba32.bmp", lambda p: alpha.save(p))
    # ... and by hand: the layouts other writers produce.
    rgb = np.asarray(launch)
    h, w = rgb.shape[:2]
    add("launch_topdown.bmp", write(bmp_file(w, h, 24, [r[:, ::-1].tobytes() for r in rgb],
                                             top_down=True)))
    add("launch_os2.bmp", write(bmp_file(w, h, 24, [r[:, ::-1].tobytes() for r in rgb],
                                         header_size=12)))
    c = np.asarray(cup).astype(np.uint16)
    ch, cw = c.shape[:2]
    p555 = ((c[..., 0] >> 3) << 10) | ((c[..., 1] >> 3) << 5) | (c[..., 2] >> 3)
    p565 = ((c[..., 0] >> 3) << 11) | ((c[..., 1] >> 2) << 5) | (c[..., 2] >> 3)
    add("cup_555.bmp", write(bmp_file(cw, ch, 16, [r.astype("<u2").tobytes() for r in p555])))
    add("cup_565.bmp", write(bmp_file(cw, ch, 16, [r.astype("<u2").tobytes() for r in p565],
                                      compression=3, masks=(0xF800, 0x7E0, 0x1F))))
    a = np.asarray(alpha)
    add("cup_bgra_v5.bmp", write(bmp_file(
        cw, ch, 32, [r[:, [2, 1, 0, 3]].tobytes() for r in a], compression=3, header_size=124,
        masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000))))
    add("cup_xbgr_v4.bmp", write(bmp_file(
        cw, ch, 32, [r[:, [3, 2, 1, 0]].tobytes() for r in a], compression=3, header_size=108,
        masks=(0xFF000000, 0xFF0000, 0xFF00, 0x0))))
    q16 = face.quantize(16)
    idx16 = np.asarray(q16)
    pal16 = [tuple(q16.getpalette()[3 * i:3 * i + 3]) for i in range(16)]
    fh, fw = idx16.shape
    add("face_4bit.bmp", write(bmp_file(
        fw, fh, 4, [bytes((r[i] << 4) | (r[i + 1] if i + 1 < fw else 0) for i in range(0, fw, 2))
                    for r in idx16], palette=pal16)))
    add("face_rle4.bmp", write(bmp_file(fw, fh, 4, None, palette=pal16, compression=2,
                                        pixel_data=rle_encode(idx16, True))))
    q64 = cat.quantize(64)
    idx64 = np.asarray(q64)
    pal64 = [tuple(q64.getpalette()[3 * i:3 * i + 3]) for i in range(64)]
    add("cat_rle8.bmp", write(bmp_file(idx64.shape[1], idx64.shape[0], 8, None, palette=pal64,
                                       compression=1, pixel_data=rle_encode(idx64, False))))

    # TIFF through PIL's libtiff writer: compressions and modes, a second page, orientation.
    add("face.tif", lambda p: face.save(p))
    add("face_lzw.tif", lambda p: face.save(p, compression="tiff_lzw"))
    add("face_jpeg.tif", lambda p: face.save(p, compression="jpeg", quality=90))
    # Photometric YCbCr with JPEG compression: libjpeg converts to RGB, as PIL asks it to.
    add("face_ycbcr_jpeg.tif", lambda p: face.convert("YCbCr").save(p, compression="jpeg"))
    add("cat_deflate.tif", lambda p: cat.save(p, compression="tiff_adobe_deflate"))
    add("gray_packbits.tif", lambda p: gray.save(p, compression="packbits"))
    add("gray_1bit_g4.tif", lambda p: gray.convert("1").save(p, compression="group4"))
    add("cat_palette.tif", lambda p: cat.quantize(64).save(p, compression="tiff_lzw"))
    add("cup_rgba.tif", lambda p: alpha.save(p, compression="tiff_lzw"))
    add("cup_cmyk.tif", lambda p: cup.convert("CMYK").save(p))
    gray16 = (np.asarray(gray, dtype=np.uint16) * 3).astype(np.uint16)
    add("gray_16bit.tif", lambda p: Image.fromarray(gray16).save(p))
    add("face_2pages.tif", lambda p: face.save(p, save_all=True, append_images=[cat]))
    add("launch_orient6.tif", lambda p: launch.save(p, tiffinfo={274: 6}))
    # ... and by hand: 16-bit RGB, tiles, separate planes, premultiplied alpha, 4-bit grey.
    f16 = (np.asarray(face, dtype=np.uint16) * 257
           + np.arange(face.width, dtype=np.uint16)[None, :, None])
    add("face_16bit.tif", write(tiff_file(face.width, face.height, {
        258: (3, [16, 16, 16]), 259: (3, [1]), 262: (3, [2]), 277: (3, [3]),
        278: (4, [face.height])}, [f16.astype("<u2").tobytes()])))
    tile = 16
    padded = np.zeros((-(-cat.height // tile) * tile, -(-cat.width // tile) * tile, 3), np.uint8)
    padded[:cat.height, :cat.width] = np.asarray(cat)
    tiles = [padded[y:y + tile, x:x + tile].tobytes()
             for y in range(0, padded.shape[0], tile) for x in range(0, padded.shape[1], tile)]
    add("cat_tiled.tif", write(tiff_file(cat.width, cat.height, {
        258: (3, [8, 8, 8]), 259: (3, [1]), 262: (3, [2]), 277: (3, [3]),
        322: (4, [tile]), 323: (4, [tile])}, tiles, tiled=True)))
    planes = np.asarray(launch).transpose(2, 0, 1)
    add("launch_planar.tif", write(tiff_file(launch.width, launch.height, {
        258: (3, [8, 8, 8]), 259: (3, [1]), 262: (3, [2]), 277: (3, [3]),
        278: (4, [launch.height]), 284: (3, [2])}, [pl.tobytes() for pl in planes])))
    straight = np.asarray(alpha).astype(np.uint32)
    premultiplied = straight.copy()
    premultiplied[..., :3] = (straight[..., :3] * straight[..., 3:] + 127) // 255
    add("cup_premultiplied.tif", write(tiff_file(cup.width, cup.height, {
        258: (3, [8, 8, 8, 8]), 259: (3, [1]), 262: (3, [2]), 277: (3, [4]),
        278: (4, [cup.height]), 338: (3, [1])}, [premultiplied.astype(np.uint8).tobytes()])))
    g4 = np.asarray(gray) >> 4
    packed4 = np.zeros((gray.height, (gray.width + 1) // 2), np.uint8)
    packed4[:, :] = (g4[:, 0::2] << 4) | np.pad(g4[:, 1::2], ((0, 0), (0, gray.width % 2)))
    add("gray_4bit_miniswhite.tif", write(tiff_file(gray.width, gray.height, {
        258: (3, [4]), 259: (3, [1]), 262: (3, [0]), 277: (3, [1]),
        278: (4, [gray.height])}, [packed4.tobytes()])))


def add_avif(add, face, cat, launch, alpha):
    """AVIF as Pillow 13 writes it (8-bit; 4:2:0 by default), an orientation (irot/imir boxes)."""
    add("face.avif", lambda p: face.save(p, quality=80))
    add("cat_444.avif", lambda p: cat.save(p, quality=70, subsampling="4:4:4"))
    add("cat_422.avif", lambda p: cat.save(p, quality=70, subsampling="4:2:2"))
    add("cup_rgba.avif", lambda p: alpha.save(p, quality=90))
    for orientation in (3, 6, 7):
        exif = Image.Exif()
        exif[0x0112] = orientation
        add(f"launch_orient{orientation}.avif",
            lambda p, e=exif.tobytes(): launch.save(p, quality=80, exif=e))


def tiled_tiff(width, height, tile_w, tile_h):
    """A little-endian RGB 8-bit TIFF of one tile header whose tile dims are as given, with one
    tile of zeros' worth of declared bytes behind it (libtiff sizes its tile buffer from the
    tags)."""
    tile_bytes = tile_w * tile_h * 3
    tags = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, None), (259, 3, 1, 1),
            (262, 3, 1, 2), (277, 3, 1, 3), (322, 4, 1, tile_w), (323, 4, 1, tile_h),
            (324, 4, 1, None), (325, 4, 1, tile_bytes)]
    ifd_offset = 8
    ifd_size = 2 + 12 * len(tags) + 4
    bits_offset = ifd_offset + ifd_size
    data_offset = bits_offset + 6
    out = bytearray(b"II*\x00" + struct.pack("<I", ifd_offset))
    out += struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        if tag == 258:
            value = bits_offset
        elif tag == 324:
            value = data_offset
        field = struct.pack("<H", value) + b"\x00\x00" if kind == 3 and count == 1 else \
            struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + field
    out += struct.pack("<I", 0)
    out += struct.pack("<HHH", 8, 8, 8)
    out += bytes(64)  # far fewer bytes than the tile declares
    return bytes(out)


def bad_gif_bmp_tiff():
    """Malformed GIF, BMP and TIFF files and what their messages must say."""
    gif = open(os.path.join(OUT, "cat_palette.gif"), "rb").read()
    bmp = open(os.path.join(OUT, "face.bmp"), "rb").read()
    tif = open(os.path.join(OUT, "face.tif"), "rb").read()
    avif = open(os.path.join(OUT, "face.avif"), "rb").read()
    bomb_gif = bytearray(gif)
    bomb_gif[6:10] = struct.pack("<HH", 65000, 65000)
    bomb_bmp = bytearray(bmp)
    bomb_bmp[18:26] = struct.pack("<ii", 60000, 60000)
    rle_short = bytearray(open(os.path.join(OUT, "cat_rle8.bmp"), "rb").read())
    rle_short = rle_short[: len(rle_short) // 2] + b"\x00\x01"  # ends the bitmap early
    buffer = io.BytesIO()
    Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)).save(buffer, "TIFF")
    return {
        "bad_truncated.gif": (gif[: len(gif) // 2], "truncated GIF"),
        "bad_truncated.bmp": (bmp[: len(bmp) // 2], "truncated BMP"),
        "bad_truncated.tif": (tif[: len(tif) // 2], "TIFF"),
        "bad_bomb.gif": (bytes(bomb_gif), "decompression bomb"),
        "bad_bomb.bmp": (bytes(bomb_bmp), "decompression bomb"),
        "bad_rle_short.bmp": (bytes(rle_short), "RLE data gives"),
        "bad_2bit.bmp": (bmp_file(4, 4, 2, [b"\x00"] * 4, palette=[(0, 0, 0)] * 4),
                         "pixel depth of 2 bits"),
        "bad_float.tif": (buffer.getvalue(), "floating-point"),
        "bad_truncated.avif": (avif[: len(avif) // 2], "AVIF"),
        # A 100x71 image in tiles of 65536x8192 (a 1.6 GB tile buffer): found by the fuzzer.
        "bad_huge_tiles.tif": (tiled_tiff(100, 71, 65536, 8192), "larger than the image can need"),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        if os.path.isfile(os.path.join(OUT, name)):  # hf_processors/ has its own script
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

    add_gif_bmp_tiff(add, face, cat, cup, launch, gray, alpha)
    add_avif(add, face, cat, launch, alpha)

    manifest = {"configs": {}, "images": [], "resize": [], "bad": []}
    for cname, config in CONFIGS.items():
        with open(os.path.join(OUT, f"{cname}.json"), "w") as f:
            json.dump(config, f, indent=2)
        manifest["configs"][cname] = f"{cname}.json"

    for name in images:
        base = os.path.splitext(name)[0]
        if name.endswith((".gif", ".bmp", ".tif", ".avif")):  # the same pictures as PNG/JPEG ones
            base = name
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
        # NEAREST also at sizes where PIL's running sum of source positions and (x + 0.5) * step
        # pick different pixels (widths 21 and 34 of the RGB crop, heights 14 and 21 of the L one).
        for filt in ("bilinear", "bicubic", "box", "hamming", "lanczos", "nearest"):
            for w, h in sizes + ([(21, 14), (34, 21)] if filt == "nearest" else []):
                if src.mode == "L" and filt not in ("bilinear", "bicubic", "nearest"):
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
        "bad_text.jpg": (b"this is not an image, just text\n", "not a JPEG, PNG, WebP, GIF, BMP, TIFF or AVIF"),
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
    bad.update(bad_gif_bmp_tiff())
    for name, (data, expect) in bad.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        manifest["bad"].append({"file": name, "message": expect})

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT)
                if os.path.isfile(os.path.join(OUT, n)))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
