"""Carries a quantized ONNX model made on a CPU machine (NVIDIA ModelOpt does not install on the
GPU machine, which has no network) to the GPU machine within the device tool's 64 MiB: `strip`
empties every large float initializer (weights, position embeddings) and keeps its shape; `refill`
fills them there with normal(0, 0.02) values, as timm initializes ViT weights. Scales, zero
points, biases and LayerNorm parameters stay as the quantizer wrote them, so the graph, its Q/DQ
placement and its per-channel scales are the quantizer's; only the weights' values are random.
For speed measurements, not accuracy.

  python3 carry_weights.py strip IN.onnx OUT.onnx [--min-bytes 262144]
  python3 carry_weights.py refill IN.onnx OUT.onnx
"""
import argparse

import numpy as np
import onnx
from onnx import numpy_helper

TAG = "vitrt-carry-weights:stripped"
FLOATS = {onnx.TensorProto.FLOAT: np.float32, onnx.TensorProto.FLOAT16: np.float16}


def strip(model, min_bytes):
    count = 0
    for t in model.graph.initializer:
        if t.data_type not in FLOATS:
            continue
        size = int(np.prod(t.dims)) * np.dtype(FLOATS[t.data_type]).itemsize
        if size < min_bytes:
            continue
        t.ClearField("raw_data")
        t.ClearField("float_data")
        t.ClearField("int32_data")
        t.doc_string = TAG
        count += 1
    return count


def refill(model):
    rng = np.random.default_rng(0)
    count = 0
    for t in model.graph.initializer:
        if t.doc_string != TAG:
            continue
        values = (rng.standard_normal(tuple(t.dims)) * 0.02).astype(FLOATS[t.data_type])
        filled = numpy_helper.from_array(values, t.name)
        t.CopyFrom(filled)
        count += 1
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["strip", "refill"])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--min-bytes", type=int, default=1 << 18)
    args = parser.parse_args()
    model = onnx.load(args.src)
    n = strip(model, args.min_bytes) if args.mode == "strip" else refill(model)
    onnx.save(model, args.dst)
    print(f"{args.mode}: {n} initializers -> {args.dst}")


if __name__ == "__main__":
    main()
