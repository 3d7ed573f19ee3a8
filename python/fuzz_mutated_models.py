#!/usr/bin/env python3
"""Semantic mutation fuzzing of `vitrt build` and `vitrt bench`: valid protobufs, wrong graphs.

Takes exported models (default: the golden fixtures), applies one random mutation to each copy
(attribute values, input shapes and dtypes, rewired or dropped nodes, initializer dims and
dtypes, extreme values in int64 constants such as Reshape targets and Slice bounds, op types,
output names), then runs `vitrt build` and, when it builds, `vitrt bench --batch 2` on random
inputs. Exit status 0, 1 or 2 with a message is the expected outcome for a broken model; a
signal (a crash) or a timeout is a bug, and the mutant is kept under --work for replay.

  python3 python/fuzz_mutated_models.py [--seed 1] [--count 300] [--kinds int_const,attr]
      [--models 'tests/golden/*/model.onnx'] [--vitrt build/vitrt] [--work /tmp/vitrt_mutants]
      [--precision fp32|fp16|bf16|int8|fp8] [--device cpu|cuda]

With --precision int8 or fp8 the builds quantize, calibrated on one random run of the mutant's
declared inputs: calibration, layer selection and the quantized rewrites see the broken graphs.
With --device cuda the builds make CUDA plans (the passes that only CUDA builds run, and the
check that every node has a CUDA kernel, see the mutants); they are run only where a GPU is (a
build on a machine without one still exercises everything but the tactic timing).

`ctest -R mutation_fuzz` (so CI) runs 300 mutants of the golden fixtures with seed 1, 100 int8
ones with seed 2 and, where nvcc built the CUDA backend, 200 fp16 CUDA builds with seed 3;
longer runs with other seeds are for hunting.

Session 25 found three crashes this way in 4,400 mutants of the golden fixtures and the sweep's
exports (a NaN / out-of-range Range count, an Expand whose element count overflowed int64, a
Linear sliced to N = 0 inside oneDNN), all fixed.
"""
import argparse
import glob
import os
import random
import shutil
import subprocess

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper


def rand_int_attr(rng):
    return rng.choice([-3, -1, 0, 1, 2, 3, 7, 1 << 31, -(1 << 40)])


KINDS = ["attr", "attr", "input_shape", "input_dtype", "node_input", "node_input", "drop_node",
         "init_dims", "init_dtype", "op_type", "output_rename", "swap_inputs"]


