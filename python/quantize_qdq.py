#!/usr/bin/env python3
"""Quantizes an ONNX model with ONNX Runtime's quantize_static (QDQ format) for `vitrt build`.

vitrt imports QDQ graphs (src/passes/import_qdq.cc): every MatMul/Gemm between a QDQ-quantized
activation and int8 per-channel weights becomes vitrt.QuantLinear. This script makes such a
graph from an FP32 model and calibration data, so the int8 accuracy of a model can be measured
with `vitrt eval` against the FP32 model.

Calibration data: a folder with one NAME.npy per model input, each [items, ...] (the layout
`vitrt eval --data` reads), or --images with a preprocessor_config.json (HF ViTImageProcessor).

  python3 python/quantize_qdq.py MODEL.onnx OUT.onnx --data DIR [--items 64] [--batch 8]
      [--activations uint8|int8] [--op-types MatMul,Gemm]
"""

import argparse
import os

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)


class Reader(CalibrationDataReader):
    def __init__(self, arrays, items, batch):
        self.batches = iter([{name: a[i:i + batch] for name, a in arrays.items()}
                             for i in range(0, items, batch)])

    def get_next(self):
        return next(self.batches, None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("output")
    parser.add_argument("--data", required=True, help="folder of NAME.npy, one per input")
    parser.add_argument("--items", type=int, default=64, help="calibration items (the first N)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--activations", choices=("uint8", "int8"), default="uint8",
                        help="uint8: ORT's default asymmetric; int8: symmetric")
    parser.add_argument("--op-types", default="MatMul,Gemm",
                        help="ops to quantize (ORT's op_types_to_quantize)")
    args = parser.parse_args()

    inputs = [i.name for i in onnx.load(args.model, load_external_data=False).graph.input]
    arrays = {name: np.load(os.path.join(args.data, f"{name}.npy")) for name in inputs}
    items = min(args.items, min(len(a) for a in arrays.values()))
    symmetric = args.activations == "int8"
    quantize_static(args.model, args.output, Reader(arrays, items, args.batch),
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True,
                    op_types_to_quantize=args.op_types.split(","),
                    extra_options={"ActivationSymmetric": symmetric})
    print(f"wrote {args.output} ({args.activations} activations, {items} calibration items)")


if __name__ == "__main__":
    main()
