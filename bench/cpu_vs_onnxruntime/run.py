#!/usr/bin/env python3
"""vitrt vs ONNX Runtime (and PyTorch) on CPU, side by side in one run.

Exports full-size models with random weights (the numbers do not depend on the weights) to a
work folder, builds vitrt plans (fp32 and bf16), runs ONNX Runtime's transformer optimizer on
each export, and times every engine at each batch size, each measurement in its own
subprocess so that its peak resident memory (ru_maxrss) is its own:

  vitrt fp32       `vitrt bench` on an fp32 plan
  vitrt bf16       `vitrt bench` on a plan built with --precision bf16 (n/a when refused)
  vitrt int8       `vitrt bench` on a plan built with --precision int8, calibrated (default method)
                   on two batches of 4 of the same random inputs the timings use: the
                   timing, not the accuracy, is what this row is for
  vitrt ORT-dynamic  `vitrt bench` on an fp32 plan of the model after ONNX Runtime's
                   quantize_dynamic (int8 weights): DynamicQuantizeLinear, MatMulInteger,
                   ConvInteger
  vitrt ORT-QDQ    `vitrt bench` on an fp32 plan of the model after ONNX Runtime's
                   quantize_static in QDQ format (its defaults: uint8 activations, int8
                   weights; calibrated on the int8 row's two batches): QuantizeLinear /
                   DequantizeLinear pairs around every quantized op
  vitrt ORT-FP8    the same with float8e4m3fn activations and weights (quantize_static on MatMul
                   and Gemm, Distribution calibration: ONNX Runtime's FP8 QDQ form)
  ORT fp32         ONNX Runtime CPU, ORT_ENABLE_ALL, on the exported model
  ORT dynamic      ONNX Runtime on that dynamically quantized model
  ORT QDQ          ONNX Runtime on that QDQ model
  ORT FP8          ONNX Runtime on that FP8 QDQ model
  ORT transformers the model after onnxruntime.transformers.optimizer (model_type vit/clip),
                   then ORT_ENABLE_ALL
  PyTorch eager    the same module in torch.inference_mode()

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
    def __init__(self, name, description, gflop_per_item, build, inputs, ort_type, heads, hidden):
        self.name = name
        self.description = description
        self.gflop_per_item = gflop_per_item
        self.build = build  # () -> (torch module, example args, input names, output names)
        self.inputs = inputs  # (batch, rng) -> {input name: array}
        self.ort_type = ort_type  # model_type for onnxruntime.transformers.optimizer
        self.heads = heads
        self.hidden = hidden


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


def build_convnext_tiny():
    import timm
    import torch
    model = timm.create_model("convnext_tiny", pretrained=False)
    return model, (torch.randn(1, 3, 224, 224),), ["pixel_values"], ["logits"]


def build_resnet50():
    import timm
    import torch
    model = timm.create_model("resnet50", pretrained=False)
    return model, (torch.randn(1, 3, 224, 224),), ["pixel_values"], ["logits"]


def build_timm(name):
    def build():
        import timm
        import torch
        model = timm.create_model(name, pretrained=False)
        return model, (torch.randn(1, 3, 224, 224),), ["pixel_values"], ["logits"]
    return build


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
    "vit_b16": Model("vit_b16", "timm vit_base_patch16_224", 35.1, build_vit_b16, image_inputs,
                     "vit", 12, 768),
    "clip_b32_vision": Model("clip_b32_vision", "HF CLIPVisionModelWithProjection (B/32)",
                             transformer_gflop(12, 50, 768, 3072, 49, 3 * 32 * 32),
                             build_clip_vision, image_inputs, "clip", 12, 768),
    "clip_text": Model("clip_text", "HF CLIPTextModelWithProjection (77 tokens)",
                       transformer_gflop(12, CLIP_TEXT_LEN, 512, 2048),
                       build_clip_text, text_inputs, "clip", 8, 512),
    # timm's 4.47 GMAC per image; no transformer optimizer type (a CNN: "ORT transformers" n/a).
    "convnext_tiny": Model("convnext_tiny", "timm convnext_tiny", 8.94, build_convnext_tiny,
                           image_inputs, None, 0, 0),
    # timm's 4.11 GMAC per image; a dense CNN.
    "resnet50": Model("resnet50", "timm resnet50", 8.22, build_resnet50, image_inputs, None, 0, 0),
    # Grouped convolutions (timm: 4.25 and 1.63 GMAC) and squeeze-and-excitation + SiLU (0.40).
    "resnext50": Model("resnext50", "timm resnext50_32x4d", 8.50, build_timm("resnext50_32x4d"),
                       image_inputs, None, 0, 0),
    "regnety_016": Model("regnety_016", "timm regnety_016", 3.26, build_timm("regnety_016"),
                         image_inputs, None, 0, 0),
    "efficientnet_b0": Model("efficientnet_b0", "timm efficientnet_b0", 0.80,
                             build_timm("efficientnet_b0"), image_inputs, None, 0, 0),
}

ENGINES = ["vitrt fp32", "vitrt bf16", "vitrt int8", "vitrt ORT-dynamic", "vitrt ORT-QDQ",
           "vitrt ORT-FP8", "ORT fp32", "ORT transformers", "ORT dynamic", "ORT QDQ", "ORT FP8",
           "PyTorch eager"]


def export(model, path):
    import torch
    torch.manual_seed(0)
    module, args, input_names, output_names = model.build()
    module.eval()
    dynamic_axes = {n: {0: "batch"} for n in input_names + output_names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, dynamo=False, opset_version=17,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, do_constant_folding=True)


def ort_transformer_optimize(model, onnx_path, out_path):
    """Runs onnxruntime.transformers.optimizer; returns {fused op: count} (only nonzero)."""
    from onnxruntime.transformers import optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = optimizer.optimize_model(onnx_path, model_type=model.ort_type,
                                             num_heads=model.heads, hidden_size=model.hidden,
                                             use_gpu=False)
    optimized.save_model_to_file(out_path, use_external_data_format=False)
    stats = optimized.get_fused_operator_statistics() or {}
    return {k: v for k, v in stats.items() if v}


# ---- workers: one measurement per process -----------------------------------------------------


def timed_runs(run_once, warmup, iterations):
    for _ in range(warmup):
        run_once()
    times_ms = []
    for _ in range(iterations):
        start = time.perf_counter()
        run_once()
        times_ms.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times_ms)


def worker_ort(args):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
    feeds = MODELS[args.model].inputs(args.batch, np.random.default_rng(0))
    return timed_runs(lambda: session.run(None, feeds), args.warmup, args.iterations)


def worker_torch(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    module = MODELS[args.model].build()[0].eval()
    feeds = MODELS[args.model].inputs(args.batch, np.random.default_rng(0))
    tensors = [torch.from_numpy(v) for v in feeds.values()]
    with torch.inference_mode():
        return timed_runs(lambda: module(*tensors), args.warmup, args.iterations)


def run_worker(args):
    fn = {"ort": worker_ort, "torch": worker_torch}[args.worker]
    median_ms = fn(args)
    print(json.dumps({"median_ms": median_ms}))
    return 0


# ---- measuring in subprocesses ----------------------------------------------------------------


def engine_env(threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def run_measured(cmd, threads):
    """Runs cmd, returns (returncode, stdout, stderr, peak RSS in MB of that process alone)."""
    launcher = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peak_rss.py")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        code = subprocess.call([sys.executable, launcher, rss.name] + cmd, stdout=out,
                               stderr=err, env=engine_env(threads))
        out.seek(0)
        err.seek(0)
        text = rss.read().strip()
        return code, out.read(), err.read(), int(text) / 1024.0 if text else None


def last_json(stdout):
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("printed nothing")
    return json.loads(lines[-1])


def calibration_folder(model, workdir):
    """Two calibration runs of 4 items each: one sub-folder per run with NAME.npy per input."""
    folder = os.path.join(workdir, f"{model.name}.calib")
    rng = np.random.default_rng(1)
    for run in range(2):
        os.makedirs(os.path.join(folder, str(run)), exist_ok=True)
        for input_name, array in model.inputs(4, rng).items():
            np.save(os.path.join(folder, str(run), f"{input_name}.npy"), array)
    return folder


def quantize_qdq(model, onnx_path, qdq_path, workdir, fp8=False):
    """ONNX Runtime's quantize_static, QDQ format, its default types (or float8e4m3fn on MatMul
    and Gemm), on the calibration batches of the int8 row."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    folder = calibration_folder(model, workdir)
    batches = []
    for run in sorted(os.listdir(folder)):
        run_dir = os.path.join(folder, run)
        batches.append({f[:-4]: np.load(os.path.join(run_dir, f))
                        for f in os.listdir(run_dir) if f.endswith(".npy")})

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(batches)

        def get_next(self):
            return next(self.it, None)

    if fp8:
        quantize_static(onnx_path, qdq_path, Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QFLOAT8E4M3FN,
                        weight_type=QuantType.QFLOAT8E4M3FN, op_types_to_quantize=["MatMul", "Gemm"],
                        calibrate_method=CalibrationMethod.Distribution)
    else:
        quantize_static(onnx_path, qdq_path, Reader(), quant_format=QuantFormat.QDQ)