def mutate(model, rng):
    g = model.graph
    kind = rng.choice(KINDS)
    nodes = list(g.node)
    if kind == "int_const":
        # An int64 constant (a Reshape target, Slice bounds, Gather indices, axes) gets extreme
        # or off-by-one values.
        cands = [t for t in g.initializer if t.data_type in (TensorProto.INT64, TensorProto.INT32)]
        consts = [n for n in nodes if n.op_type == "Constant"]
        if cands and (not consts or rng.random() < 0.5):
            t = rng.choice(cands)
            arr = numpy_helper.to_array(t).copy()
            if arr.size:
                flat = arr.reshape(-1)
                flat[rng.randrange(flat.size)] = rng.choice(
                    [-1, 0, 1, 2, -2, 7, 2**31 - 1, -(2**31), 2**62, -(2**62)]
                    if arr.dtype == np.int64 else [-1, 0, 1, 2, -2, 7, 2**31 - 1, -(2**31)])
                t.CopyFrom(numpy_helper.from_array(arr, t.name))
            return f"int_const {t.name}"
        if consts:
            n = rng.choice(consts)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.INT64:
                    arr = numpy_helper.to_array(a.t).copy()
                    if arr.size:
                        flat = arr.reshape(-1)
                        flat[rng.randrange(flat.size)] = rng.choice([-1, 0, 3, 2**62, -(2**62)])
                        a.t.CopyFrom(numpy_helper.from_array(arr))
            return f"int_const Constant {n.name}"
        return "none"
    if kind == "attr":
        cands = [n for n in nodes if n.attribute]
        if not cands:
            return "none"
        n = rng.choice(cands)
        a = rng.choice(list(n.attribute))
        if a.type == onnx.AttributeProto.INT:
            a.i = rand_int_attr(rng)
        elif a.type == onnx.AttributeProto.INTS:
            if a.ints and rng.random() < 0.5:
                a.ints[rng.randrange(len(a.ints))] = rand_int_attr(rng)
            else:
                del a.ints[:]
                a.ints.extend([rand_int_attr(rng) for _ in range(rng.randrange(0, 6))])
        elif a.type == onnx.AttributeProto.FLOAT:
            a.f = rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e30])
        elif a.type == onnx.AttributeProto.STRING:
            a.s = rng.choice([b"", b"bogus", b"SAME_UPPER", b"VALID", b"linear"])
        elif a.type == onnx.AttributeProto.TENSOR:
            shape = [rng.randrange(0, 3)] * rng.randrange(0, 3)
            a.t.CopyFrom(numpy_helper.from_array(np.zeros(shape, np.float32)))
        return f"attr {n.op_type}.{a.name}"
    if kind == "input_shape":
        i = rng.choice(list(g.input))
        dims = i.type.tensor_type.shape.dim
        if dims:
            d = dims[rng.randrange(len(dims))]
            d.dim_value = rng.choice([0, 1, 2, 5, 1000])
        return f"input_shape {i.name}"
    if kind == "input_dtype":
        i = rng.choice(list(g.input))
        i.type.tensor_type.elem_type = rng.choice([TensorProto.INT64, TensorProto.UINT8,
                                                    TensorProto.DOUBLE, TensorProto.BOOL,
                                                    TensorProto.FLOAT16, TensorProto.STRING])
        return f"input_dtype {i.name}"
    if kind == "node_input":
        n = rng.choice(nodes)
        if not n.input:
            return "none"
        k = rng.randrange(len(n.input))
        pool = [x for m in nodes for x in m.output] + [x.name for x in g.initializer] + [""]
        n.input[k] = rng.choice(pool)
        return f"node_input {n.op_type}[{k}]"
    if kind == "drop_node":
        n = rng.choice(nodes)
        g.node.remove(n)
        return f"drop_node {n.op_type}"
    if kind == "init_dims":
        if not g.initializer:
            return "none"
        t = rng.choice(list(g.initializer))
        arr = numpy_helper.to_array(t)
        if arr.size == 0:
            return "none"
        flat = arr.reshape(-1)
        cut = flat[: rng.randrange(0, flat.size)]
        newshape = [cut.size] if rng.random() < 0.5 else [1, cut.size]
        nt = numpy_helper.from_array(cut.reshape(newshape), t.name)
        t.CopyFrom(nt)
        return f"init_dims {t.name}"
    if kind == "init_dtype":
        if not g.initializer:
            return "none"
        t = rng.choice(list(g.initializer))
        t.data_type = rng.choice([TensorProto.INT64, TensorProto.FLOAT16, TensorProto.INT8,
                                  TensorProto.DOUBLE, TensorProto.BOOL])
        return f"init_dtype {t.name}"
    if kind == "op_type":
        n = rng.choice(nodes)
        n.op_type = rng.choice(["Reshape", "Transpose", "MatMul", "Softmax", "Conv", "Gather",
                                "Slice", "Concat", "LayerNormalization", "Expand", "Split"])
        return f"op_type -> {n.op_type}"
    if kind == "output_rename":
        o = rng.choice(list(g.output))
        o.name = rng.choice(["nonexistent", g.input[0].name])
        return "output_rename"
    if kind == "swap_inputs":
        n = rng.choice([m for m in nodes if len(m.input) >= 2] or nodes)
        if len(n.input) >= 2:
            a, b = rng.sample(range(len(n.input)), 2)
            n.input[a], n.input[b] = n.input[b], n.input[a]
        return f"swap_inputs {n.op_type}"
    return "none"


NP_TYPES = {TensorProto.FLOAT: np.float32, TensorProto.INT64: np.int64,
            TensorProto.INT32: np.int32, TensorProto.FLOAT16: np.float16,
            TensorProto.DOUBLE: np.float64, TensorProto.BOOL: np.bool_}


