#!/usr/bin/env bash
# Issue 6's GPU measurement in one run: CLIP ViT-B/32 (HF default config, random weights) behind
# `vitrt serve`, loaded by `vitrt perf` with 640x480 JPEG photos at 1 to 256 concurrent clients,
# against `vitrt bench`'s offline images/s for the same vision plan at batch 256, and against
# the server's per-image CPU work (base64 + JPEG decode + CLIP preprocessing) on every core.
#
#   bench/gpu/serve_clip.sh BIN_DIR OUT_DIR
#
# BIN_DIR holds vitrt (and, in the GPU bundle, export_clip.py and the BPE vocabulary); OUT_DIR
# gets the logs, perf.json/csv/svg, decode.json, metrics.txt and summary.txt (printed last).
# Settings (environment):
#   DEVICE=cuda|cpu (cpu: a dry run of every step on a machine without a GPU)
#   PRECISION=fp16   CONCURRENCY=1,2,4,8,16,32,64,128,256   PERF_DURATION=5 (s per step)
#   IMAGES_PER_REQUEST=1   INSTANCES=4 (execution contexts)   QUEUE_DELAY_US=2000
#   WORKERS=16 (server decode threads; default the core count)   CLIP_DIR=DIR (skip the
#   export: an export_clip.py folder, e.g. tests/data/clip_tiny)   VITRT_CLIP_VOCAB=FILE
#   CLIP_EXPORT_ARGS="--hf-random" (export_clip.py's model source; e.g. add
#   "--hf-config tests/data/clip_tiny/hf_config.json" for a quick CPU dry run)
#   BATCH=256 (the offline batch and the server's max batch)   PHOTOS=20   WARMUP=1
#   DEVICES=0,1 (GPUs: `vitrt serve --devices`, and the offline bench's aggregate over them)
#   PREBUILT=1 (CLIP_DIR already holds the cuda plans: skip the builds)
set -u
bin="$(cd "${1:?usage: serve_clip.sh BIN_DIR OUT_DIR}" && pwd)"
out="${2:?usage: serve_clip.sh BIN_DIR OUT_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
vitrt="$bin/vitrt"
device="${DEVICE:-cuda}"
precision="${PRECISION:-fp16}"
[ "$device" = cpu ] && precision="${PRECISION:-fp32}"
concurrency="${CONCURRENCY:-1,2,4,8,16,32,64,128,256}"
duration="${PERF_DURATION:-5}"
per_request="${IMAGES_PER_REQUEST:-1}"
batch="${BATCH:-256}"
cores="$(nproc)"
workers="${WORKERS:-$cores}"
work="${WORK_DIR:-/tmp/vitrt_serve_clip}"
rm -rf "$work"
mkdir -p "$work/photos" "$work/repo/clip"
t_start=$(date +%s)
step() { echo "[$(( $(date +%s) - t_start )) s] $*"; }

# ---- the vocabulary (the server loads the tokenizer with the model) -------------------------
vocab="${VITRT_CLIP_VOCAB:-}"
for c in "$bin/bpe_simple_vocab_16e6.txt.gz" "$here/../../third_party_data/clip/bpe_simple_vocab_16e6.txt.gz"; do
  [ -z "$vocab" ] && [ -f "$c" ] && vocab="$c"
done
[ -z "$vocab" ] && { echo "no bpe_simple_vocab_16e6.txt.gz: set VITRT_CLIP_VOCAB"; exit 1; }

# ---- 640x480 JPEG photos from scikit-image's sample images ----------------------------------
step "photos"
python3 - "$work/photos" "${PHOTOS:-20}" > "$out/photos.log" 2>&1 <<'PY' || { echo "photos failed"; cat "$out/photos.log"; exit 1; }
import sys
import numpy as np
from PIL import Image
from skimage import data
out, count = sys.argv[1], int(sys.argv[2])
names = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
         "retina", "colorwheel", "camera", "coins", "moon", "page", "brick", "grass", "gravel",
         "clock", "text", "microaneurysms"]
sources = []
for n in names:
    try:
        a = np.asarray(getattr(data, n)())
    except Exception as e:  # some samples need a download: skip them
        print(f"skip {n}: {e}")
        continue
    if a.dtype != np.uint8:
        a = (255 * (a.astype(np.float64) / max(1, a.max()))).astype(np.uint8)
    img = Image.fromarray(a).convert("RGB")
    sources.append((n, img))
if not sources:
    sys.exit("no skimage sample image could be loaded")
W, H = 640, 480
for i in range(count):
    n, img = sources[i % len(sources)]
    # Scale to cover 640x480 (a little more on later rounds), crop at a varying place, and
    # mirror every other round: each file is a distinct photo of the same size.
    rnd = i // len(sources)
    s = max(W / img.width, H / img.height) * (1 + 0.15 * rnd)
    im = img.resize((max(W, round(img.width * s)), max(H, round(img.height * s))), Image.BICUBIC)
    x = (im.width - W) * ((i * 7) % 5) // 4
    y = (im.height - H) * ((i * 3) % 5) // 4
    im = im.crop((x, y, x + W, y + H))
    if rnd % 2:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    im.save(f"{out}/photo_{i:02d}_{n}.jpg", quality=90)
    print(f"photo_{i:02d}_{n}.jpg {im.size}")
