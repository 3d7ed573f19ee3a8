#!/usr/bin/env python3
"""Makes tests/data/clip_tiny/: a tiny random HF CLIP exported with export_clip.py, plus PyTorch
reference embeddings and zero-shot probabilities for tests/clip/.

    python3 python/make_clip_fixture.py [--out tests/data/clip_tiny]

The model is small enough to commit: the text tower's width is 16, so its 49408-row token
embedding (CLIP's full BPE vocabulary, needed because the ids come from the real tokenizer)
stays near 3 MB. Writes, beside export_clip.py's files (vision.onnx, text.onnx,
preprocessor_config.json, clip.json):

  images.json         image file names, relative to tests/data/vision/
  image_embeds.npy    float32 [N_images, D]: PyTorch's projected image embeddings (unnormalised)
                      of the images preprocessed by HF's PIL CLIPImageProcessor
  texts.json          the texts
  text_ids.npy        int32 [N_texts, 77]: open_clip.tokenize(texts) (what vitrt's tokenizer gives)
  text_embeds.npy     float32 [N_texts, D]: PyTorch's projected text embeddings of the padded ids
  probs.npy           float32 [N_images, N_texts]: softmax over texts of
                      logit_scale * cos(image, text), as CLIPModel's logits_per_image give it
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VISION_DATA = os.path.join(ROOT, "tests", "data", "vision")

CONFIG = {
    "projection_dim": 16,
    "vision_config": {"image_size": 32, "patch_size": 8, "hidden_size": 32,
                      "intermediate_size": 64, "num_hidden_layers": 2,
                      "num_attention_heads": 2},
    "text_config": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
                    "num_attention_heads": 2, "max_position_embeddings": 77},
}

# Images without an EXIF orientation (PIL loads them upright), of every decoder and mode.
IMAGES = ["cat_q90_420.jpg", "cup_rgba.png", "face.png", "gray.png", "launch_lossy.webp"]

TEXTS = [
    "a photo of a cat",
    "a photo of a dog",
    "a photo of a cup",
    "a photo of a face",
    "a rocket launch",
    "a grayscale picture",
    "",
    "A PHOTO   OF A CAT.",
    "an image of a red car parked on the street at night",
    "café crème & croissant",
    "naïve résumé 🙂",
    "日本語のテキスト",
    "don't we're they'll",
    "1234567890",
    "a diagram of the solar system with nine planets",
    "&amp; &lt;b&gt;html&lt;/b&gt;",
    "the quick brown fox jumps over the lazy dog",
    "mountains",
    # Longer than the context: open_clip cuts it to 77 tokens, the last one the end token.
    " ".join(["a very long prompt"] * 30),
    "exactly what it says",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "clip_tiny"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # The tiny CLIPConfig stays beside the fixture, so the model can be rebuilt from it; the
    # export runs in the fixture folder so that clip.json names it by its relative path.
    with open(os.path.join(args.out, "hf_config.json"), "w") as f:
        json.dump(CONFIG, f, indent=1)
    out = os.path.abspath(args.out)
    subprocess.run([sys.executable, os.path.join(HERE, "export_clip.py"), "--hf-random",
                    "--hf-config", "hf_config.json", "--out", out], check=True, cwd=out)

    import open_clip
    import transformers
    from PIL import Image
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    # The same model export_clip.py exported (same config, same seed).
    config = transformers.CLIPConfig.from_json_file(os.path.join(args.out, "hf_config.json"))
    torch.manual_seed(0)
    model = transformers.CLIPModel(config).eval()

    with open(os.path.join(args.out, "preprocessor_config.json")) as f:
        processor = CLIPImageProcessorPil(**json.load(f))
    images = [Image.open(os.path.join(VISION_DATA, name)) for name in IMAGES]
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]

    ids = open_clip.tokenize(TEXTS)  # int64 [N, 77]

    def features(out):
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    with torch.no_grad():
        image_embeds = features(model.get_image_features(pixel_values=pixels))
        text_embeds = features(model.get_text_features(input_ids=ids))
        out = model(input_ids=ids, pixel_values=pixels)
        probs = out.logits_per_image.softmax(dim=1)
        # The reference must be the model that was exported: its logits agree with the
        # projected embeddings the ONNX towers return.
        img_n = image_embeds / image_embeds.norm(dim=1, keepdim=True)
        txt_n = text_embeds / text_embeds.norm(dim=1, keepdim=True)
        mine = (model.logit_scale.exp() * img_n @ txt_n.T).softmax(dim=1)
        assert torch.allclose(mine, probs, atol=1e-6), "logits_per_image disagree"

    with open(os.path.join(args.out, "clip.json")) as f:
        meta = json.load(f)
    assert abs(meta["logit_scale"] - model.logit_scale.exp().item()) < 1e-6

    def save(name, array):
        np.save(os.path.join(args.out, name), np.ascontiguousarray(array))

    with open(os.path.join(args.out, "images.json"), "w") as f:
        json.dump(IMAGES, f, indent=1)
    with open(os.path.join(args.out, "texts.json"), "w") as f:
        json.dump(TEXTS, f, indent=1, ensure_ascii=False)
    save("image_embeds.npy", image_embeds.numpy().astype(np.float32))
    save("text_ids.npy", ids.numpy().astype(np.int32))
    save("text_embeds.npy", text_embeds.numpy().astype(np.float32))
    save("probs.npy", probs.numpy().astype(np.float32))
    print(f"wrote {args.out}: {len(IMAGES)} images, {len(TEXTS)} texts, "
          f"transformers {transformers.__version__}, open_clip {open_clip.__version__}")


if __name__ == "__main__":
    main()
