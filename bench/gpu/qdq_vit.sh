#!/usr/bin/env bash
# A quantized ViT-B/16 as users bring it in QDQ form (ONNX Runtime's quantize_static, its
# defaults, 4 random calibration images; random weights), through vitrt's CUDA path in fp16:
# its attention fused with the fake-quantized scores and probabilities (vitrt.Attention's
# quant_scores / quant_probs) against the same model with the fusion declined (the
# probabilities' DequantizeLinear scale moved by one ulp, so the pair no longer matches and the
# attention stays MatMul + Q/DQ + Softmax + Q/DQ + MatMul), and the plain fp16 plan of the
# float model. Batch 1 and 256, no data transfers, and the op profile at 256.
#
#   bench/gpu/qdq_vit.sh BIN_DIR [OUT_DIR]     (BIN_DIR holds vitrt and torch_models.py)
set -u
bin="$1"
out="${2:-/tmp/vitrt_qdq_vit}"
mkdir -p "$out"
python3 "$bin/torch_models.py" export vit_b16 "$out/vit.onnx" > "$out/export.log" 2>&1 ||
  { echo "export failed"; tail -5 "$out/export.log"; exit 1; }
python3 - "$out" <<'PY' || exit 1
import sys, numpy as np, onnx
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
out = sys.argv[1]
rng = np.random.default_rng(0)
class Reader(CalibrationDataReader):
    def __init__(self):
        self.items = iter([{"pixel_values": rng.standard_normal((1, 3, 224, 224)).astype(np.float32)}
                           for _ in range(4)])
    def get_next(self):
        return next(self.items, None)
quantize_static(f"{out}/vit.onnx", f"{out}/vit.qdq.onnx", Reader(), quant_format=QuantFormat.QDQ)
m = onnx.load(f"{out}/vit.qdq.onnx")
inits = {i.name: i for i in m.graph.initializer}
moved = 0
for n in m.graph.node:
    if n.op_type == "DequantizeLinear" and "Softmax_output" in n.input[0]:
        t = inits[n.input[1]]
        v = numpy_helper.to_array(t).astype(np.float32)
        t.CopyFrom(numpy_helper.from_array(np.nextafter(v, np.float32(1)), t.name))
        moved += 1
print("probability DequantizeLinear scales moved by one ulp:", moved)
onnx.save(m, f"{out}/vit.qdq_unfused.onnx")
PY
d=x3x224x224
profiles=(--profile "pixel_values:min=1$d,opt=1$d,max=16$d"
          --profile "pixel_values:min=17$d,opt=256$d,max=256$d")
for m in vit vit.qdq vit.qdq_unfused; do
  "$bin/vitrt" build "$out/$m.onnx" -o "$out/$m.plan" --device cuda --precision fp16 \
    "${profiles[@]}" --verbose > "$out/$m.build.log" 2>&1 ||
    { echo "$m: build failed"; tail -5 "$out/$m.build.log"; continue; }
  echo "$m: $(grep -c 'vitrt.Attention\|\[fuse_attention\] Attention' "$out/$m.build.log") attention lines;" \
    "$(grep 'plan graph' "$out/$m.build.log" | cut -c1-160)"
  for b in 1 256; do
    "$bin/vitrt" bench "$out/$m.plan" --device cuda --batch $b --no-data-transfers --iterations 50 \
      $([ $b = 256 ] && echo --profile) > "$out/$m.b$b.txt" 2>&1
    echo "$m batch $b: $(grep -E '^latency' "$out/$m.b$b.txt")"
  done
  sed -n '/^profile/,/slowest/p' "$out/$m.b256.txt" | head -12
done