PY
ls -l "$work/photos" | awk 'NR>1 {s+=$5; n++} END {printf "photos: %d files, %.0f KB average\n", n, s/n/1024}' | tee "$out/photos_summary.txt"

# ---- export and build -----------------------------------------------------------------------
clip="$work/clip"
if [ -n "${CLIP_DIR:-}" ]; then
  cp -r "$CLIP_DIR" "$clip"
else
  step "export CLIP ViT-B/32 (random weights)"
  export_py="$bin/export_clip.py"
  [ -f "$export_py" ] || export_py="$here/../../python/export_clip.py"
  # shellcheck disable=SC2086 # CLIP_EXPORT_ARGS is a list of words
  python3 "$export_py" ${CLIP_EXPORT_ARGS:---hf-random} --out "$clip" > "$out/export.log" 2>&1 ||
    { echo "export failed"; tail -20 "$out/export.log"; exit 1; }
fi
image_size=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1])).get('crop_size', 224); print(c['height'] if isinstance(c, dict) else c)" "$clip/preprocessor_config.json")
if [ "${PREBUILT:-0}" != "1" ]; then
step "build (both towers, then the vision tower for batches up to $batch; image ${image_size}px)"
# Both towers first (the server loads the text tower too), without GEMM timing: only the vision
# tower is measured.
extra=()
[ "$device" = cuda ] && extra=(--no-tactics)
"$vitrt" build "$clip" --device "$device" --precision "$precision" "${extra[@]}" \
  > "$out/build_towers.log" 2>&1 || { echo "build failed"; tail -20 "$out/build_towers.log"; exit 1; }
d="x3x${image_size}x${image_size}"
profiles=(--profile "pixel_values:min=1$d,opt=8$d,max=16$d"
          --profile "pixel_values:min=17$d,opt=$batch$d,max=$batch$d")
[ "$batch" -le 16 ] && profiles=(--profile "pixel_values:min=1$d,opt=$batch$d,max=$batch$d")
"$vitrt" build "$clip/vision.onnx" -o "$clip/vision.plan" --device "$device" \
  --precision "$precision" "${profiles[@]}" --timing-cache "$work/timing.cache" \
  > "$out/build_vision.log" 2>&1 || { echo "vision build failed"; tail -20 "$out/build_vision.log"; exit 1; }
fi
device_flags=()
[ -n "${DEVICES:-}" ] && device_flags=(--devices "$DEVICES")

# ---- offline: the vision plan at batch $batch ---------------------------------------------------
step "offline bench, batch $batch"
iters=30; [ "$device" = cpu ] && iters=3
"$vitrt" bench "$clip/vision.plan" --device "$device" --batch "$batch" --iterations "$iters" \
  --warmup 3 "${device_flags[@]}" --json > "$out/bench_offline.log" 2>&1 || { echo "bench failed"; tail "$out/bench_offline.log"; }
tail -1 "$out/bench_offline.log" > "$out/bench_offline.json"

# ---- the server's per-image CPU work on every core --------------------------------------------
step "decode + preprocess rate"
threads="$(printf '%s\n' 1 $(( cores / 2 )) "$cores" | awk '$1 > 0' | sort -nu | paste -sd,)"
"$vitrt" perf --decode-only --images "$work/photos" \
  --preprocessor-config "$clip/preprocessor_config.json" --threads "$threads" --duration-s 3 \
  --json "$out/decode.json" > "$out/decode.log" 2>&1 || { echo "decode rate failed"; cat "$out/decode.log"; }
cat "$out/decode.log"

# ---- serve and load ---------------------------------------------------------------------------
cat > "$work/repo/clip/config.json" <<JSON
{"backend": "clip", "max_batch_size": $batch,
 "dynamic_batching": {"max_queue_delay_microseconds": ${QUEUE_DELAY_US:-2000},
                      "max_queue_size": 4096},
 "instance_count": ${INSTANCES:-4},
 "clip": {"model_dir": "$clip", "vocab_path": "$vocab", "max_images": 256}}
JSON
step "serve ($workers worker threads, ${INSTANCES:-4} contexts, queue delay ${QUEUE_DELAY_US:-2000} us)"
"$vitrt" serve --model-repository "$work/repo" --port 0 --host 127.0.0.1 \
  --worker-threads "$workers" --io-threads 4 --max-in-flight 8192 "${device_flags[@]}" \
  > "$work/serve.out" 2> "$out/serve.log" &