def build_plan(vitrt, onnx_path, plan_path, precision, threads, extra_args=()):
    """Returns None on success, else the reason (first line of the builder's message)."""
    code, _, stderr, _ = run_measured(
        [vitrt, "build", onnx_path, "-o", plan_path, "--precision", precision, *extra_args],
        threads)
    if code == 0:
        return None
    return (stderr.strip().splitlines() or [f"exit {code}"])[-1]


def measure_vitrt(vitrt, plan_path, batch, args):
    cmd = [vitrt, "bench", plan_path, "--batch", str(batch), "--iterations", str(args.iterations),
           "--warmup", str(args.warmup), "--device", "cpu", "--json"]
    code, stdout, stderr, rss = run_measured(cmd, args.threads)
    if code != 0:
        raise RuntimeError(f"vitrt bench failed ({code}): {stderr.strip()}")
    return float(last_json(stdout)["median_ms"]), rss


def measure_python(worker, model, onnx_path, batch, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker, "--model", model,
           "--onnx", onnx_path or "", "--batch", str(batch), "--threads", str(args.threads),
           "--warmup", str(args.warmup), "--iterations", str(args.iterations)]
    code, stdout, stderr, rss = run_measured(cmd, args.threads)
    if code != 0:
        raise RuntimeError(f"{worker} worker failed ({code}): {stderr.strip()[-500:]}")
    return float(last_json(stdout)["median_ms"]), rss


