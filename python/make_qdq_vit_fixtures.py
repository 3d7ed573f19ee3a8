#!/usr/bin/env python3
"""Makes the quantized ViT test models: a small timm ViT through two quantizers' QDQ output.

vitrt imports QDQ models from the tools users quantize with; these fixtures are what those
tools write for a whole vision transformer, attention included:

  vit_ort_uint8     ONNX Runtime's quantize_static, QDQ format, its defaults (uint8 activations
                    with zero points, int8 per-tensor weights): Q/DQ pairs after nearly every
                    op, the Reshape/Transpose/Split of the heads, q k^T and the softmax included
  vit_ort_fp8       quantize_static with float8e4m3fn activations and weights (opset 19; the
                    Distribution calibration its float types need) on MatMul and Gemm only:
                    the attention products quantized on both sides, weights stored as
                    float8e4m3fn initializers
  vit_modelopt_int8 NVIDIA ModelOpt's ONNX INT8 quantization (modelopt.onnx.quantization,
                    for TensorRT): Q/DQ on the inputs of every MatMul, the attention ones
                    included (q, k, v and the probabilities), and the residual adds; the rest
                    of the graph stays fp32 here (high_precision_dtype="fp32"; ModelOpt's
                    default fp16 would make ONNX Runtime's reference round every op to fp16,
                    where vitrt computes an fp16 model in fp32, and the two would part at
                    every quantization step that rounding crosses)

  dinov2_modelopt_fp8  (--modelopt --arch dinov2 --mode fp8) ModelOpt's FP8 quantization of a
                    small HF DINOv2 (LayerScale on both residual branches: a Mul between each
                    branch and its residual Add) exported by dynamo at opset 18, batch 2 static

Each OUT/<name>/ holds model.onnx, input.npy and expected.npy: ONNX Runtime's output with graph
optimizations off, i.e. the Q/DQ ops computed one by one in float (the fake-quant math vitrt
must reproduce). The model: timm VisionTransformer, 32x32 images, 8x8 patches (17 tokens), width
64, 4 heads, 2 blocks, 10 classes, random weights with seed 0, TorchScript export at opset 17;
calibration on 8 random images.

ModelOpt needs its own environment (`pip install "nvidia-modelopt[onnx]"` pins an older onnx
and onnxruntime-gpu); the ModelOpt fixtures are made only with --modelopt, from that
environment (ModelOpt 0.47 made the checked-in ones):
  python3 python/make_qdq_vit_fixtures.py [--out tests/data/qdq]
  /path/to/modelopt-venv/bin/python python/make_qdq_vit_fixtures.py --modelopt [--mode fp8]
"""

import argparse
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import torch

SEED = 0


def export_vit(path):
    import timm
    torch.manual_seed(SEED)
    model = timm.create_model("vit_base_patch16_224", pretrained=False, img_size=32, patch_size=8,
                              embed_dim=64, depth=2, num_heads=4, num_classes=10).eval()
    # Larger-than-initial weights, so that activations use the 8-bit range the way a trained
    # model's do (timm's init leaves biases 0 and attention nearly uniform).
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    with torch.no_grad():
        torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), path, dynamo=False,
                          opset_version=17, input_names=["pixel_values"],
                          output_names=["logits"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}})


def export_dinov2(path):
    import transformers
    torch.manual_seed(SEED)
    config = transformers.Dinov2Config(image_size=32, patch_size=8, hidden_size=64,
                                       num_hidden_layers=2, num_attention_heads=4,
                                       intermediate_size=128)
    model = transformers.Dinov2Model(config).eval()
    with torch.no_grad():
        torch.onnx.export(model, (torch.randn(2, 3, 32, 32),), path, dynamo=True,
                          opset_version=18, input_names=["pixel_values"])


def write_case(out_dir, path, x):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    expected = session.run(None, {"pixel_values": x})[0]
    np.save(os.path.join(out_dir, "input.npy"), x)
    np.save(os.path.join(out_dir, "expected.npy"), expected)
    ops = {}
    for n in onnx.load(path).graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    print(f"{out_dir}: {os.path.getsize(path)} bytes, {ops}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/data/qdq")
    parser.add_argument("--modelopt", action="store_true",
                        help="make vit_modelopt_MODE (needs nvidia-modelopt[onnx])")
    parser.add_argument("--mode", choices=["int8", "fp8"], default="int8",
                        help="ModelOpt's quantize_mode (with --modelopt)")
    parser.add_argument("--arch", choices=["vit", "dinov2"], default="vit",
                        help="the model ModelOpt quantizes (with --modelopt)")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    calib = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    x = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = os.path.join(tmp, "vit.onnx")
        if args.modelopt and args.arch == "dinov2":
            export_dinov2(fp32_path)
            x = x[:2]  # the dynamo export's batch is static
        else:
            export_vit(fp32_path)
        if args.modelopt:
            import modelopt.onnx.quantization as moq
            out = os.path.join(args.out, f"{args.arch}_modelopt_{args.mode}")
            os.makedirs(out, exist_ok=True)
            path = os.path.join(out, "model.onnx")
            moq.quantize(fp32_path, quantize_mode=args.mode,
                         calibration_data={"pixel_values": calib} if args.arch == "dinov2"
                         else calib,
                         calibration_eps=["cpu"], output_path=path, log_level="WARNING",
                         high_precision_dtype="fp32")
            write_case(out, path, x)
            return
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                              QuantFormat, QuantType, quantize_static)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter([{"pixel_values": calib[i:i + 1]} for i in range(len(calib))])

            def get_next(self):
                return next(self.items, None)

        out = os.path.join(args.out, "vit_ort_uint8")
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "model.onnx")
        quantize_static(fp32_path, path, Reader(), quant_format=QuantFormat.QDQ)
        write_case(out, path, x)
        out = os.path.join(args.out, "vit_ort_fp8")
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "model.onnx")
        quantize_static(fp32_path, path, Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QFLOAT8E4M3FN,
                        weight_type=QuantType.QFLOAT8E4M3FN, op_types_to_quantize=["MatMul", "Gemm"],
                        calibrate_method=CalibrationMethod.Distribution)
        write_case(out, path, x)


if __name__ == "__main__":
    main()
