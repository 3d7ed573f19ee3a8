#!/usr/bin/env bash
# The issue's GPU table in one run on the GPU machine: vitrt fp16 vs PyTorch fp16 eager and
# torch.compile on ViT-B/16 224 (timm), CLIP ViT-B/32 vision and CLIP text at 77 tokens (HF,
# default configs), random weights, at batch 1 and 256. Prints a table with ratios and the
# fraction of the fp16 arithmetic ceiling last; also plan build time (tactics timed, and from
# the timing cache), plan load time, GPU memory, and per-node kernel times at batch 256 (logs).
#
#   bench/gpu/run.sh [BIN_DIR]      (BIN_DIR holds vitrt; default build)
#   BENCH_MODELS="vit_b16 clip_vision clip_text" (default those three; dinov3_b16 is the rotary
#   model, dinov2_b14 and siglip_b16 the other backbones, swin_t, convnext_t, deit_s, clip_l14
#   resnet50, resnext50 and regnety_016 (grouped convolutions) the breadth set, on request)
#   BENCH_COMPILE=0 skips torch.compile (about a minute of compiling per model and batch size);
#   BENCH_COMPILE_MODELS="vit_b16" limits it to some models (default: all of BENCH_MODELS),
#   BENCH_COMPILE_BATCHES="1" to some batch sizes (default "1 256");
#   BENCH_COMPILE_LARGE_MODE=max-autotune (the issue's batch-256 peer; default "default") for the
#   mode above batch 8.
#   torch.compile runs last, after every other number is in, so a time limit cuts only it.
#   BENCH_ATTENTION_PEERS=0 skips timing PyTorch's fused attention backends (attention_peers.py).
#
# Two vitrt rows: end to end (fp32 input copied in from pageable host memory, the fp16 run,
# output copied out) and without data transfers (`vitrt bench --no-data-transfers`: the graph
# replayed on inputs already on the GPU). PyTorch's input is already on the GPU in fp16, so the
# ratios are taken against the second.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../../build}"
out="${LOG_DIR:-/tmp/vitrt_gpu_bench}"
mkdir -p "$out"
models="${BENCH_MODELS:-vit_b16 clip_vision clip_text}"
compile_models=""
[ "${BENCH_COMPILE:-1}" = "1" ] && compile_models="${BENCH_COMPILE_MODELS:-$models}"

now() { date +%s.%N; }
# Highest GPU memory in use (MiB) while a command runs, minus what was in use before it.
gpu_mem() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1; }

