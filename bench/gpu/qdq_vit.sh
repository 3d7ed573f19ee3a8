#!/usr/bin/env bash
# Quantized ViT-B/16 models as users bring them in QDQ form (ONNX Runtime's quantize_static, 4
# random calibration images, random weights), through vitrt's CUDA path in fp16, beside the fp16
# plan of the float model:
#   vit.qdq      quantize_static's defaults (uint8 activations, Q/DQ after nearly every op)
#   vit.qdq_trt  the form TensorRT takes: MatMul/Gemm/Conv inputs only, symmetric int8,
#                per-channel weights (ONNX Runtime still quantizes each product before its bias)
#   vit.qdq_fp8  quantize_static with float8e4m3fn activations and weights on MatMul and Gemm
#                (opset 19, Distribution calibration)
#   vit.fp8      vitrt's own FP8 plan of the float model, calibrated on 8 random inputs
#   vit.int8     the same in INT8
# and any model.stripped.onnx in BIN_DIR (bench/gpu/carry_weights.py strip: a quantizer's
# output made on a CPU machine, e.g. NVIDIA ModelOpt's FP8 ViT-B/16, its weights refilled here
# with random values). MODELS="vit vit.qdq_fp8" picks some. Batch 1 and 256, no data
# transfers, and the op profile at 256.
#
#   bench/gpu/qdq_vit.sh BIN_DIR [OUT_DIR]     (BIN_DIR holds vitrt, torch_models.py and
#                                               carry_weights.py)
set -u
bin="$1"
out="${2:-/tmp/vitrt_qdq_vit}"
mkdir -p "$out"
python3 "$bin/torch_models.py" export vit_b16 "$out/vit.onnx" > "$out/export.log" 2>&1 ||
  { echo "export failed"; tail -5 "$out/export.log"; exit 1; }
python3 - "$out" <<'PY' || exit 1
import sys, numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                      QuantType, quantize_static)
out = sys.argv[1]
class Reader(CalibrationDataReader):
    def __init__(self):
        rng = np.random.default_rng(0)
        self.items = iter([{"pixel_values": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
                           for _ in range(4)])
    def get_next(self):
        return next(self.items, None)
quantize_static(f"{out}/vit.onnx", f"{out}/vit.qdq.onnx", Reader(), quant_format=QuantFormat.QDQ)
quantize_static(f"{out}/vit.onnx", f"{out}/vit.qdq_trt.onnx", Reader(), quant_format=QuantFormat.QDQ,
                op_types_to_quantize=["MatMul", "Gemm", "Conv"], per_channel=True,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
quantize_static(f"{out}/vit.onnx", f"{out}/vit.qdq_fp8.onnx", Reader(), quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QFLOAT8E4M3FN, weight_type=QuantType.QFLOAT8E4M3FN,
                op_types_to_quantize=["MatMul", "Gemm"], calibrate_method=CalibrationMethod.Distribution)
rng = np.random.default_rng(1)
import os
os.makedirs(f"{out}/calib", exist_ok=True)
for i in range(8):
    np.save(f"{out}/calib/{i}.npy", rng.standard_normal((1, 3, 224, 224)).astype(np.float32))
PY
extra=""
for f in "$bin"/*.stripped.onnx; do
  [ -e "$f" ] || continue
  name="$(basename "$f" .stripped.onnx)"
  python3 "$bin/carry_weights.py" refill "$f" "$out/$name.onnx" > /dev/null || continue
  extra="$extra $name"
done
d=x3x224x224
profiles=(--profile "pixel_values:min=1$d,opt=1$d,max=16$d"
          --profile "pixel_values:min=17$d,opt=256$d,max=256$d")
for m in ${MODELS:-vit vit.qdq vit.qdq_trt vit.qdq_fp8 vit.fp8 vit.int8$extra}; do
  src="$m"
  precision=(--precision fp16)
  if [ "$m" = vit.fp8 ] || [ "$m" = vit.int8 ]; then
    src=vit
    precision=(--precision "${m#vit.}" --calib-data "$out/calib")
  fi
  "$bin/vitrt" build "$out/$src.onnx" -o "$out/$m.plan" --device cuda "${precision[@]}" \
    "${profiles[@]}" --verbose > "$out/$m.build.log" 2>&1 ||
    { echo "$m: build failed"; tail -5 "$out/$m.build.log"; continue; }
  echo "$m: $(grep -c 'vitrt.Attention\|\[fuse_attention\] Attention' "$out/$m.build.log") attention lines;" \
    "$(grep 'plan graph' "$out/$m.build.log" | cut -c1-420)"
  for b in 1 256; do
    "$bin/vitrt" bench "$out/$m.plan" --device cuda --batch $b --no-data-transfers --iterations 50 \
      $([ $b = 256 ] && echo --profile) > "$out/$m.b$b.txt" 2>&1
    echo "$m batch $b: $(grep -E '^latency' "$out/$m.b$b.txt")"
  done
  sed -n '/^profile/,/slowest/p' "$out/$m.b256.txt" | head -12
done
