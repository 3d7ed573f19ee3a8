#!/usr/bin/env python3
"""vitrt vs ONNX Runtime on CPU, fp32, side by side in one run.

Exports full-size models with random weights (the numbers do not depend on the weights) to a
temporary folder, builds a vitrt plan from each with the `vitrt` binary, and times
`vitrt bench` and an ONNX Runtime CPU session (all graph optimisations, one intra-op thread per
core) on the same machine, one after the other, at each batch size.

  python3 bench/cpu_vs_onnxruntime/run.py [--models vit_b16,clip_b32_vision,clip_text]
                                          [--batches 1,8] [--vitrt build/vitrt]

See README.md in this folder for what is measured and how to read the table.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np


# ---- models -----------------------------------------------------------------------------------


def transformer_gflop(layers, tokens, width, mlp, patch_tokens=0, patch_in=0):
    """2 x multiply-accumulates of a pre-norm transformer encoder (+ patch embedding)."""
    per_layer = tokens * (4 * width * width + 2 * width * mlp) + 2 * tokens * tokens * width
    return 2.0 * (layers * per_layer + patch_tokens * patch_in * width) / 1e9


class Model:
    def __init__(self, name, description, gflop_per_item, build, inputs):
        self.name = name
        self.description = description
        self.gflop_per_item = gflop_per_item
        self.build = build  # () -> (torch module, example args, input names, output names)
        self.inputs = inputs  # (batch, rng) -> {input name: array}


def build_vit_b16():
    import timm
    import torch
    model = timm.create_model("vit_base_patch16_224", pretrained=False)
    return model, (torch.randn(1, 3, 224, 224),), ["pixel_values"], ["logits"]


def build_clip_vision():
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    model = CLIPVisionModelWithProjection(CLIPVisionConfig())

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            return self.m(pixel_values=pixel_values).image_embeds

    return Wrapper(model), (torch.randn(1, 3, 224, 224),), ["pixel_values"], ["image_embeds"]


CLIP_TEXT_LEN = 77


def build_clip_text():
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    model = CLIPTextModelWithProjection(CLIPTextConfig())

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids):
            return self.m(input_ids=input_ids).text_embeds

    ids = torch.randint(0, 49405, (1, CLIP_TEXT_LEN), dtype=torch.int64)
    return Wrapper(model), (ids,), ["input_ids"], ["text_embeds"]


def image_inputs(batch, rng):
    return {"pixel_values": rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)}


def text_inputs(batch, rng):
    ids = rng.integers(1, 49405, size=(batch, CLIP_TEXT_LEN)).astype(np.int64)
    ids[:, 0] = 49406  # start of text
    ids[:, -1] = 49407  # end of text (full-length prompts: the worst case)
    return {"input_ids": ids}


MODELS = {
    # 35.1 GFLOP per image is the usual figure for ViT-B/16 at 224 (2 x 17.56 GMAC).
    "vit_b16": Model("vit_b16", "timm vit_base_patch16_224", 35.1, build_vit_b16, image_inputs),
    "clip_b32_vision": Model("clip_b32_vision", "HF CLIPVisionModelWithProjection (B/32)",
                             transformer_gflop(12, 50, 768, 3072, 49, 3 * 32 * 32),
                             build_clip_vision, image_inputs),
    "clip_text": Model("clip_text", "HF CLIPTextModelWithProjection (77 tokens)",
                       transformer_gflop(12, CLIP_TEXT_LEN, 512, 2048),
                       build_clip_text, text_inputs),
}


def export(model, path):
    import torch
    module, args, input_names, output_names = model.build()
    module.eval()
    dynamic_axes = {n: {0: "batch"} for n in input_names + output_names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, dynamo=False, opset_version=17,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)


# ---- runners ----------------------------------------------------------------------------------


def time_ort(onnx_path, model, batch, threads, warmup, iterations):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    feeds = model.inputs(batch, np.random.default_rng(0))
    for _ in range(warmup):
        session.run(None, feeds)
    times_ms = []
    for _ in range(iterations):
        start = time.perf_counter()
        session.run(None, feeds)
        times_ms.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times_ms)


def vitrt_env(threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def build_plan(vitrt, onnx_path, plan_path, threads):
    proc = subprocess.run([vitrt, "build", onnx_path, "-o", plan_path], capture_output=True,
                          text=True, env=vitrt_env(threads))
    if proc.returncode != 0:
        raise RuntimeError(f"vitrt build failed ({proc.returncode}): {proc.stderr.strip()}")


def time_vitrt(vitrt, plan_path, batch, threads, warmup, iterations):
    cmd = [vitrt, "bench", plan_path, "--batch", str(batch), "--iterations", str(iterations),
           "--warmup", str(warmup), "--device", "cpu", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=vitrt_env(threads))
    if proc.returncode != 0:
        raise RuntimeError(f"vitrt bench failed ({proc.returncode}): {proc.stderr.strip()}")
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("vitrt bench printed nothing")
    result = json.loads(lines[-1])
    return float(result["median_ms"])


# ---- report -----------------------------------------------------------------------------------


def fmt(value, spec):
    """Formats like `spec` ("9.2f"); "n/a" padded to the same width when value is None."""
    if value is not None:
        return format(value, spec)
    width = spec.split(".")[0]
    return format("n/a", f">{width}") if width else "n/a"


def print_table(rows, threads):
    header = (f"{'model':<16} {'batch':>5} | {'vitrt ms':>9} {'items/s':>8} {'GFLOP/s':>8} | "
              f"{'ORT ms':>9} {'items/s':>8} {'GFLOP/s':>8} | {'vitrt/ORT':>9}")
    print(f"\nCPU fp32, {threads} threads, median latency per batch")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:<16} {r['batch']:>5} | {fmt(r['vitrt_ms'], '9.2f')} "
              f"{fmt(r['vitrt_items_s'], '8.1f')} {fmt(r['vitrt_gflop_s'], '8.1f')} | "
              f"{fmt(r['ort_ms'], '9.2f')} {fmt(r['ort_items_s'], '8.1f')} "
              f"{fmt(r['ort_gflop_s'], '8.1f')} | {fmt(r['ratio'], '9.2f')}")


def rates(ms, batch, gflop):
    if ms is None:
        return None, None
    items = batch * 1e3 / ms
    return items, items * gflop


def machine_description():
    import platform
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="vit_b16",
                        help=f"comma-separated, from {','.join(MODELS)} (default vit_b16)")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--vitrt", default="build/vitrt", help="path of the vitrt binary")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for both engines (default: the cores this process may use)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workdir", default="", help="keep exported models and plans here")
    parser.add_argument("--ort-only", action="store_true",
                        help="time ONNX Runtime only (no vitrt binary needed)")
    parser.add_argument("--json-out", default="", help="also write the rows as JSON here")
    args = parser.parse_args()

    names = [m for m in args.models.split(",") if m]
    for n in names:
        if n not in MODELS:
            parser.error(f"unknown model '{n}' (known: {', '.join(MODELS)})")
    batches = [int(b) for b in args.batches.split(",") if b]
    if not args.ort_only and not os.access(args.vitrt, os.X_OK):
        parser.error(f"vitrt binary '{args.vitrt}' not found or not executable "
                     "(build it, pass --vitrt PATH, or use --ort-only)")

    import onnxruntime as ort
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    workdir = args.workdir or tempfile.mkdtemp(prefix="vitrt_bench_")
    os.makedirs(workdir, exist_ok=True)
    print(f"machine: {machine_description()}; threads {args.threads}; onnxruntime "
          f"{ort.__version__}; torch {torch.__version__}; workdir {workdir}")

    rows = []
    errors = []
    try:
        for name in names:
            model = MODELS[name]
            onnx_path = os.path.join(workdir, f"{name}.onnx")
            plan_path = os.path.join(workdir, f"{name}.plan")
            if not os.path.exists(onnx_path):
                start = time.perf_counter()
                export(model, onnx_path)
                print(f"{name}: exported {model.description} in "
                      f"{time.perf_counter() - start:.0f} s")
            vitrt_ok = not args.ort_only
            if vitrt_ok:
                try:
                    start = time.perf_counter()
                    build_plan(args.vitrt, onnx_path, plan_path, args.threads)
                    print(f"{name}: built plan in {time.perf_counter() - start:.1f} s")
                except RuntimeError as e:
                    errors.append(f"{name}: {e}")
                    vitrt_ok = False
            for batch in batches:
                vitrt_ms = None
                if vitrt_ok:
                    try:
                        vitrt_ms = time_vitrt(args.vitrt, plan_path, batch, args.threads,
                                              args.warmup, args.iterations)
                    except (RuntimeError, ValueError, KeyError) as e:
                        errors.append(f"{name} batch {batch}: {e}")
                ort_ms = time_ort(onnx_path, model, batch, args.threads, args.warmup,
                                  args.iterations)
                v_items, v_gflop = rates(vitrt_ms, batch, model.gflop_per_item)
                o_items, o_gflop = rates(ort_ms, batch, model.gflop_per_item)
                rows.append({"model": name, "batch": batch, "gflop_per_item": model.gflop_per_item,
                             "vitrt_ms": vitrt_ms, "vitrt_items_s": v_items,
                             "vitrt_gflop_s": v_gflop, "ort_ms": ort_ms, "ort_items_s": o_items,
                             "ort_gflop_s": o_gflop,
                             "ratio": None if v_items is None else v_items / o_items})
                print(f"{name} batch {batch}: vitrt {fmt(vitrt_ms, '.2f')} ms, "
                      f"ORT {ort_ms:.2f} ms", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    print_table(rows, args.threads)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"threads": args.threads, "machine": machine_description(), "rows": rows},
                      f, indent=1)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