summarize() {
  python3 - "$out" $models <<'PY'
import json, os, sys
out, models = sys.argv[1], sys.argv[2:]
gflop = {"vit_b16": 35.1, "clip_vision": 8.8, "clip_text": 6.0, "dinov3_b16": 35.9,
         "dinov2_b14": 46.4, "siglip_b16": 35.0, "swin_t": 9.0, "convnext_t": 8.9,
         "deit_s": 9.2, "clip_l14": 155.7, "resnet50": 8.2, "resnext50": 8.5,
         "regnety_016": 3.3}
ceiling = 740e3  # GFLOP/s, fp16 dense matmul measured
print("==== fp16, median ms; 'vs vitrt' = peer ms / vitrt ms without data transfers "
      "(> 1: vitrt faster); "
      "'ceil' = share of the 740 TFLOP/s fp16 ceiling ====")
print(f"{'model':12} {'impl':28} {'batch':>5} {'ms':>9} {'items/s':>9} {'vs vitrt':>8} {'ceil':>6}")
extra = []
for m in models:
    f = os.path.join(out, f"{m}.json")
    if not os.path.exists(f):
        continue
    r = json.load(open(f))
    torch_rows = r.get("torch", [])
    for b in (1, 256):
        v = r.get(f"vitrt_ms_{b}")
        rows = [("vitrt fp16 (end to end)", v)]
        k = r.get(f"vitrt_kernels_ms_{b}")
        if k:
            rows.append(("vitrt fp16 (no transfers)", k))
            v = k  # ratios against the compute alone: PyTorch's tensors are on the GPU too
        rows += [(t["impl"], t["median_ms"]) for t in torch_rows if t["batch"] == b]
        for impl, ms in rows:
            if ms is None or ms != ms or ms <= 0:
                print(f"{m:12} {impl:28} {b:5d} {'n/a':>9}")
                continue
            ips = b / ms * 1e3
            ratio = f"{ms / v:8.2f}" if v and v == v else f"{'':8}"
            print(f"{m:12} {impl:28} {b:5d} {ms:9.3f} {ips:9.0f} {ratio} "
                  f"{ips * gflop[m] / ceiling * 100:5.1f}%")
    peak = max((t.get("peak_mb", 0) for t in torch_rows if t["batch"] == 256), default=0)
    extra.append(f"{m}: vitrt build {r.get('build_s', 0):.1f} s, plan load "
                 f"{r.get('plan_load_s', 0):.2f} s (in-process: read, CUDA init, weights to the "
                 f"GPU) + first batch-1 run {r.get('first_run_s', 0):.2f} s (process wall incl. "
                 f"start: {r.get('load_s', 0):.2f} s), plan {r.get('plan_mb', 0):.0f} MB, GPU memory at "
                 f"batch 256: vitrt allocated {r.get('vitrt_alloc_mb', 0):.0f} MiB (weights, "
                 f"arena, workspace, I/O) vs torch eager peak allocated {peak:.0f} MiB (both "
                 f"without the CUDA context); whole process by nvidia-smi "
                 f"{r.get('vitrt_gpu_mb', 0):.0f} MiB; "
                 + ", ".join(f"{t['impl']} compile {t['compile_s']:.0f} s" for t in torch_rows
                             if "compile_s" in t))
print("\n".join(extra))
bt = os.path.join(out, "build_times.txt")
if os.path.exists(bt):
    print(open(bt).read())
PY
}

