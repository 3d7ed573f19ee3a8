"""ViT-B/16 (timm, random weights, seed 0) for the GPU benchmark: exports the ONNX model vitrt
builds from, and times PyTorch fp16 eager and torch.compile at the given batch sizes.

  python3 torch_vit.py export OUT.onnx
  python3 torch_vit.py time --batches 1 256 [--compile] > torch.json
"""
import argparse
import json
import statistics
import sys
import time

import timm
import torch


def model():
    torch.manual_seed(0)
    return timm.create_model("vit_base_patch16_224", pretrained=False).eval()


def export(path):
    m = model()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(m, (x,), path, input_names=["pixel_values"], output_names=["logits"],
                      dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
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


def time_all(batches, with_compile):
    m = model().cuda().half()
    rows = []
    with torch.inference_mode():
        for b in batches:
            x = torch.randn(b, 3, 224, 224, device="cuda", dtype=torch.half)
            iters = 50 if b <= 8 else 20
            rows.append({"impl": "torch eager", "batch": b, "median_ms": time_fn(m, x, iters, 5)})
            if with_compile:
                mode = "reduce-overhead" if b <= 8 else "default"
                c = torch.compile(m, mode=mode)
                t0 = time.perf_counter()
                c(x)
                compile_s = time.perf_counter() - t0
                rows.append({"impl": f"torch.compile {mode}", "batch": b,
                             "median_ms": time_fn(c, x, iters, 5), "compile_s": compile_s})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["export", "time"])
    p.add_argument("path", nargs="?")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    p.add_argument("--compile", action="store_true")
    a = p.parse_args()
    if a.what == "export":
        export(a.path)
    else:
        print(json.dumps(time_all(a.batches, a.compile)))
