#!/usr/bin/env bash
# Accuracy of the CUDA precisions on a trained model (issue 7): the digits ViT of
# tests/data/digits_vit (timm, trained on sklearn's digits, 96.39% held-out top-1) built for the
# GPU in fp32, fp16, int8 and fp8, each run by `vitrt eval` against the FP32 ONNX model on the
# CPU. Calibration uses the first 64 held-out images, the evaluation the other 296, so no
# image is in both.
#
#   bench/gpu/quant_eval.sh BIN_DIR REPO_ROOT OUT_DIR
#   FIXTURE=DIR (another model trained by python/train_digits_vit.py, e.g. with --embed-dim 128
#   --heads 2: head dim 64, which fp8 plans' E4M3 attention takes) PRECISIONS="fp16 fp8"
set -u
bin="$1"
root="$2"
out="$3"
mkdir -p "$out/calib" "$out/eval"
fixture="${FIXTURE:-$root/tests/data/digits_vit}"
files=$(ls "$fixture/images" | sort)
i=0
for f in $files; do
  if [ $i -lt 64 ]; then cp "$fixture/images/$f" "$out/calib/"; else cp "$fixture/images/$f" "$out/eval/"; fi
  i=$((i + 1))
done
python3 -c "
import numpy as np, sys
np.save(sys.argv[2], np.load(sys.argv[1])[64:])
" "$fixture/labels.npy" "$out/eval_labels.npy"
cfg="$fixture/preprocessor_config.json"
printf "%-6s %-10s %-10s %-12s %-10s %-10s\n" plan cos_mean cos_min top1_agree top1_plan top1_fp32 > "$out/table.txt"
for p in ${PRECISIONS:-fp32 fp16 int8 fp8}; do
  extra=""
  [ "$p" = int8 ] || [ "$p" = fp8 ] && extra="--calib-data $out/calib --calib-config $cfg"
  "$bin/vitrt" build "$fixture/model.onnx" -o "$out/digits.$p.plan" --device ${DEVICE:-cuda} --precision $p \
    $extra > "$out/build.$p.log" 2>&1 || { echo "$p: build failed: $(tail -2 "$out/build.$p.log")" >> "$out/table.txt"; continue; }
  "$bin/vitrt" eval "$out/digits.$p.plan" --device ${DEVICE:-cuda} --reference "$fixture/model.onnx" \
    --data "$out/eval" --config "$cfg" --labels "$out/eval_labels.npy" --json > "$out/eval.$p.log" 2>&1
  tail -1 "$out/eval.$p.log" | python3 -c "
import json, sys
p = sys.argv[1]
try:
    j = json.load(sys.stdin)
except Exception:
    print(f'{p:6} eval failed'); sys.exit()
o = j['outputs'][0]
g = lambda *k: next((o[x] for x in k if x in o), float('nan'))
print(f\"{p:6} {g('cosine_mean'):<10.6f} {g('cosine_min'):<10.6f} {g('top1_agreement'):<12.4f} \"
      f\"{g('top1_accuracy'):<10.4f} {g('reference_top1_accuracy'):<10.4f}\")
" "$p" >> "$out/table.txt"
done
cat "$out/table.txt"
