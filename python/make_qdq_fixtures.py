#!/usr/bin/env python3
"""Makes the QDQ test models: small MLPs quantized by ONNX Runtime's quantize_static (QDQ format).

Quantization tools hand vitrt graphs with QuantizeLinear -> DequantizeLinear on activations and
DequantizeLinear on int8 weights (per channel) in front of MatMul/Gemm. These fixtures are what
ONNX Runtime's quantize_static writes, in its two activation flavours:

  uint8  default: uint8 activations with a zero point (asymmetric), int8 per-channel weights
  int8   activation_type=QInt8, ActivationSymmetric: int8 symmetric activations

for two layouts: 'matmul' ([batch, 8, 32] input: MatMul + bias Add, as transformers export)
and 'gemm' ([batch, 32] input: Gemm). Each OUT/<layout>_<flavour>/ holds model.onnx, input.npy,
and expected.npy: ONNX Runtime's output with graph optimizations off, i.e. the QDQ ops
computed one by one in float (the fake-quant math vitrt must reproduce).

Run from the repository root:
  python3 python/make_qdq_fixtures.py [--out tests/data/qdq]
"""

import argparse
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

SEED = 0


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(32, 64)
        self.fc2 = torch.nn.Linear(64, 16)

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


class Reader(CalibrationDataReader):
    def __init__(self, name, batches):
        self.items = iter([{name: b} for b in batches])

    def get_next(self):
        return next(self.items, None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/data/qdq")
    args = parser.parse_args()
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    model = Mlp().eval()
    for layout, shape in (("matmul", (8, 32)), ("gemm", (32,))):
        fp32_path = os.path.join("/tmp", f"qdq_{layout}_fp32.onnx")
        torch.onnx.export(model, (torch.randn(2, *shape),), fp32_path, dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        calib = [rng.standard_normal((4, *shape)).astype(np.float32) for _ in range(4)]
        x = rng.standard_normal((3, *shape)).astype(np.float32)
        for flavour, activation_type, extra in (
                ("uint8", QuantType.QUInt8, {}),
                ("int8", QuantType.QInt8, {"ActivationSymmetric": True})):
            out = os.path.join(args.out, f"{layout}_{flavour}")
            os.makedirs(out, exist_ok=True)
            path = os.path.join(out, "model.onnx")
            quantize_static(fp32_path, path, Reader("x", calib), quant_format=QuantFormat.QDQ,
                            activation_type=activation_type, weight_type=QuantType.QInt8,
                            per_channel=True, extra_options=extra)
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            expected = session.run(None, {"x": x})[0]
            np.save(os.path.join(out, "input.npy"), x)
            np.save(os.path.join(out, "expected.npy"), expected)
            ops = {}
            for n in onnx.load(path).graph.node:
                ops[n.op_type] = ops.get(n.op_type, 0) + 1
            print(f"{out}: {ops}")


if __name__ == "__main__":
    main()
