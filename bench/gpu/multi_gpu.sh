#!/usr/bin/env bash
# Issue 8's measurement, for a host with two GPUs (nvidia-h200-x2): CLIP ViT-B/32 image
# embeddings (HF default config, random weights, fp16) on one GPU and on both, three ways:
#
#   offline   `vitrt bench --devices 0` vs `--devices 0,1` (2 contexts per GPU, batch 256): what
#             the GPUs sustain with the inputs already in host memory
#   tensors   `vitrt serve` with the vision plan behind KServe v2, `vitrt perf --batch 64` with
#             binary float32 pixels (no decoding): the server's own scaling
#   jpeg      `vitrt serve` with the CLIP model, `vitrt perf --images` with 640x480 JPEGs
#             (bench/gpu/serve_clip.sh): the whole service, bounded by CPU decoding
#
# and prints each 2-GPU/1-GPU ratio against the issue's 1.9x.
#
#   bench/gpu/multi_gpu.sh BIN_DIR OUT_DIR
#
# BIN_DIR holds vitrt (in the GPU bundle also export_clip.py, serve_clip.sh and the BPE
# vocabulary). Settings: GPUS=0,1 (the two GPUs), PERF_DURATION=5, TENSOR_BATCH=64,
# TENSOR_CONCURRENCY=4,8,16,32, JPEG=1 (0 skips the JPEG path), INSTANCES=2 (contexts per GPU).
# On a one-GPU host (nvidia-h200) the 2-GPU rows fail with "device 1 does not exist" and the
# 1-GPU rows still come: a check of the script itself before a two-GPU machine is lent.
set -u
bin="$(cd "${1:?usage: multi_gpu.sh BIN_DIR OUT_DIR}" && pwd)"
out="${2:?usage: multi_gpu.sh BIN_DIR OUT_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
vitrt="$bin/vitrt"
gpus="${GPUS:-0,1}"
one="${gpus%%,*}"
duration="${PERF_DURATION:-5}"
instances="${INSTANCES:-2}"
tensor_batch="${TENSOR_BATCH:-64}"
serve_clip="$bin/serve_clip.sh"
[ -f "$serve_clip" ] || serve_clip="$here/serve_clip.sh"
work=/tmp/vitrt_multi_gpu
rm -rf "$work"
mkdir -p "$work"
t_start=$(date +%s)
step() { echo "[$(( $(date +%s) - t_start )) s] $*"; }
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader > "$out/gpus.txt" 2>&1
cat "$out/gpus.txt"

# ---- the model, photos and plans, and the JPEG path on one GPU (serve_clip.sh) --------------
# serve_clip.sh exports and builds once; the later runs reuse its folder (PREBUILT=1).
step "jpeg path, GPU $one (also exports and builds the plans)"
DEVICES="$one" INSTANCES="$instances" CONCURRENCY="${JPEG_CONCURRENCY:-64,256}" \
  PERF_DURATION="$duration" WORK_DIR="$work/jpeg1" \
  bash "$serve_clip" "$bin" "$out/jpeg_1gpu" > "$out/jpeg_1gpu.txt" 2>&1
clip="$work/jpeg1/clip"
[ -f "$clip/vision.plan" ] || { echo "no vision plan: see $out/jpeg_1gpu.txt"; tail -20 "$out/jpeg_1gpu.txt"; exit 1; }
if [ "${JPEG:-1}" = "1" ]; then
  step "jpeg path, GPUs $gpus"
  DEVICES="$gpus" INSTANCES="$instances" CONCURRENCY="${JPEG_CONCURRENCY:-64,256}" \
    PERF_DURATION="$duration" WORK_DIR="$work/jpeg2" CLIP_DIR="$clip" PREBUILT=1 \
    bash "$serve_clip" "$bin" "$out/jpeg_2gpu" > "$out/jpeg_2gpu.txt" 2>&1
fi

# ---- offline --------------------------------------------------------------------------------
for devs in "$one" "$gpus"; do
  step "offline bench, GPUs $devs, $instances contexts each"
  "$vitrt" bench "$clip/vision.plan" --device cuda --batch 256 --iterations 30 --warmup 3 \
    --devices "$devs" --contexts "$instances" --json > "$out/offline_${devs//,/_}.log" 2>&1
  tail -1 "$out/offline_${devs//,/_}.log" > "$out/offline_${devs//,/_}.json"
done

# ---- KServe v2 tensors ------------------------------------------------------------------------
mkdir -p "$work/repo/vision"
cat > "$work/repo/vision/config.json" <<JSON
{"plan": "$clip/vision.plan", "max_batch_size": 256,
 "dynamic_batching": {"max_queue_delay_microseconds": 2000, "max_queue_size": 4096},
 "instance_count": $instances}