# ---- report -----------------------------------------------------------------------------------


def fmt(value, spec):
    """Formats like `spec` ("9.2f"); "n/a" padded to the same width when value is None."""
    if value is not None:
        return format(value, spec)
    width = spec.split(".")[0]
    return format("n/a", f">{width}") if width else "n/a"


def print_table(rows, threads, notes):
    header = (f"{'model':<16} {'batch':>5}  {'engine':<17} {'ms':>9} {'items/s':>8} "
              f"{'GFLOP/s':>8} {'x ORT':>6} {'peak MB':>8}")
    print(f"\nCPU, {threads} threads, median latency per batch; x ORT = throughput / ORT fp32's; "
          "peak MB = ru_maxrss of the process that ran it (model load included)")
    print(header)
    print("-" * len(header))
    last = None
    for r in rows:
        if last is not None and (r["model"], r["batch"]) != last:
            print()
        last = (r["model"], r["batch"])
        print(f"{r['model']:<16} {r['batch']:>5}  {r['engine']:<17} {fmt(r['ms'], '9.2f')} "
              f"{fmt(r['items_s'], '8.1f')} {fmt(r['gflop_s'], '8.1f')} "
              f"{fmt(r['x_ort'], '6.2f')} {fmt(r['peak_mb'], '8.0f')}")
    for n in notes:
        print(n)


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
    parser.add_argument("--models", default="vit_b16,clip_b32_vision,clip_text",
                        help=f"comma-separated, from {','.join(MODELS)}")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--engines",
                        default=",".join(e for e in ENGINES
                                         if not any(t in e for t in ("dynamic", "QDQ", "FP8"))),
                        help=f"comma-separated, from: {', '.join(ENGINES)}")
    parser.add_argument("--vitrt", default="build/vitrt", help="path of the vitrt binary")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads for every engine (default: the cores this process may use)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--workdir", default="", help="keep exported models and plans here")
    parser.add_argument("--json-out", default="", help="also write the rows as JSON here")
    # Internal: one measurement in this process (the parent reads its peak memory).
    parser.add_argument("--worker", choices=["ort", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--onnx", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return run_worker(args)

    names = [m for m in args.models.split(",") if m]
    for n in names:
        if n not in MODELS:
            parser.error(f"unknown model '{n}' (known: {', '.join(MODELS)})")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ENGINES:
            parser.error(f"unknown engine '{e}' (known: {', '.join(ENGINES)})")
    batches = [int(b) for b in args.batches.split(",") if b]
    use_vitrt = any(e.startswith("vitrt") for e in engines)
    if use_vitrt and not os.access(args.vitrt, os.X_OK):
        parser.error(f"vitrt binary '{args.vitrt}' not found or not executable "
                     "(build it, pass --vitrt PATH, or leave the vitrt engines out)")

    import onnxruntime as ort
    import torch
    workdir = args.workdir or tempfile.mkdtemp(prefix="vitrt_bench_")
    os.makedirs(workdir, exist_ok=True)
    print(f"machine: {machine_description()}; threads {args.threads}; onnxruntime "
          f"{ort.__version__}; torch {torch.__version__}; warm-up {args.warmup}, "
          f"iterations {args.iterations}; workdir {workdir}", flush=True)

    rows, notes, errors = [], [], []
    try:
        for name in names:
            model = MODELS[name]
            onnx_path = os.path.join(workdir, f"{name}.onnx")
            if not os.path.exists(onnx_path):
                start = time.perf_counter()
                export(model, onnx_path)
                print(f"{name}: exported {model.description} in "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
            dynamic_path = None
            if "vitrt ORT-dynamic" in engines or "ORT dynamic" in engines:
                from onnxruntime.quantization import QuantType, quantize_dynamic
                dynamic_path = os.path.join(workdir, f"{name}.dynamic.onnx")
                if not os.path.exists(dynamic_path):
                    quantize_dynamic(onnx_path, dynamic_path, weight_type=QuantType.QInt8)
            qdq_path = None
            if "vitrt ORT-QDQ" in engines or "ORT QDQ" in engines:
                qdq_path = os.path.join(workdir, f"{name}.qdq.onnx")
                if not os.path.exists(qdq_path):
                    quantize_qdq(model, onnx_path, qdq_path, workdir)
            fp8_path = None
            if "vitrt ORT-FP8" in engines or "ORT FP8" in engines:
                fp8_path = os.path.join(workdir, f"{name}.fp8qdq.onnx")
                if not os.path.exists(fp8_path):
                    quantize_qdq(model, onnx_path, fp8_path, workdir, fp8=True)
            # The ONNX Runtime-quantized models, by the engine that runs each in ONNX Runtime
            # and the one that runs vitrt's fp32 plan of it.
            quantized = {"ORT dynamic": ("vitrt ORT-dynamic", dynamic_path, "dynamic"),
                         "ORT QDQ": ("vitrt ORT-QDQ", qdq_path, "qdq"),
                         "ORT FP8": ("vitrt ORT-FP8", fp8_path, "fp8qdq")}
            plans = {}
            for vitrt_engine, model_path, tag in quantized.values():
                if vitrt_engine not in engines:
                    continue
                plan_path = os.path.join(workdir, f"{name}.{tag}.plan")
                refused = build_plan(args.vitrt, model_path, plan_path, "fp32", args.threads)
                if refused is None:
                    plans[vitrt_engine] = plan_path
                else:
                    notes.append(f"{name} {vitrt_engine}: n/a, vitrt build refused: {refused}")
            for engine, precision in (("vitrt fp32", "fp32"), ("vitrt bf16", "bf16"),
                                      ("vitrt int8", "int8")):
                if engine not in engines:
                    continue
                plan_path = os.path.join(workdir, f"{name}.{precision}.plan")
                start = time.perf_counter()
                extra = (["--calib-data", calibration_folder(model, workdir)]
                         if precision == "int8" else [])
                refused = build_plan(args.vitrt, onnx_path, plan_path, precision, args.threads,
                                     extra)
                if refused is None:
                    plans[engine] = plan_path
                    print(f"{name}: built {precision} plan in {time.perf_counter() - start:.1f} s",
                          flush=True)
                else:
                    notes.append(f"{name} {engine}: n/a, vitrt build refused: {refused}")
                    if precision == "fp32":
                        errors.append(f"{name}: vitrt build failed: {refused}")
            ort_opt_path = None
            if "ORT transformers" in engines and model.ort_type is not None:
                ort_opt_path = os.path.join(workdir, f"{name}.ort_opt.onnx")
                fused = ort_transformer_optimize(model, onnx_path, ort_opt_path)
                summary = (", ".join(f"{k} {v}" for k, v in sorted(fused.items()))
                           if fused else "fused nothing")
                notes.append(f"{name} ORT transformers optimizer (model_type "
                             f"{model.ort_type}): {summary}")
                print(f"{name}: ORT transformer optimizer: {summary}", flush=True)

            for batch in batches:
                measured = {}
                for engine in engines:
                    try:
                        if engine.startswith("vitrt"):
                            if engine not in plans:
                                measured[engine] = (None, None)
                                continue
                            measured[engine] = measure_vitrt(args.vitrt, plans[engine], batch, args)
                        elif engine == "ORT fp32":
                            measured[engine] = measure_python("ort", name, onnx_path, batch, args)
                        elif engine in quantized:
                            measured[engine] = measure_python("ort", name, quantized[engine][1],
                                                              batch, args)
                        elif engine == "ORT transformers":
                            if ort_opt_path is None:
                                measured[engine] = (None, None)
                                continue
                            measured[engine] = measure_python("ort", name, ort_opt_path, batch,
                                                              args)
                        else:
                            measured[engine] = measure_python("torch", name, None, batch, args)
                    except (RuntimeError, ValueError, KeyError) as e:
                        errors.append(f"{name} batch {batch} {engine}: {e}")
                        measured[engine] = (None, None)
                    ms = measured[engine][0]
                    print(f"{name} batch {batch} {engine}: {fmt(ms, '.2f')} ms", flush=True)
                ort_ms = measured.get("ORT fp32", (None, None))[0]
                for engine in engines:
                    ms, rss = measured[engine]
                    items = None if ms is None else batch * 1e3 / ms
                    rows.append({
                        "model": name, "batch": batch, "engine": engine, "ms": ms,
                        "items_s": items,
                        "gflop_s": None if items is None else items * model.gflop_per_item,
                        "x_ort": None if ms is None or ort_ms is None else ort_ms / ms,
                        "peak_mb": rss, "gflop_per_item": model.gflop_per_item})
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    print_table(rows, args.threads, notes)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"threads": args.threads, "machine": machine_description(), "rows": rows,
                       "notes": notes}, f, indent=1)
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
