#!/usr/bin/env bash
# vitrt fp16 vs PyTorch fp16 (eager and torch.compile) on full-size ViT-B/16 (timm, random
# weights) at batch 1 and 256, in one run on the GPU machine; prints a table with ratios last.
#
#   bench/gpu/run.sh [BIN_DIR]      (BIN_DIR holds vitrt; default build)
#   BENCH_COMPILE=0 skips torch.compile (it compiles for a minute or more per batch size).
#
# vitrt's latency is end to end (fp32 input copied in, fp16 run, output copied out); PyTorch's
# input is already on the GPU in fp16, so the comparison favours PyTorch at large batches.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../../build}"
out="${LOG_DIR:-/tmp/vitrt_gpu_bench}"
mkdir -p "$out"
compile_flag=""
[ "${BENCH_COMPILE:-1}" = "1" ] && compile_flag="--compile"

python3 "$here/torch_vit.py" export "$out/vit_b16.onnx" > "$out/export.log" 2>&1 || {
  echo "export failed"; tail -5 "$out/export.log"; exit 1; }
"$bin/vitrt" build "$out/vit_b16.onnx" -o "$out/vit_b16_fp16.plan" --device cuda \
  --precision fp16 > "$out/build.log" 2>&1 || { echo "vitrt build failed"; tail -5 "$out/build.log"; exit 1; }
declare -A vitrt_ms
for b in 1 256; do
  iters=50; [ "$b" -gt 8 ] && iters=20
  "$bin/vitrt" bench "$out/vit_b16_fp16.plan" --device cuda --batch "$b" --iterations "$iters" \
    --warmup 5 $([ "$b" -gt 8 ] && echo --profile) --json > "$out/vitrt_b$b.log" 2>&1
  vitrt_ms[$b]=$(tail -1 "$out/vitrt_b$b.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])' 2>/dev/null || echo nan)
done
python3 "$here/torch_vit.py" time --batches 1 256 $compile_flag > "$out/torch.json" 2> "$out/torch.log"

echo "==== ViT-B/16 224, fp16, median ms (ratio = peer ms / vitrt ms; > 1 means vitrt is faster) ===="
python3 - "$out/torch.json" "${vitrt_ms[1]}" "${vitrt_ms[256]}" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else []
v = {1: float(sys.argv[2]), 256: float(sys.argv[3])}
print(f"{'impl':32} {'batch':>5} {'ms':>9} {'items/s':>9} {'vs vitrt':>8}")
for b in (1, 256):
    print(f"{'vitrt fp16 (end to end)':32} {b:5d} {v[b]:9.3f} {b / v[b] * 1e3:9.0f} {1.0:8.2f}")
    for r in rows:
        if r["batch"] == b:
            print(f"{r['impl']:32} {b:5d} {r['median_ms']:9.3f} {b / r['median_ms'] * 1e3:9.0f} "
                  f"{r['median_ms'] / v[b]:8.2f}")
PY