JSON
for devs in "$one" "$gpus"; do
  tag="tensors_${devs//,/_}"
  step "tensor path, GPUs $devs"
  "$vitrt" serve --model-repository "$work/repo" --port 0 --host 127.0.0.1 --devices "$devs" \
    --worker-threads "$(nproc)" --io-threads 8 --max-in-flight 8192 \
    --max-body-bytes $(( 1 << 30 )) > "$work/$tag.serve.out" 2> "$out/$tag.serve.log" &
  server=$!
  port=""
  for _ in $(seq 1 600); do
    port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/$tag.serve.out")
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "server on GPUs $devs did not start:"; tail -3 "$out/$tag.serve.log"; continue
  fi
  # Unrecorded warm-up: CUDA graph captures of the batch sizes the batcher forms.
  "$vitrt" perf --model vision --url "http://127.0.0.1:$port" --batch "$tensor_batch" \
    --concurrency 16 --duration-s 2 > /dev/null 2>&1
  "$vitrt" perf --model vision --url "http://127.0.0.1:$port" --batch "$tensor_batch" \
    --concurrency "${TENSOR_CONCURRENCY:-4,8,16,32}" --duration-s "$duration" \
    --json "$out/$tag.json" > "$out/$tag.log" 2>&1
  curl -s "http://127.0.0.1:$port/metrics" > "$out/$tag.metrics.txt" 2>/dev/null ||
    python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" \
      "http://127.0.0.1:$port/metrics" > "$out/$tag.metrics.txt"
  kill -TERM "$server"
  wait "$server"
  cat "$out/$tag.log"
done

# ---- the table --------------------------------------------------------------------------------
step "summary"
python3 - "$out" "$one" "$gpus" > "$out/summary.txt" <<'PY'
import json, os, re, sys
out, one, gpus = sys.argv[1:4]
tag = lambda d: d.replace(",", "_")
def load(path):
    try:
        return json.load(open(os.path.join(out, path)))
    except Exception:
        return None
def best_perf(path):
    doc = load(path)
    steps = (doc or {}).get("steps", [])
    return max((s["items_per_s"] for s in steps if s["failed"] == 0), default=None)
def jpeg(path):
    text = open(os.path.join(out, path)).read() if os.path.exists(os.path.join(out, path)) else ""
    m = re.search(r"best: ([0-9,]+) images/s", text)
    return float(m.group(1).replace(",", "")) if m else None
rows = []
o1, o2 = load(f"offline_{tag(one)}.json"), load(f"offline_{tag(gpus)}.json")
rows.append(("offline (vitrt bench, batch 256)", o1 and o1.get("throughput"), o2 and o2.get("throughput")))
rows.append((f"server, KServe tensors", best_perf(f"tensors_{tag(one)}.json"),
             best_perf(f"tensors_{tag(gpus)}.json")))
rows.append(("server, 640x480 JPEG", jpeg("jpeg_1gpu/summary.txt"), jpeg("jpeg_2gpu/summary.txt")))
print(f"==== CLIP ViT-B/32 image embeddings, fp16: GPU {one} vs GPUs {gpus} (images/s) ====")
print(f"{'path':36} {'1 GPU':>10} {'2 GPUs':>10} {'ratio':>7}  target 1.9x")
for name, a, b in rows:
    fa = f"{a:10,.0f}" if a else f"{'n/a':>10}"
    fb = f"{b:10,.0f}" if b else f"{'n/a':>10}"
    r = f"{b / a:6.2f}x" if a and b else f"{'n/a':>7}"
    verdict = "" if not (a and b) else ("  meets" if b / a >= 1.9 else "  below")
    print(f"{name:36} {fa} {fb} {r}{verdict}")
if o2 and o2.get("per_device"):
    print("offline per GPU: " + ", ".join(f"GPU {d}: {t:,.0f}/s" for d, t in
                                          zip(o2.get("devices", []), o2["per_device"])))
for d in (one, gpus):
    path = os.path.join(out, f"tensors_{tag(d)}.metrics.txt")
    if not os.path.exists(path):
        continue
    rows_by_dev = re.findall(r'vitrt_device_rows_total\{model="vision",device="([^"]+)"\} (\d+)',
                             open(path).read())
    print(f"tensor server on GPUs {d}, rows per device: " +
          ", ".join(f"{dev} {n}" for dev, n in rows_by_dev))
dec = load("jpeg_1gpu/decode.json")
if dec:
    print("JPEG decode+preprocess on the CPU: " + ", ".join(
        f"{x['threads']} threads {x['images_per_s']:,.0f}/s" for x in dec["decode"]))
PY
cat "$out/summary.txt"
step "done"