def write_calibration(model, folder, rng):
    """One calibration run for a quantized build: a NAME.npy per graph input, its declared
    dims (a symbolic dim 2, at most 512), values in [-1, 1) or small integers. Inputs of types
    numpy cannot hold are left out: the build then says which is missing."""
    run_dir = os.path.join(folder, "run0")
    os.makedirs(run_dir, exist_ok=True)
    inits = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        if inp.name in inits or not inp.type.HasField("tensor_type"):
            continue
        tt = inp.type.tensor_type
        dtype = NP_TYPES.get(tt.elem_type)
        if dtype is None:
            continue
        dims = [min(d.dim_value, 512) if d.HasField("dim_value") else 2 for d in tt.shape.dim]
        if np.issubdtype(dtype, np.floating):
            arr = (np.random.default_rng(rng.randrange(1 << 30)).random(dims) * 2 - 1).astype(dtype)
        else:
            arr = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 4, dims).astype(dtype)
        if arr.nbytes > (64 << 20):
            continue
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in inp.name)
        np.save(os.path.join(run_dir, f"{name}.npy"), arr)


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, (p.stdout + p.stderr)[-600:]
    except subprocess.TimeoutExpired:
        return "timeout", ""


def main():
    global KINDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--kinds", default="", help="mutation kinds, comma-separated: " +
                        ",".join(sorted(set(KINDS + ["int_const"]))))
    parser.add_argument("--models", default="tests/golden/*/model.onnx",
                        help="glob of the models to mutate")
    parser.add_argument("--vitrt", default="build/vitrt")
    parser.add_argument("--work", default="/tmp/vitrt_mutants")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per step")
    parser.add_argument("--precision", default="fp32",
                        help="fp32 (default), or int8 / fp8: quantized builds, calibrated on "
                        "one random run of the mutant's declared inputs; fp16 / bf16 for "
                        "--device cuda")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    has_gpu = args.device == "cuda" and shutil.which("nvidia-smi") is not None and \
        subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    if args.kinds:
        KINDS = args.kinds.split(",")
    os.makedirs(args.work, exist_ok=True)
    models = [m for m in sorted(glob.glob(args.models)) if os.path.getsize(m) < 3_000_000]
    if not models:
        raise SystemExit(f"no models match {args.models}")
    rng = random.Random(args.seed)
    bad = 0
    stats = {}
    for it in range(args.count):
        src = rng.choice(models)
        m = onnx.load(src)
        what = mutate(m, rng)
        path = os.path.join(args.work, f"m{args.seed}_{it}.onnx")
        onnx.save(m, path)
        plan = path + ".plan"
        build = [args.vitrt, "build", path, "-o", plan, "--device", args.device]
        if args.precision in ("fp16", "bf16"):
            build += ["--precision", args.precision]
        elif args.precision != "fp32":
            calib = path + ".calib"
            write_calibration(m, calib, rng)
            build += ["--precision", args.precision, "--calib-data", calib]
        rc, text = run(build, args.timeout)
        stage = "build"
        if rc == 0 and (args.device == "cpu" or has_gpu):
            stage = "run"
            rc, text = run([args.vitrt, "bench", plan, "--batch", "2", "--iterations", "1",
                            "--warmup", "0", "--device", args.device], args.timeout)
        ok = rc in (0, 1, 2)
        key = f"{stage} exit {rc}" if ok else f"{stage} CRASH"
        stats[key] = stats.get(key, 0) + 1
        if not ok:
            bad += 1
            print(f"BUG {stage} rc={rc} {src} ({what}) -> {path}\n   {text[-300:]}", flush=True)
        else:
            os.remove(path)
            if os.path.isdir(path + ".calib"):
                shutil.rmtree(path + ".calib")
        if os.path.exists(plan):
            os.remove(plan)
    print(f"seed {args.seed}: {args.count} mutants, {bad} crashes/hangs; "
          + ", ".join(f"{k}: {v}" for k, v in sorted(stats.items())))
    raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
