"""References for preprocessor_config.json files as the Hub has them, read by the image processor
class they name (tests/vision/preprocessor_config_test.cc).

Real configs leave fields out and rely on the class's defaults, and older ones give "size" as one
integer, which ViT, DeiT and BEiT read as a square and CLIP, ConvNeXt or MobileNet as a shortest
edge; ConvNeXt and PoolFormer scale the resize by crop_pct, LeViT by 256/224, MobileViT flips
the channels. Each config below has the shape of a real one (old "feature_extractor_type" files
included) with small sizes so the references stay small; every image of IMAGES goes through
transformers' PIL image processor of that class, built from the config's fields as
from_pretrained builds it. Writes tests/data/vision/hf_processors/: the configs, the
pixel_values as .npy, and manifest.json.

Needs pillow, numpy, transformers. Run from the repository root:
    python3 python/make_hf_processor_references.py
"""
import json
import os
import shutil

import numpy as np
import transformers
from PIL import Image, ImageOps

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VISION = os.path.join(ROOT, "tests", "data", "vision")
OUT = os.path.join(VISION, "hf_processors")

# A landscape and a portrait photo: a square resize and a shortest-edge resize differ on both.
IMAGES = ["cat_q90_420.jpg", "face_q95_444.jpg"]

HALF = [0.5, 0.5, 0.5]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

CONFIGS = {
    # google/vit-base-patch16-224's form: an integer size (a square for ViT), no crop fields.
    "vit_legacy": {"feature_extractor_type": "ViTFeatureExtractor", "do_normalize": True,
                   "do_resize": True, "image_mean": HALF, "image_std": HALF, "resample": 2,
                   "size": 40},
    # facebook/deit-*'s form: square resize to size, then the crop.
    "deit_legacy": {"feature_extractor_type": "DeiTFeatureExtractor", "crop_size": 36,
                    "do_center_crop": True, "do_normalize": True, "do_resize": True,
                    "image_mean": IMAGENET_MEAN, "image_std": IMAGENET_STD, "resample": 3,
                    "size": 44},
    "beit": {"image_processor_type": "BeitImageProcessor", "crop_size": 32,
             "do_center_crop": False, "do_normalize": True, "do_resize": True,
             "image_mean": HALF, "image_std": HALF, "resample": 2, "size": 36},
    # facebook/convnext-*: crop_pct below 384 (resize to size / crop_pct, crop to size).
    "convnext": {"image_processor_type": "ConvNextImageProcessor", "crop_pct": 0.875,
                 "do_normalize": True, "do_resize": True, "image_mean": IMAGENET_MEAN,
                 "image_std": IMAGENET_STD, "resample": 3, "size": {"shortest_edge": 35}},
    "convnext_legacy": {"feature_extractor_type": "ConvNextFeatureExtractor", "crop_pct": 0.875,
                        "do_normalize": True, "do_resize": True, "image_mean": IMAGENET_MEAN,
                        "image_std": IMAGENET_STD, "resample": 3, "size": 28},
    "poolformer": {"image_processor_type": "PoolFormerImageProcessor", "crop_pct": 0.9,
                   "crop_size": {"height": 36, "width": 36}, "do_center_crop": True,
                   "do_normalize": True, "do_resize": True, "image_mean": IMAGENET_MEAN,
                   "image_std": IMAGENET_STD, "resample": 3, "size": {"shortest_edge": 36}},
    "levit": {"image_processor_type": "LevitImageProcessor",
              "crop_size": {"height": 35, "width": 35}, "do_center_crop": True,
              "do_normalize": True, "do_resize": True, "image_mean": IMAGENET_MEAN,
              "image_std": IMAGENET_STD, "resample": 3, "size": {"shortest_edge": 35}},
    # apple/mobilevit-*: no normalization, BGR out.
    "mobilevit": {"image_processor_type": "MobileViTImageProcessor",
                  "crop_size": {"height": 32, "width": 32}, "do_center_crop": True,
                  "do_flip_channel_order": True, "do_resize": True, "resample": 2,
                  "size": {"shortest_edge": 36}},
    "mobilenet_v2_legacy": {"feature_extractor_type": "MobileNetV2FeatureExtractor",
                            "crop_size": 32, "do_center_crop": True, "do_normalize": True,
                            "do_resize": True, "image_mean": HALF, "image_std": HALF,
                            "resample": 2, "size": 36},
    # google/siglip-*: a height x width dict, the rest from the class (bicubic, 0.5, no crop).
    "siglip": {"image_processor_type": "SiglipImageProcessor", "do_normalize": True,
               "do_rescale": True, "do_resize": True, "size": {"height": 40, "width": 40}},
    # facebook/dinov2-*: BitImageProcessor with explicit sizes.
    "bit": {"image_processor_type": "BitImageProcessor", "crop_size": {"height": 32, "width": 32},
            "do_center_crop": True, "do_convert_rgb": True, "do_normalize": True,
            "do_rescale": True, "do_resize": True, "image_mean": IMAGENET_MEAN,
            "image_std": IMAGENET_STD, "resample": 3, "size": {"shortest_edge": 40}},
    # google/efficientnet-b*: NEAREST resize to a square, its own std, include_top false.
    "efficientnet": {"image_processor_type": "EfficientNetImageProcessor",
                     "crop_size": {"height": 32, "width": 32}, "do_center_crop": False,
                     "do_normalize": True, "do_rescale": True, "do_resize": True,
                     "image_mean": IMAGENET_MEAN,
                     "image_std": [0.47853944, 0.4732864, 0.47434163], "include_top": False,
                     "resample": 0, "rescale_factor": 0.00392156862745098,
                     "rescale_offset": False, "size": {"height": 38, "width": 38}},
    # The class's own defaults for include_top (true: divide by std a second time), with the
    # rescale offset (x / 255 - 1) and a centre crop.
    "efficientnet_top": {"image_processor_type": "EfficientNetImageProcessor",
                         "crop_size": {"height": 30, "width": 30}, "do_center_crop": True,
                         "rescale_offset": True, "resample": 0,
                         "size": {"height": 41, "width": 35}},
    # openai/clip-*'s older form: an integer size (a shortest edge for CLIP).
    "clip_legacy": {"feature_extractor_type": "CLIPFeatureExtractor", "crop_size": 32,
                    "do_center_crop": True, "do_normalize": True, "do_resize": True,
                    "image_mean": [0.48145466, 0.4578275, 0.40821073],
                    "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3,
                    "size": 40},
}


def processor_for(config):
    name = config.get("image_processor_type") or config["feature_extractor_type"].replace(
        "FeatureExtractor", "ImageProcessor")
    cls = getattr(transformers, name + "Pil")
    fields = {k: v for k, v in config.items()
              if k not in ("image_processor_type", "feature_extractor_type")}
    return cls(**fields)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    manifest = {"transformers": transformers.__version__, "images": IMAGES, "configs": {}}
    for name, config in CONFIGS.items():
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(config, f, indent=2)
        processor = processor_for(config)
        outputs = {}
        for image_file in IMAGES:
            image = ImageOps.exif_transpose(Image.open(os.path.join(VISION, image_file)))
            pixels = processor(image.convert("RGB"), return_tensors="np")["pixel_values"]
            npy = f"{os.path.splitext(image_file)[0]}.{name}.npy"
            np.save(os.path.join(OUT, npy), pixels.astype(np.float32))
            outputs[image_file] = npy
            print(f"{name} {image_file}: {pixels.shape}")
        manifest["configs"][name] = {"config": name + ".json", "pixel_values": outputs}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
