#!/usr/bin/env python3
"""Quantized plans against an independent reference (ctest quant_reference).

For golden fixtures of several architectures and both exporters, and for int8 and fp8:

  1. `vitrt build --precision P --calib-data <the fixture's inputs> --verbose`;
  2. python/quant_reference.py writes the logged quantization decisions into the FP32 ONNX model
     as float ops (fake quantization of each quantized layer's input and weights), and ONNX
     Runtime runs that: what the plan should compute, up to summation order;
  3. `vitrt run` on the fixture's inputs.

The plan must match the reference (cosine >= 0.9999, max error <= 1% of the output's scale) and be
much closer to it than to the FP32 model (so the quantization is really there and really the one
logged). The kernels, the graph rewrites around them (codes kept between layers, rows picked
early, packed and split projections) and the use of the calibrated scales are all inside that.

  tests/quant/quant_reference_test.py VITRT SOURCE_DIR
"""

import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

FIXTURES = [
    "hf_vit_sdpa_ts17",
    "hf_vit_eager_dynamo",
    "timm_vit_tiny_ts17",
    "timm_deit_tiny_distilled_dynamo",
    "hf_clip_vision_sdpa_dynamo",
    "hf_clip_text_sdpa_ts17",
    "hf_dinov2_sdpa_dynamo",
    "timm_swin_dynamo",
    "timm_eva02_tiny_ts17",
    "timm_vit_hybrid_stdconv_ts17",
    "timm_convnext_ts17",
    "timm_resnet_dynamo",
    "timm_recurrent_ts17",
]
MIN_COSINE = 0.9999
MAX_ERROR = 0.01  # of the reference output's max |value|


def cosine(a, b):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def rel_err(got, ref):
    return float(np.abs(got.astype(np.float64) - ref).max() / max(np.abs(ref).max(), 1e-30))


def case_inputs(case_dir):
    return {os.path.basename(f)[len("input."):-len(".npy")]: np.load(f)
            for f in sorted(glob.glob(os.path.join(case_dir, "input.*.npy")))}


def check(vitrt, source, fixture, precision, work, quant_reference):
    fdir = os.path.join(source, "tests/golden", fixture)
    cases = sorted(d for d in glob.glob(os.path.join(fdir, "case*")) if os.path.isdir(d))
    calib = os.path.join(work, "calib")
    for i, case in enumerate(cases):
        os.makedirs(os.path.join(calib, f"run{i}"), exist_ok=True)
        for name, arr in case_inputs(case).items():
            np.save(os.path.join(calib, f"run{i}", f"{name}.npy"), arr)
    plan = os.path.join(work, "m.plan")
    model_path = os.path.join(fdir, "model.onnx")
    build = subprocess.run([vitrt, "build", model_path, "-o", plan, "--precision", precision,
                            "--calib-data", calib, "--verbose"], capture_output=True, text=True)
    if build.returncode != 0:
        return [f"build failed: {build.stdout[-500:]}{build.stderr[-500:]}"]
    log = build.stdout + build.stderr
    model = onnx.load(model_path)
    layers = quant_reference.rewrite(model, log)
    if layers == 0:
        return ["the build log names no quantized layer"]
    so = ort.SessionOptions()
    so.log_severity_level = 3
    reference = ort.InferenceSession(model.SerializeToString(), so,
                                     providers=["CPUExecutionProvider"])
    fp32 = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in reference.get_outputs()]
    errors = []
    for case in cases:
        inputs = case_inputs(case)
        out_dir = os.path.join(work, "out_" + os.path.basename(case))
        args = [vitrt, "run", plan, "--output-dir", out_dir]
        for name in inputs:
            args += ["--input", f"{name}={os.path.join(case, 'input.' + name + '.npy')}"]
        run = subprocess.run(args, capture_output=True, text=True)
        if run.returncode != 0:
            return [f"{os.path.basename(case)}: run failed: {run.stderr[-500:]}"]
        refs = reference.run(None, inputs)
        floats = fp32.run(None, inputs)
        for name, ref, flt in zip(names, refs, floats):
            path = os.path.join(out_dir, name.replace("/", "_") + ".npy")
            if not os.path.exists(path):
                found = [f for f in glob.glob(os.path.join(out_dir, "*.npy"))
                         if os.path.basename(f).startswith(name.replace("/", "_"))]
                if len(found) != 1:
                    return [f"{os.path.basename(case)}: no output file for '{name}'"]
                path = found[0]
            got = np.load(path)
            where = f"{os.path.basename(case)} '{name}'"
            if got.shape != ref.shape:
                errors.append(f"{where}: shape {got.shape}, the reference's {ref.shape}")
                continue
            c, e = cosine(got, ref), rel_err(got, ref)
            e_fp32 = rel_err(got, flt)
            print(f"  {fixture} {precision} {where}: {layers} layers, cosine {c:.7f}, error "
                  f"{e:.1e} of scale (against FP32: {e_fp32:.1e})")
            if c < MIN_COSINE or e > MAX_ERROR:
                errors.append(f"{where}: cosine {c:.7f}, error {e:.1e} of scale")
            if not e < 0.5 * e_fp32:
                errors.append(f"{where}: as far from the reference ({e:.1e}) as from FP32 "
                              f"({e_fp32:.1e}): the quantization is not the one logged")
    return errors


def main():
    vitrt, source = sys.argv[1], sys.argv[2]
    sys.path.insert(0, os.path.join(source, "python"))
    import quant_reference

    failures = []
    for fixture in FIXTURES:
        for precision in ("int8", "fp8"):
            with tempfile.TemporaryDirectory() as work:
                errors = check(vitrt, source, fixture, precision, work, quant_reference)
            failures += [f"{fixture} {precision}: {e}" for e in errors]
    for f in failures:
        print("FAIL " + f)
    print(f"{len(FIXTURES) * 2 - len({f.split(':')[0] for f in failures})} of "
          f"{len(FIXTURES) * 2} fixture x precision pairs match the reference")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
