#!/usr/bin/env bash
# What one fusion pass brings on the GPU: each model built twice, with the pass and with
# VITRT_DISABLE_FUSIONS naming it, then both plans timed in alternation (graph replays without
# data transfers, median ms) at batch 1 and 256, ROUNDS times, so clock and power drift hit
# both alike. Prints one line per round and batch, and the median ratio last.
#
#   bench/gpu/ab_fusion.sh PASS [BIN_DIR]
#   BENCH_MODELS="vit_b16 clip_vision" (default vit_b16; names of torch_models.py) ROUNDS=3
#   PRECISIONS="fp16 fp8" (fp8 and int8 calibrate on CALIB_DIR, default random images)
set -u
pass="$1"
here="$(cd "$(dirname "$0")" && pwd)"
bin="${2:-$here/../../build}"
out="${LOG_DIR:-/tmp/vitrt_ab}"
mkdir -p "$out"
rounds="${ROUNDS:-3}"
. "$here/ab_lib.sh"
for m in ${BENCH_MODELS:-vit_b16}; do
  ab_export "$m" || continue
  ab_profiles "$m"
  for p in ${PRECISIONS:-fp16}; do
    ab_quant "$p"
    for variant in with without; do
      env_disable=""
      [ "$variant" = without ] && env_disable="$pass"
      VITRT_DISABLE_FUSIONS="$env_disable" "$bin/vitrt" build "$onnx" -o "$out/$m.$p.$variant.plan" \
        --device cuda --precision "$p" "${quant[@]}" "${profiles[@]}" \
        --timing-cache "$out/$m.$p.cache" --verbose > "$out/$m.$p.$variant.build.log" 2>&1 ||
        { echo "$m $p $variant: build failed"; tail -3 "$out/$m.$p.$variant.build.log"; }
    done
    echo "$m $p: $pass applied $(grep -c "\[$pass\]" "$out/$m.$p.with.build.log") times"
    for b in 1 256; do
      iters=300; [ "$b" -gt 8 ] && iters=40
      ratios=()
      for r in $(seq "$rounds"); do
        declare -A t
        for variant in with without; do
          t[$variant]=$("$bin/vitrt" bench "$out/$m.$p.$variant.plan" --device cuda --batch "$b" \
            --iterations "$iters" --warmup 10 --no-data-transfers --json 2>/dev/null | median)
        done
        ratio=$(python3 -c "print(f'{$(echo ${t[without]})/$(echo ${t[with]}):.3f}')" 2>/dev/null || echo nan)
        ratios+=("$ratio")
        echo "$m $p batch $b round $r: with $pass ${t[with]} ms, without ${t[without]} ms, speed-up $ratio"
      done
      echo "$m $p batch $b: median speed-up $(median_of "${ratios[@]}")"
    done
  done
done