for m in $models; do
  log="$out/$m"
  python3 "$here/torch_models.py" export "$m" "$log.onnx" > "$log.export.log" 2>&1 || {
    echo "$m: export failed"; tail -5 "$log.export.log"; continue; }
  # Two optimization profiles (batch 1-16 tuned at 1, 17-256 tuned at 256); GEMM tactics timed
  # on this GPU into a fresh timing cache, then rebuilt from the cache to time a cached build.
  if [ "$m" = clip_text ]; then in=input_ids; d=x77; else in=pixel_values; d=x3x224x224; fi
  profiles=(--profile "$in:min=1$d,opt=1$d,max=16$d" --profile "$in:min=17$d,opt=256$d,max=256$d")
  rm -f "$log.timing.cache"
  t0=$(now)
  "$bin/vitrt" build "$log.onnx" -o "$log.plan" --device cuda --precision fp16 "${profiles[@]}" \
    --timing-cache "$log.timing.cache" --verbose > "$log.build.log" 2>&1 ||
    { echo "$m: vitrt build failed"; tail -5 "$log.build.log"; continue; }
  t1=$(now)
  "$bin/vitrt" build "$log.onnx" -o "$log.plan" --device cuda --precision fp16 "${profiles[@]}" \
    --timing-cache "$log.timing.cache" > "$log.build_cached.log" 2>&1
  tc1=$(now)
  build_times="$(python3 -c "import sys; a=[float(x) for x in sys.argv[1:]]; print(f'{a[1]-a[0]:.1f} {a[2]-a[1]:.1f}')" "$t0" "$t1" "$tc1")"
  echo "$m build seconds (tactics timed, from the timing cache): $build_times" >> "$out/build_times.txt"
  grep 'GEMM problems timed' "$log.build.log" "$log.build_cached.log" >> "$out/build_times.txt"
  # Load + first run.
  tl=$(now)
  "$bin/vitrt" bench "$log.plan" --device cuda --batch 1 --iterations 1 --warmup 0 --json > "$log.load.log" 2>&1
  load_in=$(tail -1 "$log.load.log" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["load_s"], j["first_run_s"])' 2>/dev/null || echo "0 0")
  t2=$(now)
  declare -A ms kern
  mem_before=$(gpu_mem)
  for b in 1 256; do
    iters=200; [ "$b" -gt 8 ] && iters=30
    if [ "$b" -gt 8 ]; then
      nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 > "$log.mem.txt" 2>/dev/null &
      smi=$!
    fi
    "$bin/vitrt" bench "$log.plan" --device cuda --batch "$b" --iterations "$iters" --warmup 5 \
      --json > "$log.vitrt_b$b.log" 2>&1
    [ "$b" -gt 8 ] && kill "$smi" 2>/dev/null
    # The compute alone (inputs left on the GPU, as PyTorch's are): the fair peer row.
    "$bin/vitrt" bench "$log.plan" --device cuda --batch "$b" --iterations "$iters" --warmup 5 \
      --no-data-transfers --json > "$log.vitrt_nt_b$b.log" 2>&1
    # Per-node kernel times, for the logs (eager launches with an event pair per node).
    [ "$b" -gt 8 ] && "$bin/vitrt" bench "$log.plan" --device cuda --batch "$b" --iterations 5 \
      --warmup 2 --profile > "$log.vitrt_profile_b$b.log" 2>&1
    ms[$b]=$(tail -1 "$log.vitrt_b$b.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])' 2>/dev/null || echo nan)
    kern[$b]=$(tail -1 "$log.vitrt_nt_b$b.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])' 2>/dev/null || echo nan)
  done
  alloc=$(tail -1 "$log.vitrt_b256.log" | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_memory_mib"])' 2>/dev/null || echo 0)
  mem_peak=$(sort -n "$log.mem.txt" 2>/dev/null | tail -1)
  python3 "$here/torch_models.py" time "$m" --batches 1 256 > "$log.torch.json" 2> "$log.torch.log"
  python3 - "$log.json" "$log.torch.json" "${ms[1]}" "${ms[256]}" "${kern[1]}" "${kern[256]}" \
      "$t0" "$t1" "$t2" "${mem_before:-0}" "${mem_peak:-0}" "$(stat -c %s "$log.plan")" "$tl" \
      "$alloc" $load_in <<'PY'
import json, sys
a = sys.argv
try:
    torch_rows = json.load(open(a[2]))
except Exception:
    torch_rows = []
f = lambda s: float(s) if s not in ("", "nan") else None
json.dump({"torch": torch_rows, "vitrt_ms_1": f(a[3]), "vitrt_ms_256": f(a[4]),
           "vitrt_kernels_ms_1": f(a[5]), "vitrt_kernels_ms_256": f(a[6]),
           "build_s": float(a[8]) - float(a[7]), "load_s": float(a[9]) - float(a[13]),
           "vitrt_gpu_mb": float(a[11]) - float(a[10]), "plan_mb": int(a[12]) / 2**20,
           "vitrt_alloc_mb": float(a[14]), "plan_load_s": float(a[15]),
           "first_run_s": float(a[16])},
          open(a[1], "w"))
PY
  summarize > "$out/summary.txt"
done
# INT8 and FP8 ViT-B/16 (issue 7's speed rows): calibrated on 8 random inputs (speed only; the
# accuracy of random-weight models says little), the same two profiles as fp16.
if [ "${BENCH_QUANT:-1}" = "1" ] && [ -f "$out/vit_b16.onnx" ]; then
  python3 -c "
import numpy as np, os, sys
d = sys.argv[1]; os.makedirs(d, exist_ok=True)
for i in range(8):
    np.save(f'{d}/x{i}.npy', np.random.default_rng(i).standard_normal((1, 3, 224, 224)).astype('float32'))
" "$out/calib"
  mkdir -p "$out/evaldata"
  python3 -c "
import numpy as np, sys
np.save(sys.argv[1] + '/pixel_values.npy', np.random.default_rng(100).standard_normal((16, 3, 224, 224)).astype('float32'))
" "$out/evaldata"
  d=x3x224x224
  for q in fp8 int8; do
    log="$out/vit_b16.$q"
    "$bin/vitrt" build "$out/vit_b16.onnx" -o "$log.plan" --device cuda --precision $q \
      --calib-data "$out/calib" --profile "pixel_values:min=1$d,opt=1$d,max=16$d" \
      --profile "pixel_values:min=17$d,opt=256$d,max=256$d" --verbose > "$log.build.log" 2>&1 ||
      { echo "vit_b16 $q: build failed: $(tail -3 "$log.build.log")" >> "$out/quant.txt"; continue; }
    for b in 1 256; do
      iters=200; [ "$b" -gt 8 ] && iters=30
      "$bin/vitrt" bench "$log.plan" --device cuda --batch $b --iterations $iters --warmup 5 \
        --no-data-transfers --json > "$log.nt_b$b.log" 2>&1
      echo "vit_b16 $q batch $b (no transfers): $(tail -1 "$log.nt_b$b.log" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(f"{j[\"median_ms\"]:.3f} ms, {j[\"throughput\"]:.0f} img/s")' 2>/dev/null || tail -1 "$log.nt_b$b.log")" >> "$out/quant.txt"
    done
    "$bin/vitrt" bench "$log.plan" --device cuda --batch 256 --iterations 5 --warmup 2 --profile \
      > "$log.profile_b256.log" 2>&1
    # Agreement with the FP32 model (on the CPU) on 16 other random inputs: random weights, so
    # this checks the arithmetic, not accuracy on real data.
    "$bin/vitrt" eval "$log.plan" --device cuda --reference "$out/vit_b16.onnx" \
      --data "$out/evaldata" --json > "$log.eval.log" 2>&1
    echo "vit_b16 $q vs FP32 (random weights, 16 random inputs): $(tail -1 "$log.eval.log" | python3 -c 'import json,sys; o=json.load(sys.stdin)["outputs"][0]; print(f"cosine mean {o[\"cosine_mean\"]:.5f} min {o[\"cosine_min\"]:.5f}, top-1 agreement {o.get(\"top1_agreement\", float(\"nan\")):.3f}")' 2>/dev/null || tail -1 "$log.eval.log")" >> "$out/quant.txt"
  done
  cat "$out/quant.txt" >> "$out/summary.txt"
fi
# vitrt.Attention's peers on the same shapes: PyTorch's FlashAttention-2, memory-efficient and
# cuDNN fused attention (ms per layer and per 12-layer tower; compare with the Attention row of
# the --profile logs). BENCH_ATTENTION_PEERS=0 skips it.
if [ "${BENCH_ATTENTION_PEERS:-1}" = "1" ]; then
  python3 "$here/attention_peers.py" --json "$out/attention_peers.json" > "$out/attention_peers.txt" 2>&1
  for m in $models; do
    f="$out/$m.vitrt_profile_b256.log"
    [ -f "$f" ] && echo "vitrt $m batch 256 $(grep -E '^ +Attention ' "$f" | awk '{print "Attention " $2 " ms per tower (--profile)"}')" >> "$out/attention_peers.txt"
  done
fi
for m in $compile_models; do
  log="$out/$m"
  [ -f "$log.json" ] || continue
  python3 "$here/torch_models.py" time "$m" --batches ${BENCH_COMPILE_BATCHES:-1 256} --compile --no-eager \
    --large-mode "${BENCH_COMPILE_LARGE_MODE:-default}" \
    > "$log.compile.json" 2> "$log.compile.log"
  python3 - "$log.json" "$log.compile.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
try:
    r["torch"] += json.load(open(sys.argv[2]))
except Exception:
    pass
json.dump(r, open(sys.argv[1], "w"))
PY
  summarize > "$out/summary.txt"
done
[ -f "$out/quant.txt" ] && ! grep -q "vit_b16 fp8" "$out/summary.txt" && cat "$out/quant.txt" >> "$out/summary.txt"
[ -f "$out/attention_peers.txt" ] && { echo "==== attention peers (fp16) ===="; cat "$out/attention_peers.txt"; } >> "$out/summary.txt"
cat "$out/summary.txt"
