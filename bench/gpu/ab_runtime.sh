#!/usr/bin/env bash
# What one run-time switch brings on the GPU: each model built once, then the plan timed with and
# without an environment setting (e.g. VITRT_ATTENTION=wgmma), in alternation (graph replays without
# data transfers, median ms) at batch 1 and 256, ROUNDS times, so clock and power drift hit both
# alike. Prints one line per round and batch, and the median ratio (without / with the setting)
# last: above 1 means the setting made the plan faster.
#
#   bench/gpu/ab_runtime.sh VAR=VALUE [BIN_DIR]
#   BENCH_MODELS="vit_b16 clip_text" (default vit_b16; names of torch_models.py) ROUNDS=3
#   PRECISIONS="fp16 fp8" (fp8 and int8 calibrate on random images)
set -u
setting="$1"
here="$(cd "$(dirname "$0")" && pwd)"
bin="${2:-$here/../../build}"
out="${LOG_DIR:-/tmp/vitrt_ab_runtime}"
mkdir -p "$out"
rounds="${ROUNDS:-3}"
median() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["median_ms"])' 2>/dev/null || echo nan; }
for m in ${BENCH_MODELS:-vit_b16}; do
  onnx="$out/$m.onnx"
  [ -f "$onnx" ] || python3 "$here/torch_models.py" export "$m" "$onnx" > "$out/$m.export.log" 2>&1 || {
    echo "$m: export failed"; tail -5 "$out/$m.export.log"; continue; }
  if [ "$m" = clip_text ]; then in=input_ids; d=x77; else in=pixel_values; d=x3x224x224; fi
  profiles=(--profile "$in:min=1$d,opt=1$d,max=16$d" --profile "$in:min=17$d,opt=256$d,max=256$d")
  for p in ${PRECISIONS:-fp16}; do
    quant=()
    if [ "$p" = int8 ] || [ "$p" = fp8 ]; then
      calib="$out/calib"
      [ -d "$calib" ] || { mkdir -p "$calib" && python3 -c "
import numpy as np
for i in range(8):
    np.save(f'$calib/x{i}.npy', np.random.default_rng(i).standard_normal((1, 3, 224, 224)).astype('float32'))"; }
      quant=(--calib-data "$calib")
    fi
    plan="$out/$m.$p.plan"
    "$bin/vitrt" build "$onnx" -o "$plan" --device cuda --precision "$p" "${quant[@]}" "${profiles[@]}" \
      > "$out/$m.$p.build.log" 2>&1 || { echo "$m $p: build failed"; tail -3 "$out/$m.$p.build.log"; continue; }
    for b in 1 256; do
      iters=300; [ "$b" -gt 8 ] && iters=40
      ratios=()
      for r in $(seq "$rounds"); do
        with=$(env "$setting" "$bin/vitrt" bench "$plan" --device cuda --batch "$b" --iterations "$iters" \
          --warmup 10 --no-data-transfers --json 2>/dev/null | median)
        without=$("$bin/vitrt" bench "$plan" --device cuda --batch "$b" --iterations "$iters" \
          --warmup 10 --no-data-transfers --json 2>/dev/null | median)
        ratio=$(python3 -c "print(f'{$without/$with:.3f}')" 2>/dev/null || echo nan)
        ratios+=("$ratio")
        echo "$m $p batch $b round $r: with $setting $with ms, without $without ms, ratio $ratio"
      done
      echo "$m $p batch $b: median ratio $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
    done
  done
done