server=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$work/serve.out")
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "server did not start"; cat "$out/serve.log"; exit 1
fi
# Warm-up, not recorded: each context captures a CUDA graph per batch size it meets, so the
# first batches of each size are slow; a short high-concurrency run meets most sizes first.
if [ "${WARMUP:-1}" = "1" ]; then
  step "warm-up (not recorded)"
  "$vitrt" perf --model clip --url "http://127.0.0.1:$port" --images "$work/photos" \
    --images-per-request "$per_request" --concurrency 8,64,256 --duration-s 2 > "$out/warmup.log" 2>&1
fi
step "perf at concurrency $concurrency, $duration s each, $per_request image(s) per request"
"$vitrt" perf --model clip --url "http://127.0.0.1:$port" --images "$work/photos" \
  --images-per-request "$per_request" --concurrency "$concurrency" --duration-s "$duration" \
  --json "$out/perf.json" --csv "$out/perf.csv" --svg "$out/perf.svg" 2>&1 | tee "$out/perf.log"
curl -s "http://127.0.0.1:$port/metrics" > "$out/metrics.txt" 2>/dev/null ||
  python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode())" > "$out/metrics.txt"
kill -TERM "$server"
wait "$server"
echo "server exit status: $?" >> "$out/serve.log"

# ---- the table --------------------------------------------------------------------------------
step "summary"
python3 - "$out" "$batch" "$cores" "$workers" "$device" "$precision" > "$out/summary.txt" <<'PY'
import json, os, re, sys
out, batch, cores, workers, device, precision = sys.argv[1:7]
def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception:
        return None
bench, perf, decode = load("bench_offline.json"), load("perf.json"), load("decode.json")
# The bench's throughput: over several GPUs, the aggregate of all running at once.
offline = bench.get("throughput") if bench else None
rates = {d["threads"]: d["images_per_s"] for d in (decode or {}).get("decode", [])}
decode_all = rates.get(int(cores))
print(f"==== CLIP vision tower ({device} {precision}) behind vitrt serve, 640x480 JPEG, "
      f"{perf['items_per_request'] if perf else '?'} image(s) per request ====")
print(f"offline (vitrt bench, batch {batch}): "
      + (f"{offline:,.0f} images/s ({bench['median_ms']:.2f} ms median per batch, GPUs "
         f"{bench.get('devices', [0])})" if offline else "n/a"))
print("decode+preprocess (base64, JPEG decode, CLIP resize/crop/normalise): "
      + ", ".join(f"{t} thread(s) {r:,.0f} images/s" for t, r in sorted(rates.items())))
print(f"{'clients':>8} {'images/s':>10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
      f"{'failed':>7} {'% offline':>9} {'% decode':>9}")
best = 0
for s in (perf or {}).get("steps", []):
    ips = s["items_per_s"]
    best = max(best, ips)
    po = f"{100 * ips / offline:8.1f}%" if offline else f"{'n/a':>9}"
    pd = f"{100 * ips / decode_all:8.1f}%" if decode_all else f"{'n/a':>9}"
    print(f"{s['concurrency']:8d} {ips:10.1f} {s['p50_ms']:8.2f} {s['p90_ms']:8.2f} "
          f"{s['p99_ms']:8.2f} {s['failed']:7d} {po} {pd}")
    if s.get("first_error"):
        print(f"         first failure: {s['first_error'][:160]}")
# Where the time went: the server's mean stage times and batch size.
metrics_file = os.path.join(out, "metrics.txt")
metrics = open(metrics_file).read() if os.path.exists(metrics_file) else ""
stages = []
for m in re.finditer(r'^(\w+)_sum\{([^}]*)\} ([0-9.e+-]+)$', metrics, re.M):
    name, labels, s = m.group(1), m.group(2), float(m.group(3))
    c = re.search(rf'^{re.escape(name)}_count\{{{re.escape(labels)}\}} ([0-9.e+-]+)$', metrics,
                  re.M)
    if not c or float(c.group(1)) == 0:
        continue
    mean = s / float(c.group(1))
    if name == "vitrt_batch_size":
        stages.append(f"batch {mean:.1f} rows")
    else:
        stage = re.search(r'stage="(\w+)"', labels)
        stages.append(f"{stage.group(1) if stage else name} {mean * 1e3:.2f} ms")
if stages:
    print("server means over the sweep: " + ", ".join(stages))
if offline and best:
    verdict = "PASS" if best >= 0.8 * offline else "below 80% of offline"
    print(f"best: {best:,.0f} images/s = {100 * best / offline:.1f}% of offline ({verdict})")
    if best < 0.8 * offline and decode_all:
        print(f"limit: image decoding on the CPU. {cores} cores decode+preprocess "
              f"{decode_all:,.0f} images/s ({100 * decode_all / offline:.1f}% of the GPU's offline "
              f"rate) with nothing else running; the server reached {100 * best / decode_all:.1f}% "
              f"of that while also parsing HTTP/JSON and running the load generator on the same "
              f"cores ({workers} decode workers).")
PY
cat "$out/summary.txt"
step "done"
