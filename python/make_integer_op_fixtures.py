#!/usr/bin/env python3
"""Makes the integer-op test models: what ONNX Runtime's quantizers write without QDQ pairs.

  vit_dynamic_s8   a tiny timm ViT (TorchScript export, opset 17) through quantize_dynamic
                   with int8 weights: DynamicQuantizeLinear -> MatMulInteger / ConvInteger
                   -> Cast -> Mul by the scales (the recipe HF Optimum and ORT's docs give for
                   transformers on CPUs)
  vit_dynamic_u8   the same with uint8 weights
  cnn_qoperator    a small CNN through quantize_static in QOperator format: QuantizeLinear,
                   QLinearConv (per-channel int8 weights, int32 bias), QLinearMatMul,
                   DequantizeLinear
  vit_qoperator    a tiny timm ViT the same way: com.microsoft QLinearAdd, QLinearMul,
                   QLinearSoftmax, QLinearConcat, QGemm beside QLinearMatMul
  cnn_qoperator_contrib
                   a CNN with a squeeze-and-excite gate, leaky ReLU, average pooling and a
                   concat the same way: QLinearSigmoid, QLinearLeakyRelu, QLinearMul,
                   QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat, QGemm

Each OUT/<name>/ holds model.onnx, input.npy and expected.npy: ONNX Runtime's CPU output
(integer products are exact there and in vitrt, so the two agree to float rounding), and
float_expected.npy, the float model's output, to show how far quantization moved it.

Run from the repository root:
  python3 python/make_integer_op_fixtures.py [--out tests/data/integer_ops]
"""

import argparse
import collections
import os

import numpy as np
import onnx
import onnxruntime as ort
import timm
import torch
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)

SEED = 0


class SmallCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2)
        self.fc = torch.nn.Parameter(torch.randn(16 * 8 * 8, 10) * 0.02)

    def forward(self, x):
        y = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return torch.matmul(y.reshape(y.shape[0], -1), self.fc)


class SqueezeExciteCnn(torch.nn.Module):
    """What com.microsoft's QLinear ops cover in CNNs: a squeeze-and-excite gate (global average
    pool, sigmoid, mul), leaky ReLU, average pooling, a channel concat and a Linear head."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.gate = torch.nn.Conv2d(8, 8, 1)
        self.head = torch.nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        y = torch.nn.functional.leaky_relu(self.conv1(x), 0.1)
        z = self.conv2(y)
        z = z * torch.sigmoid(self.gate(torch.nn.functional.adaptive_avg_pool2d(z, 1)))
        y = torch.nn.functional.avg_pool2d(torch.cat([y, z], dim=1), 4)
        return self.head(y.flatten(1))


class Reader(CalibrationDataReader):
    def __init__(self, batches):
        self.batches = iter(batches)

    def get_next(self):
        x = next(self.batches, None)
        return None if x is None else {"x": x}


def export(model, x, path):
    torch.onnx.export(model, torch.from_numpy(x), path, opset_version=17, dynamo=False,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}})


def write_case(out, name, path, x, float_path):
    case = os.path.join(out, name)
    os.makedirs(case, exist_ok=True)
    os.replace(path, os.path.join(case, "model.onnx"))
    options = ort.SessionOptions()
    session = ort.InferenceSession(os.path.join(case, "model.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x})[0]
    float_out = ort.InferenceSession(float_path, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    np.save(os.path.join(case, "input.npy"), x)
    np.save(os.path.join(case, "expected.npy"), expected)
    np.save(os.path.join(case, "float_expected.npy"), float_out)
    ops = collections.Counter(n.op_type for n in onnx.load(os.path.join(case, "model.onnx")).graph.node)
    print(f"{name}: {dict(ops)}; |quantized - float| max {np.abs(expected - float_out).max():.3g}"
          f" of scale {np.abs(float_out).max():.3g}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="tests/data/integer_ops")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    torch.manual_seed(SEED)

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8,
                            depth=2, embed_dim=64, num_heads=2, num_classes=10).eval()
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    float_path = os.path.join(args.out, "vit_float.onnx")
    export(vit, x, float_path)
    for name, weight_type in (("vit_dynamic_s8", QuantType.QInt8),
                              ("vit_dynamic_u8", QuantType.QUInt8)):
        path = os.path.join(args.out, name + ".onnx")
        quantize_dynamic(float_path, path, weight_type=weight_type)
        write_case(args.out, name, path, x, float_path)
    os.remove(float_path)

    cnn = SmallCnn().eval()
    x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    float_path = os.path.join(args.out, "cnn_float.onnx")
    export(cnn, x, float_path)
    path = os.path.join(args.out, "cnn_qoperator.onnx")
    calibration = [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(8)]
    quantize_static(float_path, path, Reader(calibration), quant_format=QuantFormat.QOperator,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    write_case(args.out, "cnn_qoperator", path, x, float_path)
    os.remove(float_path)

    # QOperator models beyond ONNX's own QLinearConv / QLinearMatMul: com.microsoft's QLinearAdd,
    # QLinearMul, QLinearSoftmax, QLinearConcat and QGemm (the ViT), QLinearSigmoid,
    # QLinearLeakyRelu, QLinearGlobalAveragePool and QLinearAveragePool (the CNN).
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8,
                            depth=2, embed_dim=64, num_heads=2, num_classes=10).eval()
    cnn = SqueezeExciteCnn().eval()
    for name, model, shape in (("vit_qoperator", vit, (2, 3, 32, 32)),
                               ("cnn_qoperator_contrib", cnn, (2, 3, 16, 16))):
        x = rng.standard_normal(shape).astype(np.float32)
        float_path = os.path.join(args.out, name + "_float.onnx")
        export(model, x, float_path)
        path = os.path.join(args.out, name + ".onnx")
        calibration = [rng.standard_normal((1,) + shape[1:]).astype(np.float32) for _ in range(8)]
        quantize_static(float_path, path, Reader(calibration), quant_format=QuantFormat.QOperator,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        write_case(args.out, name, path, x, float_path)
        os.remove(float_path)


if __name__ == "__main__":
    main()
