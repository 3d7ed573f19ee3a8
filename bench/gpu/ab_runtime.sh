#!/usr/bin/env bash
# What one run-time switch brings on the GPU: each model built once, then the plan timed with and
# without an environment setting (e.g. VITRT_ATTENTION=wgmma), in alternation (graph replays without
# data transfers, median ms) at batch 1 and 256, ROUNDS times, so clock and power drift hit both
# alike. Prints one line per round and batch, and the median ratio (without / with the setting)
# last: above 1 means the setting made the plan faster.
#
#   bench/gpu/ab_runtime.sh VAR=VALUE [BIN_DIR]
#   BENCH_MODELS="vit_b16 clip_text" (default vit_b16; names of torch_models.py) ROUNDS=3
#   PRECISIONS="fp16 fp8" (fp8 and int8 calibrate on CALIB_DIR, default random images)
set -u
setting="$1"
here="$(cd "$(dirname "$0")" && pwd)"
bin="${2:-$here/../../build}"
out="${LOG_DIR:-/tmp/vitrt_ab_runtime}"
mkdir -p "$out"
rounds="${ROUNDS:-3}"
. "$here/ab_lib.sh"
for m in ${BENCH_MODELS:-vit_b16}; do
  ab_export "$m" || continue
  ab_profiles "$m"
  for p in ${PRECISIONS:-fp16}; do
    ab_quant "$p"
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
      echo "$m $p batch $b: median ratio $(median_of "${ratios[@]}")"
    done
  done
done
